/* Forward passes of the decoder (llama, qwen2, qwen3) and encoder (bert) architectures,
 * written once over infer/ops.h, plus the KV cache.
 *
 * Decoder block (pre-norm):  h = x + Wo attn(rope(norm_q(Wq n)), rope(norm_k(Wk n)), Wv n),
 *                            n = rms(x) * attn_norm;  out = h + Wd (silu(Wg m) * Wu m),
 *                            m = rms(h) * ffn_norm.   (norm_q/norm_k: qwen3 per-head RMSNorm)
 * gemma3: embeddings * sqrt(C); rms after attention and after the FFN (post norms); GEGLU
 *         (gelu tanh) FFN; local layers (il % 6 < 5) use a sliding window and rope base 1e4.
 * Encoder block (post-norm): h = LN(x + Wo attn(Wq x + bq, ...) + bo);
 *                            out = LN(h + Wd gelu(Wu h + bu) + bd).
 * The KV cache stores post-rope keys and values f32, per layer [n_ctx][n_head_kv*head_dim],
 * so a cache prefix of S rows is a contiguous {kv_dim, S} tensor. */
#include "infer/model.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"

rw_status infer_kv_init(infer_kv_cache *kv, const infer_model *m, int64_t n_ctx, rw_err *err) {
    memset(kv, 0, sizeof(*kv));
    if (n_ctx <= 0) return rw_err_set(err, RW_E_INVALID, "KV cache: n_ctx %lld", (long long)n_ctx);
    const int64_t kvd = m->hp.n_head_kv * m->hp.head_dim;
    size_t n;
    if (!rw_size_mul((size_t)m->hp.n_layer * (size_t)kvd, (size_t)n_ctx, &n) ||
        !rw_size_mul(n, sizeof(float), &n))
        return rw_err_set(err, RW_E_RANGE, "KV cache size overflows (n_ctx %lld)",
                          (long long)n_ctx);
    kv->k = rw_aligned_alloc(64, n);
    kv->v = rw_aligned_alloc(64, n);
    if (!kv->k || !kv->v) {
        rw_aligned_free(kv->k);
        rw_aligned_free(kv->v);
        memset(kv, 0, sizeof(*kv));
        return rw_err_set(err, RW_E_NOMEM, "KV cache of %zu bytes x 2", n);
    }
    kv->n_layer = m->hp.n_layer;
    kv->n_ctx = n_ctx;
    kv->kv_dim = kvd;
    return RW_OK;
}

void infer_kv_deinit(infer_kv_cache *kv) {
    if (!kv) return;
    rw_aligned_free(kv->k);
    rw_aligned_free(kv->v);
    memset(kv, 0, sizeof(*kv));
}

/* A {kv_dim, S} view of the first S rows of a cache layer (no grad). */
static rw_tensor *cache_view(infer_ctx *ctx, float *base, int64_t kvd, int64_t S) {
    rw_tensor *t = infer_scratch(ctx, sizeof(rw_tensor));
    if (!t) return NULL;
    int64_t ne[2] = {kvd, S};
    RW_ASSERT(rw_tensor_init(t, RW_DTYPE_F32, 2, ne, base), "cache view");
    return t;
}

rw_tensor *infer_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *pos, infer_kv_cache *kv) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    const int64_t T = rw_tensor_nrows(x), H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim;

    rw_tensor *n = infer_op_rmsnorm(ctx, x, L->attn_norm, hp->norm_eps);
    rw_tensor *q = infer_linear_forward(ctx, &L->q, n);
    rw_tensor *k = infer_linear_forward(ctx, &L->k, n);
    rw_tensor *v = infer_linear_forward(ctx, &L->v, n);
    if (L->q_norm) {
        /* per-head RMSNorm over D: view {D, H*T} */
        q = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, q, D, H * T), L->q_norm, hp->norm_eps),
            H * D, T);
        k = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, k, D, Hkv * T), L->k_norm, hp->norm_eps),
            Hkv * D, T);
    }
    kern_rope_cfg rope = hp->rope;
    const bool local = hp->n_swa > 0 && il % hp->swa_pattern < hp->swa_pattern - 1;
    if (local) {
        rope.freq_base = hp->rope_base_swa;
        rope.freq_scale = 1.0f;
    }
    q = infer_op_rope(ctx, q, H, D, pos, &rope, m->rope_freqs);
    k = infer_op_rope(ctx, k, Hkv, D, pos, &rope, m->rope_freqs);
    if (!q || !k || !v) return NULL;

    infer_attn_cfg ac = {.n_head = H,
                         .n_head_kv = Hkv,
                         .head_dim = D,
                         .scale = hp->attn_scale,
                         .causal = true,
                         .pos0 = pos[0],
                         .window = local ? hp->n_swa : 0};
    rw_tensor *kk = k, *vv = v;
    if (kv) {
        const int64_t kvd = kv->kv_dim, p0 = kv->n_past;
        if (p0 + T > kv->n_ctx) {
            if (ctx->status == RW_OK) {
                ctx->status = RW_E_RANGE;
                rw_err_set(&ctx->err, RW_E_RANGE,
                           "context full: %lld cached + %lld new tokens > "
                           "n_ctx %lld",
                           (long long)p0, (long long)T, (long long)kv->n_ctx);
            }
            return NULL;
        }
        float *kb = kv->k + (size_t)il * (size_t)kv->n_ctx * (size_t)kvd;
        float *vb = kv->v + (size_t)il * (size_t)kv->n_ctx * (size_t)kvd;
        memcpy(kb + p0 * kvd, k->data, (size_t)(T * kvd) * sizeof(float));
        memcpy(vb + p0 * kvd, v->data, (size_t)(T * kvd) * sizeof(float));
        kk = cache_view(ctx, kb, kvd, p0 + T);
        vv = cache_view(ctx, vb, kvd, p0 + T);
        ac.pos0 = p0;
    }
    rw_tensor *a = infer_linear_forward(ctx, &L->o, infer_op_attention(ctx, q, kk, vv, &ac));
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

rw_tensor *infer_decoder_hidden(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                const int32_t *ids, int64_t T) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(!infer_arch_is_encoder(m->arch), "decoder forward on an encoder model");
    for (int64_t t = 0; t < T; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE,
                       "token id %d at position %lld outside the "
                       "vocabulary (%lld)",
                       (int)ids[t], (long long)t, (long long)m->hp.n_vocab);
            return NULL;
        }
    int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
    if (!pos) return NULL;
    const int64_t p0 = kv ? kv->n_past : 0;
    for (int64_t t = 0; t < T; t++)
        pos[t] = (int32_t)(p0 + t);
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, T);
    if (m->hp.embd_scale != 1.0f) x = infer_op_scale(ctx, x, m->hp.embd_scale);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const size_t mark = infer_mark(ctx);
        rw_tensor *y = infer_decoder_layer(ctx, m, il, x, pos, kv);
        if (y && !ctx->tape) {
            /* inference: keep only the residual stream (x is dead once y exists) */
            memcpy(x->data, y->data, rw_tensor_nbytes(y));
            infer_rollback(ctx, mark);
            y = x;
        }
        x = y;
    }
    if (x && kv) kv->n_past += T;
    return x;
}

rw_tensor *infer_decoder_forward(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                 const int32_t *ids, int64_t T, bool all_logits) {
    rw_tensor *x = infer_decoder_hidden(ctx, m, kv, ids, T);
    if (!x) return NULL;
    if (!all_logits && T > 1) x = infer_rows(ctx, x, T - 1, 1);
    x = infer_op_rmsnorm(ctx, x, m->out_norm, m->hp.norm_eps);
    return infer_linear_forward(ctx, &m->output, x);
}

/* ------------------------------------------------------------------ encoder */

rw_tensor *infer_encoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *lens, int64_t n_seq) {
    if (!x || !infer_ctx_ok(ctx)) return NULL;
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    rw_tensor *q = infer_linear_forward(ctx, &L->q, x);
    rw_tensor *k = infer_linear_forward(ctx, &L->k, x);
    rw_tensor *v = infer_linear_forward(ctx, &L->v, x);
    if (hp->rope.n_rot > 0) { /* nomic-bert: rope at positions 0.. within each sequence */
        const int64_t T = rw_tensor_nrows(x);
        int32_t *pos = infer_scratch(ctx, (size_t)T * sizeof(int32_t));
        if (!pos) return NULL;
        int64_t o = 0;
        for (int64_t b = 0; b < n_seq; b++)
            for (int32_t t = 0; t < lens[b]; t++)
                pos[o++] = t;
        q = infer_op_rope(ctx, q, hp->n_head, hp->head_dim, pos, &hp->rope, NULL);
        k = infer_op_rope(ctx, k, hp->n_head_kv, hp->head_dim, pos, &hp->rope, NULL);
    }
    infer_attn_cfg ac = {.n_head = hp->n_head,
                         .n_head_kv = hp->n_head_kv,
                         .head_dim = hp->head_dim,
                         .scale = 1.0f / sqrtf((float)hp->head_dim),
                         .causal = hp->causal,
                         .seq_lens = lens,
                         .n_seq = n_seq};
    rw_tensor *a = infer_op_attention(ctx, q, k, v, &ac);
    rw_tensor *h = infer_op_add(ctx, x, infer_linear_forward(ctx, &L->o, a));
    h = infer_op_layernorm(ctx, h, L->attn_norm, L->attn_norm_b, hp->norm_eps);
    rw_tensor *f = L->gate.w ? infer_op_swiglu(ctx, infer_linear_forward(ctx, &L->gate, h),
                                               infer_linear_forward(ctx, &L->up, h))
                             : infer_op_gelu(ctx, infer_linear_forward(ctx, &L->up, h), false);
    rw_tensor *o = infer_op_add(ctx, h, infer_linear_forward(ctx, &L->down, f));
    return infer_op_layernorm(ctx, o, L->ffn_norm, L->ffn_norm_b, hp->norm_eps);
}

rw_tensor *infer_encoder_hidden(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                const int32_t *lens, int64_t n_seq) {
    if (!infer_ctx_ok(ctx)) return NULL;
    RW_ASSERT(infer_arch_is_encoder(m->arch), "encoder forward on a decoder model");
    int64_t total = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        if (lens[b] <= 0 || lens[b] > m->hp.n_pos) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE, "sequence %lld has %d tokens (1..%lld allowed)",
                       (long long)b, (int)lens[b], (long long)m->hp.n_pos);
            return NULL;
        }
        total += lens[b];
    }
    for (int64_t t = 0; t < total; t++)
        if (ids[t] < 0 || ids[t] >= m->hp.n_vocab) {
            ctx->status = RW_E_RANGE;
            rw_err_set(&ctx->err, RW_E_RANGE, "token id %d outside the vocabulary (%lld)",
                       (int)ids[t], (long long)m->hp.n_vocab);
            return NULL;
        }
    int32_t *pos = infer_scratch(ctx, (size_t)total * sizeof(int32_t));
    int32_t *types = infer_scratch(ctx, (size_t)total * sizeof(int32_t));
    if (!pos || !types) return NULL;
    int64_t o = 0;
    for (int64_t b = 0; b < n_seq; b++)
        for (int32_t t = 0; t < lens[b]; t++, o++) {
            pos[o] = t;
            types[o] = 0;
        }
    rw_tensor *x = infer_op_embed(ctx, m->tok_embd, ids, total);
    if (m->pos_embd) x = infer_op_add(ctx, x, infer_op_embed(ctx, m->pos_embd, pos, total));
    if (m->type_embd) x = infer_op_add(ctx, x, infer_op_embed(ctx, m->type_embd, types, total));
    x = infer_op_layernorm(ctx, x, m->embd_norm, m->embd_norm_b, m->hp.norm_eps);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const size_t mark = infer_mark(ctx);
        rw_tensor *y = infer_encoder_layer(ctx, m, il, x, lens, n_seq);
        if (y && !ctx->tape) {
            memcpy(x->data, y->data, rw_tensor_nbytes(y));
            infer_rollback(ctx, mark);
            y = x;
        }
        x = y;
    }
    return x;
}

rw_tensor *infer_encoder_embed(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                               const int32_t *lens, int64_t n_seq, int pooling, bool normalize) {
    rw_tensor *x = infer_encoder_hidden(ctx, m, ids, lens, n_seq);
    if (!x) return NULL;
    infer_pooling p = pooling < 0 ? m->hp.pooling : (infer_pooling)pooling;
    rw_tensor *y;
    if (p == INFER_POOL_MEAN || p == INFER_POOL_NONE) {
        y = infer_op_mean_pool(ctx, x, lens, n_seq);
    } else {
        int32_t *rows = infer_scratch(ctx, (size_t)n_seq * sizeof(int32_t));
        if (!rows) return NULL;
        int32_t off = 0;
        for (int64_t b = 0; b < n_seq; b++) {
            rows[b] = p == INFER_POOL_CLS ? off : off + lens[b] - 1;
            off += lens[b];
        }
        y = infer_op_gather_rows(ctx, x, rows, n_seq);
    }
    return normalize ? infer_op_l2_normalize(ctx, y) : y;
}
