/* AdamW, schedules, clipping and the finite-value detector (train/optim.h).
 * Reference for the update: torch.optim.AdamW (single-tensor, non-amsgrad, non-fused path):
 * decoupled decay first, then moments, bias corrections bc1 = 1 - b1^t, bc2 = 1 - b2^t,
 * p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps). Scalars in double, storage f32. */
#include "train/optim.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"

void train_adamw_cfg_default(train_adamw_cfg *cfg) {
    cfg->beta1 = 0.9;
    cfg->beta2 = 0.999;
    cfg->eps = 1e-8;
    cfg->weight_decay = 0.01;
}

rw_status train_adamw_init(train_adamw *o, size_t n, const train_adamw_cfg *cfg, rw_err *err) {
    memset(o, 0, sizeof(*o));
    if (cfg)
        o->cfg = *cfg;
    else
        train_adamw_cfg_default(&o->cfg);
    o->m = rw_calloc(n ? n : 1, sizeof(float));
    o->v = rw_calloc(n ? n : 1, sizeof(float));
    if (!o->m || !o->v) {
        rw_free(o->m);
        rw_free(o->v);
        memset(o, 0, sizeof(*o));
        return rw_err_set(err, RW_E_NOMEM, "AdamW moments: 2 x %zu floats", n);
    }
    o->n = n;
    return RW_OK;
}

void train_adamw_deinit(train_adamw *o) {
    if (!o) return;
    rw_free(o->m);
    rw_free(o->v);
    memset(o, 0, sizeof(*o));
}

void train_adamw_step(train_adamw *o, float *params, const float *grads, float lr) {
    o->t++;
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const double bc1 = 1.0 - pow(b1, (double)o->t), bc2 = 1.0 - pow(b2, (double)o->t);
    const double step = (double)lr / bc1, sbc2 = sqrt(bc2);
    const double decay = 1.0 - (double)lr * o->cfg.weight_decay;
    for (size_t i = 0; i < o->n; i++) {
        const double g = (double)grads[i];
        double p = (double)params[i] * decay;
        const double m = b1 * (double)o->m[i] + (1.0 - b1) * g;
        const double v = b2 * (double)o->v[i] + (1.0 - b2) * g * g;
        o->m[i] = (float)m;
        o->v[i] = (float)v;
        p -= step * m / (sqrt(v) / sbc2 + eps);
        params[i] = (float)p;
    }
}

float train_sched_lr(const train_sched *s, int64_t step) {
    if (step < 0) step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps)
        return (float)((double)s->lr * (double)(step + 1) / (double)s->warmup_steps);
    if (s->kind == TRAIN_SCHED_CONSTANT) return s->lr;
    const int64_t span = s->total_steps - s->warmup_steps;
    double p = (double)(step - s->warmup_steps) / (double)(span > 1 ? span : 1);
    if (p < 0) p = 0;
    if (p > 1) p = 1;
    const double hi = (double)s->lr, lo = (double)s->min_lr;
    double f =
        s->kind == TRAIN_SCHED_LINEAR ? 1.0 - p : 0.5 * (1.0 + cos(3.14159265358979323846 * p));
    return (float)(lo + (hi - lo) * f);
}

rw_status train_sched_kind_parse(const char *s, train_sched_kind *out, rw_err *err) {
    static const char *const names[] = {"constant", "linear", "cosine"};
    for (int i = 0; i < 3; i++)
        if (s && strcmp(s, names[i]) == 0) {
            *out = (train_sched_kind)i;
            return RW_OK;
        }
    return rw_err_set(err, RW_E_INVALID,
                      "learning-rate schedule '%s' is not one of constant, linear, cosine",
                      s ? s : "(null)");
}

double train_grad_norm(const float *g, size_t n) {
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (double)g[i] * (double)g[i];
    return sqrt(acc);
}

double train_clip_grad_norm(float *g, size_t n, double max_norm) {
    RW_ASSERT(max_norm > 0, "clip: max_norm must be > 0");
    const double norm = train_grad_norm(g, n);
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) train_grad_scale(g, n, (float)coef);
    return norm;
}

void train_grad_scale(float *g, size_t n, float s) {
    for (size_t i = 0; i < n; i++)
        g[i] *= s;
}

rw_status train_check_finite(const float *x, size_t n, const char *what, rw_err *err) {
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            if (!bad) first = i;
            bad++;
        }
    if (!bad) return RW_OK;
    return rw_err_set(err, RW_E_NUMERIC,
                      "%s: %zu of %zu values are not finite (first at index %zu: %g); lower the "
                      "learning rate or enable gradient clipping",
                      what ? what : "values", bad, n, first, (double)x[first]);
}

rw_status train_check_loss(float loss, int64_t step, rw_err *err) {
    if (isfinite(loss)) return RW_OK;
    return rw_err_set(err, RW_E_NUMERIC, "loss is %g at step %lld (diverged)", (double)loss,
                      (long long)step);
}
