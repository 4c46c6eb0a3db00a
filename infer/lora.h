/* LoRA adapters in llama.cpp's GGUF format: load, validate against a base model, attach
 * (applied unmerged by infer_linear_forward), detach, and merge into a new base GGUF.
 *
 * Format (notes/anchors-and-formats.md §2.1): general.type = "adapter", adapter.type =
 * "lora", adapter.lora.alpha (f32, 0 or absent = no alpha scaling), general.architecture
 * equal to the base model's. Tensors come in pairs <base>.lora_a with ne = [n_in, r] and
 * <base>.lora_b with ne = [r, n_out] for a base weight W with ne = [n_in, n_out]; any other
 * tensor name is refused. Scale s = user_scale * alpha / r when alpha != 0, else
 * user_scale; y = W x + s B (A x).
 *
 * Ownership: an infer_lora owns its mapping; a model it is attached to borrows its tensors,
 * so detach (or destroy the model) before destroying the adapter. */
#ifndef INFER_LORA_H
#define INFER_LORA_H

#include <stddef.h>

#include "core/status.h"
#include "infer/model.h"

typedef struct infer_lora infer_lora;

/* Longest adapted base tensor name + 1 (the NUL). */
#define INFER_LORA_BASE_MAX 96

/* The checks that need no base model (train/adapter_io.c reads adapters with them too):
 * general.type = "adapter", adapter.type = "lora", adapter.lora.alpha finite when present,
 * every tensor named <base>.lora_a or <base>.lora_b with strlen(<base>) <
 * INFER_LORA_BASE_MAX and ne[2] = ne[3] = 1, both halves of every pair present (GGUF tensor
 * names are unique, so each is listed once), lora_a ne = [n_in, r] and lora_b ne = [r, n_out]
 * with n_in, n_out, r >= 1, and at least one pair. Tensor types are left to the caller.
 * RW_E_FORMAT / RW_E_NOTFOUND naming the key or tensor, prefixed with "<label>: ". */
rw_status infer_lora_check_gguf(const infer_gguf *g, const char *label, rw_err *err);
/* For a checked adapter: when tensor i is <base>.lora_a, writes <base> into
 * base[INFER_LORA_BASE_MAX] and returns the index of <base>.lora_b; otherwise -1. */
int64_t infer_lora_gguf_pair(const infer_gguf *g, uint64_t i, char *base);

/* Opens `path` and validates it against `base` (architecture, names, shapes, types). On a
 * mismatch: RW_E_FORMAT / RW_E_NOTFOUND with the key or tensor and both shapes. */
rw_status infer_lora_load(const char *path, const infer_model *base, infer_lora **out, rw_err *err);
/* The same over an open GGUF (infer_lora_check_gguf, then the tensor types and the fit to
 * base); takes ownership of g (closed on failure too). */
rw_status infer_lora_open_gguf(infer_gguf *g, const char *label, const infer_model *base,
                               infer_lora **out, rw_err *err);
void infer_lora_destroy(infer_lora *l);
float infer_lora_alpha(const infer_lora *l);
size_t infer_lora_n_pairs(const infer_lora *l);
/* Rank of pair i (lora_b.ne[0]) and its base tensor name. */
int64_t infer_lora_rank(const infer_lora *l, size_t i);
const char *infer_lora_base_name(const infer_lora *l, size_t i);
/* s for pair i at user_scale. */
float infer_lora_scale(const infer_lora *l, size_t i, float user_scale);

/* Attaches every pair to its linear layer (several adapters may be attached; at most
 * INFER_MAX_LORA per layer). RW_E_RANGE when a layer is full (nothing attached then). */
rw_status infer_model_attach_lora(infer_model *m, infer_lora *l, float user_scale, rw_err *err);
/* Removes every adapter from every layer. */
void infer_model_detach_loras(infer_model *m);

/* Writes a copy of the base model's GGUF to out_path with W + s B A merged into every
 * adapted weight (each attached adapter, at its attached scale), requantized to the base
 * weight's type (out_type_f32: stored as F32 instead). Metadata and other tensors are
 * copied unchanged. */
rw_status infer_lora_merge_export(const infer_model *m, const char *out_path, bool out_type_f32,
                                  rw_err *err);

#endif
