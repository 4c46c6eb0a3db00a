/* JSON forms of evaluation results and comparisons (Jansson), and the RUN_DIR files.
 *
 * metrics JSON (rag-eval metrics --json):
 *   {"mean": {"mrr@10": 0.51, "p@5": 0.32, ..., "map": 0.28},
 *    "per_query": {"<qid>": {"mrr@10": 1.0, ...}, ...},
 *    "counts": {"queries_evaluated", "qrels_queries", "excluded_no_relevant",
 *               "missing_from_run", "run_queries", "run_unjudged", "run_rows"}}
 * comparison.json (schema "rag-eval/comparison/1", written by rag-eval compare --out and
 * eval_comparison_write): runs, statistics options, per-metric means/CIs/p/d/wins,
 * per-query values with query texts, the gate decision, timings. docs/eval.md lists every
 * field. Non-finite numbers are written as null. */
#ifndef RW_EVAL_JSON_H
#define RW_EVAL_JSON_H

#include <stdbool.h>

#include <jansson.h>

#include "core/status.h"
#include "eval/compare.h"
#include "eval/gate.h"
#include "eval/metrics.h"
#include "eval/run.h"

/* New reference (caller decrefs); NULL on allocation failure. */
json_t *eval_results_to_json(const eval_results *r, bool per_query);

typedef struct eval_compare_info {
    const char *baseline_name;  /* borrowed, may be NULL */
    const char *candidate_name; /* borrowed, may be NULL */
    const char *qrels_name;     /* borrowed, may be NULL */
    const char *gate_name;      /* borrowed, may be NULL (no gate) */
    double load_s, evaluate_s, stats_s, gate_s; /* timings in seconds */
} eval_compare_info;

/* The metric reports headline: mrr@10 when present, else the first metric. */
size_t eval_primary_metric(const eval_comparison *c);

/* comparison.json as a new reference; d and q may be NULL (no gate / no query texts). */
json_t *eval_comparison_to_json(const eval_comparison *c, const eval_decision *d,
                                const eval_qrels *q, const eval_compare_info *info);

/* Writes j to path atomically (temp file in the same folder, fsync, rename). */
rw_status eval_json_write_file(const char *path, const json_t *j, rw_err *err);

/* Creates run_dir when needed and writes run_dir/comparison.json. */
rw_status eval_comparison_write(const char *run_dir, const eval_comparison *c,
                                const eval_decision *d, const eval_qrels *q,
                                const eval_compare_info *info, rw_err *err);

/* json_real, or json_null for NaN/inf. */
json_t *eval_json_num(double v);

#endif
