/* File-system helpers for train/ (train/io_util.h). POSIX only. */
#include "train/io_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

const char *train_io_tmp_path(const char *path, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.tmp.%ld", path, (long)getpid());
    return buf;
}

rw_status train_io_fsync_dir_of(const char *path, rw_err *err) {
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0) n = 1;
        if (n >= sizeof dir) return rw_err_set(err, RW_E_RANGE, "%s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return rw_err_set(err, RW_E_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    rw_status st = RW_OK;
    if (fsync(fd) != 0 && errno != EINVAL)
        st = rw_err_set(err, RW_E_IO, "%s: fsync of folder failed: %s", dir, strerror(errno));
    close(fd);
    return st;
}

rw_status train_io_commit(const char *tmp, const char *path, rw_err *err) {
    int fd = open(tmp, O_RDWR);
    if (fd < 0) {
        rw_status st = rw_err_set(err, RW_E_IO, "%s: cannot reopen: %s", tmp, strerror(errno));
        unlink(tmp);
        return st;
    }
    if (fsync(fd) != 0) {
        rw_status st = rw_err_set(err, RW_E_IO, "%s: fsync failed: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return st;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        rw_status st =
            rw_err_set(err, RW_E_IO, "%s: rename to %s failed: %s", tmp, path, strerror(errno));
        unlink(tmp);
        return st;
    }
    return train_io_fsync_dir_of(path, err);
}

rw_status train_io_write_file(const char *path, const void *data, size_t len, rw_err *err) {
    char tmp[4200];
    train_io_tmp_path(path, tmp, sizeof tmp);
    FILE *f = fopen(tmp, "wb");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    if ((len && fwrite(data, 1, len, f) != len) || fflush(f) != 0) {
        rw_status st = rw_err_set(err, RW_E_IO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(f);
        unlink(tmp);
        return st;
    }
    if (fclose(f) != 0) {
        unlink(tmp);
        return rw_err_set(err, RW_E_IO, "%s: close failed: %s", tmp, strerror(errno));
    }
    return train_io_commit(tmp, path, err);
}

rw_status train_io_read_file(const char *path, size_t limit, char **out, size_t *len, rw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rw_status st = RW_OK;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 65536 + 1;
            char *nb = rw_realloc(buf, nc);
            if (!nb) {
                st = rw_err_set(err, RW_E_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n > limit) {
            st = rw_err_set(err, RW_E_RANGE, "%s: larger than %zu bytes", path, limit);
            goto fail;
        }
        if (got == 0) break;
    }
    if (ferror(f)) {
        st = rw_err_set(err, RW_E_IO, "%s: read failed", path);
        goto fail;
    }
    fclose(f);
    buf[n] = 0;
    *out = buf;
    *len = n;
    return RW_OK;
fail:
    fclose(f);
    rw_free(buf);
    return st;
}

rw_status train_io_mkdirs(const char *path, rw_err *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return rw_err_set(err, RW_E_RANGE, "bad folder '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return rw_err_set(err, RW_E_IO, "%s: mkdir failed: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return rw_err_set(err, RW_E_IO, "%s: not a folder", path);
    return RW_OK;
}

char *train_io_join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = rw_malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}
