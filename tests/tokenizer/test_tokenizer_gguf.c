/* infer_tokenizer_from_gguf / infer_chat_tmpl_from_gguf on GGUF files written with the
 * project's writer: a valid vocabulary tokenizes like the same spec built in memory, and
 * each malformed variant (missing or mistyped key, wrong array length, bad token type,
 * missing merges) is refused with a message naming the key. Also the rag-tokenize CLI
 * against llama.cpp's llama-tokenize ids from ../shared/refs/peer (skipped when absent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/chat_template.h"
#include "infer/gguf.h"
#include "infer/tokenizer.h"
#include "rw_test.h"

enum { NV = 8 };
static const char *const k_toks[NV] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                       "▁a", "ab"};
static const float k_scores[NV] = {0, 0, 0, -1, -2, -2, -3, -0.5f};
static const int32_t k_types[NV] = {2, 3, 3, 1, 1, 1, 1, 1};

typedef enum variant {
    V_OK,
    V_NO_MODEL,
    V_BAD_MODEL,
    V_TOKENS_INT,
    V_SCORES_SHORT,
    V_BAD_TYPE,
    V_GPT2_NO_MERGES,
    V_BOS_STRING,
    V_ADD_BOS_U32,
} variant;

static const char *write_vocab(variant v, const char *chat) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/vocab-%d.gguf", rw_test_tmpdir(), (int)v);
    infer_gguf_writer *w = NULL;
    rw_err err;
    assert_int_equal(infer_gguf_writer_create(&w, &err), RW_OK);
    assert_int_equal(infer_gguf_writer_set_str(w, "general.architecture", "llama", &err), RW_OK);
    if (v != V_NO_MODEL) {
        const char *model = v == V_BAD_MODEL ? "rwkv" : v == V_GPT2_NO_MERGES ? "gpt2" : "llama";
        assert_int_equal(infer_gguf_writer_set_str(w, "tokenizer.ggml.model", model, &err), RW_OK);
    }
    if (v == V_TOKENS_INT) {
        assert_int_equal(infer_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", INFER_GGUF_INT32,
                                                   k_types, NV, &err),
                         RW_OK);
    } else {
        assert_int_equal(
            infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", k_toks, NULL, NV, &err),
            RW_OK);
    }
    assert_int_equal(infer_gguf_writer_set_arr(w, "tokenizer.ggml.scores", INFER_GGUF_FLOAT32,
                                               k_scores, v == V_SCORES_SHORT ? NV - 1 : NV, &err),
                     RW_OK);
    int32_t types[NV];
    memcpy(types, k_types, sizeof types);
    if (v == V_BAD_TYPE) types[5] = 42;
    assert_int_equal(infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32,
                                               types, NV, &err),
                     RW_OK);
    if (v == V_BOS_STRING) {
        assert_int_equal(infer_gguf_writer_set_str(w, "tokenizer.ggml.bos_token_id", "1", &err),
                         RW_OK);
    } else {
        assert_int_equal(infer_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &err), RW_OK);
    }
    assert_int_equal(infer_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, &err), RW_OK);
    if (v == V_ADD_BOS_U32) {
        assert_int_equal(infer_gguf_writer_set_u32(w, "tokenizer.ggml.add_bos_token", 1, &err),
                         RW_OK);
    } else {
        assert_int_equal(infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true, &err),
                         RW_OK);
    }
    assert_int_equal(infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", true, &err),
                     RW_OK);
    if (chat) {
        assert_int_equal(infer_gguf_writer_set_str(w, "tokenizer.chat_template", chat, &err), RW_OK);
    }
    assert_int_equal(infer_gguf_writer_write(w, path, &err), RW_OK);
    infer_gguf_writer_destroy(w);
    return path;
}

static void test_gguf_valid(void **state) {
    (void)state;
    const char *path = write_vocab(V_OK, "{{'<|im_start|>' + role}}");
    infer_tokenizer *t = NULL;
    rw_err err;
    assert_int_equal(infer_tokenizer_load(path, &t, &err), RW_OK);
    assert_int_equal(infer_tokenizer_kind(t), INFER_TOK_SPM);
    assert_int_equal(infer_tokenizer_n_vocab(t), NV);
    assert_true(infer_tokenizer_add_eos(t));
    /* "▁ab": ab (-0.5) first; "▁ab" is no token -> ▁ ab; BOS and EOS from the flags */
    infer_tok_ids ids = {0};
    assert_int_equal(infer_tokenize(t, "ab", 2, INFER_TOK_ADD_SPECIAL, &ids, &err), RW_OK);
    int32_t want[] = {1, 3, 7, 2};
    assert_int_equal(ids.n, 4);
    assert_memory_equal(ids.v, want, sizeof want);
    infer_tok_ids_deinit(&ids);
    infer_tokenizer_destroy(t);

    infer_gguf *g = NULL;
    assert_int_equal(infer_gguf_open(path, &g, &err), RW_OK);
    infer_chat_tmpl ct;
    assert_int_equal(infer_chat_tmpl_from_gguf(g, &ct, &err), RW_OK);
    assert_int_equal(ct, INFER_CHAT_CHATML);
    infer_gguf_close(g);
    path = write_vocab(V_OK, NULL);
    assert_int_equal(infer_gguf_open(path, &g, &err), RW_OK);
    assert_int_equal(infer_chat_tmpl_from_gguf(g, &ct, &err), RW_E_NOTFOUND);
    infer_gguf_close(g);
    path = write_vocab(V_OK, "{{ plain jinja }}");
    assert_int_equal(infer_gguf_open(path, &g, &err), RW_OK);
    assert_int_equal(infer_chat_tmpl_from_gguf(g, &ct, &err), RW_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "plain jinja"));
    infer_gguf_close(g);
}

static void test_gguf_malformed(void **state) {
    (void)state;
    struct {
        variant v;
        rw_status st;
        const char *needle;
    } cases[] = {
        {V_NO_MODEL, RW_E_NOTFOUND, "tokenizer.ggml.model"},
        {V_BAD_MODEL, RW_E_UNSUPPORTED, "rwkv"},
        {V_TOKENS_INT, RW_E_FORMAT, "tokenizer.ggml.tokens"},
        {V_SCORES_SHORT, RW_E_FORMAT, "tokenizer.ggml.scores"},
        {V_BAD_TYPE, RW_E_FORMAT, "token_type[5]"},
        {V_GPT2_NO_MERGES, RW_E_FORMAT, "tokenizer.ggml.merges"},
        {V_BOS_STRING, RW_E_FORMAT, "bos_token_id"},
        {V_ADD_BOS_U32, RW_E_FORMAT, "add_bos_token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *path = write_vocab(cases[i].v, NULL);
        infer_tokenizer *t = NULL;
        rw_err err;
        rw_status st = infer_tokenizer_load(path, &t, &err);
        if (st != cases[i].st || !strstr(err.msg, cases[i].needle) || !strstr(err.msg, path)) {
            fail_msg("variant %d: status %d, message \"%s\"", (int)cases[i].v, (int)st, err.msg);
        }
        assert_null(t);
    }
    infer_tokenizer *t = NULL;
    rw_err err;
    assert_int_equal(infer_tokenizer_load("/nonexistent/x.gguf", &t, &err), RW_E_IO);
}

/* rag-tokenize --ids --no-special against llama-tokenize (add_special=true) ids. */
static void test_cli(void **state) {
    (void)state;
    char vocab[1024], peer[1024], bin[1024];
    if (!rw_test_shared_path("refs/vocab/ggml-vocab-llama-spm.gguf", vocab, sizeof vocab) ||
        !rw_test_shared_path("refs/peer/tokenize-llama-spm.json", peer, sizeof peer)) {
        skip();
        return;
    }
    rw_test_bin("rag-tokenize", bin, sizeof bin);
    char cmd[4096], *out = NULL;
    /* "The Quick Brown Fox" is the first case of the peer file */
    snprintf(cmd, sizeof cmd, "'%s' '%s' --ids --no-special 'The Quick Brown Fox'", bin, vocab);
    assert_int_equal(rw_test_run(cmd, &out), 0);
    size_t plen;
    char *pj = rw_test_read_file(peer, &plen);
    assert_non_null(pj);
    /* the ids_with_special list of the first case, written as [a, b, ...] */
    const char *k = strstr(pj, "\"ids_with_special\"");
    assert_non_null(k);
    const char *lb = strchr(k, '[');
    char want[256] = "[";
    size_t wn = 1;
    for (const char *p = lb + 1; *p && *p != ']'; p++) {
        if (*p >= '0' && *p <= '9') want[wn++] = *p;
        else if (*p == ',') want[wn++] = ',', want[wn++] = ' ';
    }
    want[wn++] = ']';
    want[wn] = 0;
    if (strncmp(out, want, wn) != 0) fail_msg("rag-tokenize printed %s, want %s", out, want);
    free(out);
    free(pj);
    /* stdin input, table output, and a usage error */
    snprintf(cmd, sizeof cmd, "printf 'hi' | '%s' '%s' --pieces", bin, vocab);
    assert_int_equal(rw_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "<s>"));
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' '%s' --bogus 2>&1", bin, vocab);
    assert_int_not_equal(rw_test_run(cmd, &out), 0);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf_valid),
        cmocka_unit_test(test_gguf_malformed),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
