/* train/metrics_log: JSONL lines (hand-written expected text; doubles read back exactly with
 * strtod), truncation to a checkpoint's offset on resume, refusal of a short file, and the
 * progress line staying silent off a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "rw_test.h"
#include "train/metrics_log.h"

static void test_format(void **state) {
    (void)state;
    char buf[512];
    train_metrics_rec r = {.step = 0, .has_val = true, .val_loss = 2.5};
    train_metrics_format(&r, buf, sizeof buf);
    assert_string_equal(buf, "{\"step\":0,\"val_loss\":2.5}");
    train_metrics_rec t = {.step = 7, .has_train = true, .loss = 0.1, .lr = 0.5, .grad_norm = 2,
                           .tokens = 100, .tokens_per_s = 12.3, .elapsed_s = 1.5};
    train_metrics_format(&t, buf, sizeof buf);
    assert_string_equal(buf, "{\"step\":7,\"loss\":0.10000000000000001,\"lr\":0.5,\"grad_norm\":2,"
                             "\"tokens\":100,\"tokens_per_s\":12.3,\"elapsed_s\":1.500}");
    /* 17 significant digits round-trip every double */
    double vals[] = {1.0 / 3.0, 6.9903123456789012, 1e-300, 123456.789};
    for (int i = 0; i < 4; i++) {
        t.loss = vals[i];
        train_metrics_format(&t, buf, sizeof buf);
        double back = strtod(strstr(buf, "\"loss\":") + 7, NULL);
        assert_memory_equal(&back, &vals[i], sizeof back);
    }
    /* truncation to a tiny buffer stays NUL-terminated */
    char small[8];
    assert_int_equal(train_metrics_format(&t, small, sizeof small), 7);
    assert_int_equal(strlen(small), 7);
}

static void test_truncate_on_resume(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/m.jsonl", rw_test_tmpdir());
    train_metrics *m = NULL;
    rw_err err;
    assert_int_equal(train_metrics_open(path, 0, &m, &err), RW_OK);
    train_metrics_rec r = {.step = 1, .has_val = true, .val_loss = 1};
    assert_int_equal(train_metrics_write(m, &r, &err), RW_OK);
    uint64_t off = 0;
    assert_int_equal(train_metrics_sync(m, &off, &err), RW_OK);
    assert_int_equal(off, strlen("{\"step\":1,\"val_loss\":1}\n"));
    r.step = 2;
    assert_int_equal(train_metrics_write(m, &r, &err), RW_OK);
    train_metrics_close(m);
    /* resume at the first line's offset: the second line is dropped, new lines follow */
    assert_int_equal(train_metrics_open(path, off, &m, &err), RW_OK);
    r.step = 3;
    assert_int_equal(train_metrics_write(m, &r, &err), RW_OK);
    train_metrics_close(m);
    size_t len;
    char *s = rw_test_read_file(path, &len);
    assert_string_equal(s, "{\"step\":1,\"val_loss\":1}\n{\"step\":3,\"val_loss\":1}\n");
    free(s);
    /* a file shorter than the checkpoint says is refused */
    assert_int_equal(train_metrics_open(path, 1000, &m, &err), RW_E_STATE);
    assert_non_null(strstr(err.msg, path));
    /* off a terminal the progress line writes nothing */
    char pp[600];
    snprintf(pp, sizeof pp, "%s/progress.txt", rw_test_tmpdir());
    FILE *f = fopen(pp, "w");
    train_progress(f, 1, 10, 2.0, 1.0, 1e-3, 100, 1.0, false);
    fclose(f);
    s = rw_test_read_file(pp, &len);
    assert_int_equal(len, 0);
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_truncate_on_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
