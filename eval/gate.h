/* Promotion gates: rules over a baseline/candidate comparison, and the decision.
 *
 * A rule is `expr OP expr` with OP one of >= > <= < == !=. Expressions:
 *   number            0.005, 1e-3, 5%  (a trailing % divides by 100)
 *   metric            mrr@10, p@5, recall@100, ndcg@10, map@10, map, hit@1: the candidate's
 *                     mean (any name eval_metric_parse accepts)
 *   baseline          the baseline's mean of the rule's metric (the first metric the rule
 *                     names; an error when the rule names none, or names several and the
 *                     bare form would be ambiguous)
 *   baseline(metric)  the baseline's mean of that metric
 *   ci_low(expr), ci_high(expr)
 *                     the bounds of the percentile bootstrap CI of expr: expr is evaluated
 *                     on every resample of the queries (same draws for baseline and
 *                     candidate, eval/stats.h), so ci_low(mrr@10 - baseline) is the lower
 *                     bound of the paired difference; for M - baseline(M), M and
 *                     baseline(M) the comparison's own intervals (diff_lo/hi, cand_lo/hi,
 *                     base_lo/hi: the same resamples) are used instead of a new bootstrap
 *   p_value(metric)   two-sided sign-flip p-value of the paired difference
 *   cohen_d(metric)   Cohen's d_z of the paired differences
 *   + - * / unary -, parentheses.
 * Examples: "mrr@10 >= baseline + 0.005", "p@5 >= baseline - 0.002",
 * "ci_low(mrr@10 - baseline) > 0", "p_value(mrr@10) < 0.05".
 * Parse errors give the rule, the 1-based column and what was expected, with a caret line.
 *
 * max_regressed_queries (a fraction in [0, 1], negative = off) rejects when more than that
 * share of the evaluated queries scores lower (by more than 1e-12) on the regression metric
 * (default: the first metric named by the rules, else mrr@10).
 * The decision is promote when every rule holds and the regression limit is respected;
 * every check is reported with its values. It is deterministic for the comparison's seed. */
#ifndef RW_EVAL_GATE_H
#define RW_EVAL_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/status.h"
#include "eval/compare.h"
#include "eval/metrics.h"

typedef struct eval_gate eval_gate;
typedef struct data_toml_node data_toml_node;

rw_status eval_gate_create(eval_gate **out, rw_err *err);
void eval_gate_destroy(eval_gate *g);
/* Builds a gate from a recipe's [gate] table (strict keys):
 *   require = ["mrr@10 >= baseline + 0.005", ...]   rules (all must hold)
 *   max_regressed_queries = 0.10                     share in [0, 1] (absent: off)
 *   regression_metric = "mrr@10"                     metric for the regression count
 *   seed = 42, resamples = 10000, permutations = 10000, confidence = 0.95   statistics
 * Errors name the recipe file:line:col of the offending key or array item, then the rule
 * column. */
rw_status eval_gate_from_toml(const data_toml_node *gate_tbl, eval_gate **out, rw_err *err);
/* Parses the recipe at path and builds the gate from its [gate] table (RW_E_NOTFOUND when
 * the recipe has none). */
rw_status eval_gate_load(const char *recipe_path, eval_gate **out, rw_err *err);

/* Parses one rule and appends it. On a parse error nothing is added. */
rw_status eval_gate_add_rule(eval_gate *g, const char *rule, rw_err *err);
/* frac in [0, 1] (RW_E_INVALID otherwise); negative turns the limit off. */
rw_status eval_gate_set_max_regressed(eval_gate *g, double frac, rw_err *err);
void eval_gate_set_regression_metric(eval_gate *g, eval_metric m);
/* Statistics options the gate asks for (seed, resamples, ...); defaults from
 * eval_stats_defaults(). */
void eval_gate_set_stats(eval_gate *g, const eval_stats_opts *o);
const eval_stats_opts *eval_gate_stats(const eval_gate *g);
size_t eval_gate_n_rules(const eval_gate *g);

/* Metrics the gate needs evaluated (rules and regression metric), deduplicated, into
 * out[cap]; returns how many there are (may exceed cap). */
size_t eval_gate_metrics(const eval_gate *g, eval_metric *out, size_t cap);

typedef struct eval_gate_check {
    char *what;   /* owned: the rule text, or "regressed queries on mrr@10 <= 10%" */
    bool pass;
    double lhs, rhs; /* evaluated sides (for the regression check: share, limit) */
    char *detail; /* owned: values of each term ("mrr@10 = 0.5154, baseline(mrr@10) = ...") */
} eval_gate_check;

typedef struct eval_decision {
    bool promote;
    size_t n_checks;
    eval_gate_check *checks; /* owned */
} eval_decision;

/* Evaluates every rule on cmp (which must contain every metric of eval_gate_metrics; the
 * bootstrap uses cmp->opts). RW_E_INVALID naming the metric when one is missing. A gate
 * with no rule and no regression limit promotes. */
rw_status eval_gate_decide(const eval_gate *g, const eval_comparison *cmp, eval_decision *out,
                           rw_err *err);
void eval_decision_deinit(eval_decision *d);
/* Human-readable multi-line summary ("PROMOTE" / "REJECT" then one line per check), owned. */
char *eval_decision_text(const eval_decision *d);

#endif
