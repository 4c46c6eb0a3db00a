/* Heap allocation through one hook so tests can inject failures.
 *
 * All project heap use goes through rw_malloc/rw_calloc/rw_realloc/rw_free. The failure
 * injector is one of the two permitted mutable globals; set it before threads start.
 * rw_alloc_array checks n*size for overflow. rw_aligned_alloc returns memory freed with
 * rw_aligned_free (alignment a power of two, >= sizeof(void*)). */
#ifndef RW_CORE_ALLOC_H
#define RW_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

void *rw_malloc(size_t n);
void *rw_calloc(size_t count, size_t size);
void *rw_realloc(void *p, size_t n);
void rw_free(void *p);
char *rw_strdup(const char *s);
char *rw_strndup(const char *s, size_t n);

/* n*size bytes, NULL on overflow or failure. */
void *rw_alloc_array(size_t n, size_t size);

void *rw_aligned_alloc(size_t alignment, size_t n);
void rw_aligned_free(void *p);

/* Overflow-checked arithmetic on sizes: return false when the result does not fit. */
bool rw_size_mul(size_t a, size_t b, size_t *out);
bool rw_size_add(size_t a, size_t b, size_t *out);

/* Test hook: after `n` more successful allocations, every allocation fails (n < 0: never).
 * Returns the number of allocations made since the last call. */
long rw_alloc_fail_after(long n);

#endif
