/* Decoder sessions, sampling and log-probabilities (infer/generate.h).
 *
 * The arena is sized once from the model's shapes for one n_batch chunk: the residual
 * stream, one layer's activations (rolled back after each layer), the matmul scratch of the
 * largest weight, and the final logits row. */
#include "infer/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/ops.h"

void infer_session_cfg_default(infer_session_cfg *cfg) {
    memset(cfg, 0, sizeof(*cfg));
}

rw_status infer_session_create(const infer_model *m, const infer_session_cfg *cfg,
                               infer_session **out, rw_err *err) {
    rw_status st;
    if (infer_arch_is_encoder(m->arch))
        return rw_err_set(err, RW_E_INVALID, "a %s model is an encoder: use the embedding API",
                          m->arch_name);
    infer_session *s = rw_calloc(1, sizeof(*s));
    if (!s) return rw_err_set(err, RW_E_NOMEM, "session");
    s->m = m;
    s->cfg = *cfg;
    if (s->cfg.n_ctx <= 0) s->cfg.n_ctx = m->hp.n_ctx_train < 4096 ? m->hp.n_ctx_train : 4096;
    if (s->cfg.n_batch <= 0) s->cfg.n_batch = 512;
    if (s->cfg.n_batch > s->cfg.n_ctx) s->cfg.n_batch = s->cfg.n_ctx;
    if (cfg->pool) {
        s->pool = cfg->pool;
    } else {
        if ((st = rw_pool_create(cfg->n_threads, &s->pool, err)) != RW_OK) goto fail;
        s->own_pool = true;
    }
    if ((st = infer_kv_init(&s->kv, m, s->cfg.n_ctx, err)) != RW_OK) goto fail;
    size_t ab = infer_model_arena_bytes(m, s->cfg.n_batch, s->cfg.n_ctx, rw_pool_threads(s->pool),
                                        s->cfg.f32_activations);
    if ((st = rw_arena_init(&s->arena, ab, err)) != RW_OK) goto fail;
    s->logits = rw_alloc_array((size_t)m->hp.n_vocab, sizeof(float));
    if (!s->logits) {
        st = rw_err_set(err, RW_E_NOMEM, "logits buffer");
        goto fail;
    }
    *out = s;
    return RW_OK;
fail:
    infer_session_destroy(s);
    return st;
}

void infer_session_destroy(infer_session *s) {
    if (!s) return;
    rw_free(s->logits);
    rw_arena_deinit(&s->arena);
    infer_kv_deinit(&s->kv);
    if (s->own_pool) rw_pool_destroy(s->pool);
    rw_free(s);
}

void infer_session_reset(infer_session *s) {
    infer_kv_clear(&s->kv);
}

static rw_status check_room(const infer_session *s, int64_t n, rw_err *err) {
    if (n <= 0) return rw_err_set(err, RW_E_INVALID, "empty token sequence");
    if (s->kv.n_past + n > s->kv.n_ctx)
        return rw_err_set(err, RW_E_RANGE,
                          "context full: %lld cached + %lld new tokens > n_ctx "
                          "%lld",
                          (long long)s->kv.n_past, (long long)n, (long long)s->kv.n_ctx);
    return RW_OK;
}

static void step_ctx(infer_session *s, infer_ctx *ctx) {
    rw_arena_reset(&s->arena);
    infer_ctx_init(ctx, &s->arena, s->pool, NULL);
    ctx->f32_activations = s->cfg.f32_activations;
}

/* Runs ids in chunks of n_batch; with logits, the last position's logits go to s->logits
 * (only the last chunk computes any), else only the cache is filled. */
static rw_status run(infer_session *s, const int32_t *ids, int64_t n, bool logits, rw_err *err) {
    rw_status st = check_room(s, n, err);
    if (st != RW_OK) return st;
    const int64_t V = s->m->hp.n_vocab;
    for (int64_t o = 0; o < n; o += s->cfg.n_batch) {
        const int64_t T = n - o < s->cfg.n_batch ? n - o : s->cfg.n_batch;
        infer_ctx ctx;
        step_ctx(s, &ctx);
        if (logits && o + T == n) {
            rw_tensor *lg = infer_decoder_forward(&ctx, s->m, &s->kv, ids + o, T, false);
            if (lg) memcpy(s->logits, lg->data, (size_t)V * sizeof(float));
        } else {
            infer_decoder_hidden(&ctx, s->m, &s->kv, ids + o, T);
        }
        if (!infer_ctx_ok(&ctx)) return infer_ctx_error(&ctx, err);
    }
    return RW_OK;
}

rw_status infer_session_prefill(infer_session *s, const int32_t *ids, int64_t n, rw_err *err) {
    return run(s, ids, n, true, err);
}

/* log softmax of row[V] at id, in double. */
static double log_softmax_at(const float *row, int64_t V, int32_t id) {
    float mx = row[kern_argmax_f32(row, (size_t)V)];
    double z = 0;
    for (int64_t j = 0; j < V; j++)
        z += exp((double)row[j] - (double)mx);
    return (double)row[id] - (double)mx - log(z);
}

rw_status infer_logprobs_after(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                               const int32_t *cand, int64_t n_cand, float *out, rw_err *err) {
    const int64_t V = s->m->hp.n_vocab;
    for (int64_t i = 0; i < n_cand; i++)
        if (cand[i] < 0 || cand[i] >= V)
            return rw_err_set(err, RW_E_RANGE, "candidate token %d outside the vocabulary",
                              (int)cand[i]);
    infer_session_reset(s);
    rw_status st = infer_session_prefill(s, prompt, n_prompt, err);
    if (st != RW_OK) return st;
    for (int64_t i = 0; i < n_cand; i++)
        out[i] = (float)log_softmax_at(s->logits, V, cand[i]);
    return RW_OK;
}

rw_status infer_yes_no_score(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                             int32_t yes_id, int32_t no_id, double *score, float *logprobs,
                             rw_err *err) {
    int32_t cand[2] = {yes_id, no_id};
    float lp[2];
    rw_status st = infer_logprobs_after(s, prompt, n_prompt, cand, 2, lp, err);
    if (st != RW_OK) return st;
    /* p_y / (p_y + p_n) = 1 / (1 + exp(lp_n - lp_y)), stable for very negative log-probs */
    *score = 1.0 / (1.0 + exp((double)lp[1] - (double)lp[0]));
    if (logprobs) memcpy(logprobs, lp, sizeof(lp));
    return RW_OK;
}

/* Rows of output logits computed at once when scoring a continuation: enough to run the
 * output projection as a matmul over many rows (one pass over the vocab x hidden weight per
 * block instead of per row), small enough to bound the logits block (<= 128 rows and
 * <= 16 MiB) and to fit
 * in what the step arena has left after a chunk's hidden states. At least 1 (the arena is
 * sized for one logits row). */
static int64_t logit_block_rows(const infer_session *s, int64_t T, size_t free_bytes) {
    const infer_model *m = s->m;
    const int64_t V = m->hp.n_vocab, C = m->hp.n_embd;
    int64_t R = ((int64_t)16 << 20) / (V * 4);
    if (R > 128) R = 128;
    if (R > T) R = T;
    if (R < 1) R = 1;
    const int nth = rw_pool_threads(s->pool);
    for (; R > 1; R /= 2) {
        size_t need = (size_t)(R * C) * 4 + 4096 +
                      infer_linear_arena_bytes(&m->output, R, nth, s->cfg.f32_activations);
        if (need <= free_bytes) break;
    }
    return R;
}

rw_status infer_continuation_logprob(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                                     const int32_t *cont, int64_t n_cont, double *out,
                                     rw_err *err) {
    const infer_model *m = s->m;
    const int64_t V = m->hp.n_vocab;
    if (n_prompt <= 0 || n_cont <= 0)
        return rw_err_set(err, RW_E_INVALID, "continuation scoring needs a prompt and tokens");
    /* the last continuation token is only a target (never fed), so check it here */
    for (int64_t i = 0; i < n_cont; i++)
        if (cont[i] < 0 || cont[i] >= V)
            return rw_err_set(err, RW_E_RANGE,
                              "continuation token %d at %lld outside the vocabulary (%lld)",
                              (int)cont[i], (long long)i, (long long)V);
    infer_session_reset(s);
    /* Logits are needed only at positions n_prompt-1 .. n_prompt+n_cont-2: the prompt's
     * head just fills the cache; then the fed tokens are prompt[n_prompt-1], cont[0..n-2] and
     * every one of their positions predicts the next continuation token. */
    rw_status st = check_room(s, n_prompt - 1 + n_cont, err);
    if (st != RW_OK) return st;
    if (n_prompt > 1 && (st = run(s, prompt, n_prompt - 1, false, err)) != RW_OK) return st;
    int32_t *feed = rw_alloc_array((size_t)n_cont, sizeof(int32_t));
    if (!feed) return rw_err_set(err, RW_E_NOMEM, "continuation of %lld tokens", (long long)n_cont);
    feed[0] = prompt[n_prompt - 1];
    memcpy(feed + 1, cont, (size_t)(n_cont - 1) * sizeof(int32_t));
    double acc = 0;
    for (int64_t o = 0; o < n_cont; o += s->cfg.n_batch) {
        const int64_t T = n_cont - o < s->cfg.n_batch ? n_cont - o : s->cfg.n_batch;
        infer_ctx ctx;
        step_ctx(s, &ctx);
        rw_tensor *h = infer_decoder_hidden(&ctx, m, &s->kv, feed + o, T);
        const int64_t R = h ? logit_block_rows(s, T, s->arena.cap - s->arena.used) : 1;
        for (int64_t r0 = 0; h && r0 < T; r0 += R) {
            const int64_t nr = T - r0 < R ? T - r0 : R;
            const size_t mark = infer_mark(&ctx);
            rw_tensor *x =
                infer_op_rmsnorm(&ctx, infer_rows(&ctx, h, r0, nr), m->out_norm, m->hp.norm_eps);
            rw_tensor *lg = infer_linear_forward(&ctx, &m->output, x);
            if (!lg) break;
            const float *rows = lg->data;
            for (int64_t i = 0; i < nr; i++)
                acc += log_softmax_at(rows + i * V, V, cont[o + r0 + i]);
            if (o + r0 + nr == n_cont) /* the last position's logits, as after a prefill */
                memcpy(s->logits, rows + (nr - 1) * V, (size_t)V * sizeof(float));
            infer_rollback(&ctx, mark);
        }
        if (!infer_ctx_ok(&ctx)) {
            st = infer_ctx_error(&ctx, err);
            break;
        }
    }
    rw_free(feed);
    if (st == RW_OK) *out = acc;
    return st;
}

/* ------------------------------------------------------------------ sampling */

void infer_sampler_cfg_default(infer_sampler_cfg *cfg) {
    cfg->temp = 0.0f;
    cfg->top_k = 0;
    cfg->top_p = 1.0f;
    cfg->min_p = 0.0f;
    cfg->seed = 42;
}

rw_status infer_sampler_init(infer_sampler *s, const infer_sampler_cfg *cfg, int64_t n_vocab,
                             rw_err *err) {
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->n_vocab = n_vocab;
    rw_rng_seed(&s->rng, cfg->seed);
    s->idx = rw_alloc_array((size_t)n_vocab, sizeof(int32_t));
    s->p = rw_alloc_array((size_t)n_vocab, sizeof(float));
    s->idx2 = rw_alloc_array((size_t)n_vocab, sizeof(int32_t));
    s->e = rw_alloc_array((size_t)n_vocab, sizeof(float));
    s->keys = rw_alloc_array((size_t)n_vocab, 2 * sizeof(uint32_t));
    if (!s->idx || !s->p || !s->idx2 || !s->keys || !s->e) {
        infer_sampler_deinit(s);
        return rw_err_set(err, RW_E_NOMEM, "sampler buffers");
    }
    return RW_OK;
}

void infer_sampler_deinit(infer_sampler *s) {
    rw_free(s->idx);
    rw_free(s->p);
    rw_free(s->idx2);
    rw_free(s->keys);
    rw_free(s->e);
    s->e = NULL;
    s->idx = s->idx2 = NULL;
    s->p = NULL;
    s->keys = NULL;
}

/* Candidates in descending logit order (ties by lower id, NaN skipped: kern_topk_f32's
 * order), produced lazily: s->idx[0..n) is always the sorted top n and s->p[i] the
 * unnormalised probability exp((logit - max) / temp) of idx[i] (float). With top-k off the
 * sampler usually needs a short prefix (the top-p mass, the min-p cut, the draw): the top
 * 64 come from kern_topk_f32 (one SIMD-skipping pass); when more are needed, every
 * candidate is ordered by a stable LSD radix sort on the logits' order-preserving keys
 * (O(V), three 11-bit passes) instead of a comparison sort of the vocabulary. */
typedef struct cand_list {
    infer_sampler *s;
    const float *logits;
    size_t n;        /* sorted prefix length */
    size_t total;    /* candidates that exist (non-NaN logits, or top-k) */
    double mx;       /* the largest logit */
    const float *ef; /* per vocabulary id exp((logit - max) / temp) as f32, or NULL */
} cand_list;

enum { CAND_FIRST = 64 };

static void cand_fill(cand_list *c, size_t from) {
    const infer_sampler *s = c->s;
    if (c->ef) {
        for (size_t i = from; i < c->n; i++)
            s->p[i] = c->ef[s->idx[i]];
        return;
    }
    for (size_t i = from; i < c->n; i++)
        s->p[i] = (float)exp(((double)c->logits[s->idx[i]] - c->mx) / (double)s->cfg.temp);
}

/* Key whose ascending order is descending logit order (-0 folded onto +0 so that equal
 * logits tie, as in a float comparison). */
static uint32_t desc_key(float v) {
    uint32_t u;
    if (v == 0.0f) v = 0.0f;
    memcpy(&u, &v, sizeof(u));
    const uint32_t asc = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~asc;
}

/* Every non-NaN logit into s->idx (descending, ties by lower id): stable radix sort of
 * (key, id) pairs built in id order. */
static size_t radix_sort_desc(infer_sampler *s, const float *logits) {
    const size_t V = (size_t)s->n_vocab;
    uint32_t *ka = s->keys, *kb = s->keys + V;
    int32_t *ia = s->idx, *ib = s->idx2;
    size_t n = 0;
    for (size_t j = 0; j < V; j++)
        if (!isnan(logits[j])) {
            ka[n] = desc_key(logits[j]);
            ia[n++] = (int32_t)j;
        }
    static const unsigned shift[3] = {0, 11, 22};
    for (int pass = 0; pass < 3; pass++) {
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[(ka[i] >> shift[pass]) & 2047u]++;
        size_t sum = 0;
        for (size_t b = 0; b < 2048; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) {
            size_t d = cnt[(ka[i] >> shift[pass]) & 2047u]++;
            kb[d] = ka[i];
            ib[d] = ia[i];
        }
        uint32_t *tk = ka;
        ka = kb;
        kb = tk;
        int32_t *ti = ia;
        ia = ib;
        ib = ti;
    }
    if (ia != s->idx) memcpy(s->idx, ia, n * sizeof(int32_t)); /* odd pass count */
    return n;
}

/* True when candidate i exists (sorting further as needed). */
static bool cand_has(cand_list *c, size_t i) {
    if (i < c->n) return true;
    if (i >= c->total) return false;
    const size_t old = c->n;
    c->n = radix_sort_desc(c->s, c->logits);
    cand_fill(c, old);
    return i < c->n;
}

int32_t infer_sample(infer_sampler *s, const float *logits) {
    const infer_sampler_cfg *c = &s->cfg;
    const int64_t V = s->n_vocab;
    if (c->temp <= 0.0f) return (int32_t)kern_argmax_f32(logits, (size_t)V);
    cand_list cl = {.s = s, .logits = logits};
    double z = 0, zf = 0; /* zf: the f32 exponentials' sum (every candidate kept) */
    if (c->top_k > 0 && c->top_k < V) {
        /* top-k: the k candidates sorted at once (a k-heap, already partial) */
        cl.n = cl.total = kern_topk_f32(NULL, s->idx, logits, (size_t)V, (size_t)c->top_k);
        if (cl.n == 0) return 0;
        cl.mx = (double)logits[s->idx[0]];
        cand_fill(&cl, 0);
        for (size_t i = 0; i < cl.n; i++)
            z += exp(((double)logits[s->idx[i]] - cl.mx) / (double)c->temp);
    } else {
        cl.n =
            kern_topk_f32(NULL, s->idx, logits, (size_t)V, V < CAND_FIRST ? (size_t)V : CAND_FIRST);
        if (cl.n == 0) return 0;
        cl.mx = (double)logits[s->idx[0]];
        /* the normaliser over every candidate, in vocabulary order (a full sort would sum in
         * rank order: the same up to the rounding of the double sum); each exponential is
         * kept (f32, as p holds it) for the candidates ordered later */
        for (int64_t j = 0; j < V; j++)
            if (!isnan(logits[j])) {
                const double e = exp(((double)logits[j] - cl.mx) / (double)c->temp);
                s->e[j] = (float)e;
                z += e;
                zf += (double)s->e[j];
                cl.total++;
            }
        cl.ef = s->e;
        cand_fill(&cl, 0);
    }
    size_t keep = cl.total;
    if (c->top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; cand_has(&cl, i); i++) {
            cum += (double)s->p[i] / z;
            if (cum >= (double)c->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (c->min_p > 0.0f) {
        const double thr = (double)c->min_p * (double)s->p[0];
        size_t kk = 1;
        while (kk < keep && cand_has(&cl, kk) && (double)s->p[kk] >= thr)
            kk++;
        keep = kk;
    }
    double zk = 0;
    if (keep <= cl.n) {
        for (size_t i = 0; i < keep; i++)
            zk += (double)s->p[i];
    } else { /* nothing filtered: every candidate, in vocabulary order */
        zk = zf;
    }
    double u = rw_rng_uniform(&s->rng) * zk, cum = 0;
    for (size_t i = 0; i < keep && cand_has(&cl, i); i++) {
        cum += (double)s->p[i];
        if (u < cum) return s->idx[i];
    }
    cand_has(&cl, keep - 1);
    return s->idx[(keep < cl.n ? keep : cl.n) - 1];
}
