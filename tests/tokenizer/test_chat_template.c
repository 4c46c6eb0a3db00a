/* infer/chat_template: rendered text of each family for llama.cpp's test conversation
 * (expected strings written out by hand from each family's published format), detection
 * from Jinja snippets, assistant spans, and token masks checked against byte ranges
 * computed independently from detokenized prefixes (llama-spm and gpt-2 vocabularies of
 * ../shared; those parts skip when it is absent). */
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/chat_template.h"
#include "infer/tokenizer.h"
#include "rw_test.h"

static const infer_chat_msg k_conv[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
enum { N_CONV = sizeof k_conv / sizeof *k_conv };

typedef struct expect {
    infer_chat_tmpl t;
    bool gen;
    const char *text;
    const char *span0, *span1; /* text of the two assistant spans */
} expect;

static const expect k_expect[] = {
    {INFER_CHAT_CHATML, true,
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
     "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n"
     "<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother "
     "question<|im_end|>\n<|im_start|>assistant\n",
     "Hi there<|im_end|>", "   I am an assistant   <|im_end|>"},
    {INFER_CHAT_LLAMA3, true,
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant"
     "<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are "
     "you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>"
     "assistant<|end_header_id|>\n\n",
     "Hi there<|eot_id|>", "I am an assistant<|eot_id|>"},
    {INFER_CHAT_GEMMA, true,
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n"
     "Hi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"
     "I am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n"
     "<start_of_turn>model\n",
     "Hi there<end_of_turn>", "I am an assistant<end_of_turn>"},
    {INFER_CHAT_PHI3, true,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi "
     "there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n"
     "<|user|>\nAnother question<|end|>\n<|assistant|>\n",
     "Hi there<|end|>", "   I am an assistant   <|end|>"},
    {INFER_CHAT_LLAMA2_SYS_BOS, false,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] "
     "Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]",
     "Hi there</s>", "   I am an assistant   </s>"},
    {INFER_CHAT_LLAMA2, false,
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I "
     "am an assistant   </s>[INST] Another question [/INST]",
     "Hi there</s>", "   I am an assistant   </s>"},
    {INFER_CHAT_MISTRAL_V3, false,
     "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am "
     "an assistant</s>[INST] Another question[/INST]",
     "Hi there</s>", "I am an assistant</s>"},
    {INFER_CHAT_MISTRAL_V1, false,
     " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    "
     "I am an assistant   </s> [INST] Another question [/INST]",
     "Hi there</s>", "   I am an assistant   </s>"},
    {INFER_CHAT_MISTRAL_V7, false,
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>"
     "[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]",
     "Hi there</s>", "   I am an assistant   </s>"},
};

static void test_render_families(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof k_expect / sizeof *k_expect; k++) {
        const expect *e = &k_expect[k];
        infer_chat_text c;
        rw_err err;
        assert_int_equal(infer_chat_render(e->t, k_conv, N_CONV, e->gen, &c, &err), RW_OK);
        if (strcmp(c.text, e->text) != 0) {
            fprintf(stderr, "%s:\n got  [%s]\n want [%s]\n", infer_chat_tmpl_name(e->t), c.text,
                    e->text);
            fail();
        }
        assert_int_equal(c.len, strlen(e->text));
        assert_int_equal(c.n_spans, 2);
        assert_int_equal(c.spans[0].msg, 2);
        assert_int_equal(c.spans[1].msg, 4);
        assert_int_equal(c.spans[0].end - c.spans[0].begin, strlen(e->span0));
        assert_memory_equal(c.text + c.spans[0].begin, e->span0, strlen(e->span0));
        assert_int_equal(c.spans[1].end - c.spans[1].begin, strlen(e->span1));
        assert_memory_equal(c.text + c.spans[1].begin, e->span1, strlen(e->span1));
        infer_chat_text_deinit(&c);
    }
}

/* Gemma has no system role: llama.cpp trims each system message, concatenates them and puts
 * the result, then a blank line, in front of the next user turn only (hand-worked). */
static void test_gemma_system_whitespace(void **state) {
    (void)state;
    static const infer_chat_msg conv[] = {
        {"system", "  Be brief. \n"}, {"system", "\tUse English.\n"},
        {"user", " Hi "}, {"assistant", "Hello"}, {"user", "Bye"},
    };
    const char *want = "<start_of_turn>user\nBe brief.Use English.\n\nHi<end_of_turn>\n"
                       "<start_of_turn>model\nHello<end_of_turn>\n"
                       "<start_of_turn>user\nBye<end_of_turn>\n";
    infer_chat_text c;
    rw_err err;
    assert_int_equal(infer_chat_render(INFER_CHAT_GEMMA, conv, 5, false, &c, &err), RW_OK);
    if (strcmp(c.text, want) != 0) {
        fprintf(stderr, " got  [%s]\n want [%s]\n", c.text, want);
        fail();
    }
    infer_chat_text_deinit(&c);
}

static void test_names_and_detection(void **state) {
    (void)state;
    for (int i = 1; i < INFER_CHAT_COUNT; i++) {
        assert_int_equal(infer_chat_tmpl_from_name(infer_chat_tmpl_name((infer_chat_tmpl)i)), i);
    }
    assert_int_equal(infer_chat_tmpl_from_name("qwen"), INFER_CHAT_CHATML);
    assert_int_equal(infer_chat_tmpl_from_name("nope"), INFER_CHAT_NONE);
    struct {
        const char *jinja;
        infer_chat_tmpl t;
    } cases[] = {
        {"{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n'}}", INFER_CHAT_CHATML},
        {"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}",
         INFER_CHAT_LLAMA3},
        {"{{ '<start_of_turn>' + role + '\\n' }}", INFER_CHAT_GEMMA},
        {"{{'<|user|>' + '\\n' + message['content'] + '<|end|>'}}{{'<|assistant|>\\n'}}",
         INFER_CHAT_PHI3},
        {"{{ bos_token + '[INST] ' + content }} <<SYS>>", INFER_CHAT_LLAMA2_SYS_BOS},
        {"{{ '[INST] ' + content.strip() + ' [/INST]' }}", INFER_CHAT_LLAMA2_SYS_STRIP},
        {"{{ '[INST] ' + content + ' [/INST]' }}", INFER_CHAT_LLAMA2},
        {"{{ '[SYSTEM_PROMPT]' }}[INST]", INFER_CHAT_MISTRAL_V7},
        {"{{ '[INST]' }}[AVAILABLE_TOOLS]", INFER_CHAT_MISTRAL_V3},
        {"{{- '<|im_start|>' }}<|im_sep|>", INFER_CHAT_NONE},
        {"{{ plain }}", INFER_CHAT_NONE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        infer_chat_tmpl t = infer_chat_tmpl_detect(cases[i].jinja, strlen(cases[i].jinja));
        if (t != cases[i].t) fail_msg("detect(%s) = %s", cases[i].jinja, infer_chat_tmpl_name(t));
    }
    infer_chat_msg bad[] = {{"user", NULL}};
    infer_chat_text c;
    rw_err err;
    assert_int_equal(infer_chat_render(INFER_CHAT_CHATML, bad, 1, false, &c, &err), RW_E_INVALID);
    assert_non_null(strstr(err.msg, "messages[0]"));
    assert_int_equal(infer_chat_render(INFER_CHAT_NONE, k_conv, 1, false, &c, &err), RW_E_INVALID);
}

/* Byte range of each token from the lengths of detokenized prefixes (an independent path). */
static void check_mask(const char *vocab, infer_chat_tmpl tmpl) {
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "refs/vocab/ggml-vocab-%s.gguf", vocab);
    if (!rw_test_shared_path(rel, path, sizeof path)) {
        skip();
        return;
    }
    infer_tokenizer *t = NULL;
    rw_err err;
    assert_int_equal(infer_tokenizer_load(path, &t, &err), RW_OK);
    infer_chat_text c;
    assert_int_equal(infer_chat_render(tmpl, k_conv, N_CONV, true, &c, &err), RW_OK);
    infer_tok_ids ids = {0};
    assert_int_equal(infer_tokenize(t, c.text, c.len, INFER_TOK_ADD_SPECIAL | INFER_TOK_PARSE_SPECIAL,
                                    &ids, &err),
                     RW_OK);
    uint8_t *mask = rw_malloc(ids.n);
    assert_int_equal(
        infer_chat_token_mask(t, c.text, c.len, ids.v, ids.n, c.spans, c.n_spans, mask, &err),
        RW_OK);
    /* BOS, added by the tokenizer, is not in the text: decode from the first text token */
    size_t first = (ids.n && ids.v[0] == infer_tokenizer_bos(t) && infer_tokenizer_add_bos(t)) ? 1 : 0;
    size_t prev = 0, n_masked = 0;
    for (size_t i = first; i < ids.n; i++) {
        char *s;
        size_t len;
        assert_int_equal(infer_detokenize(t, ids.v + first, i + 1 - first, 0, &s, &len, &err), RW_OK);
        assert_true(len <= c.len);
        assert_memory_equal(s, c.text, len); /* prefixes of the text */
        bool in = false;
        for (size_t k = 0; k < c.n_spans; k++) {
            in |= len > prev && c.spans[k].begin < len && prev < c.spans[k].end;
        }
        if (mask[i] != in) fail_msg("%s: token %zu (bytes %zu..%zu) mask %d", vocab, i, prev, len, mask[i]);
        n_masked += mask[i];
        prev = len;
        rw_free(s);
    }
    assert_int_equal(prev, c.len);
    assert_true(n_masked >= 4);
    if (first) assert_int_equal(mask[0], 0);
    rw_free(mask);
    infer_tok_ids_deinit(&ids);
    infer_chat_text_deinit(&c);
    infer_tokenizer_destroy(t);
}

static void test_mask_llama2_spm(void **state) {
    (void)state;
    check_mask("llama-spm", INFER_CHAT_LLAMA2_SYS_BOS);
}

static void test_mask_chatml_bpe(void **state) {
    (void)state;
    check_mask("gpt-2", INFER_CHAT_CHATML);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_families),
        cmocka_unit_test(test_gemma_system_whitespace),
        cmocka_unit_test(test_names_and_detection),
        cmocka_unit_test(test_mask_llama2_spm),
        cmocka_unit_test(test_mask_chatml_bpe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
