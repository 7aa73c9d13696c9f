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
 * Cache-first (a persistent store, e.g. spex/store.h): with opts.store set,
 * masks new to this run are first looked up in the store; only the missing
 * ones are sent to the value function, and each batch's answers are saved
 * to the store as soon as the batch returns (also from a batch that failed
 * part-way). A value function with eval_stream (spex/value.h) has its
 * answers committed while the batch runs, in groups of at most 64 or once a
 * second has passed since the last commit (checked as answers arrive), so a
 * killed process loses at most the last group; the answer sink may write to
 * the store and must be called from one thread at a time. The budget counts every distinct mask
 * used in the run, cached or new, so a cached, resumed or uninterrupted run makes the same choices.
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

/* A persistent answer store the engine consults before the value function
 * (implemented by spex/store.h; any other store fits). Both callbacks return
 * SPEX_OK or a negative SPEX_E_* explained with spex_seterr. */
typedef struct spex_query_store {
    /* For each row of masks: found[i] = 1 and values[i] = its stored
     * answer, or found[i] = 0 (values[i] untouched). */
    int (*lookup)(void *user, const spex_masks *masks, double *values, unsigned char *found);
    /* Saves (masks[i], values[i]) for every row, atomically (one
     * transaction): after SPEX_OK they survive a crash. */
    int (*save)(void *user, const spex_masks *masks, const double *values);
    void *user; /* passed to both */
} spex_query_store;

/* What the engine does when the store fails (disk full, read-only file,
 * corrupt file): */
typedef enum spex_store_policy {
    SPEX_STORE_CONTINUE = 0, /* stop using the store, go on with the value function */
    SPEX_STORE_STOP = 1      /* return the store's error (answers so far are kept) */
} spex_store_policy;

typedef struct spex_query_opts {
    int64_t batch_size;             /* masks per value-function call (default 256) */
    int64_t budget;                 /* most distinct masks used in this run; 0 = no limit */
    const spex_query_store *store;  /* borrowed; NULL = none (default) */
    spex_store_policy store_policy; /* default SPEX_STORE_CONTINUE */
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
/* Distinct masks answered so far in this run, from the value function or
 * the store (what the budget counts). */
SPEX_API int64_t spex_query_n_asked(const spex_query *q);
/* Of those, answered from the store; the rest were new value-function calls
 * (the cost): spex_query_n_asked(q) - spex_query_n_cached(q). */
SPEX_API int64_t spex_query_n_cached(const spex_query *q);
/* SPEX_OK, or the first store error met under SPEX_STORE_CONTINUE (the store
 * was then left alone for the rest of the run); its message is in msg. */
SPEX_API int spex_query_store_error(const spex_query *q, const char **msg);
/* Budget left (INT64_MAX when unlimited). */
SPEX_API int64_t spex_query_budget_left(const spex_query *q);
/* Seconds spent getting answers: inside the value function and the query
 * cache (lookups and saves), so that "solve" time is the method's own. */
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
