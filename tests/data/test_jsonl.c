/* JSONL readers: every format read and auto-detected, sources, CRLF/BOM/blank lines, lines
 * spanning read chunks, and a malformed-input suite (bad JSON, missing field, wrong type,
 * empty content, invalid UTF-8, too long, unknown format) under both policies, checking
 * file:line and the field name in each message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonl.h"
#include "rw_test.h"

static const char *write_tmp(const char *name, const char *content, size_t len) {
    static char path[8][512];
    static int k;
    char *p = path[k++ % 8];
    snprintf(p, 512, "%s/%s", rw_test_tmpdir(), name);
    assert_int_equal(rw_test_write_file(p, content, len), 0);
    return p;
}

static void test_formats(void **state) {
    (void)state;
    struct {
        const char *text;
        data_jsonl_format want;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\","
         "\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]}\n",
         DATA_JSONL_CHAT},
        {"{\"prompt\":\"2+2=\",\"completion\":\"4\"}\n", DATA_JSONL_COMPLETIONS},
        {"{\"text\":\"plain text\"}\n", DATA_JSONL_TEXT},
        {"{\"anchor\":\"q\",\"positive\":\"p\"}\n", DATA_JSONL_PAIRS},
        {"{\"anchor\":\"q\",\"positive\":\"p\",\"negative\":\"n\"}\n", DATA_JSONL_TRIPLETS},
        {"{\"query\":\"q\",\"output\":\"lex: a\\nvec: b\"}\n", DATA_JSONL_QUERY_EXPANSION},
        {"{\"query\":\"q\",\"document\":\"d\",\"label\":true}\n", DATA_JSONL_CRITIC},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *path = write_tmp("f.jsonl", cases[i].text, strlen(cases[i].text));
        data_jsonl_reader *r = NULL;
        rw_err err;
        data_jsonl_options opt = {.default_source = "dflt"};
        assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
        data_example ex;
        bool got = false;
        assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
        assert_true(got);
        assert_int_equal(ex.format, cases[i].want);
        assert_int_equal(data_jsonl_format_of(r), cases[i].want);
        assert_int_equal(ex.line, 1);
        assert_string_equal(ex.source, "dflt");
        switch (cases[i].want) {
        case DATA_JSONL_CHAT:
            assert_int_equal(ex.n_messages, 3);
            assert_string_equal(ex.messages[0].role, "system");
            assert_string_equal(ex.messages[2].content, "hello");
            break;
        case DATA_JSONL_COMPLETIONS:
            assert_string_equal(ex.prompt, "2+2=");
            assert_string_equal(ex.completion, "4");
            break;
        case DATA_JSONL_TEXT: assert_string_equal(ex.text, "plain text"); break;
        case DATA_JSONL_PAIRS:
            assert_string_equal(ex.anchor, "q");
            assert_null(ex.negative);
            break;
        case DATA_JSONL_TRIPLETS: assert_string_equal(ex.negative, "n"); break;
        case DATA_JSONL_QUERY_EXPANSION: assert_string_equal(ex.output, "lex: a\nvec: b"); break;
        case DATA_JSONL_CRITIC:
            assert_string_equal(ex.document, "d");
            assert_int_equal(ex.label, 1);
            break;
        default: fail();
        }
        assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
        assert_false(got);
        data_jsonl_close(r);
    }
}

static void test_layout_and_sources(void **state) {
    (void)state;
    /* BOM, CRLF, blank and whitespace lines, unicode escapes and a per-line source. */
    const char text[] = "\xEF\xBB\xBF{\"text\":\"caf\\u00e9\",\"source\":\"wiki\"}\r\n"
                        "\n   \r\n"
                        "{\"text\":\"\xE2\x82\xAC 5\",\"extra\":[1,2]}\n"
                        "{\"text\":\"last, no newline\"}";
    const char *path = write_tmp("layout.jsonl", text, sizeof text - 1);
    data_jsonl_reader *r = NULL;
    rw_err err;
    data_jsonl_options opt = {.format = DATA_JSONL_AUTO, .policy = DATA_JSONL_FATAL};
    assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
    data_example ex;
    bool got;
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_true(got);
    assert_string_equal(ex.text, "caf\xC3\xA9");
    assert_string_equal(ex.source, "wiki");
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_int_equal(ex.line, 4);
    assert_string_equal(ex.text, "\xE2\x82\xAC 5");
    assert_null(ex.source);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_true(got);
    assert_int_equal(ex.line, 5);
    assert_string_equal(ex.text, "last, no newline");
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_false(got);
    assert_int_equal(data_jsonl_n_read(r), 3);
    data_jsonl_close(r);
    /* Empty file. */
    path = write_tmp("empty.jsonl", "", 0);
    assert_int_equal(data_jsonl_open(path, NULL, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_false(got);
    data_jsonl_close(r);
    assert_int_equal(data_jsonl_open("/nonexistent/x.jsonl", NULL, &r, &err), RW_E_IO);
}

/* A 300 KB line spans several 64 KiB chunks; a line above max_line_bytes is reported and
 * the following line still reads. */
static void test_long_lines(void **state) {
    (void)state;
    size_t big = 300000;
    size_t cap = big + 256;
    char *buf = malloc(cap);
    size_t n = 0;
    n += (size_t)sprintf(buf + n, "{\"text\":\"");
    for (size_t i = 0; i < big; i++) buf[n++] = (char)('a' + i % 26);
    n += (size_t)sprintf(buf + n, "\"}\n{\"text\":\"after\"}\n");
    const char *path = write_tmp("long.jsonl", buf, n);
    data_jsonl_reader *r = NULL;
    rw_err err;
    data_example ex;
    bool got;
    assert_int_equal(data_jsonl_open(path, NULL, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_int_equal(strlen(ex.text), big);
    assert_int_equal(ex.text[big - 1], 'a' + (big - 1) % 26);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_string_equal(ex.text, "after");
    data_jsonl_close(r);
    data_jsonl_options opt = {.policy = DATA_JSONL_SKIP, .max_line_bytes = 1000};
    assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_true(got);
    assert_string_equal(ex.text, "after");
    assert_int_equal(ex.line, 2);
    assert_int_equal(data_jsonl_n_skipped_kind(r, DATA_JSONL_E_TOO_LONG), 1);
    assert_non_null(strstr(data_jsonl_skip_message(r, 0), "long.jsonl:1:"));
    data_jsonl_close(r);
    /* The memory reader applies the same cap. */
    assert_int_equal(data_jsonl_open_mem(buf, n, "mem", &opt, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_string_equal(ex.text, "after");
    data_jsonl_close(r);
    free(buf);
}

/* The cap is inclusive: a line of exactly max_line_bytes bytes reads, one byte more is
 * too long; the same from memory, from a file and across 64 KiB read chunks. */
static void test_line_cap_boundary(void **state) {
    (void)state;
    const size_t lens[] = {40, 70000};
    for (size_t k = 0; k < 2; k++) {
        size_t L = lens[k];
        char *buf = malloc(L + 2);
        memcpy(buf, "{\"text\":\"", 9);
        memset(buf + 9, 'x', L - 11);
        memcpy(buf + L - 2, "\"}\n", 3); /* L bytes, then the newline */
        const char *path = write_tmp("cap.jsonl", buf, L + 1);
        for (int mem = 0; mem < 2; mem++)
            for (size_t cap = L - 1; cap <= L; cap++) {
                data_jsonl_options opt = {.policy = DATA_JSONL_SKIP, .max_line_bytes = cap};
                data_jsonl_reader *r = NULL;
                rw_err err;
                if (mem)
                    assert_int_equal(data_jsonl_open_mem(buf, L + 1, "cap", &opt, &r, &err), RW_OK);
                else
                    assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
                data_example ex;
                bool got = false;
                assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
                if (cap == L) {
                    assert_true(got);
                    assert_int_equal(strlen(ex.text), L - 11);
                } else {
                    assert_false(got);
                    assert_int_equal(data_jsonl_n_skipped_kind(r, DATA_JSONL_E_TOO_LONG), 1);
                }
                data_jsonl_close(r);
            }
        free(buf);
    }
}

/* A "tool" message is a chat role; a byte-order mark is allowed only at the start of the
 * file (on line 2 it is not JSON). */
static void test_tool_role_and_late_bom(void **state) {
    (void)state;
    const char chat[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"t?\"},"
                        "{\"role\":\"tool\",\"content\":\"42\"},"
                        "{\"role\":\"assistant\",\"content\":\"42\"}]}\n";
    data_jsonl_reader *r = NULL;
    rw_err err;
    data_example ex;
    bool got = false;
    assert_int_equal(data_jsonl_open_mem(chat, sizeof chat - 1, "c", NULL, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_true(got);
    assert_int_equal(ex.n_messages, 3);
    assert_string_equal(ex.messages[1].role, "tool");
    data_jsonl_close(r);
    const char bom[] = "\xEF\xBB\xBF{\"text\":\"a\"}\n\xEF\xBB\xBF{\"text\":\"b\"}\n";
    assert_int_equal(data_jsonl_open_mem(bom, sizeof bom - 1, "b.jsonl", NULL, &r, &err), RW_OK);
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
    assert_string_equal(ex.text, "a");
    assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_E_FORMAT);
    assert_non_null(strstr(err.msg, "b.jsonl:2:"));
    data_jsonl_close(r);
}

typedef struct bad_case {
    const char *line;         /* the second line of the file; line 1 is good */
    data_jsonl_format format; /* forced format, AUTO = detect from line 1 */
    data_jsonl_error kind;
    const char *needle;       /* must appear in the message (field name) */
} bad_case;

static const bad_case bad_cases[] = {
    {"{\"text\":\"unterminated}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_JSON, "bad JSON"},
    {"{\"text\":\"a\",}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_JSON, "column"},
    {"{\"text\":\"a\",\"text\":\"b\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_JSON, "duplicate"},
    {"[\"text\"]", DATA_JSONL_AUTO, DATA_JSONL_E_WRONG_TYPE, "JSON object"},
    {"42", DATA_JSONL_AUTO, DATA_JSONL_E_WRONG_TYPE, "JSON object"},
    {"{\"txt\":\"a\"}", DATA_JSONL_AUTO, DATA_JSONL_E_MISSING_FIELD, "'text'"},
    {"{\"text\":5}", DATA_JSONL_AUTO, DATA_JSONL_E_WRONG_TYPE, "'text'"},
    {"{\"text\":null}", DATA_JSONL_AUTO, DATA_JSONL_E_WRONG_TYPE, "'text'"},
    {"{\"text\":\"\"}", DATA_JSONL_AUTO, DATA_JSONL_E_EMPTY, "'text'"},
    {"{\"text\":\"  \\n \"}", DATA_JSONL_AUTO, DATA_JSONL_E_EMPTY, "'text'"},
    {"{\"text\":\"a\\u0000b\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_JSON, "bad JSON"},
    {"{\"text\":\"\xC3\x28\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_UTF8, "byte 9"},
    {"{\"text\":\"\xC0\xAF\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_UTF8, "UTF-8"},     /* overlong */
    {"{\"text\":\"\xED\xA0\x80\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_UTF8, "UTF-8"}, /* surrogate */
    {"{\"text\":\"\xF4\x90\x80\x80\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_UTF8, "UTF-8"},
    {"{\"text\":\"\xE2\x82\"}", DATA_JSONL_AUTO, DATA_JSONL_E_BAD_UTF8, "UTF-8"}, /* truncated */
    {"{\"text\":\"ok\",\"source\":7}", DATA_JSONL_AUTO, DATA_JSONL_E_WRONG_TYPE, "'source'"},
    {"{\"text\":\"ok\",\"source\":\"\"}", DATA_JSONL_AUTO, DATA_JSONL_E_EMPTY, "'source'"},
    {"{\"messages\":[]}", DATA_JSONL_CHAT, DATA_JSONL_E_EMPTY, "'messages'"},
    {"{\"messages\":{}}", DATA_JSONL_CHAT, DATA_JSONL_E_WRONG_TYPE, "'messages'"},
    {"{\"messages\":[\"hi\"]}", DATA_JSONL_CHAT, DATA_JSONL_E_WRONG_TYPE, "'messages[0]'"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]}", DATA_JSONL_CHAT,
     DATA_JSONL_E_MISSING_FIELD, "'messages[1].role'"},
    {"{\"messages\":[{\"role\":\"robot\",\"content\":\"b\"}]}", DATA_JSONL_CHAT,
     DATA_JSONL_E_BAD_VALUE, "'messages[0].role'"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":\"\"}]}", DATA_JSONL_CHAT, DATA_JSONL_E_EMPTY,
     "'messages[0].content'"},
    {"{\"messages\":[{\"role\":\"user\",\"content\":[1]}]}", DATA_JSONL_CHAT,
     DATA_JSONL_E_WRONG_TYPE, "'messages[0].content'"},
    {"{\"prompt\":\"a\"}", DATA_JSONL_COMPLETIONS, DATA_JSONL_E_MISSING_FIELD, "'completion'"},
    {"{\"anchor\":\"a\",\"positive\":\"\"}", DATA_JSONL_PAIRS, DATA_JSONL_E_EMPTY, "'positive'"},
    {"{\"anchor\":\"a\",\"positive\":\"p\"}", DATA_JSONL_TRIPLETS, DATA_JSONL_E_MISSING_FIELD,
     "'negative'"},
    {"{\"query\":\"a\",\"output\":true}", DATA_JSONL_QUERY_EXPANSION, DATA_JSONL_E_WRONG_TYPE,
     "'output'"},
    {"{\"query\":\"a\",\"document\":\"d\",\"label\":2}", DATA_JSONL_CRITIC, DATA_JSONL_E_BAD_VALUE,
     "'label'"},
    {"{\"query\":\"a\",\"document\":\"d\",\"label\":\"1\"}", DATA_JSONL_CRITIC,
     DATA_JSONL_E_WRONG_TYPE, "'label'"},
};

static const char *good_line(data_jsonl_format f) {
    switch (f) {
    case DATA_JSONL_CHAT: return "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    case DATA_JSONL_COMPLETIONS: return "{\"prompt\":\"p\",\"completion\":\"c\"}";
    case DATA_JSONL_PAIRS: return "{\"anchor\":\"a\",\"positive\":\"p\"}";
    case DATA_JSONL_TRIPLETS: return "{\"anchor\":\"a\",\"positive\":\"p\",\"negative\":\"n\"}";
    case DATA_JSONL_QUERY_EXPANSION: return "{\"query\":\"q\",\"output\":\"o\"}";
    case DATA_JSONL_CRITIC: return "{\"query\":\"q\",\"document\":\"d\",\"label\":0}";
    default: return "{\"text\":\"good\"}";
    }
}

static void test_malformed_fatal(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        char buf[512];
        int n = snprintf(buf, sizeof buf, "%s\n%s\n%s\n", good_line(c->format), c->line,
                         good_line(c->format));
        const char *path = write_tmp("bad.jsonl", buf, (size_t)n);
        data_jsonl_reader *r = NULL;
        rw_err err;
        data_jsonl_options opt = {.format = c->format, .policy = DATA_JSONL_FATAL};
        assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
        data_example ex;
        bool got;
        assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
        assert_true(got);
        rw_status s = data_jsonl_next(r, &ex, &got, &err);
        if (s != RW_E_FORMAT) fail_msg("case %zu (%s): status %d", i, c->line, s);
        if (!strstr(err.msg, "bad.jsonl:2:") || !strstr(err.msg, c->needle))
            fail_msg("case %zu: message '%s' lacks 'bad.jsonl:2:' or '%s'", i, err.msg, c->needle);
        /* Reading resumes at the next line. */
        assert_int_equal(data_jsonl_next(r, &ex, &got, &err), RW_OK);
        assert_true(got);
        assert_int_equal(ex.line, 3);
        data_jsonl_close(r);
        /* The same file under SKIP: one skip of the expected kind, two examples. */
        opt.policy = DATA_JSONL_SKIP;
        assert_int_equal(data_jsonl_open(path, &opt, &r, &err), RW_OK);
        size_t nread = 0;
        while (data_jsonl_next(r, &ex, &got, &err) == RW_OK && got) nread++;
        assert_int_equal(nread, 2);
        assert_int_equal(data_jsonl_n_skipped(r), 1);
        if (data_jsonl_n_skipped_kind(r, c->kind) != 1)
            fail_msg("case %zu: expected kind %s; message: %s", i, data_jsonl_error_name(c->kind),
                     data_jsonl_skip_message(r, 0));
        data_jsonl_close(r);
    }
}

static void test_detection_and_skip_report(void **state) {
    (void)state;
    /* Bad first lines under SKIP: detection happens on the first good object. */
    const char text[] = "not json\n"
                        "{\"foo\":1,\"bar\":2}\n"
                        "{\"anchor\":\"a\",\"positive\":\"p\"}\n"
                        "{\"text\":\"wrong format for this file\"}\n"
                        "{\"anchor\":\"b\",\"positive\":\"q\",\"negative\":\"ignored in pairs\"}\n";
    data_jsonl_reader *r = NULL;
    rw_err err;
    data_jsonl_options opt = {.policy = DATA_JSONL_SKIP};
    assert_int_equal(data_jsonl_open_mem(text, sizeof text - 1, "mix.jsonl", &opt, &r, &err), RW_OK);
    data_example ex;
    bool got;
    size_t n = 0;
    while (data_jsonl_next(r, &ex, &got, &err) == RW_OK && got) {
        assert_int_equal(ex.format, DATA_JSONL_PAIRS);
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(data_jsonl_n_skipped(r), 3);
    assert_int_equal(data_jsonl_n_skipped_kind(r, DATA_JSONL_E_BAD_JSON), 1);
    assert_int_equal(data_jsonl_n_skipped_kind(r, DATA_JSONL_E_UNKNOWN_FORMAT), 1);
    assert_int_equal(data_jsonl_n_skipped_kind(r, DATA_JSONL_E_MISSING_FIELD), 1);
    assert_non_null(strstr(data_jsonl_skip_message(r, 1), "mix.jsonl:2:"));
    assert_non_null(strstr(data_jsonl_skip_message(r, 1), "foo"));
    assert_non_null(strstr(data_jsonl_skip_message(r, 2), "'anchor'"));
    assert_null(data_jsonl_skip_message(r, 3));
    data_jsonl_close(r);
    data_jsonl_format f;
    assert_true(data_jsonl_format_parse("query-expansion", &f));
    assert_int_equal(f, DATA_JSONL_QUERY_EXPANSION);
    assert_false(data_jsonl_format_parse("Chat", &f));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_formats),         cmocka_unit_test(test_layout_and_sources),
        cmocka_unit_test(test_long_lines),      cmocka_unit_test(test_malformed_fatal),
        cmocka_unit_test(test_detection_and_skip_report),
        cmocka_unit_test(test_line_cap_boundary), cmocka_unit_test(test_tool_role_and_late_bom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
