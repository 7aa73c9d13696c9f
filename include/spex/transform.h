/*
 * spex/transform.h - Walsh–Hadamard transform, exact Fourier and Möbius
 * transforms, Fourier<->Möbius conversion, interaction indices.
 *
 * Conventions (DESIGN.md §2 and its appendix):
 *   Fourier:  f(m) = Σ_k F(k) (-1)^{<m,k>},  so F(k) = 2^-n Σ_m f(m)(-1)^{<m,k>}
 *   Möbius:   f(m) = Σ_{S ⊆ m} a(S)
 *   a(S) = (-2)^{|S|} Σ_{k ⊇ S} F(k);   F(k) = (-1)^{|k|} Σ_{S ⊇ k} a(S) / 2^{|S|}
 * Dense value tables over all 2^n masks are indexed by the integer whose bit j
 * is feature j (bit set = feature kept).
 *
 * Example:
 *     double v[1 << 3];                      // f at all 8 masks of n = 3
 *     spex_coefs *F, *sv;
 *     spex_exact_fourier(ctx, v, 3, 0.0, &F);
 *     spex_interactions(F, SPEX_INDEX_SV, 1, &sv);
 */
#ifndef SPEX_TRANSFORM_H
#define SPEX_TRANSFORM_H

#include "spex/coefs.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPEX_EXACT_MAX_N 20

/* In-place unnormalised fast Walsh–Hadamard transform of length 2^log2_len:
 * x[k] <- Σ_m x[m] (-1)^{popcount(m & k)}. O(N log N). */
SPEX_API void spex_wht(double *x, int log2_len);

/* Exact Fourier coefficients from f at all 2^n masks (1 <= n <= 20); keeps
 * coefficients with |F| > tol (the empty set always). *out owned by caller. */
SPEX_API int spex_exact_fourier(spex_ctx *ctx, const double *values, int n, double tol,
                                spex_coefs **out);
/* Exact Möbius coefficients a(S) = Σ_{L ⊆ S} (-1)^{|S|-|L|} f(L), same layout. */
SPEX_API int spex_exact_mobius(spex_ctx *ctx, const double *values, int n, double tol,
                               spex_coefs **out);

/* Sparse conversions (exact; cost Σ over entries of 2^{|S|}). Entries whose
 * result is exactly 0 are dropped. *out owned by caller. */
SPEX_API int spex_fourier_to_mobius(const spex_coefs *fourier, spex_coefs **out);
SPEX_API int spex_mobius_to_fourier(const spex_coefs *mobius, spex_coefs **out);

typedef enum spex_index {
    SPEX_INDEX_FOURIER = 0,
    SPEX_INDEX_MOBIUS,
    SPEX_INDEX_SV,   /* Shapley value (order 1) */
    SPEX_INDEX_BV,   /* Banzhaf value (order 1) */
    SPEX_INDEX_SII,  /* Shapley interaction index */
    SPEX_INDEX_BII,  /* Banzhaf interaction index */
    SPEX_INDEX_KSII, /* k-Shapley interaction values */
    SPEX_INDEX_STII, /* Shapley–Taylor */
    SPEX_INDEX_FSII, /* Faithful Shapley */
    SPEX_INDEX_FBII  /* Faithful Banzhaf */
} spex_index;

/* Parses "fourier", "mobius", "sv", "bv", "sii", "bii", "ksii", "stii",
 * "fsii", "fbii"; SPEX_E_INVAL (message lists the valid names) otherwise. */
SPEX_API int spex_index_parse(spex_ctx *ctx, const char *name, spex_index *out);
SPEX_API const char *spex_index_name(spex_index idx);

/* The interaction index `idx` of the function whose Fourier representation is
 * `fourier`, for all subsets 1 <= |T| <= max_order (SV and BV: order 1), plus
 * the empty set where the index defines it (DESIGN.md appendix). Exact for any
 * n; cost grows with Σ_S C(|S|, <= max_order) over the Möbius support. Values
 * exactly 0 are omitted; entries are sorted by size, then lexicographically.
 * *out owned by the caller. The empty set holds v(∅) for SV, BV, SII, BII,
 * k-SII, STII and FSII; the least-squares intercept for FBII; a(∅) = v(∅) for
 * Möbius and F(∅) (the mean of f) for Fourier. A max_order above n acts as n.
 * SPEX_E_RANGE when max_order < 1 or the enumeration would be too large,
 * SPEX_E_INVAL for an unknown idx, SPEX_E_NOMEM. */
SPEX_API int spex_interactions(const spex_coefs *fourier, spex_index idx, int max_order,
                               spex_coefs **out);

#ifdef __cplusplus
}
#endif
#endif
