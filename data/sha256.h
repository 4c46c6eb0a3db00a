/* SHA-256 of files and buffers (OpenSSL EVP), as 64 lowercase hex digits. Used for adapter
 * identities in the registry, export verification and checkpoint/base-model hashes.
 * Files (whole, or a byte range of an open descriptor) are streamed in 64 KiB blocks
 * (never loaded whole). Thread-safe (no shared state). */
#ifndef RW_DATA_SHA256_H
#define RW_DATA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

enum { DATA_SHA256_HEX = 65 }; /* 64 hex digits + NUL */

/* hex receives the digest of the whole file at path; untouched on failure. */
rw_status data_sha256_file(const char *path, char hex[DATA_SHA256_HEX], rw_err *err);
/* hex receives the digest of bytes [off, off + n) of the open file fd, read with pread (the
 * descriptor's offset is untouched); name labels the messages. RW_E_IO naming the byte when
 * the file ends before off + n or a read fails; hex untouched on failure. */
rw_status data_sha256_fd_range(int fd, uint64_t off, uint64_t n, const char *name,
                               char hex[DATA_SHA256_HEX], rw_err *err);
rw_status data_sha256_buf(const void *buf, size_t n, char hex[DATA_SHA256_HEX], rw_err *err);
/* True when s is exactly 64 lowercase hex digits. */
int data_sha256_valid(const char *s);

#endif
