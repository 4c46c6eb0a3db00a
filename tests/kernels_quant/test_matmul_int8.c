/* kernels/matmul_int8.c (int8 panel matmul for Q8_0/Q4_0/Q4_K/Q6_K weights):
 * - every SIMD level bit-identical to the scalar reference (integer block sums are exact
 *   and the float steps are the same operations in the same order);
 * - against an independent double-precision reference written here: W dequantized,
 *   activations quantized to Q8_0 and dequantized (the same information the integer path
 *   sees), so the only difference allowed is f32 rounding (1e-5 of sum |w a|);
 * - odd panel tails (N not a multiple of 16), M tails (not a multiple of 4), misaligned
 *   weights and activations, 1..3 threads equal, accumulate adds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "rw_test.h"

static void one_case(rw_rng *r, rw_dtype t, int64_t N, int64_t K, int64_t M, rw_pool **pools) {
    float *wf = malloc((size_t)(N * K) * 4), *X = malloc((size_t)(M * K) * 4 + 4);
    for (int64_t i = 0; i < N * K; i++)
        wf[i] = (float)(rw_rng_normal(r) * 0.05);
    float *x = X + 1; /* misaligned */
    for (int64_t i = 0; i < M * K; i++)
        x[i] = (float)rw_rng_normal(r) * (i % 97 == 0 ? 20.f : 1.f);
    size_t rb = kern_row_bytes(t, K);
    uint8_t *wbuf = malloc(rb * (size_t)N + 2);
    void *W = wbuf + 2; /* 2-byte aligned only */
    kern_quantize(t, wf, W, N, K);
    kern_dequantize(t, W, wf, N, K);
    /* activations as the integer path sees them: Q8_0 round trip */
    void *xq = malloc(kern_row_bytes(RW_DTYPE_Q8_0, K) * (size_t)M);
    float *xd = malloc((size_t)(M * K) * 4);
    kern_quantize(RW_DTYPE_Q8_0, x, xq, M, K);
    kern_dequantize(RW_DTYPE_Q8_0, xq, xd, M, K);

    void *scratch = rw_aligned_alloc(64, kern_matmul_int8_scratch_bytes(K, M, 3));
    float *Y0 = malloc((size_t)(M * N) * 4), *Y1 = malloc((size_t)(M * N) * 4);
    kern_matmul_int8(NULL, KERN_LEVEL_SCALAR, t, W, N, K, x, M, Y0, false, scratch);
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)wf[n * K + k] * (double)xd[m * K + k];
                ref += p;
                mag += fabs(p);
            }
            double got = (double)Y0[m * N + n];
            if (fabs(got - ref) > 1e-5 * mag + 1e-7)
                fail_msg("%s N%lld K%lld M%lld [%lld,%lld]: %.8g vs %.8g", kern_type_get(t)->name,
                         (long long)N, (long long)K, (long long)M, (long long)m, (long long)n, got,
                         ref);
        }
    for (int l = KERN_LEVEL_AVX2; l <= KERN_LEVEL_AVX512; l++)
        for (int th = 0; th < 3; th++) {
            memset(Y1, 0xff, (size_t)(M * N) * 4);
            kern_matmul_int8(pools[th], (kern_level)l, t, W, N, K, x, M, Y1, false, scratch);
            assert_memory_equal(Y0, Y1, (size_t)(M * N) * 4);
        }
    kern_matmul_int8(pools[1], KERN_LEVEL_AVX512, t, W, N, K, x, M, Y1, true, scratch);
    for (int64_t i = 0; i < M * N; i++)
        assert_true(Y1[i] == 2 * Y0[i]);
    rw_aligned_free(scratch);
    free(Y0);
    free(Y1);
    free(xq);
    free(xd);
    free(wbuf);
    free(wf);
    free(X);
}

static void test_int8_levels_equal(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 7);
    rw_pool *pools[3] = {NULL, NULL, NULL};
    assert_int_equal(rw_pool_create(2, &pools[1], NULL), RW_OK);
    assert_int_equal(rw_pool_create(3, &pools[2], NULL), RW_OK);
    const rw_dtype types[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_0, RW_DTYPE_Q4_K, RW_DTYPE_Q6_K};
    const int64_t Ns[] = {1, 15, 16, 17, 40};
    const int64_t nbs[] = {1, 3, 8}; /* blocks of the type per row */
    const int64_t Ms[] = {1, 3, 4, 5, 9, 130};
    for (int ti = 0; ti < 4; ti++)
        for (int a = 0; a < 5; a++)
            for (int b = 0; b < 3; b++) {
                int64_t M = Ms[(a + 2 * b + ti) % 6];
                int64_t K = nbs[b] * kern_type_get(types[ti])->block_size;
                one_case(&r, types[ti], Ns[a], K, M, pools);
            }
    one_case(&r, RW_DTYPE_Q4_0, 33, 4096, 17, pools);
    one_case(&r, RW_DTYPE_Q4_K, 21, 2048, 11, pools);
    one_case(&r, RW_DTYPE_Q6_K, 35, 2048, 6, pools);
    rw_pool_destroy(pools[1]);
    rw_pool_destroy(pools[2]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_levels_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
