/*
 * Interaction indices from a sparse Fourier surrogate (DESIGN.md §2 and its
 * appendix): Möbius, Fourier, SV, BV, SII, BII, k-SII, STII, FSII, FBII, for
 * any max order K and any n. `spex explain --index NAME --max-order K`
 * reports these.
 *
 * HOW IT WORKS: every index here is linear in the game and invariant to
 * dummy features, so each Möbius term a(R) 1[R ⊆ S], |R| = r, contributes
 * a(R) w(r, t) to each T ⊆ R with |T| = t <= K, with a weight that depends
 * only on (r, t, K). The Fourier map is converted to Möbius first
 * (convert.c), then every T ⊆ R, |T| <= K, of every Möbius entry R is
 * enumerated and accumulated: cost Σ_R C(|R|, <= K), never 2^n or n^K. For
 * n <= SPEX_EXACT_MAX_N two shortcuts keep the exact method's dense maps
 * cheap: the Möbius form is built as a table over all 2^n masks when that is
 * cheaper than the sparse conversion, and the accumulator is a table indexed
 * by mask when it is no larger than the work (otherwise a hash map).
 *
 * Weights w(r, t) for 1 <= t <= min(r, K) (a(R) from its Möbius entry):
 *   SII   1 / (r - t + 1)                          (Grabisch et al. 2000)
 *   BII   2^{t - r}                                (Grabisch et al. 2000)
 *   SV, BV  SII, BII with K = 1
 *   k-SII Σ_{j=0}^{K-t} C(r-t, j) B_j / (r-t-j+1)   (appendix: Σ_{S ⊇ T, |S| <= K}
 *         B_{|S|-|T|} SII(S), B_1 = -1/2, substituted into the SII weights)
 *   STII  t < K: [t = r];  t = K: 1 / C(r, K)       (Sundararajan et al. 2020)
 *   FBII  r <= K: [t = r];  r > K: (-1)^{K-t} 2^{t-r} C(r-t-1, K-t)
 *         (uniform least squares = Fourier expansion truncated to degree K: the
 *         Fourier terms (-1)^{|k|} a(R)/2^r, k ⊆ R, |k| <= K, mapped back to
 *         Möbius, with Σ_{j<=m} (-1)^j C(N, j) = (-1)^m C(N-1, m))
 *   FSII  r <= K: [t = r];  r > K: (-1)^{K-t} t/(K+t) C(K,t) C(r-1,K) / C(r+K-1,K+t)
 *         (Tsai, Yeh & Ravikumar 2023, JMLR 24, the Möbius form of
 *         Faith-Shap; checked against the weighted least-squares definition
 *         in tests/transform/test_indices.c)
 * For k-SII and FSII with r <= K the weight is exactly [t = r]: an index of
 * a game of degree <= K is its Möbius transform.
 *
 * The empty set (t = 0): SV, BV, SII, BII, k-SII, STII and FSII carry the
 * baseline a(∅) = v(∅) (FSII by its exact fit at ∅; SV, BV, k-SII and STII
 * as shapiq reports them; SII and BII by the appendix's convention, whereas
 * shapiq's ExactComputer puts the T = ∅ term of the sum there). FBII carries
 * its own least-squares intercept E(∅) = Σ_R a(R) w(r, 0), with w as above
 * (not v(∅)). Möbius carries a(∅) = v(∅), Fourier its F(∅) = mean of f.
 */
#include "transform/transform_int.h"

#include <math.h>
#include <string.h>

static const char *const index_names[] = {"fourier", "mobius", "sv",   "bv",   "sii",
                                          "bii",     "ksii",   "stii", "fsii", "fbii"};
#define N_INDEX ((int)(sizeof index_names / sizeof index_names[0]))

const char *spex_index_name(spex_index idx) {
    return (int)idx >= 0 && (int)idx < N_INDEX ? index_names[idx] : "unknown";
}

int spex_index_parse(spex_ctx *ctx, const char *name, spex_index *out) {
    for (int i = 0; name && i < N_INDEX; i++)
        if (!strcmp(name, index_names[i])) {
            *out = (spex_index)i;
            return SPEX_OK;
        }
    return spex_seterr(ctx, SPEX_E_INVAL,
                       "unknown interaction index '%s' (valid: fourier, mobius, sv, bv, sii, "
                       "bii, ksii, stii, fsii, fbii)",
                       name ? name : "(null)");
}

/* Bernoulli numbers B_0..B_m (B_1 = -1/2) into b[0..m]:
 * Σ_{j=0}^{i} C(i+1, j) B_j = 0 for i >= 1. */
static void bernoulli(double *b, int m) {
    b[0] = 1.0;
    for (int i = 1; i <= m; i++) {
        if (i > 1 && (i & 1)) {
            b[i] = 0.0;
            continue;
        }
        double s = 0.0;
        for (int j = 0; j < i; j++)
            s += spexi_tf_binom(i + 1, j) * b[j];
        b[i] = -s / (i + 1);
    }
}

/* w(r, t) for index idx of order K (see the table at the top); bern holds
 * B_0..B_K. */
static double weight(spex_index idx, int K, int r, int t, const double *bern) {
    double sign = ((K - t) & 1) ? -1.0 : 1.0;
    switch (idx) {
    case SPEX_INDEX_SV:
    case SPEX_INDEX_SII:
        return t == 0 ? (r == 0) : 1.0 / (r - t + 1);
    case SPEX_INDEX_BV:
    case SPEX_INDEX_BII:
        return t == 0 ? (r == 0) : ldexp(1.0, t - r);
    case SPEX_INDEX_KSII: {
        if (t == 0 || r <= K) return t == r;
        double s = 0.0;
        for (int j = 0; j <= K - t; j++)
            s += spexi_tf_binom(r - t, j) * bern[j] / (r - t - j + 1);
        return s;
    }
    case SPEX_INDEX_STII:
        if (t < K) return t == r;
        return 1.0 / spexi_tf_binom(r, K);
    case SPEX_INDEX_FBII:
        if (r <= K) return t == r;
        return sign * ldexp(1.0, t - r) * spexi_tf_binom(r - t - 1, K - t);
    case SPEX_INDEX_FSII:
        if (r <= K) return t == r;
        if (t == 0) return 0.0;
        return sign * t / (double)(K + t) * spexi_tf_binom(K, t) * spexi_tf_binom(r - 1, K) /
               spexi_tf_binom(r + K - 1, K + t);
    default:
        return 0.0;
    }
}

/* Copies the entries of `in` with |S| <= K (the Fourier index). */
static int copy_low_order(const spex_coefs *in, int K, spex_coefs *out) {
    int rc = SPEX_OK;
    for (int64_t e = 0; !rc && e < spex_coefs_count(in); e++) {
        const int32_t *s;
        int len;
        double v;
        spex_coefs_entry(in, e, &s, &len, &v);
        if (len <= K && v != 0.0) rc = spex_coefs_add(out, s, len, v);
    }
    return rc;
}

/* The Möbius form of the game: a sparse map, or (n <= SPEX_EXACT_MAX_N, when
 * the dense conversion is cheaper) a table over all 2^n masks. */
typedef struct {
    spex_coefs *map;
    double *table; /* (2^n) by mask, or NULL */
    int64_t n;
} mobius_form;

typedef int (*term_fn)(void *user, const int32_t *R, int r, double a);

/* Calls fn on every nonzero term a(R) of m; stops at the first error. */
static int for_each_term(const mobius_form *m, term_fn fn, void *user) {
    int rc = SPEX_OK;
    if (m->map) {
        for (int64_t e = 0; !rc && e < spex_coefs_count(m->map); e++) {
            const int32_t *R;
            int r;
            double a;
            spex_coefs_entry(m->map, e, &R, &r, &a);
            if (a != 0.0) rc = fn(user, R, r, a);
        }
        return rc;
    }
    int32_t R[SPEX_EXACT_MAX_N];
    size_t len = (size_t)1 << m->n;
    for (size_t x = 0; !rc && x < len; x++) {
        if (m->table[x] == 0.0) continue;
        int r = 0;
        for (int j = 0; j < (int)m->n; j++)
            if (x >> j & 1) R[r++] = j;
        rc = fn(user, R, r, m->table[x]);
    }
    return rc;
}

/* Per-size counts of the terms (the first pass). */
typedef struct {
    int64_t *count; /* (max_r + 1) terms of each size */
    int max_r;
} size_hist;

static int hist_term(void *user, const int32_t *R, int r, double a) {
    (void)R, (void)a;
    size_hist *h = user;
    if (r <= h->max_r) h->count[r]++;
    return SPEX_OK;
}

static int max_r_term(void *user, const int32_t *R, int r, double a) {
    (void)R, (void)a;
    int *m = user;
    if (r > *m) *m = r;
    return SPEX_OK;
}

/* Spreads a(R) onto every T ⊆ R with |T| <= K (see HOW IT WORKS). */
typedef struct {
    int K;
    const double *w; /* (max_r + 1, K + 1) weights w(r, t) */
    double *dense;   /* (2^n) accumulator by mask, or NULL */
    spex_coefs *out; /* sparse accumulator when dense is NULL */
    int *pos;        /* (K + 1) positions in R of the current T */
    int32_t *tt;     /* (K + 1) the current T */
} spreader;

static int spread_term(void *user, const int32_t *R, int r, double a) {
    spreader *sp = user;
    int K = sp->K, *pos = sp->pos;
    for (int t = 0; t <= K && t <= r; t++) {
        double x = a * sp->w[r * (K + 1) + t];
        if (x == 0.0) continue;
        for (int i = 0; i < t; i++)
            pos[i] = i;
        for (;;) { /* the C(r, t) combinations in lexicographic order */
            if (sp->dense) {
                size_t m = 0;
                for (int i = 0; i < t; i++)
                    m |= (size_t)1 << R[pos[i]];
                sp->dense[m] += x;
            } else {
                for (int i = 0; i < t; i++)
                    sp->tt[i] = R[pos[i]];
                int rc = spex_coefs_add(sp->out, sp->tt, t, x);
                if (rc) return rc;
            }
            int i = t - 1;
            while (i >= 0 && pos[i] == r - t + i)
                i--;
            if (i < 0) break;
            pos[i]++;
            for (int j = i + 1; j < t; j++)
                pos[j] = pos[j - 1] + 1;
        }
    }
    return SPEX_OK;
}

/* Copies the terms with |R| <= K (the Möbius index; the dense accumulator). */
typedef struct {
    spex_coefs *out;
    int K;
} low_order;

static int low_order_term(void *user, const int32_t *R, int r, double a) {
    low_order *lo = user;
    return r <= lo->K ? spex_coefs_add(lo->out, R, r, a) : SPEX_OK;
}

/* Index idx of order K (1 <= K <= n) from the Möbius form m into out. */
static int weighted_index(spex_ctx *ctx, const mobius_form *m, spex_index idx, int K,
                          spex_coefs *out) {
    int64_t n = m->n;
    int max_r = 0;
    for_each_term(m, max_r_term, &max_r);
    if (K > max_r) K = max_r > 0 ? max_r : 1; /* (r <= K: the same weights for any K >= r) */
    size_t nw = (size_t)(max_r + 1) * (size_t)(K + 1);
    double *bern = spex_malloc(ctx, (size_t)(K + 1) * sizeof *bern); /* (K + 1) */
    double *w = spex_calloc(ctx, nw, sizeof *w);                     /* (max_r + 1, K + 1) */
    int64_t *count = spex_calloc(ctx, (size_t)max_r + 1, sizeof *count);
    spreader sp = {K,
                   w,
                   NULL,
                   out,
                   spex_malloc(ctx, (size_t)(K + 1) * sizeof(int)),
                   spex_malloc(ctx, (size_t)(K + 1) * sizeof(int32_t))};
    int rc = bern && w && count && sp.pos && sp.tt ? SPEX_OK : SPEX_E_NOMEM;
    if (rc) goto done;
    bernoulli(bern, K);
    for (int r = 0; r <= max_r; r++)
        for (int t = 0; t <= K && t <= r; t++)
            w[r * (K + 1) + t] = weight(idx, K, r, t, bern);
    size_hist h = {count, max_r};
    for_each_term(m, hist_term, &h);
    double work = 0.0; /* subsets T to visit */
    for (int r = 0; r <= max_r; r++)
        for (int t = 0; t <= K && t <= r; t++)
            if (w[r * (K + 1) + t] != 0.0) work += (double)count[r] * spexi_tf_binom(r, t);
    /* A dense accumulator costs 2^n doubles, no more than the work itself; its
     * size is fixed, so only time limits it. The hash map grows with the work. */
    int use_dense = n <= SPEX_EXACT_MAX_N && ldexp(1.0, (int)n) <= 4.0 * work;
    double limit = use_dense ? 64.0 * SPEX_TF_MAX_TERMS : SPEX_TF_MAX_TERMS;
    if (work > limit) {
        rc = spex_seterr(ctx, SPEX_E_RANGE,
                         "Möbius terms up to degree %d would spread onto %.3g subsets "
                         "(limit %.3g)",
                         max_r, work, limit);
        goto done;
    }
    if (use_dense && !(sp.dense = spex_calloc(ctx, (size_t)1 << n, sizeof *sp.dense))) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    rc = for_each_term(m, spread_term, &sp);
    if (!rc && sp.dense) {
        mobius_form acc = {NULL, sp.dense, n};
        low_order all = {out, K};
        rc = for_each_term(&acc, low_order_term, &all);
    }
done:
    spex_free(ctx, bern);
    spex_free(ctx, w);
    spex_free(ctx, count);
    spex_free(ctx, sp.dense);
    spex_free(ctx, sp.pos);
    spex_free(ctx, sp.tt);
    return rc;
}

int spex_interactions(const spex_coefs *fourier, spex_index idx, int max_order, spex_coefs **out) {
    if (!out) return SPEX_E_INVAL;
    *out = NULL;
    if (!fourier) return SPEX_E_INVAL;
    spex_ctx *ctx = spex_coefs_ctx(fourier);
    if ((int)idx < 0 || (int)idx >= N_INDEX)
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown interaction index %d", (int)idx);
    if (max_order < 1)
        return spex_seterr(ctx, SPEX_E_RANGE, "max order %d of index %s must be >= 1", max_order,
                           spex_index_name(idx));
    int64_t n = spex_coefs_n(fourier);
    int K = idx == SPEX_INDEX_SV || idx == SPEX_INDEX_BV ? 1 : max_order;
    if (K > n) K = (int)n; /* every index of order >= n equals its order-n value */

    mobius_form m = {NULL, NULL, n};
    spex_coefs *res = NULL;
    int rc = spex_coefs_new(ctx, n, &res);
    if (!rc && idx == SPEX_INDEX_FOURIER)
        rc = copy_low_order(fourier, K, res);
    else if (!rc) {
        if (spexi_tf_dense_cheaper(fourier, NULL, NULL)) {
            m.table = spex_calloc(ctx, (size_t)1 << n, sizeof *m.table);
            if (m.table)
                spexi_tf_convert_dense(fourier, 1, m.table);
            else
                rc = SPEX_E_NOMEM;
        } else
            rc = spex_fourier_to_mobius(fourier, &m.map);
        low_order lo = {res, K};
        if (!rc && idx == SPEX_INDEX_MOBIUS)
            rc = for_each_term(&m, low_order_term, &lo);
        else if (!rc)
            rc = weighted_index(ctx, &m, idx, K, res);
    }
    if (!rc) rc = spex_coefs_prune(res, 0.0);
    spex_coefs_free(m.map);
    spex_free(ctx, m.table);
    if (rc) {
        spex_errprefix(ctx, "%s of order %d", spex_index_name(idx), max_order);
        spex_coefs_free(res);
        return rc;
    }
    spex_coefs_sort_subsets(res);
    *out = res;
    return SPEX_OK;
}
