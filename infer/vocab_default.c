/* Embedded default vocabularies (see vocab_default.h): a byte-level BPE trainer and a
 * WordPiece vocabulary builder over one paragraph written for this project.
 *
 * BPE reference: Sennrich et al. 2016 (merge the most frequent adjacent pair, repeat) with
 * GPT-2's byte-to-unicode table (printable Latin-1 bytes map to themselves, the other 68
 * bytes to U+0100.. in byte order). Pre-tokenization approximates GPT-2's: an optional
 * leading space joined to a run of letters, digits or other symbols. */
#include "infer/vocab_default.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

enum { BPE_MERGES = 320, MAX_TOK = 64, MAX_WORDS = 1024 };

static const char g_text[] =
    "Retrieval augmented generation answers a question with the help of documents that the "
    "system finds first. The retriever turns the question into a vector, compares it with the "
    "vectors of every passage in the index, and returns the passages that are closest. The "
    "generator then reads the question together with those passages and writes an answer that "
    "should be supported by them. When the answer is good, the user may say so; when it is "
    "wrong, the user may say that too, and the system keeps a record of both. Every week the "
    "workbench reads these records, builds new training pairs from them, and trains small "
    "adapters on top of the frozen model. It then measures the new adapter against the one in "
    "service on questions it has never seen, and it keeps the better of the two. Nothing "
    "leaves the machine: the documents, the questions, the answers and the feedback stay with "
    "the people who own them. A source can be withdrawn at any time, and every adapter that "
    "was trained on it is then retrained without it. The models are small enough to run on a "
    "laptop, and the tests check each part against an independent reference, so that a change "
    "which breaks something is found before it reaches the users. This is how a local search "
    "and answer system can get better from one week to the next, while the people who use it "
    "keep control of their own data. In 2024 and 2025 there were 10, 20 or 30 such runs.";

const char *infer_vocab_default_text(void) { return g_text; }

/* ------------------------------------------------------------------ shared helpers */

typedef struct strlist {
    char **s;
    size_t n, cap;
} strlist;

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) rw_free(l->s[i]);
    rw_free(l->s);
    l->s = NULL;
    l->n = l->cap = 0;
}

/* Appends a copy; returns the index or -1 on allocation failure. */
static long strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 256;
        char **ns = rw_realloc(l->s, cap * sizeof *ns);
        if (!ns) return -1;
        l->s = ns;
        l->cap = cap;
    }
    char *c = rw_strdup(s);
    if (!c) return -1;
    l->s[l->n] = c;
    return (long)l->n++;
}

static long strlist_find(const strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->s[i], s) == 0) return (long)i;
    return -1;
}

/* UTF-8 of a code point < 0x800 (all the byte-to-unicode table needs). */
static size_t utf8_put(char *dst, unsigned cp) {
    if (cp < 0x80) {
        dst[0] = (char)cp;
        return 1;
    }
    dst[0] = (char)(0xC0 | (cp >> 6));
    dst[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static bool byte_is_printable_gpt2(unsigned b) {
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* GPT-2's byte -> code point table. */
static void byte_to_unicode(unsigned table[256]) {
    unsigned n = 0;
    for (unsigned b = 0; b < 256; b++) table[b] = byte_is_printable_gpt2(b) ? b : 256 + n++;
}

/* ------------------------------------------------------------------ BPE */

typedef struct bpe_word {
    int sym[MAX_TOK]; /* token ids */
    int n;
    int count;
} bpe_word;

/* Splits the text into GPT-2-like pre-tokens, counting duplicates. */
static int pretokenize(const char *t, bpe_word *words, int max_words) {
    int nw = 0;
    size_t i = 0, n = strlen(t);
    while (i < n) {
        size_t s = i;
        if (t[i] == ' ' && i + 1 < n && t[i + 1] != ' ') i++;
        int cls = isalpha((unsigned char)t[i]) ? 1 : isdigit((unsigned char)t[i]) ? 2 : 3;
        do {
            i++;
        } while (i < n && t[i] != ' ' &&
                 (cls == 1 ? isalpha((unsigned char)t[i]) != 0
                           : cls == 2 ? isdigit((unsigned char)t[i]) != 0
                                      : !isalnum((unsigned char)t[i])));
        size_t len = i - s;
        if (len > MAX_TOK) len = MAX_TOK;
        int found = -1;
        for (int w = 0; w < nw; w++) {
            if (words[w].n != (int)len) continue;
            bool same = true;
            for (size_t k = 0; k < len && same; k++) same = words[w].sym[k] == (unsigned char)t[s + k];
            if (same) {
                found = w;
                break;
            }
        }
        if (found >= 0) {
            words[found].count++;
        } else if (nw < max_words) {
            bpe_word *w = &words[nw++];
            w->n = (int)len;
            w->count = 1;
            for (size_t k = 0; k < len; k++) w->sym[k] = (unsigned char)t[s + k];
        }
    }
    return nw;
}

static rw_status add_bpe(infer_gguf_writer *w, uint32_t *n_vocab, rw_err *err) {
    unsigned table[256];
    byte_to_unicode(table);
    strlist tokens = {0}, merges = {0};
    rw_status st = RW_OK;
    int32_t *types = NULL;
    int *counts = NULL;
    bpe_word *words = rw_calloc(MAX_WORDS, sizeof *words);
    if (!words) {
        st = rw_err_set(err, RW_E_NOMEM, "out of memory for the default vocabulary");
        goto fail;
    }
    for (unsigned b = 0; b < 256; b++) {
        char u[4] = {0};
        utf8_put(u, table[b]);
        if (strlist_add(&tokens, u) < 0) goto nomem;
    }
    int nw = pretokenize(g_text, words, MAX_WORDS);
    enum { V = 256 + BPE_MERGES };
    counts = rw_calloc((size_t)V * V, sizeof *counts);
    if (!counts) goto nomem;
    for (int m = 0; m < BPE_MERGES; m++) {
        /* Most frequent adjacent pair (counted over word occurrences); ties: the pair whose
         * left then right token text sorts first. */
        for (int wi = 0; wi < nw; wi++)
            for (int k = 0; k + 1 < words[wi].n; k++)
                counts[words[wi].sym[k] * V + words[wi].sym[k + 1]] += words[wi].count;
        int best_a = -1, best_b = -1, best_c = 1;
        for (int wi = 0; wi < nw; wi++)
            for (int q = 0; q + 1 < words[wi].n; q++) {
                int a = words[wi].sym[q], b = words[wi].sym[q + 1];
                int c = counts[a * V + b];
                if (c < best_c || (a == best_a && b == best_b)) continue;
                bool better = c > best_c || best_a < 0;
                if (!better) {
                    int o = strcmp(tokens.s[a], tokens.s[best_a]);
                    better = o < 0 || (o == 0 && strcmp(tokens.s[b], tokens.s[best_b]) < 0);
                }
                if (better) {
                    best_a = a;
                    best_b = b;
                    best_c = c;
                }
            }
        /* back to all zeros for the next round (cheaper than clearing V*V entries) */
        for (int wi = 0; wi < nw; wi++)
            for (int k = 0; k + 1 < words[wi].n; k++) counts[words[wi].sym[k] * V + words[wi].sym[k + 1]] = 0;
        if (best_a < 0) break; /* no adjacent pair left */
        char tok[2 * MAX_TOK * 2 + 2], mrg[sizeof tok + 1];
        snprintf(tok, sizeof tok, "%s%s", tokens.s[best_a], tokens.s[best_b]);
        snprintf(mrg, sizeof mrg, "%s %s", tokens.s[best_a], tokens.s[best_b]);
        long id = strlist_find(&tokens, tok);
        if (id < 0) id = strlist_add(&tokens, tok);
        if (id < 0 || strlist_add(&merges, mrg) < 0) goto nomem;
        for (int wi = 0; wi < nw; wi++) {
            bpe_word *wd = &words[wi];
            int o = 0;
            for (int k = 0; k < wd->n; k++) {
                if (k + 1 < wd->n && wd->sym[k] == best_a && wd->sym[k + 1] == best_b) {
                    wd->sym[o++] = (int)id;
                    k++;
                } else {
                    wd->sym[o++] = wd->sym[k];
                }
            }
            wd->n = o;
        }
    }
    /* Map the raw bytes of the special tokens: they are stored as plain text. */
    uint32_t n_normal = (uint32_t)tokens.n;
    if (strlist_add(&tokens, "<|endoftext|>") < 0 || strlist_add(&tokens, "<|im_start|>") < 0 ||
        strlist_add(&tokens, "<|im_end|>") < 0)
        goto nomem;
    types = rw_alloc_array(tokens.n, sizeof *types);
    if (!types) goto nomem;
    for (size_t i = 0; i < tokens.n; i++) types[i] = i < n_normal ? 1 : 3; /* NORMAL, CONTROL */
    if ((st = infer_gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", err)) ||
        (st = infer_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err)) ||
        (st = infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens.s,
                                            NULL, tokens.n, err)) ||
        (st = infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types,
                                        tokens.n, err)) ||
        (st = infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges.s,
                                            NULL, merges.n, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", n_normal, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", n_normal + 2, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", n_normal, err)) ||
        (st = infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", false, err)) ||
        (st = infer_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false, err)) ||
        (st = infer_gguf_writer_set_str(
             w, "tokenizer.chat_template",
             "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
             "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt "
             "%}{{ '<|im_start|>assistant\\n' }}{% endif %}",
             err)))
        goto fail;
    *n_vocab = (uint32_t)tokens.n;
    goto done;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory building the default vocabulary");
fail:
done:
    rw_free(types);
    rw_free(counts);
    rw_free(words);
    strlist_free(&tokens);
    strlist_free(&merges);
    return st;
}

/* ------------------------------------------------------------------ WordPiece */

static int cmp_word_count(const void *a, const void *b) {
    /* entries are "NNNN word": descending count, then ascending word */
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int c = strncmp(y, x, 4);
    return c != 0 ? c : strcmp(x + 5, y + 5);
}

static rw_status add_wpm(infer_gguf_writer *w, uint32_t *n_vocab, rw_err *err) {
    static const char *const special[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    strlist tokens = {0}, words = {0}, counted = {0};
    rw_status st = RW_OK;
    int32_t *types = NULL;
    for (int i = 0; i < 5; i++)
        if (strlist_add(&tokens, special[i]) < 0) goto nomem;
    char buf[80];
    for (int c = 33; c < 127; c++) {
        if (isupper(c)) continue;
        snprintf(buf, sizeof buf, "\xe2\x96\x81%c", c);
        if (strlist_add(&tokens, buf) < 0) goto nomem;
    }
    for (int c = 33; c < 127; c++) {
        if (isupper(c)) continue;
        snprintf(buf, sizeof buf, "%c", c);
        if (strlist_add(&tokens, buf) < 0) goto nomem;
    }
    /* Lower-cased words of the paragraph, kept when they occur at least twice. */
    size_t n = strlen(g_text);
    for (size_t i = 0; i < n;) {
        if (!isalpha((unsigned char)g_text[i])) {
            i++;
            continue;
        }
        size_t s = i, k = 0;
        while (i < n && isalpha((unsigned char)g_text[i])) i++;
        if (i - s < 2 || i - s > 40) continue;
        for (size_t j = s; j < i; j++) buf[k++] = (char)tolower((unsigned char)g_text[j]);
        buf[k] = '\0';
        if (strlist_add(&words, buf) < 0) goto nomem;
    }
    for (size_t i = 0; i < words.n; i++) {
        if (!words.s[i][0]) continue;
        int c = 1;
        for (size_t j = i + 1; j < words.n; j++)
            if (strcmp(words.s[i], words.s[j]) == 0) {
                c++;
                words.s[j][0] = '\0';
            }
        if (c < 2) continue;
        char e[64];
        snprintf(e, sizeof e, "%04d %s", c, words.s[i]);
        if (strlist_add(&counted, e) < 0) goto nomem;
    }
    if (counted.n > 1) qsort(counted.s, counted.n, sizeof *counted.s, cmp_word_count);
    for (size_t i = 0; i < counted.n; i++) {
        snprintf(buf, sizeof buf, "\xe2\x96\x81%s", counted.s[i] + 5);
        if (strlist_add(&tokens, buf) < 0) goto nomem;
    }
    types = rw_alloc_array(tokens.n, sizeof *types);
    if (!types) goto nomem;
    for (size_t i = 0; i < tokens.n; i++) types[i] = i < 5 ? 3 : 1;
    if ((st = infer_gguf_writer_set_str(w, "tokenizer.ggml.model", "bert", err)) ||
        (st = infer_gguf_writer_set_str(w, "tokenizer.ggml.pre", "default", err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.token_type_count", 2, err)) ||
        (st = infer_gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens.s,
                                            NULL, tokens.n, err)) ||
        (st = infer_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", INFER_GGUF_INT32, types,
                                        tokens.n, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", 0, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 1, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.cls_token_id", 2, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.seperator_token_id", 3, err)) ||
        (st = infer_gguf_writer_set_u32(w, "tokenizer.ggml.mask_token_id", 4, err)))
        goto fail;
    *n_vocab = (uint32_t)tokens.n;
    goto done;
nomem:
    st = rw_err_set(err, RW_E_NOMEM, "out of memory building the default vocabulary");
fail:
done:
    rw_free(types);
    strlist_free(&tokens);
    strlist_free(&words);
    strlist_free(&counted);
    return st;
}

rw_status infer_vocab_default_add(infer_gguf_writer *w, infer_vocab_default_kind kind,
                                  uint32_t *n_vocab, rw_err *err) {
    return kind == INFER_VOCAB_DEFAULT_BPE ? add_bpe(w, n_vocab, err) : add_wpm(w, n_vocab, err);
}
