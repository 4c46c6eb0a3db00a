/* Autograd-lite: the reverse walk over a tape (core/tape.h) that infer/ops.c filled during
 * a forward pass, calling the backward of every op kind (train/backward_*.c).
 *
 * Gradients:
 *   - Parameters (RW_TENSOR_PARAM) must carry a persistent t->grad (same shape, f32) set by
 *     their owner (train/lora.h points them into the flat gradient block). Backward ADDS
 *     into them, so several micro-batches accumulate until the caller zeroes the block.
 *   - Every other tensor that needs a gradient (RW_TENSOR_NEEDS_GRAD: activations) gets its
 *     grad lazily from the step arena (ctx->arena), zero-initialised, the first time a
 *     consumer writes into it. They die with the arena reset after the optimiser step.
 *   - Frozen tensors (no flag) never receive a gradient; a MATMUL through a frozen
 *     quantized weight propagates to its input only (kernels' kern_matmul_dx).
 * Weight-gradient products use kern_sgemm (kernels/blas.h); every reduction runs in a fixed
 * order for a given thread count, so backward is deterministic for a given pool size.
 *
 * Op kinds >= RW_OP_CUSTOM_BASE are train/'s own (train/losses.h, train_recompute_*):
 * TRAIN_OP_* below. */
#ifndef TRAIN_AUTOGRAD_H
#define TRAIN_AUTOGRAD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "core/tape.h"
#include "core/tensor.h"
#include "infer/model.h"
#include "infer/ops.h"

/* Custom tape ops owned by train/. */
enum {
    TRAIN_OP_BCE_YESNO = RW_OP_CUSTOM_BASE + 0,         /* train_loss_bce_yesno */
    TRAIN_OP_RECOMPUTE_DECODER = RW_OP_CUSTOM_BASE + 1, /* train_recompute_decoder_layer */
    TRAIN_OP_RECOMPUTE_ENCODER = RW_OP_CUSTOM_BASE + 2, /* train_recompute_encoder_layer */
};

/* Runs backward over ctx->tape, newest record first, seeded at `out` with
 * d(objective)/d(out) = scale * dout (dout: rw_tensor_nelements(out) floats, or NULL for
 * all ones: the usual call for a scalar loss is train_backward(ctx, loss, NULL, 1.0f, err),
 * or scale = 1/n_micro under gradient accumulation). Records whose output received no
 * gradient are skipped. Parameter gradients accumulate into their grad tensors; activation
 * gradients come from ctx->arena. The tape is left as it is (clear it with the arena).
 * Errors: RW_E_NOMEM when the step arena is full (message names the op and byte count),
 * RW_E_STATE when a parameter has no grad tensor or `out` was not produced on the tape. */
rw_status train_backward(infer_ctx *ctx, rw_tensor *out, const float *dout, float scale,
                         rw_err *err);

/* Name of an op kind for messages ("matmul", "attention", "bce_yesno", ...). */
const char *train_op_name(int32_t op);

/* ---- gradient checkpointing (per decoder layer) --------------------------------------
 * Runs infer_decoder_layer(m, il, x, pos) WITHOUT recording its inner ops (its activations
 * are released at once; only x and the output stay in the arena) and pushes one
 * TRAIN_OP_RECOMPUTE_DECODER record. During backward that record reruns the layer with a
 * tape on x and backpropagates through it, then releases the recomputed activations.
 * x{C,T} must need a gradient or some parameter inside the layer must (otherwise this is a
 * plain layer call). pos[T] is copied. No KV cache. Returns the output {C,T} or NULL with
 * ctx's error set. */
rw_tensor *train_recompute_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                         rw_tensor *x, const int32_t *pos);
/* The same for a packed decoder batch (train/packed.h): pos[sum lens] and lens[n_seq] are
 * borrowed and must stay valid until backward (keep them in the step arena). */
rw_tensor *train_recompute_packed_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                                rw_tensor *x, const int32_t *pos,
                                                const int32_t *lens, int64_t n_seq);
/* infer_decoder_hidden/forward with every layer checkpointed as above (no KV cache):
 * ids[T] -> logits {V, T}. */
rw_tensor *train_decoder_forward_ckpt(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                      int64_t T);
/* The same for encoders: one block over a packed batch x{C, sum lens} (lens copied) ... */
rw_tensor *train_recompute_encoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                         rw_tensor *x, const int32_t *lens, int64_t n_seq);
/* ... and infer_encoder_embed with every layer checkpointed (same arguments: pooling < 0 =
 * the model's, normalize = L2). */
rw_tensor *train_encoder_embed_ckpt(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                    const int32_t *lens, int64_t n_seq, int pooling,
                                    bool normalize);

#endif
