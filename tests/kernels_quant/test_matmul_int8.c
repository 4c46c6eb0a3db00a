/* kernels/matmul_int8.c (int8 panel matmul for Q8_0/Q4_0/Q4_K/Q6_K weights):
 * - every SIMD level bit-identical to the scalar reference (integer block sums are exact
 *   and the float steps are the same operations in the same order);
 * - against an independent double-precision reference written here: W dequantized,
 *   activations quantized to Q8_0 and dequantized (the same information the integer path
 *   sees), so the only difference allowed is f32 rounding (1e-5 of sum |w a|);
 * - odd panel tails (N not a multiple of 16), M tails (not a multiple of 4), misaligned
 *   weights and activations, 1..3 threads equal, accumulate adds;
 * - edge values (test_int8_edges): raw weight blocks at the extreme levels (Q8_0 -128/127,
 *   Q4_0 nibbles 0/15, Q4_K 0/15, Q6_K -32/31) and scales (f16 +-65504, subnormal, 0; Q4_K
 *   6-bit scales/mins 63; Q6_K scales -128/127) against activations of all +-127 levels,
 *   ties at .5, zeros and large values: the inputs that would saturate an int16 lane of the
 *   AVX2 vpmaddubsw path if its bounds (matmul_int8_avx2.c) were wrong. Each 256-bit
 *   integer-dot form the CPU can run (AVX2, AVX-VNNI, and the AVX-512 VL encoding of the
 *   VNNI code) and the AVX2 packer and activation quantizer are held byte-equal to the
 *   scalar reference functions, and end to end every level to the scalar level and to the
 *   double-precision reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/pool.h"
#include "core/rng.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/matmul_internal.h"
#include "kernels/quant.h"
#include "rw_test.h"

/* |Y - double reference| within f32 rounding (1e-5 of sum |w a|); wf: dequantized W,
 * xd: the activations after a Q8_0 round trip. */
static void check_double_ref(rw_dtype t, const float *Y, const float *wf, const float *xd,
                             int64_t N, int64_t K, int64_t M) {
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double ref = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                double p = (double)wf[n * K + k] * (double)xd[m * K + k];
                ref += p;
                mag += fabs(p);
            }
            double got = (double)Y[m * N + n];
            if (fabs(got - ref) > 1e-5 * mag + 1e-7)
                fail_msg("%s N%lld K%lld M%lld [%lld,%lld]: %.8g vs %.8g", kern_type_get(t)->name,
                         (long long)N, (long long)K, (long long)M, (long long)m, (long long)n, got,
                         ref);
        }
}

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
    check_double_ref(t, Y0, wf, xd, N, K, M);
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

/* ---- edge values ---- */

static const uint16_t k_edge_d[] = {0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x3C00, 0x0000, 0x2E66};

/* One weight block of t: pat 0 every level at its minimum, 1 at its maximum, 2 random
 * bytes; scales from k_edge_d, Q4_K 6-bit scales/mins and Q6_K scales at their extremes
 * or random. */
static void edge_block(rw_rng *r, rw_dtype t, void *blk, int pat) {
    const int nd = (int)(sizeof k_edge_d / sizeof k_edge_d[0]);
    uint16_t d = k_edge_d[(uint32_t)rw_rng_u64(r) % (uint32_t)nd];
    uint8_t fill = pat == 0 ? 0x00 : 0xFF;
    size_t sz = kern_type_get(t)->type_size;
    uint8_t *b = blk;
    for (size_t i = 0; i < sz; i++)
        b[i] = pat == 2 ? (uint8_t)(uint32_t)rw_rng_u64(r) : fill;
    if (t == RW_DTYPE_Q8_0) {
        kern_block_q8_0 *q = blk;
        if (pat != 2) memset(q->qs, pat == 0 ? 0x80 : 0x7F, sizeof q->qs); /* -128 / 127 */
        q->d = d;
    } else if (t == RW_DTYPE_Q4_0) {
        ((kern_block_q4_0 *)blk)->d = d;
    } else if (t == RW_DTYPE_Q4_K) {
        kern_block_q4_k *q = blk;
        q->d = d;
        q->dmin = k_edge_d[(uint32_t)rw_rng_u64(r) % (uint32_t)nd];
        if ((uint32_t)rw_rng_u64(r) % 2)
            memset(q->scales, 0xFF, sizeof q->scales); /* sc = m = 63 */
    } else {
        kern_block_q6_k *q = blk;
        q->d = d;
        uint32_t sm = (uint32_t)rw_rng_u64(r) % 3;
        if (sm < 2) memset(q->scales, sm ? 0x7F : 0x80, sizeof q->scales);
    }
}

/* Activation row m of K: all +1 (levels 127), all -1 (-127), alternating, ties at .5
 * (amax 127 so 1/d = 1), zeros, values up to 1e4, normal. */
static void edge_row(rw_rng *r, float *x, int64_t K, int64_t m) {
    for (int64_t k = 0; k < K; k++) {
        float v;
        switch (m % 7) {
        case 0:
            v = 1.f;
            break;
        case 1:
            v = -1.f;
            break;
        case 2:
            v = (k * 7 + m) % 3 ? 1.f : -1.f;
            break;
        case 3:
            v = k % 32 == 5 ? -127.f : (float)(k % 251 - 125) + 0.5f;
            break;
        case 4:
            v = 0.f;
            break;
        case 5:
            v = (float)(rw_rng_normal(r) * 1e4);
            break;
        default:
            v = (float)rw_rng_normal(r);
            break;
        }
        x[k] = v;
    }
}

static bool dot_available(kern_i8_dot dot) {
    const kern_cpu_features *f = kern_cpu_get();
    if (kern_cpu_hw_level() < KERN_LEVEL_AVX2) return false;
    if (dot == KERN_I8_DOT_AVXVNNI) return f->avx_vnni;
    if (dot == KERN_I8_DOT_VNNI_EVEX) return f->avx512vnni && f->avx512vl && f->avx512f;
    return true;
}

/* The AVX2 packer, activation quantizer and every runnable integer-dot form against the
 * scalar reference functions, byte for byte. */
static void check_avx2_parts(rw_dtype t, const void *W, int64_t N, int64_t K, const float *x,
                             int64_t M) {
    if (kern_cpu_hw_level() < KERN_LEVEL_AVX2) return;
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const int64_t nb = K / 32;
    const size_t pbytes = (size_t)nb * kern_i8_record_bytes(kind), rb = kern_row_bytes(t, K);
    uint8_t *p0 = rw_aligned_alloc(64, pbytes), *p1 = rw_aligned_alloc(64, pbytes);
    uint8_t *au0 = malloc((size_t)(M * K)), *au1 = malloc((size_t)(M * K));
    float *da0 = malloc((size_t)(M * nb) * 4), *da1 = malloc((size_t)(M * nb) * 4);
    float *sa0 = malloc((size_t)(M * nb) * 4), *sa1 = malloc((size_t)(M * nb) * 4);
    void *tmp = malloc((size_t)nb * sizeof(kern_block_q8_0));
    float *accbuf = rw_aligned_alloc(64, (size_t)M * 16 * 4);
    const int64_t ldy = 19;
    float *Y0 = malloc((size_t)(M * ldy) * 4), *Y1 = malloc((size_t)(M * ldy) * 4);
    for (int64_t m = 0; m < M; m++) {
        kern_int8_quantize_act_ref(x + m * K, au0 + m * K, da0 + m * nb, sa0 + m * nb, K, tmp);
        kern_int8_quantize_act_avx2(x + m * K, au1 + m * K, da1 + m * nb, sa1 + m * nb, K);
    }
    assert_memory_equal(au0, au1, (size_t)(M * K));
    assert_memory_equal(da0, da1, (size_t)(M * nb) * 4);
    assert_memory_equal(sa0, sa1, (size_t)(M * nb) * 4);
    for (int64_t r0 = 0; r0 < N; r0 += 16) {
        const int nr = (int)(N - r0 < 16 ? N - r0 : 16);
        const char *w = (const char *)W + (size_t)r0 * rb;
        memset(p0, 0xAA, pbytes);
        memset(p1, 0x55, pbytes);
        kern_int8_pack_panel_ref(t, w, rb, nr, K, p0);
        kern_int8_pack_panel_avx2(t, w, rb, nr, K, p1);
        assert_memory_equal(p0, p1, pbytes);
        for (int acc = 0; acc < 2; acc++) {
            for (int64_t i = 0; i < M * ldy; i++)
                Y0[i] = (float)(i % 13) - 6.f;
            kern_int8_panel_gemm_ref(kind, p0, K, au0, da0, sa0, M, Y0, ldy, nr, acc);
            for (int dot = KERN_I8_DOT_MADDUBS; dot <= KERN_I8_DOT_VNNI_EVEX; dot++) {
                if (!dot_available((kern_i8_dot)dot)) continue;
                for (int64_t i = 0; i < M * ldy; i++)
                    Y1[i] = (float)(i % 13) - 6.f;
                kern_int8_panel_gemm_avx2(t, (kern_i8_dot)dot, p1, K, au1, da1, sa1, M, Y1, ldy, nr,
                                          acc, accbuf);
                if (memcmp(Y0, Y1, (size_t)(M * ldy) * 4) != 0)
                    fail_msg("%s dot form %d nr %d K %lld M %lld accumulate %d differs",
                             kern_type_get(t)->name, dot, nr, (long long)K, (long long)M, acc);
            }
        }
    }
    rw_aligned_free(p0);
    rw_aligned_free(p1);
    rw_aligned_free(accbuf);
    free(au0);
    free(au1);
    free(da0);
    free(da1);
    free(sa0);
    free(sa1);
    free(tmp);
    free(Y0);
    free(Y1);
}

static void edge_case(rw_rng *r, rw_dtype t, int64_t N, int64_t nblk, int64_t M, rw_pool *pool) {
    const kern_type_traits *tt = kern_type_get(t);
    const int64_t K = nblk * tt->block_size;
    const size_t rb = kern_row_bytes(t, K);
    uint8_t *W = malloc(rb * (size_t)N);
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < nblk; b++) /* rows and blocks cycle through the patterns */
            edge_block(r, t, W + (size_t)n * rb + (size_t)b * tt->type_size, (int)((n + b) % 3));
    float *x = malloc((size_t)(M * K) * 4), *wf = malloc((size_t)(N * K) * 4);
    for (int64_t m = 0; m < M; m++)
        edge_row(r, x + m * K, K, m);
    kern_dequantize(t, W, wf, N, K);
    void *xq = malloc(kern_row_bytes(RW_DTYPE_Q8_0, K) * (size_t)M);
    float *xd = malloc((size_t)(M * K) * 4);
    kern_quantize(RW_DTYPE_Q8_0, x, xq, M, K);
    kern_dequantize(RW_DTYPE_Q8_0, xq, xd, M, K);

    check_avx2_parts(t, W, N, K, x, M);
    void *scratch = rw_aligned_alloc(64, kern_matmul_int8_scratch_bytes(K, M, 2));
    float *Y0 = malloc((size_t)(M * N) * 4), *Y1 = malloc((size_t)(M * N) * 4);
    kern_matmul_int8(NULL, KERN_LEVEL_SCALAR, t, W, N, K, x, M, Y0, false, scratch);
    check_double_ref(t, Y0, wf, xd, N, K, M);
    for (int l = KERN_LEVEL_AVX2; l <= KERN_LEVEL_AVX512; l++) {
        memset(Y1, 0xff, (size_t)(M * N) * 4);
        kern_matmul_int8(pool, (kern_level)l, t, W, N, K, x, M, Y1, false, scratch);
        assert_memory_equal(Y0, Y1, (size_t)(M * N) * 4);
    }
    rw_aligned_free(scratch);
    free(W);
    free(x);
    free(wf);
    free(xq);
    free(xd);
    free(Y0);
    free(Y1);
}

static void test_int8_edges(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 11);
    rw_pool *pool = NULL;
    assert_int_equal(rw_pool_create(2, &pool, NULL), RW_OK);
    const rw_dtype types[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_0, RW_DTYPE_Q4_K, RW_DTYPE_Q6_K};
    for (int ti = 0; ti < 4; ti++) {
        const bool kq = types[ti] == RW_DTYPE_Q4_K || types[ti] == RW_DTYPE_Q6_K;
        edge_case(&r, types[ti], 19, kq ? 3 : 7, 7, pool); /* odd N, K/32, M */
        edge_case(&r, types[ti], 8, kq ? 1 : 33, 14, pool);
        edge_case(&r, types[ti], 33, kq ? 5 : 67, 3, pool); /* K past one 32-block chunk */
    }
    rw_pool_destroy(pool);
}

/* The random cases of test_int8_levels_equal through the internal AVX2 pieces too. */
static void test_int8_avx2_random(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 5);
    const rw_dtype types[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_0, RW_DTYPE_Q4_K, RW_DTYPE_Q6_K};
    const int64_t Ns[] = {1, 9, 16, 31}, Ms[] = {1, 2, 5, 6};
    for (int ti = 0; ti < 4; ti++)
        for (int a = 0; a < 4; a++) {
            const int64_t K = (a + 1) * kern_type_get(types[ti])->block_size * (a == 3 ? 9 : 1);
            const int64_t N = Ns[a], M = Ms[(a + ti) % 4];
            float *wf = malloc((size_t)(N * K) * 4), *x = malloc((size_t)(M * K) * 4);
            for (int64_t i = 0; i < N * K; i++)
                wf[i] = (float)(rw_rng_normal(&r) * 0.05);
            for (int64_t i = 0; i < M * K; i++)
                x[i] = (float)rw_rng_normal(&r);
            void *W = malloc(kern_row_bytes(types[ti], K) * (size_t)N);
            kern_quantize(types[ti], wf, W, N, K);
            check_avx2_parts(types[ti], W, N, K, x, M);
            free(W);
            free(wf);
            free(x);
        }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8_levels_equal),
        cmocka_unit_test(test_int8_edges),
        cmocka_unit_test(test_int8_avx2_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
