/* AVX-512 (F/BW/DQ/VL + VNNI) vec_dot_rows for Q4_K and Q6_K weights against Q8_K
 * activations: s[r] = dot(weight row r, a) for a group of rows, one pass over a.
 *
 * Rows go in groups of 4 (then a group of the 1-3 left): for each 256-element block the
 * activation vectors, the Q8_K scale and the bsums terms are loaded and arranged once and
 * used by every row of the group, and the rows' dependency chains are independent; the
 * rows two groups ahead are prefetched (see KQ_PREFETCH).
 * Per block and row the work is vector-only:
 *   Q4_K  two 64-byte loads of qs; low/high nibbles meet activations rearranged to match
 *         ([a 0-31 | a 64-95] etc.); vpmaddubsw then vpdpwssd by the 6-bit scales as int16
 *         (scales/mins unpacked from the 12 bytes with vector shifts and masks, placed with
 *         one in-lane byte shuffle per vector); the mins term m[j] * (bsums[2j] +
 *         bsums[2j+1]) is one vpmaddwd on 8 int16 lanes.
 *   Q6_K  6-bit q rebuilt from ql/qh with per-lane shifts (vpsllvw/vpsrlvw on qh broadcast
 *         to both 256-bit halves) and one vpternlogd; the "-32" offset is
 *         -32 * sum_j sc[j] * bsums[j], one vpmaddwd that seeds the block's int32 sum; the
 *         int8 scales go in as int16 through vpermw and vpdpwssd (no vpmulld).
 * Int32 sums per block are exact: Q4_K |lane| <= 4 * 2 * (2*15*128) * 63, Q6_K
 * |lane| <= 4 * 2 * (2*63*128) * 128 + 2 * 4096 * 2048, both < 2^31 for any int8
 * activations, so each block's integer total equals the scalar reference's. Each row keeps
 * an f32 accumulator vector (block sum times d*da, fused) reduced once at the end of the
 * row; the order of f32 additions differs from _ref (within 1e-5 relative).
 * Block layouts: kernels/quant.h. */
#include "kernels/quant_internal.h"
#include "kernels/quant_kquant_simd.h"

#include <immintrin.h>

enum { KQ_GROUP = 4 };

#if defined(__clang__)
#define KQ_UNROLL _Pragma("unroll")
#else
#define KQ_UNROLL _Pragma("GCC unroll 4")
#endif
#define KQ_INLINE static inline __attribute__((always_inline))

/* Rows interleaved in a group defeat the hardware stream prefetchers (each row is a short
 * stream: streamed from memory, 4 interleaved rows ran 4-10x slower than one row), so
 * while a group runs, the rows KQ_PF_GROUPS groups ahead are prefetched into L2 block by
 * block, as many bytes as the group reads. The last groups prefetch their own rows (no
 * address past the matrix is formed). */
enum { KQ_PF_GROUPS = 2 };
#define KQ_PREFETCH(p, bytes)                                                                      \
    do {                                                                                           \
        for (size_t o_ = 0; o_ < (bytes); o_ += 64)                                                \
            _mm_prefetch((const char *)(p) + o_, _MM_HINT_T1);                                     \
    } while (0)

static inline const uint8_t *next_group(const uint8_t *w, size_t stride, int64_t r, int64_t nrows) {
    return w +
           (size_t)(r + KQ_GROUP * (KQ_PF_GROUPS + 1) <= nrows ? r + KQ_GROUP * KQ_PF_GROUPS : r) *
               stride;
}

/* ---- Q4_K ---- */

/* Byte-shuffle indices that turn the scales/mins bytes (broadcast to every 128-bit lane)
 * into int16 scale vectors for the four nibble vectors of a block: vector v covers
 * sub-blocks (v & 1) + 4 * (v >> 1) in its low 256 bits and that + 2 in its high. */
static const int8_t k_q4k_sidx[4][64] = {
#define S2(j) j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1
#define L4(a, b) S2(a), S2(a), S2(b), S2(b)
    {L4(0, 2)},
    {L4(1, 3)},
    {L4(4, 6)},
    {L4(5, 7)},
#undef L4
#undef S2
};

/* One Q8_K block's activations, arranged for the Q4_K nibble vectors. */
typedef struct q4k_act {
    __m512i a[4]; /* [a 0-31 | a 64-95], [a 32-63 | a 96-127], same +128 */
    __m128i bsp;  /* int16 bsums[2j] + bsums[2j+1], j = 0..7 */
    float d;
} q4k_act;

KQ_INLINE void q4k_act_load(const kern_block_q8_k *b, q4k_act *x) {
    for (int k = 0; k < 2; k++)
        for (int hi = 0; hi < 2; hi++) {
            const int8_t *p = b->qs + 128 * k + 32 * hi;
            x->a[2 * k + hi] =
                _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                                   _mm256_loadu_si256((const __m256i *)(p + 64)), 1);
        }
    const __m128i b0 = _mm_loadu_si128((const __m128i *)b->bsums),
                  b1 = _mm_loadu_si128((const __m128i *)(b->bsums + 8));
    x->bsp = _mm_hadd_epi16(b0, b1); /* |pair| <= 32 * 128: no wrap */
    x->d = b->d;
}

/* acc += d*da * sum_j sc[j] * dot_j (16 lanes), accm += dmin*da * m[j]*bsp[j] (4 lanes). */
KQ_INLINE void q4k_block(const kern_block_q4_k *b, const q4k_act *x, const __m512i sidx[4],
                         __m512 *acc, __m128 *accm) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m128i sm = kern_k4_scales_mins(b->scales);
    const __m512i smb = _mm512_broadcast_i32x4(sm);
    const __m512i q0 = _mm512_loadu_si512((const void *)b->qs),
                  q1 = _mm512_loadu_si512((const void *)(b->qs + 64));
    const __m512i u[4] = {_mm512_and_si512(q0, m4), _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4),
                          _mm512_and_si512(q1, m4), _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4)};
    __m512i s0 =
        _mm512_madd_epi16(_mm512_maddubs_epi16(u[0], x->a[0]), _mm512_shuffle_epi8(smb, sidx[0]));
    __m512i s1 =
        _mm512_madd_epi16(_mm512_maddubs_epi16(u[1], x->a[1]), _mm512_shuffle_epi8(smb, sidx[1]));
    s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(u[2], x->a[2]),
                             _mm512_shuffle_epi8(smb, sidx[2]));
    s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(u[3], x->a[3]),
                             _mm512_shuffle_epi8(smb, sidx[3]));
    /* (d, dmin) * da */
    uint32_t ddm;
    __builtin_memcpy(&ddm, &b->d, 4);
    const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)ddm)), _mm_set1_ps(x->d));
    *acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                           *acc);
    const __m128i mm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), x->bsp);
    *accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(mm), *accm);
}

static inline float hsum128(__m128 h) {
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

KQ_INLINE void q4k_rows(const int R, int64_t nb, float *s, const uint8_t *w, size_t stride,
                        const kern_block_q8_k *a, const uint8_t *pf) {
    __m512i sidx[4];
    for (int v = 0; v < 4; v++)
        sidx[v] = _mm512_loadu_si512((const void *)k_q4k_sidx[v]);
    __m512 acc[KQ_GROUP];
    __m128 accm[KQ_GROUP];
    KQ_UNROLL for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        q4k_act x;
        q4k_act_load(&a[i], &x);
        KQ_UNROLL for (int r = 0; r < R; r++) {
            const kern_block_q4_k *b = (const kern_block_q4_k *)(w + (size_t)r * stride) + i;
            KQ_PREFETCH(pf + (size_t)r * stride + (size_t)i * sizeof *b, sizeof *b);
            q4k_block(b, &x, sidx, &acc[r], &accm[r]);
        }
    }
    KQ_UNROLL for (int r = 0; r < R; r++) {
        s[r] = _mm512_reduce_add_ps(acc[r]) - hsum128(accm[r]);
    }
}

/* Groups of KQ_GROUP rows (prefetching the rows KQ_PF_GROUPS groups ahead), then a group
 * of the 1-3 rows left; ROWS_FN(R, ...) is inlined per constant R. */
#define KQ_ROWS_ENTRY(name, ROWS_FN)                                                               \
    void name(int64_t n, float *s, const void *w, size_t w_stride, int64_t nrows, const void *a) {  \
        const int64_t nb = n / KERN_QK_K;                                                          \
        const uint8_t *wp = w;                                                                     \
        int64_t r = 0;                                                                             \
        for (; r + KQ_GROUP <= nrows; r += KQ_GROUP)                                               \
            ROWS_FN(KQ_GROUP, nb, s + r, wp + (size_t)r * w_stride, w_stride, a,                   \
                    next_group(wp, w_stride, r, nrows));                                           \
        const uint8_t *wr = wp + (size_t)r * w_stride;                                             \
        switch (nrows - r) {                                                                       \
        case 3:                                                                                    \
            ROWS_FN(3, nb, s + r, wr, w_stride, a, wr);                                            \
            break;                                                                                 \
        case 2:                                                                                    \
            ROWS_FN(2, nb, s + r, wr, w_stride, a, wr);                                            \
            break;                                                                                 \
        case 1:                                                                                    \
            ROWS_FN(1, nb, s + r, wr, w_stride, a, wr);                                            \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    }

KQ_ROWS_ENTRY(kern_vec_dot_rows_q4_k_q8_k_avx512, q4k_rows)

/* ---- Q6_K ---- */

/* One Q8_K block's activations for Q6_K: contiguous 64-byte vectors, -bsums as int16. */
typedef struct q6k_act {
    __m512i a[4];
    __m256i nbs; /* -bsums[j], j = 0..15 (|bsums| <= 16 * 128) */
    float d;
} q6k_act;

KQ_INLINE void q6k_act_load(const kern_block_q8_k *b, q6k_act *x) {
    for (int k = 0; k < 4; k++)
        x->a[k] = _mm512_loadu_si512((const void *)(b->qs + 64 * k));
    x->nbs =
        _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_loadu_si256((const __m256i *)b->bsums));
    x->d = b->d;
}

/* Constants for the 6-bit unpack and the scale placement. */
typedef struct q6k_consts {
    __m512i m1, sh1, m2, sh2; /* qh masks/shift counts: low 256 bits, high 256 bits */
    __m512i sidx[4];          /* vpermw indices: 128-bit lane k of vector v <- scale 4v + k */
} q6k_consts;

KQ_INLINE void q6k_consts_init(q6k_consts *c) {
    /* elements 128h + l (+32) take qh bits 0-1 (2-3) to bits 4-5: << 4 (<< 2) after masking;
     * elements 128h + 64 + l (+32) take bits 4-5 (6-7): >> 0 (>> 2) */
    c->m1 = _mm512_inserti64x4(_mm512_set1_epi8(0x03), _mm256_set1_epi8(0x0C), 1);
    c->sh1 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    c->m2 = _mm512_inserti64x4(_mm512_set1_epi8(0x30), _mm256_set1_epi8((char)0xC0), 1);
    c->sh2 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const long long rep = 0x0001000100010001LL;
    for (int v = 0; v < 4; v++)
        c->sidx[v] = _mm512_set_epi64((4 * v + 3) * rep, (4 * v + 3) * rep, (4 * v + 2) * rep,
                                      (4 * v + 2) * rep, (4 * v + 1) * rep, (4 * v + 1) * rep,
                                      (4 * v + 0) * rep, (4 * v + 0) * rep);
}

/* (ql & 0x0F) | h, h holding only bits 4-5 */
#define Q6_MERGE(ql, h) _mm512_ternarylogic_epi32((ql), (h), _mm512_set1_epi8(0x0F), 0xEC)

KQ_INLINE void q6k_block(const kern_block_q6_k *b, const q6k_act *x, const q6k_consts *c,
                         __m512 *acc) {
    const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    const __m512i sc = _mm512_castsi256_si512(sc16);
    /* seed: -32 * sum_j sc[j] * bsums[j] = sum_j (32 sc[j]) * (-bsums[j]), |32 sc| <= 4096 */
    __m512i s0 = _mm512_zextsi256_si512(_mm256_madd_epi16(_mm256_slli_epi16(sc16, 5), x->nbs));
    __m512i s1 = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(b->ql + 64 * h));
        const __m512i hb =
            _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(b->qh + 32 * h)));
        const __m512i lo = Q6_MERGE(ql, _mm512_sllv_epi16(_mm512_and_si512(hb, c->m1), c->sh1));
        const __m512i hi = Q6_MERGE(_mm512_srli_epi16(ql, 4),
                                    _mm512_srlv_epi16(_mm512_and_si512(hb, c->m2), c->sh2));
        s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(lo, x->a[2 * h]),
                                 _mm512_permutexvar_epi16(c->sidx[2 * h], sc));
        s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(hi, x->a[2 * h + 1]),
                                 _mm512_permutexvar_epi16(c->sidx[2 * h + 1], sc));
    }
    const float dd = x->d * _cvtsh_ss(b->d);
    *acc = _mm512_fmadd_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), *acc);
}

KQ_INLINE void q6k_rows(const int R, int64_t nb, float *s, const uint8_t *w, size_t stride,
                        const kern_block_q8_k *a, const uint8_t *pf) {
    q6k_consts c;
    q6k_consts_init(&c);
    __m512 acc[KQ_GROUP];
    KQ_UNROLL for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        q6k_act x;
        q6k_act_load(&a[i], &x);
        KQ_UNROLL for (int r = 0; r < R; r++) {
            const kern_block_q6_k *b = (const kern_block_q6_k *)(w + (size_t)r * stride) + i;
            KQ_PREFETCH(pf + (size_t)r * stride + (size_t)i * sizeof *b, sizeof *b);
            q6k_block(b, &x, &c, &acc[r]);
        }
    }
    KQ_UNROLL for (int r = 0; r < R; r++) {
        s[r] = _mm512_reduce_add_ps(acc[r]);
    }
}

KQ_ROWS_ENTRY(kern_vec_dot_rows_q6_k_q8_k_avx512, q6k_rows)
