/* Training metrics: one JSON object per line in <out>/metrics.jsonl, and on a terminal a
 * one-line progress display with an ETA.
 *
 * Line format (keys in this order; absent values are left out):
 *   {"step":12,"loss":2.3456789012345678,"lr":0.0002,"grad_norm":0.81,"tokens":2048,
 *    "tokens_per_s":5321.4,"elapsed_s":3.2,"val_loss":2.1}
 * loss and val_loss are printed with 17 significant digits, so they read back as the exact
 * double the trainer computed (the resume test compares them bit for bit). A line with only
 * "step" and "val_loss" records an evaluation outside a training step (step 0).
 *
 * Resume: train_metrics_open(path, keep) truncates the file to its first `keep` bytes (the
 * offset saved in the checkpoint) so steps logged after the checkpoint by a killed run are
 * dropped and logged again identically.
 *
 * Not thread-safe; one writer per file. */
#ifndef TRAIN_METRICS_LOG_H
#define TRAIN_METRICS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef struct train_metrics train_metrics;

typedef struct train_metrics_rec {
    int64_t step;
    bool has_train; /* loss, lr, grad_norm, tokens, tokens_per_s, elapsed_s valid */
    double loss, lr, grad_norm;
    int64_t tokens;
    double tokens_per_s, elapsed_s;
    bool has_val;
    double val_loss;
} train_metrics_rec;

/* Opens path for appending after truncating it to keep bytes (0 = start a new file).
 * RW_E_STATE when the file is shorter than keep (it does not belong to the checkpoint). */
rw_status train_metrics_open(const char *path, uint64_t keep, train_metrics **out, rw_err *err);
/* Writes one line and flushes it. */
rw_status train_metrics_write(train_metrics *m, const train_metrics_rec *r, rw_err *err);
/* Bytes written so far (everything flushed), after an fsync. */
rw_status train_metrics_sync(train_metrics *m, uint64_t *offset, rw_err *err);
void train_metrics_close(train_metrics *m);

/* Formats one JSON line (no newline) into buf; returns its length (truncated to cap-1). */
int train_metrics_format(const train_metrics_rec *r, char *buf, size_t cap);

/* Progress line on a terminal: "\r step 12/200 loss 2.3457 val 2.1000 lr 2.0e-04
 * 5321 tok/s ETA 1m05s" padded to clear the previous line. Does nothing unless f is a TTY.
 * val < 0 leaves it out. done = true ends the line. */
void train_progress(FILE *f, int64_t step, int64_t total, double loss, double val, double lr,
                    double tok_s, double elapsed_s, bool done);

#endif
