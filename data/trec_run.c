/* TREC run file parser and writer (see trec_run.h for the accepted forms).
 *
 * Invariants: the input buffer is never modified; each line is copied into one growing
 * scratch buffer and split in place there, so callbacks see NUL-terminated views. Every
 * number is checked (integers fit a long, scores are finite). */
#include "data/trec_run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/file.h"
#include "data/lines.h"

enum { MAX_FIELDS = 8 };

static rw_status parse_long(const char *s, long *out) {
    if (!*s) return RW_E_FORMAT;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno || *end) return RW_E_FORMAT;
    *out = v;
    return RW_OK;
}

static rw_status parse_score(const char *s, double *out) {
    if (!*s) return RW_E_FORMAT;
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno == ERANGE && fabs(v) > 1.0) return RW_E_FORMAT;
    if (*end || !isfinite(v)) return RW_E_FORMAT;
    *out = v;
    return RW_OK;
}

rw_status data_trec_run_parse(const char *buf, size_t len, const char *name, data_trec_row_fn fn,
                              void *user, rw_err *err) {
    rw_status st = RW_OK;
    int form = 0; /* 0 unknown, 3 or 6 fields */
    if (!name) name = "<run>";
    data_lines it;
    data_lines_init(&it, buf, len, name);
    char *line;
    int got;
    while ((got = data_lines_next(&it, &line, err)) > 0) {
        size_t lineno = it.lineno;
        char *f[MAX_FIELDS];
        size_t nf = data_split_fields(line, f, MAX_FIELDS);
        if (nf == 0) continue;
        if (nf != 6 && nf != 3) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s:%zu: expected 6 fields (qid Q0 docid rank score tag) or 3 "
                            "(qid docid score), found %zu",
                            name, lineno, nf);
            goto fail;
        }
        if (form == 0) form = (int)nf;
        if ((size_t)form != nf) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s:%zu: found %zu fields but earlier lines have %d (forms cannot be "
                            "mixed)",
                            name, lineno, nf, form);
            goto fail;
        }
        data_trec_row row = {.line = lineno, .rank = -1, .tag = ""};
        const char *score_s;
        if (nf == 6) {
            row.qid = f[0];
            row.docid = f[2];
            row.tag = f[5];
            score_s = f[4];
            if (parse_long(f[3], &row.rank) != RW_OK || row.rank < 0) {
                st = rw_err_set(err, RW_E_FORMAT,
                                "%s:%zu: field 4 (rank): '%.64s' is not a non-negative integer",
                                name, lineno, f[3]);
                goto fail;
            }
        } else {
            row.qid = f[0];
            row.docid = f[1];
            score_s = f[2];
        }
        if (parse_score(score_s, &row.score) != RW_OK) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field %d (score): '%.64s' is not a finite number",
                            name, lineno, nf == 6 ? 5 : 3, score_s);
            goto fail;
        }
        st = fn(user, &row, err);
        if (st != RW_OK) goto fail;
    }
    if (got < 0) st = (rw_status)got;
fail:
    data_lines_deinit(&it);
    return st;
}

rw_status data_trec_run_read(const char *path, data_trec_row_fn fn, void *user, rw_err *err) {
    char *buf = NULL;
    size_t len = 0;
    rw_status st = data_file_read(path, 0, &buf, &len, err);
    if (st != RW_OK) return st;
    st = data_trec_run_parse(buf, len, path, fn, user, err);
    rw_free(buf);
    return st;
}

static int has_space(const char *s) {
    for (; *s; s++)
        if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') return 1;
    return 0;
}

rw_status data_trec_run_write_row(FILE *f, const char *qid, const char *docid, long rank,
                                  double score, const char *tag, rw_err *err) {
    if (!*qid || !*docid || !*tag || has_space(qid) || has_space(docid) || has_space(tag))
        return rw_err_set(err, RW_E_INVALID,
                          "run row (qid '%.64s', docid '%.64s', tag '%.64s'): ids must be "
                          "non-empty without whitespace",
                          qid, docid, tag);
    if (fprintf(f, "%s Q0 %s %ld %.17g %s\n", qid, docid, rank, score, tag) < 0)
        return rw_err_set(err, RW_E_IO, "writing run row for query '%.64s' failed", qid);
    return RW_OK;
}
