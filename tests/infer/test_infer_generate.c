/* Decoder runtime: sessions (chunked prefill and KV decode equal one full forward), log-probs
 * against a log-softmax computed here from full-forward logits, the sampler against the
 * distribution it should draw from (filters applied naively here), and rag-generate --json
 * against refs/peer when /work/shared is present. */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "infer/generate.h"
#include "infer/gguf.h"
#include "infer/gguf_model.h"
#include "infer/lora.h"
#include "infer/model.h"
#include "infer/tokenizer.h"
#include "kernels/ops.h"
#include "rw_test.h"
#include "tiny_model.h"

static char g_model[512];

static int setup(void **state) {
    (void)state;
    snprintf(g_model, sizeof(g_model), "%s/gen.gguf", rw_test_tmpdir());
    return tiny_llama_write(g_model, 99);
}

static infer_model *load(void) {
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(g_model, &m, NULL), RW_OK);
    return m;
}

/* logits of every position from one forward without cache: [T][V] */
static float *full_logits(const infer_model *m, const int32_t *ids, int T) {
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 16u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, T, true);
    assert_non_null(lg);
    float *out = malloc(sizeof(float) * (size_t)T * TINY_V);
    memcpy(out, lg->data, sizeof(float) * (size_t)T * TINY_V);
    rw_arena_deinit(&ar);
    return out;
}

static double naive_logsoftmax(const float *row, int V, int id) {
    double mx = -1e30, z = 0;
    for (int j = 0; j < V; j++)
        mx = fmax(mx, row[j]);
    for (int j = 0; j < V; j++)
        z += exp(row[j] - mx);
    return row[id] - mx - log(z);
}

static void test_session_matches_full_forward(void **state) {
    (void)state;
    infer_model *m = load();
    int32_t ids[11] = {1, 5, 9, 33, 2, 60, 7, 7, 12, 40, 3};
    float *ref = full_logits(m, ids, 11);
    infer_session_cfg cfg;
    infer_session_cfg_default(&cfg);
    cfg.n_batch = 3; /* chunked prefill */
    cfg.n_ctx = 16;
    cfg.n_threads = 2;
    infer_session *s = NULL;
    assert_int_equal(infer_session_create(m, &cfg, &s, NULL), RW_OK);
    assert_int_equal(infer_session_prefill(s, ids, 7, NULL), RW_OK);
    rw_assert_allclose(s->logits, ref + 6 * TINY_V, TINY_V, 1e-5, 1e-5);
    for (int t = 7; t < 11; t++) {
        assert_int_equal(infer_session_decode(s, ids[t], NULL), RW_OK);
        rw_assert_allclose(s->logits, ref + t * TINY_V, TINY_V, 1e-5, 1e-5);
    }
    /* log-probs of candidates after a prompt, and of a continuation */
    int32_t cand[3] = {0, 17, 63};
    float lp[3];
    assert_int_equal(infer_logprobs_after(s, ids, 5, cand, 3, lp, NULL), RW_OK);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(lp[i] - naive_logsoftmax(ref + 4 * TINY_V, TINY_V, cand[i])) < 1e-5);
    double cl;
    assert_int_equal(infer_continuation_logprob(s, ids, 4, ids + 4, 7, &cl, NULL), RW_OK);
    double want = 0;
    for (int t = 4; t < 11; t++)
        want += naive_logsoftmax(ref + (t - 1) * TINY_V, TINY_V, ids[t]);
    assert_true(fabs(cl - want) < 1e-4);
    /* context overflow is an error, not a crash */
    rw_err e;
    infer_session_reset(s);
    int32_t many[17] = {0};
    assert_int_equal(infer_session_prefill(s, many, 17, &e), RW_E_RANGE);
    assert_non_null(strstr(e.msg, "context"));
    int32_t bad = TINY_V;
    assert_int_equal(infer_logprobs_after(s, ids, 3, &bad, 1, lp, &e), RW_E_RANGE);
    infer_session_destroy(s);
    free(ref);
    infer_model_destroy(m);
}

/* infer_continuation_logprob (output projection only at the positions that predict a
 * continuation token, in row blocks) against the sum over per-step decoding: prefill the
 * prompt, then log-softmax of the session's logits at each step (computed here in double)
 * and decode the token. Covers chunked prefill (n_batch 7), several logits blocks in one
 * chunk (150 positions > 128 rows), a one-token prompt and a one-token continuation. */
static void test_continuation_matches_stepwise(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/cont.gguf", rw_test_tmpdir());
    infer_gguf_model_spec spec;
    assert_int_equal(infer_gguf_model_preset(INFER_GGUF_ARCH_LLAMA, "tiny", &spec, NULL), RW_OK);
    spec.n_layer = 2;
    spec.n_embd = 64;
    spec.n_head = 4;
    spec.n_head_kv = 2;
    spec.n_ff = 128;
    spec.n_ctx = 512;
    spec.seed = 5;
    for (int ty = 0; ty < 2; ty++) {
        spec.type = ty ? RW_DTYPE_F16 : RW_DTYPE_F32;
        assert_int_equal(infer_gguf_model_new(&spec, NULL, path, NULL, NULL), RW_OK);
        infer_model *m = NULL;
        assert_int_equal(infer_model_load(path, &m, NULL), RW_OK);
        const int V = (int)m->hp.n_vocab;
        rw_rng r;
        rw_rng_seed(&r, 11 + (uint64_t)ty);
        int32_t ids[300];
        for (int i = 0; i < 300; i++)
            ids[i] = (int32_t)rw_rng_below(&r, (uint64_t)V);
        const struct {
            int n_batch, n_prompt, n_cont;
        } cases[] = {{512, 9, 150}, {7, 12, 20}, {7, 1, 9}, {4, 6, 1}, {64, 100, 140}, {3, 1, 1}};
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            infer_session_cfg cfg;
            infer_session_cfg_default(&cfg);
            cfg.n_batch = cases[c].n_batch;
            cfg.n_ctx = 300;
            cfg.n_threads = 2;
            infer_session *s = NULL;
            assert_int_equal(infer_session_create(m, &cfg, &s, NULL), RW_OK);
            const int np = cases[c].n_prompt, nc = cases[c].n_cont;
            const int32_t *cont = ids + np;
            double want = 0;
            float *last = malloc(sizeof(float) * (size_t)V);
            infer_session_reset(s);
            assert_int_equal(infer_session_prefill(s, ids, np, NULL), RW_OK);
            for (int i = 0; i < nc; i++) {
                if (i > 0) assert_int_equal(infer_session_decode(s, cont[i - 1], NULL), RW_OK);
                want += naive_logsoftmax(s->logits, V, cont[i]);
            }
            memcpy(last, s->logits, sizeof(float) * (size_t)V);
            double got = 0;
            assert_int_equal(infer_continuation_logprob(s, ids, np, cont, nc, &got, NULL), RW_OK);
            const double tol = (ty ? 2e-5 : 5e-6) * nc * (1 + fabs(want) / nc);
            if (fabs(got - want) > tol)
                fprintf(stderr, "case %zu type %d: got %.9f want %.9f\n", c, ty, got, want);
            assert_true(fabs(got - want) <= tol);
            /* the session then holds prompt + cont[..nc-2]; logits of the last position */
            assert_int_equal(s->kv.n_past, np + nc - 1);
            rw_assert_allclose(s->logits, last, (size_t)V, 1e-4, 1e-4);
            free(last);
            infer_session_destroy(s);
        }
        /* a continuation token outside the vocabulary (the last one, never fed) is refused */
        infer_session_cfg cfg;
        infer_session_cfg_default(&cfg);
        cfg.n_ctx = 64;
        infer_session *s = NULL;
        assert_int_equal(infer_session_create(m, &cfg, &s, NULL), RW_OK);
        int32_t bad[3] = {1, 2, V};
        double x;
        rw_err e;
        assert_int_equal(infer_continuation_logprob(s, ids, 2, bad, 3, &x, &e), RW_E_RANGE);
        assert_non_null(strstr(e.msg, "vocabulary"));
        assert_int_equal(infer_continuation_logprob(s, ids, 40, ids, 30, &x, &e), RW_E_RANGE);
        infer_session_destroy(s);
        infer_model_destroy(m);
    }
}

/* Draws many samples and compares frequencies with the naive filtered distribution. */
static void check_sampler(const float *lg, int V, infer_sampler_cfg c, const double *want) {
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, &c, V, NULL), RW_OK);
    enum { N = 40000 };
    int *cnt = calloc((size_t)V, sizeof(int));
    for (int i = 0; i < N; i++) {
        int32_t id = infer_sample(&s, lg);
        assert_true(id >= 0 && id < V);
        cnt[id]++;
    }
    for (int j = 0; j < V; j++) {
        if (want[j] == 0) assert_int_equal(cnt[j], 0);
        double f = (double)cnt[j] / N, sd = sqrt(want[j] * (1 - want[j]) / N);
        if (fabs(f - want[j]) > 5 * sd + 1e-9)
            fprintf(stderr, "token %d: freq %.4f want %.4f\n", j, f, want[j]);
        assert_true(fabs(f - want[j]) <= 5 * sd + 1e-9);
    }
    free(cnt);
    infer_sampler_deinit(&s);
}

static void test_sampler(void **state) {
    (void)state;
    const int V = 8;
    const float lg[8] = {2.0f, 1.0f, 0.5f, 3.0f, -1.0f, 0.0f, 2.5f, 1.5f};
    /* order by logit: 3 (3.0), 6 (2.5), 0 (2.0), 7 (1.5), 1, 2, 5, 4 */
    const int order[8] = {3, 6, 0, 7, 1, 2, 5, 4};
    infer_sampler_cfg c;
    infer_sampler_cfg_default(&c);
    infer_sampler s;
    assert_int_equal(infer_sampler_init(&s, &c, V, NULL), RW_OK);
    assert_int_equal(infer_sample(&s, lg), 3); /* greedy */
    infer_sampler_deinit(&s);
    for (int variant = 0; variant < 4; variant++) {
        infer_sampler_cfg_default(&c);
        c.temp = 0.7f;
        c.seed = 1234 + (uint64_t)variant;
        int keep = 8;
        double p[8], z = 0;
        for (int j = 0; j < V; j++)
            p[j] = exp((lg[j] - 3.0) / 0.7);
        if (variant == 1) c.top_k = keep = 3;
        if (variant == 2) {
            c.top_p = 0.8f;
            double tot = 0, cum = 0;
            for (int j = 0; j < V; j++)
                tot += p[j];
            for (keep = 0; keep < V;) {
                cum += p[order[keep++]] / tot;
                if (cum >= 0.8) break;
            }
        }
        if (variant == 3) {
            c.min_p = 0.2f;
            keep = 0;
            while (keep < V && p[order[keep]] >= 0.2 * p[order[0]])
                keep++;
        }
        double want[8] = {0};
        for (int k = 0; k < keep; k++)
            z += p[order[k]];
        for (int k = 0; k < keep; k++)
            want[order[k]] = p[order[k]] / z;
        check_sampler(lg, V, c, want);
    }
    /* same seed, same sequence */
    infer_sampler_cfg_default(&c);
    c.temp = 1.0f;
    c.seed = 77;
    infer_sampler a, b;
    infer_sampler_init(&a, &c, V, NULL);
    infer_sampler_init(&b, &c, V, NULL);
    for (int i = 0; i < 100; i++)
        assert_int_equal(infer_sample(&a, lg), infer_sample(&b, lg));
    infer_sampler_deinit(&a);
    infer_sampler_deinit(&b);
}

/* The sampler before the lazy candidate prefix: kern_topk_f32 over the whole vocabulary
 * (a full sort when top-k is off), then the same filters and draw. Kept here as the
 * reference the lazy version must reproduce token for token. */
static int32_t sample_full_sort(const infer_sampler_cfg *c, rw_rng *rng, int32_t *idx, float *p,
                                int64_t V, const float *logits) {
    if (c->temp <= 0.0f) return (int32_t)kern_argmax_f32(logits, (size_t)V);
    const size_t k = c->top_k > 0 && c->top_k < V ? (size_t)c->top_k : (size_t)V;
    const size_t n = kern_topk_f32(NULL, idx, logits, (size_t)V, k);
    if (n == 0) return 0;
    const double mx = (double)logits[idx[0]];
    double z = 0;
    for (size_t i = 0; i < n; i++) {
        double e = exp(((double)logits[idx[i]] - mx) / (double)c->temp);
        p[i] = (float)e;
        z += e;
    }
    size_t keep = n;
    if (c->top_p < 1.0f) {
        double cum = 0;
        for (size_t i = 0; i < n; i++) {
            cum += (double)p[i] / z;
            if (cum >= (double)c->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (c->min_p > 0.0f) {
        const double thr = (double)c->min_p * (double)p[0];
        size_t kk = 1;
        while (kk < keep && (double)p[kk] >= thr)
            kk++;
        keep = kk;
    }
    double zk = 0;
    for (size_t i = 0; i < keep; i++)
        zk += (double)p[i];
    double u = rw_rng_uniform(rng) * zk, cum = 0;
    for (size_t i = 0; i < keep; i++) {
        cum += (double)p[i];
        if (u < cum) return idx[i];
    }
    return idx[keep - 1];
}

/* The sampler (lazy sorted prefix) draws exactly the reference's tokens over many seeds,
 * vocabulary sizes, logit spreads (including ties and NaNs) and filter settings. */
static void test_sampler_matches_full_sort(void **state) {
    (void)state;
    const int64_t vs[] = {1, 3, 100, 5000, 32000};
    const float temps[] = {0.3f, 0.8f, 1.7f};
    const int topks[] = {0, 40, 1 << 30};
    const float topps[] = {1.0f, 0.999f, 0.9f, 0.5f};
    const float minps[] = {0.0f, 0.05f};
    int32_t *idx = malloc(sizeof(int32_t) * 32000);
    float *p = malloc(sizeof(float) * 32000), *lg = malloc(sizeof(float) * 32000);
    long n_draws = 0, n_deep = 0;
    for (size_t vi = 0; vi < sizeof(vs) / sizeof(vs[0]); vi++) {
        const int64_t V = vs[vi];
        for (int spread = 0; spread < 4; spread++) {
            rw_rng r;
            rw_rng_seed(&r, 1000 + (uint64_t)(vi * 10 + (size_t)spread));
            const double sd = spread == 0 ? 0.3 : spread == 1 ? 2.0 : 6.0;
            for (int64_t j = 0; j < V; j++) {
                lg[j] = (float)(sd * rw_rng_normal(&r));
                if (spread == 3) lg[j] = roundf(lg[j] * 2.0f) / 2.0f; /* many ties */
            }
            if (V > 10 && spread == 2) lg[7] = lg[V - 3] = NAN;
            for (size_t ti = 0; ti < 3; ti++)
                for (size_t ki = 0; ki < 3; ki++)
                    for (size_t pi = 0; pi < 4; pi++)
                        for (size_t mi = 0; mi < 2; mi++) {
                            if (V == 32000 && (ti != 1 || pi == 1)) continue; /* time */
                            infer_sampler_cfg c;
                            infer_sampler_cfg_default(&c);
                            c.temp = temps[ti];
                            c.top_k = topks[ki];
                            c.top_p = topps[pi];
                            c.min_p = minps[mi];
                            c.seed = 77 + vi * 131 + ti * 17 + ki * 5 + pi * 3 + mi;
                            infer_sampler s;
                            assert_int_equal(infer_sampler_init(&s, &c, V, NULL), RW_OK);
                            rw_rng ref;
                            rw_rng_seed(&ref, c.seed);
                            for (int d = 0; d < 6; d++) {
                                int32_t want = sample_full_sort(&c, &ref, idx, p, V, lg);
                                int32_t got = infer_sample(&s, lg);
                                if (got != want)
                                    fprintf(stderr,
                                            "V %lld spread %d temp %g k %d p %g min_p %g draw "
                                            "%d: got %d want %d\n",
                                            (long long)V, spread, c.temp, c.top_k, c.top_p, c.min_p,
                                            d, got, want);
                                assert_int_equal(got, want);
                                n_draws++;
                                /* draws that needed more than the first 64 candidates */
                                int64_t rank = 0;
                                while (rank < V && idx[rank] != want)
                                    rank++;
                                if (rank >= 64) n_deep++;
                            }
                            infer_sampler_deinit(&s);
                        }
        }
    }
    /* the comparison must have exercised the growth of the sorted prefix */
    assert_true(n_deep > 20);
    fprintf(stderr, "sampler: %ld draws identical (%ld past rank 64)\n", n_draws, n_deep);
    free(idx);
    free(p);
    free(lg);
}

/* rag-generate --json on the shared llama model: prompt ids, top10 and greedy ids. */
static void test_cli_json(void **state) {
    (void)state;
    char mp[1024], jp[1024], bin[1024], cmd[4096];
    if (!rw_test_shared_path("refs/models/llama-tiny-f16emb.gguf", mp, sizeof(mp)) ||
        !rw_test_shared_path("refs/peer/llama-tiny-f16emb.json", jp, sizeof(jp)))
        skip();
    json_t *ref = json_load_file(jp, 0, NULL);
    assert_non_null(ref);
    json_t *p0 = json_array_get(json_object_get(ref, "prompts"), 0);
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt '%s' --temp 0 -n 5 --json --threads 2 --f32",
             rw_test_bin("rag-generate", bin, sizeof(bin)), mp,
             json_string_value(json_object_get(p0, "text")));
    char *out = NULL;
    assert_int_equal(rw_test_run(cmd, &out), 0);
    json_t *got = json_loads(out, 0, NULL);
    assert_non_null(got);
    assert_true(json_equal(json_object_get(got, "prompt_ids"), json_object_get(p0, "ids")));
    json_t *np = json_object_get(p0, "numpy_f64");
    assert_true(
        json_equal(json_object_get(got, "generated_ids"), json_object_get(np, "greedy_next5")));
    json_t *top = json_object_get(got, "top10"), *rt = json_object_get(np, "top10");
    for (size_t i = 0; i < 10; i++) {
        json_t *pair = json_array_get(top, i), *r = json_array_get(rt, i);
        assert_int_equal(json_integer_value(json_array_get(pair, 0)),
                         json_integer_value(json_object_get(r, "id")));
        assert_true(fabs(json_number_value(json_array_get(pair, 1)) -
                         json_number_value(json_object_get(r, "logit"))) < 1e-4);
    }
    assert_true(json_is_string(json_object_get(got, "text")));
    json_decref(got);
    json_decref(ref);
    free(out);
    /* stop strings: the text ends right before the first occurrence, streamed or not */
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt 'Water boils' -n 12 --json", bin, mp);
    assert_int_equal(rw_test_run(cmd, &out), 0);
    got = json_loads(out, 0, NULL);
    free(out);
    const char *full = json_string_value(json_object_get(got, "text"));
    size_t fl = strlen(full);
    assert_true(fl > 8);
    /* a stop string of two ASCII letters from the second half of the text */
    char stop[3] = {0, 0, 0};
    for (size_t i = fl / 2; i + 1 < fl && !stop[0]; i++)
        if (isalpha((unsigned char)full[i]) && isalpha((unsigned char)full[i + 1]) &&
            (unsigned char)full[i] < 0x80 && (unsigned char)full[i + 1] < 0x80) {
            stop[0] = full[i];
            stop[1] = full[i + 1];
        }
    assert_true(stop[0] != 0);
    const char *first = strstr(full, stop);
    size_t want_len = (size_t)(first - full);
    char *want = strndup(full, want_len);
    json_decref(got);
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt 'Water boils' -n 12 --stop '%s' --json", bin, mp,
             stop);
    assert_int_equal(rw_test_run(cmd, &out), 0);
    got = json_loads(out, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(got, "text")), want);
    json_decref(got);
    free(out);
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt 'Water boils' -n 12 --stop '%s'", bin, mp, stop);
    assert_int_equal(rw_test_run(cmd, &out), 0);
    assert_true(strlen(out) == want_len + 1 && !strncmp(out, want, want_len));
    free(out);
    free(want);
    /* tokenizer-free input and a LoRA-less error path */
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt-ids 1,2,x --json 2>&1", bin, mp);
    assert_int_not_equal(rw_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "token ids"));
    free(out);
    /* bad option values: exit 2 with the option named, never a crash or a silent default
     * (a huge -n used to abort in the allocator, an empty --stop matched at once) */
    static const char *const bad[][2] = {
        {"-n 99999999999", "-n"},     {"-n abc", "-n"},         {"--threads -5", "--threads"},
        {"--temp nan", "--temp"},     {"--top-p 2", "--top-p"}, {"--ctx -4", "--ctx"},
        {"--stop ''", "--stop"},      {"--seed -1", "--seed"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(cmd, sizeof(cmd), "%s '%s' --prompt-ids 1 %s 2>&1", bin, mp, bad[i][0]);
        int rc = rw_test_run(cmd, &out);
        int ok = rc == 2 && strstr(out, bad[i][1]) != NULL;
        if (!ok) fprintf(stderr, "'%s': rc %d, output: %s\n", bad[i][0], rc, out);
        free(out);
        assert_true(ok);
    }
}

/* Id of a token string, looked up in the GGUF's tokenizer.ggml.tokens array directly (not
 * through the tokenizer under test); -1 when absent. */
static int64_t vocab_id(const char *path, const char *piece) {
    infer_gguf *g = NULL;
    if (infer_gguf_open(path, &g, NULL) != RW_OK) return -1;
    infer_gguf_value toks;
    int64_t id = -1;
    if (infer_gguf_get_arr(g, "tokenizer.ggml.tokens", &toks, NULL) == RW_OK)
        for (uint64_t i = 0; i < toks.count && id < 0; i++) {
            infer_gguf_str s;
            if (infer_gguf_arr_str(&toks, i, &s) == RW_OK && infer_gguf_str_eq(s, piece))
                id = (int64_t)i;
        }
    infer_gguf_close(g);
    return id;
}

/* SentencePiece vocabularies tokenize " yes" as "\u2581" "\u2581yes": the default candidates
 * must be the word pieces, not the shared leading piece (which made every score 0.5). */
static void test_cli_score_spm_default_answers(void **state) {
    (void)state;
    char mp[1024], bin[1024], cmd[4096], in[1024];
    if (!rw_test_shared_path("refs/models/llama-tiny-f16emb.gguf", mp, sizeof(mp))) skip();
    int64_t yes = vocab_id(mp, "\xe2\x96\x81yes"), no = vocab_id(mp, "\xe2\x96\x81no");
    assert_true(yes >= 0 && no >= 0);
    snprintf(in, sizeof(in), "%s/spm.tsv", rw_test_tmpdir());
    FILE *f = fopen(in, "w");
    fprintf(f, "what boils water\theat boils water\n");
    fclose(f);
    rw_test_bin("rag-score", bin, sizeof(bin));
    char *def = NULL, *expl = NULL;
    snprintf(cmd, sizeof(cmd), "%s '%s' '%s' --threads 1", bin, mp, in);
    assert_int_equal(rw_test_run(cmd, &def), 0);
    snprintf(cmd, sizeof(cmd), "%s '%s' '%s' --threads 1 --yes-id %lld --no-id %lld", bin, mp, in,
             (long long)yes, (long long)no);
    assert_int_equal(rw_test_run(cmd, &expl), 0);
    int same = !strcmp(def, expl);
    if (!same) fprintf(stderr, "default: %s\nexplicit ids: %s\n", def, expl);
    free(def);
    free(expl);
    assert_true(same);
    /* the same id for both answers is refused rather than scoring 0.5 */
    snprintf(cmd, sizeof(cmd), "%s '%s' '%s' --yes-id 5 --no-id 5 2>&1", bin, mp, in);
    char *out = NULL;
    assert_int_not_equal(rw_test_run(cmd, &out), 0);
    free(out);
}

/* rag-score: p(yes)/(p(yes)+p(no)) from a full forward + naive log-softmax computed here. */
static void test_cli_score(void **state) {
    (void)state;
    char mp[1024], bin[1024], cmd[4096], in[1024];
    if (!rw_test_shared_path("refs/models/qwen3-tiny-q8_0.gguf", mp, sizeof(mp))) skip();
    snprintf(in, sizeof(in), "%s/pairs.tsv", rw_test_tmpdir());
    FILE *f = fopen(in, "w");
    fprintf(f, "what boils water\theat boils water\n{\"query\":\"cats\",\"document\":\"dogs\"}\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "%s '%s' '%s' --template 'Q: {query} D: {document} A:' "
             "--yes-id 9693 --no-id 2152 --f32 --threads 2",
             rw_test_bin("rag-score", bin, sizeof(bin)), mp, in);
    char *out = NULL;
    assert_int_equal(rw_test_run(cmd, &out), 0);
    infer_model *m = NULL;
    infer_tokenizer *tok = NULL;
    assert_int_equal(infer_model_load(mp, &m, NULL), RW_OK);
    assert_int_equal(infer_tokenizer_load(mp, &tok, NULL), RW_OK);
    const char *prompts[2] = {"Q: what boils water D: heat boils water A:", "Q: cats D: dogs A:"};
    char *line = out;
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 64u << 20, NULL), RW_OK);
    for (int i = 0; i < 2; i++) {
        infer_tok_ids ids = {0};
        assert_int_equal(
            infer_tokenize(tok, prompts[i], strlen(prompts[i]), INFER_TOK_ADD_SPECIAL, &ids, NULL),
            RW_OK);
        rw_arena_reset(&ar);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &ar, NULL, NULL);
        ctx.f32_activations = true;
        rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids.v, (int64_t)ids.n, false);
        assert_non_null(lg);
        double ly = naive_logsoftmax(lg->data, (int)m->hp.n_vocab, 9693);
        double ln = naive_logsoftmax(lg->data, (int)m->hp.n_vocab, 2152);
        double want = exp(ly) / (exp(ly) + exp(ln));
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "index")), i);
        assert_true(fabs(json_number_value(json_object_get(o, "score")) - want) < 1e-4);
        assert_true(fabs(json_number_value(json_object_get(o, "logprob_yes")) - ly) < 1e-4);
        json_decref(o);
        infer_tok_ids_deinit(&ids);
        line = nl + 1;
    }
    rw_arena_deinit(&ar);
    infer_tokenizer_destroy(tok);
    infer_model_destroy(m);
    free(out);
}

/* rag-generate --prompt-ids with --lora FILE:SCALE (twice) on the tiny model: top10 logits
 * equal the library forward with both adapters attached; a mismatched adapter is refused. */
static void test_cli_lora(void **state) {
    (void)state;
    char a1[512], a2[512], bin[1024], cmd[4096];
    const int D = TINY_C / TINY_H;
    tiny_pair p1[] = {{"blk.0.attn_q.weight", TINY_C, TINY_H * D, 4, false}};
    tiny_pair p2[] = {{"output.weight", TINY_C, TINY_V, 2, false}};
    snprintf(a1, sizeof(a1), "%s/cli-a1.gguf", rw_test_tmpdir());
    snprintf(a2, sizeof(a2), "%s/cli-a2.gguf", rw_test_tmpdir());
    assert_int_equal(tiny_lora_write(a1, "llama", "adapter", 8.0f, p1, 1, 21, NULL), 0);
    assert_int_equal(tiny_lora_write(a2, "llama", "adapter", 0.0f, p2, 1, 22, NULL), 0);
    snprintf(cmd, sizeof(cmd),
             "%s '%s' --prompt-ids 3,14,15,9 -n 3 --json --threads 1 --lora "
             "'%s:0.5' --lora '%s'",
             rw_test_bin("rag-generate", bin, sizeof(bin)), g_model, a1, a2);
    char *out = NULL;
    assert_int_equal(rw_test_run(cmd, &out), 0);
    json_t *got = json_loads(out, 0, NULL);
    assert_non_null(got);
    infer_model *m = load();
    infer_lora *l1 = NULL, *l2 = NULL;
    assert_int_equal(infer_lora_load(a1, m, &l1, NULL), RW_OK);
    assert_int_equal(infer_lora_load(a2, m, &l2, NULL), RW_OK);
    assert_int_equal(infer_model_attach_lora(m, l1, 0.5f, NULL), RW_OK);
    assert_int_equal(infer_model_attach_lora(m, l2, 1.0f, NULL), RW_OK);
    int32_t ids[4] = {3, 14, 15, 9};
    float *ref = full_logits(m, ids, 4);
    json_t *top = json_object_get(got, "top10");
    assert_int_equal(json_array_size(top), 10);
    for (size_t i = 0; i < 10; i++) {
        json_t *pair = json_array_get(top, i);
        int id = (int)json_integer_value(json_array_get(pair, 0));
        assert_true(fabs(json_number_value(json_array_get(pair, 1)) - ref[3 * TINY_V + id]) < 1e-4);
    }
    json_decref(got);
    free(out);
    free(ref);
    infer_model_detach_loras(m);
    infer_lora_destroy(l1);
    infer_lora_destroy(l2);
    infer_model_destroy(m);
    /* an adapter for another architecture is refused with the reason */
    tiny_lora_write(a1, "qwen3", "adapter", 8.0f, p1, 1, 21, NULL);
    snprintf(cmd, sizeof(cmd), "%s '%s' --prompt-ids 3,14 -n 1 --lora '%s' 2>&1", bin, g_model, a1);
    assert_int_not_equal(rw_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "general.architecture"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_matches_full_forward),
        cmocka_unit_test(test_continuation_matches_stepwise),
        cmocka_unit_test(test_sampler),
        cmocka_unit_test(test_sampler_matches_full_sort),
        cmocka_unit_test(test_cli_json),
        cmocka_unit_test(test_cli_score),
        cmocka_unit_test(test_cli_score_spm_default_answers),
        cmocka_unit_test(test_cli_lora),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
