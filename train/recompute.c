/* Per-layer gradient checkpointing for decoders and encoders (train/autograd.h).
 *
 * Forward: the layer runs with no tape, its output is copied to a tensor allocated before
 * the layer ran and the arena is rolled back to just after it, so only x and the output
 * stay alive. One TRAIN_OP_RECOMPUTE_DECODER/_ENCODER record remembers (model, layer,
 * positions or sequence lengths).
 * Backward: the layer reruns with a private sub-tape on the same x, the sub-tape is walked
 * seeded with the output's gradient (x's gradient is allocated before the rerun so it
 * survives), then the arena is rolled back again: the peak holds one layer's activations.
 * LoRA dropout RNGs used by the layer are snapshotted before the forward and replayed for the
 * rerun (then put back), so the recomputed masks equal the forward's.
 * Invariant: nothing recorded inside the rerun is referenced after the rollback (parameter
 * gradients are persistent; x->grad predates the mark). */
#include "train/autograd.h"

#include <string.h>

#include "core/assert.h"
#include "train/autograd_internal.h"
#include "train/packed.h"

enum { MAX_RNG = 8 };

/* LoRA dropout RNGs used inside the layer and their states before its forward, so the
 * rerun draws the same masks. */
typedef struct rng_snap {
    int n;
    rw_rng *rng[MAX_RNG];
    rw_rng state[MAX_RNG];
} rng_snap;

typedef struct recompute_saved {
    const infer_model *m;
    int64_t il;
    bool encoder;
    const int32_t *pos;  /* decoder: [T] in the arena */
    const int32_t *lens; /* encoder: [n_seq] in the arena */
    int64_t n_seq;
    rng_snap rngs;
} recompute_saved;

static rw_tensor *run_layer(infer_ctx *ctx, const recompute_saved *sv, rw_tensor *x) {
    if (sv->encoder) return infer_encoder_layer(ctx, sv->m, sv->il, x, sv->lens, sv->n_seq);
    if (sv->n_seq > 0) /* packed decoder batch (train/packed.h) */
        return train_packed_decoder_layer(ctx, sv->m, sv->il, x, sv->pos, sv->lens, sv->n_seq);
    return infer_decoder_layer(ctx, sv->m, sv->il, x, sv->pos, NULL);
}

static void snap_rngs(const infer_model *m, int64_t il, rng_snap *s) {
    const infer_layer *L = &m->layers[il];
    const infer_linear *ls[7] = {&L->q, &L->k, &L->v, &L->o, &L->gate, &L->up, &L->down};
    s->n = 0;
    for (int i = 0; i < 7; i++)
        for (int k = 0; k < ls[i]->n_lora; k++) {
            rw_rng *r = ls[i]->lora[k].rng;
            if (!r || ls[i]->lora[k].dropout <= 0.0f) continue;
            bool seen = false;
            for (int j = 0; j < s->n; j++)
                seen |= s->rng[j] == r;
            if (seen) continue;
            RW_ASSERT(s->n < MAX_RNG, "recompute: more than %d dropout RNGs in one layer", MAX_RNG);
            s->rng[s->n] = r;
            s->state[s->n] = *r;
            s->n++;
        }
}

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
           rw_tensor_needs_grad(L->attn_norm_b) || rw_tensor_needs_grad(L->ffn_norm_b) ||
           rw_tensor_needs_grad(L->q_norm) || rw_tensor_needs_grad(L->k_norm) ||
           rw_tensor_needs_grad(L->post_attn_norm) || rw_tensor_needs_grad(L->post_ffn_norm);
}

/* Runs the layer without a tape, keeps only its output, pushes the record (sv filled except
 * the RNG snapshot). */
static rw_tensor *checkpointed(infer_ctx *ctx, recompute_saved *sv, rw_tensor *x, int32_t op) {
    const int64_t T = rw_tensor_nrows(x);
    rw_tensor *y = infer_new_2d(ctx, x->ne[0], T);
    if (!y) return NULL;
    snap_rngs(sv->m, sv->il, &sv->rngs);
    rw_tape *tape = ctx->tape;
    ctx->tape = NULL;
    const size_t mark = infer_mark(ctx);
    rw_tensor *out = run_layer(ctx, sv, x);
    if (out) memcpy(y->data, out->data, rw_tensor_nbytes(y));
    infer_rollback(ctx, mark);
    ctx->tape = tape;
    if (!out) return NULL;
    rw_tape_rec r;
    memset(&r, 0, sizeof(r));
    r.op = op;
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

rw_tensor *train_recompute_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                         rw_tensor *x, const int32_t *pos) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    if (!ctx->tape || (!rw_tensor_needs_grad(x) && !layer_has_param(m, il)))
        return infer_decoder_layer(ctx, m, il, x, pos, NULL);
    const int64_t T = rw_tensor_nrows(x);
    int32_t *p = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    recompute_saved *sv = infer_scratch(ctx, sizeof(*sv));
    if (!p || !sv) return NULL;
    memcpy(p, pos, (size_t)T * sizeof(int32_t));
    *sv = (recompute_saved){.m = m, .il = il, .pos = p};
    return checkpointed(ctx, sv, x, TRAIN_OP_RECOMPUTE_DECODER);
}

rw_tensor *train_recompute_packed_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                                rw_tensor *x, const int32_t *pos,
                                                const int32_t *lens, int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    if (!ctx->tape || (!rw_tensor_needs_grad(x) && !layer_has_param(m, il)))
        return train_packed_decoder_layer(ctx, m, il, x, pos, lens, n_seq);
    /* pos and lens must outlive backward: the caller keeps them in the arena */
    recompute_saved *sv = infer_scratch(ctx, sizeof(*sv));
    if (!sv) return NULL;
    *sv = (recompute_saved){.m = m, .il = il, .pos = pos, .lens = lens, .n_seq = n_seq};
    return checkpointed(ctx, sv, x, TRAIN_OP_RECOMPUTE_DECODER);
}

rw_tensor *train_recompute_encoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                         rw_tensor *x, const int32_t *lens, int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    if (!ctx->tape || (!rw_tensor_needs_grad(x) && !layer_has_param(m, il)))
        return infer_encoder_layer(ctx, m, il, x, lens, n_seq);
    int32_t *ls = infer_scratch(ctx, (size_t)n_seq * sizeof(int32_t));
    recompute_saved *sv = infer_scratch(ctx, sizeof(*sv));
    if (!ls || !sv) return NULL;
    memcpy(ls, lens, (size_t)n_seq * sizeof(int32_t));
    *sv = (recompute_saved){.m = m, .il = il, .encoder = true, .lens = ls, .n_seq = n_seq};
    return checkpointed(ctx, sv, x, TRAIN_OP_RECOMPUTE_ENCODER);
}

void train_bwd_recompute(train_bwd *b, const rw_tape_rec *r, const float *dy) {
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
    rw_rng now[MAX_RNG]; /* replay the forward's dropout masks, then continue the stream */
    for (int j = 0; j < sv->rngs.n; j++) {
        now[j] = *sv->rngs.rng[j];
        *sv->rngs.rng[j] = sv->rngs.state[j];
    }
    rw_tensor *out = run_layer(ctx, sv, x);
    for (int j = 0; j < sv->rngs.n; j++)
        *sv->rngs.rng[j] = now[j];
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
    for (int64_t t = 0; t < T; t++)
        pos[t] = (int32_t)t;
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, T);
    if (m->hp.embd_scale != 1.0f) x = infer_op_scale(ctx, x, m->hp.embd_scale);
    for (int64_t il = 0; il < m->hp.n_layer; il++)
        x = train_recompute_decoder_layer(ctx, m, il, x, pos);
    x = infer_op_rmsnorm(ctx, x, m->out_norm, m->hp.norm_eps);
    return infer_linear_forward(ctx, &m->output, x);
}

/* infer_encoder_embed (infer/forward.c) with checkpointed layers: the input layer and the
 * pooling are infer's own (infer_encoder_input, infer_encoder_pool). */
rw_tensor *train_encoder_embed_ckpt(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                    const int32_t *lens, int64_t n_seq, int pooling,
                                    bool normalize) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(m->arch == INFER_ARCH_BERT, "encoder forward on a decoder model");
    rw_tensor *x = infer_encoder_input(ctx, m, ids, lens, n_seq);
    for (int64_t il = 0; il < m->hp.n_layer; il++)
        x = train_recompute_encoder_layer(ctx, m, il, x, lens, n_seq);
    return infer_encoder_pool(ctx, m, x, lens, n_seq, pooling, normalize);
}
