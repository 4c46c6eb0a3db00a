/* LoRA adapters: y = W x + s B (A x) against a naive computation, the alpha/r scale rule,
 * several adapters at once, merge-into-base equal to the unmerged forward, and refusal of
 * malformed or mismatched adapters with messages naming the problem. Models and adapters
 * are written by the test with the GGUF writer (tiny_model.h). */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/tape.h"
#include "infer/lora.h"
#include "infer/model.h"
#include "rw_test.h"
#include "tiny_model.h"

static char g_model[512];

static const char *tmp(const char *name, char *buf) {
    snprintf(buf, 512, "%s/%s", rw_test_tmpdir(), name);
    return buf;
}

static int setup(void **state) {
    (void)state;
    tmp("base.gguf", g_model);
    return tiny_llama_write(g_model, 7);
}

static infer_model *load(void) {
    infer_model *m = NULL;
    rw_err e;
    rw_status st = infer_model_load(g_model, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, RW_OK);
    return m;
}

static const int D = TINY_C / TINY_H;

static void test_apply_matches_naive(void **state) {
    (void)state;
    char p1[512], p2[512];
    tiny_pair pr1[] = {{"blk.0.attn_q.weight", TINY_C, TINY_H * D, 4, false},
                       {"blk.0.ffn_down.weight", TINY_FF, TINY_C, 4, false}};
    tiny_pair pr2[] = {{"blk.0.attn_q.weight", TINY_C, TINY_H * D, 2, false}};
    assert_int_equal(
        tiny_lora_write(tmp("a1.gguf", p1), "llama", "adapter", 8.0f, pr1, 2, 11, NULL), 0);
    assert_int_equal(
        tiny_lora_write(tmp("a2.gguf", p2), "llama", "adapter", 0.0f, pr2, 1, 12, NULL), 0);
    infer_model *m = load();
    infer_lora *l1 = NULL, *l2 = NULL;
    rw_err e;
    assert_int_equal(infer_lora_load(p1, m, &l1, &e), RW_OK);
    assert_int_equal(infer_lora_load(p2, m, &l2, &e), RW_OK);
    assert_int_equal(infer_lora_n_pairs(l1), 2);
    /* s = user * alpha / r when alpha != 0, else user */
    assert_true(fabsf(infer_lora_scale(l1, 0, 0.5f) - 0.5f * 8.0f / 4.0f) < 1e-7f);
    assert_true(fabsf(infer_lora_scale(l2, 0, 0.7f) - 0.7f) < 1e-7f);
    assert_int_equal(infer_model_attach_lora(m, l1, 0.5f, &e), RW_OK);
    assert_int_equal(infer_model_attach_lora(m, l2, 0.7f, &e), RW_OK);
    infer_linear *q = infer_model_linear(m, "blk.0.attn_q.weight");
    assert_int_equal(q->n_lora, 2);

    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 8u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    const int T = 3, N = TINY_H * D, K = TINY_C;
    rw_tensor *x = infer_new_2d(&ctx, K, T);
    rw_rng rng;
    rw_rng_seed(&rng, 5);
    for (int i = 0; i < K * T; i++)
        ((float *)x->data)[i] = (float)rw_rng_normal(&rng);
    rw_tensor *y = infer_linear_forward(&ctx, q, x);
    assert_non_null(y);
    const float *W = q->w->data, *X = x->data;
    for (int t = 0; t < T; t++)
        for (int n = 0; n < N; n++) {
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)W[n * K + k] * X[t * K + k];
            for (int i = 0; i < 2; i++) {
                const infer_lora_ref *lr = &q->lora[i];
                const int R = (int)lr->a->ne[1];
                const float *A = lr->a->data, *B = lr->b->data; /* A: R rows of K; B: N rows of R */
                double s = i == 0 ? 0.5 * 8.0 / 4.0 : 0.7;
                for (int rr = 0; rr < R; rr++) {
                    double ax = 0;
                    for (int k = 0; k < K; k++)
                        ax += (double)A[rr * K + k] * X[t * K + k];
                    acc += s * B[n * R + rr] * ax;
                }
            }
            assert_true(fabs(((float *)y->data)[t * N + n] - acc) < 1e-4);
        }

    /* merge: exported F32 model without adapters == unmerged forward */
    int32_t ids[5] = {3, 17, 42, 8, 63};
    rw_arena_reset(&ar);
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, 5, true);
    assert_non_null(lg);
    float *want = malloc(sizeof(float) * 5 * TINY_V);
    memcpy(want, lg->data, sizeof(float) * 5 * TINY_V);
    char mp[512];
    assert_int_equal(infer_lora_merge_export(m, tmp("merged.gguf", mp), false, &e), RW_OK);
    infer_model *mm = NULL;
    assert_int_equal(infer_model_load(mp, &mm, &e), RW_OK);
    rw_arena_reset(&ar);
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *lg2 = infer_decoder_forward(&ctx, mm, NULL, ids, 5, true);
    assert_non_null(lg2);
    rw_assert_allclose(lg2->data, want, 5 * TINY_V, 1e-4, 1e-4);
    /* and detaching restores the base model (differs from the merged one) */
    infer_model_detach_loras(m);
    rw_arena_reset(&ar);
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *lg3 = infer_decoder_forward(&ctx, m, NULL, ids, 5, true);
    double diff = 0;
    for (int i = 0; i < 5 * TINY_V; i++)
        diff = fmax(diff, fabs(((float *)lg3->data)[i] - want[i]));
    assert_true(diff > 1e-3);
    free(want);
    infer_model_destroy(mm);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    infer_lora_destroy(l1);
    infer_lora_destroy(l2);
}

static void expect_refused(infer_model *m, const char *path, const char *needle) {
    infer_lora *l = NULL;
    rw_err e;
    rw_err_clear(&e);
    rw_status st = infer_lora_load(path, m, &l, &e);
    if (st == RW_OK || !strstr(e.msg, needle))
        fprintf(stderr, "expected refusal containing '%s', got %d: %s\n", needle, (int)st, e.msg);
    assert_int_not_equal(st, RW_OK);
    assert_null(l);
    assert_non_null(strstr(e.msg, needle));
}

static void test_refusals(void **state) {
    (void)state;
    infer_model *m = load();
    char p[512];
    tiny_pair ok[] = {{"blk.0.attn_k.weight", TINY_C, TINY_HKV * D, 4, false}};
    tiny_lora_write(tmp("arch.gguf", p), "qwen3", "adapter", 8, ok, 1, 1, NULL);
    expect_refused(m, p, "general.architecture");
    tiny_lora_write(tmp("type.gguf", p), "llama", "model", 8, ok, 1, 1, NULL);
    expect_refused(m, p, "general.type");
    tiny_pair badshape[] = {{"blk.0.attn_k.weight", TINY_C + 32, TINY_HKV * D, 4, false}};
    tiny_lora_write(tmp("shape.gguf", p), "llama", "adapter", 8, badshape, 1, 1, NULL);
    expect_refused(m, p, "do not fit");
    tiny_pair badout[] = {{"blk.0.attn_k.weight", TINY_C, TINY_HKV * D + 32, 4, false}};
    tiny_lora_write(tmp("shape_out.gguf", p), "llama", "adapter", 8, badout, 1, 1, NULL);
    expect_refused(m, p, "do not fit");
    {
        /* lora_a rank 4, lora_b rank 3: the two halves disagree on r */
        infer_gguf_writer *w = NULL;
        assert_int_equal(infer_gguf_writer_create(&w, NULL), RW_OK);
        infer_gguf_writer_set_str(w, "general.architecture", "llama", NULL);
        infer_gguf_writer_set_str(w, "general.type", "adapter", NULL);
        infer_gguf_writer_set_str(w, "adapter.type", "lora", NULL);
        static float zeros[TINY_C * 4 + 4 * TINY_HKV * 64];
        int64_t na[2] = {TINY_C, 4}, nb[2] = {3, TINY_HKV * D};
        infer_gguf_writer_add_tensor(w, "blk.0.attn_k.weight.lora_a", RW_DTYPE_F32, 2, na, zeros,
                                     NULL);
        infer_gguf_writer_add_tensor(w, "blk.0.attn_k.weight.lora_b", RW_DTYPE_F32, 2, nb, zeros,
                                     NULL);
        assert_int_equal(infer_gguf_writer_write(w, tmp("rankmix.gguf", p), NULL), RW_OK);
        infer_gguf_writer_destroy(w);
        expect_refused(m, p, "do not fit");
    }
    tiny_pair half[] = {{"blk.0.attn_k.weight", TINY_C, TINY_HKV * D, 4, true}};
    tiny_lora_write(tmp("half.gguf", p), "llama", "adapter", 8, half, 1, 1, NULL);
    expect_refused(m, p, "lora_b is missing");
    tiny_lora_write(tmp("suffix.gguf", p), "llama", "adapter", 8, ok, 1, 1,
                    "blk.0.attn_k.weight.lora_c");
    expect_refused(m, p, "unexpected suffix");
    tiny_pair nobase[] = {{"blk.9.attn_k.weight", TINY_C, TINY_HKV * D, 4, false}};
    tiny_lora_write(tmp("nobase.gguf", p), "llama", "adapter", 8, nobase, 1, 1, NULL);
    expect_refused(m, p, "no such adaptable weight");
    /* rank 0 would make the scale alpha / rank divide by zero */
    tiny_pair rank0[] = {{"blk.0.attn_k.weight", TINY_C, TINY_HKV * D, 0, false}};
    tiny_lora_write(tmp("rank0.gguf", p), "llama", "adapter", 8, rank0, 1, 1, NULL);
    expect_refused(m, p, "rank is 0");
    tiny_lora_write(tmp("alphanan.gguf", p), "llama", "adapter", NAN, ok, 1, 1, NULL);
    expect_refused(m, p, "not finite");
    /* a missing file is named once, not prefixed twice */
    expect_refused(m, "/nonexistent/adapter.gguf", "cannot open");
    {
        infer_lora *l = NULL;
        rw_err e2;
        assert_int_not_equal(infer_lora_load("/nonexistent/adapter.gguf", m, &l, &e2), RW_OK);
        assert_null(strstr(e2.msg, "adapter.gguf: /nonexistent"));
    }
    /* a model file given as an adapter, and an adapter given as a model */
    expect_refused(m, g_model, "general.type");
    infer_model *mm = NULL;
    rw_err e;
    tiny_lora_write(tmp("good.gguf", p), "llama", "adapter", 8, ok, 1, 1, NULL);
    assert_int_not_equal(infer_model_load(p, &mm, &e), RW_OK);
    assert_non_null(strstr(e.msg, "adapter"));
    infer_model_destroy(m);
}

static void test_model_refusals(void **state) {
    (void)state;
    /* drop a tensor: the load names it */
    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open(g_model, &g, NULL), RW_OK);
    infer_gguf_writer *w = NULL;
    infer_gguf_writer_create(&w, NULL);
    infer_gguf_writer_copy_kv(w, g, "", NULL);
    for (uint64_t i = 0; i < infer_gguf_n_tensors(g); i++) {
        const infer_gguf_tensor_info *ti = infer_gguf_tensor_info_at(g, i);
        if (!strcmp(ti->name, "blk.0.ffn_up.weight")) continue;
        rw_tensor t;
        infer_gguf_tensor_at(g, i, &t);
        int64_t ne[2] = {t.ne[0], t.ne[1]};
        if (!strcmp(ti->name, "blk.0.attn_v.weight")) ne[1] = t.ne[1] / 2, ne[0] = t.ne[0] * 2;
        infer_gguf_writer_add_tensor(w, ti->name, t.type, ti->n_dims, ne, t.data, NULL);
    }
    char p[512];
    assert_int_equal(infer_gguf_writer_write(w, tmp("broken.gguf", p), NULL), RW_OK);
    infer_gguf_writer_destroy(w);
    infer_gguf_close(g);
    infer_model *m = NULL;
    rw_err e;
    assert_int_not_equal(infer_model_load(p, &m, &e), RW_OK);
    assert_non_null(strstr(e.msg, "blk.0.attn_v.weight"));
    assert_non_null(strstr(e.msg, "shape"));
}

/* Training LoRA is the same forward with A/B flagged as parameters: the tape must hold the
 * LoRA matmuls and every op downstream of them, and nothing upstream of the first adapter. */
static void test_tape_through_model(void **state) {
    (void)state;
    char p1[512];
    tiny_pair pr[] = {{"blk.0.attn_v.weight", TINY_C, TINY_HKV * D, 4, false},
                      {"blk.0.ffn_up.weight", TINY_C, TINY_FF, 4, false}};
    assert_int_equal(tiny_lora_write(tmp("t.gguf", p1), "llama", "adapter", 4.0f, pr, 2, 3, NULL),
                     0);
    infer_model *m = load();
    infer_lora *l = NULL;
    assert_int_equal(infer_lora_load(p1, m, &l, NULL), RW_OK);
    assert_int_equal(infer_model_attach_lora(m, l, 1.0f, NULL), RW_OK);
    infer_linear *v = infer_model_linear(m, "blk.0.attn_v.weight");
    infer_linear *up = infer_model_linear(m, "blk.0.ffn_up.weight");
    rw_tensor *params[4] = {v->lora[0].a, v->lora[0].b, up->lora[0].a, up->lora[0].b};
    for (int i = 0; i < 4; i++)
        params[i]->flags |= RW_TENSOR_PARAM;
    rw_arena ar;
    rw_tape tape;
    rw_tape_init(&tape);
    assert_int_equal(rw_arena_init(&ar, 16u << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, &tape);
    int32_t ids[6] = {5, 6, 7, 8, 9, 10}, tg[6] = {6, 7, 8, 9, 10, -1};
    rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, 6, true);
    rw_tensor *loss = infer_op_cross_entropy(&ctx, lg, tg);
    assert_non_null(loss);
    assert_true(loss->flags & RW_TENSOR_NEEDS_GRAD);
    /* the first record is the LoRA A matmul of attn_v: embedding and the first rmsnorm are
     * frozen-only and must not be recorded */
    assert_true(tape.n > 10);
    assert_int_equal(tape.recs[0].op, RW_OP_MATMUL);
    assert_ptr_equal(tape.recs[0].src[0], v->lora[0].a);
    int param_matmuls = 0;
    for (size_t i = 0; i < tape.n; i++) {
        const rw_tape_rec *r = &tape.recs[i];
        assert_true(r->dst->flags & RW_TENSOR_NEEDS_GRAD);
        bool any = false;
        for (int k = 0; k < RW_TAPE_MAX_SRC; k++) {
            const rw_tensor *src = r->src[k];
            if (!src || !rw_tensor_needs_grad(src)) continue;
            any = true;
            if (src->flags & RW_TENSOR_PARAM) {
                param_matmuls += r->op == RW_OP_MATMUL;
                continue;
            }
            bool produced = false; /* a grad-carrying input is the output of an earlier record */
            for (size_t j = 0; j < i && !produced; j++)
                produced = tape.recs[j].dst == src;
            assert_true(produced);
        }
        assert_true(any);
    }
    assert_int_equal(param_matmuls, 4);
    assert_int_equal(tape.recs[tape.n - 1].op, RW_OP_CROSS_ENTROPY);
    /* the loss equals the cross-entropy of the same logits without a tape */
    rw_tape_clear(&tape);
    rw_arena_reset(&ar);
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    rw_tensor *lg2 = infer_decoder_forward(&ctx, m, NULL, ids, 6, true);
    double want = 0;
    for (int t = 0; t < 5; t++) {
        const float *z = (const float *)lg2->data + t * TINY_V;
        double mx = -1e30, zz = 0;
        for (int j = 0; j < TINY_V; j++)
            mx = fmax(mx, z[j]);
        for (int j = 0; j < TINY_V; j++)
            zz += exp(z[j] - mx);
        want += mx + log(zz) - z[tg[t]];
    }
    assert_true(fabs(((float *)loss->data)[0] - want / 5) < 1e-4);
    rw_tape_deinit(&tape);
    rw_arena_deinit(&ar);
    infer_model_destroy(m);
    infer_lora_destroy(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apply_matches_naive),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_model_refusals),
        cmocka_unit_test(test_tape_through_model),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
