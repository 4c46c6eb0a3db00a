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

TOK_HEAP_DEFINE(bpe_heap, bpe_pair, bpe_before, 64)

/* Per-call scratch (never shared between calls). */
typedef struct bpe_ctx {
    const infer_tokenizer *t;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_heap heap;
    tok_buf enc;
    tok_cache cache;
} bpe_ctx;

static rw_status try_pair(bpe_ctx *c, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return RW_OK;
    int32_t res;
    int32_t lid = c->sym[left].id, rid = c->sym[right].id;
    int32_t rank = tok_merge_find(c->t, lid, rid, &res);
    if (rank < 0) return RW_OK;
    bpe_pair p = {rank, left, right, lid, rid, res};
    return bpe_heap_push(&c->heap, p);
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
        bpe_pair p = bpe_heap_pop(&c->heap);
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

static rw_status encode_word_cached(bpe_ctx *c, const char *w, size_t n, infer_tok_ids *out) {
    uint64_t h = tok_hash(w, n);
    rw_status st;
    if (tok_cache_get(&c->cache, w, n, h, out, &st)) return st;
    size_t mark = out->n;
    if ((st = encode_word(c, w, n, out))) return st;
    return tok_cache_put(&c->cache, w, n, h, out->v + mark, out->n - mark);
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
    c.cache.base = clean.p;
    for (size_t i = 0; i < words.n; i++) {
        if (words.v[i].len == 0) continue;
        if (words.v[i].len > (size_t)INT32_MAX) {
            st = RW_E_RANGE;
            goto done;
        }
        if ((st = encode_word_cached(&c, clean.p + words.v[i].off, words.v[i].len, out))) goto done;
    }
done:
    rw_free(c.sym);
    rw_free(c.heap.v);
    tok_cache_free(&c.cache);
    tok_buf_free(&c.enc);
    tok_spans_free(&words);
    tok_buf_free(&clean);
    return st;
}
