/* The one fixed-size worker pool that drives every parallel kernel.
 *
 * rw_pool_run(p, fn, ctx) calls fn(ctx, ith, nth) once for each ith in 0..nth-1 and
 * returns when all have finished. The caller runs ith 0; the others normally run on the
 * nth - 1 workers, but a slot no worker has claimed by the time the caller is done with
 * its own (a descheduled worker on a busy machine) is run by the caller, so fn must not
 * tie per-ith state to an OS thread (per-ith scratch is fine: one ith runs at a time).
 * Waiting threads spin for ~30 us (decode issues ~100 small jobs per token, so a condvar
 * wake-up each time would cost more than the work), then yield a few times, then sleep
 * on a condvar.
 * Work split is a pure function of (ith, nth), so results are reproducible for a given
 * thread count. fn must not call rw_pool_run on the same pool. Not thread-safe: one
 * caller at a time. */
#ifndef RW_CORE_POOL_H
#define RW_CORE_POOL_H

#include <stddef.h>

#include "core/status.h"

typedef struct rw_pool rw_pool;
typedef void (*rw_pool_fn)(void *ctx, int ith, int nth);

/* n_threads <= 0 means the number of physical cores. */
rw_status rw_pool_create(int n_threads, rw_pool **out, rw_err *err);
void rw_pool_destroy(rw_pool *p);
int rw_pool_threads(const rw_pool *p);
void rw_pool_run(rw_pool *p, rw_pool_fn fn, void *ctx);

/* The [begin, end) slice of n items owned by thread ith of nth (contiguous, balanced). */
void rw_split_range(size_t n, int ith, int nth, size_t *begin, size_t *end);

/* Physical cores of this machine (unique core ids), falling back to online CPUs. */
int rw_cpu_physical_cores(void);

#endif
