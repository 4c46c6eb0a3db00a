/* Losses for the embedder (MNRL / InfoNCE) and the critic (BCE on yes/no), train/losses.h.
 *
 * MNRL follows sentence-transformers' MultipleNegativesRankingLoss: scores =
 * scale * cos_sim(anchors, candidates) ([B, N] with N = B * (1 + k)), labels = arange(B),
 * loss = mean cross-entropy. Built from infer ops, so it needs no backward of its own.
 * BCE is a custom tape op (TRAIN_OP_BCE_YESNO; backward in backward_loss.c) because it reads
 * two columns of each logits row. */
#include "train/losses.h"

#include <math.h>
#include <string.h>

#include "core/assert.h"
#include "train/autograd.h"

rw_tensor *train_loss_mnrl(infer_ctx *ctx, rw_tensor *anchors, rw_tensor *candidates, float scale) {
    if (!anchors || !candidates || !infer_ctx_ok(ctx)) return NULL;
    const int64_t B = rw_tensor_nrows(anchors), N = rw_tensor_nrows(candidates);
    RW_ASSERT(N >= B && anchors->ne[0] == candidates->ne[0],
              "mnrl: need candidates{C, >= B} for anchors{C, B}");
    int32_t *labels = infer_scratch(ctx, (size_t)B * sizeof(int32_t));
    if (!labels) return NULL;
    for (int64_t i = 0; i < B; i++)
        labels[i] = (int32_t)i;
    rw_tensor *a = infer_op_l2_normalize(ctx, anchors);
    rw_tensor *c = infer_op_l2_normalize(ctx, candidates);
    rw_tensor *s = infer_op_scale(ctx, infer_op_cossim(ctx, a, c), scale); /* {N, B} */
    return infer_op_cross_entropy(ctx, s, labels);
}

rw_tensor *train_loss_bce_yesno(infer_ctx *ctx, rw_tensor *logits, const float *labels,
                                int32_t yes_id, int32_t no_id) {
    if (!logits || !infer_ctx_ok(ctx)) return NULL;
    const int64_t V = logits->ne[0], B = rw_tensor_nrows(logits);
    RW_ASSERT(logits->type == RW_DTYPE_F32 && rw_tensor_is_contiguous(logits),
              "bce_yesno: logits must be contiguous f32");
    RW_ASSERT(yes_id >= 0 && yes_id < V && no_id >= 0 && no_id < V && yes_id != no_id,
              "bce_yesno: yes/no ids %d/%d outside [0, %lld)", (int)yes_id, (int)no_id,
              (long long)V);
    rw_tensor *y = infer_new_2d(ctx, 1, 1);
    float *saved = infer_scratch(ctx, (size_t)B * sizeof(float));
    if (!y || !saved) return NULL;
    const float *z = logits->data;
    double sum = 0;
    for (int64_t t = 0; t < B; t++) {
        RW_ASSERT(labels[t] >= 0.0f && labels[t] <= 1.0f, "bce_yesno: label %g outside [0,1]",
                  (double)labels[t]);
        saved[t] = labels[t];
        const double d = (double)z[t * V + yes_id] - (double)z[t * V + no_id];
        /* softplus(d) = log(1 + e^d), stable for large |d| */
        const double sp = d > 0 ? d + log1p(exp(-d)) : log1p(exp(d));
        sum += sp - (double)labels[t] * d;
    }
    ((float *)y->data)[0] = B > 0 ? (float)(sum / (double)B) : 0.0f;
    if (!ctx->tape || !rw_tensor_needs_grad(logits)) return y;
    rw_tape_rec r;
    memset(&r, 0, sizeof(r));
    r.op = TRAIN_OP_BCE_YESNO;
    r.src[0] = logits;
    r.dst = y;
    r.i[0] = yes_id;
    r.i[1] = no_id;
    r.saved = saved;
    r.saved_len = (size_t)B * sizeof(float);
    y->flags |= RW_TENSOR_NEEDS_GRAD;
    rw_status st = rw_tape_push(ctx->tape, &r, &ctx->err);
    if (st != RW_OK) {
        ctx->status = st;
        return NULL;
    }
    return y;
}
