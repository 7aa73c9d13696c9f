/*
 * spex/topk.h - the most influential features: the k features whose joint
 * removal (or keeping) changes the surrogate's value most, found exactly by
 * branch and bound over the surrogate's sparse Möbius form (DESIGN.md §3,
 * "top-k removal").
 *
 * Changes, for a set R of k features and Möbius coefficients a(S):
 *   remove:  f(1 - 1_R) - f(1)  = -Σ_{S ∩ R ≠ ∅} a(S)   (ablate R from the full input)
 *   keep:    f(1_R) - f(0)      =  Σ_{∅ ≠ S ⊆ R} a(S)    (keep only R)
 *
 * Example:
 *     spex_coefs *mob;
 *     spex_fourier_to_mobius(result->fourier, &mob);
 *     spex_topk_opts to = spex_topk_opts_default();
 *     int32_t set[5]; double change; int optimal;
 *     spex_topk_search(mob, 5, &to, set, &change, &optimal);
 *     spex_coefs_free(mob);
 */
#ifndef SPEX_TOPK_H
#define SPEX_TOPK_H

#include "spex/coefs.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spex_topk_direction {
    SPEX_TOPK_REMOVE = 0, /* ablate k features from the full input */
    SPEX_TOPK_KEEP = 1    /* keep only k features */
} spex_topk_direction;

typedef struct spex_topk_opts {
    spex_topk_direction direction; /* default SPEX_TOPK_REMOVE */
    int sign;                      /* 0: largest |change| (default); +1: largest increase;
                                      -1: largest decrease */
    int64_t max_nodes;             /* branch-and-bound nodes per sign before the search
                                      stops with the best set so far (*optimal = 0);
                                      default 100,000,000 */
} spex_topk_opts;

SPEX_API spex_topk_opts spex_topk_opts_default(void);

/* The change (see the top of this file) of the set idx[0..k) (any order,
 * distinct, in 0..n-1). SPEX_E_RANGE / SPEX_E_INVAL for a bad set. */
SPEX_API int spex_topk_change(const spex_coefs *mobius, spex_topk_direction dir, const int32_t *idx,
                              int k, double *change);

/* The k features (1 <= k <= n) whose change is largest under opts->sign,
 * written to set[0..k) in increasing order, its change to *change, and
 * *optimal = 1 when the search proved it optimal (0 when max_nodes ran out).
 * Features absent from every Möbius term change nothing and pad the set when
 * that is best. Cost: exponential in the worst case, pruned by bounds;
 * seconds for hundreds of terms and k <= 10. SPEX_E_RANGE for k outside
 * 1..n, SPEX_E_NOMEM. opts NULL: defaults. */
SPEX_API int spex_topk_search(const spex_coefs *mobius, int k, const spex_topk_opts *opts,
                              int32_t *set, double *change, int *optimal);

#ifdef __cplusplus
}
#endif
#endif
