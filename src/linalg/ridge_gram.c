/*
 * Ridge regression with K-fold CV through Gram matrices: for tall problems
 * (many rows, few columns — SPEX and ProxySPEX refits) it costs one pass over
 * the data, rows·p², instead of one SVD of the rows per fold.
 *
 * HOW IT WORKS: per fold f accumulate G_f = Σ x xᵀ, s_f = Σ x, t_f = Σ x y,
 * n_f, Σy, Σy². Training statistics of fold f are totals minus fold f. With
 * an intercept, centre: C = G − n x̄x̄ᵀ, c = t − n x̄ȳ; eigendecompose C = VΛVᵀ
 * once per fold, and then β(α) = V (Λ+α)⁻¹ Vᵀc, b0 = ȳ − x̄·β for every α at
 * O(p²). The validation error comes from the fold's own statistics:
 *     Σ (y − b0 − xβ)² = Σy² − 2(b0 Σy + β·t_f) + b0² n_f + 2 b0 β·s_f + βᵀG_fβ.
 * Squaring the condition number is harmless for the ±1 Fourier features this
 * is used on (nearly orthogonal columns); ill-conditioned problems should use
 * spex_ridge_cv.
 */
#include "linalg/linalg_int.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

typedef struct {
    double *G, *s, *t; /* (p,p), (p), (p) */
    double n, sy, syy;
} fold_stats;

/* Training-set eigen-system: C = V diag(lam) Vᵀ (V row-major, p×p), z = Vᵀc. */
static int train_system(spex_ctx *ctx, int64_t p, const double *G, const double *s, const double *t,
                        double n, double sy, int intercept, double *V, double *lam, double *z,
                        double *xbar, double *ybar) {
    *ybar = intercept ? sy / n : 0.0;
    for (int64_t j = 0; j < p; j++)
        xbar[j] = intercept ? s[j] / n : 0.0;
    for (int64_t a = 0; a < p; a++)
        for (int64_t b = 0; b < p; b++)
            V[a * p + b] = G[a * p + b] - n * xbar[a] * xbar[b];
    double *c = z; /* c first, then overwritten by Vᵀc */
    for (int64_t a = 0; a < p; a++)
        c[a] = t[a] - n * xbar[a] * *ybar;
    if (p == 0) return SPEX_OK;
    int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int)p, V, (lapack_int)p, lam);
    if (info != 0)
        return spex_seterr(ctx, SPEX_E_NUMERIC, "ridge (Gram): LAPACK dsyevd failed (info %d)",
                           (int)info);
    double *tmp = spexi_lin_dalloc(ctx, (size_t)p, 1);
    if (!tmp) return SPEX_E_NOMEM;
    cblas_dgemv(CblasRowMajor, CblasTrans, (int)p, (int)p, 1.0, V, (int)p, c, 1, 0.0, tmp, 1);
    memcpy(z, tmp, (size_t)p * sizeof *z);
    spex_free(ctx, tmp);
    for (int64_t j = 0; j < p; j++)
        if (lam[j] < 0) lam[j] = 0; /* round-off on a PSD matrix */
    return SPEX_OK;
}

static void solve_alpha(int64_t p, const double *V, const double *lam, const double *z,
                        const double *xbar, double ybar, double alpha, double *w, double *beta,
                        double *b0) {
    for (int64_t j = 0; j < p; j++) {
        double d = lam[j] + alpha;
        w[j] = d > 0 ? z[j] / d : 0.0;
    }
    if (p)
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)p, 1.0, V, (int)p, w, 1, 0.0, beta,
                    1);
    double dot = 0;
    for (int64_t j = 0; j < p; j++)
        dot += xbar[j] * beta[j];
    *b0 = ybar - dot;
}

/* What every fold of spex_ridge_cv_gram reads: the per-fold statistics
 * (fs[K] the totals) and scratch for the training system. */
typedef struct gram_cv_data {
    spex_ctx *ctx;
    int64_t p;
    const fold_stats *fs;
    int K, intercept;
    const double *alphas;
    int na;
    double *V, *Gt, *vec; /* (p, p), (p, p), (8 p) scratch */
} gram_cv_data;

/* Fold f's validation MSE per alpha from its own statistics: the training
 * system is the totals minus fold f. */
static int gram_fold(void *user, int f, const int64_t *train, int64_t n_train, const int64_t *val,
                     int64_t n_val, double *fmse) {
    (void)train, (void)n_train, (void)val, (void)n_val;
    const gram_cv_data *cd = user;
    const int64_t p = cd->p;
    const int K = cd->K, na = cd->na;
    const fold_stats *fs = cd->fs, *v = &fs[f];
    double *V = cd->V, *Gt = cd->Gt, *vec = cd->vec;
    double *lam = vec, *z = vec + p, *xbar = vec + 2 * p, *w = vec + 3 * p, *bt = vec + 4 * p,
           *st = vec + 5 * p, *tt = vec + 6 * p, *Gb = vec + 7 * p;
    for (size_t e = 0; e < (size_t)(p * p); e++)
        Gt[e] = fs[K].G[e] - v->G[e];
    for (int64_t j = 0; j < p; j++) {
        st[j] = fs[K].s[j] - v->s[j];
        tt[j] = fs[K].t[j] - v->t[j];
    }
    double ybar;
    int rc = train_system(cd->ctx, p, Gt, st, tt, fs[K].n - v->n, fs[K].sy - v->sy, cd->intercept,
                          V, lam, z, xbar, &ybar);
    if (rc) return rc;
    for (int a = 0; a < na; a++) {
        double b0;
        solve_alpha(p, V, lam, z, xbar, ybar, cd->alphas[a], w, bt, &b0);
        double bt_t = 0, bt_s = 0, quad = 0;
        if (p)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)p, (int)p, 1.0, v->G, (int)p, bt, 1, 0.0,
                        Gb, 1);
        for (int64_t j = 0; j < p; j++) {
            bt_t += bt[j] * v->t[j];
            bt_s += bt[j] * v->s[j];
            quad += bt[j] * Gb[j];
        }
        double sse = v->syy - 2.0 * (b0 * v->sy + bt_t) + b0 * b0 * v->n + 2.0 * b0 * bt_s + quad;
        fmse[a] = (sse > 0 ? sse : 0.0) / v->n;
    }
    return SPEX_OK;
}

int spex_ridge_cv_gram(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols,
                       const double *y, const spex_ridge_opts *opts, double *beta,
                       spex_fit_info *info) {
    spex_ridge_opts o = opts ? *opts : spex_ridge_opts_default();
    int rc = spexi_lin_check(ctx, "ridge (Gram)", X, n_rows, n_cols, y, NULL);
    if (rc) return rc;
    if (n_rows < 2) return spex_seterr(ctx, SPEX_E_INVAL, "ridge (Gram): needs at least 2 rows");
    if (o.n_alphas < 1) return spex_seterr(ctx, SPEX_E_INVAL, "ridge (Gram): n_alphas < 1");
    int64_t p = n_cols;
    spexi_lin_folds fo;
    memset(&fo, 0, sizeof fo);
    rc = spexi_lin_folds_make(ctx, n_rows, o.n_folds, o.seed, &fo);
    if (rc) return rc;
    int K = fo.k, na = o.n_alphas;
    size_t pp = (size_t)(p ? p : 1) * (size_t)(p ? p : 1);
    fold_stats *fs = spex_calloc(ctx, (size_t)K + 1, sizeof *fs);
    double *alphas = spexi_lin_dalloc(ctx, (size_t)na, 1);
    double *mean = spexi_lin_dalloc(ctx, (size_t)na, 1);
    double *V = spexi_lin_dalloc(ctx, pp, 1), *Gt = spexi_lin_dalloc(ctx, pp, 1);
    double *vec = spexi_lin_dalloc(ctx, (size_t)(p ? p : 1), 8);
    double *buf = NULL;
    if (!fs || !alphas || !mean || !V || !Gt || !vec) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    double *lam = vec, *z = vec + p, *xbar = vec + 2 * p, *w = vec + 3 * p;
    for (int a = 0; a < na; a++)
        alphas[a] =
            o.alphas
                ? o.alphas[a]
                : (na == 1 ? o.alpha_min
                           : o.alpha_min * pow(o.alpha_max / o.alpha_min, (double)a / (na - 1)));
    /* per-fold statistics; fs[K] holds the totals */
    int64_t max_fold = 0;
    for (int f = 0; f < K; f++)
        if (fo.start[f + 1] - fo.start[f] > max_fold) max_fold = fo.start[f + 1] - fo.start[f];
    buf = spexi_lin_dalloc(ctx, (size_t)(max_fold ? max_fold : 1), (size_t)(p ? p : 1));
    if (!buf) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int f = 0; f <= K; f++) {
        fs[f].G = spex_calloc(ctx, pp, sizeof(double));
        fs[f].s = spex_calloc(ctx, (size_t)(p ? p : 1), sizeof(double));
        fs[f].t = spex_calloc(ctx, (size_t)(p ? p : 1), sizeof(double));
        if (!fs[f].G || !fs[f].s || !fs[f].t) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
    }
    for (int f = 0; f < K; f++) {
        int64_t m = fo.start[f + 1] - fo.start[f];
        for (int64_t i = 0; i < m; i++) {
            int64_t r = fo.rows[fo.start[f] + i];
            if (p) memcpy(buf + i * p, X + r * p, (size_t)p * sizeof *buf);
            for (int64_t j = 0; j < p; j++) {
                fs[f].s[j] += X[r * p + j];
                fs[f].t[j] += X[r * p + j] * y[r];
            }
            fs[f].n += 1;
            fs[f].sy += y[r];
            fs[f].syy += y[r] * y[r];
        }
        if (p && m)
            cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)p, (int)m, 1.0, buf, (int)p,
                        0.0, fs[f].G, (int)p);
        for (int64_t a = 0; a < p; a++) /* mirror the upper triangle */
            for (int64_t b = 0; b < a; b++)
                fs[f].G[a * p + b] = fs[f].G[b * p + a];
        for (size_t e = 0; e < (size_t)(p * p); e++)
            fs[K].G[e] += fs[f].G[e];
        for (int64_t j = 0; j < p; j++) {
            fs[K].s[j] += fs[f].s[j];
            fs[K].t[j] += fs[f].t[j];
        }
        fs[K].n += fs[f].n;
        fs[K].sy += fs[f].sy;
        fs[K].syy += fs[f].syy;
    }
    gram_cv_data cd = {ctx, p, fs, K, o.intercept, alphas, na, V, Gt, vec};
    spexi_lin_cv cv;
    rc = spexi_lin_cv_run(ctx, "ridge (Gram)", &fo, alphas, na, o.rule, gram_fold, &cd, mean, &cv);
    if (rc) goto done;
    double ybar, b0;
    rc = train_system(ctx, p, fs[K].G, fs[K].s, fs[K].t, fs[K].n, fs[K].sy, o.intercept, V, lam, z,
                      xbar, &ybar);
    if (rc) goto done;
    solve_alpha(p, V, lam, z, xbar, ybar, alphas[cv.best], w, beta, &b0);
    if (info) {
        spexi_lin_info_init(info);
        spexi_lin_cv_info(&cv, alphas, X, n_rows, p, y, NULL, beta, b0, info);
    }
done:
    if (fs)
        for (int f = 0; f <= K; f++) {
            spex_free(ctx, fs[f].G);
            spex_free(ctx, fs[f].s);
            spex_free(ctx, fs[f].t);
        }
    spex_free(ctx, fs);
    spex_free(ctx, alphas);
    spex_free(ctx, mean);
    spex_free(ctx, V);
    spex_free(ctx, Gt);
    spex_free(ctx, vec);
    spex_free(ctx, buf);
    spexi_lin_folds_free(ctx, &fo);
    return rc;
}
