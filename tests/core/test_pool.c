/* core/pool.c under decode-like use: many small jobs on 2 threads, gaps between jobs long
 * enough that workers go through every waiting phase (spin, yield, condvar sleep), and a
 * straggler slow enough that the caller's wait reaches its condvar. Checks every job ran
 * exactly once on every thread with the right (ith, nth), and that results are those of
 * a plain loop computed here. */
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/pool.h"
#include "rw_test.h"

typedef struct small_ctx {
    int nth_seen[4];
    atomic_int calls;
    long out[4];
    int job;
    int slow_ith; /* this thread sleeps slow_us before finishing; -1 for none */
    long slow_us;
} small_ctx;

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

static void small_task(void *vctx, int ith, int nth) {
    small_ctx *c = vctx;
    c->nth_seen[ith] = nth;
    size_t b, e;
    rw_split_range(64, ith, nth, &b, &e);
    long s = 0;
    for (size_t i = b; i < e; i++) s += (long)i * c->job;
    c->out[ith] = s;
    if (ith == c->slow_ith) sleep_us(c->slow_us);
    atomic_fetch_add(&c->calls, 1);
}

static void run_jobs(rw_pool *p, int njobs, long gap_us, int slow_ith, long slow_us) {
    int nth = rw_pool_threads(p);
    for (int j = 0; j < njobs; j++) {
        small_ctx c = {.job = j, .slow_ith = slow_ith, .slow_us = slow_us};
        rw_pool_run(p, small_task, &c);
        assert_int_equal(atomic_load(&c.calls), nth);
        long s = 0;
        for (int t = 0; t < nth; t++) {
            assert_int_equal(c.nth_seen[t], nth);
            s += c.out[t];
        }
        assert_int_equal(s, (long)j * (63 * 64 / 2));
        if (gap_us) sleep_us(gap_us);
    }
}

static void test_many_small_jobs_2_threads(void **state) {
    (void)state;
    rw_pool *p = NULL;
    assert_int_equal(rw_pool_create(2, &p, NULL), RW_OK);
    run_jobs(p, 4000, 0, -1, 0);   /* back to back: spin phase */
    run_jobs(p, 50, 20, -1, 0);    /* gaps inside the spin budget */
    run_jobs(p, 30, 2000, -1, 0);  /* workers fall asleep between jobs */
    run_jobs(p, 20, 0, 1, 3000);   /* worker straggles: caller yields, then sleeps */
    run_jobs(p, 20, 500, 0, 3000); /* caller straggles */
    run_jobs(p, 2000, 0, -1, 0);
    rw_pool_destroy(p);
}

static void test_many_small_jobs_oversubscribed(void **state) {
    (void)state;
    /* Three pools of 2 threads driven from three threads would need pthreads here; one
     * 4-thread pool on a 2-core machine is the oversubscribed case we can run simply. */
    rw_pool *p = NULL;
    assert_int_equal(rw_pool_create(4, &p, NULL), RW_OK);
    run_jobs(p, 500, 0, -1, 0);
    run_jobs(p, 10, 0, 3, 2000);
    rw_pool_destroy(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_small_jobs_2_threads),
        cmocka_unit_test(test_many_small_jobs_oversubscribed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
