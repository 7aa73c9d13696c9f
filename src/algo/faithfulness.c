/* Checks on a result (DESIGN.md §3): faithfulness R² of the surrogate
 * against a value function on held-out masks, and recovery of a known
 * Fourier support. Shared by `spex eval` and the benchmarks. */
#include <math.h>

#include "spex/explain.h"
#include "spex/rng.h"

/* Masks are asked in batches of this many (the value function may be an
 * expensive model); the result does not depend on it. */
#define FAITH_BATCH 4096

int spex_faithfulness(spex_ctx *ctx, const spex_valuefn *vf, const spex_coefs *fourier,
                      int64_t n_masks, uint64_t seed, double *r2) {
    int64_t n = vf->n;
    int all = n_masks <= 0;
    if (all && n > 20)
        return spex_seterr(ctx, SPEX_E_RANGE, "R² over all masks needs n <= 20 (n = %lld)",
                           (long long)n);
    if (spex_coefs_n(fourier) != n)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "the surrogate has n = %lld features, the value function %lld",
                           (long long)spex_coefs_n(fourier), (long long)n);
    if (all) n_masks = (int64_t)1 << n;
    int64_t cap = n_masks < FAITH_BATCH ? n_masks : FAITH_BATCH;
    spex_masks *batch = NULL;
    double *y = spex_malloc(ctx, (size_t)n_masks * sizeof *y);
    double *yh = spex_malloc(ctx, (size_t)n_masks * sizeof *yh);
    int rc = y && yh ? spex_masks_new(ctx, n, cap, &batch) : SPEX_E_NOMEM;
    spex_rng r;
    spex_rng_seed_stream(&r, seed, 0xe7a1); /* held out: a stream no method draws from */
    for (int64_t i0 = 0; !rc && i0 < n_masks; i0 += cap) {
        int64_t m = n_masks - i0 < cap ? n_masks - i0 : cap;
        spex_masks_clear(batch);
        for (int64_t i = 0; !rc && i < m; i++) {
            uint64_t *row;
            rc = spex_masks_append_zero(batch, &row);
            if (rc) break;
            if (all)
                row[0] = (uint64_t)(i0 + i);
            else
                spex_rng_bits(&r, row, spex_masks_words(batch), n);
            yh[i0 + i] = spex_coefs_eval_fourier(fourier, row);
        }
        if (!rc) rc = vf->eval(vf->user, batch, y + i0);
        if (rc) spex_errprefix(ctx, "faithfulness: value function %s: ", vf->name ? vf->name : "");
    }
    if (!rc) {
        double mean = 0, ss_res = 0, ss_tot = 0;
        for (int64_t i = 0; i < n_masks; i++)
            mean += y[i];
        mean /= (double)n_masks;
        for (int64_t i = 0; i < n_masks; i++) {
            if (!isfinite(y[i])) {
                rc = spex_seterr(ctx, SPEX_E_VALUE, "faithfulness: value %lld is not finite",
                                 (long long)i);
                break;
            }
            ss_res += (y[i] - yh[i]) * (y[i] - yh[i]);
            ss_tot += (y[i] - mean) * (y[i] - mean);
        }
        /* a constant function: perfect when matched exactly, else no skill */
        if (!rc) *r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res <= 1e-24 ? 1.0 : 0.0);
    }
    spex_masks_free(batch);
    spex_free(ctx, y);
    spex_free(ctx, yh);
    return rc;
}

void spex_support_match(const spex_coefs *truth, const spex_coefs *found, double tol, int64_t *tp,
                        int64_t *n_found, int64_t *n_true) {
    *tp = *n_found = *n_true = 0;
    for (int64_t i = 0; i < spex_coefs_count(found); i++) {
        const int32_t *idx;
        int len;
        double v, w;
        spex_coefs_entry(found, i, &idx, &len, &v);
        if (!len || fabs(v) <= tol) continue;
        (*n_found)++;
        if (spex_coefs_get(truth, idx, len, &w) && fabs(w) > tol) (*tp)++;
    }
    for (int64_t i = 0; i < spex_coefs_count(truth); i++) {
        int len;
        double v;
        spex_coefs_entry(truth, i, NULL, &len, &v);
        if (len && fabs(v) > tol) (*n_true)++;
    }
}
