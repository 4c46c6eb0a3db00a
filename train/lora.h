/* Trainable parameter sets: LoRA adapters attached to a loaded model (and optionally whole
 * f32 tensors of the model trained in full), all stored in ONE flat f32 block.
 *
 * Layout: params, grads (and the AdamW moments in train/optim.h) are flat float arrays of
 * the same length and layout: for every pair in order, A (r rows of n_in) then B (n_out
 * rows of r), then each fully trained tensor. Tensor descriptors handed out point into
 * these blocks: pair->a / pair->b are flagged RW_TENSOR_PARAM with ->grad pointing to the
 * matching slice of the gradient block, so backward (train/autograd.h) accumulates there.
 *
 * Forward: pairs are attached to the model's infer_linear (infer/model.h), so the ordinary
 * forward computes y = W x + b + s B (A x) with s = alpha / r (rsLoRA: alpha / sqrt(r)).
 * Initialisation as PEFT: A ~ U(-1/sqrt(n_in), 1/sqrt(n_in)) (Kaiming-uniform, a = sqrt(5)),
 * B = 0, drawn from the seeded core/rng.h in pair order (deterministic).
 *
 * Targets: a pair is created for every linear weight "blk.<L>.<name>.weight" whose <name>
 * is one of cfg->targets and whose layer L is in [layer_first, layer_last]. Full training:
 * tensors whose GGUF name contains one of cfg->full_targets (F32/F16/BF16 only) get a
 * writable f32 copy in the block; the model's descriptor is repointed there (and restored
 * by train_lora_destroy).
 *
 * Dropout on the LoRA input path (PEFT's lora_dropout): with cfg->dropout = p > 0 every
 * adapted linear reads x * mask, mask = Bernoulli(1-p)/(1-p), drawn from one RNG owned here
 * (seeded from cfg->seed), via infer_lora_ref.dropout/rng. It is on after create; switch it
 * off for evaluation forwards with train_lora_set_dropout(l, false). The RNG state is part
 * of a checkpoint (train_lora_dropout_rng). Per-layer recompute replays the same masks.
 *
 * Ownership: train_lora owns the blocks and the pair descriptors; the model borrows them
 * while attached. Destroy the train_lora before the model. Not thread-safe. */
#ifndef TRAIN_LORA_H
#define TRAIN_LORA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "core/tensor.h"
#include "infer/model.h"

/* Default targets (llama-style decoders; bert has no ffn_gate, which is simply absent). */
#define TRAIN_LORA_DEFAULT_TARGETS "attn_q,attn_k,attn_v,attn_output,ffn_gate,ffn_up,ffn_down"

typedef struct train_lora_cfg {
    const char *targets;      /* comma-separated short names; NULL = the default list */
    int64_t layer_first;      /* first adapted layer (inclusive), default 0 */
    int64_t layer_last;       /* last adapted layer (inclusive); < 0 = the last layer */
    int64_t rank;             /* r > 0 (e.g. 8 or 16) */
    float alpha;              /* e.g. 16; 0 means alpha = r (scale 1) */
    bool rslora;              /* scale = alpha / sqrt(r) instead of alpha / r */
    float dropout;            /* LoRA input dropout p in [0, 1); 0 = none */
    uint64_t seed;            /* initialisation seed */
    const char *full_targets; /* comma-separated substrings of tensor names trained in full
                                 (e.g. "output_norm,attn_norm"), or NULL */
} train_lora_cfg;

/* Fills cfg with defaults: default targets, all layers, r = 8, alpha = 16, seed 1. */
void train_lora_cfg_default(train_lora_cfg *cfg);

typedef struct train_lora_pair {
    char base[96]; /* base weight name, e.g. "blk.0.attn_q.weight" */
    int64_t layer; /* L of blk.L */
    int64_t n_in, n_out, rank;
    float scale;         /* s applied in the forward */
    rw_tensor *a, *b;    /* {n_in, r} and {r, n_out}: views into the param block (PARAM) */
    size_t off_a, off_b; /* float offsets of A and B in the flat blocks */
} train_lora_pair;

typedef struct train_lora train_lora;

/* Creates the pairs (and full-training copies), initialises them and attaches them to m.
 * Errors: RW_E_INVALID for a bad cfg (rank, layer range, dropout), RW_E_NOTFOUND when no
 * tensor matches the targets or a full target, RW_E_UNSUPPORTED for a quantized full
 * target, RW_E_RANGE when a linear already has INFER_MAX_LORA adapters, RW_E_NOMEM. */
rw_status train_lora_create(infer_model *m, const train_lora_cfg *cfg, train_lora **out,
                            rw_err *err);
/* Detaches the pairs, restores fully trained tensors' descriptors, frees. NULL is fine. */
void train_lora_destroy(train_lora *l);

size_t train_lora_n_pairs(const train_lora *l);
const train_lora_pair *train_lora_pair_at(const train_lora *l, size_t i); /* borrowed */
/* Fully trained tensors (model descriptors now pointing into the block; borrowed). */
size_t train_lora_n_full(const train_lora *l);
rw_tensor *train_lora_full_at(const train_lora *l, size_t i);
float train_lora_alpha(const train_lora *l); /* effective alpha (r when cfg->alpha was 0) */

/* The flat blocks (borrowed, n floats each, same layout). Writing params changes the
 * model's forward at once (tests and checkpoint restore use this). */
size_t train_lora_n_params(const train_lora *l);
float *train_lora_params(train_lora *l);
float *train_lora_grads(train_lora *l);
/* Sets the gradient block to zero (after each optimiser step). */
void train_lora_zero_grad(train_lora *l);

/* Dropout on (training forwards) or off (evaluation); no effect when cfg->dropout was 0. */
void train_lora_set_dropout(train_lora *l, bool enabled);
/* The dropout mask RNG (borrowed): checkpoints save and restore its state. */
rw_rng *train_lora_dropout_rng(train_lora *l);

#endif
