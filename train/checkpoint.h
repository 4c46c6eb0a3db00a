/* Training checkpoints in HDF5 (Debian's serial libhdf5): everything a run needs to continue
 * bit for bit: the trainable parameter block, the AdamW moments and step count, the step,
 * the RNG state, the data cursor, and the identities of the recipe and base model.
 *
 * File layout ("rag-workbench.checkpoint/2"; /1 lacked dropout_rng and is refused with a
 * message naming both versions, as is any other version):
 *   512-byte HDF5 user block (HDF5 skips it): "RWCKPT1\n", then "size=<bytes>\n" and
 *   "sha256=<64 hex>\n": the length of the whole file and the digest of every byte after
 *   the user block. Readers verify both BEFORE libhdf5 sees the file, so truncation and
 *   flipped bytes anywhere are refused with a clear message and never reach HDF5's own
 *   parser (which is not hardened against hostile input).
 *   Datasets /params, /adam_m, /adam_v: f32 [n_params].
 *   Root attributes: format (string), step, adam_t, epoch, position, tokens_seen, threads
 *   (int64),
 *   rng (uint64[4]), dropout_rng (uint64[4]: the LoRA dropout mask RNG, train/lora.h),
 *   shuffle_seed, n_params, metrics_offset (uint64), elapsed_s (double),
 *   recipe_sha256, base_sha256 (64 hex digits).
 *
 * Writing is atomic: <path>.tmp.<pid> is written and closed, its user block filled, fsync,
 * rename over path, fsync of the folder. A crash leaves the old checkpoint or the new one.
 * HDF5's automatic error printing is silenced (H5Eset_auto) and its failures become
 * rw_err messages naming the file and the object.
 *
 * Ownership: train_ckpt_read allocates params/adam_m/adam_v (rw_free via
 * train_ckpt_deinit); train_ckpt_write borrows them. */
#ifndef TRAIN_CHECKPOINT_H
#define TRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/sha256.h"

typedef struct train_ckpt {
    int64_t step;       /* optimizer steps completed */
    int64_t adam_t;     /* AdamW step counter */
    uint64_t rng[4];    /* core/rng.h state */
    uint64_t dropout_rng[4]; /* train_lora_dropout_rng state (format /2) */
    int64_t epoch;      /* data cursor: epoch, position in the epoch's order */
    int64_t position;
    uint64_t shuffle_seed; /* order of epoch e = shuffle with seed (shuffle_seed, e) */
    int64_t tokens_seen;
    int64_t threads;    /* worker threads of the run (fixes the reduction order) */
    uint64_t metrics_offset; /* bytes of metrics.jsonl written up to this step */
    double elapsed_s;
    char recipe_sha256[DATA_SHA256_HEX];
    char base_sha256[DATA_SHA256_HEX];
    size_t n_params;
    float *params, *adam_m, *adam_v; /* [n_params] each */
} train_ckpt;

/* Writes c atomically to path (see above). */
rw_status train_ckpt_write(const char *path, const train_ckpt *c, rw_err *err);
/* Verifies and reads path into *out (allocated arrays). RW_E_IO (open), RW_E_FORMAT
 * ("truncated", "checksum mismatch", "not a checkpoint", missing object), RW_E_RANGE (sizes),
 * RW_E_NOMEM. *out written only on success. */
rw_status train_ckpt_read(const char *path, train_ckpt *out, rw_err *err);
void train_ckpt_deinit(train_ckpt *c);

/* Refuses a checkpoint made for another recipe, base model, parameter layout or thread count
 * (RW_E_STATE with both values, short form, and what to do). */
rw_status train_ckpt_check(const train_ckpt *c, const char *path, const char *recipe_sha256,
                           const char *base_sha256, size_t n_params, int64_t threads, rw_err *err);

#endif
