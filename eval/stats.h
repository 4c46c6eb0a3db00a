/* Statistics over per-query metric values: bootstrap confidence intervals, a paired
 * randomisation (sign-flip) test and an effect size.
 *
 * Bootstrap (percentile method, Efron & Tibshirani 1993 ch. 13): draw B resamples of the n
 * query indices with replacement (rw_rng seeded with opts.seed, so results are identical for
 * a seed on every platform), compute the statistic on each, and take the (1-level)/2 and
 * (1+level)/2 quantiles of the B values (GSL's quantile with linear interpolation between
 * order statistics). The paired version resamples query indices once and uses the same
 * indices for both runs, so the CI of the difference keeps the pairing. Every CI computed
 * with the same seed and n uses the same index draws.
 *
 * Randomisation test (Fisher/Pitman sign-flip, as in Smucker et al. 2007): under H0 the
 * label "baseline" or "candidate" of each query's pair is exchangeable, so each difference
 * d_i = b_i - a_i keeps or flips its sign with probability 1/2. The two-sided p-value is the
 * share of sign assignments whose |mean| is >= the observed |mean| (within 1e-12):
 * enumerated exactly when n <= 16, otherwise estimated from P random assignments as
 * (1 + hits) / (1 + P) so it is never 0. Identical runs give p = 1.
 *
 * Effect size: Cohen's d for paired samples (d_z) = mean(d) / sd(d), sd with n-1 in the
 * denominator; 0 when every d_i is 0, and +-INFINITY when all d_i are equal and non-zero
 * (sd below 1e-12 * max(1, |mean|) counts as 0)
 * (JSON writers print null for non-finite values). */
#ifndef RW_EVAL_STATS_H
#define RW_EVAL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct eval_stats_opts {
    size_t resamples;    /* bootstrap resamples B (default 10000) */
    size_t permutations; /* random sign assignments P when n > 20 (default 10000) */
    uint64_t seed;       /* default 42 */
    double level;        /* confidence level in (0, 1) (default 0.95) */
} eval_stats_opts;

eval_stats_opts eval_stats_defaults(void);
/* RW_E_INVALID naming the field when resamples/permutations are 0 or too large (> 10^7),
 * or level is outside (0, 1). */
rw_status eval_stats_check(const eval_stats_opts *o, rw_err *err);

/* Percentile bootstrap CI of the mean of x[n]. n >= 1. */
rw_status eval_bootstrap_ci(const double *x, size_t n, const eval_stats_opts *o, double *lo,
                            double *hi, rw_err *err);
/* Percentile bootstrap CI of mean(b - a) with paired resampling. */
rw_status eval_bootstrap_diff_ci(const double *a, const double *b, size_t n,
                                 const eval_stats_opts *o, double *lo, double *hi, rw_err *err);

/* Generic bootstrap: for each resample r (0..B-1), fn receives the n resampled indices and
 * returns the statistic; the CI is taken over the B values. The index draws are the ones
 * eval_bootstrap_ci uses for the same seed and n. */
typedef double (*eval_boot_stat_fn)(void *user, const uint32_t *idx, size_t n);
rw_status eval_bootstrap_generic(size_t n, eval_boot_stat_fn fn, void *user,
                                 const eval_stats_opts *o, double *lo, double *hi, rw_err *err);

/* Two-sided paired sign-flip p-value for mean(b - a). */
rw_status eval_permutation_test(const double *a, const double *b, size_t n,
                                const eval_stats_opts *o, double *p, rw_err *err);

/* Cohen's d_z of the paired differences b - a (see above). n >= 2 for a finite sd. */
double eval_cohens_d(const double *a, const double *b, size_t n);

#endif
