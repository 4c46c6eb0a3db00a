/* Transformer models read from GGUF: decoders (llama, qwen2, qwen3) and encoders (bert),
 * their forward passes written once over infer/ops.h, the KV cache, and LoRA adapters.
 *
 * Weights are views into the mmapped GGUF (read-only, frozen); hyper-parameters come from
 * the <arch>.* metadata. infer_model_load validates every tensor the architecture needs
 * (presence, type supported, exact shape) and refuses the file with a message naming the
 * key or tensor otherwise. Every linear layer is an infer_linear: W (+ bias) plus the LoRA
 * adapters attached to it, applied unmerged as y = W x + b + sum_i s_i B_i (A_i x).
 *
 * The forward functions take an infer_ctx (infer/ops.h): activations live in its arena and,
 * when it carries a tape, every op on a path from a parameter records itself, so training
 * LoRA (A/B flagged RW_TENSOR_PARAM) is this same forward. infer_decoder_layer and
 * infer_encoder_layer run one block (for gradient checkpointing).
 *
 * Ownership: infer_model owns its GGUF mapping and descriptor arrays; tensors handed out
 * are borrowed views valid until infer_model_destroy. A model is read-only after load
 * except for the LoRA attachments (not thread-safe while attaching). */
#ifndef INFER_MODEL_H
#define INFER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "core/tensor.h"
#include "infer/gguf.h"
#include "infer/ops.h"
#include "kernels/ops.h"

typedef enum infer_arch {
    INFER_ARCH_LLAMA = 0,
    INFER_ARCH_QWEN2,
    INFER_ARCH_QWEN3,
    INFER_ARCH_BERT,
    INFER_ARCH_GEMMA3,
    INFER_ARCH_NOMIC_BERT, /* bert blocks with fused QKV, rope (NEOX), SwiGLU, no positions */
    INFER_ARCH_COUNT
} infer_arch;

/* Pooling as numbered by <arch>.pooling_type (llama.cpp's enum). */
typedef enum infer_pooling {
    INFER_POOL_NONE = 0,
    INFER_POOL_MEAN = 1,
    INFER_POOL_CLS = 2,
    INFER_POOL_LAST = 3,
} infer_pooling;

typedef struct infer_hparams {
    int64_t n_vocab, n_embd, n_layer, n_ff, n_head, n_head_kv, head_dim, n_ctx_train;
    float norm_eps;        /* rms (decoders) or layer norm (bert) epsilon */
    kern_rope_cfg rope;    /* decoders */
    bool causal;           /* decoders true, bert false */
    bool tied_output;      /* logits use token_embd (no output.weight) */
    infer_pooling pooling; /* encoders: from <arch>.pooling_type (default mean) */
    int64_t n_pos;         /* bert: learned positions */
    float attn_scale;      /* q.k scale: 1/sqrt(head_dim) (gemma3 27B: 1/sqrt(n_embd/n_head)) */
    float embd_scale;      /* input embedding multiplier (gemma3: sqrt(n_embd)), else 1 */
    int64_t n_swa;         /* gemma3: sliding window of local layers (0: none) */
    int swa_pattern;       /* gemma3: layer il is local when il % pattern < pattern - 1 */
    float rope_base_swa;   /* rope base of local layers (gemma3: 10000) */
} infer_hparams;

enum { INFER_MAX_LORA = 8 };

typedef struct infer_lora_ref {
    rw_tensor *a; /* {n_in, r} */
    rw_tensor *b; /* {r, n_out} */
    float scale;  /* s = user_scale * alpha / r (alpha != 0) else user_scale */
    /* Training only (train/lora.h sets these; 0/NULL otherwise): when dropout > 0 and rng is
     * set, the LoRA path reads x * mask with mask = Bernoulli(1 - dropout) / (1 - dropout)
     * drawn from *rng (borrowed), as PEFT's lora_dropout. */
    float dropout;
    rw_rng *rng;
} infer_lora_ref;

typedef struct infer_linear {
    rw_tensor *w; /* {n_in, n_out}, any supported type */
    rw_tensor *b; /* {n_out} f32 or NULL */
    int n_lora;
    infer_lora_ref lora[INFER_MAX_LORA];
} infer_linear;

typedef struct infer_layer {
    /* decoder: attn_norm, ffn_norm (rms, no bias); bert: attn_output_norm, layer_output_norm */
    rw_tensor *attn_norm, *attn_norm_b;
    rw_tensor *ffn_norm, *ffn_norm_b;
    rw_tensor *q_norm, *k_norm;                /* qwen3, gemma3: per-head rms weights {head_dim} */
    rw_tensor *post_attn_norm, *post_ffn_norm; /* gemma3: rms after attention / FFN */
    infer_linear q, k, v, o;
    infer_linear gate, up, down; /* gate.w NULL for bert (GELU FFN) */
} infer_layer;

typedef struct infer_model {
    infer_arch arch;
    char arch_name[32];
    infer_hparams hp;
    infer_gguf *gguf;   /* owned */
    rw_tensor *tensors; /* owned array: one view per GGUF tensor */
    size_t n_tensors;
    rw_tensor *tok_embd;                /* {C, V} */
    rw_tensor *pos_embd;                /* bert {C, n_pos} */
    rw_tensor *type_embd;               /* bert {C, n_types} */
    rw_tensor *embd_norm, *embd_norm_b; /* bert */
    rw_tensor *out_norm;                /* decoders */
    rw_tensor *rope_freqs; /* decoders, optional {n_rot/2}: Llama 3 rope frequency factors */
    infer_linear output;   /* logits; w == tok_embd when tied */
    infer_layer *layers;   /* owned [n_layer] */
    rw_tensor *views;      /* owned: row slices of fused attn_qkv tensors (nomic-bert) */
} infer_model;

/* Opens and validates path. RW_E_UNSUPPORTED for an unknown architecture or tensor type,
 * RW_E_FORMAT / RW_E_NOTFOUND naming the key or tensor that is wrong or missing. */
rw_status infer_model_load(const char *path, infer_model **out, rw_err *err);
/* The same over an already open GGUF; takes ownership of g (closed on failure too). label
 * prefixes error messages (the path). */
rw_status infer_model_open_gguf(infer_gguf *g, const char *label, infer_model **out, rw_err *err);
void infer_model_destroy(infer_model *m);
const char *infer_arch_name(infer_arch a);
/* bert-family encoders (bidirectional, pooled embeddings) as opposed to decoders. */
static inline bool infer_arch_is_encoder(infer_arch a) {
    return a == INFER_ARCH_BERT || a == INFER_ARCH_NOMIC_BERT;
}
/* The linear layer whose weight is the GGUF tensor `name` (e.g. "blk.0.attn_q.weight"),
 * or NULL. */
infer_linear *infer_model_linear(infer_model *m, const char *name);
/* Bytes of all weight tensors (for the weight-streaming bound). */
uint64_t infer_model_weight_bytes(const infer_model *m);

/* Step-arena bytes that an inference forward (no tape) of T tokens attending to at most S
 * keys needs: the residual stream, one layer's activations (layers roll the arena back),
 * matmul scratch of the largest weight at M = T, masks and the logits row. */
size_t infer_model_arena_bytes(const infer_model *m, int64_t T, int64_t S, int n_threads,
                               bool f32_act);

/* Step-arena bytes that infer_linear_forward(l, x{n_in, M}) allocates without a tape
 * (output, matmul scratch, adapter intermediates). */
size_t infer_linear_arena_bytes(const infer_linear *l, int64_t M, int nth, bool f32act);

/* y{n_out,T} = W x + b + sum_i s_i B_i (A_i x) for x{n_in,T}. */
rw_tensor *infer_linear_forward(infer_ctx *ctx, const infer_linear *l, rw_tensor *x);

/* ---- KV cache ---------------------------------------------------------------------- */
typedef struct infer_kv_cache {
    int64_t n_layer, n_ctx, kv_dim; /* kv_dim = n_head_kv * head_dim */
    float *k, *v;                   /* owned: [n_layer][n_ctx][kv_dim] */
    int64_t n_past;                 /* positions filled */
} infer_kv_cache;

rw_status infer_kv_init(infer_kv_cache *kv, const infer_model *m, int64_t n_ctx, rw_err *err);
void infer_kv_deinit(infer_kv_cache *kv);
static inline void infer_kv_clear(infer_kv_cache *kv) {
    kv->n_past = 0;
}

/* ---- decoder forward ------------------------------------------------------------------ */
/* One block: x{C,T} at absolute positions pos[T]. With kv, the block's keys/values are
 * written at rows pos0..pos0+T-1 of the cache and attention runs over rows [0, pos0+T)
 * (pos0 = kv->n_past; the caller advances n_past after the last layer). Without kv the
 * batch attends to itself causally from position pos[0]. */
rw_tensor *infer_decoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *pos, infer_kv_cache *kv);
/* One block over a packed batch x{C, sum lens}: n_seq sequences back to back (lens[b] rows
 * each, no padding), each attending causally only within itself, at positions pos[T]
 * (normally restarting at 0 in every sequence). No KV cache. The same block as
 * infer_decoder_layer (one definition) with infer_attn_cfg.seq_lens set, so a sequence's
 * rows equal its own forward's up to the batched matmuls' summation order, and training
 * runs every projection as one GEMM over the batch. Needs infer_decoder_packed_supported:
 * decoders without sliding-window layers (packed attention takes no window). */
rw_tensor *infer_decoder_layer_packed(infer_ctx *ctx, const infer_model *m, int64_t il,
                                      rw_tensor *x, const int32_t *pos, const int32_t *lens,
                                      int64_t n_seq);
bool infer_decoder_packed_supported(const infer_model *m);
/* ids[T] -> logits {V, T} (all_logits) or {V, 1} (last position only). With kv the tokens
 * continue the cached sequence (RW_E_RANGE when n_past + T > n_ctx) and n_past advances on
 * success. Returns NULL with ctx's error set on failure. */
rw_tensor *infer_decoder_forward(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                 const int32_t *ids, int64_t T, bool all_logits);
/* The final hidden states {C,T} before the output norm (for a custom head). */
rw_tensor *infer_decoder_hidden(infer_ctx *ctx, const infer_model *m, infer_kv_cache *kv,
                                const int32_t *ids, int64_t T);

/* ---- encoder forward ------------------------------------------------------------------ */
/* One block over a packed batch x{C, sum lens} of n_seq sequences. */
rw_tensor *infer_encoder_layer(infer_ctx *ctx, const infer_model *m, int64_t il, rw_tensor *x,
                               const int32_t *lens, int64_t n_seq);
/* The encoder's input layer: validates lens (1..n_pos each) and ids (< n_vocab), then token +
 * position + token-type embeddings and the embedding LayerNorm, {C, sum(lens)} from the arena.
 * Shared by infer_encoder_hidden and train's checkpointed encoder. */
rw_tensor *infer_encoder_input(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                               const int32_t *lens, int64_t n_seq);
/* ids: n_seq sequences back to back (lens[b] each, token type 0) -> token states
 * {C, sum lens}. */
rw_tensor *infer_encoder_hidden(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                                const int32_t *lens, int64_t n_seq);
/* Pooled sentence embeddings {C, n_seq}; pooling < 0 uses the model's; normalize divides
 * each by its L2 norm. infer_encoder_hidden then infer_encoder_pool. */
rw_tensor *infer_encoder_embed(infer_ctx *ctx, const infer_model *m, const int32_t *ids,
                               const int32_t *lens, int64_t n_seq, int pooling, bool normalize);
/* The pooling tail of infer_encoder_embed over token states x{C, sum lens} (NULL passes
 * through): mean (also for INFER_POOL_NONE), CLS (first token) or last token of each
 * sequence, then the optional L2 normalisation -> {C, n_seq}. Shared with train's
 * checkpointed encoder. */
rw_tensor *infer_encoder_pool(infer_ctx *ctx, const infer_model *m, rw_tensor *x,
                              const int32_t *lens, int64_t n_seq, int pooling, bool normalize);

#endif
