/*
 * spex/linalg.h - the regression layer: weighted least squares, ridge and
 * lasso with K-fold cross-validation, on LAPACKE + OpenBLAS. The algorithms
 * use it for the SPEX refit on the found support, the ProxySPEX ridge refit,
 * the LASSO baseline and the KernelSHAP / Faith-Banzhaf regressions
 * (DESIGN.md §3).
 *
 * Conventions (every function here):
 *   X  (n_rows, n_cols) doubles, row-major: X[i*n_cols + j] is row i, col j.
 *      n_cols may be 0 (X may then be NULL): the model is the intercept alone.
 *   y  (n_rows) targets.
 *   w  (n_rows) per-row weights, w_i >= 0 and not all 0; NULL means all 1.
 *      A weight multiplies the row's squared residual (rows with w_i = 0 are
 *      ignored by the fit and by the validation error).
 *   beta (n_cols) output coefficients, caller-allocated; b0 the intercept.
 * The model is  y_i ≈ b0 + x_i·beta.  With `intercept` off, b0 = 0.
 * The intercept is never penalised: X and y are centred with the weighted
 * means over the rows being fitted, and b0 = ybar - xbar·beta.
 *
 * Objectives (note the two penalty conventions, each the usual one):
 *   least squares   Σ w_i r_i²                             (min-norm beta)
 *   ridge           Σ w_i r_i² + alpha ‖beta‖²₂            (sklearn Ridge)
 *   lasso           (1 / (2 Σ w_i)) Σ w_i r_i² + alpha ‖beta‖₁
 *                                          (sklearn Lasso; Σ w_i = N when w is NULL)
 * where r_i = y_i - b0 - x_i·beta.
 *
 * Errors: SPEX_E_INVAL for a bad shape or option (negative sizes, NULL
 * arrays, all-zero weights, fewer than 2 rows for CV), SPEX_E_RANGE for a
 * negative weight or a dimension LAPACK cannot index, SPEX_E_NUMERIC for a
 * NaN/inf in X, y or w (the message names the row and column) or a LAPACK
 * failure (the message names the routine and its info), SPEX_E_NOMEM. On
 * error beta and *info are unspecified.
 *
 * Cross-validation: rows are split into K folds by spex_kfold_assign (a seeded
 * shuffle, the same on every machine). K = min(n_folds, n_rows), so tiny data
 * sets get leave-one-out; n_rows < 2 is SPEX_E_INVAL. The score of an alpha
 * is the mean over folds of the weighted validation MSE (folds whose
 * validation rows all have weight 0 are left out). The chosen alpha
 * minimises it (ties go to the larger alpha) or, with SPEX_CV_1SE, is the
 * largest alpha within one standard error of that minimum. The model is then
 * refitted on all rows with the chosen alpha.
 *
 * Threads: BLAS/LAPACK calls use OpenBLAS's own thread count
 * (OPENBLAS_NUM_THREADS, or spex_linalg_set_blas_threads below); fold
 * assignment and every reduction written here run in a fixed order, so
 * results differ across thread counts only by floating-point noise.
 *
 * Example:
 *     // 100 rows, 3 columns, row-major
 *     double X[100 * 3], y[100], beta[3];
 *     ...
 *     spex_ridge_opts ro = spex_ridge_opts_default();
 *     ro.seed = 7;
 *     spex_fit_info info;
 *     if (spex_ridge_cv(ctx, X, 100, 3, y, NULL, &ro, beta, &info) != SPEX_OK)
 *         fprintf(stderr, "%s\n", spex_errmsg(ctx));
 *     // prediction: info.b0 + X[i]·beta; info.alpha, info.cv_r2
 *
 *     spex_lasso_opts lo = spex_lasso_opts_default();
 *     spex_lasso_cv(ctx, X, 100, 3, y, NULL, &lo, beta, &info);
 */
#ifndef SPEX_LINALG_H
#define SPEX_LINALG_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How cross-validation turns the CV curve into one alpha. */
typedef enum spex_cv_rule {
    SPEX_CV_MIN = 0, /* the alpha with the lowest mean validation MSE */
    SPEX_CV_1SE = 1  /* the largest alpha within one standard error of it */
} spex_cv_rule;

/* What a fit reports besides beta. */
typedef struct spex_fit_info {
    double b0;         /* intercept (0 without one) */
    double alpha;      /* penalty used; with CV the chosen one; 0 for lstsq */
    double cv_mse;     /* mean weighted validation MSE at alpha; NaN without CV */
    double cv_mse_se;  /* its standard error across folds; NaN without CV */
    double cv_r2;      /* 1 - cv_mse / (weighted variance of y); NaN without CV */
    double train_r2;   /* weighted R² of the returned model on all rows */
    int64_t rank;      /* numerical rank of the centred weighted X (lstsq,
                          ridge); -1 for lasso */
    int64_t n_nonzero; /* entries of beta that are not 0 */
    int n_folds;       /* folds used (0: no cross-validation) */
    int converged;     /* lasso: 1 when the final fit met tol; else 1 */
    int64_t n_iter;    /* lasso: coordinate-descent sweeps of the final fit
                          (summed along its warm-start path); else 0 */
} spex_fit_info;

/* ---- folds ---- */

/* Assigns each of n_rows rows to one of K = min(n_folds, n_rows) folds:
 * fold[i] in 0..K-1, fold sizes differing by at most 1, from a shuffle seeded
 * by `seed` (its own stream, so it does not correlate with other uses of the
 * same seed). fold: (n_rows) caller-allocated. *n_used (may be NULL) gets K.
 * SPEX_E_INVAL when n_folds < 2 or n_rows < 2 or fold is NULL. */
SPEX_API int spex_kfold_assign(spex_ctx *ctx, int64_t n_rows, int n_folds, uint64_t seed, int *fold,
                               int *n_used);

/* ---- weighted least squares ---- */

typedef struct spex_lstsq_opts {
    int intercept; /* fit an unpenalised intercept (default 1) */
    double rcond;  /* singular values below rcond * s_max count as 0; < 0:
                      max(n_rows, n_cols) * DBL_EPSILON (default -1) */
} spex_lstsq_opts;

SPEX_API spex_lstsq_opts spex_lstsq_opts_default(void);

/* Minimises Σ w_i (y_i - b0 - x_i·beta)² by LAPACK dgelsd (SVD, divide and
 * conquer); when the centred weighted X is rank deficient, beta is the
 * minimum-norm minimiser. Fills beta (n_cols) and, when info is not NULL,
 * b0, rank and train_r2. opts NULL: defaults. */
SPEX_API int spex_lstsq(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                        const double *y, const double *w, const spex_lstsq_opts *opts, double *beta,
                        spex_fit_info *info);

/* ---- ridge ---- */

typedef struct spex_ridge_opts {
    int intercept;        /* unpenalised intercept (default 1) */
    int n_folds;          /* CV folds, >= 2 (default 5) */
    uint64_t seed;        /* fold assignment (default 0) */
    int n_alphas;         /* grid size (default 100) */
    double alpha_min;     /* log-spaced grid [alpha_min, alpha_max] */
    double alpha_max;     /*   (defaults 1e-6 and 1e6) */
    const double *alphas; /* explicit grid of n_alphas values >= 0 (borrowed);
                             NULL: the log grid (default NULL) */
    spex_cv_rule rule;    /* default SPEX_CV_MIN */
    double *cv_mse_out;   /* optional (n_alphas) output: the CV curve in grid
                             order; NULL: not returned (default NULL) */
} spex_ridge_opts;

SPEX_API spex_ridge_opts spex_ridge_opts_default(void);

/* Ridge at one alpha >= 0 (alpha = 0: minimum-norm least squares). Uses
 * opts->intercept only (opts NULL: defaults). Fills beta and *info (no CV). */
SPEX_API int spex_ridge(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                        const double *y, const double *w, double alpha, const spex_ridge_opts *opts,
                        double *beta, spex_fit_info *info);

/* Ridge with alpha chosen by K-fold CV over the grid (see the top of this
 * file), refitted on all rows. One SVD per fold plus one for the refit; each
 * alpha then costs O(n_val * rank) per fold. Fills beta and *info. */
SPEX_API int spex_ridge_cv(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                           const double *y, const double *w, const spex_ridge_opts *opts,
                           double *beta, spex_fit_info *info);

/* The same problem (no weights) solved through per-fold Gram matrices:
 * one pass over the rows (rows·n_cols² flops) and an eigendecomposition of
 * n_cols × n_cols per fold. Much faster than spex_ridge_cv for tall X with
 * well-conditioned columns (Fourier ±1 features); it squares the condition
 * number, so prefer spex_ridge_cv for ill-conditioned designs. Same options,
 * outputs and errors as spex_ridge_cv (opts->cv_mse_out is not filled). */
SPEX_API int spex_ridge_cv_gram(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                                const double *y, const spex_ridge_opts *opts, double *beta,
                                spex_fit_info *info);

/* A ridge problem factorised once (thin SVD of the centred weighted X), to
 * solve for many alphas at O(n_cols * rank) each. Copies what it needs from
 * X, y, w; *out is owned by the caller (free with spex_ridge_svd_free). */
typedef struct spex_ridge_svd spex_ridge_svd;

SPEX_API int spex_ridge_svd_new(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                                const double *y, const double *w, int intercept,
                                spex_ridge_svd **out);
/* beta (n_cols) and *b0 (may be NULL) at alpha >= 0. SPEX_E_INVAL for a
 * negative or non-finite alpha. */
SPEX_API int spex_ridge_svd_solve(const spex_ridge_svd *f, double alpha, double *beta, double *b0);
/* Numerical rank of the centred weighted X. */
SPEX_API int64_t spex_ridge_svd_rank(const spex_ridge_svd *f);
SPEX_API void spex_ridge_svd_free(spex_ridge_svd *f);

/* ---- lasso ---- */

typedef struct spex_lasso_opts {
    int intercept;        /* unpenalised intercept (default 1) */
    int n_folds;          /* CV folds, >= 2 (default 5) */
    uint64_t seed;        /* fold assignment (default 0) */
    int n_alphas;         /* path length (default 50) */
    double eps;           /* path from alpha_max down to alpha_max * eps,
                             log-spaced (default 1e-4) */
    const double *alphas; /* explicit path of n_alphas values > 0, best
                             decreasing for warm starts (borrowed); NULL: the
                             log path (default NULL) */
    double tol;           /* stop when the duality gap < tol * ‖centred y‖²
                             (weighted, / Σw) (default 1e-4) */
    int max_iter;         /* coordinate-descent sweeps per alpha (default 1000) */
    spex_cv_rule rule;    /* default SPEX_CV_MIN */
    int warm_start;       /* spex_lasso only: start from beta as passed in
                             (default 0: start from 0) */
    double *cv_mse_out;   /* optional (n_alphas) outputs: the CV curve and the */
    double *alphas_out;   /*   path it was computed on (default NULL) */
} spex_lasso_opts;

SPEX_API spex_lasso_opts spex_lasso_opts_default(void);

/* The smallest alpha at which the lasso solution is beta = 0:
 * max_j |Σ_i w_i (x_ij - xbar_j)(y_i - ybar)| / Σ w_i (no centring without
 * intercept). */
SPEX_API int spex_lasso_alpha_max(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                                  const double *y, const double *w, int intercept, double *out);

/* Lasso at one alpha >= 0 by cyclic coordinate descent (active-set sweeps,
 * duality-gap stopping rule as sklearn's). Not converging within max_iter is
 * not an error: info->converged = 0. Fills beta and *info (no CV). */
SPEX_API int spex_lasso(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                        const double *y, const double *w, double alpha, const spex_lasso_opts *opts,
                        double *beta, spex_fit_info *info);

/* Lasso with alpha chosen by K-fold CV along the path (warm starts; the path
 * is computed once on all rows, as sklearn's LassoCV), refitted on all rows
 * along the path down to the chosen alpha. When alpha_max is 0 (constant y,
 * no columns, no correlation at all) beta = 0, alpha = 0 and no CV is run. */
SPEX_API int spex_lasso_cv(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                           const double *y, const double *w, const spex_lasso_opts *opts,
                           double *beta, spex_fit_info *info);

/* ---- BLAS threads ---- */

/* Sets the number of threads OpenBLAS uses for every BLAS/LAPACK call from
 * now on (n >= 1; n < 1 leaves the setting unchanged). PROCESS-WIDE, unlike
 * every other spex setting: OpenBLAS keeps one thread count for the whole
 * process, shared by every spex_ctx and by any other user of OpenBLAS in it,
 * so call it once at start-up, before other threads use BLAS. Small refits
 * (a few hundred columns) run fastest on 1 thread. */
SPEX_API void spex_linalg_set_blas_threads(int n);

#ifdef __cplusplus
}
#endif
#endif
