/* Internals of src/algo: the per-method entry points used by explain.c. Each
 * fills *fourier (owned by the caller) with the surrogate's Fourier form. */
#ifndef SPEX_ALGO_INT_H
#define SPEX_ALGO_INT_H

#include "spex/explain.h"
#include "spex/query.h"

int spex_algo_exact(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                    spex_coefs **fourier);

/* details: a one-line account of the plan and what was found. */
int spex_algo_spex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                   spex_coefs **fourier, char *details, size_t details_size);

#endif
