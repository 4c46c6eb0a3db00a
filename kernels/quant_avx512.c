/* AVX-512 (F/BW/DQ/VL + VNNI) vec_dot kernels for the hot weight types.
 *
 * Two 32-element blocks (or one 64-element K-quant chunk) fill a zmm register; VNNI's
 * vpdpbusd multiplies unsigned by signed bytes and sums groups of 4 into int32 lanes, so
 * unsigned levels (Q4_0, Q4_K, Q6_K) go in directly and signed Q8_0 weights lend their
 * sign to the activation (|w| x sign(w)*a). Activations are -127..127, so no product
 * overflows. Per-block int32 sums are exact (equal to _ref); f32 accumulation runs in 16
 * lanes. An odd trailing 32-block is finished with the 256-bit form. */
#include "kernels/quant_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/convert.h"
#include "kernels/quant_kquant_simd.h"

/* Scalar f16 -> f32 with F16C (exact, same as kern_f16_to_f32 for non-NaN scales). */
static inline float f16s(uint16_t h) {
    return _cvtsh_ss(h);
}

static inline float hsum512(__m512 v) {
    return _mm512_reduce_add_ps(v);
}

static inline __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* 16 bytes of nibbles -> 32 bytes (low nibbles then high nibbles). */
static inline __m256i nibbles32(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
}

static inline __m512i signed_dot(__m512i w, __m512i a) {
    __m512i aw = _mm512_abs_epi8(w);
    __m512i sa = _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sa);
}

static inline __m256i signed_dot256(__m256i w, __m256i a) {
    __m256i aw = _mm256_abs_epi8(w);
    __m256i sa = _mm256_sign_epi8(a, w);
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sa);
}

static inline __m512 load_f32x16(const float *p) {
    return _mm512_loadu_ps(p);
}

static inline __m512 load_f16x16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512 load_bf16x16(const uint16_t *p) {
    __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* Float-weight dot: 32 elements per step in two accumulators, then 16, then a scalar tail
 * (TO_F32 converts one weight element). */
#define FLOAT_DOT(name, WT, LOAD16, TO_F32)                                                        \
    void name(int64_t n, float *s, const void *wp, const void *ap) {                              \
        const WT *w = wp;                                                                          \
        const float *a = ap;                                                                       \
        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();                             \
        int64_t i = 0;                                                                             \
        for (; i + 32 <= n; i += 32) {                                                             \
            acc0 = _mm512_fmadd_ps(LOAD16(w + i), _mm512_loadu_ps(a + i), acc0);                  \
            acc1 = _mm512_fmadd_ps(LOAD16(w + i + 16), _mm512_loadu_ps(a + i + 16), acc1);        \
        }                                                                                          \
        for (; i + 16 <= n; i += 16)                                                               \
            acc0 = _mm512_fmadd_ps(LOAD16(w + i), _mm512_loadu_ps(a + i), acc0);                  \
        float sum = hsum512(_mm512_add_ps(acc0, acc1));                                            \
        for (; i < n; i++)                                                                         \
            sum += TO_F32(w[i]) * a[i];                                                            \
        *s = sum;                                                                                  \
    }

#define F32_ID(x) (x)
FLOAT_DOT(kern_vec_dot_f32_f32_avx512, float, load_f32x16, F32_ID)
FLOAT_DOT(kern_vec_dot_f16_f32_avx512, uint16_t, load_f16x16, kern_f16_to_f32)
FLOAT_DOT(kern_vec_dot_bf16_f32_avx512, uint16_t, load_bf16x16, kern_bf16_to_f32)
#undef F32_ID
#undef FLOAT_DOT

/* Scale vector for blocks i, i+1: (dw*da) of block i in lanes 0-7, of block i+1 in 8-15. */
static inline __m512 pair_scale(uint16_t w0, uint16_t a0, uint16_t w1, uint16_t a1) {
    __m128 v = _mm_cvtph_ps(_mm_setr_epi16((short)w0, (short)w1, (short)a0, (short)a1, 0, 0, 0, 0));
    __m128 p = _mm_mul_ps(v, _mm_movehl_ps(v, v)); /* lanes 0,1: w0*a0, w1*a1 */
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(p));
}

void kern_vec_dot_q8_0_q8_0_avx512(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q8_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    const int64_t nb = n / KERN_QK;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i p0 = signed_dot(load2x32(w[i].qs, w[i + 1].qs), load2x32(a[i].qs, a[i + 1].qs));
        __m512i p1 =
            signed_dot(load2x32(w[i + 2].qs, w[i + 3].qs), load2x32(a[i + 2].qs, a[i + 3].qs));
        acc0 = _mm512_fmadd_ps(pair_scale(w[i].d, a[i].d, w[i + 1].d, a[i + 1].d),
                               _mm512_cvtepi32_ps(p0), acc0);
        acc1 = _mm512_fmadd_ps(pair_scale(w[i + 2].d, a[i + 2].d, w[i + 3].d, a[i + 3].d),
                               _mm512_cvtepi32_ps(p1), acc1);
    }
    for (; i + 2 <= nb; i += 2) {
        __m512i p = signed_dot(load2x32(w[i].qs, w[i + 1].qs), load2x32(a[i].qs, a[i + 1].qs));
        acc0 = _mm512_fmadd_ps(pair_scale(w[i].d, a[i].d, w[i + 1].d, a[i + 1].d),
                               _mm512_cvtepi32_ps(p), acc0);
    }
    float sum = hsum512(_mm512_add_ps(acc0, acc1));
    for (; i < nb; i++) {
        __m256i p = signed_dot256(_mm256_loadu_si256((const __m256i *)w[i].qs),
                                  _mm256_loadu_si256((const __m256i *)a[i].qs));
        __m256 f =
            _mm256_mul_ps(_mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d)), _mm256_cvtepi32_ps(p));
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        sum += _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
    }
    *s = sum;
}

static inline __m512i q4_0_pair_dot(const kern_block_q4_0 *w, const kern_block_q8_0 *a) {
    const __m512i eight = _mm512_set1_epi8(8);
    __m512i q =
        _mm512_inserti64x4(_mm512_castsi256_si512(nibbles32(w[0].qs)), nibbles32(w[1].qs), 1);
    __m512i av = load2x32(a[0].qs, a[1].qs);
    /* sum (q - 8) * a = sum q*a - sum 8*a */
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q, av),
                            _mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, av));
}

void kern_vec_dot_q4_0_q8_0_avx512(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    const int64_t nb = n / KERN_QK;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        __m512i p0 = q4_0_pair_dot(w + i, a + i), p1 = q4_0_pair_dot(w + i + 2, a + i + 2);
        acc0 = _mm512_fmadd_ps(pair_scale(w[i].d, a[i].d, w[i + 1].d, a[i + 1].d),
                               _mm512_cvtepi32_ps(p0), acc0);
        acc1 = _mm512_fmadd_ps(pair_scale(w[i + 2].d, a[i + 2].d, w[i + 3].d, a[i + 3].d),
                               _mm512_cvtepi32_ps(p1), acc1);
    }
    for (; i + 2 <= nb; i += 2)
        acc0 = _mm512_fmadd_ps(pair_scale(w[i].d, a[i].d, w[i + 1].d, a[i + 1].d),
                               _mm512_cvtepi32_ps(q4_0_pair_dot(w + i, a + i)), acc0);
    float sum = hsum512(_mm512_add_ps(acc0, acc1));
    if (i < nb) {
        float t;
        kern_vec_dot_q4_0_q8_0_avx2(KERN_QK, &t, &w[i], &a[i]);
        sum += t;
    }
    *s = sum;
}

void kern_vec_dot_q4_k_q8_k_avx512(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_k *w = wp;
    const kern_block_q8_k *a = ap;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    /* int16 lane l of chunk c's maddubs output covers elements 2l, 2l+1: lanes 0-15 sub-block
     * 2c, 16-31 sub-block 2c+1 */
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        __m128i sm = kern_k4_scales_mins(w[i].scales);
        __m512i sc16 =
            _mm512_cvtepu8_epi16(_mm256_castsi128_si256(sm)); /* sc 0-7, m 0-7 as int16 */
        __m512i sumi = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(w[i].qs + 32 * c));
            __m512i u = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_and_si256(q, m4)),
                                           _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), 1);
            __m512i p =
                _mm512_maddubs_epi16(u, _mm512_loadu_si512((const void *)(a[i].qs + 64 * c)));
            const __m512i idx = _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)),
                                                   _mm256_set1_epi16((short)(2 * c + 1)), 1);
            sumi =
                _mm512_add_epi32(sumi, _mm512_madd_epi16(p, _mm512_permutexvar_epi16(idx, sc16)));
        }
        /* mins: sum_j m[j] * (bsums[2j] + bsums[2j+1]) */
        __m256i bs = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[i].bsums),
                                       _mm256_set1_epi16(1));
        __m256i mins = _mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8));
        const float da = a[i].d;
        accm = _mm256_fmadd_ps(_mm256_set1_ps(da * f16s(w[i].dmin)),
                               _mm256_cvtepi32_ps(_mm256_mullo_epi32(bs, mins)), accm);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(da * f16s(w[i].d)), _mm512_cvtepi32_ps(sumi), acc);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(accm), _mm256_extractf128_ps(accm, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    *s = hsum512(acc) - _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

void kern_vec_dot_q6_k_q8_k_avx512(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q6_k *w = wp;
    const kern_block_q8_k *a = ap;
    /* lane l of chunk k takes sub-block scale 4k + l/4 */
    const __m512i idx0 = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        __m512i sc32 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)w[i].scales));
        int32_t corr = 0;
        for (int j = 0; j < 16; j++)
            corr += w[i].scales[j] * a[i].bsums[j];
        __m512i sumi = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            __m256i g[4];
            kern_q6k_unpack_half(w[i].ql + 64 * h, w[i].qh + 32 * h, g);
            const __m256i g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
            __m512i u01 = _mm512_inserti64x4(_mm512_castsi256_si512(g0), g1, 1);
            __m512i u23 = _mm512_inserti64x4(_mm512_castsi256_si512(g2), g3, 1);
            __m512i p01 = _mm512_dpbusd_epi32(
                _mm512_setzero_si512(), u01, _mm512_loadu_si512((const void *)(a[i].qs + 128 * h)));
            __m512i p23 =
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), u23,
                                    _mm512_loadu_si512((const void *)(a[i].qs + 128 * h + 64)));
            __m512i s01 =
                _mm512_permutexvar_epi32(_mm512_add_epi32(idx0, _mm512_set1_epi32(8 * h)), sc32);
            __m512i s23 = _mm512_permutexvar_epi32(
                _mm512_add_epi32(idx0, _mm512_set1_epi32(8 * h + 4)), sc32);
            sumi = _mm512_add_epi32(
                sumi, _mm512_add_epi32(_mm512_mullo_epi32(p01, s01), _mm512_mullo_epi32(p23, s23)));
        }
        int32_t tot = _mm512_reduce_add_epi32(sumi) - 32 * corr;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(a[i].d * f16s(w[i].d)),
                              _mm512_castps128_ps512(_mm_set_ss((float)tot)), acc);
    }
    *s = hsum512(acc);
}
