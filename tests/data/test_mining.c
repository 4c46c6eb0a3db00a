/* Mining: a hand-built feedback store whose expected triplets, SFT examples and critic
 * labels were worked out by hand (see the comments), including queries and documents from
 * restricted, withdrawn and unconsented sources that must never appear in the output. The
 * outputs are read back with the JSONL reader. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "data/db.h"
#include "data/feedback.h"
#include "data/governance.h"
#include "data/jsonl.h"
#include "data/mining.h"
#include "data/sources.h"
#include "rw_test.h"

static data_db *g_db;

static int64_t log_it(const char *q, const char *src, const char *resp, const char *const *docs,
                      size_t nd) {
    data_retrieved r[8];
    for (size_t i = 0; i < nd; i++) r[i] = (data_retrieved){docs[i], 1.0 / (double)(i + 1), (double)NAN, NULL, NULL};
    data_interaction it = {.time = 1000, .endpoint = "/v1/chat/completions", .query = q,
                           .response = resp, .source_id = src, .docs = r, .n_docs = nd};
    int64_t id;
    rw_err err;
    assert_int_equal(data_feedback_log(g_db, &it, &id, &err), RW_OK);
    return id;
}

static void ev(int64_t id, data_feedback_kind k, const char *doc, const char *text) {
    rw_err err;
    assert_int_equal(data_feedback_event(g_db, id, k, doc, text, 0, &err), RW_OK);
}

static int setup(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/mine.db", rw_test_tmpdir());
    rw_err err;
    assert_int_equal(data_db_open(path, &g_db, &err), RW_OK);
    struct {
        const char *id;
        data_class c;
        int consent;
    } s[] = {{"wiki", DATA_CLASS_PUBLIC, 0},   {"forum", DATA_CLASS_COMMUNITY, 1},
             {"users", DATA_CLASS_PERSONAL, 1}, {"secret", DATA_CLASS_RESTRICTED, 1},
             {"raw", DATA_CLASS_COMMUNITY, 0},  {"gone", DATA_CLASS_PUBLIC, 0}};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(data_source_add(g_db, s[i].id, s[i].c, "", &err), RW_OK);
        if (s[i].consent)
            assert_int_equal(data_source_consent(g_db, s[i].id, "dpo", 0, "training", "r", &err), RW_OK);
    }
    assert_int_equal(data_gov_withdraw(g_db, "gone", "takedown", 0, NULL, &err), RW_OK);
    const char *docs[][3] = {{"d1", "wiki", "reset via settings page"},
                             {"d2", "wiki", "use the forgot password link"},
                             {"d3", "forum", "forum says call support"},
                             {"d4", "secret", "SECRET internal runbook"},
                             {"d5", "gone", "GONE withdrawn article"},
                             {"d6", "wiki", "sunny tomorrow"}};
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(data_document_put(g_db, docs[i][0], docs[i][1], NULL, docs[i][2], &err), RW_OK);
    const char *r1[] = {"d1", "d2", "d3", "d4"};
    int64_t i1 = log_it("How do I reset my password?", "users", "Use the forgot password link.", r1, 4);
    ev(i1, DATA_FB_CLICK, "d2", NULL);
    ev(i1, DATA_FB_UP, NULL, NULL);
    ev(i1, DATA_FB_DOWN, "d4", NULL);
    const char *r2[] = {"d2", "d1"};
    int64_t i2 = log_it("  how do I reset my PASSWORD?  ", "users", "Use the forgot password link.", r2, 2);
    ev(i2, DATA_FB_UP, "d2", NULL);
    ev(i2, DATA_FB_UP, NULL, NULL);
    ev(i2, DATA_FB_DOWN, "d1", NULL);
    const char *r3[] = {"d1"};
    int64_t i3 = log_it("SECRETQ what is project x", "secret", "x", r3, 1);
    ev(i3, DATA_FB_CLICK, "d1", NULL);
    ev(i3, DATA_FB_UP, NULL, NULL);
    const char *r4[] = {"d5", "d6"};
    int64_t i4 = log_it("weather", NULL, "sunny", r4, 2); /* default source */
    ev(i4, DATA_FB_CLICK, "d6", NULL);
    const char *r5[] = {"d1", "d2"};
    int64_t i5 = log_it("RAWQ raw question", "raw", "y", r5, 2);
    ev(i5, DATA_FB_CLICK, "d1", NULL);
    ev(i5, DATA_FB_UP, NULL, NULL);
    int64_t i6 = log_it("single", "users", "z", r5, 2);
    ev(i6, DATA_FB_CLICK, "d1", NULL);
    ev(i6, DATA_FB_UP, "d1", NULL);
    int64_t i7 = log_it("capital of france", "users", "Lyon", NULL, 0);
    ev(i7, DATA_FB_CORRECTION, NULL, "Paris");
    int64_t i8 = log_it("Capital of France ", "users", "Paris", NULL, 0);
    ev(i8, DATA_FB_UP, NULL, NULL);
    int64_t i9 = log_it("bad answer", "users", "nonsense", NULL, 0);
    ev(i9, DATA_FB_DOWN, NULL, NULL);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    data_db_close(g_db);
    return 0;
}

/* Runs a miner into a file; returns its contents (caller frees) and the manifest. */
static char *run(data_mine_kind k, int min_ev, data_manifest **m, int64_t *n) {
    rw_err err;
    assert_int_equal(data_manifest_create(g_db, "test", m, &err), RW_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/out-%s-%d.jsonl", rw_test_tmpdir(), data_mine_kind_name(k), min_ev);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    data_mine_options o = {.min_evidence = min_ev, .max_negatives = 3, .default_source = "users"};
    rw_status s = data_mine(g_db, k, &o, *m, f, n, &err);
    if (s != RW_OK) fail_msg("mine: %s", err.msg);
    fclose(f);
    char *txt = rw_test_read_file(path, NULL);
    assert_non_null(txt);
    /* Nothing from restricted, withdrawn or unconsented sources, in any output. */
    assert_null(strstr(txt, "SECRET"));
    assert_null(strstr(txt, "GONE"));
    assert_null(strstr(txt, "RAWQ"));
    /* Readable by our own reader, under FATAL. */
    data_jsonl_reader *r;
    data_jsonl_options jo = {.policy = DATA_JSONL_FATAL};
    assert_int_equal(data_jsonl_open(path, &jo, &r, &err), RW_OK);
    data_example ex;
    bool got;
    int64_t back = 0;
    while (data_jsonl_next(r, &ex, &got, &err) == RW_OK && got) back++;
    assert_int_equal(back, *n);
    data_jsonl_close(r);
    return txt;
}

static void test_triplets(void **state) {
    (void)state;
    data_manifest *m;
    int64_t n;
    /* min_evidence 2: only d2 for the password question (clicked in i1, up-voted in i2);
     * negatives d1 (rank 1) and d3 (rank 3); d4 is restricted. q "weather" d6 and "single"
     * d1 have one interaction each: min_evidence. */
    char *txt = run(DATA_MINE_TRIPLETS, 2, &m, &n);
    assert_int_equal(n, 2);
    assert_non_null(strstr(txt, "{\"anchor\":\"How do I reset my password?\",\"positive\":\"use the "
                                "forgot password link\",\"negative\":\"reset via settings page\""));
    assert_non_null(strstr(txt, "\"negative\":\"forum says call support\""));
    assert_int_equal(data_manifest_rejected(m, "restricted"), 1);
    assert_int_equal(data_manifest_rejected(m, "min_evidence"), 2);
    assert_int_equal(data_manifest_rejected(m, "query_source_restricted"), 1);
    assert_int_equal(data_manifest_rejected(m, "query_source_no_consent"), 1);
    assert_int_equal(data_manifest_source_examples(m, "forum"), 1);
    assert_int_equal(data_manifest_source_examples(m, "users"), 2);
    free(txt);
    data_manifest_destroy(m);
    /* min_evidence 1 adds "single": d1 vs d2; "weather": d6 vs d5 fails (withdrawn). */
    txt = run(DATA_MINE_TRIPLETS, 1, &m, &n);
    assert_int_equal(n, 3);
    assert_non_null(strstr(txt, "{\"anchor\":\"single\",\"positive\":\"reset via settings page\","
                                "\"negative\":\"use the forgot password link\""));
    assert_int_equal(data_manifest_rejected(m, "withdrawn"), 1);
    assert_int_equal(data_manifest_rejected(m, "no_hard_negative"), 1);
    assert_null(strstr(txt, "sunny"));
    free(txt);
    data_manifest_destroy(m);
}

static void test_sft(void **state) {
    (void)state;
    data_manifest *m;
    int64_t n;
    /* Password answer: 2 up-votes over 2 interactions (merged); Paris: correction in i7 +
     * up-vote in i8; "single" has an up-vote on a document only (no answer vote);
     * "bad answer" is net down. Restricted/unconsented queries are dropped. */
    char *txt = run(DATA_MINE_SFT, 2, &m, &n);
    assert_int_equal(n, 2);
    assert_non_null(strstr(txt, "{\"role\":\"user\",\"content\":\"How do I reset my password?\"},"
                                "{\"role\":\"assistant\",\"content\":\"Use the forgot password link.\"}"));
    assert_non_null(strstr(txt, "{\"role\":\"user\",\"content\":\"capital of france\"},"
                                "{\"role\":\"assistant\",\"content\":\"Paris\"}"));
    assert_null(strstr(txt, "Lyon"));
    assert_null(strstr(txt, "nonsense"));
    assert_int_equal(data_manifest_rejected(m, "query_source_restricted"), 1);
    assert_int_equal(data_manifest_rejected(m, "query_source_no_consent"), 1);
    free(txt);
    data_manifest_destroy(m);
    txt = run(DATA_MINE_SFT, 3, &m, &n);
    assert_int_equal(n, 0);
    assert_int_equal(data_manifest_rejected(m, "min_evidence"), 2);
    free(txt);
    data_manifest_destroy(m);
}

static void test_critic(void **state) {
    (void)state;
    data_manifest *m;
    int64_t n;
    /* Judgments with a doc id: password/d4 down (restricted doc), password/d2 up,
     * password/d1 down, single/d1 up. */
    char *txt = run(DATA_MINE_CRITIC, 1, &m, &n);
    assert_int_equal(n, 3);
    assert_non_null(strstr(txt, "\"document\":\"use the forgot password link\",\"label\":1"));
    /* The d1 judgment came from i2 only, so its query text is i2's, untrimmed. */
    assert_non_null(strstr(txt, "{\"query\":\"  how do I reset my PASSWORD?  \",\"document\":\"reset "
                                "via settings page\",\"label\":0"));
    assert_non_null(strstr(txt, "{\"query\":\"single\",\"document\":\"reset via settings page\","
                                "\"label\":1"));
    assert_int_equal(data_manifest_rejected(m, "restricted"), 1);
    free(txt);
    data_manifest_destroy(m);
    txt = run(DATA_MINE_CRITIC, 2, &m, &n);
    assert_int_equal(n, 0);
    assert_int_equal(data_manifest_rejected(m, "min_evidence"), 4);
    free(txt);
    data_manifest_destroy(m);
}

/* Mines kind into memory with allocations failing after k (k < 0: never); returns the
 * status, and the output (caller frees) on success. */
static rw_status mine_mem(data_mine_kind kind, long k, char **text) {
    rw_err err;
    data_manifest *m = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    data_mine_options o = {.min_evidence = 1, .max_negatives = 3, .default_source = "users"};
    int64_t n = 0;
    rw_alloc_fail_after(k);
    rw_status s = data_manifest_create(g_db, "oom", &m, &err);
    if (s == RW_OK) s = data_mine(g_db, kind, &o, m, f, &n, &err);
    rw_alloc_fail_after(-1);
    fclose(f);
    data_manifest_destroy(m);
    if (s == RW_OK)
        *text = buf;
    else
        free(buf);
    return s;
}

/* Every allocation failing in turn: each run either fails with RW_E_NOMEM or writes exactly
 * what an unhindered run writes (an out-of-memory copy must not turn into a dropped or
 * shortened example). */
static void test_alloc_failures(void **state) {
    (void)state;
    for (int kind = 0; kind < 3; kind++) {
        char *want = NULL;
        assert_int_equal(mine_mem((data_mine_kind)kind, -1, &want), RW_OK);
        assert_true(strlen(want) > 0);
        int ok = 0;
        for (long k = 0; k < 400 && !ok; k++) {
            char *got = NULL;
            rw_status s = mine_mem((data_mine_kind)kind, k, &got);
            if (s == RW_OK) {
                ok = 1;
                if (strcmp(got, want) != 0)
                    fail_msg("%s, allocation %ld failing: output differs\n got  %s\n want %s",
                             data_mine_kind_name((data_mine_kind)kind), k, got, want);
                free(got);
            } else if (s != RW_E_NOMEM) {
                fail_msg("%s, allocation %ld failing: status %d", data_mine_kind_name((data_mine_kind)kind), k, (int)s);
            }
        }
        assert_true(ok);
        free(want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_triplets),
        cmocka_unit_test(test_sft),
        cmocka_unit_test(test_critic),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
