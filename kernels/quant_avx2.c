/* AVX2 + FMA + F16C kernels: f16/bf16 rows, dequantize and vec_dot for every weight type.
 *
 * Integer blocks use the usual AVX2 8-bit dot idiom: make one operand unsigned (the 4/5/6
 * bit levels already are; for signed q8 weights take |w| and move w's sign onto the
 * activation), _mm256_maddubs_epi16 (u8 x s8 -> pairwise i16, no saturation at these
 * ranges: activations are in -127..127), then _mm256_madd_epi16 to i32. Per-block integer
 * sums are exact, so they equal the _ref ones; the f32 accumulation over blocks runs in 8
 * lanes (differs from _ref in rounding only). Dequantize kernels do the same single f32
 * operations per element as _ref and are bit-identical to it. */
#include "kernels/quant_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/convert.h"

/* Scalar f16 -> f32 with F16C (exact, same as kern_f16_to_f32 for non-NaN scales). */
static inline float f16s(uint16_t h) {
    return _cvtsh_ss(h);
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i load_u8x32(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles in bytes 0..15, high nibbles in 16..31. */
static inline __m256i unpack_nibbles_16(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* 32 bits -> 32 bytes, 0xFF where bit i of x is set. */
static inline __m256i bits_to_bytes(uint32_t x) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x), shuf);
    const __m256i bit = _mm256_set1_epi64x((long long)0x7fbfdfeff7fbfdfeULL);
    v = _mm256_or_si256(v, bit);
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
}

/* Sum of signed w[i]*a[i] over 32 int8 pairs, as 8 int32 lanes. */
static inline __m256i dot_s8_s8(__m256i w, __m256i a) {
    __m256i aw = _mm256_sign_epi8(w, w);
    __m256i sa = _mm256_sign_epi8(a, w);
    return _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sa), _mm256_set1_epi16(1));
}

/* Sum of unsigned u[i] * signed a[i], as 8 int32 lanes. */
static inline __m256i dot_u8_s8(__m256i u, __m256i a) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, a), _mm256_set1_epi16(1));
}

/* ---- 16-bit float rows ---- */

void kern_f16_to_f32_row_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = kern_f16_to_f32(src[i]);
}

void kern_f32_to_f16_row_avx2(const float *src, uint16_t *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = kern_f32_to_f16(src[i]);
}

void kern_bf16_to_f32_row_avx2(const uint16_t *src, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
        _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
    }
    for (; i < n; i++)
        dst[i] = kern_bf16_to_f32(src[i]);
}

void kern_dequant_row_f16_avx2(const void *src, float *dst, int64_t n) {
    kern_f16_to_f32_row_avx2(src, dst, n);
}

void kern_dequant_row_bf16_avx2(const void *src, float *dst, int64_t n) {
    kern_bf16_to_f32_row_avx2(src, dst, n);
}

/* ---- dequantize ---- */

static inline void store_i8x32_scaled(float *y, __m256i q, __m256 d) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(
        y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(
        y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

void kern_dequant_row_q8_0_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q8_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK)
        store_i8x32_scaled(y, load_u8x32(x[i].qs), _mm256_set1_ps(f16s(x[i].d)));
}

void kern_dequant_row_q4_0_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q4_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK) {
        __m256i q = _mm256_sub_epi8(unpack_nibbles_16(x[i].qs), _mm256_set1_epi8(8));
        store_i8x32_scaled(y, q, _mm256_set1_ps(f16s(x[i].d)));
    }
}

/* y[0..32) = d * q - m for 32 unsigned bytes q. */
static inline void store_u8x32_affine(float *y, __m256i q, __m256 d, __m256 m) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_sub_ps(_mm256_mul_ps(d, f), m));
    }
}

void kern_dequant_row_q4_k_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q4_k *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = f16s(x[i].d), min = f16s(x[i].dmin);
        for (int c = 0; c < 4; c++, y += 64) {
            uint8_t sc, m;
            __m256i q = load_u8x32(x[i].qs + 32 * c);
            kern_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            store_u8x32_affine(y, _mm256_and_si256(q, m4), _mm256_set1_ps(d * (float)sc),
                               _mm256_set1_ps(min * (float)m));
            kern_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            store_u8x32_affine(y + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                               _mm256_set1_ps(d * (float)sc), _mm256_set1_ps(min * (float)m));
        }
    }
}

/* y[0..32) = q * d + m for 32 unsigned bytes q (Q4_1/Q5_1 order of operations). */
static inline void store_u8x32_madd(float *y, __m256i q, __m256 d, __m256 m) {
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
    for (int k = 0; k < 4; k++) {
        __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(f, d), m));
    }
}

void kern_dequant_row_q4_1_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q4_1 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK)
        store_u8x32_madd(y, unpack_nibbles_16(x[i].qs), _mm256_set1_ps(f16s(x[i].d)),
                         _mm256_set1_ps(f16s(x[i].m)));
}

static inline __m256i q5_levels(const uint8_t *qs, const uint8_t *qhp) {
    uint32_t qh;
    memcpy(&qh, qhp, sizeof qh);
    return _mm256_or_si256(unpack_nibbles_16(qs),
                           _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
}

void kern_dequant_row_q5_0_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q5_0 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK)
        store_i8x32_scaled(y, _mm256_sub_epi8(q5_levels(x[i].qs, x[i].qh), _mm256_set1_epi8(16)),
                           _mm256_set1_ps(f16s(x[i].d)));
}

void kern_dequant_row_q5_1_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q5_1 *x = src;
    for (int64_t i = 0; i < n / KERN_QK; i++, y += KERN_QK)
        store_u8x32_madd(y, q5_levels(x[i].qs, x[i].qh), _mm256_set1_ps(f16s(x[i].d)),
                         _mm256_set1_ps(f16s(x[i].m)));
}

void kern_dequant_row_q5_k_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q5_k *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = f16s(x[i].d), min = f16s(x[i].dmin);
        __m256i hb = load_u8x32(x[i].qh);
        for (int c = 0; c < 4; c++, y += 64) {
            uint8_t sc, m;
            __m256i q = load_u8x32(x[i].qs + 32 * c);
            __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hb, 2 * c), 4), b4);
            __m256i h1 =
                _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hb, 2 * c + 1), 4), b4);
            kern_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            store_u8x32_affine(y, _mm256_or_si256(_mm256_and_si256(q, m4), h0),
                               _mm256_set1_ps(d * (float)sc), _mm256_set1_ps(min * (float)m));
            kern_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            store_u8x32_affine(y + 32,
                               _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1),
                               _mm256_set1_ps(d * (float)sc), _mm256_set1_ps(min * (float)m));
        }
    }
}

/* The four 32-element groups of a q6_K half as unsigned 6-bit levels (0..63). */
static inline void q6_unpack(const uint8_t *ql, const uint8_t *qh, __m256i g[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    __m256i l0 = load_u8x32(ql), l1 = load_u8x32(ql + 32), h = load_u8x32(qh);
    g[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m2));
    g[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m2));
    g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(h, m2));
    g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(h, 2), m2));
}

void kern_dequant_row_q6_k_avx2(const void *src, float *y, int64_t n) {
    const kern_block_q6_k *x = src;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        const float d = f16s(x[i].d);
        for (int h = 0; h < 2; h++) {
            __m256i g[4];
            q6_unpack(x[i].ql + 64 * h, x[i].qh + 32 * h, g);
            for (int k = 0; k < 4; k++, y += 32) {
                __m256i q = _mm256_sub_epi8(g[k], _mm256_set1_epi8(32));
                __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
                __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
                for (int p = 0; p < 4; p++) {
                    /* sub-block 16-element scale: parts 0,1 -> first, 2,3 -> second */
                    const float s = d * (float)x[i].scales[8 * h + 2 * k + p / 2];
                    __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[p]));
                    _mm256_storeu_ps(y + 8 * p, _mm256_mul_ps(_mm256_set1_ps(s), f));
                }
            }
        }
    }
}

/* ---- float dots ---- */

void kern_vec_dot_f32_f32_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const float *w = wp, *a = ap;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i + 8 * k), _mm256_loadu_ps(a + i + 8 * k),
                                     acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + i), _mm256_loadu_ps(a + i), acc[0]);
    float sum =
        hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += w[i] * a[i];
    *s = sum;
}

void kern_vec_dot_f16_f32_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const uint16_t *w = wp;
    const float *a = ap;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) {
            __m256 wf = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i + 8 * k)));
            acc[k] = _mm256_fmadd_ps(wf, _mm256_loadu_ps(a + i + 8 * k), acc[k]);
        }
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + i))),
                                 _mm256_loadu_ps(a + i), acc[0]);
    float sum =
        hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += kern_f16_to_f32(w[i]) * a[i];
    *s = sum;
}

static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

void kern_vec_dot_bf16_f32_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const uint16_t *w = wp;
    const float *a = ap;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++)
            acc[k] =
                _mm256_fmadd_ps(load_bf16x8(w + i + 8 * k), _mm256_loadu_ps(a + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8)
        acc[0] = _mm256_fmadd_ps(load_bf16x8(w + i), _mm256_loadu_ps(a + i), acc[0]);
    float sum =
        hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for (; i < n; i++)
        sum += kern_bf16_to_f32(w[i]) * a[i];
    *s = sum;
}

/* ---- 32-element block dots ---- */

void kern_vec_dot_q8_0_q8_0_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q8_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        __m256i p = dot_s8_s8(load_u8x32(w[i].qs), load_u8x32(a[i].qs));
        __m256 d = _mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

void kern_vec_dot_q4_0_q8_0_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        __m256i q = _mm256_sub_epi8(unpack_nibbles_16(w[i].qs), _mm256_set1_epi8(8));
        __m256i p = dot_s8_s8(q, load_u8x32(a[i].qs));
        __m256 d = _mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

void kern_vec_dot_q4_1_q8_1_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_1 *w = wp;
    const kern_block_q8_1 *a = ap;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        __m256i p = dot_u8_s8(unpack_nibbles_16(w[i].qs), load_u8x32(a[i].qs));
        __m256 d = _mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
        summ += f16s(w[i].m) * f16s(a[i].s);
    }
    *s = hsum_ps(acc) + summ;
}

void kern_vec_dot_q5_0_q8_0_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_0 *w = wp;
    const kern_block_q8_0 *a = ap;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, sizeof qh);
        __m256i hb = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
        __m256i q =
            _mm256_sub_epi8(_mm256_or_si256(unpack_nibbles_16(w[i].qs), hb), _mm256_set1_epi8(16));
        __m256i p = dot_s8_s8(q, load_u8x32(a[i].qs));
        __m256 d = _mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
    }
    *s = hsum_ps(acc);
}

void kern_vec_dot_q5_1_q8_1_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_1 *w = wp;
    const kern_block_q8_1 *a = ap;
    __m256 acc = _mm256_setzero_ps();
    float summ = 0.f;
    for (int64_t i = 0; i < n / KERN_QK; i++) {
        uint32_t qh;
        memcpy(&qh, w[i].qh, sizeof qh);
        __m256i hb = _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10));
        __m256i p = dot_u8_s8(_mm256_or_si256(unpack_nibbles_16(w[i].qs), hb), load_u8x32(a[i].qs));
        __m256 d = _mm256_set1_ps(f16s(w[i].d) * f16s(a[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(p), acc);
        summ += f16s(w[i].m) * f16s(a[i].s);
    }
    *s = hsum_ps(acc) + summ;
}

/* ---- K-quant dots ---- */

static inline int32_t kq_mins_dot(const uint8_t *scales, const int16_t *bsums) {
    int32_t summ = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, m;
        kern_get_scale_min_k4(j, scales, &sc, &m);
        summ += m * (bsums[2 * j] + bsums[2 * j + 1]);
    }
    return summ;
}

void kern_vec_dot_q4_k_q8_k_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q4_k *w = wp;
    const kern_block_q8_k *a = ap;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.f;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            kern_get_scale_min_k4(2 * c, w[i].scales, &sc0, &m0);
            kern_get_scale_min_k4(2 * c + 1, w[i].scales, &sc1, &m1);
            __m256i q = load_u8x32(w[i].qs + 32 * c);
            __m256i p0 =
                _mm256_maddubs_epi16(_mm256_and_si256(q, m4), load_u8x32(a[i].qs + 64 * c));
            __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                              load_u8x32(a[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc0)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc1)));
        }
        const float dd = a[i].d * f16s(w[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(sumi), acc);
        accm += a[i].d * f16s(w[i].dmin) * (float)kq_mins_dot(w[i].scales, a[i].bsums);
    }
    *s = hsum_ps(acc) - accm;
}

void kern_vec_dot_q5_k_q8_k_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q5_k *w = wp;
    const kern_block_q8_k *a = ap;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    float accm = 0.f;
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        __m256i hb = load_u8x32(w[i].qh);
        for (int c = 0; c < 4; c++) {
            uint8_t sc0, m0, sc1, m1;
            kern_get_scale_min_k4(2 * c, w[i].scales, &sc0, &m0);
            kern_get_scale_min_k4(2 * c + 1, w[i].scales, &sc1, &m1);
            __m256i q = load_u8x32(w[i].qs + 32 * c);
            /* bit 2c of qh -> 0x10 for the low half, bit 2c+1 for the high half */
            __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hb, 2 * c), 4), b4);
            __m256i h1 =
                _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(hb, 2 * c + 1), 4), b4);
            __m256i q0 = _mm256_or_si256(_mm256_and_si256(q, m4), h0);
            __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1);
            __m256i p0 = _mm256_maddubs_epi16(q0, load_u8x32(a[i].qs + 64 * c));
            __m256i p1 = _mm256_maddubs_epi16(q1, load_u8x32(a[i].qs + 64 * c + 32));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc0)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc1)));
        }
        const float dd = a[i].d * f16s(w[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(sumi), acc);
        accm += a[i].d * f16s(w[i].dmin) * (float)kq_mins_dot(w[i].scales, a[i].bsums);
    }
    *s = hsum_ps(acc) - accm;
}

void kern_vec_dot_q6_k_q8_k_avx2(int64_t n, float *s, const void *wp, const void *ap) {
    const kern_block_q6_k *w = wp;
    const kern_block_q8_k *a = ap;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / KERN_QK_K; i++) {
        __m256i sumi = _mm256_setzero_si256();
        int32_t corr = 0; /* 32 * sum_j sc[j] * bsums[j]: the -32 offset of every level */
        for (int j = 0; j < 16; j++)
            corr += w[i].scales[j] * a[i].bsums[j];
        for (int h = 0; h < 2; h++) {
            __m256i g[4];
            q6_unpack(w[i].ql + 64 * h, w[i].qh + 32 * h, g);
            const int8_t *sc = w[i].scales + 8 * h;
            for (int k = 0; k < 4; k++) {
                __m256i p = _mm256_maddubs_epi16(g[k], load_u8x32(a[i].qs + 128 * h + 32 * k));
                __m256i scv =
                    _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scv));
            }
        }
        const float dd = a[i].d * f16s(w[i].d);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dd),
                              _mm256_cvtepi32_ps(_mm256_sub_epi32(
                                  sumi, _mm256_setr_epi32(32 * corr, 0, 0, 0, 0, 0, 0, 0))),
                              acc);
    }
    *s = hsum_ps(acc);
}
