/* bench-score: time of the scoring and sampling paths of infer/generate.h on one model.
 *
 *   bench-score MODEL.gguf [--threads N] [--prompt N] [--cont N] [--reps N]
 *
 * Prints, best and median over reps: infer_continuation_logprob of a random prompt of
 * --prompt tokens followed by --cont tokens (ms per call), and infer_sample with top-k off
 * (temp 0.8, top-p 0.9 / min-p 0.05 / neither) over the model's logits after the prompt
 * and over the same logits x 40 (microseconds per draw). Used for the before/after figures in
 * docs/inference.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/timer.h"
#include "infer/generate.h"
#include "infer/model.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench-score MODEL.gguf [--threads N] [--prompt N] [--cont N] "
                        "[--reps N]\n");
        return 2;
    }
    int threads = 0, n_prompt = 200, n_cont = 100, reps = 5;
    for (int i = 2; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--threads"))
            threads = v;
        else if (!strcmp(argv[i], "--prompt"))
            n_prompt = v;
        else if (!strcmp(argv[i], "--cont"))
            n_cont = v;
        else if (!strcmp(argv[i], "--reps"))
            reps = v;
    }
    if (n_prompt < 1 || n_cont < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "bench-score: bad sizes\n");
        return 2;
    }
    rw_err err;
    infer_model *m = NULL;
    if (infer_model_load(argv[1], &m, &err) != RW_OK) {
        fprintf(stderr, "bench-score: %s\n", err.msg);
        return 1;
    }
    infer_session_cfg cfg;
    infer_session_cfg_default(&cfg);
    cfg.n_threads = threads;
    cfg.n_ctx = n_prompt + n_cont;
    infer_session *s = NULL;
    if (infer_session_create(m, &cfg, &s, &err) != RW_OK) {
        fprintf(stderr, "bench-score: %s\n", err.msg);
        infer_model_destroy(m);
        return 1;
    }
    rw_rng r;
    rw_rng_seed(&r, 3);
    const int n = n_prompt + n_cont;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    double *t = malloc(sizeof(double) * (size_t)reps);
    for (int i = 0; i < n; i++)
        ids[i] = (int32_t)rw_rng_below(&r, (uint64_t)m->hp.n_vocab);
    double lp = 0;
    int rc = 0;
    for (int k = 0; k < reps; k++) {
        double t0 = rw_now_s();
        if (infer_continuation_logprob(s, ids, n_prompt, ids + n_prompt, n_cont, &lp, &err)) {
            fprintf(stderr, "bench-score: %s\n", err.msg);
            rc = 1;
            break;
        }
        t[k] = rw_now_s() - t0;
    }
    if (!rc) {
        qsort(t, (size_t)reps, sizeof(double), cmp_d);
        printf("continuation_logprob prompt %d cont %d threads %d: best %.1f ms median %.1f ms "
               "(sum %.4f)\n",
               n_prompt, n_cont, rw_pool_threads(s->pool), t[0] * 1e3, t[reps / 2] * 1e3, lp);
        /* sampling over the model's logits after the prompt (random weights: nearly flat,
         * the worst case for the lazy candidate order), then over the same logits x 40 (a
         * peaked distribution, like a trained model's) */
        infer_session_reset(s);
        infer_session_prefill(s, ids, n_prompt, NULL);
        float *peaked = malloc(sizeof(float) * (size_t)m->hp.n_vocab);
        for (int64_t j = 0; j < m->hp.n_vocab; j++)
            peaked[j] = 40.0f * s->logits[j];
        for (int pk = 0; pk < 2; pk++) {
            const float *lg = pk ? peaked : s->logits;
            const struct {
                const char *name;
                float top_p, min_p;
            } cs[] = {
                {"top-p 0.9", 0.9f, 0.0f}, {"min-p 0.05", 1.0f, 0.05f}, {"temp only", 1.0f, 0.0f}};
            for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
                infer_sampler_cfg sc;
                infer_sampler_cfg_default(&sc);
                sc.temp = 0.8f;
                sc.top_p = cs[c].top_p;
                sc.min_p = cs[c].min_p;
                infer_sampler smp;
                if (infer_sampler_init(&smp, &sc, m->hp.n_vocab, &err)) break;
                const int draws = 200;
                int64_t acc = 0;
                double t0 = rw_now_s();
                for (int d = 0; d < draws; d++)
                    acc += infer_sample(&smp, lg);
                double us = (rw_now_s() - t0) * 1e6 / draws;
                printf("sample %-6s %-10s vocab %lld: %.1f us/draw (id sum %lld)\n",
                       pk ? "peaked" : "flat", cs[c].name, (long long)m->hp.n_vocab, us,
                       (long long)acc);
                infer_sampler_deinit(&smp);
            }
        }
        free(peaked);
    }
    free(ids);
    free(t);
    infer_session_destroy(s);
    infer_model_destroy(m);
    return rc;
}
