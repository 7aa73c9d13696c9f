/* Checks on a result against a game with known truth (DESIGN.md §3):
 * faithfulness R² on held-out masks and recovery of the Fourier support.
 * Shared by `spex eval` and the benchmarks. */
#include <math.h>

#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"

int spex_faithfulness_game(spex_ctx *ctx, const spex_game *g, const spex_coefs *fourier,
                           int64_t n_masks, uint64_t seed, double *r2) {
    int64_t n = spex_game_n(g);
    int all = n_masks <= 0;
    if (all && n > 20)
        return spex_seterr(ctx, SPEX_E_RANGE, "R² over all masks needs n <= 20 (n = %lld)",
                           (long long)n);
    if (spex_coefs_n(fourier) != n)
        return spex_seterr(ctx, SPEX_E_INVAL, "the surrogate has n = %lld features, the game %lld",
                           (long long)spex_coefs_n(fourier), (long long)n);
    if (all) n_masks = (int64_t)1 << n;
    size_t words = spex_bits_words(n);
    uint64_t *row = spex_calloc(ctx, words, sizeof *row);
    double *y = spex_malloc(ctx, (size_t)n_masks * sizeof *y);
    double *yh = spex_malloc(ctx, (size_t)n_masks * sizeof *yh);
    int rc = row && y && yh ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc) {
        spex_rng r;
        spex_rng_seed_stream(&r, seed, 0xe7a1); /* held out: a stream no method draws from */
        double mean = 0, ss_res = 0, ss_tot = 0;
        for (int64_t i = 0; i < n_masks; i++) {
            if (all) row[0] = (uint64_t)i;
            else spex_rng_bits(&r, row, words, n);
            y[i] = spex_game_value(g, row);
            yh[i] = spex_coefs_eval_fourier(fourier, row);
            mean += y[i];
        }
        mean /= (double)n_masks;
        for (int64_t i = 0; i < n_masks; i++) {
            ss_res += (y[i] - yh[i]) * (y[i] - yh[i]);
            ss_tot += (y[i] - mean) * (y[i] - mean);
        }
        /* a constant game: perfect when matched exactly, else no skill */
        *r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res <= 1e-24 ? 1.0 : 0.0);
    }
    spex_free(ctx, row);
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
