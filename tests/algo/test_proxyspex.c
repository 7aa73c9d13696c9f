/* ProxySPEX: uniform masks, exact Fourier extraction from tree dumps (hand
 * trees against their definition, XGBoost boosters against XGBoost's own
 * predictions), recovery of hierarchical games, degenerate inputs. */
#include "testing.h"
#include "test_util.h"
#include "test_games.h"

#include "algo/algo_int.h"
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

static double r2_on_random(const spex_game *g, const spex_coefs *F, int64_t n, int count,
                           uint64_t seed) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    uint64_t row[16] = {0};
    double *y = malloc((size_t)count * sizeof *y), *yh = malloc((size_t)count * sizeof *yh);
    double mean = 0, ss = 0, st = 0;
    for (int i = 0; i < count; i++) {
        spex_rng_bits(&r, row, spex_bits_words(n), n);
        y[i] = spex_game_value(g, row);
        yh[i] = spex_coefs_eval_fourier(F, row);
        mean += y[i] / count;
    }
    for (int i = 0; i < count; i++) {
        ss += (y[i] - yh[i]) * (y[i] - yh[i]);
        st += (y[i] - mean) * (y[i] - mean);
    }
    free(y);
    free(yh);
    return 1.0 - ss / st;
}

static void test_uniform_masks(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_masks *m;
    /* n = 3: asking for 100 gives all 8, distinct, zeros then ones first */
    CHECK_RC(ctx, spexi_uniform_masks(ctx, 3, 100, 5, 0, &m));
    CHECK(spex_masks_count(m) == 8);
    int seen[8] = {0};
    for (int64_t i = 0; i < 8; i++)
        seen[spex_masks_crow(m, i)[0]]++;
    for (int i = 0; i < 8; i++)
        CHECK(seen[i] == 1);
    CHECK(spex_masks_crow(m, 0)[0] == 0 && spex_masks_crow(m, 1)[0] == 7);
    spex_masks_free(m);
    /* n = 130, paired: rows 2k and 2k+1 (k >= 1) are complements */
    CHECK_RC(ctx, spexi_uniform_masks(ctx, 130, 501, 9, 1, &m));
    CHECK(spex_masks_count(m) == 501);
    CHECK(spex_bits_popcount(spex_masks_crow(m, 0), 3) == 0);
    CHECK(spex_bits_popcount(spex_masks_crow(m, 1), 3) == 130);
    for (int64_t i = 2; i + 1 < 501; i += 2) {
        const uint64_t *a = spex_masks_crow(m, i), *b = spex_masks_crow(m, i + 1);
        int ok = 1;
        for (int j = 0; j < 130; j++)
            ok &= spex_bits_get(a, j) != spex_bits_get(b, j);
        CHECK(ok);
    }
    for (int64_t i = 0; i < 501; i++)
        for (int64_t k = i + 1; k < 501; k++)
            if (!memcmp(spex_masks_crow(m, i), spex_masks_crow(m, k), 3 * sizeof(uint64_t)))
                fail_msg("rows %lld and %lld repeat", (long long)i, (long long)k);
    spex_masks_free(m);
    /* the same seed gives the same rows */
    spex_masks *m2;
    CHECK_RC(ctx, spexi_uniform_masks(ctx, 70, 50, 3, 0, &m));
    CHECK_RC(ctx, spexi_uniform_masks(ctx, 70, 50, 3, 0, &m2));
    CHECK(!memcmp(spex_masks_crow(m, 0), spex_masks_crow(m2, 0), 50 * 2 * sizeof(uint64_t)));
    spex_masks_free(m);
    spex_masks_free(m2);
    spex_ctx_free(ctx);
}

/* A hand-written dump: f(m) = 0.5 + (m1 = 0 ? 2 : (m0 = 0 ? -1 : (m1 = 0 ? 7 : 3))),
 * with a threshold-0 split (both values go "no") and f1 split twice. */
static double hand_tree(int m0, int m1, int m2) {
    (void)m2;
    return 0.5 + (m1 == 0 ? 2.0 : (m0 == 0 ? -1.0 : 3.0)) + (m2 ? 0.25 : -0.25);
}

static void test_hand_trees(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *dumps[] = {
        "{\"nodeid\":0,\"depth\":0,\"split\":\"f1\",\"split_condition\":1,\"yes\":1,\"no\":2,"
        "\"missing\":2,\"children\":["
        " {\"nodeid\":1,\"leaf\":2},"
        " {\"nodeid\":2,\"depth\":1,\"split\":\"f0\",\"split_condition\":0.5,\"yes\":3,"
        "\"no\":4,\"missing\":3,\"children\":["
        "  {\"nodeid\":3,\"leaf\":-1},"
        "  {\"nodeid\":4,\"depth\":2,\"split\":\"f1\",\"split_condition\":1,\"yes\":5,\"no\":6,"
        "\"missing\":5,\"children\":[{\"nodeid\":5,\"leaf\":7},{\"nodeid\":6,\"leaf\":3}]}]}]}",
        /* a no-op split (threshold 0: both values go "no"), then m2 */
        "{\"nodeid\":0,\"split\":\"f0\",\"split_condition\":0,\"yes\":1,\"no\":2,\"missing\":1,"
        "\"children\":[{\"nodeid\":1,\"leaf\":100},{\"nodeid\":2,\"split\":\"f2\","
        "\"split_condition\":1,\"yes\":3,\"no\":4,\"missing\":4,\"children\":["
        "{\"nodeid\":4,\"leaf\":0.25},{\"nodeid\":3,\"leaf\":-0.25}]}]}"};
    spex_coefs *F;
    CHECK_RC(ctx, spexi_trees_fourier(ctx, 3, dumps, 2, 0.5, 0, &F));
    for (uint64_t m = 0; m < 8; m++)
        CHECK_NEAR(spex_coefs_eval_fourier(F, &m), hand_tree(m & 1, m >> 1 & 1, m >> 2 & 1), 1e-12);
    spex_coefs_free(F);
    const char *bad[] = {"{\"nodeid\":0,\"split\":\"f9\",\"split_condition\":1,\"yes\":1,"
                         "\"no\":2,\"children\":[]}"};
    CHECK(spexi_trees_fourier(ctx, 3, bad, 1, 0.0, 0, &F) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "tree 0") != NULL);
    /* zeros as missing entries: x = 0 takes the "missing" branch whatever the
     * threshold says; x = 1 is compared. f(m) = m0 = 0 ? 5 : (m1 = 0 ? -2 : 4) */
    const char *sparse[] = {
        "{\"nodeid\":0,\"split\":\"f0\",\"split_condition\":2,\"yes\":1,\"no\":2,"
        "\"missing\":2,\"children\":[{\"nodeid\":2,\"leaf\":5},{\"nodeid\":1,"
        "\"split\":\"f1\",\"split_condition\":0.5,\"yes\":3,\"no\":4,\"missing\":3,"
        "\"children\":[{\"nodeid\":3,\"leaf\":-2},{\"nodeid\":4,\"leaf\":4}]}]}"};
    CHECK_RC(ctx, spexi_trees_fourier(ctx, 3, sparse, 1, 0.0, 1, &F));
    for (uint64_t m = 0; m < 8; m++) {
        double want = !(m & 1) ? 5.0 : !(m >> 1 & 1) ? -2.0 : 4.0;
        CHECK_NEAR(spex_coefs_eval_fourier(F, &m), want, 1e-12);
    }
    spex_coefs_free(F);
    /* the same dump read densely is another function: m0 = 0 and 1 are both
     * < 2 (node 1), then m1 = 0 < 0.5 goes "yes": f(m) = m1 = 0 ? -2 : 4 */
    CHECK_RC(ctx, spexi_trees_fourier(ctx, 3, sparse, 1, 0.0, 0, &F));
    for (uint64_t m = 0; m < 8; m++)
        CHECK_NEAR(spex_coefs_eval_fourier(F, &m), (m >> 1 & 1) ? 4.0 : -2.0, 1e-12);
    spex_coefs_free(F);
    const char *no_missing[] = {"{\"nodeid\":0,\"split\":\"f0\",\"split_condition\":1,"
                                "\"yes\":1,\"no\":2,\"children\":[{\"nodeid\":1,\"leaf\":1},"
                                "{\"nodeid\":2,\"leaf\":2}]}"};
    CHECK(spexi_trees_fourier(ctx, 3, no_missing, 1, 0.0, 1, &F) == SPEX_E_PARSE);
    CHECK(strstr(spex_errmsg(ctx), "missing") != NULL);
    spex_ctx_free(ctx);
}

/* The surrogate from the extracted coefficients equals XGBoost's own
 * prediction on fresh random masks. */
static void test_xgboost_exact(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 40;
    spex_game *g = spex_test_hierarchical(ctx, n, 3, 4, 11);
    spex_masks *ms;
    CHECK_RC(ctx, spexi_uniform_masks(ctx, n, 1200, 2, 0, &ms));
    int64_t rows = spex_masks_count(ms);
    float *X = malloc((size_t)(rows * n) * sizeof *X), *y = malloc((size_t)rows * sizeof *y);
    for (int64_t r = 0; r < rows; r++) {
        const uint64_t *row = spex_masks_crow(ms, r);
        for (int64_t j = 0; j < n; j++)
            X[r * n + j] = (float)spex_bits_get(row, j);
        /* scaled to |y| <~ 1: XGBoost sums its trees in float32, whose
         * rounding (~1e-7 relative per tree) is what the 1e-6 must allow */
        y[r] = (float)(0.1 * spex_game_value(g, row));
    }
    int depths[] = {3, 6};
    /* dense rows (the reference) and zeros as missing entries (what
     * proxyspex trains on): each extraction must match its own booster */
    for (int di = 0; di < 4; di++) {
        spexi_gbt_params p = spexi_gbt_params_default();
        p.max_depth = depths[di % 2];
        p.lr = 0.1;
        p.rounds = 60;
        p.base_score = 0.03;
        p.seed = 4;
        p.zero_missing = di / 2;
        spexi_gbt *b;
        CHECK_RC(ctx, spexi_gbt_train(ctx, X, y, rows, n, &p, &b));
        spex_coefs *F;
        CHECK_RC(ctx, spexi_gbt_fourier(ctx, b, n, p.base_score, &F));
        CHECK(spex_coefs_max_order(F) >= 2);
        spex_masks *test;
        CHECK_RC(ctx, spexi_uniform_masks(ctx, n, 500, 77, 0, &test));
        float *Xt = malloc((size_t)(500 * n) * sizeof *Xt);
        double pred[500], worst = 0;
        for (int64_t r = 0; r < 500; r++)
            for (int64_t j = 0; j < n; j++)
                Xt[r * n + j] = (float)spex_bits_get(spex_masks_crow(test, r), j);
        CHECK_RC(ctx, spexi_gbt_predict(ctx, b, Xt, 500, n, 0, 0, 1, pred));
        for (int64_t r = 0; r < 500; r++) {
            double d = fabs(spex_coefs_eval_fourier(F, spex_masks_crow(test, r)) - pred[r]);
            if (d > worst) worst = d;
        }
        printf("depth %d, zeros %s: %lld terms, max |surrogate - xgboost| = %.3g\n", depths[di % 2],
               p.zero_missing ? "missing" : "dense", (long long)spex_coefs_count(F), worst);
        CHECK_NEAR(worst, 0.0, 1e-6);
        free(Xt);
        spex_masks_free(test);
        spex_coefs_free(F);
        spexi_gbt_free(b);
    }
    free(X);
    free(y);
    spex_masks_free(ms);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

static spexi_proxy_opts small_grid(void) {
    spexi_proxy_opts po = spexi_proxy_opts_default();
    po.n_folds = 3;
    po.rounds[0] = 100;
    po.rounds[1] = 300;
    po.n_lrs = 1;
    po.lrs[0] = 0.1;
    return po;
}

/* A hierarchical game is recovered exactly from 1,500 masks. */
static void test_recovery(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 48;
    spex_game *g = spex_test_hierarchical(ctx, n, 4, 4, 5);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_query_opts qo = spex_query_opts_default();
    qo.budget = 1500;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.budget = 1500;
    spexi_proxy_opts po = small_grid();
    spex_coefs *F;
    spex_details details;
    char line[512];
    CHECK_RC(ctx, spexi_algo_proxyspex_opts(ctx, q, n, &eo, &po, &F, &details));
    spex_details_text(&details, line, sizeof line);
    printf("%s\n", line);
    CHECK(spex_query_n_asked(q) == 1500);
    /* the account: a triple of the grid, the terms it went through */
    CHECK(details.kind == SPEX_DETAILS_PROXYSPEX);
    const spex_proxyspex_details *pd = &details.u.proxyspex;
    int in_grid = 0;
    for (int di = 0; di < po.n_depths; di++)
        in_grid |= pd->max_depth == po.depths[di];
    CHECK(in_grid);
    in_grid = 0;
    for (int ri = 0; ri < po.n_rounds; ri++)
        in_grid |= pd->rounds == po.rounds[ri];
    CHECK(in_grid);
    CHECK(pd->lr == 0.1 && isfinite(pd->grid_cv_r2) && pd->grid_cv_r2 <= 1);
    CHECK(pd->kept >= 1 && pd->kept <= pd->tree_terms);
    CHECK(pd->energy > 0 && pd->energy <= 1);
    CHECK(pd->grown > 0); /* growth found the missing terms (below) */
    CHECK(pd->final_terms == spex_coefs_count(F));
    CHECK(pd->seconds_xgb > 0);
    double r2 = r2_on_random(g, F, n, 4000, 99);
    printf("hierarchical n = %lld, 1500 masks: 1 - R^2 = %.3g, %lld terms\n", (long long)n, 1 - r2,
           (long long)spex_coefs_count(F));
    /* noiseless: with hierarchy-guided growth every planted term is found
     * and the surrogate is the game */
    CHECK(r2 >= 1.0 - 1e-9);
    const spex_coefs *T = spex_game_fourier(g);
    for (int64_t i = 0; i < spex_coefs_count(T); i++) {
        const int32_t *idx;
        int len;
        double v, got;
        spex_coefs_entry(T, i, &idx, &len, &v);
        spex_coefs_get(F, idx, len, &got);
        CHECK_NEAR(got, v, 1e-6);
    }
    /* the control: the same run without growth misses terms */
    spex_coefs *F0;
    spex_query *q0;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q0));
    po.grow_rounds = 0;
    CHECK_RC(ctx, spexi_algo_proxyspex_opts(ctx, q0, n, &eo, &po, &F0, &details));
    CHECK(details.kind == SPEX_DETAILS_PROXYSPEX && details.u.proxyspex.grown == 0);
    spex_query_free(q0);
    printf("without growth: R^2 = %.6f, %lld terms\n", r2_on_random(g, F0, n, 4000, 99),
           (long long)spex_coefs_count(F0));
    spex_coefs_free(F0);
    spex_coefs_free(F);
    spex_query_free(q);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* Samples (all rows uniform, y = the game) for the growth tests. */
static void game_samples(spex_ctx *ctx, const spex_game *g, int64_t n, int64_t rows, uint64_t seed,
                         spex_masks **ms, double **y) {
    CHECK_RC(ctx, spexi_uniform_masks(ctx, n, rows, seed, 0, ms));
    *y = malloc((size_t)rows * sizeof **y);
    for (int64_t i = 0; i < rows; i++)
        (*y)[i] = spex_game_value(g, spex_masks_crow(*ms, i));
}

/* Growth alone, against the planted truth: given only the terms of order
 * <= 2 of a hierarchical game (three roots of order 5), spexi_proxy_grow
 * finds every missing term of orders 3 to 5 (Apriori joins, round after
 * round) and their exact values; spurious candidates get no weight. */
static void test_grow_finds_missing(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 40, rows = 2000;
    spex_game *g = spex_test_hierarchical(ctx, n, 3, 5, 11);
    const spex_coefs *T = spex_game_fourier(g);
    spex_masks *ms;
    double *y;
    game_samples(ctx, g, n, rows, 3, &ms, &y);
    spex_coefs *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &F));
    int64_t missing = 0;
    for (int64_t i = 0; i < spex_coefs_count(T); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(T, i, &idx, &len, &v);
        if (len <= 2)
            CHECK_RC(ctx, spex_coefs_set(F, idx, len, v));
        else
            missing++;
    }
    int64_t added = 0;
    CHECK_RC(ctx, spexi_proxy_grow(ctx, ms, y, 5, 1000, 6, 7, INFINITY, &F, &added));
    printf("grow: %lld planted terms of order 3-5 missing, %lld added, %lld terms now\n",
           (long long)missing, (long long)added, (long long)spex_coefs_count(F));
    CHECK(added >= missing);
    double worst = 0;
    for (int64_t i = 0; i < spex_coefs_count(T); i++) { /* every planted term, its value */
        const int32_t *idx;
        int len;
        double v, got = 0;
        spex_coefs_entry(T, i, &idx, &len, &v);
        CHECK(spex_coefs_get(F, idx, len, &got) == 1);
        if (fabs(got - v) > worst) worst = fabs(got - v);
    }
    for (int64_t i = 0; i < spex_coefs_count(F); i++) { /* and nothing else */
        const int32_t *idx;
        int len;
        double v, want = 0;
        spex_coefs_entry(F, i, &idx, &len, &v);
        spex_coefs_get(T, idx, len, &want);
        if (fabs(v - want) > worst) worst = fabs(v - want);
    }
    printf("grow: largest |F - planted| = %.3g\n", worst);
    CHECK(worst < 1e-6);
    spex_coefs_free(F);
    spex_masks_free(ms);
    free(y);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* On pure noise growth finds nothing worth keeping: the candidates' scores
 * stay under the Bonferroni-style bar or the CV error does not improve. */
static void test_grow_noise(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 30, rows = 1000;
    spex_masks *ms;
    CHECK_RC(ctx, spexi_uniform_masks(ctx, n, rows, 5, 0, &ms));
    double *y = malloc((size_t)rows * sizeof *y);
    spex_rng r;
    spex_rng_seed(&r, 8);
    for (int64_t i = 0; i < rows; i++)
        y[i] = spex_rng_normal(&r);
    spex_coefs *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &F));
    for (int32_t j = 0; j < n; j++) /* every singleton: all pairs are candidates */
        CHECK_RC(ctx, spex_coefs_set(F, &j, 1, 0.01));
    int64_t added = 0;
    CHECK_RC(ctx, spexi_proxy_grow(ctx, ms, y, 3, 500, 6, 7, 1.0, &F, &added));
    printf("grow on noise: %lld added\n", (long long)added);
    CHECK(added == 0);
    spex_coefs_free(F);
    spex_masks_free(ms);
    free(y);
    spex_ctx_free(ctx);
}

/* A constant game: no non-constant energy, the surrogate is the constant. */
static void test_constant(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_coefs *c;
    spex_coefs_new(ctx, 10, &c);
    spex_coefs_set(c, NULL, 0, 2.5);
    spex_game *g;
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 0.0, &g));
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, NULL, &q));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.budget = 200;
    spexi_proxy_opts po = small_grid();
    spex_coefs *F;
    CHECK_RC(ctx, spexi_algo_proxyspex_opts(ctx, q, 10, &eo, &po, &F, NULL));
    CHECK(spex_coefs_count(F) == 1);
    double v;
    CHECK(spex_coefs_get(F, NULL, 0, &v) == 1);
    CHECK_NEAR(v, 2.5, 1e-9);
    spex_coefs_free(F);
    spex_query_free(q);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_coefs_free(c);
    spex_ctx_free(ctx);
}

/* Through spex_explain with the default grid on a tiny problem: every mask
 * of n = 6 is sampled, so the surrogate must match the exact transform. */
static void test_explain_default(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g = spex_test_hierarchical(ctx, 6, 1, 3, 3);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_PROXYSPEX;
    eo.budget = 64;
    spex_result *res;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    char line[512];
    spex_result_details_text(res, line, sizeof line);
    printf("%s\n", line);
    CHECK(res->queries == 64);
    CHECK(res->details.kind == SPEX_DETAILS_PROXYSPEX);
    CHECK(res->details.u.proxyspex.final_terms <= 64);
    for (uint64_t m = 0; m < 64; m++)
        CHECK_NEAR(spex_coefs_eval_fourier(res->fourier, &m), spex_game_value(g, &m), 1e-3);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* The grid search runs its fits on worker threads; the surrogate is the same
 * for any thread count (STYLE.md rule 9). */
static void test_threads_identical(void **state) {
    (void)state;
    const int64_t n = 24;
    spex_coefs *F[2];
    for (int t = 0; t < 2; t++) {
        spex_ctx *ctx = spex_ctx_new();
        spex_ctx_set_threads(ctx, t ? 3 : 1);
        spex_game *g = spex_test_hierarchical(ctx, n, 2, 3, 8);
        spex_masks *ms;
        CHECK_RC(ctx, spexi_uniform_masks(ctx, n, 400, 6, 1, &ms));
        double y[400];
        for (int64_t r = 0; r < 400; r++)
            y[r] = spex_game_value(g, spex_masks_crow(ms, r));
        spexi_proxy_opts po = small_grid();
        po.n_lrs = 2;
        po.lrs[1] = 0.3;
        spexi_proxy_info info;
        CHECK_RC(ctx,
                 spexi_proxy_surrogate(ctx, ms, y, n, &po, spex_ctx_threads(ctx), 6, &F[t], &info));
        spex_masks_free(ms);
        spex_game_free(g);
        /* F[t] keeps ctx alive until freed below */
        (void)ctx;
    }
    CHECK(spex_coefs_count(F[0]) == spex_coefs_count(F[1]));
    for (int64_t i = 0; i < spex_coefs_count(F[0]); i++) {
        const int32_t *idx;
        int len;
        double a, b;
        spex_coefs_entry(F[0], i, &idx, &len, &a);
        CHECK(spex_coefs_get(F[1], idx, len, &b) == 1);
        CHECK(a == b);
    }
    for (int t = 0; t < 2; t++) {
        spex_ctx *ctx = spex_coefs_ctx(F[t]);
        spex_coefs_free(F[t]);
        spex_ctx_free(ctx);
    }
}

/* One allocation-fault run: proxyspex (tiny grid, through the query
 * engine and the final refit). */
typedef struct fault_run {
    spex_game *g;
    spex_coefs *want, *F;
} fault_run;

static int proxy_once(spex_ctx *ctx, void *user) {
    fault_run *fr = user;
    spex_valuefn vf;
    spex_query *q = NULL;
    spex_query_opts qo = spex_query_opts_default();
    qo.budget = 96;
    int rc = spex_game_valuefn(fr->g, 0, 1, &vf);
    if (rc) return rc;
    rc = spex_query_new(ctx, &vf, &qo, &q);
    if (!rc) {
        spex_explain_opts eo = spex_explain_opts_default();
        eo.budget = 96;
        spexi_proxy_opts po = spexi_proxy_opts_default();
        po.n_folds = 2;
        po.n_depths = 1;
        po.depths[0] = 2;
        po.rounds[0] = 3;
        po.rounds[1] = 6;
        po.n_lrs = 1;
        po.lrs[0] = 0.3;
        rc = spexi_algo_proxyspex_opts(ctx, q, 10, &eo, &po, &fr->F, NULL);
    }
    spex_query_free(q);
    spex_valuefn_release(&vf);
    return rc;
}

/* A failed run left no output; the one that got through returns the
 * fault-free surrogate. */
static void check_run(void *user, int rc) {
    fault_run *fr = user;
    if (rc != SPEX_OK) {
        if (fr->F) fail_msg("a failed run returned a surrogate");
        return;
    }
    CHECK_NEAR(spex_test_coefs_maxdiff(fr->F, fr->want), 0.0, 0.0);
    spex_coefs_free(fr->F);
    fr->F = NULL;
}

/* Failing the k-th allocation, for every k until the run gets through,
 * gives SPEX_E_NOMEM and no output (leaks: ASan); the run that gets
 * through returns the fault-free surrogate. */
static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    fault_run fr = {spex_test_hierarchical(ctx, 10, 2, 3, 8), NULL, NULL};
    CHECK_RC(ctx, proxy_once(ctx, &fr));
    fr.want = fr.F;
    fr.F = NULL;
    int64_t k = spex_test_alloc_walk(ctx, 100000, proxy_once, check_run, &fr);
    printf("proxyspex: %lld allocations, each failure gave SPEX_E_NOMEM\n", (long long)k);
    CHECK(k > 10);
    spex_coefs_free(fr.want);
    spex_game_free(fr.g);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform_masks),      cmocka_unit_test(test_hand_trees),
        cmocka_unit_test(test_xgboost_exact),      cmocka_unit_test(test_recovery),
        cmocka_unit_test(test_constant),           cmocka_unit_test(test_explain_default),
        cmocka_unit_test(test_threads_identical),  cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_grow_finds_missing), cmocka_unit_test(test_grow_noise),
    };
    SPEX_RUN_TESTS(tests);
}
