/* K-quant unpacking shared by the AVX2/AVX-512 dot kernels and the int8 panel packers
 * (include only from files compiled with at least -mavx2). */
#ifndef RW_KERNELS_QUANT_KQUANT_SIMD_H
#define RW_KERNELS_QUANT_KQUANT_SIMD_H

#include <immintrin.h>
#include <stdint.h>

/* The 8 6-bit scales (bytes 0-7) and mins (bytes 8-15) of a Q4_K/Q5_K scales[12] (layout
 * as in kern_get_scale_min_k4). With u0, u1, u2 its three little-endian u32, per byte:
 *   sc 0-3 = u0 & 0x3f,  sc 4-7 = (u2 & 0x0f) | ((u0 >> 2) & 0x30),
 *   m 0-3 = u1 & 0x3f,   m 4-7 = ((u2 >> 4) & 0x0f) | ((u1 >> 2) & 0x30).
 * Reads 16 bytes from p: the 4 after scales[12] are qs (Q4_K) or qh (Q5_K) of the block. */
static inline __m128i kern_k4_scales_mins(const uint8_t *p) {
    const __m128i v = _mm_loadu_si128((const __m128i *)p);
    const __m128i x = /* dwords u0, u2, u1, u2 */
        _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i y = /* dwords 0, u0, 0, u1 */
        _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    const __m128i lo =
        _mm_and_si128(_mm_srlv_epi32(x, _mm_setr_epi32(0, 0, 0, 4)),
                      _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi32(y, 2), _mm_set1_epi8(0x30)));
}

/* Half h of a Q6_K block (ql + 64 h, qh + 32 h): the unsigned 6-bit levels (0..63) of its
 * four 32-element groups, g[k] = elements 128 h + 32 k .. +31 (ggml's Q6_K layout). */
static inline void kern_q6k_unpack_half(const uint8_t *ql, const uint8_t *qh, __m256i g[4]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql),
                  l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
    g[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
    g[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
    g[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m2));
    g[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                           _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
}

#endif
