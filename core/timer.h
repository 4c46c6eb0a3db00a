/* Monotonic clock for timings and ETAs. */
#ifndef RW_CORE_TIMER_H
#define RW_CORE_TIMER_H

#include <stdint.h>

uint64_t rw_now_ns(void);
double rw_now_s(void);

#endif
