/* infer/ops.h: every op against a naive double-precision implementation written here, and
 * the tape records (which ops record, what they point to and save). */
/* The naive references below mix float data into double arithmetic on purpose. */
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tape.h"
#include "infer/ops.h"
#include "kernels/quant.h"
#include "rw_test.h"

typedef struct fx {
    rw_arena arena;
    rw_tape tape;
    infer_ctx ctx;
    rw_rng rng;
} fx;

static int setup(void **state) {
    fx *f = calloc(1, sizeof(fx));
    if (rw_arena_init(&f->arena, 64u << 20, NULL) != RW_OK) return -1;
    rw_tape_init(&f->tape);
    infer_ctx_init(&f->ctx, &f->arena, NULL, NULL);
    rw_rng_seed(&f->rng, 12345);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx *f = *state;
    rw_tape_deinit(&f->tape);
    rw_arena_deinit(&f->arena);
    free(f);
    return 0;
}

static rw_tensor *rand2(fx *f, int64_t c, int64_t t, double sd) {
    rw_tensor *x = infer_new_2d(&f->ctx, c, t);
    float *d = x->data;
    for (int64_t i = 0; i < c * t; i++)
        d[i] = (float)(sd * rw_rng_normal(&f->rng));
    return x;
}

static float *fl(rw_tensor *t) {
    return (float *)t->data;
}

static void test_matmul_f32_and_q8(void **state) {
    fx *f = *state;
    const int64_t K = 64, N = 37, T = 5;
    rw_tensor *w = rand2(f, K, N, 0.1), *x = rand2(f, K, T, 1.0);
    double *ref = malloc((size_t)(N * T) * sizeof(double));
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double a = 0;
            for (int64_t k = 0; k < K; k++)
                a += (double)fl(w)[n * K + k] * (double)fl(x)[t * K + k];
            ref[t * N + n] = a;
        }
    rw_tensor *y = infer_op_matmul(&f->ctx, w, x);
    assert_non_null(y);
    assert_int_equal(y->ne[0], N);
    assert_int_equal(y->ne[1], T);
    for (int64_t i = 0; i < N * T; i++)
        assert_true(fabs((double)fl(y)[i] - ref[i]) < 1e-5);
    /* one row (decode path) */
    rw_tensor *x1 = infer_rows(&f->ctx, x, 2, 1);
    rw_tensor *y1 = infer_op_matmul(&f->ctx, w, x1);
    for (int64_t n = 0; n < N; n++)
        assert_true(fabs((double)fl(y1)[n] - ref[2 * N + n]) < 1e-5);
    /* Q8_0 weight: exact path equals the product with the dequantized weight */
    size_t rb = kern_row_bytes(RW_DTYPE_Q8_0, K);
    void *q = malloc(rb * (size_t)N);
    kern_quantize(RW_DTYPE_Q8_0, fl(w), q, N, K);
    float *wd = malloc((size_t)(N * K) * sizeof(float));
    kern_dequantize(RW_DTYPE_Q8_0, q, wd, N, K);
    int64_t ne[2] = {K, N};
    rw_tensor wq;
    assert_true(rw_tensor_init(&wq, RW_DTYPE_Q8_0, 2, ne, q));
    f->ctx.f32_activations = true;
    rw_tensor *yq = infer_op_matmul(&f->ctx, &wq, x);
    f->ctx.f32_activations = false;
    rw_tensor *yq8 = infer_op_matmul(&f->ctx, &wq, x);
    double worst8 = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            double a = 0;
            for (int64_t k = 0; k < K; k++)
                a += (double)wd[n * K + k] * (double)fl(x)[t * K + k];
            assert_true(fabs((double)fl(yq)[t * N + n] - a) < 1e-5);
            worst8 = fmax(worst8, fabs((double)fl(yq8)[t * N + n] - a));
        }
    assert_true(worst8 < 0.05); /* 8-bit activations: small but nonzero error */
    free(q);
    free(wd);
    free(ref);
}

static void test_norms_and_activations(void **state) {
    fx *f = *state;
    const int64_t C = 48, T = 3;
    rw_tensor *x = rand2(f, C, T, 2.0), *w = rand2(f, C, 1, 1.0), *b = rand2(f, C, 1, 1.0);
    rw_tensor *r = infer_op_rmsnorm(&f->ctx, x, w, 1e-5f);
    rw_tensor *l = infer_op_layernorm(&f->ctx, x, w, b, 1e-12f);
    rw_tensor *g = infer_op_gelu(&f->ctx, x, false);
    rw_tensor *sw = infer_op_swiglu(&f->ctx, x, w == NULL ? x : x);
    rw_tensor *sm = infer_op_softmax(&f->ctx, x);
    rw_tensor *ad = infer_op_add(&f->ctx, x, b); /* broadcast row */
    for (int64_t t = 0; t < T; t++) {
        const float *xr = fl(x) + t * C;
        double ss = 0, mu = 0, var = 0, mx = -1e30, se = 0;
        for (int64_t c = 0; c < C; c++) {
            ss += (double)xr[c] * xr[c];
            mu += xr[c];
            mx = fmax(mx, xr[c]);
        }
        mu /= (double)C;
        for (int64_t c = 0; c < C; c++) {
            var += ((double)xr[c] - mu) * ((double)xr[c] - mu);
            se += exp((double)xr[c] - mx);
        }
        var /= (double)C;
        double rr = 1 / sqrt(ss / (double)C + 1e-5), rl = 1 / sqrt(var + 1e-12);
        for (int64_t c = 0; c < C; c++) {
            double xv = xr[c], wv = fl(w)[c], bv = fl(b)[c];
            assert_true(fabs(fl(r)[t * C + c] - xv * rr * wv) < 1e-5);
            assert_true(fabs(fl(l)[t * C + c] - ((xv - mu) * rl * wv + bv)) < 1e-5);
            double gt =
                0.5 * xv *
                (1 + tanh(sqrt(2 / 3.14159265358979323846) * (xv + 0.044715 * xv * xv * xv)));
            assert_true(fabs(fl(g)[t * C + c] - gt) < 1e-5);
            assert_true(fabs(fl(sw)[t * C + c] - xv / (1 + exp(-xv)) * xv) < 1e-4);
            assert_true(fabs(fl(sm)[t * C + c] - exp(xv - mx) / se) < 1e-6);
            assert_true(fabs(fl(ad)[t * C + c] - (xv + bv)) < 1e-6);
        }
    }
}

/* naive rope on one head vector */
static void rope_ref(double *v, int64_t D, int64_t n_rot, int pos, double base, bool neox,
                     const float *ff) {
    for (int64_t i = 0; i < n_rot / 2; i++) {
        double th = pos * pow(base, -2.0 * (double)i / (double)n_rot) / (ff ? ff[i] : 1.0);
        int64_t a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        double xa = v[a], xb = v[b];
        v[a] = xa * cos(th) - xb * sin(th);
        v[b] = xa * sin(th) + xb * cos(th);
    }
    (void)D;
}

static void test_rope_attention(void **state) {
    fx *f = *state;
    const int64_t H = 4, Hkv = 2, D = 16, T = 6;
    int32_t pos[6] = {0, 1, 2, 3, 4, 5};
    rw_tensor *q = rand2(f, H * D, T, 1.0), *k = rand2(f, Hkv * D, T, 1.0),
              *v = rand2(f, Hkv * D, T, 1.0);
    rw_tensor *ff = rand2(f, D / 2, 1, 0.5);
    for (int64_t i = 0; i < D / 2; i++)
        ((float *)ff->data)[i] = 1.0f + fabsf(((float *)ff->data)[i]);
    for (int variant = 0; variant < 4; variant++) {
        const int neox = variant & 1;
        rw_tensor *fac = variant >= 2 ? ff : NULL;
        kern_rope_cfg cfg = {neox ? KERN_ROPE_NEOX : KERN_ROPE_NORMAL, (size_t)D, 10000.f, 1.f};
        rw_tensor *qr = infer_op_rope(&f->ctx, q, H, D, pos, &cfg, fac);
        for (int64_t t = 0; t < T; t++)
            for (int64_t h = 0; h < H; h++) {
                double vv[16];
                for (int64_t d = 0; d < D; d++)
                    vv[d] = fl(q)[t * H * D + h * D + d];
                rope_ref(vv, D, D, pos[t], 10000., neox, fac ? fl(fac) : NULL);
                for (int64_t d = 0; d < D; d++)
                    assert_true(fabs(fl(qr)[t * H * D + h * D + d] - vv[d]) < 1e-5);
            }
    }
    infer_attn_cfg ac = {
        .n_head = H, .n_head_kv = Hkv, .head_dim = D, .scale = 0.25f, .causal = true};
    rw_tensor *o = infer_op_attention(&f->ctx, q, k, v, &ac);
    assert_non_null(o);
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++) {
            int64_t g = h / (H / Hkv);
            double s[6], mx = -1e30, z = 0;
            for (int64_t j = 0; j <= t; j++) {
                double a = 0;
                for (int64_t d = 0; d < D; d++)
                    a += (double)fl(q)[t * H * D + h * D + d] * fl(k)[j * Hkv * D + g * D + d];
                s[j] = 0.25 * a;
                mx = fmax(mx, s[j]);
            }
            for (int64_t j = 0; j <= t; j++)
                z += exp(s[j] - mx);
            for (int64_t d = 0; d < D; d++) {
                double acc = 0;
                for (int64_t j = 0; j <= t; j++)
                    acc += exp(s[j] - mx) / z * fl(v)[j * Hkv * D + g * D + d];
                assert_true(fabs(fl(o)[t * H * D + h * D + d] - acc) < 1e-5);
            }
        }
    /* packed batch of two sequences, bidirectional: equals running each alone */
    int32_t lens[2] = {2, 4};
    infer_attn_cfg pc = {
        .n_head = H, .n_head_kv = Hkv, .head_dim = D, .scale = 0.25f, .seq_lens = lens, .n_seq = 2};
    rw_tensor *po = infer_op_attention(&f->ctx, q, k, v, &pc);
    infer_attn_cfg sc = {.n_head = H, .n_head_kv = Hkv, .head_dim = D, .scale = 0.25f};
    rw_tensor *o2 =
        infer_op_attention(&f->ctx, infer_rows(&f->ctx, q, 2, 4), infer_rows(&f->ctx, k, 2, 4),
                           infer_rows(&f->ctx, v, 2, 4), &sc);
    rw_assert_allclose(fl(po) + 2 * H * D, fl(o2), (size_t)(4 * H * D), 1e-6, 0);
}

static void test_pool_norm_cossim_ce(void **state) {
    fx *f = *state;
    const int64_t C = 8;
    rw_tensor *x = rand2(f, C, 5, 1.0);
    int32_t lens[2] = {2, 3};
    rw_tensor *mp = infer_op_mean_pool(&f->ctx, x, lens, 2);
    for (int64_t c = 0; c < C; c++) {
        assert_true(fabs(fl(mp)[c] - (fl(x)[c] + fl(x)[C + c]) / 2) < 1e-6);
        assert_true(fabs(fl(mp)[C + c] -
                         (fl(x)[2 * C + c] + fl(x)[3 * C + c] + fl(x)[4 * C + c]) / 3) < 1e-6);
    }
    rw_tensor *n = infer_op_l2_normalize(&f->ctx, mp);
    rw_tensor *cs = infer_op_cossim(&f->ctx, n, n);
    double d01 = 0, n0 = 0, n1 = 0;
    for (int64_t c = 0; c < C; c++) {
        d01 += (double)fl(mp)[c] * fl(mp)[C + c];
        n0 += (double)fl(mp)[c] * fl(mp)[c];
        n1 += (double)fl(mp)[C + c] * fl(mp)[C + c];
    }
    assert_true(fabs(fl(cs)[1] - d01 / sqrt(n0 * n1)) < 1e-6);
    assert_true(fabs(fl(cs)[0] - 1) < 1e-6);
    int32_t tg[5] = {1, -1, 7, 0, 3};
    rw_tensor *ce = infer_op_cross_entropy(&f->ctx, x, tg);
    double L = 0;
    for (int t = 0; t < 5; t++) {
        if (tg[t] < 0) continue;
        double z = 0;
        for (int64_t c = 0; c < C; c++)
            z += exp((double)fl(x)[t * C + c]);
        L += log(z) - fl(x)[t * C + tg[t]];
    }
    assert_true(fabs(fl(ce)[0] - L / 4) < 1e-5);
    int32_t ids[3] = {4, 0, 4};
    rw_tensor *e = infer_op_embed(&f->ctx, x, ids, 3);
    assert_memory_equal(fl(e), fl(x) + 4 * C, C * sizeof(float));
    assert_memory_equal(fl(e) + C, fl(x), C * sizeof(float));
}

static void test_tape_records(void **state) {
    fx *f = *state;
    f->ctx.tape = &f->tape;
    const int64_t K = 16, R = 4, T = 3;
    rw_tensor *w = rand2(f, K, 8, 0.1); /* frozen */
    rw_tensor *a = rand2(f, K, R, 0.1); /* LoRA A: param */
    rw_tensor *x = rand2(f, K, T, 1.0), *nw = rand2(f, K, 1, 1.0);
    a->flags |= RW_TENSOR_PARAM;
    /* frozen path: nothing recorded */
    rw_tensor *n = infer_op_rmsnorm(&f->ctx, x, nw, 1e-5f);
    rw_tensor *y = infer_op_matmul(&f->ctx, w, n);
    assert_int_equal(f->tape.n, 0);
    assert_false(rw_tensor_needs_grad(y));
    /* path from a parameter: matmul, scale, rmsnorm recorded with their inputs */
    rw_tensor *ax = infer_op_matmul(&f->ctx, a, n);
    rw_tensor *s = infer_op_scale(&f->ctx, ax, 0.5f);
    rw_tensor *r = infer_op_rmsnorm(&f->ctx, s, NULL, 1e-6f);
    int32_t ids[3] = {0, 1, 2};
    rw_tensor *ce = infer_op_cross_entropy(&f->ctx, r, ids);
    assert_non_null(ce);
    assert_int_equal(f->tape.n, 4);
    rw_tape_rec *rc = f->tape.recs;
    assert_int_equal(rc[0].op, RW_OP_MATMUL);
    assert_ptr_equal(rc[0].src[0], a);
    assert_ptr_equal(rc[0].src[1], n);
    assert_ptr_equal(rc[0].dst, ax);
    assert_true(ax->flags & RW_TENSOR_NEEDS_GRAD);
    assert_int_equal(rc[1].op, RW_OP_SCALE);
    assert_true(rc[1].f[0] == 0.5f);
    assert_int_equal(rc[2].op, RW_OP_RMSNORM);
    assert_int_equal(rc[2].saved_len, T * sizeof(float));
    /* saved rstd = 1/sqrt(mean(s^2)+eps), checked naively */
    for (int64_t t = 0; t < T; t++) {
        double ss = 0;
        for (int64_t c = 0; c < R; c++)
            ss += (double)fl(s)[t * R + c] * fl(s)[t * R + c];
        assert_true(fabs(((float *)rc[2].saved)[t] - 1 / sqrt(ss / R + 1e-6)) < 1e-4);
    }
    assert_int_equal(rc[3].op, RW_OP_CROSS_ENTROPY);
    assert_memory_equal(rc[3].saved, ids, sizeof(ids));
    rw_tape_clear(&f->tape);
    f->ctx.tape = NULL;
}

/* Rope with frequency factors (infer_rope_ff_f32: per-call inverse-frequency table, f32
 * rotation) against the scalar formula in double: long heads (several cos/sin chunks),
 * partial rotation (n_rot < D: the rest passes through), large positions with linear
 * scaling, row stride > H*D, in place, and the inverse rotation (rope's backward). */
static void test_rope_freq_factors(void **state) {
    fx *f = *state;
    const struct {
        int64_t H, D, n_rot;
        bool neox;
        float scale;
    } cs[] = {{3, 128, 128, false, 1.0f},
              {2, 320, 288, true, 0.5f},
              {4, 64, 32, false, 0.25f},
              {1, 400, 400, true, 1.0f}};
    const int32_t pos[5] = {0, 1, 777, 31000, 131071};
    const int64_t T = 5;
    for (size_t c = 0; c < sizeof(cs) / sizeof(cs[0]); c++) {
        const int64_t H = cs[c].H, D = cs[c].D, nr = cs[c].n_rot, stride = H * D + 3;
        kern_rope_cfg cfg = {cs[c].neox ? KERN_ROPE_NEOX : KERN_ROPE_NORMAL, (size_t)nr, 500000.f,
                             cs[c].scale};
        float *ff = malloc(sizeof(float) * (size_t)(nr / 2));
        for (int64_t i = 0; i < nr / 2; i++) /* llama3-like: 1 for high frequencies, then up to 8 */
            ff[i] = i < nr / 8 ? 1.0f : 1.0f + 7.0f * (float)rw_rng_uniform(&f->rng);
        float *x = malloc(sizeof(float) * (size_t)(stride * T)),
              *y = malloc(sizeof(float) * (size_t)(stride * T)),
              *z = malloc(sizeof(float) * (size_t)(stride * T));
        for (int64_t i = 0; i < stride * T; i++)
            x[i] = y[i] = z[i] = (float)rw_rng_normal(&f->rng);
        for (int inv = 0; inv < 2; inv++) {
            infer_rope_ff_f32(y, x, (size_t)stride, pos, T, H, D, &cfg, ff, inv == 1);
            memcpy(z, x, sizeof(float) * (size_t)(stride * T));
            infer_rope_ff_f32(z, z, (size_t)stride, pos, T, H, D, &cfg, ff, inv == 1);
            for (int64_t t = 0; t < T; t++)
                for (int64_t h = 0; h < H; h++) {
                    const float *xh = x + t * stride + h * D;
                    for (int64_t i = 0; i < nr / 2; i++) {
                        double th = pos[t] * (double)cs[c].scale *
                                    pow(500000.0, -2.0 * (double)i / (double)nr) / ff[i];
                        if (inv) th = -th;
                        int64_t a = cs[c].neox ? i : 2 * i, b = cs[c].neox ? i + nr / 2 : 2 * i + 1;
                        double ya = xh[a] * cos(th) - xh[b] * sin(th),
                               yb = xh[a] * sin(th) + xh[b] * cos(th);
                        const size_t o = (size_t)(t * stride + h * D);
                        assert_true(fabs(y[o + a] - ya) < 2e-6 && fabs(y[o + b] - yb) < 2e-6);
                        assert_true(z[o + a] == y[o + a] && z[o + b] == y[o + b]);
                    }
                    for (int64_t d = nr; d < D; d++) /* pass-through, exactly */
                        assert_true(y[t * stride + h * D + d] == xh[d] &&
                                    z[t * stride + h * D + d] == xh[d]);
                }
        }
        free(ff);
        free(x);
        free(y);
        free(z);
    }
}

static void test_arena_full(void **state) {
    (void)state;
    rw_arena small;
    assert_int_equal(rw_arena_init(&small, 4096, NULL), RW_OK);
    infer_ctx ctx;
    infer_ctx_init(&ctx, &small, NULL, NULL);
    rw_tensor *a = infer_new_2d(&ctx, 1024, 4); /* 16 KiB: does not fit */
    assert_null(a);
    assert_int_equal(ctx.status, RW_E_NOMEM);
    assert_null(infer_op_silu(&ctx, a)); /* errors propagate */
    rw_err e;
    assert_int_equal(infer_ctx_error(&ctx, &e), RW_E_NOMEM);
    assert_non_null(strstr(e.msg, "arena"));
    rw_arena_deinit(&small);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matmul_f32_and_q8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_norms_and_activations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rope_attention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_norm_cossim_ce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tape_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rope_freq_factors, setup, teardown),
        cmocka_unit_test(test_arena_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
