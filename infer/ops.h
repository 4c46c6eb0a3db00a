/* The op layer: every forward pass (decoder, encoder, LoRA, training losses) is written as
 * calls to these functions on rw_tensor values, once.
 *
 * An infer_ctx carries the step arena (outputs and scratch come from it; nothing is freed
 * until the caller resets the arena), the thread pool, and an optional tape. Each op
 *   1. allocates its output descriptor and data from the arena,
 *   2. runs the kernels (kernels/ops.h, kernels/matmul.h, kernels/attention.h),
 *   3. when ctx->tape is set and an input needs a gradient (rw_tensor_needs_grad), flags the
 *      output RW_TENSOR_NEEDS_GRAD and appends one rw_tape_rec with everything backward
 *      needs (docs/inference.md lists what each op saves).
 * Without a tape nothing is recorded and nothing beyond the output is kept.
 *
 * Layout: activations are f32, contiguous, ggml order: a matrix {C, T} is T rows of C
 * values (token t's features at data + t*C). Weights W are {K, N}: N rows of K values of
 * any supported type (kernels/quant.h), frozen (mmapped) or an f32 trainable parameter.
 *
 * Errors: when the arena is full (or the tape cannot grow) an op returns NULL and stores the
 * error in ctx->status/ctx->err; later ops given a NULL input return NULL at once, so a
 * forward pass checks once at the end (infer_ctx_ok). Shape mistakes are programmer errors
 * (RW_ASSERT). */
#ifndef INFER_OPS_H
#define INFER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/pool.h"
#include "core/status.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "kernels/ops.h"

typedef struct infer_ctx {
    rw_arena *arena; /* borrowed: step memory */
    rw_pool *pool;   /* borrowed, may be NULL (single thread) */
    rw_tape *tape;   /* borrowed, NULL at inference */
    /* Matrix products with quantized weights: false (default) quantizes activations to the
     * weight's vec_dot_type like llama.cpp (fast); true dequantizes weight rows to f32 and
     * multiplies in f32 (exact reference path; F32/F16/BF16 weights always use f32). */
    bool f32_activations;
    rw_status status; /* first error, RW_OK while none */
    rw_err err;
} infer_ctx;

void infer_ctx_init(infer_ctx *ctx, rw_arena *arena, rw_pool *pool, rw_tape *tape);
static inline bool infer_ctx_ok(const infer_ctx *ctx) {
    return ctx->status == RW_OK;
}
/* Copies ctx's first error into err (when non-NULL) and returns it. */
rw_status infer_ctx_error(const infer_ctx *ctx, rw_err *err);

/* A new contiguous tensor from the arena (data uninitialised; zeroed with _zeros). */
rw_tensor *infer_new(infer_ctx *ctx, rw_dtype type, int n_dims, const int64_t *ne);
rw_tensor *infer_new_2d(infer_ctx *ctx, int64_t c, int64_t t);
rw_tensor *infer_zeros_2d(infer_ctx *ctx, int64_t c, int64_t t);
/* A view of rows [t0, t0+n) of a contiguous {C, T} f32 tensor (shares data; recorded as
 * RW_OP_RESHAPE with i[0] = t0 so backward can route the gradient). */
rw_tensor *infer_rows(infer_ctx *ctx, rw_tensor *x, int64_t t0, int64_t n);
/* Arena position, and rollback to it (inference only: everything allocated after the mark
 * is forgotten; never use with a tape, whose records point into the arena). */
static inline size_t infer_mark(const infer_ctx *ctx) {
    return ctx->arena->used;
}
void infer_rollback(infer_ctx *ctx, size_t mark);
/* Bytes from the arena for op scratch (64-aligned); NULL + ctx error when full. */
void *infer_scratch(infer_ctx *ctx, size_t n);

/* ---- linear algebra --------------------------------------------------------------- */
/* Y{N,T} = W{K,N} . X{K,T}: y[t] = W x[t]. Records RW_OP_MATMUL when W or X needs grad. */
rw_tensor *infer_op_matmul(infer_ctx *ctx, rw_tensor *w, rw_tensor *x);

/* ---- elementwise ------------------------------------------------------------------ */
/* a + b / a * b; b is the same shape as a, or one row {C,1} broadcast over a's rows. */
rw_tensor *infer_op_add(infer_ctx *ctx, rw_tensor *a, rw_tensor *b);
rw_tensor *infer_op_mul(infer_ctx *ctx, rw_tensor *a, rw_tensor *b);
rw_tensor *infer_op_scale(infer_ctx *ctx, rw_tensor *a, float s);
rw_tensor *infer_op_silu(infer_ctx *ctx, rw_tensor *a);
/* erf_form: false = tanh approximation (BERT in GGUF, llama.cpp's gelu), true = erf. */
rw_tensor *infer_op_gelu(infer_ctx *ctx, rw_tensor *a, bool erf_form);
rw_tensor *infer_op_swiglu(infer_ctx *ctx, rw_tensor *gate, rw_tensor *up);
rw_tensor *infer_op_geglu(infer_ctx *ctx, rw_tensor *gate, rw_tensor *up);

/* ---- embedding and normalisation ---------------------------------------------------- */
/* dst{C,T}: row t = table{C,V} row ids[t] (any table type, dequantized). ids are copied. */
rw_tensor *infer_op_embed(infer_ctx *ctx, rw_tensor *table, const int32_t *ids, int64_t n);
/* Row-wise over ne[0] (w may be NULL = ones). x may be {C,T} or {D, H*T} for per-head norms. */
rw_tensor *infer_op_rmsnorm(infer_ctx *ctx, rw_tensor *x, rw_tensor *w, float eps);
rw_tensor *infer_op_layernorm(infer_ctx *ctx, rw_tensor *x, rw_tensor *w, rw_tensor *b, float eps);
/* Reinterprets a contiguous tensor with new dims (same element count; a view). */
rw_tensor *infer_op_reshape_2d(infer_ctx *ctx, rw_tensor *x, int64_t c, int64_t t);

/* ---- positional and attention -------------------------------------------------------- */
/* x{H*D, T} with pos[T] absolute positions (copied). freq_factors: NULL, or an f32
 * {n_rot/2} tensor dividing each pair's angle (Llama 3 "rope_freqs.weight"). */
rw_tensor *infer_op_rope(infer_ctx *ctx, rw_tensor *x, int64_t n_head, int64_t head_dim,
                         const int32_t *pos, const kern_rope_cfg *cfg, rw_tensor *freq_factors);

/* The rotation of infer_op_rope with frequency factors on raw buffers: pair i of token t
 * turns by theta = pos[t] * freq_scale * freq_base^(-2i/n_rot) / ff[i] (by -theta when
 * inverse: rope's backward). Layout as kern_rope_f32 (head h of token t at t*stride + h*D;
 * y may be x). Angles and cos/sin in double, rotation in f32 (the SIMD kernel's precision). */
void infer_rope_ff_f32(float *y, const float *x, size_t stride, const int32_t *pos, int64_t T,
                       int64_t H, int64_t D, const kern_rope_cfg *cfg, const float *ff,
                       bool inverse);

typedef struct infer_attn_cfg {
    int64_t n_head, n_head_kv, head_dim;
    float scale;     /* usually 1/sqrt(head_dim) */
    bool causal;     /* query t sees keys s <= pos0 + t */
    int64_t pos0;    /* absolute position of query 0 (keys are positions 0..S-1) */
    int64_t n_valid; /* keys >= n_valid hidden (padding); <= 0 means all S */
    /* Packed batch (encoder): when n_seq > 0, q, k and v hold n_seq sequences back to back
     * (seq_lens[b] rows each, T == S == sum) and each attends only within itself; pos0 and
     * n_valid are then ignored (causal still applies per sequence from position 0). */
    const int32_t *seq_lens;
    int64_t n_seq;
    /* Sliding window (gemma3 local layers): > 0 hides key s from query t when
     * (pos0 + t) - s >= window. Not combined with packed batches. */
    int64_t window;
} infer_attn_cfg;
/* q{H*D, T}, k{Hkv*D, S}, v{Hkv*D, S} -> out{H*D, T}. Saves lse[T*H] for backward. */
rw_tensor *infer_op_attention(infer_ctx *ctx, rw_tensor *q, rw_tensor *k, rw_tensor *v,
                              const infer_attn_cfg *cfg);

/* ---- heads ---------------------------------------------------------------------------- */
/* Row-wise softmax over ne[0]. */
rw_tensor *infer_op_softmax(infer_ctx *ctx, rw_tensor *x);
/* Mean cross-entropy of logits{V,T} against targets[T] (target < 0: ignored). Scalar {1,1}
 * output; saves targets and the per-row log-sum-exp. */
rw_tensor *infer_op_cross_entropy(infer_ctx *ctx, rw_tensor *logits, const int32_t *targets);
/* x{C, total} holding n_seq sequences back to back (lens[b] rows each) -> {C, n_seq}
 * means. lens copied and saved. */
rw_tensor *infer_op_mean_pool(infer_ctx *ctx, rw_tensor *x, const int32_t *lens, int64_t n_seq);
/* Picks row rows[b] of x for every b -> {C, n}: cls / last-token pooling. */
rw_tensor *infer_op_gather_rows(infer_ctx *ctx, rw_tensor *x, const int32_t *rows, int64_t n);
/* Each row divided by max(||row||_2, 1e-12). Saves the norms. */
rw_tensor *infer_op_l2_normalize(infer_ctx *ctx, rw_tensor *x);
/* a{C,Na}, b{C,Nb} -> {Nb, Na}: dst[i][j] = a_i . b_j (cosine when rows are normalised). */
rw_tensor *infer_op_cossim(infer_ctx *ctx, rw_tensor *a, rw_tensor *b);

#endif
