/* Abort path for RW_ASSERT: one line to stderr, then abort() so a core/ASan report follows. */
#include "core/assert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void rw_assert_fail(const char *file, int line, const char *cond, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: assertion failed: %s: ", file, line, cond);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
