/* JSON output of results and comparisons (see json.h). */
#include "eval/json.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "data/file.h"

json_t *eval_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *metric_map(const eval_results *r, const double *vals) {
    json_t *o = json_object();
    for (size_t m = 0; o && m < r->n_metrics; m++) {
        char name[EVAL_METRIC_NAME];
        eval_metric_name(r->metrics[m], name, sizeof name);
        if (json_object_set_new(o, name, eval_json_num(vals[m])) != 0) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *counts_json(const eval_results *r) {
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "queries_evaluated", (json_int_t)r->n_queries,
                     "qrels_queries", (json_int_t)r->n_qrels_queries, "excluded_no_relevant",
                     (json_int_t)r->n_excluded_no_relevant, "missing_from_run",
                     (json_int_t)r->n_missing_from_run, "run_queries", (json_int_t)r->n_run_queries,
                     "run_unjudged", (json_int_t)r->n_run_unjudged, "run_rows", (json_int_t)r->n_run_rows);
}

json_t *eval_results_to_json(const eval_results *r, bool per_query) {
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = json_object_set_new(o, "mean", metric_map(r, r->mean));
    if (per_query) {
        json_t *pq = json_object();
        for (size_t i = 0; pq && i < r->n_queries; i++)
            bad |= json_object_set_new(pq, r->qids[i], metric_map(r, r->values + i * r->n_metrics));
        bad |= json_object_set_new(o, "per_query", pq);
    }
    bad |= json_object_set_new(o, "counts", counts_json(r));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

size_t eval_primary_metric(const eval_comparison *c) {
    for (size_t m = 0; m < c->n_metrics; m++)
        if (c->m[m].metric.kind == EVAL_MRR && c->m[m].metric.k == 10) return m;
    return 0;
}

static json_t *pair(double a, double b) { return json_pack("[o, o]", eval_json_num(a), eval_json_num(b)); }

static json_t *opt_str(const char *s) { return s ? json_string(s) : json_null(); }

json_t *eval_comparison_to_json(const eval_comparison *c, const eval_decision *d,
                                const eval_qrels *q, const eval_compare_info *info) {
    eval_compare_info none = {0};
    if (!info) info = &none;
    char created[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm)) strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    char pname[EVAL_METRIC_NAME];
    eval_metric_name(c->m[eval_primary_metric(c)].metric, pname, sizeof pname);
    bad |= json_object_set_new(o, "schema", json_string("rag-eval/comparison/1"));
    bad |= json_object_set_new(o, "created", json_string(created));
    bad |= json_object_set_new(o, "qrels", opt_str(info->qrels_name));
    bad |= json_object_set_new(o, "primary_metric", json_string(pname));
    bad |= json_object_set_new(o, "baseline", json_pack("{s:o, s:o, s:o}", "name", opt_str(info->baseline_name),
                                                         "mean", metric_map(c->base, c->base->mean), "counts",
                                                         counts_json(c->base)));
    bad |= json_object_set_new(o, "candidate", json_pack("{s:o, s:o, s:o}", "name", opt_str(info->candidate_name),
                                                          "mean", metric_map(c->cand, c->cand->mean), "counts",
                                                          counts_json(c->cand)));
    bad |= json_object_set_new(o, "stats", json_pack("{s:I, s:I, s:I, s:f, s:s, s:s}", "seed", (json_int_t)c->opts.seed,
                                                      "resamples", (json_int_t)c->opts.resamples, "permutations",
                                                      (json_int_t)c->opts.permutations, "confidence", c->opts.level,
                                                      "ci_method", "percentile bootstrap (paired)",
                                                      "test", "two-sided paired sign-flip randomisation"));
    json_t *ms = json_array();
    for (size_t m = 0; ms && m < c->n_metrics; m++) {
        const eval_metric_cmp *x = &c->m[m];
        char name[EVAL_METRIC_NAME];
        eval_metric_name(x->metric, name, sizeof name);
        bad |= json_array_append_new(
            ms, json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I}", "name", name,
                          "baseline", eval_json_num(x->base), "candidate", eval_json_num(x->cand), "diff",
                          eval_json_num(x->diff), "baseline_ci", pair(x->base_lo, x->base_hi), "candidate_ci",
                          pair(x->cand_lo, x->cand_hi), "diff_ci", pair(x->diff_lo, x->diff_hi), "p_value",
                          eval_json_num(x->p_value), "cohen_d", eval_json_num(x->cohen_d), "wins",
                          (json_int_t)x->wins, "losses", (json_int_t)x->losses, "ties", (json_int_t)x->ties));
    }
    bad |= json_object_set_new(o, "metrics", ms);
    json_t *qs = json_array();
    for (size_t i = 0; qs && i < c->base->n_queries; i++) {
        const char *text = q ? eval_qrels_query_text(q, c->base->qids[i]) : NULL;
        size_t nm = c->base->n_metrics;
        bad |= json_array_append_new(qs, json_pack("{s:s, s:o, s:o, s:o}", "id", c->base->qids[i], "text",
                                                   opt_str(text), "baseline",
                                                   metric_map(c->base, c->base->values + i * nm), "candidate",
                                                   metric_map(c->cand, c->cand->values + i * nm)));
    }
    bad |= json_object_set_new(o, "queries", qs);
    if (d) {
        json_t *checks = json_array();
        for (size_t i = 0; checks && i < d->n_checks; i++) {
            const eval_gate_check *k = &d->checks[i];
            bad |= json_array_append_new(checks, json_pack("{s:s, s:b, s:o, s:o, s:s}", "rule", k->what, "pass",
                                                           k->pass, "lhs", eval_json_num(k->lhs), "rhs",
                                                           eval_json_num(k->rhs), "detail", k->detail));
        }
        bad |= json_object_set_new(o, "decision", json_pack("{s:s, s:b, s:o, s:o}", "verdict",
                                                             d->promote ? "promote" : "reject", "promote",
                                                             d->promote, "gate", opt_str(info->gate_name),
                                                             "checks", checks));
    } else {
        bad |= json_object_set_new(o, "decision", json_null());
    }
    bad |= json_object_set_new(o, "timings", json_pack("{s:f, s:f, s:f, s:f}", "load_s", info->load_s,
                                                       "evaluate_s", info->evaluate_s, "statistics_s",
                                                       info->stats_s, "gate_s", info->gate_s));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

rw_status eval_json_write_file(const char *path, const json_t *j, rw_err *err) {
    data_atomic_file af;
    rw_status st = data_atomic_open(&af, path, err);
    if (st != RW_OK) return st;
    if (json_dumpf(j, af.f, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) != 0 || fputc('\n', af.f) == EOF) {
        st = rw_err_set(err, RW_E_IO, "%s: write failed: %s", path, strerror(errno));
        data_atomic_abort(&af);
        return st;
    }
    return data_atomic_commit(&af, err);
}

rw_status eval_comparison_write(const char *run_dir, const eval_comparison *c,
                                const eval_decision *d, const eval_qrels *q,
                                const eval_compare_info *info, rw_err *err) {
    if (mkdir(run_dir, 0777) != 0 && errno != EEXIST)
        return rw_err_set(err, RW_E_IO, "%s: cannot create folder: %s", run_dir, strerror(errno));
    char path[4200];
    int n = snprintf(path, sizeof path, "%s/comparison.json", run_dir);
    if (n < 0 || (size_t)n >= sizeof path) return rw_err_set(err, RW_E_RANGE, "%s: path too long", run_dir);
    json_t *j = eval_comparison_to_json(c, d, q, info);
    if (!j) return rw_err_set(err, RW_E_NOMEM, "comparison.json: out of memory");
    rw_status st = eval_json_write_file(path, j, err);
    json_decref(j);
    return st;
}
