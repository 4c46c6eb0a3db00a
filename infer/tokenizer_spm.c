/* SentencePiece-BPE encoder ("llama" vocabularies), llama.cpp's llm_tokenizer_spm semantics.
 *
 * The run of text is escaped (an optional leading space, then every ' ' -> U+2581), cut into
 * symbols of one UTF-8 character each (the lead byte decides the length, so invalid bytes
 * become one-byte symbols), and adjacent pairs whose concatenation is a token go into a
 * max-heap ordered by (token score desc, left position asc). Popping merges the pair when
 * both symbols are unchanged (their byte sizes still add up to the pair's size); the new
 * neighbours are pushed. Every final symbol is a token (a merge result is a token by
 * construction) or a single character that is not: then its bytes are emitted as <0xNN>
 * byte-fallback tokens. O(n log n) in the run length. */
#include "infer/tokenizer.h"

#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

typedef struct spm_sym {
    int32_t start, n, prev, next;
} spm_sym;

typedef struct spm_pair {
    float score;
    int32_t left, right, size;
} spm_pair;

/* a before b in pop order */
static bool spm_before(const spm_pair *a, const spm_pair *b) {
    if (a->score != b->score) return a->score > b->score;
    return a->left < b->left;
}

typedef struct spm_heap {
    spm_pair *v;
    size_t n, cap;
} spm_heap;

static rw_status spm_push(spm_heap *h, spm_pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        spm_pair *v = rw_realloc(h->v, cap * sizeof *v);
        if (!v) return RW_E_NOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!spm_before(&p, &h->v[parent])) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return RW_OK;
}

static spm_pair spm_pop(spm_heap *h) {
    spm_pair top = h->v[0];
    spm_pair last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && spm_before(&h->v[c + 1], &h->v[c])) c++;
        if (!spm_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

static rw_status try_pair(const infer_tokenizer *t, const char *text, const spm_sym *sym,
                          int32_t left, int32_t right, spm_heap *h) {
    if (left < 0 || right < 0) return RW_OK;
    int32_t size = sym[left].n + sym[right].n;
    int32_t id = tok_lookup(t, text + sym[left].start, (size_t)size);
    if (id < 0) return RW_OK;
    spm_pair p = {t->scores[id], left, right, size};
    return spm_push(h, p);
}

rw_status tok_spm_encode(const infer_tokenizer *t, const char *s, size_t n, bool prefix_space,
                         infer_tok_ids *out) {
    rw_status st = RW_OK;
    tok_buf esc = {0};
    spm_sym *sym = NULL;
    spm_heap heap = {0};
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

    sym = rw_alloc_array((size_t)len, sizeof *sym);
    if (!sym) {
        st = RW_E_NOMEM;
        goto done;
    }
    int32_t ns = 0;
    for (int32_t off = 0; off < len;) {
        int32_t k = (int32_t)tok_utf8_len((unsigned char)text[off]);
        if (k > len - off) k = len - off;
        sym[ns].start = off;
        sym[ns].n = k;
        sym[ns].prev = ns - 1;
        off += k;
        sym[ns].next = off == len ? -1 : ns + 1;
        ns++;
    }
    for (int32_t i = 1; i < ns; i++) {
        if ((st = try_pair(t, text, sym, i - 1, i, &heap))) goto done;
    }
    while (heap.n) {
        spm_pair p = spm_pop(&heap);
        spm_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if ((st = try_pair(t, text, sym, l->prev, p.left, &heap))) goto done;
        if ((st = try_pair(t, text, sym, p.left, l->next, &heap))) goto done;
    }
    for (int32_t i = ns ? 0 : -1; i != -1; i = sym[i].next) {
        const char *piece = text + sym[i].start;
        int32_t id = tok_lookup(t, piece, (size_t)sym[i].n);
        if (id >= 0) {
            if ((st = infer_tok_ids_push(out, id))) goto done;
            continue;
        }
        for (int32_t j = 0; j < sym[i].n; j++) {
            unsigned char c = (unsigned char)piece[j];
            int32_t b = t->byte_ext[c];
            if (b < 0) b = tok_lookup(t, (const char *)&piece[j], 1);
            if (b < 0) b = t->unk;
            if (b >= 0 && (st = infer_tok_ids_push(out, b))) goto done;
        }
    }
done:
    rw_free(heap.v);
    rw_free(sym);
    tok_buf_free(&esc);
    return st;
}
