/* Q6_K level unpack shared by the AVX2/AVX-512 dot kernel and the int8 panel packers
 * (include only from files compiled with at least -mavx2). */
#ifndef RW_KERNELS_QUANT_Q6K_SIMD_H
#define RW_KERNELS_QUANT_Q6K_SIMD_H

#include <immintrin.h>
#include <stdint.h>

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
