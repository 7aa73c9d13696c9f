/* SPEX: the aliasing identity of the subsampled transform, exact recovery of
 * planted games checked against the exact transform, noise, budgets. */
#include "test_util.h"
#include "test_games.h"

#include "algo/algo_int.h"
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

/* A random sparse Fourier game: s distinct subsets of degree 1..dmax,
 * |F| in [0.5, 1] with random signs, plus a constant. */
static spex_game *planted(spex_ctx *ctx, int64_t n, int s, int dmax, double noise_sd,
                          uint64_t seed) {
    spex_test_planted p = {.n = n,
                           .terms = s,
                           .dmax = dmax,
                           .constant = 0.3,
                           .distinct = 1,
                           .signed_magnitude = 1,
                           .lo = 0.5,
                           .hi = 1.0};
    return spex_test_planted_game(ctx, &p, SPEX_BASIS_FOURIER, noise_sd, seed);
}

/* U_{c,p}[j] = Σ_{k: M_c k = j} F(k) (-1)^{<d_p,k>}, computed here from the
 * game's coefficients and the design's hashes and delays. */
static void test_aliasing_identity(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 90;
    spex_game *g = planted(ctx, n, 40, 4, 0.0, 7);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, NULL, &q));
    spexi_sft_view v;
    CHECK_RC(ctx, spexi_sft_sample_for_test(ctx, q, n, 4, 3, 2, 5, &v));
    int64_t L = (int64_t)1 << v.b;
    size_t words = spex_bits_words(n);
    double *want = calloc((size_t)(v.C * (v.P + 1) * L), sizeof *want);
    const spex_coefs *F = spex_game_fourier(g);
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double val;
        spex_coefs_entry(F, i, &idx, &len, &val);
        for (int c = 0; c < v.C; c++) {
            uint32_t j = 0;
            for (int a = 0; a < len; a++)
                j ^= v.cols[(size_t)c * (size_t)n + (size_t)idx[a]];
            for (int p = 0; p <= v.P; p++) {
                int sign = spex_bits_dot_idx(v.delays + (size_t)p * words, idx, len);
                want[((size_t)c * (size_t)(v.P + 1) + (size_t)p) * (size_t)L + j] +=
                    sign ? -val : val;
            }
        }
    }
    for (int64_t e = 0; e < v.C * (v.P + 1) * L; e++)
        CHECK_NEAR(v.U[e], want[e], 1e-12);
    free(want);
    spexi_sft_view_free(ctx, &v);
    spex_query_free(q);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* Every coefficient of the result equals the exact transform's (n = 16, so
 * the exact transform of all 2^16 masks is the ground truth). */
static void test_exact_recovery_small(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        spex_ctx *ctx = spex_ctx_new();
        const int n = 16;
        spex_game *g = planted(ctx, n, 12, 3, 0.0, seed);
        spex_valuefn vf;
        CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
        double *all = malloc(sizeof(double) << n);
        for (uint64_t m = 0; m < (1u << n); m++)
            all[m] = spex_game_value(g, &m);
        spex_coefs *truth;
        CHECK_RC(ctx, spex_exact_fourier(ctx, all, n, 1e-12, &truth));
        spex_explain_opts eo = spex_explain_opts_default();
        eo.method = SPEX_METHOD_SPEX;
        eo.max_order = 3;
        eo.seed = seed;
        eo.budget = 3000;
        spex_result *res;
        CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
        CHECK(res->queries <= 3000);
        /* same support (|F| > 1e-6) and values */
        for (int64_t i = 0; i < spex_coefs_count(truth); i++) {
            const int32_t *idx;
            int len;
            double want, got;
            spex_coefs_entry(truth, i, &idx, &len, &want);
            spex_coefs_get(res->fourier, idx, len, &got);
            CHECK_NEAR(got, want, 1e-6);
        }
        for (int64_t i = 0; i < spex_coefs_count(res->fourier); i++) {
            const int32_t *idx;
            int len;
            double got, want;
            spex_coefs_entry(res->fourier, i, &idx, &len, &got);
            spex_coefs_get(truth, idx, len, &want);
            CHECK_NEAR(got, want, 1e-6);
        }
        spex_result_free(res);
        spex_coefs_free(truth);
        free(all);
        spex_valuefn_release(&vf);
        spex_game_free(g);
        spex_ctx_free(ctx);
    }
}

/* Larger n: precision = recall = 1 against the planted support, with both
 * decoders, and the budget respected. */
static void test_planted_recovery(void **state) {
    (void)state;
    for (int dec = 0; dec < 2; dec++) {
        spex_ctx *ctx = spex_ctx_new();
        const int64_t n = 500;
        spex_game *g = planted(ctx, n, 30, 4, 0.0, 11 + (uint64_t)dec);
        spex_valuefn vf;
        CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
        spex_explain_opts eo = spex_explain_opts_default();
        eo.method = SPEX_METHOD_SPEX;
        eo.max_order = 4;
        eo.budget = 8000;
        eo.decoder = dec ? SPEX_DECODER_HARD : SPEX_DECODER_SOFT;
        spex_result *res;
        CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
        CHECK(res->queries <= 8000);
        CHECK(res->queries >= 7900); /* the whole budget is used */
        const spex_coefs *F = spex_game_fourier(g);
        int64_t found = 0;
        for (int64_t i = 0; i < spex_coefs_count(res->fourier); i++) {
            const int32_t *idx;
            int len;
            double got, want;
            spex_coefs_entry(res->fourier, i, &idx, &len, &got);
            if (fabs(got) < 1e-6) continue;
            CHECK(spex_coefs_get(F, idx, len, &want) == 1); /* precision */
            CHECK_NEAR(got, want, 1e-6);
            found++;
        }
        CHECK(found == spex_coefs_count(F)); /* recall */
        spex_result_free(res);
        spex_valuefn_release(&vf);
        spex_game_free(g);
        spex_ctx_free(ctx);
    }
}

/* Budgets too small for three groups of the size s = 100 needs at t = 5
 * (n = 1000: 56 delays): 5,000 queries double two of three groups of 16
 * bins (32 + 32 + 16) and peeling reads two-coefficient bins; 3,600 double
 * one (32 + 16 + 16) and peeling also reads three-coefficient bins. Every
 * planted coefficient is recovered exactly, nothing else. */
static void check_small_budget(uint64_t seed, int64_t budget, const int b[3], int triples) {
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 1000;
    spex_game *g = planted(ctx, n, 100, 5, 0.0, seed);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_SPEX;
    eo.max_order = 5;
    eo.budget = budget;
    eo.seed = seed;
    spex_result *res;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    char line[512];
    spex_result_details_text(res, line, sizeof line);
    printf("seed %llu: %s\n", (unsigned long long)seed, line);
    CHECK(res->queries <= budget && res->queries >= budget - 10);
    CHECK(res->details.kind == SPEX_DETAILS_SPEX);
    const spex_spex_details *d = &res->details.u.spex;
    CHECK(d->C == 3 && d->t == 5 && d->delays == 56);
    for (int c = 0; c < 3; c++)
        CHECK(d->b[c] == b[c]);
    /* the plan's masks, of them distinct, and the random rest make the queries */
    CHECK(d->structured == (int64_t)d->delays * ((1 << b[0]) + (1 << b[1]) + (1 << b[2])));
    CHECK(d->structured_distinct <= d->structured);
    CHECK(d->structured_distinct + d->random == res->queries);
    CHECK(d->pairs > 0);
    if (triples) CHECK(d->triples > 0);
    const spex_coefs *F = spex_game_fourier(g);
    int64_t found = 0;
    for (int64_t i = 0; i < spex_coefs_count(res->fourier); i++) {
        const int32_t *idx;
        int len;
        double got, want = 0;
        spex_coefs_entry(res->fourier, i, &idx, &len, &got);
        if (fabs(got) < 1e-6) continue;
        CHECK(spex_coefs_get(F, idx, len, &want) == 1); /* precision */
        CHECK_NEAR(got, want, 1e-6);
        found++;
    }
    CHECK(found == spex_coefs_count(F)); /* recall */
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

static void test_small_budget_pairs(void **state) {
    (void)state;
    for (uint64_t seed = 21; seed <= 22; seed++)
        check_small_budget(seed, 5000, (const int[3]){5, 5, 4}, 0);
}

static void test_small_budget_triples(void **state) {
    (void)state;
    for (uint64_t seed = 21; seed <= 22; seed++)
        check_small_budget(seed, 3600, (const int[3]){5, 4, 4}, 1);
}

/* Noisy game (SNR about 10 dB): the large coefficients are found and R² of
 * the surrogate against the noiseless game is high. */
static void test_noisy(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 200;
    /* signal variance ≈ 20 · 0.58; noise variance 1.2 → SNR ≈ 10 dB */
    spex_game *g = planted(ctx, n, 20, 3, 1.1, 3);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 9, &vf));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_SPEX;
    eo.max_order = 3;
    eo.budget = 12000;
    spex_result *res;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    spex_rng r;
    spex_rng_seed(&r, 77);
    double ss_res = 0, ss_tot = 0, mean = 0, ys[2000];
    uint64_t row[4];
    for (int i = 0; i < 2000; i++) {
        spex_rng_bits(&r, row, 4, n);
        ys[i] = spex_game_value(g, row);
        mean += ys[i] / 2000;
        double d = ys[i] - spex_coefs_eval_fourier(res->fourier, row);
        ss_res += d * d;
    }
    for (int i = 0; i < 2000; i++)
        ss_tot += (ys[i] - mean) * (ys[i] - mean);
    double r2 = 1 - ss_res / ss_tot;
    printf("noisy planted game: R2 = %.4f\n", r2);
    CHECK(r2 > 0.95);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

static void test_budgets(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 1000;
    spex_game *g = planted(ctx, n, 5, 2, 0.0, 5);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_SPEX;
    eo.max_order = 5;
    spex_result *res = NULL;
    /* far too small: a clear error naming the minimum and proxyspex */
    eo.budget = 10;
    CHECK(spex_explain(ctx, &vf, &eo, &res) == SPEX_E_BUDGET);
    CHECK(strstr(spex_errmsg(ctx), "minimum is 22") != NULL);
    CHECK(strstr(spex_errmsg(ctx), "proxyspex") != NULL);
    /* below the reference's minimum (1344 at t = 5): t degrades, still works */
    eo.budget = 600;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->queries <= 600 && res->queries >= 590);
    CHECK(res->details.kind == SPEX_DETAILS_SPEX);
    CHECK(res->details.u.spex.t < 5);
    char line[512];
    spex_result_details_text(res, line, sizeof line);
    printf("budget 600: %s\n", line);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aliasing_identity),
        cmocka_unit_test(test_exact_recovery_small),
        cmocka_unit_test(test_planted_recovery),
        cmocka_unit_test(test_small_budget_pairs),
        cmocka_unit_test(test_small_budget_triples),
        cmocka_unit_test(test_noisy),
        cmocka_unit_test(test_budgets),
    };
    SPEX_RUN_TESTS(tests);
}
