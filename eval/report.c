/* Run report writer: reads RUN_DIR/comparison.json (+ optional metrics.jsonl, manifest.json,
 * timings.json) and writes report.html, report.md, metrics.json and the charts/ SVG files
 * (layout in report.h and docs/eval.md).
 *
 * Invariants: report.html is self-contained (inline CSS, charts as base64 SVG data URIs:
 * separate documents, so glyph ids of different charts never collide; no scripts, no
 * network); every string from the inputs is HTML-escaped (or Markdown-escaped); all
 * outputs are written to a temp file and renamed. Malformed optional inputs do not stop the
 * report: they are listed under "Notes" with file:line. */
#include "eval/report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "core/alloc.h"
#include "data/file.h"
#include "data/strbuf.h"
#include "eval/internal.h"
#include "eval/json.h"
#include "eval/metrics.h"

/* ---- string building (data/strbuf.h) ---- */

/* HTML-escaped text, at most max bytes of s (0 = all; an ellipsis marks a cut). */
static void sb_html(data_strbuf *b, const char *s, size_t max) {
    size_t len = strlen(s), lim = max && len > max ? max : len;
    for (size_t i = 0; i < lim; i++) {
        char c = s[i];
        if (c == '<') data_strbuf_puts(b, "&lt;");
        else if (c == '>') data_strbuf_puts(b, "&gt;");
        else if (c == '&') data_strbuf_puts(b, "&amp;");
        else if (c == '"') data_strbuf_puts(b, "&quot;");
        else if (c == '\'') data_strbuf_puts(b, "&#39;");
        else data_strbuf_put(b, &c, 1);
    }
    if (lim < len) data_strbuf_puts(b, "&hellip;");
}

/* Markdown table-cell text: pipes escaped, newlines flattened. */
static void sb_md(data_strbuf *b, const char *s, size_t max) {
    size_t len = strlen(s), lim = max && len > max ? max : len;
    for (size_t i = 0; i < lim; i++) {
        char c = s[i];
        if (c == '|') data_strbuf_puts(b, "\\|");
        else if (c == '\n' || c == '\r') data_strbuf_puts(b, " ");
        else if (c == '<') data_strbuf_puts(b, "&lt;");
        else data_strbuf_put(b, &c, 1);
    }
    if (lim < len) data_strbuf_puts(b, "...");
}

static void sb_base64(data_strbuf *b, const char *s, size_t len) {
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)u[i] << 16 | (i + 1 < len ? (unsigned)u[i + 1] << 8 : 0) | (i + 2 < len ? u[i + 2] : 0);
        char out[4] = {tbl[v >> 18 & 63], tbl[v >> 12 & 63], i + 1 < len ? tbl[v >> 6 & 63] : '=', i + 2 < len ? tbl[v & 63] : '='};
        data_strbuf_put(b, out, 4);
    }
}

/* ---- the data a report shows ---- */

typedef struct rep_metric {
    const char *name;
    double base, cand, diff, blo, bhi, clo, chi, dlo, dhi, p, d;
    long wins, losses, ties;
} rep_metric;

typedef struct rep_query {
    const char *id, *text;
    double base, cand, diff; /* primary metric */
} rep_query;

typedef struct report {
    const char *run_dir;
    json_t *cmp, *manifest, *timings;
    const char *primary, *verdict, *base_name, *cand_name, *qrels, *created, *gate;
    rep_metric *m;
    size_t n_m;
    rep_query *q;
    size_t n_q;
    size_t primary_idx;
    /* training log */
    double *step, *train, *val;
    size_t n_log;
    data_strbuf notes; /* "<li>...</li>" entries (already escaped) */
    char *svg_bars, *svg_winloss, *svg_loss;
} report;

static double num(const json_t *j) { return json_is_number(j) ? json_number_value(j) : (double)NAN; }
static const char *str(const json_t *j, const char *dflt) { return json_is_string(j) ? json_string_value(j) : dflt; }

static double ci_at(const json_t *o, const char *key, size_t i) { return num(json_array_get(json_object_get(o, key), i)); }

static void note(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(report *r, const char *fmt, ...) {
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    data_strbuf_puts(&r->notes, "<li>");
    sb_html(&r->notes, buf, 0);
    data_strbuf_puts(&r->notes, "</li>\n");
}

static int path_in(const report *r, const char *name, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "%s/%s", r->run_dir, name);
    return n > 0 && (size_t)n < cap;
}

static rw_status load_comparison(report *r, rw_err *err) {
    char path[4200];
    if (!path_in(r, "comparison.json", path, sizeof path)) return rw_err_set(err, RW_E_RANGE, "%s: path too long", r->run_dir);
    if (access(path, F_OK) != 0)
        return rw_err_set(err, RW_E_NOTFOUND,
                          "%s: not found (write it with `rag-eval compare ... --out %s`)", path, r->run_dir);
    json_error_t je;
    r->cmp = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!r->cmp) return rw_err_set(err, RW_E_FORMAT, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    const char *schema = str(json_object_get(r->cmp, "schema"), "");
    if (strcmp(schema, "rag-eval/comparison/1") != 0)
        return rw_err_set(err, RW_E_FORMAT, "%s: field 'schema': expected \"rag-eval/comparison/1\", found \"%.64s\"", path, schema);
    json_t *ms = json_object_get(r->cmp, "metrics"), *qs = json_object_get(r->cmp, "queries");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return rw_err_set(err, RW_E_FORMAT, "%s: field 'metrics': expected a non-empty array", path);
    if (!json_is_array(qs)) return rw_err_set(err, RW_E_FORMAT, "%s: field 'queries': expected an array", path);
    r->primary = str(json_object_get(r->cmp, "primary_metric"), NULL);
    r->base_name = str(json_object_get(json_object_get(r->cmp, "baseline"), "name"), "baseline");
    r->cand_name = str(json_object_get(json_object_get(r->cmp, "candidate"), "name"), "candidate");
    r->qrels = str(json_object_get(r->cmp, "qrels"), "?");
    r->created = str(json_object_get(r->cmp, "created"), "");
    json_t *dec = json_object_get(r->cmp, "decision");
    r->verdict = json_is_object(dec) ? str(json_object_get(dec, "verdict"), NULL) : NULL;
    r->gate = json_is_object(dec) ? str(json_object_get(dec, "gate"), NULL) : NULL;
    r->n_m = json_array_size(ms);
    r->m = rw_calloc(r->n_m, sizeof *r->m);
    if (!r->m) return rw_err_set(err, RW_E_NOMEM, "report: out of memory");
    for (size_t i = 0; i < r->n_m; i++) {
        json_t *o = json_array_get(ms, i);
        rep_metric *x = &r->m[i];
        x->name = str(json_object_get(o, "name"), NULL);
        eval_metric parsed;
        rw_err e2;
        /* names are printed into HTML unescaped: accept only real metric names */
        if (!x->name || eval_metric_parse(x->name, strlen(x->name), &parsed, &e2) != RW_OK ||
            strspn(x->name, "abcdefghijklmnopqrstuvwxyz0123456789@") != strlen(x->name))
            return rw_err_set(err, RW_E_FORMAT, "%s: field 'metrics[%zu].name': expected a metric name such as \"mrr@10\"",
                              path, i);
        x->base = num(json_object_get(o, "baseline"));
        x->cand = num(json_object_get(o, "candidate"));
        x->diff = num(json_object_get(o, "diff"));
        x->blo = ci_at(o, "baseline_ci", 0), x->bhi = ci_at(o, "baseline_ci", 1);
        x->clo = ci_at(o, "candidate_ci", 0), x->chi = ci_at(o, "candidate_ci", 1);
        x->dlo = ci_at(o, "diff_ci", 0), x->dhi = ci_at(o, "diff_ci", 1);
        x->p = num(json_object_get(o, "p_value"));
        x->d = num(json_object_get(o, "cohen_d"));
        x->wins = (long)json_integer_value(json_object_get(o, "wins"));
        x->losses = (long)json_integer_value(json_object_get(o, "losses"));
        x->ties = (long)json_integer_value(json_object_get(o, "ties"));
        if (r->primary && !strcmp(r->primary, x->name)) r->primary_idx = i;
    }
    int primary_ok = 0;
    for (size_t i = 0; r->primary && i < r->n_m; i++) primary_ok |= !strcmp(r->primary, r->m[i].name);
    if (!primary_ok) {
        r->primary = r->m[0].name;
        r->primary_idx = 0;
    }
    r->n_q = json_array_size(qs);
    r->q = rw_calloc(r->n_q ? r->n_q : 1, sizeof *r->q);
    if (!r->q) return rw_err_set(err, RW_E_NOMEM, "report: out of memory");
    for (size_t i = 0; i < r->n_q; i++) {
        json_t *o = json_array_get(qs, i);
        rep_query *x = &r->q[i];
        x->id = str(json_object_get(o, "id"), "?");
        x->text = str(json_object_get(o, "text"), "");
        x->base = num(json_object_get(json_object_get(o, "baseline"), r->primary));
        x->cand = num(json_object_get(json_object_get(o, "candidate"), r->primary));
        x->diff = x->cand - x->base;
    }
    return RW_OK;
}

/* metrics.jsonl: {"step": n, "train_loss"|"loss": x, "val_loss": y} per line. */
static rw_status load_log(report *r, rw_err *err) {
    char path[4200];
    if (!path_in(r, "metrics.jsonl", path, sizeof path)) return RW_OK;
    char *buf = NULL;
    size_t len = 0;
    if (access(path, F_OK) != 0) return RW_OK;
    rw_err e2;
    if (data_file_read(path, 0, &buf, &len, &e2) != RW_OK) {
        note(r, "%s", e2.msg);
        return RW_OK;
    }
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    r->step = rw_alloc_array(lines, sizeof *r->step);
    r->train = rw_alloc_array(lines, sizeof *r->train);
    r->val = rw_alloc_array(lines, sizeof *r->val);
    if (!r->step || !r->train || !r->val) {
        rw_free(buf);
        return rw_err_set(err, RW_E_NOMEM, "report: out of memory");
    }
    size_t lineno = 0, skipped = 0;
    char *p = buf;
    while (p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(buf + len - p);
        lineno++;
        json_error_t je;
        json_t *o = n ? json_loadb(p, n, 0, &je) : NULL;
        p += n + 1;
        if (!n) continue;
        if (!json_is_object(o) || !json_is_number(json_object_get(o, "step"))) {
            if (skipped++ < 3) note(r, "%s:%zu: skipped (not a JSON object with a numeric \"step\")", path, lineno);
            json_decref(o);
            continue;
        }
        json_t *tl = json_object_get(o, "train_loss");
        if (!tl) tl = json_object_get(o, "loss");
        r->step[r->n_log] = num(json_object_get(o, "step"));
        r->train[r->n_log] = num(tl);
        r->val[r->n_log] = num(json_object_get(o, "val_loss"));
        r->n_log++;
        json_decref(o);
    }
    rw_free(buf);
    return RW_OK;
}

static void load_optional_json(report *r, const char *name, json_t **out) {
    char path[4200];
    if (!path_in(r, name, path, sizeof path) || access(path, F_OK) != 0) return;
    json_error_t je;
    *out = json_load_file(path, 0, &je);
    if (!*out) note(r, "%s:%d:%d: ignored: invalid JSON: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(*out)) {
        note(r, "%s: ignored: expected a JSON object", path);
        json_decref(*out);
        *out = NULL;
    }
}

/* ---- charts ---- */

static const char *const headline_names[] = {"mrr@10", "p@5", "ndcg@10", "recall@100", "map", "recall@10", "p@10"};

/* Indices of the headline metrics present (up to cap). */
static size_t headline(const report *r, size_t *idx, size_t cap) {
    size_t n = 0;
    for (size_t h = 0; h < sizeof headline_names / sizeof headline_names[0] && n < cap; h++)
        for (size_t i = 0; i < r->n_m; i++)
            if (!strcmp(r->m[i].name, headline_names[h])) idx[n++] = i;
    for (size_t i = 0; n < 4 && i < r->n_m && n < cap; i++) {
        int dup = 0;
        for (size_t k = 0; k < n; k++) dup |= idx[k] == i;
        if (!dup) idx[n++] = i;
    }
    return n;
}

static const double RGB_BASE[3] = {0.62, 0.64, 0.70}, RGB_CAND[3] = {0.16, 0.42, 0.80};

static rw_status make_charts(report *r, rw_err *err) {
    size_t idx[8], n = headline(r, idx, 6);
    const char *names[8];
    double bv[8], blo[8], bhi[8], cv[8], clo[8], chi[8];
    for (size_t i = 0; i < n; i++) {
        const rep_metric *x = &r->m[idx[i]];
        names[i] = x->name;
        bv[i] = x->base, blo[i] = x->blo, bhi[i] = x->bhi;
        cv[i] = x->cand, clo[i] = x->clo, chi[i] = x->chi;
    }
    eval_bar_series s[2] = {{"baseline", bv, blo, bhi, {RGB_BASE[0], RGB_BASE[1], RGB_BASE[2]}},
                            {"candidate", cv, clo, chi, {RGB_CAND[0], RGB_CAND[1], RGB_CAND[2]}}};
    rw_status st = eval_chart_bars("Key metrics: baseline vs candidate", names, n, s, 2, &r->svg_bars, err);
    if (st != RW_OK) return st;
    double *d = rw_alloc_array(r->n_q ? r->n_q : 1, sizeof *d);
    if (!d) return rw_err_set(err, RW_E_NOMEM, "report: out of memory");
    size_t nd = 0;
    for (size_t i = 0; i < r->n_q; i++)
        if (isfinite(r->q[i].diff)) d[nd++] = r->q[i].diff;
    char title[96];
    snprintf(title, sizeof title, "Per-query wins and losses on %s", r->primary);
    st = eval_chart_winloss(title, d, nd, &r->svg_winloss, err);
    rw_free(d);
    if (st != RW_OK) return st;
    if (r->n_log) {
        eval_line_series ls[2] = {{"train loss", r->step, r->train, r->n_log, {0.16, 0.42, 0.80}},
                                  {"validation loss", r->step, r->val, r->n_log, {0.90, 0.45, 0.10}}};
        st = eval_chart_lines("Training and validation loss", "step", ls, 2, &r->svg_loss, err);
    }
    return st;
}

/* ---- sections ---- */

static int cmp_diff_desc(const void *a, const void *b) {
    const rep_query *x = a, *y = b;
    if (x->diff != y->diff) return x->diff > y->diff ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void fmt_ci(char *buf, size_t cap, double v, double lo, double hi, int sign) {
    if (!isfinite(v)) snprintf(buf, cap, "n/a");
    else if (sign) snprintf(buf, cap, "%+.4f [%+.4f, %+.4f]", v, lo, hi);
    else snprintf(buf, cap, "%.4f [%.4f, %.4f]", v, lo, hi);
}

static void fmt_p(char *buf, size_t cap, double p) {
    if (!isfinite(p)) snprintf(buf, cap, "n/a");
    else if (p < 0.001) snprintf(buf, cap, "&lt;0.001");
    else snprintf(buf, cap, "%.3f", p);
}

static void html_img(data_strbuf *h, const char *svg, const char *alt) {
    data_strbuf_printf(h, "<img class=\"chart\" alt=\"%s\" src=\"data:image/svg+xml;base64,", alt);
    sb_base64(h, svg, strlen(svg));
    data_strbuf_puts(h, "\">\n");
}

static const char CSS[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;"
    "background:#f4f5f7;color:#1d1f24;line-height:1.45}"
    "main{max-width:1120px;margin:0 auto;padding:24px}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px;border-bottom:1px solid #d8dbe2;padding-bottom:4px}"
    ".sub{color:#5b616e;font-size:13px}"
    ".banner{border-radius:10px;padding:16px 20px;margin:18px 0;color:#fff}"
    ".banner .verdict{font-size:28px;font-weight:700;letter-spacing:.04em}"
    ".promote{background:#1f8a4c}.reject{background:#c0392b}.nogate{background:#6b7280}"
    ".checks{list-style:none;padding:0;margin:8px 0 0}.checks li{margin:3px 0;font-size:14px}"
    ".checks code{background:rgba(255,255,255,.18);padding:1px 5px;border-radius:4px}"
    ".checks .detail{opacity:.85;font-size:12.5px;display:block;margin-left:26px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px}"
    ".card{background:#fff;border-radius:10px;padding:12px 16px;min-width:180px;flex:1;box-shadow:0 1px 2px rgba(0,0,0,.08)}"
    ".card .name{font-size:13px;color:#5b616e;font-weight:600}"
    ".card .vals{font-size:18px;font-weight:600;margin:2px 0;white-space:nowrap}"
    ".card .delta{font-size:13px}.up{color:#1f8a4c}.down{color:#c0392b}.flat{color:#6b7280}"
    "table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;font-size:13.5px}"
    "th,td{padding:6px 10px;text-align:left;border-bottom:1px solid #eceef2}"
    "th{background:#eef0f4;font-weight:600}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}"
    "tr.primary td{font-weight:600;background:#f3f7ff}"
    ".chart{width:100%;max-width:760px;background:#fff;border-radius:8px;display:block;margin:8px 0}"
    ".grid2{display:grid;grid-template-columns:1fr 1fr;gap:16px}"
    "@media(max-width:900px){.grid2{grid-template-columns:1fr}}"
    ".q{color:#3b3f48}.muted{color:#6b7280;font-size:12.5px}";

static void html_query_table(data_strbuf *h, const rep_query *q, size_t n, const char *primary) {
    data_strbuf_printf(h, "<table><tr><th>query</th><th>text</th><th>%s baseline &rarr; candidate</th><th>diff</th></tr>\n", primary);
    for (size_t i = 0; i < n; i++) {
        data_strbuf_puts(h, "<tr><td>");
        sb_html(h, q[i].id, 40);
        data_strbuf_puts(h, "</td><td class=\"q\">");
        sb_html(h, q[i].text && *q[i].text ? q[i].text : "(no text)", 160);
        data_strbuf_printf(h, "</td><td class=\"num\">%.3f &rarr; %.3f</td><td class=\"num %s\">%+.3f</td></tr>\n", q[i].base,
                  q[i].cand, q[i].diff > 0 ? "up" : "down", q[i].diff);
    }
    data_strbuf_puts(h, "</table>\n");
}

static void md_query_table(data_strbuf *m, const rep_query *q, size_t n, const char *primary) {
    data_strbuf_printf(m, "| query | text | %s baseline → candidate | diff |\n|---|---|---|---|\n", primary);
    for (size_t i = 0; i < n; i++) {
        data_strbuf_puts(m, "| ");
        sb_md(m, q[i].id, 40);
        data_strbuf_puts(m, " | ");
        sb_md(m, q[i].text && *q[i].text ? q[i].text : "(no text)", 160);
        data_strbuf_printf(m, " | %.3f → %.3f | %+.3f |\n", q[i].base, q[i].cand, q[i].diff);
    }
    data_strbuf_puts(m, "\n");
}

/* Manifest: sources grouped by classification. */
typedef struct cls_count {
    const char *cls;
    long sources, items, withdrawn;
} cls_count;

static size_t manifest_counts(const report *r, cls_count *out, size_t cap) {
    json_t *srcs = json_object_get(r->manifest, "sources");
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(srcs); i++) {
        json_t *s = json_array_get(srcs, i);
        const char *cls = str(json_object_get(s, "classification"), "unclassified");
        long items = 0;
        const char *keys[] = {"count", "examples", "documents"};
        for (int k = 0; k < 3; k++)
            if (json_is_integer(json_object_get(s, keys[k]))) {
                items = (long)json_integer_value(json_object_get(s, keys[k]));
                break;
            }
        size_t j = 0;
        while (j < n && strcmp(out[j].cls, cls)) j++;
        if (j == n) {
            if (n == cap) continue;
            out[n++] = (cls_count){cls, 0, 0, 0};
        }
        out[j].sources++;
        out[j].items += items;
        out[j].withdrawn += json_is_true(json_object_get(s, "withdrawn"));
    }
    return n;
}

/* "load_s" -> "load": timing keys carry their unit, the table header says seconds. */
static void stage_name(const char *key, char *buf, size_t cap) {
    size_t n = strlen(key);
    if (n > 2 && !strcmp(key + n - 2, "_s")) n -= 2;
    snprintf(buf, cap, "%.*s", (int)(n < 60 ? n : 60), key);
}

/* "Accepted 160 examples; rejected 9 (restricted 3, no_consent 2, ...)" from a
 * rag-workbench.manifest/1 (data/governance.h); empty when the fields are absent. */
static void manifest_summary(const report *r, char *buf, size_t cap) {
    buf[0] = '\0';
    json_t *acc = json_object_get(r->manifest, "examples_accepted"), *rej = json_object_get(r->manifest, "examples_rejected");
    if (!json_is_integer(acc) && !json_is_integer(rej)) return;
    size_t n = (size_t)snprintf(buf, cap, "Accepted %lld examples; rejected %lld", (long long)json_integer_value(acc),
                                (long long)json_integer_value(rej));
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(json_object_get(r->manifest, "rejected"), k, v) {
        if (!json_is_integer(v) || json_integer_value(v) == 0 || n >= cap) continue;
        n += (size_t)snprintf(buf + n, cap - n, "%s%s %lld", first ? " (" : ", ", k, (long long)json_integer_value(v));
        first = 0;
    }
    if (!first && n < cap) n += (size_t)snprintf(buf + n, cap - n, ")");
    if (n < cap) snprintf(buf + n, cap - n, ".");
}

static void build_html(report *r, data_strbuf *h, const rep_query *sorted, size_t n_win, size_t n_loss) {
    const char *cls = !r->verdict ? "nogate" : !strcmp(r->verdict, "promote") ? "promote" : "reject";
    data_strbuf_puts(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>rag-eval report</title>\n<style>");
    data_strbuf_puts(h, CSS);
    data_strbuf_puts(h, "</style></head><body><main>\n<h1>rag-eval report</h1>\n<div class=\"sub\">baseline <b>");
    sb_html(h, r->base_name, 200);
    data_strbuf_puts(h, "</b> vs candidate <b>");
    sb_html(h, r->cand_name, 200);
    data_strbuf_printf(h, "</b> &middot; %zu queries &middot; qrels ", r->n_q);
    sb_html(h, r->qrels, 200);
    data_strbuf_puts(h, " &middot; ");
    sb_html(h, r->created, 40);
    data_strbuf_puts(h, "</div>\n");

    /* decision */
    data_strbuf_printf(h, "<section id=\"decision\" class=\"banner %s\"><div class=\"verdict\">%s</div>\n", cls,
              !r->verdict ? "NO GATE" : !strcmp(r->verdict, "promote") ? "PROMOTE" : "REJECT");
    json_t *checks = json_object_get(json_object_get(r->cmp, "decision"), "checks");
    if (r->verdict) {
        size_t nfail = 0, nchk = json_array_size(checks);
        for (size_t i = 0; i < nchk; i++) nfail += !json_is_true(json_object_get(json_array_get(checks, i), "pass"));
        if (nfail) data_strbuf_printf(h, "<div><b>%zu of %zu checks failed.</b> ", nfail, nchk);
        else data_strbuf_printf(h, "<div><b>All %zu checks hold.</b> ", nchk);
        data_strbuf_puts(h, "Gate ");
        sb_html(h, r->gate ? r->gate : "(in-memory)", 200);
        data_strbuf_puts(h, "</div><ul class=\"checks\">\n");
        for (size_t i = 0; i < json_array_size(checks); i++) {
            json_t *c = json_array_get(checks, i);
            int pass = json_is_true(json_object_get(c, "pass"));
            data_strbuf_printf(h, "<li>%s <code>", pass ? "&#10004;" : "&#10008;");
            sb_html(h, str(json_object_get(c, "rule"), "?"), 300);
            data_strbuf_printf(h, "</code> %s<span class=\"detail\">", pass ? "holds" : "<b>fails</b>");
            sb_html(h, str(json_object_get(c, "detail"), ""), 400);
            data_strbuf_puts(h, "</span></li>\n");
        }
        data_strbuf_puts(h, "</ul>");
    } else {
        data_strbuf_puts(h, "<div>No gate was given (rag-eval compare --gate recipe.toml decides promote / reject).</div>");
    }
    data_strbuf_puts(h, "</section>\n");

    /* key metric cards */
    size_t idx[8], n = headline(r, idx, 5);
    data_strbuf_puts(h, "<section id=\"summary\"><h2>Key metrics</h2><div class=\"cards\">\n");
    for (size_t i = 0; i < n; i++) {
        const rep_metric *x = &r->m[idx[i]];
        const char *dir = x->dlo > 0 ? "up" : x->dhi < 0 ? "down" : "flat";
        char p[32];
        fmt_p(p, sizeof p, x->p);
        data_strbuf_printf(h,
                  "<div class=\"card\"><div class=\"name\">%s</div><div class=\"vals\">%.4f &rarr; %.4f</div>"
                  "<div class=\"delta %s\">%+.4f &nbsp;[%+.4f, %+.4f]</div><div class=\"muted\">p = %s &middot; "
                  "%ld better / %ld worse</div></div>\n",
                  x->name, x->base, x->cand, dir, x->diff, x->dlo, x->dhi, p, x->wins, x->losses);
    }
    data_strbuf_puts(h, "</div></section>\n");

    /* charts */
    data_strbuf_puts(h, "<section id=\"charts\"><h2>Charts</h2>\n");
    html_img(h, r->svg_bars, "key metrics with confidence intervals");
    html_img(h, r->svg_winloss, "per-query win/loss histogram");
    if (r->svg_loss) html_img(h, r->svg_loss, "training and validation loss");
    else data_strbuf_puts(h, "<p class=\"muted\">No training log (metrics.jsonl) in this run folder.</p>\n");
    data_strbuf_puts(h, "</section>\n");

    /* per-metric table */
    json_t *stats = json_object_get(r->cmp, "stats");
    data_strbuf_printf(h, "<section id=\"metrics\"><h2>All metrics</h2>\n<table><tr><th>metric</th><th>baseline [%.0f%% CI]</th>"
                 "<th>candidate [CI]</th><th>difference [CI]</th><th>p</th><th>Cohen's d</th><th>better / worse / tied</th></tr>\n",
              100 * (isfinite(num(json_object_get(stats, "confidence"))) ? num(json_object_get(stats, "confidence")) : 0.95));
    for (size_t i = 0; i < r->n_m; i++) {
        const rep_metric *x = &r->m[i];
        char b[80], c[80], d[80], p[32];
        fmt_ci(b, sizeof b, x->base, x->blo, x->bhi, 0);
        fmt_ci(c, sizeof c, x->cand, x->clo, x->chi, 0);
        fmt_ci(d, sizeof d, x->diff, x->dlo, x->dhi, 1);
        fmt_p(p, sizeof p, x->p);
        data_strbuf_printf(h, "<tr%s><td>%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td><td class=\"num %s\">%s</td>"
                     "<td class=\"num\">%s</td><td class=\"num\">%.3f</td><td class=\"num\">%ld / %ld / %ld</td></tr>\n",
                  i == r->primary_idx ? " class=\"primary\"" : "", x->name, b, c, x->dlo > 0 ? "up" : x->dhi < 0 ? "down" : "",
                  d, p, x->d, x->wins, x->losses, x->ties);
    }
    data_strbuf_printf(h, "</table><p class=\"muted\">Percentile bootstrap CIs over queries (%lld resamples, seed %lld, paired for "
                 "the difference); p: two-sided paired sign-flip randomisation test (%lld assignments); Cohen's d: mean / sd "
                 "of the per-query differences.</p></section>\n",
              (long long)json_integer_value(json_object_get(stats, "resamples")),
              (long long)json_integer_value(json_object_get(stats, "seed")),
              (long long)json_integer_value(json_object_get(stats, "permutations")));

    /* wins and losses */
    data_strbuf_printf(h, "<section id=\"queries\"><h2>Biggest per-query changes on %s</h2>\n<div class=\"grid2\"><div><h3>Wins</h3>\n", r->primary);
    if (n_win) html_query_table(h, sorted, n_win, r->primary);
    else data_strbuf_puts(h, "<p class=\"muted\">No query improved.</p>");
    data_strbuf_puts(h, "</div><div><h3>Losses</h3>\n");
    if (n_loss) {
        rep_query tmp[10];
        for (size_t i = 0; i < n_loss; i++) tmp[i] = sorted[r->n_q - 1 - i];
        html_query_table(h, tmp, n_loss, r->primary);
    } else {
        data_strbuf_puts(h, "<p class=\"muted\">No query got worse.</p>");
    }
    data_strbuf_puts(h, "</div></div></section>\n");

    /* data manifest */
    data_strbuf_puts(h, "<section id=\"data\"><h2>Data</h2>\n");
    if (r->manifest) {
        cls_count cc[16];
        size_t nc = manifest_counts(r, cc, 16);
        data_strbuf_puts(h, "<table><tr><th>classification</th><th>sources</th><th>items</th><th>withdrawn sources</th></tr>\n");
        for (size_t i = 0; i < nc; i++) {
            data_strbuf_puts(h, "<tr><td>");
            sb_html(h, cc[i].cls, 60);
            data_strbuf_printf(h, "</td><td class=\"num\">%ld</td><td class=\"num\">%ld</td><td class=\"num\">%ld</td></tr>\n", cc[i].sources,
                      cc[i].items, cc[i].withdrawn);
        }
        data_strbuf_puts(h, "</table>\n");
        char sum[600];
        manifest_summary(r, sum, sizeof sum);
        if (sum[0]) {
            data_strbuf_puts(h, "<p>");
            sb_html(h, sum, 0);
            data_strbuf_puts(h, "</p>\n");
        }
    } else {
        data_strbuf_puts(h, "<p class=\"muted\">No data manifest (manifest.json) in this run folder.</p>\n");
    }
    data_strbuf_puts(h, "</section>\n");

    /* timings */
    data_strbuf_puts(h, "<section id=\"timings\"><h2>Timings</h2><table><tr><th>stage</th><th>seconds</th></tr>\n");
    json_t *tm = json_object_get(r->cmp, "timings");
    const char *k;
    json_t *v;
    json_object_foreach(tm, k, v) {
        char stage[64];
        stage_name(k, stage, sizeof stage);
        data_strbuf_puts(h, "<tr><td>evaluation: ");
        sb_html(h, stage, 60);
        data_strbuf_printf(h, "</td><td class=\"num\">%.3f</td></tr>\n", num(v));
    }
    json_object_foreach(r->timings, k, v) {
        if (!json_is_number(v)) continue;
        data_strbuf_puts(h, "<tr><td>");
        sb_html(h, k, 60);
        data_strbuf_printf(h, "</td><td class=\"num\">%.3f</td></tr>\n", num(v));
    }
    data_strbuf_puts(h, "</table></section>\n");
    if (r->notes.n) {
        data_strbuf_puts(h, "<section id=\"notes\"><h2>Notes</h2><ul>\n");
        data_strbuf_puts(h, r->notes.s);
        data_strbuf_puts(h, "</ul></section>\n");
    }
    data_strbuf_puts(h, "<p class=\"muted\">Generated by rag-eval from comparison.json. Metric definitions: docs/eval.md.</p>\n</main></body></html>\n");
}

static void build_md(report *r, data_strbuf *m, const rep_query *sorted, size_t n_win, size_t n_loss) {
    data_strbuf_puts(m, "# rag-eval report\n\n");
    data_strbuf_printf(m, "Baseline `%s` vs candidate `%s`, %zu queries, qrels `%s`, %s.\n\n", r->base_name, r->cand_name, r->n_q,
              r->qrels, r->created);
    data_strbuf_printf(m, "## Decision: %s\n\n", !r->verdict ? "no gate" : !strcmp(r->verdict, "promote") ? "PROMOTE" : "REJECT");
    json_t *checks = json_object_get(json_object_get(r->cmp, "decision"), "checks");
    for (size_t i = 0; i < json_array_size(checks); i++) {
        json_t *c = json_array_get(checks, i);
        data_strbuf_printf(m, "- %s `", json_is_true(json_object_get(c, "pass")) ? "pass" : "**FAIL**");
        sb_md(m, str(json_object_get(c, "rule"), "?"), 300);
        data_strbuf_puts(m, "` — ");
        sb_md(m, str(json_object_get(c, "detail"), ""), 400);
        data_strbuf_puts(m, "\n");
    }
    data_strbuf_puts(m, "\n## Metrics\n\n| metric | baseline [CI] | candidate [CI] | difference [CI] | p | d | better/worse/tied |\n"
               "|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < r->n_m; i++) {
        const rep_metric *x = &r->m[i];
        char b[80], c[80], d[80];
        fmt_ci(b, sizeof b, x->base, x->blo, x->bhi, 0);
        fmt_ci(c, sizeof c, x->cand, x->clo, x->chi, 0);
        fmt_ci(d, sizeof d, x->diff, x->dlo, x->dhi, 1);
        data_strbuf_printf(m, "| %s%s%s | %s | %s | %s | %.4f | %.3f | %ld/%ld/%ld |\n", i == r->primary_idx ? "**" : "", x->name,
                  i == r->primary_idx ? "**" : "", b, c, d, x->p, x->d, x->wins, x->losses, x->ties);
    }
    data_strbuf_puts(m, "\n## Charts\n\n![key metrics](charts/metrics.svg)\n\n![per-query wins and losses](charts/winloss.svg)\n\n");
    if (r->svg_loss) data_strbuf_puts(m, "![loss](charts/loss.svg)\n\n");
    data_strbuf_printf(m, "## Biggest wins on %s\n\n", r->primary);
    if (n_win) md_query_table(m, sorted, n_win, r->primary);
    else data_strbuf_puts(m, "No query improved.\n\n");
    data_strbuf_printf(m, "## Biggest losses on %s\n\n", r->primary);
    if (n_loss) {
        rep_query tmp[10];
        for (size_t i = 0; i < n_loss; i++) tmp[i] = sorted[r->n_q - 1 - i];
        md_query_table(m, tmp, n_loss, r->primary);
    } else {
        data_strbuf_puts(m, "No query got worse.\n\n");
    }
    data_strbuf_puts(m, "## Data\n\n");
    if (r->manifest) {
        cls_count cc[16];
        size_t nc = manifest_counts(r, cc, 16);
        data_strbuf_puts(m, "| classification | sources | items | withdrawn |\n|---|---|---|---|\n");
        for (size_t i = 0; i < nc; i++) {
            data_strbuf_puts(m, "| ");
            sb_md(m, cc[i].cls, 60);
            data_strbuf_printf(m, " | %ld | %ld | %ld |\n", cc[i].sources, cc[i].items, cc[i].withdrawn);
        }
        char sum[600];
        manifest_summary(r, sum, sizeof sum);
        data_strbuf_printf(m, "\n%s%s", sum, sum[0] ? "\n\n" : "");
    } else {
        data_strbuf_puts(m, "No data manifest (manifest.json).\n\n");
    }
    data_strbuf_puts(m, "## Timings\n\n| stage | seconds |\n|---|---|\n");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r->cmp, "timings"), k, v) {
        char stage[64];
        stage_name(k, stage, sizeof stage);
        data_strbuf_printf(m, "| evaluation: %s | %.3f |\n", stage, num(v));
    }
    json_object_foreach(r->timings, k, v) {
        if (!json_is_number(v)) continue;
        data_strbuf_puts(m, "| ");
        sb_md(m, k, 60);
        data_strbuf_printf(m, " | %.3f |\n", num(v));
    }
}

static json_t *summary_json(const report *r) {
    json_t *ms = json_object();
    for (size_t i = 0; ms && i < r->n_m; i++) {
        const rep_metric *x = &r->m[i];
        json_object_set_new(ms, x->name,
                            json_pack("{s:o, s:o, s:o, s:[o, o], s:o}", "baseline", eval_json_num(x->base), "candidate",
                                      eval_json_num(x->cand), "diff", eval_json_num(x->diff), "diff_ci", eval_json_num(x->dlo),
                                      eval_json_num(x->dhi), "p_value", eval_json_num(x->p)));
    }
    return json_pack("{s:s, s:o, s:s, s:I, s:o}", "schema", "rag-eval/report-metrics/1", "decision",
                     r->verdict ? json_string(r->verdict) : json_null(), "primary_metric", r->primary, "queries",
                     (json_int_t)r->n_q, "metrics", ms);
}

static rw_status write_text(const report *r, const char *name, const char *text, size_t len, rw_err *err) {
    char path[4200];
    if (!path_in(r, name, path, sizeof path)) return rw_err_set(err, RW_E_RANGE, "%s: path too long", r->run_dir);
    return data_file_write_atomic(path, text, len, err);
}

rw_status eval_report_write(const char *run_dir, rw_err *err) {
    report r = {.run_dir = run_dir};
    data_strbuf html = {0}, md = {0};
    rep_query *sorted = NULL;
    json_t *summary = NULL;
    rw_status st = load_comparison(&r, err);
    if (st != RW_OK) goto fail;
    if ((st = load_log(&r, err)) != RW_OK) goto fail;
    load_optional_json(&r, "manifest.json", &r.manifest);
    load_optional_json(&r, "timings.json", &r.timings);
    if ((st = make_charts(&r, err)) != RW_OK) goto fail;
    sorted = rw_alloc_array(r.n_q ? r.n_q : 1, sizeof *sorted);
    if (!sorted) {
        st = rw_err_set(err, RW_E_NOMEM, "report: out of memory");
        goto fail;
    }
    size_t nf = 0;
    for (size_t i = 0; i < r.n_q; i++)
        if (isfinite(r.q[i].diff)) sorted[nf++] = r.q[i];
    qsort(sorted, nf, sizeof *sorted, cmp_diff_desc);
    size_t n_win = 0, n_loss = 0;
    while (n_win < 10 && n_win < nf && sorted[n_win].diff > 1e-12) n_win++;
    while (n_loss < 10 && n_loss < nf && sorted[nf - 1 - n_loss].diff < -1e-12) n_loss++;
    r.n_q = nf; /* sorted holds only finite diffs; build_* index from its end */
    build_html(&r, &html, sorted, n_win, n_loss);
    build_md(&r, &md, sorted, n_win, n_loss);
    summary = summary_json(&r);
    if (html.failed || md.failed || r.notes.failed || !summary) {
        st = rw_err_set(err, RW_E_NOMEM, "report: out of memory");
        goto fail;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/charts", run_dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        st = rw_err_set(err, RW_E_IO, "%s: cannot create folder: %s", dir, strerror(errno));
        goto fail;
    }
    char mpath[4200];
    snprintf(mpath, sizeof mpath, "%s/metrics.json", run_dir);
    if ((st = write_text(&r, "charts/metrics.svg", r.svg_bars, strlen(r.svg_bars), err)) != RW_OK ||
        (st = write_text(&r, "charts/winloss.svg", r.svg_winloss, strlen(r.svg_winloss), err)) != RW_OK ||
        (r.svg_loss && (st = write_text(&r, "charts/loss.svg", r.svg_loss, strlen(r.svg_loss), err)) != RW_OK) ||
        (st = write_text(&r, "report.md", md.s, md.n, err)) != RW_OK ||
        (st = eval_json_write_file(mpath, summary, err)) != RW_OK ||
        (st = write_text(&r, "report.html", html.s, html.n, err)) != RW_OK)
        goto fail;
fail:
    json_decref(summary);
    rw_free(sorted);
    rw_free(html.s);
    rw_free(md.s);
    rw_free(r.notes.s);
    rw_free(r.svg_bars);
    rw_free(r.svg_winloss);
    rw_free(r.svg_loss);
    rw_free(r.step);
    rw_free(r.train);
    rw_free(r.val);
    rw_free(r.m);
    rw_free(r.q);
    json_decref(r.cmp);
    json_decref(r.manifest);
    json_decref(r.timings);
    return st;
}
