/* Conformance of infer/tokenizer with independent references in ../shared/refs:
 *   refs/vocab/ggml-vocab-X.gguf.inp/.out: llama.cpp's tokenizer test vectors (expected ids
 *     from the Hugging Face tokenizers, as test-tokenizer-0 checks them: add_special=false,
 *     parse_special=false; inputs separated by "\n__ggml_vocab_test__\n", one output line
 *     of space-separated ids per input);
 *   refs/peer/tokenize-X.json: llama.cpp's llama_tokenize with add_special false/true
 *     (ids, ids_with_special; bert-bge ids from an independent WordPiece) and
 *     llama_token_to_piece bytes (pieces_hex); decode must give the text back for SPM/BPE.
 * Skipped (77) when ../shared is absent. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer.h"
#include "rw_test.h"

static const char *const k_vocabs[] = {"llama-spm", "gpt-2", "falcon", "deepseek-coder",
                                       "bert-bge"};

static infer_tokenizer *load_vocab(const char *name) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "refs/vocab/ggml-vocab-%s.gguf", name);
    if (!rw_test_shared_path(rel, path, sizeof path)) return NULL;
    infer_tokenizer *t = NULL;
    rw_err err;
    rw_status st = infer_tokenizer_load(path, &t, &err);
    if (st) fprintf(stderr, "load %s: %s\n", path, err.msg);
    assert_int_equal(st, RW_OK);
    return t;
}

static void print_ids(const char *label, const int32_t *v, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)v[i]);
    fprintf(stderr, "\n");
}

static void run_vectors(const char *name) {
    char rel[256], path[1024];
    infer_tokenizer *t = load_vocab(name);
    snprintf(rel, sizeof rel, "refs/vocab/ggml-vocab-%s.gguf.inp", name);
    assert_non_null(rw_test_shared_path(rel, path, sizeof path));
    size_t inp_len, out_len;
    char *inp = rw_test_read_file(path, &inp_len);
    snprintf(rel, sizeof rel, "refs/vocab/ggml-vocab-%s.gguf.out", name);
    assert_non_null(rw_test_shared_path(rel, path, sizeof path));
    char *outs = rw_test_read_file(path, &out_len);
    assert_non_null(inp);
    assert_non_null(outs);

    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    size_t ok = 0, total = 0;
    const char *ip = inp, *iend = inp + inp_len;
    const char *op = outs, *oend = outs + out_len;
    while (ip <= iend && op < oend) {
        const char *next = NULL;
        for (const char *q = ip; q + sep_len <= iend; q++) {
            if (memcmp(q, sep, sep_len) == 0) {
                next = q;
                break;
            }
        }
        size_t in_n = next ? (size_t)(next - ip) : (size_t)(iend - ip);
        const char *eol = memchr(op, '\n', (size_t)(oend - op));
        if (!eol) eol = oend;
        int32_t expect[4096];
        size_t ne = 0;
        for (const char *q = op; q < eol;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q) break;
            assert_true(ne < 4096);
            expect[ne++] = (int32_t)v;
            q = e;
        }
        infer_tok_ids ids = {0};
        rw_err err;
        assert_int_equal(infer_tokenize(t, ip, in_n, 0, &ids, &err), RW_OK);
        total++;
        if (ids.n == ne && (ne == 0 || memcmp(ids.v, expect, ne * sizeof *expect) == 0)) {
            ok++;
        } else {
            fprintf(stderr, "%s: input %zu mismatch: \"%.*s\"\n", name, total - 1, (int)in_n, ip);
            print_ids("expected", expect, ne);
            print_ids("got     ", ids.v, ids.n);
        }
        infer_tok_ids_deinit(&ids);
        op = eol + 1;
        if (!next) break;
        ip = next + sep_len;
    }
    fprintf(stderr, "%s: %zu/%zu test vectors match\n", name, ok, total);
    assert_true(total >= 46);
    assert_int_equal(ok, total);
    free(inp);
    free(outs);
    infer_tokenizer_destroy(t);
}

static void test_vectors_llama_spm(void **s) { (void)s; run_vectors("llama-spm"); }
static void test_vectors_gpt2(void **s) { (void)s; run_vectors("gpt-2"); }
static void test_vectors_falcon(void **s) { (void)s; run_vectors("falcon"); }
static void test_vectors_deepseek_coder(void **s) { (void)s; run_vectors("deepseek-coder"); }
static void test_vectors_bert_bge(void **s) { (void)s; run_vectors("bert-bge"); }

static size_t json_ids(json_t *arr, int32_t *v, size_t cap) {
    size_t n = json_array_size(arr);
    assert_true(n <= cap);
    for (size_t i = 0; i < n; i++) v[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return n;
}

static void assert_ids(const char *what, const char *text, const int32_t *e, size_t ne,
                       const infer_tok_ids *got) {
    if (got->n != ne || (ne && memcmp(got->v, e, ne * sizeof *e) != 0)) {
        fprintf(stderr, "%s mismatch for \"%s\"\n", what, text);
        print_ids("expected", e, ne);
        print_ids("got     ", got->v, got->n);
        fail();
    }
}

static void run_peer(const char *name) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "refs/peer/tokenize-%s.json", name);
    assert_non_null(rw_test_shared_path(rel, path, sizeof path));
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    assert_non_null(root);
    infer_tokenizer *t = load_vocab(name);
    json_t *cases = json_object_get(root, "cases");
    size_t n_cases = json_array_size(cases), n_ok = 0;
    for (size_t c = 0; c < n_cases; c++) {
        json_t *cs = json_array_get(cases, c);
        const char *text = json_string_value(json_object_get(cs, "text"));
        size_t text_len = json_string_length(json_object_get(cs, "text"));
        int32_t e[1024];
        size_t ne;
        infer_tok_ids ids = {0};
        rw_err err;

        ne = json_ids(json_object_get(cs, "ids"), e, 1024);
        assert_int_equal(infer_tokenize(t, text, text_len, 0, &ids, &err), RW_OK);
        assert_ids("ids", text, e, ne, &ids);

        /* pieces_hex: the bytes of each token */
        json_t *ph = json_object_get(cs, "pieces_hex");
        assert_int_equal(json_array_size(ph), ids.n);
        for (size_t i = 0; i < ids.n; i++) {
            const char *hex = json_string_value(json_array_get(ph, i));
            size_t pn;
            const char *p = infer_tokenizer_piece(t, ids.v[i], &pn);
            assert_non_null(p);
            char buf[512] = {0};
            assert_true(pn * 2 < sizeof buf);
            for (size_t k = 0; k < pn; k++) snprintf(buf + 2 * k, 3, "%02x", (unsigned char)p[k]);
            if (strcmp(buf, hex) != 0) {
                fprintf(stderr, "%s: piece of %d is %s, expected %s\n", name, (int)ids.v[i], buf,
                        hex);
                fail();
            }
        }
        /* decode inverts encode (lossless models) */
        if (infer_tokenizer_kind(t) != INFER_TOK_WPM) {
            char *dec;
            size_t dn;
            assert_int_equal(infer_detokenize(t, ids.v, ids.n, 0, &dec, &dn, &err), RW_OK);
            if (dn != text_len || memcmp(dec, text, dn) != 0) {
                fprintf(stderr, "%s: decode gave \"%s\" for \"%s\"\n", name, dec, text);
                fail();
            }
            rw_free(dec);
        }
        ids.n = 0;
        ne = json_ids(json_object_get(cs, "ids_with_special"), e, 1024);
        assert_int_equal(infer_tokenize(t, text, text_len, INFER_TOK_ADD_SPECIAL, &ids, &err),
                         RW_OK);
        assert_ids("ids_with_special", text, e, ne, &ids);
        if (infer_tokenizer_kind(t) != INFER_TOK_WPM) {
            char *dec;
            size_t dn;
            assert_int_equal(infer_detokenize(t, ids.v, ids.n, INFER_DETOK_SKIP_SPECIAL, &dec, &dn,
                                              &err),
                             RW_OK);
            assert_int_equal(dn, text_len);
            assert_memory_equal(dec, text, dn);
            rw_free(dec);
        }
        infer_tok_ids_deinit(&ids);
        n_ok++;
    }
    fprintf(stderr, "%s: %zu/%zu peer cases match (ids, ids_with_special, pieces, decode)\n",
            name, n_ok, n_cases);
    assert_true(n_cases >= 10);
    infer_tokenizer_destroy(t);
    json_decref(root);
}

static void test_peer_llama_spm(void **s) { (void)s; run_peer("llama-spm"); }
static void test_peer_gpt2(void **s) { (void)s; run_peer("gpt-2"); }
static void test_peer_bert_bge(void **s) { (void)s; run_peer("bert-bge"); }

int main(void) {
    char path[1024];
    for (size_t i = 0; i < sizeof k_vocabs / sizeof *k_vocabs; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "refs/vocab/ggml-vocab-%s.gguf", k_vocabs[i]);
        if (!rw_test_shared_path(rel, path, sizeof path)) {
            fprintf(stderr, "skipping: the tokenizer test vectors are absent\n");
            return RW_TEST_SKIP;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_llama_spm),
        cmocka_unit_test(test_vectors_gpt2),
        cmocka_unit_test(test_vectors_falcon),
        cmocka_unit_test(test_vectors_deepseek_coder),
        cmocka_unit_test(test_vectors_bert_bge),
        cmocka_unit_test(test_peer_llama_spm),
        cmocka_unit_test(test_peer_gpt2),
        cmocka_unit_test(test_peer_bert_bge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
