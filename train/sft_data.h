/* SFT data: MLX-LM JSONL examples (chat "messages", "prompt"/"completion", "text") turned
 * into token ids and loss masks, through the model's chat template, with governance.
 *
 * Per example (data/jsonl.h reads the file, streaming, with file:line:field errors):
 *   chat         infer_chat_render(messages) -> text with assistant spans; tokenized with
 *                INFER_TOK_ADD_SPECIAL | INFER_TOK_PARSE_SPECIAL; mask = tokens overlapping
 *                an assistant span (content + end-of-turn marker) via infer_chat_token_mask.
 *                Loss on every assistant turn (prompt masking: system/user/template tokens
 *                carry no loss).
 *   completions  [user: prompt, assistant: completion] through the same template (MLX-LM).
 *   text         tokenized with INFER_TOK_ADD_SPECIAL, EOS appended when the vocabulary has
 *                one; mask = every token except a leading BOS.
 * Longer than max_seq: truncated to the first max_seq tokens (counted). An example left with
 * no loss token is dropped (manifest reason "no_target"). Bad lines follow the recipe's
 * policy: SKIP logs "file:line: field: what" (first DATA_JSONL_KEEP_MESSAGES) and counts
 * them in the manifest as "parse_error"; FATAL stops with that message.
 * Governance: each example's source (its "source" field, else the default) must pass
 * data_manifest_admit; rejected ones are dropped and counted by reason in the manifest.
 * Packing (optional): examples are concatenated in file order into rows of max_seq tokens;
 * attention then crosses example boundaries inside a row (no segment mask), which is what
 * simple packing trainers do; the loss mask still covers only assistant tokens.
 *
 * Targets: for a row ids[0..n) with mask m, position t predicts ids[t+1] and counts when
 * m[t+1] = 1 (train_sft_targets).
 *
 * Ownership: a train_sft_set owns its rows (train_sft_set_deinit). */
#ifndef TRAIN_SFT_DATA_H
#define TRAIN_SFT_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/governance.h"
#include "data/jsonl.h"
#include "infer/chat_template.h"
#include "infer/tokenizer.h"

typedef struct train_sft_opts {
    const infer_tokenizer *tok; /* borrowed */
    infer_chat_tmpl tmpl;       /* required for chat and completions */
    data_jsonl_format format;   /* AUTO, CHAT, COMPLETIONS or TEXT */
    data_jsonl_policy on_error;
    const char *default_source; /* may be NULL */
    int max_seq;                /* >= 2 */
    bool packing;
    data_manifest *manifest;    /* borrowed; NULL admits every example (tests) */
} train_sft_opts;

typedef struct train_sft_row {
    int32_t *ids;  /* [n] */
    uint8_t *mask; /* [n]: 1 = token carries loss */
    int32_t n;
    int32_t n_target; /* positions t < n-1 with mask[t+1] = 1 */
} train_sft_row;

typedef struct train_sft_set {
    train_sft_row *rows;
    size_t n_rows;
    size_t n_examples;     /* examples kept (before packing) */
    size_t n_lines_skipped;/* bad lines skipped (SKIP policy) */
    size_t n_truncated;
    size_t n_no_target;
    size_t n_rejected;     /* governance */
    int64_t n_tokens, n_targets;
    data_jsonl_format format; /* detected */
} train_sft_set;

/* Reads path into *out (written only on success). Errors: data/jsonl.h's (file:line:field)
 * under FATAL, RW_E_INVALID when chat/completions come without a template, RW_E_NOMEM. */
rw_status train_sft_load(const char *path, const train_sft_opts *o, train_sft_set *out,
                         rw_err *err);
/* Same from memory (name used in messages). */
rw_status train_sft_load_mem(const void *buf, size_t len, const char *name,
                             const train_sft_opts *o, train_sft_set *out, rw_err *err);
void train_sft_set_deinit(train_sft_set *s);

/* targets[t] = ids[t+1] when mask[t+1], else -1; targets[n-1] = -1. Returns n_target. */
int32_t train_sft_targets(const train_sft_row *r, int32_t *targets);

#endif
