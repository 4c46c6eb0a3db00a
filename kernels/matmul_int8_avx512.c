/* AVX-512 VNNI kernels of the integer matmul path (layout, kinds and exactness in
 * matmul_internal.h): bit-identical to the _ref functions in matmul_int8.c.
 *
 * Micro-tile: 16 weight rows (one zmm of int32 lanes) x KERN_PANEL_MR = 4 activation rows,
 * over K chunks of KCHUNK_BLOCKS blocks (L1-resident panel slice).
 * Per 32-element block: 8 weight loads, each used by 4 vpdpbusd whose activation operand
 * is a 4-byte broadcast, then per activation row one convert, one multiply (s0 * da) and
 * one FMA (ONE); MIN adds one FMA with the activation block sum, HALVES a second
 * convert/multiply/FMA: 32 vpdpbusd (2048 MACs) against 12-24 float ops.
 * Packing unpacks one weight block per row into a 16-row byte tile, then transposes its
 * 4-byte columns into the [g][row] layout with vpermt2d. */
#include "kernels/matmul_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/matmul_int8_levels.h"
#include "kernels/quant.h"

/* ---- packing ---- */

void kern_int8_pack_panel_avx512(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                                 void *panel) {
    const kern_type_traits *tt = kern_type_get(t);
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    const int64_t bs = tt->block_size, nsb = K / bs;
    const int nsub = (int)(bs / 32);
    /* byte tile: sub-block j, row r at byte 512 j + 32 r. The [g][row] transpose of a
     * sub-block's 16 rows x 8 int32 columns runs in registers (24 vpermt2d; gathers from
     * the freshly stored tile stalled on store forwarding):
     *   z[k]      rows 2k, 2k+1: lane 8 (r % 2) + g
     *   A[k][h]   rows 4k..4k+3, columns 4h..4h+3: lane 4 (g % 4) + r % 4
     *   B[p][h][q] rows 8p..8p+7, columns 4h+2q, +1: lane 8 (g % 2) + r % 8
     *   out[g]    rows 0..15 of column g: lane r */
    _Alignas(64) int32_t i1[2][16], i2[2][16], i3[2][16];
    for (int l = 0; l < 16; l++)
        for (int h = 0; h < 2; h++) {
            int g = 4 * h + l / 4, rr = l % 4; /* A[k][h] lane l */
            i1[h][l] = rr < 2 ? rr * 8 + g : 16 + (rr - 2) * 8 + g;
            int gg = l / 8, r8 = l % 8; /* B[p][h][q] lane l, q = h here */
            int col = 2 * h + gg;        /* column within A's 4 */
            i2[h][l] = (r8 < 4 ? 0 : 16) + col * 4 + r8 % 4;
            int r = l; /* out lane r, gg = h */
            i3[h][l] = (r < 8 ? 0 : 16) + h * 8 + r % 8;
        }
    const __m512i u128 = _mm512_set1_epi8((char)0x80);
    _Alignas(64) int8_t lv[8 * 512];
    _Alignas(64) float s0[8][16], x1[8][16];
    memset(lv, 0, sizeof lv);
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int r = 0; r < nr; r++) {
            float rs0[8], rx1[8];
            kern_i8_block_levels(t,
                                 (const char *)W + (size_t)r * row_bytes +
                                     (size_t)sb * tt->type_size,
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
            const int8_t *tj = lv + 512 * j;
            __m512i z[8], A[4][2], B[2][2][2];
            for (int k = 0; k < 8; k++)
                z[k] = _mm512_load_si512((const void *)(tj + 64 * k));
            for (int k = 0; k < 4; k++)
                for (int h = 0; h < 2; h++)
                    A[k][h] = _mm512_permutex2var_epi32(z[2 * k], _mm512_load_si512(i1[h]),
                                                        z[2 * k + 1]);
            for (int pp = 0; pp < 2; pp++)
                for (int h = 0; h < 2; h++)
                    for (int q = 0; q < 2; q++)
                        B[pp][h][q] = _mm512_permutex2var_epi32(A[2 * pp][h], _mm512_load_si512(i2[q]),
                                                                A[2 * pp + 1][h]);
            __m512i c0 = _mm512_setzero_si512(), c1 = c0;
            for (int g = 0; g < 8; g++) {
                int h = g / 4, q = (g % 4) / 2, gg = g % 2;
                __m512i wg = _mm512_permutex2var_epi32(B[0][h][q], _mm512_load_si512(i3[gg]),
                                                       B[1][h][q]);
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

/* R activation rows (1..4) against nb blocks of one panel, accumulating into f (the
 * pointers start at the first block of the range); kind is a constant after inlining. */
static inline __attribute__((always_inline)) void tile(kern_i8_kind kind, const uint8_t *pn,
                                                      int64_t nb, const uint8_t *a[4],
                                                      const float *d[4], const float *s[4],
                                                      int R, __m512 f[4]) {
    const size_t rec_bytes = kern_i8_record_bytes(kind);
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

/* Blocks per K chunk: the panel slice (32 x 640..768 bytes) and 4 activation rows (4 x
 * 1 KiB) stay in L1 while every activation row of the batch passes; the f32 accumulators
 * go through accbuf (M x 16 floats) between chunks, which does not change any rounding. */
enum { KCHUNK_BLOCKS = 32 };

static inline __attribute__((always_inline)) void panel_gemm(kern_i8_kind kind, const void *panel,
                                                            int64_t K, const uint8_t *au,
                                                            const float *da, const float *sa,
                                                            int64_t M, float *Y, int64_t ldy,
                                                            int nr, bool accumulate, float *accbuf) {
    const int64_t nb = K / 32;
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    const __mmask16 mask = (__mmask16)((1u << nr) - 1u);
    for (int64_t b0 = 0; b0 < nb; b0 += KCHUNK_BLOCKS) {
        const int64_t nc = nb - b0 < KCHUNK_BLOCKS ? nb - b0 : KCHUNK_BLOCKS;
        const bool first = b0 == 0, last = b0 + nc == nb;
        const uint8_t *pn = (const uint8_t *)panel + (size_t)b0 * rec_bytes;
        for (int64_t m = 0; m < M; m += KERN_PANEL_MR) {
            const int R = M - m < KERN_PANEL_MR ? (int)(M - m) : KERN_PANEL_MR;
            const uint8_t *a[4];
            const float *d[4], *s[4];
            __m512 f[4];
            for (int i = 0; i < 4; i++) {
                int64_t mi = m + (i < R ? i : 0);
                a[i] = au + (size_t)mi * (size_t)K + (size_t)b0 * 32;
                d[i] = da + mi * nb + b0;
                s[i] = sa + mi * nb + b0;
                f[i] = first ? _mm512_setzero_ps() : _mm512_load_ps(accbuf + 16 * mi);
            }
            if (R == 4)
                tile(kind, pn, nc, a, d, s, 4, f);
            else
                tile(kind, pn, nc, a, d, s, R, f);
            for (int i = 0; i < R; i++) {
                if (last)
                    store_row(Y + (m + i) * ldy, f[i], mask, accumulate);
                else
                    _mm512_store_ps(accbuf + 16 * (m + i), f[i]);
            }
        }
    }
}

void kern_int8_panel_gemm_avx512(kern_i8_kind kind, const void *panel, int64_t K,
                                 const uint8_t *au, const float *da, const float *sa, int64_t M,
                                 float *Y, int64_t ldy, int nr, bool accumulate, float *accbuf) {
    if (kind == KERN_I8_ONE)
        panel_gemm(KERN_I8_ONE, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else if (kind == KERN_I8_MIN)
        panel_gemm(KERN_I8_MIN, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else
        panel_gemm(KERN_I8_HALVES, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
}
