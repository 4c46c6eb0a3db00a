/* Edge cases of the Q5_K, Q5_0, Q4_1 and Q5_1 dot kernels (vec_dot and vec_dot_rows at
 * every level), against an independent reference written here.
 *
 * The test picks the quantities the format stands for (levels q per element, the 6-bit
 * scales and mins, f16 bit patterns, int8 activations, the Q8_1 stored s) and ENCODES them
 * into blocks with its own packer, following the layout text in kernels/quant.h; the
 * reference then computes the dot from the picked quantities (int64 integer sums, double
 * scales), never decoding the blocks. Cases: maximal 6-bit scales and mins (63), all levels
 * at their maximum with every qh bit set, every qh bit clear, activations at -127 and 127,
 * random bytes for everything; row counts 1..9 (group remainders), 1-3 blocks (odd block
 * counts for the two-blocks-per-vector types), unaligned row strides. Tolerance: 1e-6 of
 * sum |term| (the float accumulation order is free; the integer sums are exact, and one
 * element's change is far above the tolerance at these sizes). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/cpu.h"
#include "kernels/quant.h"
#include "rw_test.h"

enum { MAX_NB = 3, MAX_ROWS = 9, QKK = 256, QK = 32 };

/* Independent f16 decode (normal numbers and zero only are generated here). */
static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

/* A finite normal f16 of moderate magnitude (2^-8 .. 2^3), either sign. */
static uint16_t rand_f16(rw_rng *r) {
    uint16_t e = (uint16_t)(7 + rw_rng_below(r, 12)), m = (uint16_t)rw_rng_below(r, 1024);
    return (uint16_t)((rw_rng_below(r, 2) << 15) | (e << 10) | m);
}

/* Filling modes: 0 random, 1 all maximal (levels 31/15, scales/mins 63, qh all set,
 * activations +-127 alternating), 2 qh all clear (levels < 16) with max scales. */
enum { MODE_RANDOM, MODE_MAX, MODE_QH_CLEAR, N_MODES };

/* Activations stay in -127..127, the range the Q8 quantizers write (quant.h). */
static int8_t rand_act(rw_rng *r, int mode, int e) {
    if (mode == MODE_MAX) return (int8_t)((e & 1) ? -127 : 127);
    return (int8_t)((int)rw_rng_below(r, 255) - 127);
}

/* ---- Q5_K ---- */

typedef struct q5k_pick {
    int q[QKK];       /* 0..31 */
    int sc[8], mn[8]; /* 0..63 */
    uint16_t d, dmin; /* f16 bits */
} q5k_pick;

static void q5k_encode(const q5k_pick *p, kern_block_q5_k *b) {
    memset(b, 0, sizeof *b);
    b->d = p->d;
    b->dmin = p->dmin;
    for (int j = 0; j < 4; j++) {
        b->scales[j] = (uint8_t)((p->sc[j] & 63) | ((p->sc[j + 4] >> 4) << 6));
        b->scales[j + 4] = (uint8_t)((p->mn[j] & 63) | ((p->mn[j + 4] >> 4) << 6));
        b->scales[j + 8] = (uint8_t)((p->sc[j + 4] & 15) | ((p->mn[j + 4] & 15) << 4));
    }
    /* element 64c + l: low nibble of qs[32c + l], 5th bit = bit 2c of qh[l];
     * element 64c + 32 + l: high nibble, bit 2c + 1 */
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            const int lo = p->q[64 * c + l], hi = p->q[64 * c + 32 + l];
            b->qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        }
}

static void q5k_pick_fill(rw_rng *r, int mode, q5k_pick *p) {
    for (int e = 0; e < QKK; e++)
        p->q[e] = mode == MODE_MAX        ? 31
                  : mode == MODE_QH_CLEAR ? (int)rw_rng_below(r, 16)
                                          : (int)rw_rng_below(r, 32);
    for (int j = 0; j < 8; j++) {
        p->sc[j] = mode == MODE_RANDOM ? (int)rw_rng_below(r, 64) : 63;
        p->mn[j] = mode == MODE_RANDOM ? (int)rw_rng_below(r, 64) : 63;
    }
    p->d = rand_f16(r);
    p->dmin = rand_f16(r);
}

static void q8k_fill(rw_rng *r, int mode, kern_block_q8_k *a) {
    a->d = (float)(rw_rng_uniform(r) * 0.02 + 0.001) * (rw_rng_below(r, 2) ? 1.f : -1.f);
    for (int e = 0; e < QKK; e++)
        a->qs[e] = rand_act(r, mode, e);
    for (int j = 0; j < 16; j++) { /* bsums by definition */
        int s = 0;
        for (int l = 0; l < 16; l++)
            s += a->qs[16 * j + l];
        a->bsums[j] = (int16_t)s;
    }
}

static void check(const char *what, int lvl, int nb, int nr, int row, float got, double ref,
                  double mag) {
    if (!(fabs((double)got - ref) <= 1e-6 * mag + 1e-30))
        fail_msg("%s level %d nb %d rows %d row %d: %.9g vs reference %.9g (mag %.3g)", what, lvl,
                 nb, nr, row, (double)got, ref, mag);
}

static void test_q5_k_edges(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 501);
    const size_t stride = sizeof(kern_block_q5_k) * MAX_NB + 6; /* rows not vector-aligned */
    uint8_t *w = malloc(stride * MAX_ROWS + 8);
    kern_block_q8_k *a = malloc(sizeof(kern_block_q8_k) * MAX_NB);
    q5k_pick *picks = malloc(sizeof(q5k_pick) * MAX_ROWS * MAX_NB);
    for (int mode = 0; mode < N_MODES; mode++)
        for (int nb = 1; nb <= MAX_NB; nb++) {
            for (int row = 0; row < MAX_ROWS; row++)
                for (int i = 0; i < nb; i++) {
                    q5k_pick *p = &picks[row * MAX_NB + i];
                    q5k_pick_fill(&r, mode, p);
                    kern_block_q5_k blk;
                    q5k_encode(p, &blk);
                    memcpy(w + 8 + stride * (size_t)row + sizeof blk * (size_t)i, &blk, sizeof blk);
                }
            for (int i = 0; i < nb; i++)
                q8k_fill(&r, mode, &a[i]);
            double ref[MAX_ROWS], mag[MAX_ROWS];
            for (int row = 0; row < MAX_ROWS; row++) {
                ref[row] = mag[row] = 0;
                for (int i = 0; i < nb; i++) {
                    const q5k_pick *p = &picks[row * MAX_NB + i];
                    const double da = (double)a[i].d;
                    const double dd = f16_value(p->d) * da, dm = f16_value(p->dmin) * da;
                    for (int j = 0; j < 8; j++) {
                        int64_t sq = 0, sa = 0, aq = 0, aa = 0;
                        for (int l = 0; l < 32; l++) {
                            const int e = 32 * j + l;
                            sq += (int64_t)p->q[e] * a[i].qs[e];
                            aq += (int64_t)p->q[e] * abs(a[i].qs[e]);
                            sa += a[i].qs[e];
                            aa += abs(a[i].qs[e]);
                        }
                        ref[row] += dd * (double)(p->sc[j] * sq) - dm * (double)(p->mn[j] * sa);
                        mag[row] +=
                            fabs(dd) * (double)(p->sc[j] * aq) + fabs(dm) * (double)(p->mn[j] * aa);
                    }
                }
            }
            for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
                const kern_type_traits *t = kern_type_get_level(RW_DTYPE_Q5_K, (kern_level)lvl);
                for (int nr = 1; nr <= MAX_ROWS; nr++) {
                    float s[MAX_ROWS];
                    kern_vec_dot_rows(t, nb * QKK, s, w + 8, stride, nr, a);
                    for (int row = 0; row < nr; row++)
                        check("q5_K rows", lvl, nb, nr, row, s[row], ref[row], mag[row]);
                }
                for (int row = 0; row < MAX_ROWS; row++) {
                    float s1;
                    t->vec_dot(nb * QKK, &s1, w + 8 + stride * (size_t)row, a);
                    check("q5_K vec_dot", lvl, nb, 1, row, s1, ref[row], mag[row]);
                }
            }
        }
    free(w);
    free(a);
    free(picks);
}

/* ---- Q5_0, Q4_1, Q5_1 (32-element blocks) ---- */

typedef struct b32_pick {
    int q[QK];     /* 0..31 (0..15 for Q4_1) */
    uint16_t d, m; /* f16 bits (m unused by Q5_0) */
} b32_pick;

/* Encodes a pick as a block of type wt: qs[j] holds element j (low nibble) and j + 16
 * (high); bit j of the little-endian u32 qh is element j's 5th bit. */
static void b32_encode(rw_dtype wt, const b32_pick *p, uint8_t *blk) {
    uint8_t qs[16];
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((p->q[j] & 15) | ((p->q[j + 16] & 15) << 4));
        qh |= (uint32_t)(p->q[j] >> 4) << j;
        qh |= (uint32_t)(p->q[j + 16] >> 4) << (j + 16);
    }
    const uint8_t qhb[4] = {(uint8_t)qh, (uint8_t)(qh >> 8), (uint8_t)(qh >> 16),
                            (uint8_t)(qh >> 24)};
    memcpy(blk, &p->d, 2);
    if (wt == RW_DTYPE_Q5_0) { /* d, qh[4], qs[16] */
        memcpy(blk + 2, qhb, 4);
        memcpy(blk + 6, qs, 16);
    } else if (wt == RW_DTYPE_Q4_1) { /* d, m, qs[16] */
        memcpy(blk + 2, &p->m, 2);
        memcpy(blk + 4, qs, 16);
    } else { /* Q5_1: d, m, qh[4], qs[16] */
        memcpy(blk + 2, &p->m, 2);
        memcpy(blk + 4, qhb, 4);
        memcpy(blk + 8, qs, 16);
    }
}

typedef struct act_pick {
    int8_t q[QK];
    uint16_t d, s; /* f16 bits; s only for Q8_1 (any value: kernels use it as stored) */
} act_pick;

static void act_encode(int q8_1, const act_pick *p, uint8_t *blk) {
    memcpy(blk, &p->d, 2);
    if (q8_1) {
        memcpy(blk + 2, &p->s, 2);
        memcpy(blk + 4, p->q, QK);
    } else {
        memcpy(blk + 2, p->q, QK);
    }
}

static void test_b32_edges(void **state) {
    (void)state;
    const rw_dtype types[] = {RW_DTYPE_Q5_0, RW_DTYPE_Q4_1, RW_DTYPE_Q5_1};
    const size_t wsz[] = {22, 20, 24}; /* ggml block sizes, pinned independently here */
    enum { NB = 5 };                   /* up to 5 blocks: odd and even counts */
    rw_rng r;
    rw_rng_seed(&r, 502);
    b32_pick *picks = malloc(sizeof(b32_pick) * MAX_ROWS * NB);
    act_pick acts[NB];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const rw_dtype wt = types[ti];
        const int q8_1 = wt != RW_DTYPE_Q5_0, five = wt != RW_DTYPE_Q4_1;
        const size_t asz = q8_1 ? 36 : 34, stride = wsz[ti] * NB + 2;
        assert_int_equal(kern_row_bytes(wt, QK), wsz[ti]);
        uint8_t *w = malloc(stride * MAX_ROWS + 8), *a = malloc(asz * NB);
        for (int mode = 0; mode < N_MODES; mode++)
            for (int nb = 1; nb <= NB; nb++) {
                for (int row = 0; row < MAX_ROWS; row++)
                    for (int i = 0; i < nb; i++) {
                        b32_pick *p = &picks[row * NB + i];
                        for (int e = 0; e < QK; e++) {
                            const int top = five ? 31 : 15;
                            p->q[e] = mode == MODE_MAX ? top
                                      : mode == MODE_QH_CLEAR
                                          ? (int)rw_rng_below(&r, 16)
                                          : (int)rw_rng_below(&r, (uint64_t)top + 1);
                        }
                        p->d = rand_f16(&r);
                        p->m = rand_f16(&r);
                        b32_encode(wt, p, w + 8 + stride * (size_t)row + wsz[ti] * (size_t)i);
                    }
                for (int i = 0; i < nb; i++) {
                    for (int e = 0; e < QK; e++)
                        acts[i].q[e] = rand_act(&r, mode, e);
                    acts[i].d = rand_f16(&r);
                    acts[i].s = rand_f16(&r);
                    act_encode(q8_1, &acts[i], a + asz * (size_t)i);
                }
                double ref[MAX_ROWS], mag[MAX_ROWS];
                for (int row = 0; row < MAX_ROWS; row++) {
                    ref[row] = mag[row] = 0;
                    for (int i = 0; i < nb; i++) {
                        const b32_pick *p = &picks[row * NB + i];
                        const int off = wt == RW_DTYPE_Q5_0 ? 16 : 0;
                        int64_t sq = 0, aq = 0;
                        for (int e = 0; e < QK; e++) {
                            sq += (int64_t)(p->q[e] - off) * acts[i].q[e];
                            aq += (int64_t)abs(p->q[e] - off) * abs(acts[i].q[e]);
                        }
                        const double dd = f16_value(p->d) * f16_value(acts[i].d);
                        ref[row] += dd * (double)sq;
                        mag[row] += fabs(dd) * (double)aq;
                        if (q8_1) {
                            const double ms = f16_value(p->m) * f16_value(acts[i].s);
                            ref[row] += ms;
                            mag[row] += fabs(ms);
                        }
                    }
                }
                for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    const kern_type_traits *t = kern_type_get_level(wt, (kern_level)lvl);
                    for (int nr = 1; nr <= MAX_ROWS; nr++) {
                        float s[MAX_ROWS];
                        kern_vec_dot_rows(t, nb * QK, s, w + 8, stride, nr, a);
                        for (int row = 0; row < nr; row++)
                            check(t->name, lvl, nb, nr, row, s[row], ref[row], mag[row]);
                    }
                    for (int row = 0; row < MAX_ROWS; row++) {
                        float s1;
                        t->vec_dot(nb * QK, &s1, w + 8 + stride * (size_t)row, a);
                        check(t->name, lvl, nb, 1, row, s1, ref[row], mag[row]);
                    }
                }
            }
        free(w);
        free(a);
    }
    free(picks);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q5_k_edges),
        cmocka_unit_test(test_b32_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
