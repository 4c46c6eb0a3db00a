/* AVX-512 VNNI vec_dot_rows for Q8_0 weights: several weight rows against one Q8_0
 * activation row (the decode matvec and the small-batch matmul). Q4_0's row kernel lives in
 * quant_rows_q5_avx512.c with the other 32-element types (it streamed faster there).
 *
 * What depends only on the activations is computed once per call (per chunk of
 * KERN_ROWS_CHUNK block pairs, in stack buffers that stay in L1) instead of once per row:
 * the activation bytes biased to unsigned (a + 128, so vpdpbusd takes them as the unsigned
 * operand and the signed weights as they are; the 128 * sum(w) this adds is taken off with
 * a second vpdpbusd, exact for every byte value), and the f32 activation scale of each lane.
 * The rows are then walked one after the other, each with two f32 accumulators. Walking
 * 2 or 4 rows at once (sharing each activation load) is faster when W is in cache but
 * 1.5-2x slower when W streams from memory, as decode does (measured on the EPYC: the
 * interleaved row streams defeat the hardware prefetch; software prefetch did not fix
 * it), so rows go one at a time. Two 32-element blocks fill a zmm; a pair's two f16
 * weight scales (68 bytes apart) come from two word broadcasts. An odd trailing block goes
 * through the single-row AVX2 kernel.
 *
 * Per-block int32 sums are exact (equal to _ref); only the f32 accumulation order
 * differs (16 lanes, two accumulators, chunk partial sums added in order). */
#include "kernels/quant_internal.h"

#include <immintrin.h>
#include <string.h>

/* Block pairs prepared at once (128 bytes each: 16 KiB of stack for rows up to 8192
 * elements); longer rows are done in column chunks. */
enum { KERN_ROWS_CHUNK = 128 };
/* Q8_0 calls with this many rows or more (a decode matvec: W streams from memory) run the
 * single-row kernel per row: memory-bound either way, and it streamed 3-8% faster than
 * the hoisted loop below on the EPYC (1 thread, 4096x4096, min and p10 of ~200 paired
 * calls; three variants of the loop tried). Fewer rows (the small-batch matmul, whose
 * rows stay in L1 across the batch) take the hoisted loop: 0.82 vs 1.12 ns per block in
 * cache. */
enum { KERN_ROWS_STREAM_Q8 = 16 };

static inline float f16s(uint16_t h) {
    return _cvtsh_ss(h);
}

static inline __m512i load2x32(const void *a, const void *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                              _mm256_loadu_si256((const __m256i *)b), 1);
}

/* da of block a[0] in the lanes where sel is 0, of a[1] where it is 1 */
static inline __m512 pair_da(const kern_block_q8_0 *a, __m512i sel) {
    __m128 d = _mm_setr_ps(f16s(a[0].d), f16s(a[1].d), 0.f, 0.f);
    return _mm512_permutexvar_ps(sel, _mm512_castps128_ps512(d));
}

/* ---- Q8_0: a pair is 68 bytes (d, qs[32], d, qs[32]) ---- */

static void prep_q8_0(const kern_block_q8_0 *a, int64_t np, __m512i *pa, __m512 *pda) {
    const __m512i sel = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    for (int64_t p = 0; p < np; p++) {
        const kern_block_q8_0 *b = a + 2 * p;
        /* a + 128 as unsigned bytes (a ^ 0x80) */
        pa[p] = _mm512_xor_si512(load2x32(b[0].qs, b[1].qs), _mm512_set1_epi8((char)0x80));
        pda[p] = pair_da(b, sel);
    }
}

static inline __m512 q8_0_pair(const uint8_t *b, __m512i av, __m512 da, __m512 acc) {
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512i q = load2x32(b + 2, b + 36);
    /* sum (a + 128) w - sum 128 w */
    __m512i dot = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), av, q),
                                   _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q));
    /* d of block i to f32 lanes 0-7, of block i+1 to lanes 8-15 (two word broadcasts:
     * faster here than a zmm load + vpermw) */
    int16_t d0, d1;
    memcpy(&d0, b, 2);
    memcpy(&d1, b + 34, 2);
    __m512 dw = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(d1), _mm_set1_epi16(d0)));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, da), acc);
}

void kern_vec_dot_rows_q8_0_q8_0_avx512(int64_t n, float *s, const void *wp, size_t w_stride,
                                        int64_t nrows, const void *ap) {
    const uint8_t *w = wp;
    const kern_block_q8_0 *a = ap;
    const int64_t nb = n / KERN_QK, np = nb / 2;
    if (nrows >= KERN_ROWS_STREAM_Q8) {
        for (int64_t r = 0; r < nrows; r++)
            kern_vec_dot_q8_0_q8_0_avx512(n, &s[r], w + (size_t)r * w_stride, a);
        return;
    }
    __m512i pa[KERN_ROWS_CHUNK];
    __m512 pda[KERN_ROWS_CHUNK];
    for (int64_t r = 0; r < nrows; r++)
        s[r] = 0.f;
    for (int64_t p0 = 0; p0 < np; p0 += KERN_ROWS_CHUNK) {
        const int64_t cn = np - p0 < KERN_ROWS_CHUNK ? np - p0 : KERN_ROWS_CHUNK;
        prep_q8_0(a + 2 * p0, cn, pa, pda);
        for (int64_t r = 0; r < nrows; r++) {
            const uint8_t *row = w + (size_t)r * w_stride + (size_t)p0 * 68;
            __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
            int64_t p = 0;
            for (; p + 2 <= cn; p += 2) {
                acc0 = q8_0_pair(row + (size_t)p * 68, pa[p], pda[p], acc0);
                acc1 = q8_0_pair(row + (size_t)p * 68 + 68, pa[p + 1], pda[p + 1], acc1);
            }
            if (p < cn) acc0 = q8_0_pair(row + (size_t)p * 68, pa[p], pda[p], acc0);
            s[r] += _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
        }
    }
    if (nb & 1)
        for (int64_t r = 0; r < nrows; r++) {
            float t;
            kern_vec_dot_q8_0_q8_0_avx2(KERN_QK, &t,
                                        w + (size_t)r * w_stride +
                                            (size_t)(nb - 1) * sizeof(kern_block_q8_0),
                                        a + nb - 1);
            s[r] += t;
        }
}
