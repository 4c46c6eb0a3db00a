/* vec_dot_rows for Q8_0 / Q4_0 weights (kernels/quant_rows_avx2.c, quant_rows_avx512.c)
 * and the SIMD Q8_0 activation quantizer, against the scalar reference:
 *   - one or two blocks with power-of-two scales, where every float step is exact, so
 *     each row must equal the reference vec_dot bit for bit (integer sums exact, weights
 *     including -128);
 *   - rows long enough to cross the kernels' activation chunks (odd block count), with
 *     extreme block scales (f16 max, subnormal, zero, negative) and all-zero blocks, at
 *     unaligned strides: within 1e-5 of sum |w*a| of the reference;
 *   - kern_quantize_activations byte-equal to the reference quantizer on ties (x.5 at
 *     scale 1), zeros, subnormals, huge values, NaN and Inf. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/matmul.h"
#include "kernels/quant.h"
#include "rw_test.h"

static const rw_dtype k_types[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_0};

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Random block bytes with the f16 scale (first 2 bytes of Q8_0/Q4_0 blocks) from scales. */
static void fill_blocks(rw_rng *r, rw_dtype t, uint8_t *p, int64_t nb, const uint16_t *scales,
                        int nscales) {
    const size_t bs = kern_type_get(t)->type_size;
    for (size_t i = 0; i < (size_t)nb * bs; i++)
        p[i] = (uint8_t)rw_rng_u64(r);
    for (int64_t i = 0; i < nb; i++) {
        uint16_t d = scales[rw_rng_u64(r) % (uint64_t)nscales];
        memcpy(p + (size_t)i * bs, &d, 2);
    }
}

/* Activation blocks: random -127..127 (never -128, which the quantizer cannot write). */
static void fill_act(rw_rng *r, uint8_t *p, int64_t nb, const uint16_t *scales, int nscales) {
    fill_blocks(r, RW_DTYPE_Q8_0, p, nb, scales, nscales);
    for (int64_t i = 0; i < nb; i++) {
        kern_block_q8_0 *b = (kern_block_q8_0 *)(p + (size_t)i * sizeof(kern_block_q8_0));
        for (int j = 0; j < KERN_QK; j++)
            if (b->qs[j] == -128) b->qs[j] = 127;
    }
}

/* sum |w * a| of the dequantized operands, in double */
static double dot_mag(rw_dtype wt, const void *w, const void *a, int64_t n) {
    float *wf = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
    kern_dequantize(wt, w, wf, 1, n);
    kern_dequantize(RW_DTYPE_Q8_0, a, af, 1, n);
    double m = 0;
    for (int64_t i = 0; i < n; i++)
        m += fabs((double)wf[i] * (double)af[i]);
    free(wf);
    free(af);
    return m;
}

static void test_rows_exact_small(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 21);
    const uint16_t pow2[] = {0x3c00, 0x3800, 0x4000, 0xbc00, 0x3400}; /* 1 .5 2 -1 .25 */
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const rw_dtype wt = k_types[ti];
        const kern_type_traits *ref = kern_type_get_level(wt, KERN_LEVEL_SCALAR);
        for (int nb = 1; nb <= 2; nb++) {
            const size_t stride = (size_t)nb * ref->type_size + 2;
            uint8_t *w = malloc(stride * 6 + 2), *a = malloc((size_t)nb * 34 + 2);
            for (int trial = 0; trial < 50; trial++) {
                for (int row = 0; row < 6; row++)
                    fill_blocks(&r, wt, w + 2 + stride * (size_t)row, nb, pow2, 5);
                fill_act(&r, a + 2, nb, pow2, 5);
                for (int nr = 1; nr <= 6; nr++)
                    for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
                        float s[6];
                        kern_vec_dot_rows(kern_type_get_level(wt, (kern_level)lvl), nb * KERN_QK,
                                          s, w + 2, stride, nr, a + 2);
                        for (int row = 0; row < nr; row++) {
                            float e;
                            ref->vec_dot(nb * KERN_QK, &e, w + 2 + stride * (size_t)row, a + 2);
                            if (bits(s[row]) != bits(e))
                                fail_msg("%s level %d nb %d rows %d row %d: %.9g != ref %.9g",
                                         ref->name, lvl, nb, nr, row, (double)s[row], (double)e);
                        }
                    }
            }
            free(w);
            free(a);
        }
    }
}

static void test_rows_long_extreme(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 22);
    /* f16: max, min subnormal, 0, -1, 1e-3, 3.0, smallest normal */
    const uint16_t wsc[] = {0x7bff, 0x0001, 0x0000, 0xbc00, 0x1419, 0x4200, 0x0400};
    const uint16_t asc[] = {0x3c00, 0x2e66, 0x0000, 0x0400, 0x5640}; /* 1 .1 0 tiny 100 */
    const int64_t nbs[] = {515, 257, 256, 3};
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const rw_dtype wt = k_types[ti];
        const kern_type_traits *ref = kern_type_get_level(wt, KERN_LEVEL_SCALAR);
        for (size_t k = 0; k < sizeof nbs / sizeof nbs[0]; k++) {
            const int64_t nb = nbs[k], n = nb * KERN_QK;
            const size_t stride = (size_t)nb * ref->type_size + 6;
            uint8_t *w = malloc(stride * 7 + 2), *a = malloc((size_t)nb * 34 + 2);
            for (int row = 0; row < 7; row++) {
                uint8_t *wr = w + 2 + stride * (size_t)row;
                fill_blocks(&r, wt, wr, nb, wsc, 7);
                for (int64_t i = row; i < nb; i += 5) /* all-zero weight blocks */
                    memset(wr + (size_t)i * ref->type_size + 2,
                           wt == RW_DTYPE_Q4_0 ? 0x88 : 0, ref->type_size - 2);
            }
            fill_act(&r, a + 2, nb, asc, 5);
            for (int64_t i = 1; i < nb; i += 7) /* all-zero activation blocks */
                memset(a + 2 + (size_t)i * 34 + 2, 0, 32);
            for (int nr = 1; nr <= 7; nr += 2)
                for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    float s[7];
                    kern_vec_dot_rows(kern_type_get_level(wt, (kern_level)lvl), n, s, w + 2, stride,
                                      nr, a + 2);
                    for (int row = 0; row < nr; row++) {
                        const uint8_t *wr = w + 2 + stride * (size_t)row;
                        float e;
                        ref->vec_dot(n, &e, wr, a + 2);
                        double mag = dot_mag(wt, wr, a + 2, n);
                        if (!(fabs((double)s[row] - (double)e) <= 1e-5 * mag + 1e-30))
                            fail_msg("%s level %d nb %lld rows %d row %d: %.9g vs ref %.9g",
                                     ref->name, lvl, (long long)nb, nr, row, (double)s[row],
                                     (double)e);
                    }
                }
            free(w);
            free(a);
        }
    }
}

static void test_quantize_activations_exact(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 23);
    enum { NB = 40, K = NB * KERN_QK, M = 3 };
    float *x = malloc((size_t)M * K * 4);
    uint8_t *got = malloc((size_t)M * NB * 34), *want = malloc((size_t)M * NB * 34);
    const kern_type_traits *q8 = kern_type_get(RW_DTYPE_Q8_0);
    for (int trial = 0; trial < 20; trial++) {
        for (int64_t b = 0; b < (int64_t)M * NB; b++) {
            float *v = x + b * KERN_QK;
            const int kind = (int)((b + trial) % 10);
            for (int j = 0; j < KERN_QK; j++) {
                double g = rw_rng_normal(&r);
                float f;
                switch (kind) {
                case 0: /* ties: amax 127 gives scale 1, so x.5 reaches roundf as it is */
                    f = j == 0 ? 127.f : (float)((int)(g * 40) % 127) + (j & 1 ? 0.5f : -0.5f);
                    break;
                case 1: f = 0.f; break;
                case 2: f = (float)(g * 1e-40); break; /* subnormal */
                case 3: f = (float)(g * 1e30); break;
                case 4: f = j == 5 ? NAN : (float)g; break;
                case 5: f = j == 7 ? -INFINITY : (float)g; break;
                case 6: f = j % 3 ? -0.f : (float)(g * 1e-3); break;
                default: f = (float)(g * (1 + kind)); break;
                }
                v[j] = f;
            }
        }
        for (int m = 0; m < M; m++)
            q8->from_float_ref(x + (size_t)m * K, want + (size_t)m * NB * 34, K);
        kern_quantize_activations(RW_DTYPE_Q4_0, x, got, M, K);
        assert_memory_equal(got, want, (size_t)M * NB * 34);
        memset(got, 0, (size_t)M * NB * 34);
        kern_quantize_activations(RW_DTYPE_Q8_0, x, got, M, K);
        assert_memory_equal(got, want, (size_t)M * NB * 34);
    }
    free(x);
    free(got);
    free(want);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_exact_small),
        cmocka_unit_test(test_rows_long_extreme),
        cmocka_unit_test(test_quantize_activations_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
