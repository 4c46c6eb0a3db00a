/* Finite-difference gradient checker shared by the train_grad tests.
 *
 * For a forward f(inputs) -> y (run through infer's ops), the objective is a fixed random
 * linear functional L = sum_i w_i y_i evaluated in double. The analytic gradient comes from
 * train_backward seeded with w; the numeric one from central differences
 * (L(x + h) - L(x - h)) / (x+h - x-h) with the perturbed values rounded to f32 (the actual
 * step is used as the denominator). Error metric per input tensor: max |analytic - numeric|
 * divided by max(max |numeric|, 1e-6) over the checked entries: a relative error at the
 * scale of that tensor's gradient, insensitive to the near-zero entries where a pointwise
 * relative error is meaningless. */
#ifndef TESTS_TRAIN_GRAD_GRADCHECK_H
#define TESTS_TRAIN_GRAD_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/rng.h"
#include "core/tape.h"
#include "infer/ops.h"
#include "train/autograd.h"

typedef rw_tensor *(*gc_fwd)(infer_ctx *ctx, rw_tensor **in, void *ud);

typedef struct gc_input {
    rw_tensor t, g; /* the parameter and its gradient descriptor */
    float *data, *grad;
} gc_input;

/* A PARAM input {ne0, ne1} with N(mean, sd) values. */
static inline void gc_input_init(gc_input *x, int64_t ne0, int64_t ne1, rw_rng *r, double sd,
                                 double mean, const char *name) {
    size_t n = (size_t)(ne0 * ne1);
    x->data = malloc(n * sizeof(float));
    x->grad = calloc(n, sizeof(float));
    for (size_t i = 0; i < n; i++)
        x->data[i] = (float)(mean + sd * rw_rng_normal(r));
    int64_t ne[2] = {ne0, ne1};
    rw_tensor_init(&x->t, RW_DTYPE_F32, 2, ne, x->data);
    rw_tensor_init(&x->g, RW_DTYPE_F32, 2, ne, x->grad);
    x->t.name = name;
    x->t.flags = RW_TENSOR_PARAM;
    x->t.grad = &x->g;
}

static inline void gc_input_free(gc_input *x) {
    free(x->data);
    free(x->grad);
}

typedef struct gc_opts {
    double h;          /* step (default 1e-2) */
    size_t max_checks; /* entries checked per input (random subset beyond this; 0 = all) */
    bool f32_act;      /* ctx->f32_activations */
    rw_pool *pool;
} gc_opts;

static inline double gc_eval(rw_arena *ar, const gc_opts *o, gc_fwd f, rw_tensor **in, void *ud,
                             const float *w) {
    rw_arena_reset(ar);
    infer_ctx ctx;
    infer_ctx_init(&ctx, ar, o->pool, NULL);
    ctx.f32_activations = o->f32_act;
    rw_tensor *y = f(&ctx, in, ud);
    if (!y) {
        fprintf(stderr, "gradcheck: forward failed: %s\n", ctx.err.msg);
        abort();
    }
    const float *yv = y->data;
    double L = 0;
    for (int64_t i = 0; i < rw_tensor_nelements(y); i++)
        L += (double)w[i] * (double)yv[i];
    return L;
}

/* Returns the largest per-input relative error (see above); prints one table row. */
static inline double gradcheck(const char *label, gc_input **ins, int n_in, gc_fwd f, void *ud,
                               const gc_opts *opts) {
    gc_opts o = *opts;
    if (o.h <= 0) o.h = 1e-2;
    rw_arena ar;
    if (rw_arena_init(&ar, (size_t)64 << 20, NULL) != RW_OK) abort();
    rw_tape tape;
    rw_tape_init(&tape);
    rw_tensor *in[8];
    for (int k = 0; k < n_in; k++) {
        in[k] = &ins[k]->t;
        memset(ins[k]->grad, 0, (size_t)rw_tensor_nelements(in[k]) * sizeof(float));
    }
    infer_ctx ctx;
    infer_ctx_init(&ctx, &ar, o.pool, &tape);
    ctx.f32_activations = o.f32_act;
    rw_tensor *y = f(&ctx, in, ud);
    if (!y) {
        fprintf(stderr, "gradcheck %s: forward failed: %s\n", label, ctx.err.msg);
        abort();
    }
    const size_t ny = (size_t)rw_tensor_nelements(y);
    float *w = malloc(ny * sizeof(float));
    rw_rng r;
    rw_rng_seed(&r, 99);
    for (size_t i = 0; i < ny; i++)
        w[i] = ny == 1 ? 1.0f : (float)rw_rng_normal(&r);
    rw_err e;
    rw_status st = train_backward(&ctx, y, w, 1.0f, &e);
    if (st != RW_OK) {
        fprintf(stderr, "gradcheck %s: backward failed: %s\n", label, e.msg);
        abort();
    }
    rw_tape_deinit(&tape);
    double worst = 0;
    for (int k = 0; k < n_in; k++) {
        const size_t n = (size_t)rw_tensor_nelements(in[k]);
        float *an = malloc(n * sizeof(float));
        memcpy(an, ins[k]->grad, n * sizeof(float));
        size_t nchk = o.max_checks && o.max_checks < n ? o.max_checks : n;
        double maxnum = 0, maxdiff = 0;
        size_t at = 0;
        for (size_t c = 0; c < nchk; c++) {
            size_t i = nchk == n ? c : (size_t)rw_rng_below(&r, n);
            float *x = ins[k]->data;
            const float x0 = x[i];
            const float xp = (float)((double)x0 + o.h), xm = (float)((double)x0 - o.h);
            x[i] = xp;
            double lp = gc_eval(&ar, &o, f, in, ud, w);
            x[i] = xm;
            double lm = gc_eval(&ar, &o, f, in, ud, w);
            x[i] = x0;
            double num = (lp - lm) / ((double)xp - (double)xm);
            double diff = fabs(num - (double)an[i]);
            if (fabs(num) > maxnum) maxnum = fabs(num);
            if (diff > maxdiff) {
                maxdiff = diff;
                at = i;
            }
        }
        double rel = maxdiff / (maxnum > 1e-6 ? maxnum : 1e-6);
        if (rel > worst) worst = rel;
        printf("  %-28s input %d (%-6s n=%5zu checked %4zu): max rel err %.2e (at %zu, |g|max "
               "%.3g)\n",
               label, k, in[k]->name ? in[k]->name : "?", n, nchk, rel, at, maxnum);
        free(an);
    }
    free(w);
    rw_arena_deinit(&ar);
    return worst;
}

#endif
