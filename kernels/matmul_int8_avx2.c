/* AVX2 kernels of the integer matmul path (layout, kinds and exactness in
 * matmul_internal.h): bit-identical to the _ref functions in matmul_int8.c, for CPUs
 * without AVX-512 VNNI. Panel layout, activation format and float steps are those of the
 * AVX-512 kernel; only the int8 block dot changes form (matmul_int8_avx2_tile.h):
 *
 *   maddubs  AVX2: vpmaddubsw (u8 x s8 -> s16 pairs, saturating) then vpmaddwd with ones
 *            (-> s32). Exact because no int16 lane can saturate. Activations are Q8_0
 *            levels q in [-127, 127] (kern_quantize_row_q8_0_ref clamps to +-127), stored
 *            as u8 a = q + 128 in [1, 255]. A lane sums 2 products per 4-byte group, and G
 *            groups are added in int16 before the vpmaddwd:
 *              Q4_0  levels [-8, 7]:   2 G 255 8  <= 32640 for G = 8 (a whole block)
 *              Q4_K  levels [0, 15]:   2 G 255 15 <= 30600 for G = 4
 *              Q6_K  levels [-32, 31]: 2 G 255 32 <= 32640 for G = 2
 *            (the u8 a times the level; c0 = -128 sum(level) removes the +128 as in the
 *            VNNI kernels). Q8_0 levels span [-128, 127] (any byte of a file), where
 *            255 x 128 would saturate, so Q8_0 uses the sign trick on signed activations
 *            q = a ^ 0x80: vpmaddubsw(|w|, sign(q, w)) with |w| <= 128 as u8 and
 *            |sign(q, w)| <= 127, so a pair is at most 2 x 128 x 127 = 32512, widened
 *            after every group; the sum is then sum q w directly (c0 is not used).
 *   avxvnni  AVX-VNNI (VEX vpdpbusd ymm, Alder Lake and later, Zen 5): u8 a x s8 level
 *            summed into int32 from c0, as the AVX-512 kernel with half the width.
 *   evex     the same vpdpbusd ymm in its AVX-512 VNNI + VL encoding: identical
 *            arithmetic, so tests can run the VNNI instance on AVX-512 VNNI machines
 *            that lack AVX-VNNI; the driver never picks it.
 * Packing transposes each sub-block's 16 rows x 8 int32 columns as two 8x8 int32
 * transposes (unpack/permute2x128); activations are quantized exactly as
 * kern_quantize_row_q8_0_ref. */
#include "kernels/matmul_internal.h"

#include <immintrin.h>
#include <string.h>

#include "kernels/matmul_int8_levels.h"
#include "kernels/quant.h"

/* ---- packing ---- */

/* In place: r[g] becomes column g (int32 lanes) of the 8 rows r[0..7]. */
static inline void transpose8x8_epi32(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_epi32(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_epi32(r[2 * k], r[2 * k + 1]);
    }
    /* u[4 q + c]: columns c and c + 4 of rows 4q..4q+3 */
    for (int q = 0; q < 2; q++) {
        u[4 * q + 0] = _mm256_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm256_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm256_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm256_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2x128_si256(u[c], u[4 + c], 0x31);
    }
}

void kern_int8_pack_panel_avx2(rw_dtype t, const void *W, size_t row_bytes, int nr, int64_t K,
                               void *panel) {
    const kern_type_traits *tt = kern_type_get(t);
    const kern_i8_kind kind = kern_i8_kind_of(t);
    const size_t rec_bytes = kern_i8_record_bytes(kind);
    const int64_t bs = tt->block_size, nsb = K / bs;
    const int nsub = (int)(bs / 32);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    /* byte tile: sub-block j, row r at byte 512 j + 32 r; rows >= nr stay zero */
    _Alignas(32) int8_t lv[8 * 512];
    _Alignas(32) float s0[8][16], x1[8][16];
    memset(lv, 0, sizeof lv);
    for (int64_t sb = 0; sb < nsb; sb++) {
        for (int r = 0; r < nr; r++) {
            float rs0[8], rx1[8];
            kern_i8_block_levels(
                t, (const char *)W + (size_t)r * row_bytes + (size_t)sb * tt->type_size,
                lv + 32 * r, rs0, rx1);
            for (int j = 0; j < nsub; j++) {
                s0[j][r] = rs0[j];
                x1[j][r] = rx1[j];
            }
        }
        for (int r = nr; r < 16; r++)
            for (int j = 0; j < nsub; j++)
                s0[j][r] = x1[j][r] = 0;
        for (int j = 0; j < nsub; j++) {
            uint8_t *rec = (uint8_t *)panel + (size_t)(sb * nsub + j) * rec_bytes;
            const int8_t *tj = lv + 512 * j;
            for (int h = 0; h < 2; h++) {
                __m256i v[8];
                for (int k = 0; k < 8; k++)
                    v[k] =
                        _mm256_load_si256((const __m256i *)(const void *)(tj + 32 * (8 * h + k)));
                transpose8x8_epi32(v);
                __m256i sum0 = _mm256_setzero_si256(), sum1 = sum0;
                for (int g = 0; g < 8; g++) {
                    _mm256_store_si256((__m256i *)(void *)(rec + 64 * g + 32 * h), v[g]);
                    /* level sum of the 4 bytes of each row: |pair| <= 256 */
                    __m256i s4 = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, v[g]), ones16);
                    if (kind == KERN_I8_HALVES && g >= 4)
                        sum1 = _mm256_add_epi32(sum1, s4);
                    else
                        sum0 = _mm256_add_epi32(sum0, s4);
                }
                /* c = -128 sum (|sum| <= 4096) */
                _mm256_store_si256(
                    (__m256i *)(void *)(rec + 576 + 32 * h),
                    _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum0, 7)));
                if (kind == KERN_I8_HALVES)
                    _mm256_store_si256(
                        (__m256i *)(void *)(rec + 704 + 32 * h),
                        _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sum1, 7)));
            }
            memcpy(rec + 512, s0[j], 64);
            if (kind != KERN_I8_ONE) memcpy(rec + 640, x1[j], 64);
        }
    }
}

/* ---- activations ---- */

/* One activation row: Q8_0 exactly as kern_quantize_row_q8_0_ref (amax of |x|, d = amax /
 * 127 rounded to f16, q = round-half-away(x * (1/d)) clamped to +-127), stored as u8
 * q + 128, the decoded f16 scale and da * sum q. Finite input. */
void kern_int8_quantize_act_avx2(const float *x, uint8_t *au, float *da, float *sa, int64_t K) {
    const __m256 lim = _mm256_set1_ps(127.f), nlim = _mm256_set1_ps(-127.f);
    const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.f);
    const __m256 signbit = _mm256_set1_ps(-0.f);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (int64_t b = 0; b < K / 32; b++, x += 32) {
        __m256 v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm256_loadu_ps(x + 8 * k);
        __m256 m = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(signbit, v[0]), _mm256_andnot_ps(signbit, v[1])),
            _mm256_max_ps(_mm256_andnot_ps(signbit, v[2]), _mm256_andnot_ps(signbit, v[3])));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 0x55));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127;
        const float id = d != 0.f ? 1.0f / d : 0.0f;
        da[b] = _cvtsh_ss(_cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT));
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 y = _mm256_mul_ps(v[k], vid);
            y = _mm256_max_ps(_mm256_min_ps(y, lim), nlim);
            const __m256 a = _mm256_andnot_ps(signbit, y);
            __m256 tr = _mm256_round_ps(a, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
            const __m256 up = _mm256_cmp_ps(_mm256_sub_ps(a, tr), half, _CMP_GE_OQ);
            tr = _mm256_add_ps(tr, _mm256_and_ps(up, one));
            tr = _mm256_or_ps(tr, _mm256_and_ps(y, signbit));
            q[k] = _mm256_cvttps_epi32(tr);
        }
        __m256i s8 = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
        sa[b] = da[b] * (float)_mm_cvtsi128_si32(s4);
        /* int32 -> int8 (no saturation: |q| <= 127), back in element order, then +128 */
        __m256i p =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        p = _mm256_permutevar8x32_epi32(p, order);
        _mm256_storeu_si256((__m256i *)(void *)(au + 32 * b),
                            _mm256_xor_si256(p, _mm256_set1_epi8((char)0x80)));
    }
}

/* ---- micro-kernels ---- */

/* Blocks per K chunk (as the AVX-512 kernel): the panel slice (32 x 640..768 bytes) and
 * the activation rows of a tile stay in L1 while the batch passes; the f32 accumulators
 * go through accbuf (M x 16 floats) between chunks, which changes no rounding. */
enum { KCHUNK_BLOCKS = 32 };

/* Aligned loads from a panel record. */
static inline __m256i load_i(const uint8_t *p) {
    return _mm256_load_si256((const __m256i *)(const void *)p);
}

static inline __m256 load_f(const uint8_t *p) {
    return _mm256_load_ps((const float *)(const void *)p);
}

static inline __m256i bcast4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Output row y[0..nr) (=|+=) the two halves f[0] (rows 0-7), f[1] (rows 8-15). */
static inline void store_rows(float *y, const __m256 f[2], int nr, bool accumulate) {
    if (nr == 16) {
        __m256 v0 = f[0], v1 = f[1];
        if (accumulate) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(y), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(y + 8), v1);
        }
        _mm256_storeu_ps(y, v0);
        _mm256_storeu_ps(y + 8, v1);
        return;
    }
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int h = 0; h < 2; h++) {
        if (8 * h >= nr) break;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nr - 8 * h), lane);
        __m256 v = f[h];
        if (accumulate) v = _mm256_add_ps(_mm256_maskload_ps(y + 8 * h, mask), v);
        _mm256_maskstore_ps(y + 8 * h, mask, v);
    }
}

#define I8_RMAX 3
#define I8_VNNI 0
#define I8_NAME(x) x##_maddubs
#define I8_TARGET
#include "kernels/matmul_int8_avx2_tile.h"
#undef I8_VNNI
#undef I8_NAME
#undef I8_TARGET

#define I8_VNNI 1
#define I8_NAME(x) x##_avxvnni
#define I8_TARGET __attribute__((target("avxvnni")))
#define I8_DPBUSD _mm256_dpbusd_avx_epi32
#include "kernels/matmul_int8_avx2_tile.h"
#undef I8_NAME
#undef I8_TARGET
#undef I8_DPBUSD

#define I8_NAME(x) x##_evex
#define I8_TARGET __attribute__((target("avx512f,avx512vl,avx512vnni")))
#define I8_DPBUSD _mm256_dpbusd_epi32
#include "kernels/matmul_int8_avx2_tile.h"
#undef I8_NAME
#undef I8_TARGET
#undef I8_DPBUSD
#undef I8_VNNI
#undef I8_RMAX

void kern_int8_panel_gemm_avx2(rw_dtype t, kern_i8_dot dot, const void *panel, int64_t K,
                               const uint8_t *au, const float *da, const float *sa, int64_t M,
                               float *Y, int64_t ldy, int nr, bool accumulate, float *accbuf) {
    if (dot == KERN_I8_DOT_AVXVNNI)
        panel_gemm_type_avxvnni(t, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else if (dot == KERN_I8_DOT_VNNI_EVEX)
        panel_gemm_type_evex(t, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
    else
        panel_gemm_type_maddubs(t, panel, K, au, da, sa, M, Y, ldy, nr, accumulate, accbuf);
}
