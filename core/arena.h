/* Bump arena for per-step memory (activations, tape records, scratch).
 *
 * One block allocated at init; rw_arena_alloc carves aligned pieces from it and returns
 * NULL when full (never grows, so pointers stay valid until reset). rw_arena_reset frees
 * everything at once and keeps the high-water mark for logging. */
#ifndef RW_CORE_ARENA_H
#define RW_CORE_ARENA_H

#include <stddef.h>

#include "core/status.h"

typedef struct rw_arena {
    unsigned char *base; /* owned */
    size_t cap;
    size_t used;
    size_t high_water;
} rw_arena;

rw_status rw_arena_init(rw_arena *a, size_t cap, rw_err *err);
void rw_arena_deinit(rw_arena *a);
/* Borrowed view valid until the next reset/deinit; NULL when the arena is full. */
void *rw_arena_alloc(rw_arena *a, size_t n, size_t align);
void rw_arena_reset(rw_arena *a);

#endif
