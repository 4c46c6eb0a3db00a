/* Packed decoder batches (train/packed.h) against separate per-sequence forwards.
 *
 * Reference: each sequence through infer_decoder_forward on its own (its own positions from
 * 0, causal attention over itself only): an independent code path for the two things
 * packing must get right, the attention confinement and the per-sequence RoPE positions.
 * Checked on a 2-layer llama with LoRA on all 7 targets (random A and B so every gradient is
 * non-zero), three sequences of different lengths:
 *   - logits of every packed row equal the separate forward's (relative 1e-5);
 *   - the packed mean cross-entropy equals the token-weighted mean of the separate losses;
 *   - the LoRA gradients of one packed backward equal the sum of the separate backwards
 *     seeded with n_target_b / n_target (relative 1e-5 in norm and per element vs the max);
 *   - the checkpointed packed forward (per-layer recompute) gives the same gradients;
 *   - control: leaking attention across sequences or continuing positions changes the
 *     logits by far more than the tolerance (a plain causal forward over the concatenation
 *     is asserted to be far from the reference), so the checks above can fail. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tape.h"
#include "infer/model.h"
#include "infer/ops.h"
#include "rw_test.h"
#include "train/autograd.h"
#include "train/lora.h"
#include "train/packed.h"
#include "train_fixture.h"

enum { NSEQ = 3 };
static const int32_t k_lens[NSEQ] = {11, 23, 6};

static double rel_err(const float *a, const float *b, size_t n, double *max_abs_rel) {
    double d = 0, nb = 0, mb = 0, md = 0;
    for (size_t i = 0; i < n; i++) {
        double e = (double)a[i] - (double)b[i];
        d += e * e;
        nb += (double)b[i] * (double)b[i];
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
        if (fabs(e) > md) md = fabs(e);
    }
    *max_abs_rel = mb > 0 ? md / mb : md;
    return nb > 0 ? sqrt(d / nb) : sqrt(d);
}

static void test_packed_equals_separate(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/tiny.gguf", rw_test_tmpdir());
    assert_int_equal(fixture_tiny_llama(path, 2, 64, 3), 0);
    infer_model *m = NULL;
    rw_err err;
    if (infer_model_load(path, &m, &err)) fail_msg("%s", err.msg);
    assert_true(train_packed_supported(m));
    train_lora_cfg lc;
    train_lora_cfg_default(&lc);
    lc.targets = TRAIN_LORA_DEFAULT_TARGETS;
    lc.rank = 4;
    train_lora *l = NULL;
    if (train_lora_create(m, &lc, &l, &err)) fail_msg("%s", err.msg);
    size_t np = train_lora_n_params(l);
    float *p = train_lora_params(l), *g = train_lora_grads(l);
    rw_rng r;
    rw_rng_seed(&r, 11);
    for (size_t i = 0; i < np; i++)
        p[i] = (float)rw_rng_normal(&r) * 0.05f;

    int32_t T = 0;
    for (int b = 0; b < NSEQ; b++)
        T += k_lens[b];
    int32_t *ids = malloc((size_t)T * sizeof(int32_t)), *tg = malloc((size_t)T * sizeof(int32_t));
    int32_t n_tgt = 0;
    for (int32_t i = 0; i < T; i++)
        ids[i] = (int32_t)rw_rng_below(&r, (uint64_t)m->hp.n_vocab);
    for (int b = 0, o = 0; b < NSEQ; o += k_lens[b], b++) {
        for (int i = 0; i < k_lens[b]; i++)
            tg[o + i] = i + 1 < k_lens[b] ? ids[o + i + 1] : -1;
        n_tgt += k_lens[b] - 1;
    }
    rw_arena arena;
    assert_int_equal(rw_arena_init(&arena, (size_t)64 << 20, &err), RW_OK);
    rw_tape tape;
    rw_tape_init(&tape);
    const int64_t V = m->hp.n_vocab;

    /* separate forwards: logits, losses, gradients */
    float *ref_logits = malloc((size_t)(V * T) * sizeof(float));
    float *ref_g = calloc(np, sizeof(float));
    double ref_loss = 0;
    for (int b = 0, o = 0; b < NSEQ; o += k_lens[b], b++) {
        rw_arena_reset(&arena);
        rw_tape_clear(&tape);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &arena, NULL, &tape);
        ctx.f32_activations = true;
        rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids + o, k_lens[b], true);
        rw_tensor *ce = infer_op_cross_entropy(&ctx, lg, tg + o);
        assert_non_null(ce);
        memcpy(ref_logits + (size_t)o * (size_t)V, lg->data,
               (size_t)(V * k_lens[b]) * sizeof(float));
        float w = (float)(k_lens[b] - 1) / (float)n_tgt;
        ref_loss += (double)w * (double)((float *)ce->data)[0];
        train_lora_zero_grad(l);
        if (train_backward(&ctx, ce, NULL, w, &err)) fail_msg("%s", err.msg);
        for (size_t i = 0; i < np; i++)
            ref_g[i] += g[i];
    }

    for (int ck = 0; ck < 2; ck++) {
        rw_arena_reset(&arena);
        rw_tape_clear(&tape);
        train_lora_zero_grad(l);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &arena, NULL, &tape);
        ctx.f32_activations = true;
        rw_tensor *lg = train_decoder_forward_packed(&ctx, m, ids, k_lens, NSEQ, ck != 0);
        assert_non_null(lg);
        assert_int_equal(lg->ne[1], T);
        double mr;
        double e = rel_err(lg->data, ref_logits, (size_t)(V * T), &mr);
        fprintf(stderr, "packed%s: logits rel err %.3g (max %.3g)\n", ck ? " ckpt" : "", e, mr);
        assert_true(e < 1e-5 && mr < 1e-5);
        rw_tensor *ce = infer_op_cross_entropy(&ctx, lg, tg);
        assert_non_null(ce);
        double loss = (double)((float *)ce->data)[0];
        assert_true(fabs(loss - ref_loss) <= 1e-5 * fabs(ref_loss));
        if (train_backward(&ctx, ce, NULL, 1.0f, &err)) fail_msg("%s", err.msg);
        e = rel_err(g, ref_g, np, &mr);
        fprintf(stderr, "packed%s: loss %.9g vs %.9g, grad rel err %.3g (max %.3g)\n",
                ck ? " ckpt" : "", loss, ref_loss, e, mr);
        assert_true(e < 1e-5 && mr < 1e-5);
    }

    /* control: one causal forward over the concatenation (attention crossing sequences,
     * positions continuing) is far from the reference, so the checks above can fail */
    {
        rw_arena_reset(&arena);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &arena, NULL, NULL);
        ctx.f32_activations = true;
        rw_tensor *lg = infer_decoder_forward(&ctx, m, NULL, ids, T, true);
        assert_non_null(lg);
        double mr, e = rel_err(lg->data, ref_logits, (size_t)(V * T), &mr);
        fprintf(stderr, "control (unpacked concatenation): logits rel err %.3g\n", e);
        assert_true(e > 1e-3);
    }
    free(ids);
    free(tg);
    free(ref_logits);
    free(ref_g);
    rw_tape_deinit(&tape);
    rw_arena_deinit(&arena);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

/* The packed block before it moved to infer (train/packed.c mirrored infer_decoder_layer
 * with the packed attention config), kept here as the reference: the packed entry point
 * infer_decoder_layer_packed must give bit-identical logits and LoRA gradients. */
static rw_tensor *old_packed_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                                   const int32_t *pos, const int32_t *lens, int64_t n_seq) {
    const infer_hparams *hp = &m->hp;
    const infer_layer *L = &m->layers[il];
    const int64_t T = rw_tensor_nrows(x), H = hp->n_head, Hkv = hp->n_head_kv, D = hp->head_dim;
    rw_tensor *n = infer_op_rmsnorm(ctx, x, L->attn_norm, hp->norm_eps);
    rw_tensor *q = infer_linear_forward(ctx, &L->q, n);
    rw_tensor *k = infer_linear_forward(ctx, &L->k, n);
    rw_tensor *v = infer_linear_forward(ctx, &L->v, n);
    if (L->q_norm) {
        q = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, q, D, H * T), L->q_norm, hp->norm_eps),
            H * D, T);
        k = infer_op_reshape_2d(
            ctx,
            infer_op_rmsnorm(ctx, infer_op_reshape_2d(ctx, k, D, Hkv * T), L->k_norm, hp->norm_eps),
            Hkv * D, T);
    }
    q = infer_op_rope(ctx, q, H, D, pos, &hp->rope, m->rope_freqs);
    k = infer_op_rope(ctx, k, Hkv, D, pos, &hp->rope, m->rope_freqs);
    infer_attn_cfg ac = {.n_head = H,
                         .n_head_kv = Hkv,
                         .head_dim = D,
                         .scale = hp->attn_scale,
                         .causal = true,
                         .seq_lens = lens,
                         .n_seq = n_seq};
    rw_tensor *a = infer_linear_forward(ctx, &L->o, infer_op_attention(ctx, q, k, v, &ac));
    if (L->post_attn_norm) a = infer_op_rmsnorm(ctx, a, L->post_attn_norm, hp->norm_eps);
    rw_tensor *h = infer_op_add(ctx, x, a);
    rw_tensor *mm = infer_op_rmsnorm(ctx, h, L->ffn_norm, hp->norm_eps);
    rw_tensor *gate = infer_linear_forward(ctx, &L->gate, mm); /* gate first: tape order */
    rw_tensor *up = infer_linear_forward(ctx, &L->up, mm);
    rw_tensor *g = infer_op_swiglu(ctx, gate, up);
    rw_tensor *f = infer_linear_forward(ctx, &L->down, g);
    if (L->post_ffn_norm) f = infer_op_rmsnorm(ctx, f, L->post_ffn_norm, hp->norm_eps);
    return infer_op_add(ctx, h, f);
}

static void test_packed_identical_to_old_mirror(void **state) {
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/tiny-mirror.gguf", rw_test_tmpdir());
    assert_int_equal(fixture_tiny_llama(path, 2, 64, 9), 0);
    infer_model *m = NULL;
    rw_err err;
    if (infer_model_load(path, &m, &err)) fail_msg("%s", err.msg);
    train_lora_cfg lc;
    train_lora_cfg_default(&lc);
    lc.targets = TRAIN_LORA_DEFAULT_TARGETS;
    lc.rank = 4;
    train_lora *l = NULL;
    if (train_lora_create(m, &lc, &l, &err)) fail_msg("%s", err.msg);
    const size_t np = train_lora_n_params(l);
    float *p = train_lora_params(l), *g = train_lora_grads(l);
    rw_rng r;
    rw_rng_seed(&r, 21);
    for (size_t i = 0; i < np; i++)
        p[i] = (float)rw_rng_normal(&r) * 0.05f;
    int32_t T = 0;
    for (int b = 0; b < NSEQ; b++)
        T += k_lens[b];
    int32_t *ids = malloc((size_t)T * sizeof(int32_t)), *tg = malloc((size_t)T * sizeof(int32_t));
    int32_t *pos = malloc((size_t)T * sizeof(int32_t));
    for (int32_t i = 0; i < T; i++)
        ids[i] = (int32_t)rw_rng_below(&r, (uint64_t)m->hp.n_vocab);
    for (int b = 0, o = 0; b < NSEQ; o += k_lens[b], b++)
        for (int i = 0; i < k_lens[b]; i++) {
            tg[o + i] = i + 1 < k_lens[b] ? ids[o + i + 1] : -1;
            pos[o + i] = i;
        }
    const int64_t V = m->hp.n_vocab;
    rw_arena arena;
    assert_int_equal(rw_arena_init(&arena, (size_t)64 << 20, &err), RW_OK);
    rw_tape tape;
    rw_tape_init(&tape);
    float *lg_ref = malloc((size_t)(V * T) * sizeof(float)), *g_ref = malloc(np * sizeof(float));
    for (int pass = 0; pass < 2; pass++) {
        rw_arena_reset(&arena);
        rw_tape_clear(&tape);
        train_lora_zero_grad(l);
        infer_ctx ctx;
        infer_ctx_init(&ctx, &arena, NULL, &tape);
        rw_tensor *lg;
        if (pass == 0) { /* the old mirror, layer by layer */
            rw_tensor *x = infer_op_embed(&ctx, m->tok_embd, ids, T);
            for (int64_t il = 0; il < m->hp.n_layer; il++)
                x = old_packed_layer(&ctx, m, il, x, pos, k_lens, NSEQ);
            x = infer_op_rmsnorm(&ctx, x, m->out_norm, m->hp.norm_eps);
            lg = infer_linear_forward(&ctx, &m->output, x);
        } else {
            lg = train_decoder_forward_packed(&ctx, m, ids, k_lens, NSEQ, false);
        }
        assert_non_null(lg);
        rw_tensor *ce = infer_op_cross_entropy(&ctx, lg, tg);
        assert_non_null(ce);
        if (train_backward(&ctx, ce, NULL, 1.0f, &err)) fail_msg("%s", err.msg);
        if (pass == 0) {
            memcpy(lg_ref, lg->data, (size_t)(V * T) * sizeof(float));
            memcpy(g_ref, g, np * sizeof(float));
        } else {
            assert_memory_equal(lg->data, lg_ref, (size_t)(V * T) * sizeof(float));
            assert_memory_equal(g, g_ref, np * sizeof(float));
        }
    }
    double gn = 0;
    for (size_t i = 0; i < np; i++)
        gn += (double)g_ref[i] * (double)g_ref[i];
    assert_true(gn > 0); /* gradients flowed */
    free(ids);
    free(tg);
    free(pos);
    free(lg_ref);
    free(g_ref);
    rw_tape_deinit(&tape);
    rw_arena_deinit(&arena);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_packed_equals_separate),
                                       cmocka_unit_test(test_packed_identical_to_old_mirror)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
