/*
 * spex/rng.h - a seeded random number generator with explicit state.
 *
 * xoshiro256** seeded through splitmix64: the same seed gives the same
 * stream on every machine and compiler (integer arithmetic only; doubles are
 * built from the top 53 bits). The state is a plain value the caller owns, so
 * independent streams (one per group, per fold, per worker) are cheap.
 *
 * Example:
 *     spex_rng r; spex_rng_seed(&r, 42);
 *     uint64_t x = spex_rng_u64(&r);
 *     double u = spex_rng_uniform(&r);     // [0, 1)
 */
#ifndef SPEX_RNG_H
#define SPEX_RNG_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_rng {
    uint64_t s[4];
} spex_rng;

SPEX_API void spex_rng_seed(spex_rng *r, uint64_t seed);
/* A stream derived from (seed, stream): independent of other stream ids. */
SPEX_API void spex_rng_seed_stream(spex_rng *r, uint64_t seed, uint64_t stream);
SPEX_API uint64_t spex_rng_u64(spex_rng *r);
/* Uniform double in [0, 1). */
SPEX_API double spex_rng_uniform(spex_rng *r);
/* Uniform integer in [0, bound) without modulo bias; bound >= 1. */
SPEX_API uint64_t spex_rng_below(spex_rng *r, uint64_t bound);
/* Standard normal (Box–Muller on two uniforms; no cached second value, so the
 * stream position is a function of the call count alone). */
SPEX_API double spex_rng_normal(spex_rng *r);
/* Fills `words` words with uniform bits, then clears bits at and past n. */
SPEX_API void spex_rng_bits(spex_rng *r, uint64_t *row, size_t words, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
