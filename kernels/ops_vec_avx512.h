/* AVX-512 (F/DQ/VL) vector primitives for the float-op templates (ops_simd.h,
 * attention_simd.h); the same interface as ops_vec_avx2.h with 16 lanes. Include only from
 * *_avx512.c files.
 *
 * vexp: the same Cody-Waite reduction and degree-7 polynomial as the AVX2 version; the
 * 2^n scaling is vscalefps, which handles overflow (+inf), gradual underflow and NaN. */
#ifndef RW_KERNELS_OPS_VEC_AVX512_H
#define RW_KERNELS_OPS_VEC_AVX512_H

#include <immintrin.h>

typedef __m512 vf;
typedef __m512d vd;
#define VW 16
#define vload(p) _mm512_loadu_ps(p)
#define vstore(p, x) _mm512_storeu_ps((p), (x))
#define vset1(s) _mm512_set1_ps(s)
#define vzero() _mm512_setzero_ps()
#define vadd(a, b) _mm512_add_ps((a), (b))
#define vsub(a, b) _mm512_sub_ps((a), (b))
#define vmul(a, b) _mm512_mul_ps((a), (b))
#define vdiv(a, b) _mm512_div_ps((a), (b))
#define vfmadd(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define vfnmadd(a, b, c) _mm512_fnmadd_ps((a), (b), (c))
#define vfmsub(a, b, c) _mm512_fmsub_ps((a), (b), (c))
#define vmax(a, b) _mm512_max_ps((a), (b))
#define vmin(a, b) _mm512_min_ps((a), (b))
#define vdzero() _mm512_setzero_pd()
#define vdadd(a, b) _mm512_add_pd((a), (b))
#define vdfmadd(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define vcvtlo(x) _mm512_cvtps_pd(_mm512_castps512_ps256(x))
#define vcvthi(x) _mm512_cvtps_pd(_mm512_extractf32x8_ps((x), 1))
#define vdset1(s) _mm512_set1_pd(s)
#define vdsub(a, b) _mm512_sub_pd((a), (b))
#define vdmul(a, b) _mm512_mul_pd((a), (b))

static inline vf vcvt_pd2(vd lo, vd hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}

static inline float vhsum(vf x) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float vhmax(vf x) {
    __m256 h = _mm256_max_ps(_mm512_extractf32x8_ps(x, 1), _mm512_castps512_ps256(x));
    __m128 m = _mm_max_ps(_mm256_extractf128_ps(h, 1), _mm256_castps256_ps128(h));
    m = _mm_max_ps(_mm_movehl_ps(m, m), m);
    m = _mm_max_ss(_mm_movehdup_ps(m), m);
    float r = _mm_cvtss_f32(m);
    return r == r ? r : -__builtin_inff();
}

static inline double vdhsum(vd x) {
    __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd(x, 1));
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

static inline vf vsel_neg(vf x, vf a, vf b) {
    return _mm512_mask_blend_ps(_mm512_movepi32_mask(_mm512_castps_si512(x)), b, a);
}

static inline vf vmasked_add(vf x, vf m) {
    vf ninf = _mm512_set1_ps(-__builtin_inff());
    __mmask16 k = _mm512_cmp_ps_mask(m, ninf, _CMP_EQ_OQ);
    return _mm512_mask_blend_ps(k, _mm512_add_ps(x, m), ninf);
}

static inline int vany_gt(vf x, float thr) {
    return _mm512_cmp_ps_mask(x, _mm512_set1_ps(thr), _CMP_GT_OQ) != 0;
}

static inline unsigned vmask_eq(vf x, float s) {
    return (unsigned)_mm512_cmp_ps_mask(x, _mm512_set1_ps(s), _CMP_EQ_OQ);
}

static inline unsigned vnan_mask(vf x) {
    return (unsigned)_mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
}

static inline vf vswap_pairs(vf x) {
    return _mm512_permute_ps(x, 0xB1);
}

static inline vf vexp(vf x) {
    const vf log2e = vset1(1.44269504088896341f);
    const vf ln2_hi = vset1(0x1.62e43p-1f);
    const vf ln2_lo = vset1(-1.904654323148236e-09f);
    x = vmax(vset1(-104.0f), vmin(vset1(89.0f), x));
    vf n = _mm512_roundscale_ps(vmul(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
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
    return _mm512_scalef_ps(p, n);
}

#endif
