/* Testing-only hooks. NOT part of the API and not installed: declared here,
 * linked from libspex.a by the tests, hidden in libspex.so. Internal names
 * carry the spexi_ prefix (STYLE.md rule 1: spex_ is the public API only). */
#ifndef SPEX_TESTING_H
#define SPEX_TESTING_H

#include <stdint.h>

#include "spex/common.h"

/* Fault injection: the n-th allocation through ctx from now on (1-based) and
 * every one after it fail with SPEX_E_NOMEM; n <= 0 turns it off. */
void spexi_ctx_fail_alloc_after(spex_ctx *ctx, int64_t n);

/* The O(N^2) definition of the Walsh-Hadamard transform, out-of-place: the
 * oracle of spex_wht's tests. x and y hold 2^log2_len values. */
void spexi_wht_ref(const double *x, double *y, int log2_len);

#endif
