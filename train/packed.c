/* Packed decoder batches (train/packed.h explains the contract).
 *
 * The block itself is infer's packed entry point (infer_decoder_layer_packed: the decoder
 * block of infer/forward.c with attention confined to each sequence), so there is one
 * definition of the decoder math; this file adds the packed positions, the embedding, the
 * checkpointing choice and the head. tests/train_io/test_packed.c compares packed batches
 * with separate per-sequence forwards and backwards on every run. */
#include "train/packed.h"

#include <string.h>

#include "core/assert.h"
#include "train/autograd.h"

bool train_packed_supported(const infer_model *m) {
    return infer_decoder_packed_supported(m);
}

rw_tensor *train_packed_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                      rw_tensor *x, const int32_t *pos, const int32_t *lens,
                                      int64_t n_seq) {
    return infer_decoder_layer_packed(ctx, m, il, x, pos, lens, n_seq);
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
