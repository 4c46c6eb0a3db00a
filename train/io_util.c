/* File-system helpers for train/ (train/io_util.h). POSIX only. */
#include "train/io_util.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

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
