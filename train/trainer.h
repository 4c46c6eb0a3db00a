/* The SFT training loop behind rag-train: recipe -> model + LoRA -> data (governance) ->
 * steps (forward, masked cross-entropy, backward, clip, AdamW) -> validation, metrics,
 * HDF5 checkpoints -> GGUF / PEFT adapter, manifest, registry.
 *
 * Step s (0-based) takes batch * grad_accum rows from the data cursor. The cursor walks the
 * rows of epoch e in the order of rw_rng_shuffle_u32 seeded with (train.seed, e); it is saved
 * in checkpoints (epoch, position), so a resumed run sees exactly the rows the uninterrupted
 * run would. The step loss is the token-weighted mean over the step's rows (each row's
 * backward is seeded with n_target_row / n_target_step), so gradient accumulation equals one
 * big batch. Reductions run in a fixed order for a given thread count: the same recipe,
 * seed and threads give the same losses bit for bit, interrupted or not.
 *
 * Run folder ([output].dir): checkpoint.h5 (every checkpoint_every steps and at the end),
 * metrics.jsonl, manifest.json, <name>.gguf and <name>-peft/ as [output].formats says.
 * A NaN/Inf loss or gradient stops the run with RW_E_NUMERIC naming the step; the last good
 * checkpoint stays as it was. Without --resume an existing checkpoint.h5 is refused (so a
 * finished or interrupted run is never overwritten by accident); with --resume a checkpoint
 * made for another recipe or base model is refused (train/checkpoint.h).
 *
 * Validation: at step 0 and every eval_every steps (and at the end), the token-weighted mean
 * loss over the validation rows (the first eval_batches * batch rows when eval_batches > 0).
 *
 * Not thread-safe; uses its own worker pool of [model].threads threads. */
#ifndef TRAIN_TRAINER_H
#define TRAIN_TRAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "train/recipe.h"

typedef struct train_run_opts {
    bool resume;
    /* Test hook: return after this many optimizer steps in this process, as a kill would
     * (no final checkpoint, no outputs). 0 = run to the end. */
    int64_t stop_after;
    FILE *progress; /* terminal for the progress line (NULL = none); used only if a TTY */
    bool quiet;     /* no informational log lines */
} train_run_opts;

typedef struct train_run_result {
    int64_t steps;           /* optimizer steps completed (total when finished) */
    int64_t total_steps;
    bool finished;
    bool resumed;            /* continued from a checkpoint */
    int64_t resumed_from;    /* its step */
    double first_val_loss;   /* at step 0 (NaN when no validation set or resumed past it) */
    double last_val_loss;    /* at the end (NaN when no validation set) */
    double last_loss;
    double tokens_per_s;     /* tokens forwarded per second of training in this process */
    int64_t train_rows, valid_rows;
    char adapter_path[1024]; /* GGUF written, "" when none */
    char adapter_id[160];    /* registry id, "" when not registered */
} train_run_result;

/* Runs (or resumes) the recipe. res may be NULL. */
rw_status train_run(const train_recipe *r, const train_run_opts *o, train_run_result *res,
                    rw_err *err);

#endif
