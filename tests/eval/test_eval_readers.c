/* data/trec_run, data/beir (qrels TSV and BEIR JSONL): valid inputs and a malformed-input
 * suite checking that each error names file:line and the field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/beir.h"
#include "data/trec_run.h"
#include "eval/run.h"
#include "rw_test.h"

typedef struct rows {
    int n;
    char last_qid[64], last_doc[64], last_tag[64];
    long last_rank;
    double last_score;
    size_t last_line;
} rows;

static rw_status run_cb(void *user, const data_trec_row *row, rw_err *err) {
    (void)err;
    rows *r = user;
    r->n++;
    snprintf(r->last_qid, sizeof r->last_qid, "%s", row->qid);
    snprintf(r->last_doc, sizeof r->last_doc, "%s", row->docid);
    snprintf(r->last_tag, sizeof r->last_tag, "%s", row->tag);
    r->last_rank = row->rank;
    r->last_score = row->score;
    r->last_line = row->line;
    return RW_OK;
}

static rw_status parse_run(const char *text, rows *r, rw_err *err) {
    memset(r, 0, sizeof *r);
    return data_trec_run_parse(text, strlen(text), "x.run", run_cb, r, err);
}

static void test_trec_run_valid(void **state) {
    (void)state;
    rows r;
    rw_err err;
    assert_int_equal(parse_run("1 Q0 d1 1 3.5 bm25\n\n1\tQ0\td2\t2\t-1e3\tbm25\r\n2 0 d9 0 0 t", &r, &err), RW_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.last_qid, "2");
    assert_string_equal(r.last_doc, "d9");
    assert_int_equal(r.last_rank, 0);
    assert_int_equal(r.last_line, 4);
    assert_int_equal(parse_run("q1 d1 2.5\nq1 d2 1\n", &r, &err), RW_OK);
    assert_int_equal(r.last_rank, -1);
    assert_true(r.last_score == 1.0);
    assert_int_equal(parse_run("", &r, &err), RW_OK);
    assert_int_equal(r.n, 0);
}

/* Windows line ends: the CR belongs to no field (a tag "bm25\r" or a score "2.5\r" would
 * be wrong or rejected). */
static void test_trec_run_crlf(void **state) {
    (void)state;
    rows r;
    rw_err err;
    assert_int_equal(parse_run("1 Q0 d1 1 3.5 bm25\r\n1 Q0 d2 2 1.5 bm25\r\n", &r, &err), RW_OK);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.last_tag, "bm25");
    assert_int_equal(parse_run("q1 d1 2.5\r\nq1 d2 0.25\r\n", &r, &err), RW_OK);
    assert_int_equal(r.n, 2);
    assert_true(r.last_score == 0.25);
    assert_string_equal(r.last_tag, "");
}

static void test_trec_run_malformed(void **state) {
    (void)state;
    struct {
        const char *text, *want1, *want2;
    } cases[] = {
        {"1 Q0 d1 1 3.5\n", "x.run:1:", "found 5"},
        {"1 Q0 d1 1 3.5 t\n1 Q0 d2 x 3 t\n", "x.run:2:", "field 4 (rank): 'x'"},
        {"1 Q0 d1 -1 3.5 t\n", "x.run:1:", "rank"},
        {"1 Q0 d1 1 abc t\n", "x.run:1:", "field 5 (score): 'abc'"},
        {"1 Q0 d1 1 nan t\n", "x.run:1:", "score"},
        {"1 Q0 d1 1 1e999 t\n", "x.run:1:", "score"},
        {"1 Q0 d1 1 3 t\n1 d2 3\n", "x.run:2:", "mixed"},
        {"1 Q0 d1 99999999999999999999999 3 t\n", "x.run:1:", "rank"},
        {"1 Q0 d1 1 3 t extra more\n", "x.run:1:", "found 8"},
        {"q d 1x\n", "x.run:1:", "field 3 (score)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rows r;
        rw_err err;
        rw_err_clear(&err);
        assert_int_equal(parse_run(cases[i].text, &r, &err), RW_E_FORMAT);
        if (!strstr(err.msg, cases[i].want1) || !strstr(err.msg, cases[i].want2))
            fail_msg("case %zu: message '%s' lacks '%s' / '%s'", i, err.msg, cases[i].want1, cases[i].want2);
    }
    /* NUL inside a line */
    const char nul[] = "1 Q0 d\0 1 3 t\n";
    rows r;
    rw_err err;
    assert_int_equal(data_trec_run_parse(nul, sizeof nul - 1, "x.run", run_cb, &r, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_trec_run_file_and_duplicates(void **state) {
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/dup.run", rw_test_tmpdir());
    const char *text = "1 Q0 a 1 2 t\n1 Q0 b 2 1 t\n1 Q0 a 3 0 t\n";
    assert_int_equal(rw_test_write_file(path, text, strlen(text)), 0);
    eval_run *run = NULL;
    rw_err err;
    assert_int_equal(eval_run_load(path, &run, &err), RW_E_FORMAT);
    assert_null(run);
    assert_non_null(strstr(err.msg, "dup.run"));
    assert_non_null(strstr(err.msg, "line 3"));
    snprintf(path, sizeof path, "%s/missing.run", rw_test_tmpdir());
    assert_int_equal(eval_run_load(path, &run, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "missing.run"));
    /* writer rejects whitespace in ids and round-trips through the parser */
    snprintf(path, sizeof path, "%s/w.run", rw_test_tmpdir());
    FILE *f = fopen(path, "w");
    assert_int_equal(data_trec_run_write_row(f, "q 1", "d", 1, 1.0, "t", &err), RW_E_INVALID);
    assert_int_equal(data_trec_run_write_row(f, "q1", "d", 1, 0.1, "t", &err), RW_OK);
    fclose(f);
    assert_int_equal(eval_run_load(path, &run, &err), RW_OK);
    assert_int_equal(eval_run_n_rows(run), 1);
    eval_run_destroy(run);
}

typedef struct qrows {
    int n;
    long sum;
    char last_doc[64];
} qrows;

static rw_status qrel_cb(void *user, const data_qrel_row *row, rw_err *err) {
    (void)err;
    qrows *q = user;
    q->n++;
    q->sum += row->grade;
    snprintf(q->last_doc, sizeof q->last_doc, "%s", row->docid);
    return RW_OK;
}

static void test_qrels(void **state) {
    (void)state;
    qrows q = {0};
    rw_err err;
    const char *beir = "query-id\tcorpus-id\tscore\n1\t12\t2\n1\t13\t-1\n";
    assert_int_equal(data_qrels_parse(beir, strlen(beir), "t.tsv", qrel_cb, &q, &err), RW_OK);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.sum, 1);
    memset(&q, 0, sizeof q);
    const char *trec = "1 0 d12 1\n1 0 d13 0\n";
    assert_int_equal(data_qrels_parse(trec, strlen(trec), "t.qrels", qrel_cb, &q, &err), RW_OK);
    assert_int_equal(q.n, 2);
    assert_string_equal(q.last_doc, "d13");
    struct {
        const char *text, *want;
    } bad[] = {
        {"q\td\tscore\nq\td\tx\n", "t:2: field 3 (relevance): 'x'"},
        {"1 0 d 1\n1 d 1\n", "t:2:"},
        {"1 0 d 1 5\n", "t:1: expected 3 fields"},
        {"1\t2\n", "found 2"},
        {"h\th\th\nh\th\th\n", "t:2:"}, /* a header only counts on the first line */
    };
    /* CRLF line ends (the grade is "1", not "1\r"); a NUL byte is an error naming the line */
    memset(&q, 0, sizeof q);
    const char *crlf = "query-id\tcorpus-id\tscore\r\n1\t12\t1\r\n1\t13\t2\r\n";
    assert_int_equal(data_qrels_parse(crlf, strlen(crlf), "t.tsv", qrel_cb, &q, &err), RW_OK);
    assert_int_equal(q.n, 2);
    assert_int_equal(q.sum, 3);
    const char nul[] = "1 0 d1 1\n1 0 d\0002 1\n";
    assert_int_equal(data_qrels_parse(nul, sizeof nul - 1, "t", qrel_cb, &q, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "t:2: NUL byte"));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rw_err_clear(&err);
        assert_int_equal(data_qrels_parse(bad[i].text, strlen(bad[i].text), "t", qrel_cb, &q, &err), RW_E_FORMAT);
        if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    }
}

static rw_status rec_cb(void *user, const data_beir_record *rec, rw_err *err) {
    (void)err;
    qrows *q = user;
    q->n++;
    snprintf(q->last_doc, sizeof q->last_doc, "%s|%s|%s", rec->id, rec->title, rec->text);
    return RW_OK;
}

static rw_status text_len_cb(void *user, const data_beir_record *rec, rw_err *err) {
    (void)err;
    *(size_t *)user = strlen(rec->text);
    return RW_OK;
}

static void test_beir_jsonl(void **state) {
    (void)state;
    char path[4200];
    snprintf(path, sizeof path, "%s/c.jsonl", rw_test_tmpdir());
    const char *ok = "{\"_id\": \"a\", \"title\": \"T\", \"text\": \"x\"}\n\n{\"_id\": 7, \"text\": \"y\"}\r\n";
    assert_int_equal(rw_test_write_file(path, ok, strlen(ok)), 0);
    qrows q = {0};
    rw_err err;
    assert_int_equal(data_beir_read_jsonl(path, rec_cb, &q, &err), RW_OK);
    assert_int_equal(q.n, 2);
    assert_string_equal(q.last_doc, "7||y");
    struct {
        const char *text, *want;
    } bad[] = {
        {"{\"text\": \"x\"}\n", "c.jsonl:1: field '_id': missing"},
        {"{\"_id\": \"a\", \"text\": \"x\"}\n{\"_id\": [1], \"text\": \"x\"}\n", "c.jsonl:2: field '_id'"},
        {"{\"_id\": \"a\"}\n", "c.jsonl:1: field 'text': missing"},
        {"{\"_id\": \"a\", \"text\": 3}\n", "field 'text': expected a string"},
        {"{\"_id\": \"a\", \"text\": \"x\", \"title\": 1}\n", "field 'title'"},
        {"{\"_id\": \"a\", \"text\": \"x\"\n", "c.jsonl:1:"},
        {"[1]\n", "expected a JSON object"},
        {"{\"_id\": \"\", \"text\": \"x\"}\n", "empty"},
        {"{\"_id\": \"a\", \"_id\": \"b\", \"text\": \"x\"}\n", "c.jsonl:1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(rw_test_write_file(path, bad[i].text, strlen(bad[i].text)), 0);
        rw_err_clear(&err);
        assert_int_equal(data_beir_read_jsonl(path, rec_cb, &q, &err), RW_E_FORMAT);
        if (!strstr(err.msg, bad[i].want)) fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].want);
    }
    /* Line numbers count blank and CRLF lines; the last line needs no newline. */
    const char *last = "{\"_id\": \"a\", \"text\": \"x\"}\r\n\r\n{\"text\": \"x\"}";
    assert_int_equal(rw_test_write_file(path, last, strlen(last)), 0);
    assert_int_equal(data_beir_read_jsonl(path, rec_cb, &q, &err), RW_E_FORMAT);
    if (!strstr(err.msg, "c.jsonl:3: field '_id': missing")) fail_msg("%s", err.msg);
    /* A line far longer than any first buffer arrives whole. */
    size_t big = 200000;
    char *long_line = malloc(big + 64);
    assert_non_null(long_line);
    int k = snprintf(long_line, 64, "{\"_id\": \"L\", \"text\": \"");
    memset(long_line + k, 'w', big);
    memcpy(long_line + k + big, "\"}", 3);
    assert_int_equal(rw_test_write_file(path, long_line, strlen(long_line)), 0);
    free(long_line);
    size_t text_len = 0;
    assert_int_equal(data_beir_read_jsonl(path, text_len_cb, &text_len, &err), RW_OK);
    assert_int_equal(text_len, big);
    /* A folder opens but cannot be read: an I/O error naming file:line. */
    assert_int_equal(data_beir_read_jsonl(rw_test_tmpdir(), rec_cb, &q, &err), RW_E_IO);
    if (!strstr(err.msg, ":1: ") || !strstr(err.msg, "while reading the line")) fail_msg("%s", err.msg);
}

/* A BEIR folder as qrels source: qrels/test.tsv plus query texts. */
static void test_qrels_folder(void **state) {
    (void)state;
    char path[8600], dir[4200];
    snprintf(dir, sizeof dir, "%s/beir", rw_test_tmpdir());
    snprintf(path, sizeof path, "mkdir -p '%s/qrels'", dir);
    assert_int_equal(system(path), 0);
    snprintf(path, sizeof path, "%s/qrels/test.tsv", dir);
    const char *qr = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t2\n";
    assert_int_equal(rw_test_write_file(path, qr, strlen(qr)), 0);
    eval_qrels *q = NULL;
    rw_err err;
    assert_int_equal(eval_qrels_load(dir, &q, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "test.tsv:3: duplicate"));
    qr = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n";
    assert_int_equal(rw_test_write_file(path, qr, strlen(qr)), 0);
    snprintf(path, sizeof path, "%s/queries.jsonl", dir);
    const char *qs = "{\"_id\": \"q1\", \"text\": \"what is lift\"}\n{\"_id\": \"q9\", \"text\": \"unjudged\"}\n";
    assert_int_equal(rw_test_write_file(path, qs, strlen(qs)), 0);
    assert_int_equal(eval_qrels_load(dir, &q, &err), RW_OK);
    assert_int_equal(eval_qrels_n_queries(q), 2);
    assert_string_equal(eval_qrels_query_text(q, "q1"), "what is lift");
    assert_null(eval_qrels_query_text(q, "q2"));
    eval_qrels_destroy(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trec_run_valid),
        cmocka_unit_test(test_trec_run_crlf),
        cmocka_unit_test(test_trec_run_malformed),
        cmocka_unit_test(test_trec_run_file_and_duplicates),
        cmocka_unit_test(test_qrels),
        cmocka_unit_test(test_beir_jsonl),
        cmocka_unit_test(test_qrels_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
