/* Byte-level BPE encoder ("gpt2" vocabularies), llama.cpp's llm_tokenizer_bpe semantics.
 *
 * The run is made valid UTF-8 (each invalid byte -> U+FFFD), split into words by the
 * pre-tokenizer, and each word is merged on its own: one symbol per byte (its GPT-2
 * character's ext id), adjacent pairs with a merge rank go into a min-heap ordered by
 * (rank asc, left position asc); popping merges the pair if both symbols still carry the
 * ids the entry was made from (an id names a text, so this is llama.cpp's text check), and
 * pushes the new neighbours. A final symbol that is not a model token (a hidden ext id) is
 * spelled by the single-byte tokens of its text's bytes, as llama.cpp does.
 * With ignore_merges (llama3) a word that is itself a token is emitted whole.
 * A per-call cache maps repeated words to their ids (words repeat a lot in real text). */
#include "infer/tokenizer.h"

#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

typedef struct bpe_sym {
    int32_t id, prev, next;
} bpe_sym;

typedef struct bpe_pair {
    int32_t rank, left, right, lid, rid, res;
} bpe_pair;

static bool bpe_before(const bpe_pair *a, const bpe_pair *b) {
    if (a->rank != b->rank) return a->rank < b->rank;
    return a->left < b->left;
}

typedef struct bpe_heap {
    bpe_pair *v;
    size_t n, cap;
} bpe_heap;

static rw_status bpe_push(bpe_heap *h, bpe_pair p) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        bpe_pair *v = rw_realloc(h->v, cap * sizeof *v);
        if (!v) return RW_E_NOMEM;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bpe_before(&p, &h->v[parent])) break;
        h->v[i] = h->v[parent];
        i = parent;
    }
    h->v[i] = p;
    return RW_OK;
}

static bpe_pair bpe_pop(bpe_heap *h) {
    bpe_pair top = h->v[0];
    bpe_pair last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && bpe_before(&h->v[c + 1], &h->v[c])) c++;
        if (!bpe_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* Per-call scratch. The word cache is open addressing over (word bytes -> ids range). */
typedef struct cache_ent {
    uint64_t hash;
    size_t word_off, word_len; /* into the sanitised text */
    size_t ids_off, ids_n;     /* into cache ids */
} cache_ent;

typedef struct bpe_ctx {
    const infer_tokenizer *t;
    const char *text;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_heap heap;
    tok_buf enc;
    infer_tok_ids tmp;   /* ids of the current word */
    infer_tok_ids cids;  /* all cached ids */
    cache_ent *cache;
    size_t cache_cap, cache_n;
} bpe_ctx;

static rw_status try_pair(bpe_ctx *c, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return RW_OK;
    int32_t res;
    int32_t lid = c->sym[left].id, rid = c->sym[right].id;
    int32_t rank = tok_merge_find(c->t, lid, rid, &res);
    if (rank < 0) return RW_OK;
    bpe_pair p = {rank, left, right, lid, rid, res};
    return bpe_push(&c->heap, p);
}

/* Ids of one word appended to out. */
static rw_status encode_word(bpe_ctx *c, const char *w, size_t n, infer_tok_ids *out) {
    const infer_tokenizer *t = c->t;
    rw_status st;
    if (t->ignore_merges) {
        c->enc.n = 0;
        for (size_t i = 0; i < n; i++) {
            int32_t e = t->byte_ext[(unsigned char)w[i]];
            if ((st = tok_buf_append(&c->enc, tok_text(t, e), t->text_len[e]))) return st;
        }
        int32_t id = tok_lookup(t, c->enc.p, c->enc.n);
        if (id >= 0) return infer_tok_ids_push(out, id);
    }
    if (n > c->sym_cap) {
        bpe_sym *s = rw_realloc(c->sym, n * sizeof *s);
        if (!s) return RW_E_NOMEM;
        c->sym = s;
        c->sym_cap = n;
    }
    bpe_sym *sym = c->sym;
    int32_t ns = (int32_t)n;
    for (int32_t i = 0; i < ns; i++) {
        sym[i].id = t->byte_ext[(unsigned char)w[i]];
        sym[i].prev = i - 1;
        sym[i].next = i + 1 < ns ? i + 1 : -1;
    }
    c->heap.n = 0;
    for (int32_t i = 1; i < ns; i++) {
        if ((st = try_pair(c, i - 1, i))) return st;
    }
    while (c->heap.n) {
        bpe_pair p = bpe_pop(&c->heap);
        bpe_sym *l = &sym[p.left], *r = &sym[p.right];
        if (l->id != p.lid || r->id != p.rid) continue;
        l->id = p.res;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = p.left;
        if ((st = try_pair(c, l->prev, p.left))) return st;
        if ((st = try_pair(c, p.left, l->next))) return st;
    }
    for (int32_t i = 0; i != -1; i = sym[i].next) {
        int32_t id = sym[i].id;
        if ((size_t)id < t->n_vocab) {
            if ((st = infer_tok_ids_push(out, id))) return st;
            continue;
        }
        const char *txt = tok_text(t, id);
        for (uint32_t j = 0; j < t->text_len[id]; j++) {
            int32_t b = tok_lookup(t, txt + j, 1);
            if (b >= 0 && (st = infer_tok_ids_push(out, b))) return st;
        }
    }
    return RW_OK;
}

static rw_status cache_grow(bpe_ctx *c) {
    size_t cap = c->cache_cap ? c->cache_cap * 2 : 4096;
    cache_ent *v = rw_calloc(cap, sizeof *v);
    if (!v) return RW_E_NOMEM;
    for (size_t i = 0; i < c->cache_cap; i++) {
        cache_ent *e = &c->cache[i];
        if (!e->word_len) continue;
        size_t s = (size_t)e->hash & (cap - 1);
        while (v[s].word_len) s = (s + 1) & (cap - 1);
        v[s] = *e;
    }
    rw_free(c->cache);
    c->cache = v;
    c->cache_cap = cap;
    return RW_OK;
}

enum { CACHE_MAX_WORD = 64, CACHE_MAX_ENTRIES = 1 << 20 };

static rw_status encode_word_cached(bpe_ctx *c, size_t off, size_t n, infer_tok_ids *out) {
    const char *w = c->text + off;
    if (n > CACHE_MAX_WORD) return encode_word(c, w, n, out);
    if (c->cache_n * 2 >= c->cache_cap) {
        if (c->cache_n >= CACHE_MAX_ENTRIES) return encode_word(c, w, n, out);
        rw_status st = cache_grow(c);
        if (st) return st;
    }
    uint64_t h = tok_hash(w, n);
    size_t mask = c->cache_cap - 1, s = (size_t)h & mask;
    while (c->cache[s].word_len) {
        cache_ent *e = &c->cache[s];
        if (e->hash == h && e->word_len == n && memcmp(c->text + e->word_off, w, n) == 0) {
            for (size_t i = 0; i < e->ids_n; i++) {
                rw_status st = infer_tok_ids_push(out, c->cids.v[e->ids_off + i]);
                if (st) return st;
            }
            return RW_OK;
        }
        s = (s + 1) & mask;
    }
    c->tmp.n = 0;
    rw_status st = encode_word(c, w, n, &c->tmp);
    if (st) return st;
    cache_ent e = {h, off, n, c->cids.n, c->tmp.n};
    for (size_t i = 0; i < c->tmp.n; i++) {
        if ((st = infer_tok_ids_push(&c->cids, c->tmp.v[i]))) return st;
        if ((st = infer_tok_ids_push(out, c->tmp.v[i]))) return st;
    }
    c->cache[s] = e;
    c->cache_n++;
    return RW_OK;
}

rw_status tok_bpe_encode(const infer_tokenizer *t, const char *s, size_t n, infer_tok_ids *out) {
    rw_status st;
    tok_buf clean = {0};
    tok_spans words = {0};
    bpe_ctx c = {0};
    c.t = t;
    if (n == 0) return RW_OK;
    if ((st = tok_utf8_sanitize(s, n, &clean))) goto done;
    if ((st = tok_pretok_split(&t->pretok, clean.p, clean.n, &words))) goto done;
    c.text = clean.p;
    for (size_t i = 0; i < words.n; i++) {
        if (words.v[i].len == 0) continue;
        if (words.v[i].len > (size_t)INT32_MAX) {
            st = RW_E_RANGE;
            goto done;
        }
        if ((st = encode_word_cached(&c, words.v[i].off, words.v[i].len, out))) goto done;
    }
done:
    rw_free(c.sym);
    rw_free(c.heap.v);
    rw_free(c.cache);
    tok_buf_free(&c.enc);
    infer_tok_ids_deinit(&c.tmp);
    infer_tok_ids_deinit(&c.cids);
    tok_spans_free(&words);
    tok_buf_free(&clean);
    return st;
}
