/* eval/gate: the rule parser (valid forms, malformed rules with column positions) and the
 * decision on synthetic comparisons whose means, regressions and CIs are known by
 * construction. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "eval/compare.h"
#include "eval/gate.h"
#include "eval/stats.h"
#include "rw_test.h"

enum { NQ = 40 };

/* Results with two metrics (mrr@10, p@5) and per-query values v[q][m]. */
static void make_results(eval_results *r, double v[NQ][2]) {
    memset(r, 0, sizeof *r);
    r->n_metrics = 2;
    r->metrics = rw_malloc(2 * sizeof *r->metrics);
    r->metrics[0] = (eval_metric){EVAL_MRR, 10};
    r->metrics[1] = (eval_metric){EVAL_P, 5};
    r->n_queries = NQ;
    r->qids = rw_calloc(NQ, sizeof *r->qids);
    r->values = rw_malloc(NQ * 2 * sizeof *r->values);
    r->mean = rw_calloc(2, sizeof *r->mean);
    for (int q = 0; q < NQ; q++) {
        char id[16];
        snprintf(id, sizeof id, "q%d", q);
        r->qids[q] = rw_strdup(id);
        for (int m = 0; m < 2; m++) {
            r->values[q * 2 + m] = v[q][m];
            r->mean[m] += v[q][m] / NQ;
        }
    }
}

typedef struct fixture {
    eval_results base, cand;
    eval_comparison cmp;
} fixture;

/* base mrr = 0.4 + 0.01*(q%10), p@5 = 0.2; candidate: +0.1 on queries 0..35, -0.05 on 36..39
 * (4 of 40 = 10% regressed); p@5 candidate = 0.199 everywhere.
 * Means: base mrr 0.445, cand mrr 0.445 + (36*0.1 - 4*0.05)/40 = 0.445 + 0.085 = 0.53. */
static void make_fixture(fixture *f) {
    double a[NQ][2], b[NQ][2];
    for (int q = 0; q < NQ; q++) {
        a[q][0] = 0.4 + 0.01 * (q % 10);
        a[q][1] = 0.2;
        b[q][0] = a[q][0] + (q < 36 ? 0.1 : -0.05);
        b[q][1] = 0.199;
    }
    make_results(&f->base, a);
    make_results(&f->cand, b);
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 2000;
    rw_err err;
    assert_int_equal(eval_compare(&f->base, &f->cand, &o, &f->cmp, &err), RW_OK);
}

static void free_fixture(fixture *f) {
    eval_comparison_deinit(&f->cmp);
    eval_results_deinit(&f->base);
    eval_results_deinit(&f->cand);
}

static void test_parse_errors(void **state) {
    (void)state;
    struct {
        const char *rule;
        const char *want;
    } bad[] = {
        {"mrr@10 >= baseline +", "column 21: expected a number"},
        {"mrr@10 >> 3", "column 9: expected a number"},
        {"mrr@10 = 3", "column 8: expected a comparison"},
        {"foo@10 > 0", "column 1: unknown metric 'foo@10'"},
        {"mrr@0 > 0", "column 1: metric"},
        {"baseline > 0", "column 1: 'baseline' needs a metric"},
        {"mrr@10 - p@5 > baseline", "column 16: 'baseline' is ambiguous"},
        {"ci_low(ci_high(mrr@10)) > 0", "column 8: ci_high(...) cannot be nested"},
        {"ci_low(p_value(mrr@10)) > 0", "column 8: p_value(...) cannot be used"},
        {"mrr@10 >= 0.5 extra", "column 15: unexpected 'extra'"},
        {"(mrr@10 > 0", "column 9: expected ')'"},
        {"p_value(3) < 0.05", "column 9: expected a metric name"},
        {"ci_low mrr@10 > 0", "column 8: expected '('"},
        {"", "column 1: expected a number"},
        {"mrr@10 >= 1e999", "number out of range"},
        {"mrr@10 >= 5x", "column 12: unexpected 'x'"},
    };
    eval_gate *g = NULL;
    rw_err err;
    assert_int_equal(eval_gate_create(&g, &err), RW_OK);
    char deep[400];
    memset(deep, '(', 200);
    strcpy(deep + 200, "1");
    assert_int_equal(eval_gate_add_rule(g, deep, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "column 65: nesting deeper than 64"));
    memset(deep, '-', 200);
    assert_int_equal(eval_gate_add_rule(g, deep, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "nesting deeper"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rw_err_clear(&err);
        assert_int_equal(eval_gate_add_rule(g, bad[i].rule, &err), RW_E_INVALID);
        if (!strstr(err.msg, bad[i].want)) fail_msg("rule '%s': message '%s' lacks '%s'", bad[i].rule, err.msg, bad[i].want);
    }
    assert_int_equal(eval_gate_n_rules(g), 0);
    /* the caret sits under the column */
    assert_int_equal(eval_gate_add_rule(g, "mrr@10 >> 3", &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "\n    mrr@10 >> 3\n            ^"));
    assert_int_equal(eval_gate_set_max_regressed(g, 1.5, &err), RW_E_INVALID);
    eval_gate_destroy(g);
}

static void test_parse_valid_and_metrics(void **state) {
    (void)state;
    const char *ok[] = {"mrr@10 >= baseline + 0.005", "p@5 >= baseline - 0.002",
                        "ci_low(mrr@10 - baseline) > 0", "p_value(mrr@10) < 0.05",
                        "-(mrr@10 - baseline(mrr@10)) * 2 / 1 <= .5%", "cohen_d(ndcg@10) != -1",
                        "ci_high(p@5 - baseline(p@5)) >= -1e-3", "MAP >= baseline"};
    eval_gate *g = NULL;
    rw_err err;
    assert_int_equal(eval_gate_create(&g, &err), RW_OK);
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (eval_gate_add_rule(g, ok[i], &err) != RW_OK) fail_msg("%s", err.msg);
    assert_int_equal(eval_gate_set_max_regressed(g, 0.1, &err), RW_OK);
    eval_metric m[16];
    size_t n = eval_gate_metrics(g, m, 16);
    assert_int_equal(n, 4); /* mrr@10, p@5, ndcg@10, map (regression metric = mrr@10) */
    eval_gate_destroy(g);
}

static const eval_gate_check *decide_one(fixture *f, const char *rule, eval_decision *d) {
    eval_gate *g = NULL;
    rw_err err;
    assert_int_equal(eval_gate_create(&g, &err), RW_OK);
    if (eval_gate_add_rule(g, rule, &err) != RW_OK) fail_msg("%s", err.msg);
    if (eval_gate_decide(g, &f->cmp, d, &err) != RW_OK) fail_msg("%s", err.msg);
    eval_gate_destroy(g);
    assert_int_equal(d->n_checks, 1);
    return &d->checks[0];
}

static void test_decisions(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f);
    eval_decision d;
    const eval_gate_check *c;
    /* 0.53 >= 0.445 + 0.005 */
    c = decide_one(&f, "mrr@10 >= baseline + 0.005", &d);
    assert_true(c->pass);
    assert_true(fabs(c->lhs - 0.53) < 1e-12 && fabs(c->rhs - 0.45) < 1e-12);
    assert_non_null(strstr(c->detail, "mrr@10 = 0.53"));
    assert_non_null(strstr(c->detail, "baseline(mrr@10) = 0.445"));
    eval_decision_deinit(&d);
    /* 0.53 >= 0.445 + 0.09 fails */
    c = decide_one(&f, "mrr@10 >= baseline + 0.09", &d);
    assert_false(c->pass);
    assert_false(d.promote);
    eval_decision_deinit(&d);
    /* p@5: 0.199 >= 0.2 - 0.002 passes, >= 0.2 - 0.0005 fails */
    c = decide_one(&f, "p@5 >= baseline - 0.002", &d);
    assert_true(c->pass);
    eval_decision_deinit(&d);
    c = decide_one(&f, "p@5 >= baseline - 0.0005", &d);
    assert_false(c->pass);
    eval_decision_deinit(&d);
    /* ci_low of the paired difference = the paired bootstrap CI with the same options */
    double a[NQ], b[NQ], lo, hi;
    eval_comparison_column(&f.cmp, 0, a, b);
    rw_err err;
    assert_int_equal(eval_bootstrap_diff_ci(a, b, NQ, &f.cmp.opts, &lo, &hi, &err), RW_OK);
    /* eval_compare's one-pass bootstrap gives bit-identical bounds */
    assert_true(f.cmp.m[0].diff_lo == lo && f.cmp.m[0].diff_hi == hi);
    double blo, bhi;
    assert_int_equal(eval_bootstrap_ci(a, NQ, &f.cmp.opts, &blo, &bhi, &err), RW_OK);
    assert_true(f.cmp.m[0].base_lo == blo && f.cmp.m[0].base_hi == bhi);
    assert_int_equal(eval_bootstrap_ci(b, NQ, &f.cmp.opts, &blo, &bhi, &err), RW_OK);
    assert_true(f.cmp.m[0].cand_lo == blo && f.cmp.m[0].cand_hi == bhi);
    c = decide_one(&f, "ci_low(mrr@10 - baseline) > 0", &d);
    assert_true(c->pass);
    assert_true(fabs(c->lhs - lo) < 1e-12);
    /* differences are 0.1 (36x) and -0.05 (4x): every resample mean lies in [-0.05, 0.1] */
    assert_true(lo > 0.05 && lo < 0.085);
    eval_decision_deinit(&d);
    c = decide_one(&f, "ci_high(mrr@10 - baseline) < 0.1", &d);
    assert_true(c->pass && fabs(c->lhs - hi) < 1e-12);
    eval_decision_deinit(&d);
    c = decide_one(&f, "p_value(mrr@10) < 0.01", &d);
    assert_true(c->pass);
    eval_decision_deinit(&d);
    /* 0/0 is NaN: never passes */
    c = decide_one(&f, "(mrr@10 - mrr@10) / 0 >= 0", &d);
    assert_false(c->pass);
    eval_decision_deinit(&d);
    free_fixture(&f);
}

/* ci_low / ci_high of M - baseline(M), M and baseline(M) are the comparison's intervals.
 * Hand-worked: baseline mrr@10 = 0 on all 40 queries, candidate 1 on query 0 only, so a
 * resample's mean difference is k/40 with k ~ Binomial(40, 1/40): P(k = 0) = 0.363 and
 * P(k <= 2) = 0.920 < 0.975 < P(k <= 3) = 0.981, so with 2000 resamples the 2.5% and 97.5%
 * percentiles fall (by a wide margin) inside the k = 0 and k = 3 runs: ci = [0, 3/40]. */
static void test_ci_from_comparison(void **state) {
    (void)state;
    fixture f;
    double a[NQ][2], b[NQ][2];
    for (int q = 0; q < NQ; q++) {
        a[q][0] = 0;
        b[q][0] = q == 0 ? 1 : 0;
        a[q][1] = b[q][1] = 0.2;
    }
    make_results(&f.base, a);
    make_results(&f.cand, b);
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 2000;
    rw_err err;
    assert_int_equal(eval_compare(&f.base, &f.cand, &o, &f.cmp, &err), RW_OK);
    eval_decision d;
    const eval_gate_check *c = decide_one(&f, "ci_low(mrr@10 - baseline) == 0", &d);
    assert_true(c->pass);
    eval_decision_deinit(&d);
    c = decide_one(&f, "ci_high(mrr@10 - baseline(mrr@10)) == 0.075", &d);
    assert_true(c->pass);
    eval_decision_deinit(&d);
    c = decide_one(&f, "ci_low(mrr@10 - baseline) > 0", &d); /* not a significant gain */
    assert_false(c->pass);
    eval_decision_deinit(&d);
    /* The values come from the comparison, not a new bootstrap: marked intervals show up. */
    f.cmp.m[0].diff_lo = 0.123;
    f.cmp.m[0].diff_hi = 0.456;
    f.cmp.m[0].cand_lo = 0.25;
    f.cmp.m[0].base_hi = 0.75;
    struct {
        const char *rule;
        double lhs;
    } marked[] = {
        {"ci_low(mrr@10 - baseline) > 0", 0.123},
        {"ci_high(mrr@10 - baseline(mrr@10)) > 0", 0.456},
        {"ci_low(mrr@10) > 0", 0.25},
        {"ci_high(baseline(mrr@10)) > 0", 0.75},
        {"ci_low((mrr@10 - baseline) * 1) > 0", 0}, /* another body: bootstrapped */
        {"ci_high(mrr@10 - baseline + 0) > 0", 0.075},
    };
    for (size_t i = 0; i < sizeof marked / sizeof marked[0]; i++) {
        c = decide_one(&f, marked[i].rule, &d);
        if (c->lhs != marked[i].lhs) fail_msg("'%s': lhs = %.17g, expected %g", marked[i].rule, c->lhs, marked[i].lhs);
        eval_decision_deinit(&d);
    }
    free_fixture(&f);
}

/* Each operator at equality and on both sides of it: x OP x has the same value on both
 * sides, so strict and non-strict comparisons must differ. */
static void test_operators_at_equality(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f);
    struct {
        const char *rule;
        bool pass;
    } cases[] = {
        {"mrr@10 > mrr@10", false},         {"mrr@10 >= mrr@10", true},
        {"mrr@10 < mrr@10", false},         {"mrr@10 <= mrr@10", true},
        {"mrr@10 == mrr@10", true},         {"mrr@10 != mrr@10", false},
        {"mrr@10 > mrr@10 - 0.001", true},  {"mrr@10 < mrr@10 + 0.001", true},
        {"mrr@10 >= mrr@10 + 0.001", false}, {"mrr@10 <= mrr@10 - 0.001", false},
        {"mrr@10 == mrr@10 + 0.001", false}, {"mrr@10 != mrr@10 + 0.001", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        eval_decision d;
        const eval_gate_check *c = decide_one(&f, cases[i].rule, &d);
        if (c->pass != cases[i].pass)
            fail_msg("'%s': pass = %d, expected %d", cases[i].rule, c->pass, cases[i].pass);
        assert_true(d.promote == cases[i].pass);
        eval_decision_deinit(&d);
    }
    free_fixture(&f);
}

static void test_regressed_queries_and_determinism(void **state) {
    (void)state;
    fixture f;
    make_fixture(&f);
    eval_gate *g = NULL;
    rw_err err;
    eval_decision d1, d2;
    assert_int_equal(eval_gate_create(&g, &err), RW_OK);
    assert_int_equal(eval_gate_add_rule(g, "mrr@10 >= baseline + 0.005", &err), RW_OK);
    assert_int_equal(eval_gate_add_rule(g, "ci_low(mrr@10 - baseline) > 0", &err), RW_OK);
    assert_int_equal(eval_gate_set_max_regressed(g, 0.10, &err), RW_OK); /* 4/40 = 10%: allowed */
    assert_int_equal(eval_gate_decide(g, &f.cmp, &d1, &err), RW_OK);
    assert_true(d1.promote);
    assert_int_equal(d1.n_checks, 3);
    assert_true(fabs(d1.checks[2].lhs - 0.1) < 1e-15);
    assert_non_null(strstr(d1.checks[2].detail, "4 of 40"));
    assert_int_equal(eval_gate_decide(g, &f.cmp, &d2, &err), RW_OK);
    for (size_t i = 0; i < d1.n_checks; i++) assert_true(d1.checks[i].lhs == d2.checks[i].lhs);
    char *text = eval_decision_text(&d1);
    assert_non_null(strstr(text, "PROMOTE"));
    rw_free(text);
    eval_decision_deinit(&d1);
    eval_decision_deinit(&d2);
    assert_int_equal(eval_gate_set_max_regressed(g, 0.05, &err), RW_OK);
    assert_int_equal(eval_gate_decide(g, &f.cmp, &d1, &err), RW_OK);
    assert_false(d1.promote);
    text = eval_decision_text(&d1);
    assert_non_null(strstr(text, "REJECT"));
    assert_non_null(strstr(text, "FAIL  regressed queries on mrr@10"));
    rw_free(text);
    eval_decision_deinit(&d1);
    /* a metric the comparison lacks is an error, not a silent pass */
    assert_int_equal(eval_gate_add_rule(g, "ndcg@10 >= baseline", &err), RW_OK);
    assert_int_equal(eval_gate_decide(g, &f.cmp, &d1, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "ndcg@10"));
    eval_gate_destroy(g);
    free_fixture(&f);
}

static void test_gate_from_recipe(void **state) {
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/recipe.toml", rw_test_tmpdir());
    const char *ok = "name = \"x\"\n[gate]\nrequire = [\"mrr@10 >= baseline + 0.005\",\n  \"ci_low(mrr@10 - baseline) > 0\"]\n"
                     "max_regressed_queries = 0.10\nseed = 7\nresamples = 500\n";
    assert_int_equal(rw_test_write_file(path, ok, strlen(ok)), 0);
    eval_gate *g = NULL;
    rw_err err;
    if (eval_gate_load(path, &g, &err) != RW_OK) fail_msg("%s", err.msg);
    assert_int_equal(eval_gate_n_rules(g), 2);
    assert_int_equal(eval_gate_stats(g)->seed, 7);
    assert_int_equal(eval_gate_stats(g)->resamples, 500);
    fixture f;
    make_fixture(&f);
    eval_decision d;
    assert_int_equal(eval_gate_decide(g, &f.cmp, &d, &err), RW_OK);
    assert_true(d.promote);
    assert_int_equal(d.n_checks, 3);
    eval_decision_deinit(&d);
    free_fixture(&f);
    eval_gate_destroy(g);
    struct {
        const char *text;
        rw_status code;
        const char *want;
    } bad[] = {
        {"[gate]\nrequire = [\"mrr@10 >= baseline +\"]\n", RW_E_INVALID, "recipe.toml:2:12: gate.require[0]: gate rule"},
        {"[gate]\nrequire = [3]\n", RW_E_FORMAT, "recipe.toml:2:12: gate.require[0] must be a string"},
        {"[gate]\nrequires = []\n", RW_E_FORMAT, "unknown key 'requires'"},
        {"[gate]\nmax_regressed_queries = 2.0\n", RW_E_INVALID, "recipe.toml:2:1: gate.max_regressed_queries"},
        {"[gate]\nregression_metric = \"mrx@10\"\n", RW_E_INVALID, "gate.regression_metric"},
        {"[gate]\nconfidence = 1.5\n", RW_E_INVALID, "confidence level"},
        {"name = 1\n", RW_E_NOTFOUND, "gate"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rw_test_write_file(path, bad[i].text, strlen(bad[i].text)), 0);
        rw_err_clear(&err);
        rw_status st = eval_gate_load(path, &g, &err);
        if (st != bad[i].code || !strstr(err.msg, bad[i].want))
            fail_msg("case %zu: status %d, message '%s' (want '%s')", i, st, err.msg, bad[i].want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_valid_and_metrics),
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_ci_from_comparison),
        cmocka_unit_test(test_operators_at_equality),
        cmocka_unit_test(test_regressed_queries_and_determinism),
        cmocka_unit_test(test_gate_from_recipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
