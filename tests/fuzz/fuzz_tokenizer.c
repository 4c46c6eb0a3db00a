/* libFuzzer target for infer/tokenizer: random bytes and random Unicode through SPM, every
 * BPE pre-tokenizer and WordPiece, built from small in-memory vocabularies (and, when
 * RW_SHARED_DIR points at ../shared, the real llama-spm / gpt-2 / bert-bge vocabularies).
 * Checks: encoding never fails, every id is in the vocabulary, and decode(encode(x)) == x
 * where the model is lossless: SPM for any bytes, BPE for valid UTF-8 (invalid bytes come
 * back as U+FFFD). Input layout: byte 0 picks tokenizer, flags and mode (bytes as text, or
 * 3-byte groups read as code points); the rest is the payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/chat_template.h"
#include "infer/tokenizer.h"

enum { MAX_TOK = 16 };
static infer_tokenizer *g_tok[MAX_TOK];
static size_t g_n;

static void add_spm(void) {
    static char names[256][8];
    const char *toks[300];
    int32_t types[300];
    float scores[300];
    size_t n = 0;
    toks[n] = "<unk>", types[n] = INFER_TOKTYPE_UNKNOWN, scores[n++] = 0;
    toks[n] = "<s>", types[n] = INFER_TOKTYPE_CONTROL, scores[n++] = 0;
    toks[n] = "</s>", types[n] = INFER_TOKTYPE_CONTROL, scores[n++] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(names[b], sizeof names[b], "<0x%02X>", b);
        toks[n] = names[b], types[n] = INFER_TOKTYPE_BYTE, scores[n++] = 0;
    }
    const char *pieces[] = {"\xe2\x96\x81", "a", "b", "ab", "▁a", "▁ab",
                            "\xc3\xa9", "\xe2\x96\x81\xe2\x96\x81", "ba", "aba"};
    for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
        toks[n] = pieces[i], types[n] = INFER_TOKTYPE_NORMAL, scores[n++] = -(float)i;
    }
    toks[n] = "<|im_start|>", types[n] = INFER_TOKTYPE_CONTROL, scores[n++] = 0;
    toks[n] = "<u>", types[n] = INFER_TOKTYPE_USER_DEFINED, scores[n++] = 0;
    infer_tok_spec spec;
    infer_tok_spec_init(&spec);
    spec.kind = INFER_TOK_SPM;
    spec.n_tokens = n;
    spec.tokens = toks;
    spec.types = types;
    spec.scores = scores;
    rw_err err;
    if (infer_tokenizer_create(&spec, &g_tok[g_n], &err) == RW_OK) g_n++;
}

static void add_bpe(const char *pre) {
    static char bytes[256][4];
    const char *toks[300];
    int32_t types[300];
    size_t n = 0;
    /* the GPT-2 byte characters in byte order */
    for (int b = 0; b < 256; b++) {
        int cp = b;
        if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))) {
            int k = 0;
            for (int i = 0; i < b; i++) {
                k += !((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE));
            }
            cp = 256 + k;
        }
        if (cp < 0x80) bytes[b][0] = (char)cp, bytes[b][1] = 0;
        else bytes[b][0] = (char)(0xC0 | (cp >> 6)), bytes[b][1] = (char)(0x80 | (cp & 0x3F)), bytes[b][2] = 0;
        toks[n] = bytes[b], types[n++] = INFER_TOKTYPE_NORMAL;
    }
    const char *extra[] = {"ab", "abc", "Ġa", "Ġab", "12", "\xc4\x8a\xc4\x8a"};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) toks[n] = extra[i], types[n++] = 1;
    toks[n] = "<|endoftext|>", types[n++] = INFER_TOKTYPE_CONTROL;
    toks[n] = "<u>", types[n++] = INFER_TOKTYPE_USER_DEFINED;
    const char *merges[] = {"a b", "ab c", "Ġ a", "Ġa b", "1 2", "\xc4\x8a \xc4\x8a",
                            "x y"};
    infer_tok_spec spec;
    infer_tok_spec_init(&spec);
    spec.kind = INFER_TOK_BPE;
    spec.pre = pre;
    spec.n_tokens = n;
    spec.tokens = toks;
    spec.types = types;
    spec.merges = merges;
    spec.n_merges = sizeof merges / sizeof *merges;
    rw_err err;
    if (infer_tokenizer_create(&spec, &g_tok[g_n], &err) == RW_OK) g_n++;
}

static void add_wpm(void) {
    const char *toks[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "▁a", "b", "ab",
                          "\xe2\x96\x81,", "\xe2\x96\x81\xe4\xb8\x96"};
    int32_t types[] = {3, 3, 3, 3, 1, 1, 1, 1, 1};
    infer_tok_spec spec;
    infer_tok_spec_init(&spec);
    spec.kind = INFER_TOK_WPM;
    spec.n_tokens = sizeof toks / sizeof *toks;
    spec.tokens = toks;
    spec.types = types;
    spec.unk = 1, spec.unk_set = true;
    spec.bos = 2, spec.bos_set = true;
    spec.sep = 3, spec.sep_set = true;
    rw_err err;
    if (infer_tokenizer_create(&spec, &g_tok[g_n], &err) == RW_OK) g_n++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    add_spm();
    const char *pres[] = {"default", "gpt-2", "llama-bpe", "qwen2", "deepseek-llm",
                          "deepseek-coder", "falcon", "starcoder"};
    for (size_t i = 0; i < sizeof pres / sizeof *pres; i++) add_bpe(pres[i]);
    add_wpm();
    const char *shared = getenv("RW_SHARED_DIR");
    const char *real[] = {"llama-spm", "gpt-2", "bert-bge"};
    for (size_t i = 0; shared && i < 3 && g_n < MAX_TOK; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/refs/vocab/ggml-vocab-%s.gguf", shared, real[i]);
        rw_err err;
        if (infer_tokenizer_load(path, &g_tok[g_n], &err) == RW_OK) g_n++;
    }
    if (g_n < 10) abort();
    return 0;
}

static size_t sanitize(const unsigned char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
        bool ok = k > 0 && k <= n - i;
        uint32_t v = k == 1 ? c : k == 2 ? (c & 0x1Fu) : k == 3 ? (c & 0x0Fu) : (c & 0x07u);
        for (size_t j = 1; ok && j < k; j++) {
            ok = (s[i + j] & 0xC0) == 0x80;
            v = (v << 6) | (s[i + j] & 0x3Fu);
        }
        if (ok && k == 3) ok = v >= 0x800 && (v < 0xD800 || v > 0xDFFF);
        if (ok && k == 4) ok = v >= 0x10000 && v <= 0x10FFFF;
        if (ok) {
            memcpy(out + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned sel = data[0];
    const infer_tokenizer *t = g_tok[(sel & 0x0F) % g_n];
    unsigned flags = (sel >> 4) & 3u;
    bool unicode = (sel >> 6) & 1u;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char *text = NULL;
    size_t len = 0;
    if (unicode) { /* 3 bytes -> one scalar value */
        text = malloc(n / 3 * 4 + 1);
        for (size_t i = 0; i + 3 <= n; i += 3) {
            uint32_t cp = ((uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2]) % 0x110000u;
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
            if (cp < 0x80) text[len++] = (char)cp;
            else if (cp < 0x800) {
                text[len++] = (char)(0xC0 | (cp >> 6));
                text[len++] = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                text[len++] = (char)(0xE0 | (cp >> 12));
                text[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                text[len++] = (char)(0x80 | (cp & 0x3F));
            } else {
                text[len++] = (char)(0xF0 | (cp >> 18));
                text[len++] = (char)(0x80 | ((cp >> 12) & 0x3F));
                text[len++] = (char)(0x80 | ((cp >> 6) & 0x3F));
                text[len++] = (char)(0x80 | (cp & 0x3F));
            }
        }
    } else {
        text = malloc(n + 1);
        memcpy(text, p, n);
        len = n;
    }
    infer_tok_ids ids = {0};
    rw_err err;
    if (infer_tokenize(t, text, len, flags, &ids, &err) != RW_OK) abort();
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.v[i] < 0 || (size_t)ids.v[i] >= infer_tokenizer_n_vocab(t)) abort();
    }
    infer_tok_kind kind = infer_tokenizer_kind(t);
    if (kind != INFER_TOK_WPM) {
        char *dec;
        size_t dn;
        /* with ADD_SPECIAL, BOS/EOS may surround the text: decode without them */
        size_t skip = 0, drop = 0;
        if ((flags & INFER_TOK_ADD_SPECIAL) && ids.n && infer_tokenizer_add_bos(t) &&
            ids.v[0] == infer_tokenizer_bos(t)) {
            skip = 1;
        }
        if ((flags & INFER_TOK_ADD_SPECIAL) && ids.n > skip && infer_tokenizer_add_eos(t) &&
            ids.v[ids.n - 1] == infer_tokenizer_eos(t)) {
            drop = 1;
        }
        if (infer_detokenize(t, ids.v ? ids.v + skip : NULL, ids.n - skip - drop, 0, &dec, &dn, &err)) {
            abort();
        }
        char *clean = malloc(len * 3 + 1);
        size_t wn = sanitize((const unsigned char *)text, len, clean);
        bool valid = wn == len && memcmp(clean, text, len) == 0;
        bool has_phantom = false; /* U+2581 decodes to a space in SPM (as in llama.cpp) */
        for (size_t i = 0; i + 3 <= len && !has_phantom; i++) {
            has_phantom = memcmp(text + i, "\xe2\x96\x81", 3) == 0;
        }
        /* SPM: lossless on valid UTF-8 without U+2581 (invalid lead bytes can swallow part of
         * an escaped space, exactly as in llama.cpp); BPE: invalid bytes come back as U+FFFD */
        bool check = kind == INFER_TOK_BPE || (valid && !has_phantom);
        if (check && (dn != wn || memcmp(dec, clean, wn) != 0)) {
            fprintf(stderr, "round trip failed (kind %d, flags %u, %zu bytes)\n", (int)kind, flags,
                    len);
            abort();
        }
        free(clean);
        rw_free(dec);
    }
    (void)infer_chat_tmpl_detect((const char *)data, size);
    infer_tok_ids_deinit(&ids);
    free(text);
    return 0;
}
