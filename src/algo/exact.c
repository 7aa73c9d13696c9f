/* The exact method: query all 2^n masks (n <= SPEX_EXACT_MAX_N) and take the
 * exact Fourier transform. The ground truth the other methods approximate. */
#include "algo/algo_int.h"

#include "spex/masks.h"
#include "spex/transform.h"

int spexi_algo_exact(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                     spex_coefs **fourier) {
    (void)opts;
    if (n > SPEX_EXACT_MAX_N)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "method exact needs all 2^n masks and supports n <= %d, but n = %lld; "
                           "use --method spex or --method proxyspex",
                           SPEX_EXACT_MAX_N, (long long)n);
    int64_t total = (int64_t)1 << n;
    if (spex_query_budget_left(q) < total)
        return spex_seterr(ctx, SPEX_E_BUDGET,
                           "method exact needs 2^%lld = %lld queries, more than the budget of "
                           "%lld",
                           (long long)n, (long long)total, (long long)spex_query_budget_left(q));
    spex_masks *all = NULL;
    double *vals = spex_malloc(ctx, (size_t)total * sizeof *vals);
    int rc = vals ? spex_masks_new(ctx, n, total, &all) : SPEX_E_NOMEM;
    for (int64_t m = 0; !rc && m < total; m++) {
        uint64_t *row;
        rc = spex_masks_append_zero(all, &row);
        if (!rc) row[0] = (uint64_t)m; /* bit j of m = feature j kept */
    }
    if (!rc) rc = spex_query_eval(q, all, vals);
    if (!rc) rc = spex_exact_fourier(ctx, vals, (int)n, 1e-12, fourier);
    spex_masks_free(all);
    spex_free(ctx, vals);
    return rc;
}
