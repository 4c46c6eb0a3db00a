/* Folder-private: the dispatch table of the float ops and attention, the per-ISA variants
 * behind it, and helpers the variants share. Tests include this to run every variant the
 * CPU supports against the reference (kern_ops_table_for). */
#ifndef RW_KERNELS_OPS_INTERNAL_H
#define RW_KERNELS_OPS_INTERNAL_H

#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/ops.h"

typedef struct kern_ops_table {
    const char *name;
    void (*rmsnorm)(float *y, float *rstd, const float *x, const float *w, size_t T, size_t C,
                    float eps);
    void (*layernorm)(float *y, float *mean, float *rstd, const float *x, const float *w,
                      const float *b, size_t T, size_t C, float eps);
    void (*l2_normalize)(float *y, float *norm, const float *x, size_t T, size_t C, float eps);
    void (*softmax)(float *y, float *lse, const float *x, const float *mask, size_t mask_stride,
                    size_t T, size_t N, size_t n_valid);
    void (*log_softmax)(float *y, float *lse, const float *x, const float *mask, size_t mask_stride,
                        size_t T, size_t N, size_t n_valid);
    void (*rope)(float *y, const float *x, size_t stride, const int32_t *pos, size_t T, size_t H,
                 size_t D, const kern_rope_cfg *cfg, bool inverse);
    void (*exp)(float *y, const float *x, size_t n);
    void (*silu)(float *y, const float *x, size_t n);
    void (*gelu_tanh)(float *y, const float *x, size_t n);
    void (*gelu_erf)(float *y, const float *x, size_t n);
    void (*swiglu)(float *y, const float *gate, const float *up, size_t n);
    void (*geglu)(float *y, const float *gate, const float *up, size_t n);
    void (*geglu_erf)(float *y, const float *gate, const float *up, size_t n);
    void (*add)(float *y, const float *a, const float *b, size_t n);
    void (*mul)(float *y, const float *a, const float *b, size_t n);
    void (*scale)(float *y, const float *x, float s, size_t n);
    void (*axpy)(float *y, float a, const float *x, size_t n);
    size_t (*argmax)(const float *x, size_t n);
    size_t (*topk)(float *vals, int32_t *idx, const float *x, size_t n, size_t k);
    void (*attention)(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1);
} kern_ops_table;

/* The table in use (chosen once from kern_cpu_level()). */
const kern_ops_table *kern_ops_table_get(void);
/* The table of one level, or NULL when this CPU cannot run it (ignores RW_KERNELS). */
const kern_ops_table *kern_ops_table_for(kern_level level);

/* Per-ISA tables (ops_avx2.c, ops_avx512.c). */
extern const kern_ops_table kern_ops_table_ref;
extern const kern_ops_table kern_ops_table_avx2;
extern const kern_ops_table kern_ops_table_avx512;

/* Per-ISA attention (attention_avx2.c, attention_avx512.c). */
void kern_attention_f32_avx2(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1);
void kern_attention_f32_avx512(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1);

/* Shared by the rope variants: f[i] = freq_base^(-2(i0+i)/n_rot) for i in [0, n) (double,
 * as the reference computes it), then for one position cs[i] = cos and sn[i] = sin (or -sin
 * when inverse) of theta_i = (pos * freq_scale) * f[i]. f, cs, sn: [n]. */
void kern_rope_inv_freq(double *f, size_t i0, size_t n, const kern_rope_cfg *cfg);
void kern_rope_cos_sin(float *cs, float *sn, const double *f, size_t n, int32_t pos,
                       const kern_rope_cfg *cfg, bool inverse);
/* Pairs processed per cos/sin chunk by the rope variants (bounds their stack arrays). */
enum { KERN_ROPE_CHUNK = 64 };

/* Top-k with the reference's heap; skip(x, i, n, thr) returns the first index >= i that
 * may hold a value > thr (a SIMD scan), letting the variants jump over losing blocks. */
size_t kern_topk_f32_heap(float *vals, int32_t *idx, const float *x, size_t n, size_t k,
                          size_t (*skip)(const float *x, size_t i, size_t n, float thr));

/* Resolves zero strides in a to the contiguous defaults (attention.h). */
void kern_attn_resolve(kern_attn_args *r, const kern_attn_args *a);

/* Programmer-error checks of rope's arguments (even n_rot <= D, stride >= H*D, known mode),
 * shared by the reference and every SIMD variant. */
void kern_rope_check(size_t stride, size_t H, size_t D, const kern_rope_cfg *cfg);

#endif
