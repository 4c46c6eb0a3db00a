/* AdamW, learning-rate schedules, global-norm clipping, gradient accumulation helpers and
 * the NaN/Inf detector. Everything works on flat f32 blocks (train/lora.h layout): the
 * optimiser step is one loop over params, grads and the two moment blocks.
 *
 * AdamW follows torch.optim.AdamW (decoupled weight decay, bias correction, eps outside
 * the square root), step t counted from 1:
 *   p  <- p * (1 - lr * wd)
 *   m  <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
 *   p  <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * Gradient accumulation: backward adds into the gradient block; seed each micro-batch's
 * backward with scale 1/n_micro (train_backward), step once, then zero the block. */
#ifndef TRAIN_OPTIM_H
#define TRAIN_OPTIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct train_adamw_cfg {
    /* double like torch's Python-float hyper-parameters (1 - beta2 is exact enough) */
    double beta1, beta2, eps, weight_decay; /* defaults 0.9, 0.999, 1e-8, 0.01 (torch) */
} train_adamw_cfg;

void train_adamw_cfg_default(train_adamw_cfg *cfg);

typedef struct train_adamw {
    train_adamw_cfg cfg;
    size_t n;
    float *m, *v; /* owned moment blocks, n floats each (checkpoints save/restore them) */
    int64_t t;    /* steps taken so far (checkpointed) */
} train_adamw;

/* Allocates zeroed moments for n parameters. RW_E_NOMEM. */
rw_status train_adamw_init(train_adamw *o, size_t n, const train_adamw_cfg *cfg, rw_err *err);
void train_adamw_deinit(train_adamw *o);
/* One step at learning rate lr over params[n] with grads[n] (t advances first). */
void train_adamw_step(train_adamw *o, float *params, const float *grads, float lr);

typedef enum train_sched_kind {
    TRAIN_SCHED_CONSTANT = 0,
    TRAIN_SCHED_LINEAR, /* warm-up then linear decay to min_lr at total_steps */
    TRAIN_SCHED_COSINE, /* warm-up then half-cosine decay to min_lr at total_steps */
} train_sched_kind;

typedef struct train_sched {
    train_sched_kind kind;
    float lr;             /* peak learning rate */
    float min_lr;         /* floor of the decay (0 as in HF's schedules) */
    int64_t warmup_steps; /* lr ramps (step+1)/warmup * lr over steps [0, warmup) */
    int64_t total_steps;  /* decay ends here (>= warmup) */
} train_sched;

/* Learning rate at 0-based optimiser step `step` (the value used by that step):
 *   step < warmup:            lr * (step + 1) / warmup
 *   then p = (step - warmup) / max(1, total - warmup), clamped to [0, 1]:
 *   constant: lr;  linear: min + (lr - min)(1 - p);  cosine: min + (lr - min)(1 + cos(pi p))/2 */
float train_sched_lr(const train_sched *s, int64_t step);
/* Parses "constant" / "linear" / "cosine"; RW_E_INVALID names the value. */
rw_status train_sched_kind_parse(const char *s, train_sched_kind *out, rw_err *err);

/* sqrt(sum g^2) accumulated in double in index order. */
double train_grad_norm(const float *g, size_t n);
/* Global-norm clipping: when the norm exceeds max_norm (> 0) scales g by max_norm/(norm+1e-6)
 * like torch.nn.utils.clip_grad_norm_. Returns the norm before clipping. */
double train_clip_grad_norm(float *g, size_t n, double max_norm);
/* g *= s. */
void train_grad_scale(float *g, size_t n, float s);

/* NaN/Inf detector: RW_E_NUMERIC naming `what`, the first bad index and value, and the
 * count of non-finite entries. */
rw_status train_check_finite(const float *x, size_t n, const char *what, rw_err *err);
/* The same for a loss value at a step (message: "loss is nan at step 12"). */
rw_status train_check_loss(float loss, int64_t step, rw_err *err);

#endif
