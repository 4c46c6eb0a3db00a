/* bench-infer: end-to-end inference speed on GGUF models (make them with
 * `rag-gguf new --preset bench` and `rag-gguf quantize`).
 *
 *   bench-infer [--json] [--threads N] [--quick] MODEL.gguf...
 *
 * Decoders: prefill tokens/s of a 128-token prompt, decode tokens/s (64 tokens after it),
 * and decode as a fraction of the weight-streaming bound (measured read bandwidth / bytes of
 * the weights read per token: every tensor except an untied token-embedding table).
 * Encoders: sentence embeddings/s for a batch of 64 sentences of 32 tokens. Each at 1 thread
 * and at N threads. Before timing, a session's prefill logits are checked against a
 * cache-free forward of the same tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/arena.h"
#include "core/timer.h"
#include "infer/embed.h"
#include "infer/generate.h"
#include "infer/model.h"

enum { PROMPT = 128, GEN = 64, EMB_B = 64, EMB_T = 32 };

typedef struct dec_case {
    infer_session *s;
    int32_t *ids;
    int64_t n_gen, n_vocab;
} dec_case;

static void run_prefill(void *p) {
    dec_case *c = p;
    infer_session_reset(c->s);
    rw_err e;
    if (infer_session_prefill(c->s, c->ids, PROMPT, &e) != RW_OK) {
        fprintf(stderr, "bench-infer: prefill: %s\n", e.msg);
        abort();
    }
}

static void run_decode(void *p) {
    dec_case *c = p;
    /* the cache holds the prompt; decode n_gen tokens after it */
    c->s->kv.n_past = PROMPT;
    for (int64_t g = 0; g < c->n_gen; g++)
        if (infer_session_decode(c->s, (int32_t)((g * 7 + 3) % c->n_vocab), NULL) != RW_OK) abort();
}

typedef struct enc_case {
    infer_embedder *e;
    int32_t *ids, *lens;
    float *out;
} enc_case;

static void run_encode(void *p) {
    enc_case *c = p;
    if (infer_embed_ids(c->e, c->ids, c->lens, EMB_B, c->out, NULL) != RW_OK) abort();
}

static const char *wtype(const infer_model *m) {
    const rw_dtype_info *di = rw_dtype_get((uint32_t)m->layers[0].up.w->type);
    return di ? di->name : "?";
}

/* Session logits after 8 tokens == a cache-free forward (f32 path both). */
static int check_decoder(const infer_model *m, rw_pool *pool) {
    infer_session_cfg cfg;
    infer_session_cfg_default(&cfg);
    cfg.pool = pool;
    cfg.n_ctx = 16;
    cfg.n_batch = 3;
    cfg.f32_activations = true;
    infer_session *s = NULL;
    if (infer_session_create(m, &cfg, &s, NULL) != RW_OK) return -1;
    int32_t ids[8] = {1, 2, 3, 5, 8, 13, 21, 34};
    infer_session_prefill(s, ids, 8, NULL);
    rw_arena ar;
    rw_arena_init(&ar, infer_model_arena_bytes(m, 8, 8, rw_pool_threads(pool), true) * 2, NULL);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, pool, NULL);
    ctx.f32_activations = true;
    rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, 8, false);
    double worst = 0;
    for (int64_t i = 0; lg && i < m->hp.n_vocab; i++)
        worst = fmax(worst, fabs((double)s->logits[i] - (double)((float *)lg->data)[i]));
    int rc = lg && worst < 1e-3 ? 0 : -1;
    if (rc) fprintf(stderr, "bench-infer: check failed (max diff %g)\n", worst);
    rw_arena_deinit(&ar);
    infer_session_destroy(s);
    return rc;
}

static void report(const bench_opts *o, const char *bench, const char *type, const char *shape,
                   int nth, double value, const char *unit, double limit, const bench_stats *st) {
    if (o->json) {
        bench_json_line(stdout, bench, type, shape, nth, value, unit, limit, st, NULL);
    } else {
        printf("%-14s %-6s %-26s t=%d %10.1f %-8s", bench, type, shape, nth, value, unit);
        if (limit > 0) printf("  %5.1f%% of bound %.1f", 100 * value / limit, limit);
        printf("   (median %.4f s, min %.4f s)\n", st->median, st->min);
    }
}

int main(int argc, char **argv) {
    bench_opts o;
    int first = bench_parse_args(argc, argv, &o);
    if (first < 0) return 2;
    if (first >= argc) {
        fprintf(stderr, "usage: bench-infer [--json] [--threads N] [--quick] MODEL.gguf...\n");
        return 2;
    }
    rw_pool *pools[2] = {NULL, NULL};
    int nths[2] = {1, o.threads > 0 ? o.threads : rw_cpu_physical_cores()};
    if (rw_pool_create(1, &pools[0], NULL) != RW_OK ||
        rw_pool_create(nths[1], &pools[1], NULL) != RW_OK)
        return 1;
    bench_limits lim;
    bench_limits_measure(pools[1], o.quick, &lim);
    bench_print_header(&o, &lim);
    const int reps = o.quick ? 2 : 5;
    for (int a = first; a < argc; a++) {
        infer_model *m = NULL;
        rw_err err;
        if (infer_model_load(argv[a], &m, &err) != RW_OK) {
            fprintf(stderr, "bench-infer: %s\n", err.msg);
            return 1;
        }
        const char *type = wtype(m);
        for (int ti = 0; ti < 2; ti++) {
            if (ti == 1 && nths[1] == 1) break;
            rw_pool *pool = pools[ti];
            const int nth = nths[ti];
            bench_stats st;
            char shape[96];
            if (m->arch != INFER_ARCH_BERT) {
                if (ti == 0 && check_decoder(m, pool)) return 1;
                infer_session_cfg cfg;
                infer_session_cfg_default(&cfg);
                cfg.pool = pool;
                cfg.n_ctx = PROMPT + GEN + 8;
                infer_session *s = NULL;
                if (infer_session_create(m, &cfg, &s, &err) != RW_OK) {
                    fprintf(stderr, "bench-infer: %s\n", err.msg);
                    return 1;
                }
                int32_t ids[PROMPT];
                for (int i = 0; i < PROMPT; i++)
                    ids[i] = (int32_t)((i * 37 + 11) % m->hp.n_vocab);
                dec_case c = {s, ids, o.quick ? 16 : GEN, m->hp.n_vocab};
                bench_time(run_prefill, &c, 1, reps, &st);
                snprintf(shape, sizeof(shape), "%s pp%d", m->arch_name, PROMPT);
                report(&o, "infer_prefill", type, shape, nth, PROMPT / st.median, "tok/s", 0, &st);
                bench_time(run_decode, &c, 1, reps, &st);
                uint64_t wb = infer_model_weight_bytes(m);
                if (!m->hp.tied_output) wb -= rw_tensor_nbytes(m->tok_embd);
                double bound = lim.read_gbs[ti] * 1e9 / (double)wb; /* tokens/s */
                snprintf(shape, sizeof(shape), "%s tg%lld (%.0f MB/tok)", m->arch_name,
                         (long long)c.n_gen, (double)wb / 1e6);
                report(&o, "infer_decode", type, shape, nth, (double)c.n_gen / st.median, "tok/s",
                       bound, &st);
                infer_session_destroy(s);
            } else {
                infer_embed_cfg cfg;
                infer_embed_cfg_default(&cfg);
                cfg.pool = pool;
                infer_embedder *e = NULL;
                if (infer_embedder_create(m, &cfg, &e, &err) != RW_OK) return 1;
                enc_case c = {e, malloc(sizeof(int32_t) * EMB_B * EMB_T),
                              malloc(sizeof(int32_t) * EMB_B),
                              malloc(sizeof(float) * EMB_B * (size_t)m->hp.n_embd)};
                for (int i = 0; i < EMB_B * EMB_T; i++)
                    c.ids[i] = (int32_t)((i * 131 + 7) % (int)m->hp.n_vocab);
                for (int b = 0; b < EMB_B; b++)
                    c.lens[b] = EMB_T;
                bench_time(run_encode, &c, 1, reps, &st);
                snprintf(shape, sizeof(shape), "%s %dx%d", m->arch_name, EMB_B, EMB_T);
                report(&o, "infer_embed", type, shape, nth, EMB_B / st.median, "emb/s", 0, &st);
                free(c.ids);
                free(c.lens);
                free(c.out);
                infer_embedder_destroy(e);
            }
        }
        infer_model_destroy(m);
    }
    rw_pool_destroy(pools[0]);
    rw_pool_destroy(pools[1]);
    return 0;
}
