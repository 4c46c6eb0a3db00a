/* Per-layer gradient checkpointing for decoders (train/autograd.h).
 *
 * Forward: the layer runs with no tape, its output is copied to a tensor allocated before
 * the layer ran and the arena is rolled back to just after it, so only x and the output
 * stay alive. One TRAIN_OP_RECOMPUTE_DECODER record remembers (model, layer, positions).
 * Backward: the layer reruns with a private sub-tape on the same x, the sub-tape is walked
 * seeded with the output's gradient (x's gradient is allocated before the rerun so it
 * survives), then the arena is rolled back again: the peak holds one layer's activations.
 * Invariant: nothing recorded inside the rerun is referenced after the rollback (parameter
 * gradients are persistent; x->grad predates the mark). */
#include "train/autograd.h"

#include <string.h>

#include "core/assert.h"
#include "train/autograd_internal.h"

typedef struct recompute_saved {
    const infer_model *m;
    int64_t il;
    const int32_t *pos; /* [T] in the arena */
} recompute_saved;

static bool layer_has_param(const infer_model *m, int64_t il) {
    const infer_layer *L = &m->layers[il];
    const infer_linear *ls[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
    for (int i = 0; i < 7; i++) {
        if (rw_tensor_needs_grad(ls[i]->w) || rw_tensor_needs_grad(ls[i]->b)) return true;
        for (int k = 0; k < ls[i]->n_lora; k++)
            if (rw_tensor_needs_grad(ls[i]->lora[k].a) || rw_tensor_needs_grad(ls[i]->lora[k].b))
                return true;
    }
    return rw_tensor_needs_grad(L->attn_norm) || rw_tensor_needs_grad(L->ffn_norm) ||
           rw_tensor_needs_grad(L->q_norm) || rw_tensor_needs_grad(L->k_norm) ||
           rw_tensor_needs_grad(L->post_attn_norm) || rw_tensor_needs_grad(L->post_ffn_norm);
}

rw_tensor *train_recompute_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                         rw_tensor *x, const int32_t *pos) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    if (!ctx->tape || (!rw_tensor_needs_grad(x) && !layer_has_param(m, il)))
        return infer_decoder_layer(ctx, m, il, x, pos, NULL);
    const int64_t T = rw_tensor_nrows(x);
    rw_tensor *y = infer_new_2d(ctx, x->ne[0], T);
    int32_t *p = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    recompute_saved *sv = infer_scratch(ctx, sizeof(*sv));
    if (!y || !p || !sv) return NULL;
    memcpy(p, pos, (size_t)T * sizeof(int32_t));
    *sv = (recompute_saved){.m = m, .il = il, .pos = p};
    rw_tape *tape = ctx->tape;
    ctx->tape = NULL;
    const size_t mark = infer_mark(ctx);
    rw_tensor *out = infer_decoder_layer(ctx, m, il, x, p, NULL);
    if (out) memcpy(y->data, out->data, rw_tensor_nbytes(y));
    infer_rollback(ctx, mark);
    ctx->tape = tape;
    if (!out) return NULL;
    rw_tape_rec r;
    memset(&r, 0, sizeof(r));
    r.op = TRAIN_OP_RECOMPUTE_DECODER;
    r.src[0] = x;
    r.dst = y;
    r.saved = sv;
    r.saved_len = sizeof(*sv);
    y->flags |= RW_TENSOR_NEEDS_GRAD;
    rw_status st = rw_tape_push(tape, &r, &ctx->err);
    if (st != RW_OK) {
        ctx->status = st;
        return NULL;
    }
    return y;
}

void train_bwd_recompute_decoder(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    const recompute_saved *sv = r->saved;
    rw_tensor *x = r->src[0];
    (void)train_bwd_grad(b, x); /* before the mark: must survive the rollback */
    if (b->st != RW_OK) return;
    infer_ctx *ctx = b->ctx;
    rw_tape sub;
    rw_tape_init(&sub);
    rw_tape *outer = ctx->tape;
    const size_t mark = infer_mark(ctx);
    ctx->tape = &sub;
    rw_tensor *out = infer_decoder_layer(ctx, sv->m, sv->il, x, sv->pos, NULL);
    if (!out || !infer_ctx_ok(ctx)) {
        b->st = infer_ctx_error(ctx, &b->err);
        if (b->st == RW_OK)
            b->st = rw_err_set(&b->err, RW_E_STATE, "recompute of layer %lld failed",
                               (long long)sv->il);
    } else if (out->flags & RW_TENSOR_NEEDS_GRAD) {
        float *g = train_bwd_grad(b, out);
        if (g) {
            memcpy(g, dy, rw_tensor_nbytes(out));
            train_bwd_walk(b, &sub, 0);
        }
    }
    rw_tape_deinit(&sub);
    ctx->tape = outer;
    ctx->arena->used = mark; /* the sub-tape's activations are dead */
}

/* Mirrors infer_decoder_hidden + infer_decoder_forward (infer/forward.c) without a KV cache;
 * keep the two in step when infer changes its embedding or head. */
rw_tensor *train_decoder_forward_ckpt(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                      int64_t T) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(m->arch != INFER_ARCH_BERT, "decoder forward on an encoder model");
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE,
                       "token id %d at position %lld outside the vocabulary (%lld)", (int)ids[t],
                       (long long)t, (long long)m->hp.n_vocab);
            return NULL;
        }
    int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    if (!pos) return NULL;
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)t;
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, T);
    if (m->hp.embd_scale != 1.0f) x = infer_op_scale(ctx, x, m->hp.embd_scale);
    for (int64_t il = 0; il < m->hp.n_layer; il++)
        x = train_recompute_decoder_layer(ctx, m, il, x, pos);
    x = infer_op_rmsnorm(ctx, x, m->out_norm, m->hp.norm_eps);
    return infer_linear_forward(ctx, &m->output, x);
}
