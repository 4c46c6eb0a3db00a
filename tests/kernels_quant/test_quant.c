/* kernels/quant.h and convert.h: hand-worked blocks, quantize->dequantize error bounds,
 * 16-bit conversions against independent references, vec_dot against a double-precision
 * dot of the dequantized operands, and every SIMD level against the scalar reference
 * (bit-exact integer sums, checked with power-of-two scales that make all float steps
 * exact; <= 1e-5 relative for float accumulation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "kernels/convert.h"
#include "kernels/cpu.h"
#include "kernels/quant.h"
#include "rw_test.h"

static const rw_dtype k_weight_types[] = {
    RW_DTYPE_F32,  RW_DTYPE_F16,  RW_DTYPE_BF16, RW_DTYPE_Q8_0, RW_DTYPE_Q4_0, RW_DTYPE_Q4_1,
    RW_DTYPE_Q5_0, RW_DTYPE_Q5_1, RW_DTYPE_Q4_K, RW_DTYPE_Q5_K, RW_DTYPE_Q6_K};
enum { N_WTYPES = sizeof k_weight_types / sizeof k_weight_types[0] };

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Independent f16 decode: ldexp arithmetic from the IEEE definition. */
static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24)
                      : (e == 31 ? (m ? (double)NAN : (double)INFINITY) : ldexp(1024 + m, e - 25));
    return s ? -v : v;
}

static void test_f16_exhaustive(void **state) {
    (void)state;
    static float rowf[65536];
    static uint16_t rowh[65536], back[65536];
    for (uint32_t h = 0; h < 65536; h++) {
        double ref = f16_value((uint16_t)h);
        float f = kern_f16_to_f32((uint16_t)h);
        if (isnan(ref)) {
            assert_true(isnan(f));
            assert_true((bits(f) >> 31) == (h >> 15));
        } else {
            assert_true((double)f == ref && !!signbit(f) == !!signbit(ref));
            assert_int_equal(kern_f32_to_f16(f), h); /* exact round trip */
        }
        rowh[h] = (uint16_t)h;
    }
    kern_f16_to_f32_row(rowh, rowf, 65536);
    for (uint32_t h = 0; h < 65536; h++)
        assert_int_equal(bits(rowf[h]), bits(kern_f16_to_f32((uint16_t)h)));
    kern_f32_to_f16_row(rowf, back, 65536);
    for (uint32_t h = 0; h < 65536; h++)
        assert_int_equal(back[h], kern_f32_to_f16(rowf[h]));
}

/* f32 -> f16 against the nearest representable f16 found by search (ties to even). */
static uint16_t f16_nearest_ref(float x) {
    if (isnan(x)) return 0x7e00;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double ax = fabs((double)x);
    if (ax >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* largest finite <= ax */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (f16_value((uint16_t)mid) <= ax)
            lo = mid;
        else
            hi = mid - 1;
    }
    int best = lo;
    if (lo < 0x7bff || ax > f16_value(0x7bff)) {
        double d0 = ax - f16_value((uint16_t)lo), d1 = f16_value((uint16_t)(lo + 1)) - ax;
        if (d1 < d0 || (d1 == d0 && (lo & 1))) best = lo + 1;
    }
    return (uint16_t)(sign | best);
}

static void test_f32_to_f16_rounding(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 7);
    float xs[4096];
    int n = 0;
    /* every f16 midpoint and its neighbours, subnormal range included */
    for (uint32_t h = 0; h < 0x7bff && n < 4000; h += 17) {
        double mid = (f16_value((uint16_t)h) + f16_value((uint16_t)(h + 1))) / 2;
        float m = (float)mid;
        xs[n++] = m;
        xs[n++] = nextafterf(m, 0.f);
        xs[n++] = -nextafterf(m, 1e9f);
    }
    while (n < 4096)
        xs[n++] = from_bits((uint32_t)rw_rng_u64(&r) & 0xc7ffffffu);
    for (int i = 0; i < n; i++) {
        uint16_t want = f16_nearest_ref(xs[i]);
        uint16_t got = kern_f32_to_f16(xs[i]);
        if (want != got) fail_msg("f32 %a -> f16 %04x, expected %04x", (double)xs[i], got, want);
    }
    assert_int_equal(kern_f32_to_f16(65519.f), 0x7bff);
    assert_int_equal(kern_f32_to_f16(65520.f), 0x7c00);
    assert_int_equal(kern_f32_to_f16(-INFINITY), 0xfc00);
    assert_int_equal(kern_f32_to_f16(0x1p-25f), 0x0000); /* tie -> even 0 */
    assert_int_equal(kern_f32_to_f16(nextafterf(0x1p-25f, 1.f)), 0x0001);
    assert_int_equal(kern_f32_to_f16(0x1.8p-24f), 0x0002); /* tie 1.5 -> 2 */
    assert_true((kern_f32_to_f16(NAN) & 0x7fff) > 0x7c00);
    /* row == scalar on the awkward values, NaN/Inf included */
    uint16_t a[4096], b[4096];
    xs[5] = NAN;
    xs[6] = -INFINITY;
    kern_f32_to_f16_row(xs, a, n);
    for (int i = 0; i < n; i++)
        b[i] = kern_f32_to_f16(xs[i]);
    assert_memory_equal(a, b, sizeof a);
}

static void test_bf16(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 11);
    for (int i = 0; i < 100000; i++) {
        float x = from_bits((uint32_t)rw_rng_u64(&r));
        uint16_t h = kern_f32_to_bf16(x);
        if (isnan(x)) {
            assert_true(isnan(kern_bf16_to_f32(h)));
            continue;
        }
        /* nearest of the two bf16 neighbours in double, ties to even */
        uint32_t lo = bits(x) & 0xffff0000u;
        double vlo = (double)from_bits(lo);
        /* above the largest finite bf16 the next step is 2^128, which encodes as Inf */
        double vhi = (lo & 0x7fffffffu) == 0x7f7f0000u ? copysign(ldexp(1.0, 128), (double)x)
                                                       : (double)from_bits(lo + 0x10000u);
        double dx = (double)x;
        double d0 = fabs(dx - vlo), d1 = fabs(vhi - dx);
        uint16_t want = (uint16_t)(lo >> 16);
        if (d1 < d0 || (d1 == d0 && (want & 1))) want = (uint16_t)(want + 1);
        if (h != want) fail_msg("f32 %a -> bf16 %04x expected %04x", dx, h, want);
    }
    assert_int_equal(kern_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(kern_f32_to_bf16(from_bits(0x3f808000u)), 0x3f80); /* tie to even */
    assert_int_equal(kern_f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);
    assert_int_equal(kern_f32_to_bf16(from_bits(0x00000001u)), 0x0000); /* denormal kept */
    assert_int_equal(kern_f32_to_bf16(from_bits(0x00018000u)), 0x0002);
    uint16_t in[37];
    float o1[37];
    for (int i = 0; i < 37; i++)
        in[i] = (uint16_t)(0x3f00 + 97 * i);
    kern_bf16_to_f32_row(in, o1, 37);
    for (int i = 0; i < 37; i++)
        assert_int_equal(bits(o1[i]), (uint32_t)in[i] << 16);
}

/* ---- hand-worked blocks ---- */

static void test_q8_0_hand(void **state) {
    (void)state;
    float x[32] = {0};
    /* amax 127 -> d = 1 (f16 0x3c00), id = 1: q = roundf(x), halves away from zero */
    x[0] = 127.f;
    x[1] = -62.5f;    /* -63, not -62 (ties-to-even would give -62) */
    x[2] = 0.5f;      /* 1 */
    x[3] = -0.5f;     /* -1 */
    x[4] = 1.49f;     /* 1 */
    x[5] = 2.5f;      /* 3 */
    x[31] = -100.25f; /* -100 */
    kern_block_q8_0 b;
    assert_int_equal(kern_quantize(RW_DTYPE_Q8_0, x, &b, 1, 32), 34);
    int8_t want[32] = {127, -63, 1, -1, 1, 3};
    want[31] = -100;
    assert_int_equal(b.d, 0x3c00);
    assert_memory_equal(b.qs, want, 32);
    /* dequantize: d = 0.5 (0x3800), q = 2, -4, 127 -> 1, -2, 63.5 */
    memset(&b, 0, sizeof b);
    b.d = 0x3800;
    b.qs[0] = 2;
    b.qs[1] = -4;
    b.qs[2] = 127;
    float y[32];
    kern_dequantize(RW_DTYPE_Q8_0, &b, y, 1, 32);
    assert_true(y[0] == 1.f && y[1] == -2.f && y[2] == 63.5f && y[3] == 0.f);
    /* all-zero block: d = 0, q = 0 */
    memset(x, 0, sizeof x);
    kern_quantize(RW_DTYPE_Q8_0, x, &b, 1, 32);
    assert_int_equal(b.d, 0);
    for (int i = 0; i < 32; i++)
        assert_int_equal(b.qs[i], 0);
}

static void test_q4_0_hand(void **state) {
    (void)state;
    float x[32] = {0};
    /* the largest magnitude is -8 -> d = -8 / -8 = 1, q = (int)(x + 8.5) clamped to 15 */
    x[0] = -8.f;   /* 0 */
    x[1] = 7.f;    /* 15 (15.5 truncated) */
    x[3] = -0.6f;  /* 7 (7.9) */
    x[16] = 3.f;   /* 11 */
    x[17] = -7.5f; /* 1 */
    kern_block_q4_0 b;
    assert_int_equal(kern_quantize(RW_DTYPE_Q4_0, x, &b, 1, 32), 18);
    assert_int_equal(b.d, 0x3c00);
    uint8_t want[16];
    memset(want, 0x88, sizeof want); /* zeros -> level 8 in both nibbles */
    want[0] = 0xB0;                  /* x0 -> 0, x16 -> 11 */
    want[1] = 0x1F;                  /* x1 -> 15, x17 -> 1 */
    want[3] = 0x87;                  /* x3 -> 7, x19 -> 8 */
    assert_memory_equal(b.qs, want, 16);
    float y[32];
    kern_dequantize(RW_DTYPE_Q4_0, &b, y, 1, 32);
    assert_true(y[0] == -8.f && y[1] == 7.f && y[3] == -1.f && y[16] == 3.f && y[17] == -7.f);
    /* positive maximum: x0 = 8 -> d = -1, level 0 decodes to (0-8)*-1 = 8 */
    memset(x, 0, sizeof x);
    x[0] = 8.f;
    x[1] = -4.f; /* -4 * -1 + 8.5 = 12.5 -> 12 -> (12-8)*-1 = -4 */
    kern_quantize(RW_DTYPE_Q4_0, x, &b, 1, 32);
    assert_int_equal(b.d, 0xbc00);
    assert_int_equal(b.qs[0], 0x80);
    assert_int_equal(b.qs[1], 0x8C);
}

/* ---- round-trip error bounds ---- */

static void gen(rw_rng *r, float *x, int64_t n, int kind) {
    for (int64_t i = 0; i < n; i++) {
        double v = rw_rng_normal(r);
        if (kind == 1) v *= 1e-3 * (double)(1 + (i / 256) % 7); /* scales vary by block */
        if (kind == 2) v = (i % 97 == 0) ? 30 * v : v;          /* outliers */
        x[i] = (float)v;
    }
}

static void test_roundtrip_bounds(void **state) {
    (void)state;
    struct {
        rw_dtype t;
        double rel_rmse;
    } cases[] = {{RW_DTYPE_F16, 1e-3},  {RW_DTYPE_BF16, 5e-3}, {RW_DTYPE_Q8_0, 0.01},
                 {RW_DTYPE_Q4_0, 0.13}, {RW_DTYPE_Q4_1, 0.12}, {RW_DTYPE_Q5_0, 0.065},
                 {RW_DTYPE_Q5_1, 0.06}, {RW_DTYPE_Q4_K, 0.11}, {RW_DTYPE_Q5_K, 0.055},
                 {RW_DTYPE_Q6_K, 0.03}, {RW_DTYPE_Q8_1, 0.01}, {RW_DTYPE_Q8_K, 0.015}};
    enum { N = 256 * 24 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    void *q = malloc(N * 4);
    rw_rng r;
    rw_rng_seed(&r, 3);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int kind = 0; kind < 3; kind++) {
            gen(&r, x, N, kind);
            size_t bytes = kern_quantize(cases[c].t, x, q, 1, N);
            assert_int_equal(bytes, kern_row_bytes(cases[c].t, N));
            kern_dequantize(cases[c].t, q, y, 1, N);
            /* error relative to each 256-block's rms, so block scales do not hide errors */
            double worst = 0;
            for (int b = 0; b < N / 256; b++) {
                double e2 = 0, x2 = 0;
                for (int i = 256 * b; i < 256 * b + 256; i++) {
                    e2 += ((double)x[i] - (double)y[i]) * ((double)x[i] - (double)y[i]);
                    x2 += (double)x[i] * (double)x[i];
                }
                double rel = sqrt(e2 / x2);
                if (rel > worst) worst = rel;
            }
            if (worst > cases[c].rel_rmse * (kind == 2 ? 3 : 1))
                fail_msg("%s kind %d: relative rms error %.4g > %.4g",
                         kern_type_get(cases[c].t)->name, kind, worst, cases[c].rel_rmse);
        }
        /* all-zero input decodes to exact zeros */
        memset(x, 0, N * sizeof(float));
        kern_quantize(cases[c].t, x, q, 1, N);
        kern_dequantize(cases[c].t, q, y, 1, N);
        for (int i = 0; i < N; i++)
            assert_true(y[i] == 0.f);
        /* extreme but finite scales: tiny (f16 subnormal d) and large */
        for (int kind = 0; kind < 2; kind++) {
            for (int i = 0; i < N; i++)
                x[i] = (kind ? 1e3f : 1e-6f) * (float)((i * 37) % 19 - 9);
            kern_quantize(cases[c].t, x, q, 1, N);
            kern_dequantize(cases[c].t, q, y, 1, N);
            for (int i = 0; i < N; i++)
                assert_true(isfinite(y[i]));
        }
        /* NaN/Inf in the input: memory-safe, no UB (the block content is unspecified) */
        gen(&r, x, N, 0);
        x[5] = NAN;
        x[300] = INFINITY;
        x[700] = -INFINITY;
        kern_quantize(cases[c].t, x, q, 1, N);
        kern_dequantize(cases[c].t, q, y, 1, N);
    }
    free(x);
    free(y);
    free(q);
}

/* ---- vec_dot ---- */

static rw_dtype act_type(rw_dtype w) {
    return kern_type_get(w)->vec_dot_type;
}

/* Double-precision dot of the dequantized operands: what vec_dot must equal up to f32
 * rounding (and, for Q8_1, the f16 rounding of its stored sum). */
static double dot_dequant(rw_dtype wt, const void *w, const void *a, int64_t n, double *mag) {
    float *wf = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
    kern_dequantize(wt, w, wf, 1, n);
    kern_dequantize(act_type(wt), a, af, 1, n);
    double s = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)wf[i] * (double)af[i];
        m += fabs((double)wf[i] * (double)af[i]);
    }
    free(wf);
    free(af);
    *mag = m;
    return s;
}

static void test_vec_dot_vs_dequant(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 5);
    for (int ti = 0; ti < N_WTYPES; ti++) {
        rw_dtype wt = k_weight_types[ti];
        const kern_type_traits *t = kern_type_get(wt);
        int64_t n = t->block_size * 9;
        if (t->block_size == 1) n = 293;
        float *x = malloc((size_t)n * 4), *v = malloc((size_t)n * 4);
        gen(&r, x, n, 0);
        gen(&r, v, n, 2);
        void *w = malloc((size_t)n * 4), *a = malloc((size_t)n * 4);
        kern_quantize(wt, x, w, 1, n);
        kern_quantize(act_type(wt), v, a, 1, n);
        for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
            float s;
            kern_type_get_level(wt, (kern_level)lvl)->vec_dot(n, &s, w, a);
            double mag, want = dot_dequant(wt, w, a, n, &mag);
            double tol = 1e-5 * mag;
            if (act_type(wt) == RW_DTYPE_Q8_1) tol += 2e-3 * mag; /* f16 s = d * sum(q) */
            if (fabs((double)s - want) > tol)
                fail_msg("%s level %d: vec_dot %.9g, dequantized dot %.9g (tol %.3g)", t->name, lvl,
                         (double)s, want, tol);
        }
        free(x);
        free(v);
        free(w);
        free(a);
    }
}

/* Random block bytes with power-of-two scales: every float step in vec_dot is then exact
 * (integer sums < 2^24), so all levels must agree bit for bit iff their integer sums do. */
static void fill_exact_blocks(rw_rng *r, rw_dtype t, void *p, int64_t nb) {
    const kern_type_traits *tt = kern_type_get(t);
    uint8_t *b = p;
    for (size_t i = 0; i < (size_t)nb * tt->type_size; i++)
        b[i] = (uint8_t)rw_rng_u64(r);
    const uint16_t f16s[] = {0x3c00, 0x3800, 0x4000, 0xbc00}; /* 1, 0.5, 2, -1 */
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *blk = b + (size_t)i * tt->type_size;
        uint16_t d = f16s[rw_rng_below(r, 4)], m = f16s[rw_rng_below(r, 4)];
        switch (t) {
        case RW_DTYPE_Q4_1:
        case RW_DTYPE_Q5_1:
        case RW_DTYPE_Q4_K:
        case RW_DTYPE_Q5_K:
            /* 4-bit scales keep the block's integer sum below 2^24 */
            if (t == RW_DTYPE_Q4_K || t == RW_DTYPE_Q5_K)
                for (int j = 4; j < 16; j++)
                    blk[j] &= 0x0F;
            memcpy(blk + 2, &m, 2);
            /* fall through */
        case RW_DTYPE_Q4_0:
        case RW_DTYPE_Q5_0:
        case RW_DTYPE_Q8_0:
            memcpy(blk, &d, 2);
            break;
        case RW_DTYPE_Q6_K:
            for (int j = 192; j < 208; j++)
                blk[j] &= 0x0F;
            memcpy(blk + 208, &d, 2);
            break;
        case RW_DTYPE_Q8_1: {
            kern_block_q8_1 *q = (kern_block_q8_1 *)blk;
            int s = 0;
            for (int j = 0; j < 32; j++) {
                if (q->qs[j] == -128) q->qs[j] = -127;
                s += q->qs[j];
            }
            q->d = 0x3c00;
            q->s = kern_f32_to_f16((float)s); /* |s| <= 4064: exact in f16 */
            break;
        }
        case RW_DTYPE_Q8_K: {
            kern_block_q8_k *q = (kern_block_q8_k *)blk;
            q->d = 0.5f;
            for (int j = 0; j < 256; j++)
                if (q->qs[j] == -128) q->qs[j] = -127;
            for (int j = 0; j < 16; j++) {
                int s = 0;
                for (int l = 0; l < 16; l++)
                    s += q->qs[16 * j + l];
                q->bsums[j] = (int16_t)s;
            }
            break;
        }
        default:
            break;
        }
    }
}

static void test_vec_dot_levels_exact(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 9);
    const int nblocks[] = {1, 3, 7, 31, 33};
    for (int ti = 3; ti < N_WTYPES; ti++) { /* quantized types */
        rw_dtype wt = k_weight_types[ti];
        const kern_type_traits *t = kern_type_get(wt);
        const kern_type_traits *at = kern_type_get(act_type(wt));
        for (size_t k = 0; k < sizeof nblocks / sizeof nblocks[0]; k++) {
            /* one block at a time keeps every partial sum an exact small integer */
            int64_t nb = nblocks[k];
            /* offset by 4 bytes: element-aligned, not vector-aligned */
            uint8_t *w = malloc((size_t)nb * t->type_size + 4),
                    *a = malloc((size_t)nb * at->type_size + 4);
            uint8_t *ws = w + 4, *as = a + 4;
            fill_exact_blocks(&r, wt, ws, nb);
            fill_exact_blocks(&r, at->type, as, nb);
            /* act Q8_0 rows: keep -128 out (activations never hold it) */
            if (at->type == RW_DTYPE_Q8_0)
                for (int64_t i = 0; i < nb; i++) {
                    kern_block_q8_0 *q = (kern_block_q8_0 *)(as + (size_t)i * at->type_size);
                    for (int j = 0; j < 32; j++)
                        if (q->qs[j] == -128) q->qs[j] = 127;
                }
            for (int64_t i = 0; i < nb; i++) {
                const uint8_t *wb = ws + (size_t)i * t->type_size,
                              *ab = as + (size_t)i * at->type_size;
                float ref;
                kern_type_get_level(wt, KERN_LEVEL_SCALAR)->vec_dot(t->block_size, &ref, wb, ab);
                for (int lvl = 1; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    float s;
                    kern_type_get_level(wt, (kern_level)lvl)->vec_dot(t->block_size, &s, wb, ab);
                    if (bits(s) != bits(ref))
                        fail_msg("%s level %d block %lld: %.9g != ref %.9g", t->name, lvl,
                                 (long long)i, (double)s, (double)ref);
                }
            }
            /* whole rows: float accumulation order may differ, 1e-5 relative */
            float ref;
            kern_type_get_level(wt, KERN_LEVEL_SCALAR)->vec_dot(nb * t->block_size, &ref, ws, as);
            for (int lvl = 1; lvl <= KERN_LEVEL_AVX512; lvl++) {
                float s;
                kern_type_get_level(wt, (kern_level)lvl)->vec_dot(nb * t->block_size, &s, ws, as);
                double mag;
                (void)dot_dequant(wt, ws, as, nb * t->block_size, &mag);
                if (fabs((double)s - (double)ref) > 1e-5 * mag)
                    fail_msg("%s level %d nb %lld: %.9g vs ref %.9g", t->name, lvl, (long long)nb,
                             (double)s, (double)ref);
            }
            free(w);
            free(a);
        }
    }
}

/* vec_dot_rows (several weight rows, one activation row) against the scalar vec_dot of
 * each row, at every level, for group sizes around the SIMD kernels' row blocking and row
 * strides that are not multiples of a vector. */
static void test_vec_dot_rows_levels(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 11);
    const int nblocks[] = {1, 2, 3, 8, 33};
    const int nrows[] = {1, 2, 3, 4, 5, 7, 8, 9, 17};
    for (int ti = 0; ti < N_WTYPES; ti++) {
        rw_dtype wt = k_weight_types[ti];
        const kern_type_traits *t = kern_type_get(wt);
        const kern_type_traits *at = kern_type_get(act_type(wt));
        for (size_t k = 0; k < sizeof nblocks / sizeof nblocks[0]; k++) {
            const int64_t n = nblocks[k] * (t->block_size == 1 ? 32 : t->block_size);
            const size_t rb = kern_row_bytes(wt, n), stride = rb + 4; /* rows not vector-aligned */
            float *x = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
            uint8_t *w = malloc(stride * 17 + 4), *a = malloc(kern_row_bytes(at->type, n) + 4);
            for (int row = 0; row < 17; row++) {
                gen(&r, x, n, row % 3);
                kern_quantize(wt, x, w + 4 + stride * (size_t)row, 1, n);
            }
            gen(&r, af, n, 0);
            kern_quantize(at->type, af, a + 4, 1, n);
            for (size_t q = 0; q < sizeof nrows / sizeof nrows[0]; q++) {
                const int nr = nrows[q];
                for (int lvl = 0; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    float s[17];
                    for (int i = 0; i < 17; i++) /* a skipped row cannot pass */
                        s[i] = NAN;
                    kern_vec_dot_rows(kern_type_get_level(wt, (kern_level)lvl), n, s, w + 4,
                                      stride, nr, a + 4);
                    for (int row = 0; row < nr; row++) {
                        const uint8_t *wr = w + 4 + stride * (size_t)row;
                        float ref;
                        kern_type_get_level(wt, KERN_LEVEL_SCALAR)->vec_dot(n, &ref, wr, a + 4);
                        double mag;
                        (void)dot_dequant(wt, wr, a + 4, n, &mag);
                        if (!(fabs((double)s[row] - (double)ref) <= 1e-5 * mag + 1e-30))
                            fail_msg("%s level %d n %lld rows %d row %d: %.9g vs ref %.9g",
                                     t->name, lvl, (long long)n, nr, row, (double)s[row],
                                     (double)ref);
                    }
                }
            }
            free(x);
            free(af);
            free(w);
            free(a);
        }
    }
}

/* The SIMD activation quantizers (from_float) against from_float_ref, byte for byte: random
 * rows, exact rounding ties (x * id = k + 0.5), equal magnitudes of both signs (Q8_K keeps
 * the first), zeros, subnormals, Inf and NaN. */
static void test_activation_quantizers_levels(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 17);
    const rw_dtype acts[] = {RW_DTYPE_Q8_0, RW_DTYPE_Q8_1, RW_DTYPE_Q8_K};
    enum { N = 512 };
    float *x = malloc(N * sizeof(float));
    for (size_t ai = 0; ai < sizeof acts / sizeof acts[0]; ai++) {
        const kern_type_traits *ref = kern_type_get_level(acts[ai], KERN_LEVEL_SCALAR);
        const size_t rb = kern_row_bytes(acts[ai], N);
        uint8_t *q0 = malloc(rb), *q1 = malloc(rb);
        for (int kind = 0; kind < 9; kind++) {
            for (int rep = 0; rep < 20; rep++) {
                gen(&r, x, N, rep % 3);
                switch (kind) {
                case 1: /* halves: amax 127 gives d = 1, so every x*id is exactly k + 0.5 */
                    for (int i = 0; i < N; i++)
                        x[i] = (float)((int)rw_rng_below(&r, 254) - 127) + 0.5f;
                    for (int b = 0; b < N; b += 32)
                        x[b + (int)rw_rng_below(&r, 32)] = rep % 2 ? 127.f : -127.f;
                    break;
                case 2: /* +-amax at two places */
                    for (int b = 0; b < N; b += 32) {
                        x[b + 3] = -2.5f;
                        x[b + 17] = 2.5f;
                    }
                    if (rep % 2)
                        for (int b = 0; b < N; b += 32)
                            x[b + 3] = 2.5f, x[b + 17] = -2.5f;
                    break;
                case 3:
                    memset(x, 0, N * sizeof(float));
                    break;
                case 4: /* subnormals */
                    for (int i = 0; i < N; i++)
                        x[i] *= 1e-40f;
                    break;
                case 5:
                    x[rw_rng_below(&r, N)] = INFINITY;
                    break;
                case 6:
                    x[rw_rng_below(&r, N)] = NAN;
                    x[rw_rng_below(&r, N)] = -NAN;
                    break;
                case 7: /* a NaN first in a block, then values */
                    for (int b = 0; b < N; b += 32)
                        x[b] = NAN;
                    break;
                case 8: /* huge but finite */
                    for (int i = 0; i < N; i++)
                        x[i] *= 1e37f;
                    break;
                default:
                    break;
                }
                ref->from_float_ref(x, q0, N);
                for (int lvl = 1; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    memset(q1, 0xAB, rb);
                    kern_type_get_level(acts[ai], (kern_level)lvl)->from_float(x, q1, N);
                    if (memcmp(q0, q1, rb) != 0) {
                        size_t at = 0;
                        while (q0[at] == q1[at])
                            at++;
                        fail_msg("%s level %d input kind %d rep %d: byte %zu differs (%u vs %u)",
                                 ref->name, lvl, kind, rep, at, q1[at], q0[at]);
                    }
                }
            }
        }
        free(q0);
        free(q1);
    }
    free(x);
}

static void test_float_dots_and_dequant_levels(void **state) {
    (void)state;
    rw_rng r;
    rw_rng_seed(&r, 13);
    const int lens[] = {1, 3, 7, 31, 33, 255, 257, 1000};
    for (int ti = 0; ti < N_WTYPES; ti++) {
        rw_dtype wt = k_weight_types[ti];
        const kern_type_traits *t = kern_type_get(wt);
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            int64_t n = lens[k] * t->block_size;
            if (t->block_size == 256 && lens[k] > 33) continue;
            float *x = malloc((size_t)n * 4 + 4), *y0 = malloc((size_t)n * 4),
                  *y1 = malloc((size_t)n * 4);
            uint8_t *w = malloc(kern_row_bytes(wt, n) + 4);
            gen(&r, x + 1, n, 1);
            kern_quantize(wt, x + 1, w + 4, 1, n);
            kern_type_get_level(wt, KERN_LEVEL_SCALAR)->to_float(w + 4, y0, n);
            for (int lvl = 1; lvl <= KERN_LEVEL_AVX512; lvl++) {
                kern_type_get_level(wt, (kern_level)lvl)->to_float(w + 4, y1, n);
                assert_memory_equal(y0, y1, (size_t)n * 4); /* dequantize is bit-exact */
            }
            if (t->block_size == 1) {
                float *a = malloc((size_t)n * 4 + 4);
                gen(&r, a + 1, n, 0);
                float ref, s;
                kern_type_get_level(wt, KERN_LEVEL_SCALAR)->vec_dot(n, &ref, w + 4, a + 1);
                double mag = 0;
                for (int64_t i = 0; i < n; i++)
                    mag += fabs((double)y0[i] * (double)a[1 + i]);
                for (int lvl = 1; lvl <= KERN_LEVEL_AVX512; lvl++) {
                    kern_type_get_level(wt, (kern_level)lvl)->vec_dot(n, &s, w + 4, a + 1);
                    if (fabs((double)s - (double)ref) > 1e-5 * mag + 1e-30)
                        fail_msg("%s n %lld level %d: %.9g vs %.9g", t->name, (long long)n, lvl,
                                 (double)s, (double)ref);
                }
                free(a);
            }
            free(x);
            free(y0);
            free(y1);
            free(w);
        }
    }
}

static void test_traits(void **state) {
    (void)state;
    for (int ti = 0; ti < N_WTYPES; ti++) {
        const kern_type_traits *t = kern_type_get(k_weight_types[ti]);
        assert_non_null(t);
        const rw_dtype_info *di = rw_dtype_get((uint32_t)t->type);
        assert_int_equal(di->block_size, t->block_size);
        assert_int_equal(di->type_size, t->type_size);
        assert_string_equal(di->name, t->name);
        assert_non_null(t->vec_dot);
    }
    assert_null(kern_type_get(RW_DTYPE_Q2_K));
    assert_null(kern_type_get(RW_DTYPE_IQ4_NL));
    assert_non_null(kern_type_get(RW_DTYPE_Q8_K));
    assert_null(kern_type_get(RW_DTYPE_Q8_K)->vec_dot);
    char buf[256];
    kern_cpu_describe(buf, sizeof buf);
    print_message("cpu: %s\n", buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits),
        cmocka_unit_test(test_f16_exhaustive),
        cmocka_unit_test(test_f32_to_f16_rounding),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q8_0_hand),
        cmocka_unit_test(test_q4_0_hand),
        cmocka_unit_test(test_roundtrip_bounds),
        cmocka_unit_test(test_vec_dot_vs_dequant),
        cmocka_unit_test(test_vec_dot_levels_exact),
        cmocka_unit_test(test_vec_dot_rows_levels),
        cmocka_unit_test(test_activation_quantizers_levels),
        cmocka_unit_test(test_float_dots_and_dequant_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
