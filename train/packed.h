/* Packed decoder batches for training: B sequences run as one forward of sum(T_i) tokens,
 * attention confined to each sequence (infer_attn_cfg.seq_lens, causal within it) and RoPE
 * positions restarting at 0 in every sequence, so the logits of sequence b equal those of
 * its own forward (up to the summation order of the batched matmuls). All the projections
 * (frozen weights and LoRA pairs) then run as one GEMM over the whole batch instead of B
 * thin ones.
 *
 * The block is infer's (infer_decoder_layer_packed: infer_decoder_layer with the packed
 * attention config), so the decoder math has one definition; this module adds what is
 * training's own: the packed positions, the embedding, the checkpointing choice and the head.
 *
 * Sliding-window layers (gemma3 local layers) are not combined with packed attention in
 * infer/ops.h: train_packed_supported() (infer_decoder_packed_supported) is false for such
 * models and the caller runs one sequence per forward. */
#ifndef TRAIN_PACKED_H
#define TRAIN_PACKED_H

#include <stdbool.h>
#include <stdint.h>

#include "infer/model.h"
#include "infer/ops.h"

/* True when the model's decoder layers can run packed batches. */
bool train_packed_supported(const infer_model *m);

/* One decoder block over a packed x{C, sum lens}; pos[t] restarts at 0 per sequence. */
rw_tensor *train_packed_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il,
                                      rw_tensor *x, const int32_t *pos, const int32_t *lens,
                                      int64_t n_seq);

/* ids: n_seq sequences back to back (lens[b] > 0 tokens each) -> logits {V, sum lens}.
 * checkpointed: every layer recomputed in backward (train/autograd.h) as
 * train_decoder_forward_ckpt does. Returns NULL with ctx's error set on failure (RW_E_RANGE
 * for a token id outside the vocabulary). Needs train_packed_supported(m). */
rw_tensor *train_decoder_forward_packed(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                        const int32_t *lens, int64_t n_seq, bool checkpointed);

#endif
