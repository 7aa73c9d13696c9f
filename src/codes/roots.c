/* Root finding for the BCH error locator: Chien search (the plain reference,
 * and the fastest way for short codes) and the Berlekamp trace algorithm,
 * whose cost does not depend on the code length (n = 100,000 features).
 * Both report error positions inside the shortened code only. */
#include "codes/codes_int.h"

#include <string.h>

/*
 * HOW IT WORKS: Chien search.
 * Lambda(x) = 1 + lambda_1 x + ... + lambda_L x^L has a root alpha^{-pos}
 * for every error position pos. The shortened code only has positions
 * 0..n+P-1 (parity bits, then message bits; the rest of the 2^m - 1 were
 * fixed to 0 and cannot be in error), so only those are tried. Term i at
 * position pos is lambda_i alpha^{-i pos}; keeping each term as a logarithm,
 * the next position costs one subtraction of i mod q and one table lookup
 * per term, and the sum of the terms (xor) is zero at a root. A locator
 * that does not find exactly L roots means more than t errors, or an error
 * in a position the shortened code does not have: decoding fails.
 */
int spexi_codes_roots_chien(const spex_bch *bch, const uint32_t *lambda, int L, int32_t *pos) {
    const spexi_gf *gf = &bch->gf;
    uint32_t q = gf->q;
    uint32_t e[SPEX_BCH_MAX_T], step[SPEX_BCH_MAX_T];
    int nz = 0, found = 0;
    for (int i = 1; i <= L; i++) {
        if (!lambda[i]) continue;
        e[nz] = gf->log[lambda[i]];
        step[nz] = q - (uint32_t)i; /* -i mod q; i <= t < q / 2 */
        nz++;
    }
    int64_t len = bch->n + bch->P;
    for (int64_t p = 0; p < len; p++) {
        uint32_t s = 1;
        for (int a = 0; a < nz; a++)
            s ^= gf->exp[e[a]];
        if (!s) {
            pos[found++] = (int32_t)p;
            if (found == L) break;
        }
        for (int a = 0; a < nz; a++) {
            e[a] += step[a];
            if (e[a] >= q) e[a] -= q;
        }
    }
    return found;
}

/* ---- polynomials over GF(2^m) of small degree (<= t, squares <= 2t) ---- */

#define PCAP (2 * SPEX_BCH_MAX_T + 1)

static int poly_trim(const uint32_t *a, int deg) {
    while (deg >= 0 && !a[deg])
        deg--;
    return deg;
}

/* a <- a mod b (b[db] != 0, db >= 0); returns deg a (-1 for zero). */
static int poly_rem(const spexi_gf *gf, uint32_t *a, int da, const uint32_t *b, int db) {
    uint32_t inv = spexi_gf_inv(gf, b[db]);
    for (int i = da; i >= db; i--) {
        if (!a[i]) continue;
        uint32_t c = spexi_gf_mul(gf, a[i], inv);
        for (int j = 0; j <= db; j++)
            a[i - db + j] ^= spexi_gf_mul(gf, c, b[j]);
    }
    return poly_trim(a, da < db - 1 ? da : db - 1);
}

/* out = a^2 mod f (deg a < df); squaring in characteristic 2 only squares
 * the coefficients: (sum a_i x^i)^2 = sum a_i^2 x^{2i}. Returns deg out. */
static int poly_sqr_mod(const spexi_gf *gf, const uint32_t *a, int da, const uint32_t *f, int df,
                        uint32_t *out) {
    uint32_t tmp[PCAP] = {0};
    if (da < 0) return -1;
    for (int i = 0; i <= da; i++)
        tmp[2 * i] = spexi_gf_mul(gf, a[i], a[i]);
    int d = poly_rem(gf, tmp, 2 * da, f, df);
    memcpy(out, tmp, (size_t)(d + 1) * sizeof *out);
    return d;
}

/* Monic gcd of a and b (a nonzero); returns its degree. */
static int poly_gcd(const spexi_gf *gf, const uint32_t *a, int da, const uint32_t *b, int db,
                    uint32_t *g) {
    uint32_t x[PCAP], y[PCAP];
    uint32_t *u = x, *v = y;
    memcpy(x, a, (size_t)(da + 1) * sizeof *x);
    if (db >= 0) memcpy(y, b, (size_t)(db + 1) * sizeof *y);
    int du = poly_trim(x, da), dv = poly_trim(y, db);
    while (dv >= 0) {
        du = poly_rem(gf, u, du, v, dv);
        uint32_t *w = u;
        u = v;
        v = w;
        int dw = du;
        du = dv;
        dv = dw;
    }
    uint32_t inv = spexi_gf_inv(gf, u[du]);
    for (int i = 0; i <= du; i++)
        g[i] = spexi_gf_mul(gf, u[i], inv);
    return du;
}

/* quo = f / h for monic h dividing f; returns deg quo. */
static int poly_div_exact(const spexi_gf *gf, const uint32_t *f, int df, const uint32_t *h, int dh,
                          uint32_t *quo) {
    uint32_t r[PCAP];
    memcpy(r, f, (size_t)(df + 1) * sizeof *r);
    for (int i = df; i >= dh; i--) {
        uint32_t c = r[i];
        quo[i - dh] = c;
        if (!c) continue;
        for (int j = 0; j <= dh; j++)
            r[i - dh + j] ^= spexi_gf_mul(gf, c, h[j]);
    }
    return df - dh;
}

/*
 * HOW IT WORKS: Berlekamp trace algorithm (root finding without a scan).
 * Work with the reversed locator f(x) = x^L Lambda(1/x), monic, whose roots
 * are the locators X_l = alpha^{pos_l} themselves. Two facts about GF(2^m):
 *  1. x^{2^m} - x is the product of (x - a) over all field elements, so f
 *     has L distinct roots in the field iff x^{2^m} = x mod f. m squarings
 *     mod f decide that (a multiton's locator usually fails right here).
 *  2. The trace Tr(y) = y + y^2 + ... + y^{2^{m-1}} is 0 or 1 on the field,
 *     and is linear. For a constant beta, Tr(beta x) mod f takes the value
 *     Tr(beta X_l) at each root, so gcd(f, Tr(beta x) mod f) is the product
 *     of (x - X_l) over the roots with Tr(beta X_l) = 0: a split of f.
 *     For two distinct roots some beta of the basis 1, alpha, .., alpha^{m-1}
 *     has Tr(beta X_1) != Tr(beta X_2) (the trace form is nondegenerate),
 *     so trying the m basis elements on every factor ends in linear factors.
 * With the powers x^{2^k} mod f kept from step 1, Tr(beta x) mod f is the sum
 * of beta^{2^k} x^{2^k} mod f: m L products. The total is O(m L^2 + m^2 L)
 * field operations, independent of n, against (n + P) L for Chien.
 * Each root X = alpha^pos gives pos = log X, which must be < n + P.
 */
int spexi_codes_roots_bta(const spex_bch *bch, const uint32_t *lambda, int L, int32_t *pos) {
    const spexi_gf *gf = &bch->gf;
    int m = gf->m;
    uint32_t q = gf->q;
    int64_t len = bch->n + bch->P;
    uint32_t f[SPEX_BCH_MAX_T + 1];
    for (int i = 0; i <= L; i++)
        f[i] = lambda[L - i]; /* f[L] = lambda_0 = 1 */
    if (L == 1) {
        uint32_t lg = gf->log[f[0]];
        if (lg >= len) return 0;
        pos[0] = (int32_t)lg;
        return 1;
    }
    /* X[k] = x^{2^k} mod f, k = 0..m */
    uint32_t X[SPEX_BCH_MAX_M + 1][SPEX_BCH_MAX_T];
    int dX[SPEX_BCH_MAX_M + 1];
    memset(X[0], 0, sizeof X[0]);
    X[0][1] = 1;
    dX[0] = 1;
    for (int k = 1; k <= m; k++)
        dX[k] = poly_sqr_mod(gf, X[k - 1], dX[k - 1], f, L, X[k]);
    if (dX[m] != 1 || X[m][1] != 1 || X[m][0] != 0) return 0; /* not L distinct roots */

    /* factors of f, split until all are linear */
    uint32_t fac[SPEX_BCH_MAX_T][SPEX_BCH_MAX_T + 1];
    int fdeg[SPEX_BCH_MAX_T];
    int nf = 1, pending = 1;
    memcpy(fac[0], f, (size_t)(L + 1) * sizeof *f);
    fdeg[0] = L;
    for (uint32_t j = 0; j < (uint32_t)m && pending; j++) {
        uint32_t T[SPEX_BCH_MAX_T] = {0};
        uint64_t e = j; /* log of beta^{2^k}, beta = alpha^j */
        for (int k = 0; k < m; k++) {
            uint32_t c = gf->exp[e];
            for (int i = 0; i <= dX[k]; i++)
                T[i] ^= spexi_gf_mul(gf, c, X[k][i]);
            e = (2 * e) % q;
        }
        int dT = poly_trim(T, L - 1);
        int nf0 = nf;
        for (int a = 0; a < nf0; a++) {
            if (fdeg[a] < 2) continue;
            uint32_t h[SPEX_BCH_MAX_T + 1];
            int dh = poly_gcd(gf, fac[a], fdeg[a], T, dT, h);
            if (dh <= 0 || dh >= fdeg[a]) continue;
            fdeg[nf] = poly_div_exact(gf, fac[a], fdeg[a], h, dh, fac[nf]);
            memcpy(fac[a], h, (size_t)(dh + 1) * sizeof *h);
            fdeg[a] = dh;
            nf++;
        }
        pending = 0;
        for (int a = 0; a < nf; a++)
            pending |= fdeg[a] > 1;
    }
    if (pending) return 0;
    for (int a = 0; a < nf; a++) {
        uint32_t lg = gf->log[fac[a][0]]; /* x + r: root r (= -r) */
        if (lg >= len) return 0;          /* an error outside the shortened code */
        pos[a] = (int32_t)lg;
    }
    return nf;
}
