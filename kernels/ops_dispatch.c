/* Run-time dispatch of the float ops and attention: one table per ISA level, chosen once
 * (pthread_once) from kern_cpu_level(), which honours RW_KERNELS=scalar|avx2. The public
 * unsuffixed entry points forward to the chosen table. */
#include "kernels/ops.h"

#include <pthread.h>

#include "kernels/attention.h"
#include "kernels/cpu.h"
#include "kernels/ops_internal.h"

const kern_ops_table kern_ops_table_ref = {
    .name = "scalar",
    .rmsnorm = kern_rmsnorm_f32_ref,
    .layernorm = kern_layernorm_f32_ref,
    .l2_normalize = kern_l2_normalize_f32_ref,
    .softmax = kern_softmax_f32_ref,
    .log_softmax = kern_log_softmax_f32_ref,
    .rope = kern_rope_f32_ref,
    .exp = kern_exp_f32_ref,
    .silu = kern_silu_f32_ref,
    .gelu_tanh = kern_gelu_tanh_f32_ref,
    .gelu_erf = kern_gelu_erf_f32_ref,
    .swiglu = kern_swiglu_f32_ref,
    .geglu = kern_geglu_f32_ref,
    .geglu_erf = kern_geglu_erf_f32_ref,
    .add = kern_add_f32_ref,
    .mul = kern_mul_f32_ref,
    .scale = kern_scale_f32_ref,
    .axpy = kern_axpy_f32_ref,
    .argmax = kern_argmax_f32_ref,
    .topk = kern_topk_f32_ref,
    .attention = kern_attention_f32_ref,
};

static const kern_ops_table *g_table;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

const kern_ops_table *kern_ops_table_for(kern_level level) {
#if defined(__x86_64__)
    const kern_cpu_features *f = kern_cpu_get();
    bool avx2 = f->avx2 && f->fma && f->f16c;
    bool avx512 = avx2 && f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl;
    switch (level) {
    case KERN_LEVEL_SCALAR:
        return &kern_ops_table_ref;
    case KERN_LEVEL_AVX2:
        return avx2 ? &kern_ops_table_avx2 : NULL;
    case KERN_LEVEL_AVX512:
        return avx512 ? &kern_ops_table_avx512 : NULL;
    }
    return NULL;
#else
    return level == KERN_LEVEL_SCALAR ? &kern_ops_table_ref : NULL;
#endif
}

static void choose(void) {
    const kern_ops_table *t = NULL;
    for (int l = (int)kern_cpu_level(); l >= 0 && !t; l--)
        t = kern_ops_table_for((kern_level)l);
    g_table = t ? t : &kern_ops_table_ref;
}

const kern_ops_table *kern_ops_table_get(void) {
    pthread_once(&g_once, choose);
    return g_table;
}

const char *kern_ops_variant(void) {
    return kern_ops_table_get()->name;
}

void kern_rmsnorm_f32(float *y, float *rstd, const float *x, const float *w, size_t T, size_t C,
                      float eps) {
    kern_ops_table_get()->rmsnorm(y, rstd, x, w, T, C, eps);
}

void kern_layernorm_f32(float *y, float *mean, float *rstd, const float *x, const float *w,
                        const float *b, size_t T, size_t C, float eps) {
    kern_ops_table_get()->layernorm(y, mean, rstd, x, w, b, T, C, eps);
}

void kern_l2_normalize_f32(float *y, float *norm, const float *x, size_t T, size_t C, float eps) {
    kern_ops_table_get()->l2_normalize(y, norm, x, T, C, eps);
}

void kern_softmax_f32(float *y, float *lse, const float *x, const float *mask, size_t mask_stride,
                      size_t T, size_t N, size_t n_valid) {
    kern_ops_table_get()->softmax(y, lse, x, mask, mask_stride, T, N, n_valid);
}

void kern_log_softmax_f32(float *y, float *lse, const float *x, const float *mask,
                          size_t mask_stride, size_t T, size_t N, size_t n_valid) {
    kern_ops_table_get()->log_softmax(y, lse, x, mask, mask_stride, T, N, n_valid);
}

void kern_rope_f32(float *y, const float *x, size_t stride, const int32_t *pos, size_t T, size_t H,
                   size_t D, const kern_rope_cfg *cfg, bool inverse) {
    kern_ops_table_get()->rope(y, x, stride, pos, T, H, D, cfg, inverse);
}

void kern_exp_f32(float *y, const float *x, size_t n) {
    kern_ops_table_get()->exp(y, x, n);
}
void kern_silu_f32(float *y, const float *x, size_t n) {
    kern_ops_table_get()->silu(y, x, n);
}
void kern_gelu_tanh_f32(float *y, const float *x, size_t n) {
    kern_ops_table_get()->gelu_tanh(y, x, n);
}
void kern_gelu_erf_f32(float *y, const float *x, size_t n) {
    kern_ops_table_get()->gelu_erf(y, x, n);
}
void kern_swiglu_f32(float *y, const float *gate, const float *up, size_t n) {
    kern_ops_table_get()->swiglu(y, gate, up, n);
}
void kern_geglu_f32(float *y, const float *gate, const float *up, size_t n) {
    kern_ops_table_get()->geglu(y, gate, up, n);
}
void kern_geglu_erf_f32(float *y, const float *gate, const float *up, size_t n) {
    kern_ops_table_get()->geglu_erf(y, gate, up, n);
}
void kern_add_f32(float *y, const float *a, const float *b, size_t n) {
    kern_ops_table_get()->add(y, a, b, n);
}
void kern_mul_f32(float *y, const float *a, const float *b, size_t n) {
    kern_ops_table_get()->mul(y, a, b, n);
}
void kern_scale_f32(float *y, const float *x, float s, size_t n) {
    kern_ops_table_get()->scale(y, x, s, n);
}
void kern_axpy_f32(float *y, float a, const float *x, size_t n) {
    kern_ops_table_get()->axpy(y, a, x, n);
}
size_t kern_argmax_f32(const float *x, size_t n) {
    return kern_ops_table_get()->argmax(x, n);
}
size_t kern_topk_f32(float *vals, int32_t *idx, const float *x, size_t n, size_t k) {
    return kern_ops_table_get()->topk(vals, idx, x, n, k);
}

void kern_attention_f32(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1) {
    kern_ops_table_get()->attention(a, h0, h1, t0, t1);
}
