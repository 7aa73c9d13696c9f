/* Ridge CV through Gram matrices equals ridge CV through SVDs (same folds,
 * same grid): the chosen alpha, the coefficients and the CV error. */
#include "test_util.h"

#include "spex/linalg.h"
#include "spex/rng.h"

#include <stdlib.h>

static void compare(int intercept, double noise, int64_t rows, int64_t cols, uint64_t seed) {
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, seed);
    double *X = malloc((size_t)(rows * cols) * sizeof *X), *y = malloc((size_t)rows * sizeof *y);
    double *b1 = calloc((size_t)cols, sizeof *b1), *b2 = calloc((size_t)cols, sizeof *b2);
    for (int64_t i = 0; i < rows; i++) {
        y[i] = intercept ? 0.7 : 0.0;
        for (int64_t j = 0; j < cols; j++) {
            X[i * cols + j] = spex_rng_uniform(&r) < 0.5 ? -1.0 : 1.0;
            y[i] += X[i * cols + j] * (double)(j % 3) * 0.5;
        }
        y[i] += noise * spex_rng_normal(&r);
    }
    spex_ridge_opts o = spex_ridge_opts_default();
    o.intercept = intercept;
    o.n_alphas = 30;
    o.alpha_min = 1e-4;
    o.alpha_max = 1e4;
    spex_fit_info i1, i2;
    CHECK_RC(ctx, spex_ridge_cv(ctx, X, rows, cols, y, NULL, &o, b1, &i1));
    CHECK_RC(ctx, spex_ridge_cv_gram(ctx, X, rows, cols, y, &o, b2, &i2));
    CHECK_NEAR(i2.alpha, i1.alpha, 1e-9 * i1.alpha);
    CHECK_NEAR(i2.cv_mse, i1.cv_mse, 1e-7 * (1.0 + i1.cv_mse));
    CHECK_NEAR(i2.b0, i1.b0, 1e-8);
    for (int64_t j = 0; j < cols; j++) CHECK_NEAR(b2[j], b1[j], 1e-8);
    free(X);
    free(y);
    free(b1);
    free(b2);
    spex_ctx_free(ctx);
}

static void test_matches_svd(void **state) {
    (void)state;
    compare(1, 0.5, 300, 12, 1);
    compare(0, 0.5, 300, 12, 2);
    compare(1, 2.0, 500, 40, 3);
    compare(1, 0.0, 200, 5, 4);
}

static void test_no_columns_and_errors(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    double y[4] = {1, 2, 3, 4}, beta[1];
    spex_fit_info info;
    CHECK_RC(ctx, spex_ridge_cv_gram(ctx, NULL, 4, 0, y, NULL, beta, &info));
    CHECK_NEAR(info.b0, 2.5, 1e-12);
    double X[4] = {1, 2, NAN, 4};
    CHECK(spex_ridge_cv_gram(ctx, X, 4, 1, y, NULL, beta, &info) == SPEX_E_NUMERIC);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_svd),
        cmocka_unit_test(test_no_columns_and_errors),
    };
    SPEX_RUN_TESTS(tests);
}
