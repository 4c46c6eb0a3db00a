/* Interning string table for query and document ids (see internal.h). FNV-1a hashing,
 * linear probing, table doubled at half load. */
#include "eval/internal.h"

#include <string.h>

#include "core/alloc.h"

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void eval_strtab_init(eval_strtab *t) { memset(t, 0, sizeof *t); }

void eval_strtab_deinit(eval_strtab *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) rw_free(t->strs[i]);
    rw_free(t->strs);
    rw_free(t->slots);
    memset(t, 0, sizeof *t);
}

long eval_strtab_find(const eval_strtab *t, const char *s) {
    if (!t->n_slots) return -1;
    size_t mask = t->n_slots - 1;
    for (size_t i = (size_t)hash_str(s) & mask;; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (!v) return -1;
        if (strcmp(t->strs[v - 1], s) == 0) return (long)(v - 1);
    }
}

static rw_status grow(eval_strtab *t) {
    size_t ns = t->n_slots ? t->n_slots * 2 : 64;
    uint32_t *slots = rw_alloc_array(ns, sizeof *slots);
    if (!slots) return RW_E_NOMEM;
    memset(slots, 0, ns * sizeof *slots);
    for (size_t k = 0; k < t->n; k++) {
        size_t i = (size_t)hash_str(t->strs[k]) & (ns - 1);
        while (slots[i]) i = (i + 1) & (ns - 1);
        slots[i] = (uint32_t)(k + 1);
    }
    rw_free(t->slots);
    t->slots = slots;
    t->n_slots = ns;
    return RW_OK;
}

rw_status eval_strtab_intern(eval_strtab *t, const char *s, uint32_t *idx, int *added) {
    long f = eval_strtab_find(t, s);
    if (f >= 0) {
        *idx = (uint32_t)f;
        if (added) *added = 0;
        return RW_OK;
    }
    if (t->n >= UINT32_MAX - 1) return RW_E_RANGE;
    if (2 * (t->n + 1) > t->n_slots && grow(t) != RW_OK) return RW_E_NOMEM;
    if (t->n == t->cap_strs) {
        size_t nc = t->cap_strs ? t->cap_strs * 2 : 64;
        char **ns = rw_realloc(t->strs, nc * sizeof *ns);
        if (!ns) return RW_E_NOMEM;
        t->strs = ns;
        t->cap_strs = nc;
    }
    char *copy = rw_strdup(s);
    if (!copy) return RW_E_NOMEM;
    t->strs[t->n] = copy;
    size_t mask = t->n_slots - 1;
    size_t i = (size_t)hash_str(s) & mask;
    while (t->slots[i]) i = (i + 1) & mask;
    t->slots[i] = (uint32_t)(t->n + 1);
    *idx = (uint32_t)t->n;
    t->n++;
    if (added) *added = 1;
    return RW_OK;
}
