/* Whole-model checks: LoRA (and fully trained f32 tensors) gradients of a tiny decoder
 * against finite differences of the masked cross-entropy; per-layer recompute equal to the
 * plain tape; LoRA creation rules (PEFT init, scaling, targets, layer range, refusals,
 * detach); gradient accumulation; and a tiny training loop that must lower the loss and
 * repeat bit for bit.
 *
 * Finite differences: central, h = 3e-3 on f32 parameters, loss accumulated by the model's
 * f32 forward; error = |analytic - numeric| / max |analytic| over the whole tensor (the
 * tensor's gradient scale). Tolerance 5e-3: the loss (about 1..4) carries ~1e-7 relative
 * rounding, i.e. ~1e-4 absolute noise in a numeric derivative at this h, against gradient
 * scales of 0.1..1; observed errors are <= 1e-3 (h = 1e-2 gave up to 5e-3 from truncation
 * in the attention-heavy critic case, which is why h is smaller here than in the op checks). */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/pool.h"
#include "core/tape.h"
#include "infer/model.h"
#include "rw_test.h"
#include "tiny_decoder.h"
#include "train/autograd.h"
#include "train/lora.h"
#include "train/losses.h"
#include "train/optim.h"

enum { T_TOK = 7 };
static const int32_t IDS[T_TOK] = {3, 17, 5, 9, 9, 21, 2};
static const int32_t TGT[T_TOK] = {-1, -1, 5, 9, 9, 21, 2}; /* prompt masked */

static infer_model *make_model_v(const char *arch, int L, uint64_t seed, int swa, bool ff) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s_%d_%llu_%d%d.gguf", rw_test_tmpdir(), arch, L,
             (unsigned long long)seed, swa, ff ? 1 : 0);
    tiny_dec d = {.arch = arch,
                  .C = 16,
                  .H = 2,
                  .HKV = 1,
                  .FF = 24,
                  .V = 24,
                  .L = L,
                  .swa = swa,
                  .rope_freqs = ff};
    assert_int_equal(tiny_dec_write(path, &d, seed), 0);
    infer_model *m = NULL;
    rw_err e;
    rw_status st = infer_model_load(path, &m, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, RW_OK);
    return m;
}

static infer_model *make_model(const char *arch, int L, uint64_t seed) {
    return make_model_v(arch, L, seed, 0, false);
}

typedef struct step_env {
    rw_arena ar;
    rw_tape tape;
    rw_pool *pool;
} step_env;

static void env_init(step_env *s, int threads) {
    assert_int_equal(rw_arena_init(&s->ar, (size_t)32 << 20, NULL), RW_OK);
    rw_tape_init(&s->tape);
    s->pool = NULL;
    if (threads > 1) assert_int_equal(rw_pool_create(threads, &s->pool, NULL), RW_OK);
}

static void env_deinit(step_env *s) {
    rw_arena_deinit(&s->ar);
    rw_tape_deinit(&s->tape);
    rw_pool_destroy(s->pool);
}

/* Forward (+ backward when grad) of the masked CE; returns the loss. */
static float step_loss(step_env *s, const infer_model *m, bool grad, bool ckpt, float seed,
                       const int32_t *ids, const int32_t *tgt) {
    rw_arena_reset(&s->ar);
    rw_tape_clear(&s->tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &s->ar, s->pool, grad ? &s->tape : NULL);
    rw_tensor *logits = ckpt ? train_decoder_forward_ckpt(&ctx, m, ids, T_TOK)
                             : infer_decoder_forward(&ctx, m, NULL, ids, T_TOK, true);
    rw_tensor *loss = infer_op_cross_entropy(&ctx, logits, tgt);
    if (!loss) fprintf(stderr, "forward: %s\n", ctx.err.msg);
    assert_non_null(loss);
    if (grad) {
        rw_err e;
        rw_status st = train_backward(&ctx, loss, NULL, seed, &e);
        if (st) fprintf(stderr, "backward: %s\n", e.msg);
        assert_int_equal(st, RW_OK);
    }
    return ((float *)loss->data)[0];
}

typedef float (*loss_fn)(step_env *s, const infer_model *m, bool grad);

static float dec_loss(step_env *s, const infer_model *m, bool grad) {
    return step_loss(s, m, grad, false, 1.0f, IDS, TGT);
}

static double fd_check_tensor(step_env *s, const infer_model *m, loss_fn lf, float *p,
                              const float *g, size_t n, rw_rng *r, int n_checks,
                              const char *label) {
    double gmax = 0;
    for (size_t i = 0; i < n; i++)
        gmax = fmax(gmax, fabs(g[i]));
    double worst = 0;
    for (int c = 0; c < n_checks; c++) {
        size_t i = (size_t)rw_rng_below(r, n);
        const float x0 = p[i], h = 3e-3f;
        const float xp = x0 + h, xm = x0 - h;
        p[i] = xp;
        double lp = lf(s, m, false);
        p[i] = xm;
        double lm = lf(s, m, false);
        p[i] = x0;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double err = fabs(num - g[i]) / fmax(gmax, 1e-6);
        worst = fmax(worst, err);
    }
    printf("  %-28s |g|max %.3e  max rel err %.2e\n", label, gmax, worst);
    return worst;
}

/* FD-checks 3 entries of every A and B and 4 of every fully trained tensor. */
static double check_all(step_env *s, const infer_model *m, train_lora *l, loss_fn lf) {
    rw_rng r;
    rw_rng_seed(&r, 12);
    float *p = train_lora_params(l);
    const float *g = train_lora_grads(l);
    double worst = 0;
    char lab[160];
    for (size_t k = 0; k < train_lora_n_pairs(l); k++) {
        const train_lora_pair *pr = train_lora_pair_at(l, k);
        size_t na = (size_t)(pr->n_in * pr->rank), nb = (size_t)(pr->rank * pr->n_out);
        snprintf(lab, sizeof(lab), "%s A", pr->base);
        worst =
            fmax(worst, fd_check_tensor(s, m, lf, p + pr->off_a, g + pr->off_a, na, &r, 3, lab));
        snprintf(lab, sizeof(lab), "%s B", pr->base);
        worst =
            fmax(worst, fd_check_tensor(s, m, lf, p + pr->off_b, g + pr->off_b, nb, &r, 3, lab));
    }
    for (size_t k = 0; k < train_lora_n_full(l); k++) {
        rw_tensor *t = train_lora_full_at(l, k);
        size_t n = (size_t)rw_tensor_nelements(t);
        worst = fmax(worst, fd_check_tensor(s, m, lf, t->data, t->grad->data, n, &r, 4, t->name));
    }
    return worst;
}

/* B = 0 at init makes dL/dA vanish: give B random values so both are exercised. */
static void randomize_b(train_lora *l, uint64_t seed) {
    rw_rng r;
    rw_rng_seed(&r, seed);
    float *p = train_lora_params(l);
    for (size_t k = 0; k < train_lora_n_pairs(l); k++) {
        const train_lora_pair *pr = train_lora_pair_at(l, k);
        for (int64_t i = 0; i < pr->rank * pr->n_out; i++)
            p[pr->off_b + (size_t)i] = (float)(0.2 * rw_rng_normal(&r));
    }
}

static void model_gradcheck(const char *arch, const char *full, int swa, bool ff) {
    infer_model *m = make_model_v(arch, 2, 5, swa, ff);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 4;
    cfg.alpha = 8;
    cfg.full_targets = full;
    train_lora *l = NULL;
    rw_err e;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_int_equal(train_lora_n_pairs(l), 14);
    randomize_b(l, 11);
    step_env s;
    env_init(&s, 1);
    train_lora_zero_grad(l);
    float loss = step_loss(&s, m, true, false, 1.0f, IDS, TGT);
    printf("%s: loss %.4f, %zu params\n", arch, loss, train_lora_n_params(l));
    const float *g = train_lora_grads(l);
    double worst = check_all(&s, m, l, dec_loss);
    printf("%s whole-model LoRA gradients: max rel err %.2e (tol 5e-3)\n", arch, worst);
    assert_true(worst < 5e-3);

    /* per-layer recompute gives the same gradients as the plain tape */
    float *g1 = malloc(train_lora_n_params(l) * sizeof(float));
    memcpy(g1, g, train_lora_n_params(l) * sizeof(float));
    train_lora_zero_grad(l);
    float loss2 = step_loss(&s, m, true, true, 1.0f, IDS, TGT);
    assert_true(loss2 == loss);
    rw_assert_allclose(train_lora_grads(l), g1, train_lora_n_params(l), 1e-7, 1e-5);
    free(g1);
    /* and needs less step memory (fresh arenas: their high-water marks are this step's) */
    step_env sp, sc;
    env_init(&sp, 1);
    env_init(&sc, 1);
    step_loss(&sp, m, true, false, 1.0f, IDS, TGT);
    step_loss(&sc, m, true, true, 1.0f, IDS, TGT);
    printf("%s arena peak: plain tape %zu bytes, per-layer recompute %zu bytes\n", arch,
           sp.ar.high_water, sc.ar.high_water);
    assert_true(sc.ar.high_water < sp.ar.high_water);
    env_deinit(&sp);
    env_deinit(&sc);
    env_deinit(&s);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

static void test_model_llama(void **state) {
    (void)state;
    model_gradcheck("llama", "output_norm,blk.1.attn_norm", 0, false);
}

static void test_model_qwen3(void **state) {
    (void)state;
    model_gradcheck("qwen3", "blk.0.attn_q_norm", 0, false);
}

/* llama 3 rope frequency factors; token_embd trained in full (embedding lookup gradient) */
static void test_model_llama3(void **state) {
    (void)state;
    model_gradcheck("llama", "blk.0.ffn_norm,token_embd", 0, true);
}

/* gemma3: post norms, GEGLU, embedding scale, sliding window 3 < T */
static void test_model_gemma3(void **state) {
    (void)state;
    model_gradcheck("gemma3", "blk.0.post_attention_norm,blk.1.post_ffw_norm", 3, false);
}

static void test_lora_rules(void **state) {
    (void)state;
    infer_model *m = make_model("llama", 2, 6);
    rw_err e;
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 4;
    cfg.alpha = 8;
    cfg.targets = "attn_q, ffn_down";
    cfg.layer_first = 1;
    train_lora *l = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_int_equal(train_lora_n_pairs(l), 2);
    const train_lora_pair *pq = train_lora_pair_at(l, 0), *pd = train_lora_pair_at(l, 1);
    assert_string_equal(pq->base, "blk.1.attn_q.weight");
    assert_string_equal(pd->base, "blk.1.ffn_down.weight");
    assert_true(pq->scale == 2.0f); /* alpha / r */
    assert_int_equal(m->layers[1].q.n_lora, 1);
    assert_int_equal(m->layers[0].q.n_lora, 0);
    assert_true(m->layers[1].q.lora[0].a == pq->a && (pq->a->flags & RW_TENSOR_PARAM));
    /* PEFT init: A in [-1/sqrt(n_in), 1/sqrt(n_in)] with the uniform's variance, B = 0 */
    const float *p = train_lora_params(l);
    const double bound = 1.0 / sqrt((double)pd->n_in);
    double s2 = 0;
    size_t na = (size_t)(pd->n_in * pd->rank);
    for (size_t i = 0; i < na; i++) {
        assert_true(fabs(p[pd->off_a + i]) <= bound);
        s2 += p[pd->off_a + i] * p[pd->off_a + i];
    }
    double var = s2 / (double)na, want = bound * bound / 3;
    assert_true(fabs(var - want) < 0.35 * want);
    for (int64_t i = 0; i < pd->rank * pd->n_out; i++)
        assert_true(p[pd->off_b + (size_t)i] == 0.0f);
    /* B = 0: the adapted forward equals the base forward exactly */
    step_env s;
    env_init(&s, 1);
    float with = step_loss(&s, m, false, false, 1, IDS, TGT);
    train_lora_destroy(l);
    assert_int_equal(m->layers[1].q.n_lora, 0);
    float without = step_loss(&s, m, false, false, 1, IDS, TGT);
    assert_true(with == without);
    /* same seed, same parameters */
    train_lora *l1 = NULL, *l2 = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l1, &e), RW_OK);
    float *c1 = malloc(train_lora_n_params(l1) * sizeof(float));
    memcpy(c1, train_lora_params(l1), train_lora_n_params(l1) * sizeof(float));
    train_lora_destroy(l1);
    assert_int_equal(train_lora_create(m, &cfg, &l2, &e), RW_OK);
    assert_memory_equal(c1, train_lora_params(l2), train_lora_n_params(l2) * sizeof(float));
    free(c1);
    train_lora_destroy(l2);
    /* rsLoRA: alpha / sqrt(r) */
    cfg.rslora = true;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_true(fabsf(train_lora_pair_at(l, 0)->scale - 4.0f) < 1e-6f);
    train_lora_destroy(l);
    cfg.rslora = false;
    /* default targets over all layers: 7 per layer */
    train_lora_cfg d;
    train_lora_cfg_default(&d);
    assert_int_equal(train_lora_create(m, &d, &l, &e), RW_OK);
    assert_int_equal(train_lora_n_pairs(l), 14);
    train_lora_destroy(l);
    /* refusals */
    cfg.targets = "attn_qq";
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_NOTFOUND);
    assert_non_null(strstr(e.msg, "attn_qq"));
    cfg.targets = NULL;
    cfg.layer_last = 5;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_INVALID);
    cfg.layer_last = -1;
    cfg.rank = 0;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_INVALID);
    cfg.rank = 4;
    cfg.dropout = 1.0f;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_INVALID);
    cfg.dropout = -0.1f;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_INVALID);
    cfg.dropout = 0;
    cfg.full_targets = "no_such_tensor";
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_E_NOTFOUND);
    for (int il = 0; il < 2; il++)
        assert_int_equal(m->layers[il].q.n_lora, 0);
    /* full training restores the model's descriptor on destroy */
    cfg.full_targets = "output_norm";
    rw_tensor before = *m->out_norm;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_true(m->out_norm->data != before.data && (m->out_norm->flags & RW_TENSOR_PARAM));
    train_lora_destroy(l);
    assert_memory_equal(m->out_norm, &before, sizeof(before));
    env_deinit(&s);
    infer_model_destroy(m);
}

/* ---- LoRA dropout: masks replayed from a fixed RNG state make the forward a fixed
 * function, so finite differences apply; recompute replays the same masks. ---- */
static rw_rng g_drop_state;
static rw_rng *g_drop_rng;

static float dec_loss_drop(step_env *s, const infer_model *m, bool grad) {
    *g_drop_rng = g_drop_state;
    return step_loss(s, m, grad, false, 1.0f, IDS, TGT);
}

static void test_lora_dropout(void **state) {
    (void)state;
    infer_model *m = make_model("llama", 2, 23);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 4;
    cfg.dropout = 0.3f;
    train_lora *l = NULL;
    rw_err e;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    randomize_b(l, 15);
    g_drop_rng = train_lora_dropout_rng(l);
    g_drop_state = *g_drop_rng;
    step_env s;
    env_init(&s, 1);
    /* masks change the loss; consecutive forwards draw new masks; off = no dropout */
    float l1 = step_loss(&s, m, false, false, 1, IDS, TGT);
    float l2 = step_loss(&s, m, false, false, 1, IDS, TGT);
    train_lora_set_dropout(l, false);
    float off1 = step_loss(&s, m, false, false, 1, IDS, TGT);
    float off2 = step_loss(&s, m, false, false, 1, IDS, TGT);
    train_lora_set_dropout(l, true);
    assert_true(l1 != l2 && off1 == off2 && l1 != off1);
    /* the same RNG state gives the same loss */
    *g_drop_rng = g_drop_state;
    assert_true(step_loss(&s, m, false, false, 1, IDS, TGT) == l1);
    /* gradients through the masks against finite differences */
    train_lora_zero_grad(l);
    dec_loss_drop(&s, m, true);
    double worst = check_all(&s, m, l, dec_loss_drop);
    printf("LoRA dropout 0.3: gradients max rel err %.2e (tol 5e-3)\n", worst);
    assert_true(worst < 5e-3);
    /* per-layer recompute replays the forward's masks */
    const size_t n = train_lora_n_params(l);
    float *g1 = malloc(n * sizeof(float));
    train_lora_zero_grad(l);
    *g_drop_rng = g_drop_state;
    float lp = step_loss(&s, m, true, false, 1.0f, IDS, TGT);
    rw_rng after = *g_drop_rng;
    memcpy(g1, train_lora_grads(l), n * sizeof(float));
    train_lora_zero_grad(l);
    *g_drop_rng = g_drop_state;
    float lc = step_loss(&s, m, true, true, 1.0f, IDS, TGT);
    assert_true(lp == lc);
    assert_memory_equal(&after, g_drop_rng, sizeof(after)); /* stream continues as without */
    rw_assert_allclose(train_lora_grads(l), g1, n, 1e-7, 1e-5);
    free(g1);
    env_deinit(&s);
    train_lora_destroy(l);
    for (int il = 0; il < 2; il++)
        assert_true(m->layers[il].q.lora[0].rng == NULL);
    infer_model_destroy(m);
}

/* Allocation failures in train_lora_create return RW_E_NOMEM and leave the model untouched
 * (ASan checks nothing leaks); a step arena too small for the gradients gives RW_E_NOMEM
 * from train_backward with a message naming the op. */
static void test_failures(void **state) {
    (void)state;
    infer_model *m = make_model("llama", 2, 29);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.full_targets = "output_norm";
    rw_err e;
    int ok = 0;
    for (long n = 0; n < 64 && !ok; n++) {
        train_lora *l = NULL;
        rw_alloc_fail_after(n);
        rw_status st = train_lora_create(m, &cfg, &l, &e);
        rw_alloc_fail_after(-1);
        if (st == RW_OK) {
            ok = 1;
            train_lora_destroy(l);
        } else {
            assert_int_equal(st, RW_E_NOMEM);
            for (int il = 0; il < 2; il++)
                assert_int_equal(m->layers[il].q.n_lora, 0);
            assert_true(m->out_norm->type == RW_DTYPE_F32 &&
                        !(m->out_norm->flags & RW_TENSOR_PARAM));
        }
    }
    assert_true(ok);
    /* arena: measure the forward's need, then give backward almost nothing more */
    train_lora *l = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    step_env s;
    env_init(&s, 1);
    rw_arena_reset(&s.ar);
    rw_tape_clear(&s.tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &s.ar, NULL, &s.tape);
    rw_tensor *loss =
        infer_op_cross_entropy(&ctx, infer_decoder_forward(&ctx, m, NULL, IDS, T_TOK, true), TGT);
    assert_non_null(loss);
    const size_t fwd = s.ar.used;
    rw_arena small;
    assert_int_equal(rw_arena_init(&small, fwd + 256, NULL), RW_OK);
    rw_tape tape;
    rw_tape_init(&tape);
    infer_ctx_init(&ctx, &small, NULL, &tape);
    loss =
        infer_op_cross_entropy(&ctx, infer_decoder_forward(&ctx, m, NULL, IDS, T_TOK, true), TGT);
    assert_non_null(loss);
    assert_int_equal(train_backward(&ctx, loss, NULL, 1.0f, &e), RW_E_NOMEM);
    assert_non_null(strstr(e.msg, "backward of"));
    /* a parameter without a gradient tensor is a state error */
    rw_arena_reset(&s.ar);
    rw_tape_clear(&tape);
    infer_ctx_init(&ctx, &s.ar, NULL, &tape);
    rw_tensor *a = train_lora_pair_at(l, 0)->a;
    rw_tensor *saved = a->grad;
    a->grad = NULL;
    loss =
        infer_op_cross_entropy(&ctx, infer_decoder_forward(&ctx, m, NULL, IDS, T_TOK, true), TGT);
    assert_int_equal(train_backward(&ctx, loss, NULL, 1.0f, &e), RW_E_STATE);
    assert_non_null(strstr(e.msg, "no gradient tensor"));
    a->grad = saved;
    rw_tape_deinit(&tape);
    rw_arena_deinit(&small);
    env_deinit(&s);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

/* Two micro-batches seeded with 1/2 each equal one backward seeded with 1. */
static void test_grad_accumulation(void **state) {
    (void)state;
    infer_model *m = make_model("llama", 1, 8);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 2;
    train_lora *l = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l, NULL), RW_OK);
    float *p = train_lora_params(l);
    for (size_t k = 0; k < train_lora_n_pairs(l); k++) {
        const train_lora_pair *pr = train_lora_pair_at(l, k);
        for (int64_t i = 0; i < pr->rank * pr->n_out; i++)
            p[pr->off_b + (size_t)i] = 0.05f;
    }
    step_env s;
    env_init(&s, 1);
    const size_t n = train_lora_n_params(l);
    train_lora_zero_grad(l);
    step_loss(&s, m, true, false, 1.0f, IDS, TGT);
    float *one = malloc(n * sizeof(float));
    memcpy(one, train_lora_grads(l), n * sizeof(float));
    train_lora_zero_grad(l);
    step_loss(&s, m, true, false, 0.5f, IDS, TGT);
    step_loss(&s, m, true, false, 0.5f, IDS, TGT);
    rw_assert_allclose(train_lora_grads(l), one, n, 1e-8, 1e-5);
    free(one);
    env_deinit(&s);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

/* Tiny model + LoRA + AdamW on one repeated batch; returns the loss curve. */
static void train_run(float *losses, int steps, int threads) {
    infer_model *m = make_model("qwen3", 2, 9);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 4;
    cfg.alpha = 8;
    cfg.seed = 42;
    train_lora *l = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l, NULL), RW_OK);
    train_adamw opt;
    train_adamw_cfg oc;
    train_adamw_cfg_default(&oc);
    assert_int_equal(train_adamw_init(&opt, train_lora_n_params(l), &oc, NULL), RW_OK);
    train_sched sch = {
        .kind = TRAIN_SCHED_COSINE, .lr = 2e-2f, .warmup_steps = 3, .total_steps = steps};
    step_env s;
    env_init(&s, threads);
    rw_err e;
    for (int st = 0; st < steps; st++) {
        train_lora_zero_grad(l);
        losses[st] = step_loss(&s, m, true, st % 2 == 1, 1.0f, IDS, TGT);
        assert_int_equal(train_check_loss(losses[st], st, &e), RW_OK);
        assert_int_equal(
            train_check_finite(train_lora_grads(l), train_lora_n_params(l), "grads", &e), RW_OK);
        train_clip_grad_norm(train_lora_grads(l), train_lora_n_params(l), 1.0);
        train_adamw_step(&opt, train_lora_params(l), train_lora_grads(l), train_sched_lr(&sch, st));
    }
    env_deinit(&s);
    train_adamw_deinit(&opt);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

static void test_training_loop(void **state) {
    (void)state;
    enum { STEPS = 40 };
    float a[STEPS], b[STEPS];
    train_run(a, STEPS, 2);
    train_run(b, STEPS, 2);
    printf("training loss: step 0 %.4f, step 10 %.4f, step 20 %.4f, step %d %.4f\n", a[0], a[10],
           a[20], STEPS - 1, a[STEPS - 1]);
    assert_memory_equal(a, b, sizeof(a)); /* bit-identical for a given thread count */
    assert_true(a[STEPS - 1] < 0.5f * a[0]);
}

/* ---- embedder: bert + LoRA + MNRL (mean-pooled anchors, CLS-pooled candidates) ---- */
static const int32_t A_IDS[7] = {1, 5, 7, 2, 9, 9, 4}, A_LENS[2] = {3, 4};
static const int32_t C_IDS[11] = {1, 5, 8, 2, 9, 3, 4, 11, 6, 12, 0}, C_LENS[4] = {2, 3, 4, 2};

static bool g_enc_ckpt;

static float mnrl_loss(step_env *s, const infer_model *m, bool grad) {
    rw_arena_reset(&s->ar);
    rw_tape_clear(&s->tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &s->ar, s->pool, grad ? &s->tape : NULL);
    rw_tensor *a = g_enc_ckpt
                       ? train_encoder_embed_ckpt(&ctx, m, A_IDS, A_LENS, 2, INFER_POOL_MEAN, false)
                       : infer_encoder_embed(&ctx, m, A_IDS, A_LENS, 2, INFER_POOL_MEAN, false);
    rw_tensor *c = g_enc_ckpt
                       ? train_encoder_embed_ckpt(&ctx, m, C_IDS, C_LENS, 4, INFER_POOL_CLS, false)
                       : infer_encoder_embed(&ctx, m, C_IDS, C_LENS, 4, INFER_POOL_CLS, false);
    rw_tensor *loss = train_loss_mnrl(&ctx, a, c, 20.0f);
    if (!loss) fprintf(stderr, "forward: %s\n", ctx.err.msg);
    assert_non_null(loss);
    if (grad) {
        rw_err e;
        assert_int_equal(train_backward(&ctx, loss, NULL, 1.0f, &e), RW_OK);
    }
    return ((float *)loss->data)[0];
}

static void test_model_bert_mnrl(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/bert.gguf", rw_test_tmpdir());
    assert_int_equal(tiny_bert_write(path, 16, 2, 24, 16, 2, 16, 21), 0);
    infer_model *m = NULL;
    rw_err e;
    assert_int_equal(infer_model_load(path, &m, &e), RW_OK);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg); /* default list: ffn_gate is absent in bert and skipped */
    cfg.rank = 4;
    cfg.full_targets = "blk.0.attn_output_norm,blk.1.ffn_up.bias,token_embd_norm.bias";
    train_lora *l = NULL;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_int_equal(train_lora_n_pairs(l), 12);
    assert_int_equal(train_lora_n_full(l), 4);
    randomize_b(l, 13);
    step_env s;
    env_init(&s, 1);
    train_lora_zero_grad(l);
    float loss = mnrl_loss(&s, m, true);
    double worst = check_all(&s, m, l, mnrl_loss);
    printf("bert MNRL loss %.4f: LoRA/full gradients max rel err %.2e (tol 5e-3)\n", loss, worst);
    assert_true(worst < 5e-3);
    /* per-layer recompute for encoders: same loss and gradients, lower arena peak */
    const size_t n = train_lora_n_params(l);
    float *g1 = malloc(n * sizeof(float));
    train_lora_zero_grad(l);
    step_env sp, sc;
    env_init(&sp, 1);
    env_init(&sc, 1);
    float lp = mnrl_loss(&sp, m, true);
    memcpy(g1, train_lora_grads(l), n * sizeof(float));
    train_lora_zero_grad(l);
    g_enc_ckpt = true;
    float lc = mnrl_loss(&sc, m, true);
    g_enc_ckpt = false;
    assert_true(lp == lc);
    rw_assert_allclose(train_lora_grads(l), g1, n, 1e-7, 1e-5);
    printf("bert arena peak: plain tape %zu bytes, per-layer recompute %zu bytes\n",
           sp.ar.high_water, sc.ar.high_water);
    assert_true(sc.ar.high_water < sp.ar.high_water);
    free(g1);
    env_deinit(&sp);
    env_deinit(&sc);
    env_deinit(&s);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

/* ---- critic: decoder + LoRA + BCE on the yes/no logits of each pair's last token ---- */
static const int32_t P1[T_TOK] = {3, 17, 5, 9, 9, 21, 2}, P2[T_TOK] = {4, 4, 8, 1, 0, 13, 7};

static float critic_loss(step_env *s, const infer_model *m, bool grad) {
    rw_arena_reset(&s->ar);
    rw_tape_clear(&s->tape);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &s->ar, s->pool, grad ? &s->tape : NULL);
    const float lab1 = 1.0f, lab2 = 0.0f;
    rw_tensor *z1 = infer_decoder_forward(&ctx, m, NULL, P1, T_TOK, false);
    rw_tensor *l1 = train_loss_bce_yesno(&ctx, z1, &lab1, 6, 11);
    rw_tensor *z2 = infer_decoder_forward(&ctx, m, NULL, P2, T_TOK, false);
    rw_tensor *l2 = train_loss_bce_yesno(&ctx, z2, &lab2, 6, 11);
    rw_tensor *loss = infer_op_scale(&ctx, infer_op_add(&ctx, l1, l2), 0.5f);
    assert_non_null(loss);
    if (grad) {
        rw_err e;
        assert_int_equal(train_backward(&ctx, loss, NULL, 1.0f, &e), RW_OK);
    }
    return ((float *)loss->data)[0];
}

static void test_model_critic_bce(void **state) {
    (void)state;
    infer_model *m = make_model("llama", 2, 17);
    train_lora_cfg cfg;
    train_lora_cfg_default(&cfg);
    cfg.rank = 2;
    cfg.targets = "attn_q,attn_v,ffn_up,output";
    train_lora *l = NULL;
    rw_err e;
    assert_int_equal(train_lora_create(m, &cfg, &l, &e), RW_OK);
    assert_int_equal(train_lora_n_pairs(l), 7);
    randomize_b(l, 14);
    step_env s;
    env_init(&s, 1);
    train_lora_zero_grad(l);
    float loss = critic_loss(&s, m, true);
    double worst = check_all(&s, m, l, critic_loss);
    printf("critic BCE loss %.4f: LoRA gradients max rel err %.2e (tol 5e-3)\n", loss, worst);
    assert_true(worst < 5e-3);
    env_deinit(&s);
    train_lora_destroy(l);
    infer_model_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_llama),     cmocka_unit_test(test_model_qwen3),
        cmocka_unit_test(test_model_llama3),    cmocka_unit_test(test_model_gemma3),
        cmocka_unit_test(test_model_bert_mnrl), cmocka_unit_test(test_model_critic_bce),
        cmocka_unit_test(test_lora_rules),      cmocka_unit_test(test_lora_dropout),
        cmocka_unit_test(test_failures),        cmocka_unit_test(test_grad_accumulation),
        cmocka_unit_test(test_training_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
