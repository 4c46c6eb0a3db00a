/* Chat template rendering and assistant-span token masks (see chat_template.h).
 *
 * Each family renders exactly llama.cpp's llm_chat_apply_template text for the same
 * messages (trim = ASCII isspace at both ends, as llama.cpp's trim); the detection
 * heuristics are llama.cpp's llm_chat_detect_template substring tests, in its order.
 * Invariant: spans are in increasing, non-overlapping order and lie inside the text. */
#include "infer/chat_template.h"

#include <ctype.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/gguf.h"
#include "infer/tokenizer_internal.h"

static const char *const k_names[INFER_CHAT_COUNT] = {
    [INFER_CHAT_NONE] = "none",
    [INFER_CHAT_CHATML] = "chatml",
    [INFER_CHAT_LLAMA3] = "llama3",
    [INFER_CHAT_GEMMA] = "gemma",
    [INFER_CHAT_PHI3] = "phi3",
    [INFER_CHAT_LLAMA2] = "llama2",
    [INFER_CHAT_LLAMA2_SYS] = "llama2-sys",
    [INFER_CHAT_LLAMA2_SYS_BOS] = "llama2-sys-bos",
    [INFER_CHAT_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [INFER_CHAT_MISTRAL_V1] = "mistral-v1",
    [INFER_CHAT_MISTRAL_V3] = "mistral-v3",
    [INFER_CHAT_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken",
    [INFER_CHAT_MISTRAL_V7] = "mistral-v7",
};

const char *infer_chat_tmpl_name(infer_chat_tmpl t) {
    return (unsigned)t < INFER_CHAT_COUNT ? k_names[t] : "?";
}

infer_chat_tmpl infer_chat_tmpl_from_name(const char *name) {
    if (!name) return INFER_CHAT_NONE;
    for (int i = 1; i < INFER_CHAT_COUNT; i++) {
        if (strcmp(name, k_names[i]) == 0) return (infer_chat_tmpl)i;
    }
    static const struct {
        const char *alias;
        infer_chat_tmpl t;
    } aliases[] = {{"qwen", INFER_CHAT_CHATML},     {"qwen2", INFER_CHAT_CHATML},
                   {"qwen3", INFER_CHAT_CHATML},    {"llama-3", INFER_CHAT_LLAMA3},
                   {"phi-3", INFER_CHAT_PHI3},      {"mistral", INFER_CHAT_MISTRAL_V3},
                   {"llama-2", INFER_CHAT_LLAMA2_SYS_BOS}};
    for (size_t i = 0; i < sizeof aliases / sizeof *aliases; i++) {
        if (strcmp(name, aliases[i].alias) == 0) return aliases[i].t;
    }
    return INFER_CHAT_NONE;
}

static bool has(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (k > n) return false;
    for (size_t i = 0; i + k <= n; i++) {
        if (s[i] == needle[0] && memcmp(s + i, needle, k) == 0) return true;
    }
    return false;
}

infer_chat_tmpl infer_chat_tmpl_detect(const char *s, size_t n) {
    if (!s) return INFER_CHAT_NONE;
    if (has(s, n, "<|im_start|>")) {
        /* phi-4 (<|im_sep|>) and smolvlm are other families */
        if (has(s, n, "<|im_sep|>") || has(s, n, "<end_of_utterance>")) return INFER_CHAT_NONE;
        return INFER_CHAT_CHATML;
    }
    if ((n >= 7 && memcmp(s, "mistral", 7) == 0) || has(s, n, "[INST]")) {
        if (has(s, n, "[SYSTEM_PROMPT]")) return INFER_CHAT_MISTRAL_V7;
        if (has(s, n, "' [INST] ' + system_message") || has(s, n, "[AVAILABLE_TOOLS]")) {
            if (has(s, n, " [INST]")) return INFER_CHAT_MISTRAL_V1;
            if (has(s, n, "\"[INST]\"")) return INFER_CHAT_MISTRAL_V3_TEKKEN;
            return INFER_CHAT_MISTRAL_V3;
        }
        if (has(s, n, "content.strip()")) return INFER_CHAT_LLAMA2_SYS_STRIP;
        if (has(s, n, "bos_token + '[INST]")) return INFER_CHAT_LLAMA2_SYS_BOS;
        if (has(s, n, "<<SYS>>")) return INFER_CHAT_LLAMA2_SYS;
        return INFER_CHAT_LLAMA2;
    }
    if (has(s, n, "<|assistant|>") && has(s, n, "<|end|>")) return INFER_CHAT_PHI3;
    if (has(s, n, "<start_of_turn>")) return INFER_CHAT_GEMMA;
    if (has(s, n, "<|start_header_id|>") && has(s, n, "<|end_header_id|>")) {
        return INFER_CHAT_LLAMA3;
    }
    return INFER_CHAT_NONE;
}

rw_status infer_chat_tmpl_from_gguf(const infer_gguf *g, infer_chat_tmpl *out, rw_err *err) {
    infer_gguf_str s;
    if (!infer_gguf_get(g, "tokenizer.chat_template")) {
        return rw_err_set(err, RW_E_NOTFOUND, "tokenizer.chat_template: absent");
    }
    rw_status st = infer_gguf_get_str(g, "tokenizer.chat_template", &s, err);
    if (st) return st;
    infer_chat_tmpl t = infer_chat_tmpl_detect(s.ptr, (size_t)s.len);
    if (t == INFER_CHAT_NONE) {
        int show = s.len > 60 ? 60 : (int)s.len;
        return rw_err_set(err, RW_E_UNSUPPORTED,
                          "tokenizer.chat_template: no known family in \"%.*s...\" (name one: "
                          "chatml, llama3, gemma, phi3, llama2, mistral-v3, ...)",
                          show, s.ptr);
    }
    *out = t;
    return RW_OK;
}

/* ------------------------------------------------------------------ rendering */

typedef struct renderer {
    tok_buf b;
    infer_chat_span *spans;
    size_t n_spans, cap_spans;
    rw_status st;
} renderer;

static void put(renderer *r, const char *s) {
    if (!r->st) r->st = tok_buf_append(&r->b, s, strlen(s));
}

static void put_n(renderer *r, const char *s, size_t n) {
    if (!r->st) r->st = tok_buf_append(&r->b, s, n);
}

/* ASCII-whitespace trim, as llama.cpp's trim(). */
static void put_trimmed(renderer *r, const char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && isspace((unsigned char)s[a])) a++;
    while (n > a && isspace((unsigned char)s[n - 1])) n--;
    put_n(r, s + a, n - a);
}

static void span(renderer *r, size_t begin, size_t msg) {
    if (r->st) return;
    if (r->n_spans == r->cap_spans) {
        size_t cap = r->cap_spans ? r->cap_spans * 2 : 8;
        infer_chat_span *v = rw_realloc(r->spans, cap * sizeof *v);
        if (!v) {
            r->st = RW_E_NOMEM;
            return;
        }
        r->spans = v;
        r->cap_spans = cap;
    }
    r->spans[r->n_spans].begin = begin;
    r->spans[r->n_spans].end = r->b.n;
    r->spans[r->n_spans].msg = msg;
    r->n_spans++;
}

static bool is_role(const infer_chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

/* An assistant turn's content, then its end marker, recorded as a span. */
static void assistant(renderer *r, size_t msg, const char *content, bool trim, const char *eot) {
    size_t begin = r->b.n;
    if (trim) put_trimmed(r, content);
    else put(r, content);
    put(r, eot);
    span(r, begin, msg);
}

static void render_llama2(renderer *r, infer_chat_tmpl t, const infer_chat_msg *m, size_t n) {
    bool sys = t != INFER_CHAT_LLAMA2;
    bool bos_inside = t == INFER_CHAT_LLAMA2_SYS_BOS || t == INFER_CHAT_LLAMA2_SYS_STRIP;
    bool strip = t == INFER_CHAT_LLAMA2_SYS_STRIP;
    bool inside = true; /* BOS at the very start comes from the tokenizer */
    put(r, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            put(r, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        if (is_role(&m[i], "system")) {
            if (sys) put(r, "<<SYS>>\n");
            if (strip) put_trimmed(r, m[i].content);
            else put(r, m[i].content);
            put(r, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (is_role(&m[i], "user")) {
            if (strip) put_trimmed(r, m[i].content);
            else put(r, m[i].content);
            put(r, " [/INST]");
        } else {
            assistant(r, i, m[i].content, strip, "</s>");
            inside = false;
        }
    }
}

static void render_mistral(renderer *r, infer_chat_tmpl t, const infer_chat_msg *m, size_t n) {
    const char *lead = t == INFER_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = t == INFER_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool trim = t == INFER_CHAT_MISTRAL_V3;
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            put(r, lead);
            put(r, "[INST]");
            put(r, trail);
            inside = true;
        }
        if (is_role(&m[i], "system")) {
            put(r, m[i].content);
            put(r, "\n\n");
        } else if (is_role(&m[i], "user")) {
            put(r, m[i].content);
            put(r, lead);
            put(r, "[/INST]");
        } else {
            put(r, trail);
            assistant(r, i, m[i].content, trim, "</s>");
            inside = false;
        }
    }
}

rw_status infer_chat_render(infer_chat_tmpl tmpl, const infer_chat_msg *msgs, size_t n,
                            bool add_generation_prompt, infer_chat_text *out, rw_err *err) {
    renderer r = {0};
    memset(out, 0, sizeof *out);
    if (tmpl <= INFER_CHAT_NONE || tmpl >= INFER_CHAT_COUNT) {
        return rw_err_set(err, RW_E_INVALID, "chat template: no family given (%d)", (int)tmpl);
    }
    for (size_t i = 0; i < n; i++) {
        if (!msgs[i].role || !msgs[i].content) {
            return rw_err_set(err, RW_E_INVALID, "chat messages[%zu]: %s is missing", i,
                              msgs[i].role ? "content" : "role");
        }
    }
    r.st = tok_buf_reserve(&r.b, 256);
    switch (tmpl) {
    case INFER_CHAT_CHATML:
        for (size_t i = 0; i < n; i++) {
            put(&r, "<|im_start|>");
            put(&r, msgs[i].role);
            put(&r, "\n");
            if (is_role(&msgs[i], "assistant")) {
                assistant(&r, i, msgs[i].content, false, "<|im_end|>");
            } else {
                put(&r, msgs[i].content);
                put(&r, "<|im_end|>");
            }
            put(&r, "\n");
        }
        if (add_generation_prompt) put(&r, "<|im_start|>assistant\n");
        break;
    case INFER_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            put(&r, "<|start_header_id|>");
            put(&r, msgs[i].role);
            put(&r, "<|end_header_id|>\n\n");
            if (is_role(&msgs[i], "assistant")) {
                assistant(&r, i, msgs[i].content, true, "<|eot_id|>");
            } else {
                put_trimmed(&r, msgs[i].content);
                put(&r, "<|eot_id|>");
            }
        }
        if (add_generation_prompt) put(&r, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case INFER_CHAT_GEMMA: {
        /* no system role: its (trimmed) text goes in front of the next user turn */
        tok_buf sys = {0};
        for (size_t i = 0; i < n && !r.st; i++) {
            if (is_role(&msgs[i], "system")) {
                size_t a = 0, e = strlen(msgs[i].content);
                const char *c = msgs[i].content;
                while (a < e && isspace((unsigned char)c[a])) a++;
                while (e > a && isspace((unsigned char)c[e - 1])) e--;
                r.st = tok_buf_append(&sys, c + a, e - a);
                continue;
            }
            bool model = is_role(&msgs[i], "assistant");
            put(&r, "<start_of_turn>");
            put(&r, model ? "model" : msgs[i].role);
            put(&r, "\n");
            if (sys.n && !model) {
                put_n(&r, sys.p, sys.n);
                put(&r, "\n\n");
                sys.n = 0;
            }
            if (model) {
                assistant(&r, i, msgs[i].content, true, "<end_of_turn>");
            } else {
                put_trimmed(&r, msgs[i].content);
                put(&r, "<end_of_turn>");
            }
            put(&r, "\n");
        }
        tok_buf_free(&sys);
        if (add_generation_prompt) put(&r, "<start_of_turn>model\n");
        break;
    }
    case INFER_CHAT_PHI3:
        for (size_t i = 0; i < n; i++) {
            put(&r, "<|");
            put(&r, msgs[i].role);
            put(&r, "|>\n");
            if (is_role(&msgs[i], "assistant")) {
                assistant(&r, i, msgs[i].content, false, "<|end|>");
            } else {
                put(&r, msgs[i].content);
                put(&r, "<|end|>");
            }
            put(&r, "\n");
        }
        if (add_generation_prompt) put(&r, "<|assistant|>\n");
        break;
    case INFER_CHAT_LLAMA2:
    case INFER_CHAT_LLAMA2_SYS:
    case INFER_CHAT_LLAMA2_SYS_BOS:
    case INFER_CHAT_LLAMA2_SYS_STRIP: render_llama2(&r, tmpl, msgs, n); break;
    case INFER_CHAT_MISTRAL_V1:
    case INFER_CHAT_MISTRAL_V3:
    case INFER_CHAT_MISTRAL_V3_TEKKEN: render_mistral(&r, tmpl, msgs, n); break;
    case INFER_CHAT_MISTRAL_V7:
        for (size_t i = 0; i < n; i++) {
            if (is_role(&msgs[i], "system")) {
                put(&r, "[SYSTEM_PROMPT] ");
                put(&r, msgs[i].content);
                put(&r, "[/SYSTEM_PROMPT]");
            } else if (is_role(&msgs[i], "user")) {
                put(&r, "[INST] ");
                put(&r, msgs[i].content);
                put(&r, "[/INST]");
            } else {
                put(&r, " ");
                assistant(&r, i, msgs[i].content, false, "</s>");
            }
        }
        break;
    default: break;
    }
    if (!r.st) r.st = tok_buf_reserve(&r.b, 0);
    if (r.st) {
        tok_buf_free(&r.b);
        rw_free(r.spans);
        return rw_err_set(err, r.st, "chat template %s: out of memory", infer_chat_tmpl_name(tmpl));
    }
    out->text = r.b.p;
    out->len = r.b.n;
    out->spans = r.spans;
    out->n_spans = r.n_spans;
    return RW_OK;
}

void infer_chat_text_deinit(infer_chat_text *c) {
    if (!c) return;
    rw_free(c->text);
    rw_free(c->spans);
    memset(c, 0, sizeof *c);
}

/* ------------------------------------------------------------------ token masks */

rw_status infer_chat_token_mask(const infer_tokenizer *t, const char *text, size_t len,
                                const int32_t *ids, size_t n_ids, const infer_chat_span *spans,
                                size_t n_spans, uint8_t *mask, rw_err *err) {
    size_t cur = 0, sp = 0;
    bool boundary = true;
    bool spm_prefix = infer_tokenizer_kind(t) == INFER_TOK_SPM && t->add_space_prefix;
    for (size_t i = 0; i < n_ids; i++) {
        size_t pn;
        const char *p = infer_tokenizer_piece(t, ids[i], &pn);
        if (!p) {
            return rw_err_set(err, RW_E_RANGE, "chat mask: id %d at %zu is outside the vocabulary",
                              (int)ids[i], i);
        }
        int ty = infer_tokenizer_type(t, ids[i]);
        bool special = ty == INFER_TOKTYPE_CONTROL || ty == INFER_TOKTYPE_UNKNOWN ||
                       ty == INFER_TOKTYPE_USER_DEFINED;
        size_t begin = cur, n = 0;
        if (special) {
            if (spm_prefix) boundary = true;
            if (pn <= len - cur && memcmp(text + cur, p, pn) == 0) n = pn;
            /* else: added by the tokenizer (BOS/EOS), no bytes */
        } else {
            if (boundary && spm_prefix && pn > 0 && p[0] == ' ') p++, pn--;
            boundary = false;
            /* specials with RSTRIP/LSTRIP ate whitespace the pieces do not show */
            while (!(pn <= len - cur && memcmp(text + cur, p, pn) == 0) && cur < len &&
                   isspace((unsigned char)text[cur])) {
                cur++;
            }
            if (!(pn <= len - cur && memcmp(text + cur, p, pn) == 0)) {
                return rw_err_set(err, RW_E_FORMAT,
                                  "chat mask: token %zu (id %d) does not spell the text at byte %zu",
                                  i, (int)ids[i], cur);
            }
            begin = cur;
            n = pn;
        }
        cur = begin + n;
        while (sp < n_spans && spans[sp].end <= begin) sp++;
        mask[i] = (uint8_t)(n > 0 && sp < n_spans && spans[sp].begin < begin + n);
    }
    return RW_OK;
}
