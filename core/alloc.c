/* Allocation wrappers with a countdown failure injector for tests.
 *
 * Invariants: the hook's two counters are the allocator-hook globals CONVENTIONS.md allows;
 * they are atomics (relaxed: only the counts matter, they order nothing) because worker
 * threads allocate too (tokenizers, readers) and a plain ++ from two threads is a data race. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic long g_fail_after = -1; /* <0: never fail */
static _Atomic long g_count;

static bool should_fail(void) {
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    long left = atomic_load_explicit(&g_fail_after, memory_order_relaxed);
    while (left > 0) {
        if (atomic_compare_exchange_weak_explicit(&g_fail_after, &left, left - 1,
                                                  memory_order_relaxed, memory_order_relaxed))
            return false;
    }
    return left == 0;
}

long rw_alloc_fail_after(long n) {
    long c = atomic_exchange_explicit(&g_count, 0, memory_order_relaxed);
    atomic_store_explicit(&g_fail_after, n, memory_order_relaxed);
    return c;
}

void *rw_malloc(size_t n) {
    if (should_fail()) return NULL;
    return malloc(n ? n : 1);
}

void *rw_calloc(size_t count, size_t size) {
    if (should_fail()) return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *rw_realloc(void *p, size_t n) {
    if (should_fail()) return NULL;
    return realloc(p, n ? n : 1);
}

void rw_free(void *p) { free(p); }

char *rw_strndup(const char *s, size_t n) {
    char *d = rw_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *rw_strdup(const char *s) { return rw_strndup(s, strlen(s)); }

bool rw_size_mul(size_t a, size_t b, size_t *out) {
    size_t r;
    if (__builtin_mul_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

bool rw_size_add(size_t a, size_t b, size_t *out) {
    size_t r;
    if (__builtin_add_overflow(a, b, &r)) return false;
    *out = r;
    return true;
}

void *rw_alloc_array(size_t n, size_t size) {
    size_t total;
    if (!rw_size_mul(n, size, &total)) return NULL;
    return rw_malloc(total);
}

void *rw_aligned_alloc(size_t alignment, size_t n) {
    if (should_fail()) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, alignment, n ? n : 1) != 0) return NULL;
    return p;
}

void rw_aligned_free(void *p) { free(p); }
