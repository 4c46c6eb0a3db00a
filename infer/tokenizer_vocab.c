/* Vocabulary tables of a tokenizer: texts, text->id map, merge ranks, special ids, pieces.
 *
 * Built once from an infer_tok_spec (tokenizer.c / tokenizer_gguf.c fill the spec) and
 * immutable afterwards. Follows llama.cpp's llama_vocab::load for the facts: an empty token
 * text becomes "[EMPTY_<id>]"; a later duplicate text wins the map; a merge "a b" splits at
 * the first space after byte 0 and the first rank of a pair wins; ids given in the
 * metadata that are out of range keep the per-kind default; tokens whose text names an
 * end of turn (<|eot_id|>, <|im_end|>, ...) become CONTROL; CONTROL, UNKNOWN and
 * USER_DEFINED tokens are the special tokens matched in the input, longest first. */
#include "infer/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "infer/tokenizer_internal.h"

/* ------------------------------------------------------------------ small helpers */

uint64_t tok_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
    return h;
}

/* A map slot: high 32 bits = high bits of the text's hash (a tag that rejects most
 * mismatches without touching the text arena), low 32 bits = ext id + 1 (0: empty). */
static inline uint64_t slot_make(uint64_t h, uint32_t id) { return (h & 0xFFFFFFFF00000000ull) | (id + 1u); }

int32_t tok_lookup_ext(const infer_tokenizer *t, const char *s, size_t n) {
    size_t mask = t->map_cap - 1;
    uint64_t h = tok_hash(s, n);
    uint64_t tag = h & 0xFFFFFFFF00000000ull;
    size_t slot = (size_t)h & mask;
    for (;;) {
        uint64_t v = t->map[slot];
        if (v == 0) return -1;
        if ((v & 0xFFFFFFFF00000000ull) == tag) {
            uint32_t id = (uint32_t)v - 1u;
            if (t->text_len[id] == n && memcmp(t->arena + t->text_off[id], s, n) == 0) {
                return (int32_t)id;
            }
        }
        slot = (slot + 1) & mask;
    }
}

static uint64_t merge_hash(uint64_t key) {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return key;
}

int32_t tok_merge_find(const infer_tokenizer *t, int32_t left, int32_t right, int32_t *result) {
    if (t->merge_cap == 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    size_t mask = t->merge_cap - 1;
    size_t slot = (size_t)merge_hash(key) & mask;
    for (;;) {
        const tok_merge_slot *m = &t->merges[slot];
        if (m->key == UINT64_MAX) return -1;
        if (m->key == key) {
            *result = m->result;
            return m->rank;
        }
        slot = (slot + 1) & mask;
    }
}

rw_status tok_buf_reserve(tok_buf *b, size_t extra) {
    size_t need;
    if (!rw_size_add(b->n, extra, &need)) return RW_E_NOMEM;
    if (need + 1 <= b->cap) return RW_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need + 1) {
        if (cap > SIZE_MAX / 2) return RW_E_NOMEM;
        cap *= 2;
    }
    char *p = rw_realloc(b->p, cap);
    if (!p) return RW_E_NOMEM;
    b->p = p;
    b->cap = cap;
    return RW_OK;
}

rw_status tok_buf_append(tok_buf *b, const void *s, size_t n) {
    rw_status st = tok_buf_reserve(b, n);
    if (st) return st;
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return RW_OK;
}

void tok_buf_free(tok_buf *b) {
    rw_free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

void infer_tok_ids_deinit(infer_tok_ids *ids) {
    if (!ids) return;
    rw_free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

rw_status infer_tok_ids_push(infer_tok_ids *ids, int32_t id) {
    if (ids->n == ids->cap) {
        size_t cap = ids->cap ? ids->cap * 2 : 64;
        if (cap > SIZE_MAX / (2 * sizeof *ids->v)) return RW_E_NOMEM;
        int32_t *v = rw_realloc(ids->v, cap * sizeof *v);
        if (!v) return RW_E_NOMEM;
        ids->v = v;
        ids->cap = cap;
    }
    ids->v[ids->n++] = id;
    return RW_OK;
}

bool tok_cache_get(const tok_cache *c, const char *w, size_t n, uint64_t h, infer_tok_ids *out,
                   rw_status *st) {
    *st = RW_OK;
    if (c->cap == 0 || n > TOK_CACHE_MAX_WORD) return false;
    size_t mask = c->cap - 1, s = (size_t)h & mask;
    while (c->v[s].word_len) {
        const tok_cache_ent *e = &c->v[s];
        if (e->hash == h && e->word_len == n && memcmp(c->base + e->word_off, w, n) == 0) {
            for (size_t i = 0; i < e->ids_n && !*st; i++) {
                *st = infer_tok_ids_push(out, c->ids.v[e->ids_off + i]);
            }
            return true;
        }
        s = (s + 1) & mask;
    }
    return false;
}

rw_status tok_cache_put(tok_cache *c, const char *w, size_t n, uint64_t h, const int32_t *ids,
                        size_t count) {
    if (n == 0 || n > TOK_CACHE_MAX_WORD || c->n >= TOK_CACHE_MAX_ENTRIES) return RW_OK;
    if ((c->n + 1) * 2 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        tok_cache_ent *v = rw_calloc(cap, sizeof *v);
        if (!v) return RW_E_NOMEM;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->v[i].word_len) continue;
            size_t s = (size_t)c->v[i].hash & (cap - 1);
            while (v[s].word_len) s = (s + 1) & (cap - 1);
            v[s] = c->v[i];
        }
        rw_free(c->v);
        c->v = v;
        c->cap = cap;
    }
    size_t ids_off = c->ids.n;
    for (size_t i = 0; i < count; i++) {
        rw_status st = infer_tok_ids_push(&c->ids, ids[i]);
        if (st) return st;
    }
    size_t mask = c->cap - 1, s = (size_t)h & mask;
    while (c->v[s].word_len) s = (s + 1) & mask;
    c->v[s].hash = h;
    c->v[s].word_off = (size_t)(w - c->base);
    c->v[s].word_len = n;
    c->v[s].ids_off = ids_off;
    c->v[s].ids_n = count;
    c->n++;
    return RW_OK;
}

void tok_cache_free(tok_cache *c) {
    rw_free(c->v);
    infer_tok_ids_deinit(&c->ids);
    memset(c, 0, sizeof *c);
}

void infer_tok_spec_init(infer_tok_spec *spec) {
    memset(spec, 0, sizeof *spec);
    spec->kind = INFER_TOK_SPM;
    spec->bos = spec->eos = spec->eot = spec->eom = -1;
    spec->unk = spec->sep = spec->pad = spec->mask = -1;
}

/* ------------------------------------------------------------------ building */

typedef struct builder {
    infer_tokenizer *t;
    tok_buf arena;
    size_t ext_cap;
} builder;

static rw_status map_insert_raw(uint64_t *map, size_t cap, const infer_tokenizer *t, uint32_t id,
                                bool overwrite) {
    size_t mask = cap - 1;
    const char *s = t->arena + t->text_off[id];
    size_t n = t->text_len[id];
    uint64_t h = tok_hash(s, n);
    size_t slot = (size_t)h & mask;
    for (;;) {
        uint64_t v = map[slot];
        if (v == 0) {
            map[slot] = slot_make(h, id);
            return RW_OK;
        }
        uint32_t o = (uint32_t)v - 1u;
        if (t->text_len[o] == n && memcmp(t->arena + t->text_off[o], s, n) == 0) {
            if (overwrite) map[slot] = slot_make(h, id);
            return RW_OK;
        }
        slot = (slot + 1) & mask;
    }
}

static rw_status map_grow(builder *b, size_t want_entries) {
    infer_tokenizer *t = b->t;
    if (want_entries * 2 <= t->map_cap) return RW_OK;
    size_t cap = t->map_cap ? t->map_cap : 1024;
    while (cap < want_entries * 2) cap *= 2;
    uint64_t *map = rw_calloc(cap, sizeof *map);
    if (!map) return RW_E_NOMEM;
    uint64_t *old = t->map;
    size_t old_cap = t->map_cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i]) {
            /* each text is present once in the old map: plain insert */
            map_insert_raw(map, cap, t, (uint32_t)old[i] - 1u, false);
        }
    }
    rw_free(old);
    t->map = map;
    t->map_cap = cap;
    return RW_OK;
}

/* Appends a text as a new ext id (no map insertion). */
static rw_status add_text(builder *b, const char *s, size_t n, int32_t *id_out) {
    infer_tokenizer *t = b->t;
    if (n > UINT32_MAX || t->n_ext >= (size_t)INT32_MAX - 1) return RW_E_RANGE;
    if (t->n_ext == b->ext_cap) {
        size_t cap = b->ext_cap ? b->ext_cap * 2 : 1024;
        uint64_t *off = rw_realloc(t->text_off, cap * sizeof *off);
        if (!off) return RW_E_NOMEM;
        t->text_off = off;
        uint32_t *len = rw_realloc(t->text_len, cap * sizeof *len);
        if (!len) return RW_E_NOMEM;
        t->text_len = len;
        b->ext_cap = cap;
    }
    size_t off = b->arena.n;
    rw_status st = tok_buf_append(&b->arena, s, n);
    if (st) return st;
    tok_buf_append(&b->arena, "", 1); /* NUL after each text: texts are C strings too */
    t->arena = b->arena.p;
    t->text_off[t->n_ext] = off;
    t->text_len[t->n_ext] = (uint32_t)n;
    *id_out = (int32_t)t->n_ext;
    t->n_ext++;
    return RW_OK;
}

/* ext id of a text, adding a hidden entry when absent. */
static rw_status intern_text(builder *b, const char *s, size_t n, int32_t *id_out) {
    infer_tokenizer *t = b->t;
    int32_t id = tok_lookup_ext(t, s, n);
    if (id >= 0) {
        *id_out = id;
        return RW_OK;
    }
    rw_status st = add_text(b, s, n, &id);
    if (st) return st;
    st = map_grow(b, t->n_ext);
    if (st) return st;
    st = map_insert_raw(t->map, t->map_cap, t, (uint32_t)id, false);
    if (st) return st;
    *id_out = id;
    return RW_OK;
}

static rw_status build_merges(builder *b, const infer_tok_spec *spec, rw_err *err) {
    infer_tokenizer *t = b->t;
    size_t cap = 16;
    while (cap < spec->n_merges * 2) cap *= 2;
    t->merges = rw_alloc_array(cap, sizeof *t->merges);
    if (!t->merges) return rw_err_set(err, RW_E_NOMEM, "tokenizer: merge table of %zu", cap);
    for (size_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
    t->merge_cap = cap;
    tok_buf cat = {0};
    rw_status st = RW_OK;
    for (size_t i = 0; i < spec->n_merges; i++) {
        const char *m = spec->merges[i];
        if (!m) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.merges[%zu]: missing", i);
            goto done;
        }
        size_t n = spec->merge_lens ? spec->merge_lens[i] : strlen(m);
        const char *sp = n > 1 ? memchr(m + 1, ' ', n - 1) : NULL;
        if (!sp) continue; /* llama.cpp keeps it as an unusable ("","") pair */
        size_t ln = (size_t)(sp - m), rn = n - ln - 1;
        int32_t l, r, res;
        if ((st = intern_text(b, m, ln, &l)) || (st = intern_text(b, sp + 1, rn, &r))) goto oom;
        cat.n = 0;
        if ((st = tok_buf_append(&cat, m, ln)) || (st = tok_buf_append(&cat, sp + 1, rn))) goto oom;
        if ((st = intern_text(b, cat.p, cat.n, &res))) goto oom;
        uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
        size_t slot = (size_t)merge_hash(key) & (cap - 1);
        while (t->merges[slot].key != UINT64_MAX && t->merges[slot].key != key) {
            slot = (slot + 1) & (cap - 1);
        }
        if (t->merges[slot].key == UINT64_MAX) {
            t->merges[slot].key = key;
            t->merges[slot].rank = (int32_t)i;
            t->merges[slot].result = res;
            t->n_merges++;
        }
    }
    goto done;
oom:
    st = rw_err_set(err, st, "tokenizer: building merge %zu", cat.n);
done:
    tok_buf_free(&cat);
    return st;
}

/* qsort has no context: sort an array of (len, id) pairs instead. */
typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;
/* SPM: every (left token, right token) whose concatenation is a token, so the encoder can
 * test a pair with one integer probe instead of hashing text (result in .result). */
static rw_status build_spm_pairs(infer_tokenizer *t) {
    size_t n_pairs = 0;
    for (size_t i = 0; i < t->n_vocab; i++) n_pairs += t->text_len[i] > 1 ? t->text_len[i] - 1 : 0;
    size_t cap = 16;
    while (cap < n_pairs * 2) cap *= 2;
    t->merges = rw_alloc_array(cap, sizeof *t->merges);
    if (!t->merges) return RW_E_NOMEM;
    for (size_t i = 0; i < cap; i++) t->merges[i].key = UINT64_MAX;
    t->merge_cap = cap;
    for (size_t i = 0; i < t->n_vocab; i++) {
        const char *s = tok_text(t, (int32_t)i);
        size_t n = t->text_len[i];
        int32_t whole = -1;
        for (size_t k = 1; k < n; k++) {
            int32_t l = tok_lookup(t, s, k);
            if (l < 0) continue;
            int32_t r = tok_lookup(t, s + k, n - k);
            if (r < 0) continue;
            if (whole < 0) whole = tok_lookup(t, s, n); /* the id the text map answers */
            uint64_t key = ((uint64_t)(uint32_t)l << 32) | (uint32_t)r;
            size_t slot = (size_t)merge_hash(key) & (cap - 1);
            while (t->merges[slot].key != UINT64_MAX && t->merges[slot].key != key) {
                slot = (slot + 1) & (cap - 1);
            }
            if (t->merges[slot].key == UINT64_MAX) {
                t->merges[slot].key = key;
                t->merges[slot].rank = 0;
                t->merges[slot].result = whole;
                t->n_merges++;
            }
        }
    }
    return RW_OK;
}

static int cmp_len_id(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

static bool text_is(const infer_tokenizer *t, int32_t id, const char *s) {
    size_t n = strlen(s);
    return t->text_len[id] == n && memcmp(tok_text(t, id), s, n) == 0;
}

static bool contains_ci(const char *hay, const char *needle) {
    if (!hay) return false;
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++) {
        size_t i = 0;
        while (i < n && p[i] && (p[i] | 0x20) == (needle[i] | 0x20)) i++;
        if (i == n) return true;
    }
    return false;
}

/* Pieces: the bytes each model token stands for (llama_token_to_piece, special=true). */
static rw_status build_pieces(infer_tokenizer *t) {
    tok_buf pb = {0};
    rw_status st = RW_OK;
    t->piece_off = rw_alloc_array(t->n_vocab, sizeof *t->piece_off);
    t->piece_len = rw_alloc_array(t->n_vocab, sizeof *t->piece_len);
    if (!t->piece_off || !t->piece_len) return RW_E_NOMEM;
    for (size_t id = 0; id < t->n_vocab; id++) {
        const char *s = tok_text(t, (int32_t)id);
        size_t n = t->text_len[id];
        size_t start = pb.n;
        int type = t->types[id];
        if (type == INFER_TOKTYPE_CONTROL || type == INFER_TOKTYPE_UNKNOWN ||
            type == INFER_TOKTYPE_USER_DEFINED) {
            st = tok_buf_append(&pb, s, n);
        } else if (type == INFER_TOKTYPE_NORMAL) {
            if (t->kind == INFER_TOK_BPE) {
                size_t i = 0;
                while (i < n && !st) {
                    int32_t cp;
                    size_t k = tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
                    if (k == 0) k = 1, cp = -1;
                    int byte = cp >= 0 ? tok_cp_to_byte(cp) : -1;
                    if (byte >= 0) {
                        char c = (char)byte;
                        st = tok_buf_append(&pb, &c, 1);
                    } else {
                        st = tok_buf_append(&pb, s + i, k);
                    }
                    i += k;
                }
            } else {
                size_t i = 0;
                while (i < n && !st) {
                    if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                        st = tok_buf_append(&pb, " ", 1);
                        i += 3;
                    } else {
                        st = tok_buf_append(&pb, s + i, 1);
                        i++;
                    }
                }
            }
        } else if (type == INFER_TOKTYPE_BYTE && t->kind != INFER_TOK_BPE) {
            unsigned v;
            if (n == 6 && sscanf(s, "<0x%2x>", &v) == 1) {
                char c = (char)v;
                st = tok_buf_append(&pb, &c, 1);
            }
        }
        if (st) break;
        if (pb.n == 0) st = tok_buf_reserve(&pb, 1);
        t->piece_off[id] = start;
        t->piece_len[id] = (uint32_t)(pb.n - start);
    }
    if (!st && !pb.p) st = tok_buf_reserve(&pb, 1);
    if (st) {
        tok_buf_free(&pb);
        return st;
    }
    t->pieces = pb.p;
    return RW_OK;
}

static void set_id(int32_t *dst, bool given, int32_t v, size_t n_vocab) {
    if (given) {
        if (v < 0) *dst = INFER_TOKEN_NULL;
        else if ((size_t)v < n_vocab) *dst = v; /* out of range: llama.cpp keeps the default */
    }
    if (*dst >= 0 && (size_t)*dst >= n_vocab) *dst = INFER_TOKEN_NULL;
}

rw_status infer_tokenizer_create(const infer_tok_spec *spec, infer_tokenizer **out, rw_err *err) {
    rw_status st = RW_OK;
    builder b = {0};
    len_id *order = NULL;
    if (!spec || !out) return rw_err_set(err, RW_E_INVALID, "tokenizer: NULL argument");
    if (spec->n_tokens == 0 || spec->n_tokens >= (size_t)INT32_MAX / 4) {
        return rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.tokens: %zu tokens", spec->n_tokens);
    }
    if (!spec->tokens) return rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.tokens: missing");
    if (spec->kind != INFER_TOK_SPM && spec->kind != INFER_TOK_BPE && spec->kind != INFER_TOK_WPM) {
        return rw_err_set(err, RW_E_UNSUPPORTED, "tokenizer: kind %d", (int)spec->kind);
    }
    if (spec->kind == INFER_TOK_BPE && spec->n_merges > 0 && !spec->merges) {
        return rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.merges: missing");
    }
    infer_tokenizer *t = rw_calloc(1, sizeof *t);
    if (!t) return rw_err_set(err, RW_E_NOMEM, "tokenizer: allocation");
    b.t = t;
    t->kind = spec->kind;
    t->pre = INFER_PRE_DEFAULT;
    if (spec->kind == INFER_TOK_BPE) {
        int pre = tok_pre_from_name(spec->pre);
        if (pre < 0) {
            rw_free(t);
            return rw_err_set(err, RW_E_UNSUPPORTED,
                              "tokenizer.ggml.pre: \"%.64s\" is not a supported pre-tokenizer "
                              "(default, gpt-2, llama3/llama-bpe, qwen2, deepseek-llm, "
                              "deepseek-coder, falcon, starcoder/refact and their aliases)",
                              spec->pre);
        }
        t->pre = (infer_tok_pre)pre;
    }
    size_t nv = spec->n_tokens;
    t->n_vocab = nv;
    t->scores = rw_alloc_array(nv, sizeof *t->scores);
    t->types = rw_alloc_array(nv, 1);
    t->attrs = rw_calloc(nv, 1);
    t->eog = rw_calloc(nv, 1);
    if (!t->scores || !t->types || !t->attrs || !t->eog) goto nomem;
    if ((st = map_grow(&b, nv))) goto nomem;

    /* model tokens */
    char empty[32];
    for (size_t i = 0; i < nv; i++) {
        const char *s = spec->tokens[i];
        if (!s) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.tokens[%zu]: missing", i);
            goto fail;
        }
        size_t n = spec->token_lens ? spec->token_lens[i] : strlen(s);
        if (n == 0) {
            n = (size_t)snprintf(empty, sizeof empty, "[EMPTY_%zu]", i);
            s = empty;
        }
        int32_t id;
        if ((st = add_text(&b, s, n, &id))) goto nomem;
        if ((st = map_insert_raw(t->map, t->map_cap, t, (uint32_t)id, true))) goto nomem;
        if (t->text_len[i] > t->max_token_len) t->max_token_len = t->text_len[i];
        t->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        int32_t ty = spec->types ? spec->types[i] : INFER_TOKTYPE_NORMAL;
        if (ty < 0 || ty > INFER_TOKTYPE_BYTE) {
            st = rw_err_set(err, RW_E_FORMAT, "tokenizer.ggml.token_type[%zu]: %d is not a type", i,
                            (int)ty);
            goto fail;
        }
        t->types[i] = (uint8_t)ty;
    }

    /* special ids and flags: per-kind defaults, then the metadata */
    switch (t->kind) {
    case INFER_TOK_SPM:
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->eot = t->eom = t->sep = t->pad = t->mask = INFER_TOKEN_NULL;
        t->add_bos = true, t->add_space_prefix = true;
        break;
    case INFER_TOK_BPE:
        t->bos = 11, t->eos = 11;
        t->eot = t->eom = t->unk = t->sep = t->pad = t->mask = INFER_TOKEN_NULL;
        t->add_bos = t->pre == INFER_PRE_LLAMA3;
        break;
    case INFER_TOK_WPM:
        t->bos = 101, t->unk = 100, t->sep = 102, t->pad = 0, t->mask = 103;
        t->eos = t->eot = t->eom = INFER_TOKEN_NULL;
        t->add_bos = true, t->add_sep = true;
        break;
    }
    set_id(&t->bos, spec->bos_set, spec->bos, nv);
    set_id(&t->eos, spec->eos_set, spec->eos, nv);
    set_id(&t->eot, spec->eot_set, spec->eot, nv);
    set_id(&t->eom, spec->eom_set, spec->eom, nv);
    set_id(&t->unk, spec->unk_set, spec->unk, nv);
    set_id(&t->sep, spec->sep_set, spec->sep, nv);
    set_id(&t->pad, spec->pad_set, spec->pad, nv);
    set_id(&t->mask, spec->mask_set, spec->mask, nv);
    if (spec->add_bos_set) t->add_bos = spec->add_bos;
    if (spec->add_eos_set) t->add_eos = spec->add_eos;
    if (spec->add_sep_set) t->add_sep = spec->add_sep;
    if (spec->add_space_prefix_set) t->add_space_prefix = spec->add_space_prefix;
    t->ignore_merges = t->kind == INFER_TOK_BPE && t->pre == INFER_PRE_LLAMA3;

    /* end-of-turn tokens recognised by text (llama.cpp does the same and makes them CONTROL) */
    static const char *const eot_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
        "_<EOT>", "<｜end▁of▁sentence｜>",
        "<end_of_utterance>"};
    static const char *const eom_texts[] = {"<|eom_id|>"};
    for (size_t i = 0; i < nv; i++) {
        int32_t id = (int32_t)i;
        bool hit = false;
        for (size_t k = 0; k < sizeof eot_texts / sizeof *eot_texts; k++) {
            if (text_is(t, id, eot_texts[k])) hit = true;
        }
        if (hit && t->eot == INFER_TOKEN_NULL) t->eot = id;
        bool hit_m = text_is(t, id, eom_texts[0]);
        if (hit_m && t->eom == INFER_TOKEN_NULL) t->eom = id;
        if (hit || hit_m) {
            if (t->types[i] != INFER_TOKTYPE_CONTROL) t->types[i] = INFER_TOKTYPE_CONTROL;
            t->eog[i] = 1;
        }
    }
    if (t->eos >= 0) t->eog[t->eos] = 1;
    if (t->eot >= 0) t->eog[t->eot] = 1;
    if (t->eom >= 0) t->eog[t->eom] = 1;

    /* BPE: each byte's character, and the merges; SPM: byte-fallback tokens */
    for (int c = 0; c < 256; c++) t->byte_ext[c] = -1;
    if (t->kind == INFER_TOK_BPE) {
        for (int c = 0; c < 256; c++) {
            char u[4];
            size_t k = tok_utf8_encode(tok_byte_to_cp((unsigned char)c), u);
            if ((st = intern_text(&b, u, k, &t->byte_ext[c]))) goto nomem;
        }
        if ((st = build_merges(&b, spec, err))) goto fail;
        if ((st = tok_pretok_compile(&t->pretok, t->pre, err))) goto fail;
    } else if (t->kind == INFER_TOK_SPM) {
        for (int c = 0; c < 256; c++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", c);
            t->byte_ext[c] = tok_lookup(t, name, 6);
        }
        if ((st = build_spm_pairs(t))) goto nomem;
        t->spm_word_split = true;
        for (size_t i = 0; i < nv && t->spm_word_split; i++) {
            const char *x = tok_text(t, (int32_t)i);
            size_t n = t->text_len[i], k = 0;
            while (k + 3 <= n && memcmp(x + k, "\xe2\x96\x81", 3) == 0) k += 3;
            for (; k + 3 <= n; k++) {
                if (memcmp(x + k, "\xe2\x96\x81", 3) == 0) t->spm_word_split = false;
            }
        }
    }

    /* specials, longest text first */
    order = rw_alloc_array(nv, sizeof *order);
    if (!order) goto nomem;
    size_t ns = 0;
    for (size_t i = 0; i < nv; i++) {
        int ty = t->types[i];
        if (ty == INFER_TOKTYPE_CONTROL || ty == INFER_TOKTYPE_UNKNOWN ||
            ty == INFER_TOKTYPE_USER_DEFINED) {
            order[ns].len = t->text_len[i];
            order[ns].id = (int32_t)i;
            ns++;
        }
    }
    qsort(order, ns, sizeof *order, cmp_len_id);
    t->specials = rw_alloc_array(ns ? ns : 1, sizeof *t->specials);
    if (!t->specials) goto nomem;
    for (size_t i = 0; i < ns; i++) t->specials[i] = order[i].id;
    t->n_specials = ns;

    /* phi-3: whitespace after special tokens is stripped (except <unk>, <s>, <|endoftext|>) */
    if (contains_ci(spec->model_name, "phi-3") || contains_ci(spec->model_name, "phi3")) {
        for (size_t i = 0; i < ns; i++) t->attrs[t->specials[i]] |= TOK_ATTR_RSTRIP;
        int32_t id = tok_lookup(t, "</s>", 4);
        if (id >= 0) t->attrs[id] |= TOK_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t k = 0; k < 3; k++) {
            id = tok_lookup(t, keep[k], strlen(keep[k]));
            if (id >= 0) t->attrs[id] &= (uint8_t)~TOK_ATTR_RSTRIP;
        }
    }

    if ((st = build_pieces(t))) goto nomem;
    rw_free(order);
    *out = t;
    return RW_OK;
nomem:
    if (!st) st = RW_E_NOMEM;
    st = rw_err_set(err, st, "tokenizer: out of memory building a vocabulary of %zu tokens", nv);
fail:
    rw_free(order);
    t->arena = b.arena.p;
    infer_tokenizer_destroy(t);
    return st;
}

void infer_tokenizer_destroy(infer_tokenizer *t) {
    if (!t) return;
    tok_pretok_free(&t->pretok);
    rw_free(t->arena);
    rw_free(t->pieces);
    rw_free(t->text_off);
    rw_free(t->text_len);
    rw_free(t->piece_off);
    rw_free(t->piece_len);
    rw_free(t->scores);
    rw_free(t->types);
    rw_free(t->attrs);
    rw_free(t->eog);
    rw_free(t->map);
    rw_free(t->merges);
    rw_free(t->specials);
    rw_free(t);
}

/* ------------------------------------------------------------------ getters */

const char *infer_tokenizer_piece(const infer_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->n_vocab) return NULL;
    if (len) *len = t->piece_len[id];
    return t->pieces + t->piece_off[id];
}

const char *infer_tokenizer_text(const infer_tokenizer *t, int32_t id, size_t *len) {
    if (id < 0 || (size_t)id >= t->n_vocab) return NULL;
    if (len) *len = t->text_len[id];
    return tok_text(t, id);
}

int32_t infer_tokenizer_find(const infer_tokenizer *t, const char *text, size_t len) {
    return tok_lookup(t, text, len);
}

infer_tok_kind infer_tokenizer_kind(const infer_tokenizer *t) { return t->kind; }
infer_tok_pre infer_tokenizer_pre(const infer_tokenizer *t) { return t->pre; }
size_t infer_tokenizer_n_vocab(const infer_tokenizer *t) { return t->n_vocab; }
infer_tok_type infer_tokenizer_type(const infer_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->n_vocab) return INFER_TOKTYPE_UNDEFINED;
    return (infer_tok_type)t->types[id];
}
float infer_tokenizer_score(const infer_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->n_vocab) return 0.0f;
    return t->scores[id];
}
int32_t infer_tokenizer_bos(const infer_tokenizer *t) { return t->bos; }
int32_t infer_tokenizer_eos(const infer_tokenizer *t) { return t->eos; }
int32_t infer_tokenizer_eot(const infer_tokenizer *t) { return t->eot; }
int32_t infer_tokenizer_unk(const infer_tokenizer *t) { return t->unk; }
int32_t infer_tokenizer_sep(const infer_tokenizer *t) { return t->sep; }
int32_t infer_tokenizer_pad(const infer_tokenizer *t) { return t->pad; }
int32_t infer_tokenizer_mask(const infer_tokenizer *t) { return t->mask; }
bool infer_tokenizer_add_bos(const infer_tokenizer *t) { return t->add_bos; }
bool infer_tokenizer_add_eos(const infer_tokenizer *t) { return t->add_eos; }
bool infer_tokenizer_add_sep(const infer_tokenizer *t) { return t->add_sep; }
bool infer_tokenizer_is_eog(const infer_tokenizer *t, int32_t id) {
    return id >= 0 && (size_t)id < t->n_vocab && t->eog[id];
}

const char *infer_tok_kind_name(infer_tok_kind k) {
    switch (k) {
    case INFER_TOK_SPM: return "spm";
    case INFER_TOK_BPE: return "bpe";
    case INFER_TOK_WPM: return "wpm";
    }
    return "?";
}
