/*
 * SPEX: sparse Fourier transform with BCH-coded sampling, soft decoding and
 * peeling (Kang et al., ICML 2025; DESIGN.md §3).
 *
 * HOW IT WORKS
 * Design. C groups, group c a uniformly random b_c×n matrix M_c over F2, and
 * P+1 delays: d_0 = 0 and d_1..d_P from the parity bits of a shortened BCH
 * code correcting t errors (spex/codes.h). Group c and delay p query
 *     f(M_cᵀℓ ⊕ d_p)   for every ℓ ∈ F2^{b_c},
 * so the structured design costs  (P+1) · Σ_c 2^{b_c}  queries.
 * Aliasing. Since <M_cᵀℓ ⊕ d, k> = <ℓ, M_c k> ⊕ <d, k>, the size-2^{b_c} WHT
 *     U_{c,p}[j] = 2^-b_c Σ_ℓ f(M_cᵀℓ ⊕ d_p) (-1)^{<ℓ,j>} = Σ_{k: M_c k = j} F(k)(-1)^{<d_p,k>}
 * puts every coefficient in bin j = M_c k of each group. A bin holding one
 * coefficient F(k) shows it in every delay with sign (-1)^{<d_p,k>}: those P
 * signs are the BCH parity bits of the message k (|k| <= t), so the decoder
 * reads k off them (hard: Berlekamp–Massey; soft: Chase on per-delay LLRs).
 * Singleton test. A decoded k is accepted when it hashes to the bin it came
 * from (M_c k = j: b_c bits of check), and the residual energy after removing
 * F̂(k)·signs is at the noise level (σ² per bin entry: from the residuals of
 * the bins whose decode hashes back, see estimate_noise; rounding level
 * when two of them already fit to rounding error).
 * Pairs. A bin holding two coefficients u_p = a₁s₁_p + a₂s₂_p (s = ±1 signs)
 * with |a₁| > |a₂| shows the signs of the larger in every delay, so the
 * decoder reads k₁ off it as off a singleton (hash-consistent, but with a
 * residual above the noise). Fitting a₁ alone gives a₁ + ρa₂ (ρ: the mean of
 * s₁s₂ over the delays) and leaves a₂(s₂ - ρs₁), whose signs are those of
 * a₂s₂ exactly since |ρ| < 1: a second decode reads k₂, a 2×2 least squares
 * fits both amplitudes, and the pair is accepted when both hash to the bin,
 * both amplitudes are significant and the two explain the bin to the noise
 * level.
 * Triples (noiseless bins only). With three coefficients, w_p = (u_0 - u_p)/2
 * is the sum of the a_i whose sign flips in delay p (d_0 flips none), so the
 * distinct values of w are subset sums of {a_1, a_2, a_3}: with dozens of
 * delays (56 at n = 1000, t = 5) each of the 8 sign patterns shows up. Every three of
 * those values whose subset sums are distinct and explain every w_p give
 * each delay's flipped set, hence each coefficient's parity bits; the three
 * are accepted when they decode exactly, hash to the bin and their joint
 * fit explains it. Noise blurs the subset sums, so triples are read only
 * when σ² is at rounding level.
 * Peeling. Each accepted F̂(k) is subtracted from the bin it lands in in every
 * group, which can turn collisions elsewhere into singletons or pairs.
 * Sweeps read singletons; a sweep that finds nothing is followed by one that
 * also reads pairs, then (noiseless) one that also reads triples, and then
 * by a relaxed one that takes the dominant coefficient of any bin (inexact
 * amplitudes, corrected when k is found again); any progress returns to
 * singletons, and peeling stops when a relaxed sweep finds nothing. A
 * sweep counts as progress only if it lowers the energy left in the bins
 * (so a wrong k bouncing between two bins with opposite amplitudes cannot
 * keep peeling busy).
 * Refit (skipped when the peeled coefficients already reproduce every sample
 * to rounding error). Least squares (ridge through Gram matrices, penalty by 5-fold CV) on every
 * sample asked (structured and any extra random masks) over the found support, the constant, and —
 * when n is small enough to afford it — all first-order terms. Budget. From --budget B and
 * --max-order t: the largest b with 3·(P+1)·2^b <= B, three groups of 2^b bins. What is left first
 * doubles two of the groups (b_c = b+1, one more group's cost each), then adds groups of 2^b bins;
 * the remainder goes to uniform random masks that join the refit (drawn again for whatever repeated
 * masks saved). Every coefficient lands in every group, so group c carries s/2^{b_c} coefficients
 * per bin: the same bins in fewer, larger groups collide less (n = 1000, t = 5, s = 100: groups of
 * 32+32+16 bins, 5,000 queries, peel all with pairs, and 32+16+16, 3,600 queries, with pairs and
 * triples; five groups of 16, 5,000 queries, do not). When b would drop below 3, t is degraded
 * first, then b and C, down to the minimum 1·(P_1+1)·2 (t = 1, b = 1).
 */
#include "algo/algo_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/codes.h"
#include "spex/linalg.h"
#include "spex/masks.h"
#include "spex/rng.h"
#include "spex/transform.h"

#define SPEX_B_MIN 3
#define SPEX_B_MAX 20
#define SPEX_FIRST_ORDER_MAX_N 256
#define SPEX_C_MAX 64

typedef struct {
    int b, t, C, P;     /* b: bits of the largest group */
    int gb[SPEX_C_MAX]; /* group c has 2^gb[c] bins */
    int64_t structured, random;
} spexi_plan;

static int parity_bits(spex_ctx *ctx, int64_t n, int t, int *P) {
    spex_bch *bch;
    int rc = spex_bch_new(ctx, n, t, &bch);
    if (rc) return rc;
    *P = spex_bch_n_parity(bch);
    spex_bch_free(bch);
    return SPEX_OK;
}

static int64_t plan_cost(int C, int P, int b) {
    return (int64_t)C * (P + 1) * ((int64_t)1 << b);
}

/* Chooses (b, t, C) for the budget; see the HOW IT WORKS block. */
static int make_plan(spex_ctx *ctx, int64_t n, int64_t budget, int t_req, spexi_plan *plan) {
    int b_cap = n < SPEX_B_MAX ? (int)n : SPEX_B_MAX;
    if (t_req > n) t_req = (int)n;
    if (t_req > SPEX_BCH_MAX_T) t_req = SPEX_BCH_MAX_T;
    if (budget <= 0) { /* no budget: b = 8 (or n), three groups */
        int P, rc = parity_bits(ctx, n, t_req, &P);
        if (rc) return rc;
        int b = b_cap < 8 ? b_cap : 8;
        *plan = (spexi_plan){.b = b, .t = t_req, .C = 3, .P = P, .structured = plan_cost(3, P, b)};
        for (int c = 0; c < 3; c++)
            plan->gb[c] = b;
        return SPEX_OK;
    }
    int min_P = -1;
    for (int t = t_req; t >= 1; t--) {
        int P, rc = parity_bits(ctx, n, t, &P);
        if (rc) return rc;
        if (t == 1) min_P = P;
        int b_lo = t == 1 ? 1 : (b_cap < SPEX_B_MIN ? b_cap : SPEX_B_MIN);
        for (int b = b_cap; b >= b_lo; b--) {
            for (int C = 3; C >= (t == 1 && b == b_lo ? 1 : 3); C--) {
                if (plan_cost(C, P, b) > budget) continue;
                int64_t unit = plan_cost(1, P, b), left = budget - plan_cost(C, P, b);
                *plan = (spexi_plan){.b = b, .t = t, .C = C, .P = P};
                for (int c = 0; c < C; c++)
                    plan->gb[c] = b;
                /* the rest: first double two of the three groups (each
                 * costs one more group), then add groups of 2^b bins */
                for (int c = 0; C == 3 && c < 2 && b < b_cap && left >= unit; c++) {
                    plan->gb[c] = b + 1;
                    plan->b = b + 1;
                    left -= unit;
                }
                while (plan->C < SPEX_C_MAX && left >= unit) {
                    plan->gb[plan->C++] = b;
                    left -= unit;
                }
                plan->structured = budget - left;
                plan->random = left;
                return SPEX_OK;
            }
        }
    }
    return spex_seterr(ctx, SPEX_E_BUDGET,
                       "a budget of %lld queries is too small for spex at n = %lld: the minimum "
                       "is %lld (interaction order 1, one group of 2 bins, %d delays); raise "
                       "--budget or use --method proxyspex, which works with any budget",
                       (long long)budget, (long long)n, (long long)plan_cost(1, min_P, 1),
                       min_P + 1);
}

typedef struct {
    spex_ctx *ctx;
    int64_t n;
    size_t words;
    spexi_plan pl;
    spex_bch *bch;
    uint64_t *rows;   /* (C, b, words): rows of M_c (the first gb[c] used) */
    uint32_t *cols;   /* (C, n): column i of M_c as a gb[c]-bit integer */
    uint64_t *delays; /* (P+1, words): d_0 = 0, d_p */
    double *U;        /* group c: (P+1, 2^gb[c]) aliased bins from off[c] */
    size_t off[SPEX_C_MAX + 1];
    double sigma2; /* noise variance per bin entry */
    double floor2; /* rounding-error level of a bin entry's energy */
} spexi_state;

static double *bin(spexi_state *s, int c, int p) {
    return s->U + s->off[c] + ((size_t)p << s->pl.gb[c]);
}

static uint32_t hash_k(const spexi_state *s, int c, const int32_t *k, int len) {
    uint32_t h = 0;
    for (int i = 0; i < len; i++)
        h ^= s->cols[(size_t)c * (size_t)s->n + (size_t)k[i]];
    return h;
}

/* Draws the C random matrices (rows and column hashes), builds the code and
 * the delays, and allocates the bins for the plan in s->pl. */
static int design_init(spexi_state *s, uint64_t seed) {
    spex_ctx *ctx = s->ctx;
    int64_t n = s->n;
    s->off[0] = 0;
    for (int c = 0; c < s->pl.C; c++)
        s->off[c + 1] = s->off[c] + ((size_t)(s->pl.P + 1) << s->pl.gb[c]);
    int rc = spex_bch_new(ctx, n, s->pl.t, &s->bch);
    if (rc) return rc;
    s->rows = spex_calloc(ctx, (size_t)s->pl.C * (size_t)s->pl.b, s->words * sizeof *s->rows);
    s->cols = spex_calloc(ctx, (size_t)s->pl.C, (size_t)n * sizeof *s->cols);
    s->delays = spex_calloc(ctx, (size_t)s->pl.P + 1, s->words * sizeof *s->delays);
    s->U = spex_calloc(ctx, s->off[s->pl.C], sizeof *s->U);
    if (!s->rows || !s->cols || !s->delays || !s->U) return SPEX_E_NOMEM;
    spex_rng rng;
    spex_rng_seed_stream(&rng, seed, 0x5e3c);
    for (int c = 0; c < s->pl.C; c++)
        for (int r = 0; r < s->pl.gb[c]; r++) {
            uint64_t *row = s->rows + ((size_t)c * (size_t)s->pl.b + (size_t)r) * s->words;
            spex_rng_bits(&rng, row, s->words, n);
            for (int64_t i = 0; i < n; i++)
                if (spex_bits_get(row, i)) s->cols[(size_t)c * (size_t)n + (size_t)i] |= 1u << r;
        }
    for (int p = 0; !rc && p < s->pl.P; p++)
        rc = spex_bch_delay(s->bch, p, s->delays + (size_t)(p + 1) * s->words);
    return rc;
}

static void design_free(spexi_state *s) {
    spex_free(s->ctx, s->rows);
    spex_free(s->ctx, s->cols);
    spex_free(s->ctx, s->delays);
    spex_free(s->ctx, s->U);
    spex_bch_free(s->bch);
}

/* Builds masks M_cᵀℓ ⊕ d_p for all ℓ (Gray-code order, stored at index ℓ),
 * queries them, and WHT-transforms into U_{c,p}. */
static int sample_groups(spexi_state *s, spex_query *q) {
    spex_ctx *ctx = s->ctx;
    spex_masks *m = NULL;
    int rc = spex_masks_new(ctx, s->n, (int64_t)1 << s->pl.b, &m);
    uint64_t *cur = spex_calloc(ctx, s->words, sizeof *cur);
    if (!cur) rc = SPEX_E_NOMEM;
    for (int c = 0; !rc && c < s->pl.C; c++) {
        int64_t L = (int64_t)1 << s->pl.gb[c];
        for (int p = 0; !rc && p <= s->pl.P; p++) {
            spex_masks_clear(m);
            for (int64_t i = 0; !rc && i < L; i++)
                rc = spex_masks_append_zero(m, NULL);
            if (rc) break;
            memcpy(cur, s->delays + (size_t)p * s->words, s->words * sizeof *cur);
            uint64_t prev = 0;
            for (int64_t i = 0; i < L; i++) {
                uint64_t g = (uint64_t)i ^ ((uint64_t)i >> 1); /* Gray code: one bit changes */
                if (i) {
                    int r = __builtin_ctzll(g ^ prev);
                    const uint64_t *row =
                        s->rows + ((size_t)c * (size_t)s->pl.b + (size_t)r) * s->words;
                    for (size_t w = 0; w < s->words; w++)
                        cur[w] ^= row[w];
                }
                memcpy(spex_masks_row(m, (int64_t)g), cur, s->words * sizeof *cur);
                prev = g;
            }
            double *u = bin(s, c, p);
            rc = spex_query_eval(q, m, u);
            if (rc) break;
            spex_wht(u, s->pl.gb[c]);
            for (int64_t j = 0; j < L; j++)
                u[j] /= (double)L;
        }
    }
    spex_free(ctx, cur);
    spex_masks_free(m);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Copies bin (c, j)'s values in every delay into u (P+1 entries). */
static void bin_values(spexi_state *s, int c, int64_t j, double *u) {
    for (int p = 0; p <= s->pl.P; p++)
        u[p] = bin(s, c, p)[j];
}

/* Decodes u, the values of bin (c, j) (or what remains of them), as if it
 * held one coefficient: on a decode whose k hashes back to j, fills res, *amp
 * (least-squares amplitude given k), *resid (residual energy per delay) and
 * *energy, and returns 1. bits and llr are scratch of P+1 entries; bits ends
 * as k's parity bits. */
static int decode_vec(spexi_state *s, int c, int64_t j, const double *u, spex_decoder dec,
                      double min_energy, uint8_t *bits, double *llr, spex_bch_result *res,
                      double *amp, double *resid, double *energy) {
    int P = s->pl.P;
    double e = 0;
    for (int p = 0; p <= P; p++)
        e += u[p] * u[p];
    *energy = e / (P + 1);
    if (e == 0.0 || *energy <= min_energy) return 0; /* nothing to decode */
    /* amplitude guess: median magnitude with the sign of delay 0 (d_0 = 0) */
    for (int p = 0; p <= P; p++)
        llr[p] = fabs(u[p]);
    qsort(llr, (size_t)P + 1, sizeof *llr, cmp_double);
    double a = llr[(P + 1) / 2] * (u[0] < 0 ? -1.0 : 1.0);
    int rc;
    for (int p = 0; p < P; p++)
        bits[p] = (uint8_t)((u[p + 1] < 0) != (a < 0));
    rc = spex_bch_decode(s->bch, bits, res);
    /* Soft decoding only where it can change the answer: a hard decode whose
     * parity bits all agree with the observed signs has Chase metric 0, and
     * no other k of weight <= t has the same parity bits (distance 2t+1), so
     * Chase would return the same k — at 2^depth times the cost. */
    if (dec == SPEX_DECODER_SOFT && !(rc == SPEX_OK && res->n_parity_err == 0)) {
        /* LLR of bit p for u_p = ±a + N(0, σ²): 2·a·u_p/σ² */
        for (int p = 0; p < P; p++)
            llr[p] = 2.0 * a * u[p + 1] / s->sigma2;
        spex_chase_opts co = spex_chase_opts_default();
        rc = spex_bch_decode_chase(s->bch, llr, &co, res);
    }
    if (rc != SPEX_OK) return 0;
    if (hash_k(s, c, res->k, res->len) != (uint32_t)j) return 0;
    spex_bch_encode(s->bch, res->k, res->len, bits);
    double f = u[0];
    for (int p = 0; p < P; p++)
        f += bits[p] ? -u[p + 1] : u[p + 1];
    f /= (P + 1);
    double r = (u[0] - f) * (u[0] - f);
    for (int p = 0; p < P; p++) {
        double d = u[p + 1] - (bits[p] ? -f : f);
        r += d * d;
    }
    *amp = f;
    *resid = r / (P + 1);
    return 1;
}

/* Noise variance per bin entry. The residuals of bins that decode to a k
 * hashing back to themselves are, for true singletons (most of them: a wrong
 * k passes the hash with probability 2^-b), pure noise: their median
 * estimates σ² (a low quantile, see below). Without such bins, the quietest quarter of the bins
 * (likely empty) does. Two residuals at rounding level mean noiseless data (noise never fits that
 * well), however crowded the other bins: σ² is then the floor, a level relative to the largest bin
 * that keeps noiseless data from dividing by zero. */
static int estimate_noise(spexi_state *s, spex_decoder dec, uint8_t *bits, double *llr) {
    int64_t nb = 0, n_res = 0;
    for (int c = 0; c < s->pl.C; c++)
        nb += (int64_t)1 << s->pl.gb[c];
    double *e = spex_malloc(s->ctx, (size_t)nb * sizeof *e);
    double *rs = spex_malloc(s->ctx, (size_t)nb * sizeof *rs), emax = 0;
    if (!e || !rs) {
        spex_free(s->ctx, e);
        spex_free(s->ctx, rs);
        return SPEX_E_NOMEM;
    }
    s->sigma2 = 1.0; /* only scales the LLRs for this pass */
    int64_t i = 0;
    for (int c = 0; c < s->pl.C; c++)
        for (int64_t j = 0; j < (int64_t)1 << s->pl.gb[c]; j++, i++) {
            spex_bch_result res;
            double u[1 + SPEX_BCH_MAX_M * SPEX_BCH_MAX_T]; /* P <= m * t */
            double amp, resid, energy;
            bin_values(s, c, j, u);
            if (decode_vec(s, c, j, u, dec, 0.0, bits, llr, &res, &amp, &resid, &energy))
                rs[n_res++] = resid;
            e[i] = energy;
            if (energy > emax) emax = energy;
        }
    double est;
    s->floor2 = 1e-13 * emax + 1e-300;
    int64_t n_exact = 0;
    for (int64_t r = 0; r < n_res; r++)
        n_exact += rs[r] <= 1e3 * s->floor2;
    if (n_exact >= 2) { /* two decodes already fit to rounding: noiseless data */
        est = s->floor2;
    } else if (n_res >= 5) {
        /* the 20th percentile, scaled up by the chi-square quantile ratio:
         * in crowded designs many hash-consistent bins are multitons with a
         * dominant coefficient, and they inflate the upper quantiles */
        qsort(rs, (size_t)n_res, sizeof *rs, cmp_double);
        double q = 1.0 - 0.84 * sqrt(2.0 / (s->pl.P + 1));
        est = rs[n_res / 5] / (q > 0.25 ? q : 0.25);
    } else {
        qsort(e, (size_t)nb, sizeof *e, cmp_double);
        est = e[nb / 4];
    }
    s->sigma2 = fmax(est, s->floor2);
    spex_free(s->ctx, e);
    spex_free(s->ctx, rs);
    return SPEX_OK;
}

/* One coefficient read off a bin: its support, parity bits and amplitude. */
typedef struct {
    spex_bch_result res;
    uint8_t *bits; /* P entries, scratch owned by the sweep */
    double amp;
} spexi_found;

/* Sign of coefficient i of f in delay p (d_0 = 0: always +1). */
static double sign_of(const spexi_found *f, int p) {
    return p && f->bits[p - 1] ? -1.0 : 1.0;
}

/* Least squares of u (P+1 values) on the sign columns of f[0..m-1] (m <= 3):
 * sets their amplitudes and returns the residual energy per entry, or -1
 * when the columns are too alike to separate (a pivot below N/4). */
static double fit_signs(const spexi_state *s, const double *u, spexi_found *f, int m) {
    int N = s->pl.P + 1;
    double G[3][4] = {{0}}; /* (m, m+1): normal equations, right-hand side last */
    for (int p = 0; p < N; p++)
        for (int a = 0; a < m; a++) {
            for (int b = 0; b < m; b++)
                G[a][b] += sign_of(&f[a], p) * sign_of(&f[b], p);
            G[a][m] += sign_of(&f[a], p) * u[p];
        }
    for (int a = 0; a < m; a++) { /* Gauss–Jordan; G is positive semi-definite */
        if (G[a][a] < 0.25 * N) return -1.0;
        for (int b = 0; b < m; b++) {
            if (b == a) continue;
            double r = G[b][a] / G[a][a];
            for (int e = a; e <= m; e++)
                G[b][e] -= r * G[a][e];
        }
    }
    for (int a = 0; a < m; a++)
        f[a].amp = G[a][m] / G[a][a];
    double rr = 0;
    for (int p = 0; p < N; p++) {
        double d = u[p];
        for (int a = 0; a < m; a++)
            d -= f[a].amp * sign_of(&f[a], p);
        rr += d * d;
    }
    return rr / N;
}

/* Accepts m coefficients read off one bin when each is new, their joint fit
 * explains u to the noise level thr and every amplitude is significant. */
static int accept_fit(const spexi_state *s, const double *u, spexi_found *f, int m, double thr) {
    for (int a = 0; a < m; a++)
        for (int b = 0; b < a; b++)
            if (f[a].res.len == f[b].res.len &&
                !memcmp(f[a].res.k, f[b].res.k, (size_t)f[a].res.len * sizeof *f[a].res.k))
                return 0;
    double rr = fit_signs(s, u, f, m);
    if (rr < 0 || rr > thr) return 0;
    for (int a = 0; a < m; a++)
        if (f[a].amp * f[a].amp <= 9.0 * s->sigma2 / (s->pl.P + 1)) return 0;
    return 1;
}

/* The second coefficient of a two-coefficient bin u whose first decode gave
 * f[0] (see HOW IT WORKS): decodes the signs of what the first leaves and
 * accepts both when their joint fit explains u (accept_fit). */
static int read_pair(spexi_state *s, int c, int64_t j, const double *u, spex_decoder dec,
                     double thr, double *llr, spexi_found *f) {
    int P = s->pl.P;
    double r[1 + SPEX_BCH_MAX_M * SPEX_BCH_MAX_T], amp, resid, energy;
    for (int p = 0; p <= P; p++)
        r[p] = u[p] - f[0].amp * sign_of(&f[0], p);
    if (!decode_vec(s, c, j, r, dec, 0.0, f[1].bits, llr, &f[1].res, &amp, &resid, &energy))
        return 0;
    return accept_fit(s, u, f, 2, thr);
}

/* Three coefficients a_1..a_3 in bin u (see HOW IT WORKS): w_p = (u_0 - u_p)/2
 * is the sum of the a_i whose sign flips in delay p, so the distinct values
 * of w are subset sums of {a_1, a_2, a_3}. Tries every three of them whose
 * subset sums are distinct and explain every w_p, reads each coefficient's
 * signs off the subset of each delay, hard-decodes them and accepts the
 * three when accept_fit does. */
static int read_triple(spexi_state *s, int c, int64_t j, const double *u, double thr,
                       spexi_found *f) {
    int P = s->pl.P, N = P + 1, nl = 0;
    double w[1 + SPEX_BCH_MAX_M * SPEX_BCH_MAX_T], lv[8], scale = 0;
    for (int p = 0; p < N; p++) {
        w[p] = 0.5 * (u[0] - u[p]);
        scale = fmax(scale, fabs(u[p]));
    }
    double tol = 1e-9 * scale + 3.0 * sqrt(s->sigma2);
    /* distinct nonzero levels of w, at most 7 */
    for (int p = 0; p < N; p++) {
        if (fabs(w[p]) <= tol) continue;
        int l = 0;
        while (l < nl && fabs(w[p] - lv[l]) > tol)
            l++;
        if (l == nl) {
            if (nl == 7) return 0;
            lv[nl++] = w[p];
        }
    }
    for (int x = 0; x < nl; x++)
        for (int y = x + 1; y < nl; y++)
            for (int z = y + 1; z < nl; z++) {
                double a[3] = {lv[x], lv[y], lv[z]}, sum[8];
                int ok = 1;
                for (int m = 0; m < 8; m++)
                    sum[m] = (m & 1 ? a[0] : 0) + (m & 2 ? a[1] : 0) + (m & 4 ? a[2] : 0);
                for (int m = 0; ok && m < 8; m++)
                    for (int m2 = 0; ok && m2 < m; m2++)
                        if (fabs(sum[m] - sum[m2]) <= 2 * tol) ok = 0;
                /* each delay's subset: its flipped coefficients */
                for (int p = 1; ok && p < N; p++) {
                    int m = 0;
                    while (m < 8 && fabs(w[p] - sum[m]) > tol)
                        m++;
                    if (m == 8) ok = 0;
                    for (int i = 0; ok && i < 3; i++)
                        f[i].bits[p - 1] = (uint8_t)((m >> i) & 1);
                }
                for (int i = 0; ok && i < 3; i++)
                    ok = spex_bch_decode(s->bch, f[i].bits, &f[i].res) == SPEX_OK &&
                         f[i].res.n_parity_err == 0 &&
                         hash_k(s, c, f[i].res.k, f[i].res.len) == (uint32_t)j;
                if (ok && accept_fit(s, u, f, 3, thr)) return 1;
            }
    return 0;
}

/* Triples need exact subset sums: bins noiseless to rounding error. */
static int noiseless(const spexi_state *s) {
    return s->sigma2 <= 1e3 * s->floor2;
}

/* What a sweep accepts from a bin, in the order peeling tries them. */
enum { SPEX_READ_SINGLE, SPEX_READ_PAIR, SPEX_READ_TRIPLE, SPEX_READ_DOMINANT };

/* Reads bin (c, j): returns how many coefficients it yields into f (0, 1,
 * or 2). Every level takes a singleton (a hash-consistent decode whose
 * residual is at the noise level and whose amplitude is significant);
 * SPEX_READ_PAIR also a pair (read_pair); SPEX_READ_DOMINANT instead the
 * dominant coefficient of any bin. */
static int read_bin(spexi_state *s, int c, int64_t j, spex_decoder dec, int level, double *llr,
                    spexi_found *f) {
    int relaxed = level == SPEX_READ_DOMINANT;
    int P = s->pl.P;
    double u[1 + SPEX_BCH_MAX_M * SPEX_BCH_MAX_T], resid, energy;
    double thr = s->sigma2 * (1.0 + 3.0 * sqrt(2.0 / (P + 1)));
    bin_values(s, c, j, u);
    /* skip the decoder on bins that cannot pass (after peeling, most bins
     * are empty): strict sweeps need energy above the noise level; relaxed
     * ones, whose noise estimate crowding may inflate, only above rounding */
    int one = decode_vec(s, c, j, u, dec, relaxed ? 1e3 * s->floor2 : thr, f[0].bits, llr,
                         &f[0].res, &f[0].amp, &resid, &energy);
    if (relaxed) {
        /* when strict sweeps are stuck, take the dominant coefficient of a
         * bin whose hash-consistent decode explains a tenth of its energy or
         * more (the reference implementation's test); what remains is
         * peeled later or refined when k is found again (amplitudes add up).
         * No test here leans on the noise estimate, which crowded designs
         * inflate; the refit drops what turns out to be noise. */
        return one && resid <= 0.9 * energy && f[0].amp * f[0].amp >= 1e-6 * energy;
    }
    if (energy <= thr) return 0; /* zero-ton */
    if (!one || resid > thr) {   /* multiton */
        if (one && level >= SPEX_READ_PAIR && read_pair(s, c, j, u, dec, thr, llr, f)) return 2;
        if (level == SPEX_READ_TRIPLE && noiseless(s) && read_triple(s, c, j, u, thr, f)) return 3;
        return 0;
    }
    if (f[0].amp * f[0].amp <= 9.0 * s->sigma2 / (P + 1)) return 0; /* not significant */
    return 1;
}
/* Subtracts amp·(-1)^{<d_p,k>} from k's bin in every group. */
static void peel(spexi_state *s, const spexi_found *f) {
    for (int c = 0; c < s->pl.C; c++) {
        uint32_t j = hash_k(s, c, f->res.k, f->res.len);
        bin(s, c, 0)[j] -= f->amp;
        for (int p = 0; p < s->pl.P; p++)
            bin(s, c, p + 1)[j] -= f->bits[p] ? -f->amp : f->amp;
    }
}

/* Energy left in all bins. */
static double bins_energy(spexi_state *s) {
    double e = 0;
    for (size_t i = 0; i < s->off[s->pl.C]; i++)
        e += s->U[i] * s->U[i];
    return e;
}

/* The refit's support: every coefficient found plus, when n is small
 * enough to afford it, every first-order term. first_extra: the first sample
 * row that is not part of the structured design; bins_clean: peeling left every bin empty (to
 * rounding error). */
static int refit(spexi_state *s, spex_query *q, spex_coefs *found, int64_t first_extra,
                 int bins_clean, spex_coefs **fourier) {
    /* Peeling that explains every sample to rounding error (noiseless data,
     * all coefficients found) leaves nothing for a regression to improve:
     * keep its values. Empty bins mean every structured sample is reproduced
     * (the bins are an invertible transform of them), so only the extra
     * random samples need checking. */
    const spex_masks *ms = spex_query_masks(q);
    const double *y = spex_query_values(q);
    int64_t rows = spex_masks_count(ms);
    double scale = 0, ss_res = 0;
    for (int64_t r = 0; r < rows; r++)
        scale += y[r] * y[r];
    for (int64_t r = first_extra; bins_clean && r < rows; r++) {
        double d = y[r] - spex_coefs_eval_fourier(found, spex_masks_crow(ms, r));
        ss_res += d * d;
    }
    if (bins_clean && rows > 0 && ss_res <= 1e-20 * scale) {
        int rc = spex_coefs_clone(found, fourier);
        if (!rc) rc = spex_coefs_prune(*fourier, 0.0);
        return rc;
    }
    spex_coefs *support = NULL;
    int rc = spex_coefs_new(s->ctx, s->n, &support);
    for (int64_t i = 0; !rc && i < spex_coefs_count(found); i++) {
        const int32_t *idx;
        int len;
        spex_coefs_entry(found, i, &idx, &len, NULL);
        if (len) rc = spex_coefs_set(support, idx, len, 0.0);
    }
    if (s->n <= SPEX_FIRST_ORDER_MAX_N)
        for (int32_t j = 0; !rc && j < (int32_t)s->n; j++)
            rc = spex_coefs_add(support, &j, 1, 0.0);
    if (!rc) rc = spexi_refit_fourier(s->ctx, q, support, fourier);
    spex_coefs_free(support);
    return rc;
}

int spexi_algo_spex(spex_ctx *ctx, spex_query *q, int64_t n, const spex_explain_opts *opts,
                    spex_coefs **fourier, spex_details *details) {
    spexi_state s;
    memset(&s, 0, sizeof s);
    s.ctx = ctx;
    s.n = n;
    s.words = spex_bits_words(n);
    int64_t budget = opts->budget > 0 ? spex_query_budget_left(q) : 0;
    int rc =
        make_plan(ctx, n, budget, opts->degree > 0 ? opts->degree : SPEX_AUTO_DEGREE_MAX, &s.pl);
    spex_coefs *found = NULL;
    spex_masks *extra = NULL;
    double *extra_vals = NULL;
    uint8_t *bits = NULL;
    double *llr = NULL;
    if (rc) return rc;
    rc = design_init(&s, opts->seed);
    if (rc) goto done;
    bits = spex_calloc(ctx, 3 * ((size_t)s.pl.P + 1), 1); /* (3, P+1): one per spexi_found */
    llr = spex_calloc(ctx, (size_t)s.pl.P + 1, sizeof *llr);
    if (!bits || !llr) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    if (!rc) rc = sample_groups(&s, q);
    /* the rest of the budget: uniformly random masks for the refit. Masks
     * repeated inside the design, or drawn again, are asked once and cost
     * nothing: draw again for what they saved (a few rounds, in case 2^n is
     * not much larger than the budget) */
    int64_t asked_structured = spex_query_n_asked(q);
    spex_rng rr;
    spex_rng_seed_stream(&rr, opts->seed, 0xa11);
    for (int round = 0; !rc && opts->budget > 0 && round < 8 && spex_query_budget_left(q) > 0;
         round++) {
        int64_t want = spex_query_budget_left(q);
        spex_masks_free(extra);
        spex_free(ctx, extra_vals);
        extra = NULL;
        extra_vals = NULL;
        rc = spex_masks_new(ctx, n, want, &extra);
        for (int64_t i = 0; !rc && i < want; i++) {
            uint64_t *row;
            rc = spex_masks_append_zero(extra, &row);
            if (!rc) spex_rng_bits(&rr, row, s.words, n);
        }
        if (!rc) extra_vals = spex_malloc(ctx, (size_t)want * sizeof *extra_vals);
        if (!rc && !extra_vals) rc = SPEX_E_NOMEM;
        if (!rc) rc = spex_query_eval(q, extra, extra_vals);
    }
    if (rc) goto done;
    double t_solve = spex_now();
    double energy0 = bins_energy(&s);
    rc = estimate_noise(&s, opts->decoder, bits, llr);
    if (!rc) rc = spex_coefs_new(ctx, n, &found);
    int64_t n_pairs = 0, n_triples = 0, sweeps = 0;
    /* singletons; when stuck, pairs too; when stuck again, dominant
     * coefficients; after any progress, back to singletons */
    int level = SPEX_READ_SINGLE;
    for (int changed = 1; !rc && sweeps < 8 * s.pl.C + 16; sweeps++) {
        if (!changed) {
            if (level == SPEX_READ_DOMINANT) break;
            level++;
            if (level == SPEX_READ_TRIPLE && !noiseless(&s)) level++;
        } else {
            level = SPEX_READ_SINGLE;
        }
        changed = 0;
        double e_sweep = bins_energy(&s);
        for (int c = 0; !rc && c < s.pl.C; c++)
            for (int64_t j = 0; !rc && j < (int64_t)1 << s.pl.gb[c]; j++) {
                spexi_found f[3];
                for (int i = 0; i < 3; i++)
                    f[i].bits = bits + (size_t)i * (size_t)(s.pl.P + 1);
                int got = read_bin(&s, c, j, opts->decoder, level, llr, f);
                n_pairs += got == 2;
                n_triples += got == 3;
                for (int i = 0; !rc && i < got; i++) {
                    peel(&s, &f[i]);
                    rc = spex_coefs_add(found, f[i].res.k, f[i].res.len, f[i].amp);
                    changed = 1;
                }
            }
        /* a sweep whose peels leave as much energy in the bins as before
         * (one k bouncing between two bins with opposite amplitudes)
         * made no progress */
        if (changed && !(bins_energy(&s) < (1.0 - 1e-9) * e_sweep)) changed = 0;
    }
    if (!rc)
        rc = refit(&s, q, found, asked_structured, bins_energy(&s) <= 1e-20 * energy0, fourier);
    if (!rc && details) {
        spex_spex_details *dd = &details->u.spex;
        memset(details, 0, sizeof *details);
        details->kind = SPEX_DETAILS_SPEX;
        dd->C = s.pl.C;
        for (int c = 0; c < s.pl.C && c < SPEX_DETAILS_MAX_GROUPS; c++)
            dd->b[c] = s.pl.gb[c];
        dd->t = s.pl.t;
        dd->delays = s.pl.P + 1;
        dd->structured = s.pl.structured;
        dd->structured_distinct = asked_structured;
        dd->random = spex_query_n_asked(q) - asked_structured;
        dd->found = spex_coefs_count(found);
        dd->sweeps = sweeps;
        dd->pairs = n_pairs;
        dd->triples = n_triples;
        dd->seconds = spex_now() - t_solve;
    }
done:
    spex_coefs_free(found);
    spex_masks_free(extra);
    spex_free(ctx, extra_vals);
    spex_free(ctx, bits);
    spex_free(ctx, llr);
    design_free(&s);
    return rc;
}

int spexi_sft_sample_for_test(spex_ctx *ctx, spex_query *q, int64_t n, int b, int t, int C,
                              uint64_t seed, spexi_sft_view *out) {
    spexi_state s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    s.ctx = ctx;
    s.n = n;
    s.words = spex_bits_words(n);
    int rc = parity_bits(ctx, n, t, &s.pl.P);
    if (rc) return rc;
    if (C < 1 || C > SPEX_C_MAX) return SPEX_E_INVAL;
    s.pl.b = b;
    s.pl.t = t;
    s.pl.C = C;
    for (int c = 0; c < C; c++)
        s.pl.gb[c] = b;
    rc = design_init(&s, seed);
    if (!rc) rc = sample_groups(&s, q);
    if (!rc) {
        *out = (spexi_sft_view){b, t, C, s.pl.P, s.U, s.cols, s.delays};
        s.U = NULL;
        s.cols = NULL;
        s.delays = NULL;
    }
    design_free(&s);
    return rc;
}

void spexi_sft_view_free(spex_ctx *ctx, spexi_sft_view *v) {
    spex_free(ctx, v->U);
    spex_free(ctx, v->cols);
    spex_free(ctx, v->delays);
    memset(v, 0, sizeof *v);
}
