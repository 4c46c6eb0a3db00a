/* Trained LoRA adapters on disk: GGUF LoRA exactly as llama.cpp's convert_lora_to_gguf.py
 * writes it, and PEFT (adapter_config.json + adapter_model.safetensors) export and import.
 *
 * GGUF (notes/anchors-and-formats.md §2.1): general.type = "adapter", adapter.type = "lora",
 * adapter.lora.alpha (f32), general.architecture = the base model's, plus the base's
 * <arch>.attention.head_count / head_count_kv (the converter copies base hparams; PEFT
 * export needs them). Tensors <base>.lora_a ne = [n_in, r] and <base>.lora_b ne = [r, n_out],
 * f32 or f16, written in canonical order (layer, then attn_q, attn_k, attn_v, attn_output,
 * ffn_gate, ffn_up, ffn_down) so equal adapters give equal bytes. llama.cpp applies
 * s = alpha / r. An rsLoRA adapter (PEFT scale alpha / sqrt(r)) is therefore exported with
 * adapter.lora.alpha = alpha * sqrt(r). Project keys (ignored by llama.cpp):
 * rag_workbench.manifest (training manifest JSON), rag_workbench.recipe_sha256,
 * rag_workbench.base_sha256.
 *
 * PEFT (§2.2): keys base_model.model.model.layers.<L>.<self_attn|mlp>.<q_proj|...>.lora_A.weight
 * shape (r, n_in) and ...lora_B.weight shape (n_out, r); in memory these are exactly the
 * ggml ne = [n_in, r] / [r, n_out] buffers, so no transpose is needed. adapter_config.json
 * carries peft_type "LORA", r, lora_alpha, use_rslora, target_modules (HF names), ...
 * Llama only: llama.cpp's HF converter permutes the rows of q_proj / k_proj (rotary halves
 * interleaved: GGUF row h*D + 2i + j = HF row h*D + j*D/2 + i, for head h, i < D/2, j < 2,
 * with n_head_kv heads for k), and applies the same permutation to lora_B. PEFT export
 * applies the inverse to lora_B of attn_q / attn_k, import applies it forward; qwen2/qwen3
 * are not permuted. Import refuses DoRA, fan_in_fan_out, per-module rank/alpha patterns and
 * any tensor that is not a lora_A/lora_B of a supported module (e.g. modules_to_save).
 *
 * Ownership: a train_adapter owns its pair array and tensor data (train_adapter_deinit). */
#ifndef TRAIN_ADAPTER_IO_H
#define TRAIN_ADAPTER_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "infer/model.h"
#include "train/lora.h"
#include "train/recipe.h"

typedef struct train_adapter_pair {
    int64_t layer;
    train_target target;
    int64_t n_in, n_out, rank;
    float *a; /* [rank][n_in]  (ggml ne [n_in, r], PEFT lora_A (r, in)) */
    float *b; /* [n_out][rank] (ggml ne [r, n_out], PEFT lora_B (out, r)) */
} train_adapter_pair;

typedef struct train_adapter {
    char arch[32];             /* base architecture ("llama", "qwen3", ...) */
    float alpha;               /* adapter.lora.alpha: llama.cpp scale = alpha / rank */
    int64_t n_head, n_head_kv; /* base attention heads (0 = unknown) */
    float dropout;             /* training-time lora_dropout, recorded in PEFT's
                                * adapter_config.json (no effect on inference; 0 = none) */
    train_adapter_pair *pairs;
    size_t n;
} train_adapter;

typedef struct train_adapter_meta {
    const char *name;          /* general.name, optional */
    const char *manifest_json; /* optional */
    const char *recipe_sha256, *base_sha256; /* optional */
} train_adapter_meta;

void train_adapter_deinit(train_adapter *a);
/* "blk.<L>.<target>.weight" into buf. */
const char *train_adapter_base_name(const train_adapter_pair *p, char *buf, size_t cap);

/* Copies the trained pairs of l (attached to model m). The GGUF alpha becomes l's effective
 * alpha (times sqrt(r) when rslora, which must be what l was created with).
 * RW_E_UNSUPPORTED when a pair is not a decoder linear this format names. */
rw_status train_adapter_from_lora(const train_lora *l, const infer_model *m, bool rslora,
                                  train_adapter *out, rw_err *err);

rw_status train_adapter_write_gguf(const train_adapter *a, const char *path, bool f16,
                                   const train_adapter_meta *meta, rw_err *err);
/* Reads a GGUF LoRA (f32/f16 tensors). Errors name the key or tensor. */
rw_status train_adapter_read_gguf(const char *path, train_adapter *out, rw_err *err);

/* Writes <dir>/adapter_config.json and <dir>/adapter_model.safetensors (dir created). Needs a
 * uniform rank; for llama needs n_head and n_head_kv. base_model may be NULL. */
rw_status train_adapter_write_peft(const train_adapter *a, const char *dir, const char *base_model,
                                   rw_err *err);
/* Reads a PEFT folder. arch, n_head and n_head_kv describe the base model (llama needs the
 * head counts for the q/k permutation). */
rw_status train_adapter_read_peft(const char *dir, const char *arch, int64_t n_head,
                                  int64_t n_head_kv, train_adapter *out, rw_err *err);

#endif
