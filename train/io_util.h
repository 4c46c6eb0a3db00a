/* Small file-system helpers shared by the train/ I/O modules (checkpoints, adapters,
 * metrics, the trainer's run folder). Private to train/.
 *
 * train_io_commit: fsync + close of an open fd, rename over the destination, fsync of the
 * destination's folder: the last half of every atomic write in train/. */
#ifndef TRAIN_IO_UTIL_H
#define TRAIN_IO_UTIL_H

#include <stddef.h>

#include "core/status.h"

/* "<path>.tmp.<pid>" into buf. */
const char *train_io_tmp_path(const char *path, char *buf, size_t cap);
/* fsync of the folder holding path. */
rw_status train_io_fsync_dir_of(const char *path, rw_err *err);
/* fsync(tmp), rename(tmp, path), fsync(folder). tmp is removed on failure. */
rw_status train_io_commit(const char *tmp, const char *path, rw_err *err);
/* Writes len bytes to path atomically (temp, fsync, rename, fsync folder). */
rw_status train_io_write_file(const char *path, const void *data, size_t len, rw_err *err);
/* Reads a whole file (owned, NUL-terminated, rw_free); limit bounds its size. */
rw_status train_io_read_file(const char *path, size_t limit, char **out, size_t *len, rw_err *err);
/* mkdir -p (mode 0755). */
rw_status train_io_mkdirs(const char *path, rw_err *err);
/* "<a>/<b>" as an owned string (NULL on allocation failure). */
char *train_io_join(const char *a, const char *b);

#endif
