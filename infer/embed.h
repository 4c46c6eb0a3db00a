/* Sentence embeddings: batched encoder (bert) or decoder (last/mean pooled, e.g. Qwen3
 * embedding models) forward, pooling, L2 normalisation, and cosine scoring.
 *
 * Encoders run a whole batch packed (sequences back to back, attention within each
 * sequence: the padding mask without padding); decoders run one sequence at a time. Pooling
 * defaults to the model's (<arch>.pooling_type; decoders: last token) and can be
 * overridden. Decoder states are pooled after the output norm, as llama.cpp does.
 * The step arena grows (re-allocated) when a batch needs more than it has. */
#ifndef INFER_EMBED_H
#define INFER_EMBED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/pool.h"
#include "core/status.h"
#include "infer/model.h"
#include "infer/tokenizer.h"

typedef struct infer_embed_cfg {
    int pooling;          /* infer_pooling, or -1 for the model's */
    bool normalize;       /* divide by the L2 norm (default true) */
    int n_threads;        /* <= 0: physical cores; ignored when pool is set */
    rw_pool *pool;        /* borrowed or NULL */
    bool f32_activations; /* exact path for quantized weights */
    int64_t max_tokens;   /* truncation per text (<= 0: the model's positions / context) */
} infer_embed_cfg;

typedef struct infer_embedder {
    const infer_model *m; /* borrowed */
    infer_embed_cfg cfg;
    rw_pool *pool;
    bool own_pool;
    rw_arena arena;
} infer_embedder;

void infer_embed_cfg_default(infer_embed_cfg *cfg);
rw_status infer_embedder_create(const infer_model *m, const infer_embed_cfg *cfg,
                                infer_embedder **out, rw_err *err);
void infer_embedder_destroy(infer_embedder *e);
/* Dimension of the vectors (n_embd). */
int64_t infer_embedder_dim(const infer_embedder *e);
/* ids: n_seq sequences back to back, lens[b] each -> out[n_seq][dim]. */
rw_status infer_embed_ids(infer_embedder *e, const int32_t *ids, const int32_t *lens, int64_t n_seq,
                          float *out, rw_err *err);
/* Tokenizes texts (special tokens added as the vocabulary says, truncated to max_tokens)
 * and embeds them -> out[n][dim]. */
rw_status infer_embed_texts(infer_embedder *e, const infer_tokenizer *tok, const char *const *texts,
                            int64_t n, float *out, rw_err *err);
/* a . b / (|a| |b|) in double (0 when a norm is 0). */
double infer_cosine(const float *a, const float *b, int64_t n);

#endif
