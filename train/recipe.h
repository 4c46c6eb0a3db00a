/* Training recipes: the TOML schema of rag-train (recipes/persona.toml is the documented
 * example, docs/training.md the reference).
 *
 * Sections and keys (every other key is an error naming file:line:col and the allowed keys):
 *   [model]   path, chat_template ("auto" or a family name), threads (0 = default)
 *   [adapter] kind ("lora"), rank, alpha, dropout, rslora, targets ([..] of attn_q, attn_k,
 *             attn_v, attn_output, ffn_gate, ffn_up, ffn_down), layers ("all", "3",
 *             "0-11"), full (bool: full f32 training instead of LoRA)
 *   [data]    train, valid, format (auto|chat|completions|text), max_seq, packing,
 *             on_error (skip|fatal), source (default source id for lines without one)
 *   [train]   steps | epochs (exactly one > 0), batch, grad_accum, lr, schedule
 *             (constant|linear|cosine), warmup, min_lr_ratio, weight_decay, clip, seed,
 *             eval_every, eval_batches, checkpoint_every, checkpointing (bool), log_every
 *   [output]  dir, name, formats ([..] of gguf, peft), dtype (f32|f16), register (bool),
 *             db (workbench database: sources for governance, registry), component
 *
 * Relative paths in the recipe are resolved against the recipe file's folder, so a recipe
 * works from any working directory. Values are range-checked (rank 1..4096, lr > 0, ...)
 * with the key's file:line:col in the message.
 *
 * Identity: the recipe hash is sha256 of the canonical dump (data_toml_dump_str) of the
 * document after every --set override, with the keys of train_recipe_volatile_keys replaced
 * by fixed placeholders: those steer paths, logging and outputs, not the training math, so
 * a run may be resumed with a moved model file (its own sha256 is checked separately), a
 * new output folder or another eval cadence. Everything else (threads included: the thread
 * count is part of determinism) must match for --resume.
 *
 * Ownership: a train_recipe owns every string it points to (train_recipe_deinit). */
#ifndef TRAIN_RECIPE_H
#define TRAIN_RECIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/jsonl.h"
#include "data/sha256.h"
#include "data/toml.h"
#include "train/optim.h"

/* Target modules, as GGUF tensor stems (blk.N.<stem>.weight). */
typedef enum train_target {
    TRAIN_T_ATTN_Q = 0,
    TRAIN_T_ATTN_K,
    TRAIN_T_ATTN_V,
    TRAIN_T_ATTN_OUTPUT,
    TRAIN_T_FFN_GATE,
    TRAIN_T_FFN_UP,
    TRAIN_T_FFN_DOWN,
    TRAIN_T_COUNT
} train_target;

/* "attn_q", ... ; NULL for an out-of-range value. */
const char *train_target_name(train_target t);
/* The Hugging Face / PEFT module name: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj,
 * down_proj. */
const char *train_target_hf_name(train_target t);
/* The PEFT parent module: "self_attn" or "mlp". */
const char *train_target_hf_parent(train_target t);
bool train_target_parse(const char *s, train_target *out);
bool train_target_parse_hf(const char *s, train_target *out);

/* Name of a schedule kind (train/optim.h): "constant", "linear", "cosine". */
const char *train_schedule_name(train_sched_kind s);

typedef struct train_recipe {
    char *recipe_path; /* as given */

    /* [model] */
    char *model_path;    /* resolved */
    char *chat_template; /* "auto" or a family name */
    int threads;         /* 0 = default */

    /* [adapter] */
    bool full;            /* full f32 training of the selected linears */
    int rank;
    double alpha;
    double dropout;
    bool rslora;
    unsigned targets;     /* bit mask of 1u << train_target */
    char *layers_spec;    /* as written ("all", "4", "0-11") */
    int64_t layer_first;  /* inclusive */
    int64_t layer_last;   /* inclusive; -1 = the model's last layer ("all") */

    /* [data] */
    char *train_path; /* resolved */
    char *valid_path; /* resolved, NULL when absent */
    data_jsonl_format format;
    int max_seq;
    bool packing;
    data_jsonl_policy on_error;
    char *source; /* default source id, NULL when absent */

    /* [train] */
    int64_t steps;  /* optimizer steps; 0 when epochs is used */
    int64_t epochs; /* 0 when steps is used */
    int batch;      /* sequences per micro-batch */
    int grad_accum; /* micro-batches per optimizer step */
    double lr, min_lr_ratio;
    train_sched_kind schedule;
    int64_t warmup;
    double weight_decay, clip;
    uint64_t seed;
    int64_t eval_every, eval_batches, checkpoint_every, log_every;
    bool checkpointing;

    /* [output] */
    char *out_dir; /* resolved */
    char *name;    /* [a-z0-9._-]{1,64} */
    bool fmt_gguf, fmt_peft;
    bool out_f16;
    bool do_register;
    char *db_path;   /* resolved; NULL = data_db_default_path(NULL) */
    char *component; /* default "persona:<name>" */

    char sha256[DATA_SHA256_HEX]; /* recipe identity (see above) */
} train_recipe;

/* Reads `path`, applies the `--set` assignments in order (data_toml_set syntax), checks the
 * schema and fills *out. Messages name file:line:col (or "--set") and the key. */
rw_status train_recipe_load(const char *path, const char *const *sets, size_t n_sets,
                            train_recipe *out, rw_err *err);
/* Same from text (path used for messages and for resolving relative paths). */
rw_status train_recipe_parse(const char *text, size_t len, const char *path,
                             const char *const *sets, size_t n_sets, train_recipe *out,
                             rw_err *err);
/* Same from a parsed doc (not modified). */
rw_status train_recipe_from_doc(const data_toml_doc *doc, const char *path, train_recipe *out,
                                rw_err *err);
void train_recipe_deinit(train_recipe *r);

/* Keys dropped before hashing ("section.key"), NULL-terminated: they steer logging and
 * output only. */
extern const char *const train_recipe_volatile_keys[];

/* Parses a layer spec ("all", "5", "0-11": one contiguous range, which is what train/lora.h
 * adapts) into first/last (last = -1 for "all"). RW_E_FORMAT / RW_E_RANGE with the text. */
rw_status train_layers_parse(const char *spec, int64_t *first, int64_t *last, rw_err *err);

/* The recipe's targets as the comma-separated list train/lora.h takes, into buf. */
const char *train_recipe_targets_csv(const train_recipe *r, char *buf, size_t cap);

#endif
