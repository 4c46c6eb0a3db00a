/* Bootstrap CIs, paired sign-flip test and Cohen's d_z (definitions in stats.h).
 *
 * Invariants: the only randomness is rw_rng seeded with opts.seed; indices are drawn in the
 * order resample-major, query-minor, so any statistic bootstrapped with the same (seed, n)
 * sees the same resamples. Quantiles use GSL on sorted data. */
#include "eval/stats.h"

#include <math.h>
#include <string.h>

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "eval/internal.h"

enum { EXACT_MAX_N = 16 }; /* 2^16 assignments x n: cheap; beyond, sample */

eval_stats_opts eval_stats_defaults(void) {
    return (eval_stats_opts){.resamples = 10000, .permutations = 10000, .seed = 42, .level = 0.95};
}

rw_status eval_stats_check(const eval_stats_opts *o, rw_err *err) {
    if (o->resamples < 1 || o->resamples > 10000000)
        return rw_err_set(err, RW_E_INVALID, "resamples = %zu: must be in 1..10000000", o->resamples);
    if (o->permutations < 1 || o->permutations > 10000000)
        return rw_err_set(err, RW_E_INVALID, "permutations = %zu: must be in 1..10000000",
                          o->permutations);
    if (!(o->level > 0 && o->level < 1))
        return rw_err_set(err, RW_E_INVALID, "confidence level = %g: must be in (0, 1)", o->level);
    return RW_OK;
}

void eval_percentile_ci(double *vals, size_t n, double level, double *lo, double *hi) {
    gsl_sort(vals, 1, n);
    double alpha = (1.0 - level) / 2.0;
    *lo = gsl_stats_quantile_from_sorted_data(vals, 1, n, alpha);
    *hi = gsl_stats_quantile_from_sorted_data(vals, 1, n, 1.0 - alpha);
}

rw_status eval_bootstrap_generic(size_t n, eval_boot_stat_fn fn, void *user,
                                 const eval_stats_opts *o, double *lo, double *hi, rw_err *err) {
    rw_status st = eval_stats_check(o, err);
    if (st != RW_OK) return st;
    if (n == 0) return rw_err_set(err, RW_E_INVALID, "bootstrap over 0 queries");
    if (n > UINT32_MAX) return rw_err_set(err, RW_E_RANGE, "bootstrap over %zu queries", n);
    uint32_t *idx = rw_alloc_array(n, sizeof *idx);
    double *vals = rw_alloc_array(o->resamples, sizeof *vals);
    if (!idx || !vals) {
        st = rw_err_set(err, RW_E_NOMEM, "bootstrap: out of memory (%zu resamples)", o->resamples);
        goto fail;
    }
    rw_rng rng;
    rw_rng_seed(&rng, o->seed);
    for (size_t r = 0; r < o->resamples; r++) {
        for (size_t i = 0; i < n; i++) idx[i] = (uint32_t)rw_rng_below(&rng, n);
        vals[r] = fn(user, idx, n);
    }
    eval_percentile_ci(vals, o->resamples, o->level, lo, hi);
fail:
    rw_free(idx);
    rw_free(vals);
    return st;
}

typedef struct mean_ctx {
    const double *a, *b; /* b NULL: mean of a; else mean of b - a */
} mean_ctx;

static double resampled_mean(void *user, const uint32_t *idx, size_t n) {
    const mean_ctx *c = user;
    double s = 0;
    if (c->b)
        for (size_t i = 0; i < n; i++) s += c->b[idx[i]] - c->a[idx[i]];
    else
        for (size_t i = 0; i < n; i++) s += c->a[idx[i]];
    return s / (double)n;
}

rw_status eval_bootstrap_ci(const double *x, size_t n, const eval_stats_opts *o, double *lo,
                            double *hi, rw_err *err) {
    mean_ctx c = {x, NULL};
    return eval_bootstrap_generic(n, resampled_mean, &c, o, lo, hi, err);
}

rw_status eval_bootstrap_diff_ci(const double *a, const double *b, size_t n,
                                 const eval_stats_opts *o, double *lo, double *hi, rw_err *err) {
    mean_ctx c = {a, b};
    return eval_bootstrap_generic(n, resampled_mean, &c, o, lo, hi, err);
}

rw_status eval_permutation_test(const double *a, const double *b, size_t n,
                                const eval_stats_opts *o, double *p, rw_err *err) {
    rw_status st = eval_stats_check(o, err);
    if (st != RW_OK) return st;
    if (n == 0) return rw_err_set(err, RW_E_INVALID, "randomisation test over 0 queries");
    double *d = rw_alloc_array(n, sizeof *d);
    if (!d) return rw_err_set(err, RW_E_NOMEM, "randomisation test: out of memory");
    double obs = 0;
    for (size_t i = 0; i < n; i++) {
        d[i] = b[i] - a[i];
        obs += d[i];
    }
    obs = fabs(obs);
    /* Compare sums (not means) so the tolerance scales with n. */
    const double tol = 1e-12 * (double)n;
    if (n <= EXACT_MAX_N) {
        uint64_t hits = 0, total = (uint64_t)1 << n;
        for (uint64_t mask = 0; mask < total; mask++) {
            double s = 0;
            for (size_t i = 0; i < n; i++) s += (mask >> i & 1) ? -d[i] : d[i];
            hits += fabs(s) >= obs - tol;
        }
        *p = (double)hits / (double)total;
    } else {
        rw_rng rng;
        rw_rng_seed(&rng, o->seed ^ 0x9e3779b97f4a7c15ULL);
        size_t hits = 0;
        for (size_t r = 0; r < o->permutations; r++) {
            double s = 0;
            uint64_t bits = 0;
            for (size_t i = 0; i < n; i++) {
                if (i % 64 == 0) bits = rw_rng_u64(&rng);
                s += (bits & 1) ? -d[i] : d[i];
                bits >>= 1;
            }
            hits += fabs(s) >= obs - tol;
        }
        *p = (double)(hits + 1) / (double)(o->permutations + 1);
    }
    rw_free(d);
    return RW_OK;
}

double eval_cohens_d(const double *a, const double *b, size_t n) {
    if (n == 0) return 0.0;
    double mean = 0;
    for (size_t i = 0; i < n; i++) mean += b[i] - a[i];
    mean /= (double)n;
    double ss = 0;
    for (size_t i = 0; i < n; i++) {
        double e = b[i] - a[i] - mean;
        ss += e * e;
    }
    double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    /* sd at rounding level (differences equal up to 1e-12) counts as 0 */
    if (sd > 1e-12 * fmax(1.0, fabs(mean))) return mean / sd;
    if (mean == 0) return 0.0;
    return mean > 0 ? (double)INFINITY : -(double)INFINITY;
}
