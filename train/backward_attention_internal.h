/* Raw entry points of the attention backward (train/backward_attention.c), exposed to the
 * train folder and its tests so the tiled f32 path can be checked against the
 * double-precision reference on arbitrary shapes.
 *
 * One segment: q, dout, dq [T rows, stride H*D]; k, v, dk, dv [S rows, stride Hkv*D];
 * lse [T*H] (row t, head h at t*H + h). Gradients are accumulated (+=); dq/dk/dv may be NULL. */
#ifndef RW_TRAIN_BACKWARD_ATTENTION_INTERNAL_H
#define RW_TRAIN_BACKWARD_ATTENTION_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pool.h"

typedef struct train_attn_seg {
    const float *q, *k, *v, *dout, *lse;
    float *dq, *dk, *dv;
    int64_t H, Hkv, D, T, S, pos0, n_valid, window; /* window <= 0: none */
    bool causal;
    float scale;
} train_attn_seg;

/* Floats of scratch train_attn_bwd_segment needs for nth threads. */
size_t train_attn_bwd_scratch_floats(const train_attn_seg *a, int nth);
/* Tiled f32 path (kern_sgemm per head x block of query rows). pool NULL: calling thread.
 * Deterministic for a given thread count (each kv head is owned by one thread). */
void train_attn_bwd_segment(const train_attn_seg *a, rw_pool *pool, float *scratch);
/* The former scalar double-precision path, kept as the reference. */
void train_attn_bwd_segment_ref(const train_attn_seg *a, rw_pool *pool, float *scratch);
size_t train_attn_bwd_scratch_floats_ref(const train_attn_seg *a, int nth);

#endif
