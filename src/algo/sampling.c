/*
 * Uniform random masks for the regression methods (ProxySPEX, LASSO,
 * Faith-Banzhaf; DESIGN.md §3): distinct rows, the all-ones and all-zeros
 * masks first, then uniformly random masks, each optionally followed by its
 * complement. Distinctness is kept by an open-addressing set of row hashes
 * over the rows already drawn; every draw comes from one seeded stream.
 */
#include "algo/algo_int.h"

#include <string.h>

#include "spex/rng.h"

static uint64_t row_hash(const uint64_t *row, size_t words) {
    uint64_t h = 0x9e3779b97f4a7c15u;
    for (size_t w = 0; w < words; w++) {
        h ^= row[w] + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
        h *= 0xff51afd7ed558ccdu;
    }
    return h ^ (h >> 33);
}

typedef struct {
    int64_t *slot; /* row index + 1; 0 = empty */
    size_t mask;
} row_set;

/* 1 when row is already in b (through the set), else inserts index i and 0. */
static int set_insert(row_set *s, const spex_masks *b, const uint64_t *row, int64_t i) {
    size_t words = spex_masks_words(b);
    size_t p = (size_t)row_hash(row, words) & s->mask;
    while (s->slot[p]) {
        if (!memcmp(spex_masks_crow(b, s->slot[p] - 1), row, words * sizeof *row)) return 1;
        p = (p + 1) & s->mask;
    }
    s->slot[p] = i + 1;
    return 0;
}

int spexi_uniform_masks(spex_ctx *ctx, int64_t n, int64_t count, uint64_t seed, int paired,
                        spex_masks **out) {
    *out = NULL;
    if (n < 1 || count < 0)
        return spex_seterr(ctx, SPEX_E_INVAL, "uniform masks: n = %lld, count = %lld", (long long)n,
                           (long long)count);
    if (n < 62 && count > ((int64_t)1 << n)) count = (int64_t)1 << n;
    size_t words = spex_bits_words(n), cap = 16;
    while (cap < (size_t)count * 2 + 2)
        cap <<= 1;
    row_set set = {spex_calloc(ctx, cap, sizeof(int64_t)), cap - 1};
    spex_masks *b = NULL;
    uint64_t *tmp = spex_calloc(ctx, words, sizeof *tmp);
    int rc = (set.slot && tmp) ? spex_masks_new(ctx, n, count ? count : 1, &b) : SPEX_E_NOMEM;
    spex_rng rng;
    spex_rng_seed_stream(&rng, seed, 0x756e69666f726dull); /* "uniform" */
    /* all-zeros, then all-ones */
    for (int ones = 0; !rc && ones < 2 && spex_masks_count(b) < count; ones++) {
        for (size_t w = 0; w < words; w++)
            tmp[w] = ones ? ~(uint64_t)0 : 0;
        if (ones && n % 64) tmp[words - 1] = ((uint64_t)1 << (n % 64)) - 1;
        if (!set_insert(&set, b, tmp, spex_masks_count(b))) rc = spex_masks_append(b, tmp);
    }
    while (!rc && spex_masks_count(b) < count) {
        spex_rng_bits(&rng, tmp, words, n);
        for (int half = 0; !rc && half < 1 + !!paired && spex_masks_count(b) < count; half++) {
            if (half) {
                for (size_t w = 0; w < words; w++)
                    tmp[w] = ~tmp[w];
                if (n % 64) tmp[words - 1] &= ((uint64_t)1 << (n % 64)) - 1;
            }
            if (!set_insert(&set, b, tmp, spex_masks_count(b))) rc = spex_masks_append(b, tmp);
        }
    }
    spex_free(ctx, set.slot);
    spex_free(ctx, tmp);
    if (rc) {
        spex_masks_free(b);
        return rc;
    }
    *out = b;
    return SPEX_OK;
}
