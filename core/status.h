/* Status codes and error reports for failures caused by the outside world.
 *
 * Invariants: RW_OK is 0, every error is negative. A function that fails returns the code
 * and, when given a non-NULL rw_err, fills it with one message naming what failed, the
 * offending value and where (file:line:col, byte offset, field). Out-parameters are
 * written only on success. Programmer errors use RW_ASSERT (core/assert.h) instead. */
#ifndef RW_CORE_STATUS_H
#define RW_CORE_STATUS_H

#include <stddef.h>

typedef enum rw_status {
    RW_OK = 0,
    RW_E_INVALID = -1,   /* bad argument or malformed input */
    RW_E_NOMEM = -2,     /* allocation failed */
    RW_E_IO = -3,        /* open/read/write/mmap/fsync/rename failed */
    RW_E_FORMAT = -4,    /* file or message violates its format */
    RW_E_RANGE = -5,     /* a count, size or offset is out of bounds or overflows */
    RW_E_NOTFOUND = -6,  /* key, tensor, row or file is missing */
    RW_E_UNSUPPORTED = -7, /* valid input this build cannot handle */
    RW_E_DB = -8,        /* SQLite error */
    RW_E_STATE = -9,     /* operation not allowed in the current state */
    RW_E_NUMERIC = -10,  /* NaN/Inf or divergence */
} rw_status;

enum { RW_ERR_MSG = 512 };

typedef struct rw_err {
    rw_status code;
    char msg[RW_ERR_MSG];
} rw_err;

/* Returns the short name of a status ("invalid", "out of memory", ...). */
const char *rw_status_str(rw_status s);

/* Fills err (when non-NULL) with code and a printf-style message; returns code so callers
 * can write `return rw_err_set(err, RW_E_FORMAT, "...")`. */
rw_status rw_err_set(rw_err *err, rw_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends context ("file.gguf: ") to an existing message; keeps the code. */
rw_status rw_err_prefix(rw_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Clears err to RW_OK and an empty message. */
void rw_err_clear(rw_err *err);

#endif
