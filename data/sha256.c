/* SHA-256 through OpenSSL's EVP interface (the one libcrypto API that is not deprecated
 * in 3.x). Reference: FIPS 180-4; tests check the NIST "abc" vectors. */
#include "data/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *d, unsigned n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

rw_status data_sha256_file(const char *path, char hex[DATA_SHA256_HEX], rw_err *err) {
    rw_status s = RW_OK;
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = rw_err_set(err, RW_E_NOMEM, "%s: cannot start SHA-256", path);
        goto done;
    }
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        if (EVP_DigestUpdate(ctx, buf, got) != 1) {
            s = rw_err_set(err, RW_E_IO, "%s: SHA-256 update failed", path);
            goto done;
        }
    }
    if (ferror(f)) {
        s = rw_err_set(err, RW_E_IO, "%s: read error: %s", path, strerror(errno));
        goto done;
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        s = rw_err_set(err, RW_E_IO, "%s: SHA-256 final failed", path);
        goto done;
    }
    to_hex(md, mdlen, hex);
done:
    EVP_MD_CTX_free(ctx);
    fclose(f);
    return s;
}

rw_status data_sha256_buf(const void *buf, size_t n, char hex[DATA_SHA256_HEX], rw_err *err) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return rw_err_set(err, RW_E_IO, "SHA-256 of %zu bytes failed", n);
    to_hex(md, mdlen, hex);
    return RW_OK;
}

int data_sha256_valid(const char *s) {
    if (!s || strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}
