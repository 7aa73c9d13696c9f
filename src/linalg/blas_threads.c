/*
 * The BLAS thread count (spex/linalg.h): a thin wrapper so that callers,
 * the CLI among them, reach OpenBLAS's process-wide setting through the
 * public API instead of including cblas.h.
 */
#include "linalg/linalg_int.h"

#include <cblas.h>

void spex_linalg_set_blas_threads(int n) {
    if (n >= 1) openblas_set_num_threads(n);
}
