/* Log sink and threshold. Messages longer than 2 KiB are truncated. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static void default_sink(rw_log_level level, const char *msg, void *user) {
    (void)user;
    fprintf(stderr, "[%s] %s\n", level_names[level], msg);
}

static rw_log_sink g_sink = default_sink;
static void *g_user;
static rw_log_level g_min = RW_LOG_INFO;

void rw_log_set_sink(rw_log_sink sink, void *user) {
    g_sink = sink ? sink : default_sink;
    g_user = user;
}

void rw_log_set_level(rw_log_level min_level) { g_min = min_level; }

void rw_log(rw_log_level level, const char *fmt, ...) {
    if (level < g_min) return;
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_sink(level, buf, g_user);
}
