/* Weighted least squares with an optional unpenalised intercept, by LAPACK
 * dgelsd on the centred, sqrt(w)-scaled system: the SPEX refit on a found
 * support and the KernelSHAP / Faith-Banzhaf regressions sit on this. */
#include "linalg/linalg_int.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include <lapacke.h>

spex_lstsq_opts spex_lstsq_opts_default(void) {
    spex_lstsq_opts o;
    o.intercept = 1;
    o.rcond = -1.0;
    return o;
}

int spex_lstsq(spex_ctx *ctx, const double *X, int64_t n_rows, int64_t n_cols, const double *y,
               const double *w, const spex_lstsq_opts *opts, double *beta, spex_fit_info *info) {
    static const char who[] = "lstsq";
    spex_lstsq_opts o = opts ? *opts : spex_lstsq_opts_default();
    int rc = spexi_lin_check(ctx, who, X, n_rows, n_cols, y, w);
    if (rc != SPEX_OK) return rc;
    if (n_cols > 0 && !beta) return spex_seterr(ctx, SPEX_E_INVAL, "%s: beta is NULL", who);
    if (isnan(o.rcond) || o.rcond == INFINITY)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: rcond = %g", who, o.rcond);

    const int64_t m = n_rows, p = n_cols;
    const int64_t ldb = m > p ? m : (p > 1 ? p : 1);
    spexi_lin_sys sys;
    double *s = NULL, *work = NULL;
    lapack_int *iwork = NULL;
    lapack_int rank = 0;
    rc = spexi_lin_sys_build(ctx, X, p, y, w, NULL, m, o.intercept, 0, ldb, &sys);
    if (rc != SPEX_OK) return rc;

    if (p > 0) {
        const int64_t k = m < p ? m : p;
        double rcond = o.rcond < 0 ? (double)(m > p ? m : p) * DBL_EPSILON : o.rcond;
        s = spexi_lin_dalloc(ctx, (size_t)k, 1);
        iwork = spex_malloc(ctx, sizeof *iwork);
        if (!s || !iwork) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        double wq = 0;
        lapack_int info_q = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)p, 1,
                                                sys.A, (lapack_int)sys.lda, sys.b, (lapack_int)ldb,
                                                s, rcond, &rank, &wq, -1, iwork);
        if (info_q != 0) {
            rc = spex_seterr(ctx, SPEX_E_NUMERIC, "%s: LAPACK dgelsd workspace query info=%d", who,
                             (int)info_q);
            goto done;
        }
        size_t lwork = (size_t)wq + 1, liwork = (size_t)(iwork[0] > 1 ? iwork[0] : 1);
        spex_free(ctx, iwork);
        iwork = spex_calloc(ctx, liwork, sizeof *iwork);
        work = spexi_lin_dalloc(ctx, lwork, 1);
        if (!work || !iwork) {
            rc = SPEX_E_NOMEM;
            goto done;
        }
        lapack_int li = LAPACKE_dgelsd_work(LAPACK_COL_MAJOR, (lapack_int)m, (lapack_int)p, 1,
                                            sys.A, (lapack_int)sys.lda, sys.b, (lapack_int)ldb, s,
                                            rcond, &rank, work, (lapack_int)lwork, iwork);
        if (li != 0) {
            rc = spex_seterr(ctx, SPEX_E_NUMERIC,
                             "%s: LAPACK dgelsd failed (info=%d: %s) on a %lld x %lld system", who,
                             (int)li, li > 0 ? "SVD did not converge" : "bad argument",
                             (long long)m, (long long)p);
            goto done;
        }
        memcpy(beta, sys.b, (size_t)p * sizeof(double));
    }
    double b0 = sys.ybar;
    for (int64_t j = 0; j < p; j++)
        b0 -= sys.xbar[j] * beta[j];
    if (info) {
        spexi_lin_info_init(info);
        info->b0 = b0;
        info->rank = rank;
        spexi_lin_train_stats(X, n_rows, p, y, w, beta, b0, info);
    }
    rc = SPEX_OK;
done:
    spexi_lin_sys_free(ctx, &sys);
    spex_free(ctx, s);
    spex_free(ctx, work);
    spex_free(ctx, iwork);
    return rc;
}
