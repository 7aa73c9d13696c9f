/*
 * spex/query.h - the query engine: every model call goes through here.
 *
 * It evaluates masks in batches through a value function, asks each distinct
 * mask at most once per run (a memo keyed by the packed mask), counts the
 * budget of distinct new masks, checks every answer (NaN and infinities are
 * value-function failures), and reports progress through the context.
 *
 * Failure: when the value function fails, every answer it did give is kept
 * in the memo (a retry asks only the rest) and the error is returned.
 *
 * Example:
 *     spex_query *q;
 *     spex_query_opts qo = spex_query_opts_default();
 *     qo.budget = 5000;
 *     spex_query_new(ctx, &vf, &qo, &q);
 *     spex_query_eval(q, masks, values);    // values[i] = f(masks[i])
 *     printf("%lld model calls\n", (long long)spex_query_n_asked(q));
 *     spex_query_free(q);
 */
#ifndef SPEX_QUERY_H
#define SPEX_QUERY_H

#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_query spex_query;

typedef struct spex_query_opts {
    int64_t batch_size; /* masks per value-function call (default 256) */
    int64_t budget;     /* most distinct masks asked in this run; 0 = no limit */
} spex_query_opts;

SPEX_API spex_query_opts spex_query_opts_default(void);
/* vf is borrowed and must outlive q. *out owned by the caller. */
SPEX_API int spex_query_new(spex_ctx *ctx, const spex_valuefn *vf, const spex_query_opts *opts,
                            spex_query **out);
SPEX_API void spex_query_free(spex_query *q);
/* out[i] = f(mask i) for every row of masks (n must match the value
 * function's). Rows already answered in this run are not asked again.
 * SPEX_E_BUDGET (nothing asked) when the new distinct masks exceed what is
 * left of the budget. */
SPEX_API int spex_query_eval(spex_query *q, const spex_masks *masks, double *out);
/* Distinct masks sent to the value function so far (the cost). */
SPEX_API int64_t spex_query_n_asked(const spex_query *q);
/* Budget left (INT64_MAX when unlimited). */
SPEX_API int64_t spex_query_budget_left(const spex_query *q);
/* Seconds spent inside the value function. */
SPEX_API double spex_query_seconds(const spex_query *q);
/* Every distinct mask answered so far and its value, in the order asked:
 * both borrowed, valid until the next eval. Algorithms may reuse them (e.g.
 * all samples join a final refit). */
SPEX_API const spex_masks *spex_query_masks(const spex_query *q);
SPEX_API const double *spex_query_values(const spex_query *q);

#ifdef __cplusplus
}
#endif
#endif
