#include "ccrypto.h"
#include <openssl/evp.h>

void *berth_sha256_new(void) {
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
