/* AVX-512 VNNI kernels of the integer matmul path (layout, kinds and exactness in
 * matmul_internal.h): bit-identical to the _ref functions in matmul_int8.c.
 *
 * Micro-tile: 16 weight rows (one zmm of int32 lanes) x KERN_PANEL_MR = 4 activation rows.
 * Per 32-element block: 8 weight loads, each used by 4 vpdpbusd whose activation operand
 * is a 4-byte broadcast, then per activation row one convert, one multiply (s0 * da) and
 * one FMA (ONE); MIN adds one FMA with the activation block sum, HALVES a second
 * convert/multiply/FMA: 32 vpdpbusd (2048 MACs) against 12-24 float ops.
 * Packing unpacks one weight block per row into a 16-row byte tile, then gathers its
 * 4-byte columns (vpgatherdd) into the [g][row] layout. */
#include "kernels/matmul_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/quant.h"

/* ---- packing ---- */

/* Levels and per-32 scales of one weight block of one row (as block_levels in
 * matmul_int8.c): the 32 levels of sub-block j go to lv + 512 * j (the byte tile keeps
 * each sub-block's 16 rows in 512 contiguous bytes). Returns the number of sub-blocks. */
static inline int block_levels(rw_dtype t, const char *blk, int8_t *lv, float s0[8], float x1[8]) {
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
    const __m256i m2 = _mm256_set1_epi8(0x30), off = _mm256_set1_epi8(32);
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        __m256i l0 = _mm256_loadu_si256((const __m256i *)ql),
                l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
        __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
        __m256i g0 = _mm256_or_si256(_mm256_and_si256(l0, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
        __m256i g1 = _mm256_or_si256(_mm256_and_si256(l1, m4),
                                     _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
        __m256i g2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                     _mm256_and_si256(hb, m2));
        __m256i g3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                     _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
        int8_t *o = lv + 512 * (4 * h);
        _mm256_store_si256((__m256i *)o, _mm256_sub_epi8(g0, off));
        _mm256_store_si256((__m256i *)(o + 512), _mm256_sub_epi8(g1, off));
        _mm256_store_si256((__m256i *)(o + 1024), _mm256_sub_epi8(g2, off));
        _mm256_store_si256((__m256i *)(o + 1536), _mm256_sub_epi8(g3, off));
    }
    return 8;
}

void kern_int8_pack_panel_avx512(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                                 void *panel) {
    const kern_type_traits *tt = kern_type_get(t);
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    const int64_t bs = tt->block_size, nsb = K / bs;
    const int nsub = (int)(bs / 32);
    /* byte tile: sub-block j, row r at byte 512 j + 32 r; column g of it is int32
     * 128 j + 8 r + g */
    const __m512i rows = _mm512_setr_epi32(0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96,
                                           104, 112, 120);
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    _Alignas(64) int8_t lv[8 * 512];
    _Alignas(64) float s0[8][16], x1[8][16];
    memset(lv, 0, sizeof lv);
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int r = 0; r < nr; r++) {
            float rs0[8], rx1[8];
            block_levels(t, (const char *)W + (size_t)r * row_bytes + (size_t)sb * tt->type_size,
                         lv + 32 * r, rs0, rx1);
            for (int j = 0; j < nsub; j++) {
                s0[j][r] = rs0[j];
                x1[j][r] = rx1[j];
            }
        }
        for (int r = nr; r < 16; r++) /* missing rows: zero levels (lv) and scales */
            for (int j = 0; j < nsub; j++)
                s0[j][r] = x1[j][r] = 0;
        for (int j = 0; j < nsub; j++) {
            uint8_t *rec = (uint8_t *)panel + (size_t)(sb * nsub + j) * rec_bytes;
            __m512i c0 = _mm512_setzero_si512(), c1 = c0;
            for (int g = 0; g < 8; g++) {
                __m512i wg = _mm512_i32gather_epi32(
                    _mm512_add_epi32(rows, _mm512_set1_epi32(128 * j + g)), lv, 4);
                _mm512_store_si512((void *)(rec + 64 * g), wg);
                if (kind == KERN_I8_HALVES && g >= 4)
                    c1 = _mm512_dpbusd_epi32(c1, u128, wg);
                else
                    c0 = _mm512_dpbusd_epi32(c0, u128, wg);
            }
            _mm512_store_ps((float *)(rec + 512), _mm512_load_ps(s0[j]));
            _mm512_store_si512((void *)(rec + 576), _mm512_sub_epi32(_mm512_setzero_si512(), c0));
            if (kind != KERN_I8_ONE) _mm512_store_ps((float *)(rec + 640), _mm512_load_ps(x1[j]));
            if (kind == KERN_I8_HALVES)
                _mm512_store_si512((void *)(rec + 704), _mm512_sub_epi32(_mm512_setzero_si512(), c1));
        }
    }
}

/* ---- activations ---- */

/* One activation row: Q8_0 quantization exactly as kern_quantize_row_q8_0_ref (amax of
 * |x|, d = amax / 127 rounded to f16, q = round-half-away(x * (1/d)) clamped to +-127),
 * stored as u8 levels q + 128, the decoded f16 scale and da * sum q. Finite input. */
void kern_int8_quantize_act_avx512(const float *x, uint8_t *au, float *da, float *sa, int64_t K) {
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
            q[h] = _mm512_cvttps_epi32(t);
        }
        sa[b] = da[b] * (float)_mm512_reduce_add_epi32(_mm512_add_epi32(q[0], q[1]));
        const __m512i off = _mm512_set1_epi32(128);
        _mm_storeu_si128((__m128i *)(au + 32 * b), _mm512_cvtepi32_epi8(_mm512_add_epi32(q[0], off)));
        _mm_storeu_si128((__m128i *)(au + 32 * b + 16),
                         _mm512_cvtepi32_epi8(_mm512_add_epi32(q[1], off)));
    }
}

/* ---- micro-kernel ---- */

static inline __m512i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline void store_row(float *y, __m512 v, __mmask16 mask, bool accumulate) {
    if (accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, y), v);
    _mm512_mask_storeu_ps(y, mask, v);
}

/* R activation rows (1..4) against one panel; kind is a constant after inlining. */
static inline __attribute__((always_inline)) void tile(kern_i8_kind kind, const uint8_t *pn,
                                                      int64_t nb, const uint8_t *a[4],
                                                      const float *d[4], const float *s[4],
                                                      int R, __m512 f[4]) {
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        f[i] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *rec = pn + (size_t)b * rec_bytes;
        const size_t o = (size_t)b * 32;
        __m512i c0 = _mm512_load_si512((const void *)(rec + 576));
        __m512i i0[4], i1[4];
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++)
            i0[i] = c0;
        #pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m512i w = _mm512_load_si512((const void *)(rec + 64 * g));
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                i0[i] = _mm512_dpbusd_epi32(i0[i], bcast4(a[i] + o + 4 * (size_t)g), w);
        }
        if (kind == KERN_I8_HALVES) {
            __m512i c1 = _mm512_load_si512((const void *)(rec + 704));
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                i1[i] = c1;
        } else {
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                i1[i] = i0[i];
        }
        #pragma GCC unroll 4
        for (int g = 4; g < 8; g++) {
            __m512i w = _mm512_load_si512((const void *)(rec + 64 * g));
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                i1[i] = _mm512_dpbusd_epi32(i1[i], bcast4(a[i] + o + 4 * (size_t)g), w);
        }
        __m512 s0 = _mm512_load_ps((const float *)(rec + 512));
        if (kind == KERN_I8_ONE) {
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++)
                f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[i]),
                                       _mm512_mul_ps(s0, _mm512_set1_ps(d[i][b])), f[i]);
        } else if (kind == KERN_I8_MIN) {
            __m512 x1 = _mm512_load_ps((const float *)(rec + 640));
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[i]),
                                       _mm512_mul_ps(s0, _mm512_set1_ps(d[i][b])), f[i]);
                f[i] = _mm512_fnmadd_ps(x1, _mm512_set1_ps(s[i][b]), f[i]);
            }
        } else {
            __m512 x1 = _mm512_load_ps((const float *)(rec + 640));
            #pragma GCC unroll 4
            for (int i = 0; i < R; i++) {
                __m512 dd = _mm512_set1_ps(d[i][b]);
                f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[i]), _mm512_mul_ps(s0, dd), f[i]);
                f[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[i]), _mm512_mul_ps(x1, dd), f[i]);
            }
        }
    }
}

static inline __attribute__((always_inline)) void panel_gemm(kern_i8_kind kind, const void *panel,
                                                            int64_t K, const uint8_t *au,
                                                            const float *da, const float *sa,
                                                            int64_t M, float *Y, int64_t ldy,
                                                            int nr, bool accumulate) {
    const int64_t nb = K / 32;
    const __mmask16 mask = (__mmask16)((1u << nr) - 1u);
    int64_t m = 0;
    for (; m < M; m += KERN_PANEL_MR) {
        const int R = M - m < KERN_PANEL_MR ? (int)(M - m) : KERN_PANEL_MR;
        const uint8_t *a[4];
        const float *d[4], *s[4];
        __m512 f[4];
        for (int i = 0; i < 4; i++) {
            int64_t mi = m + (i < R ? i : 0);
            a[i] = au + (size_t)mi * (size_t)K;
            d[i] = da + mi * nb;
            s[i] = sa + mi * nb;
        }
        if (R == 4)
            tile(kind, panel, nb, a, d, s, 4, f);
        else
            tile(kind, panel, nb, a, d, s, R, f);
        for (int i = 0; i < R; i++)
            store_row(Y + (m + i) * ldy, f[i], mask, accumulate);
    }
}

void kern_int8_panel_gemm_avx512(kern_i8_kind kind, const void *panel, int64_t K,
                                 const uint8_t *au, const float *da, const float *sa, int64_t M,
                                 float *Y, int64_t ldy, int nr, bool accumulate) {
    if (kind == KERN_I8_ONE)
        panel_gemm(KERN_I8_ONE, panel, K, au, da, sa, M, Y, ldy, nr, accumulate);
    else if (kind == KERN_I8_MIN)
        panel_gemm(KERN_I8_MIN, panel, K, au, da, sa, M, Y, ldy, nr, accumulate);
    else
        panel_gemm(KERN_I8_HALVES, panel, K, au, da, sa, M, Y, ldy, nr, accumulate);
}
