/* BEIR JSONL and qrels readers (see beir.h).
 *
 * Invariants: the JSONL reader keeps one line in memory at a time (getline's growing
 * buffer), parses it with Jansson and hands views to the callback; the qrels reader splits
 * a private copy of each line. Both report <file>:<line> and the field on errors. */
#include "data/beir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "data/file.h"
#include "data/lines.h"

/* Reads one line (without '\n', trailing '\r' dropped) into *buf with getline; returns 1 on
 * a line, 0 at EOF, a negative status on error. *buf is getline's (libc malloc: release it
 * with free, not rw_free); it is the one buffer of this file outside rw_malloc, so the
 * allocation-failure injector does not reach it. */
static int read_line(FILE *f, char **buf, size_t *cap, size_t *len) {
    errno = 0;
    ssize_t got = getline(buf, cap, f);
    if (got < 0) { /* end of file, or an error that errno / the stream's flag tells */
        if (ferror(f)) return RW_E_IO;
        if (errno == ENOMEM) return RW_E_NOMEM;
        if (errno == EOVERFLOW) return RW_E_RANGE;
        return 0;
    }
    size_t n = (size_t)got;
    if (n > 0 && (*buf)[n - 1] == '\n') n--;
    if (n > 0 && (*buf)[n - 1] == '\r') n--;
    (*buf)[n] = '\0';
    *len = n;
    return 1;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

rw_status data_beir_read_jsonl(const char *path, data_beir_record_fn fn, void *user, rw_err *err) {
    rw_status st = RW_OK;
    char *line = NULL;
    size_t cap = 0, len = 0, lineno = 0;
    json_t *obj = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return rw_err_set(err, RW_E_IO, "%s: cannot open: %s", path, strerror(errno));
    for (;;) {
        int r = read_line(f, &line, &cap, &len);
        if (r == 0) break;
        lineno++;
        if (r < 0) {
            st = rw_err_set(err, (rw_status)r, "%s:%zu: %s while reading the line", path, lineno,
                            rw_status_str((rw_status)r));
            goto fail;
        }
        if (is_blank(line, len)) continue;
        json_error_t je;
        obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
        if (!obj) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu:%d: invalid JSON: %s", path, lineno,
                            je.column, je.text);
            goto fail;
        }
        if (!json_is_object(obj)) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: expected a JSON object", path, lineno);
            goto fail;
        }
        char idbuf[32];
        const char *id = NULL;
        json_t *jid = json_object_get(obj, "_id");
        if (json_is_string(jid)) {
            id = json_string_value(jid);
        } else if (json_is_integer(jid)) {
            snprintf(idbuf, sizeof idbuf, "%" JSON_INTEGER_FORMAT, json_integer_value(jid));
            id = idbuf;
        } else {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field '_id': %s", path, lineno,
                            jid ? "expected a string or an integer" : "missing");
            goto fail;
        }
        if (!*id) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field '_id': empty", path, lineno);
            goto fail;
        }
        json_t *jtext = json_object_get(obj, "text");
        if (!json_is_string(jtext)) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field 'text': %s (record '%.64s')", path,
                            lineno, jtext ? "expected a string" : "missing", id);
            goto fail;
        }
        json_t *jtitle = json_object_get(obj, "title");
        if (jtitle && !json_is_string(jtitle) && !json_is_null(jtitle)) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field 'title': expected a string (record '%.64s')",
                            path, lineno, id);
            goto fail;
        }
        data_beir_record rec = {.id = id,
                                .title = json_is_string(jtitle) ? json_string_value(jtitle) : "",
                                .text = json_string_value(jtext),
                                .line = lineno};
        st = fn(user, &rec, err);
        if (st != RW_OK) goto fail;
        json_decref(obj);
        obj = NULL;
    }
fail:
    json_decref(obj);
    free(line); /* getline's */
    fclose(f);
    return st;
}

static int parse_grade(const char *s, long *out) {
    if (!*s) return 0;
    errno = 0;
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (errno || *end) return 0;
    *out = v;
    return 1;
}

rw_status data_qrels_parse(const char *buf, size_t len, const char *name, data_qrel_fn fn,
                           void *user, rw_err *err) {
    rw_status st = RW_OK;
    size_t form = 0;
    int seen_first = 0;
    if (!name) name = "<qrels>";
    data_lines it;
    data_lines_init(&it, buf, len, name);
    char *line;
    int got;
    while ((got = data_lines_next(&it, &line, err)) > 0) {
        size_t lineno = it.lineno;
        char *f[6];
        size_t nf = data_split_fields(line, f, 5);
        if (nf == 0) continue;
        int first = !seen_first;
        seen_first = 1;
        if (nf != 3 && nf != 4) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s:%zu: expected 3 fields (query-id corpus-id score) or 4 (qid iter "
                            "docid rel), found %zu",
                            name, lineno, nf);
            goto fail;
        }
        long g = 0;
        const char *gs = f[nf - 1];
        if (first && nf == 3 && !parse_grade(gs, &g)) continue; /* BEIR header line */
        if (form == 0) form = nf;
        if (form != nf) {
            st = rw_err_set(err, RW_E_FORMAT,
                            "%s:%zu: found %zu fields but earlier lines have %zu (forms cannot be mixed)",
                            name, lineno, nf, form);
            goto fail;
        }
        if (!parse_grade(gs, &g)) {
            st = rw_err_set(err, RW_E_FORMAT, "%s:%zu: field %zu (relevance): '%.64s' is not an integer",
                            name, lineno, nf, gs);
            goto fail;
        }
        data_qrel_row row = {.qid = f[0], .docid = nf == 3 ? f[1] : f[2], .grade = g, .line = lineno};
        st = fn(user, &row, err);
        if (st != RW_OK) goto fail;
    }
    if (got < 0) st = (rw_status)got;
fail:
    data_lines_deinit(&it);
    return st;
}

rw_status data_qrels_read(const char *path, data_qrel_fn fn, void *user, rw_err *err) {
    char *buf = NULL;
    size_t len = 0;
    rw_status st = data_file_read(path, 0, &buf, &len, err);
    if (st != RW_OK) return st;
    st = data_qrels_parse(buf, len, path, fn, user, err);
    rw_free(buf);
    return st;
}

rw_status data_beir_path(const char *dir, const char *which, char *buf, size_t cap, rw_err *err) {
    int n;
    if (strcmp(which, "corpus") == 0 || strcmp(which, "queries") == 0)
        n = snprintf(buf, cap, "%s/%s.jsonl", dir, which);
    else
        n = snprintf(buf, cap, "%s/qrels/%s.tsv", dir, which);
    if (n < 0 || (size_t)n >= cap)
        return rw_err_set(err, RW_E_RANGE, "BEIR path for '%s' in '%.200s' is too long", which, dir);
    return RW_OK;
}
