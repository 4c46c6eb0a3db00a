/* K-quant vec_dot / vec_dot_rows edge cases at every level, against a reference written
 * here from the block layouts in kernels/quant.h (not the kernels' own _ref code): blocks
 * are built from chosen integer levels, scales and mins (the test packs them), and the
 * expected dot is computed from those integers in int64/double.
 *
 * - exact: one block per row, extreme scales (Q6_K int8 127, -128, 63, -32; Q4_K 6-bit
 *   scales and mins 63 with every high-bit combination), extreme levels (0, 15 / 0, 63)
 *   and activations (127, -127, -128) on a few sub-blocks, so every integer and float
 *   step is exact: the result must equal the reference bit for bit;
 * - tolerance: rows of several blocks with all-extreme random content and random f16
 *   scales, 1e-5 of sum |w * a|;
 * both with row counts that are not multiples of the kernels' row groups (1-6, 11, 13)
 * and row strides that are not multiples of a vector. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/quant.h"
#include "rw_test.h"

enum { MAX_ROWS = 13, QK = 256 };

/* Integer content of one weight block (what the test packs). */
typedef struct kq_block {
    int q[QK];  /* levels: Q4_K 0..15, Q6_K 0..63 */
    int sc[16]; /* Q4_K: 8 6-bit scales; Q6_K: 16 int8 scales */
    int m[8];   /* Q4_K mins */
    uint16_t d, dmin;
} kq_block;

/* Q4_K scales[12]: bytes 0-3 = sc0-3 | (sc4-7 >> 4) << 6, bytes 4-7 = m0-3 | (m4-7 >> 4) << 6,
 * bytes 8-11 = (sc4-7 & 15) | (m4-7 & 15) << 4. */
static void pack_q4k(const kq_block *k, kern_block_q4_k *b) {
    b->d = k->d;
    b->dmin = k->dmin;
    for (int j = 0; j < 4; j++) {
        b->scales[j] = (uint8_t)(k->sc[j] | (k->sc[j + 4] >> 4) << 6);
        b->scales[j + 4] = (uint8_t)(k->m[j] | (k->m[j + 4] >> 4) << 6);
        b->scales[j + 8] = (uint8_t)((k->sc[j + 4] & 15) | (k->m[j + 4] & 15) << 4);
    }
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * c + l] = (uint8_t)(k->q[64 * c + l] | k->q[64 * c + 32 + l] << 4);
}

static void pack_q6k(const kq_block *k, kern_block_q6_k *b) {
    b->d = k->d;
    for (int j = 0; j < 16; j++)
        b->scales[j] = (int8_t)k->sc[j];
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++)
            for (int g = 0; g < 4; g++) { /* element 128h + 32g + l */
                int q = k->q[128 * h + 32 * g + l];
                int byte = 64 * h + l + ((g & 1) ? 32 : 0);
                b->ql[byte] |= (uint8_t)((q & 15) << ((g & 2) ? 4 : 0));
                b->qh[32 * h + l] |= (uint8_t)((q >> 4) << (2 * g));
            }
}

static void pack_q8k(const int *a, float d, kern_block_q8_k *b) {
    b->d = d;
    for (int j = 0; j < QK; j++)
        b->qs[j] = (int8_t)a[j];
    for (int j = 0; j < 16; j++) {
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += a[16 * j + l];
        b->bsums[j] = (int16_t)s;
    }
}

static double f16d(uint16_t h) {
    return (double)kern_f16_to_f32(h);
}

/* Reference dot of one block; *mag += sum |w * a|. */
static double ref_block(rw_dtype t, const kq_block *k, const int *a, float da, double *mag) {
    int64_t sumi = 0, summ = 0, abssum = 0;
    if (t == RW_DTYPE_Q4_K) {
        for (int j = 0; j < 8; j++)
            for (int l = 0; l < 32; l++) {
                int e = 32 * j + l;
                sumi += (int64_t)k->sc[j] * k->q[e] * a[e];
                summ += (int64_t)k->m[j] * a[e];
                abssum +=
                    llabs((int64_t)k->sc[j] * k->q[e] * a[e]) + llabs((int64_t)k->m[j] * a[e]);
            }
        *mag += fabs((double)da) * (fabs(f16d(k->d)) + fabs(f16d(k->dmin))) * (double)abssum;
        return (double)da * (f16d(k->d) * (double)sumi - f16d(k->dmin) * (double)summ);
    }
    for (int e = 0; e < QK; e++) {
        int64_t p = (int64_t)k->sc[e / 16] * (k->q[e] - 32) * a[e];
        sumi += p;
        abssum += llabs(p);
    }
    *mag += fabs((double)da * f16d(k->d)) * (double)abssum;
    return (double)da * f16d(k->d) * (double)sumi;
}

static void pack_row(rw_dtype t, const kq_block *k, int nb, uint8_t *dst) {
    for (int i = 0; i < nb; i++) {
        if (t == RW_DTYPE_Q4_K)
            pack_q4k(&k[i], (kern_block_q4_k *)dst + i);
        else
            pack_q6k(&k[i], (kern_block_q6_k *)dst + i);
    }
}

static int pick(rw_rng *r, const int *v, int n) {
    return v[rw_rng_below(r, (uint64_t)n)];
}

static const int k_q6_scales[] = {127, -128, 63, -32, 1, -1, 0};
static const int k_acts[] = {127, -127, -128};
static const int k_counts[] = {1, 2, 3, 4, 5, 6, 11, 13};          /* rows per call */
static const uint16_t k_pow2[] = {0x3c00, 0x3800, 0x4000, 0xbc00}; /* 1, 0.5, 2, -1 */

/* Levels for one block: all 0, all max, alternating, or random. */
static void fill_levels(rw_rng *r, int *q, int qmax, int pattern) {
    for (int e = 0; e < QK; e++)
        q[e] = pattern == 0   ? 0
               : pattern == 1 ? qmax
               : pattern == 2 ? ((e & 1) ? qmax : 0)
                              : (int)rw_rng_below(r, (uint64_t)qmax + 1);
}

static void fill_scales(rw_rng *r, rw_dtype t, kq_block *k, int row) {
    if (t == RW_DTYPE_Q4_K) {
        for (int j = 0; j < 8; j++) {
            /* (sc, m): (63, 63), (0, 63), alternating (63, 48) / (48, 63) (high bits 11 with
             * low nibbles 15 and 0), random (every bit pattern over the rows) */
            switch (row % 4) {
            case 0:
                k->sc[j] = 63, k->m[j] = 63;
                break;
            case 1:
                k->sc[j] = 0, k->m[j] = 63;
                break;
            case 2:
                k->sc[j] = (j & 1) ? 63 : 48, k->m[j] = (j & 1) ? 48 : 63;
                break;
            default:
                k->sc[j] = (int)rw_rng_below(r, 64);
                k->m[j] = (int)rw_rng_below(r, 64);
                break;
            }
        }
    } else {
        for (int j = 0; j < 16; j++)
            k->sc[j] = row < 7 ? k_q6_scales[row] : pick(r, k_q6_scales, 7);
    }
}

static void check_rows(rw_dtype t, int nb, int nrows, const uint8_t *w, size_t stride,
                       const kern_block_q8_k *a, const double *want, const double *mag, int exact,
                       const char *what) {
    for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
        const kern_type_traits *tt = kern_type_get_level(t, (kern_level)lvl);
        float s[MAX_ROWS];
        for (int r = 0; r < MAX_ROWS; r++)
            s[r] = NAN; /* a row the kernel skips must not pass on a previous level's value */
        kern_vec_dot_rows(tt, (int64_t)nb * QK, s, w, stride, nrows, a);
        for (int r = 0; r < nrows; r++) {
            float one;
            tt->vec_dot((int64_t)nb * QK, &one, w + stride * (size_t)r, a);
            const float got[2] = {s[r], one};
            for (int v = 0; v < 2; v++) {
                const double err = fabs((double)got[v] - want[r]);
                const int ok = exact ? (float)want[r] == got[v] : err <= 1e-5 * mag[r] + 1e-30;
                if (!ok)
                    fail_msg("%s %s level %d %s nb %d rows %d row %d: %.9g, want %.9g (mag %.3g)",
                             tt->name, what, lvl, v ? "vec_dot" : "vec_dot_rows", nb, nrows, r,
                             (double)got[v], want[r], mag[r]);
            }
        }
    }
}

/* One-block rows, activations nonzero on two sub-blocks (few elements for Q6_K): every
 * sum stays below 2^24 and every scale is a power of two, so results are exact. */
static void test_exact_extremes(rw_dtype t) {
    rw_rng r;
    rw_rng_seed(&r, t == RW_DTYPE_Q4_K ? 21 : 22);
    const kern_type_traits *tt = kern_type_get(t);
    const size_t stride = tt->type_size + 6; /* 2-byte aligned, not vector aligned */
    uint8_t *w = malloc(stride * MAX_ROWS);
    kq_block *k = malloc(sizeof(kq_block) * MAX_ROWS);
    kern_block_q8_k *a = malloc(sizeof *a);
    const int nsub = t == RW_DTYPE_Q4_K ? 8 : 16, sub = QK / nsub;
    const int qmax = t == RW_DTYPE_Q4_K ? 15 : 63;
    const int nz = t == RW_DTYPE_Q4_K ? sub : 4; /* nonzero activations per chosen sub-block */
    for (int round = 0; round < 4; round++) {
        for (int row = 0; row < MAX_ROWS; row++) {
            fill_levels(&r, k[row].q, qmax, (row + round) % 4);
            fill_scales(&r, t, &k[row], row);
            k[row].d = k_pow2[(row + round) % 4];
            k[row].dmin = k_pow2[(row + round + 1) % 4];
            pack_row(t, &k[row], 1, w + stride * (size_t)row);
        }
        for (int j0 = 0; j0 < nsub; j0++) {
            int av[QK] = {0};
            const int j1 = (j0 + 3 + round) % nsub;
            for (int l = 0; l < nz; l++) {
                av[sub * j0 + l * (sub / nz)] = pick(&r, k_acts, 3);
                av[sub * j1 + l * (sub / nz)] = k_acts[(l + round) % 3];
            }
            pack_q8k(av, round & 1 ? 0.25f : 1.f, a);
            double want[MAX_ROWS], mag[MAX_ROWS];
            for (int row = 0; row < MAX_ROWS; row++) {
                mag[row] = 0;
                want[row] = ref_block(t, &k[row], av, a->d, &mag[row]);
            }
            for (size_t c = 0; c < sizeof k_counts / sizeof k_counts[0]; c++)
                check_rows(t, 1, k_counts[c], w, stride, a, want, mag, 1, "exact");
        }
    }
    free(w);
    free(k);
    free(a);
}

/* Several blocks per row, everything extreme or random, random f16 scales: 1e-5 relative. */
static void test_random_extremes(rw_dtype t) {
    rw_rng r;
    rw_rng_seed(&r, t == RW_DTYPE_Q4_K ? 31 : 32);
    const kern_type_traits *tt = kern_type_get(t);
    const int nb = 7;
    const size_t stride = tt->type_size * nb + 2;
    uint8_t *w = malloc(stride * MAX_ROWS);
    kq_block *k = malloc(sizeof(kq_block) * MAX_ROWS * nb);
    kern_block_q8_k *a = malloc(sizeof *a * nb);
    int *av = malloc(sizeof(int) * QK * nb);
    const int qmax = t == RW_DTYPE_Q4_K ? 15 : 63;
    for (int round = 0; round < 3; round++) {
        for (int row = 0; row < MAX_ROWS; row++) {
            for (int i = 0; i < nb; i++) {
                kq_block *b = &k[row * nb + i];
                fill_levels(&r, b->q, qmax, (int)rw_rng_below(&r, 4));
                fill_scales(&r, t, b, (int)rw_rng_below(&r, 16));
                b->d = kern_f32_to_f16((float)(rw_rng_below(&r, 2000) + 1) * 1e-4f);
                b->dmin = kern_f32_to_f16((float)(rw_rng_below(&r, 2000) + 1) * 1e-4f);
            }
            pack_row(t, &k[row * nb], nb, w + stride * (size_t)row);
        }
        for (int i = 0; i < nb; i++) {
            for (int e = 0; e < QK; e++)
                av[QK * i + e] =
                    round == 0 ? pick(&r, k_acts, 3) : (int)rw_rng_below(&r, 256) - 128;
            pack_q8k(av + QK * i, 1e-3f * (float)(i + 1), &a[i]);
        }
        double want[MAX_ROWS], mag[MAX_ROWS];
        for (int row = 0; row < MAX_ROWS; row++) {
            want[row] = mag[row] = 0;
            for (int i = 0; i < nb; i++)
                want[row] += ref_block(t, &k[row * nb + i], av + QK * i, a[i].d, &mag[row]);
        }
        for (size_t c = 0; c < sizeof k_counts / sizeof k_counts[0]; c++)
            check_rows(t, nb, k_counts[c], w, stride, a, want, mag, 0, "random");
    }
    free(w);
    free(k);
    free(a);
    free(av);
}

static void test_q4_k(void **state) {
    (void)state;
    test_exact_extremes(RW_DTYPE_Q4_K);
    test_random_extremes(RW_DTYPE_Q4_K);
}

static void test_q6_k(void **state) {
    (void)state;
    test_exact_extremes(RW_DTYPE_Q6_K);
    test_random_extremes(RW_DTYPE_Q6_K);
}

int main(void) {
    char buf[256];
    kern_cpu_describe(buf, sizeof buf);
    print_message("cpu: %s\n", buf);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_k),
        cmocka_unit_test(test_q6_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
