/* Decoder runtime: a session (model + KV cache + step arena + pool), batched prefill,
 * single-token decode, sampling, and log-probabilities of given tokens after a prompt.
 *
 * Memory: the session allocates everything at create (KV cache, arena sized for n_batch
 * tokens, logits buffer); decode allocates nothing on the heap (the arena is reset per step
 * and, without a tape, rolled back after each layer so only the residual stream survives).
 * Prefill splits prompts into chunks of n_batch tokens.
 *
 * Sampling order (as llama.cpp's common sampler): temperature <= 0 is greedy (argmax, lowest
 * id on ties); otherwise top-k (k <= 0: all), softmax at temperature, top-p (nucleus, keeps
 * the smallest prefix with mass >= p), min-p (drops p < min_p * p_max), then one draw from
 * the seeded RNG. Stop conditions: max tokens, end-of-generation tokens, stop strings. */
#ifndef INFER_GENERATE_H
#define INFER_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/pool.h"
#include "core/rng.h"
#include "core/status.h"
#include "infer/model.h"

typedef struct infer_session_cfg {
    int64_t n_ctx;        /* KV cache positions (<= 0: min(model's n_ctx_train, 4096)) */
    int64_t n_batch;      /* prefill chunk (<= 0: 512) */
    int n_threads;        /* <= 0: physical cores; ignored when pool is given */
    rw_pool *pool;        /* borrowed, or NULL to create one */
    bool f32_activations; /* exact path for quantized weights (infer/ops.h) */
} infer_session_cfg;

typedef struct infer_session {
    const infer_model *m; /* borrowed */
    infer_kv_cache kv;
    rw_arena arena;
    rw_pool *pool;
    bool own_pool;
    infer_session_cfg cfg;
    float *logits; /* owned [n_vocab]: the last position's logits after prefill/decode */
} infer_session;

void infer_session_cfg_default(infer_session_cfg *cfg);
rw_status infer_session_create(const infer_model *m, const infer_session_cfg *cfg,
                               infer_session **out, rw_err *err);
void infer_session_destroy(infer_session *s);
/* Forgets the cached sequence. */
void infer_session_reset(infer_session *s);
/* Appends ids to the cached sequence; s->logits holds the last position's logits. */
rw_status infer_session_prefill(infer_session *s, const int32_t *ids, int64_t n, rw_err *err);
static inline rw_status infer_session_decode(infer_session *s, int32_t id, rw_err *err) {
    return infer_session_prefill(s, &id, 1, err);
}

/* Log-probabilities log softmax(logits)[cand[i]] of the position after `prompt` (the
 * session is reset first). out[n_cand]. */
rw_status infer_logprobs_after(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                               const int32_t *cand, int64_t n_cand, float *out, rw_err *err);
/* Sum of log p(cont[i] | prompt, cont[<i]) (session reset first). One pass over prompt and
 * cont[0..n_cont-2]; the output projection runs only at the n_cont positions that predict a
 * continuation token, in blocks of rows (bounded memory). Afterwards the session holds
 * prompt + cont[0..n_cont-2] and s->logits the last of those positions' logits. */
rw_status infer_continuation_logprob(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                                     const int32_t *cont, int64_t n_cont, double *out, rw_err *err);

/* Critic score p(yes) / (p(yes) + p(no)) at the position after `prompt` (session reset
 * first); logprobs[2] (may be NULL) receives log p(yes), log p(no). */
rw_status infer_yes_no_score(infer_session *s, const int32_t *prompt, int64_t n_prompt,
                             int32_t yes_id, int32_t no_id, double *score, float *logprobs,
                             rw_err *err);

/* ---- sampling ------------------------------------------------------------------------ */
typedef struct infer_sampler_cfg {
    float temp;  /* <= 0: greedy */
    int top_k;   /* <= 0: off */
    float top_p; /* >= 1: off */
    float min_p; /* <= 0: off */
    uint64_t seed;
} infer_sampler_cfg;

typedef struct infer_sampler {
    infer_sampler_cfg cfg;
    rw_rng rng;
    int64_t n_vocab;
    int32_t *idx;   /* owned [n_vocab]: candidates in descending logit order */
    float *p;       /* owned [n_vocab] */
    int32_t *idx2;  /* owned [n_vocab]: radix sort ping-pong */
    uint32_t *keys; /* owned [2 * n_vocab]: radix sort keys */
    float *e;       /* owned [n_vocab]: exp((logit - max) / temp) per id (top-k off) */
} infer_sampler;

void infer_sampler_cfg_default(infer_sampler_cfg *cfg); /* greedy, top_p 1, seed 42 */
rw_status infer_sampler_init(infer_sampler *s, const infer_sampler_cfg *cfg, int64_t n_vocab,
                             rw_err *err);
void infer_sampler_deinit(infer_sampler *s);
/* Picks the next id from logits[n_vocab]. */
int32_t infer_sample(infer_sampler *s, const float *logits);

#endif
