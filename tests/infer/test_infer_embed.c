/* Sentence embeddings: a packed batch equals one-at-a-time encoding, pooling overrides
 * equal the pooled rows computed here from the token states, decoder embeddings (last/mean
 * after the output norm) match a naive pooling, cosine against a double loop, and rag-embed
 * end to end (text -> tokenizer -> vectors) against refs/peer numpy_f64 (1e-5). */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "infer/embed.h"
#include "infer/model.h"
#include "rw_test.h"
#include "tiny_model.h"

static void test_decoder_embedding(void **state) {
    (void)state;
    char p[512];
    snprintf(p, sizeof(p), "%s/emb.gguf", rw_test_tmpdir());
    assert_int_equal(tiny_llama_write(p, 3), 0);
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(p, &m, NULL), RW_OK);
    int32_t ids[7] = {1, 4, 9, 16, 25, 36, 49};
    int32_t lens[2] = {3, 4};
    /* naive: hidden states per sequence, rms-normed, pooled, normalised */
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 8u << 20, NULL), RW_OK);
    for (int pool = 1; pool <= 3; pool += 2) {
        infer_embed_cfg cfg;
        infer_embed_cfg_default(&cfg);
        cfg.pooling = pool;
        cfg.n_threads = 1;
        infer_embedder *e = NULL;
        assert_int_equal(infer_embedder_create(m, &cfg, &e, NULL), RW_OK);
        float out[2 * TINY_C];
        assert_int_equal(infer_embed_ids(e, ids, lens, 2, out, NULL), RW_OK);
        int off = 0;
        for (int b = 0; b < 2; b++) {
            rw_arena_reset(&ar);
            infer_ctx ctx;
            infer_ctx_init(&ctx, &ar, NULL, NULL);
            rw_tensor *h = infer_decoder_hidden(&ctx, m, NULL, ids + off, lens[b]);
            h = infer_op_rmsnorm(&ctx, h, m->out_norm, m->hp.norm_eps);
            assert_non_null(h);
            double v[TINY_C] = {0}, nn = 0;
            for (int c = 0; c < TINY_C; c++) {
                if (pool == 1) {
                    for (int t = 0; t < lens[b]; t++)
                        v[c] += ((float *)h->data)[t * TINY_C + c];
                    v[c] /= lens[b];
                } else {
                    v[c] = ((float *)h->data)[(lens[b] - 1) * TINY_C + c];
                }
                nn += v[c] * v[c];
            }
            for (int c = 0; c < TINY_C; c++)
                assert_true(fabs(out[b * TINY_C + c] - v[c] / sqrt(nn)) < 1e-5);
            off += lens[b];
        }
        infer_embedder_destroy(e);
    }
    float a[3] = {1, 2, 3}, b[3] = {-2, 0.5f, 4};
    assert_true(fabs(infer_cosine(a, b, 3) - (-2 + 1 + 12) / (sqrt(14.0) * sqrt(20.25))) < 1e-9);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
}

static void test_bert_batch_and_pooling(void **state) {
    (void)state;
    char mp[1024];
    if (!rw_test_shared_path("refs/models/bert-tiny-q4_k_m.gguf", mp, sizeof(mp))) skip();
    infer_model *m = NULL;
    assert_int_equal(infer_model_load(mp, &m, NULL), RW_OK);
    assert_int_equal(m->hp.pooling, INFER_POOL_MEAN);
    int32_t ids[12] = {101, 2023, 2003, 1037, 3231, 102, 101, 7592, 2088, 102, 101, 102};
    int32_t lens[3] = {6, 4, 2};
    const int64_t C = m->hp.n_embd;
    float *batch = malloc(sizeof(float) * 3 * (size_t)C), *one = malloc(sizeof(float) * (size_t)C);
    for (int pool = 1; pool <= 3; pool++) {
        infer_embed_cfg cfg;
        infer_embed_cfg_default(&cfg);
        cfg.pooling = pool;
        cfg.n_threads = 2;
        /* the fast path picks 8-bit activations or dequantize+sgemm by batch rows, so only
         * the f32 path is batch-invariant */
        cfg.f32_activations = true;
        infer_embedder *e = NULL;
        assert_int_equal(infer_embedder_create(m, &cfg, &e, NULL), RW_OK);
        assert_int_equal(infer_embed_ids(e, ids, lens, 3, batch, NULL), RW_OK);
        int off = 0;
        for (int b = 0; b < 3; b++) {
            assert_int_equal(infer_embed_ids(e, ids + off, lens + b, 1, one, NULL), RW_OK);
            rw_assert_allclose(batch + b * C, one, (size_t)C, 1e-6, 1e-5);
            off += lens[b];
        }
        infer_embedder_destroy(e);
    }
    /* cls / last pooling = the first / last token state of the sequence */
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 32u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *h = infer_encoder_hidden(&ctx, m, ids, lens, 1);
    rw_tensor *cls = infer_encoder_embed(&ctx, m, ids, lens, 1, INFER_POOL_CLS, false);
    rw_tensor *last = infer_encoder_embed(&ctx, m, ids, lens, 1, INFER_POOL_LAST, false);
    assert_non_null(last);
    rw_assert_allclose(cls->data, h->data, (size_t)C, 0, 0);
    rw_assert_allclose(last->data, (float *)h->data + 5 * C, (size_t)C, 0, 0);
    /* bad input: an out-of-vocabulary id and an empty sequence are errors */
    int32_t bad[2] = {101, 1 << 30};
    int32_t l2 = 2;
    rw_arena_reset(&ar);
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    assert_null(infer_encoder_embed(&ctx, m, bad, &l2, 1, -1, true));
    assert_int_equal(ctx.status, RW_E_RANGE);
    rw_arena_deinit(&ar);
    free(batch);
    free(one);
    infer_model_destroy(m);
}

static void test_cli(void **state) {
    (void)state;
    char mp[1024], jp[1024], bin[1024], cmd[4096], in[1024];
    if (!rw_test_shared_path("refs/models/bert-tiny-f16emb.gguf", mp, sizeof(mp)) ||
        !rw_test_shared_path("refs/peer/bert-tiny-f16emb.json", jp, sizeof(jp)))
        skip();
    json_t *ref = json_load_file(jp, 0, NULL);
    json_t *embs = json_object_get(ref, "embeddings");
    snprintf(in, sizeof(in), "%s/sent.txt", rw_test_tmpdir());
    FILE *f = fopen(in, "w");
    for (size_t i = 0; i < json_array_size(embs); i++)
        fprintf(f, "%s\n", json_string_value(json_object_get(json_array_get(embs, i), "text")));
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s '%s' --json --batch 2 --threads 2 < '%s'",
             rw_test_bin("rag-embed", bin, sizeof(bin)), mp, in);
    char *out = NULL;
    assert_int_equal(rw_test_run(cmd, &out), 0);
    char *line = out;
    double worst = 0;
    for (size_t i = 0; i < json_array_size(embs); i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        *nl = 0;
        json_t *o = json_loads(line, 0, NULL);
        assert_non_null(o);
        assert_int_equal(json_integer_value(json_object_get(o, "index")), (json_int_t)i);
        json_t *v = json_object_get(o, "embedding");
        json_t *r = json_object_get(json_object_get(json_array_get(embs, i), "numpy_f64"),
                                    "embedding_l2_normalized");
        assert_int_equal(json_array_size(v), json_array_size(r));
        for (size_t c = 0; c < json_array_size(v); c++)
            worst = fmax(worst, fabs(json_number_value(json_array_get(v, c)) -
                                     json_number_value(json_array_get(r, c))));
        json_decref(o);
        line = nl + 1;
    }
    printf("[rag-embed] bert-tiny-f16emb text->embedding max err vs numpy_f64 %.3g\n", worst);
    assert_true(worst < 1e-5);
    free(out);
    json_decref(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decoder_embedding),
        cmocka_unit_test(test_bert_batch_and_pooling),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
