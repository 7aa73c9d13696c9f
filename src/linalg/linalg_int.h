/* Internals of src/linalg shared between its files (not public API): input
 * checks, the centred weighted column-major system LAPACK works on, fold
 * bookkeeping and the CV choice rule. */
#ifndef SPEX_LINALG_INT_H
#define SPEX_LINALG_INT_H

#include "spex/linalg.h"

/* Checks the conventions of linalg.h (sizes, NULLs, finite X/y/w, w >= 0,
 * Σw > 0). `who` starts every message. */
int spexi_lin_check(spex_ctx *ctx, const char *who, const double *X, int64_t n_rows, int64_t n_cols,
                    const double *y, const double *w);

/* a*b doubles, overflow-checked, uninitialised. */
double *spexi_lin_dalloc(spex_ctx *ctx, size_t a, size_t b);

/* The system a solver works on, built from a subset of rows:
 *   A[i + k*lda] = sqrt(s_i) (X[row_i][k] - xbar_k),  b[i] = sqrt(s_i) (y_i - ybar)
 * with s_i = w_i (or w_i / wsum when normalised) and the weighted means over
 * the subset (0 without intercept). Column-major for LAPACK and for the
 * column sweeps of coordinate descent. */
typedef struct spexi_lin_sys {
    int64_t n, p; /* rows in the subset, columns */
    int64_t lda;  /* leading dimension of A: max(n, 1) */
    double *A;    /* (n, p) column-major */
    double *b;    /* (b_len) first n entries as above, the rest 0 */
    double *xbar; /* (p) weighted column means */
    double ybar;  /* weighted mean of y (exactly y when y is constant) */
    double wsum;  /* Σ w_i over the subset */
} spexi_lin_sys;

/* rows: NULL = rows 0..n_sub-1, else n_sub row indices. b_len >= n_sub (dgelsd
 * wants room for max(n, p)). SPEX_E_INVAL when the subset's weights sum to 0. */
int spexi_lin_sys_build(spex_ctx *ctx, const double *X, int64_t n_cols, const double *y,
                        const double *w, const int64_t *rows, int64_t n_sub, int intercept,
                        int normalise, int64_t b_len, spexi_lin_sys *out);
void spexi_lin_sys_free(spex_ctx *ctx, spexi_lin_sys *s);

/* K folds as row lists: fold f's rows are rows[start[f] .. start[f+1]). */
typedef struct spexi_lin_folds {
    int k;
    int64_t n;
    int *fold;      /* (n) */
    int64_t *rows;  /* (n) grouped by fold, increasing within a fold */
    int64_t *start; /* (k+1) */
} spexi_lin_folds;

int spexi_lin_folds_make(spex_ctx *ctx, int64_t n_rows, int n_folds, uint64_t seed,
                         spexi_lin_folds *out);
/* Writes the rows outside fold f into train (n entries room); returns count. */
int64_t spexi_lin_folds_train(const spexi_lin_folds *fo, int f, int64_t *train);
void spexi_lin_folds_free(spex_ctx *ctx, spexi_lin_folds *fo);

/* From the (k, n_alpha) per-fold MSEs (NaN: fold skipped) computes the mean
 * and standard error per alpha and picks one by `rule`. SPEX_E_NUMERIC when
 * no fold has validation weight. */
int spexi_lin_cv_choose(spex_ctx *ctx, const char *who, const double *fold_mse, int k,
                        const double *alphas, int n_alpha, spex_cv_rule rule, double *mean,
                        int *best, double *best_mean, double *best_se);

/* One fold of a K-fold cross-validation over an alpha grid: fit on the
 * training rows, write the validation MSE of every alpha into fmse
 * (n_alpha; NaN when the validation rows carry no weight). SPEX_E_INVAL
 * means the training rows carry no weight: the fold is skipped. */
typedef int (*spexi_lin_fold_fn)(void *user, int f, const int64_t *train, int64_t n_train,
                                 const int64_t *val, int64_t n_val, double *fmse);

/* What a cross-validation chose: alpha index `best`, its mean and standard
 * error of the validation MSE over k folds. */
typedef struct spexi_lin_cv {
    int k, best;
    double best_mean, best_se;
} spexi_lin_cv;

/* The one K-fold driver of the CV fits (LASSO path, ridge by SVD, ridge by
 * Gram matrices): runs fold() on every fold of fo, skips the folds it
 * refuses with SPEX_E_INVAL, prefixes other errors with who and the fold,
 * and chooses alpha by rule (spexi_lin_cv_choose). mean (n_alpha) gets the
 * mean validation MSE per alpha. */
int spexi_lin_cv_run(spex_ctx *ctx, const char *who, const spexi_lin_folds *fo,
                     const double *alphas, int n_alpha, spex_cv_rule rule, spexi_lin_fold_fn fold,
                     void *user, double *mean, spexi_lin_cv *out);
/* Fills info (from spexi_lin_info_init) with what every CV fit reports:
 * intercept b0, the chosen alpha, CV MSE, its standard error, CV R² (against
 * the weighted variance of y), folds, and the training R² and nonzeros of
 * (beta, b0). */
void spexi_lin_cv_info(const spexi_lin_cv *cv, const double *alphas, const double *X,
                       int64_t n_rows, int64_t n_cols, const double *y, const double *w,
                       const double *beta, double b0, spex_fit_info *info);

/* Weighted mean and variance (Σw(y-ybar)²/Σw) of y over all rows. */
void spexi_lin_wvar(const double *y, const double *w, int64_t n, double *mean, double *var);
/* R² from an MSE and the variance of y, with 0/0 read as a perfect fit. */
double spexi_lin_r2(double mse, double var, double yscale);
/* Fills info->train_r2 and info->n_nonzero for the model (beta, b0). */
void spexi_lin_train_stats(const double *X, int64_t n, int64_t p, const double *y, const double *w,
                           const double *beta, double b0, spex_fit_info *info);
/* An info with every field at its "not computed" value. */
void spexi_lin_info_init(spex_fit_info *info);

#endif
