/* Small file-system helpers of train/ (the trainer's run folder, PEFT export folders).
 * Private to train/. Whole-file reads and atomic writes are data/file.h's. */
#ifndef TRAIN_IO_UTIL_H
#define TRAIN_IO_UTIL_H

#include "core/status.h"

/* mkdir -p (mode 0755). */
rw_status train_io_mkdirs(const char *path, rw_err *err);
/* "<a>/<b>" as an owned string (NULL on allocation failure). */
char *train_io_join(const char *a, const char *b);

#endif
