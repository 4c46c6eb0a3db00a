/* data/toml: strict recipe TOML parser.
 *
 * References are independent of the code under test: hand-worked documents whose values are
 * written here as C literals (the C compiler parses the numbers), hand-written canonical
 * dumps, a tree-equality function local to this file, and a malformed-input table where each
 * case names the expected code and the line:col worked out by hand from the TOML 1.0 spec. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"
#include "data/toml.h"
#include "rw_test.h"

static data_toml_doc *parse_ok(const char *text) {
    rw_err err;
    rw_err_clear(&err);
    data_toml_doc *doc = NULL;
    rw_status st = data_toml_parse(text, strlen(text), "t.toml", &doc, &err);
    if (st != RW_OK) fail_msg("unexpected parse failure: %s\n--- input ---\n%s", err.msg, text);
    return doc;
}

static const data_toml_node *get(const data_toml_doc *d, const char *path) {
    const data_toml_node *n = data_toml_find(data_toml_root(d), path);
    if (!n) fail_msg("missing %s", path);
    return n;
}

static void expect_str(const data_toml_doc *d, const char *path, const char *want) {
    const data_toml_node *n = get(d, path);
    assert_int_equal(data_toml_node_kind(n), DATA_TOML_STRING);
    assert_string_equal(data_toml_as_str(n), want);
}

static void expect_int(const data_toml_doc *d, const char *path, int64_t want) {
    const data_toml_node *n = get(d, path);
    assert_int_equal(data_toml_node_kind(n), DATA_TOML_INT);
    assert_true(data_toml_as_i64(n) == want);
}

static void expect_float(const data_toml_doc *d, const char *path, double want) {
    const data_toml_node *n = get(d, path);
    assert_int_equal(data_toml_node_kind(n), DATA_TOML_FLOAT);
    double v = data_toml_as_f64(n);
    if (isnan(want)) {
        assert_true(isnan(v));
    } else {
        assert_true(memcmp(&v, &want, sizeof v) == 0); /* bit-exact, so -0.0 is checked too */
    }
}

static void expect_bool(const data_toml_doc *d, const char *path, bool want) {
    const data_toml_node *n = get(d, path);
    assert_int_equal(data_toml_node_kind(n), DATA_TOML_BOOL);
    assert_int_equal(data_toml_as_bool(n), want);
}

static void expect_pos(const data_toml_doc *d, const char *path, uint32_t line, uint32_t col) {
    const data_toml_node *n = get(d, path);
    assert_int_equal(data_toml_node_line(n), line);
    assert_int_equal(data_toml_node_col(n), col);
}

/* ---- Valid documents ----------------------------------------------------------------- */

static void test_recipe(void **state) {
    (void)state;
    const char *text = "# weekend recipe\n"
                       "name = \"weekend\" # trailing comment\n"
                       "\n"
                       "[model]\n"
                       "base = 'models/q.gguf'\n"
                       "ctx = 2_048\n"
                       "[train]\n"
                       "  lr = 3e-4\n"
                       "epochs = 2\n"
                       "bf16 = true\n"
                       "warmup = 0.03\n"
                       "[[job]]\n"
                       "name = \"embed\"\n"
                       "data = { path = \"pairs.jsonl\", split.train = 0.9 }\n"
                       "[[job]]\n"
                       "name = \"critic\"\n"
                       "data.path = \"critic.jsonl\"\n"
                       "[job.schedule]\n"
                       "days = [\"sat\", \"sun\",]\n";
    data_toml_doc *d = parse_ok(text);
    const data_toml_node *root = data_toml_root(d);
    expect_str(d, "name", "weekend");
    expect_str(d, "model.base", "models/q.gguf");
    expect_int(d, "model.ctx", 2048);
    expect_float(d, "train.lr", 3e-4);
    expect_int(d, "train.epochs", 2);
    expect_bool(d, "train.bf16", true);
    expect_float(d, "train.warmup", 0.03);
    expect_pos(d, "train.lr", 8, 3);
    expect_pos(d, "train", 7, 1);
    /* File order of the root keys. */
    assert_int_equal(data_toml_len(root), 4);
    assert_string_equal(data_toml_key_at(root, 0), "name");
    assert_string_equal(data_toml_key_at(root, 1), "model");
    assert_string_equal(data_toml_key_at(root, 2), "train");
    assert_string_equal(data_toml_key_at(root, 3), "job");
    const data_toml_node *jobs = get(d, "job");
    assert_int_equal(data_toml_node_kind(jobs), DATA_TOML_ARRAY);
    assert_int_equal(data_toml_len(jobs), 2);
    const data_toml_node *j0 = data_toml_at(jobs, 0), *j1 = data_toml_at(jobs, 1);
    const char *s;
    double f;
    rw_err err;
    assert_int_equal(data_toml_get_str(j0, "name", &s, &err), RW_OK);
    assert_string_equal(s, "embed");
    assert_int_equal(data_toml_get_str(j0, "data.path", &s, &err), RW_OK);
    assert_string_equal(s, "pairs.jsonl");
    assert_int_equal(data_toml_get_f64(j0, "data.split.train", &f, &err), RW_OK);
    assert_true(f == 0.9);
    assert_int_equal(data_toml_get_str(j1, "data.path", &s, &err), RW_OK);
    assert_string_equal(s, "critic.jsonl");
    const data_toml_node *days;
    assert_int_equal(data_toml_get_array(j1, "schedule.days", &days, &err), RW_OK);
    assert_int_equal(data_toml_len(days), 2);
    assert_string_equal(data_toml_as_str(data_toml_at(days, 1)), "sun");
    char path[64];
    assert_string_equal(data_toml_node_path(data_toml_at(days, 1), path, sizeof path),
                        "job[1].schedule.days[1]");
    data_toml_free(d);
}

static void test_strings(void **state) {
    (void)state;
    const char *text = "a = \"tab\\there \\u00e9 \\U0001F600 \\\"q\\\" \\\\ \\b\\f\\r\\n\"\n"
                       "b = 'C:\\path\\no escapes'\n"
                       "c = \"\"\"\nline1\nline2 \\\n    continued \\\n\n   end\"\"\"\n"
                       "d = '''\nraw \\n ''two'' '''\n"
                       "e = \"\"\"\"\"quoted\"\"\"\"\"\n"
                       "f = ''''one'''' \n"
                       "g = \"\"\n"
                       "h = \"\"\"a\r\nb\"\"\"\n"
                       "\"quoted key\" = 1\n"
                       "'lit.key' = 2\n"
                       "\"\" = 3\n"
                       "utf8 = \"h\xc3\xa9llo \xe2\x82\xac\"\n";
    data_toml_doc *d = parse_ok(text);
    expect_str(d, "a", "tab\there \xc3\xa9 \xf0\x9f\x98\x80 \"q\" \\ \b\f\r\n");
    expect_str(d, "b", "C:\\path\\no escapes");
    expect_str(d, "c", "line1\nline2 continued end");
    expect_str(d, "d", "raw \\n ''two'' ");
    expect_str(d, "e", "\"\"quoted\"\"");
    expect_str(d, "f", "'one'");
    expect_str(d, "g", "");
    expect_str(d, "h", "a\nb"); /* CRLF normalised */
    expect_str(d, "utf8", "h\xc3\xa9llo \xe2\x82\xac");
    const data_toml_node *root = data_toml_root(d);
    assert_string_equal(data_toml_key_at(root, 8), "quoted key");
    assert_string_equal(data_toml_key_at(root, 9), "lit.key");
    assert_string_equal(data_toml_key_at(root, 10), "");
    assert_int_equal(data_toml_as_i64(data_toml_at(root, 9)), 2);
    assert_null(data_toml_find(root, "lit.key")); /* path segments split at '.' */
    data_toml_free(d);
}

static void test_numbers(void **state) {
    (void)state;
    const char *text = "i1 = +99\ni2 = 42\ni3 = 0\ni4 = -17\ni5 = 1_000_000\n"
                       "i6 = 0xDEAD_beef\ni7 = 0o755\ni8 = 0b1101_0110\ni9 = -0\ni10 = +0\n"
                       "max = 9223372036854775807\nmin = -9223372036854775808\n"
                       "hmax = 0x7FFFFFFFFFFFFFFF\n"
                       "f1 = +1.0\nf2 = 3.1415\nf3 = -0.01\nf4 = 5e+22\nf5 = 1e06\nf6 = -2E-2\n"
                       "f7 = 6.626e-34\nf8 = 224_617.445_991_228\nf9 = -0.0\nf10 = +0.0\n"
                       "f11 = inf\nf12 = +inf\nf13 = -inf\nf14 = nan\nf15 = -nan\n"
                       "f16 = 1e1_0\nf17 = 0e0\nf18 = 4.9e-324\nf19 = 1.7976931348623157e308\n"
                       "t = true\nf = false\n";
    data_toml_doc *d = parse_ok(text);
    expect_int(d, "i1", 99);
    expect_int(d, "i2", 42);
    expect_int(d, "i3", 0);
    expect_int(d, "i4", -17);
    expect_int(d, "i5", 1000000);
    expect_int(d, "i6", 0xDEADBEEF);
    expect_int(d, "i7", 0755);
    expect_int(d, "i8", 0xD6);
    expect_int(d, "i9", 0);
    expect_int(d, "i10", 0);
    expect_int(d, "max", INT64_MAX);
    expect_int(d, "min", INT64_MIN);
    expect_int(d, "hmax", INT64_MAX);
    expect_float(d, "f1", 1.0);
    expect_float(d, "f2", 3.1415);
    expect_float(d, "f3", -0.01);
    expect_float(d, "f4", 5e22);
    expect_float(d, "f5", 1e6);
    expect_float(d, "f6", -2e-2);
    expect_float(d, "f7", 6.626e-34);
    expect_float(d, "f8", 224617.445991228);
    expect_float(d, "f9", -0.0);
    expect_float(d, "f10", 0.0);
    expect_float(d, "f11", (double)INFINITY);
    expect_float(d, "f12", (double)INFINITY);
    expect_float(d, "f13", -(double)INFINITY);
    expect_float(d, "f14", (double)NAN);
    expect_float(d, "f15", (double)NAN);
    expect_float(d, "f16", 1e10);
    expect_float(d, "f17", 0.0);
    expect_float(d, "f18", 4.9e-324);
    expect_float(d, "f19", 1.7976931348623157e308);
    expect_bool(d, "t", true);
    expect_bool(d, "f", false);
    data_toml_free(d);
}

static void test_tables_and_arrays(void **state) {
    (void)state;
    const char *text = "arr = [ [1, 2], [\"a\", 'b'], [[{x = 1}]], { y = { z = [] } } ]\n"
                       "multi = [\n  1, # one\n  2\n  , 3, # three\n]\n"
                       "empty = []\nempty_t = {}\n"
                       "t = { a.b = 1, a.c = { d = true } }\n"
                       "fruit.apple.color = \"red\"\n"
                       "fruit.apple.taste.sweet = true\n"
                       "[a.b.c]\nv = 1\n"
                       "[a]\nw = 2\nb.extra = 3\n"
                       "[[a.list]]\n[[a.list]]\nq = \"x\"\n[a.list.sub]\nr = 3\n"
                       "[ sp . \"q k\" . 'l' ]\nk = 0\n"
                       "[fruit.apple.texture]\nsmooth = true\n";
    data_toml_doc *d = parse_ok(text);
    const data_toml_node *arr = get(d, "arr");
    assert_int_equal(data_toml_len(arr), 4);
    const data_toml_node *a0 = data_toml_at(arr, 0);
    assert_int_equal(data_toml_as_i64(data_toml_at(a0, 1)), 2);
    assert_string_equal(data_toml_as_str(data_toml_at(data_toml_at(arr, 1), 1)), "b");
    const data_toml_node *a2 = data_toml_at(data_toml_at(arr, 2), 0);
    assert_int_equal(data_toml_node_kind(a2), DATA_TOML_ARRAY);
    assert_int_equal(data_toml_as_i64(data_toml_find(data_toml_at(a2, 0), "x")), 1);
    const data_toml_node *z = data_toml_find(data_toml_at(arr, 3), "y.z");
    assert_non_null(z);
    assert_int_equal(data_toml_node_kind(z), DATA_TOML_ARRAY);
    assert_int_equal(data_toml_len(z), 0);
    const data_toml_node *multi = get(d, "multi");
    assert_int_equal(data_toml_len(multi), 3);
    assert_int_equal(data_toml_as_i64(data_toml_at(multi, 2)), 3);
    assert_int_equal(data_toml_node_line(data_toml_at(multi, 2)), 5);
    assert_int_equal(data_toml_node_col(data_toml_at(multi, 2)), 5);
    assert_int_equal(data_toml_len(get(d, "empty")), 0);
    assert_int_equal(data_toml_node_kind(get(d, "empty_t")), DATA_TOML_TABLE);
    expect_int(d, "t.a.b", 1);
    expect_bool(d, "t.a.c.d", true);
    expect_str(d, "fruit.apple.color", "red");
    expect_bool(d, "fruit.apple.taste.sweet", true);
    expect_bool(d, "fruit.apple.texture.smooth", true);
    expect_int(d, "a.b.c.v", 1);
    expect_int(d, "a.w", 2);
    expect_int(d, "a.b.extra", 3);
    const data_toml_node *list = get(d, "a.list");
    assert_int_equal(data_toml_len(list), 2);
    assert_int_equal(data_toml_len(data_toml_at(list, 0)), 0);
    rw_err err;
    int64_t r;
    assert_int_equal(data_toml_get_i64(data_toml_at(list, 1), "sub.r", &r, &err), RW_OK);
    assert_int_equal(r, 3);
    expect_int(d, "sp.q k.l.k", 0);
    /* Position of [a]: the implicit table takes its own header's position. */
    expect_pos(d, "a", 14, 1);
    expect_pos(d, "a.b.c", 12, 1);
    data_toml_free(d);
}

/* ---- Malformed input ----------------------------------------------------------------- */

typedef struct bad_case {
    const char *text;
    rw_status code;
    const char *where;  /* expected "t.toml:L:C: " prefix */
    const char *needle; /* substring of the message, or NULL */
} bad_case;

static const bad_case BAD[] = {
    {"a = 1\nlr 3\n", RW_E_FORMAT, "t.toml:2:4: ", "expected '=' after key 'lr'"},
    {"a = 1 b = 2\n", RW_E_FORMAT, "t.toml:1:7: ", "after value of key 'a'"},
    {"a = 1\na = 2\n", RW_E_FORMAT,
     "t.toml:2:1: ", "duplicate key 'a' (first defined at t.toml:1:1)"},
    {"[t]\n[t]\n", RW_E_FORMAT, "t.toml:2:1: ", "table [t] already defined"},
    {"a.b = 1\n[a]\n", RW_E_FORMAT, "t.toml:2:1: ", "by dotted keys"},
    {"[a]\nb.c = 1\n[a.b]\n", RW_E_FORMAT, "t.toml:3:1: ", "by dotted keys"},
    {"a = {x = 1}\na.y = 2\n", RW_E_FORMAT, "t.toml:2:1: ", "inline table 'a'"},
    {"a = {x = 1}\n[a.z]\n", RW_E_FORMAT, "t.toml:2:2: ", "inline"},
    {"a = [1]\n[[a]]\n", RW_E_FORMAT, "t.toml:2:1: ", "not an array of tables"},
    {"[[a]]\n[a]\n", RW_E_FORMAT, "t.toml:2:1: ", "array of tables"},
    {"a = 1\na.b = 2\n", RW_E_FORMAT, "t.toml:2:1: ", "already a integer"},
    {"[a.b.c]\n[a]\nb.c.d = 1\n", RW_E_FORMAT, "t.toml:3:3: ", "defined by a [header]"},
    {"x = \"abc\n", RW_E_FORMAT, "t.toml:1:9: ", "newline in a single-line string"},
    {"x = \"abc", RW_E_FORMAT, "t.toml:1:5: ", "unterminated string"},
    {"x = '''abc''\n", RW_E_FORMAT, "t.toml:1:5: ", "unterminated"},
    {"x = \"\\q\"\n", RW_E_FORMAT, "t.toml:1:6: ", "invalid escape"},
    {"x = \"\\u12G4\"\n", RW_E_FORMAT, "t.toml:1:6: ", "hex digits"},
    {"x = \"\\uD800\"\n", RW_E_FORMAT, "t.toml:1:6: ", "surrogate"},
    {"x = \"\\uDFFF\"\n", RW_E_FORMAT, "t.toml:1:6: ", "surrogate"},
    {"x = \"\\U0000DC00\"\n", RW_E_FORMAT, "t.toml:1:6: ", "surrogate"},
    {"x = \"\\U00110000\"\n", RW_E_FORMAT, "t.toml:1:6: ", "beyond U+10FFFF"},
    {"x = \"\\u0000\"\n", RW_E_FORMAT, "t.toml:1:6: ", "U+0000"},
    {"x = \"\"\"a \\ b\"\"\"\n", RW_E_FORMAT, "t.toml:1:10: ", "invalid escape"},
    {"x = \"a\x01\"\n", RW_E_FORMAT, "t.toml:1:7: ", "control character U+0001"},
    {"x = 1 # bad \x7f\n", RW_E_FORMAT, "t.toml:1:13: ", "control character U+007F in comment"},
    {"x = 'a\rb'\n", RW_E_FORMAT, "t.toml:1:7: ", "control character U+000D"},
    {"x = 1.\n", RW_E_FORMAT, "t.toml:1:5: ", "a digit must follow '.'"},
    {"x = .5\n", RW_E_FORMAT, "t.toml:1:5: ", "expected a value for key 'x'"},
    {"x = 1e\n", RW_E_FORMAT, "t.toml:1:5: ", "exponent"},
    {"x = 1__0\n", RW_E_FORMAT, "t.toml:1:5: ", "invalid number"},
    {"x = _1\n", RW_E_FORMAT, "t.toml:1:5: ", "expected a value"},
    {"x = 1_\n", RW_E_FORMAT, "t.toml:1:5: ", "invalid number"},
    {"x = 012\n", RW_E_FORMAT, "t.toml:1:5: ", "leading zero"},
    {"x = +0x10\n", RW_E_FORMAT, "t.toml:1:5: ", "sign not allowed"},
    {"x = 0xG\n", RW_E_FORMAT, "t.toml:1:5: ", "invalid integer"},
    {"x = 0b102\n", RW_E_FORMAT, "t.toml:1:5: ", "invalid integer"},
    {"x = 9223372036854775808\n", RW_E_RANGE, "t.toml:1:5: ", "overflows int64"},
    {"x = -9223372036854775809\n", RW_E_RANGE, "t.toml:1:5: ", "overflows int64"},
    {"x = 0x8000000000000000\n", RW_E_RANGE, "t.toml:1:5: ", "overflows int64"},
    {"x = 1e400\n", RW_E_RANGE, "t.toml:1:5: ", "out of range"},
    {"x = infinity\n", RW_E_FORMAT, "t.toml:1:5: ", "invalid number"},
    {"x = True\n", RW_E_FORMAT, "t.toml:1:5: ", "expected a value"},
    {"x = truex\n", RW_E_FORMAT, "t.toml:1:5: ", "expected a value"},
    {"d = 1979-05-27\n", RW_E_UNSUPPORTED, "t.toml:1:5: ", "not supported in recipes"},
    {"t = 07:32:00\n", RW_E_UNSUPPORTED, "t.toml:1:5: ", "not supported in recipes"},
    {"x = [1, 2\n", RW_E_FORMAT, "t.toml:2:1: ", "expected ',' or ']'"},
    {"x = [1 2]\n", RW_E_FORMAT, "t.toml:1:8: ", "expected ',' or ']'"},
    {"x = [,]\n", RW_E_FORMAT, "t.toml:1:6: ", "expected a value"},
    {"x = {a = 1,}\n", RW_E_FORMAT, "t.toml:1:12: ", "trailing comma"},
    {"x = {a = 1\n}\n", RW_E_FORMAT, "t.toml:1:11: ", "inline tables are one line"},
    {"x = {a = 1, a = 2}\n", RW_E_FORMAT, "t.toml:1:13: ", "duplicate key 'a'"},
    {"x =\n", RW_E_FORMAT, "t.toml:1:4: ", "found end of line"},
    {"= 1\n", RW_E_FORMAT, "t.toml:1:1: ", "expected a key"},
    {"a. = 1\n", RW_E_FORMAT, "t.toml:1:4: ", "expected a key"},
    {"[a\n", RW_E_FORMAT, "t.toml:1:3: ", "to close table header"},
    {"[[a]\n", RW_E_FORMAT, "t.toml:1:5: ", "']]'"},
    {"[a] x = 1\n", RW_E_FORMAT, "t.toml:1:5: ", "after table header"},
    {"[]\n", RW_E_FORMAT, "t.toml:1:2: ", "expected a key"},
    {"a = 1\n\xc3\x28 = 2\n", RW_E_FORMAT, "t.toml:2:1: ", "invalid UTF-8"},
    {"a = \"\xed\xa0\x80\"\n", RW_E_FORMAT, "t.toml:1:6: ", "invalid UTF-8"},
    {"a = \"\xc0\xaf\"\n", RW_E_FORMAT, "t.toml:1:6: ", "invalid UTF-8"},
    {"\xc3\xa9 = 1\n", RW_E_FORMAT, "t.toml:1:1: ", "expected a key"},
    {"a = \"\xc3\xa9\" \xc3\xa9\n", RW_E_FORMAT, "t.toml:1:9: ", "found '\xc3\xa9'"},
    {"a = 1\rb = 2\n", RW_E_FORMAT, "t.toml:1:6: ", "control character U+000D"},
    {"\"a\nb\" = 1\n", RW_E_FORMAT, "t.toml:1:3: ", "newline in a single-line string"},
    {"\"\"\"a\"\"\" = 1\n", RW_E_FORMAT, "t.toml:1:3: ", "expected '='"},
    {"x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]\n",
     RW_E_RANGE, "t.toml:1:133: ", "nesting deeper"},
};

static void test_malformed(void **state) {
    (void)state;
    size_t n = sizeof BAD / sizeof BAD[0];
    assert_true(n >= 40);
    for (size_t i = 0; i < n; i++) {
        rw_err err;
        rw_err_clear(&err);
        data_toml_doc *doc = (data_toml_doc *)0x1;
        rw_status st = data_toml_parse(BAD[i].text, strlen(BAD[i].text), "t.toml", &doc, &err);
        if (st != BAD[i].code || strncmp(err.msg, BAD[i].where, strlen(BAD[i].where)) != 0 ||
            (BAD[i].needle && !strstr(err.msg, BAD[i].needle)) || err.code != st)
            fail_msg("case %zu (%s): got %d '%s', want %d '%s...%s'", i, BAD[i].text, st, err.msg,
                     BAD[i].code, BAD[i].where, BAD[i].needle ? BAD[i].needle : "");
        assert_ptr_equal(doc, (data_toml_doc *)0x1); /* out-param untouched on failure */
    }
}

/* ---- Canonical dump and round trip --------------------------------------------------- */

/* Tree equality written independently of the dumper: same kinds, same values (bit-exact
 * floats, NaN equal to NaN), same keys in the same file order. */
static bool tree_equal(const data_toml_node *a, const data_toml_node *b, bool ordered) {
    if (data_toml_node_kind(a) != data_toml_node_kind(b)) return false;
    switch (data_toml_node_kind(a)) {
    case DATA_TOML_STRING:
        return strcmp(data_toml_as_str(a), data_toml_as_str(b)) == 0;
    case DATA_TOML_INT:
        return data_toml_as_i64(a) == data_toml_as_i64(b);
    case DATA_TOML_BOOL:
        return data_toml_as_bool(a) == data_toml_as_bool(b);
    case DATA_TOML_FLOAT: {
        double x = data_toml_as_f64(a), y = data_toml_as_f64(b);
        return (isnan(x) && isnan(y)) || memcmp(&x, &y, sizeof x) == 0;
    }
    case DATA_TOML_ARRAY:
        if (data_toml_len(a) != data_toml_len(b)) return false;
        for (size_t i = 0; i < data_toml_len(a); i++)
            if (!tree_equal(data_toml_at(a, i), data_toml_at(b, i), ordered)) return false;
        return true;
    case DATA_TOML_TABLE:
        if (data_toml_len(a) != data_toml_len(b)) return false;
        for (size_t i = 0; i < data_toml_len(a); i++) {
            const char *k = data_toml_key_at(a, i);
            const data_toml_node *bv = NULL;
            if (ordered) {
                if (strcmp(k, data_toml_key_at(b, i)) != 0) return false;
                bv = data_toml_at(b, i);
            } else {
                for (size_t j = 0; j < data_toml_len(b); j++)
                    if (strcmp(k, data_toml_key_at(b, j)) == 0) bv = data_toml_at(b, j);
            }
            if (!bv || !tree_equal(data_toml_at(a, i), bv, ordered)) return false;
        }
        return true;
    }
    return false;
}

static char *dump(const data_toml_doc *d) {
    char *s = NULL;
    size_t n = 0;
    rw_err err;
    assert_int_equal(data_toml_dump_str(d, &s, &n, &err), RW_OK);
    assert_int_equal(strlen(s), n);
    return s;
}

static void test_dump_canonical(void **state) {
    (void)state;
    const char *text = "z = 1\n"
                       "\"a b\" = 'x\"y'\n"
                       "f = [0.1, -0.0, 1e300, 2.5e-7, 3.0, -inf, nan]\n"
                       "[t]\nk = { b = 2, a = [1, {c = \"\\u0007\\t\"}] }\n"
                       "[[j]]\nn = 1\n[j.s]\nq = true\n[[j]]\n"
                       "[e]\n";
    const char *want = "\"a b\" = \"x\\\"y\"\n"
                       "f = [0.1, -0.0, 1e+300, 2.5e-07, 3.0, -inf, nan]\n"
                       "z = 1\n"
                       "\n[e]\n"
                       "\n[[j]]\nn = 1\n"
                       "\n[j.s]\nq = true\n"
                       "\n[[j]]\n"
                       "\n[t]\n"
                       "\n[t.k]\na = [1, { c = \"\\u0007\\t\" }]\nb = 2\n";
    data_toml_doc *d = parse_ok(text);
    char *s = dump(d);
    assert_string_equal(s, want);
    /* Reparse: same tree (keys reordered), same dump. */
    data_toml_doc *d2 = parse_ok(s);
    assert_true(tree_equal(data_toml_root(d), data_toml_root(d2), false));
    char *s2 = dump(d2);
    assert_string_equal(s, s2);
    /* Dump to a FILE gives the same bytes. */
    char path[512];
    snprintf(path, sizeof path, "%s/dump.toml", rw_test_tmpdir());
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    rw_err err;
    assert_int_equal(data_toml_dump(d, f, &err), RW_OK);
    fclose(f);
    size_t n;
    char *back = rw_test_read_file(path, &n);
    assert_non_null(back);
    assert_int_equal(n, strlen(s));
    assert_memory_equal(back, s, n);
    free(back);
    rw_free(s);
    rw_free(s2);
    data_toml_free(d);
    data_toml_free(d2);
}

static void test_round_trip(void **state) {
    (void)state;
    const char *docs[] = {
        "name = \"weekend\"\n[model]\nbase = 'm.gguf'\n[train]\nlr = 3e-4\nepochs = 2\n"
        "[[job]]\nname = \"embed\"\ndata = { path = \"p.jsonl\", split.train = 0.9 }\n"
        "[[job]]\nname = \"critic\"\n[job.schedule]\ndays = [\"sat\"]\n",
        "[gate]\nrequire = [\n \"mrr@10 >= baseline + 0.005\",\n \"ndcg@10 >= baseline\",\n]\n"
        "max_regressed_queries = 0.10\n",
        "a = [[1, 2.5], [{x = {y = []}}], []]\nb.c.d = \"\\u00e9\\U0001F600\\\\\"\n"
        "\"k\\n\" = 0.1\n['' ]\n'' = -9223372036854775808\n",
        "x = [{a = 1}, {b = 2}]\ny = [{a = 1}, 2]\n[z]\n[z.w]\n[[z.q]]\n",
        "",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        data_toml_doc *d = parse_ok(docs[i]);
        char *s = dump(d);
        data_toml_doc *d2 = parse_ok(s);
        if (!tree_equal(data_toml_root(d), data_toml_root(d2), false))
            fail_msg("round trip %zu changed the tree:\n%s", i, s);
        char *s2 = dump(d2);
        assert_string_equal(s, s2);
        rw_free(s);
        rw_free(s2);
        data_toml_free(d);
        data_toml_free(d2);
    }
    /* Key order in the file does not change the canonical text (hash stability). */
    data_toml_doc *a = parse_ok("[b]\ny = 2\nx = 1\n[a]\nk = 'v'\n");
    data_toml_doc *b = parse_ok("a.k = \"v\"\nb = { x = 1, y = 2 }\n");
    char *sa = dump(a), *sb = dump(b);
    assert_string_equal(sa, sb);
    assert_string_equal(sa, "[a]\nk = \"v\"\n\n[b]\nx = 1\ny = 2\n");
    rw_free(sa);
    rw_free(sb);
    data_toml_free(a);
    data_toml_free(b);
}

/* ---- Getters ------------------------------------------------------------------------- */

static void test_getters(void **state) {
    (void)state;
    data_toml_doc *d =
        parse_ok("[train]\nlr = \"fast\"\nepochs = 3\nwarm = 1.5\nbig = 9007199254740993\n");
    const data_toml_node *root = data_toml_root(d), *train;
    rw_err err;
    double f = -1;
    int64_t i = -1;
    bool b = false;
    const char *s = NULL;
    assert_int_equal(data_toml_get_table(root, "train", &train, &err), RW_OK);
    assert_int_equal(data_toml_get_f64(train, "lr", &f, &err), RW_E_FORMAT);
    assert_string_equal(err.msg, "t.toml:2:1: key 'train.lr' must be a float, found string");
    assert_true(f == -1);                                                  /* untouched */
    assert_int_equal(data_toml_get_f64(train, "epochs", &f, &err), RW_OK); /* int -> float */
    assert_true(f == 3.0);
    assert_int_equal(data_toml_get_i64(train, "warm", &i, &err), RW_E_FORMAT);
    assert_string_equal(err.msg, "t.toml:4:1: key 'train.warm' must be an integer, found float");
    assert_int_equal(data_toml_get_f64(root, "train.missing", &f, &err), RW_E_NOTFOUND);
    assert_string_equal(err.msg, "t.toml:1:1: missing key 'train.missing' in the top level");
    assert_int_equal(data_toml_get_bool(train, "bf16", &b, &err), RW_E_NOTFOUND);
    assert_string_equal(err.msg, "t.toml:1:1: missing key 'bf16' in [train]");
    assert_int_equal(data_toml_get_f64_or(train, "decay", 1e-4, &f, &err), RW_OK);
    assert_true(f == 1e-4);
    assert_int_equal(data_toml_get_f64_or(train, "lr", 1e-4, &f, &err), RW_E_FORMAT);
    assert_int_equal(data_toml_get_i64_or(train, "epochs", 7, &i, &err), RW_OK);
    assert_int_equal(i, 3);
    assert_int_equal(data_toml_get_i64_or(train, "steps", 7, &i, &err), RW_OK);
    assert_int_equal(i, 7);
    assert_int_equal(data_toml_get_bool_or(train, "bf16", true, &b, &err), RW_OK);
    assert_true(b);
    assert_int_equal(data_toml_get_str_or(train, "opt", "adamw", &s, &err), RW_OK);
    assert_string_equal(s, "adamw");
    assert_int_equal(data_toml_get_str(train, "lr", &s, &err), RW_OK);
    assert_string_equal(s, "fast");
    assert_int_equal(data_toml_get_str(train, "epochs", &s, &err), RW_E_FORMAT);
    assert_int_equal(data_toml_get_f64(train, "big", &f, &err), RW_OK);
    assert_true(f == 9007199254740992.0); /* rounded to nearest double */
    const data_toml_node *arr;
    assert_int_equal(data_toml_get_array(root, "train", &arr, &err), RW_E_FORMAT);
    assert_string_equal(err.msg, "t.toml:1:1: key 'train' must be an array, found table");
    data_toml_free(d);
}

static void test_check_keys(void **state) {
    (void)state;
    data_toml_doc *d = parse_ok("[train]\nlr = 1e-3\n  lrr = 2\n[model]\n");
    const data_toml_node *train = get(d, "train");
    rw_err err;
    const char *const allowed[] = {"lr", "epochs", "seed"};
    const char *const more[] = {"lr", "lrr"};
    assert_int_equal(data_toml_check_keys(train, allowed, 3, &err), RW_E_FORMAT);
    assert_string_equal(err.msg,
                        "unknown key 'lrr' in [train] at t.toml:3:3 (allowed: lr, epochs, seed)");
    assert_int_equal(data_toml_check_keys(train, more, 2, &err), RW_OK);
    const char *const top[] = {"train"};
    assert_int_equal(data_toml_check_keys(data_toml_root(d), top, 1, &err), RW_E_FORMAT);
    assert_string_equal(err.msg,
                        "unknown key 'model' in the top level at t.toml:4:1 (allowed: train)");
    assert_int_equal(data_toml_check_keys(get(d, "model"), NULL, 0, &err), RW_OK);
    data_toml_free(d);
}

/* ---- --set overrides ----------------------------------------------------------------- */

static void test_set(void **state) {
    (void)state;
    data_toml_doc *d = parse_ok("[train]\nlr = 1e-3\nname = \"a\"\nbf16 = false\nsteps = 10\n"
                                "[[job]]\nx = 1\n");
    rw_err err;
    assert_int_equal(data_toml_set(d, "train.lr=3e-4", &err), RW_OK);
    expect_float(d, "train.lr", 3e-4);
    assert_int_equal(data_toml_set(d, " train . lr = 2 ", &err), RW_OK); /* int for a float */
    expect_int(d, "train.lr", 2);
    assert_string_equal(data_toml_key_at(get(d, "train"), 0), "lr"); /* position kept */
    assert_int_equal(data_toml_set(d, "train.name=\"x.jsonl\"", &err), RW_OK);
    expect_str(d, "train.name", "x.jsonl");
    assert_int_equal(data_toml_set(d, "train.name=runs/a b.jsonl ", &err), RW_OK);
    expect_str(d, "train.name", "runs/a b.jsonl"); /* bare word taken as a string */
    assert_int_equal(data_toml_set(d, "train.name=2024-01-01", &err), RW_OK);
    expect_str(d, "train.name", "2024-01-01");
    assert_int_equal(data_toml_set(d, "train.bf16=true", &err), RW_OK);
    expect_bool(d, "train.bf16", true);
    assert_int_equal(data_toml_set(d, "data.mix.ratio=[1, 2]", &err), RW_OK);
    assert_int_equal(data_toml_len(get(d, "data.mix.ratio")), 2);
    assert_int_equal(data_toml_set(d, "\"odd key\".v={a = 1}", &err), RW_OK);
    expect_int(d, "odd key.v.a", 1);
    /* Position of a --set value. */
    assert_string_equal(data_toml_node_file(get(d, "train.bf16")), "--set");
    expect_pos(d, "train.bf16", 1, 12); /* the value's column in the assignment */

    /* Failures leave the doc unchanged. */
    char *before = dump(d);
    assert_int_equal(data_toml_set(d, "train.lr=abc", &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "cannot replace integer"));
    assert_int_equal(data_toml_set(d, "train.bf16=1", &err), RW_E_INVALID);
    assert_int_equal(data_toml_set(d, "train.steps.x=1", &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "'steps' is an integer"));
    assert_int_equal(data_toml_set(d, "job.x=2", &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "array of tables"));
    assert_int_equal(data_toml_set(d, "train.lr", &err), RW_E_INVALID);
    assert_string_equal(err.msg, "--set:1:9: expected '=' after key 'train.lr', found end of file");
    assert_int_equal(data_toml_set(d, "train.lr=", &err), RW_E_INVALID);
    assert_int_equal(data_toml_set(d, "train.name=\"open", &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "--set:1:12: unterminated string"));
    assert_int_equal(data_toml_set(d, "train.steps=99999999999999999999", &err), RW_E_INVALID);
    assert_int_equal(data_toml_set(d, "=1", &err), RW_E_INVALID);
    assert_int_equal(data_toml_set(d, "new.x=[1,", &err), RW_E_INVALID);
    char *after = dump(d);
    assert_string_equal(before, after);
    rw_free(before);
    rw_free(after);
    data_toml_free(d);
}

/* ---- Files and allocation failures ---------------------------------------------------- */

static void test_parse_file(void **state) {
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/weekend.toml", rw_test_tmpdir());
    const char *text = "[train]\nlr = 0.5\n\n[bad]\nx = 01\n";
    assert_int_equal(rw_test_write_file(path, text, strlen(text)), 0);
    data_toml_doc *d = NULL;
    rw_err err;
    assert_int_equal(data_toml_parse_file(path, &d, &err), RW_E_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s:5:5: ", path);
    assert_true(strncmp(err.msg, want, strlen(want)) == 0);
    text = "[train]\nlr = 0.5\n";
    assert_int_equal(rw_test_write_file(path, text, strlen(text)), 0);
    assert_int_equal(data_toml_parse_file(path, &d, &err), RW_OK);
    assert_string_equal(data_toml_filename(d), path);
    assert_string_equal(data_toml_node_file(get(d, "train.lr")), path);
    data_toml_free(d);
    snprintf(path, sizeof path, "%s/missing.toml", rw_test_tmpdir());
    assert_int_equal(data_toml_parse_file(path, &d, &err), RW_E_IO);
    assert_non_null(strstr(err.msg, "missing.toml"));
    data_toml_free(NULL);
}

static void test_alloc_failures(void **state) {
    (void)state;
    const char *text = "name = \"w\\u00e9\"\n[train]\nlr = 3e-4\nx.y.z = [1, [2], {a = 'b'}]\n"
                       "[[job]]\nd = { p = \"\"\"q\"\"\" }\n[[job]]\n[job.s]\nk = 1.0\n";
    bool done = false;
    long n;
    for (n = 0; !done && n < 10000; n++) {
        data_toml_doc *d = NULL;
        rw_err err;
        rw_alloc_fail_after(n);
        rw_status st = data_toml_parse(text, strlen(text), "t.toml", &d, &err);
        if (st == RW_OK) {
            char *s = NULL;
            size_t len;
            rw_status ds = data_toml_dump_str(d, &s, &len, &err);
            rw_status ss = ds == RW_OK ? data_toml_set(d, "a.b.c=[1, 2]", &err) : RW_E_NOMEM;
            rw_status s2 = ss == RW_OK ? data_toml_set(d, "train.lr=1.0", &err) : RW_E_NOMEM;
            rw_alloc_fail_after(-1);
            if (ds != RW_OK) assert_int_equal(ds, RW_E_NOMEM);
            if (ss != RW_OK) assert_int_equal(ss, RW_E_NOMEM);
            if (s2 != RW_OK) assert_int_equal(s2, RW_E_NOMEM);
            if (ds == RW_OK && ss == RW_OK && s2 == RW_OK) {
                done = true;
                expect_float(d, "train.lr", 1.0);
                assert_int_equal(data_toml_len(get(d, "a.b.c")), 2);
            }
            rw_free(s);
            data_toml_free(d);
        } else {
            rw_alloc_fail_after(-1);
            if (st != RW_E_NOMEM) fail_msg("after %ld allocations: %d %s", n, st, err.msg);
            assert_int_equal(err.code, RW_E_NOMEM);
        }
    }
    rw_alloc_fail_after(-1);
    assert_true(done);
    assert_true(n > 20); /* the loop really went through many failure points */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe),     cmocka_unit_test(test_strings),
        cmocka_unit_test(test_numbers),    cmocka_unit_test(test_tables_and_arrays),
        cmocka_unit_test(test_malformed),  cmocka_unit_test(test_dump_canonical),
        cmocka_unit_test(test_round_trip), cmocka_unit_test(test_getters),
        cmocka_unit_test(test_check_keys), cmocka_unit_test(test_set),
        cmocka_unit_test(test_parse_file), cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
