/* Shared plumbing of the regression layer: input checks, the centred weighted
 * column-major system the solvers work on, K-fold assignment, the CV choice
 * rule and R². Everything in src/linalg goes through here before LAPACK. */
#include "linalg/linalg_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <lapacke.h>

#include "spex/rng.h"

/* Stream id of the fold shuffle ("kfold"), so folds do not correlate with
 * other draws from the same seed. */
#define LIN_FOLD_STREAM UINT64_C(0x6b666f6c64)

int spexi_lin_check(spex_ctx *ctx, const char *who, const double *X, int64_t n_rows, int64_t n_cols,
                    const double *y, const double *w) {
    const int64_t max_dim = sizeof(lapack_int) >= 8 ? INT64_MAX : (int64_t)INT32_MAX;
    if (n_rows < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: n_rows = %lld, need >= 1", who,
                           (long long)n_rows);
    if (n_cols < 0)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: n_cols = %lld, need >= 0", who,
                           (long long)n_cols);
    if (n_rows > max_dim || n_cols > max_dim)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "%s: %lld x %lld is beyond what LAPACK can index (%lld per side)", who,
                           (long long)n_rows, (long long)n_cols, (long long)max_dim);
    if ((uint64_t)n_rows > SIZE_MAX / sizeof(double) / ((uint64_t)n_cols + 1))
        return spex_seterr(ctx, SPEX_E_NOMEM, "%s: %lld x %lld matrix overflows size_t", who,
                           (long long)n_rows, (long long)n_cols);
    if (!y) return spex_seterr(ctx, SPEX_E_INVAL, "%s: y is NULL", who);
    if (n_cols > 0 && !X)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: X is NULL with n_cols = %lld", who,
                           (long long)n_cols);
    for (int64_t i = 0; i < n_rows; i++) {
        if (!isfinite(y[i]))
            return spex_seterr(ctx, SPEX_E_NUMERIC, "%s: y has %g at row %lld", who, y[i],
                               (long long)i);
        const double *xi = X ? X + (size_t)i * (size_t)n_cols : NULL;
        for (int64_t j = 0; j < n_cols; j++)
            if (!isfinite(xi[j]))
                return spex_seterr(ctx, SPEX_E_NUMERIC, "%s: X has %g at row %lld, column %lld",
                                   who, xi[j], (long long)i, (long long)j);
    }
    if (w) {
        double ws = 0;
        for (int64_t i = 0; i < n_rows; i++) {
            if (!isfinite(w[i]))
                return spex_seterr(ctx, SPEX_E_NUMERIC, "%s: w has %g at row %lld", who, w[i],
                                   (long long)i);
            if (w[i] < 0)
                return spex_seterr(ctx, SPEX_E_RANGE, "%s: w has %g < 0 at row %lld", who, w[i],
                                   (long long)i);
            ws += w[i];
        }
        if (!(ws > 0)) return spex_seterr(ctx, SPEX_E_INVAL, "%s: all weights are 0", who);
    }
    return SPEX_OK;
}

double *spexi_lin_dalloc(spex_ctx *ctx, size_t a, size_t b) {
    if (b && a > SIZE_MAX / b / sizeof(double)) {
        spex_seterr(ctx, SPEX_E_NOMEM, "size overflow: %zu x %zu doubles", a, b);
        return NULL;
    }
    return spex_malloc(ctx, a * b * sizeof(double));
}

static int64_t row_of(const int64_t *rows, int64_t i) {
    return rows ? rows[i] : i;
}

int spexi_lin_sys_build(spex_ctx *ctx, const double *X, int64_t n_cols, const double *y,
                        const double *w, const int64_t *rows, int64_t n_sub, int intercept,
                        int normalise, int64_t b_len, spexi_lin_sys *out) {
    const size_t p = (size_t)n_cols;
    memset(out, 0, sizeof *out);
    out->n = n_sub;
    out->p = n_cols;
    out->lda = n_sub > 1 ? n_sub : 1;
    out->A = spexi_lin_dalloc(ctx, (size_t)out->lda, p);
    out->b = spexi_lin_dalloc(ctx, (size_t)(b_len > 1 ? b_len : 1), 1);
    out->xbar = spex_calloc(ctx, p ? p : 1, sizeof(double));
    if (!out->A || !out->b || !out->xbar) {
        spexi_lin_sys_free(ctx, out);
        return SPEX_E_NOMEM;
    }
    double wsum = 0, ysum = 0;
    int y_const = 1;
    double y_first = NAN;
    for (int64_t i = 0; i < n_sub; i++) {
        int64_t r = row_of(rows, i);
        double wi = w ? w[r] : 1.0;
        if (wi == 0) continue;
        wsum += wi;
        ysum += wi * y[r];
        if (isnan(y_first))
            y_first = y[r];
        else if (y[r] != y_first)
            y_const = 0;
        const double *xr = X ? X + (size_t)r * p : NULL;
        for (size_t j = 0; j < p; j++)
            out->xbar[j] += wi * xr[j];
    }
    if (!(wsum > 0)) {
        spexi_lin_sys_free(ctx, out);
        return spex_seterr(ctx, SPEX_E_INVAL, "the weights of the %lld rows fitted sum to 0",
                           (long long)n_sub);
    }
    out->wsum = wsum;
    if (intercept) {
        out->ybar = y_const ? y_first : ysum / wsum;
        for (size_t j = 0; j < p; j++)
            out->xbar[j] /= wsum;
    } else {
        out->ybar = 0;
        memset(out->xbar, 0, p * sizeof(double));
    }
    const size_t lda = (size_t)out->lda;
    for (int64_t i = 0; i < n_sub; i++) {
        int64_t r = row_of(rows, i);
        double wi = w ? w[r] : 1.0;
        double sw = sqrt(normalise ? wi / wsum : wi);
        const double *xr = X ? X + (size_t)r * p : NULL;
        for (size_t j = 0; j < p; j++)
            out->A[(size_t)i + j * lda] = sw * (xr[j] - out->xbar[j]);
        out->b[i] = sw * (y[r] - out->ybar);
    }
    for (int64_t i = n_sub; i < b_len; i++)
        out->b[i] = 0;
    return SPEX_OK;
}

void spexi_lin_sys_free(spex_ctx *ctx, spexi_lin_sys *s) {
    if (!s) return;
    spex_free(ctx, s->A);
    spex_free(ctx, s->b);
    spex_free(ctx, s->xbar);
    s->A = s->b = s->xbar = NULL;
}

int spex_kfold_assign(spex_ctx *ctx, int64_t n_rows, int n_folds, uint64_t seed, int *fold,
                      int *n_used) {
    if (n_folds < 2)
        return spex_seterr(ctx, SPEX_E_INVAL, "cross-validation: n_folds = %d, need >= 2", n_folds);
    if (n_rows < 2)
        return spex_seterr(ctx, SPEX_E_INVAL, "cross-validation: needs at least 2 rows, got %lld",
                           (long long)n_rows);
    if (!fold) return spex_seterr(ctx, SPEX_E_INVAL, "cross-validation: fold is NULL");
    int k = n_rows < n_folds ? (int)n_rows : n_folds;
    for (int64_t i = 0; i < n_rows; i++)
        fold[i] = (int)(i % k);
    /* Fisher–Yates over the labels: each fold keeps its size. */
    spex_rng r;
    spex_rng_seed_stream(&r, seed, LIN_FOLD_STREAM);
    for (int64_t i = n_rows - 1; i > 0; i--) {
        int64_t j = (int64_t)spex_rng_below(&r, (uint64_t)i + 1);
        int t = fold[i];
        fold[i] = fold[j];
        fold[j] = t;
    }
    if (n_used) *n_used = k;
    return SPEX_OK;
}

int spexi_lin_folds_make(spex_ctx *ctx, int64_t n_rows, int n_folds, uint64_t seed,
                         spexi_lin_folds *out) {
    memset(out, 0, sizeof *out);
    int k = 0;
    out->n = n_rows;
    out->fold = spex_calloc(ctx, n_rows > 0 ? (size_t)n_rows : 1, sizeof(int));
    out->rows = spex_calloc(ctx, n_rows > 0 ? (size_t)n_rows : 1, sizeof(int64_t));
    if (!out->fold || !out->rows) {
        spexi_lin_folds_free(ctx, out);
        return SPEX_E_NOMEM;
    }
    int rc = spex_kfold_assign(ctx, n_rows, n_folds, seed, out->fold, &k);
    if (rc != SPEX_OK) {
        spexi_lin_folds_free(ctx, out);
        return rc;
    }
    out->k = k;
    out->start = spex_calloc(ctx, (size_t)k + 1, sizeof(int64_t));
    if (!out->start) {
        spexi_lin_folds_free(ctx, out);
        return SPEX_E_NOMEM;
    }
    for (int64_t i = 0; i < n_rows; i++)
        out->start[out->fold[i] + 1]++;
    for (int f = 0; f < k; f++)
        out->start[f + 1] += out->start[f];
    /* counting sort: rows stay increasing within a fold */
    int64_t *pos = out->start; /* reuse: shift back afterwards */
    for (int64_t i = 0; i < n_rows; i++)
        out->rows[pos[out->fold[i]]++] = i;
    for (int f = k; f > 0; f--)
        out->start[f] = out->start[f - 1];
    out->start[0] = 0;
    return SPEX_OK;
}

int64_t spexi_lin_folds_train(const spexi_lin_folds *fo, int f, int64_t *train) {
    int64_t c = 0;
    for (int64_t i = 0; i < fo->n; i++)
        if (fo->fold[i] != f) train[c++] = i;
    return c;
}

void spexi_lin_folds_free(spex_ctx *ctx, spexi_lin_folds *fo) {
    if (!fo) return;
    spex_free(ctx, fo->fold);
    spex_free(ctx, fo->rows);
    spex_free(ctx, fo->start);
    fo->fold = NULL;
    fo->rows = fo->start = NULL;
}

int spexi_lin_cv_choose(spex_ctx *ctx, const char *who, const double *fold_mse, int k,
                        const double *alphas, int n_alpha, spex_cv_rule rule, double *mean,
                        int *best, double *best_mean, double *best_se) {
    int b = -1;
    double se_b = NAN;
    for (int a = 0; a < n_alpha; a++) {
        double s = 0, s2 = 0;
        int c = 0;
        for (int f = 0; f < k; f++) {
            double m = fold_mse[(size_t)f * (size_t)n_alpha + (size_t)a];
            if (isnan(m)) continue;
            s += m;
            c++;
        }
        if (c == 0)
            return spex_seterr(ctx, SPEX_E_NUMERIC,
                               "%s: no fold has validation rows with weight > 0", who);
        double mu = s / c;
        for (int f = 0; f < k; f++) {
            double m = fold_mse[(size_t)f * (size_t)n_alpha + (size_t)a];
            if (!isnan(m)) s2 += (m - mu) * (m - mu);
        }
        mean[a] = mu;
        double se = c > 1 ? sqrt(s2 / (c - 1)) / sqrt((double)c) : 0.0;
        /* lowest mean; ties to the larger alpha */
        if (b < 0 || mu < mean[b] || (mu == mean[b] && alphas[a] > alphas[b])) {
            b = a;
            se_b = se;
        }
    }
    if (rule == SPEX_CV_1SE) {
        double thr = mean[b] + se_b;
        int b1 = b;
        for (int a = 0; a < n_alpha; a++)
            if (mean[a] <= thr && alphas[a] > alphas[b1]) b1 = a;
        if (b1 != b) {
            /* recompute the standard error at the new choice */
            double s2 = 0;
            int c = 0;
            for (int f = 0; f < k; f++) {
                double m = fold_mse[(size_t)f * (size_t)n_alpha + (size_t)b1];
                if (isnan(m)) continue;
                s2 += (m - mean[b1]) * (m - mean[b1]);
                c++;
            }
            se_b = c > 1 ? sqrt(s2 / (c - 1)) / sqrt((double)c) : 0.0;
            b = b1;
        }
    }
    *best = b;
    *best_mean = mean[b];
    *best_se = se_b;
    return SPEX_OK;
}

void spexi_lin_wvar(const double *y, const double *w, int64_t n, double *mean, double *var) {
    double ws = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        ws += wi;
        s += wi * y[i];
    }
    double mu = s / ws, v = 0;
    for (int64_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        v += wi * (y[i] - mu) * (y[i] - mu);
    }
    *mean = mu;
    *var = v / ws;
}

double spexi_lin_r2(double mse, double var, double yscale) {
    /* y constant up to rounding: R² is 1 for a fit as exact, else 0 (sklearn) */
    double tiny = 64.0 * DBL_EPSILON * (yscale > 0 ? yscale : 1.0);
    tiny *= tiny;
    if (var <= tiny) return mse <= tiny ? 1.0 : 0.0;
    return 1.0 - mse / var;
}

void spexi_lin_train_stats(const double *X, int64_t n, int64_t p, const double *y, const double *w,
                           const double *beta, double b0, spex_fit_info *info) {
    double mu, var, sse = 0, ws = 0, ymax = 0;
    spexi_lin_wvar(y, w, n, &mu, &var);
    for (int64_t i = 0; i < n; i++) {
        const double *xi = X ? X + (size_t)i * (size_t)p : NULL;
        double pred = b0;
        for (int64_t j = 0; j < p; j++)
            pred += xi[j] * beta[j];
        double wi = w ? w[i] : 1.0;
        sse += wi * (y[i] - pred) * (y[i] - pred);
        ws += wi;
        if (fabs(y[i]) > ymax) ymax = fabs(y[i]);
    }
    info->train_r2 = spexi_lin_r2(sse / ws, var, ymax);
    int64_t nz = 0;
    for (int64_t j = 0; j < p; j++)
        nz += beta[j] != 0;
    info->n_nonzero = nz;
}

void spexi_lin_info_init(spex_fit_info *info) {
    memset(info, 0, sizeof *info);
    info->cv_mse = NAN;
    info->cv_mse_se = NAN;
    info->cv_r2 = NAN;
    info->train_r2 = NAN;
    info->rank = -1;
    info->converged = 1;
}

int spexi_lin_cv_run(spex_ctx *ctx, const char *who, const spexi_lin_folds *fo,
                     const double *alphas, int n_alpha, spex_cv_rule rule, spexi_lin_fold_fn fold,
                     void *user, double *mean, spexi_lin_cv *out) {
    const int k = fo->k;
    double *fold_mse = spexi_lin_dalloc(ctx, (size_t)k, (size_t)n_alpha); /* (k, n_alpha) */
    int64_t *train = spex_calloc(ctx, (size_t)(fo->n > 0 ? fo->n : 1), sizeof(int64_t));
    int rc = SPEX_OK;
    if (!fold_mse || !train) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int f = 0; f < k; f++) {
        double *fmse = fold_mse + (size_t)f * (size_t)n_alpha;
        int64_t n_train = spexi_lin_folds_train(fo, f, train);
        rc = fold(user, f, train, n_train, fo->rows + fo->start[f], fo->start[f + 1] - fo->start[f],
                  fmse);
        if (rc == SPEX_E_INVAL) {
            /* the training rows of this fold all have weight 0: skip it */
            for (int a = 0; a < n_alpha; a++)
                fmse[a] = NAN;
            rc = SPEX_OK;
        }
        if (rc != SPEX_OK) {
            spex_errprefix(ctx, "%s: fold %d of %d", who, f + 1, k);
            goto done;
        }
    }
    out->k = k;
    rc = spexi_lin_cv_choose(ctx, who, fold_mse, k, alphas, n_alpha, rule, mean, &out->best,
                             &out->best_mean, &out->best_se);
done:
    spex_free(ctx, fold_mse);
    spex_free(ctx, train);
    return rc;
}

void spexi_lin_cv_info(const spexi_lin_cv *cv, const double *alphas, const double *X,
                       int64_t n_rows, int64_t n_cols, const double *y, const double *w,
                       const double *beta, double b0, spex_fit_info *info) {
    double mu, var, ymax = 0;
    spexi_lin_wvar(y, w, n_rows, &mu, &var);
    for (int64_t i = 0; i < n_rows; i++)
        if (fabs(y[i]) > ymax) ymax = fabs(y[i]);
    info->b0 = b0;
    info->alpha = alphas[cv->best];
    info->cv_mse = cv->best_mean;
    info->cv_mse_se = cv->best_se;
    info->cv_r2 = spexi_lin_r2(cv->best_mean, var, ymax);
    info->n_folds = cv->k;
    spexi_lin_train_stats(X, n_rows, n_cols, y, w, beta, b0, info);
}
