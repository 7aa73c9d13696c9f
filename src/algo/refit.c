/*
 * The final step shared by the sparse methods: a ridge refit of a chosen
 * Fourier support on every sample the query engine holds (DESIGN.md §3).
 *
 * HOW IT WORKS: columns are the ±1 features (-1)^{<m,k>} of the support; the
 * penalty comes from 5-fold CV (spex_ridge_cv_gram). Then every coefficient
 * smaller than three standard errors of a least-squares coefficient,
 * 3·σ̂/√rows with σ̂ the residual deviation, is dropped as noise and the
 * survivors are fitted again: noisy models otherwise leave every candidate
 * column with a small spurious value. ProxySPEX may ask instead for a prior
 * (column k scaled by |value_k|^(gamma/2), so its penalty is alpha
 * |value_k|^-gamma) and no pruning (spexi_refit_samples).
 */
#include "algo/algo_int.h"

#include <math.h>
#include <string.h>

#include "spex/linalg.h"
#include "spex/masks.h"

/* Column scales of the prior: (|v_k| / mean |v|)^(gamma/2), so that a ridge
 * on the scaled columns penalises beta_k by alpha |v_k|^-gamma (a Gaussian
 * prior whose variance grows with the support's value); 1 when gamma = 0. */
static void prior_scales(const spex_coefs *support, double gamma, double *w) {
    int64_t cols = spex_coefs_count(support);
    double mean = 0;
    for (int64_t c = 0; c < cols; c++) {
        double v;
        spex_coefs_entry(support, c, NULL, NULL, &v);
        w[c] = fabs(v);
        mean += w[c];
    }
    mean = cols ? mean / (double)cols : 0;
    for (int64_t c = 0; c < cols; c++)
        w[c] = gamma > 0 && mean > 0 ? pow(w[c] / mean + 1e-6, gamma / 2) : 1.0;
}

/* One ridge fit of `support` (sorted or not) on the samples, with the prior
 * of exponent gamma; beta in entry order of support, *b0 the constant,
 * *sigma the residual deviation. */
static int fit(spex_ctx *ctx, const spex_masks *ms, const double *y, const spex_coefs *support,
               double gamma, double *beta, double *b0, double *sigma) {
    int64_t rows = spex_masks_count(ms), cols = spex_coefs_count(support);
    double *X = NULL, *w = NULL;
    int rc = SPEX_OK;
    if (cols > 0) {
        X = spex_calloc(ctx, (size_t)rows, (size_t)cols * sizeof *X);
        w = spex_calloc(ctx, (size_t)cols, sizeof *w);
        if (!X || !w) {
            spex_free(ctx, X);
            spex_free(ctx, w);
            return SPEX_E_NOMEM;
        }
        prior_scales(support, gamma, w);
    }
    for (int64_t r = 0; r < rows; r++) {
        const uint64_t *row = spex_masks_crow(ms, r);
        for (int64_t c = 0; c < cols; c++) {
            const int32_t *idx;
            int len;
            spex_coefs_entry(support, c, &idx, &len, NULL);
            X[r * cols + c] = spex_bits_dot_idx(row, idx, len) ? -w[c] : w[c];
        }
    }
    spex_fit_info info;
    memset(&info, 0, sizeof info);
    if (cols > 0) {
        spex_ridge_opts ro = spex_ridge_opts_default();
        ro.n_alphas = 40;
        ro.alpha_min = 1e-8;
        ro.alpha_max = 1e4;
        rc = spex_ridge_cv_gram(ctx, X, rows, cols, y, &ro, beta, &info);
    } else {
        double mean = 0;
        for (int64_t r = 0; r < rows; r++)
            mean += y[r];
        info.b0 = rows ? mean / (double)rows : 0;
    }
    if (!rc) {
        double ss = 0;
        for (int64_t r = 0; r < rows; r++) {
            double pred = info.b0;
            for (int64_t c = 0; c < cols; c++)
                pred += X[r * cols + c] * beta[c];
            ss += (y[r] - pred) * (y[r] - pred);
        }
        int64_t dof = rows - cols - 1;
        *sigma = dof > 0 ? sqrt(ss / (double)dof) : 0.0;
        *b0 = info.b0;
        for (int64_t c = 0; c < cols; c++)
            beta[c] *= w[c];
    }
    spex_free(ctx, X);
    spex_free(ctx, w);
    return rc;
}

int spexi_refit_fourier(spex_ctx *ctx, spex_query *q, const spex_coefs *support,
                        spex_coefs **fourier) {
    return spexi_refit_samples(ctx, spex_query_masks(q), spex_query_values(q), support, 0.0, 1,
                               fourier);
}

int spexi_refit_samples(spex_ctx *ctx, const spex_masks *ms, const double *y,
                        const spex_coefs *support, double gamma, int prune, spex_coefs **fourier) {
    *fourier = NULL;
    int64_t rows = spex_masks_count(ms);
    spex_coefs *cur = NULL, *next = NULL;
    double *beta = NULL, *pbeta = NULL, b0 = 0, sigma = 0;
    int rc = spex_coefs_clone(support, &cur);
    int32_t none[1];
    double dummy;
    if (!rc && spex_coefs_get(cur, none, 0, &dummy)) {
        /* the constant is the intercept, not a column */
        rc = spex_coefs_new(ctx, spex_coefs_n(cur), &next);
        for (int64_t i = 0; !rc && i < spex_coefs_count(cur); i++) {
            const int32_t *idx;
            int len;
            double v;
            spex_coefs_entry(cur, i, &idx, &len, &v);
            if (len) rc = spex_coefs_set(next, idx, len, v);
        }
        spex_coefs_free(cur);
        cur = next;
        next = NULL;
    }
    if (rc) goto done;
    spex_coefs_sort_subsets(cur);
    int64_t cols = spex_coefs_count(cur);
    beta = spex_calloc(ctx, (size_t)(cols ? cols : 1), sizeof *beta);
    if (!beta) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    rc = fit(ctx, ms, y, cur, gamma, beta, &b0, &sigma);
    if (rc) goto done;
    double thr = rows > 0 ? 3.0 * sigma / sqrt((double)rows) : 0.0;
    int64_t keep = 0;
    for (int64_t c = 0; c < cols; c++)
        keep += fabs(beta[c]) > thr;
    if (prune && keep < cols) {
        rc = spex_coefs_new(ctx, spex_coefs_n(cur), &next);
        for (int64_t c = 0; !rc && c < cols; c++) {
            const int32_t *idx;
            int len;
            double v;
            spex_coefs_entry(cur, c, &idx, &len, &v);
            if (fabs(beta[c]) > thr) rc = spex_coefs_set(next, idx, len, v);
        }
        pbeta = rc ? NULL : spex_calloc(ctx, (size_t)(keep ? keep : 1), sizeof *pbeta);
        if (!rc && !pbeta) rc = SPEX_E_NOMEM;
        double pb0 = 0, psigma = 0;
        if (!rc) rc = fit(ctx, ms, y, next, gamma, pbeta, &pb0, &psigma);
        if (rc) goto done;
        spex_coefs_free(cur);
        cur = next;
        next = NULL;
        spex_free(ctx, beta);
        beta = pbeta;
        pbeta = NULL;
        b0 = pb0;
    }
    rc = spex_coefs_new(ctx, spex_coefs_n(cur), fourier);
    if (!rc) rc = spex_coefs_set(*fourier, NULL, 0, b0);
    for (int64_t c = 0; !rc && c < spex_coefs_count(cur); c++) {
        const int32_t *idx;
        int len;
        spex_coefs_entry(cur, c, &idx, &len, NULL);
        if (beta[c] != 0.0) rc = spex_coefs_set(*fourier, idx, len, beta[c]);
    }
done:
    if (rc) {
        spex_coefs_free(*fourier);
        *fourier = NULL;
    }
    spex_free(ctx, beta);
    spex_free(ctx, pbeta);
    spex_coefs_free(cur);
    spex_coefs_free(next);
    return rc;
}
