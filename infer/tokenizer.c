/* Encode and decode: special-token partition, BOS/EOS/SEP, dispatch to SPM/BPE/WPM.
 *
 * Partition (llama.cpp's tokenizer_st_partition): the input starts as one text fragment;
 * for each special token, longest text first, every text fragment is cut at the
 * non-overlapping leftmost occurrences of that token's text. Tokens with LSTRIP/RSTRIP
 * (phi-3) also eat the ASCII whitespace to their left/right. Without PARSE_SPECIAL only
 * USER_DEFINED tokens take part. A per-call bigram filter skips tokens whose first two
 * bytes never occur in the text, so vocabularies with hundreds of added tokens stay fast.
 *
 * SPM prefixes a space to the first text fragment and to every fragment that follows a
 * special token (add_space_prefix); detokenize removes exactly those spaces. */
#include "infer/tokenizer.h"

#include <ctype.h>
#include <string.h>

#include "core/alloc.h"
#include "core/assert.h"
#include "infer/tokenizer_internal.h"

/* memmem is not POSIX: first byte by memchr, then compare. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t nl) {
    const char *end = hay + n - nl + 1;
    while (hay < end) {
        const char *p = memchr(hay, needle[0], (size_t)(end - hay));
        if (!p) return NULL;
        if (memcmp(p, needle, nl) == 0) return p;
        hay = p + 1;
    }
    return NULL;
}

typedef struct frag {
    int32_t id; /* >= 0: a special token; -1: text */
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static rw_status frags_push(frags *f, int32_t id, size_t off, size_t len) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *v = rw_realloc(f->v, cap * sizeof *v);
        if (!v) return RW_E_NOMEM;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n].id = id;
    f->v[f->n].off = off;
    f->v[f->n].len = len;
    f->n++;
    return RW_OK;
}

/* Cuts the text fragments of `in` at occurrences of token id into `out`. */
static rw_status cut(const infer_tokenizer *t, int32_t id, const char *s, const frags *in,
                     frags *out) {
    const char *needle = tok_text(t, id);
    size_t nl = t->text_len[id];
    uint8_t attr = t->attrs[id];
    rw_status st = RW_OK;
    out->n = 0;
    for (size_t k = 0; k < in->n && !st; k++) {
        frag f = in->v[k];
        if (f.id >= 0 || f.len < nl) {
            st = frags_push(out, f.id, f.off, f.len);
            continue;
        }
        size_t pos = f.off, end = f.off + f.len;
        for (;;) {
            const char *m = end - pos >= nl ? find_bytes(s + pos, end - pos, needle, nl) : NULL;
            if (!m) {
                if (end > pos) st = frags_push(out, -1, pos, end - pos);
                break;
            }
            size_t ms = (size_t)(m - s);
            size_t left_end = ms;
            if (attr & TOK_ATTR_LSTRIP) {
                while (left_end > pos && isspace((unsigned char)s[left_end - 1])) left_end--;
            }
            if (left_end > pos && (st = frags_push(out, -1, pos, left_end - pos))) break;
            if ((st = frags_push(out, id, ms, nl))) break;
            pos = ms + nl;
            if (attr & TOK_ATTR_RSTRIP) {
                while (pos < end && isspace((unsigned char)s[pos])) pos++;
            }
        }
    }
    return st;
}

static rw_status partition(const infer_tokenizer *t, const char *s, size_t n, bool parse_special,
                           frags *out) {
    rw_status st = RW_OK;
    frags tmp = {0};
    uint8_t seen[65536 / 8]; /* bigram (b0 << 8 | b1) occurs in s */
    out->n = 0;
    if ((st = frags_push(out, -1, 0, n))) return st;
    if (t->n_specials == 0) return RW_OK;
    memset(seen, 0, sizeof seen);
    uint8_t first[256 / 8] = {0};
    for (size_t i = 0; i < n; i++) {
        unsigned a = (unsigned char)s[i];
        first[a >> 3] |= (uint8_t)(1u << (a & 7));
        if (i + 1 < n) {
            unsigned bg = a << 8 | (unsigned char)s[i + 1];
            seen[bg >> 3] |= (uint8_t)(1u << (bg & 7));
        }
    }
    for (size_t k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        int ty = t->types[id];
        if (!parse_special && (ty == INFER_TOKTYPE_CONTROL || ty == INFER_TOKTYPE_UNKNOWN)) continue;
        size_t nl = t->text_len[id];
        if (nl > n || nl == 0) continue;
        const unsigned char *p = (const unsigned char *)tok_text(t, id);
        if (nl == 1) {
            if (!(first[p[0] >> 3] & (1u << (p[0] & 7)))) continue;
        } else {
            unsigned bg = (unsigned)p[0] << 8 | p[1];
            if (!(seen[bg >> 3] & (1u << (bg & 7)))) continue;
        }
        if ((st = cut(t, id, s, out, &tmp))) goto done;
        frags sw = *out;
        *out = tmp;
        tmp = sw;
    }
done:
    rw_free(tmp.v);
    return st;
}

rw_status infer_tokenize(const infer_tokenizer *t, const char *text, size_t len, unsigned flags,
                         infer_tok_ids *out, rw_err *err) {
    RW_ASSERT(t && out && (text || len == 0), "infer_tokenize: NULL argument");
    rw_status st = RW_OK;
    frags fr = {0};
    size_t mark = out->n;
    bool add = (flags & INFER_TOK_ADD_SPECIAL) != 0;
    if (add && t->add_bos && t->bos >= 0 && (st = infer_tok_ids_push(out, t->bos))) goto fail;
    if (len > 0) {
        if ((st = partition(t, text, len, (flags & INFER_TOK_PARSE_SPECIAL) != 0, &fr))) goto fail;
    }
    bool prev_special = true;
    for (size_t i = 0; i < fr.n; i++) {
        const frag *f = &fr.v[i];
        if (f->id >= 0) {
            if ((st = infer_tok_ids_push(out, f->id))) goto fail;
            prev_special = true;
            continue;
        }
        switch (t->kind) {
        case INFER_TOK_SPM:
            st = tok_spm_encode(t, text + f->off, f->len, t->add_space_prefix && prev_special, out);
            break;
        case INFER_TOK_BPE: st = tok_bpe_encode(t, text + f->off, f->len, out); break;
        case INFER_TOK_WPM: st = tok_wpm_encode(t, text + f->off, f->len, out); break;
        }
        if (st) goto fail;
        prev_special = false;
    }
    if (add && t->add_eos && t->eos >= 0 && (st = infer_tok_ids_push(out, t->eos))) goto fail;
    if (add && t->add_sep && t->sep >= 0 && (st = infer_tok_ids_push(out, t->sep))) goto fail;
    rw_free(fr.v);
    return RW_OK;
fail:
    rw_free(fr.v);
    out->n = mark;
    if (st == RW_E_UNSUPPORTED) {
        return rw_err_set(err, st, "tokenize: the pre-tokenizer regex hit a PCRE2 limit on %zu bytes",
                          len);
    }
    return rw_err_set(err, st, "tokenize: %s on %zu bytes of text", rw_status_str(st), len);
}

rw_status infer_detokenize(const infer_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                           char **text, size_t *len, rw_err *err) {
    RW_ASSERT(t && text && len && (ids || n == 0), "infer_detokenize: NULL argument");
    tok_buf b = {0};
    rw_status st = tok_buf_reserve(&b, 0);
    bool strip = t->kind == INFER_TOK_WPM ||
                 (t->kind == INFER_TOK_SPM && t->add_space_prefix &&
                  !(flags & INFER_DETOK_KEEP_PREFIX_SPACE));
    bool at_boundary = true;
    for (size_t i = 0; i < n && !st; i++) {
        int32_t id = ids[i];
        if (id < 0 || (size_t)id >= t->n_vocab) {
            tok_buf_free(&b);
            return rw_err_set(err, RW_E_RANGE, "detokenize: id %d at position %zu is outside the "
                              "vocabulary of %zu", (int)id, i, t->n_vocab);
        }
        int ty = t->types[id];
        bool special = ty == INFER_TOKTYPE_CONTROL || ty == INFER_TOKTYPE_UNKNOWN ||
                       ty == INFER_TOKTYPE_USER_DEFINED;
        const char *p = t->pieces + t->piece_off[id];
        size_t pn = t->piece_len[id];
        if (special) {
            if (t->kind == INFER_TOK_SPM) at_boundary = true; /* SPM prefixes after specials */
            if ((flags & INFER_DETOK_SKIP_SPECIAL) && ty != INFER_TOKTYPE_USER_DEFINED) continue;
            st = tok_buf_append(&b, p, pn);
            continue;
        }
        if (at_boundary && strip && pn > 0 && p[0] == ' ') p++, pn--;
        at_boundary = false;
        st = tok_buf_append(&b, p, pn);
    }
    if (st) {
        tok_buf_free(&b);
        return rw_err_set(err, st, "detokenize: out of memory");
    }
    *text = b.p;
    *len = b.n;
    return RW_OK;
}
