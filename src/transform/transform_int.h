/* Internals of src/transform shared between its files (not public API). */
#ifndef SPEX_TRANSFORM_INT_H
#define SPEX_TRANSFORM_INT_H

#include "spex/transform.h"

/* Most subsets a sparse conversion or an index computation may enumerate
 * (Σ 2^{|S|}, Σ C(|S|, <= K)); past it they fail with SPEX_E_RANGE instead of
 * exhausting memory. */
#define SPEX_TF_MAX_TERMS ((double)(1 << 27))

/* Collects a dense table x over all 2^n masks (bit j = feature j) into a new
 * map: entries with |x| > tol, and the empty set when keep_empty. */
int spexi_tf_dense_collect(spex_ctx *ctx, const double *x, int n, double tol, int keep_empty,
                           spex_coefs **out);

/* 1 when the dense conversion of `in` (n <= SPEX_EXACT_MAX_N, cost n 2^n) is
 * cheaper than the sparse spread; *sparse_work = Σ 2^{|S|}, *max_s = max |S|
 * (either may be NULL). */
int spexi_tf_dense_cheaper(const spex_coefs *in, double *sparse_work, int *max_s);
/* Adds the Möbius (to_mobius = 1) or Fourier (0) transform of the map `in`
 * (the other basis) into the zeroed table x, (2^n) indexed by mask. */
void spexi_tf_convert_dense(const spex_coefs *in, int to_mobius, double *x);

/* Binomial coefficient C(n, k) as a double (0 when k < 0 or k > n). */
double spexi_tf_binom(double n, int k);

#endif
