/* Implementation of the shared test helpers (see rw_test.h). */
#define _GNU_SOURCE
#include "rw_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void report_mismatch(size_t first, double a, double e, double max_err, size_t n_bad,
                            size_t n, const char *file, int line) {
    print_error("%s:%d: allclose failed: %zu of %zu elements differ; first at [%zu]: actual "
                "%.9g expected %.9g; max abs error %.3g\n",
                file, line, n_bad, n, first, a, e, max_err);
    _fail(file, line);
}

static int close_enough(double a, double e, double atol, double rtol) {
    if (isnan(a) || isnan(e)) return isnan(a) && isnan(e);
    if (isinf(a) || isinf(e)) return a == e;
    return fabs(a - e) <= atol + rtol * fabs(e);
}

void rw_assert_allclose_impl(const float *actual, const float *expected, size_t n, double atol,
                             double rtol, const char *file, int line) {
    size_t n_bad = 0, first = 0;
    double max_err = 0;
    for (size_t i = 0; i < n; i++) {
        double a = (double)actual[i], e = (double)expected[i];
        if (!close_enough(a, e, atol, rtol)) {
            if (n_bad++ == 0) first = i;
        }
        if (isfinite(a) && isfinite(e) && fabs(a - e) > max_err) max_err = fabs(a - e);
    }
    if (n_bad)
        report_mismatch(first, (double)actual[first], (double)expected[first], max_err, n_bad, n, file,
                        line);
}

void rw_assert_allclose_f64_impl(const double *actual, const double *expected, size_t n, double atol,
                                 double rtol, const char *file, int line) {
    size_t n_bad = 0, first = 0;
    double max_err = 0;
    for (size_t i = 0; i < n; i++) {
        if (!close_enough(actual[i], expected[i], atol, rtol)) {
            if (n_bad++ == 0) first = i;
        }
        if (isfinite(actual[i]) && isfinite(expected[i]) && fabs(actual[i] - expected[i]) > max_err)
            max_err = fabs(actual[i] - expected[i]);
    }
    if (n_bad) report_mismatch(first, actual[first], expected[first], max_err, n_bad, n, file, line);
}

const char *rw_test_shared_dir(void) {
    static char buf[4096];
    const char *d = getenv("RW_SHARED_DIR");
    if (!d || !*d) d = "../shared";
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, "SKIP: shared reference folder '%s' is absent (set RW_SHARED_DIR)\n", d);
        return NULL;
    }
    snprintf(buf, sizeof buf, "%s", d);
    return buf;
}

const char *rw_test_shared_path(const char *rel, char *buf, size_t cap) {
    const char *d = rw_test_shared_dir();
    if (!d) return NULL;
    snprintf(buf, cap, "%s/%s", d, rel);
    if (access(buf, F_OK) != 0) {
        fprintf(stderr, "SKIP: '%s' is absent from the shared folder\n", buf);
        return NULL;
    }
    return buf;
}

const char *rw_test_bin(const char *name, char *buf, size_t cap) {
    const char *d = getenv("RW_BIN_DIR");
    snprintf(buf, cap, "%s/%s", d && *d ? d : "./bin", name);
    return buf;
}

static char g_tmpdir[4096];

static void remove_tmpdir(void) {
    if (!g_tmpdir[0]) return;
    if (getenv("RW_KEEP_TMP")) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", g_tmpdir);
}

const char *rw_test_tmpdir(void) {
    if (!g_tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/rwtest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(g_tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    return g_tmpdir;
}

char *rw_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int rw_test_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    int rc = fclose(f);
    return (w == len && rc == 0) ? 0 : -1;
}

int rw_test_run(const char *cmd, char **out) {
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, p)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) free(buf);
            buf = nb;
        }
    }
    int st = pclose(p);
    if (buf) buf[n] = '\0';
    if (out) *out = buf;
    else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
