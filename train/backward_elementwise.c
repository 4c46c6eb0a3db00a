/* Backward of the elementwise ops, activations, embedding lookup and the data-movement
 * ops (reshape/row views, gather copies).
 *
 * Derivatives (x the op input, computed in double):
 *   silu(x) = x s(x), s the logistic:      s (1 + x (1 - s))
 *   gelu tanh: 0.5 x (1 + tanh u), u = c (x + 0.044715 x^3), c = sqrt(2/pi):
 *              0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) c (1 + 3 * 0.044715 x^2)
 *   gelu erf:  0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2/2) / sqrt(2 pi)
 * Row broadcast (add/mul with i[0] = 1): the broadcast row's gradient is the column sum
 * over rows, accumulated in row order. */
#include "train/autograd_internal.h"

#include <math.h>
#include <string.h>

#include "core/assert.h"

static const double GELU_C = 0.7978845608028654; /* sqrt(2/pi) */
static const double INV_SQRT_2PI = 0.3989422804014327;

static double sigm(double x) {
    return 1.0 / (1.0 + exp(-x));
}
static double silu_f(double x) {
    return x * sigm(x);
}
static double silu_d(double x) {
    double s = sigm(x);
    return s * (1.0 + x * (1.0 - s));
}
static double gelu_tanh_f(double x) {
    return 0.5 * x * (1.0 + tanh(GELU_C * (x + 0.044715 * x * x * x)));
}
static double gelu_tanh_d(double x) {
    double th = tanh(GELU_C * (x + 0.044715 * x * x * x));
    return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
}
static double gelu_erf_d(double x) {
    return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) * INV_SQRT_2PI;
}

void train_bwd_add_mul(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *a = r->src[0], *c = r->src[1];
    const int64_t C = a->ne[0], T = rw_tensor_nrows(a);
    const bool bcast = r->i[0] != 0;
    const bool mul = r->op == RW_OP_MUL;
    const float *av = a->data, *cv = c->data;
    float *da = train_bwd_grad(b, a);
    if (da) {
        for (int64_t t = 0; t < T; t++) {
            const float *crow = cv + (bcast ? 0 : t * C);
            for (int64_t j = 0; j < C; j++)
                da[t * C + j] += mul ? dy[t * C + j] * crow[j] : dy[t * C + j];
        }
    }
    float *dc = train_bwd_grad(b, c);
    if (dc) {
        for (int64_t t = 0; t < T; t++) {
            float *drow = dc + (bcast ? 0 : t * C);
            for (int64_t j = 0; j < C; j++)
                drow[j] += mul ? dy[t * C + j] * av[t * C + j] : dy[t * C + j];
        }
    }
}

void train_bwd_scale(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    float *da = train_bwd_grad(b, r->src[0]);
    if (!da) return;
    const int64_t n = rw_tensor_nelements(r->src[0]);
    const float s = r->f[0];
    for (int64_t i = 0; i < n; i++)
        da[i] += s * dy[i];
}

void train_bwd_activation(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    float *dx = train_bwd_grad(b, r->src[0]);
    if (!dx) return;
    const float *x = r->src[0]->data;
    const int64_t n = rw_tensor_nelements(r->src[0]);
    for (int64_t i = 0; i < n; i++) {
        const double xv = (double)x[i];
        double d;
        if (r->op == RW_OP_SILU)
            d = silu_d(xv);
        else
            d = r->i[0] ? gelu_erf_d(xv) : gelu_tanh_d(xv);
        dx[i] += (float)((double)dy[i] * d);
    }
}

void train_bwd_glu(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    const bool swi = r->op == RW_OP_SWIGLU;
    const float *g = r->src[0]->data, *u = r->src[1]->data;
    const int64_t n = rw_tensor_nelements(r->src[0]);
    float *dg = train_bwd_grad(b, r->src[0]);
    float *du = train_bwd_grad(b, r->src[1]);
    for (int64_t i = 0; i < n; i++) {
        const double gv = (double)g[i];
        if (dg)
            dg[i] += (float)((double)dy[i] * (double)u[i] * (swi ? silu_d(gv) : gelu_tanh_d(gv)));
        if (du) du[i] += (float)((double)dy[i] * (swi ? silu_f(gv) : gelu_tanh_f(gv)));
    }
}

void train_bwd_embed(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *table = r->src[0];
    float *dt = train_bwd_grad(b, table);
    if (!dt) return;
    const int32_t *ids = r->saved;
    const int64_t C = table->ne[0], n = rw_tensor_nrows(r->dst);
    for (int64_t t = 0; t < n; t++) {
        float *row = dt + (int64_t)ids[t] * C;
        for (int64_t j = 0; j < C; j++)
            row[j] += dy[t * C + j];
    }
}

void train_bwd_reshape(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0];
    float *dx = train_bwd_grad(b, x);
    if (!dx) return;
    const int64_t off = (int64_t)r->i[0] * x->ne[0], n = rw_tensor_nelements(r->dst);
    RW_ASSERT(off + n <= rw_tensor_nelements(x), "reshape backward: view outside its source");
    for (int64_t i = 0; i < n; i++)
        dx[off + i] += dy[i];
}

void train_bwd_copy(train_bwd *b, const rw_tape_rec *r, const float *dy) {
    rw_tensor *x = r->src[0];
    float *dx = train_bwd_grad(b, x);
    if (!dx) return;
    const int32_t *rows = r->saved;
    const int64_t C = x->ne[0], n = rw_tensor_nrows(r->dst);
    for (int64_t k = 0; k < n; k++) {
        float *row = dx + (int64_t)rows[k] * C;
        for (int64_t j = 0; j < C; j++)
            row[j] += dy[k * C + j];
    }
}
