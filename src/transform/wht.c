/*
 * Walsh–Hadamard transform and the exact transforms over all 2^n masks: the
 * "exact transform for small n" baseline (DESIGN.md §3) and the oracle the
 * sparse algorithms are checked against. Dense tables are indexed by the
 * integer whose bit j is feature j (bit set = feature kept).
 *
 *   Fourier (DESIGN.md §2): F(k) = 2^-n Σ_m f(m) (-1)^{<m,k>}   (one WHT)
 *   Möbius:                 a(S) = Σ_{L ⊆ S} (-1)^{|S|-|L|} f(L) (subset
 *                           differences, one feature at a time)
 */
#include "transform/transform_int.h"
#include "testing.h"

#include <math.h>
#include <string.h>

void spex_wht(double *x, int log2_len) {
    if (log2_len <= 0 || log2_len >= 63) return; /* length 1: the identity */
    size_t len = (size_t)1 << log2_len;
    /* butterflies of span h: (x[j], x[j+h]) <- (x[j] + x[j+h], x[j] - x[j+h]) */
    for (size_t h = 1; h < len; h <<= 1)
        for (size_t i = 0; i < len; i += 2 * h)
            for (size_t j = i; j < i + h; j++) {
                double a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
}

void spexi_wht_ref(const double *x, double *y, int log2_len) {
    if (log2_len < 0 || log2_len >= 63) return;
    size_t len = (size_t)1 << log2_len;
    for (size_t k = 0; k < len; k++) {
        double s = 0.0;
        for (size_t m = 0; m < len; m++)
            s += __builtin_parityll((unsigned long long)(m & k)) ? -x[m] : x[m];
        y[k] = s;
    }
}

double spexi_tf_binom(double n, int k) {
    if (k < 0 || (double)k > n) return 0.0;
    double c = 1.0;
    for (int i = 1; i <= k; i++)
        c = c * (n - k + i) / i;
    return c;
}

int spexi_tf_dense_collect(spex_ctx *ctx, const double *x, int n, double tol, int keep_empty,
                           spex_coefs **out) {
    spex_coefs *c = NULL;
    int rc = spex_coefs_new(ctx, n, &c);
    int32_t idx[32];
    size_t len = (size_t)1 << n;
    for (size_t m = 0; !rc && m < len; m++) {
        if (!(fabs(x[m]) > tol) && !(m == 0 && keep_empty)) continue;
        int k = 0;
        for (int j = 0; j < n; j++)
            if (m >> j & 1) idx[k++] = j;
        rc = spex_coefs_add(c, idx, k, x[m]);
    }
    if (rc) {
        spex_coefs_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

/* Checks the arguments shared by the exact transforms and copies the table. */
static int exact_setup(spex_ctx *ctx, const char *what, const double *values, int n, double tol,
                       spex_coefs **out, double **buf) {
    *buf = NULL;
    if (out) *out = NULL;
    if (!out || !values)
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: NULL %s", what, out ? "values" : "out");
    if (n < 1 || n > SPEX_EXACT_MAX_N)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "%s: n = %d features is outside 1..%d (2^n values are needed)", what, n,
                           SPEX_EXACT_MAX_N);
    if (!(tol >= 0.0))
        return spex_seterr(ctx, SPEX_E_INVAL, "%s: tolerance %g must be >= 0", what, tol);
    size_t len = (size_t)1 << n;
    for (size_t m = 0; m < len; m++)
        if (!isfinite(values[m]))
            return spex_seterr(ctx, SPEX_E_VALUE, "%s: value at mask %zu is not finite (%g)", what,
                               m, values[m]);
    *buf = spex_malloc(ctx, len * sizeof **buf);
    if (!*buf) return SPEX_E_NOMEM;
    memcpy(*buf, values, len * sizeof **buf);
    return SPEX_OK;
}

int spex_exact_fourier(spex_ctx *ctx, const double *values, int n, double tol, spex_coefs **out) {
    double *x; /* (2^n) values, then coefficients */
    int rc = exact_setup(ctx, "exact Fourier transform", values, n, tol, out, &x);
    if (rc) return rc;
    spex_wht(x, n);
    double scale = ldexp(1.0, -n);
    size_t len = (size_t)1 << n;
    for (size_t k = 0; k < len; k++)
        x[k] *= scale;
    rc = spexi_tf_dense_collect(ctx, x, n, tol, 1, out);
    spex_free(ctx, x);
    return rc;
}

int spex_exact_mobius(spex_ctx *ctx, const double *values, int n, double tol, spex_coefs **out) {
    double *x; /* (2^n) values, then Möbius coefficients */
    int rc = exact_setup(ctx, "exact Möbius transform", values, n, tol, out, &x);
    if (rc) return rc;
    size_t len = (size_t)1 << n;
    /* after step j, x[m] = Σ over L that agree with m outside bits 0..j and
     * L ⊆ m inside them, signed by (-1)^{|m \ L|} */
    for (size_t h = 1; h < len; h <<= 1)
        for (size_t i = 0; i < len; i += 2 * h)
            for (size_t j = i; j < i + h; j++)
                x[j + h] -= x[j];
    rc = spexi_tf_dense_collect(ctx, x, n, tol, 1, out);
    spex_free(ctx, x);
    return rc;
}
