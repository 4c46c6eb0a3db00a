/* A loaded model bundle for programs: the model, its tokenizer (when the GGUF has one) and
 * the LoRA adapters attached to it, opened from command-line style specs.
 *
 * Lora specs are "FILE" or "FILE:SCALE" (scale defaults to 1). The bundle owns everything;
 * infer_runtime_close releases adapters after detaching them. */
#ifndef INFER_RUNTIME_H
#define INFER_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "infer/lora.h"
#include "infer/model.h"
#include "infer/tokenizer.h"

typedef struct infer_runtime {
    infer_model *model;
    infer_tokenizer *tok; /* NULL when the file has no tokenizer.ggml.* metadata */
    infer_lora *lora[INFER_MAX_LORA];
    int n_lora;
} infer_runtime;

/* Parses "FILE[:SCALE]" into path (copied, at most cap bytes) and scale. */
rw_status infer_parse_lora_spec(const char *spec, char *path, size_t cap, float *scale,
                                rw_err *err);
rw_status infer_runtime_open(const char *model_path, const char *const *lora_specs, int n_lora,
                             infer_runtime *rt, rw_err *err);
void infer_runtime_close(infer_runtime *rt);
/* Parses "1,2,3" into a heap array (rw_free); RW_E_INVALID names the bad item. */
rw_status infer_parse_ids(const char *s, int32_t **ids, int64_t *n, rw_err *err);
/* Strict command-line numbers: the whole of s must be a number in [lo, hi] (floats: finite).
 * RW_E_INVALID names the option and the offending text; *out is written only on success. */
rw_status infer_parse_i64_arg(const char *opt, const char *s, int64_t lo, int64_t hi,
                              int64_t *out, rw_err *err);
rw_status infer_parse_u64_arg(const char *opt, const char *s, uint64_t *out, rw_err *err);
rw_status infer_parse_f32_arg(const char *opt, const char *s, double lo, double hi, float *out,
                              rw_err *err);


/* Options every model-running program shares (rag-generate, rag-embed, rag-score):
 * --threads/-t N (0 = physical cores, at most 1024), --lora FILE[:SCALE] (repeatable, at most
 * INFER_MAX_LORA), --f32. The lora strings are borrowed from argv. */
typedef struct infer_cli_common {
    const char *lora[INFER_MAX_LORA];
    int n_lora;
    int threads;
    bool f32;
} infer_cli_common;

/* When argv[*i] is one of the common options, consumes it (and its value: *i advances) and
 * sets *used; otherwise leaves *i and sets *used = false. RW_E_INVALID names the option on a
 * missing or bad value or one --lora too many. */
rw_status infer_cli_common_opt(infer_cli_common *c, int argc, char **argv, int *i, bool *used,
                               rw_err *err);

#endif
