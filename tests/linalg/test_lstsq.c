/* Weighted least squares (spex_lstsq): a hand-computed line, planted
 * coefficients recovered exactly from noiseless data, the weighted normal
 * equations solved by Gaussian elimination, rank deficiency, wide systems,
 * zero columns and bad input. */
#include "testing.h"
#include "test_util.h"

#include "spex/linalg.h"

#include <cblas.h>
#include <string.h>

#include "linalg_ref.h"

static void test_hand_line(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    /* y = b0 + b1 x through (0,1) (1,3) (2,2) (3,5): xbar 1.5, ybar 2.75,
     * Sxy = 5.5, Sxx = 5, so b1 = 1.1 and b0 = 2.75 - 1.5 * 1.1 = 1.1 */
    double X[] = {0, 1, 2, 3}, y[] = {1, 3, 2, 5}, beta[1];
    spex_fit_info info;
    CHECK_RC(ctx, spex_lstsq(ctx, X, 4, 1, y, NULL, NULL, beta, &info));
    CHECK_NEAR(beta[0], 1.1, 1e-13);
    CHECK_NEAR(info.b0, 1.1, 1e-13);
    CHECK(info.rank == 1);
    /* R² = 1 - SSE/SST: residuals -0.1, 0.8, -1.3, 0.6 -> SSE 2.7; SST 8.75 */
    CHECK_NEAR(info.train_r2, 1.0 - 2.7 / 8.75, 1e-13);
    /* without intercept: b1 = Σxy / Σx² = (0 + 3 + 4 + 15) / 14 */
    spex_lstsq_opts o = spex_lstsq_opts_default();
    o.intercept = 0;
    CHECK_RC(ctx, spex_lstsq(ctx, X, 4, 1, y, NULL, &o, beta, &info));
    CHECK_NEAR(beta[0], 22.0 / 14.0, 1e-13);
    CHECK(info.b0 == 0);
    /* weights: w = (1, 0, 0, 1) fits the line through (0,1) and (3,5) */
    double w[] = {1, 0, 0, 1};
    CHECK_RC(ctx, spex_lstsq(ctx, X, 4, 1, y, w, NULL, beta, &info));
    CHECK_NEAR(beta[0], 4.0 / 3.0, 1e-13);
    CHECK_NEAR(info.b0, 1.0, 1e-13);
    spex_ctx_free(ctx);
}

static void test_planted_exact(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 60, P = 7 };
    static double X[N * P], y[N];
    double truth[P] = {1.5, -2.0, 0.0, 0.25, 3.0, -0.75, 1e-3}, beta[P];
    ref_randn(X, N * P, 1);
    for (int i = 0; i < N; i++) {
        y[i] = 0.7;
        for (int j = 0; j < P; j++)
            y[i] += X[i * P + j] * truth[j];
    }
    spex_fit_info info;
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, NULL, NULL, beta, &info));
    for (int j = 0; j < P; j++)
        CHECK_NEAR(beta[j], truth[j], 1e-12);
    CHECK_NEAR(info.b0, 0.7, 1e-12);
    CHECK(info.rank == P);
    CHECK_NEAR(info.train_r2, 1.0, 1e-12);
    CHECK(info.n_nonzero == P);
    CHECK(isnan(info.cv_mse));
    spex_ctx_free(ctx);
}

/* Noisy data with weights (some zero): the weighted normal equations of the
 * augmented design, solved by elimination, are the ground truth. */
static void test_weighted_normal_equations(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 80, P = 6 };
    static double X[N * P], y[N], w[N], noise[N];
    double beta[P], ref[P] = {0}, b0 = 0; /* ref: set by the reference solver */
    ref_randn(X, N * P, 2);
    ref_randn(noise, N, 3);
    spex_rng r;
    spex_rng_seed(&r, 4);
    for (int i = 0; i < N; i++) {
        w[i] = i % 9 == 0 ? 0.0 : 0.1 + 2.0 * spex_rng_uniform(&r);
        y[i] = 2.0 + X[i * P] - 0.5 * X[i * P + 3] + noise[i];
    }
    for (int intercept = 0; intercept <= 1; intercept++) {
        spex_lstsq_opts o = spex_lstsq_opts_default();
        o.intercept = intercept;
        spex_fit_info info;
        CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, w, &o, beta, &info));
        CHECK(ref_ridge(X, N, P, y, w, 0.0, intercept, ref, &b0) == 0);
        double d = ref_maxdiff(beta, ref, P);
        CHECK_NEAR(d, 0.0, 1e-11);
        CHECK_NEAR(info.b0, b0, 1e-11);
        /* weighted R² from the reference solution */
        double mu = 0, ws = 0, sse = 0, sst = 0;
        for (int i = 0; i < N; i++) {
            mu += w[i] * y[i];
            ws += w[i];
        }
        mu /= ws;
        for (int i = 0; i < N; i++) {
            double pred = b0;
            for (int j = 0; j < P; j++)
                pred += X[i * P + j] * ref[j];
            sse += w[i] * (y[i] - pred) * (y[i] - pred);
            sst += w[i] * (y[i] - mu) * (y[i] - mu);
        }
        CHECK_NEAR(info.train_r2, 1.0 - sse / sst, 1e-11);
    }
    /* integer weights equal repeated rows */
    static double X2[3 * N * P], y2[3 * N];
    double w2[N], beta2[P];
    int n2 = 0;
    for (int i = 0; i < N; i++) {
        w2[i] = (double)(i % 3);
        for (int c = 0; c < i % 3; c++) {
            memcpy(X2 + n2 * P, X + i * P, P * sizeof(double));
            y2[n2++] = y[i];
        }
    }
    spex_fit_info i1, i2;
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, w2, NULL, beta, &i1));
    CHECK_RC(ctx, spex_lstsq(ctx, X2, n2, P, y2, NULL, NULL, beta2, &i2));
    CHECK_NEAR(ref_maxdiff(beta, beta2, P), 0.0, 1e-11);
    CHECK_NEAR(i1.b0, i2.b0, 1e-11);
    spex_ctx_free(ctx);
}

/* A repeated column: the minimum-norm solution splits the coefficient. */
static void test_rank_deficient(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 30 };
    double X[N * 3], y[N], beta[3], x[N];
    ref_randn(x, N, 5);
    for (int i = 0; i < N; i++) {
        X[i * 3] = x[i];
        X[i * 3 + 1] = x[i];
        X[i * 3 + 2] = 4.0; /* constant: zero after centring */
        y[i] = 1.0 + 2.0 * x[i];
    }
    spex_fit_info info;
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, 3, y, NULL, NULL, beta, &info));
    CHECK(info.rank == 1);
    CHECK_NEAR(beta[0], 1.0, 1e-12);
    CHECK_NEAR(beta[1], 1.0, 1e-12);
    CHECK_NEAR(beta[2], 0.0, 1e-12);
    CHECK_NEAR(info.b0, 1.0, 1e-12);
    spex_ctx_free(ctx);
}

/* More columns than rows: an exact fit, and the minimum-norm one,
 * beta = X^T (X X^T)^{-1} y (no intercept), by elimination. */
static void test_wide(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    enum { N = 6, P = 15 };
    double X[N * P], y[N], beta[P], G[N * N], z[N], yc[N], ref[P];
    ref_randn(X, N * P, 6);
    ref_randn(y, N, 7);
    spex_lstsq_opts o = spex_lstsq_opts_default();
    o.intercept = 0;
    spex_fit_info info;
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, NULL, &o, beta, &info));
    CHECK(info.rank == N);
    CHECK_NEAR(info.train_r2, 1.0, 1e-12);
    for (int a = 0; a < N; a++)
        for (int b = 0; b < N; b++) {
            double s = 0;
            for (int j = 0; j < P; j++)
                s += X[a * P + j] * X[b * P + j];
            G[a * N + b] = s;
        }
    memcpy(yc, y, sizeof yc);
    CHECK(ref_gauss_solve(G, yc, N, z) == 0);
    for (int j = 0; j < P; j++) {
        ref[j] = 0;
        for (int a = 0; a < N; a++)
            ref[j] += X[a * P + j] * z[a];
    }
    CHECK_NEAR(ref_maxdiff(beta, ref, P), 0.0, 1e-10);
    /* with intercept: still an exact fit */
    CHECK_RC(ctx, spex_lstsq(ctx, X, N, P, y, NULL, NULL, beta, &info));
    CHECK(info.rank == N - 1);
    CHECK_NEAR(info.train_r2, 1.0, 1e-12);
    spex_ctx_free(ctx);
}

static void test_zero_columns(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    double y[] = {1, 2, 6}, w[] = {1, 1, 2};
    spex_fit_info info;
    CHECK_RC(ctx, spex_lstsq(ctx, NULL, 3, 0, y, w, NULL, NULL, &info));
    CHECK_NEAR(info.b0, 15.0 / 4.0, 1e-14);
    CHECK(info.rank == 0);
    CHECK(info.n_nonzero == 0);
    spex_lstsq_opts o = spex_lstsq_opts_default();
    o.intercept = 0;
    CHECK_RC(ctx, spex_lstsq(ctx, NULL, 3, 0, y, w, &o, NULL, &info));
    CHECK(info.b0 == 0);
    spex_ctx_free(ctx);
}

static void test_bad_input(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    double X[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, y[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1};
    double beta[2];
    X[2 * 2 + 1] = NAN;
    CHECK(spex_lstsq(ctx, X, 4, 2, y, NULL, NULL, beta, NULL) == SPEX_E_NUMERIC);
    CHECK(strstr(spex_errmsg(ctx), "row 2, column 1") != NULL);
    X[2 * 2 + 1] = 6;
    y[3] = INFINITY;
    CHECK(spex_lstsq(ctx, X, 4, 2, y, NULL, NULL, beta, NULL) == SPEX_E_NUMERIC);
    CHECK(strstr(spex_errmsg(ctx), "row 3") != NULL);
    y[3] = 4;
    w[1] = -1;
    CHECK(spex_lstsq(ctx, X, 4, 2, y, w, NULL, beta, NULL) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "row 1") != NULL);
    w[1] = NAN;
    CHECK(spex_lstsq(ctx, X, 4, 2, y, w, NULL, beta, NULL) == SPEX_E_NUMERIC);
    memset(w, 0, sizeof w);
    CHECK(spex_lstsq(ctx, X, 4, 2, y, w, NULL, beta, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, X, 0, 2, y, NULL, NULL, beta, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, X, 4, -1, y, NULL, NULL, beta, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, NULL, 4, 2, y, NULL, NULL, beta, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, X, 4, 2, NULL, NULL, NULL, beta, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, X, 4, 2, y, NULL, NULL, NULL, NULL) == SPEX_E_INVAL);
    CHECK(spex_lstsq(ctx, X, (int64_t)1 << 40, 2, y, NULL, NULL, beta, NULL) == SPEX_E_RANGE);
    spex_ctx_free(ctx);
}

/* Every allocation may fail; each failure is a clean SPEX_E_NOMEM. */
static int lstsq_call(spex_ctx *ctx, void *user) {
    struct fit_call *c = user;
    return spex_lstsq(ctx, c->X, c->n, c->p, c->y, NULL, NULL, c->beta, NULL);
}

static void test_alloc_faults(void **state) {
    (void)state;
    enum { N = 20, P = 4 };
    double X[N * P], y[N], beta[P];
    ref_randn(X, N * P, 8);
    ref_randn(y, N, 9);
    struct fit_call c = {X, y, beta, N, P};
    spex_ctx *ctx = spex_ctx_new();
    CHECK(spex_test_alloc_walk(ctx, 1000, lstsq_call, NULL, &c) >= 1);
    spex_ctx_free(ctx);
}

/* spex_linalg_set_blas_threads reaches OpenBLAS's own setting; n < 1 is
 * ignored. */
static void test_blas_threads(void **state) {
    (void)state;
    spex_linalg_set_blas_threads(1);
    CHECK(openblas_get_num_threads() == 1);
    spex_linalg_set_blas_threads(0);
    CHECK(openblas_get_num_threads() == 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_line),
        cmocka_unit_test(test_planted_exact),
        cmocka_unit_test(test_weighted_normal_equations),
        cmocka_unit_test(test_rank_deficient),
        cmocka_unit_test(test_wide),
        cmocka_unit_test(test_zero_columns),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_blas_threads),
    };
    SPEX_RUN_TESTS(tests);
}
