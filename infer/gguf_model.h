/* Random-weight GGUF models of real architectures (llama, qwen3, bert), written with the
 * tensor names, shapes and metadata keys llama.cpp expects, for the project's own tests
 * and benchmarks (`rag-gguf new`), plus the per-architecture naming facts quantize uses.
 *
 * Names/shapes follow llama.cpp's LLM_TENSOR_NAMES and the reference files in
 * ../shared/refs/models (ne in ggml order: a weight {C_in, C_out}). Weights come from
 * core/rng.h seeded per tensor by (seed, tensor name), so a file is a deterministic function
 * of its spec and changing one tensor does not shift the others. */
#ifndef INFER_GGUF_MODEL_H
#define INFER_GGUF_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"
#include "infer/gguf.h"

typedef enum infer_gguf_arch {
    INFER_GGUF_ARCH_LLAMA,
    INFER_GGUF_ARCH_QWEN3,
    INFER_GGUF_ARCH_BERT,
} infer_gguf_arch;

typedef enum infer_gguf_init {
    INFER_GGUF_INIT_FANIN, /* matrices N(0, 1/fan_in), embeddings N(0, 1/hidden) */
    INFER_GGUF_INIT_STD02, /* every weight N(0, 0.02^2) */
} infer_gguf_init;

typedef struct infer_gguf_model_spec {
    infer_gguf_arch arch;
    uint32_t n_layer, n_embd, n_head, n_head_kv, n_ff, n_ctx;
    infer_gguf_init init;
    uint64_t seed;
    rw_dtype type; /* RW_DTYPE_F32 or RW_DTYPE_F16: storage of 2-D tensors (1-D stay F32) */
    char name[96];  /* general.name */
} infer_gguf_model_spec;

/* "llama" | "qwen3" | "bert". */
rw_status infer_gguf_arch_parse(const char *s, infer_gguf_arch *out, rw_err *err);
const char *infer_gguf_arch_str(infer_gguf_arch a);

/* Fills a spec from a preset ("tiny", "small", "bench"; see docs/gguf.md). */
rw_status infer_gguf_model_preset(infer_gguf_arch arch, const char *preset,
                                  infer_gguf_model_spec *out, rw_err *err);

/* Writes the model atomically to path. Tokenizer: every tokenizer.* key of `vocab` when
 * non-NULL (it must have tokenizer.ggml.tokens), else the embedded default (vocab_default.h).
 * *n_params (optional) receives the number of weights written. */
rw_status infer_gguf_model_new(const infer_gguf_model_spec *spec, const infer_gguf *vocab,
                               const char *path, uint64_t *n_params, rw_err *err);

#endif
