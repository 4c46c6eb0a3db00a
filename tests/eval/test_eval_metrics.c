/* eval/metrics: hand-worked cases for every metric, the run ordering rule, the counting of
 * excluded / missing queries, and metric-name parsing. Expected values are worked out by
 * hand in the comments (not produced by the code under test). */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "eval/metrics.h"
#include "eval/run.h"
#include "rw_test.h"

static eval_metric M(eval_metric_kind kind, unsigned k) { return (eval_metric){kind, k}; }

/* q1 judgements: d1:2, d3:1, d5:3, d9:0 (R = 3, ideal grades 3,2,1).
 * q1 ranking:    d2 d3 d4 d1 d6  -> grades 0 1 0 2 0. */
static void test_single_query_by_hand(void **state) {
    (void)state;
    const long grades[] = {0, 1, 0, 2, 0};
    const long ideal[] = {3, 2, 1};
    double l3 = log2(3.0), l5 = log2(5.0);
    struct {
        eval_metric m;
        double want;
    } cases[] = {
        {M(EVAL_MRR, 10), 0.5},   {M(EVAL_MRR, 1), 0.0},   {M(EVAL_MRR, 0), 0.5},
        {M(EVAL_P, 5), 0.4},      {M(EVAL_P, 2), 0.5},     {M(EVAL_P, 10), 0.2}, /* 2/10: divides by k */
        {M(EVAL_P, 1), 0.0},      {M(EVAL_RECALL, 5), 2.0 / 3}, {M(EVAL_RECALL, 2), 1.0 / 3},
        {M(EVAL_RECALL, 100), 2.0 / 3}, {M(EVAL_HIT, 1), 0.0},  {M(EVAL_HIT, 2), 1.0},
        /* AP: relevant at ranks 2 (P@2 = 1/2) and 4 (P@4 = 2/4); divided by R = 3 */
        {M(EVAL_MAP, 5), (0.5 + 0.5) / 3}, {M(EVAL_MAP, 3), 0.5 / 3}, {M(EVAL_MAP, 0), 1.0 / 3},
        /* DCG@5 = 1/log2(3) + 2/log2(5); IDCG@5 = 3/log2(2) + 2/log2(3) + 1/log2(4) */
        {M(EVAL_NDCG, 5), (1 / l3 + 2 / l5) / (3 + 2 / l3 + 0.5)},
        /* nDCG@2: DCG = 1/log2(3); IDCG@2 = 3 + 2/log2(3) */
        {M(EVAL_NDCG, 2), (1 / l3) / (3 + 2 / l3)},
        {M(EVAL_NDCG, 1), 0.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = eval_metric_value(cases[i].m, grades, 5, ideal, 3);
        char name[EVAL_METRIC_NAME];
        eval_metric_name(cases[i].m, name, sizeof name);
        if (fabs(got - cases[i].want) > 1e-12) fail_msg("%s: got %.12f want %.12f", name, got, cases[i].want);
    }
    /* Perfect ranking: nDCG = 1 whatever the grades. */
    const long perfect[] = {3, 2, 1, 0};
    assert_true(fabs(eval_metric_value(M(EVAL_NDCG, 10), perfect, 4, ideal, 3) - 1.0) < 1e-15);
    /* Empty ranking scores 0 everywhere. */
    for (int k = 0; k < EVAL_METRIC_KINDS; k++)
        assert_true(eval_metric_value(M((eval_metric_kind)k, 10), grades, 0, ideal, 3) == 0.0);
}

static eval_qrels *make_qrels(void) {
    eval_qrels *q = NULL;
    rw_err err;
    assert_int_equal(eval_qrels_create(&q, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q1", "d1", 2, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q1", "d3", 1, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q1", "d5", 3, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q1", "d9", 0, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q2", "d7", 1, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q3", "d8", 0, &err), RW_OK); /* no relevant: excluded */
    assert_int_equal(eval_qrels_add(q, "q4", "d4", 1, &err), RW_OK); /* absent from the run */
    return q;
}

static void test_evaluate_means_and_counts(void **state) {
    (void)state;
    rw_err err;
    eval_qrels *q = make_qrels();
    eval_run *r = NULL;
    assert_int_equal(eval_run_create(&r, &err), RW_OK);
    const char *r1[] = {"d2", "d3", "d4", "d1", "d6"};
    const char *r2[] = {"d7", "d1"};
    const char *r5[] = {"d1"};
    assert_int_equal(eval_run_set_ranking(r, "q1", r1, 5, &err), RW_OK);
    assert_int_equal(eval_run_set_ranking(r, "q2", r2, 2, &err), RW_OK);
    assert_int_equal(eval_run_set_ranking(r, "q5", r5, 1, &err), RW_OK);
    eval_metric ms[] = {M(EVAL_MRR, 10), M(EVAL_P, 5), M(EVAL_RECALL, 5), M(EVAL_MAP, 0), M(EVAL_HIT, 1)};
    eval_results res;
    assert_int_equal(eval_evaluate(q, r, ms, 5, &res, &err), RW_OK);
    assert_int_equal(res.n_queries, 3); /* q1, q2, q4 */
    assert_string_equal(res.qids[0], "q1");
    assert_string_equal(res.qids[2], "q4");
    assert_int_equal(res.n_qrels_queries, 4);
    assert_int_equal(res.n_excluded_no_relevant, 1);
    assert_int_equal(res.n_missing_from_run, 1);
    assert_int_equal(res.n_run_queries, 3);
    assert_int_equal(res.n_run_unjudged, 1);
    /* q1 0.5, q2 1, q4 0 */
    double want[] = {(0.5 + 1 + 0) / 3, (0.4 + 0.2 + 0) / 3, (2.0 / 3 + 1 + 0) / 3, (1.0 / 3 + 1 + 0) / 3,
                     (0 + 1 + 0) / 3.0};
    rw_assert_allclose_f64(res.mean, want, 5, 1e-15, 0);
    assert_true(res.values[2 * 5 + 0] == 0.0);
    eval_results_deinit(&res);
    eval_run_destroy(r);
    eval_qrels_destroy(q);
}

/* Ordering: ranks decide; equal ranks fall back to score then doc id; without ranks,
 * score (descending) then doc id (ascending). */
static void test_run_ordering(void **state) {
    (void)state;
    rw_err err;
    eval_run *r = NULL;
    assert_int_equal(eval_run_create(&r, &err), RW_OK);
    /* ranks disagree with scores on purpose: trec_eval would put dB first (highest score) */
    assert_int_equal(eval_run_add(r, "q", "dB", 3, 9.0, 1, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "dA", 1, 1.0, 2, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "dD", 2, 5.0, 3, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "dC", 2, 5.0, 4, &err), RW_OK);
    assert_int_equal(eval_run_finalize(r, &err), RW_OK);
    const char *want[] = {"dA", "dC", "dD", "dB"};
    for (size_t i = 0; i < 4; i++) assert_string_equal(eval_run_doc(r, 0, i), want[i]);
    eval_run_destroy(r);

    assert_int_equal(eval_run_create(&r, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "z", -1, 1.0, 1, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "b", -1, 2.0, 2, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "a", -1, 2.0, 3, &err), RW_OK);
    assert_int_equal(eval_run_finalize(r, &err), RW_OK);
    const char *want2[] = {"a", "b", "z"};
    for (size_t i = 0; i < 3; i++) assert_string_equal(eval_run_doc(r, 0, i), want2[i]);
    eval_run_destroy(r);

    /* duplicates and mixed rank presence are errors */
    assert_int_equal(eval_run_create(&r, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "a", 1, 2.0, 7, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "a", 2, 1.0, 9, &err), RW_OK);
    assert_int_equal(eval_run_finalize(r, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "line 9"));
    assert_non_null(strstr(err.msg, "line 7"));
    eval_run_destroy(r);
    assert_int_equal(eval_run_create(&r, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "a", 1, 2.0, 1, &err), RW_OK);
    assert_int_equal(eval_run_add(r, "q", "b", -1, 1.0, 2, &err), RW_OK);
    assert_int_equal(eval_run_finalize(r, &err), RW_E_INVALID);
    eval_run_destroy(r);

    eval_qrels *q = NULL;
    assert_int_equal(eval_qrels_create(&q, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q", "a", 1, &err), RW_OK);
    assert_int_equal(eval_qrels_add(q, "q", "a", 2, &err), RW_OK);
    assert_int_equal(eval_qrels_finalize(q, &err), RW_E_FORMAT);
    eval_qrels_destroy(q);
}

static void test_metric_names(void **state) {
    (void)state;
    rw_err err;
    eval_metric m;
    const char *ok[] = {"mrr@10", "P@5", "precision@5", "recall@100", "r@100", "nDCG@10", "map@10", "map", "hit@3", "ndcg"};
    const char *canon[] = {"mrr@10", "p@5", "p@5", "recall@100", "recall@100", "ndcg@10", "map@10", "map", "hit@3", "ndcg"};
    for (size_t i = 0; i < 10; i++) {
        assert_int_equal(eval_metric_parse(ok[i], strlen(ok[i]), &m, &err), RW_OK);
        char buf[EVAL_METRIC_NAME];
        eval_metric_name(m, buf, sizeof buf);
        assert_string_equal(buf, canon[i]);
    }
    const char *bad[] = {"mrr@0", "mrr@", "mrr@x", "foo@10", "p", "hit", "mrr@-1", "mrr@10x", ""};
    for (size_t i = 0; i < 9; i++) assert_int_equal(eval_metric_parse(bad[i], strlen(bad[i]), &m, &err), RW_E_INVALID);
    unsigned *ks;
    size_t nk;
    assert_int_equal(eval_parse_k_list("5,10,100", &ks, &nk, &err), RW_OK);
    assert_int_equal(nk, 3);
    assert_int_equal(ks[2], 100);
    eval_metric *set;
    size_t ns;
    eval_metric extra = {EVAL_MRR, 5};
    assert_int_equal(eval_metric_set(ks, nk, &extra, 1, &set, &ns, &err), RW_OK);
    assert_int_equal(ns, 3 * 6 + 1); /* mrr@5 already present */
    rw_free(set);
    rw_free(ks);
    assert_int_equal(eval_parse_k_list("5,,10", &ks, &nk, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "column 3"));
    assert_int_equal(eval_parse_k_list("0", &ks, &nk, &err), RW_E_INVALID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_query_by_hand),
        cmocka_unit_test(test_evaluate_means_and_counts),
        cmocka_unit_test(test_run_ordering),
        cmocka_unit_test(test_metric_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
