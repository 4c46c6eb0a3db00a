/* AVX2 (+FMA, F16C) vec_dot_rows for Q4_K and Q6_K weights against Q8_K activations:
 * s[r] = dot(weight row r, a), one row after the other.
 *
 * Per block only vector work (the per-block code of kernels/quant_rows_kquant_avx512.c on
 * 256-bit vectors):
 *   Q4_K  nibbles of 32 qs bytes against 32 contiguous activations (vpmaddubsw), the 6-bit
 *         scales as int16 (vector unpack of scales[12], one in-lane byte shuffle per scale
 *         vector) through vpmaddwd; mins m[j] * (bsums[2j] + bsums[2j+1]) in one vpmaddwd.
 *   Q6_K  6-bit q from ql/qh with shifts and masks; the "-32" offset as
 *         sum_j (32 sc[j]) * (-bsums[j]), one vpmaddwd seeding the block's int32 sum; scale
 *         vectors by one in-lane byte shuffle each; vpmaddwd, no vpmulld.
 * Rows are not interleaved here: with 16 ymm registers the activations of a block cannot
 * stay in registers across rows, so a group saves little (same speed in cache), while one
 * row at a time is a single sequential stream the hardware prefetchers follow (measured
 * on Zen 4, streamed from memory: 4 interleaved rows with software prefetch were 1.3x
 * slower, without it 4-10x).
 * Integer sums per block are exact (bounds as in the AVX-512 file, halved lane counts);
 * the f32 accumulator vector is reduced once at the end of the row.
 * Block layouts: kernels/quant.h. */
#include "kernels/quant_internal.h"
#include "kernels/quant_kquant_simd.h"

#include <immintrin.h>

#define KQ_INLINE static inline __attribute__((always_inline))

static inline __m256i load32(const void *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline float hsum128(__m128 h) {
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline float hsum256(__m256 v) {
    return hsum128(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

/* ---- Q4_K ---- */

/* vpshufb indices: int16 lanes all equal to scale byte j (zero-extended). */
static const int8_t k_q4k_sidx[8][32] = {
#define S2(j) j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1
    {S2(0), S2(0)}, {S2(1), S2(1)}, {S2(2), S2(2)}, {S2(3), S2(3)},
    {S2(4), S2(4)}, {S2(5), S2(5)}, {S2(6), S2(6)}, {S2(7), S2(7)},
#undef S2
};

KQ_INLINE void q4k_block(const kern_block_q4_k *b, const kern_block_q8_k *ab, __m128i bsp,
                         __m128 da, __m256 *acc, __m128 *accm) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m128i sm = kern_k4_scales_mins(b->scales);
    const __m256i smb = _mm256_broadcastsi128_si256(sm);
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    for (int c = 0; c < 4; c++) {
        const __m256i q = load32(b->qs + 32 * c);
        const __m256i p0 = _mm256_maddubs_epi16(_mm256_and_si256(q, m4), load32(ab->qs + 64 * c));
        const __m256i p1 = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                                load32(ab->qs + 64 * c + 32));
        s0 = _mm256_add_epi32(
            s0, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(smb, load32(k_q4k_sidx[2 * c]))));
        s1 = _mm256_add_epi32(
            s1, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(smb, load32(k_q4k_sidx[2 * c + 1]))));
    }
    uint32_t ddm;
    __builtin_memcpy(&ddm, &b->d, 4);
    const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ddm)), da); /* d, dmin */
    *acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)),
                           *acc);
    const __m128i mm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), bsp);
    *accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(mm), *accm);
}

static float q4k_row(int64_t nb, const kern_block_q4_k *w, const kern_block_q8_k *a) {
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i bsp = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)a[i].bsums),
                                           _mm_loadu_si128((const __m128i *)(a[i].bsums + 8)));
        q4k_block(&w[i], &a[i], bsp, _mm_set1_ps(a[i].d), &acc, &accm);
    }
    return hsum256(acc) - hsum128(accm);
}

void kern_vec_dot_rows_q4_k_q8_k_avx2(int64_t n, float *s, const void *w, size_t w_stride,
                                      int64_t nrows, const void *a) {
    for (int64_t r = 0; r < nrows; r++)
        s[r] = q4k_row(n / KERN_QK_K, (const void *)((const uint8_t *)w + (size_t)r * w_stride), a);
}

/* ---- Q6_K ---- */

/* vpshufb indices on a vector holding int16 scales 0-7 of one half in both 128-bit lanes:
 * group g's low lane takes scale 2g, its high lane scale 2g + 1. */
static const int8_t k_q6k_sidx[4][32] = {
#define W8(j)                                                                                      \
    2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1,      \
        2 * j, 2 * j + 1, 2 * j, 2 * j + 1, 2 * j, 2 * j + 1
    {W8(0), W8(1)},
    {W8(2), W8(3)},
    {W8(4), W8(5)},
    {W8(6), W8(7)},
#undef W8
};

KQ_INLINE void q6k_block(const kern_block_q6_k *b, const kern_block_q8_k *ab, __m256i nbs, float da,
                         __m256 *acc) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m30 = _mm256_set1_epi8(0x30);
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    /* seed: -32 * sum_j sc[j] * bsums[j] = sum_j (32 sc[j]) * (-bsums[j]) */
    __m256i s0 = _mm256_madd_epi16(_mm256_slli_epi16(sc16, 5), nbs);
    __m256i s1 = _mm256_setzero_si256();
    for (int h = 0; h < 2; h++) {
        const __m256i scb = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11)
                              : _mm256_permute2x128_si256(sc16, sc16, 0x00);
        const __m256i l0 = load32(b->ql + 64 * h), l1 = load32(b->ql + 64 * h + 32);
        const __m256i hb = load32(b->qh + 32 * h);
        const __m256i g[4] = {
            _mm256_or_si256(_mm256_and_si256(l0, m4),
                            _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30)),
            _mm256_or_si256(_mm256_and_si256(l1, m4),
                            _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                            _mm256_and_si256(hb, m30)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                            _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30)),
        };
        const int8_t *qa = ab->qs + 128 * h;
        for (int k = 0; k < 4; k += 2) {
            s0 = _mm256_add_epi32(
                s0, _mm256_madd_epi16(_mm256_maddubs_epi16(g[k], load32(qa + 32 * k)),
                                      _mm256_shuffle_epi8(scb, load32(k_q6k_sidx[k]))));
            s1 = _mm256_add_epi32(
                s1, _mm256_madd_epi16(_mm256_maddubs_epi16(g[k + 1], load32(qa + 32 * k + 32)),
                                      _mm256_shuffle_epi8(scb, load32(k_q6k_sidx[k + 1]))));
        }
    }
    const float dd = da * _cvtsh_ss(b->d);
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), *acc);
}

static float q6k_row(int64_t nb, const kern_block_q6_k *w, const kern_block_q8_k *a) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i nbs = _mm256_sub_epi16(_mm256_setzero_si256(), load32(a[i].bsums));
        q6k_block(&w[i], &a[i], nbs, a[i].d, &acc);
    }
    return hsum256(acc);
}

void kern_vec_dot_rows_q6_k_q8_k_avx2(int64_t n, float *s, const void *w, size_t w_stride,
                                      int64_t nrows, const void *a) {
    for (int64_t r = 0; r < nrows; r++)
        s[r] = q6k_row(n / KERN_QK_K, (const void *)((const uint8_t *)w + (size_t)r * w_stride), a);
}
