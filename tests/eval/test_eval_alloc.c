/* eval/: every allocation failure on the in-memory paths (qrels, runs, evaluate, compare,
 * gate parse and decide) returns RW_E_NOMEM with a message and leaks nothing (ASan's leak
 * check runs at exit); after the injector is reset the same calls succeed. */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "eval/compare.h"
#include "eval/gate.h"
#include "eval/metrics.h"
#include "eval/run.h"
#include "rw_test.h"

/* One full pipeline; returns the first failing status (RW_OK when all succeed). */
static rw_status pipeline(rw_err *err) {
    eval_qrels *q = NULL;
    eval_run *a = NULL, *b = NULL;
    eval_gate *g = NULL;
    eval_metric *ms = NULL;
    size_t nm = 0;
    eval_results ra = {0}, rb = {0};
    eval_comparison cmp = {0};
    eval_decision d = {0};
    int have_cmp = 0, have_d = 0;
    rw_status st;
    if ((st = eval_qrels_create(&q, err)) != RW_OK) goto done;
    if ((st = eval_run_create(&a, err)) != RW_OK) goto done;
    if ((st = eval_run_create(&b, err)) != RW_OK) goto done;
    for (int i = 0; i < 12; i++) {
        char qid[8], d1[16], d2[16];
        snprintf(qid, sizeof qid, "q%d", i);
        snprintf(d1, sizeof d1, "d%d", i);
        snprintf(d2, sizeof d2, "e%d", i);
        if ((st = eval_qrels_add(q, qid, d1, 1 + i % 2, err)) != RW_OK) goto done;
        if ((st = eval_qrels_set_query_text(q, qid, "text", err)) != RW_OK) goto done;
        const char *ra_docs[] = {d2, d1}, *rb_docs[] = {d1, d2};
        if ((st = eval_run_set_ranking(a, qid, ra_docs, 2, err)) != RW_OK) goto done;
        if ((st = eval_run_set_ranking(b, qid, i % 3 ? rb_docs : ra_docs, 2, err)) != RW_OK) goto done;
    }
    const unsigned ks[] = {1, 5};
    if ((st = eval_gate_create(&g, err)) != RW_OK) goto done;
    if ((st = eval_gate_add_rule(g, "ci_low(mrr@10 - baseline) > -1", err)) != RW_OK) goto done;
    if ((st = eval_gate_add_rule(g, "p@5 >= baseline(p@5) - 0.5", err)) != RW_OK) goto done;
    if ((st = eval_gate_set_max_regressed(g, 0.5, err)) != RW_OK) goto done;
    eval_metric extra[4];
    size_t ne = eval_gate_metrics(g, extra, 4);
    if ((st = eval_metric_set(ks, 2, extra, ne, &ms, &nm, err)) != RW_OK) goto done;
    if ((st = eval_evaluate(q, a, ms, nm, &ra, err)) != RW_OK) goto done;
    if ((st = eval_evaluate(q, b, ms, nm, &rb, err)) != RW_OK) goto done;
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 50;
    o.permutations = 50;
    if ((st = eval_compare(&ra, &rb, &o, &cmp, err)) != RW_OK) goto done;
    have_cmp = 1;
    if ((st = eval_gate_decide(g, &cmp, &d, err)) != RW_OK) goto done;
    have_d = 1;
    char *text = eval_decision_text(&d);
    if (!text) st = RW_E_NOMEM;
    rw_free(text);
done:
    if (have_d) eval_decision_deinit(&d);
    if (have_cmp) eval_comparison_deinit(&cmp);
    eval_results_deinit(&ra);
    eval_results_deinit(&rb);
    rw_free(ms);
    eval_gate_destroy(g);
    eval_run_destroy(a);
    eval_run_destroy(b);
    eval_qrels_destroy(q);
    return st;
}

static void test_every_allocation_failure(void **state) {
    (void)state;
    rw_err err;
    rw_alloc_fail_after(-1);
    assert_int_equal(pipeline(&err), RW_OK);
    long total = rw_alloc_fail_after(-1);
    assert_true(total > 50);
    for (long n = 0; n < total; n++) {
        rw_alloc_fail_after(n);
        rw_err_clear(&err);
        rw_status st = pipeline(&err);
        rw_alloc_fail_after(-1);
        if (st != RW_E_NOMEM) fail_msg("failure after %ld allocations: status %d (%s)", n, st, err.msg);
    }
    assert_int_equal(pipeline(&err), RW_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_allocation_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
