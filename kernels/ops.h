/* Float (f32) ops on raw buffers: norms, softmax, rope, activations, elementwise, argmax,
 * top-k. The scalar `kern_<op>_f32_ref` functions are the specification; the unsuffixed
 * `kern_<op>_f32` entry points go through a dispatch table chosen once from
 * kern_cpu_level() (AVX-512, AVX2+FMA, or the reference; RW_KERNELS=scalar forces the
 * reference). Full contract, error bounds and NaN policy: docs/kernels-ops.md.
 *
 * Conventions shared by every op here:
 * - Argument order: outputs, optional saved values (for backward, NULL when not wanted),
 *   inputs, shape sizes, scalar parameters.
 * - Shapes: T rows (tokens), C channels, N row length (softmax), H heads, D head dim.
 *   Rows are contiguous unless a stride argument says otherwise.
 * - Outputs may alias their primary input exactly (in place: y == x); partial overlap is
 *   not allowed.
 * - Kernels never allocate, log or fail; size mistakes are programmer errors. Callers
 *   split rows over threads themselves (every op is row-independent).
 * - NaN in -> NaN out for elementwise ops; a NaN inside a reduced row poisons that row.
 *   Exceptions are documented per op (masked softmax entries, argmax/top-k skip NaN). */
#ifndef RW_KERNELS_OPS_H
#define RW_KERNELS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- normalisation ------------------------------------------------------------------ */

/* y[t,c] = x[t,c] * r[t] * w[c] with r[t] = 1/sqrt(mean_c(x[t,c]^2) + eps).
 * y: [T,C]; rstd: [T] or NULL, receives r[t] (what backward needs); x: [T,C];
 * w: [C] or NULL (NULL means all ones). eps: e.g. 1e-6 (qwen), 1e-5 (llama). */
void kern_rmsnorm_f32(float *y, float *rstd, const float *x, const float *w, size_t T, size_t C,
                      float eps);

/* y[t,c] = (x[t,c] - mu[t]) * r[t] * w[c] + b[c], mu the row mean, r = 1/sqrt(var + eps)
 * with the biased variance var = mean_c (x - mu)^2 (BERT: eps = 1e-12).
 * y: [T,C]; mean: [T] or NULL (mu); rstd: [T] or NULL (r); x: [T,C]; w: [C] or NULL
 * (ones); b: [C] or NULL (zeros). */
void kern_layernorm_f32(float *y, float *mean, float *rstd, const float *x, const float *w,
                        const float *b, size_t T, size_t C, float eps);

/* y[t,c] = x[t,c] / n[t] with n[t] = max(||x[t,:]||_2, eps) (torch F.normalize; embeddings
 * use eps = 1e-12). y: [T,C]; norm: [T] or NULL, receives n[t] (backward: dy/dx =
 * (I - y y^T) / n while ||x|| > eps); x: [T,C]. A zero row gives zeros. */
void kern_l2_normalize_f32(float *y, float *norm, const float *x, size_t T, size_t C, float eps);

/* ---- softmax ------------------------------------------------------------------------ */

/* Row-wise stable softmax of z[t,j] = x[t,j] + mask[t,j] over the first n_valid columns.
 * Columns j >= n_valid and entries whose mask is -inf are excluded: their y is 0 and their
 * x is not read (may be garbage). A row where nothing remains (or every remaining z is
 * -inf) gives all zeros and lse = -inf. A NaN or +inf among the included z makes every
 * included y and lse NaN (excluded entries stay 0).
 * y: [T,N]; lse: [T] or NULL, receives log(sum_j exp(z[t,j])) (natural log; backward and
 * cross-entropy use it); x: [T,N]; mask: NULL (no additive mask) or additive values with
 * row t at mask + t*mask_stride (mask_stride 0 broadcasts one [N] row); n_valid <= N. */
void kern_softmax_f32(float *y, float *lse, const float *x, const float *mask, size_t mask_stride,
                      size_t T, size_t N, size_t n_valid);

/* log-softmax with the same masking: y[t,j] = z[t,j] - lse[t] for included entries,
 * -inf for excluded ones; a row with nothing included is all -inf (lse = -inf). */
void kern_log_softmax_f32(float *y, float *lse, const float *x, const float *mask,
                          size_t mask_stride, size_t T, size_t N, size_t n_valid);

/* ---- rotary position embedding ------------------------------------------------------ */

typedef enum kern_rope_mode {
    KERN_ROPE_NORMAL = 0, /* rotate pairs (2i, 2i+1): llama, mistral */
    KERN_ROPE_NEOX = 1,   /* rotate pairs (i, i + n_rot/2): qwen2, qwen3, gemma, gpt-neox */
} kern_rope_mode;

typedef struct kern_rope_cfg {
    kern_rope_mode mode;
    size_t n_rot;     /* rotated dims per head, even, <= D; dims [n_rot, D) pass through */
    float freq_base;  /* 10000 (llama), 1000000 (qwen2/qwen3) */
    float freq_scale; /* linear position scaling, 1 = none (ggml's rope freq_scale) */
} kern_rope_cfg;

/* For pair i in [0, n_rot/2): theta = pos[t] * freq_scale * freq_base^(-2i/n_rot), and
 *   (y_a, y_b) = (x_a cos theta - x_b sin theta, x_a sin theta + x_b cos theta)
 * with (a, b) = (2i, 2i+1) for NORMAL or (i, i + n_rot/2) for NEOX. inverse = true rotates
 * by -theta (the transpose: backward of rope, or undoing it).
 * y, x: token t, head h starts at t*stride + h*D (stride >= H*D floats; y may be x);
 * pos: [T] absolute positions. Angles and cos/sin are computed in double. */
void kern_rope_f32(float *y, const float *x, size_t stride, const int32_t *pos, size_t T, size_t H,
                   size_t D, const kern_rope_cfg *cfg, bool inverse);

/* ---- activations (n elements, y may be x) ------------------------------------------- */

/* exp: y = e^x.  silu: y = x / (1 + e^-x).
 * gelu_tanh: y = 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
 * gelu_erf: y = 0.5x(1 + erf(x/sqrt2)).
 * act(-inf) = -0 (the limit), act(+inf) = +inf, NaN -> NaN. */
void kern_exp_f32(float *y, const float *x, size_t n);
void kern_silu_f32(float *y, const float *x, size_t n);
void kern_gelu_tanh_f32(float *y, const float *x, size_t n);
void kern_gelu_erf_f32(float *y, const float *x, size_t n);
/* Gated units: y = act(gate) * up. y, gate, up: [n] (y may alias gate or up). */
void kern_swiglu_f32(float *y, const float *gate, const float *up, size_t n);    /* silu */
void kern_geglu_f32(float *y, const float *gate, const float *up, size_t n);     /* gelu tanh */
void kern_geglu_erf_f32(float *y, const float *gate, const float *up, size_t n); /* gelu erf */

/* ---- elementwise (n elements; y may alias an input) --------------------------------- */

void kern_add_f32(float *y, const float *a, const float *b, size_t n); /* y = a + b */
void kern_mul_f32(float *y, const float *a, const float *b, size_t n); /* y = a * b */
void kern_scale_f32(float *y, const float *x, float s, size_t n);      /* y = s * x */
void kern_axpy_f32(float *y, float a, const float *x, size_t n);       /* y += a * x */

/* ---- selection ---------------------------------------------------------------------- */

/* Index of the largest element; ties go to the lowest index; NaN is never selected.
 * Returns 0 when n == 0 or every element is NaN. x: [n]. */
size_t kern_argmax_f32(const float *x, size_t n);

/* The k largest elements in descending order, ties broken by the lower index, NaN
 * skipped. Writes min(k, number of non-NaN elements) entries and returns that count.
 * vals: [k] or NULL; idx: [k] (required, also used as the working heap); x: [n]. */
size_t kern_topk_f32(float *vals, int32_t *idx, const float *x, size_t n, size_t k);

/* ---- scalar references (the specification; same contracts as above) ----------------- */

void kern_rmsnorm_f32_ref(float *y, float *rstd, const float *x, const float *w, size_t T, size_t C,
                          float eps);
void kern_layernorm_f32_ref(float *y, float *mean, float *rstd, const float *x, const float *w,
                            const float *b, size_t T, size_t C, float eps);
void kern_l2_normalize_f32_ref(float *y, float *norm, const float *x, size_t T, size_t C,
                               float eps);
void kern_softmax_f32_ref(float *y, float *lse, const float *x, const float *mask,
                          size_t mask_stride, size_t T, size_t N, size_t n_valid);
void kern_log_softmax_f32_ref(float *y, float *lse, const float *x, const float *mask,
                              size_t mask_stride, size_t T, size_t N, size_t n_valid);
void kern_rope_f32_ref(float *y, const float *x, size_t stride, const int32_t *pos, size_t T,
                       size_t H, size_t D, const kern_rope_cfg *cfg, bool inverse);
void kern_exp_f32_ref(float *y, const float *x, size_t n);
void kern_silu_f32_ref(float *y, const float *x, size_t n);
void kern_gelu_tanh_f32_ref(float *y, const float *x, size_t n);
void kern_gelu_erf_f32_ref(float *y, const float *x, size_t n);
void kern_swiglu_f32_ref(float *y, const float *gate, const float *up, size_t n);
void kern_geglu_f32_ref(float *y, const float *gate, const float *up, size_t n);
void kern_geglu_erf_f32_ref(float *y, const float *gate, const float *up, size_t n);
void kern_add_f32_ref(float *y, const float *a, const float *b, size_t n);
void kern_mul_f32_ref(float *y, const float *a, const float *b, size_t n);
void kern_scale_f32_ref(float *y, const float *x, float s, size_t n);
void kern_axpy_f32_ref(float *y, float a, const float *x, size_t n);
size_t kern_argmax_f32_ref(const float *x, size_t n);
size_t kern_topk_f32_ref(float *vals, int32_t *idx, const float *x, size_t n, size_t k);

/* Name of the variant the dispatch table uses ("scalar", "avx2", "avx512"). */
const char *kern_ops_variant(void);

#endif
