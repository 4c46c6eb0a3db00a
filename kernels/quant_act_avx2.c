/* AVX2 activation quantizers (Q8_0, Q8_1, Q8_K): every matvec and small-batch matmul
 * converts its f32 input with these, on the calling thread before the workers start, so the
 * scalar reference's per-element roundf / fmaxf calls showed up at ~6% of a Q8_0 decode.
 *
 * Bit-identical to the _ref functions for every input, NaN and Inf included:
 * - amax: _mm256_max_ps(|x|, acc) returns acc when |x| is NaN, as fmaxf(acc, NaN) does in
 *   Q8_0/Q8_1, and as `ax > amax` (false for NaN) does in Q8_K.
 * - roundf (half away from zero) is t = trunc(v), plus sign(v) where |v - t| >= 0.5; v - t
 *   is exact for |v| < 2^23. NaN gives 0 and the result is clamped to +-127, as round_q8.
 * - Q8_K's kern_nearest_int is the same add-1.5*2^23 bit trick, lane by lane; its max is the
 *   first element of greatest magnitude, found with a compare mask after the reduction.
 * The per-block scale arithmetic (d, 1/d, f16 conversion) stays scalar, as in _ref. */
#include "kernels/quant_internal.h"

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/assert.h"
#include "kernels/convert.h"
#include "kernels/ops_vec_avx2.h"

static inline __m256 abs_ps(__m256 x) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.f), x);
}

/* |x[0..n)| max, NaN lanes ignored (n a multiple of 8). */
static inline float amax_ps(const float *x, int n) {
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < n; j += 8)
        m = _mm256_max_ps(abs_ps(_mm256_loadu_ps(x + j)), m);
    return vhmax(m); /* m >= 0, never NaN */
}

/* round_q8(v) for 8 lanes, as int32. */
static inline __m256i round_q8_ps(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.f));
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 half = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(v, t)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    t = _mm256_add_ps(t, _mm256_and_ps(half, _mm256_or_ps(sign, _mm256_set1_ps(1.f))));
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-127.f)), _mm256_set1_ps(127.f));
    t = _mm256_and_ps(t, _mm256_cmp_ps(v, v, _CMP_ORD_Q)); /* NaN -> 0 */
    return _mm256_cvttps_epi32(t);
}

/* 32 int32 lanes (4 vectors) -> 32 int8 in order. */
static inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    __m256i p = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Quantizes 32 values with multiplier id into qs; returns their sum. */
static inline int q8_block(const float *x, float id, int8_t *qs) {
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; k++)
        q[k] = round_q8_ps(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), vid));
    _mm256_storeu_si256((__m256i *)qs, pack32(q[0], q[1], q[2], q[3]));
    __m256i s = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* Q8_0 (s == NULL) or Q8_1 (s: the f16 d * sum q of each block): one 34/36-byte block per
 * 32 values, d first, qs at qs_off. */
static void quantize_q8_x(const float *x, uint8_t *y, int64_t n, size_t block_bytes,
                          size_t qs_off, bool with_sum) {
    for (int64_t i = 0; i < n / KERN_QK; i++, x += KERN_QK, y += block_bytes) {
        const float d = amax_ps(x, KERN_QK) / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        const uint16_t dh = kern_f32_to_f16(d);
        memcpy(y, &dh, 2);
        const int sum = q8_block(x, id, (int8_t *)(y + qs_off));
        if (with_sum) {
            const uint16_t sh = kern_f32_to_f16((float)sum * d);
            memcpy(y + 2, &sh, 2);
        }
    }
}

void kern_quantize_row_q8_0_avx2(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    quantize_q8_x(x, dst, n, sizeof(kern_block_q8_0), offsetof(kern_block_q8_0, qs), false);
}

void kern_quantize_row_q8_1_avx2(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK == 0, "n=%lld", (long long)n);
    quantize_q8_x(x, dst, n, sizeof(kern_block_q8_1), offsetof(kern_block_q8_1, qs), true);
}

void kern_quantize_row_q8_k_avx2(const float *x, void *dst, int64_t n) {
    RW_ASSERT(n % KERN_QK_K == 0, "n=%lld", (long long)n);
    kern_block_q8_k *y = dst;
    for (int64_t i = 0; i < n / KERN_QK_K; i++, x += KERN_QK_K) {
        const float amax = amax_ps(x, KERN_QK_K);
        if (amax == 0.f || !(amax <= 3.0e38f)) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* first element whose magnitude is amax (the reference keeps the first on ties) */
        float max = 0;
        const __m256 va = _mm256_set1_ps(amax);
        for (int j = 0; j < KERN_QK_K; j += 8) {
            int m = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ));
            if (m) {
                max = x[j + __builtin_ctz((unsigned)m)];
                break;
            }
        }
        const float iscale = -127.f / max;
        const __m256 vs = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.f);
        for (int j = 0; j < KERN_QK_K; j += 32) {
            __m256i q[4];
            for (int k = 0; k < 4; k++) {
                __m256 t = _mm256_add_ps(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k)), magic);
                __m256i v = _mm256_sub_epi32(
                    _mm256_and_si256(_mm256_castps_si256(t), _mm256_set1_epi32(0x007fffff)),
                    _mm256_set1_epi32(0x00400000));
                q[k] = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(-127)),
                                        _mm256_set1_epi32(127));
            }
            __m256i p = pack32(q[0], q[1], q[2], q[3]);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p);
            /* bsums of the two 16-element groups: widen to int16 and add pairwise */
            __m256i w = _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_set1_epi8(1), p), _mm256_set1_epi16(1));
            /* w: int32 sums of 4 elements; lanes 0-3 are elements 0-15, 4-7 are 16-31 */
            __m128i lo = _mm256_castsi256_si128(w), hi = _mm256_extracti128_si256(w, 1);
            __m128i s = _mm_hadd_epi32(lo, hi);
            s = _mm_hadd_epi32(s, s);
            y[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(s);
            y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(s, 1);
        }
        y[i].d = 1 / iscale;
    }
}
