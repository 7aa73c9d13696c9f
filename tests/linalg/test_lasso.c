/* Lasso (spex_lasso, spex_lasso_cv): soft-thresholding of the OLS
 * coefficients on an orthonormal (Hadamard) design, the KKT optimality
 * conditions on random weighted data, integer weights as repeated rows,
 * alpha_max, recovery of a planted sparse support from noisy data by CV,
 * degenerate cases and allocation failures. */
#include "testing.h"
#include "test_util.h"

#include "spex/linalg.h"

#include <string.h>

#include "linalg_ref.h"

static double soft(double z, double a) {
    return z > a ? z - a : (z < -a ? z + a : 0.0);
}

/* Sylvester Hadamard matrix of order 16: H[i][j] = (-1)^{popcount(i & j)}. */
static double hadamard(int i, int j) {
    return __builtin_parity((unsigned)(i & j)) ? -1.0 : 1.0;
}

/* X^T X = N I: beta_j = S(X_j·y / N, alpha) (sklearn's 1/(2N) scaling). */
static void test_orthonormal(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 16 };
    double y[N], X[N * 8], beta[8];
    ref_randn(y, N, 30);
    for (int i = 0; i < N; i++)
        y[i] += 3.0;
    const double alphas[] = {0.0, 0.05, 0.2, 0.5, 2.0};
    for (int intercept = 0; intercept <= 1; intercept++) {
        /* with intercept: Hadamard columns 1..7 (each sums to 0);
         * without: columns 0..7 (column 0 is all ones) */
        int p = intercept ? 7 : 8, c0 = intercept ? 1 : 0;
        for (int i = 0; i < N; i++)
            for (int j = 0; j < p; j++)
                X[i * p + j] = hadamard(i, j + c0);
        spex_lasso_opts o = spex_lasso_opts_default();
        o.intercept = intercept;
        for (size_t a = 0; a < sizeof alphas / sizeof alphas[0]; a++) {
            spex_fit_info info;
            CHECK_RC(ctx, spex_lasso(ctx, X, N, p, y, NULL, alphas[a], &o, beta, &info));
            CHECK(info.converged == 1);
            for (int j = 0; j < p; j++) {
                double z = 0;
                for (int i = 0; i < N; i++)
                    z += X[i * p + j] * y[i];
                CHECK_NEAR(beta[j], soft(z / N, alphas[a]), 1e-12);
            }
            double mean = 0;
            for (int i = 0; i < N; i++)
                mean += y[i] / N;
            CHECK_NEAR(info.b0, intercept ? mean : 0.0, 1e-12);
        }
    }
    spex_ctx_free(ctx);
}

/* Optimality of the returned beta, from the KKT conditions: with
 * g_j = (1/Σw) Σ w_i (x_ij - xbar_j) r_i, g_j = alpha sign(beta_j) where
 * beta_j != 0 and |g_j| <= alpha where beta_j = 0. */
static void check_kkt(const double *X, int n, int p, const double *y, const double *w,
                      const double *beta, double b0, double alpha, double tol) {
    double ws = 0, *xbar = calloc((size_t)p, sizeof(double)),
           *r = calloc((size_t)n, sizeof(double));
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        ws += wi;
        for (int j = 0; j < p; j++)
            xbar[j] += wi * X[i * p + j];
        r[i] = y[i] - b0;
        for (int j = 0; j < p; j++)
            r[i] -= X[i * p + j] * beta[j];
    }
    double rsum = 0;
    for (int i = 0; i < n; i++)
        rsum += (w ? w[i] : 1.0) * r[i];
    CHECK_NEAR(rsum / ws, 0.0, tol); /* the intercept is optimal */
    for (int j = 0; j < p; j++) {
        xbar[j] /= ws;
        double g = 0;
        for (int i = 0; i < n; i++)
            g += (w ? w[i] : 1.0) * (X[i * p + j] - xbar[j]) * r[i];
        g /= ws;
        if (beta[j] > 0)
            CHECK_NEAR(g, alpha, tol);
        else if (beta[j] < 0)
            CHECK_NEAR(g, -alpha, tol);
        else
            CHECK(fabs(g) <= alpha + tol);
    }
    free(xbar);
    free(r);
}

static void test_kkt_weighted(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 70, P = 15 };
    static double X[N * P], y[N], w[N], f[N];
    double beta[P];
    ref_randn(X, N * P, 31);
    ref_randn(y, N, 32);
    ref_randn(f, N, 33);
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < P; j++)
            X[i * P + j] += 0.7 * f[i]; /* correlated columns */
        y[i] += 1.0 + 2.0 * X[i * P + 2] - 1.0 * X[i * P + 9];
        w[i] = i % 10 == 0 ? 0.0 : 0.5 + (i % 4);
    }
    double amax;
    CHECK_RC(ctx, spex_lasso_alpha_max(ctx, X, N, P, y, w, 1, &amax));
    spex_lasso_opts o = spex_lasso_opts_default();
    o.tol = 1e-14;
    o.max_iter = 100000;
    const double frac[] = {1.0, 0.5, 0.1, 0.01, 0.001};
    for (size_t a = 0; a < sizeof frac / sizeof frac[0]; a++) {
        spex_fit_info info;
        CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, w, amax * frac[a], &o, beta, &info));
        CHECK(info.converged == 1);
        check_kkt(X, N, P, y, w, beta, info.b0, amax * frac[a], 1e-7 * amax);
        if (frac[a] == 1.0)
            CHECK(info.n_nonzero == 0);
        else
            CHECK(info.n_nonzero > 0);
    }
    spex_ctx_free(ctx);
}

/* Integer weights equal repeated rows (the objective divides by Σw). */
static void test_weights_as_repeats(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 40, P = 6 };
    static double X[N * P], y[N], w[N], X2[3 * N * P], y2[3 * N];
    double b1[P], b2[P];
    ref_randn(X, N * P, 34);
    ref_randn(y, N, 35);
    int n2 = 0;
    for (int i = 0; i < N; i++) {
        y[i] += X[i * P] - X[i * P + 1];
        w[i] = (double)(i % 3);
        for (int c = 0; c < i % 3; c++) {
            memcpy(X2 + n2 * P, X + i * P, P * sizeof(double));
            y2[n2++] = y[i];
        }
    }
    spex_lasso_opts o = spex_lasso_opts_default();
    o.tol = 1e-14;
    spex_fit_info i1, i2;
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, w, 0.05, &o, b1, &i1));
    CHECK_RC(ctx, spex_lasso(ctx, X2, n2, P, y2, NULL, 0.05, &o, b2, &i2));
    CHECK_NEAR(ref_maxdiff(b1, b2, P), 0.0, 1e-9);
    CHECK_NEAR(i1.b0, i2.b0, 1e-9);
    spex_ctx_free(ctx);
}

/* A planted sparse beta: CV recovers the support exactly from noiseless
 * data; from noisy data it keeps every true feature and gives the others
 * only small coefficients (CV-chosen lasso is known to let a few noise
 * features in; over 200 seeds of this setup the largest such |beta| was
 * 0.056, so |beta| > 0.1 recovers the support exactly). */
static void make_planted(double *X, double *y, double *truth, int n, int p, double sd,
                         uint64_t seed) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (int j = 0; j < p; j++)
        truth[j] = 0;
    truth[3] = 2.0;
    truth[11] = -1.5;
    truth[17] = 1.0;
    truth[25] = -1.0;
    truth[38] = 1.5;
    for (int i = 0; i < n * p; i++)
        X[i] = spex_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        y[i] = 0.5 + sd * spex_rng_normal(&r);
        for (int j = 0; j < p; j++)
            y[i] += X[i * p + j] * truth[j];
    }
}

static void test_planted_support(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 300, P = 40 };
    static double X[N * P], y[N];
    double truth[P], beta[P], curve[50], path[50];
    spex_lasso_opts o = spex_lasso_opts_default();
    spex_fit_info info;

    /* noiseless: the support exactly */
    make_planted(X, y, truth, N, P, 0.0, 36);
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, N, P, y, NULL, &o, beta, &info));
    for (int j = 0; j < P; j++)
        CHECK((beta[j] != 0) == (truth[j] != 0));
    CHECK(info.cv_r2 > 0.9999);

    /* noise sd 0.3 */
    make_planted(X, y, truth, N, P, 0.3, 37);
    o.cv_mse_out = curve;
    o.alphas_out = path;
    o.seed = 1;
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, N, P, y, NULL, &o, beta, &info));
    int missed = 0, extra = 0;
    double max_extra = 0;
    for (int j = 0; j < P; j++) {
        if (truth[j] != 0 && beta[j] == 0) missed++;
        if (truth[j] == 0 && beta[j] != 0) {
            extra++;
            if (fabs(beta[j]) > max_extra) max_extra = fabs(beta[j]);
        }
        CHECK((fabs(beta[j]) > 0.1) == (truth[j] != 0));
        if (truth[j] != 0) CHECK_NEAR(beta[j], truth[j], 0.1);
    }
    printf("min rule: alpha %g, nonzero %lld, missed %d, extra %d (max |beta| %g), cv_r2 %.4f\n",
           info.alpha, (long long)info.n_nonzero, missed, extra, max_extra, info.cv_r2);
    CHECK(missed == 0);
    CHECK(info.cv_r2 > 0.95);
    CHECK(info.n_folds == 5);
    CHECK(info.converged == 1);
    /* the path: alpha_max first, alpha_max * 1e-4 last; the curve's minimum */
    double amax;
    CHECK_RC(ctx, spex_lasso_alpha_max(ctx, X, N, P, y, NULL, 1, &amax));
    CHECK_NEAR(path[0], amax, 1e-12 * amax);
    CHECK_NEAR(path[49], amax * 1e-4, 1e-12 * amax);
    double mn = curve[0];
    for (int a = 1; a < 50; a++)
        mn = curve[a] < mn ? curve[a] : mn;
    CHECK(info.cv_mse == mn);

    /* the one-standard-error rule: a larger alpha, still every true feature */
    double alpha_min = info.alpha;
    o.rule = SPEX_CV_1SE;
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, N, P, y, NULL, &o, beta, &info));
    missed = extra = 0;
    for (int j = 0; j < P; j++) {
        if (truth[j] != 0 && beta[j] == 0) missed++;
        if (truth[j] == 0 && beta[j] != 0) extra++;
        CHECK((fabs(beta[j]) > 0.1) == (truth[j] != 0));
    }
    printf("1se rule: alpha %g, nonzero %lld, missed %d, extra %d\n", info.alpha,
           (long long)info.n_nonzero, missed, extra);
    CHECK(missed == 0);
    CHECK(info.alpha >= alpha_min);
    spex_ctx_free(ctx);
}

/* More columns than rows, noiseless sparse truth. */
static void test_wide(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 40, P = 120 };
    static double X[N * P], y[N];
    double beta[P];
    ref_randn(X, N * P, 38);
    for (int i = 0; i < N; i++)
        y[i] = 3.0 * X[i * P + 7] - 2.0 * X[i * P + 60] + X[i * P + 99];
    spex_fit_info info;
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, N, P, y, NULL, NULL, beta, &info));
    printf("wide: alpha %g, nonzero %lld, cv_r2 %.6f\n", info.alpha, (long long)info.n_nonzero,
           info.cv_r2);
    CHECK(beta[7] > 2.9 && beta[60] < -1.9 && beta[99] > 0.9);
    double others = 0;
    for (int j = 0; j < P; j++)
        if (j != 7 && j != 60 && j != 99) others += fabs(beta[j]);
    CHECK(others < 0.05);
    CHECK(info.cv_r2 > 0.99);
    spex_ctx_free(ctx);
}

static void test_iterations(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 60, P = 20 };
    static double X[N * P], y[N], f[N];
    double beta[P], b2[P];
    ref_randn(X, N * P, 39);
    ref_randn(f, N, 40);
    ref_randn(y, N, 41);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < P; j++)
            X[i * P + j] += 3.0 * f[i]; /* strongly correlated */
    for (int i = 0; i < N; i++)
        y[i] += X[i * P] - X[i * P + 5];
    spex_lasso_opts o = spex_lasso_opts_default();
    o.max_iter = 1;
    spex_fit_info info;
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, NULL, 0.001, &o, beta, &info));
    CHECK(info.converged == 0);
    CHECK(info.n_iter == 1);
    o.max_iter = 100000;
    o.tol = 1e-12;
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, NULL, 0.001, &o, beta, &info));
    CHECK(info.converged == 1);
    CHECK(info.n_iter > 1);
    /* a warm start at the solution stops after one sweep */
    memcpy(b2, beta, sizeof beta);
    o.warm_start = 1;
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, NULL, 0.001, &o, b2, &info));
    CHECK(info.converged == 1);
    CHECK(info.n_iter == 1);
    CHECK_NEAR(ref_maxdiff(beta, b2, P), 0.0, 1e-8);
    spex_ctx_free(ctx);
}

static void test_degenerate(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 10, P = 3 };
    double X[N * P], y[N], beta[P], curve[50], path[50];
    ref_randn(X, N * P, 42);
    spex_fit_info info;
    spex_lasso_opts o = spex_lasso_opts_default();
    o.cv_mse_out = curve;
    o.alphas_out = path;
    /* zero columns: the mean */
    for (int i = 0; i < N; i++)
        y[i] = (double)i;
    CHECK_RC(ctx, spex_lasso_cv(ctx, NULL, N, 0, y, NULL, &o, NULL, &info));
    CHECK_NEAR(info.b0, 4.5, 1e-12);
    CHECK(info.n_folds == 0 && info.alpha == 0);
    CHECK(path[0] == 0 && isnan(curve[0]));
    /* constant y: beta = 0 */
    for (int i = 0; i < N; i++)
        y[i] = -2.5;
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, N, P, y, NULL, NULL, beta, &info));
    for (int j = 0; j < P; j++)
        CHECK(beta[j] == 0);
    CHECK(info.b0 == -2.5);
    CHECK(info.train_r2 == 1.0);
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, NULL, 0.1, NULL, beta, &info));
    for (int j = 0; j < P; j++)
        CHECK(beta[j] == 0);
    /* a constant column stays at 0 */
    for (int i = 0; i < N; i++) {
        X[i * P + 1] = 7.0;
        y[i] = X[i * P];
    }
    CHECK_RC(ctx, spex_lasso(ctx, X, N, P, y, NULL, 0.01, NULL, beta, &info));
    CHECK(beta[1] == 0);
    CHECK(beta[0] > 0.9);
    /* too few rows for CV */
    o = spex_lasso_opts_default();
    o.intercept = 0;
    CHECK(spex_lasso_cv(ctx, X, 1, P, y, NULL, &o, beta, &info) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "at least 2 rows") != NULL);
    /* three rows: three folds */
    CHECK_RC(ctx, spex_lasso_cv(ctx, X, 3, P, y, NULL, NULL, beta, &info));
    CHECK(info.n_folds == 3);
    /* bad input and options */
    X[4 * P + 2] = NAN;
    CHECK(spex_lasso_cv(ctx, X, N, P, y, NULL, NULL, beta, &info) == SPEX_E_NUMERIC);
    CHECK(strstr(spex_errmsg(ctx), "row 4, column 2") != NULL);
    CHECK(spex_lasso(ctx, X, N, P, y, NULL, 0.1, NULL, beta, &info) == SPEX_E_NUMERIC);
    X[4 * P + 2] = 0;
    CHECK(spex_lasso(ctx, X, N, P, y, NULL, -0.1, NULL, beta, &info) == SPEX_E_INVAL);
    o = spex_lasso_opts_default();
    o.tol = 0;
    CHECK(spex_lasso(ctx, X, N, P, y, NULL, 0.1, &o, beta, &info) == SPEX_E_INVAL);
    o = spex_lasso_opts_default();
    o.eps = 0;
    CHECK(spex_lasso_cv(ctx, X, N, P, y, NULL, &o, beta, &info) == SPEX_E_INVAL);
    spex_ctx_free(ctx);
}

static int lasso_cv_call(spex_ctx *ctx, void *user) {
    struct fit_call *c = user;
    spex_fit_info info;
    return spex_lasso_cv(ctx, c->X, c->n, c->p, c->y, NULL, NULL, c->beta, &info);
}

static void test_alloc_faults(void **state) {
    (void)state;
    enum { N = 30, P = 5 };
    double X[N * P], y[N], beta[P];
    ref_randn(X, N * P, 43);
    ref_randn(y, N, 44);
    for (int i = 0; i < N; i++)
        y[i] += X[i * P];
    struct fit_call c = {X, y, beta, N, P};
    spex_ctx *ctx = spex_ctx_new();
    CHECK(spex_test_alloc_walk(ctx, 1000, lasso_cv_call, NULL, &c) > 3);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orthonormal),
        cmocka_unit_test(test_kkt_weighted),
        cmocka_unit_test(test_weights_as_repeats),
        cmocka_unit_test(test_planted_support),
        cmocka_unit_test(test_wide),
        cmocka_unit_test(test_iterations),
        cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
