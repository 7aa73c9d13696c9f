/*
 * Sparse Fourier <-> Möbius conversion (DESIGN.md §2):
 *   a(S) = (-2)^{|S|} Σ_{k ⊇ S} F(k),     F(k) = (-1)^{|k|} Σ_{S ⊇ k} a(S) / 2^{|S|}.
 * Interaction indices (indices.c) start from the Möbius form of a Fourier
 * surrogate, so this is on the path of every `spex explain`.
 *
 * HOW IT WORKS: each input entry spreads onto all 2^{|S|} of its subsets:
 * F(k) gives (-2)^{|T|} F(k) to a(T) for every T ⊆ k, and a(S) gives
 * (-1)^{|T|} a(S) / 2^{|S|} to F(T) for every T ⊆ S. Cost Σ_S 2^{|S|},
 * independent of n. When n <= SPEX_EXACT_MAX_N and the input is dense enough
 * that n 2^n is cheaper, the same sums run on a dense table instead: one
 * superset-sum pass per feature (x[m] += x[m | bit j] for m without bit j)
 * between a pre-scaling and a post-scaling by the factors above.
 */
#include "transform/transform_int.h"

#include <math.h>

typedef enum { TO_MOBIUS, TO_FOURIER } direction;

/* Weight of an input entry of size s on an output subset of size t. */
static double spread_weight(direction dir, int s, int t) {
    double sign = (t & 1) ? -1.0 : 1.0;
    return dir == TO_MOBIUS ? sign * ldexp(1.0, t) : sign * ldexp(1.0, -s);
}

void spexi_tf_convert_dense(const spex_coefs *in, int to_mobius, double *x) {
    direction dir = to_mobius ? TO_MOBIUS : TO_FOURIER;
    int n = (int)spex_coefs_n(in);
    size_t len = (size_t)1 << n;
    for (int64_t e = 0; e < spex_coefs_count(in); e++) {
        const int32_t *idx;
        int s;
        double v;
        spex_coefs_entry(in, e, &idx, &s, &v);
        size_t m = 0;
        for (int i = 0; i < s; i++)
            m |= (size_t)1 << idx[i];
        x[m] += dir == TO_FOURIER ? ldexp(v, -s) : v;
    }
    for (size_t h = 1; h < len; h <<= 1)
        for (size_t i = 0; i < len; i += 2 * h)
            for (size_t j = i; j < i + h; j++)
                x[j] += x[j + h];
    for (size_t m = 0; m < len; m++) {
        int t = __builtin_popcountll((unsigned long long)m);
        x[m] *= dir == TO_MOBIUS ? spread_weight(dir, 0, t) : ((t & 1) ? -1.0 : 1.0);
    }
}

int spexi_tf_dense_cheaper(const spex_coefs *in, double *sparse_work, int *max_s) {
    int64_t n = spex_coefs_n(in);
    double work = 0.0; /* Σ 2^{|S|} */
    int ms = 0;
    for (int64_t e = 0; e < spex_coefs_count(in); e++) {
        int s;
        spex_coefs_entry(in, e, NULL, &s, NULL);
        work += ldexp(1.0, s);
        if (s > ms) ms = s;
    }
    if (sparse_work) *sparse_work = work;
    if (max_s) *max_s = ms;
    return n <= SPEX_EXACT_MAX_N && ldexp((double)n + 2.0, (int)n) < work;
}

static int convert_dense(spex_ctx *ctx, const spex_coefs *in, direction dir, spex_coefs **out) {
    int n = (int)spex_coefs_n(in);
    double *x = spex_calloc(ctx, (size_t)1 << n, sizeof *x); /* (2^n) by mask */
    if (!x) return SPEX_E_NOMEM;
    spexi_tf_convert_dense(in, dir == TO_MOBIUS, x);
    int rc = spexi_tf_dense_collect(ctx, x, n, 0.0, 0, out);
    spex_free(ctx, x);
    return rc;
}

static int convert_sparse(spex_ctx *ctx, const spex_coefs *in, direction dir, int max_s,
                          spex_coefs **out) {
    spex_coefs *c = NULL;
    int32_t *t_idx = spex_malloc(ctx, (size_t)(max_s > 0 ? max_s : 1) * sizeof *t_idx);
    int rc = t_idx ? spex_coefs_new(ctx, spex_coefs_n(in), &c) : SPEX_E_NOMEM;
    for (int64_t e = 0; !rc && e < spex_coefs_count(in); e++) {
        const int32_t *idx;
        int s;
        double v;
        spex_coefs_entry(in, e, &idx, &s, &v);
        if (v == 0.0) continue;
        uint64_t full = s ? (~(uint64_t)0 >> (64 - s)) : 0;
        /* every sub ⊆ full, in increasing order: 0, 1, ..., full */
        for (uint64_t sub = 0; !rc; sub++) {
            int t = 0;
            for (int i = 0; i < s; i++)
                if (sub >> i & 1) t_idx[t++] = idx[i];
            rc = spex_coefs_add(c, t_idx, t, v * spread_weight(dir, s, t));
            if (sub == full) break;
        }
    }
    if (!rc) rc = spex_coefs_prune(c, 0.0);
    spex_free(ctx, t_idx);
    if (rc) {
        spex_coefs_free(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

static int convert(const spex_coefs *in, direction dir, spex_coefs **out) {
    if (!out) return SPEX_E_INVAL;
    *out = NULL;
    if (!in) return SPEX_E_INVAL;
    spex_ctx *ctx = spex_coefs_ctx(in);
    const char *what = dir == TO_MOBIUS ? "Fourier to Möbius" : "Möbius to Fourier";
    double work;
    int max_s;
    int rc;
    if (spexi_tf_dense_cheaper(in, &work, &max_s))
        rc = convert_dense(ctx, in, dir, out);
    else if (work > SPEX_TF_MAX_TERMS)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "%s conversion: entries up to degree %d would need %.3g terms "
                           "(limit %.3g)",
                           what, max_s, work, SPEX_TF_MAX_TERMS);
    else
        rc = convert_sparse(ctx, in, dir, max_s, out);
    if (!rc) spex_coefs_sort_subsets(*out);
    return rc;
}

int spex_fourier_to_mobius(const spex_coefs *fourier, spex_coefs **out) {
    return convert(fourier, TO_MOBIUS, out);
}

int spex_mobius_to_fourier(const spex_coefs *mobius, spex_coefs **out) {
    return convert(mobius, TO_FOURIER, out);
}
