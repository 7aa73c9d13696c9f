/* Top-k search: the branch and bound against brute force over all k-subsets
 * (both directions, all signs, with inert features that pad the set), and
 * the change of a set against the surrogate evaluated at the ablated masks. */
#include "testing.h"
#include "test_util.h"
#include "test_games.h"

#include "spex/rng.h"
#include "spex/topk.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

/* Random Möbius terms of order 1..3 on features 0..n_used-1. */
static spex_coefs *random_mobius(spex_ctx *ctx, int n, int n_used, int terms, uint64_t seed) {
    spex_test_planted p = {.n = n,
                           .n_used = n_used,
                           .terms = terms,
                           .dmax = 3,
                           .constant = 0.7,
                           .lo = -1.0,
                           .hi = 1.0};
    return spex_test_planted_coefs(ctx, &p, seed);
}

/* Best change over all k-subsets by enumeration, using the surrogate itself
 * at the ablated masks: f(1 - 1_R) - f(1) or f(1_R) - f(0). */
static double brute(const spex_coefs *a, int n, int k, spex_topk_direction dir, int sign) {
    uint64_t full = ((uint64_t)1 << n) - 1, zero = 0;
    double base = spex_coefs_eval_mobius(a, dir == SPEX_TOPK_REMOVE ? &full : &zero);
    double best = 0;
    int have = 0;
    for (uint64_t R = 0; R <= full; R++) {
        if (__builtin_popcountll(R) != k) continue;
        uint64_t m = dir == SPEX_TOPK_REMOVE ? full & ~R : R;
        double ch = spex_coefs_eval_mobius(a, &m) - base;
        double score = sign == 0 ? fabs(ch) : sign * ch;
        double bscore = sign == 0 ? fabs(best) : sign * best;
        if (!have || score > bscore) {
            best = ch;
            have = 1;
        }
    }
    return best;
}

static void test_against_brute_force(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    int cases = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        int n = 8 + (int)(seed % 5), n_used = seed % 3 ? n : n - 3;
        spex_coefs *a = random_mobius(ctx, n, n_used, 6 + 3 * (int)seed, seed);
        for (int dir = 0; dir < 2; dir++)
            for (int sign = -1; sign <= 1; sign++)
                for (int k = 1; k <= 5; k++) {
                    spex_topk_opts o = spex_topk_opts_default();
                    o.direction = (spex_topk_direction)dir;
                    o.sign = sign;
                    int32_t set[8];
                    double ch, again;
                    int opt;
                    CHECK_RC(ctx, spex_topk_search(a, k, &o, set, &ch, &opt));
                    CHECK(opt == 1);
                    double want = brute(a, n, k, o.direction, sign);
                    if (sign == 0)
                        CHECK_NEAR(fabs(ch), fabs(want), 1e-9);
                    else
                        CHECK_NEAR(ch, want, 1e-9);
                    for (int i = 1; i < k; i++)
                        CHECK(set[i - 1] < set[i]);
                    /* the reported set has the reported change */
                    CHECK_RC(ctx, spex_topk_change(a, o.direction, set, k, &again));
                    CHECK_NEAR(again, ch, 1e-9);
                    cases++;
                }
        spex_coefs_free(a);
    }
    printf("%d searches matched brute force\n", cases);
    spex_ctx_free(ctx);
}

/* spex_topk_change against the surrogate at the ablated mask, and errors. */
static void test_change(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_coefs *a = random_mobius(ctx, 10, 10, 30, 5);
    int32_t R[] = {7, 2, 4};
    uint64_t full = 1023, m = full & ~((1u << 7) | (1u << 2) | (1u << 4)), zero = 0,
             keep = full ^ m;
    double ch;
    CHECK_RC(ctx, spex_topk_change(a, SPEX_TOPK_REMOVE, R, 3, &ch));
    CHECK_NEAR(ch, spex_coefs_eval_mobius(a, &m) - spex_coefs_eval_mobius(a, &full), 1e-12);
    CHECK_RC(ctx, spex_topk_change(a, SPEX_TOPK_KEEP, R, 3, &ch));
    CHECK_NEAR(ch, spex_coefs_eval_mobius(a, &keep) - spex_coefs_eval_mobius(a, &zero), 1e-12);
    int32_t bad[] = {1, 1};
    CHECK(spex_topk_change(a, SPEX_TOPK_KEEP, bad, 2, &ch) == SPEX_E_INVAL);
    int32_t set[11];
    int opt;
    CHECK(spex_topk_search(a, 11, NULL, set, &ch, &opt) == SPEX_E_RANGE);
    spex_coefs_free(a);
    spex_ctx_free(ctx);
}

/* A larger problem stays exact: n = 60, 150 terms, k = 4 (no brute force;
 * the optimum must beat every single swap of the found set). */
static void test_local_optimality(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_coefs *a = random_mobius(ctx, 60, 60, 150, 21);
    spex_topk_opts o = spex_topk_opts_default();
    o.sign = 1;
    int32_t set[4];
    double ch;
    int opt;
    CHECK_RC(ctx, spex_topk_search(a, 4, &o, set, &ch, &opt));
    CHECK(opt == 1);
    for (int i = 0; i < 4; i++)
        for (int32_t f = 0; f < 60; f++) {
            int32_t t[4];
            memcpy(t, set, sizeof t);
            int dup = 0;
            for (int j = 0; j < 4; j++)
                dup |= t[j] == f;
            if (dup) continue;
            t[i] = f;
            double c2;
            spex_topk_change(a, SPEX_TOPK_REMOVE, t, 4, &c2);
            if (c2 > ch + 1e-9) fail_msg("swap %d -> %d improves %g to %g", set[i], f, ch, c2);
        }
    CHECK(1);
    spex_coefs_free(a);
    spex_ctx_free(ctx);
}

struct topk_call {
    const spex_coefs *a;
    const spex_topk_opts *o;
    int32_t *set;
    double *ch;
    int *opt;
};
static int topk_run(spex_ctx *ctx, void *user) {
    (void)ctx;
    struct topk_call *c = user;
    return spex_topk_search(c->a, 3, c->o, c->set, c->ch, c->opt);
}

/* Failing the k-th allocation of the search (the map's context), for every
 * k until it gets through, gives SPEX_E_NOMEM (leaks: ASan); the search
 * that gets through finds the fault-free set and change. */
static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_coefs *a = random_mobius(ctx, 30, 30, 60, 9);
    spex_topk_opts o = spex_topk_opts_default();
    int32_t want[3], set[3];
    double want_ch, ch;
    int want_opt, opt;
    CHECK_RC(ctx, spex_topk_search(a, 3, &o, want, &want_ch, &want_opt));
    struct topk_call c = {a, &o, set, &ch, &opt};
    int64_t k = spex_test_alloc_walk(ctx, 100000, topk_run, NULL, &c);
    printf("top-k: %lld allocations, each failure gave SPEX_E_NOMEM\n", (long long)k);
    CHECK(k > 4);
    CHECK(!memcmp(set, want, sizeof set) && opt == want_opt);
    CHECK_NEAR(ch, want_ch, 0.0);
    spex_coefs_free(a);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_brute_force),
        cmocka_unit_test(test_change),
        cmocka_unit_test(test_local_optimality),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
