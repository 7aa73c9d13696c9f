/*
 * Baselines for honest comparison (DESIGN.md §3), on the same uniform random
 * masks as ProxySPEX (sampling.c):
 *   lasso       LASSO over all subsets 1 <= |S| <= D (D = the degree), on the
 *               ±1 Fourier features (-1)^{<m,S>}, penalty by 5-fold CV
 *               (spex_lasso_cv): the coefficients are the Fourier surrogate
 *               directly, and under uniform masks the columns are nearly
 *               orthogonal, which suits coordinate descent.
 *   kernelshap  Faith-Banzhaf regression: least squares on the 0/1 Möbius
 *               features Π_{i∈S} m_i of all subsets |S| <= D (the FBII of
 *               DESIGN.md's appendix with uniform weights; at D = 1 the
 *               Banzhaf values), converted to Fourier form. A marginal
 *               method: it sees interactions only up to order D.
 * Both refuse designs above SPEX_BASELINE_MAX_CELLS doubles (lower --degree).
 * An automatic degree (opts->degree = 0) is the highest, from max_order up
 * to max(SPEX_AUTO_DEGREE_MAX, max_order), whose design fits: at most
 * SPEX_BASELINE_AUTO_COLS columns (LASSO's cross-validated path costs
 * rows x columns per sweep) and, for least squares, at most half as many
 * columns as masks, so the fit stays well determined.
 */
#include "algo/algo_int.h"

#include <stdio.h>
#include <string.h>

#include "spex/linalg.h"
#include "spex/masks.h"
#include "spex/transform.h"

#define SPEX_BASELINE_MAX_CELLS ((int64_t)48 * 1000 * 1000)
#define SPEX_BASELINE_DEFAULT_BUDGET 5000
#define SPEX_BASELINE_AUTO_COLS 10000

/* Number of subsets 1 <= |S| <= K of n features, or -1 above limit. */
static int64_t count_subsets(int64_t n, int K, int64_t limit) {
    int64_t total = 0, c = 1;
    for (int d = 1; d <= K && d <= n; d++) {
        c = c * (n - d + 1) / d; /* C(n, d), exact */
        if (c > limit) return -1;
        total += c;
        if (total > limit) return -1;
    }
    return total;
}

/* All subsets 1..K in order of size then lexicographic: subs (cols, K),
 * lens (cols). */
static void enumerate(int64_t n, int K, int32_t *subs, int *lens) {
    int64_t col = 0;
    int32_t cur[64];
    for (int d = 1; d <= K && d <= n; d++) {
        for (int i = 0; i < d; i++)
            cur[i] = i;
        for (;;) {
            memcpy(subs + col * K, cur, (size_t)d * sizeof *cur);
            lens[col++] = d;
            int i = d - 1;
            while (i >= 0 && cur[i] == n - d + i)
                i--;
            if (i < 0) break;
            cur[i]++;
            for (int k = i + 1; k < d; k++)
                cur[k] = cur[k - 1] + 1;
        }
    }
}

typedef struct {
    spex_masks *ms;
    double *y, *X, *beta;
    int32_t *subs;
    int *lens;
    int64_t rows, cols;
    int K; /* the degree: subsets 1 <= |S| <= K */
} design;

static void design_free(spex_ctx *ctx, design *d) {
    spex_masks_free(d->ms);
    spex_free(ctx, d->y);
    spex_free(ctx, d->X);
    spex_free(ctx, d->beta);
    spex_free(ctx, d->subs);
    spex_free(ctx, d->lens);
}

/* The automatic degree (see the top of the file); never below the reported
 * order (as before --degree existed), so that build() reports a design that
 * does not fit. */
static int auto_degree(int64_t n, int64_t rows, int max_order, int fourier) {
    int want = max_order > SPEX_AUTO_DEGREE_MAX ? max_order : SPEX_AUTO_DEGREE_MAX;
    if (want > 63) want = 63;
    int floor = max_order < 1 ? 1 : max_order > 63 ? 63 : max_order;
    for (int K = want; K > floor; K--) {
        int64_t cols = count_subsets(n, K, SPEX_BASELINE_AUTO_COLS);
        if (cols < 0 || cols > SPEX_BASELINE_MAX_CELLS / rows) continue;
        if (!fourier && cols + 1 > rows / 2) continue;
        return K;
    }
    return floor;
}

/* Samples and queries the masks, builds the design (fourier: ±1, else 0/1). */
static int build(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                 int fourier, const char *method, design *d) {
    memset(d, 0, sizeof *d);
    int64_t count = opts->budget > 0 ? spex_query_budget_left(q) : SPEX_BASELINE_DEFAULT_BUDGET;
    int rc = spexi_uniform_masks(ctx, n, count, opts->seed, 0, &d->ms);
    if (rc) return rc;
    d->rows = spex_masks_count(d->ms);
    if (d->rows < 2)
        return spex_seterr(ctx, SPEX_E_BUDGET, "method %s needs at least 2 masks", method);
    int K = opts->degree > 0 ? opts->degree : auto_degree(n, d->rows, opts->max_order, fourier);
    d->K = K;
    d->cols = count_subsets(n, K, SPEX_BASELINE_MAX_CELLS);
    if (d->cols < 0 || d->cols > SPEX_BASELINE_MAX_CELLS / d->rows)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "method %s: all subsets of up to %d of %lld features over %lld masks "
                           "exceed %lld design cells; lower --degree or --budget",
                           method, K, (long long)n, (long long)d->rows,
                           (long long)SPEX_BASELINE_MAX_CELLS);
    d->y = spex_malloc(ctx, (size_t)d->rows * sizeof *d->y);
    d->X = spex_malloc(ctx, (size_t)d->rows * (size_t)d->cols * sizeof *d->X);
    d->beta = spex_calloc(ctx, (size_t)d->cols, sizeof *d->beta);
    d->subs = spex_malloc(ctx, (size_t)d->cols * (size_t)K * sizeof *d->subs);
    d->lens = spex_malloc(ctx, (size_t)d->cols * sizeof *d->lens);
    if (!d->y || !d->X || !d->beta || !d->subs || !d->lens) return SPEX_E_NOMEM;
    enumerate(n, K, d->subs, d->lens);
    rc = spex_query_eval(q, d->ms, d->y);
    if (rc) return rc;
    for (int64_t r = 0; r < d->rows; r++) {
        const uint64_t *row = spex_masks_crow(d->ms, r);
        for (int64_t c = 0; c < d->cols; c++) {
            const int32_t *s = d->subs + c * K;
            double v;
            if (fourier) {
                v = spex_bits_dot_idx(row, s, d->lens[c]) ? -1.0 : 1.0;
            } else {
                v = 1.0;
                for (int i = 0; i < d->lens[c] && v != 0.0; i++)
                    v = spex_bits_get(row, s[i]);
            }
            d->X[r * d->cols + c] = v;
        }
    }
    return SPEX_OK;
}

/* {∅: b0} plus every nonzero beta on its subset. */
static int to_coefs(spex_ctx *ctx, int64_t n, int K, const design *d, double b0, spex_coefs **out) {
    int rc = spex_coefs_new(ctx, n, out);
    if (!rc) rc = spex_coefs_set(*out, NULL, 0, b0);
    for (int64_t c = 0; !rc && c < d->cols; c++)
        if (d->beta[c] != 0.0) rc = spex_coefs_set(*out, d->subs + c * K, d->lens[c], d->beta[c]);
    return rc;
}

int spexi_algo_lasso(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                     spex_coefs **fourier, spex_details *details) {
    *fourier = NULL;
    design d;
    int rc = build(ctx, q, n, opts, 1, "lasso", &d);
    spex_fit_info info;
    memset(&info, 0, sizeof info);
    if (!rc) {
        spex_lasso_opts lo = spex_lasso_opts_default();
        lo.seed = opts->seed;
        rc = spex_lasso_cv(ctx, d.X, d.rows, d.cols, d.y, NULL, &lo, d.beta, &info);
    }
    if (!rc) rc = to_coefs(ctx, n, d.K, &d, info.b0, fourier);
    if (!rc && details) {
        memset(details, 0, sizeof *details);
        details->kind = SPEX_DETAILS_LASSO;
        details->u.linear.masks = d.rows;
        details->u.linear.columns = d.cols;
        details->u.linear.max_order = d.K;
        details->u.linear.alpha = info.alpha;
        details->u.linear.nonzero = info.n_nonzero;
        details->u.linear.cv_r2 = info.cv_r2;
        details->u.linear.rank = info.rank;
        details->u.linear.train_r2 = info.train_r2;
    }
    if (rc) {
        spex_coefs_free(*fourier);
        *fourier = NULL;
    }
    design_free(ctx, &d);
    return rc;
}

int spexi_algo_kernelshap(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                          spex_coefs **fourier, spex_details *details) {
    *fourier = NULL;
    design d;
    spex_coefs *mob = NULL;
    int rc = build(ctx, q, n, opts, 0, "kernelshap", &d);
    spex_fit_info info;
    memset(&info, 0, sizeof info);
    if (!rc) rc = spex_lstsq(ctx, d.X, d.rows, d.cols, d.y, NULL, NULL, d.beta, &info);
    if (!rc) rc = to_coefs(ctx, n, d.K, &d, info.b0, &mob);
    if (!rc) rc = spex_mobius_to_fourier(mob, fourier);
    if (!rc) {
        double v;
        if (!spex_coefs_get(*fourier, NULL, 0, &v)) rc = spex_coefs_set(*fourier, NULL, 0, 0.0);
    }
    if (!rc && details) {
        memset(details, 0, sizeof *details);
        details->kind = SPEX_DETAILS_KERNELSHAP;
        details->u.linear.masks = d.rows;
        details->u.linear.columns = d.cols;
        details->u.linear.max_order = d.K;
        details->u.linear.alpha = info.alpha;
        details->u.linear.nonzero = info.n_nonzero;
        details->u.linear.cv_r2 = info.cv_r2;
        details->u.linear.rank = info.rank;
        details->u.linear.train_r2 = info.train_r2;
    }
    if (rc) {
        spex_coefs_free(*fourier);
        *fourier = NULL;
    }
    spex_coefs_free(mob);
    design_free(ctx, &d);
    return rc;
}
