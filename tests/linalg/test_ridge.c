/* Ridge (spex_ridge, spex_ridge_svd_*, spex_ridge_cv): the closed form
 * (X^T W X + alpha I)^{-1} X^T W y with an unpenalised intercept, solved by
 * Gaussian elimination, for several alphas, tall and wide; cross-validation
 * against a fold-by-fold recomputation, its choice on noiseless and on pure
 * noise data; folds; degenerate cases and allocation failures. */
#include "testing.h"
#include "test_util.h"

#include "spex/linalg.h"

#include <cblas.h>
#include <string.h>

#include "linalg_ref.h"

static void check_against_closed_form(spex_ctx *ctx, const double *X, int n, int p, const double *y,
                                      const double *w, int intercept, double tol) {
    const double alphas[] = {1e-3, 0.1, 1.0, 10.0, 1e3};
    double *beta = calloc((size_t)p + 1, sizeof(double));
    double *ref = calloc((size_t)p + 1, sizeof(double));
    double *beta2 = calloc((size_t)p + 1, sizeof(double));
    spex_ridge_svd *f;
    CHECK_RC(ctx, spex_ridge_svd_new(ctx, X, n, p, y, w, intercept, &f));
    spex_ridge_opts o = spex_ridge_opts_default();
    o.intercept = intercept;
    for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
        double b0 = 0, rb0 = 0;
        spex_fit_info info;
        CHECK_RC(ctx, spex_ridge(ctx, X, n, p, y, w, alphas[a], &o, beta, &info));
        CHECK(ref_ridge(X, n, p, y, w, alphas[a], intercept, ref, &rb0) == 0);
        double scale = 1.0 + ref_maxabs(ref, p);
        CHECK_NEAR(ref_maxdiff(beta, ref, p) / scale, 0.0, tol);
        CHECK_NEAR(info.b0, rb0, tol * (1.0 + fabs(rb0)));
        CHECK(info.alpha == alphas[a]);
        CHECK(info.n_folds == 0);
        /* the factorisation reused for every alpha gives the same */
        CHECK_RC(ctx, spex_ridge_svd_solve(f, alphas[a], beta2, &b0));
        CHECK_NEAR(ref_maxdiff(beta, beta2, p), 0.0, 1e-14 * scale);
        CHECK_NEAR(b0, info.b0, 1e-13 * (1.0 + fabs(b0)));
    }
    CHECK(spex_ridge_svd_solve(f, -1.0, beta2, NULL) == SPEX_E_INVAL);
    spex_ridge_svd_free(f);
    free(beta);
    free(ref);
    free(beta2);
}

static void test_closed_form(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 50, P = 6 };
    static double X[N * P], y[N], w[N];
    ref_randn(X, N * P, 10);
    ref_randn(y, N, 11);
    spex_rng r;
    spex_rng_seed(&r, 12);
    for (int i = 0; i < N; i++) {
        y[i] += 3.0 + 2.0 * X[i * P + 1] - X[i * P + 4];
        X[i * P + 2] = 5.0 + 0.1 * X[i * P + 2]; /* far from 0: intercept matters */
        w[i] = i % 7 == 3 ? 0.0 : 0.2 + 3.0 * spex_rng_uniform(&r);
    }
    for (int intercept = 0; intercept <= 1; intercept++) {
        check_against_closed_form(ctx, X, N, P, y, NULL, intercept, 1e-10);
        check_against_closed_form(ctx, X, N, P, y, w, intercept, 1e-10);
    }
    spex_ctx_free(ctx);
}

/* More columns than rows (the dual side of the SVD). */
static void test_closed_form_wide(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 9, P = 25 };
    double X[N * P], y[N], w[N];
    ref_randn(X, N * P, 13);
    ref_randn(y, N, 14);
    for (int i = 0; i < N; i++)
        w[i] = 0.5 + (i % 3);
    for (int intercept = 0; intercept <= 1; intercept++) {
        check_against_closed_form(ctx, X, N, P, y, NULL, intercept, 1e-9);
        check_against_closed_form(ctx, X, N, P, y, w, intercept, 1e-9);
    }
    spex_ridge_svd *f;
    CHECK_RC(ctx, spex_ridge_svd_new(ctx, X, N, P, y, NULL, 1, &f));
    CHECK(spex_ridge_svd_rank(f) == N - 1);
    /* alpha = 0: minimum-norm least squares, as spex_lstsq */
    double b1[P], b2[P], b0;
    spex_fit_info info;
    CHECK_RC(ctx, spex_ridge_svd_solve(f, 0.0, b1, &b0));
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, NULL, NULL, b2, &info));
    CHECK_NEAR(ref_maxdiff(b1, b2, P), 0.0, 1e-10);
    CHECK_NEAR(b0, info.b0, 1e-10);
    spex_ridge_svd_free(f);
    spex_ctx_free(ctx);
}

/* The CV curve equals a fold-by-fold recomputation with spex_ridge on copies
 * of the training rows (checks the projected-validation shortcut), for a
 * tall and a wide design. */
static void cv_curve_by_hand(spex_ctx *ctx, int N, int P, uint64_t seed) {
    enum { K = 4, NA = 4 };
    const double alphas[NA] = {1e-4, 0.3, 5.0, 200.0};
    double *X = calloc((size_t)N * P, sizeof(double)), *y = calloc((size_t)N, sizeof(double));
    double *w = calloc((size_t)N, sizeof(double)), *Xt = calloc((size_t)N * P, sizeof(double));
    double *yt = calloc((size_t)N, sizeof(double)), *wt = calloc((size_t)N, sizeof(double));
    double *beta = calloc((size_t)P, sizeof(double)), *ref = calloc((size_t)P, sizeof(double));
    int *fold = calloc((size_t)N, sizeof(int));
    ref_randn(X, (size_t)N * P, seed);
    ref_randn(y, (size_t)N, seed + 1);
    for (int i = 0; i < N; i++) {
        y[i] += X[i * P] - 2 * X[i * P + 3];
        w[i] = 1.0 + (i % 4);
    }
    int k_used;
    CHECK_RC(ctx, spex_kfold_assign(ctx, N, K, 99, fold, &k_used));
    CHECK(k_used == K);
    double want[NA] = {0};
    for (int a = 0; a < NA; a++) {
        for (int f = 0; f < K; f++) {
            int nt = 0;
            for (int i = 0; i < N; i++)
                if (fold[i] != f) {
                    memcpy(Xt + nt * P, X + i * P, (size_t)P * sizeof(double));
                    yt[nt] = y[i];
                    wt[nt++] = w[i];
                }
            double sse = 0, ws = 0;
            spex_fit_info info;
            CHECK_RC(ctx, spex_ridge(ctx, Xt, nt, P, yt, wt, alphas[a], NULL, beta, &info));
            for (int i = 0; i < N; i++) {
                if (fold[i] != f) continue;
                double pred = info.b0;
                for (int j = 0; j < P; j++)
                    pred += X[i * P + j] * beta[j];
                sse += w[i] * (y[i] - pred) * (y[i] - pred);
                ws += w[i];
            }
            want[a] += sse / ws / K;
        }
    }
    spex_ridge_opts o = spex_ridge_opts_default();
    double curve[NA];
    o.n_folds = K;
    o.seed = 99;
    o.alphas = alphas;
    o.n_alphas = NA;
    o.cv_mse_out = curve;
    spex_fit_info info;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, w, &o, beta, &info));
    int best = 0;
    for (int a = 0; a < NA; a++) {
        CHECK_NEAR(curve[a], want[a], 1e-9 * want[a]);
        if (want[a] < want[best]) best = a;
    }
    CHECK(info.alpha == alphas[best]);
    CHECK_NEAR(info.cv_mse, want[best], 1e-9 * want[best]);
    CHECK(info.n_folds == K);
    /* the returned model is the refit on all rows */
    double rb0 = 0;
    CHECK(ref_ridge(X, N, P, y, w, alphas[best], 1, ref, &rb0) == 0);
    CHECK_NEAR(ref_maxdiff(beta, ref, P), 0.0, 1e-9 * (1.0 + ref_maxabs(ref, P)));
    CHECK_NEAR(info.b0, rb0, 1e-9 * (1.0 + fabs(rb0)));
    /* 1-SE rule: never a smaller alpha than the minimum rule */
    o.rule = SPEX_CV_1SE;
    spex_fit_info info1;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, w, &o, beta, &info1));
    CHECK(info1.alpha >= info.alpha);
    CHECK(info1.cv_mse <= info.cv_mse + info.cv_mse_se + 1e-12);
    free(X);
    free(y);
    free(w);
    free(Xt);
    free(yt);
    free(wt);
    free(beta);
    free(ref);
    free(fold);
}

static void test_cv_curve_by_hand(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    cv_curve_by_hand(ctx, 37, 5, 15);
    cv_curve_by_hand(ctx, 21, 45, 26);
    spex_ctx_free(ctx);
}

static void test_cv_choice(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 120, P = 10 };
    static double X[N * P], y[N];
    double beta[P], truth[P] = {1, -2, 0.5, 0, 3, 0, 0, -1, 0.25, 2};
    ref_randn(X, N * P, 17);
    for (int i = 0; i < N; i++) {
        y[i] = -1.0;
        for (int j = 0; j < P; j++)
            y[i] += X[i * P + j] * truth[j];
    }
    spex_fit_info info;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, beta, &info));
    printf("noiseless: alpha %g, cv_r2 %.12f\n", info.alpha, info.cv_r2);
    CHECK(info.alpha <= 1e-4);
    CHECK(info.cv_r2 > 0.999999);
    CHECK(info.n_folds == 5);
    CHECK(info.rank == P);
    CHECK_NEAR(ref_maxdiff(beta, truth, P), 0.0, 1e-5);
    double small_alpha = info.alpha;
    /* pure noise: the best model is close to the mean alone */
    ref_randn(y, N, 18);
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, beta, &info));
    printf("noise: alpha %g, cv_r2 %.6f\n", info.alpha, info.cv_r2);
    /* over 200 noise seeds of this setup: alpha >= 8.1, cv_r2 <= 0.10 */
    CHECK(info.alpha >= 1.0);
    CHECK(info.alpha > 1e6 * small_alpha);
    CHECK(info.cv_r2 < 0.2);
    spex_ctx_free(ctx);
}

/* Same seed, same folds, same answer; folds are balanced; other seeds
 * give other folds; fewer rows than folds gives leave-one-out. */
static void test_folds(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 103 };
    int f1[N], f2[N], f3[N], k;
    CHECK_RC(ctx, spex_kfold_assign(ctx, N, 5, 7, f1, &k));
    CHECK_RC(ctx, spex_kfold_assign(ctx, N, 5, 7, f2, NULL));
    CHECK_RC(ctx, spex_kfold_assign(ctx, N, 5, 8, f3, NULL));
    CHECK(k == 5);
    CHECK(!memcmp(f1, f2, sizeof f1));
    CHECK(memcmp(f1, f3, sizeof f1) != 0);
    int count[5] = {0};
    for (int i = 0; i < N; i++) {
        CHECK(f1[i] >= 0 && f1[i] < 5);
        count[f1[i]]++;
    }
    for (int f = 0; f < 5; f++)
        CHECK(count[f] == 20 || count[f] == 21);
    int sequential = 1;
    for (int i = 0; i < N; i++)
        sequential &= f1[i] == i % 5;
    CHECK(!sequential);
    CHECK_RC(ctx, spex_kfold_assign(ctx, 3, 5, 7, f1, &k));
    CHECK(k == 3);
    CHECK(f1[0] != f1[1] && f1[1] != f1[2] && f1[0] != f1[2]);
    CHECK(spex_kfold_assign(ctx, 1, 5, 7, f1, &k) == SPEX_E_INVAL);
    CHECK(spex_kfold_assign(ctx, 10, 1, 7, f1, &k) == SPEX_E_INVAL);

    /* the whole CV is reproducible */
    enum { M = 40, P = 4 };
    double X[M * P], y[M], b1[P], b2[P];
    ref_randn(X, M * P, 19);
    ref_randn(y, M, 20);
    spex_fit_info i1, i2;
    spex_ridge_opts o = spex_ridge_opts_default();
    o.seed = 3;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, M, P, y, NULL, &o, b1, &i1));
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, M, P, y, NULL, &o, b2, &i2));
    CHECK(!memcmp(b1, b2, sizeof b1));
    CHECK(i1.alpha == i2.alpha && i1.cv_mse == i2.cv_mse);
    spex_ctx_free(ctx);
}

/* Results do not depend on the BLAS thread count beyond rounding. */
static void test_threads(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 400, P = 120 };
    static double X[N * P], y[N], b1[P], b2[P];
    ref_randn(X, N * P, 21);
    ref_randn(y, N, 22);
    for (int i = 0; i < N; i++)
        y[i] += X[i * P] + X[i * P + 7];
    spex_fit_info i1, i2;
    openblas_set_num_threads(1);
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, b1, &i1));
    openblas_set_num_threads(4);
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, b2, &i2));
    CHECK(i1.alpha == i2.alpha);
    CHECK_NEAR(ref_maxdiff(b1, b2, P), 0.0, 1e-10);
    CHECK_NEAR(i1.cv_mse, i2.cv_mse, 1e-10);
    spex_ctx_free(ctx);
}

static void test_degenerate(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 12, P = 3 };
    double X[N * P], y[N], beta[P], w[N];
    ref_randn(X, N * P, 23);
    spex_fit_info info;

    /* zero columns: the (weighted) mean */
    for (int i = 0; i < N; i++) {
        y[i] = (double)i;
        w[i] = i < 6 ? 1.0 : 3.0;
    }
    CHECK_RC(ctx, spex_ridge_cv(ctx, NULL, N, 0, y, w, NULL, NULL, &info));
    CHECK_NEAR(info.b0, (15.0 + 3.0 * 51.0) / 24.0, 1e-12);
    CHECK(info.rank == 0);
    CHECK(info.cv_mse > 0);
    CHECK_RC(ctx, spex_ridge(ctx, NULL, N, 0, y, NULL, 1.0, NULL, NULL, &info));
    CHECK_NEAR(info.b0, 5.5, 1e-12);

    /* constant y: beta = 0, b0 = y, perfect CV, the largest alpha (ties) */
    for (int i = 0; i < N; i++)
        y[i] = 0.1;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, beta, &info));
    for (int j = 0; j < P; j++)
        CHECK(beta[j] == 0);
    CHECK(info.b0 == 0.1);
    CHECK(info.cv_mse == 0);
    CHECK(info.cv_r2 == 1.0);
    CHECK(info.alpha == 1e6);

    /* fewer rows than folds: leave-one-out */
    for (int i = 0; i < N; i++)
        y[i] = X[i * P] + 0.5;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, 3, P, y, NULL, NULL, beta, &info));
    CHECK(info.n_folds == 3);
    CHECK(isfinite(info.cv_mse));
    CHECK(spex_ridge_cv(ctx, X, 1, P, y, NULL, NULL, beta, &info) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "at least 2 rows") != NULL);

    /* a fold whose validation rows all have weight 0 is left out */
    double wz[N];
    int fold[N];
    CHECK_RC(ctx, spex_kfold_assign(ctx, N, 4, 0, fold, NULL));
    for (int i = 0; i < N; i++)
        wz[i] = fold[i] == 2 ? 0.0 : 1.0;
    spex_ridge_opts o = spex_ridge_opts_default();
    o.n_folds = 4;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, N, P, y, wz, &o, beta, &info));
    CHECK(isfinite(info.cv_mse));

    /* NaN input */
    X[5 * P + 2] = NAN;
    CHECK(spex_ridge_cv(ctx, X, N, P, y, NULL, NULL, beta, &info) == SPEX_E_NUMERIC);
    CHECK(strstr(spex_errmsg(ctx), "row 5, column 2") != NULL);
    spex_ridge_svd *f;
    CHECK(spex_ridge_svd_new(ctx, X, N, P, y, NULL, 1, &f) == SPEX_E_NUMERIC);
    CHECK(f == NULL);
    X[5 * P + 2] = 0;

    /* bad options */
    o = spex_ridge_opts_default();
    o.n_alphas = 0;
    CHECK(spex_ridge_cv(ctx, X, N, P, y, NULL, &o, beta, &info) == SPEX_E_INVAL);
    o = spex_ridge_opts_default();
    o.alpha_min = 0;
    CHECK(spex_ridge_cv(ctx, X, N, P, y, NULL, &o, beta, &info) == SPEX_E_INVAL);
    o = spex_ridge_opts_default();
    o.n_folds = 1;
    CHECK(spex_ridge_cv(ctx, X, N, P, y, NULL, &o, beta, &info) == SPEX_E_INVAL);
    CHECK(spex_ridge(ctx, X, N, P, y, NULL, NAN, NULL, beta, &info) == SPEX_E_INVAL);
    spex_ridge_svd_free(NULL);
    spex_ctx_free(ctx);
}

static int ridge_cv_call(spex_ctx *ctx, void *user) {
    struct fit_call *c = user;
    spex_fit_info info;
    return spex_ridge_cv(ctx, c->X, c->n, c->p, c->y, NULL, NULL, c->beta, &info);
}

static void test_alloc_faults(void **state) {
    (void)state;
    enum { N = 30, P = 5 };
    double X[N * P], y[N], beta[P];
    ref_randn(X, N * P, 24);
    ref_randn(y, N, 25);
    struct fit_call c = {X, y, beta, N, P};
    spex_ctx *ctx = spex_ctx_new();
    CHECK(spex_test_alloc_walk(ctx, 1000, ridge_cv_call, NULL, &c) > 3);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_form),
        cmocka_unit_test(test_closed_form_wide),
        cmocka_unit_test(test_cv_curve_by_hand),
        cmocka_unit_test(test_cv_choice),
        cmocka_unit_test(test_folds),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
