/* SHA-256 through OpenSSL's EVP interface (the one libcrypto API that is not deprecated
 * in 3.x). Reference: FIPS 180-4; tests check the NIST "abc" vectors. */
#include "data/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void to_hex(const unsigned char *d, unsigned n, char *hex) {
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[2 * n] = '\0';
}

/* Streams bytes [off, off + n) of fd into the digest; to_eof: from the current offset to
 * the end of the file with read() (works on pipes too), off and n then only count. */
static rw_status digest_fd(int fd, uint64_t off, uint64_t n, bool to_eof, const char *name,
                           char hex[DATA_SHA256_HEX], rw_err *err) {
    rw_status s = RW_OK;
    unsigned char buf[1 << 16], md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = rw_err_set(err, RW_E_NOMEM, "%s: cannot start SHA-256", name);
        goto done;
    }
    while (n > 0) {
        size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
        ssize_t got = to_eof ? read(fd, buf, want) : pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got == 0 && to_eof) break;
        if (got <= 0) {
            s = rw_err_set(err, RW_E_IO, "%s: read failed at byte %" PRIu64 ": %s", name, off,
                           got < 0 ? strerror(errno) : "unexpected end of file");
            goto done;
        }
        if (EVP_DigestUpdate(ctx, buf, (size_t)got) != 1) {
            s = rw_err_set(err, RW_E_IO, "%s: SHA-256 update failed", name);
            goto done;
        }
        off += (uint64_t)got;
        n -= (uint64_t)got;
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        s = rw_err_set(err, RW_E_IO, "%s: SHA-256 final failed", name);
        goto done;
    }
    to_hex(md, mdlen, hex);
done:
    EVP_MD_CTX_free(ctx);
    return s;
}

rw_status data_sha256_file(const char *path, char hex[DATA_SHA256_HEX], rw_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rw_status s = digest_fd(fd, 0, UINT64_MAX, true, path, hex, err);
    close(fd);
    return s;
}

rw_status data_sha256_fd_range(int fd, uint64_t off, uint64_t n, const char *name,
                               char hex[DATA_SHA256_HEX], rw_err *err) {
    return digest_fd(fd, off, n, false, name, hex, err);
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
