/* Deterministic RNG: xoshiro256** seeded through splitmix64 (Blackman & Vigna).
 *
 * The state is four plain uint64 words so checkpoints can save and restore it exactly.
 * Same seed -> same sequence on every platform. */
#ifndef RW_CORE_RNG_H
#define RW_CORE_RNG_H

#include <stdint.h>

typedef struct rw_rng {
    uint64_t s[4];
} rw_rng;

void rw_rng_seed(rw_rng *r, uint64_t seed);
uint64_t rw_rng_u64(rw_rng *r);
/* Uniform in [0, n) without modulo bias; n > 0. */
uint64_t rw_rng_below(rw_rng *r, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double rw_rng_uniform(rw_rng *r);
/* Standard normal (Box-Muller; one value per call, deterministic). */
double rw_rng_normal(rw_rng *r);
/* Fisher-Yates shuffle of n uint32 indices. */
void rw_rng_shuffle_u32(rw_rng *r, uint32_t *v, uint32_t n);

#endif
