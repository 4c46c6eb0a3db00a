/* AVX2+FMA vector primitives for the float-op templates (ops_simd.h, attention_simd.h).
 * Include only from *_avx2.c files (compiled with -mavx2 -mfma). Every helper is static
 * inline; the names below are the interface the templates use (8 lanes).
 *
 * vexp: e^x by Cody-Waite reduction x = n ln2 + r (|r| <= ln2/2, ln2 split in a hi/lo
 * pair, both steps FMA) and the degree-7 Taylor polynomial of e^r (truncation error
 * < 5e-9 relative), scaled by 2^n as two factors 2^(n/2) 2^(n - n/2) so overflow gives
 * +inf and underflow passes gradually through subnormals to 0. Inputs are clamped to
 * [-104, 89] first (NaN-preserving order). Measured bound: 2 ulp (tests check 1e-6 relative
 * on normal results, 1e-37 absolute in the subnormal range). NaN in -> NaN out. */
#ifndef RW_KERNELS_OPS_VEC_AVX2_H
#define RW_KERNELS_OPS_VEC_AVX2_H

#include <immintrin.h>

typedef __m256 vf;
typedef __m256d vd;
#define VW 8
#define vload(p) _mm256_loadu_ps(p)
#define vstore(p, x) _mm256_storeu_ps((p), (x))
#define vset1(s) _mm256_set1_ps(s)
#define vzero() _mm256_setzero_ps()
#define vadd(a, b) _mm256_add_ps((a), (b))
#define vsub(a, b) _mm256_sub_ps((a), (b))
#define vmul(a, b) _mm256_mul_ps((a), (b))
#define vdiv(a, b) _mm256_div_ps((a), (b))
#define vfmadd(a, b, c) _mm256_fmadd_ps((a), (b), (c))   /* a*b + c */
#define vfnmadd(a, b, c) _mm256_fnmadd_ps((a), (b), (c)) /* c - a*b */
#define vfmsub(a, b, c) _mm256_fmsub_ps((a), (b), (c))   /* a*b - c */
/* vmax/vmin return b when either is NaN (x86 semantics): callers put the running value in
 * b to skip NaN, or the input in b to propagate it. */
#define vmax(a, b) _mm256_max_ps((a), (b))
#define vmin(a, b) _mm256_min_ps((a), (b))
#define vdzero() _mm256_setzero_pd()
#define vdadd(a, b) _mm256_add_pd((a), (b))
#define vdfmadd(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define vcvtlo(x) _mm256_cvtps_pd(_mm256_castps256_ps128(x))
#define vcvthi(x) _mm256_cvtps_pd(_mm256_extractf128_ps((x), 1))
#define vdset1(s) _mm256_set1_pd(s)
#define vdsub(a, b) _mm256_sub_pd((a), (b))
#define vdmul(a, b) _mm256_mul_pd((a), (b))

/* Rounds two double vectors (lanes 0-3, 4-7) back to one float vector. */
static inline vf vcvt_pd2(vd lo, vd hi) {
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(lo)), _mm256_cvtpd_ps(hi),
                                1);
}

static inline float vhsum(vf x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Largest lane, NaN lanes ignored (-inf when all are NaN or -inf). */
static inline float vhmax(vf x) {
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    m = _mm_max_ps(_mm_movehl_ps(m, m), m);
    m = _mm_max_ss(_mm_movehdup_ps(m), m);
    float r = _mm_cvtss_f32(m);
    return r == r ? r : -__builtin_inff();
}

static inline double vdhsum(vd x) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(x), _mm256_extractf128_pd(x, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

/* a where x has its sign bit set, else b. */
static inline vf vsel_neg(vf x, vf a, vf b) {
    return _mm256_blendv_ps(b, a, x);
}

/* x + m, or -inf where m == -inf (whatever x holds). */
static inline vf vmasked_add(vf x, vf m) {
    vf ninf = _mm256_set1_ps(-__builtin_inff());
    return _mm256_blendv_ps(_mm256_add_ps(x, m), ninf, _mm256_cmp_ps(m, ninf, _CMP_EQ_OQ));
}

/* 1 when any lane of x is > thr (ordered), else 0. */
static inline int vany_gt(vf x, float thr) {
    return _mm256_movemask_ps(_mm256_cmp_ps(x, _mm256_set1_ps(thr), _CMP_GT_OQ)) != 0;
}

/* Lane mask of x == s (bit i for lane i). */
static inline unsigned vmask_eq(vf x, float s) {
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, _mm256_set1_ps(s), _CMP_EQ_OQ));
}

/* Lane mask of NaN lanes. */
static inline unsigned vnan_mask(vf x) {
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

/* Swaps lanes (2i, 2i+1): the partner of each element in the NORMAL rope layout. */
static inline vf vswap_pairs(vf x) {
    return _mm256_permute_ps(x, 0xB1);
}

static inline vf vexp(vf x) {
    const vf log2e = vset1(1.44269504088896341f);
    const vf ln2_hi = vset1(0x1.62e43p-1f);
    const vf ln2_lo = vset1(-1.904654323148236e-09f);
    x = vmax(vset1(-104.0f), vmin(vset1(89.0f), x));
    vf n = _mm256_round_ps(vmul(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    vf r = vfnmadd(n, ln2_hi, x);
    r = vfnmadd(n, ln2_lo, r);
    vf p = vset1(1.0f / 5040.0f);
    p = vfmadd(p, r, vset1(1.0f / 720.0f));
    p = vfmadd(p, r, vset1(1.0f / 120.0f));
    p = vfmadd(p, r, vset1(1.0f / 24.0f));
    p = vfmadd(p, r, vset1(1.0f / 6.0f));
    p = vfmadd(p, r, vset1(0.5f));
    p = vfmadd(p, r, vset1(1.0f));
    p = vfmadd(p, r, vset1(1.0f));
    __m256i ni = _mm256_cvtps_epi32(n);
    __m256i n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    vf s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    vf s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return vmul(vmul(p, s1), s2);
}

#endif
