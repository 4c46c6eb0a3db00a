/* Metrics JSONL and the terminal progress line (train/metrics_log.h). */
#include "train/metrics_log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

struct train_metrics {
    FILE *f;
    char *path;
};

rw_status train_metrics_open(const char *path, uint64_t keep, train_metrics **out, rw_err *err) {
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    if (keep > 0 && (!exists || (uint64_t)sb.st_size < keep))
        return rw_err_set(err, RW_E_STATE,
                          "%s: holds %lld bytes, the checkpoint expects at least %" PRIu64
                          " (was the metrics file replaced?)",
                          path, exists ? (long long)sb.st_size : 0LL, keep);
    if (exists && truncate(path, (off_t)keep) != 0)
        return rw_err_set(err, RW_E_IO, "%s: truncate failed: %s", path, strerror(errno));
    FILE *f = fopen(path, "ab");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    train_metrics *m = rw_calloc(1, sizeof *m);
    if (!m || !(m->path = rw_strdup(path))) {
        fclose(f);
        rw_free(m);
        return rw_err_set(err, RW_E_NOMEM, "out of memory");
    }
    m->f = f;
    *out = m;
    return RW_OK;
}

int train_metrics_format(const train_metrics_rec *r, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "{\"step\":%" PRId64, r->step);
#define APPEND(...)                                                                            \
    do {                                                                                       \
        if (n >= 0 && (size_t)n < cap) n += snprintf(buf + n, cap - (size_t)n, __VA_ARGS__);   \
    } while (0)
    if (r->has_train) {
        APPEND(",\"loss\":%.17g,\"lr\":%.9g,\"grad_norm\":%.9g,\"tokens\":%" PRId64
               ",\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f",
               r->loss, r->lr, r->grad_norm, r->tokens, r->tokens_per_s, r->elapsed_s);
    }
    if (r->has_val) APPEND(",\"val_loss\":%.17g", r->val_loss);
    APPEND("}");
#undef APPEND
    if (n < 0) return 0;
    return (size_t)n < cap ? n : (int)cap - 1;
}

rw_status train_metrics_write(train_metrics *m, const train_metrics_rec *r, rw_err *err) {
    char line[512];
    train_metrics_format(r, line, sizeof line);
    if (fprintf(m->f, "%s\n", line) < 0 || fflush(m->f) != 0)
        return rw_err_set(err, RW_E_IO, "%s: write failed: %s", m->path, strerror(errno));
    return RW_OK;
}

rw_status train_metrics_sync(train_metrics *m, uint64_t *offset, rw_err *err) {
    if (fflush(m->f) != 0 || fsync(fileno(m->f)) != 0)
        return rw_err_set(err, RW_E_IO, "%s: flush failed: %s", m->path, strerror(errno));
    long pos = ftell(m->f);
    if (pos < 0) return rw_err_set(err, RW_E_IO, "%s: ftell failed", m->path);
    *offset = (uint64_t)pos;
    return RW_OK;
}

void train_metrics_close(train_metrics *m) {
    if (!m) return;
    fclose(m->f);
    rw_free(m->path);
    rw_free(m);
}

void train_progress(FILE *f, int64_t step, int64_t total, double loss, double val, double lr,
                    double tok_s, double elapsed_s, bool done) {
    if (!f || !isatty(fileno(f))) return;
    char eta[32] = "-";
    if (step > 0 && total > step) {
        double left = elapsed_s / (double)step * (double)(total - step);
        long s = (long)(left + 0.5);
        if (s >= 3600) snprintf(eta, sizeof eta, "%ldh%02ldm", s / 3600, s / 60 % 60);
        else snprintf(eta, sizeof eta, "%ldm%02lds", s / 60, s % 60);
    } else if (total <= step) {
        snprintf(eta, sizeof eta, "0s");
    }
    char vbuf[32] = "";
    if (val >= 0) snprintf(vbuf, sizeof vbuf, " val %.4f", val);
    fprintf(f, "\r step %" PRId64 "/%" PRId64 " loss %.4f%s lr %.1e %.0f tok/s ETA %s   ", step,
            total, loss, vbuf, lr, tok_s, eta);
    if (done) fputc('\n', f);
    fflush(f);
}
