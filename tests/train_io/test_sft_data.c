/* train/sft_data: SFT examples -> token rows and loss masks.
 *
 * References: the ChatML text of each conversation is written out here by hand from the
 * template's definition (<|im_start|>role\ncontent<|im_end|>\n); the test concatenates the
 * pieces of the masked tokens and of the unmasked tokens and compares them with the
 * hand-written assistant text and the rest. Governance uses a real database with one
 * public and one restricted source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "data/db.h"
#include "data/governance.h"
#include "data/sources.h"
#include "infer/gguf.h"
#include "rw_test.h"
#include "train/sft_data.h"
#include "train_fixture.h"

static infer_tokenizer *g_tok;

static int setup(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/m.gguf", rw_test_tmpdir());
    if (fixture_tiny_llama(path, 1, 32, 1)) return -1;
    rw_err e;
    if (infer_tokenizer_load(path, &g_tok, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    return 0;
}
static int teardown(void **state) {
    (void)state;
    infer_tokenizer_destroy(g_tok);
    return 0;
}

static train_sft_opts opts(int max_seq) {
    train_sft_opts o = {.tok = g_tok, .tmpl = INFER_CHAT_CHATML, .format = DATA_JSONL_AUTO,
                        .on_error = DATA_JSONL_FATAL, .max_seq = max_seq};
    return o;
}

/* Concatenated pieces of the tokens whose mask equals `want` (skipping BOS). */
static char *pieces(const train_sft_row *r, int want) {
    size_t cap = 4096, n = 0;
    char *s = calloc(cap, 1);
    for (int32_t t = 0; t < r->n; t++) {
        if (r->mask[t] != want || r->ids[t] == infer_tokenizer_bos(g_tok)) continue;
        size_t len;
        const char *p = infer_tokenizer_piece(g_tok, r->ids[t], &len);
        assert_true(n + len < cap);
        memcpy(s + n, p, len);
        n += len;
    }
    return s;
}

static void load_ok(const char *text, const train_sft_opts *o, train_sft_set *s) {
    rw_err err;
    rw_err_clear(&err);
    if (train_sft_load_mem(text, strlen(text), "t.jsonl", o, s, &err))
        fail_msg("load: %s", err.msg);
}

static void test_chat_mask(void **state) {
    (void)state;
    const char *text = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"hi there\"},"
                       "{\"role\":\"assistant\",\"content\":\"Hello, friend!\"},"
                       "{\"role\":\"user\",\"content\":\"again\"},"
                       "{\"role\":\"assistant\",\"content\":\"Yes.\"}]}\n";
    train_sft_opts o = opts(512);
    train_sft_set s;
    load_ok(text, &o, &s);
    assert_int_equal(s.n_rows, 1);
    assert_int_equal(s.format, DATA_JSONL_CHAT);
    char *on = pieces(&s.rows[0], 1), *off = pieces(&s.rows[0], 0);
    assert_string_equal(on, "Hello, friend!<|im_end|>Yes.<|im_end|>");
    assert_string_equal(off, "<|im_start|>system\nBe brief.<|im_end|>\n"
                             "<|im_start|>user\nhi there<|im_end|>\n"
                             "<|im_start|>assistant\n\n"
                             "<|im_start|>user\nagain<|im_end|>\n"
                             "<|im_start|>assistant\n\n");
    free(on);
    free(off);
    /* targets: position t predicts ids[t+1] exactly where mask[t+1] */
    const train_sft_row *r = &s.rows[0];
    int32_t *tg = malloc((size_t)r->n * sizeof *tg);
    int32_t c = train_sft_targets(r, tg);
    assert_int_equal(c, r->n_target);
    for (int32_t t = 0; t + 1 < r->n; t++)
        assert_int_equal(tg[t], r->mask[t + 1] ? r->ids[t + 1] : -1);
    assert_int_equal(tg[r->n - 1], -1);
    free(tg);
    assert_int_equal(s.n_tokens, r->n);
    train_sft_set_deinit(&s);
}

static void test_completions_equal_chat(void **state) {
    (void)state;
    const char *a = "{\"prompt\":\"What is 2+2?\",\"completion\":\"FOUR\"}\n";
    const char *b = "{\"messages\":[{\"role\":\"user\",\"content\":\"What is 2+2?\"},"
                    "{\"role\":\"assistant\",\"content\":\"FOUR\"}]}\n";
    train_sft_opts o = opts(512);
    train_sft_set sa, sb;
    load_ok(a, &o, &sa);
    load_ok(b, &o, &sb);
    assert_int_equal(sa.format, DATA_JSONL_COMPLETIONS);
    assert_int_equal(sa.rows[0].n, sb.rows[0].n);
    assert_memory_equal(sa.rows[0].ids, sb.rows[0].ids, (size_t)sa.rows[0].n * 4);
    assert_memory_equal(sa.rows[0].mask, sb.rows[0].mask, (size_t)sa.rows[0].n);
    char *on = pieces(&sa.rows[0], 1);
    assert_string_equal(on, "FOUR<|im_end|>");
    free(on);
    train_sft_set_deinit(&sa);
    train_sft_set_deinit(&sb);
}

static void test_text(void **state) {
    (void)state;
    const char *t = "{\"text\":\"plain words here\"}\n";
    train_sft_opts o = opts(512);
    train_sft_set s;
    load_ok(t, &o, &s);
    const train_sft_row *r = &s.rows[0];
    char *on = pieces(r, 1);
    /* every token carries loss (a leading BOS would not); EOS appended */
    assert_string_equal(on, "plain words here<|im_end|>");
    free(on);
    assert_int_equal(r->ids[r->n - 1], infer_tokenizer_eos(g_tok));
    train_sft_set_deinit(&s);
}

static void test_truncation(void **state) {
    (void)state;
    const char *t = "{\"prompt\":\"a\",\"completion\":\"a long answer that will not fit, not at all, no "
                    "it will not\"}\n"
                    "{\"prompt\":\"a very long prompt that fills the whole window, and then some more "
                    "words, and more words again, until nothing is left\","
                    "\"completion\":\"x\"}\n";
    train_sft_opts o = opts(24);
    train_sft_set s;
    load_ok(t, &o, &s);
    /* the first keeps its head (24 tokens, some assistant ones); the second has no assistant
     * token left inside 24 tokens and is dropped */
    assert_int_equal(s.n_rows, 1);
    assert_int_equal(s.rows[0].n, 24);
    assert_int_equal(s.n_truncated, 2);
    assert_int_equal(s.n_no_target, 1);
    train_sft_set_deinit(&s);
}

static void test_bad_lines(void **state) {
    (void)state;
    const char *t = "{\"prompt\":\"p1\",\"completion\":\"c1\"}\n"
                    "{\"prompt\":\"p2\",\"completion\":5}\n"
                    "not json\n"
                    "{\"prompt\":\"p4\",\"completion\":\"c4\"}\n";
    train_sft_opts o = opts(64);
    train_sft_set s;
    rw_err err;
    rw_err_clear(&err);
    memset(&s, 0x5a, sizeof s);
    assert_int_equal(train_sft_load_mem(t, strlen(t), "t.jsonl", &o, &s, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "t.jsonl:2"));
    assert_non_null(strstr(err.msg, "completion"));
    assert_int_equal(((unsigned char *)&s)[0], 0x5a);
    o.on_error = DATA_JSONL_SKIP;
    load_ok(t, &o, &s);
    assert_int_equal(s.n_rows, 2);
    assert_int_equal(s.n_lines_skipped, 2);
    train_sft_set_deinit(&s);
    /* chat data without a template is refused with the line */
    o.tmpl = INFER_CHAT_NONE;
    assert_int_equal(train_sft_load_mem(t, strlen(t), "t.jsonl", &o, &s, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "t.jsonl:1"));
}

static void test_packing(void **state) {
    (void)state;
    char buf[4096] = "";
    for (int i = 0; i < 10; i++) {
        char line[128];
        snprintf(line, sizeof line, "{\"prompt\":\"question %d\",\"completion\":\"answer %d\"}\n", i, i);
        strcat(buf, line);
    }
    train_sft_opts o = opts(64);
    train_sft_set a, p;
    load_ok(buf, &o, &a);
    o.packing = true;
    load_ok(buf, &o, &p);
    /* packed rows concatenate the unpacked rows in order */
    int64_t total = 0;
    for (size_t i = 0; i < a.n_rows; i++) total += a.rows[i].n;
    assert_int_equal(p.n_tokens, total);
    int32_t *cat = malloc((size_t)total * 4), *pc = malloc((size_t)total * 4);
    size_t k = 0;
    for (size_t i = 0; i < a.n_rows; i++)
        for (int32_t t = 0; t < a.rows[i].n; t++) cat[k++] = a.rows[i].ids[t];
    k = 0;
    for (size_t i = 0; i < p.n_rows; i++) {
        assert_true(p.rows[i].n <= 64);
        if (i + 1 < p.n_rows) assert_int_equal(p.rows[i].n, 64);
        for (int32_t t = 0; t < p.rows[i].n; t++) pc[k++] = p.rows[i].ids[t];
    }
    assert_memory_equal(cat, pc, (size_t)total * 4);
    assert_true(p.n_rows < a.n_rows);
    free(cat);
    free(pc);
    train_sft_set_deinit(&a);
    train_sft_set_deinit(&p);
}

static void test_governance(void **state) {
    (void)state;
    char dbp[512];
    snprintf(dbp, sizeof dbp, "%s/gov.db", rw_test_tmpdir());
    data_db *db = NULL;
    rw_err err;
    if (data_db_open(dbp, &db, &err)) fail_msg("%s", err.msg);
    assert_int_equal(data_source_add(db, "pub", DATA_CLASS_PUBLIC, "p", &err), RW_OK);
    assert_int_equal(data_source_add(db, "secret", DATA_CLASS_RESTRICTED, "s", &err), RW_OK);
    data_manifest *m = NULL;
    assert_int_equal(data_manifest_create(db, "test", &m, &err), RW_OK);
    const char *t = "{\"prompt\":\"a\",\"completion\":\"b\"}\n"
                    "{\"prompt\":\"a\",\"completion\":\"b\",\"source\":\"secret\"}\n"
                    "{\"prompt\":\"a\",\"completion\":\"b\",\"source\":\"nobody\"}\n"
                    "{\"prompt\":\"a\",\"completion\":\"b\",\"source\":\"pub\"}\n";
    train_sft_opts o = opts(64);
    o.manifest = m;
    o.default_source = "pub";
    train_sft_set s;
    load_ok(t, &o, &s);
    assert_int_equal(s.n_rows, 2);
    assert_int_equal(s.n_rejected, 2);
    assert_int_equal(data_manifest_accepted(m), 2);
    assert_int_equal(data_manifest_rejected(m, "restricted"), 1);
    assert_int_equal(data_manifest_rejected(m, "unknown_source"), 1);
    assert_int_equal(data_manifest_source_examples(m, "pub"), 2);
    train_sft_set_deinit(&s);
    data_manifest_destroy(m);
    data_db_close(db);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_mask),   cmocka_unit_test(test_completions_equal_chat),
        cmocka_unit_test(test_text),        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_bad_lines),   cmocka_unit_test(test_packing),
        cmocka_unit_test(test_governance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
