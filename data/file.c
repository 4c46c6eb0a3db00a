/* Whole-file reads and atomic writes (see file.h).
 *
 * Invariants: every path through data_atomic_* ends with the temp file renamed or removed;
 * errno is read right after the call that failed. Reference: POSIX rename(2) (atomic
 * replacement within one file system), fsync(2): the file is fsynced before the rename and
 * its folder after it, so the new name itself survives a crash. */
#include "data/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

rw_status data_file_read(const char *path, size_t max_bytes, char **out, size_t *len, rw_err *err) {
    rw_status st = RW_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = rw_malloc(cap + 1);
    if (!buf) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (max_bytes && n > max_bytes) {
            st = rw_err_set(err, RW_E_RANGE, "%s: larger than the %zu-byte limit", path, max_bytes);
            goto fail;
        }
        if (got == 0) break;
        if (n == cap) {
            size_t ncap;
            if (!rw_size_mul(cap, 2, &ncap) || ncap == SIZE_MAX) {
                st = rw_err_set(err, RW_E_RANGE, "%s: file too large", path);
                goto fail;
            }
            char *nb = rw_realloc(buf, ncap + 1);
            if (!nb) {
                st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory (%zu bytes)", path, ncap);
                goto fail;
            }
            buf = nb;
            cap = ncap;
        }
    }
    if (ferror(f)) {
        st = rw_err_set(err, RW_E_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return RW_OK;
fail:
    fclose(f);
    rw_free(buf);
    return st;
}

/* The temp file is created with O_EXCL and mode 0666 (the umask applies, as for fopen), not
 * mkstemp's 0600: reports, manifests and datasets keep the permissions users expect. The name
 * is <path>.tmp.<pid>.<attempt>; O_EXCL makes a clash (another thread or a stale file) try
 * the next attempt. */
rw_status data_atomic_open(data_atomic_file *af, const char *path, rw_err *err) {
    enum { ATTEMPTS = 100, SUFFIX = 48 };
    memset(af, 0, sizeof *af);
    size_t pl = strlen(path), tl;
    if (!rw_size_add(pl, SUFFIX, &tl))
        return rw_err_set(err, RW_E_RANGE, "%.200s: path too long", path);
    char *dst = rw_strdup(path), *tmp = rw_malloc(tl);
    rw_status st = RW_OK;
    int fd = -1;
    if (!dst || !tmp) {
        st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (unsigned k = 0; k < ATTEMPTS && fd < 0; k++) {
        snprintf(tmp, tl, "%s.tmp.%ld.%u", path, (long)getpid(), k);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot create: %s", path, strerror(errno));
        goto fail;
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot open: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        goto fail;
    }
    af->f = f;
    af->path = dst;
    af->tmp = tmp;
    return RW_OK;
fail:
    rw_free(dst);
    rw_free(tmp);
    return st;
}

/* fsync of the folder holding the file named by path, which is cut in place to the folder's
 * name (no allocation: this runs after the rename, when a failure can no longer leave the
 * old file). EINVAL: the file system cannot sync folders, which is not an error. */
static rw_status fsync_dir_of(char *path, rw_err *err) {
    char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash) {
        slash[slash == path ? 1 : 0] = '\0';
        dir = path;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return rw_err_set(err, RW_E_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    rw_status st = RW_OK;
    if (fsync(fd) != 0 && errno != EINVAL)
        st = rw_err_set(err, RW_E_IO, "%s: fsync of folder failed: %s", dir, strerror(errno));
    close(fd);
    return st;
}

static void release(data_atomic_file *af) {
    rw_free(af->path);
    rw_free(af->tmp);
    memset(af, 0, sizeof *af);
}

rw_status data_atomic_commit(data_atomic_file *af, rw_err *err) {
    rw_status st = RW_OK;
    int bad = ferror(af->f) != 0;
    int e = bad ? EIO : 0;
    if (!bad && fflush(af->f) != 0) bad = 1, e = errno;
    if (!bad && fsync(fileno(af->f)) != 0) bad = 1, e = errno;
    if (fclose(af->f) != 0 && !bad) bad = 1, e = errno;
    af->f = NULL;
    if (bad) {
        st = rw_err_set(err, RW_E_IO, "%s: write failed: %s", af->path, strerror(e));
    } else if (rename(af->tmp, af->path) != 0) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot replace: %s", af->path, strerror(errno));
    }
    if (st != RW_OK)
        unlink(af->tmp);
    else
        st = fsync_dir_of(af->tmp, err); /* af->tmp is spent; the destination is replaced */
    release(af);
    return st;
}

void data_atomic_abort(data_atomic_file *af) {
    if (!af->tmp) return;
    if (af->f) fclose(af->f);
    unlink(af->tmp);
    release(af);
}

rw_status data_file_write_atomic(const char *path, const void *data, size_t len, rw_err *err) {
    data_atomic_file af;
    rw_status st = data_atomic_open(&af, path, err);
    if (st != RW_OK) return st;
    if (len && fwrite(data, 1, len, af.f) != len) {
        st = rw_err_set(err, RW_E_IO, "%s: write failed: %s", path, strerror(errno));
        data_atomic_abort(&af);
        return st;
    }
    return data_atomic_commit(&af, err);
}
