/*
 * spex/value.h - the one abstraction: a value function over masks (DESIGN.md §1).
 *
 * A value function evaluates a batch of masks (1 = feature kept) and writes
 * one double per mask. Backends (synthetic games, external programs, LLM,
 * re-training) all produce a spex_valuefn; algorithms only ever see this.
 *
 * Failure contract ("no answer lost"): on error the callback returns a
 * negative SPEX_E_* code, explains it with spex_seterr on its context, and
 * leaves in out[i] every answer it did obtain; masks it could not answer are
 * NaN. The query engine keeps the answered ones.
 *
 * Example (a callback of your own):
 *     static int my_eval(void *user, const spex_masks *b, double *out) {
 *         for (int64_t i = 0; i < spex_masks_count(b); i++)
 *             out[i] = (double)spex_bits_popcount(spex_masks_crow(b, i),
 *                                                spex_masks_words(b));
 *         return SPEX_OK;
 *     }
 *     spex_valuefn vf = {my_eval, NULL, NULL, 100, "popcount", NULL};
 */
#ifndef SPEX_VALUE_H
#define SPEX_VALUE_H

#include "spex/masks.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int (*spex_value_fn)(void *user, const spex_masks *batch, double *out);
/* Receives one answer of the current batch as soon as it is known: index i in the batch, value v.
 */
typedef void (*spex_answer_fn)(void *sink, int64_t i, double v);
/* Optional streaming form of eval: same contract as eval, plus calls answer(sink, i, v) for each
 * mask as it is answered (any order, each index at most once). */
typedef int (*spex_value_stream_fn)(void *user, const spex_masks *batch, double *out,
                                    spex_answer_fn answer, void *sink);

typedef struct spex_valuefn {
    spex_value_fn eval;               /* evaluates a batch; see the failure contract */
    void *user;                       /* passed to eval and destroy */
    void (*destroy)(void *user);      /* frees user (may be NULL) */
    int64_t n;                        /* number of features */
    const char *name;                 /* short description for messages; borrowed */
    spex_value_stream_fn eval_stream; /* optional (NULL): the query engine then uses eval */
} spex_valuefn;

/* Calls destroy on vf->user (when set) and clears *vf. NULL-safe. */
SPEX_API void spex_valuefn_release(spex_valuefn *vf);

#ifdef __cplusplus
}
#endif
#endif
