/*
 * Interaction indices (spex_interactions) against their textbook definitions
 * in the DESIGN.md appendix, computed here by brute force over all 2^n
 * coalitions: discrete derivatives Δ_T v(S) summed with each index's weights,
 * the Bernoulli aggregation of SII for k-SII, and the weighted least-squares
 * problems of FBII and FSII solved from scratch (normal equations in long
 * double; FSII's exact fit at ∅ by substitution and at N by a Lagrange
 * multiplier; Gaussian elimination with partial pivoting). Nothing here uses
 * the closed forms of src/transform/indices.c.
 */
#include "test_util.h"

#include "spex/coefs.h"
#include "spex/masks.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

#define N_INDICES 10

static int pc(uint32_t x) {
    return __builtin_popcount(x);
}

static double fact(int k) {
    double f = 1.0;
    for (int i = 2; i <= k; i++)
        f *= i;
    return f;
}

static double binom_f(int n, int k) {
    return k < 0 || k > n ? 0.0 : fact(n) / (fact(k) * fact(n - k));
}

/* Bernoulli numbers with B_1 = -1/2 (a table, not the library's recurrence). */
static const double bernoulli_tab[] = {1.0,           -1.0 / 2, 1.0 / 6,   0.0, -1.0 / 30,    0.0,
                                       1.0 / 42,      0.0,      -1.0 / 30, 0.0, 5.0 / 66,     0.0,
                                       -691.0 / 2730, 0.0,      7.0 / 6,   0.0, -3617.0 / 510};

/* Δ_T v(S) = Σ_{L ⊆ T} (-1)^{|T|-|L|} v(S ∪ L), for S ∩ T = ∅. */
static double delta(const double *v, uint32_t T, uint32_t S) {
    double d = 0.0;
    for (uint32_t L = T;; L = (L - 1) & T) {
        d += ((pc(T) - pc(L)) & 1) ? -v[S | L] : v[S | L];
        if (!L) break;
    }
    return d;
}

/* Σ_{S ⊆ N∖T} w(|S|) Δ_T v(S). */
static double weighted_derivatives(const double *v, int n, uint32_t T,
                                   double (*w)(int n, int s, int t, int K), int K) {
    uint32_t comp = ((1u << n) - 1) & ~T;
    double sum = 0.0;
    for (uint32_t S = comp;; S = (S - 1) & comp) {
        sum += w(n, pc(S), pc(T), K) * delta(v, T, S);
        if (!S) break;
    }
    return sum;
}

/* The appendix's weights. */
static double w_sv(int n, int s, int t, int K) {
    (void)t, (void)K;
    return fact(s) * fact(n - s - 1) / fact(n);
}
static double w_bv(int n, int s, int t, int K) {
    (void)s, (void)t, (void)K;
    return ldexp(1.0, -(n - 1));
}
static double w_sii(int n, int s, int t, int K) {
    (void)K;
    return fact(n - s - t) * fact(s) / fact(n - t + 1);
}
static double w_bii(int n, int s, int t, int K) {
    (void)s, (void)K;
    return ldexp(1.0, -(n - t));
}
static double w_stii_top(int n, int s, int t, int K) {
    (void)t;
    return (double)K / n / binom_f(n - 1, s);
}

/* Solves A x = b (p x p, row-major, long double) in place by Gaussian
 * elimination with partial pivoting for nrhs right-hand sides b (nrhs, p).
 * Returns 0, or -1 when A is singular. */
static int gauss(long double *A, long double *b, int p, int nrhs) {
    for (int c = 0; c < p; c++) {
        int piv = c;
        for (int r = c + 1; r < p; r++)
            if (fabsl(A[(size_t)r * p + c]) > fabsl(A[(size_t)piv * p + c])) piv = r;
        if (A[(size_t)piv * p + c] == 0.0L) return -1;
        if (piv != c) {
            for (int j = 0; j < p; j++) {
                long double x = A[(size_t)c * p + j];
                A[(size_t)c * p + j] = A[(size_t)piv * p + j];
                A[(size_t)piv * p + j] = x;
            }
            for (int g = 0; g < nrhs; g++) {
                long double x = b[(size_t)g * p + c];
                b[(size_t)g * p + c] = b[(size_t)g * p + piv];
                b[(size_t)g * p + piv] = x;
            }
        }
        for (int r = c + 1; r < p; r++) {
            long double f = A[(size_t)r * p + c] / A[(size_t)c * p + c];
            if (f == 0.0L) continue;
            for (int j = c; j < p; j++)
                A[(size_t)r * p + j] -= f * A[(size_t)c * p + j];
            for (int g = 0; g < nrhs; g++)
                b[(size_t)g * p + r] -= f * b[(size_t)g * p + c];
        }
    }
    for (int g = 0; g < nrhs; g++)
        for (int c = p - 1; c >= 0; c--) {
            long double s = b[(size_t)g * p + c];
            for (int j = c + 1; j < p; j++)
                s -= A[(size_t)c * p + j] * b[(size_t)g * p + j];
            b[(size_t)g * p + c] = s / A[(size_t)c * p + c];
        }
    return 0;
}

/* FBII (shapley = 0) or FSII (shapley = 1) of order K for n_games games by
 * solving the appendix's least-squares problem:
 *   FBII: min Σ_{S ⊆ N} (v(S) - Σ_{T ⊆ S, |T| <= K} E(T))², all E(T) free;
 *   FSII: weights μ(S) = (n-1) / (C(n,|S|) |S| (n-|S|)) for 0 < |S| < n and
 *         exact fits at ∅ and N: E(∅) = v(∅) is forced by the fit at ∅ (only
 *         T = ∅ lies in ∅), then min over E(T), |T| >= 1, of the weighted sum
 *         of (v(S) - v(∅) - Σ_{∅ ≠ T ⊆ S} E(T))² subject to
 *         Σ_{T ≠ ∅} E(T) = v(N) - v(∅), via the KKT system [M c; cᵀ 0].
 * want[g] gets E(T) at mask T for |T| <= K, NAN elsewhere. */
static void brute_ls(int n, int K, int shapley, int n_games, double *const *v,
                     double *const *want) {
    uint32_t full = (1u << n) - 1;
    int *col = malloc(sizeof(int) << n); /* (2^n) column of T, or -1 */
    uint32_t *cols = malloc(sizeof(uint32_t) << n);
    int p = 0;
    for (uint32_t T = 0; T <= full; T++) {
        col[T] = -1;
        if (pc(T) <= K && (T || !shapley)) {
            col[T] = p;
            cols[p++] = T;
        }
    }
    int q = p + shapley;                                     /* with the multiplier */
    long double *A = calloc((size_t)q * q, sizeof *A);       /* (q, q) */
    long double *b = calloc((size_t)n_games * q, sizeof *b); /* (n_games, q) */
    int *in = malloc(sizeof(int) * (size_t)p);
    for (uint32_t S = 0; S <= full; S++) {
        long double w = 1.0L;
        if (shapley) {
            int s = pc(S);
            if (s == 0 || s == n) continue;
            w = (long double)(n - 1) / ((long double)binom_f(n, s) * s * (n - s));
        }
        int cnt = 0;
        for (int j = 0; j < p; j++)
            if ((cols[j] & S) == cols[j]) in[cnt++] = j;
        for (int x = 0; x < cnt; x++)
            for (int y = 0; y < cnt; y++)
                A[(size_t)in[x] * q + in[y]] += w;
        for (int g = 0; g < n_games; g++) {
            long double y = v[g][S] - (shapley ? v[g][0] : 0.0);
            for (int x = 0; x < cnt; x++)
                b[(size_t)g * q + in[x]] += w * y;
        }
    }
    if (shapley) {
        for (int j = 0; j < p; j++)
            A[(size_t)p * q + j] = A[(size_t)j * q + p] = 1.0L;
        for (int g = 0; g < n_games; g++)
            b[(size_t)g * q + p] = v[g][full] - v[g][0];
    }
    int sing = gauss(A, b, q, n_games);
    assert_int_equal(sing, 0);
    for (int g = 0; g < n_games; g++) {
        for (uint32_t T = 0; T <= full; T++)
            want[g][T] = col[T] >= 0 ? (double)b[(size_t)g * q + col[T]] : NAN;
        if (shapley) want[g][0] = v[g][0];
    }
    free(col);
    free(cols);
    free(A);
    free(b);
    free(in);
}

/* Index idx of order K (K <= n; the caller clamps) by its definition. */
static void brute_index(spex_index idx, int n, int K, const double *v, double *want) {
    uint32_t full = (1u << n) - 1;
    if (idx == SPEX_INDEX_SV || idx == SPEX_INDEX_BV) K = 1;
    for (uint32_t T = 0; T <= full; T++)
        want[T] = NAN;
    switch (idx) {
    case SPEX_INDEX_FOURIER:
        for (uint32_t k = 0; k <= full; k++) {
            if (pc(k) > K) continue;
            double s = 0.0;
            for (uint32_t m = 0; m <= full; m++)
                s += (pc(m & k) & 1) ? -v[m] : v[m];
            want[k] = ldexp(s, -n);
        }
        break;
    case SPEX_INDEX_MOBIUS:
        for (uint32_t T = 0; T <= full; T++)
            if (pc(T) <= K) want[T] = delta(v, T, 0);
        break;
    case SPEX_INDEX_SV:
    case SPEX_INDEX_BV:
        for (int i = 0; i < n; i++)
            want[1u << i] =
                weighted_derivatives(v, n, 1u << i, idx == SPEX_INDEX_SV ? w_sv : w_bv, K);
        want[0] = v[0];
        break;
    case SPEX_INDEX_SII:
    case SPEX_INDEX_BII:
        for (uint32_t T = 1; T <= full; T++)
            if (pc(T) <= K)
                want[T] = weighted_derivatives(v, n, T, idx == SPEX_INDEX_SII ? w_sii : w_bii, K);
        want[0] = v[0];
        break;
    case SPEX_INDEX_KSII: {
        double *sii = malloc(sizeof(double) << n);
        for (uint32_t S = 1; S <= full; S++)
            sii[S] = pc(S) <= K ? weighted_derivatives(v, n, S, w_sii, K) : 0.0;
        for (uint32_t T = 1; T <= full; T++) {
            if (pc(T) > K) continue;
            uint32_t comp = full & ~T;
            double s = 0.0;
            for (uint32_t U = comp;; U = (U - 1) & comp) {
                if (pc(T | U) <= K) s += bernoulli_tab[pc(U)] * sii[T | U];
                if (!U) break;
            }
            want[T] = s;
        }
        want[0] = v[0];
        free(sii);
        break;
    }
    case SPEX_INDEX_STII:
        for (uint32_t T = 0; T <= full; T++) {
            if (pc(T) < K)
                want[T] = delta(v, T, 0);
            else if (pc(T) == K)
                want[T] = weighted_derivatives(v, n, T, w_stii_top, K);
        }
        break;
    case SPEX_INDEX_FSII:
    case SPEX_INDEX_FBII: {
        double *vv[1] = {(double *)v}, *ww[1] = {want};
        brute_ls(n, K, idx == SPEX_INDEX_FSII, 1, vv, ww);
        break;
    }
    }
}

/* Compares spex_interactions(F, idx, K) with want (NAN = must be absent). */
static void check_against(const spex_coefs *F, spex_index idx, int K, int n, const double *want,
                          double tol, const char *label) {
    spex_ctx *ctx = spex_coefs_ctx(F);
    spex_coefs *I = NULL;
    CHECK_RC(ctx, spex_interactions(F, idx, K, &I));
    uint32_t full = (1u << n) - 1;
    double worst = 0.0;
    uint32_t worst_T = 0;
    double worst_got = 0.0;
    for (int64_t e = 0; e < spex_coefs_count(I); e++) {
        const int32_t *s;
        int len;
        spex_coefs_entry(I, e, &s, &len, NULL);
        uint32_t T = 0;
        for (int i = 0; i < len; i++)
            T |= 1u << s[i];
        if (isnan(want[T]))
            fail_msg("%s: %s K=%d reports subset 0x%x (size %d) outside its domain", label,
                     spex_index_name(idx), K, T, len);
    }
    for (uint32_t T = 0; T <= full; T++) {
        if (isnan(want[T])) continue;
        int32_t s[32];
        int len = 0;
        for (int j = 0; j < n; j++)
            if (T >> j & 1) s[len++] = j;
        double got;
        spex_coefs_get(I, s, len, &got);
        double err = fabs(got - want[T]) / (1.0 + fabs(want[T]));
        if (err > worst || isnan(got)) {
            worst = isnan(got) ? INFINITY : err;
            worst_T = T;
            worst_got = got;
        }
    }
    spex_test_checks++;
    if (!(worst <= tol))
        fail_msg("%s: %s n=%d K=%d at T=0x%x: got %.17g, brute force %.17g (relative tolerance "
                 "%g, error %g)",
                 label, spex_index_name(idx), n, K, worst_T, worst_got, want[worst_T], tol, worst);
    spex_coefs_free(I);
}

/* A random Möbius game: m terms of degree <= max_deg over n features, plus
 * a(∅); values in ±[0.2, 1]. */
static void random_mobius(spex_rng *r, spex_coefs *a, int n, int m, int max_deg) {
    spex_coefs_add(a, NULL, 0, spex_rng_uniform(r) - 0.5);
    for (int i = 0; i < m; i++) {
        int d = (int)spex_rng_below(r, (uint64_t)(max_deg < n ? max_deg : n) + 1);
        uint32_t S = 0;
        while (pc(S) < d)
            S |= 1u << spex_rng_below(r, (uint64_t)n);
        int32_t s[32];
        int len = 0;
        for (int j = 0; j < n; j++)
            if (S >> j & 1) s[len++] = j;
        double x = 0.2 + 0.8 * spex_rng_uniform(r);
        spex_coefs_add(a, s, len, spex_rng_u64(r) & 1 ? x : -x);
    }
}

/* v(S) = Σ_{R ⊆ S} a(R) at all 2^n coalitions. */
static void mobius_table(const spex_coefs *a, int n, double *v) {
    for (uint32_t S = 0; S < (1u << n); S++) {
        double s = 0.0;
        for (int64_t e = 0; e < spex_coefs_count(a); e++) {
            const int32_t *idx;
            int len;
            double x;
            spex_coefs_entry(a, e, &idx, &len, &x);
            uint32_t R = 0;
            for (int i = 0; i < len; i++)
                R |= 1u << idx[i];
            if ((R & S) == R) s += x;
        }
        v[S] = s;
    }
}

/* Random dense tables and random sparse Möbius games, n <= 10, K = 1..3 and
 * K = n (and K > n, which acts as n), every index. */
static void test_small_games(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static const int ns[] = {1, 2, 3, 4, 5, 7, 10};
    spex_rng r;
    spex_rng_seed(&r, 2024);
    double *v = malloc(sizeof(double) << 10), *want = malloc(sizeof(double) << 10);
    for (size_t in = 0; in < sizeof ns / sizeof ns[0]; in++) {
        int n = ns[in];
        for (int kind = 0; kind < 2; kind++)
            for (int rep = 0; rep < 2; rep++) {
                spex_coefs *F = NULL, *a = NULL;
                char label[64];
                snprintf(label, sizeof label, "%s game n=%d #%d", kind ? "sparse" : "dense", n,
                         rep);
                if (kind == 0) { /* dense random table, exact transform, tol 0 */
                    for (uint32_t S = 0; S < (1u << n); S++)
                        v[S] = 2 * spex_rng_uniform(&r) - 1;
                    CHECK_RC(ctx, spex_exact_fourier(ctx, v, n, 0.0, &F));
                } else { /* planted Möbius terms, sparse conversion */
                    CHECK_RC(ctx, spex_coefs_new(ctx, n, &a));
                    random_mobius(&r, a, n, 2 + n, 4);
                    mobius_table(a, n, v);
                    CHECK_RC(ctx, spex_mobius_to_fourier(a, &F));
                }
                int Ks[] = {1, 2, 3, n, n + 2};
                for (int ik = 0; ik < 5; ik++) {
                    int K = Ks[ik];
                    if (ik >= 3 && (n > 7 || K <= 3)) continue; /* K = n only where cheap */
                    if (ik < 3 && K > n) continue;
                    int Kb = K < n ? K : n;
                    for (int idx = 0; idx < N_INDICES; idx++) {
                        brute_index((spex_index)idx, n, Kb, v, want);
                        check_against(F, (spex_index)idx, K, n, want, 1e-9, label);
                    }
                }
                spex_coefs_free(F);
                spex_coefs_free(a);
            }
    }
    free(v);
    free(want);
    spex_ctx_free(ctx);
}

/* Two 16-feature games end to end: values at all 65536 coalitions ->
 * spex_exact_fourier -> spex_interactions, against brute force to 1e-9. */
static void test_16_features(void **state) {
    (void)state;
    const int n = 16;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 16);
    double *v[2], *want[2];
    spex_coefs *F[2];
    for (int g = 0; g < 2; g++) {
        v[g] = malloc(sizeof(double) << n);
        want[g] = malloc(sizeof(double) << n);
    }
    /* game 0: 30 Möbius terms of degree <= 5; game 1: a dense random table */
    spex_coefs *a;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &a));
    random_mobius(&r, a, n, 30, 5);
    mobius_table(a, n, v[0]);
    spex_coefs_free(a);
    for (uint32_t S = 0; S < (1u << n); S++)
        v[1][S] = 2 * spex_rng_uniform(&r) - 1;
    CHECK_RC(ctx, spex_exact_fourier(ctx, v[0], n, 1e-12, &F[0]));
    CHECK(spex_coefs_count(F[0]) <= 31 * 32);
    CHECK_RC(ctx, spex_exact_fourier(ctx, v[1], n, 0.0, &F[1]));
    static const char *labels[] = {"sparse 16-feature game", "dense 16-feature game"};
    for (int K = 2; K <= 3; K++) {
        for (int idx = 0; idx < N_INDICES; idx++) {
            if (idx == SPEX_INDEX_FSII || idx == SPEX_INDEX_FBII) continue;
            if (K == 3 && (idx == SPEX_INDEX_SV || idx == SPEX_INDEX_BV)) continue;
            for (int g = 0; g < 2; g++) {
                brute_index((spex_index)idx, n, K, v[g], want[g]);
                check_against(F[g], (spex_index)idx, K, n, want[g], 1e-9, labels[g]);
            }
        }
        if (K == 3) continue; /* the least-squares oracle at K = 3 costs seconds */
        for (int shapley = 0; shapley < 2; shapley++) {
            brute_ls(n, K, shapley, 2, v, want);
            for (int g = 0; g < 2; g++)
                check_against(F[g], shapley ? SPEX_INDEX_FSII : SPEX_INDEX_FBII, K, n, want[g],
                              1e-9, labels[g]);
        }
    }
    for (int g = 0; g < 2; g++) {
        spex_coefs_free(F[g]);
        free(v[g]);
        free(want[g]);
    }
    spex_ctx_free(ctx);
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* A game on 12 of n = 10,000 features (the others are dummies), given as a
 * sparse Möbius map at n = 10,000: every index must equal brute force on the
 * 12-feature game. */
static void test_large_n_vs_compact(void **state) {
    (void)state;
    const int m = 12, nbig = 10000;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 77);
    int32_t lab[12]; /* compact feature j -> feature lab[j] of the big game, increasing */
    for (int j = 0; j < m; j++) {
        int fresh;
        do {
            lab[j] = (int32_t)spex_rng_below(&r, nbig);
            fresh = 1;
            for (int i = 0; i < j; i++)
                fresh &= lab[i] != lab[j];
        } while (!fresh);
    }
    qsort(lab, (size_t)m, sizeof lab[0], cmp_i32);
    spex_coefs *a, *abig, *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, m, &a));
    random_mobius(&r, a, m, 25, 6);
    CHECK_RC(ctx, spex_coefs_new(ctx, nbig, &abig));
    for (int64_t e = 0; e < spex_coefs_count(a); e++) {
        const int32_t *s;
        int len;
        double x;
        spex_coefs_entry(a, e, &s, &len, &x);
        int32_t t[32];
        for (int i = 0; i < len; i++)
            t[i] = lab[s[i]];
        CHECK_RC(ctx, spex_coefs_add(abig, t, len, x));
    }
    CHECK_RC(ctx, spex_mobius_to_fourier(abig, &F));
    double *v = malloc(sizeof(double) << m), *want = malloc(sizeof(double) << m);
    mobius_table(a, m, v);
    for (int K = 1; K <= 3; K++)
        for (int idx = 0; idx < N_INDICES; idx++) {
            brute_index((spex_index)idx, m, K, v, want);
            spex_coefs *I;
            CHECK_RC(ctx, spex_interactions(F, (spex_index)idx, K, &I));
            /* map back to compact labels: every reported subset lies in lab[] */
            spex_coefs *Ic;
            CHECK_RC(ctx, spex_coefs_new(ctx, m, &Ic));
            for (int64_t e = 0; e < spex_coefs_count(I); e++) {
                const int32_t *s;
                int len;
                double x;
                spex_coefs_entry(I, e, &s, &len, &x);
                int32_t t[32];
                for (int i = 0; i < len; i++) {
                    const int32_t *p = bsearch(&s[i], lab, (size_t)m, sizeof lab[0], cmp_i32);
                    CHECK(p != NULL);
                    t[i] = p ? (int32_t)(p - lab) : 0;
                }
                CHECK_RC(ctx, spex_coefs_add(Ic, t, len, x));
            }
            /* every brute-force value matches; nothing outside the domain */
            uint32_t full = (1u << m) - 1;
            for (uint32_t T = 0; T <= full; T++) {
                int32_t s[32];
                int len = 0;
                for (int j = 0; j < m; j++)
                    if (T >> j & 1) s[len++] = j;
                double got;
                int present = spex_coefs_get(Ic, s, len, &got);
                if (isnan(want[T]))
                    CHECK(!present);
                else if (fabs(got - want[T]) > 1e-9 * (1 + fabs(want[T])))
                    fail_msg("n=10000: %s K=%d at T=0x%x: got %.17g, brute force %.17g",
                             spex_index_name((spex_index)idx), K, T, got, want[T]);
            }
            spex_test_checks++;
            spex_coefs_free(Ic);
            spex_coefs_free(I);
        }
    free(v);
    free(want);
    spex_coefs_free(a);
    spex_coefs_free(abig);
    spex_coefs_free(F);
    spex_ctx_free(ctx);
}

/* Sum of all values of I (empty set included). */
static double total(const spex_coefs *I) {
    double s = 0.0;
    for (int64_t e = 0; e < spex_coefs_count(I); e++) {
        double x;
        spex_coefs_entry(I, e, NULL, NULL, &x);
        s += x;
    }
    return s;
}

/* n = 10,000, 300 Fourier terms of degree <= 6 on random features: the
 * efficient indices sum to v(N) (empty set = v(∅) included), orders never
 * exceed K, and at K = 6 (the game's degree) k-SII, FSII, FBII and STII equal
 * the Möbius transform. */
static void test_large_n_axioms(void **state) {
    (void)state;
    const int64_t n = 10000;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 99);
    spex_coefs *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &F));
    for (int i = 0; i < 300; i++) {
        int d = (int)spex_rng_below(&r, 7);
        int32_t s[8];
        for (int j = 0; j < d; j++)
            s[j] = (int32_t)spex_rng_below(&r, (uint64_t)n);
        qsort(s, (size_t)d, sizeof s[0], cmp_i32);
        int len = 0;
        for (int j = 0; j < d; j++)
            if (!len || s[len - 1] != s[j]) s[len++] = s[j];
        CHECK_RC(ctx, spex_coefs_add(F, s, len, spex_rng_normal(&r)));
    }
    size_t words = spex_bits_words(n);
    uint64_t *zero = calloc(words, 8), *ones = calloc(words, 8);
    for (int64_t j = 0; j < n; j++)
        spex_bits_set(ones, j, 1);
    double v0 = spex_coefs_eval_fourier(F, zero), vN = spex_coefs_eval_fourier(F, ones);
    static const spex_index efficient[] = {SPEX_INDEX_SV, SPEX_INDEX_KSII, SPEX_INDEX_STII,
                                           SPEX_INDEX_FSII, SPEX_INDEX_MOBIUS};
    for (int K = 1; K <= 3; K++)
        for (size_t i = 0; i < sizeof efficient / sizeof efficient[0]; i++) {
            spex_coefs *I;
            CHECK_RC(ctx, spex_interactions(F, efficient[i], K, &I));
            if (efficient[i] != SPEX_INDEX_MOBIUS) CHECK_NEAR(total(I), vN, 1e-8);
            double e0;
            spex_coefs_get(I, NULL, 0, &e0);
            CHECK_NEAR(e0, v0, 1e-10);
            CHECK(spex_coefs_max_order(I) <= K);
            spex_coefs_free(I);
        }
    spex_coefs *M, *I;
    CHECK_RC(ctx, spex_interactions(F, SPEX_INDEX_MOBIUS, 6, &M));
    CHECK_NEAR(total(M), vN, 1e-8);
    static const spex_index same[] = {SPEX_INDEX_KSII, SPEX_INDEX_FSII, SPEX_INDEX_FBII,
                                      SPEX_INDEX_STII};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        CHECK_RC(ctx, spex_interactions(F, same[i], 6, &I));
        double worst = 0.0;
        for (int64_t e = 0; e < spex_coefs_count(M); e++) {
            const int32_t *s;
            int len;
            double x, y;
            spex_coefs_entry(M, e, &s, &len, &x);
            spex_coefs_get(I, s, len, &y);
            if (fabs(x - y) > worst) worst = fabs(x - y);
        }
        for (int64_t e = 0; e < spex_coefs_count(I); e++) { /* nothing else, up to rounding */
            const int32_t *s;
            int len;
            double x, y;
            spex_coefs_entry(I, e, &s, &len, &y);
            if (!spex_coefs_get(M, s, len, &x) && fabs(y) > worst) worst = fabs(y);
        }
        CHECK_NEAR(worst, 0.0, 1e-9);
        spex_coefs_free(I);
    }
    spex_coefs_free(M);
    free(zero);
    free(ones);
    spex_coefs_free(F);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_games),
        cmocka_unit_test(test_16_features),
        cmocka_unit_test(test_large_n_vs_compact),
        cmocka_unit_test(test_large_n_axioms),
    };
    SPEX_RUN_TESTS(tests);
}
