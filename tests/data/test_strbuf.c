/* data/strbuf: the string builder against a plain reference (a fixed array filled with
 * memcpy / snprintf in the test), sticky failure under injected allocation failures, and
 * data_grow's doubling and overflow refusal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/strbuf.h"
#include "rw_test.h"

static void test_build(void **state) {
    (void)state;
    data_strbuf b = {0};
    static char ref[200000];
    size_t rn = 0;
    /* Many small appends of every kind: crosses several doublings. */
    for (int i = 0; i < 5000; i++) {
        char num[32];
        int w = snprintf(num, sizeof num, "<%d:%x>", i, (unsigned)i * 7u);
        assert_true(data_strbuf_printf(&b, "<%d:%x>", i, (unsigned)i * 7u));
        memcpy(ref + rn, num, (size_t)w);
        rn += (size_t)w;
        assert_true(data_strbuf_puts(&b, "ab"));
        memcpy(ref + rn, "ab", 2);
        rn += 2;
        assert_true(data_strbuf_putc(&b, (char)('a' + i % 26)));
        ref[rn++] = (char)('a' + i % 26);
        assert_true(data_strbuf_put(&b, "x\0y", 3)); /* bytes, NUL included */
        memcpy(ref + rn, "x\0y", 3);
        rn += 3;
    }
    ref[rn] = '\0';
    assert_int_equal(b.n, rn);
    assert_true(b.cap > b.n);
    assert_memory_equal(b.s, ref, rn + 1); /* NUL-terminated too */
    char *s = data_strbuf_take(&b);
    assert_non_null(s);
    assert_null(b.s);
    assert_int_equal(b.n, 0);
    assert_memory_equal(s, ref, rn + 1);
    rw_free(s);
    /* Nothing appended: take gives "" (not NULL); deinit of an empty builder is a no-op. */
    s = data_strbuf_take(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    rw_free(s);
    data_strbuf_deinit(&b);
    assert_true(data_strbuf_put(&b, "", 0));
    assert_string_equal(b.s, "");
    data_strbuf_deinit(&b);
}

/* Every allocation failing in turn: once an append fails, all later ones fail, take gives
 * NULL and nothing leaks (ASan); with enough allocations the text is complete. */
static void test_sticky_failure(void **state) {
    (void)state;
    int ok = 0;
    for (long k = 0; k < 40 && !ok; k++) {
        data_strbuf b = {0};
        rw_alloc_fail_after(k);
        bool failed_once = false, all = true;
        for (int i = 0; i < 300; i++) {
            bool r = data_strbuf_printf(&b, "line %03d\n", i);
            if (failed_once) assert_false(r);
            if (!r) failed_once = true, all = false;
        }
        rw_alloc_fail_after(-1);
        assert_int_equal(b.failed, !all);
        assert_int_equal(data_strbuf_puts(&b, "after"), all); /* sticky: still failing */
        char *s = data_strbuf_take(&b);
        if (all) {
            assert_non_null(s);
            assert_int_equal(strlen(s), 300 * 9 + 5);
            assert_memory_equal(s, "line 000\nline 001\n", 18);
            assert_string_equal(s + 300 * 9, "after");
            ok = 1;
        } else {
            assert_null(s);
        }
        rw_free(s);
    }
    assert_true(ok);
}

static void test_grow(void **state) {
    (void)state;
    size_t cap = 0;
    int *v = data_grow(NULL, &cap, sizeof *v, 8);
    assert_non_null(v);
    assert_int_equal(cap, 8);
    for (int i = 0; i < 8; i++) v[i] = i;
    int *w = data_grow(v, &cap, sizeof *w, 8);
    assert_non_null(w);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 8; i++) assert_int_equal(w[i], i); /* contents kept */
    /* cap * 2 * elem overflows size_t: refused, array and cap unchanged */
    size_t huge = SIZE_MAX / 4;
    assert_null(data_grow(w, &huge, sizeof *w, 8));
    assert_int_equal(huge, SIZE_MAX / 4);
    /* out of memory: NULL, cap unchanged, w still owned */
    rw_alloc_fail_after(0);
    size_t c2 = cap;
    assert_null(data_grow(w, &c2, sizeof *w, 8));
    rw_alloc_fail_after(-1);
    assert_int_equal(c2, 16);
    rw_free(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_sticky_failure),
        cmocka_unit_test(test_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
