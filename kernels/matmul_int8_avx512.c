/* AVX-512 VNNI kernels of the integer matmul path (layout and exactness in
 * matmul_internal.h): bit-identical to kern_int8_pack_panel_ref and
 * kern_int8_panel_gemm_ref.
 *
 * Micro-tile: 16 weight rows (one zmm of int32 lanes) x KERN_PANEL_MR = 4 activation rows.
 * Per 32-element block: 8 weight loads, each used by 4 vpdpbusd whose activation operand
 * is a 4-byte broadcast from memory, then per activation row one convert, one multiply
 * (dw * da) and one FMA: 32 vpdpbusd (2048 MACs) against 12 float ops. */
#include "kernels/matmul_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/quant.h"

/* 32 signed levels of one Q8_0/Q4_0 block; *d receives the f16 scale bits. */
static inline __m256i block_levels(rw_dtype t, const char *blk, uint16_t *d) {
    memcpy(d, blk, 2);
    if (t == RW_DTYPE_Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m128i v = _mm_loadu_si128((const __m128i *)(blk + 2));
    __m256i q =
        _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
}

void kern_int8_pack_panel_avx512(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                                 void *panel) {
    const int64_t nb = K / 32;
    const size_t bsz = t == RW_DTYPE_Q8_0 ? sizeof(kern_block_q8_0) : sizeof(kern_block_q4_0);
    /* rows r (lanes 0-7 of zmm r/2 for even r, 8-15 for odd) -> w[g][r]: gather column g */
    const __m512i col = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104,
                                          112, 120);
    const __m512i ones128 = _mm512_set1_epi8((char)0x80);
    _Alignas(64) int32_t tmp[16 * 8];
    _Alignas(64) uint16_t dh[16];
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *rec = (uint8_t *)panel + (size_t)b * KERN_PANEL_BLOCK_BYTES;
        for (int r = 0; r < 16; r++) {
            __m256i q = _mm256_setzero_si256();
            dh[r] = 0;
            if (r < nr)
                q = block_levels(t, (const char *)W + (size_t)r * row_bytes + (size_t)b * bsz,
                                 &dh[r]);
            _mm256_store_si256((__m256i *)(tmp + 8 * r), q);
        }
        __m512i corr = _mm512_setzero_si512();
        for (int g = 0; g < 8; g++) {
            __m512i wg = _mm512_i32gather_epi32(_mm512_add_epi32(col, _mm512_set1_epi32(g)), tmp, 4);
            _mm512_store_si512((void *)(rec + 64 * g), wg);
            corr = _mm512_dpbusd_epi32(corr, ones128, wg);
        }
        _mm512_store_ps((float *)(rec + 512), _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)dh)));
        _mm512_store_si512((void *)(rec + 576), _mm512_sub_epi32(_mm512_setzero_si512(), corr));
    }
}

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline void store_row(float *y, __m512 v, __mmask16 mask, bool accumulate) {
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), v);
    _mm512_mask_storeu_ps(y, mask, v);
}

void kern_int8_panel_gemm_avx512(const void *panel, int64_t K, const uint8_t *au,
                                 const float *da, int64_t M, float *Y, int64_t ldy, int nr,
                                 bool accumulate) {
    const int64_t nb = K / 32;
    const size_t ks = (size_t)K;
    const __mmask16 mask = (__mmask16)((1u << nr) - 1u);
    const uint8_t *pn = panel;
    int64_t m = 0;
    for (; m + 4 <= M; m += 4) {
        const uint8_t *a0 = au + (size_t)m * ks, *a1 = a0 + ks, *a2 = a1 + ks, *a3 = a2 + ks;
        const float *d0 = da + m * nb, *d1 = d0 + nb, *d2 = d1 + nb, *d3 = d2 + nb;
        __m512 f0 = _mm512_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *rec = pn + (size_t)b * KERN_PANEL_BLOCK_BYTES;
            const size_t o = (size_t)b * 32;
            __m512i c = _mm512_load_si512((const void *)(rec + 576));
            __m512i i0 = c, i1 = c, i2 = c, i3 = c;
            for (int g = 0; g < 8; g++) {
                __m512i w = _mm512_load_si512((const void *)(rec + 64 * g));
                i0 = _mm512_dpbusd_epi32(i0, bcast4(a0 + o + 4 * (size_t)g), w);
                i1 = _mm512_dpbusd_epi32(i1, bcast4(a1 + o + 4 * (size_t)g), w);
                i2 = _mm512_dpbusd_epi32(i2, bcast4(a2 + o + 4 * (size_t)g), w);
                i3 = _mm512_dpbusd_epi32(i3, bcast4(a3 + o + 4 * (size_t)g), w);
            }
            __m512 dw = _mm512_load_ps((const float *)(rec + 512));
            f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_mul_ps(dw, _mm512_set1_ps(d0[b])), f0);
            f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1), _mm512_mul_ps(dw, _mm512_set1_ps(d1[b])), f1);
            f2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i2), _mm512_mul_ps(dw, _mm512_set1_ps(d2[b])), f2);
            f3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i3), _mm512_mul_ps(dw, _mm512_set1_ps(d3[b])), f3);
        }
        store_row(Y + m * ldy, f0, mask, accumulate);
        store_row(Y + (m + 1) * ldy, f1, mask, accumulate);
        store_row(Y + (m + 2) * ldy, f2, mask, accumulate);
        store_row(Y + (m + 3) * ldy, f3, mask, accumulate);
    }
    for (; m < M; m++) {
        const uint8_t *a0 = au + (size_t)m * ks;
        const float *d0 = da + m * nb;
        __m512 f0 = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *rec = pn + (size_t)b * KERN_PANEL_BLOCK_BYTES;
            __m512i i0 = _mm512_load_si512((const void *)(rec + 576));
            for (int g = 0; g < 8; g++)
                i0 = _mm512_dpbusd_epi32(i0, bcast4(a0 + (size_t)b * 32 + 4 * (size_t)g),
                                         _mm512_load_si512((const void *)(rec + 64 * g)));
            __m512 dw = _mm512_load_ps((const float *)(rec + 512));
            f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0), _mm512_mul_ps(dw, _mm512_set1_ps(d0[b])), f0);
        }
        store_row(Y + m * ldy, f0, mask, accumulate);
    }
}

/* One activation row: Q8_0 quantization exactly as kern_quantize_row_q8_0_ref (amax of
 * |x|, d = amax / 127 rounded to f16, q = round-half-away(x * (1/d)) clamped to +-127),
 * stored as u8 levels q + 128 and the decoded f16 scale. Finite input required. */
void kern_int8_quantize_act_avx512(const float *x, uint8_t *au, float *da, int64_t K) {
    const __m512 lim = _mm512_set1_ps(127.f), half = _mm512_set1_ps(0.5f);
    const __m512 signbit = _mm512_set1_ps(-0.f);
    for (int64_t b = 0; b < K / 32; b++, x += 32) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(
            _mm512_max_ps(_mm512_andnot_ps(signbit, v0), _mm512_andnot_ps(signbit, v1)));
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        da[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        __m512 vid = _mm512_set1_ps(id);
        __m512i q[2];
        for (int h = 0; h < 2; h++) {
            __m512 v = _mm512_mul_ps(h ? v1 : v0, vid);
            v = _mm512_max_ps(_mm512_min_ps(v, lim), _mm512_sub_ps(_mm512_setzero_ps(), lim));
            __m512 a = _mm512_andnot_ps(signbit, v);
            __m512 t = _mm512_roundscale_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            __mmask16 up = _mm512_cmp_ps_mask(_mm512_sub_ps(a, t), half, _CMP_GE_OQ);
            t = _mm512_mask_add_ps(t, up, t, _mm512_set1_ps(1.f));
            t = _mm512_or_ps(t, _mm512_and_ps(v, signbit));
            q[h] = _mm512_add_epi32(_mm512_cvttps_epi32(t), _mm512_set1_epi32(128));
        }
        _mm_storeu_si128((__m128i *)(au + 32 * b), _mm512_cvtepi32_epi8(q[0]));
        _mm_storeu_si128((__m128i *)(au + 32 * b + 16), _mm512_cvtepi32_epi8(q[1]));
    }
}
