/* xoshiro256** (Blackman & Vigna 2018) with splitmix64 seeding. */
#include "spex/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void spex_rng_seed(spex_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

void spex_rng_seed_stream(spex_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = stream * 0xD1B54A32D192ED03ull;
    spex_rng_seed(r, seed ^ splitmix64(&x));
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t spex_rng_u64(spex_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double spex_rng_uniform(spex_rng *r) {
    return (double)(spex_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t spex_rng_below(spex_rng *r, uint64_t bound) {
    if (bound <= 1) return 0;
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do x = spex_rng_u64(r);
    while (x >= limit);
    return x % bound;
}

double spex_rng_normal(spex_rng *r) {
    double u1 = 1.0 - spex_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = spex_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void spex_rng_bits(spex_rng *r, uint64_t *row, size_t words, int64_t n) {
    for (size_t w = 0; w < words; w++) row[w] = spex_rng_u64(r);
    int tail = (int)(n & 63);
    if (words && tail) row[words - 1] &= ((uint64_t)1 << tail) - 1;
    for (size_t w = (size_t)((n + 63) / 64); w < words; w++) row[w] = 0;
}
