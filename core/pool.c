/* Spin-then-yield-then-sleep worker pool with late-slot stealing.
 *
 * A job has n slots (ith = 0..n-1). The caller always runs slot 0; slots 1..n-1 are
 * claimed with an atomic counter by whichever pool thread gets there first, the caller
 * included once it has finished slot 0. On an idle machine each worker claims its slot
 * while the caller is still busy with slot 0, so nothing changes; on an oversubscribed
 * machine a descheduled worker's slot is run by the caller instead of being waited for.
 * fn still sees every (ith, nth) exactly once, so the work split and the results stay a
 * pure function of the thread count.
 *
 * Waiting (a worker waiting for the next job, the caller waiting for slots claimed by
 * others) goes through three phases: spin with `pause` for at most SPIN_NS of wall time
 * (decode issues ~100 small jobs per token, a condvar round trip each time would cost more
 * than the work), then sched_yield() up to YIELD_LIMIT times (on an oversubscribed machine
 * the thread we wait for may be descheduled: yielding lends it our core instead of burning
 * our time slice), then a condvar. The spin is bounded by time, not by iterations, so it
 * does not depend on how long `pause` takes on this CPU.
 *
 * Invariants: `done` counts finished slots 1..n-1 of the current job; a new job starts
 * only when it is n - 1. `next` is the next unclaimed slot (>= n: none left). A worker
 * reads fn/ctx only after claiming a slot of the current job: the caller publishes fn, ctx
 * and done = 0 before resetting `next` to 1 (all sequentially consistent).
 * Wake-up protocols (no lost wake-up): a worker increments `sleepers` and re-checks `gen`
 * under the mutex before waiting; the caller bumps `gen` and then reads `sleepers`. The
 * caller sets `caller_sleeping` and re-checks `done` under the mutex; the thread finishing
 * the last slot increments `done` and then reads `caller_sleeping`, broadcasting
 * `done_cv` under the mutex when it is set. */
#include "core/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/timer.h"

enum {
    SPIN_NS = 30000,    /* pause-spin budget per wait, wall time */
    SPIN_CHECK = 64,    /* spins between clock reads */
    YIELD_LIMIT = 8     /* sched_yield() calls before sleeping */
};

struct rw_pool {
    int n;
    pthread_t *threads; /* n - 1 workers; owned */
    atomic_uint gen;
    atomic_int next; /* next unclaimed slot */
    atomic_int done; /* finished slots among 1..n-1 */
    atomic_int stop;
    atomic_int sleepers;
    atomic_int caller_sleeping;
    rw_pool_fn fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* workers: a new job or stop */
    pthread_cond_t done_cv; /* caller: done reached n - 1 */
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

/* Spin/yield phase of a wait. Returns 1 when done(p, arg) became true, 0 when the budget
 * is spent and the caller should sleep on its condvar. */
typedef int (*wait_pred)(rw_pool *p, unsigned arg);

static int spin_then_yield(rw_pool *p, wait_pred done, unsigned arg) {
    uint64_t t0 = 0;
    for (unsigned i = 1;; i++) {
        if (done(p, arg)) return 1;
        cpu_relax();
        if (i % SPIN_CHECK == 0) {
            uint64_t t = rw_now_ns();
            if (t0 == 0)
                t0 = t;
            else if (t - t0 > SPIN_NS)
                break;
        }
    }
    for (int y = 0; y < YIELD_LIMIT; y++) {
        if (done(p, arg)) return 1;
        sched_yield();
    }
    return done(p, arg);
}

static int job_posted(rw_pool *p, unsigned seen) {
    return atomic_load(&p->gen) != seen || atomic_load(&p->stop);
}

static int job_finished(rw_pool *p, unsigned unused) {
    (void)unused;
    return atomic_load(&p->done) >= p->n - 1;
}

/* Claims and runs slots of the current job until none is left. */
static void run_slots(rw_pool *p) {
    for (;;) {
        int s = atomic_fetch_add(&p->next, 1);
        if (s >= p->n) return;
        p->fn(p->ctx, s, p->n);
        if (atomic_fetch_add(&p->done, 1) + 1 == p->n - 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_broadcast(&p->done_cv);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static void *worker_main(void *arg) {
    rw_pool *p = ((worker_arg *)arg)->p;
    rw_free(arg);
    unsigned seen = 0;
    for (;;) {
        if (!spin_then_yield(p, job_posted, seen)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while (!job_posted(p, seen)) pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop)) return NULL;
        seen = atomic_load(&p->gen);
        run_slots(p);
    }
}

rw_status rw_pool_create(int n_threads, rw_pool **out, rw_err *err) {
    if (n_threads <= 0) n_threads = rw_cpu_physical_cores();
    if (n_threads > 512) return rw_err_set(err, RW_E_INVALID, "pool: %d threads is too many", n_threads);
    rw_pool *p = rw_calloc(1, sizeof *p);
    if (!p) return rw_err_set(err, RW_E_NOMEM, "pool: out of memory");
    p->n = n_threads;
    atomic_store(&p->next, n_threads); /* no slot to claim before the first job */
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_cond_init(&p->done_cv, NULL);
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
    pthread_cond_destroy(&p->done_cv);
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
    atomic_store(&p->done, 0);
    atomic_store(&p->next, 1);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    run_slots(p); /* slots no worker has claimed yet */
    if (spin_then_yield(p, job_finished, 0)) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1);
    while (!job_finished(p, 0)) pthread_cond_wait(&p->done_cv, &p->mu);
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
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
