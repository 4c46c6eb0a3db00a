/* Private parts of the tokenizers (infer/tokenizer*.c only).
 *
 * Vocabulary layout: every token text lives in one byte arena (text_off/text_len). Ids
 * 0..n_vocab-1 are the model's tokens; ids n_vocab..n_ext-1 are "hidden" texts the BPE
 * merge table needs (a merge operand or result, or a single byte's character, that is not a
 * token) so the merge loop works on integer ids only. The text map (open addressing, power
 * of two capacity, slots hold ext id + 1) finds an id from bytes in O(len).
 * Merge map: key (left ext id << 32 | right ext id) -> rank and result ext id.
 * Everything here is immutable after infer_tokenizer_create. */
#ifndef INFER_TOKENIZER_INTERNAL_H
#define INFER_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/alloc.h"
#include "infer/tokenizer.h"

typedef struct tok_merge_slot {
    uint64_t key;   /* (left << 32) | right, UINT64_MAX when empty */
    int32_t rank;
    int32_t result; /* ext id of left+right */
} tok_merge_slot;

/* A compiled pre-tokenizer: regexes applied in order (pcre2_code_8 pointers). */
typedef struct tok_pretok {
    size_t n;
    void *code[8];
} tok_pretok;

/* Token attributes beyond the type (llama.cpp's LSTRIP/RSTRIP). */
enum { TOK_ATTR_LSTRIP = 1, TOK_ATTR_RSTRIP = 2 };

struct infer_tokenizer {
    infer_tok_kind kind;
    infer_tok_pre pre;
    size_t n_vocab; /* model tokens */
    size_t n_ext;   /* model + hidden texts */
    char *arena;    /* all texts (ext ids) */
    char *pieces;   /* all pieces (model ids) */
    uint64_t *text_off; /* [n_ext] */
    uint32_t *text_len; /* [n_ext] */
    uint64_t *piece_off; /* [n_vocab] decoded bytes (special=true) */
    uint32_t *piece_len;
    float *scores;      /* [n_vocab] */
    uint8_t *types;     /* [n_vocab] infer_tok_type */
    uint8_t *attrs;     /* [n_vocab] TOK_ATTR_* */
    uint8_t *eog;       /* [n_vocab] 1 = end of generation */
    uint64_t *map;      /* [map_cap] hash tag << 32 | (ext id + 1), 0 empty */
    size_t map_cap;
    size_t max_token_len; /* bytes, over model tokens */
    tok_merge_slot *merges;
    size_t merge_cap;
    size_t n_merges;
    int32_t byte_ext[256]; /* BPE: ext id of each byte's character; SPM: <0xNN> token or -1 */
    int32_t *specials; /* ids matched in the input, longest text first */
    size_t n_specials;
    bool ignore_merges;
    bool spm_word_split; /* SPM: no token has U+2581 after another character, so runs can be
                            encoded word by word (each word = U+2581 + text) exactly */
    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_sep, add_space_prefix;
    tok_pretok pretok;
};

/* -- tokenizer_vocab.c */
uint64_t tok_hash(const char *s, size_t n);
/* ext id of an exact text or -1 (hidden ids included). */
int32_t tok_lookup_ext(const infer_tokenizer *t, const char *s, size_t n);
/* Model id (< n_vocab) of an exact text or -1. */
static inline int32_t tok_lookup(const infer_tokenizer *t, const char *s, size_t n) {
    int32_t id = tok_lookup_ext(t, s, n);
    return (id >= 0 && (size_t)id < t->n_vocab) ? id : -1;
}
static inline const char *tok_text(const infer_tokenizer *t, int32_t id) {
    return t->arena + t->text_off[id];
}
/* Merge of two ext ids: rank (>= 0) and result, or -1. */
int32_t tok_merge_find(const infer_tokenizer *t, int32_t left, int32_t right, int32_t *result);

/* -- growable byte / int buffers used by the encoders (per call, never shared) */
typedef struct tok_buf {
    char *p;
    size_t n, cap;
} tok_buf;
rw_status tok_buf_reserve(tok_buf *b, size_t extra);
rw_status tok_buf_append(tok_buf *b, const void *s, size_t n);
void tok_buf_free(tok_buf *b);

/* -- per-call word cache (tokenizer_vocab.c): words are spans of the call's own text
 * buffer `base`; repeated words reuse their ids. Never shared between calls or threads. */
typedef struct tok_cache_ent {
    uint64_t hash;
    size_t word_off, word_len; /* 0 length = empty slot */
    size_t ids_off, ids_n;
} tok_cache_ent;
typedef struct tok_cache {
    const char *base;
    tok_cache_ent *v;
    size_t cap, n;
    infer_tok_ids ids;
} tok_cache;
enum { TOK_CACHE_MAX_WORD = 64, TOK_CACHE_MAX_ENTRIES = 1 << 20 };
/* Appends the cached ids of w[0..n) (a span of c->base) to out; true when found. */
bool tok_cache_get(const tok_cache *c, const char *w, size_t n, uint64_t h, infer_tok_ids *out,
                   rw_status *st);
/* Remembers ids[0..count) for the word (no-op when the cache is full or the word long). */
rw_status tok_cache_put(tok_cache *c, const char *w, size_t n, uint64_t h, const int32_t *ids,
                        size_t count);
void tok_cache_free(tok_cache *c);

/* -- UTF-8 helpers (tokenizer_pretok.c) */
/* llama.cpp's unicode_len_utf8: length from the lead byte (1 for a continuation byte). */
size_t tok_utf8_len(unsigned char c);
/* Decodes one code point strictly (no overlong, surrogate or > U+10FFFF); returns its
 * length, or 0 for an invalid sequence. */
size_t tok_utf8_decode(const unsigned char *s, size_t n, int32_t *cp);
/* Writes cp as UTF-8 to out[4]; returns its length. */
size_t tok_utf8_encode(int32_t cp, char *out);
/* Copies s with every invalid byte replaced by U+FFFD (strictly valid UTF-8 out). */
rw_status tok_utf8_sanitize(const char *s, size_t n, tok_buf *out);

/* GPT-2 byte <-> character map. */
int32_t tok_byte_to_cp(unsigned char b);
/* Byte of a mapped character, or -1. */
int tok_cp_to_byte(int32_t cp);

/* -- pre-tokenizer (tokenizer_pretok.c) */
typedef struct tok_span {
    size_t off, len;
} tok_span;
typedef struct tok_spans {
    tok_span *v;
    size_t n, cap;
} tok_spans;
void tok_spans_free(tok_spans *s);
rw_status tok_pretok_compile(tok_pretok *p, infer_tok_pre pre, rw_err *err);
void tok_pretok_free(tok_pretok *p);
/* Splits s[0..n) (valid UTF-8) into words (spans appended to out, in order, covering s). */
rw_status tok_pretok_split(const tok_pretok *p, const char *s, size_t n, tok_spans *out);
/* The pre-tokenizer of a tokenizer.ggml.pre name; NULL or "" -> DEFAULT (files older than
 * the key), -1 for a name this build does not know (llama.cpp refuses those too). */
int tok_pre_from_name(const char *name);

/* -- the three models: append ids of one run of raw text (no special tokens inside) */
rw_status tok_spm_encode(const infer_tokenizer *t, const char *s, size_t n, bool prefix_space,
                         infer_tok_ids *out);
rw_status tok_bpe_encode(const infer_tokenizer *t, const char *s, size_t n, infer_tok_ids *out);
rw_status tok_wpm_encode(const infer_tokenizer *t, const char *s, size_t n, infer_tok_ids *out);

/* A binary heap of T in pop order: BEFORE(const T *a, const T *b) is true when a pops
 * before b. Defines the struct NAME (v owned: rw_free it; n, cap) and two static functions:
 * NAME##_push (RW_E_NOMEM when growing fails or would overflow; the heap is unchanged) and
 * NAME##_pop (the first element; the heap must not be empty). One definition serves the
 * BPE merge queue (rank, position) and the SPM one (score, position) with no indirect call
 * in the hot loop. FIRST_CAP: elements allocated by the first push. */
#define TOK_HEAP_DEFINE(NAME, T, BEFORE, FIRST_CAP)                                       \
    typedef struct NAME {                                                                \
        T *v;                                                                            \
        size_t n, cap;                                                                   \
    } NAME;                                                                              \
    static rw_status NAME##_push(NAME *h, T p) {                                         \
        if (h->n == h->cap) {                                                            \
            size_t cap = h->cap ? h->cap * 2 : (FIRST_CAP), bytes;                       \
            if (cap < h->cap || !rw_size_mul(cap, sizeof(T), &bytes)) return RW_E_NOMEM; \
            T *v = rw_realloc(h->v, bytes);                                              \
            if (!v) return RW_E_NOMEM;                                                   \
            h->v = v;                                                                    \
            h->cap = cap;                                                                \
        }                                                                                \
        size_t i = h->n++;                                                               \
        while (i > 0) {                                                                  \
            size_t parent = (i - 1) / 2;                                                 \
            if (!BEFORE(&p, &h->v[parent])) break;                                       \
            h->v[i] = h->v[parent];                                                      \
            i = parent;                                                                  \
        }                                                                                \
        h->v[i] = p;                                                                     \
        return RW_OK;                                                                    \
    }                                                                                    \
    static T NAME##_pop(NAME *h) {                                                       \
        T top = h->v[0];                                                                 \
        T last = h->v[--h->n];                                                           \
        size_t i = 0;                                                                    \
        for (;;) {                                                                       \
            size_t c = 2 * i + 1;                                                        \
            if (c >= h->n) break;                                                        \
            if (c + 1 < h->n && BEFORE(&h->v[c + 1], &h->v[c])) c++;                     \
            if (!BEFORE(&h->v[c], &last)) break;                                         \
            h->v[i] = h->v[c];                                                           \
            i = c;                                                                       \
        }                                                                                \
        if (h->n) h->v[i] = last;                                                        \
        return top;                                                                      \
    }

#endif
