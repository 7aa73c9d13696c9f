/* Internals of src/algo: the per-method entry points used by explain.c. Each
 * fills *fourier (owned by the caller) with the surrogate's Fourier form. */
#ifndef SPEX_ALGO_INT_H
#define SPEX_ALGO_INT_H

#include "spex/explain.h"
#include "spex/query.h"

int spex_algo_exact(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                    spex_coefs **fourier);

/* Ridge refit of the Fourier support (its values are ignored) on every
 * sample q holds, dropping coefficients below the noise level; *fourier
 * (owned) gets the constant and the surviving coefficients. */
int spex_refit_fourier(spex_ctx *ctx, spex_query *q, const spex_coefs *support,
                       spex_coefs **fourier);

/* details: a one-line account of the plan and what was found. */
int spex_algo_spex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                   spex_coefs **fourier, char *details, size_t details_size);

/* Test hook: the SPEX sampling design with explicit (b, t, C), queried
 * through q. U is (C, P+1, 2^b) aliased bins, cols (C, n) the b-bit hash
 * of each feature per group (bin of k = XOR of cols over k), delays
 * (P+1, words) packed rows with d_0 = 0. Owned: spex_sft_view_free. */
typedef struct spex_sft_view {
    int b, t, C, P;
    double *U;
    uint32_t *cols;
    uint64_t *delays;
} spex_sft_view;
int spex_sft_sample_for_test(spex_ctx *ctx, spex_query *q, int64_t n, int b, int t, int C,
                             uint64_t seed, spex_sft_view *out);
void spex_sft_view_free(spex_ctx *ctx, spex_sft_view *v);

#endif
