/* Conformance of the decoder and encoder forward passes against the references in
 * /work/shared/refs/peer (README.md there): an independent float64 numpy forward
 * (`numpy_f64`) and llama.cpp's outputs, on the tiny random-weight models of refs/models.
 *
 * Checked per file (tolerances from that README):
 *   decoders, f32 activations: logits_first64 and top10 logits within 1e-4 of numpy_f64,
 *     greedy_next5 (KV-cache decode) equal to numpy_f64's;
 *   decoders, 8-bit activations (quantized files, the fast path): within 0.15 of llama.cpp
 *     and numpy_f64, greedy equal up to the first step whose margin is below 0.3;
 *   f16emb decoders: within 3e-3 of llama.cpp;
 *   bert, f32 activations: normalized embedding within 1e-5 of numpy_f64, raw norm 1e-5 rel;
 *   bert quantized, 8-bit activations: 3e-3 per value, cosine >= 0.9999, norm 1e-3 rel.
 * Skips (77) without /work/shared. Prints the max errors for the report. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/pool.h"
#include "infer/model.h"
#include "kernels/ops.h"
#include "rw_test.h"

static json_t *load_json(const char *name) {
    char rel[256], buf[1024];
    snprintf(rel, sizeof(rel), "refs/peer/%s", name);
    if (!rw_test_shared_path(rel, buf, sizeof(buf))) return NULL;
    json_error_t e;
    json_t *j = json_load_file(buf, 0, &e);
    if (!j) fprintf(stderr, "%s: %s\n", buf, e.text);
    return j;
}

static infer_model *load_model(const char *name) {
    char rel[256], buf[1024];
    snprintf(rel, sizeof(rel), "refs/models/%s", name);
    if (!rw_test_shared_path(rel, buf, sizeof(buf))) return NULL;
    infer_model *m = NULL;
    rw_err err;
    rw_status st = infer_model_load(buf, &m, &err);
    if (st != RW_OK) fprintf(stderr, "load: %s\n", err.msg);
    assert_int_equal(st, RW_OK);
    return m;
}

static int32_t *json_ids(json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    int32_t *ids = malloc((*n + 16) * sizeof(int32_t));
    for (size_t i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

typedef struct dec_result {
    double max_err_first64, max_err_top10;
} dec_result;

/* Logits of the prompt's final position: compares first64 and top10 of `ref` (an object with
 * logits_first64 and top10). Returns the max abs errors. */
static void cmp_logits(const float *lg, json_t *ref, dec_result *r) {
    json_t *f64 = json_object_get(ref, "logits_first64");
    r->max_err_first64 = 0;
    for (size_t i = 0; i < json_array_size(f64); i++) {
        double e = fabs((double)lg[i] - json_number_value(json_array_get(f64, i)));
        if (e > r->max_err_first64) r->max_err_first64 = e;
    }
    json_t *top = json_object_get(ref, "top10");
    r->max_err_top10 = 0;
    for (size_t i = 0; i < json_array_size(top); i++) {
        json_t *o = json_array_get(top, i);
        int id = (int)json_integer_value(json_object_get(o, "id"));
        double e = fabs((double)lg[id] - json_number_value(json_object_get(o, "logit")));
        if (e > r->max_err_top10) r->max_err_top10 = e;
    }
}

/* Runs one decoder JSON. f32_act selects the exact path. tol_np / tol_cpp: logit tolerances
 * against numpy_f64 and llama.cpp; greedy_exact: compare all 5 greedy tokens with numpy. */
static void run_decoder(const char *model_file, const char *json_file, bool f32_act, int nth,
                        double tol_np, double tol_cpp) {
    json_t *j = load_json(json_file);
    infer_model *m = j ? load_model(model_file) : NULL;
    if (!j || !m) {
        if (j) json_decref(j);
        skip();
    }
    rw_pool *pool = NULL;
    if (nth > 1) assert_int_equal(rw_pool_create(nth, &pool, NULL), RW_OK);
    rw_arena arena;
    assert_int_equal(rw_arena_init(&arena, 256u << 20, NULL), RW_OK);
    infer_kv_cache kv;
    assert_int_equal(infer_kv_init(&kv, m, 64, NULL), RW_OK);
    json_t *prompts = json_object_get(j, "prompts");
    double worst_np = 0, worst_cpp = 0;
    const int64_t V = m->hp.n_vocab;
    float *lg = malloc((size_t)V * sizeof(float));
    for (size_t p = 0; p < json_array_size(prompts); p++) {
        json_t *pr = json_array_get(prompts, p);
        size_t n;
        int32_t *ids = json_ids(json_object_get(pr, "ids"), &n);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &arena, pool, NULL);
        ctx.f32_activations = f32_act;
        rw_arena_reset(&arena);
        infer_kv_clear(&kv);
        rw_tensor *out = infer_decoder_forward(&ctx, m, &kv, ids, (int64_t)n, false);
        if (!out) fprintf(stderr, "forward: %s\n", ctx.err.msg);
        assert_non_null(out);
        assert_int_equal(out->ne[0], V);
        memcpy(lg, out->data, (size_t)V * sizeof(float));
        dec_result rn, rc;
        json_t *np = json_object_get(pr, "numpy_f64");
        cmp_logits(lg, np, &rn);
        cmp_logits(lg, pr, &rc);
        double en = fmax(rn.max_err_first64, rn.max_err_top10);
        double ec = fmax(rc.max_err_first64, rc.max_err_top10);
        worst_np = fmax(worst_np, en);
        worst_cpp = fmax(worst_cpp, ec);
        if (en > tol_np || ec > tol_cpp)
            fprintf(stderr,
                    "%s prompt %zu: max err vs numpy %.3g (tol %.3g), vs llama.cpp %.3g "
                    "(tol %.3g)\n",
                    json_file, p, en, tol_np, ec, tol_cpp);
        assert_true(en <= tol_np);
        assert_true(ec <= tol_cpp);
        /* greedy through the KV cache, one token per step */
        json_t *g_np = json_object_get(np, "greedy_next5");
        json_t *margins = json_object_get(np, "greedy_margins");
        bool exact = true;
        for (size_t s = 0; s < json_array_size(g_np); s++) {
            int32_t next = (int32_t)kern_argmax_f32(lg, (size_t)V);
            int32_t want = (int32_t)json_integer_value(json_array_get(g_np, s));
            /* with 8-bit activations, compare only until a margin below twice the tolerance */
            double margin = json_number_value(json_array_get(margins, s));
            if (!f32_act && margin < 2 * tol_np) exact = false;
            if (exact && next != want)
                fprintf(stderr, "%s prompt %zu greedy step %zu: got %d want %d\n", json_file, p, s,
                        (int)next, (int)want);
            if (exact) assert_int_equal(next, want);
            if (!exact) break;
            rw_arena_reset(&arena);
            infer_ctx_init(&ctx, &arena, pool, NULL);
            ctx.f32_activations = f32_act;
            out = infer_decoder_forward(&ctx, m, &kv, &want, 1, false);
            assert_non_null(out);
            memcpy(lg, out->data, (size_t)V * sizeof(float));
        }
        free(ids);
    }
    printf("[conformance] %s f32_act=%d threads=%d: max |logit err| vs numpy_f64 %.3g, vs "
           "llama.cpp %.3g\n",
           model_file, (int)f32_act, nth, worst_np, worst_cpp);
    free(lg);
    infer_kv_deinit(&kv);
    rw_arena_deinit(&arena);
    rw_pool_destroy(pool);
    infer_model_destroy(m);
    json_decref(j);
}

static void test_llama_f16emb_f32(void **s) {
    (void)s;
    run_decoder("llama-tiny-f16emb.gguf", "llama-tiny-f16emb.json", true, 1, 1e-4, 3e-3);
}
static void test_llama_f16emb_threads(void **s) {
    (void)s;
    run_decoder("llama-tiny-f16emb.gguf", "llama-tiny-f16emb.json", false, 2, 1e-4, 3e-3);
}
static void test_qwen3_q8_0_f32(void **s) {
    (void)s;
    run_decoder("qwen3-tiny-q8_0.gguf", "qwen3-tiny-q8_0.json", true, 1, 1e-4, 0.15);
}
static void test_qwen3_q8_0_q8act(void **s) {
    (void)s;
    run_decoder("qwen3-tiny-q8_0.gguf", "qwen3-tiny-q8_0.json", false, 2, 0.15, 0.15);
}

/* ---- bert ---- */

static void run_bert(const char *model_file, const char *json_file, bool f32_act, double tol,
                     double norm_rtol, double min_cos) {
    json_t *j = load_json(json_file);
    infer_model *m = j ? load_model(model_file) : NULL;
    if (!j || !m) {
        if (j) json_decref(j);
        skip();
    }
    rw_arena arena;
    assert_int_equal(rw_arena_init(&arena, 128u << 20, NULL), RW_OK);
    json_t *emb = json_object_get(j, "embeddings");
    const size_t nb = json_array_size(emb);
    /* all sentences in one packed batch (also checks that sequences do not see each other) */
    int32_t *ids = malloc(4096 * sizeof(int32_t));
    int32_t *lens = malloc(nb * sizeof(int32_t));
    size_t tot = 0;
    for (size_t b = 0; b < nb; b++) {
        size_t n;
        int32_t *x = json_ids(json_object_get(json_array_get(emb, b), "ids"), &n);
        memcpy(ids + tot, x, n * sizeof(int32_t));
        lens[b] = (int32_t)n;
        tot += n;
        free(x);
    }
    infer_ctx ctx;
    infer_ctx_init(&ctx, &arena, NULL, NULL);
    ctx.f32_activations = f32_act;
    rw_tensor *raw = infer_encoder_embed(&ctx, m, ids, lens, (int64_t)nb, -1, false);
    rw_tensor *nrm = infer_op_l2_normalize(&ctx, raw);
    if (!nrm) fprintf(stderr, "encode: %s\n", ctx.err.msg);
    assert_non_null(nrm);
    const int64_t C = m->hp.n_embd;
    double worst = 0, worst_norm = 0, worst_cos = 1, worst_cpp = 0;
    for (size_t b = 0; b < nb; b++) {
        json_t *e = json_array_get(emb, b);
        json_t *np = json_object_get(e, "numpy_f64");
        json_t *ref = json_object_get(np, "embedding_l2_normalized");
        json_t *cpp = json_object_get(e, "embedding_l2_normalized");
        const float *y = (const float *)nrm->data + (int64_t)b * C;
        double dot = 0, na = 0, nr = 0;
        for (int64_t c = 0; c < C; c++) {
            double r = json_number_value(json_array_get(ref, (size_t)c));
            worst = fmax(worst, fabs((double)y[c] - r));
            worst_cpp = fmax(
                worst_cpp, fabs((double)y[c] - json_number_value(json_array_get(cpp, (size_t)c))));
            dot += (double)y[c] * r;
            na += (double)y[c] * (double)y[c];
            nr += r * r;
        }
        worst_cos = fmin(worst_cos, dot / sqrt(na * nr));
        double rn = 0;
        const float *r0 = (const float *)raw->data + (int64_t)b * C;
        for (int64_t c = 0; c < C; c++)
            rn += (double)r0[c] * (double)r0[c];
        double want = json_number_value(json_object_get(np, "raw_l2_norm"));
        worst_norm = fmax(worst_norm, fabs(sqrt(rn) - want) / want);
    }
    printf("[conformance] %s f32_act=%d: max |emb err| vs numpy_f64 %.3g, vs llama.cpp %.3g, min "
           "cosine %.7f, raw norm rel err %.3g\n",
           model_file, (int)f32_act, worst, worst_cpp, worst_cos, worst_norm);
    assert_true(worst <= tol);
    assert_true(worst_norm <= norm_rtol + 1e-6); /* refs print 7 significant digits */
    assert_true(worst_cos >= min_cos);
    free(ids);
    free(lens);
    rw_arena_deinit(&arena);
    infer_model_destroy(m);
    json_decref(j);
}

static void test_bert_f16emb(void **s) {
    (void)s;
    run_bert("bert-tiny-f16emb.gguf", "bert-tiny-f16emb.json", false, 1e-5, 1e-5, 0.99999);
}
static void test_bert_q4_k_m_f32(void **s) {
    (void)s;
    run_bert("bert-tiny-q4_k_m.gguf", "bert-tiny-q4_k_m.json", true, 1e-5, 1e-5, 0.99999);
}
static void test_bert_q4_k_m_q8act(void **s) {
    (void)s;
    run_bert("bert-tiny-q4_k_m.gguf", "bert-tiny-q4_k_m.json", false, 3e-3, 1e-3, 0.9999);
}

int main(void) {
    if (!rw_test_shared_dir()) {
        fprintf(stderr, "skipping: /work/shared (RW_SHARED_DIR) is not available\n");
        return RW_TEST_SKIP;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_f16emb_f32),  cmocka_unit_test(test_llama_f16emb_threads),
        cmocka_unit_test(test_qwen3_q8_0_f32),    cmocka_unit_test(test_qwen3_q8_0_q8act),
        cmocka_unit_test(test_bert_f16emb),       cmocka_unit_test(test_bert_q4_k_m_f32),
        cmocka_unit_test(test_bert_q4_k_m_q8act),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
