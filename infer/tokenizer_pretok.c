/* Pre-tokenizers of byte-level BPE, UTF-8 helpers and the GPT-2 byte<->character map.
 *
 * A pre-tokenizer is a list of regexes applied in sequence (llama.cpp's unicode_regex_split):
 * the text starts as one piece; each regex is matched left to right inside each current
 * piece (the piece is the whole subject: lookaheads and `$` stop at its end), and every match
 * and every unmatched gap between matches becomes a piece of the next round. The regex
 * lists are the ones llama.cpp uses per tokenizer.ggml.pre (facts from llama-vocab.cpp),
 * compiled by PCRE2 in UTF + UCP mode (so \s, \p{L}, \p{N}, \p{P} follow Unicode) with
 * DOLLAR_ENDONLY (ECMAScript's `$`), JIT-compiled when the platform supports it.
 * The split requires valid UTF-8 (tokenizer.c sanitises first).
 *
 * GPT-2 byte map: bytes 0x21-0x7E, 0xA1-0xAC, 0xAE-0xFF stand for themselves; the other 68
 * bytes map, in increasing order, to U+0100.. (the "bytes_to_unicode" table of GPT-2). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "infer/tokenizer.h"

#include <pcre2.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

/* ------------------------------------------------------------------ UTF-8 */

size_t tok_utf8_len(unsigned char c) {
    static const unsigned char lens[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lens[c >> 4];
}

size_t tok_utf8_decode(const unsigned char *s, size_t n, int32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    if (c < 0xC2 || c > 0xF4) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = (int32_t)(((c & 0x1Fu) << 6) | (s[1] & 0x3Fu));
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80) return 0;
        uint32_t v = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF)) return 0;
        *cp = (int32_t)v;
        return 3;
    }
    if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    uint32_t v = ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    if (v < 0x10000 || v > 0x10FFFF) return 0;
    *cp = (int32_t)v;
    return 4;
}

size_t tok_utf8_encode(int32_t cp, char *out) {
    uint32_t c = (uint32_t)cp;
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

rw_status tok_utf8_sanitize(const char *s, size_t n, tok_buf *out) {
    rw_status st = tok_buf_reserve(out, n);
    if (st) return st;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        while (run < n && (unsigned char)s[run] < 0x80) run++;
        if (run > i) {
            if ((st = tok_buf_append(out, s + i, run - i))) return st;
            i = run;
            continue;
        }
        int32_t cp;
        size_t k = tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (k) {
            st = tok_buf_append(out, s + i, k);
            i += k;
        } else {
            st = tok_buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        }
        if (st) return st;
    }
    return tok_buf_reserve(out, 0);
}

/* ------------------------------------------------------------------ GPT-2 byte map */

static bool byte_is_self(int b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

int32_t tok_byte_to_cp(unsigned char b) {
    if (byte_is_self(b)) return b;
    int32_t k = 0;
    for (int i = 0; i < b; i++) k += !byte_is_self(i);
    return 256 + k;
}

int tok_cp_to_byte(int32_t cp) {
    if (cp < 0) return -1;
    if (cp < 256) return byte_is_self(cp) ? cp : -1;
    int32_t k = cp - 256;
    for (int b = 0; b < 256; b++) {
        if (!byte_is_self(b) && k-- == 0) return b;
    }
    return -1;
}

/* ------------------------------------------------------------------ regex lists */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"

static const char *const rx_default[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+",
                                         "[0-9][0-9][0-9]", NULL};
static const char *const rx_gpt2[] = {RX_GPT2, NULL};
static const char *const rx_llama3[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_qwen2[] = {
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL};
static const char *const rx_deepseek_llm[] = {
    "[\\r\\n]",
    /* cased letters (Lu Ll Lt), as llama.cpp lists them, written as \x{...} so no editor can normalise them */
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
    "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-"
    "\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}"
    "\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-"
    "\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
    "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-"
    "\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
    "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
    "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-"
    "\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}"
    "-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-"
    "\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "\\s+$",
    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+",
    "\\p{N}+",
    NULL};
static const char *const rx_deepseek_coder[] = {
    "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+", "\\p{N}", NULL};
static const char *const rx_falcon[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]",
                                        NULL};
static const char *const rx_starcoder[] = {"\\p{N}", RX_GPT2, NULL};

static const char *const *const rx_lists[INFER_PRE_COUNT] = {
    [INFER_PRE_DEFAULT] = rx_default,
    [INFER_PRE_GPT2] = rx_gpt2,
    [INFER_PRE_LLAMA3] = rx_llama3,
    [INFER_PRE_QWEN2] = rx_qwen2,
    [INFER_PRE_DEEPSEEK_LLM] = rx_deepseek_llm,
    [INFER_PRE_DEEPSEEK_CODER] = rx_deepseek_coder,
    [INFER_PRE_FALCON] = rx_falcon,
    [INFER_PRE_STARCODER] = rx_starcoder,
};

typedef struct pre_name {
    const char *name;
    infer_tok_pre pre;
} pre_name;

/* tokenizer.ggml.pre names (llama.cpp's llama_vocab::load) grouped by regex list. */
static const pre_name pre_names[] = {
    {"default", INFER_PRE_DEFAULT},
    {"gpt-2", INFER_PRE_GPT2},
    {"phi-2", INFER_PRE_GPT2},
    {"mpt", INFER_PRE_GPT2},
    {"olmo", INFER_PRE_GPT2},
    {"jais", INFER_PRE_GPT2},
    {"jina-es", INFER_PRE_GPT2},
    {"jina-de", INFER_PRE_GPT2},
    {"jina-v1-en", INFER_PRE_GPT2},
    {"jina-v2-es", INFER_PRE_GPT2},
    {"jina-v2-de", INFER_PRE_GPT2},
    {"jina-v2-code", INFER_PRE_GPT2},
    {"roberta-bpe", INFER_PRE_GPT2},
    {"gigachat", INFER_PRE_GPT2},
    {"trillion", INFER_PRE_GPT2},
    {"llama3", INFER_PRE_LLAMA3},
    {"llama-v3", INFER_PRE_LLAMA3},
    {"llama-bpe", INFER_PRE_LLAMA3},
    {"falcon3", INFER_PRE_LLAMA3},
    {"dbrx", INFER_PRE_LLAMA3},
    {"smaug-bpe", INFER_PRE_LLAMA3},
    {"qwen2", INFER_PRE_QWEN2},
    {"qwen2.5", INFER_PRE_QWEN2},
    {"deepseek-r1-qwen", INFER_PRE_QWEN2},
    {"stablelm2", INFER_PRE_QWEN2},
    {"megrez", INFER_PRE_QWEN2},
    {"hunyuan", INFER_PRE_QWEN2},
    {"deepseek-llm", INFER_PRE_DEEPSEEK_LLM},
    {"deepseek-coder", INFER_PRE_DEEPSEEK_CODER},
    {"falcon", INFER_PRE_FALCON},
    {"starcoder", INFER_PRE_STARCODER},
    {"refact", INFER_PRE_STARCODER},
    {"command-r", INFER_PRE_STARCODER},
    {"smollm", INFER_PRE_STARCODER},
    {"codeshell", INFER_PRE_STARCODER},
    {"exaone", INFER_PRE_STARCODER},
    {"minerva-7b", INFER_PRE_STARCODER},
};

int tok_pre_from_name(const char *name) {
    if (!name || !name[0]) return INFER_PRE_DEFAULT; /* old files without the key */
    for (size_t i = 0; i < sizeof pre_names / sizeof *pre_names; i++) {
        if (strcmp(pre_names[i].name, name) == 0) return (int)pre_names[i].pre;
    }
    return -1;
}

const char *infer_tok_pre_name(infer_tok_pre p) {
    static const char *const names[INFER_PRE_COUNT] = {
        "default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder", "falcon",
        "starcoder"};
    return (unsigned)p < INFER_PRE_COUNT ? names[p] : "?";
}

/* ------------------------------------------------------------------ compile and split */

rw_status tok_pretok_compile(tok_pretok *p, infer_tok_pre pre, rw_err *err) {
    memset(p, 0, sizeof *p);
    if ((unsigned)pre >= INFER_PRE_COUNT) pre = INFER_PRE_DEFAULT;
    const char *const *list = rx_lists[pre];
    for (size_t i = 0; list[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *code = pcre2_compile((PCRE2_SPTR)list[i], PCRE2_ZERO_TERMINATED,
                                         PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo,
                                         NULL);
        if (!code) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            tok_pretok_free(p);
            return rw_err_set(err, RW_E_UNSUPPORTED,
                              "tokenizer: pre-tokenizer %s regex %zu at offset %zu: %s",
                              infer_tok_pre_name(pre), i, (size_t)eo, (const char *)msg);
        }
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        p->code[p->n++] = code;
    }
    return RW_OK;
}

void tok_pretok_free(tok_pretok *p) {
    for (size_t i = 0; i < p->n; i++) pcre2_code_free((pcre2_code *)p->code[i]);
    p->n = 0;
}

void tok_spans_free(tok_spans *s) {
    rw_free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

static rw_status spans_push(tok_spans *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        tok_span *v = rw_realloc(s->v, cap * sizeof *v);
        if (!v) return RW_E_NOMEM;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return RW_OK;
}

/* One regex over every span of `in`, appending the pieces to `out`. */
static rw_status split_one(const pcre2_code *code, pcre2_match_data *md, const char *s,
                           const tok_spans *in, tok_spans *out) {
    rw_status st = RW_OK;
    for (size_t k = 0; k < in->n && !st; k++) {
        size_t base = in->v[k].off, len = in->v[k].len;
        const PCRE2_SPTR subj = (PCRE2_SPTR)(s + base);
        size_t last = 0, pos = 0;
        while (pos < len) {
            int rc = pcre2_match(code, subj, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) return RW_E_UNSUPPORTED; /* match limits: reported by the caller */
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me <= ms) { /* empty match: step one character, no piece */
                pos = ms + tok_utf8_len((unsigned char)s[base + ms]);
                continue;
            }
            if (ms > last && (st = spans_push(out, base + last, ms - last))) break;
            if ((st = spans_push(out, base + ms, me - ms))) break;
            last = pos = me;
        }
        if (!st && last < len) st = spans_push(out, base + last, len - last);
    }
    return st;
}

rw_status tok_pretok_split(const tok_pretok *p, const char *s, size_t n, tok_spans *out) {
    rw_status st = RW_OK;
    tok_spans a = {0}, b = {0};
    pcre2_match_data *md = NULL;
    if (n == 0) return RW_OK;
    if (p->n == 0) return spans_push(out, 0, n);
    md = pcre2_match_data_create(4, NULL);
    if (!md) return RW_E_NOMEM;
    if ((st = spans_push(&a, 0, n))) goto done;
    for (size_t r = 0; r < p->n; r++) {
        tok_spans *dst = (r + 1 == p->n) ? out : &b;
        if (dst == &b) b.n = 0;
        if ((st = split_one((const pcre2_code *)p->code[r], md, s, &a, dst))) goto done;
        if (dst == &b) {
            tok_spans tmp = a;
            a = b;
            b = tmp;
        }
    }
done:
    pcre2_match_data_free(md);
    tok_spans_free(&a);
    tok_spans_free(&b);
    return st;
}
