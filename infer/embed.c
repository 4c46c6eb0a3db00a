/* Sentence embeddings (infer/embed.h). */
#include "infer/embed.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"

void infer_embed_cfg_default(infer_embed_cfg *cfg) {
    memset(cfg, 0, sizeof(*cfg));
    cfg->pooling = -1;
    cfg->normalize = true;
}

rw_status infer_embedder_create(const infer_model *m, const infer_embed_cfg *cfg,
                                infer_embedder **out, rw_err *err) {
    infer_embedder *e = rw_calloc(1, sizeof(*e));
    if (!e) return rw_err_set(err, RW_E_NOMEM, "embedder");
    e->m = m;
    e->cfg = *cfg;
    if (e->cfg.max_tokens <= 0)
        e->cfg.max_tokens = infer_arch_is_encoder(m->arch) ? m->hp.n_pos : m->hp.n_ctx_train;
    if (cfg->pool) {
        e->pool = cfg->pool;
    } else {
        rw_status st = rw_pool_create(cfg->n_threads, &e->pool, err);
        if (st != RW_OK) {
            rw_free(e);
            return st;
        }
        e->own_pool = true;
    }
    *out = e;
    return RW_OK;
}

void infer_embedder_destroy(infer_embedder *e) {
    if (!e) return;
    rw_arena_deinit(&e->arena);
    if (e->own_pool) rw_pool_destroy(e->pool);
    rw_free(e);
}

int64_t infer_embedder_dim(const infer_embedder *e) {
    return e->m->hp.n_embd;
}

static rw_status ensure_arena(infer_embedder *e, int64_t T, rw_err *err) {
    size_t need =
        infer_model_arena_bytes(e->m, T, T, rw_pool_threads(e->pool), e->cfg.f32_activations);
    if (e->arena.base && e->arena.cap >= need) return RW_OK;
    rw_arena_deinit(&e->arena);
    memset(&e->arena, 0, sizeof(e->arena));
    return rw_arena_init(&e->arena, need, err);
}

double infer_cosine(const float *a, const float *b, int64_t n) {
    double d = 0, na = 0, nb = 0;
    for (int64_t i = 0; i < n; i++) {
        d += (double)a[i] * (double)b[i];
        na += (double)a[i] * (double)a[i];
        nb += (double)b[i] * (double)b[i];
    }
    return na > 0 && nb > 0 ? d / sqrt(na * nb) : 0.0;
}

rw_status infer_embed_ids(infer_embedder *e, const int32_t *ids, const int32_t *lens, int64_t n_seq,
                          float *out, rw_err *err) {
    const infer_model *m = e->m;
    const int64_t C = m->hp.n_embd;
    rw_status st;
    if (infer_arch_is_encoder(m->arch)) {
        int64_t total = 0;
        for (int64_t b = 0; b < n_seq; b++)
            total += lens[b] > 0 ? lens[b] : 0;
        if ((st = ensure_arena(e, total, err)) != RW_OK) return st;
        rw_arena_reset(&e->arena);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &e->arena, e->pool, NULL);
        ctx.f32_activations = e->cfg.f32_activations;
        rw_tensor *y =
            infer_encoder_embed(&ctx, m, ids, lens, n_seq, e->cfg.pooling, e->cfg.normalize);
        if (!y) return infer_ctx_error(&ctx, err);
        memcpy(out, y->data, (size_t)(n_seq * C) * sizeof(float));
        return RW_OK;
    }
    /* decoders: one sequence at a time, pooled after the output norm */
    int64_t off = 0;
    for (int64_t b = 0; b < n_seq; b++) {
        const int64_t T = lens[b];
        if (T <= 0) return rw_err_set(err, RW_E_INVALID, "sequence %lld is empty", (long long)b);
        if ((st = ensure_arena(e, T, err)) != RW_OK) return st;
        rw_arena_reset(&e->arena);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &e->arena, e->pool, NULL);
        ctx.f32_activations = e->cfg.f32_activations;
        rw_tensor *h = infer_decoder_hidden(&ctx, m, NULL, ids + off, T);
        h = infer_op_rmsnorm(&ctx, h, m->out_norm, m->hp.norm_eps);
        int p = e->cfg.pooling < 0 ? (int)m->hp.pooling : e->cfg.pooling;
        rw_tensor *y;
        int32_t len = (int32_t)T;
        if (p == INFER_POOL_MEAN) {
            y = infer_op_mean_pool(&ctx, h, &len, 1);
        } else {
            int32_t row = p == INFER_POOL_CLS ? 0 : (int32_t)T - 1;
            y = infer_op_gather_rows(&ctx, h, &row, 1);
        }
        if (e->cfg.normalize) y = infer_op_l2_normalize(&ctx, y);
        if (!y) return infer_ctx_error(&ctx, err);
        memcpy(out + b * C, y->data, (size_t)C * sizeof(float));
        off += T;
    }
    return RW_OK;
}

rw_status infer_embed_texts(infer_embedder *e, const infer_tokenizer *tok, const char *const *texts,
                            int64_t n, float *out, rw_err *err) {
    rw_status st = RW_OK;
    infer_tok_ids all = {0};
    int32_t *lens = rw_alloc_array((size_t)(n > 0 ? n : 1), sizeof(int32_t));
    if (!lens) return rw_err_set(err, RW_E_NOMEM, "embedding batch");
    for (int64_t i = 0; i < n; i++) {
        const size_t before = all.n;
        if ((st = infer_tokenize(tok, texts[i], strlen(texts[i]), INFER_TOK_ADD_SPECIAL, &all,
                                 err)) != RW_OK)
            goto done;
        size_t len = all.n - before;
        if (len == 0) {
            st = rw_err_set(err, RW_E_INVALID, "text %lld has no tokens", (long long)i);
            goto done;
        }
        if ((int64_t)len > e->cfg.max_tokens) {
            /* keep the head; for a vocabulary that appends SEP/EOS keep it as the last token */
            int32_t last = all.v[all.n - 1];
            bool keep_last = infer_tokenizer_add_sep(tok) || infer_tokenizer_add_eos(tok);
            all.n = before + (size_t)e->cfg.max_tokens;
            if (keep_last) all.v[all.n - 1] = last;
            len = (size_t)e->cfg.max_tokens;
        }
        lens[i] = (int32_t)len;
    }
    st = infer_embed_ids(e, all.v, lens, n, out, err);
done:
    infer_tok_ids_deinit(&all);
    rw_free(lens);
    return st;
}
