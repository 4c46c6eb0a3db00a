/* Scalar references of the float ops: the specification every SIMD variant is tested
 * against (docs/kernels-ops.md).
 *
 * Every result is computed in double from the f32 inputs and rounded once to f32 (sums,
 * means and variances accumulate in double, transcendental functions come from libm's
 * double versions), so these functions are accurate to about 1 ulp of f32 and do not
 * depend on summation order within SIMD lanes. Formulas follow the usual definitions
 * (rmsnorm/layernorm as in the llama and BERT papers, rope as in RoFormer with ggml's
 * NORMAL/NEOX pairings, gelu as in Hendrycks & Gimpel). */
#include "kernels/ops.h"

#include <math.h>

#include "core/assert.h"
#include "kernels/ops_internal.h"

/* ---- norms ---------------------------------------------------------------------------- */

void kern_rmsnorm_f32_ref(float *y, float *rstd, const float *x, const float *w, size_t T, size_t C,
                          float eps) {
    RW_ASSERT(C > 0, "rmsnorm: C must be positive");
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double ss = 0.0;
        for (size_t c = 0; c < C; c++)
            ss += (double)xr[c] * (double)xr[c];
        double r = 1.0 / sqrt(ss / (double)C + (double)eps);
        for (size_t c = 0; c < C; c++) {
            double v = (double)xr[c] * r;
            if (w) v *= (double)w[c];
            yr[c] = (float)v;
        }
        if (rstd) rstd[t] = (float)r;
    }
}

void kern_layernorm_f32_ref(float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, size_t T, size_t C, float eps) {
    RW_ASSERT(C > 0, "layernorm: C must be positive");
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double mu = 0.0;
        for (size_t c = 0; c < C; c++)
            mu += (double)xr[c];
        mu /= (double)C;
        double var = 0.0;
        for (size_t c = 0; c < C; c++) {
            double d = (double)xr[c] - mu;
            var += d * d;
        }
        var /= (double)C; /* biased, as BERT and torch.nn.LayerNorm */
        double r = 1.0 / sqrt(var + (double)eps);
        for (size_t c = 0; c < C; c++) {
            double v = ((double)xr[c] - mu) * r;
            if (w) v *= (double)w[c];
            if (b) v += (double)b[c];
            yr[c] = (float)v;
        }
        if (mean) mean[t] = (float)mu;
        if (rstd) rstd[t] = (float)r;
    }
}

void kern_l2_normalize_f32_ref(float *y, float *norm, const float *x, size_t T, size_t C,
                               float eps) {
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * C; /* [C] */
        float *yr = y + t * C;       /* [C] */
        double ss = 0.0;
        for (size_t c = 0; c < C; c++)
            ss += (double)xr[c] * (double)xr[c];
        double n = sqrt(ss);
        if (!(n >= (double)eps) && !isnan(n)) n = (double)eps;
        for (size_t c = 0; c < C; c++)
            yr[c] = (float)((double)xr[c] / n);
        if (norm) norm[t] = (float)n;
    }
}

/* ---- softmax -------------------------------------------------------------------------- */

/* z of an included entry, or -inf for an excluded one (mask -inf: x is not read). */
static double softmax_z(const float *xr, const float *mr, size_t j) {
    if (!mr) return (double)xr[j];
    if (mr[j] == -INFINITY) return -HUGE_VAL;
    return (double)xr[j] + (double)mr[j];
}

/* Max and log-sum-exp of one row in double; returns lse, sets *mx. lse = -inf when nothing
 * is included; NaN when an included z is NaN or +inf. */
static double softmax_row_stats(const float *xr, const float *mr, size_t n_valid, double *mx) {
    double m = -HUGE_VAL;
    for (size_t j = 0; j < n_valid; j++) {
        double z = softmax_z(xr, mr, j);
        if (isnan(z)) { /* poisons the row even when everything else is excluded */
            *mx = z;
            return z;
        }
        if (z > m) m = z;
    }
    *mx = m;
    if (m == -HUGE_VAL) return -HUGE_VAL;
    double s = 0.0;
    for (size_t j = 0; j < n_valid; j++)
        s += exp(softmax_z(xr, mr, j) - m);
    return m + log(s);
}

static void softmax_check(size_t N, size_t n_valid) {
    RW_ASSERT(n_valid <= N, "softmax: n_valid %zu > N %zu", n_valid, N);
}

void kern_softmax_f32_ref(float *y, float *lse, const float *x, const float *mask,
                          size_t mask_stride, size_t T, size_t N, size_t n_valid) {
    softmax_check(N, n_valid);
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * N;                            /* [N] */
        const float *mr = mask ? mask + t * mask_stride : NULL; /* [N] */
        float *yr = y + t * N;                                  /* [N] */
        double m;
        double l = softmax_row_stats(xr, mr, n_valid, &m);
        if (m == -HUGE_VAL) {
            for (size_t j = 0; j < N; j++)
                yr[j] = 0.0f;
        } else {
            /* exp(z - lse) == exp(z - m) / sum; NaN/+inf rows propagate through l. */
            for (size_t j = 0; j < n_valid; j++) {
                double z = softmax_z(xr, mr, j);
                yr[j] = z == -HUGE_VAL ? 0.0f : (float)exp(z - l);
            }
            for (size_t j = n_valid; j < N; j++)
                yr[j] = 0.0f;
        }
        if (lse) lse[t] = (float)l;
    }
}

void kern_log_softmax_f32_ref(float *y, float *lse, const float *x, const float *mask,
                              size_t mask_stride, size_t T, size_t N, size_t n_valid) {
    softmax_check(N, n_valid);
    for (size_t t = 0; t < T; t++) {
        const float *xr = x + t * N;                            /* [N] */
        const float *mr = mask ? mask + t * mask_stride : NULL; /* [N] */
        float *yr = y + t * N;                                  /* [N] */
        double m;
        double l = softmax_row_stats(xr, mr, n_valid, &m);
        for (size_t j = 0; j < n_valid; j++) {
            double z = softmax_z(xr, mr, j);
            yr[j] = (m == -HUGE_VAL || z == -HUGE_VAL) ? -INFINITY : (float)(z - l);
        }
        for (size_t j = n_valid; j < N; j++)
            yr[j] = -INFINITY;
        if (lse) lse[t] = (float)l;
    }
}

/* ---- rope ----------------------------------------------------------------------------- */

void kern_rope_inv_freq(double *f, size_t i0, size_t n, const kern_rope_cfg *cfg) {
    for (size_t i = 0; i < n; i++)
        f[i] = pow((double)cfg->freq_base, -2.0 * (double)(i0 + i) / (double)cfg->n_rot);
}

void kern_rope_cos_sin(float *cs, float *sn, const double *f, size_t n, int32_t pos,
                       const kern_rope_cfg *cfg, bool inverse) {
    double p = (double)pos * (double)cfg->freq_scale;
    for (size_t i = 0; i < n; i++) {
        double th = p * f[i];
        cs[i] = (float)cos(th);
        double s = sin(th);
        sn[i] = (float)(inverse ? -s : s);
    }
}

void kern_rope_check(size_t stride, size_t H, size_t D, const kern_rope_cfg *cfg) {
    RW_ASSERT(cfg->n_rot % 2 == 0 && cfg->n_rot <= D, "rope: n_rot %zu must be even and <= D %zu",
              cfg->n_rot, D);
    RW_ASSERT(stride >= H * D, "rope: stride %zu < H*D %zu", stride, H * D);
    RW_ASSERT(cfg->mode == KERN_ROPE_NORMAL || cfg->mode == KERN_ROPE_NEOX, "rope: bad mode %d",
              (int)cfg->mode);
}

void kern_rope_f32_ref(float *y, const float *x, size_t stride, const int32_t *pos, size_t T,
                       size_t H, size_t D, const kern_rope_cfg *cfg, bool inverse) {
    kern_rope_check(stride, H, D, cfg);
    size_t half = cfg->n_rot / 2;
    /* The pair offset: (2i, 2i+1) for NORMAL, (i, i+half) for NEOX. */
    for (size_t t = 0; t < T; t++) {
        double p = (double)pos[t] * (double)cfg->freq_scale;
        for (size_t h = 0; h < H; h++) {
            const float *xh = x + t * stride + h * D; /* [D] */
            float *yh = y + t * stride + h * D;       /* [D] */
            for (size_t i = 0; i < half; i++) {
                double th = p * pow((double)cfg->freq_base, -2.0 * (double)i / (double)cfg->n_rot);
                double c = cos(th), s = sin(th);
                if (inverse) s = -s;
                size_t a = cfg->mode == KERN_ROPE_NORMAL ? 2 * i : i;
                size_t b = cfg->mode == KERN_ROPE_NORMAL ? 2 * i + 1 : i + half;
                double xa = (double)xh[a], xb = (double)xh[b];
                yh[a] = (float)(xa * c - xb * s);
                yh[b] = (float)(xa * s + xb * c);
            }
            if (yh != xh)
                for (size_t d = cfg->n_rot; d < D; d++)
                    yh[d] = xh[d];
        }
    }
}

/* ---- activations ---------------------------------------------------------------------- */

void kern_exp_f32_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)exp((double)x[i]);
}

/* The activations' formulas give -inf/inf = NaN at x = -inf; their limit there is -0, which
 * the formula already yields for any x below -1e30, so inputs are clamped to -1e30. */
static double act_in(float x) {
    return x < -1e30f ? -1e30 : (double)x;
}

void kern_silu_f32_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = act_in(x[i]);
        y[i] = (float)(v / (1.0 + exp(-v)));
    }
}

/* 0.5 x (1 + tanh u), u = sqrt(2/pi)(x + 0.044715 x^3), evaluated through the exact
 * identity 0.5 (1 + tanh u) = 1 / (1 + e^(-2u)): 1 + tanh u cancels for x << 0 (in double
 * it is 0 below x ~ -9 and loses digits well before). */
static double gelu_tanh_d(double v) {
    const double k = 0.7978845608028654; /* sqrt(2/pi) */
    double u = k * (v + 0.044715 * v * v * v);
    return v / (1.0 + exp(-2.0 * u));
}

/* 0.5 x (1 + erf(x/sqrt2)) written with erfc so the x << 0 tail keeps its relative
 * accuracy (1 + erf cancels there). */
static double gelu_erf_d(double v) {
    return 0.5 * v * erfc(-v * 0.7071067811865476);
}

void kern_gelu_tanh_f32_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)gelu_tanh_d(act_in(x[i]));
}

void kern_gelu_erf_f32_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)gelu_erf_d(act_in(x[i]));
}

void kern_swiglu_f32_ref(float *y, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = act_in(gate[i]);
        y[i] = (float)(g / (1.0 + exp(-g)) * (double)up[i]);
    }
}

void kern_geglu_f32_ref(float *y, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(gelu_tanh_d(act_in(gate[i])) * (double)up[i]);
}

void kern_geglu_erf_f32_ref(float *y, const float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (float)(gelu_erf_d(act_in(gate[i])) * (double)up[i]);
}

/* ---- elementwise ---------------------------------------------------------------------- */

void kern_add_f32_ref(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

void kern_mul_f32_ref(float *y, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] * b[i];
}

void kern_scale_f32_ref(float *y, const float *x, float s, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = s * x[i];
}

void kern_axpy_f32_ref(float *y, float a, const float *x, size_t n) {
    /* The product of two f32 is exact in double: one rounding of the sum, like an FMA
     * (up to a rare double-rounding tie). */
    for (size_t i = 0; i < n; i++)
        y[i] = (float)((double)y[i] + (double)a * (double)x[i]);
}

/* ---- selection ------------------------------------------------------------------------ */

size_t kern_argmax_f32_ref(const float *x, size_t n) {
    size_t best = 0;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        if (!found || x[i] > x[best]) {
            best = i;
            found = true;
        }
    }
    return best;
}

/* a ranks before b: larger value, or equal value and lower index. */
static bool topk_before(const float *x, int32_t a, int32_t b) {
    return x[a] > x[b] || (x[a] == x[b] && a < b);
}

/* Min-heap on rank (root = the worst kept element) over idx[0..n). */
static void topk_sift_down(const float *x, int32_t *idx, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && topk_before(x, idx[w], idx[l])) w = l;
        if (r < n && topk_before(x, idx[w], idx[r])) w = r;
        if (w == i) return;
        int32_t tmp = idx[i];
        idx[i] = idx[w];
        idx[w] = tmp;
        i = w;
    }
}

static void topk_sift_up(const float *x, int32_t *idx, size_t i) {
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!topk_before(x, idx[p], idx[i])) return;
        int32_t tmp = idx[i];
        idx[i] = idx[p];
        idx[p] = tmp;
        i = p;
    }
}

/* Offers element i to the heap of size *m (capacity k). */
static void topk_offer(const float *x, int32_t *idx, size_t *m, size_t k, size_t i) {
    if (*m < k) {
        idx[*m] = (int32_t)i;
        topk_sift_up(x, idx, *m);
        (*m)++;
    } else if (topk_before(x, (int32_t)i, idx[0])) {
        idx[0] = (int32_t)i;
        topk_sift_down(x, idx, *m, 0);
    }
}

/* Heap-sorts idx[0..m) into rank order (best first) and fills vals. */
static size_t topk_finish(float *vals, int32_t *idx, const float *x, size_t m) {
    for (size_t e = m; e > 1; e--) {
        int32_t tmp = idx[0];
        idx[0] = idx[e - 1];
        idx[e - 1] = tmp;
        topk_sift_down(x, idx, e - 1, 0);
    }
    if (vals)
        for (size_t i = 0; i < m; i++)
            vals[i] = x[idx[i]];
    return m;
}

size_t kern_topk_f32_ref(float *vals, int32_t *idx, const float *x, size_t n, size_t k) {
    RW_ASSERT(n <= (size_t)INT32_MAX, "topk: n %zu exceeds int32 indices", n);
    size_t m = 0;
    if (k == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) topk_offer(x, idx, &m, k, i);
    return topk_finish(vals, idx, x, m);
}

size_t kern_topk_f32_heap(float *vals, int32_t *idx, const float *x, size_t n, size_t k,
                          size_t (*skip)(const float *x, size_t i, size_t n, float thr)) {
    RW_ASSERT(n <= (size_t)INT32_MAX, "topk: n %zu exceeds int32 indices", n);
    size_t m = 0;
    if (k == 0) return 0;
    for (size_t i = 0; i < n;) {
        if (m == k) {
            /* Later indices lose ties, so only x > root can enter. */
            size_t j = skip(x, i, n, x[idx[0]]);
            if (j > i) {
                i = j;
                continue;
            }
        }
        if (!isnan(x[i])) topk_offer(x, idx, &m, k, i);
        i++;
    }
    return topk_finish(vals, idx, x, m);
}
