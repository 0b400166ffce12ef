#ifndef CCRYPTO_H
#define CCRYPTO_H
#include <stddef.h>
// A SHA-256 context hidden behind an opaque pointer, so Swift never sees OpenSSL's headers.
void *berth_sha256_new(void);
void berth_sha256_update(void *ctx, const void *data, size_t len);
// Writes 32 bytes into out and frees the context.
void berth_sha256_final(void *ctx, unsigned char *out);
#endif
