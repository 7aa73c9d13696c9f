/*
 * spex/coefs.h - a sparse map from subsets S of [n] (any size) to doubles.
 *
 * Holds Fourier coefficients F(k), Möbius coefficients a(S) or any
 * interaction index (DESIGN.md §2). A subset is given as a strictly
 * increasing array of 0-based feature indices (the empty set: len 0).
 * Entries keep insertion order until sorted; iteration is by position
 * 0..count-1. Insert and lookup are O(|S|) expected (open addressing).
 *
 * Example:
 *     spex_coefs *c;
 *     spex_coefs_new(ctx, 128, &c);
 *     int32_t s[] = {4, 17};
 *     spex_coefs_add(c, s, 2, 0.8);         // F({4,17}) += 0.8
 *     double v; spex_coefs_get(c, s, 2, &v); // v == 0.8
 *     spex_coefs_free(c);
 */
#ifndef SPEX_COEFS_H
#define SPEX_COEFS_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_coefs spex_coefs;

/* A map over subsets of n features (n >= 1). *out is owned by the caller. */
SPEX_API int spex_coefs_new(spex_ctx *ctx, int64_t n, spex_coefs **out);
SPEX_API void spex_coefs_free(spex_coefs *c);
SPEX_API int64_t spex_coefs_n(const spex_coefs *c);
/* The context the map was made with (borrowed). */
SPEX_API spex_ctx *spex_coefs_ctx(const spex_coefs *c);
SPEX_API int64_t spex_coefs_count(const spex_coefs *c);
/* A deep copy. */
SPEX_API int spex_coefs_clone(const spex_coefs *c, spex_coefs **out);

/* Adds v to the value of S (inserting S with value v when absent).
 * SPEX_E_RANGE when an index is outside 0..n-1, SPEX_E_INVAL when the
 * indices are not strictly increasing (the message names the position). */
SPEX_API int spex_coefs_add(spex_coefs *c, const int32_t *idx, int len, double v);
/* Sets the value of S (inserting when absent). */
SPEX_API int spex_coefs_set(spex_coefs *c, const int32_t *idx, int len, double v);
/* 1 and *v = value when S is present, else 0 and *v = 0. */
SPEX_API int spex_coefs_get(const spex_coefs *c, const int32_t *idx, int len, double *v);
/* Entry i (0 <= i < count): its subset (borrowed, valid until the next
 * insert or sort) and value. */
SPEX_API void spex_coefs_entry(const spex_coefs *c, int64_t i, const int32_t **idx, int *len,
                               double *v);
/* Overwrites the value of entry i. */
SPEX_API void spex_coefs_entry_set(spex_coefs *c, int64_t i, double v);
/* Largest |S| among the entries (0 when empty). */
SPEX_API int spex_coefs_max_order(const spex_coefs *c);

/* Sorts entries by |value| descending; ties by size then lexicographically,
 * so the order is deterministic. */
SPEX_API void spex_coefs_sort_abs(spex_coefs *c);
/* Sorts entries by size, then lexicographically. */
SPEX_API void spex_coefs_sort_subsets(spex_coefs *c);
/* Removes entries with |value| <= tol. */
SPEX_API int spex_coefs_prune(spex_coefs *c, double tol);

/* Sorts idx[0..len) in place and checks range and repetition; returns
 * SPEX_E_RANGE / SPEX_E_INVAL with a message naming the offending index. Use
 * before spex_coefs_add on subsets from untrusted input. */
SPEX_API int spex_subset_normalize(spex_ctx *ctx, int64_t n, int32_t *idx, int len);

/* Evaluates the Fourier surrogate Σ_k F(k)(-1)^{<m,k>} at a packed mask. */
SPEX_API double spex_coefs_eval_fourier(const spex_coefs *c, const uint64_t *mask);
/* Evaluates the Möbius form Σ_{S ⊆ m} a(S) at a packed mask. */
SPEX_API double spex_coefs_eval_mobius(const spex_coefs *c, const uint64_t *mask);

#ifdef __cplusplus
}
#endif
#endif
