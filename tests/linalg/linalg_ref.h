/* Reference solvers and data for the linalg tests: plain Gaussian elimination
 * on the normal equations (the oracle the LAPACK paths are checked against)
 * and seeded random designs. Independent of src/linalg. */
#ifndef SPEX_TEST_LINALG_REF_H
#define SPEX_TEST_LINALG_REF_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "spex/rng.h"

/* Solves M x = v, M (m, m) row-major, by Gaussian elimination with partial
 * pivoting. M and v are destroyed. Returns 0, or -1 when M is singular. */
static inline int ref_gauss_solve(double *M, double *v, int m, double *x) {
    for (int c = 0; c < m; c++) {
        int piv = c;
        for (int r = c + 1; r < m; r++)
            if (fabs(M[r * m + c]) > fabs(M[piv * m + c])) piv = r;
        if (M[piv * m + c] == 0) return -1;
        if (piv != c) {
            for (int k = 0; k < m; k++) {
                double t = M[c * m + k];
                M[c * m + k] = M[piv * m + k];
                M[piv * m + k] = t;
            }
            double t = v[c];
            v[c] = v[piv];
            v[piv] = t;
        }
        for (int r = c + 1; r < m; r++) {
            double f = M[r * m + c] / M[c * m + c];
            if (f == 0) continue;
            for (int k = c; k < m; k++)
                M[r * m + k] -= f * M[c * m + k];
            v[r] -= f * v[c];
        }
    }
    for (int r = m - 1; r >= 0; r--) {
        double s = v[r];
        for (int k = r + 1; k < m; k++)
            s -= M[r * m + k] * x[k];
        x[r] = s / M[r * m + r];
    }
    return 0;
}

/* Minimises Σ w_i (y_i - b0 - x_i·beta)² + alpha ‖beta‖² (b0 only when
 * intercept, never penalised) through the normal equations of the augmented
 * design [1 X]: ([1 X]^T W [1 X] + diag(0, alpha, ..)) theta = [1 X]^T W y. */
static inline int ref_ridge(const double *X, int n, int p, const double *y, const double *w,
                            double alpha, int intercept, double *beta, double *b0) {
    int q = p + (intercept ? 1 : 0), off = intercept ? 1 : 0;
    double *M = calloc((size_t)q * (size_t)q + 1, sizeof(double));
    double *v = calloc((size_t)q + 1, sizeof(double));
    double *t = calloc((size_t)q + 1, sizeof(double));
    double *z = calloc((size_t)q + 1, sizeof(double));
    for (int i = 0; i < n; i++) {
        double wi = w ? w[i] : 1.0;
        if (intercept) z[0] = 1.0;
        for (int j = 0; j < p; j++)
            z[off + j] = X[i * p + j];
        for (int a = 0; a < q; a++) {
            v[a] += wi * z[a] * y[i];
            for (int b = 0; b < q; b++)
                M[a * q + b] += wi * z[a] * z[b];
        }
    }
    for (int j = 0; j < p; j++)
        M[(off + j) * q + off + j] += alpha;
    int rc = ref_gauss_solve(M, v, q, t);
    if (rc == 0) {
        *b0 = intercept ? t[0] : 0.0;
        for (int j = 0; j < p; j++)
            beta[j] = t[off + j];
    }
    free(M);
    free(v);
    free(t);
    free(z);
    return rc;
}

/* (n, p) standard normal entries, row-major, from a seeded stream. */
static inline void ref_randn(double *a, size_t count, uint64_t seed) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (size_t i = 0; i < count; i++)
        a[i] = spex_rng_normal(&r);
}

/* Largest |a_i - b_i|. */
static inline double ref_maxdiff(const double *a, const double *b, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i] - b[i]) > m) m = fabs(a[i] - b[i]);
    return m;
}

/* Largest |a_i|. */
static inline double ref_maxabs(const double *a, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* The arguments of one fit, for a run of spex_test_alloc_walk. */
struct fit_call {
    const double *X, *y; /* (n, p) row-major, n */
    double *beta;        /* p */
    int64_t n, p;
};

#endif
