/* Packed decoder batches (train/packed.h explains the contract).
 *
 * Invariant: train_packed_decoder_layer is infer_decoder_layer (infer/forward.c) without the
 * KV cache and with infer_attn_cfg.seq_lens/n_seq set; any change to the decoder block there
 * must be mirrored here (tests/train_io/test_packed.c compares the two on every run). */
#include "train/packed.h"

#include <string.h>

#include "core/assert.h"
#include "train/autograd.h"

bool train_packed_supported(const infer_model *m) {
    return !infer_arch_is_encoder(m->arch) && m->hp.n_swa <= 0;
}

rw_tensor *train_packed_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                      rw_tensor *x, const int32_t *pos, const int32_t *lens,
                                      int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(train_packed_supported(m), "packed decoder layer on an unsupported model");
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    const int64_t T = rw_tensor_nrows(x), H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim;

    rw_tensor *n = infer_op_rmsnorm(ctx, x, L->attn_norm, hp->norm_eps);
    rw_tensor *q = infer_linear_forward(ctx, &L->q, n);
    rw_tensor *k = infer_linear_forward(ctx, &L->k, n);
    rw_tensor *v = infer_linear_forward(ctx, &L->v, n);
    if (L->q_norm) {
        q = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, q, D, H * T), L->q_norm, hp->norm_eps),
            H * D, T);
        k = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, k, D, Hkv * T), L->k_norm, hp->norm_eps),
            Hkv * D, T);
    }
    q = infer_op_rope(ctx, q, H, D, pos, &hp->rope, m->rope_freqs);
    k = infer_op_rope(ctx, k, Hkv, D, pos, &hp->rope, m->rope_freqs);
    if (!q || !k || !v) return NULL;
    infer_attn_cfg ac = {.n_head = H,
                         .n_head_kv = Hkv,
                         .head_dim = D,
                         .scale = hp->attn_scale,
                         .causal = true,
                         .seq_lens = lens,
                         .n_seq = n_seq};
    rw_tensor *a = infer_linear_forward(ctx, &L->o, infer_op_attention(ctx, q, k, v, &ac));
    if (L->post_attn_norm) a = infer_op_rmsnorm(ctx, a, L->post_attn_norm, hp->norm_eps);
    rw_tensor *h = infer_op_add(ctx, x, a);

    rw_tensor *mm = infer_op_rmsnorm(ctx, h, L->ffn_norm, hp->norm_eps);
    rw_tensor *gate = infer_linear_forward(ctx, &L->gate, mm);
    rw_tensor *up = infer_linear_forward(ctx, &L->up, mm);
    rw_tensor *g = m->arch == INFER_ARCH_GEMMA3 ? infer_op_geglu(ctx, gate, up)
                                                : infer_op_swiglu(ctx, gate, up);
    rw_tensor *f = infer_linear_forward(ctx, &L->down, g);
    if (L->post_ffn_norm) f = infer_op_rmsnorm(ctx, f, L->post_ffn_norm, hp->norm_eps);
    return infer_op_add(ctx, h, f);
}

rw_tensor *train_decoder_forward_packed(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                        const int32_t *lens, int64_t n_seq, bool checkpointed) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(train_packed_supported(m) && n_seq > 0, "packed forward: bad model or batch");
    int64_t T = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        RW_ASSERT(lens[b] > 0, "packed forward: empty sequence");
        T += lens[b];
    }
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE,
                       "token id %d at packed position %lld outside the vocabulary (%lld)",
                       (int)ids[t], (long long)t, (long long)m->hp.n_vocab);
            return NULL;
        }
    /* positions and lengths live in the arena: the tape's attention and rope records and
     * the recompute records keep pointers to them until backward */
    int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    int32_t *ls = infer_scratch(ctx, (size_t)n_seq * sizeof(int32_t));
    if (!pos || !ls) return NULL;
    memcpy(ls, lens, (size_t)n_seq * sizeof(int32_t));
    for (int64_t b = 0, t = 0; b < n_seq; b++)
        for (int32_t i = 0; i < lens[b]; i++)
            pos[t++] = i;
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, T);
    if (m->hp.embd_scale != 1.0f) x = infer_op_scale(ctx, x, m->hp.embd_scale);
    for (int64_t il = 0; il < m->hp.n_layer; il++)
        x = checkpointed ? train_recompute_packed_decoder_layer(ctx, m, il, x, pos, ls, n_seq)
                         : train_packed_decoder_layer(ctx, m, il, x, pos, ls, n_seq);
    x = infer_op_rmsnorm(ctx, x, m->out_norm, m->hp.norm_eps);
    return infer_linear_forward(ctx, &m->output, x);
}
