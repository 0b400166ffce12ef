#ifndef CTLS_H
#define CTLS_H
#include <stddef.h>

/// A client TLS connection over a connected socket (OpenSSL), for the berth CLI's tcp:// hosts.
typedef struct berth_tls berth_tls;

/// Handshakes on `fd` (connected) with the CA file (verifying the server's certificate and its
/// name `host`) and an optional client certificate and key. NULL on failure, with `err` set.
/* skip_verify: TLS without checking the server's certificate (a context's skip-tls-verify, DOCKER_TLS
 * without DOCKER_TLS_VERIFY), as the docker CLI allows. */
berth_tls *berth_tls_connect(int fd, const char *host, const char *ca, const char *cert, const char *key, int skip_verify, char *err, size_t errlen);
/// >0 bytes read, 0 at the end, -1 on error.
long berth_tls_read(berth_tls *t, void *buf, size_t len);
/// Bytes still decrypted in the connection's buffer (read them before polling the socket).
int berth_tls_pending(berth_tls *t);
/// 0 when all was written.
int berth_tls_write_all(berth_tls *t, const void *buf, size_t len);
void berth_tls_shutdown_write(berth_tls *t);
void berth_tls_free(berth_tls *t);
#endif
