/* infer/runtime: the command-line parsers the programs share. Hand-worked cases: each bad
 * input must be refused with a message naming the option and the text, and out-params must
 * stay untouched on failure (checked with a sentinel). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/runtime.h"
#include "rw_test.h"

static void test_ids(void **state) {
    (void)state;
    int32_t *ids = NULL;
    int64_t n = -7;
    rw_err e;
    assert_int_equal(infer_parse_ids("1,22,333", &ids, &n, &e), RW_OK);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[2], 333);
    rw_free(ids);
    static const char *const bad[] = {"", "1,,2", ",1", "1,2,", "-1", "2147483648",
                                      "99999999999999999999", "1;2", "x", "1,2x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ids = NULL;
        n = -7;
        rw_err_clear(&e);
        if (infer_parse_ids(bad[i], &ids, &n, &e) == RW_OK) fail_msg("'%s' accepted", bad[i]);
        assert_null(ids);
        assert_int_equal(n, -7);
        assert_non_null(strstr(e.msg, "token ids"));
    }
}

static void test_numbers(void **state) {
    (void)state;
    rw_err e;
    int64_t x = -7;
    assert_int_equal(infer_parse_i64_arg("-n", "16", 0, 100, &x, &e), RW_OK);
    assert_int_equal(x, 16);
    static const char *const bad_i[] = {"", "abc", "-1", "101", "1e2", "12abc", " ", "0x10",
                                        "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad_i / sizeof bad_i[0]; i++) {
        x = -7;
        rw_err_clear(&e);
        if (infer_parse_i64_arg("-n", bad_i[i], 0, 100, &x, &e) == RW_OK)
            fail_msg("'%s' accepted", bad_i[i]);
        assert_int_equal(x, -7);
        assert_non_null(strstr(e.msg, "-n"));
        assert_non_null(strstr(e.msg, bad_i[i]));
    }
    float f = -7.0f;
    assert_int_equal(infer_parse_f32_arg("--temp", "0.25", 0.0, 2.0, &f, &e), RW_OK);
    assert_true(f == 0.25f);
    static const char *const bad_f[] = {"nan", "inf", "-0.5", "2.5", "", "0.5x", "1e999"};
    for (size_t i = 0; i < sizeof bad_f / sizeof bad_f[0]; i++) {
        f = -7.0f;
        if (infer_parse_f32_arg("--temp", bad_f[i], 0.0, 2.0, &f, &e) == RW_OK)
            fail_msg("'%s' accepted", bad_f[i]);
        assert_true(f == -7.0f);
    }
    uint64_t u = 7;
    assert_int_equal(infer_parse_u64_arg("--seed", "18446744073709551615", &u, &e), RW_OK);
    assert_true(u == UINT64_MAX);
    u = 7;
    assert_int_not_equal(infer_parse_u64_arg("--seed", "-1", &u, &e), RW_OK);
    assert_int_not_equal(infer_parse_u64_arg("--seed", "18446744073709551616", &u, &e), RW_OK);
    assert_true(u == 7);
}

static void test_common_opts(void **state) {
    (void)state;
    char *argv[] = {"prog", "m.gguf", "-t", "3", "--lora", "a.gguf:0.5", "--f32", "--other",
                    "--threads", "-5", "--lora"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    infer_cli_common c = {0};
    rw_err e;
    bool used = true;
    int i = 1;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_OK);
    assert_false(used);
    assert_int_equal(i, 1);
    i = 2;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_OK);
    assert_true(used);
    assert_int_equal(i, 3); /* the value was consumed */
    assert_int_equal(c.threads, 3);
    i = 4;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_OK);
    assert_int_equal(c.n_lora, 1);
    assert_string_equal(c.lora[0], "a.gguf:0.5");
    i = 6;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_OK);
    assert_true(c.f32 && used && i == 6);
    i = 7;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_OK);
    assert_false(used);
    i = 8;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_E_INVALID);
    assert_non_null(strstr(e.msg, "-5"));
    assert_int_equal(c.threads, 3);
    i = 10;
    assert_int_equal(infer_cli_common_opt(&c, argc, argv, &i, &used, &e), RW_E_INVALID);
    assert_non_null(strstr(e.msg, "needs a value"));
    /* one --lora too many */
    char *many[2 * INFER_MAX_LORA + 3];
    int m = 0;
    many[m++] = "prog";
    for (int k = 0; k <= INFER_MAX_LORA; k++) {
        many[m++] = "--lora";
        many[m++] = "x.gguf";
    }
    infer_cli_common d = {0};
    rw_status st = RW_OK;
    for (i = 1; i < m && st == RW_OK; i++) st = infer_cli_common_opt(&d, m, many, &i, &used, &e);
    assert_int_equal(st, RW_E_INVALID);
    assert_int_equal(d.n_lora, INFER_MAX_LORA);
    assert_non_null(strstr(e.msg, "at most"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_common_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
