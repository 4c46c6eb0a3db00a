/* Bump arena: the block is 64-byte aligned so carved tensors suit any SIMD width. */
#include "core/arena.h"

#include "core/alloc.h"

rw_status rw_arena_init(rw_arena *a, size_t cap, rw_err *err) {
    a->base = rw_aligned_alloc(64, cap);
    if (!a->base) return rw_err_set(err, RW_E_NOMEM, "arena: cannot allocate %zu bytes", cap);
    a->cap = cap;
    a->used = 0;
    a->high_water = 0;
    return RW_OK;
}

void rw_arena_deinit(rw_arena *a) {
    rw_aligned_free(a->base);
    a->base = NULL;
    a->cap = a->used = 0;
}

void *rw_arena_alloc(rw_arena *a, size_t n, size_t align) {
    if (align == 0) align = 64;
    size_t start = (a->used + align - 1) & ~(align - 1);
    if (start < a->used || start > a->cap || n > a->cap - start) return NULL;
    a->used = start + n;
    if (a->used > a->high_water) a->high_water = a->used;
    return a->base + start;
}

void rw_arena_reset(rw_arena *a) { a->used = 0; }
