/* Weight-block unpacking shared by the AVX2 and AVX-512 panel packers (matmul_int8_avx2.c,
 * matmul_int8_avx512.c; both are compiled with at least -mavx2 -mf16c, and only they may
 * include this header). Same levels and scales as block_levels in matmul_int8.c, the
 * scalar reference: Q8_0 q, Q4_0 q - 8, Q4_K q (0..15) with s0 = d sc, x1 = dmin m, Q6_K
 * q - 32 with s0/x1 the scales of the two 16-element halves (matmul_internal.h). */
#ifndef RW_KERNELS_MATMUL_INT8_LEVELS_H
#define RW_KERNELS_MATMUL_INT8_LEVELS_H

#include <immintrin.h>
#include <string.h>

#include "core/dtype.h"
#include "kernels/quant.h"
#include "kernels/quant_kquant_simd.h"

/* Levels and per-32 scales of one weight block of one row (as block_levels in
 * matmul_int8.c): the 32 levels of sub-block j go to lv + 512 * j (the byte tile keeps
 * each sub-block's 16 rows in 512 contiguous bytes). Returns the number of sub-blocks. */
static inline int kern_i8_block_levels(rw_dtype t, const char *blk, int8_t *lv, float s0[8],
                                       float x1[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    if (t == RW_DTYPE_Q8_0 || t == RW_DTYPE_Q4_0) {
        uint16_t d;
        memcpy(&d, blk, 2);
        s0[0] = _cvtsh_ss(d);
        x1[0] = 0;
        if (t == RW_DTYPE_Q8_0) {
            _mm256_store_si256((__m256i *)lv, _mm256_loadu_si256((const __m256i *)(blk + 2)));
        } else {
            __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
            __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), m4);
            _mm256_store_si256((__m256i *)lv, _mm256_sub_epi8(q, _mm256_set1_epi8(8)));
        }
        return 1;
    }
    if (t == RW_DTYPE_Q4_K) {
        const kern_block_q4_k *b = (const kern_block_q4_k *)(const void *)blk;
        const float d = _cvtsh_ss(b->d), dmin = _cvtsh_ss(b->dmin);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            kern_get_scale_min_k4(j, b->scales, &sc, &m);
            s0[j] = d * (float)sc;
            x1[j] = dmin * (float)m;
        }
        for (int c = 0; c < 4; c++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(b->qs + 32 * c));
            _mm256_store_si256((__m256i *)(lv + 512 * (2 * c)), _mm256_and_si256(q, m4));
            _mm256_store_si256((__m256i *)(lv + 512 * (2 * c + 1)),
                               _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
        }
        return 8;
    }
    const kern_block_q6_k *b = (const kern_block_q6_k *)(const void *)blk;
    const float d = _cvtsh_ss(b->d);
    for (int j = 0; j < 8; j++) {
        s0[j] = d * (float)b->scales[2 * j];
        x1[j] = d * (float)b->scales[2 * j + 1];
    }
    const __m256i off = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        __m256i g[4];
        kern_q6k_unpack_half(b->ql + 64 * h, b->qh + 32 * h, g);
        __m256i g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3];
        int8_t *o = lv + 512 * (4 * h);
        _mm256_store_si256((__m256i *)o, _mm256_sub_epi8(g0, off));
        _mm256_store_si256((__m256i *)(o + 512), _mm256_sub_epi8(g1, off));
        _mm256_store_si256((__m256i *)(o + 1024), _mm256_sub_epi8(g2, off));
        _mm256_store_si256((__m256i *)(o + 1536), _mm256_sub_epi8(g3, off));
    }
    return 8;
}

#endif
