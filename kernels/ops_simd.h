/* Template of the SIMD float ops, instantiated once per ISA: the including file first
 * includes its vector primitives (ops_vec_<isa>.h: vf, VW, vload, vexp, ...) and defines
 * SFX(name) to append the ISA suffix, then includes this file. Each op runs whole vectors
 * and finishes the tail with the scalar loop of the same formula (for transcendental
 * functions the tail calls the reference, so tails are exact).
 *
 * Accuracy against the references (docs/kernels-ops.md; checked in tests/kernels_ops):
 * norms accumulate in double (same as the reference up to summation order); softmax and
 * activations use vexp (about 2 ulp) and plain division; gelu_erf uses erfc(u) =
 * t exp(-u^2 - 1.26551223 + t P(t)), t = 1/(1 + u/2), the Chebyshev fit published in
 * Numerical Recipes (fractional error < 1.2e-7 for all u >= 0), so the x << 0 tail keeps
 * its relative accuracy. gelu_tanh uses the identity 0.5(1 + tanh u) = 1/(1 + e^(-2u)),
 * which has no cancellation for x << 0. */

#include <math.h>

#include "core/assert.h"

/* ---- norms ---------------------------------------------------------------------------- */

static double SFX(sum_sq_f64)(const float *x, size_t n) {
    vd a0 = vdzero(), a1 = vdzero();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        vf v = vload(x + i);
        vd lo = vcvtlo(v), hi = vcvthi(v);
        a0 = vdfmadd(lo, lo, a0);
        a1 = vdfmadd(hi, hi, a1);
    }
    double s = vdhsum(vdadd(a0, a1));
    for (; i < n; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}

static double SFX(sum_f64)(const float *x, size_t n) {
    vd a0 = vdzero(), a1 = vdzero();
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        vf v = vload(x + i);
        a0 = vdadd(vcvtlo(v), a0);
        a1 = vdadd(vcvthi(v), a1);
    }
    double s = vdhsum(vdadd(a0, a1));
    for (; i < n; i++)
        s += (double)x[i];
    return s;
}

static double SFX(sum_sqdev_f64)(const float *x, size_t n, double mu) {
    vd a0 = vdzero(), a1 = vdzero(), m = vdset1(mu);
    size_t i = 0;
    for (; i + VW <= n; i += VW) {
        vf v = vload(x + i);
        vd lo = vdsub(vcvtlo(v), m), hi = vdsub(vcvthi(v), m);
        a0 = vdfmadd(lo, lo, a0);
        a1 = vdfmadd(hi, hi, a1);
    }
    double s = vdhsum(vdadd(a0, a1));
    for (; i < n; i++) {
        double d = (double)x[i] - mu;
        s += d * d;
    }
    return s;
}

static void SFX(kern_rmsnorm_f32)(float *y, float *rstd, const float *x, const float *w, size_t T,
                                  size_t C, float eps) {
    RW_ASSERT(C > 0, "rmsnorm: C must be positive");
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double r = 1.0 / sqrt(SFX(sum_sq_f64)(xr, C) / (double)C + (double)eps);
        float rf = (float)r;
        vf rv = vset1(rf);
        size_t c = 0;
        if (w) {
            for (; c + VW <= C; c += VW)
                vstore(yr + c, vmul(vmul(vload(xr + c), rv), vload(w + c)));
            for (; c < C; c++)
                yr[c] = xr[c] * rf * w[c];
        } else {
            for (; c + VW <= C; c += VW)
                vstore(yr + c, vmul(vload(xr + c), rv));
            for (; c < C; c++)
                yr[c] = xr[c] * rf;
        }
        if (rstd) rstd[t] = rf;
    }
}

static void SFX(kern_layernorm_f32)(float *y, float *mean, float *rstd, const float *x,
                                    const float *w, const float *b, size_t T, size_t C, float eps) {
    RW_ASSERT(C > 0, "layernorm: C must be positive");
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double mu = SFX(sum_f64)(xr, C) / (double)C;
        double r = 1.0 / sqrt(SFX(sum_sqdev_f64)(xr, C, mu) / (double)C + (double)eps);
        float muf = (float)mu, rf = (float)r;
        vf mv = vset1(muf), rv = vset1(rf), one = vset1(1.0f), zero = vzero();
        size_t c = 0;
        for (; c + VW <= C; c += VW) {
            vf v = vmul(vsub(vload(xr + c), mv), rv);
            vf wv = w ? vload(w + c) : one, bv = b ? vload(b + c) : zero;
            vstore(yr + c, vfmadd(v, wv, bv));
        }
        for (; c < C; c++) {
            float v = (xr[c] - muf) * rf;
            yr[c] = v * (w ? w[c] : 1.0f) + (b ? b[c] : 0.0f);
        }
        if (mean) mean[t] = muf;
        if (rstd) rstd[t] = rf;
    }
}

static void SFX(kern_l2_normalize_f32)(float *y, float *norm, const float *x, size_t T, size_t C,
                                       float eps) {
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double n = sqrt(SFX(sum_sq_f64)(xr, C));
        if (!(n >= (double)eps) && !isnan(n)) n = (double)eps;
        /* Division (not a reciprocal multiply) keeps y exact to 1 ulp of f32. */
        float nf = (float)n;
        vf nv = vset1(nf);
        size_t c = 0;
        for (; c + VW <= C; c += VW)
            vstore(yr + c, vdiv(vload(xr + c), nv));
        for (; c < C; c++)
            yr[c] = xr[c] / nf;
        if (norm) norm[t] = nf;
    }
}

/* ---- softmax -------------------------------------------------------------------------- */

static inline float SFX(sm_z)(const float *xr, const float *mr, size_t j) {
    if (!mr) return xr[j];
    if (mr[j] == -INFINITY) return -INFINITY;
    return xr[j] + mr[j];
}

static inline vf SFX(sm_zv)(const float *xr, const float *mr, size_t j) {
    return mr ? vmasked_add(vload(xr + j), vload(mr + j)) : vload(xr + j);
}

/* Max of the included z, or NaN when any included z is NaN (checked before anything is
 * written, so an in-place call can still hand the row to the reference). -inf when nothing
 * is included. */
static float SFX(sm_max)(const float *xr, const float *mr, size_t n) {
    vf m = vset1(-INFINITY);
    unsigned nan_bits = 0;
    size_t j = 0;
    for (; j + VW <= n; j += VW) {
        vf z = SFX(sm_zv)(xr, mr, j);
        nan_bits |= vnan_mask(z);
        m = vmax(z, m);
    }
    float mx = vhmax(m);
    for (; j < n; j++) {
        float z = SFX(sm_z)(xr, mr, j);
        if (z != z) nan_bits = 1;
        if (z > mx) mx = z;
    }
    return nan_bits ? NAN : mx;
}

/* sum exp(z - mx); stores the exponentials in e when e is non-NULL. */
static float SFX(sm_sumexp)(float *e, const float *xr, const float *mr, size_t n, float mx) {
    vf s = vzero(), mv = vset1(mx);
    size_t j = 0;
    for (; j + VW <= n; j += VW) {
        vf p = vexp(vsub(SFX(sm_zv)(xr, mr, j), mv));
        if (e) vstore(e + j, p);
        s = vadd(s, p);
    }
    float sum = vhsum(s);
    for (; j < n; j++) {
        float p = (float)exp((double)(SFX(sm_z)(xr, mr, j) - mx));
        if (e) e[j] = p;
        sum += p;
    }
    return sum;
}

static void SFX(kern_softmax_f32)(float *y, float *lse, const float *x, const float *mask,
                                  size_t mask_stride, size_t T, size_t N, size_t n_valid) {
    RW_ASSERT(n_valid <= N, "softmax: n_valid %zu > N %zu", n_valid, N);
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * N;                            /* [N] */
        const float *mr = mask ? mask + t * mask_stride : NULL; /* [N] */
        float *yr = y + t * N;                                  /* [N] */
        float mx = SFX(sm_max)(xr, mr, n_valid);
        if (!isfinite(mx)) { /* nothing included, NaN or +inf: the reference's policy */
            kern_softmax_f32_ref(yr, lse ? lse + t : NULL, xr, mr, 0, 1, N, n_valid);
            continue;
        }
        float sum = SFX(sm_sumexp)(yr, xr, mr, n_valid, mx);
        float inv = 1.0f / sum;
        vf iv = vset1(inv);
        size_t j = 0;
        for (; j + VW <= n_valid; j += VW)
            vstore(yr + j, vmul(vload(yr + j), iv));
        for (; j < n_valid; j++)
            yr[j] *= inv;
        for (j = n_valid; j < N; j++)
            yr[j] = 0.0f;
        if (lse) lse[t] = mx + logf(sum);
    }
}

static void SFX(kern_log_softmax_f32)(float *y, float *lse, const float *x, const float *mask,
                                      size_t mask_stride, size_t T, size_t N, size_t n_valid) {
    RW_ASSERT(n_valid <= N, "softmax: n_valid %zu > N %zu", n_valid, N);
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * N;                            /* [N] */
        const float *mr = mask ? mask + t * mask_stride : NULL; /* [N] */
        float *yr = y + t * N;                                  /* [N] */
        float mx = SFX(sm_max)(xr, mr, n_valid);
        if (!isfinite(mx)) { /* nothing included, NaN or +inf: the reference's policy */
            kern_log_softmax_f32_ref(yr, lse ? lse + t : NULL, xr, mr, 0, 1, N, n_valid);
            continue;
        }
        /* y = (z - mx) - log(sum): keeps the digits of z near the max; -inf stays -inf. */
        float lsum = logf(SFX(sm_sumexp)(NULL, xr, mr, n_valid, mx)), l = mx + lsum;
        vf mv = vset1(mx), lv = vset1(lsum);
        size_t j = 0;
        for (; j + VW <= n_valid; j += VW)
            vstore(yr + j, vsub(vsub(SFX(sm_zv)(xr, mr, j), mv), lv));
        for (; j < n_valid; j++)
            yr[j] = (SFX(sm_z)(xr, mr, j) - mx) - lsum;
        for (j = n_valid; j < N; j++)
            yr[j] = -INFINITY;
        if (lse) lse[t] = l;
    }
}

/* ---- rope ----------------------------------------------------------------------------- */

static void SFX(kern_rope_f32)(float *y, const float *x, size_t stride, const int32_t *pos,
                               size_t T, size_t H, size_t D, const kern_rope_cfg *cfg,
                               bool inverse) {
    kern_rope_check(stride, H, D, cfg);
    size_t half = cfg->n_rot / 2;
    float cs[KERN_ROPE_CHUNK], sn[KERN_ROPE_CHUNK];
    double f[KERN_ROPE_CHUNK]; /* inverse frequencies of the chunk, shared by all tokens */
    /* NORMAL: element 2i+e pairs with its neighbour; cos/sin are spread to both lanes and
     * the sin of the even lane negated. NEOX: element i pairs with i + half. */
    float csd[2 * KERN_ROPE_CHUNK], snd[2 * KERN_ROPE_CHUNK];
    for (size_t i0 = 0; i0 < half; i0 += KERN_ROPE_CHUNK) {
        size_t nc = half - i0 < KERN_ROPE_CHUNK ? half - i0 : KERN_ROPE_CHUNK;
        kern_rope_inv_freq(f, i0, nc, cfg);
        for (size_t t = 0; t < T; t++) {
            kern_rope_cos_sin(cs, sn, f, nc, pos[t], cfg, inverse);
            if (cfg->mode == KERN_ROPE_NORMAL) {
                for (size_t i = 0; i < nc; i++) {
                    csd[2 * i] = csd[2 * i + 1] = cs[i];
                    snd[2 * i] = -sn[i];
                    snd[2 * i + 1] = sn[i];
                }
            }
            for (size_t h = 0; h < H; h++) {
                const float *xh = x + t * stride + h * D; /* [D] */
                float *yh = y + t * stride + h * D;       /* [D] */
                if (cfg->mode == KERN_ROPE_NORMAL) {
                    const float *xs = xh + 2 * i0;
                    float *ys = yh + 2 * i0;
                    size_t n2 = 2 * nc, j = 0;
                    for (; j + VW <= n2; j += VW) {
                        vf v = vload(xs + j);
                        vstore(ys + j,
                               vfmadd(v, vload(csd + j), vmul(vswap_pairs(v), vload(snd + j))));
                    }
                    for (; j < n2; j += 2) {
                        float a = xs[j], b = xs[j + 1];
                        ys[j] = a * csd[j] - b * sn[j / 2];
                        ys[j + 1] = a * sn[j / 2] + b * csd[j];
                    }
                } else {
                    const float *xa = xh + i0, *xb = xh + i0 + half;
                    float *ya = yh + i0, *yb = yh + i0 + half;
                    size_t j = 0;
                    for (; j + VW <= nc; j += VW) {
                        vf a = vload(xa + j), b = vload(xb + j), c = vload(cs + j),
                           s = vload(sn + j);
                        vstore(ya + j, vfnmadd(b, s, vmul(a, c)));
                        vstore(yb + j, vfmadd(a, s, vmul(b, c)));
                    }
                    for (; j < nc; j++) {
                        float a = xa[j], b = xb[j];
                        ya[j] = a * cs[j] - b * sn[j];
                        yb[j] = a * sn[j] + b * cs[j];
                    }
                }
            }
        }
    }
    if (y != x && cfg->n_rot < D)
        for (size_t t = 0; t < T; t++)
            for (size_t h = 0; h < H; h++)
                for (size_t d = cfg->n_rot; d < D; d++)
                    y[t * stride + h * D + d] = x[t * stride + h * D + d];
}

/* ---- activations ---------------------------------------------------------------------- */

static inline vf SFX(v_sigmoid_mul)(vf x, vf g) { /* x / (1 + e^-g) */
    return vdiv(x, vadd(vset1(1.0f), vexp(vsub(vzero(), g))));
}

/* x clamped to >= -1e30 (NaN kept): the limit act(-inf) = -0 instead of -inf/inf. */
static inline vf SFX(v_act_in)(vf x) {
    return vmax(vset1(-1e30f), x);
}

/* x clamped to [-100, 100] (NaN kept) for the gate of gelu: beyond it the gate is exactly
 * 0 or 1 in f32, and inside it no intermediate overflows (inf - inf would give NaN). */
static inline vf SFX(v_gate_in)(vf x) {
    return vmax(vset1(-100.0f), vmin(vset1(100.0f), x));
}

static inline vf SFX(v_silu)(vf x) {
    x = SFX(v_act_in)(x);
    return SFX(v_sigmoid_mul)(x, x);
}

static inline vf SFX(v_gelu_tanh)(vf x) {
    /* x / (1 + e^(-2u)), 2u = c1 x + c3 x^3. The exponent reaches ~90 before the result
     * underflows, so an f32 rounding of it alone would cost up to 4e-6 relative: 2u is
     * formed in double and split as hi + lo (both f32), e^(-2u) = e^(-hi) (1 - lo). */
    vf xn = SFX(v_act_in)(x);
    x = SFX(v_gate_in)(x);
    const vd c1 = vdset1(1.5957691216057308), c3 = vdset1(0.07135481627260025);
    vd xl = vcvtlo(x), xh = vcvthi(x);
    vd al = vdmul(xl, vdfmadd(vdmul(xl, xl), c3, c1));
    vd ah = vdmul(xh, vdfmadd(vdmul(xh, xh), c3, c1));
    vf hi = vcvt_pd2(al, ah);
    vf lo = vcvt_pd2(vdsub(al, vcvtlo(hi)), vdsub(ah, vcvthi(hi)));
    vf e = vmul(vexp(vsub(vzero(), hi)), vsub(vset1(1.0f), lo));
    return vdiv(xn, vadd(vset1(1.0f), e));
}

static inline vf SFX(v_gelu_erf)(vf x) {
    /* Phi(x) = 0.5 erfc(-x/sqrt2): with u = |x|/sqrt2, Phi = h for x < 0 and 1 - h else,
     * h = 0.5 erfc(u). */
    vf xn = SFX(v_act_in)(x);
    x = SFX(v_gate_in)(x);
    vf u = vmul(vmax(vsub(vzero(), x), x), vset1(0.70710678118654752f));
    vf t = vdiv(vset1(1.0f), vfmadd(u, vset1(0.5f), vset1(1.0f)));
    vf p = vset1(0.17087277f);
    p = vfmadd(p, t, vset1(-0.82215223f));
    p = vfmadd(p, t, vset1(1.48851587f));
    p = vfmadd(p, t, vset1(-1.13520398f));
    p = vfmadd(p, t, vset1(0.27886807f));
    p = vfmadd(p, t, vset1(-0.18628806f));
    p = vfmadd(p, t, vset1(0.09678418f));
    p = vfmadd(p, t, vset1(0.37409196f));
    p = vfmadd(p, t, vset1(1.00002368f));
    p = vfmadd(p, t, vset1(-1.26551223f));
    /* e^(-u^2 + p) with u^2 = x^2/2 taken exactly: x^2 = sh + sl (FMA split), then
     * e^(-sh/2) e^(p - sl/2); rounding u^2 itself would cost up to 1e-5 relative. */
    vf sh = vmul(x, x), sl = vfmsub(x, x, sh);
    vf e = vmul(vexp(vmul(sh, vset1(-0.5f))), vexp(vfnmadd(sl, vset1(0.5f), p)));
    vf h = vmul(vmul(t, vset1(0.5f)), e);
    return vmul(xn, vsel_neg(x, h, vsub(vset1(1.0f), h)));
}

static void SFX(kern_exp_f32)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vexp(vload(x + i)));
    kern_exp_f32_ref(y + i, x + i, n - i);
}

static void SFX(kern_silu_f32)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, SFX(v_silu)(vload(x + i)));
    kern_silu_f32_ref(y + i, x + i, n - i);
}

static void SFX(kern_gelu_tanh_f32)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, SFX(v_gelu_tanh)(vload(x + i)));
    kern_gelu_tanh_f32_ref(y + i, x + i, n - i);
}

static void SFX(kern_gelu_erf_f32)(float *y, const float *x, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, SFX(v_gelu_erf)(vload(x + i)));
    kern_gelu_erf_f32_ref(y + i, x + i, n - i);
}

static void SFX(kern_swiglu_f32)(float *y, const float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vmul(SFX(v_silu)(vload(gate + i)), vload(up + i)));
    kern_swiglu_f32_ref(y + i, gate + i, up + i, n - i);
}

static void SFX(kern_geglu_f32)(float *y, const float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vmul(SFX(v_gelu_tanh)(vload(gate + i)), vload(up + i)));
    kern_geglu_f32_ref(y + i, gate + i, up + i, n - i);
}

static void SFX(kern_geglu_erf_f32)(float *y, const float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vmul(SFX(v_gelu_erf)(vload(gate + i)), vload(up + i)));
    kern_geglu_erf_f32_ref(y + i, gate + i, up + i, n - i);
}

/* ---- elementwise ---------------------------------------------------------------------- */

static void SFX(kern_add_f32)(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vadd(vload(a + i), vload(b + i)));
    for (; i < n; i++)
        y[i] = a[i] + b[i];
}

static void SFX(kern_mul_f32)(float *y, const float *a, const float *b, size_t n) {
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vmul(vload(a + i), vload(b + i)));
    for (; i < n; i++)
        y[i] = a[i] * b[i];
}

static void SFX(kern_scale_f32)(float *y, const float *x, float s, size_t n) {
    vf sv = vset1(s);
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vmul(sv, vload(x + i)));
    for (; i < n; i++)
        y[i] = s * x[i];
}

static void SFX(kern_axpy_f32)(float *y, float a, const float *x, size_t n) {
    vf av = vset1(a);
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        vstore(y + i, vfmadd(av, vload(x + i), vload(y + i)));
    kern_axpy_f32_ref(y + i, a, x + i, n - i);
}

/* ---- selection ------------------------------------------------------------------------ */

static size_t SFX(kern_argmax_f32)(const float *x, size_t n) {
    /* Pass 1: the maximum (NaN ignored). Pass 2: its first index. */
    vf m = vset1(-INFINITY);
    size_t i = 0;
    for (; i + VW <= n; i += VW)
        m = vmax(vload(x + i), m);
    float mx = vhmax(m);
    for (; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (i = 0; i + VW <= n; i += VW) {
        unsigned bits = vmask_eq(vload(x + i), mx);
        if (bits) return i + (size_t)__builtin_ctz(bits);
    }
    for (; i < n; i++)
        if (x[i] == mx) return i;
    return 0; /* every element NaN */
}

static size_t SFX(topk_skip)(const float *x, size_t i, size_t n, float thr) {
    while (i + VW <= n && !vany_gt(vload(x + i), thr))
        i += VW;
    return i;
}

static size_t SFX(kern_topk_f32)(float *vals, int32_t *idx, const float *x, size_t n, size_t k) {
    return kern_topk_f32_heap(vals, idx, x, n, k, SFX(topk_skip));
}

const kern_ops_table SFX(kern_ops_table) = {
    .name = SFX_NAME,
    .rmsnorm = SFX(kern_rmsnorm_f32),
    .layernorm = SFX(kern_layernorm_f32),
    .l2_normalize = SFX(kern_l2_normalize_f32),
    .softmax = SFX(kern_softmax_f32),
    .log_softmax = SFX(kern_log_softmax_f32),
    .rope = SFX(kern_rope_f32),
    .exp = SFX(kern_exp_f32),
    .silu = SFX(kern_silu_f32),
    .gelu_tanh = SFX(kern_gelu_tanh_f32),
    .gelu_erf = SFX(kern_gelu_erf_f32),
    .swiglu = SFX(kern_swiglu_f32),
    .geglu = SFX(kern_geglu_f32),
    .geglu_erf = SFX(kern_geglu_erf_f32),
    .add = SFX(kern_add_f32),
    .mul = SFX(kern_mul_f32),
    .scale = SFX(kern_scale_f32),
    .axpy = SFX(kern_axpy_f32),
    .argmax = SFX(kern_argmax_f32),
    .topk = SFX(kern_topk_f32),
    .attention = SFX(kern_attention_f32),
};
