/* Spin-then-sleep worker pool. Invariant: `pending` counts workers still inside the
 * current job; a new job starts only when it is 0. Wake-up protocol: a worker increments
 * `sleepers` and re-checks `gen` under the mutex before waiting; the producer bumps `gen`
 * and then reads `sleepers` (both sequentially consistent), so no wake-up is lost. */
#include "core/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"

enum { SPIN_LIMIT = 1 << 15 };

struct rw_pool {
    int n;
    pthread_t *threads; /* n - 1 workers; owned */
    atomic_uint gen;
    atomic_int pending;
    atomic_int stop;
    atomic_int sleepers;
    rw_pool_fn fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct worker_arg {
    rw_pool *p;
    int ith;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    rw_free(arg);
    rw_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            if (++spins < SPIN_LIMIT) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->gen);
        p->fn(p->ctx, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

rw_status rw_pool_create(int n_threads, rw_pool **out, rw_err *err) {
    if (n_threads <= 0) n_threads = rw_cpu_physical_cores();
    if (n_threads > 512) return rw_err_set(err, RW_E_INVALID, "pool: %d threads is too many", n_threads);
    rw_pool *p = rw_calloc(1, sizeof *p);
    if (!p) return rw_err_set(err, RW_E_NOMEM, "pool: out of memory");
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (n_threads > 1) {
        p->threads = rw_calloc((size_t)n_threads - 1, sizeof *p->threads);
        if (!p->threads) goto fail_nomem;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = rw_malloc(sizeof *wa);
        if (!wa) {
            p->n = i;
            goto fail_nomem;
        }
        wa->p = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i - 1], NULL, worker_main, wa) != 0) {
            rw_free(wa);
            p->n = i;
            rw_pool_destroy(p);
            return rw_err_set(err, RW_E_STATE, "pool: cannot start thread %d of %d", i, n_threads);
        }
    }
    *out = p;
    return RW_OK;
fail_nomem:
    rw_pool_destroy(p);
    return rw_err_set(err, RW_E_NOMEM, "pool: out of memory");
}

void rw_pool_destroy(rw_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n && p->threads; i++) pthread_join(p->threads[i - 1], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    rw_free(p->threads);
    rw_free(p);
}

int rw_pool_threads(const rw_pool *p) { return p ? p->n : 1; }

void rw_pool_run(rw_pool *p, rw_pool_fn fn, void *ctx) {
    if (!p || p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) cpu_relax();
}

void rw_split_range(size_t n, int ith, int nth, size_t *begin, size_t *end) {
    size_t base = n / (size_t)nth, rem = n % (size_t)nth, i = (size_t)ith;
    *begin = i * base + (i < rem ? i : rem);
    *end = *begin + base + (i < rem ? 1 : 0);
}

int rw_cpu_physical_cores(void) {
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (online < 1) online = 1;
    /* Count distinct (package, core) pairs from sysfs; SMT siblings share a pair. */
    long seen[1024];
    int n_seen = 0;
    for (long cpu = 0; cpu < online && cpu < 1024; cpu++) {
        char path[128];
        long core = -1, pkg = 0;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (!f) return (int)online;
        if (fscanf(f, "%ld", &core) != 1) core = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = 0;
            fclose(f);
        }
        if (core < 0) return (int)online;
        long key = pkg * 65536 + core;
        int dup = 0;
        for (int i = 0; i < n_seen; i++) dup |= seen[i] == key;
        if (!dup) seen[n_seen++] = key;
    }
    return n_seen > 0 ? n_seen : (int)online;
}
