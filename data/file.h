/* Whole-file reads and atomic writes, shared by the data/, eval/ and train/ readers and
 * writers (runs, qrels, recipes, manifests, metrics, comparison.json, reports, mined
 * datasets, checkpoints, safetensors and PEFT files).
 *
 * Invariants: a reader's buffer is NUL-terminated (buf[len] == '\0') and owned by the caller;
 * a writer never leaves a half-written file at the destination: it writes a temp file in
 * the destination's folder (<path>.tmp.<pid>.<n>, mode 0666 less the umask), fsyncs it,
 * renames it over the destination and fsyncs the folder, or removes the temp file and leaves
 * the destination as it was.
 * Errors name the path and the system's reason (strerror). */
#ifndef RW_DATA_FILE_H
#define RW_DATA_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

/* Reads the file at path whole. max_bytes > 0 caps the size (RW_E_RANGE beyond it);
 * 0 means no cap. *out (owned, rw_free) and *len are written only on success. */
rw_status data_file_read(const char *path, size_t max_bytes, char **out, size_t *len, rw_err *err);

/* A file being written atomically: write through f, then commit or abort exactly once. */
typedef struct data_atomic_file {
    FILE *f;    /* borrowed until commit/abort */
    char *path; /* owned: the destination */
    char *tmp;  /* owned: the temp file */
} data_atomic_file;

/* Creates the temp file beside path. On failure *af is left zeroed. */
rw_status data_atomic_open(data_atomic_file *af, const char *path, rw_err *err);
/* Flushes, fsyncs and renames over the destination, then fsyncs its folder; on a failure
 * before the rename removes the temp file (a failed folder fsync is reported, but the
 * destination has been replaced). Releases af either way. Anything that wrote the temp file
 * through another descriptor (af->tmp by name) is covered too: fsync is per file. */
rw_status data_atomic_commit(data_atomic_file *af, rw_err *err);
/* Removes the temp file and releases af (the destination is untouched). No-op when zeroed. */
void data_atomic_abort(data_atomic_file *af);

/* data_atomic_open + one write of len bytes + commit. */
rw_status data_file_write_atomic(const char *path, const void *data, size_t len, rw_err *err);

#endif
