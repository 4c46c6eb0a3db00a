/* Status names and error message formatting. Messages are truncated, never overflowed. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *rw_status_str(rw_status s) {
    switch (s) {
    case RW_OK: return "ok";
    case RW_E_INVALID: return "invalid argument";
    case RW_E_NOMEM: return "out of memory";
    case RW_E_IO: return "I/O error";
    case RW_E_FORMAT: return "format error";
    case RW_E_RANGE: return "out of range";
    case RW_E_NOTFOUND: return "not found";
    case RW_E_UNSUPPORTED: return "unsupported";
    case RW_E_DB: return "database error";
    case RW_E_STATE: return "invalid state";
    case RW_E_NUMERIC: return "numeric error";
    }
    return "unknown error";
}

rw_status rw_err_set(rw_err *err, rw_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

rw_status rw_err_prefix(rw_err *err, const char *fmt, ...) {
    if (!err) return RW_OK;
    char head[RW_ERR_MSG], old[RW_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation is intended: the message is capped at RW_ERR_MSG bytes. */
    size_t hl = strnlen(head, sizeof head - 1), ol = strnlen(old, sizeof old - 1);
    if (hl > sizeof err->msg - 1) hl = sizeof err->msg - 1;
    if (ol > sizeof err->msg - 1 - hl) ol = sizeof err->msg - 1 - hl;
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, old, ol);
    err->msg[hl + ol] = '\0';
    return err->code;
}

void rw_err_clear(rw_err *err) {
    if (err) {
        err->code = RW_OK;
        err->msg[0] = '\0';
    }
}
