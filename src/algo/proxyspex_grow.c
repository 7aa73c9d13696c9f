/*
 * Hierarchy-guided growth of a ProxySPEX surrogate (after truncation and the
 * ridge refit, before the shared noise-level refit).
 *
 * Why: the trees find the large, low-order terms of a hierarchical function
 * but miss its high-order ones, whose Fourier coefficients are small
 * (F(T) carries 2^-|S| of each Möbius term a_S, S ⊇ T): on the planted
 * hierarchical n = 128 game at 5,000 masks they found 83% of the support,
 * missing mostly the order-4 and order-5 subsets of the planted roots. The
 * same hierarchy that makes trees work says where to look next: a term
 * whose subsets carry weight is a likely term itself.
 *
 * HOW IT WORKS, each round:
 *   1. residuals r = y - surrogate on the samples; stop when they vanish
 *      (an exact fit) or no round is left;
 *   2. candidates, not yet in the support: every set with one element
 *      fewer than a support term (downward closure), and the union of two
 *      support terms of the same order k-1 that differ in one element
 *      (an Apriori join), up to max_order; joins use the 200 largest terms
 *      of each order so the candidate count stays bounded;
 *   3. each candidate T is scored by its correlation with the residuals,
 *      c_T = mean_i r_i (-1)^{<m_i,T>}, which estimates the residual's
 *      Fourier coefficient at T with standard error sd(r)/sqrt(rows) on
 *      uniform masks; candidates with |c_T| above z standard errors
 *      (z = max(4, sqrt(2 ln #candidates)), a Bonferroni-style bar) enter,
 *      largest first, while the support stays within `cap` columns;
 *   4. two enlarged supports are refitted by cross-validated ridge: the
 *      support plus the candidates (when it has room), and the support less
 *      its terms below three standard errors plus the candidates (the trees
 *      often fill the column cap with small spurious terms); the one with
 *      the lower CV error is kept if it beats the current CV error,
 *      otherwise growth stops.
 * The caller's final refit (refit.c) then drops whatever stays below the
 * noise level.
 */
#include "algo/algo_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spex/linalg.h"
#include "spex/masks.h"

#define GROW_JOIN_TOP 200

typedef struct {
    double key;
    int64_t i;
} ranked;

static int cmp_ranked_desc(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Adds idx (sorted, len) to cand when neither F nor cand holds it. */
static int propose(spex_coefs *cand, const spex_coefs *F, const int32_t *idx, int len) {
    double v;
    if (spex_coefs_get(F, idx, len, &v) || spex_coefs_get(cand, idx, len, &v)) return SPEX_OK;
    return spex_coefs_set(cand, idx, len, 0.0);
}

/* The union of sorted a and b (same length k) when it has k + 1 elements;
 * returns its length or 0. */
static int join(const int32_t *a, const int32_t *b, int k, int32_t *out) {
    int i = 0, j = 0, o = 0;
    while (i < k || j < k) {
        int32_t v;
        if (j >= k || (i < k && a[i] < b[j]))
            v = a[i++];
        else if (i >= k || b[j] < a[i])
            v = b[j++];
        else
            v = a[i++], j++;
        if (o == k + 1) return 0;
        out[o++] = v;
    }
    return o == k + 1 ? o : 0;
}

static int candidates(spex_ctx *ctx, const spex_coefs *F, int max_order, spex_coefs *cand) {
    int64_t cnt = spex_coefs_count(F);
    ranked *rk = spex_malloc(ctx, (size_t)(cnt ? cnt : 1) * sizeof *rk);
    if (!rk) return SPEX_E_NOMEM;
    int rc = SPEX_OK;
    int32_t buf[SPEX_MAX_ORDER_GROW + 1];
    for (int64_t i = 0; !rc && i < cnt; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(F, i, &idx, &len, &v);
        rk[i].key = len ? fabs(v) : -1.0;
        rk[i].i = i;
        for (int drop = 0; !rc && len >= 2 && len <= SPEX_MAX_ORDER_GROW && drop < len; drop++) {
            int o = 0;
            for (int j = 0; j < len; j++)
                if (j != drop) buf[o++] = idx[j];
            rc = propose(cand, F, buf, o);
        }
    }
    qsort(rk, (size_t)cnt, sizeof *rk, cmp_ranked_desc);
    for (int k = 1; !rc && k < max_order && k < SPEX_MAX_ORDER_GROW; k++) {
        /* the largest GROW_JOIN_TOP terms of order k, in rank order */
        int64_t top[GROW_JOIN_TOP], nt = 0;
        for (int64_t r = 0; r < cnt && nt < GROW_JOIN_TOP; r++) {
            const int32_t *idx;
            int len;
            spex_coefs_entry(F, rk[r].i, &idx, &len, NULL);
            if (len == k && rk[r].key > 0) top[nt++] = rk[r].i;
        }
        for (int64_t a = 0; !rc && a < nt; a++)
            for (int64_t b = a + 1; !rc && b < nt; b++) {
                const int32_t *ia, *ib;
                int la, lb;
                spex_coefs_entry(F, top[a], &ia, &la, NULL);
                spex_coefs_entry(F, top[b], &ib, &lb, NULL);
                int len = join(ia, ib, k, buf);
                if (len) rc = propose(cand, F, buf, len);
            }
    }
    spex_free(ctx, rk);
    return rc;
}

/* ±1 design (rows, cols) of every non-constant entry of S, in entry order. */
static double *design(spex_ctx *ctx, const spex_masks *ms, const spex_coefs *S, int64_t cols) {
    int64_t rows = spex_masks_count(ms);
    double *X = spex_malloc(ctx, (size_t)rows * (size_t)(cols ? cols : 1) * sizeof *X);
    if (!X) return NULL;
    for (int64_t r = 0; r < rows; r++) {
        const uint64_t *row = spex_masks_crow(ms, r);
        int64_t c = 0;
        for (int64_t i = 0; i < spex_coefs_count(S); i++) {
            const int32_t *idx;
            int len;
            spex_coefs_entry(S, i, &idx, &len, NULL);
            if (len) X[r * cols + c++] = spex_bits_dot_idx(row, idx, len) ? -1.0 : 1.0;
        }
    }
    return X;
}

/* The support F less its terms with |value| <= drop_below (drop_below < 0:
 * none), plus the first candidates of sc (best first) while the support
 * stays within cap terms, refitted by CV ridge: *S (owned), its CV error and
 * the number of candidates it took. */
static int fit_variant(spex_ctx *ctx, const spex_masks *ms, const double *y, const spex_coefs *F,
                       const spex_coefs *cand, const ranked *sc, int64_t pass, double drop_below,
                       int64_t cap, uint64_t seed, spex_coefs **S, double *cv_mse, int64_t *added) {
    *S = NULL;
    int64_t rows = spex_masks_count(ms), cols = 0;
    spex_coefs *out = NULL;
    double *X = NULL, *beta = NULL;
    int rc = spex_coefs_new(ctx, spex_coefs_n(F), &out);
    for (int64_t i = 0; !rc && i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(F, i, &idx, &len, &v);
        if (len && fabs(v) > drop_below) rc = spex_coefs_set(out, idx, len, 0.0), cols++;
    }
    int64_t take = pass < cap - cols ? pass : cap - cols;
    if (take < 0) take = 0;
    for (int64_t p = 0; !rc && p < take; p++) {
        const int32_t *idx;
        int len;
        spex_coefs_entry(cand, sc[p].i, &idx, &len, NULL);
        rc = spex_coefs_set(out, idx, len, 0.0);
    }
    cols += take;
    if (rc || cols == 0) goto done;
    X = design(ctx, ms, out, cols);
    beta = spex_malloc(ctx, (size_t)cols * sizeof *beta);
    if (!X || !beta) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    spex_ridge_opts ro = spex_ridge_opts_default();
    ro.seed = seed;
    spex_fit_info fi;
    rc = spex_ridge_cv_gram(ctx, X, rows, cols, y, &ro, beta, &fi);
    if (!rc) rc = spex_coefs_set(out, NULL, 0, fi.b0);
    for (int64_t i = 0, c = 0; !rc && i < spex_coefs_count(out); i++) {
        int len;
        spex_coefs_entry(out, i, NULL, &len, NULL);
        if (len) spex_coefs_entry_set(out, i, beta[c++]);
    }
    if (!rc) {
        *S = out;
        out = NULL;
        *cv_mse = fi.cv_mse;
        *added = take;
    }
done:
    spex_free(ctx, X);
    spex_free(ctx, beta);
    spex_coefs_free(out);
    return rc;
}

/* One round: *grown (owned) gets the enlarged, refitted surrogate and
 * *cv_mse its CV error, or stays NULL when nothing enters. */
static int grow_round(spex_ctx *ctx, const spex_masks *ms, const double *y, const spex_coefs *F,
                      int max_order, int64_t cap, uint64_t seed, double var_y, spex_coefs **grown,
                      double *cv_mse, int64_t *added) {
    *grown = NULL;
    *added = 0;
    int64_t rows = spex_masks_count(ms), cnt = spex_coefs_count(F), have = 0;
    for (int64_t i = 0; i < cnt; i++) {
        int len;
        spex_coefs_entry(F, i, NULL, &len, NULL);
        have += len > 0;
    }
    double *r = spex_malloc(ctx, (size_t)rows * sizeof *r), ss = 0;
    spex_coefs *cand = NULL;
    ranked *sc = NULL;
    *cv_mse = INFINITY;
    if (!r) return SPEX_E_NOMEM;
    for (int64_t i = 0; i < rows; i++) {
        r[i] = y[i] - spex_coefs_eval_fourier(F, spex_masks_crow(ms, i));
        ss += r[i] * r[i];
    }
    ss /= (double)rows;
    int rc = SPEX_OK;
    if (ss <= 1e-12 * var_y) goto done; /* an exact fit: nothing to find */
    rc = spex_coefs_new(ctx, spex_coefs_n(F), &cand);
    if (!rc) rc = candidates(ctx, F, max_order, cand);
    if (rc) goto done;
    int64_t nc = spex_coefs_count(cand);
    if (!nc) goto done;
    sc = spex_malloc(ctx, (size_t)nc * sizeof *sc);
    if (!sc) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    double z = sqrt(2.0 * log((double)nc));
    if (z < 4.0) z = 4.0;
    double thr = z * sqrt(ss / (double)rows);
    int64_t pass = 0;
    for (int64_t c = 0; c < nc; c++) {
        const int32_t *idx;
        int len;
        spex_coefs_entry(cand, c, &idx, &len, NULL);
        double s = 0;
        for (int64_t i = 0; i < rows; i++)
            s += spex_bits_dot_idx(spex_masks_crow(ms, i), idx, len) ? -r[i] : r[i];
        s = fabs(s) / (double)rows;
        if (s > thr) sc[pass].key = s, sc[pass++].i = c;
    }
    if (!pass) goto done;
    qsort(sc, (size_t)pass, sizeof *sc, cmp_ranked_desc);
    /* Two supports are tried, and the one with the lower CV error is
     * offered: (a) the support less its terms below three standard errors
     * (room for candidates when the trees filled the cap with small
     * spurious terms), plus the candidates; (b) the whole support plus the
     * candidates, when there is room. */
    double keep_thr = 3.0 *
                      sqrt(ss * (double)rows / (double)(rows > have + 1 ? rows - have - 1 : 1)) /
                      sqrt((double)rows);
    for (int variant = 0; variant < 2 && !rc; variant++) {
        if (variant == 1 && have >= cap) break;
        spex_coefs *S = NULL;
        double mse = INFINITY;
        int64_t n_new = 0;
        rc = fit_variant(ctx, ms, y, F, cand, sc, pass, variant ? -1.0 : keep_thr, cap, seed, &S,
                         &mse, &n_new);
        if (!rc && S && mse < *cv_mse) {
            spex_coefs_free(*grown);
            *grown = S;
            *cv_mse = mse;
            *added = n_new;
        } else {
            spex_coefs_free(S);
        }
    }
done:
    if (rc) {
        spex_coefs_free(*grown);
        *grown = NULL;
    }
    spex_free(ctx, r);
    spex_free(ctx, sc);
    spex_coefs_free(cand);
    return rc;
}

int spexi_proxy_grow(spex_ctx *ctx, const spex_masks *ms, const double *y, int max_order,
                     int64_t cap, int max_rounds, uint64_t seed, double cv_mse, spex_coefs **F,
                     int64_t *added) {
    *added = 0;
    int64_t rows = spex_masks_count(ms);
    if (rows < 2 || max_order < 1) return SPEX_OK;
    if (max_order > SPEX_MAX_ORDER_GROW) max_order = SPEX_MAX_ORDER_GROW;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < rows; i++)
        mean += y[i];
    mean /= (double)rows;
    for (int64_t i = 0; i < rows; i++)
        var += (y[i] - mean) * (y[i] - mean);
    var /= (double)rows;
    for (int round = 0; round < max_rounds; round++) {
        spex_coefs *g = NULL;
        double mse = INFINITY;
        int64_t n_new = 0;
        int rc = grow_round(ctx, ms, y, *F, max_order, cap, seed, var, &g, &mse, &n_new);
        if (rc) return rc;
        if (!g) break;
        if (!(mse < cv_mse * (1.0 - 1e-6))) { /* no better out of sample: stop */
            spex_coefs_free(g);
            break;
        }
        spex_coefs_free(*F);
        *F = g;
        cv_mse = mse;
        *added += n_new;
    }
    return SPEX_OK;
}
