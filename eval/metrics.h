/* Retrieval metrics over a run and qrels, per query and averaged.
 *
 * Definitions (k = cut-off; k = 0 means "no cut-off": the whole returned list; rank i
 * counts from 1; rel(i) = 1 when the document at rank i has qrels grade > 0; R = number of
 * relevant documents of the query in the qrels):
 *   MRR@k    1 / (rank of the first relevant document within the top k), 0 when none.
 *   P@k      (sum_{i<=k} rel(i)) / k — divides by k even when fewer than k documents are
 *            returned (k = 0: divides by the number returned, 0 when none).
 *   Recall@k (sum_{i<=k} rel(i)) / R.
 *   nDCG@k   DCG@k / IDCG@k with DCG@k = sum_{i<=k} g(i) / log2(i + 1), g(i) = the qrels
 *            grade when > 0, else 0 (graded, linear gain, as trec_eval's ndcg_cut); IDCG@k is
 *            the DCG of the qrels' own positive grades sorted in descending order.
 *   MAP@k    (sum_{i<=k, rel(i)} P@i) / R (average precision cut at k, divided by all R as
 *            trec_eval's map_cut does); "map" (k = 0) is AP over the whole run.
 *   Hit@k    1 when any relevant document is within the top k, else 0.
 * Binary relevance (grade > 0) for MRR, P, Recall, MAP and Hit; graded gain for nDCG.
 * Evaluated queries: the qrels queries with at least one relevant document, in qrels order.
 * Queries of the qrels without a relevant document are excluded and counted; a evaluated
 * query missing from the run scores 0 on every metric and is counted (trec_eval by default
 * averages only over the queries of the run; its -c flag matches this choice). Run queries
 * absent from the qrels are ignored and counted. Means are arithmetic over evaluated
 * queries. */
#ifndef RW_EVAL_METRICS_H
#define RW_EVAL_METRICS_H

#include <stddef.h>

#include "core/status.h"
#include "eval/run.h"

typedef enum eval_metric_kind {
    EVAL_MRR,
    EVAL_P,
    EVAL_RECALL,
    EVAL_NDCG,
    EVAL_MAP,
    EVAL_HIT,
    EVAL_METRIC_KINDS
} eval_metric_kind;

typedef struct eval_metric {
    eval_metric_kind kind;
    unsigned k; /* cut-off; 0 = none */
} eval_metric;

enum { EVAL_METRIC_NAME = 32 };

/* Parses "mrr@10", "p@5", "precision@5", "recall@100", "r@100", "ndcg@10", "map@10", "map",
 * "hit@3" (case-insensitive; at most len bytes of s). Errors name the text and the
 * accepted names. */
rw_status eval_metric_parse(const char *s, size_t len, eval_metric *out, rw_err *err);
/* Canonical lower-case name ("mrr@10", "p@5", "recall@100", "ndcg@10", "map@10", "map",
 * "hit@3") into buf (EVAL_METRIC_NAME bytes suffice). */
void eval_metric_name(eval_metric m, char *buf, size_t cap);
int eval_metric_equal(eval_metric a, eval_metric b);

/* One metric of one query. grades[i] = qrels grade of the document at rank i+1 (0 when
 * unjudged), n = documents returned; ideal = the query's positive grades sorted
 * descending, n_rel = how many (R). n_rel must be > 0. */
double eval_metric_value(eval_metric m, const long *grades, size_t n, const long *ideal,
                         size_t n_rel);

typedef struct eval_results {
    size_t n_metrics;
    eval_metric *metrics; /* [n_metrics] owned */
    size_t n_queries;
    char **qids;    /* [n_queries] owned: evaluated queries in qrels order */
    double *values; /* [n_queries][n_metrics] owned, row-major */
    double *mean;   /* [n_metrics] owned */
    size_t n_qrels_queries;       /* queries in the qrels */
    size_t n_excluded_no_relevant; /* qrels queries without a relevant document */
    size_t n_missing_from_run;    /* evaluated queries with no row in the run (scored 0) */
    size_t n_run_queries;         /* queries in the run */
    size_t n_run_unjudged;        /* run queries absent from the qrels (ignored) */
    size_t n_run_rows;
} eval_results;

/* Evaluates run against qrels for the given metrics (finalizing both). out is written
 * only on success; release it with eval_results_deinit. */
rw_status eval_evaluate(eval_qrels *q, eval_run *r, const eval_metric *metrics, size_t n_metrics,
                        eval_results *out, rw_err *err);
void eval_results_deinit(eval_results *res);
/* Index of m in res->metrics, or -1. */
long eval_results_find(const eval_results *res, eval_metric m);

/* Parses a cut-off list such as "5,10,100" (each 1..1000000) into a rw_malloc'd array. */
rw_status eval_parse_k_list(const char *s, unsigned **ks, size_t *n, rw_err *err);
/* The default metric set for the cut-offs ks: for each k mrr@k, p@k, recall@k, ndcg@k,
 * map@k, hit@k; then "map". Merges extra metrics (deduplicated). Owned array. */
rw_status eval_metric_set(const unsigned *ks, size_t nk, const eval_metric *extra, size_t n_extra,
                          eval_metric **out, size_t *n_out, rw_err *err);

#endif
