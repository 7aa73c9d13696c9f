/* Ridge regression with an unpenalised intercept, factorised once by a thin
 * SVD so that a whole alpha grid is cheap, and its K-fold cross-validation.
 * The ProxySPEX refit (DESIGN.md §3) chooses its alpha here.
 *
 * HOW IT WORKS
 *
 * Ridge by SVD. With weighted means xbar, ybar over the fitted rows, let
 *     A = diag(sqrt(w)) (X - 1 xbar^T)   (n, p),   b = diag(sqrt(w)) (y - ybar).
 * Minimising Σ w_i (y_i - b0 - x_i·beta)² + alpha ‖beta‖² over b0 gives
 * b0 = ybar - xbar·beta, and what is left is ‖b - A beta‖² + alpha ‖beta‖².
 * With the thin SVD A = U diag(s) V^T (k = min(n, p) singular values; LAPACK
 * dgesdd, dgesvd as fallback), its minimiser is
 *     beta(alpha) = V diag(s / (s² + alpha)) U^T b.
 * We keep V (p, r), s (r) and U^T b (r), where r is the numerical rank
 * (s_i > s_1 · max(n, p) · eps; smaller ones are exact zeros in exact
 * arithmetic and contribute nothing for alpha > 0). Each alpha then costs
 * O(p r). The thin SVD serves both shapes: when p > n it is the dual form
 * (beta lies in the row space of A, r <= n), and V takes no more memory than
 * X. alpha = 0 gives the minimum-norm least-squares solution.
 *
 * Cross-validation. Rows are split into K folds (spex_kfold_assign). For each
 * fold, one SVD of the training rows (centred with the training means); the
 * validation rows, centred with the same training means, are projected once,
 * Z = X_val V (n_val, r). For the whole grid at once the predictions are
 *     P = ybar + Z C,  C[i][a] = s_i (U^T b)_i / (s_i² + alpha_a)   (r, n_alpha),
 * one GEMM, so the grid costs O(n_val r n_alpha) per fold instead of one
 * solve per alpha. Each fold's weighted validation MSE per alpha goes into a
 * (K, n_alpha) table; spexi_lin_cv_choose averages over folds and picks alpha;
 * a last SVD on all rows gives the returned beta.
 */
#include "linalg/linalg_int.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include <cblas.h>
#include <lapacke.h>

struct spex_ridge_svd {
    spex_ctx *ctx;
    int64_t p, rank;
    double ybar;
    double *xbar; /* (p) means the fit was centred with (0 without intercept) */
    double *s;    /* (rank) singular values, descending */
    double *utb;  /* (rank) U^T b */
    double *vt;   /* (rank, p) column-major, ld rank; i.e. V row-major (p, rank) */
};

spex_ridge_opts spex_ridge_opts_default(void) {
    spex_ridge_opts o;
    memset(&o, 0, sizeof o);
    o.intercept = 1;
    o.n_folds = 5;
    o.seed = 0;
    o.n_alphas = 100;
    o.alpha_min = 1e-6;
    o.alpha_max = 1e6;
    o.alphas = NULL;
    o.rule = SPEX_CV_MIN;
    o.cv_mse_out = NULL;
    return o;
}

void spex_ridge_svd_free(spex_ridge_svd *f) {
    if (!f) return;
    spex_ctx *ctx = f->ctx;
    spex_free(ctx, f->xbar);
    spex_free(ctx, f->s);
    spex_free(ctx, f->utb);
    spex_free(ctx, f->vt);
    spex_free(ctx, f);
}

/* Thin SVD of sys->A (destroyed) into s (k), U (n, k; ld lda), VT (k, p;
 * ld k). Tries dgesdd; when it does not converge, rebuilds A through `again`
 * and uses dgesvd. */
typedef struct svd_src {
    const double *X, *y, *w;
    const int64_t *rows;
    int64_t n_sub, p;
    int intercept;
} svd_src;

static int thin_svd(spex_ctx *ctx, spexi_lin_sys *sys, const svd_src *src, double *s, double *U,
                    double *VT) {
    const lapack_int m = (lapack_int)sys->n, n = (lapack_int)sys->p;
    const lapack_int k = m < n ? m : n, lda = (lapack_int)sys->lda;
    double wq = 0, *work = NULL;
    lapack_int *iwork = spex_calloc(ctx, (size_t)k * 8, sizeof *iwork);
    int rc = SPEX_OK;
    if (!iwork) return SPEX_E_NOMEM;
    lapack_int info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, sys->A, lda, s, U, lda, VT,
                                          k, &wq, -1, iwork);
    if (info == 0) {
        size_t lwork = (size_t)wq + 1;
        work = spexi_lin_dalloc(ctx, lwork, 1);
        if (!work) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        info = LAPACKE_dgesdd_work(LAPACK_COL_MAJOR, 'S', m, n, sys->A, lda, s, U, lda, VT, k, work,
                                   (lapack_int)lwork, iwork);
    }
    if (info > 0) {
        /* dgesdd did not converge: rebuild A and try the QR-iteration SVD */
        spexi_lin_sys_free(ctx, sys);
        rc = spexi_lin_sys_build(ctx, src->X, src->p, src->y, src->w, src->rows, src->n_sub,
                                 src->intercept, 0, src->n_sub, sys);
        if (rc != SPEX_OK) goto done;
        spex_free(ctx, work);
        work = NULL;
        info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, sys->A, lda, s, U, lda, VT, k,
                                   &wq, -1);
        if (info == 0) {
            size_t lwork = (size_t)wq + 1;
            work = spexi_lin_dalloc(ctx, lwork, 1);
            if (!work) {
                rc = SPEX_E_NOMEM;
                goto done;
            }
            info = LAPACKE_dgesvd_work(LAPACK_COL_MAJOR, 'S', 'S', m, n, sys->A, lda, s, U, lda, VT,
                                       k, work, (lapack_int)lwork);
        }
        if (info != 0)
            rc = spex_seterr(ctx, SPEX_E_NUMERIC,
                             "ridge: LAPACK dgesdd and dgesvd failed (dgesvd info=%d) on a "
                             "%d x %d matrix",
                             (int)info, (int)m, (int)n);
    } else if (info < 0) {
        rc = spex_seterr(ctx, SPEX_E_NUMERIC, "ridge: LAPACK dgesdd info=%d on a %d x %d matrix",
                         (int)info, (int)m, (int)n);
    }
done:
    spex_free(ctx, work);
    spex_free(ctx, iwork);
    return rc;
}

/* Factorises the rows `rows` (NULL: 0..n_sub-1) of the problem. */
static int ridge_svd_build(spex_ctx *ctx, const double *X, int64_t p, const double *y,
                           const double *w, const int64_t *rows, int64_t n_sub, int intercept,
                           spex_ridge_svd **out) {
    *out = NULL;
    spexi_lin_sys sys;
    double *U = NULL;
    int rc = spexi_lin_sys_build(ctx, X, p, y, w, rows, n_sub, intercept, 0, n_sub, &sys);
    if (rc != SPEX_OK) return rc;
    spex_ridge_svd *f = spex_calloc(ctx, 1, sizeof *f);
    if (!f) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    f->ctx = ctx;
    f->p = p;
    f->ybar = sys.ybar;
    f->xbar = sys.xbar; /* taken over */
    sys.xbar = NULL;
    const int64_t k = n_sub < p ? n_sub : p;
    if (k > 0) {
        f->s = spexi_lin_dalloc(ctx, (size_t)k, 1);
        f->utb = spexi_lin_dalloc(ctx, (size_t)k, 1);
        f->vt = spexi_lin_dalloc(ctx, (size_t)k, (size_t)p);
        U = spexi_lin_dalloc(ctx, (size_t)sys.lda, (size_t)k);
        if (!f->s || !f->utb || !f->vt || !U) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        svd_src src = {X, y, w, rows, n_sub, p, intercept};
        rc = thin_svd(ctx, &sys, &src, f->s, U, f->vt);
        if (rc != SPEX_OK) goto done;
        /* (k) U^T b */
        cblas_dgemv(CblasColMajor, CblasTrans, (int)n_sub, (int)k, 1.0, U, (int)sys.lda, sys.b, 1,
                    0.0, f->utb, 1);
        double tol = f->s[0] * (double)(n_sub > p ? n_sub : p) * DBL_EPSILON;
        int64_t r = 0;
        while (r < k && f->s[r] > tol)
            r++;
        f->rank = r;
        /* keep the first r rows of VT: ld k -> ld r, in place (forward copy is
         * safe since i + j r <= i + j k) */
        if (r < k)
            for (int64_t j = 0; j < p; j++)
                for (int64_t i = 0; i < r; i++)
                    f->vt[(size_t)i + (size_t)j * (size_t)r] =
                        f->vt[(size_t)i + (size_t)j * (size_t)k];
    }
    rc = SPEX_OK;
done:
    spexi_lin_sys_free(ctx, &sys);
    spex_free(ctx, U);
    if (rc != SPEX_OK) {
        spex_ridge_svd_free(f);
        f = NULL;
    }
    *out = f;
    return rc;
}

int spex_ridge_svd_new(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                       const double *y, const double *w, int intercept, spex_ridge_svd **out) {
    if (!out) return spex_seterr(ctx, SPEX_E_INVAL, "ridge: out is NULL");
    *out = NULL;
    int rc = spexi_lin_check(ctx, "ridge", X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    return ridge_svd_build(ctx, X, n_cols, y, w, NULL, n_rows, intercept, out);
}

int64_t spex_ridge_svd_rank(const spex_ridge_svd *f) {
    return f ? f->rank : 0;
}

int spex_ridge_svd_solve(const spex_ridge_svd *f, double alpha, double *beta, double *b0) {
    if (!f) return SPEX_E_INVAL;
    if (!(alpha >= 0) || !isfinite(alpha))
        return spex_seterr(f->ctx, SPEX_E_INVAL, "ridge: alpha = %g, need a finite value >= 0",
                           alpha);
    const int64_t p = f->p, r = f->rank;
    if (p > 0 && !beta) return spex_seterr(f->ctx, SPEX_E_INVAL, "ridge: beta is NULL");
    for (int64_t j = 0; j < p; j++)
        beta[j] = 0;
    /* beta = V diag(s / (s² + alpha)) U^T b, in a fixed order */
    for (int64_t j = 0; j < p; j++) {
        const double *vj = f->vt + (size_t)j * (size_t)r; /* row j of V */
        double acc = 0;
        for (int64_t i = 0; i < r; i++)
            acc += vj[i] * (f->s[i] / (f->s[i] * f->s[i] + alpha)) * f->utb[i];
        beta[j] = acc;
    }
    if (b0) {
        double c = f->ybar;
        for (int64_t j = 0; j < p; j++)
            c -= f->xbar[j] * beta[j];
        *b0 = c;
    }
    return SPEX_OK;
}

int spex_ridge(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols, const double *y,
               const double *w, double alpha, const spex_ridge_opts *opts, double *beta,
               spex_fit_info *info) {
    spex_ridge_opts o = opts ? *opts : spex_ridge_opts_default();
    int rc = spexi_lin_check(ctx, "ridge", X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if (!(alpha >= 0) || !isfinite(alpha))
        return spex_seterr(ctx, SPEX_E_INVAL, "ridge: alpha = %g, need a finite value >= 0", alpha);
    if (n_cols > 0 && !beta) return spex_seterr(ctx, SPEX_E_INVAL, "ridge: beta is NULL");
    spex_ridge_svd *f;
    rc = ridge_svd_build(ctx, X, n_cols, y, w, NULL, n_rows, o.intercept, &f);
    if (rc != SPEX_OK) return rc;
    double b0 = 0;
    rc = spex_ridge_svd_solve(f, alpha, beta, &b0);
    if (rc == SPEX_OK && info) {
        spexi_lin_info_init(info);
        info->b0 = b0;
        info->alpha = alpha;
        info->rank = f->rank;
        spexi_lin_train_stats(X, n_rows, n_cols, y, w, beta, b0, info);
    }
    spex_ridge_svd_free(f);
    return rc;
}

/* What every fold of spex_ridge_cv reads. */
typedef struct ridge_cv_data {
    spex_ctx *ctx;
    const double *X;
    int64_t p;
    const double *y, *w;
    int intercept;
    const double *alphas;
    int n_alpha;
} ridge_cv_data;

/* Validation MSE of every alpha for one fold: fills fmse (n_alpha), NaN when
 * the validation rows carry no weight. */
static int ridge_fold(void *user, int fold, const int64_t *train, int64_t n_train,
                      const int64_t *val, int64_t n_val, double *fmse) {
    (void)fold;
    const ridge_cv_data *cd = user;
    spex_ctx *ctx = cd->ctx;
    const double *X = cd->X, *y = cd->y, *w = cd->w, *alphas = cd->alphas;
    const int64_t p = cd->p;
    const int intercept = cd->intercept, n_alpha = cd->n_alpha;
    spex_ridge_svd *f = NULL;
    double *Xv = NULL, *Z = NULL, *C = NULL, *P = NULL;
    int rc = ridge_svd_build(ctx, X, p, y, w, train, n_train, intercept, &f);
    if (rc != SPEX_OK) return rc;
    const int64_t r = f->rank;
    P = spex_calloc(ctx, (size_t)n_val * (size_t)n_alpha, sizeof(double)); /* (n_val, n_alpha) */
    if (!P) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (r > 0) {
        Xv = spexi_lin_dalloc(ctx, (size_t)n_val, (size_t)p);  /* (n_val, p) centred */
        Z = spexi_lin_dalloc(ctx, (size_t)n_val, (size_t)r);   /* (n_val, r) */
        C = spexi_lin_dalloc(ctx, (size_t)r, (size_t)n_alpha); /* (r, n_alpha) */
        if (!Xv || !Z || !C) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        for (int64_t i = 0; i < n_val; i++) {
            const double *xr = X + (size_t)val[i] * (size_t)p;
            double *dst = Xv + (size_t)i * (size_t)p;
            for (int64_t j = 0; j < p; j++)
                dst[j] = xr[j] - f->xbar[j];
        }
        for (int64_t i = 0; i < r; i++)
            for (int a = 0; a < n_alpha; a++)
                C[(size_t)i * (size_t)n_alpha + (size_t)a] =
                    f->s[i] / (f->s[i] * f->s[i] + alphas[a]) * f->utb[i];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_val, (int)r, (int)p, 1.0, Xv,
                    (int)p, f->vt, (int)r, 0.0, Z, (int)r);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n_val, n_alpha, (int)r, 1.0, Z,
                    (int)r, C, n_alpha, 0.0, P, n_alpha);
    }
    double wv = 0;
    for (int a = 0; a < n_alpha; a++)
        fmse[a] = 0;
    for (int64_t i = 0; i < n_val; i++) {
        double wi = w ? w[val[i]] : 1.0;
        if (wi == 0) continue;
        wv += wi;
        const double *pi = P + (size_t)i * (size_t)n_alpha;
        for (int a = 0; a < n_alpha; a++) {
            double e = y[val[i]] - (f->ybar + pi[a]);
            fmse[a] += wi * e * e;
        }
    }
    for (int a = 0; a < n_alpha; a++)
        fmse[a] = wv > 0 ? fmse[a] / wv : NAN;
    rc = SPEX_OK;
done:
    spex_ridge_svd_free(f);
    spex_free(ctx, Xv);
    spex_free(ctx, Z);
    spex_free(ctx, C);
    spex_free(ctx, P);
    return rc;
}

int spex_ridge_cv(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols, const double *y,
                  const double *w, const spex_ridge_opts *opts, double *beta, spex_fit_info *info) {
    static const char who[] = "ridge_cv";
    spex_ridge_opts o = opts ? *opts : spex_ridge_opts_default();
    int rc = spexi_lin_check(ctx, who, X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if (n_cols > 0 && !beta) return spex_seterr(ctx, SPEX_E_INVAL, "%s: beta is NULL", who);
    if (o.n_alphas < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: n_alphas = %d, need >= 1", who, o.n_alphas);
    if (!o.alphas && (!(o.alpha_min > 0) || !isfinite(o.alpha_max) || o.alpha_max < o.alpha_min))
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "%s: alpha grid [%g, %g], need 0 < alpha_min <= alpha_max < inf", who,
                           o.alpha_min, o.alpha_max);
    if (o.alphas)
        for (int a = 0; a < o.n_alphas; a++)
            if (!(o.alphas[a] >= 0) || !isfinite(o.alphas[a]))
                return spex_seterr(ctx, SPEX_E_INVAL, "%s: alphas[%d] = %g, need finite >= 0", who,
                                   a, o.alphas[a]);

    spexi_lin_folds fo;
    rc = spexi_lin_folds_make(ctx, n_rows, o.n_folds, o.seed, &fo);
    if (rc != SPEX_OK) {
        spex_errprefix(ctx, "%s", who);
        return rc;
    }
    const int n_a = o.n_alphas;
    double *grid = spexi_lin_dalloc(ctx, (size_t)n_a, 1);
    double *mean = spexi_lin_dalloc(ctx, (size_t)n_a, 1);
    spex_ridge_svd *f = NULL;
    if (!grid || !mean) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (o.alphas)
        memcpy(grid, o.alphas, (size_t)n_a * sizeof(double));
    else {
        double l0 = log(o.alpha_min), l1 = log(o.alpha_max);
        for (int a = 0; a < n_a; a++)
            grid[a] = n_a > 1 ? exp(l0 + (l1 - l0) * a / (n_a - 1)) : o.alpha_min;
        grid[n_a - 1] = n_a > 1 ? o.alpha_max : o.alpha_min;
    }
    ridge_cv_data cd = {ctx, X, n_cols, y, w, o.intercept, grid, n_a};
    spexi_lin_cv cv;
    rc = spexi_lin_cv_run(ctx, who, &fo, grid, n_a, o.rule, ridge_fold, &cd, mean, &cv);
    if (rc != SPEX_OK) goto done;
    rc = ridge_svd_build(ctx, X, n_cols, y, w, NULL, n_rows, o.intercept, &f);
    if (rc != SPEX_OK) goto done;
    double b0 = 0;
    rc = spex_ridge_svd_solve(f, grid[cv.best], beta, &b0);
    if (rc != SPEX_OK) goto done;
    if (o.cv_mse_out) memcpy(o.cv_mse_out, mean, (size_t)n_a * sizeof(double));
    if (info) {
        spexi_lin_info_init(info);
        info->rank = f->rank;
        spexi_lin_cv_info(&cv, grid, X, n_rows, n_cols, y, w, beta, b0, info);
    }
done:
    spex_ridge_svd_free(f);
    spexi_lin_folds_free(ctx, &fo);
    spex_free(ctx, grid);
    spex_free(ctx, mean);
    return rc;
}
