/* Gradient checks of every op's backward against central finite differences (gradcheck.h):
 * each forward runs through infer's ops on small random f32 inputs (odd sizes, GQA,
 * padding, packed batches, ignore masks), the analytic gradient comes from train_backward.
 *
 * Tolerance: the forward is f32, so with step h = 1e-2 the numeric gradient carries about
 * 1e-4 relative rounding noise plus O(h^2) truncation; TOL = 2e-3 (relative to the largest
 * gradient entry of the tensor) leaves margin while any wrong term (a missing factor, a
 * sign, a lost broadcast sum) gives errors of order 1. Quantized-weight matmuls use the
 * exact f32-activation forward so the finite differences see a smooth function. */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck.h"
#include "kernels/quant.h"
#include "rw_test.h"
#include "train/losses.h"

static const double TOL = 2e-3;

/* ------------------------------------------------------------------ forwards */

typedef struct op_ud {
    int kind;
    float s;
    int32_t ids[16], tg[16], lens[8], rows[8], pos[16];
    int64_t n, a, b;
    kern_rope_cfg rope;
    infer_attn_cfg attn;
    float labels[8];
    const rw_tensor *wq; /* frozen weight */
    const rw_tensor *ff; /* rope frequency factors or NULL */
} op_ud;

static rw_tensor *f_matmul(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_matmul(c, in[0], in[1]);
}
static rw_tensor *f_matmul_frozen(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_matmul(c, (rw_tensor *)u->wq, in[0]);
}
static rw_tensor *f_add(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_add(c, in[0], in[1]);
}
static rw_tensor *f_mul(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_mul(c, in[0], in[1]);
}
static rw_tensor *f_scale(infer_ctx *c, rw_tensor **in, void *ud) {
    return infer_op_scale(c, in[0], ((op_ud *)ud)->s);
}
static rw_tensor *f_act(infer_ctx *c, rw_tensor **in, void *ud) {
    switch (((op_ud *)ud)->kind) {
    case 0:
        return infer_op_silu(c, in[0]);
    case 1:
        return infer_op_gelu(c, in[0], false);
    case 2:
        return infer_op_gelu(c, in[0], true);
    case 3:
        return infer_op_swiglu(c, in[0], in[1]);
    case 4:
        return infer_op_geglu(c, in[0], in[1]);
    default:
        return infer_op_softmax(c, in[0]);
    }
}
static rw_tensor *f_embed(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_embed(c, in[0], u->ids, u->n);
}
static rw_tensor *f_rmsnorm(infer_ctx *c, rw_tensor **in, void *ud) {
    return infer_op_rmsnorm(c, in[0], ((op_ud *)ud)->kind ? in[1] : NULL, 1e-5f);
}
static rw_tensor *f_rmsnorm_heads(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud; /* qwen3-style per-head norm through reshape views: x{12,3} as {4, 9} */
    rw_tensor *v = infer_op_reshape_2d(c, in[0], 4, 9);
    return infer_op_reshape_2d(c, infer_op_rmsnorm(c, v, in[1], 1e-6f), 12, 3);
}
static rw_tensor *f_layernorm(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_layernorm(c, in[0], in[1], in[2], 1e-5f);
}
static rw_tensor *f_rope(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_rope(c, in[0], u->a, u->b, u->pos, &u->rope, (rw_tensor *)u->ff);
}
static rw_tensor *f_attn(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_attention(c, in[0], in[1], in[2], &u->attn);
}
static rw_tensor *f_ce(infer_ctx *c, rw_tensor **in, void *ud) {
    return infer_op_cross_entropy(c, in[0], ((op_ud *)ud)->tg);
}
static rw_tensor *f_pool(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_mean_pool(c, in[0], u->lens, u->n);
}
static rw_tensor *f_gather(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return infer_op_gather_rows(c, in[0], u->rows, u->n);
}
static rw_tensor *f_l2(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_l2_normalize(c, in[0]);
}
static rw_tensor *f_cossim(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud;
    return infer_op_cossim(c, infer_op_l2_normalize(c, in[0]), infer_op_l2_normalize(c, in[1]));
}
static rw_tensor *f_views(infer_ctx *c, rw_tensor **in, void *ud) {
    (void)ud; /* x{6,4} -> reshape {8,3} -> rows 1..2 -> scale: gradient only reaches 16 */
    rw_tensor *v = infer_op_reshape_2d(c, in[0], 8, 3);
    return infer_op_mul(c, infer_rows(c, v, 1, 2), infer_rows(c, v, 0, 2));
}
static rw_tensor *f_mnrl(infer_ctx *c, rw_tensor **in, void *ud) {
    return train_loss_mnrl(c, in[0], in[1], ((op_ud *)ud)->s);
}
static rw_tensor *f_bce(infer_ctx *c, rw_tensor **in, void *ud) {
    op_ud *u = ud;
    return train_loss_bce_yesno(c, in[0], u->labels, 3, 5);
}

/* ------------------------------------------------------------------ driver */

static int g_fail;

static void check(const char *label, double err, double tol) {
    printf("%-30s max rel err %.2e (tol %.0e)%s\n", label, err, tol, err <= tol ? "" : "  FAIL");
    if (!(err <= tol)) g_fail++;
}

static double run1(const char *label, gc_input **ins, int n, gc_fwd f, void *ud, bool f32act) {
    gc_opts o = {.h = 1e-2, .max_checks = 0, .f32_act = f32act};
    return gradcheck(label, ins, n, f, ud, &o);
}

static void test_linear_ops(void **state) {
    (void)state;
    g_fail = 0;
    rw_rng r;
    rw_rng_seed(&r, 1);
    gc_input w, x, x1, b, bb;
    op_ud u = {0};
    gc_input_init(&w, 5, 4, &r, 0.5, 0, "W");
    gc_input_init(&x, 5, 3, &r, 1, 0, "X");
    gc_input_init(&x1, 5, 1, &r, 1, 0, "x");
    gc_input *in2[2] = {&w, &x};
    check("matmul f32 (W and X)", run1("matmul", in2, 2, f_matmul, &u, false), TOL);
    gc_input *in2v[2] = {&w, &x1};
    check("matmul f32 M=1 (matvec)", run1("matvec", in2v, 2, f_matmul, &u, false), TOL);

    /* frozen quantized weights: gradient to X only */
    const rw_dtype qt[2] = {RW_DTYPE_Q8_0, RW_DTYPE_Q4_K};
    const int64_t qk[2] = {64, 256};
    for (int q = 0; q < 2; q++) {
        const int64_t K = qk[q], N = 6;
        float *wf = malloc((size_t)(K * N) * sizeof(float));
        for (int64_t i = 0; i < K * N; i++)
            wf[i] = (float)(0.2 * rw_rng_normal(&r));
        const kern_type_traits *tr = kern_type_get(qt[q]);
        size_t rb = kern_row_bytes(qt[q], K);
        unsigned char *wq = malloc(rb * (size_t)N);
        for (int64_t n = 0; n < N; n++)
            tr->from_float_ref(wf + n * K, wq + (size_t)n * rb, K);
        rw_tensor wt;
        int64_t ne[2] = {K, N};
        rw_tensor_init(&wt, qt[q], 2, ne, wq);
        gc_input xq;
        gc_input_init(&xq, K, 3, &r, 1, 0, "X");
        u.wq = &wt;
        gc_input *in1[1] = {&xq};
        check(q ? "matmul frozen q4_K -> dX" : "matmul frozen q8_0 -> dX",
              run1("matmul_q", in1, 1, f_matmul_frozen, &u, true), TOL);
        gc_input_free(&xq);
        free(wq);
        free(wf);
    }

    gc_input a, c;
    gc_input_init(&a, 7, 3, &r, 1, 0, "a");
    gc_input_init(&c, 7, 3, &r, 1, 0, "b");
    gc_input_init(&b, 7, 1, &r, 1, 0, "row");
    gc_input *ac[2] = {&a, &c}, *ab[2] = {&a, &b};
    check("add", run1("add", ac, 2, f_add, &u, false), TOL);
    check("add (row broadcast)", run1("add_b", ab, 2, f_add, &u, false), TOL);
    check("mul", run1("mul", ac, 2, f_mul, &u, false), TOL);
    check("mul (row broadcast)", run1("mul_b", ab, 2, f_mul, &u, false), TOL);
    u.s = -0.7f;
    check("scale", run1("scale", ac, 1, f_scale, &u, false), TOL);

    /* cosine-similarity matrix (through l2-normalised rows), and l2 alone */
    gc_input e1, e2;
    gc_input_init(&e1, 6, 3, &r, 1, 0, "A");
    gc_input_init(&e2, 6, 5, &r, 1, 0, "B");
    gc_input *ee[2] = {&e1, &e2};
    check("cossim (l2-normalised)", run1("cossim", ee, 2, f_cossim, &u, false), TOL);
    check("l2_normalize", run1("l2", ee, 1, f_l2, &u, false), TOL);

    gc_input v;
    gc_input_init(&v, 6, 4, &r, 1, 0, "x");
    gc_input *vv[1] = {&v};
    check("reshape + row views", run1("views", vv, 1, f_views, &u, false), TOL);
    u.n = 4;
    int32_t rows[4] = {2, 0, 2, 3};
    memcpy(u.rows, rows, sizeof(rows));
    check("gather rows (copy)", run1("gather", vv, 1, f_gather, &u, false), TOL);

    gc_input_free(&w);
    gc_input_free(&x);
    gc_input_free(&x1);
    gc_input_free(&a);
    gc_input_free(&c);
    gc_input_free(&b);
    gc_input_free(&e1);
    gc_input_free(&e2);
    gc_input_free(&v);
    (void)bb;
    assert_int_equal(g_fail, 0);
}

static void test_activations_norms(void **state) {
    (void)state;
    g_fail = 0;
    rw_rng r;
    rw_rng_seed(&r, 2);
    op_ud u = {0};
    gc_input g, up, x, w, b, tab;
    gc_input_init(&g, 9, 3, &r, 1.5, 0, "gate");
    gc_input_init(&up, 9, 3, &r, 1, 0, "up");
    gc_input *gu[2] = {&g, &up};
    const char *names[6] = {"silu", "gelu (tanh)", "gelu (erf)", "swiglu", "geglu", "softmax"};
    for (int k = 0; k < 6; k++) {
        u.kind = k;
        check(names[k], run1(names[k], gu, (k == 3 || k == 4) ? 2 : 1, f_act, &u, false), TOL);
    }
    gc_input_init(&x, 11, 4, &r, 1, 0.3, "x");
    gc_input_init(&w, 11, 1, &r, 0.3, 1, "w");
    gc_input_init(&b, 11, 1, &r, 0.3, 0, "b");
    gc_input *xw[3] = {&x, &w, &b};
    u.kind = 1;
    check("rmsnorm (x, w)", run1("rmsnorm", xw, 2, f_rmsnorm, &u, false), TOL);
    u.kind = 0;
    check("rmsnorm (no weight)", run1("rmsnorm0", xw, 1, f_rmsnorm, &u, false), TOL);
    check("layernorm (x, w, b)", run1("layernorm", xw, 3, f_layernorm, &u, false), TOL);
    gc_input xh, wh;
    gc_input_init(&xh, 12, 3, &r, 1, 0, "x");
    gc_input_init(&wh, 4, 1, &r, 0.3, 1, "w");
    gc_input *hh[2] = {&xh, &wh};
    check("rmsnorm per head (reshape)", run1("rmsnorm_heads", hh, 2, f_rmsnorm_heads, &u, false),
          TOL);
    gc_input_init(&tab, 5, 7, &r, 1, 0, "table");
    int32_t ids[6] = {3, 1, 3, 6, 0, 3};
    memcpy(u.ids, ids, sizeof(ids));
    u.n = 6;
    gc_input *tt[1] = {&tab};
    check("embed (f32 table, repeats)", run1("embed", tt, 1, f_embed, &u, false), TOL);
    gc_input_free(&g);
    gc_input_free(&up);
    gc_input_free(&x);
    gc_input_free(&w);
    gc_input_free(&b);
    gc_input_free(&xh);
    gc_input_free(&wh);
    gc_input_free(&tab);
    assert_int_equal(g_fail, 0);
}

static void test_rope_attention(void **state) {
    (void)state;
    g_fail = 0;
    rw_rng r;
    rw_rng_seed(&r, 3);
    op_ud u = {0};
    /* rope: 3 heads of D = 8, T = 4 at positions 5..8; normal full, neox with n_rot = 6 */
    gc_input x;
    gc_input_init(&x, 24, 4, &r, 1, 0, "x");
    gc_input *xx[1] = {&x};
    u.a = 3;
    u.b = 8;
    for (int t = 0; t < 4; t++)
        u.pos[t] = 5 + 3 * t;
    u.rope = (kern_rope_cfg){
        .mode = KERN_ROPE_NORMAL, .n_rot = 8, .freq_base = 10000.0f, .freq_scale = 1.0f};
    check("rope normal", run1("rope", xx, 1, f_rope, &u, false), TOL);
    u.rope = (kern_rope_cfg){
        .mode = KERN_ROPE_NEOX, .n_rot = 6, .freq_base = 1000000.0f, .freq_scale = 0.5f};
    check("rope neox (n_rot < D, scaled)", run1("rope_neox", xx, 1, f_rope, &u, false), TOL);
    /* Llama-3 frequency factors (a frozen {n_rot/2} tensor) */
    float ffv[4] = {1.0f, 2.5f, 8.0f, 1.5f};
    rw_tensor fft;
    int64_t nff[1] = {4};
    rw_tensor_init(&fft, RW_DTYPE_F32, 1, nff, ffv);
    u.ff = &fft;
    u.rope = (kern_rope_cfg){
        .mode = KERN_ROPE_NORMAL, .n_rot = 8, .freq_base = 500000.0f, .freq_scale = 1.0f};
    check("rope normal + freq factors", run1("rope_ff", xx, 1, f_rope, &u, false), TOL);
    u.rope.mode = KERN_ROPE_NEOX;
    check("rope neox + freq factors", run1("rope_ff_neox", xx, 1, f_rope, &u, false), TOL);
    u.ff = NULL;

    /* attention: H = 4, Hkv = 2 (GQA), D = 8 */
    const int64_t H = 4, Hkv = 2, D = 8, T = 5;
    gc_input q, k, v;
    gc_input_init(&q, H * D, T, &r, 0.7, 0, "q");
    gc_input_init(&k, Hkv * D, T, &r, 0.7, 0, "k");
    gc_input_init(&v, Hkv * D, T, &r, 1, 0, "v");
    gc_input *qkv[3] = {&q, &k, &v};
    u.attn = (infer_attn_cfg){.n_head = H,
                              .n_head_kv = Hkv,
                              .head_dim = D,
                              .scale = 1.0f / sqrtf((float)D),
                              .causal = true};
    check("attention causal GQA", run1("attn_causal", qkv, 3, f_attn, &u, false), TOL);
    u.attn.causal = false;
    u.attn.n_valid = 3;
    check("attention bidir + padding", run1("attn_pad", qkv, 3, f_attn, &u, false), TOL);
    /* queries continuing a longer key sequence (T=2 queries at positions 3,4 over S=5) */
    gc_input q2;
    gc_input_init(&q2, H * D, 2, &r, 0.7, 0, "q");
    gc_input *q2kv[3] = {&q2, &k, &v};
    u.attn = (infer_attn_cfg){
        .n_head = H, .n_head_kv = Hkv, .head_dim = D, .scale = 0.3f, .causal = true, .pos0 = 3};
    check("attention causal pos0=3, S>T", run1("attn_pos0", q2kv, 3, f_attn, &u, false), TOL);
    /* sliding window (gemma3 local layers): window 2 over the same layout, and T = S */
    u.attn.window = 2;
    check("attention sliding window pos0=3", run1("attn_swa_pos0", q2kv, 3, f_attn, &u, false),
          TOL);
    u.attn = (infer_attn_cfg){
        .n_head = H, .n_head_kv = Hkv, .head_dim = D, .scale = 0.35f, .causal = true, .window = 3};
    check("attention sliding window", run1("attn_swa", qkv, 3, f_attn, &u, false), TOL);
    /* packed batch of 2 sequences (3 + 2 rows), bidirectional and causal */
    int32_t lens[2] = {3, 2};
    u.attn = (infer_attn_cfg){.n_head = H,
                              .n_head_kv = Hkv,
                              .head_dim = D,
                              .scale = 0.35f,
                              .causal = false,
                              .seq_lens = lens,
                              .n_seq = 2};
    check("attention packed bidir", run1("attn_packed", qkv, 3, f_attn, &u, false), TOL);
    u.attn.causal = true;
    check("attention packed causal", run1("attn_packed_c", qkv, 3, f_attn, &u, false), TOL);
    /* MHA (Hkv == H) */
    gc_input k4, v4;
    gc_input_init(&k4, H * D, T, &r, 0.7, 0, "k");
    gc_input_init(&v4, H * D, T, &r, 1, 0, "v");
    gc_input *mha[3] = {&q, &k4, &v4};
    u.attn = (infer_attn_cfg){
        .n_head = H, .n_head_kv = H, .head_dim = D, .scale = 0.35f, .causal = true};
    check("attention causal MHA", run1("attn_mha", mha, 3, f_attn, &u, false), TOL);
    gc_input_free(&x);
    gc_input_free(&q);
    gc_input_free(&k);
    gc_input_free(&v);
    gc_input_free(&q2);
    gc_input_free(&k4);
    gc_input_free(&v4);
    assert_int_equal(g_fail, 0);
}

static void test_heads_losses(void **state) {
    (void)state;
    g_fail = 0;
    rw_rng r;
    rw_rng_seed(&r, 4);
    op_ud u = {0};
    gc_input z;
    gc_input_init(&z, 9, 6, &r, 1.5, 0, "logits");
    gc_input *zz[1] = {&z};
    int32_t tg[6] = {2, -1, 8, 0, -1, 2};
    memcpy(u.tg, tg, sizeof(tg));
    check("cross-entropy (ignore mask)", run1("ce", zz, 1, f_ce, &u, false), TOL);
    int32_t lens[3] = {2, 3, 1};
    memcpy(u.lens, lens, sizeof(lens));
    u.n = 3;
    check("mean-pool", run1("mean_pool", zz, 1, f_pool, &u, false), TOL);
    float labels[6] = {1, 0, 1, 0.25f, 0, 1};
    memcpy(u.labels, labels, sizeof(labels));
    check("bce yes/no (critic)", run1("bce", zz, 1, f_bce, &u, false), TOL);

    /* MNRL: 3 anchors, 3 positives + 3 hard negatives, scale 20 */
    gc_input an, cand;
    gc_input_init(&an, 8, 3, &r, 1, 0, "anchors");
    gc_input_init(&cand, 8, 6, &r, 1, 0, "cands");
    gc_input *ac[2] = {&an, &cand};
    u.s = 20.0f;
    check("mnrl / InfoNCE (scale 20)", run1("mnrl", ac, 2, f_mnrl, &u, false), TOL);
    gc_input_free(&z);
    gc_input_free(&an);
    gc_input_free(&cand);
    assert_int_equal(g_fail, 0);
}

/* Loss values against hand-computed formulas (independent of the backward). */
static void test_loss_values(void **state) {
    (void)state;
    rw_arena ar;
    assert_int_equal(rw_arena_init(&ar, 1 << 20, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, NULL, NULL);
    /* BCE: 2 rows of V = 3, yes = 0, no = 2; d = 1 - (-1) = 2 and d = 0.5 - 1 = -0.5 */
    float zv[6] = {1, 7, -1, 0.5f, -3, 1};
    rw_tensor zt;
    int64_t ne[2] = {3, 2};
    rw_tensor_init(&zt, RW_DTYPE_F32, 2, ne, zv);
    float lab[2] = {1, 0};
    rw_tensor *l = train_loss_bce_yesno(&ctx, &zt, lab, 0, 2);
    assert_non_null(l);
    /* -log sigmoid(2) = log(1+e^-2); -log(1 - sigmoid(-0.5)) = log(1+e^-0.5) */
    double want = 0.5 * (log(1 + exp(-2.0)) + log(1 + exp(-0.5)));
    assert_true(fabs(((float *)l->data)[0] - want) < 1e-6);
    /* MNRL with 2 anchors/2 candidates: anchors e1, e2; candidates e1, (e1+e2)/sqrt2 */
    float av[4] = {1, 0, 0, 2}, cv[4] = {3, 0, 1, 1};
    rw_tensor at, ct;
    int64_t ne2[2] = {2, 2};
    rw_tensor_init(&at, RW_DTYPE_F32, 2, ne2, av);
    rw_tensor_init(&ct, RW_DTYPE_F32, 2, ne2, cv);
    l = train_loss_mnrl(&ctx, &at, &ct, 20.0f);
    assert_non_null(l);
    const double c = 1 / sqrt(2.0);
    /* row 0: scores 20*(1, c), label 0; row 1: 20*(0, c), label 1 */
    double l0 = log(exp(20.0) + exp(20 * c)) - 20.0;
    double l1 = log(1 + exp(20 * c)) - 20 * c;
    assert_true(fabs(((float *)l->data)[0] - 0.5 * (l0 + l1)) < 1e-5);
    rw_arena_deinit(&ar);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_ops),     cmocka_unit_test(test_activations_norms),
        cmocka_unit_test(test_rope_attention), cmocka_unit_test(test_heads_losses),
        cmocka_unit_test(test_loss_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
