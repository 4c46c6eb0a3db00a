/* Paired comparison of two runs evaluated on the same qrels: per-metric means, bootstrap
 * CIs (of each run and of the paired difference), sign-flip p-values, Cohen's d_z and
 * per-query wins/losses. Definitions of the statistics: eval/stats.h. */
#ifndef RW_EVAL_COMPARE_H
#define RW_EVAL_COMPARE_H

#include <stddef.h>

#include "core/status.h"
#include "eval/metrics.h"
#include "eval/stats.h"

typedef struct eval_metric_cmp {
    eval_metric metric;
    double base, cand, diff;    /* means; diff = cand - base */
    double base_lo, base_hi;    /* bootstrap CI of the baseline mean */
    double cand_lo, cand_hi;    /* bootstrap CI of the candidate mean */
    double diff_lo, diff_hi;    /* paired bootstrap CI of the difference */
    double p_value;             /* two-sided sign-flip test */
    double cohen_d;             /* d_z of the paired differences (may be +-inf) */
    size_t wins, losses, ties;  /* queries with cand > base, cand < base, equal (1e-12) */
} eval_metric_cmp;

typedef struct eval_comparison {
    eval_stats_opts opts;
    size_t n_metrics;
    eval_metric_cmp *m;        /* [n_metrics] owned, in the metric order of the results */
    const eval_results *base;  /* borrowed: must outlive the comparison */
    const eval_results *cand;  /* borrowed */
} eval_comparison;

/* base and cand must hold the same queries (same qrels) and metrics in the same order
 * (RW_E_INVALID naming the first difference otherwise) and at least one query. */
rw_status eval_compare(const eval_results *base, const eval_results *cand,
                       const eval_stats_opts *opts, eval_comparison *out, rw_err *err);
void eval_comparison_deinit(eval_comparison *c);
/* Per-query values of metric index m: base into a[n_queries], candidate into b. */
void eval_comparison_column(const eval_comparison *c, size_t m, double *a, double *b);

#endif
