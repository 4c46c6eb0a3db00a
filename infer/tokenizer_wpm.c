/* WordPiece encoder ("bert" vocabularies) with the BERT-uncased normaliser and
 * pre-tokenizer of Hugging Face tokenizers (BertNormalizer + BertPreTokenizer + WordPiece):
 *   1. drop U+0000, U+FFFD and "other" characters (Cc Cf Cs Co Cn) except \t \n \r; map
 *      \t \n \r and Z* separators to a space;
 *   2. canonical decomposition (NFD, utf8proc) and removal of nonspacing marks (Mn);
 *   3. simple lower-case mapping (utf8proc_tolower);
 *   4. split on spaces; punctuation (ASCII punctuation/symbols or Unicode P*) and CJK
 *      ideographs (BERT's block list) are words of their own;
 *   5. each word: more than 100 characters -> [UNK]; otherwise greedy longest match from
 *      the left, the first piece looked up as U+2581 + text and the continuations as bare
 *      text (llama.cpp's GGUF stores "##x" as "x" and a word start "x" as "\u2581x"); a
 *      word with an unmatched position is [UNK] as a whole.
 * Invalid UTF-8 bytes are dropped (llama.cpp turns them into U+FFFD, which step 1 drops).
 * Unicode data (categories, decomposition, case) comes from utf8proc only. */
#include "infer/tokenizer.h"

#include <string.h>
#include <utf8proc.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

enum { WPM_MAX_WORD_CHARS = 100 };

static bool is_cjk(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static bool is_punct(int32_t c) {
    if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
        (c >= 123 && c <= 126)) {
        return true;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
    }
}

/* Greedy longest-match WordPiece of one normalised word w[0..n) (UTF-8). */
static rw_status wordpiece(const infer_tokenizer *t, const char *w, size_t n, size_t nchars,
                           tok_buf *scratch, infer_tok_ids *out) {
    rw_status st;
    size_t mark = out->n;
    if (nchars > WPM_MAX_WORD_CHARS) return t->unk >= 0 ? infer_tok_ids_push(out, t->unk) : RW_OK;
    scratch->n = 0;
    if ((st = tok_buf_append(scratch, "\xe2\x96\x81", 3)) || (st = tok_buf_append(scratch, w, n))) {
        return st;
    }
    size_t start = 0;
    while (start < n) {
        size_t prefix = start == 0 ? 3 : 0; /* the U+2581 in front of a word start */
        size_t maxlen = t->max_token_len > prefix ? t->max_token_len - prefix : 0;
        size_t end = n - start > maxlen ? start + maxlen : n;
        int32_t found = -1;
        while (end > start) {
            /* only cut at character boundaries */
            if (end < n && ((unsigned char)w[end] & 0xC0) == 0x80) {
                end--;
                continue;
            }
            const char *p = scratch->p + 3 + start - prefix;
            found = tok_lookup(t, p, end - start + prefix);
            if (found >= 0) break;
            end--;
        }
        if (found < 0) {
            out->n = mark;
            return t->unk >= 0 ? infer_tok_ids_push(out, t->unk) : RW_OK;
        }
        if ((st = infer_tok_ids_push(out, found))) return st;
        start = end;
    }
    return RW_OK;
}

rw_status tok_wpm_encode(const infer_tokenizer *t, const char *s, size_t n, infer_tok_ids *out) {
    rw_status st = RW_OK;
    tok_buf clean = {0}, word = {0}, scratch = {0};
    utf8proc_int32_t *cps = NULL;
    if (n == 0) return RW_OK;
    if ((st = tok_utf8_sanitize(s, n, &clean))) goto done;
    /* NFD of the whole run (canonical order matters for the marks kept, e.g. Mc). */
    utf8proc_ssize_t ncp = utf8proc_decompose((const utf8proc_uint8_t *)clean.p,
                                              (utf8proc_ssize_t)clean.n, NULL, 0,
                                              UTF8PROC_DECOMPOSE);
    if (ncp < 0) {
        st = RW_E_INVALID;
        goto done;
    }
    cps = rw_alloc_array((size_t)ncp + 1, sizeof *cps);
    if (!cps) {
        st = RW_E_NOMEM;
        goto done;
    }
    ncp = utf8proc_decompose((const utf8proc_uint8_t *)clean.p, (utf8proc_ssize_t)clean.n, cps,
                             ncp, UTF8PROC_DECOMPOSE);
    if (ncp < 0) {
        st = RW_E_INVALID;
        goto done;
    }
    size_t nchars = 0;
    for (utf8proc_ssize_t i = 0; i <= ncp; i++) {
        int32_t c = i < ncp ? cps[i] : ' ';
        bool space = false, alone = false;
        if (c == '\t' || c == '\n' || c == '\r' || c == ' ') {
            space = true;
        } else {
            utf8proc_category_t cat = utf8proc_category(c);
            if (c == 0 || c == 0xFFFD || cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
                cat == UTF8PROC_CATEGORY_CS || cat == UTF8PROC_CATEGORY_CO ||
                cat == UTF8PROC_CATEGORY_CN || cat == UTF8PROC_CATEGORY_MN) {
                continue;
            }
            if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
                cat == UTF8PROC_CATEGORY_ZP) {
                space = true;
            } else {
                c = utf8proc_tolower(c);
                alone = is_punct(c) || is_cjk(c);
            }
        }
        if ((space || alone) && word.n) {
            if ((st = wordpiece(t, word.p, word.n, nchars, &scratch, out))) goto done;
            word.n = 0;
            nchars = 0;
        }
        if (space) continue;
        char u[4];
        size_t k = tok_utf8_encode(c, u);
        if ((st = tok_buf_append(&word, u, k))) goto done;
        nchars++;
        if (alone) {
            if ((st = wordpiece(t, word.p, word.n, nchars, &scratch, out))) goto done;
            word.n = 0;
            nchars = 0;
        }
    }
done:
    rw_free(cps);
    tok_buf_free(&clean);
    tok_buf_free(&word);
    tok_buf_free(&scratch);
    return st;
}
