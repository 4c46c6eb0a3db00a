/* SentencePiece-BPE encoder ("llama" vocabularies), llama.cpp's llm_tokenizer_spm semantics.
 *
 * The run of text is escaped (an optional leading space, then every ' ' -> U+2581), cut into
 * symbols of one UTF-8 character each (the lead byte decides the length, so invalid bytes
 * become one-byte symbols), and adjacent pairs whose concatenation is a token go into a
 * max-heap ordered by (token score desc, left position asc). Popping merges the pair when
 * both symbols are unchanged (their byte sizes still add up to the pair's size); the new
 * neighbours are pushed. Every final symbol is a token (a merge result is a token by
 * construction) or a single character that is not: then its bytes are emitted as <0xNN>
 * byte-fallback tokens. O(n log n) in the run length.
 * Speed: symbols carry their token id, and a pair of two tokens is tested with one probe of
 * the precomputed (left id, right id) -> token table (tokenizer_vocab.c); only a pair with a
 * character that is not a token falls back to hashing the text. */
#include "infer/tokenizer.h"

#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

typedef struct spm_sym {
    int32_t start, n, prev, next, id; /* id: token of the text, -1 when none */
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right, size, id;
} spm_pair;

/* a before b in pop order */
static bool spm_before(const spm_pair *a, const spm_pair *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

TOK_HEAP_DEFINE(spm_heap, spm_pair, spm_before, 256)

static rw_status try_pair(const infer_tokenizer *t, const char *text, const spm_sym *sym,
                          int32_t left, int32_t right, spm_heap *h) {
    if (left < 0 || right < 0) return RW_OK;
    int32_t size = sym[left].n + sym[right].n;
    int32_t id;
    if (sym[left].id >= 0 && sym[right].id >= 0) {
        if (tok_merge_find(t, sym[left].id, sym[right].id, &id) < 0) return RW_OK;
    } else {
        id = tok_lookup(t, text + sym[left].start, (size_t)size);
        if (id < 0) return RW_OK;
    }
    spm_pair p = {t->scores[id], left, right, size, id};
    return spm_heap_push(h, p);
}

/* Per-call scratch, reused across the words of one call. */
typedef struct spm_ctx {
    const infer_tokenizer *t;
    spm_sym *sym;
    size_t sym_cap;
    spm_heap heap;
    tok_cache cache;
} spm_ctx;

/* The merge loop over one run text[0..len) (escaped), ids appended to out. */
static rw_status spm_run(spm_ctx *c, const char *text, int32_t len, infer_tok_ids *out) {
    const infer_tokenizer *t = c->t;
    rw_status st;
    if ((size_t)len > c->sym_cap) {
        spm_sym *s = rw_realloc(c->sym, (size_t)len * sizeof *s);
        if (!s) return RW_E_NOMEM;
        c->sym = s;
        c->sym_cap = (size_t)len;
    }
    spm_sym *sym = c->sym;
    int32_t ns = 0;
    for (int32_t off = 0; off < len;) {
        int32_t k = (int32_t)tok_utf8_len((unsigned char)text[off]);
        if (k > len - off) k = len - off;
        sym[ns].start = off;
        sym[ns].n = k;
        sym[ns].id = tok_lookup(t, text + off, (size_t)k);
        sym[ns].prev = ns - 1;
        off += k;
        sym[ns].next = off == len ? -1 : ns + 1;
        ns++;
    }
    c->heap.n = 0;
    for (int32_t i = 1; i < ns; i++) {
        if ((st = try_pair(t, text, sym, i - 1, i, &c->heap))) return st;
    }
    while (c->heap.n) {
        spm_pair p = spm_heap_pop(&c->heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        l->id = p.id;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if ((st = try_pair(t, text, sym, l->prev, p.left, &c->heap))) return st;
        if ((st = try_pair(t, text, sym, p.left, l->next, &c->heap))) return st;
    }
    for (int32_t i = ns ? 0 : -1; i != -1; i = sym[i].next) {
        const char *piece = text + sym[i].start;
        int32_t id = sym[i].id;
        if (id >= 0) {
            if ((st = infer_tok_ids_push(out, id))) return st;
            continue;
        }
        for (int32_t j = 0; j < sym[i].n; j++) {
            unsigned char ch = (unsigned char)piece[j];
            int32_t b = t->byte_ext[ch];
            if (b < 0) b = tok_lookup(t, (const char *)&piece[j], 1);
            if (b < 0) b = t->unk;
            if (b >= 0 && (st = infer_tok_ids_push(out, b))) return st;
        }
    }
    return RW_OK;
}

static rw_status spm_word(spm_ctx *c, const char *w, int32_t n, infer_tok_ids *out) {
    uint64_t h = tok_hash(w, (size_t)n);
    rw_status st;
    if (tok_cache_get(&c->cache, w, (size_t)n, h, out, &st)) return st;
    size_t mark = out->n;
    if ((st = spm_run(c, w, n, out))) return st;
    return tok_cache_put(&c->cache, w, (size_t)n, h, out->v + mark, out->n - mark);
}

rw_status tok_spm_encode(const infer_tokenizer *t, const char *s, size_t n, bool prefix_space,
                         infer_tok_ids *out) {
    rw_status st = RW_OK;
    tok_buf esc = {0};
    spm_ctx c = {0};
    c.t = t;
    if (n == 0 && !prefix_space) return RW_OK;
    if (n > (size_t)INT32_MAX / 4) return RW_E_RANGE;

    if ((st = tok_buf_reserve(&esc, n + 3))) goto done;
    if (prefix_space) tok_buf_append(&esc, "\xe2\x96\x81", 3);
    for (size_t i = 0; i < n;) {
        const char *sp = memchr(s + i, ' ', n - i);
        size_t run = sp ? (size_t)(sp - (s + i)) : n - i;
        if ((st = tok_buf_append(&esc, s + i, run))) goto done;
        i += run;
        if (sp) {
            if ((st = tok_buf_append(&esc, "\xe2\x96\x81", 3))) goto done;
            i++;
        }
    }
    const char *text = esc.p;
    int32_t len = (int32_t)esc.n;
    c.cache.base = text;
    if (!t->spm_word_split) {
        st = spm_run(&c, text, len, out);
        goto done;
    }
    /* Words start at a U+2581 symbol that follows a non-U+2581 symbol. Symbols are cut by
     * the same lead-byte rule as in spm_run, so each word's symbols are the run's symbols. */
    int32_t start = 0;
    bool prev_space = false;
    for (int32_t pos = 0; pos < len;) {
        int32_t k = (int32_t)tok_utf8_len((unsigned char)text[pos]);
        if (k > len - pos) k = len - pos;
        bool space = k == 3 && memcmp(text + pos, "\xe2\x96\x81", 3) == 0;
        if (space && !prev_space && pos > start) {
            if ((st = spm_word(&c, text + start, pos - start, out))) goto done;
            start = pos;
        }
        prev_space = space;
        pos += k;
    }
    if (len > start) st = spm_word(&c, text + start, len - start, out);
done:
    rw_free(c.heap.v);
    rw_free(c.sym);
    tok_cache_free(&c.cache);
    tok_buf_free(&esc);
    return st;
}
