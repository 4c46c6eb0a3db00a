/* core/: errors, allocator failure injection, arena, RNG, pool, dtypes, tensors. */
#include <stdatomic.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/dtype.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "rw_test.h"

static void test_err_set_and_prefix(void **state) {
    (void)state;
    rw_err err;
    rw_err_clear(&err);
    assert_int_equal(rw_err_set(&err, RW_E_FORMAT, "field '%s' at byte %d", "x", 12), RW_E_FORMAT);
    assert_string_equal(err.msg, "field 'x' at byte 12");
    rw_err_prefix(&err, "%s: ", "a.gguf");
    assert_string_equal(err.msg, "a.gguf: field 'x' at byte 12");
    assert_int_equal(err.code, RW_E_FORMAT);
    assert_int_equal(rw_err_set(NULL, RW_E_IO, "ignored"), RW_E_IO);
}

static void test_alloc_fail_injection(void **state) {
    (void)state;
    rw_alloc_fail_after(2);
    void *a = rw_malloc(8), *b = rw_malloc(8), *c = rw_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    rw_alloc_fail_after(-1);
    rw_free(a);
    rw_free(b);
    size_t out = 0;
    assert_false(rw_size_mul(SIZE_MAX / 2 + 1, 2, &out));
    assert_true(rw_size_mul(3, 4, &out));
    assert_int_equal(out, 12);
    assert_false(rw_size_add(SIZE_MAX, 1, &out));
    assert_null(rw_alloc_array(SIZE_MAX / 4, 8));
}

static void test_arena(void **state) {
    (void)state;
    rw_arena a;
    assert_int_equal(rw_arena_init(&a, 256, NULL), RW_OK);
    unsigned char *p = rw_arena_alloc(&a, 10, 64);
    unsigned char *q = rw_arena_alloc(&a, 10, 64);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)q % 64, 0);
    assert_true(q >= p + 10);
    /* hand-worked: p at 0 (10 bytes), q at 64 (10 bytes): 74 bytes used */
    assert_int_equal(q - p, 64);
    assert_int_equal(a.used, 74);
    assert_int_equal(a.high_water, 74);
    assert_null(rw_arena_alloc(&a, 1000, 8));
    /* the last 128 bytes (start 128) fit exactly; then not one byte more */
    assert_null(rw_arena_alloc(&a, 129, 64));
    assert_non_null(rw_arena_alloc(&a, 128, 64));
    assert_int_equal(a.used, 256);
    assert_null(rw_arena_alloc(&a, 1, 1));
    size_t hw = a.high_water;
    assert_int_equal(hw, 256);
    rw_arena_reset(&a);
    assert_int_equal(a.used, 0);
    assert_int_equal(a.high_water, hw);
    rw_arena_deinit(&a);
}

static void test_rng(void **state) {
    (void)state;
    rw_rng r, s;
    rw_rng_seed(&r, 0);
    /* splitmix64(0) first output, the published reference value of the generator. */
    assert_true(r.s[0] == 0xe220a8397b1dcdafULL);
    rw_rng_seed(&r, 42);
    rw_rng_seed(&s, 42);
    for (int i = 0; i < 100; i++) assert_true(rw_rng_u64(&r) == rw_rng_u64(&s));
    /* Moments of 200k normals: mean ~ 0 (sd 0.0022), variance ~ 1. */
    double sum = 0, sq = 0;
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double x = rw_rng_normal(&r);
        sum += x;
        sq += x * x;
    }
    assert_true(fabs(sum / n) < 0.015);
    assert_true(fabs(sq / n - 1.0) < 0.02);
    for (int i = 0; i < 1000; i++) assert_true(rw_rng_below(&r, 7) < 7);
    uint32_t v[10];
    for (uint32_t i = 0; i < 10; i++) v[i] = i;
    rw_rng_shuffle_u32(&r, v, 10);
    uint32_t seen = 0;
    for (int i = 0; i < 10; i++) seen |= 1u << v[i];
    assert_int_equal(seen, 0x3ff);
}

typedef struct sum_ctx {
    const int *x;
    size_t n;
    long partial[64];
    atomic_int calls;
} sum_ctx;

static void sum_task(void *vctx, int ith, int nth) {
    sum_ctx *c = vctx;
    size_t b, e;
    rw_split_range(c->n, ith, nth, &b, &e);
    long s = 0;
    for (size_t i = b; i < e; i++) s += c->x[i];
    c->partial[ith] = s;
    atomic_fetch_add(&c->calls, 1);
}

static void test_pool(void **state) {
    (void)state;
    enum { N = 100003 };
    int *x = malloc(N * sizeof *x);
    long expect = 0;
    for (int i = 0; i < N; i++) {
        x[i] = i % 97;
        expect += x[i];
    }
    for (int threads = 1; threads <= 4; threads++) {
        rw_pool *p = NULL;
        assert_int_equal(rw_pool_create(threads, &p, NULL), RW_OK);
        for (int rep = 0; rep < 200; rep++) {
            sum_ctx c = {.x = x, .n = N};
            rw_pool_run(p, sum_task, &c);
            long s = 0;
            for (int t = 0; t < threads; t++) s += c.partial[t];
            assert_int_equal(s, expect);
            assert_int_equal(atomic_load(&c.calls), threads);
        }
        rw_pool_destroy(p);
    }
    free(x);
    assert_true(rw_cpu_physical_cores() >= 1);
    /* split covers [0,n) exactly, in order. */
    size_t prev = 0;
    for (int i = 0; i < 7; i++) {
        size_t b, e;
        rw_split_range(20, i, 7, &b, &e);
        assert_int_equal(b, prev);
        prev = e;
    }
    assert_int_equal(prev, 20);
}

static void test_dtype_and_tensor(void **state) {
    (void)state;
    uint64_t bytes;
    assert_true(rw_dtype_row_bytes(RW_DTYPE_Q4_K, 512, &bytes));
    assert_int_equal(bytes, 288);
    assert_false(rw_dtype_row_bytes(RW_DTYPE_Q8_0, 33, &bytes));
    assert_null(rw_dtype_get(4));
    assert_null(rw_dtype_get(1000));
    rw_dtype t;
    assert_true(rw_dtype_from_name("Q6_K", &t));
    assert_int_equal(t, RW_DTYPE_Q6_K);
    rw_tensor tt;
    int64_t ne[2] = {64, 3};
    assert_true(rw_tensor_init(&tt, RW_DTYPE_Q8_0, 2, ne, NULL));
    assert_int_equal(rw_tensor_nbytes(&tt), 3 * 2 * 34);
    assert_int_equal(rw_tensor_nrows(&tt), 3);
    assert_true(rw_tensor_is_contiguous(&tt));
    int64_t bad[2] = {33, 3};
    assert_false(rw_tensor_init(&tt, RW_DTYPE_Q8_0, 2, bad, NULL));
}

static void test_tape(void **state) {
    (void)state;
    rw_tape t;
    rw_tape_init(&t);
    for (int i = 0; i < 1000; i++) {
        rw_tape_rec r = {.op = RW_OP_ADD, .i = {i}};
        assert_int_equal(rw_tape_push(&t, &r, NULL), RW_OK);
    }
    assert_int_equal(t.n, 1000);
    assert_int_equal(t.recs[999].i[0], 999);
    rw_tape_clear(&t);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.high_water, 1000);
    /* Growth failure is reported, and the tape keeps what it had. */
    for (size_t i = t.n; i < t.cap; i++) {
        rw_tape_rec r = {.op = RW_OP_MUL};
        assert_int_equal(rw_tape_push(&t, &r, NULL), RW_OK);
    }
    rw_alloc_fail_after(0);
    rw_err err;
    rw_tape_rec r = {.op = RW_OP_MUL};
    assert_int_equal(rw_tape_push(&t, &r, &err), RW_E_NOMEM);
    rw_alloc_fail_after(-1);
    assert_int_equal(t.n, t.cap);
    rw_tape_deinit(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_and_prefix), cmocka_unit_test(test_alloc_fail_injection),
        cmocka_unit_test(test_arena),              cmocka_unit_test(test_rng),
        cmocka_unit_test(test_pool),               cmocka_unit_test(test_dtype_and_tensor),
        cmocka_unit_test(test_tape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
