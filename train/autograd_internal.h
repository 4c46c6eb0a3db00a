/* train/-private interface between the tape walker (autograd.c) and the per-op backward
 * files (backward_*.c).
 *
 * Every backward function reads one record and the gradient of its output (dy, same
 * layout as rec->dst) and ADDS its contributions into the gradients of the record's inputs,
 * obtained with train_bwd_grad (NULL: that input needs no gradient, skip it). Errors (arena
 * full, parameter without a grad tensor) are stored in b->st/b->err by the helpers; the
 * walker checks them after each record. */
#ifndef TRAIN_AUTOGRAD_INTERNAL_H
#define TRAIN_AUTOGRAD_INTERNAL_H

#include <stddef.h>

#include "core/status.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "infer/ops.h"

typedef struct train_bwd {
    infer_ctx *ctx; /* arena (activation grads, scratch) and pool */
    rw_status st;
    rw_err err;
    int32_t op; /* record being processed (for messages) */
} train_bwd;

/* The gradient buffer of t (allocated zeroed from the arena on first use for activations;
 * the persistent grad of a parameter), or NULL when t needs none or on error. */
float *train_bwd_grad(train_bwd *b, rw_tensor *t);
/* 64-aligned scratch from the step arena, or NULL with b->st = RW_E_NOMEM. */
void *train_bwd_scratch(train_bwd *b, size_t bytes);
int train_bwd_threads(const train_bwd *b);

/* Walks tape records [first, tape->n) newest first (re-entrant: the recompute op walks a
 * sub-tape). */
void train_bwd_walk(train_bwd *b, rw_tape *tape, size_t first);

/* Per-op backward (rec->dst->grad is set: dy = its data). */
void train_bwd_matmul(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_cossim(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_add_mul(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_scale(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_activation(train_bwd *b, const rw_tape_rec *r, const float *dy); /* silu, gelu */
void train_bwd_glu(train_bwd *b, const rw_tape_rec *r, const float *dy);        /* swiglu, geglu */
void train_bwd_embed(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_reshape(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_copy(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_rmsnorm(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_layernorm(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_l2_normalize(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_rope(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_attention(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_softmax(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_cross_entropy(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_mean_pool(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_bce_yesno(train_bwd *b, const rw_tape_rec *r, const float *dy);
void train_bwd_recompute(train_bwd *b, const rw_tape_rec *r, const float *dy); /* both */

#endif
