/* eval/report: renders a report from a synthetic comparison (written through the library
 * API the weekend loop uses: evaluate -> compare -> gate -> eval_comparison_write ->
 * eval_report_write) with a training log, a manifest and hostile query text, checks the
 * files, then loads report.html in headless Chromium: the DOM must hold every section, the
 * three charts and the escaped text, with no load errors. A screenshot is kept at
 * <build>/report.png for humans. Skips (77) when /usr/bin/chromium is absent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rng.h"
#include "eval/compare.h"
#include "eval/gate.h"
#include "eval/json.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "eval/run.h"
#include "rw_test.h"

/* fontconfig (loaded by Cairo's text API) keeps a process-wide cache it never frees. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static const char *CHROMIUM = "/usr/bin/chromium";

/* 30 queries, 20 documents each; doc "q<i>-d<j>" is relevant for j < 3. The baseline
 * ranks the relevant documents at positions 2, 5, 9; the candidate at 1, 2, 3 for most
 * queries and worse for five of them. */
static void make_run_dir(const char *rd) {
    rw_err err;
    eval_qrels *q = NULL;
    eval_run *b = NULL, *c = NULL;
    assert_int_equal(eval_qrels_create(&q, &err), RW_OK);
    assert_int_equal(eval_run_create(&b, &err), RW_OK);
    assert_int_equal(eval_run_create(&c, &err), RW_OK);
    for (int i = 0; i < 30; i++) {
        char qid[16], doc[32];
        snprintf(qid, sizeof qid, "q%d", i);
        for (int j = 0; j < 3; j++) {
            snprintf(doc, sizeof doc, "%s-d%d", qid, j);
            assert_int_equal(eval_qrels_add(q, qid, doc, 3 - j, &err), RW_OK);
        }
        char text[128];
        snprintf(text, sizeof text, i == 0 ? "<script>alert(1)</script> & \"quotes\" | pipes" : "what is query number %d about?", i);
        assert_int_equal(eval_qrels_set_query_text(q, qid, text, &err), RW_OK);
        const int base_pos[3] = {2, 5, 9}, good_pos[3] = {1, 2, 3}, bad_pos[3] = {8, 12, 15};
        for (int r = 0; r < 2; r++) {
            const int *pos = r == 0 ? base_pos : (i % 6 == 5 ? bad_pos : good_pos);
            int next_irrel = 3;
            for (int rank = 1; rank <= 20; rank++) {
                int rel = -1;
                for (int j = 0; j < 3; j++)
                    if (pos[j] == rank) rel = j;
                snprintf(doc, sizeof doc, "%s-d%d", qid, rel >= 0 ? rel : next_irrel++);
                assert_int_equal(eval_run_add(r == 0 ? b : c, qid, doc, rank, 20.0 - rank, 0, &err), RW_OK);
            }
        }
    }
    const unsigned ks[] = {5, 10, 100};
    eval_metric *ms;
    size_t nm;
    assert_int_equal(eval_metric_set(ks, 3, NULL, 0, &ms, &nm, &err), RW_OK);
    eval_results rb, rc;
    assert_int_equal(eval_evaluate(q, b, ms, nm, &rb, &err), RW_OK);
    assert_int_equal(eval_evaluate(q, c, ms, nm, &rc, &err), RW_OK);
    eval_stats_opts o = eval_stats_defaults();
    o.resamples = 1000;
    o.permutations = 1000;
    eval_comparison cmp;
    assert_int_equal(eval_compare(&rb, &rc, &o, &cmp, &err), RW_OK);
    eval_gate *g = NULL;
    assert_int_equal(eval_gate_create(&g, &err), RW_OK);
    assert_int_equal(eval_gate_add_rule(g, "mrr@10 >= baseline + 0.005", &err), RW_OK);
    assert_int_equal(eval_gate_add_rule(g, "ci_low(mrr@10 - baseline) > 0", &err), RW_OK);
    assert_int_equal(eval_gate_set_max_regressed(g, 0.10, &err), RW_OK); /* 5 of 30 regress: reject */
    eval_decision d;
    assert_int_equal(eval_gate_decide(g, &cmp, &d, &err), RW_OK);
    assert_false(d.promote);
    eval_compare_info info = {.baseline_name = "production", .candidate_name = "candidate-lora-7",
                              .qrels_name = "held-out.tsv", .gate_name = "weekend.toml", .evaluate_s = 0.01};
    if (eval_comparison_write(rd, &cmp, &d, q, &info, &err) != RW_OK) fail_msg("%s", err.msg);
    eval_decision_deinit(&d);
    eval_gate_destroy(g);
    eval_comparison_deinit(&cmp);
    eval_results_deinit(&rb);
    eval_results_deinit(&rc);
    free(ms);
    eval_run_destroy(b);
    eval_run_destroy(c);
    eval_qrels_destroy(q);

    char path[4400], line[128];
    snprintf(path, sizeof path, "%s/metrics.jsonl", rd);
    FILE *f = fopen(path, "w");
    for (int s = 0; s <= 300; s += 10) {
        snprintf(line, sizeof line, "{\"step\": %d, \"train_loss\": %.4f, \"val_loss\": %.4f}\n", s,
                 1.8 * exp(-s / 80.0) + 0.25, 1.9 * exp(-s / 90.0) + 0.33);
        fputs(line, f);
    }
    fputs("{\"step\": 310, \"train_lo", f); /* a run killed mid-write: noted, not fatal */
    fclose(f);
    snprintf(path, sizeof path, "%s/manifest.json", rd);
    /* the data layer's manifest (rag-workbench.manifest/1) plus a withdrawn flag */
    const char *man = "{\"format\": \"rag-workbench.manifest/1\", \"sources\": ["
                      "{\"id\": \"docs\", \"classification\": \"public\", \"examples\": 1200},"
                      "{\"id\": \"forum\", \"classification\": \"community\", \"examples\": 300, \"consent_ref\": \"T-7\"},"
                      "{\"id\": \"mail\", \"classification\": \"personal\", \"count\": 40, \"withdrawn\": true}],"
                      "\"examples_accepted\": 1540, \"examples_rejected\": 5,"
                      "\"rejected\": {\"restricted\": 3, \"no_consent\": 2, \"withdrawn\": 0}}";
    assert_int_equal(rw_test_write_file(path, man, strlen(man)), 0);
}

static void test_report_files_and_browser(void **state) {
    (void)state;
    char rd[4200], path[4400];
    snprintf(rd, sizeof rd, "%s/run", rw_test_tmpdir());
    make_run_dir(rd);
    rw_err err;
    if (eval_report_write(rd, &err) != RW_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/report.html", rd);
    char *html = rw_test_read_file(path, NULL);
    assert_non_null(html);
    assert_null(strstr(html, "<script>alert")); /* escaped */
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert_null(strstr(html, "src=\"http")); /* nothing remote */
    assert_null(strstr(html, "href=\"http"));
    assert_non_null(strstr(html, "REJECT"));
    assert_non_null(strstr(html, "metrics.jsonl:32: skipped"));
    free(html);
    snprintf(path, sizeof path, "%s/report.md", rd);
    char *md = rw_test_read_file(path, NULL);
    assert_non_null(md);
    assert_non_null(strstr(md, "## Decision: REJECT"));
    assert_non_null(strstr(md, "\\| pipes")); /* table cells escape pipes */
    assert_non_null(strstr(md, "| community | 1 | 300 | 0 |"));
    assert_non_null(strstr(md, "Accepted 1540 examples; rejected 5 (restricted 3, no_consent 2)."));
    free(md);
    const char *charts[] = {"charts/metrics.svg", "charts/winloss.svg", "charts/loss.svg", "metrics.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", rd, charts[i]);
        char *s = rw_test_read_file(path, NULL);
        if (!s) fail_msg("%s missing", path);
        if (i < 3 && !strstr(s, "<svg")) fail_msg("%s is not SVG", path);
        free(s);
    }

    if (access(CHROMIUM, X_OK) != 0) {
        print_message("SKIP: %s is absent; browser check not run\n", CHROMIUM);
        exit(RW_TEST_SKIP);
    }
    char profile[4400], cmd[16384], shot[4400], *out = NULL;
    snprintf(profile, sizeof profile, "%s/chromium-profile", rw_test_tmpdir());
    const char *bin = getenv("RW_BIN_DIR");
    snprintf(shot, sizeof shot, "%s/../report.png", bin && *bin ? bin : ".");
    const char *flags = "--headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                        "--disable-background-networking --disable-component-update --disable-sync";
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s %s --user-data-dir='%s' --enable-logging=stderr --v=0 --dump-dom "
             "'file://%s/report.html' 2>'%s/chromium.log'",
             CHROMIUM, flags, profile, rd, rw_test_tmpdir());
    int rc = rw_test_run(cmd, &out);
    if (rc != 0 || !out) fail_msg("chromium --dump-dom exited %d", rc);
    const char *want[] = {"id=\"decision\"", "id=\"summary\"", "id=\"charts\"", "id=\"metrics\"", "id=\"queries\"",
                          "id=\"data\"", "id=\"timings\"", "REJECT", "candidate-lora-7", "mrr@10"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) fail_msg("DOM lacks %s", want[i]);
    size_t imgs = 0;
    for (const char *p = out; (p = strstr(p, "class=\"chart\"")); p++) imgs++;
    assert_int_equal(imgs, 3);
    assert_null(strstr(out, "<script>alert"));
    free(out);
    snprintf(path, sizeof path, "%s/chromium.log", rw_test_tmpdir());
    char *log = rw_test_read_file(path, NULL);
    if (log && (strstr(log, "Uncaught") || strstr(log, "Failed to load resource") || strstr(log, "net::ERR_")))
        fail_msg("chromium reported a load error:\n%.2000s", log);
    free(log);
    snprintf(cmd, sizeof cmd,
             "timeout 120 %s %s --user-data-dir='%s' --window-size=1200,2400 --screenshot='%s' "
             "'file://%s/report.html' >/dev/null 2>&1",
             CHROMIUM, flags, profile, shot, rd);
    assert_int_equal(rw_test_run(cmd, NULL), 0);
    size_t len = 0;
    char *png = rw_test_read_file(shot, &len);
    assert_non_null(png);
    assert_true(len > 10000 && memcmp(png, "\x89PNG", 4) == 0);
    free(png);
    print_message("screenshot: %s\n", shot);
}

/* A hand-edited comparison.json: bad schema, HTML in a metric name, missing file. */
static void test_report_bad_inputs(void **state) {
    (void)state;
    char rd[4200], path[4400];
    rw_err err;
    snprintf(rd, sizeof rd, "%s/bad", rw_test_tmpdir());
    snprintf(path, sizeof path, "mkdir -p '%s'", rd);
    assert_int_equal(system(path), 0);
    assert_int_equal(eval_report_write(rd, &err), RW_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "comparison.json: not found"));
    snprintf(path, sizeof path, "%s/comparison.json", rd);
    struct {
        const char *text, *want;
    } bad[] = {
        {"{\"schema\": \"other\"}", "field 'schema'"},
        {"{\"schema\": \"rag-eval/comparison/1\", \"metrics\": [], \"queries\": []}", "field 'metrics'"},
        {"{\"schema\": \"rag-eval/comparison/1\", \"metrics\": [{\"name\": \"<b>x</b>\"}], \"queries\": []}",
         "field 'metrics[0].name'"},
        {"{\"schema\": \"rag-eval/comparison/1\", \"metrics\": [{\"name\": \"mrr@10\"}]}", "field 'queries'"},
        {"{\"schema\": ", "comparison.json:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rw_test_write_file(path, bad[i].text, strlen(bad[i].text)), 0);
        rw_err_clear(&err);
        assert_int_equal(eval_report_write(rd, &err), RW_E_FORMAT);
        if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    }
    /* minimal but valid: renders with n/a values and no decision */
    const char *min = "{\"schema\": \"rag-eval/comparison/1\", \"metrics\": [{\"name\": \"p@5\", \"baseline\": 0.2,"
                      " \"candidate\": 0.3}], \"queries\": [{\"id\": \"q1\", \"baseline\": {\"p@5\": 0.2},"
                      " \"candidate\": {\"p@5\": 0.4}}], \"decision\": null}";
    assert_int_equal(rw_test_write_file(path, min, strlen(min)), 0);
    if (eval_report_write(rd, &err) != RW_OK) fail_msg("%s", err.msg);
    snprintf(path, sizeof path, "%s/report.html", rd);
    char *html = rw_test_read_file(path, NULL);
    assert_non_null(html);
    assert_non_null(strstr(html, "NO GATE"));
    free(html);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_bad_inputs),
        cmocka_unit_test(test_report_files_and_browser),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
