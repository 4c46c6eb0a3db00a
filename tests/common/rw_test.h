/* Test helpers shared by every cmocka suite.
 *
 * rw_assert_allclose fails the current test with the first bad index, both values and the
 * max error when |a-e| > atol + rtol*|e| anywhere (NaN never passes unless both are NaN).
 * Paths: rw_test_shared_dir() is ../shared (RW_SHARED_DIR from CTest) or NULL when absent;
 * rw_test_bin(name) is the built CLI; rw_test_tmpdir() is a fresh folder per process. */
#ifndef RW_TEST_H
#define RW_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The exit code CTest treats as "skipped" (SKIP_RETURN_CODE). */
enum { RW_TEST_SKIP = 77 };

void rw_assert_allclose_impl(const float *actual, const float *expected, size_t n, double atol,
                             double rtol, const char *file, int line);
void rw_assert_allclose_f64_impl(const double *actual, const double *expected, size_t n, double atol,
                                 double rtol, const char *file, int line);
#define rw_assert_allclose(a, e, n, atol, rtol) \
    rw_assert_allclose_impl((a), (e), (n), (atol), (rtol), __FILE__, __LINE__)
#define rw_assert_allclose_f64(a, e, n, atol, rtol) \
    rw_assert_allclose_f64_impl((a), (e), (n), (atol), (rtol), __FILE__, __LINE__)

/* The shared reference folder, or NULL (with a message on stderr naming what is missing). */
const char *rw_test_shared_dir(void);
/* "<shared>/<rel>" in buf, or NULL when shared/ or that path is absent (message printed). */
const char *rw_test_shared_path(const char *rel, char *buf, size_t cap);
/* Path of a built program (bin/<name>) in buf. */
const char *rw_test_bin(const char *name, char *buf, size_t cap);
/* A fresh temporary folder for this process, removed at exit. */
const char *rw_test_tmpdir(void);
/* Reads a whole file; caller frees with free(). NULL on failure. */
char *rw_test_read_file(const char *path, size_t *len);
/* Writes bytes to path; returns 0 on success. */
int rw_test_write_file(const char *path, const void *data, size_t len);
/* Runs a shell command, captures stdout (caller frees) and returns the exit status. */
int rw_test_run(const char *cmd, char **out);

#endif
