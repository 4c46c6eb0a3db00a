/* data/file: whole-file reads (bytes exact, NUL-terminated, size cap, system reasons) and
 * atomic writes (the destination is either the old or the new content, never a mix, and no
 * temp file is left behind), including every allocation failure. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "data/file.h"
#include "rw_test.h"

static char g_dir[4400];

/* Files in g_dir whose name contains ".tmp." (leftovers of an atomic write). */
static int count_temps(void) {
    DIR *d = opendir(g_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static void path_of(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void test_read(void **state) {
    (void)state;
    char p[4500];
    path_of(p, sizeof p, "bytes.bin");
    /* 70000 bytes (more than the first 64 KiB buffer) with NULs and high bytes inside */
    enum { N = 70000 };
    unsigned char *want = malloc(N);
    for (size_t i = 0; i < N; i++) want[i] = (unsigned char)(i * 7 + (i >> 8));
    assert_int_equal(rw_test_write_file(p, want, N), 0);
    char *buf = NULL;
    size_t len = 0;
    rw_err err;
    assert_int_equal(data_file_read(p, 0, &buf, &len, &err), RW_OK);
    assert_int_equal(len, N);
    assert_memory_equal(buf, want, N);
    assert_int_equal(buf[N], '\0');
    rw_free(buf);
    /* the cap: exactly N passes, N - 1 is refused */
    assert_int_equal(data_file_read(p, N, &buf, &len, &err), RW_OK);
    rw_free(buf);
    char *keep = (char *)0x1;
    size_t keep_len = 12345;
    assert_int_equal(data_file_read(p, N - 1, &keep, &keep_len, &err), RW_E_RANGE);
    assert_non_null(strstr(err.msg, "bytes.bin"));
    /* failures: the system's reason, out-params untouched */
    path_of(p, sizeof p, "absent.txt");
    assert_int_equal(data_file_read(p, 0, &keep, &keep_len, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "absent.txt: cannot open: No such file"));
    assert_int_equal(data_file_read(g_dir, 0, &keep, &keep_len, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "Is a directory"));
    assert_true(keep == (char *)0x1 && keep_len == 12345);
    /* an empty file is a 0-byte, NUL-terminated buffer */
    path_of(p, sizeof p, "empty.txt");
    assert_int_equal(rw_test_write_file(p, "", 0), 0);
    assert_int_equal(data_file_read(p, 0, &buf, &len, &err), RW_OK);
    assert_int_equal(len, 0);
    assert_int_equal(buf[0], '\0');
    rw_free(buf);
    free(want);
}

static void test_write_atomic(void **state) {
    (void)state;
    char p[4500];
    rw_err err;
    path_of(p, sizeof p, "out.txt");
    assert_int_equal(data_file_write_atomic(p, "old\n", 4, &err), RW_OK);
    char *got = rw_test_read_file(p, NULL);
    assert_string_equal(got, "old\n");
    free(got);
    /* an aborted write leaves the old content and no temp file */
    data_atomic_file af;
    assert_int_equal(data_atomic_open(&af, p, &err), RW_OK);
    fputs("half of the new", af.f);
    assert_int_equal(count_temps(), 1);
    data_atomic_abort(&af);
    got = rw_test_read_file(p, NULL);
    assert_string_equal(got, "old\n");
    free(got);
    assert_int_equal(count_temps(), 0);
    /* replacing works, and the file gets the usual 0666 less the umask (not 0600) */
    mode_t old_mask = umask(022);
    assert_int_equal(data_file_write_atomic(p, "new\n", 4, &err), RW_OK);
    umask(old_mask);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    got = rw_test_read_file(p, NULL);
    assert_string_equal(got, "new\n");
    free(got);
    /* a folder that does not exist: error naming the path, nothing created */
    path_of(p, sizeof p, "no/such/folder/x.txt");
    assert_int_equal(data_file_write_atomic(p, "x", 1, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "x.txt: cannot create: No such file"));
    /* the destination is a folder: rename fails, the folder stays, the temp file goes */
    path_of(p, sizeof p, "adir");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(data_file_write_atomic(p, "x", 1, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "adir: cannot replace"));
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(count_temps(), 0);
}

/* Every allocation failing in turn: an error (never a crash or leak), the old content kept,
 * no temp file left; then success. */
static void test_alloc_failures(void **state) {
    (void)state;
    char p[4500];
    rw_err err;
    path_of(p, sizeof p, "alloc.txt");
    assert_int_equal(data_file_write_atomic(p, "old", 3, &err), RW_OK);
    int ok = 0;
    for (long k = 0; k < 20 && !ok; k++) {
        rw_alloc_fail_after(k);
        rw_status s = data_file_write_atomic(p, "new", 3, &err);
        char *buf = NULL;
        size_t len = 0;
        rw_status r = data_file_read(p, 0, &buf, &len, &err);
        rw_alloc_fail_after(-1);
        if (s == RW_OK) {
            ok = 1;
        } else {
            assert_int_equal(s, RW_E_NOMEM);
            char *got = rw_test_read_file(p, NULL);
            assert_string_equal(got, "old");
            free(got);
        }
        if (r == RW_OK) rw_free(buf);
        assert_int_equal(count_temps(), 0);
    }
    assert_true(ok);
    char *got = rw_test_read_file(p, NULL);
    assert_string_equal(got, "new");
    free(got);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", rw_test_tmpdir());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
