/* `rag-gguf quantize`: file types (llama.cpp's llama_ftype numbers, stored in
 * general.file_type), the per-tensor type plan, and the file conversion.
 *
 * The plan follows llama.cpp's llama-quantize rules (facts read from llama_tensor_get_type,
 * checked against ../shared/refs/models/bert-tiny-q4_k_m.gguf):
 *   - only 2-D (or more) tensors whose name ends in "weight" are quantized; never
 *     "*_norm.weight", position_embd.weight or token_types.weight;
 *   - output.weight, or token_embd.weight when there is no output.weight (tied), becomes
 *     Q6_K (Q8_0 when its row is not a multiple of 256; kept when the base type is Q8_0);
 *   - Q4_K_M / Q5_K_M: attn_v.weight and ffn_down.weight of layer i (of n) become Q6_K when
 *     use_more_bits(i, n): i < n/8 || i >= 7n/8 || (i - n/8) % 3 == 2;
 *   - a type whose block does not divide the row falls back (Q4_K->Q5_0, Q5_K->Q5_1,
 *     Q6_K->Q8_0, then F16). */
#ifndef INFER_GGUF_QUANT_H
#define INFER_GGUF_QUANT_H

#include <stdint.h>

#include "core/dtype.h"
#include "core/status.h"
#include "infer/gguf.h"

typedef enum infer_gguf_ftype {
    INFER_GGUF_FTYPE_F32 = 0,
    INFER_GGUF_FTYPE_F16 = 1,
    INFER_GGUF_FTYPE_Q4_0 = 2,
    INFER_GGUF_FTYPE_Q4_1 = 3,
    INFER_GGUF_FTYPE_Q8_0 = 7,
    INFER_GGUF_FTYPE_Q5_0 = 8,
    INFER_GGUF_FTYPE_Q5_1 = 9,
    INFER_GGUF_FTYPE_Q4_K_M = 15,
    INFER_GGUF_FTYPE_Q5_K_M = 17,
    INFER_GGUF_FTYPE_Q6_K = 18,
} infer_gguf_ftype;

/* "Q4_K_M", "F16", ...; "?" for numbers this project does not name. */
const char *infer_gguf_ftype_name(uint32_t ftype);
/* Case-insensitive; accepts the quantize targets Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q4_K_M Q5_K_M Q6_K. */
rw_status infer_gguf_ftype_parse(const char *s, infer_gguf_ftype *out, rw_err *err);

/* The type every tensor of `in` gets for `ftype` (types[n_tensors], in file order). */
rw_status infer_gguf_quant_plan(const infer_gguf *in, infer_gguf_ftype ftype, rw_dtype *types,
                                rw_err *err);

typedef struct infer_gguf_quant_stats {
    uint64_t n_tensors, n_quantized;
    uint64_t bytes_in, bytes_out; /* tensor data only */
} infer_gguf_quant_stats;

/* Writes `in` quantized to `ftype` at path (atomically): metadata copied, general.file_type
 * and general.quantization_version (2) set. Input tensors must be F32, F16 or BF16 where
 * they are to be quantized (requantizing is refused). stats may be NULL. */
rw_status infer_gguf_quantize(const infer_gguf *in, const char *path, infer_gguf_ftype ftype,
                              infer_gguf_quant_stats *stats, rw_err *err);

#endif
