/* eval/stats: bootstrap CIs and the sign-flip test against known distributions.
 * References: the Student-t interval (GSL's t quantile, computed here), the exact sign-flip
 * distribution of a hand-enumerated case, the normal approximation of the sign-flip
 * statistic for large n, and degenerate cases (identical runs, constant shifts). */
#include <math.h>
#include <string.h>

#include <gsl/gsl_cdf.h>

#include "core/rng.h"
#include "eval/stats.h"
#include "rw_test.h"

static void test_identical_runs(void **state) {
    (void)state;
    double a[60];
    rw_rng r;
    rw_rng_seed(&r, 1);
    for (int i = 0; i < 60; i++) a[i] = rw_rng_uniform(&r);
    eval_stats_opts o = eval_stats_defaults();
    double p, lo, hi;
    rw_err err;
    assert_int_equal(eval_permutation_test(a, a, 60, &o, &p, &err), RW_OK);
    assert_true(p == 1.0);
    assert_int_equal(eval_bootstrap_diff_ci(a, a, 60, &o, &lo, &hi, &err), RW_OK);
    assert_true(lo <= 0 && hi >= 0);
    assert_true(eval_cohens_d(a, a, 60) == 0.0);
    /* small n takes the exact path: still 1 */
    assert_int_equal(eval_permutation_test(a, a, 5, &o, &p, &err), RW_OK);
    assert_true(p == 1.0);
}

static void test_strongly_better(void **state) {
    (void)state;
    double a[80], b[80];
    rw_rng r;
    rw_rng_seed(&r, 2);
    for (int i = 0; i < 80; i++) {
        a[i] = rw_rng_uniform(&r) * 0.5;
        b[i] = a[i] + 0.2 + 0.05 * rw_rng_normal(&r);
    }
    eval_stats_opts o = eval_stats_defaults();
    double p, lo, hi;
    rw_err err;
    assert_int_equal(eval_permutation_test(a, b, 80, &o, &p, &err), RW_OK);
    assert_true(p < 0.01);
    assert_true(p > 0); /* (1 + hits) / (1 + P) is never 0 */
    assert_int_equal(eval_bootstrap_diff_ci(a, b, 80, &o, &lo, &hi, &err), RW_OK);
    assert_true(lo > 0.15 && hi < 0.25);
    assert_true(eval_cohens_d(a, b, 80) > 2);
    /* a constant shift: every resample has the same mean difference */
    for (int i = 0; i < 80; i++) b[i] = a[i] + 0.125;
    assert_int_equal(eval_bootstrap_diff_ci(a, b, 80, &o, &lo, &hi, &err), RW_OK);
    assert_true(fabs(lo - 0.125) < 1e-12 && fabs(hi - 0.125) < 1e-12);
    assert_true(isinf(eval_cohens_d(a, b, 80)));
}

/* d = (1, 2, 3): the 8 sign assignments give sums +-6, +-4, +-2, 0, 0; |sum| >= 6 for 2. */
static void test_exact_sign_flip_by_hand(void **state) {
    (void)state;
    double a[3] = {0, 0, 0}, b[3] = {1, 2, 3};
    eval_stats_opts o = eval_stats_defaults();
    double p;
    rw_err err;
    assert_int_equal(eval_permutation_test(a, b, 3, &o, &p, &err), RW_OK);
    assert_true(fabs(p - 0.25) < 1e-15);
    /* d = (1, -1, 2): sums 2, 0, 4, 2, -2, -4, 0, -2 ... |s| >= 2 for 6 of 8 */
    double c[3] = {1, -1, 2};
    assert_int_equal(eval_permutation_test(a, c, 3, &o, &p, &err), RW_OK);
    assert_true(fabs(p - 0.75) < 1e-15);
    /* Cohen's d_z of (1, 2, 3): mean 2, sd 1 */
    assert_true(fabs(eval_cohens_d(a, b, 3) - 2.0) < 1e-15);
}

/* For large n the sign-flip sum S = sum +-d_i has mean 0 and variance sum d_i^2 and is close
 * to normal, so p ~= 2 (1 - Phi(|S_obs| / sqrt(sum d_i^2))). */
static void test_sign_flip_normal_approx(void **state) {
    (void)state;
    enum { N = 400 };
    double a[N], b[N];
    rw_rng r;
    rw_rng_seed(&r, 3);
    for (int i = 0; i < N; i++) {
        a[i] = 0;
        b[i] = 0.1 + rw_rng_normal(&r); /* mean shift of 0.1 sd -> z around 2 */
    }
    double s = 0, ss = 0;
    for (int i = 0; i < N; i++) {
        s += b[i];
        ss += b[i] * b[i];
    }
    double want = 2 * gsl_cdf_ugaussian_Q(fabs(s) / sqrt(ss));
    eval_stats_opts o = eval_stats_defaults();
    o.permutations = 40000;
    double p;
    rw_err err;
    assert_int_equal(eval_permutation_test(a, b, N, &o, &p, &err), RW_OK);
    print_message("sign-flip p = %.4f, normal approximation %.4f\n", p, want);
    assert_true(fabs(p - want) < 0.01 + 0.1 * want);
}

/* Percentile bootstrap CI of the mean of a normal sample vs the t-interval
 * mean +- t_{0.975, n-1} s / sqrt(n). They differ by O(1/n) (the bootstrap uses the
 * plug-in sd, a factor sqrt((n-1)/n), and t vs z) plus Monte Carlo error; with n = 200 and
 * B = 20000 both ends must agree to within 8% of the half-width. */
static void test_bootstrap_vs_t_interval(void **state) {
    (void)state;
    enum { N = 200 };
    double x[N];
    rw_rng r;
    rw_rng_seed(&r, 4);
    double mean = 0;
    for (int i = 0; i < N; i++) {
        x[i] = 0.5 + 2.0 * rw_rng_normal(&r);
        mean += x[i];
    }
    mean /= N;
    double ss = 0;
    for (int i = 0; i < N; i++) ss += (x[i] - mean) * (x[i] - mean);
    double half = gsl_cdf_tdist_Pinv(0.975, N - 1) * sqrt(ss / (N - 1)) / sqrt((double)N);
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 20000;
    double lo, hi;
    rw_err err;
    assert_int_equal(eval_bootstrap_ci(x, N, &o, &lo, &hi, &err), RW_OK);
    print_message("bootstrap [%.4f, %.4f] vs t-interval [%.4f, %.4f]\n", lo, hi, mean - half, mean + half);
    assert_true(fabs(lo - (mean - half)) < 0.08 * half);
    assert_true(fabs(hi - (mean + half)) < 0.08 * half);
    /* 90% interval is narrower and nested */
    o.level = 0.90;
    double lo9, hi9;
    assert_int_equal(eval_bootstrap_ci(x, N, &o, &lo9, &hi9, &err), RW_OK);
    assert_true(lo9 > lo && hi9 < hi);
}

static void test_determinism_and_options(void **state) {
    (void)state;
    double x[30];
    for (int i = 0; i < 30; i++) x[i] = (double)(i % 7) / 7.0;
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 500;
    double l1, h1, l2, h2, l3, h3;
    rw_err err;
    assert_int_equal(eval_bootstrap_ci(x, 30, &o, &l1, &h1, &err), RW_OK);
    assert_int_equal(eval_bootstrap_ci(x, 30, &o, &l2, &h2, &err), RW_OK);
    assert_true(l1 == l2 && h1 == h2);
    o.seed = 43;
    assert_int_equal(eval_bootstrap_ci(x, 30, &o, &l3, &h3, &err), RW_OK);
    assert_true(l3 != l1 || h3 != h1);
    o.resamples = 0;
    assert_int_equal(eval_bootstrap_ci(x, 30, &o, &l1, &h1, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "resamples"));
    o = eval_stats_defaults();
    o.level = 1.0;
    assert_int_equal(eval_bootstrap_ci(x, 30, &o, &l1, &h1, &err), RW_E_INVALID);
    o = eval_stats_defaults();
    assert_int_equal(eval_bootstrap_ci(x, 0, &o, &l1, &h1, &err), RW_E_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical_runs),
        cmocka_unit_test(test_strongly_better),
        cmocka_unit_test(test_exact_sign_flip_by_hand),
        cmocka_unit_test(test_sign_flip_normal_approx),
        cmocka_unit_test(test_bootstrap_vs_t_interval),
        cmocka_unit_test(test_determinism_and_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
