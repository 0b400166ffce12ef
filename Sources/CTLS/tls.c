#include "ctls.h"
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct berth_tls {
    SSL_CTX *ctx;
    SSL *ssl;
};

static void fail(char *err, size_t errlen, const char *what) {
    unsigned long e = ERR_get_error();
    char detail[256] = "";
    if (e) ERR_error_string_n(e, detail, sizeof detail);
    snprintf(err, errlen, "%s%s%s", what, e ? ": " : "", detail);
}

/* OpenSSL frees its global state from an atexit handler unless told not to on its first
 * initialisation. The CLI's relay threads may still be in SSL_read or SSL_free when main
 * returns: the cleanup racing them aborted `berth run` over TLS now and then with "double free
 * or corruption" after it had done its work. The process is ending; the kernel frees it all. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_without_atexit(void) { OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS, NULL); }

berth_tls *berth_tls_connect(int fd, const char *host, const char *ca, const char *cert, const char *key, int skip_verify, char *err, size_t errlen) {
    pthread_once(&init_once, init_without_atexit);
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) { fail(err, errlen, "TLS context"); return NULL; }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (skip_verify) {
        // nothing to load: the server's certificate is not checked
    } else if (ca && *ca) {
        if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) { fail(err, errlen, "loading the CA certificate"); SSL_CTX_free(ctx); return NULL; }
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (cert && *cert && access(cert, R_OK) == 0) {
        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            fail(err, errlen, "loading the client certificate");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    SSL *ssl = SSL_new(ctx);
    if (!ssl) { fail(err, errlen, "TLS session"); SSL_CTX_free(ctx); return NULL; }
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, host);
    // The server's certificate must name the host (an IP address or a DNS name).
    if (!skip_verify) {
        X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
        if (X509_VERIFY_PARAM_set1_ip_asc(param, host) != 1) X509_VERIFY_PARAM_set1_host(param, host, 0);
    }
    if (SSL_connect(ssl) != 1) {
        long v = SSL_get_verify_result(ssl);
        if (v != X509_V_OK) snprintf(err, errlen, "TLS handshake: certificate verify failed: %s", X509_verify_cert_error_string(v));
        else fail(err, errlen, "TLS handshake");
        SSL_free(ssl);
        SSL_CTX_free(ctx);
        return NULL;
    }
    berth_tls *t = malloc(sizeof *t);
    if (!t) { SSL_free(ssl); SSL_CTX_free(ctx); snprintf(err, errlen, "out of memory"); return NULL; }
    t->ctx = ctx;
    t->ssl = ssl;
    return t;
}

long berth_tls_read(berth_tls *t, void *buf, size_t len) {
    int n = SSL_read(t->ssl, buf, (int)(len > 1 << 30 ? 1 << 30 : len));
    if (n > 0) return n;
    int e = SSL_get_error(t->ssl, n);
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

int berth_tls_pending(berth_tls *t) { return SSL_pending(t->ssl); }

int berth_tls_write_all(berth_tls *t, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        int n = SSL_write(t->ssl, p, (int)(len > 1 << 30 ? 1 << 30 : len));
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void berth_tls_shutdown_write(berth_tls *t) { SSL_shutdown(t->ssl); }

void berth_tls_free(berth_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    free(t);
}
