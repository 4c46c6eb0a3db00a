/* Scaled dot-product attention on f32 for one layer, all heads (GQA aware).
 *
 *   out[t,h,:] = sum_s p[t,h,s] v[s,g(h),:],   p = softmax_s(scale * q[t,h,:].k[s,g(h),:] + m)
 *
 * with g(h) = h / (n_head / n_head_kv) (consecutive q heads share a kv head, as llama.cpp
 * and HF lay them out) and the mask m[t,s] the sum of:
 *   - causal: key s is visible to query t only when s <= pos0 + t (query t sits at absolute
 *     position pos0 + t; with a KV cache, keys 0..n_kv-1 are positions 0..n_kv-1);
 *   - padding: keys s >= n_valid are invisible (bidirectional encoder over a padded batch:
 *     call once per sequence with its valid length);
 *   - an optional additive mask add[t*add_stride + s] (-inf hides a key).
 * A query row that sees no key (or only -inf scores) gets out = 0 and lse = -inf; a NaN
 * score among its visible keys makes its out and lse NaN. Keys past the visible range are
 * never read; keys hidden by the additive mask have k read but never v.
 *
 * Numerics: the reference (_ref) is two-pass with double accumulation; the SIMD variants
 * stream over key blocks with an online (running max, rescaled sum) softmax in f32 and are
 * within the bounds in docs/kernels-ops.md. Kernels take a head range and a query-row range
 * and never allocate; kern_attention_f32_pool splits (head, query block) items over a pool.
 *
 * Saved value for backward: lse[t*n_head + h] = log sum_s exp(scale q.k + m) (natural log).
 * Backward recomputes p = exp(scale q.k + m - lse) (the flash-attention formulation), so
 * no [T,S] probability matrix is ever stored. */
#ifndef RW_KERNELS_ATTENTION_H
#define RW_KERNELS_ATTENTION_H

#include <stdbool.h>
#include <stddef.h>

#include "core/pool.h"

/* Largest head dimension the kernels accept (accumulators live on the stack). */
enum { KERN_ATTN_MAX_D = 512 };

typedef struct kern_attn_args {
    float *out;        /* [T, n_head, D]: element (t,h,d) at t*o_ts + h*o_hs + d */
    float *lse;        /* [T, n_head] at t*n_head + h, or NULL */
    const float *q;    /* [T, n_head, D]: (t,h,d) at t*q_ts + h*q_hs + d */
    const float *k;    /* [S, n_head_kv, D]: (s,g,d) at s*k_ts + g*k_hs + d */
    const float *v;    /* [S, n_head_kv, D]: (s,g,d) at s*v_ts + g*v_hs + d */
    const float *add;  /* additive mask, row t at add + t*add_stride ([S] each), or NULL */
    size_t add_stride; /* 0 broadcasts one [S] row to every query */

    size_t n_q;       /* T: query rows */
    size_t n_kv;      /* S: key/value rows */
    size_t n_head;    /* query heads, a multiple of n_head_kv */
    size_t n_head_kv; /* key/value heads */
    size_t head_dim;  /* D <= KERN_ATTN_MAX_D */

    /* Strides in floats; 0 means the contiguous default (ts = heads*D, hs = D). A KV cache
     * stored [n_head_kv, S_max, D] sets k_ts = D, k_hs = S_max*D. */
    size_t q_ts, q_hs, k_ts, k_hs, v_ts, v_hs, o_ts, o_hs;

    float scale;    /* usually 1/sqrt(D) */
    bool causal;    /* hide keys s > pos0 + t */
    size_t pos0;    /* absolute position of query row 0 (causal only) */
    size_t n_valid; /* keys [n_valid, S) hidden; set to n_kv for no padding */
} kern_attn_args;

/* Computes out (and lse) for heads [h0, h1) and query rows [t0, t1); other rows untouched.
 * Ranges must lie within n_head and n_q. */
void kern_attention_f32(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1);
void kern_attention_f32_ref(const kern_attn_args *a, size_t h0, size_t h1, size_t t0, size_t t1);

/* The attention probabilities of heads [h0, h1) and rows [t0, t1), recomputed from the
 * lse a forward call saved: probs[(h*n_q + t)*n_kv + s] = exp(scale q.k + m - lse[t,h]),
 * 0 for hidden keys and for rows with lse = -inf. For a backward pass that wants the
 * whole [H, T, S] matrix (RW_OP_ATTENTION's "saved: probs") instead of recomputing it
 * block by block. a->lse must be set; a->out is not used. Dots in double (reference). */
void kern_attention_probs_f32(float *probs, const kern_attn_args *a, size_t h0, size_t h1,
                              size_t t0, size_t t1);

/* All heads and rows, split over the pool's threads (pool NULL: the calling thread only).
 * Results do not depend on the thread count. */
void kern_attention_f32_pool(rw_pool *pool, const kern_attn_args *a);

#endif
