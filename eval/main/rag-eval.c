/* rag-eval: retrieval metrics, paired comparison with a promotion gate, and run reports.
 *
 *   rag-eval metrics --qrels Q --run R [--k 5,10,100] [--metrics m1,m2] [--json]
 *   rag-eval compare --qrels Q --baseline R0 --candidate R1 [--gate recipe.toml]
 *                    [--k ...] [--out RUN_DIR] [--report] [--seed N] [--resamples N]
 *                    [--permutations N] [--confidence 0.95] [--json]
 *   rag-eval report RUN_DIR
 * Q is a qrels file (BEIR TSV or TREC) or a BEIR folder. Exit codes: 0 success / promote,
 * 3 reject (compare with a gate), 1 error, 2 usage. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/alloc.h"
#include "core/timer.h"
#include "data/json_alloc.h"
#include "eval/compare.h"
#include "eval/gate.h"
#include "eval/json.h"
#include "eval/metrics.h"
#include "eval/report.h"
#include "eval/run.h"

enum { EXIT_REJECT = 3, EXIT_USAGE = 2 };

/* LeakSanitizer hook (used only in Sanitize builds): fontconfig, which Cairo's toy text API
 * loads, keeps a process-wide cache it never frees; that is not a leak of ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libfontconfig.so\n"; }

static void usage(FILE *f) {
    fprintf(f,
            "usage:\n"
            "  rag-eval metrics --qrels Q --run R [--k 5,10,100] [--metrics m1,m2] [--json]\n"
            "  rag-eval compare --qrels Q --baseline R0 --candidate R1 [--gate recipe.toml]\n"
            "                   [--k 5,10,100] [--out RUN_DIR] [--report] [--seed N]\n"
            "                   [--resamples N] [--permutations N] [--confidence C] [--json]\n"
            "  rag-eval report RUN_DIR\n"
            "Q: qrels TSV (BEIR, with header) / TREC qrels (4 columns) / BEIR folder.\n"
            "R: TREC run file (qid Q0 docid rank score tag).\n"
            "Metrics: mrr@k p@k recall@k ndcg@k map@k hit@k map. Exit: 0 ok/promote, 3 reject, 1 error.\n");
}

typedef struct args {
    const char *qrels, *run, *baseline, *candidate, *gate, *out, *k, *metrics;
    bool json, report;
    const char *seed, *resamples, *permutations, *confidence;
    const char *positional;
} args;

static int parse_args(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        const char **slot = NULL;
        if (!strcmp(s, "--json")) {
            a->json = true;
            continue;
        }
        if (!strcmp(s, "--report")) {
            a->report = true;
            continue;
        }
        if (!strcmp(s, "--qrels")) slot = &a->qrels;
        else if (!strcmp(s, "--run")) slot = &a->run;
        else if (!strcmp(s, "--baseline")) slot = &a->baseline;
        else if (!strcmp(s, "--candidate")) slot = &a->candidate;
        else if (!strcmp(s, "--gate")) slot = &a->gate;
        else if (!strcmp(s, "--out")) slot = &a->out;
        else if (!strcmp(s, "--k")) slot = &a->k;
        else if (!strcmp(s, "--metrics")) slot = &a->metrics;
        else if (!strcmp(s, "--seed")) slot = &a->seed;
        else if (!strcmp(s, "--resamples")) slot = &a->resamples;
        else if (!strcmp(s, "--permutations")) slot = &a->permutations;
        else if (!strcmp(s, "--confidence")) slot = &a->confidence;
        else if (s[0] == '-' && s[1] == '-') {
            fprintf(stderr, "rag-eval: unknown option '%s'\n", s);
            return -1;
        } else if (!a->positional) {
            a->positional = s;
            continue;
        } else {
            fprintf(stderr, "rag-eval: unexpected argument '%s'\n", s);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "rag-eval: option '%s' needs a value\n", s);
            return -1;
        }
        *slot = argv[++i];
    }
    return 0;
}

static int parse_u64(const char *opt, const char *s, unsigned long long *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') {
        fprintf(stderr, "rag-eval: %s '%s': expected a non-negative integer\n", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* The metric list: --k cut-offs (default 5,10,100) + --metrics + the gate's metrics. */
static rw_status build_metrics(const args *a, const eval_gate *g, eval_metric **ms, size_t *nm, rw_err *err) {
    unsigned *ks = NULL;
    size_t nk = 0, n_extra = 0;
    eval_metric extra[64];
    rw_status st = eval_parse_k_list(a->k ? a->k : "5,10,100", &ks, &nk, err);
    if (st != RW_OK) return st;
    if (a->metrics) {
        const char *p = a->metrics;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (n_extra == 64) break;
            if ((st = eval_metric_parse(p, len, &extra[n_extra++], err)) != RW_OK) goto done;
            p += len + (comma ? 1 : 0);
        }
    }
    if (g) {
        size_t ng = eval_gate_metrics(g, extra + n_extra, 64 - n_extra);
        n_extra += ng < 64 - n_extra ? ng : 64 - n_extra;
    }
    st = eval_metric_set(ks, nk, extra, n_extra, ms, nm, err);
done:
    rw_free(ks);
    return st;
}

static int fail(const rw_err *err) {
    fprintf(stderr, "rag-eval: error: %s\n", err->msg);
    return EXIT_FAILURE;
}

/* Writes j (consumed) to stdout as indented JSON and a newline; false, with a message, when
 * j is NULL or writing fails. */
static bool print_json(json_t *j) {
    bool ok = j && json_dumpf(j, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(10)) == 0;
    if (ok)
        putchar('\n');
    else
        fprintf(stderr, "rag-eval: error: writing JSON failed\n");
    json_decref(j);
    return ok;
}

static int cmd_metrics(const args *a) {
    if (!a->qrels || !a->run) {
        fprintf(stderr, "rag-eval metrics: --qrels and --run are required\n");
        return EXIT_USAGE;
    }
    rw_err err;
    eval_qrels *q = NULL;
    eval_run *r = NULL;
    eval_metric *ms = NULL;
    size_t nm = 0;
    eval_results res = {0};
    int rc = EXIT_FAILURE;
    if (eval_qrels_load(a->qrels, &q, &err) != RW_OK || eval_run_load(a->run, &r, &err) != RW_OK ||
        build_metrics(a, NULL, &ms, &nm, &err) != RW_OK || eval_evaluate(q, r, ms, nm, &res, &err) != RW_OK) {
        rc = fail(&err);
        goto done;
    }
    if (res.n_queries == 0) {
        /* same refusal as compare: an empty or all-zero qrels file is a mistake, not 0.0 */
        rw_err_set(&err, RW_E_INVALID,
                   "%s: no query has a relevant document (%zu queries read): nothing to evaluate",
                   a->qrels, res.n_qrels_queries);
        rc = fail(&err);
        goto done;
    }
    if (a->json) {
        if (!print_json(eval_results_to_json(&res, true))) goto done;
    } else {
        printf("%-12s %s\n", "metric", "mean");
        for (size_t m = 0; m < nm; m++) {
            char name[EVAL_METRIC_NAME];
            eval_metric_name(ms[m], name, sizeof name);
            printf("%-12s %.4f\n", name, res.mean[m]);
        }
        printf("queries: %zu evaluated (%zu in qrels; %zu without a relevant document excluded; %zu "
               "missing from the run, scored 0); run: %zu queries (%zu not in qrels), %zu rows\n",
               res.n_queries, res.n_qrels_queries, res.n_excluded_no_relevant, res.n_missing_from_run,
               res.n_run_queries, res.n_run_unjudged, res.n_run_rows);
    }
    rc = EXIT_SUCCESS;
done:
    eval_results_deinit(&res);
    rw_free(ms);
    eval_run_destroy(r);
    eval_qrels_destroy(q);
    return rc;
}

static void print_comparison(const eval_comparison *c) {
    printf("%-11s %-26s %-26s %-28s %-8s %-7s %s\n", "metric", "baseline [CI]", "candidate [CI]",
           "diff [CI]", "p", "d", "win/loss/tie");
    for (size_t m = 0; m < c->n_metrics; m++) {
        const eval_metric_cmp *x = &c->m[m];
        char name[EVAL_METRIC_NAME], b[64], k[64], d[64];
        eval_metric_name(x->metric, name, sizeof name);
        snprintf(b, sizeof b, "%.4f [%.4f, %.4f]", x->base, x->base_lo, x->base_hi);
        snprintf(k, sizeof k, "%.4f [%.4f, %.4f]", x->cand, x->cand_lo, x->cand_hi);
        snprintf(d, sizeof d, "%+.4f [%+.4f, %+.4f]", x->diff, x->diff_lo, x->diff_hi);
        printf("%-11s %-26s %-26s %-28s %-8.4f %-7.3f %zu/%zu/%zu\n", name, b, k, d, x->p_value, x->cohen_d, x->wins,
               x->losses, x->ties);
    }
    printf("(%.0f%% percentile bootstrap CIs, %zu resamples, seed %llu; p: paired sign-flip test; d: Cohen's d_z)\n",
           100 * c->opts.level, c->opts.resamples, (unsigned long long)c->opts.seed);
}

static int cmd_compare(const args *a) {
    if (!a->qrels || !a->baseline || !a->candidate) {
        fprintf(stderr, "rag-eval compare: --qrels, --baseline and --candidate are required\n");
        return EXIT_USAGE;
    }
    rw_err err;
    eval_qrels *q = NULL;
    eval_run *r0 = NULL, *r1 = NULL;
    eval_gate *g = NULL;
    eval_metric *ms = NULL;
    size_t nm = 0;
    eval_results base = {0}, cand = {0};
    eval_comparison cmp = {0};
    eval_decision dec = {0};
    bool have_cmp = false, have_dec = false;
    int rc = EXIT_FAILURE;
    eval_compare_info info = {.baseline_name = a->baseline, .candidate_name = a->candidate,
                              .qrels_name = a->qrels, .gate_name = a->gate};
    double t0 = rw_now_s();
    if (a->gate && eval_gate_load(a->gate, &g, &err) != RW_OK) {
        rc = fail(&err);
        goto done;
    }
    eval_stats_opts o = g ? *eval_gate_stats(g) : eval_stats_defaults();
    unsigned long long v;
    if (a->seed) {
        if (parse_u64("--seed", a->seed, &v)) goto usage;
        o.seed = v;
    }
    if (a->resamples) {
        if (parse_u64("--resamples", a->resamples, &v)) goto usage;
        o.resamples = (size_t)v;
    }
    if (a->permutations) {
        if (parse_u64("--permutations", a->permutations, &v)) goto usage;
        o.permutations = (size_t)v;
    }
    if (a->confidence) {
        char *end = NULL;
        o.level = strtod(a->confidence, &end);
        if (*end || end == a->confidence) {
            fprintf(stderr, "rag-eval: --confidence '%s': expected a number in (0, 1)\n", a->confidence);
            goto usage;
        }
    }
    if (eval_stats_check(&o, &err) != RW_OK || eval_qrels_load(a->qrels, &q, &err) != RW_OK ||
        eval_run_load(a->baseline, &r0, &err) != RW_OK || eval_run_load(a->candidate, &r1, &err) != RW_OK ||
        build_metrics(a, g, &ms, &nm, &err) != RW_OK) {
        rc = fail(&err);
        goto done;
    }
    double t1 = rw_now_s();
    info.load_s = t1 - t0;
    if (eval_evaluate(q, r0, ms, nm, &base, &err) != RW_OK || eval_evaluate(q, r1, ms, nm, &cand, &err) != RW_OK) {
        rc = fail(&err);
        goto done;
    }
    double t2 = rw_now_s();
    info.evaluate_s = t2 - t1;
    if (eval_compare(&base, &cand, &o, &cmp, &err) != RW_OK) {
        rc = fail(&err);
        goto done;
    }
    have_cmp = true;
    double t3 = rw_now_s();
    info.stats_s = t3 - t2;
    if (g) {
        if (eval_gate_decide(g, &cmp, &dec, &err) != RW_OK) {
            rc = fail(&err);
            goto done;
        }
        have_dec = true;
    }
    info.gate_s = rw_now_s() - t3;
    if (a->out) {
        if (eval_comparison_write(a->out, &cmp, have_dec ? &dec : NULL, q, &info, &err) != RW_OK ||
            (a->report && eval_report_write(a->out, &err) != RW_OK)) {
            rc = fail(&err);
            goto done;
        }
    }
    if (a->json) {
        if (!print_json(eval_comparison_to_json(&cmp, have_dec ? &dec : NULL, q, &info))) goto done;
    } else {
        print_comparison(&cmp);
        if (have_dec) {
            char *text = eval_decision_text(&dec);
            if (text) printf("decision: %s", text);
            rw_free(text);
        } else {
            printf("decision: none (no --gate)\n");
        }
        if (a->out) printf("wrote %s/comparison.json%s\n", a->out, a->report ? " and the report" : "");
    }
    rc = have_dec && !dec.promote ? EXIT_REJECT : EXIT_SUCCESS;
    goto done;
usage:
    rc = EXIT_USAGE;
done:
    if (have_dec) eval_decision_deinit(&dec);
    if (have_cmp) eval_comparison_deinit(&cmp);
    eval_results_deinit(&base);
    eval_results_deinit(&cand);
    rw_free(ms);
    eval_gate_destroy(g);
    eval_run_destroy(r0);
    eval_run_destroy(r1);
    eval_qrels_destroy(q);
    return rc;
}

static int cmd_report(const args *a) {
    if (!a->positional) {
        fprintf(stderr, "rag-eval report: RUN_DIR is required\n");
        return EXIT_USAGE;
    }
    rw_err err;
    if (eval_report_write(a->positional, &err) != RW_OK) return fail(&err);
    printf("wrote %s/report.html, report.md, metrics.json\n", a->positional);
    return EXIT_SUCCESS;
}

int main(int argc, char **argv) {
    data_json_alloc_init(); /* Jansson through rw_malloc (data/json_alloc.h) */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_SUCCESS;
    }
    args a;
    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "report") && a.positional) {
        fprintf(stderr, "rag-eval %s: unexpected argument '%s'\n", cmd, a.positional);
        return EXIT_USAGE;
    }
    if (!strcmp(cmd, "metrics")) return cmd_metrics(&a);
    if (!strcmp(cmd, "compare")) return cmd_compare(&a);
    if (!strcmp(cmd, "report")) return cmd_report(&a);
    fprintf(stderr, "rag-eval: unknown command '%s'\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
