#include "ccrypto.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>

/* No OpenSSL cleanup at exit (see CTLS): a thread still hashing when the process exits (a pull
 * or build interrupted by a signal) would race it. Must come before any other OpenSSL call. */
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void init_without_atexit(void) { OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL); }

void *berth_sha256_new(void) {
    pthread_once(&init_once, init_without_atexit);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    return ctx;
}
void berth_sha256_update(void *ctx, const void *data, size_t len) {
    EVP_DigestUpdate((EVP_MD_CTX *)ctx, data, len);
}
void berth_sha256_final(void *ctx, unsigned char *out) {
    unsigned int n = 0;
    EVP_DigestFinal_ex((EVP_MD_CTX *)ctx, out, &n);
    EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
}
