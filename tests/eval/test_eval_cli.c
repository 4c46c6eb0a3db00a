/* rag-eval end to end on cranfield (shared/data/ir): BM25 (k1=0.9, b=0.4) against a weaker
 * TF-IDF ranker (raw tf * idf, no saturation or length normalisation), both produced by the
 * test's own ranker. Checks the metrics JSON shape, the gate decision in both directions
 * (exit 0 promote / 3 reject), identical runs, the RUN_DIR files and CLI error messages. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bm25.h"
#include "rw_test.h"

static char g_dir[4200], g_bm25[4400], g_tfidf[4400], g_gate[4400], g_bin[4400];

static int run_cli(const char *args, char **out) {
    static char cmd[40000];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", g_bin, args);
    return rw_test_run(cmd, out); /* the exit status */
}

static int setup(void **state) {
    (void)state;
    if (!rw_test_shared_path("data/ir/cranfield", g_dir, sizeof g_dir)) return -1;
    const char *tmp = rw_test_tmpdir();
    snprintf(g_bm25, sizeof g_bm25, "%s/bm25.run", tmp);
    snprintf(g_tfidf, sizeof g_tfidf, "%s/tfidf.run", tmp);
    snprintf(g_gate, sizeof g_gate, "%s/weekend.toml", tmp);
    rw_test_bin("rag-eval", g_bin, sizeof g_bin);
    if (bm25_write_run(g_dir, g_bm25, BM25_OKAPI, 0.9, 0.4, 1000, "bm25") != 0) return -1;
    if (bm25_write_run(g_dir, g_tfidf, BM25_TFIDF_RAW, 0, 0, 1000, "tfidf") != 0) return -1;
    /* The example rules; per-query MRR is coarse, so up to 25% of the queries may
     * regress (BM25 vs TF-IDF: about 22% do, 38% improve). */
    const char *recipe = "[gate]\n"
                         "require = [\"mrr@10 >= baseline + 0.005\", \"p@5 >= baseline - 0.002\",\n"
                         "           \"ci_low(mrr@10 - baseline) > 0\"]\n"
                         "max_regressed_queries = 0.25\n"
                         "resamples = 2000\n";
    return rw_test_write_file(g_gate, recipe, strlen(recipe));
}

static void test_metrics_json(void **state) {
    (void)state;
    char args[32768], *out = NULL;
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s' --json", g_dir, g_bm25);
    assert_int_equal(run_cli(args, &out), 0);
    json_error_t je;
    /* stderr may carry sanitizer notes after the JSON: parse the first document only */
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, &je);
    if (!j) fail_msg("not JSON (%s): %.300s", je.text, out);
    json_t *mean = json_object_get(j, "mean");
    const char *keys[] = {"mrr@10", "p@5", "recall@100", "ndcg@10", "map", "map@10", "hit@5", "p@100"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!json_is_number(json_object_get(mean, keys[i]))) fail_msg("mean lacks %s", keys[i]);
    assert_true(fabs(json_number_value(json_object_get(mean, "mrr@10")) - 0.5141) < 0.01); /* README */
    assert_int_equal(json_object_size(json_object_get(j, "per_query")), 225);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "counts"), "queries_evaluated")), 225);
    json_decref(j);
    free(out);
    /* --k selects the cut-offs */
    snprintf(args, sizeof args, "metrics --qrels '%s/qrels/test.tsv' --run '%s' --k 3", g_dir, g_bm25);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "mrr@3"));
    assert_null(strstr(out, "mrr@10"));
    free(out);
}

static void test_compare_promote_and_report(void **state) {
    (void)state;
    char args[32768], rd[4400], path[4600], *out = NULL;
    snprintf(rd, sizeof rd, "%s/run1", rw_test_tmpdir());
    snprintf(args, sizeof args, "compare --qrels '%s' --baseline '%s' --candidate '%s' --gate '%s' --out '%s' --report",
             g_dir, g_tfidf, g_bm25, g_gate, rd);
    int rc = run_cli(args, &out);
    if (rc != 0) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "decision: PROMOTE"));
    free(out);
    const char *files[] = {"comparison.json", "report.html", "report.md", "metrics.json", "charts/metrics.svg",
                           "charts/winloss.svg"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", rd, files[i]);
        size_t len = 0;
        char *s = rw_test_read_file(path, &len);
        if (!s || len < 100) fail_msg("%s missing or short", path);
        free(s);
    }
    snprintf(path, sizeof path, "%s/comparison.json", rd);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    assert_non_null(j);
    json_t *dec = json_object_get(j, "decision");
    assert_string_equal(json_string_value(json_object_get(dec, "verdict")), "promote");
    assert_int_equal(json_array_size(json_object_get(dec, "checks")), 4);
    assert_int_equal(json_array_size(json_object_get(j, "queries")), 225);
    /* query texts come from the BEIR folder */
    const char *t = json_string_value(json_object_get(json_array_get(json_object_get(j, "queries"), 0), "text"));
    assert_non_null(t);
    assert_non_null(strstr(t, "similarity laws"));
    json_decref(j);
    /* report re-renders from the folder alone */
    snprintf(args, sizeof args, "report '%s'", rd);
    assert_int_equal(run_cli(args, &out), 0);
    free(out);
}

static void test_compare_reject(void **state) {
    (void)state;
    char args[32768], *out = NULL;
    snprintf(args, sizeof args, "compare --qrels '%s' --baseline '%s' --candidate '%s' --gate '%s'", g_dir, g_bm25,
             g_tfidf, g_gate);
    int rc = run_cli(args, &out);
    if (rc != 3) fail_msg("exit %d: %s", rc, out);
    assert_non_null(strstr(out, "decision: REJECT"));
    assert_non_null(strstr(out, "FAIL  mrr@10 >= baseline + 0.005"));
    free(out);
    /* identical runs: p = 1, CI of the difference is [0, 0] -> ci_low > 0 fails */
    snprintf(args, sizeof args, "compare --qrels '%s' --baseline '%s' --candidate '%s' --gate '%s' --json", g_dir,
             g_bm25, g_bm25, g_gate);
    rc = run_cli(args, &out);
    assert_int_equal(rc, 3);
    json_error_t je;
    json_t *j = json_loads(out, JSON_DISABLE_EOF_CHECK, &je);
    if (!j) fail_msg("not JSON: %.300s", out);
    json_t *m0 = json_array_get(json_object_get(j, "metrics"), 0);
    assert_true(json_real_value(json_object_get(m0, "p_value")) == 1.0);
    assert_true(json_real_value(json_array_get(json_object_get(m0, "diff_ci"), 0)) == 0.0);
    json_decref(j);
    free(out);
    /* no gate: exit 0 */
    snprintf(args, sizeof args, "compare --qrels '%s' --baseline '%s' --candidate '%s' --k 10 --resamples 200",
             g_dir, g_bm25, g_tfidf);
    assert_int_equal(run_cli(args, &out), 0);
    assert_non_null(strstr(out, "decision: none"));
    free(out);
}

static void test_cli_errors(void **state) {
    (void)state;
    char args[32768], bad[4400], *out = NULL;
    snprintf(bad, sizeof bad, "%s/bad.run", rw_test_tmpdir());
    const char *text = "1 Q0 12 1 3.5 t\n1 Q0 13 two 3.0 t\n";
    assert_int_equal(rw_test_write_file(bad, text, strlen(text)), 0);
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s'", g_dir, bad);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "bad.run:2: field 4 (rank): 'two'"));
    free(out);
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s/none.run'", g_dir, rw_test_tmpdir());
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "none.run: cannot open"));
    free(out);
    char recipe[4400];
    snprintf(recipe, sizeof recipe, "%s/badgate.toml", rw_test_tmpdir());
    const char *r = "[gate]\nrequire = [\"mrr@10 >= baseline +\"]\n";
    assert_int_equal(rw_test_write_file(recipe, r, strlen(r)), 0);
    snprintf(args, sizeof args, "compare --qrels '%s' --baseline '%s' --candidate '%s' --gate '%s'", g_dir, g_bm25,
             g_bm25, recipe);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "badgate.toml:2:12: gate.require[0]"));
    assert_non_null(strstr(out, "column 21"));
    free(out);
    assert_int_equal(run_cli("metrics --frobnicate", &out), 2);
    free(out);
    assert_int_equal(run_cli("compare --qrels x", &out), 2);
    free(out);
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s' --k 0", g_dir, g_bm25);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "cut-off list"));
    free(out);
    /* an empty qrels file is refused, not scored 0.0 with exit 0 */
    char empty[4400];
    snprintf(empty, sizeof empty, "%s/empty.tsv", rw_test_tmpdir());
    assert_int_equal(rw_test_write_file(empty, "", 0), 0);
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s'", empty, g_bm25);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "empty.tsv: no query has a relevant document"));
    free(out);
    /* a folder that is not a BEIR folder, given as the qrels */
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s'", rw_test_tmpdir(), g_bm25);
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "a folder without qrels/test.tsv"));
    free(out);
    /* a folder given as the run file: the system's reason, not just "read error" */
    snprintf(args, sizeof args, "metrics --qrels '%s' --run '%s'", g_dir, rw_test_tmpdir());
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "Is a directory"));
    free(out);
    snprintf(args, sizeof args, "report '%s'", rw_test_tmpdir());
    assert_int_equal(run_cli(args, &out), 1);
    assert_non_null(strstr(out, "comparison.json: not found"));
    free(out);
}

int main(void) {
    char buf[4200];
    if (!rw_test_shared_path("data/ir/cranfield", buf, sizeof buf)) return RW_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_json),
        cmocka_unit_test(test_compare_promote_and_report),
        cmocka_unit_test(test_compare_reject),
        cmocka_unit_test(test_cli_errors),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
