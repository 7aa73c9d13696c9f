/* Lasso by cyclic coordinate descent with warm starts along a decreasing
 * alpha path, and its K-fold cross-validation: the LASSO baseline over all
 * subsets up to order k (DESIGN.md §3) is fitted here.
 *
 * HOW IT WORKS
 *
 * Scaling. With s_i = w_i / Σw and weighted means over the fitted rows,
 *     A = diag(sqrt(s)) (X - 1 xbar^T),  b = diag(sqrt(s)) (y - ybar),
 * the objective (1/(2Σw)) Σ w_i r_i² + alpha ‖beta‖₁ becomes
 * ½‖b - A beta‖² + alpha ‖beta‖₁ with b0 = ybar - xbar·beta. A is stored
 * column-major so each coordinate touches one contiguous column.
 *
 * Coordinate descent ("naive" residual updates). Keeping r = b - A beta,
 * coordinate j moves to the exact minimiser along it:
 *     rho = A_j·r + ‖A_j‖² beta_j,  beta_j <- S(rho, alpha) / ‖A_j‖²,
 * S the soft threshold, then r -= (beta_j_new - beta_j_old) A_j: O(n) each.
 * Sweeps alternate between all columns and, in between, only the nonzero
 * ones (the active set) until their largest move is below tol relative to
 * max |beta|. After a full sweep whose moves are that small, the duality gap
 * (sklearn's enet_coordinate_descent formula)
 *     c = min(1, alpha / ‖A^T r‖_inf),
 *     gap = ½(1 + c²)‖r‖² + alpha ‖beta‖₁ - c r·b
 * is computed, and the fit stops when gap < tol ‖b‖² (at alpha = 0, plain
 * least squares, the small moves alone stop it). Columns with zero norm
 * (constant columns after centring) stay at 0.
 *
 * Path and CV. alpha_max = ‖A^T b‖_inf is the smallest alpha with beta = 0;
 * the path runs log-spaced from alpha_max down to alpha_max * eps, computed
 * once on all rows. Each fold fits the whole path on its training rows
 * (warm starts: each alpha starts from the previous solution) and records
 * its weighted validation MSE per alpha; spexi_lin_cv_choose picks alpha; the
 * refit on all rows walks the path again down to the chosen alpha.
 */
#include "linalg/linalg_int.h"

#include <math.h>
#include <string.h>

#include <cblas.h>

spex_lasso_opts spex_lasso_opts_default(void) {
    spex_lasso_opts o;
    memset(&o, 0, sizeof o);
    o.intercept = 1;
    o.n_folds = 5;
    o.seed = 0;
    o.n_alphas = 50;
    o.eps = 1e-4;
    o.alphas = NULL;
    o.tol = 1e-4;
    o.max_iter = 1000;
    o.rule = SPEX_CV_MIN;
    o.warm_start = 0;
    o.cv_mse_out = NULL;
    o.alphas_out = NULL;
    return o;
}

/* Coordinate-descent state over one scaled system. */
typedef struct cd_state {
    const spexi_lin_sys *sys;
    double *colsq; /* (p) ‖A_j‖² */
    double *beta;  /* (p) */
    double *r;     /* (n) b - A beta */
    double *grad;  /* (p) scratch: A^T r */
    double bnorm2; /* ‖b‖² */
} cd_state;

static void cd_free(spex_ctx *ctx, cd_state *st) {
    spex_free(ctx, st->colsq);
    spex_free(ctx, st->r);
    spex_free(ctx, st->grad);
    st->colsq = st->r = st->grad = NULL;
}

/* Sets up st over sys with beta (p, caller-owned) as the starting point. */
static int cd_init(spex_ctx *ctx, const spexi_lin_sys *sys, double *beta, cd_state *st) {
    const int64_t n = sys->n, p = sys->p;
    memset(st, 0, sizeof *st);
    st->sys = sys;
    st->beta = beta;
    st->colsq = spexi_lin_dalloc(ctx, (size_t)(p > 0 ? p : 1), 1);
    st->grad = spexi_lin_dalloc(ctx, (size_t)(p > 0 ? p : 1), 1);
    st->r = spexi_lin_dalloc(ctx, (size_t)(n > 0 ? n : 1), 1);
    if (!st->colsq || !st->grad || !st->r) {
        cd_free(ctx, st);
        return SPEX_E_NOMEM;
    }
    for (int64_t j = 0; j < p; j++) {
        const double *aj = sys->A + (size_t)j * (size_t)sys->lda;
        st->colsq[j] = cblas_ddot((int)n, aj, 1, aj, 1);
    }
    memcpy(st->r, sys->b, (size_t)n * sizeof(double));
    if (p > 0)
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, (int)p, -1.0, sys->A, (int)sys->lda, beta,
                    1, 1.0, st->r, 1);
    st->bnorm2 = cblas_ddot((int)n, sys->b, 1, sys->b, 1);
    return SPEX_OK;
}

/* One sweep over all columns (active_only = 0) or the nonzero ones; returns
 * the largest coordinate move and the largest |beta_j| in *dmax, *bmax. */
static void cd_sweep(cd_state *st, double alpha, int active_only, double *dmax, double *bmax) {
    const spexi_lin_sys *sys = st->sys;
    const int n = (int)sys->n;
    double dm = 0, bm = 0;
    for (int64_t j = 0; j < sys->p; j++) {
        double bj = st->beta[j];
        if (st->colsq[j] == 0 || (active_only && bj == 0)) continue;
        const double *aj = sys->A + (size_t)j * (size_t)sys->lda;
        double rho = cblas_ddot(n, aj, 1, st->r, 1) + st->colsq[j] * bj;
        double nb = 0;
        if (rho > alpha)
            nb = (rho - alpha) / st->colsq[j];
        else if (rho < -alpha)
            nb = (rho + alpha) / st->colsq[j];
        if (nb != bj) {
            cblas_daxpy(n, bj - nb, aj, 1, st->r, 1);
            st->beta[j] = nb;
        }
        double d = fabs(nb - bj);
        if (d > dm) dm = d;
        if (fabs(nb) > bm) bm = fabs(nb);
    }
    *dmax = dm;
    *bmax = bm;
}

static double cd_gap(cd_state *st, double alpha) {
    const spexi_lin_sys *sys = st->sys;
    const int n = (int)sys->n, p = (int)sys->p;
    double dual = 0, l1 = 0;
    if (p > 0) {
        cblas_dgemv(CblasColMajor, CblasTrans, n, p, 1.0, sys->A, (int)sys->lda, st->r, 1, 0.0,
                    st->grad, 1);
        for (int j = 0; j < p; j++) {
            if (fabs(st->grad[j]) > dual) dual = fabs(st->grad[j]);
            l1 += fabs(st->beta[j]);
        }
    }
    double r2 = cblas_ddot(n, st->r, 1, st->r, 1);
    double c = dual > alpha ? alpha / dual : 1.0;
    return 0.5 * (1.0 + c * c) * r2 + alpha * l1 - c * cblas_ddot(n, st->r, 1, sys->b, 1);
}

/* Fits one alpha from the current beta. *iters gets the sweeps used. */
static void cd_solve(cd_state *st, double alpha, double tol, int max_iter, int64_t *iters,
                     int *converged) {
    const double tol_abs = tol * st->bnorm2;
    int it = 0, conv = 0;
    while (it < max_iter) {
        double dmax, bmax;
        cd_sweep(st, alpha, 0, &dmax, &bmax);
        it++;
        if (bmax == 0 || dmax / bmax < tol || it == max_iter) {
            /* alpha = 0 is least squares, whose dual point degenerates: the
             * small moves alone decide */
            if (alpha == 0 ? it < max_iter : cd_gap(st, alpha) <= tol_abs) {
                conv = 1;
                break;
            }
        }
        while (it < max_iter) {
            cd_sweep(st, alpha, 1, &dmax, &bmax);
            it++;
            if (bmax == 0 || dmax / bmax < tol) break;
        }
    }
    *iters = it;
    *converged = conv;
}

static int check_opts(spex_ctx *ctx, const char *who, const spex_lasso_opts *o, int need_grid) {
    if (!(o->tol > 0) || !isfinite(o->tol))
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: tol = %g, need > 0", who, o->tol);
    if (o->max_iter < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: max_iter = %d, need >= 1", who, o->max_iter);
    if (!need_grid) return SPEX_OK;
    if (o->n_alphas < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: n_alphas = %d, need >= 1", who, o->n_alphas);
    if (!o->alphas && (!(o->eps > 0) || !(o->eps <= 1)))
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: eps = %g, need 0 < eps <= 1", who, o->eps);
    if (o->alphas)
        for (int a = 0; a < o->n_alphas; a++)
            if (!(o->alphas[a] >= 0) || !isfinite(o->alphas[a]))
                return spex_seterr(ctx, SPEX_E_INVAL, "%s: alphas[%d] = %g, need finite >= 0", who,
                                   a, o->alphas[a]);
    return SPEX_OK;
}

static double sys_alpha_max(const spexi_lin_sys *sys) {
    double m = 0;
    for (int64_t j = 0; j < sys->p; j++) {
        const double *aj = sys->A + (size_t)j * (size_t)sys->lda;
        double g = fabs(cblas_ddot((int)sys->n, aj, 1, sys->b, 1));
        if (g > m) m = g;
    }
    return m;
}

int spex_lasso_alpha_max(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                         const double *y, const double *w, int intercept, double *out) {
    int rc = spexi_lin_check(ctx, "lasso", X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if (!out) return spex_seterr(ctx, SPEX_E_INVAL, "lasso: out is NULL");
    spexi_lin_sys sys;
    rc = spexi_lin_sys_build(ctx, X, n_cols, y, w, NULL, n_rows, intercept, 1, n_rows, &sys);
    if (rc != SPEX_OK) return rc;
    *out = sys_alpha_max(&sys);
    spexi_lin_sys_free(ctx, &sys);
    return SPEX_OK;
}

static double sys_b0(const spexi_lin_sys *sys, const double *beta) {
    double b0 = sys->ybar;
    for (int64_t j = 0; j < sys->p; j++)
        b0 -= sys->xbar[j] * beta[j];
    return b0;
}

int spex_lasso(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols, const double *y,
               const double *w, double alpha, const spex_lasso_opts *opts, double *beta,
               spex_fit_info *info) {
    static const char who[] = "lasso";
    spex_lasso_opts o = opts ? *opts : spex_lasso_opts_default();
    int rc = spexi_lin_check(ctx, who, X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if ((rc = check_opts(ctx, who, &o, 0)) != SPEX_OK) return rc;
    if (!(alpha >= 0) || !isfinite(alpha))
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: alpha = %g, need a finite value >= 0", who,
                           alpha);
    if (n_cols > 0 && !beta) return spex_seterr(ctx, SPEX_E_INVAL, "%s: beta is NULL", who);
    if (o.warm_start)
        for (int64_t j = 0; j < n_cols; j++)
            if (!isfinite(beta[j]))
                return spex_seterr(ctx, SPEX_E_NUMERIC, "%s: warm-start beta[%lld] = %g", who,
                                   (long long)j, beta[j]);
    if (!o.warm_start)
        for (int64_t j = 0; j < n_cols; j++)
            beta[j] = 0;
    spexi_lin_sys sys;
    rc = spexi_lin_sys_build(ctx, X, n_cols, y, w, NULL, n_rows, o.intercept, 1, n_rows, &sys);
    if (rc != SPEX_OK) return rc;
    cd_state st;
    rc = cd_init(ctx, &sys, beta, &st);
    if (rc != SPEX_OK) {
        spexi_lin_sys_free(ctx, &sys);
        return rc;
    }
    int64_t iters = 0;
    int conv = 1;
    cd_solve(&st, alpha, o.tol, o.max_iter, &iters, &conv);
    if (info) {
        spexi_lin_info_init(info);
        info->b0 = sys_b0(&sys, beta);
        info->alpha = alpha;
        info->n_iter = iters;
        info->converged = conv;
        spexi_lin_train_stats(X, n_rows, n_cols, y, w, beta, info->b0, info);
    }
    cd_free(ctx, &st);
    spexi_lin_sys_free(ctx, &sys);
    return SPEX_OK;
}

/* What every fold of spex_lasso_cv reads. */
typedef struct lasso_cv_data {
    spex_ctx *ctx;
    const double *X;
    int64_t p;
    const double *y, *w;
    const spex_lasso_opts *o;
    const double *grid;
    int n_a;
} lasso_cv_data;

/* Fits the path on one fold's training rows; fills fmse (n_alpha) with the
 * validation MSE per alpha (NaN when the validation rows carry no weight). */
static int lasso_fold(void *user, int f, const int64_t *train, int64_t n_train, const int64_t *val,
                      int64_t n_val, double *fmse) {
    (void)f;
    const lasso_cv_data *cd = user;
    spex_ctx *ctx = cd->ctx;
    const double *X = cd->X, *y = cd->y, *w = cd->w, *grid = cd->grid;
    const int64_t p = cd->p;
    const spex_lasso_opts *o = cd->o;
    const int n_a = cd->n_a;
    spexi_lin_sys sys;
    cd_state st;
    int64_t *nz = NULL;
    double *beta = NULL;
    int rc = spexi_lin_sys_build(ctx, X, p, y, w, train, n_train, o->intercept, 1, n_train, &sys);
    if (rc != SPEX_OK) return rc;
    memset(&st, 0, sizeof st);
    beta = spex_calloc(ctx, (size_t)(p > 0 ? p : 1), sizeof(double));
    nz = spex_calloc(ctx, (size_t)(p > 0 ? p : 1), sizeof(int64_t));
    if (!beta || !nz) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if ((rc = cd_init(ctx, &sys, beta, &st)) != SPEX_OK) goto done;
    for (int a = 0; a < n_a; a++) {
        int64_t iters;
        int conv;
        cd_solve(&st, grid[a], o->tol, o->max_iter, &iters, &conv);
        int64_t n_nz = 0;
        for (int64_t j = 0; j < p; j++)
            if (beta[j] != 0) nz[n_nz++] = j;
        double b0 = sys_b0(&sys, beta), sse = 0, wv = 0;
        for (int64_t i = 0; i < n_val; i++) {
            double wi = w ? w[val[i]] : 1.0;
            if (wi == 0) continue;
            const double *xr = X + (size_t)val[i] * (size_t)p;
            double pred = b0;
            for (int64_t q = 0; q < n_nz; q++)
                pred += xr[nz[q]] * beta[nz[q]];
            double e = y[val[i]] - pred;
            sse += wi * e * e;
            wv += wi;
        }
        fmse[a] = wv > 0 ? sse / wv : NAN;
    }
    rc = SPEX_OK;
done:
    cd_free(ctx, &st);
    spexi_lin_sys_free(ctx, &sys);
    spex_free(ctx, beta);
    spex_free(ctx, nz);
    return rc;
}

int spex_lasso_cv(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols, const double *y,
                  const double *w, const spex_lasso_opts *opts, double *beta, spex_fit_info *info) {
    static const char who[] = "lasso_cv";
    spex_lasso_opts o = opts ? *opts : spex_lasso_opts_default();
    int rc = spexi_lin_check(ctx, who, X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if ((rc = check_opts(ctx, who, &o, 1)) != SPEX_OK) return rc;
    if (n_cols > 0 && !beta) return spex_seterr(ctx, SPEX_E_INVAL, "%s: beta is NULL", who);

    const int n_a = o.n_alphas;
    spexi_lin_sys sys;
    spexi_lin_folds fo;
    cd_state st;
    double *grid = NULL, *mean = NULL;
    memset(&fo, 0, sizeof fo);
    memset(&st, 0, sizeof st);
    rc = spexi_lin_sys_build(ctx, X, n_cols, y, w, NULL, n_rows, o.intercept, 1, n_rows, &sys);
    if (rc != SPEX_OK) return rc;
    for (int64_t j = 0; j < n_cols; j++)
        beta[j] = 0;
    const double amax = sys_alpha_max(&sys);
    grid = spexi_lin_dalloc(ctx, (size_t)n_a, 1);
    if (!grid) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (!(amax > 0) && !o.alphas) {
        /* beta = 0 is the solution for every alpha >= 0: nothing to choose */
        if (o.alphas_out)
            for (int a = 0; a < n_a; a++)
                o.alphas_out[a] = 0;
        if (o.cv_mse_out)
            for (int a = 0; a < n_a; a++)
                o.cv_mse_out[a] = NAN;
        if (info) {
            spexi_lin_info_init(info);
            info->b0 = sys.ybar;
            spexi_lin_train_stats(X, n_rows, n_cols, y, w, beta, info->b0, info);
        }
        rc = SPEX_OK;
        goto done;
    }
    if (o.alphas)
        memcpy(grid, o.alphas, (size_t)n_a * sizeof(double));
    else
        for (int a = 0; a < n_a; a++)
            grid[a] = n_a > 1 ? amax * pow(o.eps, (double)a / (n_a - 1)) : amax;

    rc = spexi_lin_folds_make(ctx, n_rows, o.n_folds, o.seed, &fo);
    if (rc != SPEX_OK) {
        spex_errprefix(ctx, "%s", who);
        goto done;
    }
    mean = spexi_lin_dalloc(ctx, (size_t)n_a, 1);
    if (!mean) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    lasso_cv_data cd = {ctx, X, n_cols, y, w, &o, grid, n_a};
    spexi_lin_cv cv;
    rc = spexi_lin_cv_run(ctx, who, &fo, grid, n_a, o.rule, lasso_fold, &cd, mean, &cv);
    if (rc != SPEX_OK) goto done;
    const int best = cv.best;

    /* refit on all rows along the path down to the chosen alpha */
    if ((rc = cd_init(ctx, &sys, beta, &st)) != SPEX_OK) goto done;
    int64_t iters = 0, total = 0;
    int conv = 1;
    for (int a = 0; a <= best; a++) {
        cd_solve(&st, grid[a], o.tol, o.max_iter, &iters, &conv);
        total += iters;
    }
    if (o.alphas_out) memcpy(o.alphas_out, grid, (size_t)n_a * sizeof(double));
    if (o.cv_mse_out) memcpy(o.cv_mse_out, mean, (size_t)n_a * sizeof(double));
    if (info) {
        spexi_lin_info_init(info);
        info->n_iter = total;
        info->converged = conv;
        spexi_lin_cv_info(&cv, grid, X, n_rows, n_cols, y, w, beta, sys_b0(&sys, beta), info);
    }
    rc = SPEX_OK;
done:
    cd_free(ctx, &st);
    spexi_lin_sys_free(ctx, &sys);
    spexi_lin_folds_free(ctx, &fo);
    spex_free(ctx, grid);
    spex_free(ctx, mean);
    return rc;
}
