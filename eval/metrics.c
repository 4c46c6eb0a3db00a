/* Retrieval metrics (definitions in metrics.h, docs/eval.md).
 *
 * Invariants: every per-query value is in [0, 1]; a query contributes to the means only
 * when it has at least one relevant document. Ranks count from 1. */
#include "eval/metrics.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const char *const kind_names[EVAL_METRIC_KINDS] = {"mrr", "p", "recall", "ndcg", "map", "hit"};

void eval_metric_name(eval_metric m, char *buf, size_t cap) {
    if (m.k)
        snprintf(buf, cap, "%s@%u", kind_names[m.kind], m.k);
    else
        snprintf(buf, cap, "%s", kind_names[m.kind]);
}

int eval_metric_equal(eval_metric a, eval_metric b) { return a.kind == b.kind && a.k == b.k; }

rw_status eval_metric_parse(const char *s, size_t len, eval_metric *out, rw_err *err) {
    static const struct {
        const char *name;
        eval_metric_kind kind;
    } names[] = {{"mrr", EVAL_MRR},   {"p", EVAL_P},       {"precision", EVAL_P},
                 {"recall", EVAL_RECALL}, {"r", EVAL_RECALL}, {"ndcg", EVAL_NDCG},
                 {"map", EVAL_MAP},   {"hit", EVAL_HIT},   {"success", EVAL_HIT}};
    char low[64];
    if (len == 0 || len >= sizeof low)
        return rw_err_set(err, RW_E_INVALID, "metric '%.*s': expected a name such as mrr@10",
                          (int)(len < 64 ? len : 64), s);
    for (size_t i = 0; i < len; i++) low[i] = (char)tolower((unsigned char)s[i]);
    low[len] = '\0';
    char *at = strchr(low, '@');
    unsigned k = 0;
    if (at) {
        *at = '\0';
        const char *ks = at + 1;
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(ks, &end, 10);
        if (!*ks || *end || errno || v == 0 || v > 1000000 || !isdigit((unsigned char)*ks))
            return rw_err_set(err, RW_E_INVALID,
                              "metric '%s@%s': the cut-off must be an integer in 1..1000000", low,
                              ks);
        k = (unsigned)v;
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(low, names[i].name) == 0) {
            if (!at && names[i].kind != EVAL_MAP && names[i].kind != EVAL_NDCG &&
                names[i].kind != EVAL_RECALL && names[i].kind != EVAL_MRR)
                return rw_err_set(err, RW_E_INVALID,
                                  "metric '%s' needs a cut-off (e.g. %s@10)", low, low);
            *out = (eval_metric){names[i].kind, k};
            return RW_OK;
        }
    }
    return rw_err_set(err, RW_E_INVALID,
                      "unknown metric '%.*s' (known: mrr@k, p@k, recall@k, ndcg@k, map@k, map, "
                      "hit@k)",
                      (int)len, s);
}

double eval_metric_value(eval_metric m, const long *grades, size_t n, const long *ideal,
                         size_t n_rel) {
    size_t depth = m.k ? (n < m.k ? n : m.k) : n;
    double v = 0;
    switch (m.kind) {
    case EVAL_MRR:
        for (size_t i = 0; i < depth; i++)
            if (grades[i] > 0) return 1.0 / (double)(i + 1);
        return 0;
    case EVAL_HIT:
        for (size_t i = 0; i < depth; i++)
            if (grades[i] > 0) return 1.0;
        return 0;
    case EVAL_P: {
        size_t hits = 0;
        for (size_t i = 0; i < depth; i++) hits += grades[i] > 0;
        size_t denom = m.k ? m.k : n;
        return denom ? (double)hits / (double)denom : 0.0;
    }
    case EVAL_RECALL: {
        size_t hits = 0;
        for (size_t i = 0; i < depth; i++) hits += grades[i] > 0;
        return (double)hits / (double)n_rel;
    }
    case EVAL_MAP: {
        size_t hits = 0;
        for (size_t i = 0; i < depth; i++)
            if (grades[i] > 0) {
                hits++;
                v += (double)hits / (double)(i + 1);
            }
        return v / (double)n_rel;
    }
    case EVAL_NDCG: {
        double dcg = 0, idcg = 0;
        for (size_t i = 0; i < depth; i++)
            if (grades[i] > 0) dcg += (double)grades[i] / log2((double)(i + 2));
        size_t idepth = m.k ? (n_rel < m.k ? n_rel : m.k) : n_rel;
        for (size_t i = 0; i < idepth; i++) idcg += (double)ideal[i] / log2((double)(i + 2));
        return idcg > 0 ? dcg / idcg : 0.0;
    }
    case EVAL_METRIC_KINDS:
        break;
    }
    return 0;
}

void eval_results_deinit(eval_results *res) {
    if (!res) return;
    if (res->qids)
        for (size_t i = 0; i < res->n_queries; i++) rw_free(res->qids[i]);
    rw_free(res->qids);
    rw_free(res->metrics);
    rw_free(res->values);
    rw_free(res->mean);
    memset(res, 0, sizeof *res);
}

long eval_results_find(const eval_results *res, eval_metric m) {
    for (size_t i = 0; i < res->n_metrics; i++)
        if (eval_metric_equal(res->metrics[i], m)) return (long)i;
    return -1;
}

rw_status eval_evaluate(eval_qrels *q, eval_run *r, const eval_metric *metrics, size_t n_metrics,
                        eval_results *out, rw_err *err) {
    eval_results res = {0};
    long *grades = NULL, *ideal = NULL;
    rw_status st = eval_qrels_finalize(q, err);
    if (st == RW_OK) st = eval_run_finalize(r, err);
    if (st != RW_OK) return st;
    size_t nq = eval_qrels_n_queries(q), n_eval = 0;
    for (size_t i = 0; i < nq; i++) n_eval += eval_qrels_n_relevant(q, i) > 0;
    size_t max_run = 0, max_rel = 0;
    for (size_t i = 0; i < eval_run_n_queries(r); i++)
        if (eval_run_len(r, i) > max_run) max_run = eval_run_len(r, i);
    for (size_t i = 0; i < nq; i++)
        if (eval_qrels_n_relevant(q, i) > max_rel) max_rel = eval_qrels_n_relevant(q, i);
    size_t nvals;
    if (!rw_size_mul(n_eval, n_metrics, &nvals)) return rw_err_set(err, RW_E_RANGE, "too many queries");
    res.n_metrics = n_metrics;
    res.metrics = rw_alloc_array(n_metrics ? n_metrics : 1, sizeof *res.metrics);
    res.qids = rw_calloc(n_eval ? n_eval : 1, sizeof *res.qids);
    res.values = rw_alloc_array(nvals ? nvals : 1, sizeof *res.values);
    res.mean = rw_calloc(n_metrics ? n_metrics : 1, sizeof *res.mean);
    grades = rw_alloc_array(max_run ? max_run : 1, sizeof *grades);
    ideal = rw_alloc_array(max_rel ? max_rel : 1, sizeof *ideal);
    if (!res.metrics || !res.qids || !res.values || !res.mean || !grades || !ideal) {
        st = rw_err_set(err, RW_E_NOMEM, "evaluate: out of memory");
        goto fail;
    }
    if (n_metrics) memcpy(res.metrics, metrics, n_metrics * sizeof *metrics);
    res.n_qrels_queries = nq;
    res.n_run_queries = eval_run_n_queries(r);
    res.n_run_rows = eval_run_n_rows(r);
    for (size_t i = 0; i < nq; i++) {
        size_t n_rel = eval_qrels_ideal(q, i, ideal, max_rel);
        if (n_rel == 0) {
            res.n_excluded_no_relevant++;
            continue;
        }
        const char *qid = eval_qrels_qid(q, i);
        size_t row = res.n_queries;
        res.qids[row] = rw_strdup(qid);
        if (!res.qids[row]) {
            st = rw_err_set(err, RW_E_NOMEM, "evaluate: out of memory");
            goto fail;
        }
        res.n_queries++;
        long ri = eval_run_find(r, qid);
        size_t n = 0;
        if (ri < 0) {
            res.n_missing_from_run++;
        } else {
            n = eval_run_len(r, (size_t)ri);
            for (size_t j = 0; j < n; j++) grades[j] = eval_qrels_grade(q, i, eval_run_doc(r, (size_t)ri, j));
        }
        for (size_t m = 0; m < n_metrics; m++) {
            double v = eval_metric_value(metrics[m], grades, n, ideal, n_rel);
            res.values[row * n_metrics + m] = v;
            res.mean[m] += v;
        }
    }
    for (size_t i = 0; i < res.n_run_queries; i++) {
        res.n_run_unjudged += eval_qrels_find(q, eval_run_qid(r, i)) < 0;
    }
    for (size_t m = 0; m < n_metrics; m++) res.mean[m] = res.n_queries ? res.mean[m] / (double)res.n_queries : 0.0;
    rw_free(grades);
    rw_free(ideal);
    *out = res;
    return RW_OK;
fail:
    rw_free(grades);
    rw_free(ideal);
    eval_results_deinit(&res);
    return st;
}

rw_status eval_parse_k_list(const char *s, unsigned **ks, size_t *n, rw_err *err) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    unsigned *v = rw_alloc_array(cap, sizeof *v);
    if (!v) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    size_t cnt = 0;
    const char *p = s;
    for (;;) {
        char *end = NULL;
        errno = 0;
        if (!isdigit((unsigned char)*p)) goto bad;
        unsigned long x = strtoul(p, &end, 10);
        if (errno || x == 0 || x > 1000000 || (*end != ',' && *end != '\0')) goto bad;
        v[cnt++] = (unsigned)x;
        if (*end == '\0') break;
        p = end + 1;
    }
    *ks = v;
    *n = cnt;
    return RW_OK;
bad:
    rw_free(v);
    return rw_err_set(err, RW_E_INVALID,
                      "cut-off list '%.64s': expected comma-separated integers in 1..1000000 "
                      "(e.g. 5,10,100), bad at column %zu",
                      s, (size_t)(p - s) + 1);
}

rw_status eval_metric_set(const unsigned *ks, size_t nk, const eval_metric *extra, size_t n_extra,
                          eval_metric **out, size_t *n_out, rw_err *err) {
    static const eval_metric_kind order[] = {EVAL_MRR, EVAL_P, EVAL_RECALL, EVAL_NDCG, EVAL_MAP, EVAL_HIT};
    size_t cap, n = 0;
    if (!rw_size_mul(nk, 6, &cap) || !rw_size_add(cap, 1, &cap) || !rw_size_add(cap, n_extra, &cap))
        return rw_err_set(err, RW_E_RANGE, "metric set: %zu cut-offs and %zu extra metrics", nk, n_extra);
    eval_metric *m = rw_alloc_array(cap, sizeof *m);
    if (!m) return rw_err_set(err, RW_E_NOMEM, "out of memory");
    for (size_t o = 0; o < 6; o++)
        for (size_t i = 0; i < nk; i++) {
            eval_metric x = {order[o], ks[i]};
            int dup = 0;
            for (size_t j = 0; j < n; j++) dup |= eval_metric_equal(m[j], x);
            if (!dup) m[n++] = x;
        }
    eval_metric all_map = {EVAL_MAP, 0};
    m[n++] = all_map;
    for (size_t e = 0; e < n_extra; e++) {
        int dup = 0;
        for (size_t j = 0; j < n; j++) dup |= eval_metric_equal(m[j], extra[e]);
        if (!dup) m[n++] = extra[e];
    }
    *out = m;
    *n_out = n;
    return RW_OK;
}
