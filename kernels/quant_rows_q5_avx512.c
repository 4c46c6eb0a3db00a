/* AVX-512 (F/BW/DQ/VL + VNNI) vec_dot and vec_dot_rows for the 5-bit and min-carrying
 * weight types: Q5_K (against Q8_K), Q5_0 (against Q8_0), Q4_1 and Q5_1 (against Q8_1).
 * s[r] = dot(weight row r, a) for a group of rows in one pass over a; vec_dot is the
 * one-row case.
 *
 * A call with 2-4 rows (the small-batch matmul's L1-resident row groups, reused by every
 * activation row) runs them as one group: the activation vectors, their scales and the
 * activation-only sums are loaded and arranged once per block and used by every row; the
 * rows' accumulators are independent dependency chains, each reduced horizontally once at
 * the end of its row. A longer run of rows (matvec, rows contiguous in memory) goes one row
 * at a time, so the weights are read as a single sequential stream: interleaving 4 rows
 * made 4 short streams and ran 10-30% below the one-row kernel on weights streamed from
 * memory (measured on Zen 4), while it is 5-25% faster on cached rows.
 *   Q5_K  per 256-element block: two 64-byte loads of qs; nibble vector v holds sub-blocks
 *         (v & 1) + 4 * (v >> 1) (low 256 bits) and that + 2 (high), the activations are
 *         rearranged to match once per block; the 5th bit comes from qh (32 bytes, broadcast
 *         to both halves) with one vptestmb per vector (bit j of qh[l] for sub-block j) and a
 *         masked byte add of 16; vpmaddubsw, then vpmaddwd/vpdpwssd by the 6-bit scales as
 *         int16 (unpacked from the 12 bytes with vector shifts and masks, placed with one
 *         in-lane byte shuffle per vector); the mins term sum_j m[j] * (bsums[2j] +
 *         bsums[2j+1]) is one vpmaddwd on 8 int16 lanes against the pair sums of the bsums,
 *         formed once per activation block.
 *   Q5_0/Q4_1/Q5_1  two 32-element blocks per zmm. The nibble bytes land in element order
 *         (low nibbles = elements 0-15, high = 16-31), so the 32-bit qh of each block is
 *         directly the byte mask of its 5th bits (masked add of 16). vpdpbusd on the
 *         unsigned 0..31 levels; Q5_0's "-16" is -16 * sum(a) per 4-element group, one
 *         vpdpbusd per activation pair that seeds every row's sum. Q4_1/Q5_1 add the min
 *         term m * s (s from the Q8_1 block: d * sum(q) stored as f16), exactly the scalar
 *         reference's product, accumulated in separate f32 lanes. An odd trailing block runs
 *         the same steps at 256 bits.
 * Integer sums per block are exact: Q5_K |int32 lane| <= 4 * 2 * (2 * 31 * 128) * 63
 * (and |int16 maddubs lane| <= 2 * 31 * 128 < 2^15), Q5_0 |lane| <= 4 * 31 * 128 + 16 * 4 *
 * 128, so each block's integer total equals the scalar reference's. The order of f32
 * additions differs from _ref (within 1e-5 relative). Block layouts: kernels/quant.h. */
#include "kernels/quant_internal.h"
#include "kernels/quant_kquant_simd.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

enum { Q5_GROUP = 4 }; /* most rows per group (accumulator arrays) */

/* gcc -O2 leaves the short constant-trip loops rolled without the pragma (Q5_K ran at 3/4
 * speed); clang unrolls them by itself, and its unroll pragma made the sanitizer build of
 * this file take minutes. */
#if defined(__clang__)
#define Q5_UNROLL
#else
#define Q5_UNROLL _Pragma("GCC unroll 4")
#endif
#define Q5_INLINE static inline __attribute__((always_inline))

static inline float hsum128(__m128 h) {
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline uint32_t load_u32(const void *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- Q5_K ---- */

/* Nibble vector v covers sub-blocks jl(v) (low 256 bits) and jl(v) + 2 (high 256 bits). */
#define Q5K_JL(v) (((v)&1) + 4 * ((v) >> 1))

/* vpshufb indices: int16 lane of vector v <- scale byte of its sub-block (scales/mins
 * broadcast to every 128-bit lane). */
static const int8_t k_q5k_sidx[4][64] = {
#define S8(j) j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1, j, -1
#define L4(a, b) S8(a), S8(a), S8(b), S8(b)
    {L4(0, 2)},
    {L4(1, 3)},
    {L4(4, 6)},
    {L4(5, 7)},
#undef L4
#undef S8
};

/* One Q8_K block's activations arranged for the Q5_K nibble vectors. */
typedef struct q5k_act {
    __m512i a[4]; /* [a 0-31 | a 64-95], [a 32-63 | a 96-127], the same + 128 */
    __m128i bsp;  /* int16 bsums[2j] + bsums[2j+1], j = 0..7 (|.| <= 32 * 128) */
    float d;
} q5k_act;

typedef struct q5k_consts {
    __m512i sidx[4];
    __m512i hbit[4]; /* qh bit of vector v's sub-blocks: 1 << jl(v) low, 1 << (jl(v)+2) high */
} q5k_consts;

Q5_INLINE void q5k_consts_init(q5k_consts *c) {
    Q5_UNROLL for (int v = 0; v < 4; v++) {
        c->sidx[v] = _mm512_loadu_si512((const void *)k_q5k_sidx[v]);
        c->hbit[v] = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << Q5K_JL(v))),
                                        _mm256_set1_epi8((char)(1 << (Q5K_JL(v) + 2))), 1);
    }
}

Q5_INLINE void q5k_act_load(const kern_block_q8_k *b, q5k_act *x) {
    Q5_UNROLL for (int v = 0; v < 4; v++) {
        const int8_t *p = b->qs + 128 * (v >> 1) + 32 * (v & 1);
        x->a[v] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)p)),
                                     _mm256_loadu_si256((const __m256i *)(p + 64)), 1);
    }
    x->bsp = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)b->bsums),
                            _mm_loadu_si128((const __m128i *)(b->bsums + 8)));
    x->d = b->d;
}

/* acc += d*da * sum_j sc[j] * dot_j (16 lanes), accm += dmin*da * m[j] * bsp[j] (4 lanes). */
Q5_INLINE void q5k_block(const kern_block_q5_k *b, const q5k_act *x, const q5k_consts *c,
                         __m512 *acc, __m128 *accm) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10);
    const __m128i sm = kern_k4_scales_mins(b->scales);
    const __m512i smb = _mm512_broadcast_i32x4(sm);
    const __m512i hq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)b->qh));
    const __m512i q0 = _mm512_loadu_si512((const void *)b->qs),
                  q1 = _mm512_loadu_si512((const void *)(b->qs + 64));
    __m512i u[4] = {_mm512_and_si512(q0, m4), _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4),
                    _mm512_and_si512(q1, m4), _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4)};
    Q5_UNROLL for (int v = 0; v < 4; v++) {
        u[v] = _mm512_mask_add_epi8(u[v], _mm512_test_epi8_mask(hq, c->hbit[v]), u[v], b4);
    }
    __m512i s0 = _mm512_madd_epi16(_mm512_maddubs_epi16(u[0], x->a[0]),
                                   _mm512_shuffle_epi8(smb, c->sidx[0]));
    __m512i s1 = _mm512_madd_epi16(_mm512_maddubs_epi16(u[1], x->a[1]),
                                   _mm512_shuffle_epi8(smb, c->sidx[1]));
    s0 = _mm512_dpwssd_epi32(s0, _mm512_maddubs_epi16(u[2], x->a[2]),
                             _mm512_shuffle_epi8(smb, c->sidx[2]));
    s1 = _mm512_dpwssd_epi32(s1, _mm512_maddubs_epi16(u[3], x->a[3]),
                             _mm512_shuffle_epi8(smb, c->sidx[3]));
    /* (d, dmin) * da */
    const __m128 dd =
        _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128((int)load_u32(&b->d))), _mm_set1_ps(x->d));
    *acc = _mm512_fmadd_ps(_mm512_broadcastss_ps(dd), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
                           *acc);
    const __m128i mm = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)), x->bsp);
    *accm = _mm_fmadd_ps(_mm_shuffle_ps(dd, dd, 0x55), _mm_cvtepi32_ps(mm), *accm);
}

Q5_INLINE void q5k_rows(const int R, int64_t nb, float *s, const uint8_t *w, size_t stride,
                        const kern_block_q8_k *a) {
    q5k_consts c;
    q5k_consts_init(&c);
    __m512 acc[Q5_GROUP];
    __m128 accm[Q5_GROUP];
    Q5_UNROLL for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    for (int64_t i = 0; i < nb; i++) {
        q5k_act x;
        q5k_act_load(&a[i], &x);
        Q5_UNROLL for (int r = 0; r < R; r++) {
            const kern_block_q5_k *b = (const kern_block_q5_k *)(w + (size_t)r * stride) + i;
            q5k_block(b, &x, &c, &acc[r], &accm[r]);
        }
    }
    Q5_UNROLL for (int r = 0; r < R; r++) s[r] = _mm512_reduce_add_ps(acc[r]) - hsum128(accm[r]);
}

void kern_vec_dot_rows_q5_k_q8_k_avx512(int64_t n, float *s, const void *w, size_t w_stride,
                                        int64_t nrows, const void *a) {
    const int64_t nb = n / KERN_QK_K;
    const uint8_t *wp = w;
    switch (nrows) {
    case 4:
        q5k_rows(4, nb, s, wp, w_stride, a);
        break;
    case 3:
        q5k_rows(3, nb, s, wp, w_stride, a);
        break;
    case 2:
        q5k_rows(2, nb, s, wp, w_stride, a);
        break;
    default: /* a long run of contiguous rows: one sequential stream (see the top) */
        for (int64_t r = 0; r < nrows; r++)
            q5k_rows(1, nb, s + r, wp + (size_t)r * w_stride, w_stride, a);
        break;
    }
}

void kern_vec_dot_q5_k_q8_k_avx512(int64_t n, float *s, const void *wp, const void *ap) {
    q5k_rows(1, n / KERN_QK_K, s, wp, 0, ap);
}

/* ---- Q5_0, Q4_1, Q5_1: 32-element blocks, two per zmm ---- */

/* Which 32-element weight type a b32_rows instance handles. */
enum { B32_Q5_0 = 0, B32_Q4_1 = 1, B32_Q5_1 = 2, B32_Q4_0 = 3 };

static inline uint32_t load_u16(const void *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 64 level bytes of two blocks' qs (16 bytes each, nibble order as in quant.h):
 * [qs0 & 15, qs0 >> 4, qs1 & 15, qs1 >> 4] = elements 0-31 of block 0, then of block 1.
 * With two == 0 only block 0 (upper 256 bits zero). */
Q5_INLINE __m512i b32_levels(const uint8_t *qs0, const uint8_t *qs1, const int two) {
    const __m128i l0 = _mm_loadu_si128((const __m128i *)qs0);
    __m512i z = two ? _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(l0), 0xFF00,
                                                  _mm_loadu_si128((const __m128i *)qs1))
                    : _mm512_zextsi256_si512(_mm256_broadcastsi128_si256(l0));
    z = _mm512_mask_srli_epi16(z, 0xFF00FF00u, z, 4);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F));
}

/* The f16 scales of two blocks as 16-bit words for vcvtph2ps: [d0, d1] (no min) or
 * [d0, m0, d1, m1] (d, m adjacent at the block start); zero words for an absent block. */
Q5_INLINE __m128i b32_scales(const uint8_t *p0, const uint8_t *p1, const int with_min,
                             const int two) {
    if (!with_min) return _mm_cvtsi32_si128((int)(load_u16(p0) | (two ? load_u16(p1) << 16 : 0u)));
    return _mm_cvtsi64_si128(
        (long long)((uint64_t)load_u32(p0) | (two ? (uint64_t)load_u32(p1) << 32 : 0u)));
}

/* One pair (two == 1) or the trailing single block (two == 0) at block index i of every row
 * of the group: acc[r] += (dw*da per block lane) * int32 dots; accm[r] += [., m0*s0, ., m1*s1]. */
Q5_INLINE void b32_step(const int TY, const int R, const int two, int64_t i, const uint8_t *w,
                        size_t stride, const uint8_t *a, __m512 *acc, __m128 *accm) {
    const int with_min = TY == B32_Q4_1 || TY == B32_Q5_1;
    const int with_qh = TY == B32_Q5_0 || TY == B32_Q5_1;
    const size_t wsz = TY == B32_Q5_0   ? sizeof(kern_block_q5_0)
                       : TY == B32_Q4_1 ? sizeof(kern_block_q4_1)
                       : TY == B32_Q4_0 ? sizeof(kern_block_q4_0)
                                        : sizeof(kern_block_q5_1);
    const size_t qso = TY == B32_Q5_0   ? offsetof(kern_block_q5_0, qs)
                       : TY == B32_Q4_1 ? offsetof(kern_block_q4_1, qs)
                       : TY == B32_Q4_0 ? offsetof(kern_block_q4_0, qs)
                                        : offsetof(kern_block_q5_1, qs);
    const size_t qho =
        TY == B32_Q5_0 ? offsetof(kern_block_q5_0, qh) : offsetof(kern_block_q5_1, qh);
    const size_t asz = with_min ? sizeof(kern_block_q8_1) : sizeof(kern_block_q8_0);
    const size_t aqo = with_min ? offsetof(kern_block_q8_1, qs) : offsetof(kern_block_q8_0, qs);
    /* block lanes 0-7 take scale lane 0, lanes 8-15 scale lane 1 (2 with mins) */
    const __m512i sperm =
        _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(with_min ? 2 : 1), 1);

    const uint8_t *a0 = a + (size_t)i * asz, *a1 = a0 + asz;
    const __m512i av =
        two ? _mm512_inserti64x4(
                  _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(a0 + aqo))),
                  _mm256_loadu_si256((const __m256i *)(a1 + aqo)), 1)
            : _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(a0 + aqo)));
    /* Q5_0 levels are q - 16, Q4_0 levels q - 8: seed every row's dot with -16 (-8) times
     * the sum of each 4 activations */
    const __m512i seed =
        TY == B32_Q5_0 || TY == B32_Q4_0
            ? _mm512_sub_epi32(_mm512_setzero_si512(),
                               _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                   _mm512_set1_epi8(TY == B32_Q5_0 ? 16 : 8), av))
            : _mm512_setzero_si512();
    const __m128 ad = _mm_cvtph_ps(b32_scales(a0, a1, with_min, two));

    Q5_UNROLL for (int r = 0; r < R; r++) {
        const uint8_t *b0 = w + (size_t)r * stride + (size_t)i * wsz, *b1 = b0 + wsz;
        __m512i u = b32_levels(b0 + qso, b1 + qso, two);
        if (with_qh) {
            const uint64_t hb =
                (uint64_t)load_u32(b0 + qho) | (two ? (uint64_t)load_u32(b1 + qho) << 32 : 0u);
            u = _mm512_mask_add_epi8(u, _cvtu64_mask64(hb), u, _mm512_set1_epi8(0x10));
        }
        const __m512i p = _mm512_dpbusd_epi32(seed, u, av);
        const __m128 prod = _mm_mul_ps(_mm_cvtph_ps(b32_scales(b0, b1, with_min, two)), ad);
        acc[r] = _mm512_fmadd_ps(_mm512_permutexvar_ps(sperm, _mm512_castps128_ps512(prod)),
                                 _mm512_cvtepi32_ps(p), acc[r]);
        if (with_min) accm[r] = _mm_add_ps(accm[r], prod);
    }
}

Q5_INLINE void b32_rows(const int TY, const int R, int64_t nb, float *s, const uint8_t *w,
                        size_t stride, const uint8_t *a) {
    __m512 acc[Q5_GROUP];
    __m128 accm[Q5_GROUP];
    Q5_UNROLL for (int r = 0; r < R; r++) {
        acc[r] = _mm512_setzero_ps();
        accm[r] = _mm_setzero_ps();
    }
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2)
        b32_step(TY, R, 1, i, w, stride, a, acc, accm);
    if (i < nb) b32_step(TY, R, 0, i, w, stride, a, acc, accm);
    Q5_UNROLL for (int r = 0; r < R; r++) {
        float v = _mm512_reduce_add_ps(acc[r]);
        if (TY == B32_Q4_1 || TY == B32_Q5_1) { /* the min terms sit in lanes 1 and 3 */
            const __m128 h = accm[r];
            v += _mm_cvtss_f32(_mm_add_ss(_mm_shuffle_ps(h, h, 1), _mm_shuffle_ps(h, h, 3)));
        }
        s[r] = v;
    }
}

#define B32_ROWS_ENTRY(t, at, TY)                                                                  \
    void kern_vec_dot_rows_##t##_##at##_avx512(int64_t n, float *s, const void *w,                 \
                                               size_t w_stride, int64_t nrows, const void *a) {    \
        const int64_t nb = n / KERN_QK;                                                            \
        const uint8_t *wp = w;                                                                     \
        switch (nrows) {                                                                           \
        case 4:                                                                                    \
            b32_rows(TY, 4, nb, s, wp, w_stride, a);                                               \
            break;                                                                                 \
        case 3:                                                                                    \
            b32_rows(TY, 3, nb, s, wp, w_stride, a);                                               \
            break;                                                                                 \
        case 2:                                                                                    \
            b32_rows(TY, 2, nb, s, wp, w_stride, a);                                               \
            break;                                                                                 \
        default:                                                                                   \
            for (int64_t r = 0; r < nrows; r++)                                                    \
                b32_rows(TY, 1, nb, s + r, wp + (size_t)r * w_stride, w_stride, a);                \
            break;                                                                                 \
        }                                                                                          \
    }
#define B32_ENTRY(t, at, TY)                                                                       \
    B32_ROWS_ENTRY(t, at, TY)                                                                      \
    void kern_vec_dot_##t##_##at##_avx512(int64_t n, float *s, const void *wp, const void *ap) {   \
        b32_rows(TY, 1, n / KERN_QK, s, wp, 0, ap);                                                \
    }

/* Q4_0 takes only the row kernel from here: on 768x2048 weights it streamed 84-93% of the
 * read bandwidth at 2 threads against 74-78% for quant_rows_avx512.c's former prepared-pair
 * kernel (quiet A/B, full bench-kernels), equal at 4096x4096; its single-row vec_dot stays in
 * quant_avx512.c. */
B32_ROWS_ENTRY(q4_0, q8_0, B32_Q4_0)
B32_ENTRY(q5_0, q8_0, B32_Q5_0)
B32_ENTRY(q4_1, q8_1, B32_Q4_1)
B32_ENTRY(q5_1, q8_1, B32_Q5_1)
