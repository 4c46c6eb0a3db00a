/* Losses for the three adapter kinds, as tape ops (so train_backward reaches them).
 *
 *   SFT (generator):  infer_op_cross_entropy(logits{V,T}, targets) with target -1 on the
 *                     prompt tokens (infer/ops.h) - nothing extra here.
 *   Embedder:         train_loss_mnrl: multiple-negatives ranking loss (InfoNCE) as
 *                     sentence-transformers' MultipleNegativesRankingLoss.
 *   Critic:           train_loss_bce_yesno: binary cross-entropy on
 *                     p = p(yes) / (p(yes) + p(no)) = sigmoid(z_yes - z_no). */
#ifndef TRAIN_LOSSES_H
#define TRAIN_LOSSES_H

#include <stdint.h>

#include "core/tensor.h"
#include "infer/ops.h"

/* anchors{C,B} and candidates{C, B*(1+k)}: rows 0..B-1 of candidates are the positives
 * (candidate i for anchor i), rows B.. are hard negatives (any number, k*B or otherwise).
 * loss = mean_i CE(scale * cos(anchor_i, candidates), label i): every other candidate in
 * the batch is a negative. Composed of infer ops (l2_normalize, cossim, scale,
 * cross_entropy), so its backward is theirs. scale: 20 in sentence-transformers.
 * Returns a scalar {1,1} or NULL with ctx's error set. */
rw_tensor *train_loss_mnrl(infer_ctx *ctx, rw_tensor *anchors, rw_tensor *candidates, float scale);

/* logits{V,B} (one row per pair, e.g. the last position), labels[B] in [0,1] (soft labels
 * allowed), yes_id/no_id token ids: loss = mean_b BCE(sigmoid(z_yes - z_no), label_b)
 * computed stably as softplus(d) - label*d with d = z_yes - z_no. Records
 * TRAIN_OP_BCE_YESNO. Returns a scalar {1,1} or NULL with ctx's error set. */
rw_tensor *train_loss_bce_yesno(infer_ctx *ctx, rw_tensor *logits, const float *labels,
                                int32_t yes_id, int32_t no_id);

#endif
