/* Cross-check of eval/metrics against an independent, deliberately simple checker on BM25
 * runs of shared/data/ir (cranfield, cisi), and BM25 figures beside the README's.
 *
 * The checker below shares no code with eval/: it parses the qrels TSV and the run file with
 * sscanf, keeps flat arrays, finds grades by linear scans (O(n^2)), builds the ideal order
 * by selection sort and recomputes each metric from its textbook formula. Agreement is
 * required to 1e-9 per query and on the means. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bm25.h"
#include "eval/metrics.h"
#include "eval/run.h"
#include "rw_test.h"

typedef struct line3 {
    char q[32], d[32];
    long v;
} line3;

static line3 *read_qrels(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 1024;
    line3 *v = malloc(cap * sizeof *v);
    char buf[256];
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        line3 l;
        if (sscanf(buf, "%31s %31s %ld", l.q, l.d, &l.v) != 3) continue; /* header */
        if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = l;
    }
    fclose(f);
    return v;
}

/* Run rows in file order; the BM25 writer emits them in rank order (checked). */
static line3 *read_run(const char *path, size_t *n) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    size_t cap = 4096;
    line3 *v = malloc(cap * sizeof *v);
    char buf[256], q0[8], tag[32];
    double score;
    *n = 0;
    while (fgets(buf, sizeof buf, f)) {
        line3 l;
        if (sscanf(buf, "%31s %7s %31s %ld %lf %31s", l.q, q0, l.d, &l.v, &score, tag) != 6) abort();
        if (*n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = l;
    }
    fclose(f);
    return v;
}

/* metric ids for the checker: 0 mrr, 1 p, 2 recall, 3 ndcg, 4 ap, 5 hit; k = 0: whole list */
static double check_metric(int kind, size_t k, const line3 *qr, size_t nqr, const line3 *run,
                           size_t nrun, const char *qid) {
    /* the query's judgements */
    long judged_grade[4096];
    char judged_doc[4096][32];
    size_t nj = 0, R = 0;
    for (size_t i = 0; i < nqr; i++)
        if (!strcmp(qr[i].q, qid)) {
            judged_grade[nj] = qr[i].v;
            strcpy(judged_doc[nj], qr[i].d);
            nj++;
            if (qr[i].v > 0) R++;
        }
    /* the query's ranking, grade per position */
    static long g[100000];
    size_t n = 0;
    for (size_t i = 0; i < nrun; i++) {
        if (strcmp(run[i].q, qid)) continue;
        if (run[i].v != (long)n + 1) abort(); /* ranks must be 1..n in file order */
        long grade = 0;
        for (size_t j = 0; j < nj; j++)
            if (!strcmp(judged_doc[j], run[i].d)) grade = judged_grade[j];
        g[n++] = grade;
    }
    size_t cut = (k == 0 || k > n) ? n : k;
    double out = 0;
    if (kind == 0) {
        for (size_t i = cut; i-- > 0;)
            if (g[i] > 0) out = 1.0 / (double)(i + 1); /* last assignment = first hit */
    } else if (kind == 1) {
        for (size_t i = 0; i < cut; i++) out += g[i] > 0 ? 1.0 : 0.0;
        out /= (double)(k ? k : n);
    } else if (kind == 2) {
        for (size_t i = 0; i < cut; i++) out += g[i] > 0 ? 1.0 : 0.0;
        out /= (double)R;
    } else if (kind == 3) {
        double dcg = 0, idcg = 0;
        for (size_t i = 0; i < cut; i++)
            if (g[i] > 0) dcg += (double)g[i] * log(2.0) / log((double)i + 2.0);
        /* ideal: repeatedly take the largest remaining positive grade */
        long pool[4096];
        size_t np = 0;
        for (size_t j = 0; j < nj; j++)
            if (judged_grade[j] > 0) pool[np++] = judged_grade[j];
        size_t icut = k == 0 || k > np ? np : k;
        for (size_t i = 0; i < icut; i++) {
            size_t best = i;
            for (size_t j = i + 1; j < np; j++)
                if (pool[j] > pool[best]) best = j;
            long t = pool[i];
            pool[i] = pool[best];
            pool[best] = t;
            idcg += (double)pool[i] * log(2.0) / log((double)i + 2.0);
        }
        out = dcg / idcg;
    } else if (kind == 4) {
        for (size_t i = 0; i < cut; i++) {
            if (g[i] <= 0) continue;
            size_t hits = 0;
            for (size_t j = 0; j <= i; j++) hits += g[j] > 0;
            out += (double)hits / (double)(i + 1);
        }
        out /= (double)R;
    } else {
        for (size_t i = 0; i < cut; i++)
            if (g[i] > 0) out = 1.0;
    }
    return out;
}

static void crosscheck(const char *coll, const double readme[5]) {
    char dir[4200], run_path[4400], qrels_path[4400];
    if (!rw_test_shared_path("data/ir", dir, sizeof dir)) skip();
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", coll);
    snprintf(run_path, sizeof run_path, "%s/%s.bm25.run", rw_test_tmpdir(), coll);
    snprintf(qrels_path, sizeof qrels_path, "%s/qrels/test.tsv", dir);
    assert_int_equal(bm25_write_run(dir, run_path, BM25_OKAPI, 0.9, 0.4, 1000, "bm25"), 0);

    eval_qrels *q = NULL;
    eval_run *r = NULL;
    rw_err err;
    if (eval_qrels_load(dir, &q, &err) != RW_OK) fail_msg("%s", err.msg);
    if (eval_run_load(run_path, &r, &err) != RW_OK) fail_msg("%s", err.msg);
    const unsigned ks[] = {1, 3, 5, 10, 100};
    eval_metric *ms;
    size_t nm;
    assert_int_equal(eval_metric_set(ks, 5, NULL, 0, &ms, &nm, &err), RW_OK);
    eval_results res;
    if (eval_evaluate(q, r, ms, nm, &res, &err) != RW_OK) fail_msg("%s", err.msg);

    size_t nqr = 0, nrun = 0;
    line3 *qr = read_qrels(qrels_path, &nqr);
    line3 *run = read_run(run_path, &nrun);
    assert_non_null(qr);
    assert_non_null(run);
    assert_int_equal(nrun, res.n_run_rows);
    double *want = calloc(res.n_queries * nm, sizeof *want), *want_mean = calloc(nm, sizeof *want_mean);
    for (size_t m = 0; m < nm; m++) {
        int kind = ms[m].kind == EVAL_MRR ? 0 : ms[m].kind == EVAL_P ? 1 : ms[m].kind == EVAL_RECALL ? 2
                 : ms[m].kind == EVAL_NDCG ? 3 : ms[m].kind == EVAL_MAP ? 4 : 5;
        for (size_t i = 0; i < res.n_queries; i++) {
            want[i * nm + m] = check_metric(kind, ms[m].k, qr, nqr, run, nrun, res.qids[i]);
            want_mean[m] += want[i * nm + m];
        }
        want_mean[m] /= (double)res.n_queries;
    }
    rw_assert_allclose_f64(res.values, want, res.n_queries * nm, 1e-9, 0);
    rw_assert_allclose_f64(res.mean, want_mean, nm, 1e-9, 0);

    /* BM25 figures beside the README's (MRR@10, P@5, nDCG@10, R@100, MAP). The ranker
     * differs in details the README leaves open (stopword list, idf form), so this only
     * checks it is a faithful BM25: within 0.01 of each figure (measured: within 0.003). */
    eval_metric show[] = {{EVAL_MRR, 10}, {EVAL_P, 5}, {EVAL_NDCG, 10}, {EVAL_RECALL, 100}, {EVAL_MAP, 0}};
    const char *names[] = {"MRR@10", "P@5", "nDCG@10", "R@100", "MAP"};
    printf("%s BM25 (k1=0.9 b=0.4), %zu queries: ", coll, res.n_queries);
    for (int i = 0; i < 5; i++) {
        long at = eval_results_find(&res, show[i]);
        assert_true(at >= 0);
        double got = res.mean[at];
        printf("%s %.4f (README %.4f, %+.4f)%s", names[i], got, readme[i], got - readme[i], i < 4 ? "; " : "\n");
        if (fabs(got - readme[i]) > 0.01) fail_msg("%s %s = %.4f, README %.4f", coll, names[i], got, readme[i]);
    }
    free(want);
    free(want_mean);
    free(qr);
    free(run);
    free(ms);
    eval_results_deinit(&res);
    eval_run_destroy(r);
    eval_qrels_destroy(q);
}

static void test_cranfield(void **state) {
    (void)state;
    const double readme[] = {0.5141, 0.3191, 0.3493, 0.7048, 0.2823};
    crosscheck("cranfield", readme);
}

static void test_cisi(void **state) {
    (void)state;
    const double readme[] = {0.5876, 0.3632, 0.3476, 0.4288, 0.1842};
    crosscheck("cisi", readme);
}

int main(void) {
    if (!rw_test_shared_dir()) return RW_TEST_SKIP;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cranfield),
        cmocka_unit_test(test_cisi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
