/* CLOCK_MONOTONIC wrappers. */
#include "core/timer.h"

#include <time.h>

uint64_t rw_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double rw_now_s(void) { return (double)rw_now_ns() * 1e-9; }
