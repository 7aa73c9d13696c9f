/* Baselines: Faith-Banzhaf regression against the Banzhaf value from its
 * definition and the FBII of the exact transform; LASSO on an orthogonal
 * design against its closed form (soft thresholding); budgets. */
#include "testing.h"
#include "test_util.h"
#include "test_games.h"

#include "algo/algo_int.h"
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/report.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

/* `terms` draws of a subset of degree 1..dmax with a value in [-1, 1]
 * (repeats add up), plus 0.4, as a Fourier game. */
static spex_game *random_game(spex_ctx *ctx, int n, int terms, int dmax, uint64_t seed) {
    spex_test_planted p = {
        .n = n, .terms = terms, .dmax = dmax, .constant = 0.4, .lo = -1.0, .hi = 1.0};
    return spex_test_planted_game(ctx, &p, SPEX_BASIS_FOURIER, 0.0, seed);
}

static spex_result *run(spex_ctx *ctx, spex_game *g, spex_method m, int64_t budget, int order) {
    spex_valuefn vf;
    spex_game_valuefn(g, 0, 1, &vf);
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = m;
    eo.budget = budget;
    eo.degree = order;
    eo.max_order = order;
    spex_result *res = NULL;
    int rc = spex_explain(ctx, &vf, &eo, &res);
    if (rc) fail_msg("spex_explain: %s", spex_errmsg(ctx));
    spex_valuefn_release(&vf);
    return res;
}

/* Order 1 on all 2^n masks: the Banzhaf value, from its definition. */
static void test_banzhaf(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 7;
    spex_game *g = random_game(ctx, n, 12, 3, 4);
    spex_result *res = run(ctx, g, SPEX_METHOD_KERNELSHAP, 1 << n, 1);
    CHECK(res->queries == (1 << n));
    spex_coefs *mob;
    CHECK_RC(ctx, spex_fourier_to_mobius(res->fourier, &mob));
    for (int i = 0; i < n; i++) {
        double bv = 0;
        for (uint64_t S = 0; S < (1u << n); S++) {
            if (S >> i & 1) continue;
            uint64_t Si = S | (1u << i);
            bv += spex_game_value(g, &Si) - spex_game_value(g, &S);
        }
        bv /= (double)(1 << (n - 1));
        int32_t idx[1] = {i};
        double got;
        spex_coefs_get(mob, idx, 1, &got);
        CHECK_NEAR(got, bv, 1e-9);
    }
    spex_coefs_free(mob);
    spex_result_free(res);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* Order 2 on all masks: the Möbius form of the fit is the FBII of the game. */
static void test_faith_banzhaf(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 6;
    spex_game *g = random_game(ctx, n, 15, 4, 9);
    spex_result *res = run(ctx, g, SPEX_METHOD_KERNELSHAP, 1 << n, 2);
    /* the account: every mask, n + n(n-1)/2 Möbius columns of full rank */
    const spex_linear_details *ld = &res->details.u.linear;
    CHECK(res->details.kind == SPEX_DETAILS_KERNELSHAP);
    CHECK(ld->masks == 1 << n && ld->columns == n + n * (n - 1) / 2 && ld->max_order == 2);
    CHECK(ld->rank == ld->columns);
    CHECK(ld->train_r2 > 0 && ld->train_r2 <= 1 + 1e-12);
    spex_coefs *mob, *fbii;
    CHECK_RC(ctx, spex_fourier_to_mobius(res->fourier, &mob));
    CHECK_RC(ctx, spex_interactions(spex_game_fourier(g), SPEX_INDEX_FBII, 2, &fbii));
    CHECK(spex_coefs_max_order(mob) <= 2);
    for (int64_t i = 0; i < spex_coefs_count(fbii); i++) {
        const int32_t *idx;
        int len;
        double want, got;
        spex_coefs_entry(fbii, i, &idx, &len, &want);
        spex_coefs_get(mob, idx, len, &got);
        CHECK_NEAR(got, want, 1e-9);
    }
    for (int64_t i = 0; i < spex_coefs_count(mob); i++) {
        const int32_t *idx;
        int len;
        double got, want;
        spex_coefs_entry(mob, i, &idx, &len, &got);
        spex_coefs_get(fbii, idx, len, &want);
        CHECK_NEAR(got, want, 1e-9);
    }
    spex_coefs_free(mob);
    spex_coefs_free(fbii);
    spex_result_free(res);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* All 2^n masks make the ±1 columns orthonormal (XᵀX/N = I), so the lasso
 * solution is soft thresholding of the true coefficients at the chosen
 * alpha: F̂(S) = sign(F(S)) max(|F(S)| - alpha, 0), one alpha for all S. */
static void test_lasso_soft_threshold(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 7;
    spex_game *g = random_game(ctx, n, 10, 2, 13);
    spex_result *res = run(ctx, g, SPEX_METHOD_LASSO, 1 << n, 2);
    const spex_coefs *F = spex_game_fourier(g);
    /* alpha from the largest coefficient */
    double alpha = -1, top = 0;
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v, got;
        spex_coefs_entry(F, i, &idx, &len, &v);
        if (len && fabs(v) > top) {
            top = fabs(v);
            spex_coefs_get(res->fourier, idx, len, &got);
            alpha = fabs(v) - fabs(got);
        }
    }
    printf("lasso alpha (from the largest term) = %g\n", alpha);
    CHECK(alpha >= -1e-6 && alpha < top);
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v, got;
        spex_coefs_entry(F, i, &idx, &len, &v);
        spex_coefs_get(res->fourier, idx, len, &got);
        if (!len) {
            CHECK_NEAR(got, v, 1e-9);
            continue;
        }
        double want = fabs(v) > alpha ? (v > 0 ? v - alpha : v + alpha) : 0.0;
        CHECK_NEAR(got, want, 1e-3);
    }
    /* nothing outside the true support beyond the solver's tolerance */
    for (int64_t i = 0; i < spex_coefs_count(res->fourier); i++) {
        const int32_t *idx;
        int len;
        double v, got;
        spex_coefs_entry(res->fourier, i, &idx, &len, &got);
        if (!spex_coefs_get(F, idx, len, &v)) CHECK_NEAR(got, 0.0, 1e-3);
    }
    spex_result_free(res);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* With noise the closed form holds for the empirical transform of the
 * answers actually received: F̂ = soft(F_emp, alpha), alpha now large. */
static void test_lasso_noisy_closed_form(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 8;
    spex_coefs *c;
    spex_coefs_new(ctx, n, &c);
    spex_rng r;
    spex_rng_seed(&r, 77);
    for (int t = 0; t < 6; t++) {
        int32_t idx[2] = {(int32_t)spex_rng_below(&r, n), (int32_t)spex_rng_below(&r, n)};
        int d = 1 + (t % 2);
        if (!spex_subset_normalize(ctx, n, idx, d)) spex_coefs_add(c, idx, d, 1.0 + t * 0.1);
    }
    spex_game *g;
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 1.0, &g));
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 5, &vf));
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, NULL, &q));
    spex_explain_opts eo = spex_explain_opts_default();
    eo.budget = 1 << n;
    eo.max_order = 2;
    eo.degree = 2;
    spex_coefs *F;
    spex_details details;
    CHECK_RC(ctx, spexi_algo_lasso(ctx, q, n, &eo, &F, &details));
    const spex_linear_details *ld = &details.u.linear;
    CHECK(details.kind == SPEX_DETAILS_LASSO);
    CHECK(ld->masks == 1 << n && ld->columns == n + n * (n - 1) / 2 && ld->max_order == 2);
    /* the nonzero fitted terms besides the constant */
    CHECK(ld->nonzero == spex_coefs_count(F) - 1);
    CHECK(ld->rank == -1 && ld->cv_r2 <= 1);
    double dense[1 << 8];
    const spex_masks *ms = spex_query_masks(q);
    for (int64_t i = 0; i < spex_masks_count(ms); i++)
        dense[spex_masks_crow(ms, i)[0]] = spex_query_values(q)[i];
    spex_coefs *emp;
    CHECK_RC(ctx, spex_exact_fourier(ctx, dense, n, 0.0, &emp));
    /* alpha from the largest nonzero fitted term */
    double alpha = -1, top = 0;
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v, e;
        spex_coefs_entry(F, i, &idx, &len, &v);
        spex_coefs_get(emp, idx, len, &e);
        if (len && fabs(v) > top) {
            top = fabs(v);
            alpha = fabs(e) - fabs(v);
        }
    }
    printf("noisy lasso alpha = %g (reported %g)\n", alpha, ld->alpha);
    CHECK(alpha > 1e-3);
    CHECK_NEAR(alpha, ld->alpha, 1e-6 * ld->alpha);
    int checked = 0;
    for (int64_t i = 0; i < spex_coefs_count(emp); i++) {
        const int32_t *idx;
        int len;
        double e, got;
        spex_coefs_entry(emp, i, &idx, &len, &e);
        if (len < 1 || len > 2) continue;
        spex_coefs_get(F, idx, len, &got);
        double want = fabs(e) > alpha ? (e > 0 ? e - alpha : e + alpha) : 0.0;
        CHECK_NEAR(got, want, 2e-3);
        checked++;
    }
    CHECK(checked == n + n * (n - 1) / 2);
    spex_coefs_free(emp);
    spex_coefs_free(F);
    spex_query_free(q);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_coefs_free(c);
    spex_ctx_free(ctx);
}

/* Budgets are spent exactly; an oversized design is refused with a message. */
static void test_budget_and_limits(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g = random_game(ctx, 40, 8, 2, 3);
    spex_result *res = run(ctx, g, SPEX_METHOD_LASSO, 300, 1);
    CHECK(res->queries == 300);
    spex_result_free(res);
    res = run(ctx, g, SPEX_METHOD_KERNELSHAP, 300, 1);
    CHECK(res->queries == 300);
    spex_result_free(res);
    spex_valuefn vf;
    spex_game_valuefn(g, 0, 1, &vf);
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_LASSO;
    eo.budget = 20000;
    eo.max_order = 5;
    CHECK(spex_explain(ctx, &vf, &eo, &res) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "--degree") != NULL);
    eo.max_order = 2;
    eo.degree = 5;
    CHECK(spex_explain(ctx, &vf, &eo, &res) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "--degree") != NULL);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* One allocation-fault run: spex_explain with method m on a small game. */
typedef struct fault_run {
    spex_game *g;
    spex_method m;
    spex_result *want, *res;
} fault_run;

static int explain_once(spex_ctx *ctx, void *user) {
    fault_run *fr = user;
    spex_valuefn vf;
    int rc = spex_game_valuefn(fr->g, 0, 1, &vf);
    if (rc) return rc;
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = fr->m;
    eo.budget = 80;
    eo.max_order = 2;
    rc = spex_explain(ctx, &vf, &eo, &fr->res);
    spex_valuefn_release(&vf);
    return rc;
}

/* A failed run left no result; the one that got through equals the
 * fault-free run. */
static void check_run(void *user, int rc) {
    fault_run *fr = user;
    if (rc != SPEX_OK) {
        if (fr->res) fail_msg("%s: a failed run returned a result", spex_method_name(fr->m));
        return;
    }
    CHECK_NEAR(spex_test_coefs_maxdiff(fr->res->fourier, fr->want->fourier), 0.0, 0.0);
    CHECK(fr->res->queries == fr->want->queries);
    spex_result_free(fr->res);
    fr->res = NULL;
}

/* LASSO and Faith-Banzhaf (kernelshap): failing the k-th allocation, for
 * every k until the run gets through, gives SPEX_E_NOMEM and no result
 * (leaks: ASan); the run that gets through equals the fault-free one. */
static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g = random_game(ctx, 8, 10, 2, 6);
    const spex_method ms[] = {SPEX_METHOD_LASSO, SPEX_METHOD_KERNELSHAP};
    for (int mi = 0; mi < 2; mi++) {
        fault_run fr = {g, ms[mi], NULL, NULL};
        CHECK_RC(ctx, explain_once(ctx, &fr));
        fr.want = fr.res;
        fr.res = NULL;
        int64_t k = spex_test_alloc_walk(ctx, 100000, explain_once, check_run, &fr);
        printf("%s: %lld allocations, each failure gave SPEX_E_NOMEM\n", spex_method_name(ms[mi]),
               (long long)k);
        CHECK(k > 10);
        spex_result_free(fr.want);
    }
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* The automatic degree and method. On all 2^7 masks of a degree-3 game:
 * Faith-Banzhaf regression takes the highest degree with at most half as
 * many columns as masks (3: 63 columns for 128 masks) and, since the game
 * lies in the span of its columns, reproduces every mask's value; LASSO
 * takes degree 5 (119 columns). Method auto runs exact when all masks fit
 * the budget (the default budget included), else ProxySPEX at degree 5. */
static void test_auto_degree_and_method(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 7;
    spex_game *g = random_game(ctx, n, 12, 3, 9);
    spex_valuefn vf;
    spex_game_valuefn(g, 0, 1, &vf);
    spex_explain_opts eo = spex_explain_opts_default();
    CHECK(eo.method == SPEX_METHOD_AUTO && eo.degree == 0 && eo.max_order == 2);
    eo.budget = 1 << n;
    eo.method = SPEX_METHOD_KERNELSHAP;
    spex_result *res = NULL;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->degree == 3 && res->details.u.linear.columns == 63 && !res->method_auto);
    double r2;
    CHECK_RC(ctx, spex_faithfulness(ctx, &vf, res->fourier, 0, 1, &r2));
    CHECK_NEAR(r2, 1.0, 1e-9);
    spex_result_free(res);
    eo.method = SPEX_METHOD_LASSO;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->degree == 5 && res->details.u.linear.columns == 7 + 21 + 35 + 35 + 21);
    spex_result_free(res);
    /* the reported order stays a floor: at --max-order 6, degree 6 */
    eo.max_order = 6;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->degree == 6 && res->max_order == 6);
    spex_result_free(res);
    eo.max_order = 2;
    eo.method = SPEX_METHOD_AUTO;
    eo.budget = 0;
    CHECK(spex_auto_budget(n) == 128 && spex_auto_budget(11) == 2048);
    CHECK(spex_auto_budget(12) == 2000 && spex_auto_budget(100) == 5000);
    CHECK(spex_auto_budget(1000) == 10000);
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->method == SPEX_METHOD_EXACT && res->method_auto && res->budget == 128);
    CHECK(res->queries == 128 && res->degree == n);
    spex_result_free(res);
    eo.budget = 100;
    CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &res));
    CHECK(res->method == SPEX_METHOD_PROXYSPEX && res->method_auto && res->degree == 5);
    CHECK(res->queries <= 100);
    char line[200];
    spex_result_method_text(res, line, sizeof line);
    CHECK(!strcmp(line, "proxyspex (chosen by auto: 2^7 masks exceed the budget of 100) · "
                        "surrogate degree 5"));
    spex_result_free(res);
    eo.degree = -1;
    CHECK(spex_explain(ctx, &vf, &eo, &res) == SPEX_E_RANGE);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_banzhaf),
        cmocka_unit_test(test_faith_banzhaf),
        cmocka_unit_test(test_lasso_soft_threshold),
        cmocka_unit_test(test_lasso_noisy_closed_form),
        cmocka_unit_test(test_budget_and_limits),
        cmocka_unit_test(test_auto_degree_and_method),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
