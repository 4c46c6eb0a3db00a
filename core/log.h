/* Logging with one replaceable sink (one of the two permitted mutable globals; set it
 * before threads start). Levels below the threshold are dropped. The default sink writes
 * "[level] message\n" to stderr. Kernels never log. */
#ifndef RW_CORE_LOG_H
#define RW_CORE_LOG_H

typedef enum rw_log_level { RW_LOG_DEBUG, RW_LOG_INFO, RW_LOG_WARN, RW_LOG_ERROR } rw_log_level;

typedef void (*rw_log_sink)(rw_log_level level, const char *msg, void *user);

void rw_log_set_sink(rw_log_sink sink, void *user);
void rw_log_set_level(rw_log_level min_level);
void rw_log(rw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define RW_LOGD(...) rw_log(RW_LOG_DEBUG, __VA_ARGS__)
#define RW_LOGI(...) rw_log(RW_LOG_INFO, __VA_ARGS__)
#define RW_LOGW(...) rw_log(RW_LOG_WARN, __VA_ARGS__)
#define RW_LOGE(...) rw_log(RW_LOG_ERROR, __VA_ARGS__)

#endif
