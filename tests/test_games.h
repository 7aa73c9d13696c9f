/* Planted games for the tests: random sparse coefficient maps whose every
 * term is known, so a method's output can be checked against the truth.
 * One generator with the few knobs the tests differ in (how terms are
 * counted, how values are drawn), and the hierarchical games of
 * ../shared/games/hierarchical_*.json. Each consumes its generator in a
 * fixed order, so a seed always names the same game. */
#ifndef SPEX_TEST_GAMES_H
#define SPEX_TEST_GAMES_H

#include <cmocka.h>

#include "spex/backend.h"
#include "spex/coefs.h"
#include "spex/rng.h"
#include "spex/transform.h"

/* How a planted map is drawn. Each term: degree d uniform in 1..dmax, d
 * indices uniform in 0..n_used-1 (0: n), normalised (a repeated index
 * discards the draw); then its value. */
typedef struct spex_test_planted {
    int64_t n;       /* features */
    int64_t n_used;  /* indices drawn from 0..n_used-1; 0 means n */
    int terms;       /* see distinct */
    int dmax;        /* highest degree, <= 8 */
    double constant; /* the empty set's coefficient */
    /* 1: draw until the map holds `terms` subsets besides the constant (a
     *    drawn subset already there is overwritten; a discarded draw is
     *    redrawn);
     * 0: `terms` draws (a discarded draw is lost), values of repeated
     *    subsets add up */
    int distinct;
    /* 1: |value| uniform in [lo, hi] and a fair random sign (two draws);
     * 0: value uniform in [lo, hi] (one draw) */
    int signed_magnitude;
    double lo, hi;
} spex_test_planted;

/* The planted map (fails the test when it cannot be built). */
static inline spex_coefs *spex_test_planted_coefs(spex_ctx *ctx, const spex_test_planted *p,
                                                  uint64_t seed) {
    spex_coefs *c = NULL;
    if (p->dmax < 1 || p->dmax > 8 || spex_coefs_new(ctx, p->n, &c))
        fail_msg("planted game: n %lld, dmax %d: %s", (long long)p->n, p->dmax, spex_errmsg(ctx));
    const uint64_t used = (uint64_t)(p->n_used > 0 ? p->n_used : p->n);
    spex_rng r;
    spex_rng_seed(&r, seed);
    spex_coefs_set(c, NULL, 0, p->constant);
    for (int t = 0; p->distinct ? spex_coefs_count(c) < p->terms + 1 : t < p->terms; t++) {
        int d = 1 + (int)spex_rng_below(&r, (uint64_t)p->dmax);
        int32_t idx[8];
        for (int i = 0; i < d; i++)
            idx[i] = (int32_t)spex_rng_below(&r, used);
        if (spex_subset_normalize(ctx, p->n, idx, d)) continue; /* repeated index */
        double v = p->lo + (p->hi - p->lo) * spex_rng_uniform(&r);
        if (p->signed_magnitude && spex_rng_uniform(&r) < 0.5) v = -v;
        if (p->distinct)
            spex_coefs_set(c, idx, d, v);
        else
            spex_coefs_add(c, idx, d, v);
    }
    return c;
}

/* A game over the map c (kept by the caller) in basis b with Gaussian noise
 * of sd noise_sd; fails the test when it cannot be built. */
static inline spex_game *spex_test_game_of(spex_ctx *ctx, const spex_coefs *c, spex_basis b,
                                           double noise_sd) {
    spex_game *g = NULL;
    if (spex_game_from_coefs(ctx, c, b, noise_sd, &g))
        fail_msg("planted game: %s", spex_errmsg(ctx));
    return g;
}

/* The planted map as a game in basis b. */
static inline spex_game *spex_test_planted_game(spex_ctx *ctx, const spex_test_planted *p,
                                                spex_basis b, double noise_sd, uint64_t seed) {
    spex_coefs *c = spex_test_planted_coefs(ctx, p, seed);
    spex_game *g = spex_test_game_of(ctx, c, b, noise_sd);
    spex_coefs_free(c);
    return g;
}

/* Hierarchical game: n_roots random subsets of `order` (<= 8) features, and
 * every non-empty subset of each root gets a Möbius coefficient ±U[0.5, 1]
 * (as ../shared/games/hierarchical_*.json). */
static inline spex_game *spex_test_hierarchical(spex_ctx *ctx, int64_t n, int n_roots, int order,
                                                uint64_t seed) {
    spex_coefs *a = NULL;
    if (order < 1 || order > 8 || spex_coefs_new(ctx, n, &a))
        fail_msg("hierarchical game: n %lld, order %d: %s", (long long)n, order, spex_errmsg(ctx));
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (int k = 0; k < n_roots; k++) {
        int32_t root[8];
        do {
            for (int i = 0; i < order; i++)
                root[i] = (int32_t)spex_rng_below(&r, (uint64_t)n);
        } while (spex_subset_normalize(ctx, n, root, order));
        for (int s = 1; s < (1 << order); s++) {
            int32_t sub[8];
            int len = 0;
            for (int i = 0; i < order; i++)
                if (s >> i & 1) sub[len++] = root[i];
            double v = 0.5 + 0.5 * spex_rng_uniform(&r);
            spex_coefs_add(a, sub, len, spex_rng_uniform(&r) < 0.5 ? -v : v);
        }
    }
    spex_game *g = spex_test_game_of(ctx, a, SPEX_BASIS_MOBIUS, 0.0);
    spex_coefs_free(a);
    return g;
}

#endif
