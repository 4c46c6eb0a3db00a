/* AVX2 + FMA + F16C vec_dot_rows for Q8_0 and Q4_0 weights: several weight rows against
 * one Q8_0 activation row (decode matvec, small-batch matmul) on machines without
 * AVX-512 VNNI.
 *
 * One 32-element block per ymm, products with vpmaddubsw (u8 x s8 -> i16 pairs; no
 * saturation: |pair| <= 2 * 15 * 127 for Q4_0, 2 * 128 * 127 for Q8_0 since activations
 * are -127..127) then vpmaddwd by ones to int32. Hoisted out of the row loop, once per
 * call (per chunk of KERN_ROWS_CHUNK2 blocks, on the stack): the f32 activation scales,
 * and for Q4_0 the int32 correction -8 * sum a of each 4-byte group (sum (q - 8) a =
 * sum q a - 8 sum a, so the unsigned nibbles go into vpmaddubsw as they are). Rows are
 * walked one after the other with two accumulators each: interleaving several rows is
 * faster in cache but much slower when W streams from memory (see quant_rows_avx512.c).
 *
 * Per-block int32 sums are exact; the f32 accumulation runs in 8 lanes per row.
 *
 * Their Q8_0 activations come from quant_act_avx2.c (the scalar roundf had been ~12 us of
 * ~50 us for a 768x2048 Q4_0 matvec on one EPYC core). */
#include "kernels/quant_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/convert.h"
#include "kernels/ops_vec_avx2.h"

/* Blocks prepared at once: 36 bytes each (Q4_0), 9 KiB of stack for rows up to 8192
 * elements; longer rows are done in column chunks. */
enum { KERN_ROWS_CHUNK2 = 256 };

/* f16 scale at p (any alignment), broadcast to 8 f32 lanes */
static inline __m256 bcast_f16(const uint8_t *p) {
    int16_t h;
    memcpy(&h, p, sizeof h);
    return _mm256_cvtph_ps(_mm_set1_epi16(h));
}

/* ---- Q4_0 ---- */

static inline __m256 q4_0_block(const uint8_t *b, const kern_block_q8_0 *a, __m256i c,
                                const float *da, __m256 acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    __m128i x = _mm_loadu_si128((const __m128i *)(b + 2));
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(x, 4), x), m4);
    __m256i p = _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)a->qs));
    __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(p, ones), c);
    __m256 d = _mm256_mul_ps(bcast_f16(b), _mm256_broadcast_ss(da));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), d, acc);
}

void kern_vec_dot_rows_q4_0_q8_0_avx2(int64_t n, float *s, const void *wp, size_t w_stride,
                                      int64_t nrows, const void *ap) {
    const uint8_t *w = wp;
    const kern_block_q8_0 *a = ap;
    const int64_t nb = n / KERN_QK;
    const size_t bs = sizeof(kern_block_q4_0);
    __m256i corr[KERN_ROWS_CHUNK2];
    float da[KERN_ROWS_CHUNK2];
    const __m256i eight = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    for (int64_t r = 0; r < nrows; r++)
        s[r] = 0.f;
    for (int64_t i0 = 0; i0 < nb; i0 += KERN_ROWS_CHUNK2) {
        const int64_t cn = nb - i0 < KERN_ROWS_CHUNK2 ? nb - i0 : KERN_ROWS_CHUNK2;
        const kern_block_q8_0 *ac = a + i0;
        for (int64_t i = 0; i < cn; i++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)ac[i].qs);
            corr[i] = _mm256_sub_epi32(_mm256_setzero_si256(),
                                       _mm256_madd_epi16(_mm256_maddubs_epi16(eight, av), ones));
            da[i] = _cvtsh_ss(ac[i].d);
        }
        for (int64_t r = 0; r < nrows; r++) {
            const uint8_t *row = w + (size_t)r * w_stride + (size_t)i0 * bs;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 2 <= cn; i += 2) {
                acc0 = q4_0_block(row + (size_t)i * bs, &ac[i], corr[i], &da[i], acc0);
                acc1 = q4_0_block(row + (size_t)(i + 1) * bs, &ac[i + 1], corr[i + 1], &da[i + 1],
                                  acc1);
            }
            if (i < cn) acc0 = q4_0_block(row + (size_t)i * bs, &ac[i], corr[i], &da[i], acc0);
            s[r] += vhsum(_mm256_add_ps(acc0, acc1));
        }
    }
}

/* ---- Q8_0 ---- */

static inline __m256 q8_0_block(const uint8_t *b, const kern_block_q8_0 *a, const float *da,
                                __m256 acc) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i q = _mm256_loadu_si256((const __m256i *)(b + 2));
    __m256i av = _mm256_loadu_si256((const __m256i *)a->qs);
    /* |w| x sign(w) * a: u8 x s8 for vpmaddubsw */
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(av, q));
    __m256 d = _mm256_mul_ps(bcast_f16(b), _mm256_broadcast_ss(da));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones)), d, acc);
}

void kern_vec_dot_rows_q8_0_q8_0_avx2(int64_t n, float *s, const void *wp, size_t w_stride,
                                      int64_t nrows, const void *ap) {
    const uint8_t *w = wp;
    const kern_block_q8_0 *a = ap;
    const int64_t nb = n / KERN_QK;
    const size_t bs = sizeof(kern_block_q8_0);
    float da[KERN_ROWS_CHUNK2];
    for (int64_t r = 0; r < nrows; r++)
        s[r] = 0.f;
    for (int64_t i0 = 0; i0 < nb; i0 += KERN_ROWS_CHUNK2) {
        const int64_t cn = nb - i0 < KERN_ROWS_CHUNK2 ? nb - i0 : KERN_ROWS_CHUNK2;
        const kern_block_q8_0 *ac = a + i0;
        for (int64_t i = 0; i < cn; i++)
            da[i] = _cvtsh_ss(ac[i].d);
        for (int64_t r = 0; r < nrows; r++) {
            const uint8_t *row = w + (size_t)r * w_stride + (size_t)i0 * bs;
            __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
            int64_t i = 0;
            for (; i + 2 <= cn; i += 2) {
                acc0 = q8_0_block(row + (size_t)i * bs, &ac[i], &da[i], acc0);
                acc1 = q8_0_block(row + (size_t)(i + 1) * bs, &ac[i + 1], &da[i + 1], acc1);
            }
            if (i < cn) acc0 = q8_0_block(row + (size_t)i * bs, &ac[i], &da[i], acc0);
            s[r] += vhsum(_mm256_add_ps(acc0, acc1));
        }
    }
}
