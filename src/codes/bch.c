/* Shortened binary BCH codes: construction (field degree, generator, the
 * parity of every unit message = the SPEX delays), systematic encoding, and
 * the hard-decision decoder: syndromes -> Berlekamp-Massey -> roots (roots.c)
 * -> message support. Chase soft decoding (chase.c) reuses these stages. */
#include "codes/codes_int.h"

#include "spex/masks.h"

#include <string.h>

/* ---- construction ------------------------------------------------------ */

/* deg g for designed distance 2t + 1 over GF(2^m), q = 2^m - 1: the size of
 * the union of the cyclotomic cosets {i 2^s mod q} of i = 1..2t. Even i
 * share the coset of i/2; an odd i's coset is new iff i is its smallest
 * member (a smaller member j < i <= 2t was counted already). Needs 2t < q. */
static int generator_degree(uint32_t q, int t) {
    int deg = 0;
    for (uint32_t i = 1; i <= (uint32_t)(2 * t); i += 2) {
        int size = 0, leader = 1;
        uint64_t j = i;
        do {
            if (j < i) leader = 0;
            size++;
            j = (2 * j) % q;
        } while (j != i);
        if (leader) deg += size;
    }
    return deg;
}

/* The roots' exponents of g: every member of every counted coset. */
static int generator_exponents(uint32_t q, int t, uint32_t *exps) {
    int count = 0;
    for (uint32_t i = 1; i <= (uint32_t)(2 * t); i += 2) {
        int leader = 1;
        uint64_t j = i;
        do {
            if (j < i) leader = 0;
            j = (2 * j) % q;
        } while (j != i);
        if (!leader) continue;
        j = i;
        do {
            exps[count++] = (uint32_t)j;
            j = (2 * j) % q;
        } while (j != i);
    }
    return count;
}

/* g(x) = prod (x + alpha^e) over GF(2^m); its coefficients must lie in GF(2). */
static int build_generator(spex_bch *bch) {
    const spexi_gf *gf = &bch->gf;
    int P = bch->P, rc = SPEX_OK;
    uint32_t *exps = spex_calloc(bch->ctx, (size_t)P, sizeof *exps);
    uint32_t *g = spex_calloc(bch->ctx, (size_t)P + 1, sizeof *g);
    if (!exps || !g) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    int count = generator_exponents(gf->q, bch->t, exps);
    if (count != P) {
        rc = spex_seterr(bch->ctx, SPEX_E_INTERNAL, "BCH generator: %d roots for degree %d", count,
                         P);
        goto done;
    }
    g[0] = 1;
    for (int r = 0; r < P; r++) { /* g <- g * (x + a), deg g = r -> r + 1 */
        uint32_t a = gf->exp[exps[r]];
        for (int i = r + 1; i > 0; i--)
            g[i] = g[i - 1] ^ spexi_gf_mul(gf, a, g[i]);
        g[0] = spexi_gf_mul(gf, a, g[0]);
    }
    for (int i = 0; i <= P; i++) {
        if (g[i] > 1) {
            rc = spex_seterr(bch->ctx, SPEX_E_INTERNAL,
                             "BCH generator (m = %d, t = %d): coefficient of x^%d is not binary",
                             gf->m, bch->t, i);
            goto done;
        }
        bch->gen[i] = (uint8_t)g[i];
    }
done:
    spex_free(bch->ctx, exps);
    spex_free(bch->ctx, g);
    return rc;
}

/* cols[j] = x^{P+j} mod g as packed P-bit vectors: start from x^P mod g
 * (= g minus its leading term), then multiply by x and reduce. */
static void build_columns(spex_bch *bch) {
    int P = bch->P, pw = bch->pw;
    uint64_t glow[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64] = {0};
    uint64_t r[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64] = {0};
    for (int i = 0; i < P; i++)
        if (bch->gen[i]) glow[i >> 6] |= (uint64_t)1 << (i & 63);
    memcpy(r, glow, (size_t)pw * sizeof *r);
    uint64_t top = (uint64_t)1 << ((P - 1) & 63);
    uint64_t keep = (P & 63) ? ((uint64_t)1 << (P & 63)) - 1 : ~(uint64_t)0;
    for (int64_t j = 0; j < bch->n; j++) {
        memcpy(bch->cols + (size_t)j * pw, r, (size_t)pw * sizeof *r);
        int carry = (r[pw - 1] & top) != 0;
        for (int w = pw - 1; w > 0; w--)
            r[w] = (r[w] << 1) | (r[w - 1] >> 63);
        r[0] <<= 1;
        r[pw - 1] &= keep;
        if (carry)
            for (int w = 0; w < pw; w++)
                r[w] ^= glow[w];
    }
}

int spex_bch_new(spex_ctx *ctx, int64_t n, int t, spex_bch **out) {
    *out = NULL;
    if (t < 1 || t > SPEX_BCH_MAX_T)
        return spex_seterr(ctx, SPEX_E_RANGE, "BCH code: t = %d must be in 1..%d", t,
                           SPEX_BCH_MAX_T);
    if (n < 1)
        return spex_seterr(ctx, SPEX_E_RANGE, "BCH code: n = %lld message bits must be >= 1",
                           (long long)n);
    int m = 0, P = 0;
    int64_t best_dim = 0;
    for (int mm = SPEX_BCH_MIN_M; mm <= SPEX_BCH_MAX_M; mm++) {
        uint32_t q = ((uint32_t)1 << mm) - 1;
        if ((uint32_t)(2 * t) >= q) continue;
        int deg = generator_degree(q, t);
        int64_t dim = (int64_t)q - deg;
        if (dim > best_dim) best_dim = dim;
        if (dim >= n) {
            m = mm;
            P = deg;
            break;
        }
    }
    if (!m)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "BCH code: no binary BCH code with m <= %d has n = %lld message bits "
                           "and t = %d (at most %lld message bits for this t)",
                           SPEX_BCH_MAX_M, (long long)n, t, (long long)best_dim);
    spex_bch *bch = spex_calloc(ctx, 1, sizeof *bch);
    if (!bch) return SPEX_E_NOMEM;
    bch->ctx = ctx;
    bch->n = n;
    bch->t = t;
    bch->P = P;
    bch->pw = (P + 63) / 64;
    /* Chien costs about (n + P) * deg table steps, the trace algorithm
     * O(m deg^2 + m^2 deg) field operations; measured crossover (x86-64,
     * 2025): Chien wins below about 250 steps, e.g. n = 50, t = 2. */
    bch->chien_max_work = 256;
    int rc = spexi_gf_init(ctx, m, &bch->gf);
    if (rc) goto fail;
    bch->gen = spex_calloc(ctx, (size_t)P + 1, 1);
    bch->cols = spex_calloc(ctx, (size_t)n, (size_t)bch->pw * sizeof(uint64_t));
    if (!bch->gen || !bch->cols) {
        rc = SPEX_E_NOMEM;
        goto fail;
    }
    rc = build_generator(bch);
    if (rc) goto fail;
    build_columns(bch);
    *out = bch;
    return SPEX_OK;
fail:
    spex_bch_free(bch);
    return rc;
}

void spex_bch_free(spex_bch *bch) {
    if (!bch) return;
    spex_ctx *ctx = bch->ctx;
    spexi_gf_release(ctx, &bch->gf);
    spex_free(ctx, bch->gen);
    spex_free(ctx, bch->cols);
    spex_free(ctx, bch);
}

int64_t spex_bch_n(const spex_bch *bch) {
    return bch->n;
}
int spex_bch_t(const spex_bch *bch) {
    return bch->t;
}
int spex_bch_m(const spex_bch *bch) {
    return bch->gf.m;
}
int spex_bch_n_parity(const spex_bch *bch) {
    return bch->P;
}
int64_t spex_bch_length(const spex_bch *bch) {
    return (int64_t)bch->gf.q;
}
int64_t spex_bch_dim(const spex_bch *bch) {
    return (int64_t)bch->gf.q - bch->P;
}
const uint8_t *spex_bch_generator(const spex_bch *bch) {
    return bch->gen;
}

/* ---- encoding ---------------------------------------------------------- */

int spex_bch_delay(const spex_bch *bch, int p, uint64_t *row) {
    if (p < 0 || p >= bch->P)
        return spex_seterr(bch->ctx, SPEX_E_RANGE, "BCH delay: p = %d must be in 0..%d", p,
                           bch->P - 1);
    size_t words = spex_bits_words(bch->n);
    memset(row, 0, words * sizeof *row);
    const uint64_t *col = bch->cols + (p >> 6);
    int shift = p & 63;
    for (int64_t j = 0; j < bch->n; j++, col += bch->pw)
        row[j >> 6] |= ((*col >> shift) & 1) << (j & 63);
    return SPEX_OK;
}

void spexi_codes_encode_packed(const spex_bch *bch, const int32_t *k, int len, uint64_t *parity) {
    int pw = bch->pw;
    memset(parity, 0, (size_t)pw * sizeof *parity);
    for (int i = 0; i < len; i++) {
        const uint64_t *col = bch->cols + (size_t)k[i] * pw;
        for (int w = 0; w < pw; w++)
            parity[w] ^= col[w];
    }
}

int spex_bch_encode(const spex_bch *bch, const int32_t *k, int len, uint8_t *parity) {
    if (len < 0) return spex_seterr(bch->ctx, SPEX_E_INVAL, "BCH encode: len = %d < 0", len);
    for (int i = 0; i < len; i++)
        if (k[i] < 0 || k[i] >= bch->n)
            return spex_seterr(bch->ctx, SPEX_E_RANGE,
                               "BCH encode: k[%d] = %ld is not a feature index in 0..%lld", i,
                               (long)k[i], (long long)bch->n - 1);
    uint64_t packed[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64];
    spexi_codes_encode_packed(bch, k, len, packed);
    for (int p = 0; p < bch->P; p++)
        parity[p] = (uint8_t)((packed[p >> 6] >> (p & 63)) & 1);
    return SPEX_OK;
}

/* ---- hard decoding ----------------------------------------------------- */

/* S_i = r(alpha^i) = sum over set parity bits p of alpha^{i p}: only the P
 * parity positions can be nonzero, so this is O(P t) whatever n is. Even
 * syndromes of a binary word are squares: S_{2i} = S_i^2. */
void spexi_codes_syndromes(const spex_bch *bch, const uint64_t *word, uint32_t *S) {
    const spexi_gf *gf = &bch->gf;
    int t2 = 2 * bch->t;
    uint32_t q = gf->q;
    memset(S, 0, ((size_t)t2 + 1) * sizeof *S);
    for (int w = 0; w < bch->pw; w++) {
        uint64_t bits = word[w];
        while (bits) {
            uint32_t p = (uint32_t)(w * 64 + __builtin_ctzll(bits));
            bits &= bits - 1;
            uint32_t e = p, step = (2 * p) % q; /* e = i p mod q for odd i */
            for (int i = 1; i <= t2; i += 2) {
                S[i] ^= gf->exp[e];
                e += step;
                if (e >= q) e -= q;
            }
        }
    }
    for (int i = 2; i <= t2; i += 2)
        S[i] = spexi_gf_mul(gf, S[i / 2], S[i / 2]);
}

/*
 * HOW IT WORKS: Berlekamp-Massey.
 * With errors at positions pos_1..pos_v, locators X_l = alpha^{pos_l}, the
 * syndromes are power sums S_i = sum_l X_l^i, and the locator polynomial
 * Lambda(x) = prod_l (1 - X_l x) = 1 + lambda_1 x + ... + lambda_v x^v is the
 * shortest linear recurrence (LFSR) that generates them:
 *     S_j = lambda_1 S_{j-1} + ... + lambda_v S_{j-v}   (j > v).
 * BM builds that LFSR one syndrome at a time. C is the current connection
 * polynomial of length L; the discrepancy d is how far C's prediction of the
 * next syndrome is off. If d = 0, C still works. Otherwise C is corrected
 * by (d / b) x^shift B, where B was the connection polynomial just before
 * the last length change (and b its discrepancy then): that term cancels
 * exactly the new error without spoiling earlier predictions. When 2L <= r
 * the register has to grow: L becomes r + 1 - L. After 2t syndromes, if
 * v <= t errors occurred, C = Lambda and L = v (Massey 1969). If L > t, or
 * Lambda has fewer than L distinct roots in the code, more than t errors
 * occurred and the word is declared uncorrectable.
 */
int spexi_codes_berlekamp_massey(const spex_bch *bch, const uint32_t *S, uint32_t *lambda) {
    const spexi_gf *gf = &bch->gf;
    int t2 = 2 * bch->t;
    uint32_t C[2 * SPEX_BCH_MAX_T + 1] = {1}, B[2 * SPEX_BCH_MAX_T + 1] = {1};
    uint32_t T[2 * SPEX_BCH_MAX_T + 1];
    int L = 0, shift = 1;
    uint32_t b = 1;
    for (int r = 0; r < t2; r++) {
        uint32_t d = S[r + 1];
        for (int i = 1; i <= L; i++)
            d ^= spexi_gf_mul(gf, C[i], S[r + 1 - i]);
        if (!d) {
            shift++;
            continue;
        }
        uint32_t coef = spexi_gf_div(gf, d, b);
        int grow = 2 * L <= r;
        if (grow) memcpy(T, C, ((size_t)t2 + 1) * sizeof *C);
        for (int i = 0; i + shift <= t2; i++)
            C[i + shift] ^= spexi_gf_mul(gf, coef, B[i]);
        if (grow) {
            L = r + 1 - L;
            memcpy(B, T, ((size_t)t2 + 1) * sizeof *B);
            b = d;
            shift = 1;
        } else {
            shift++;
        }
    }
    if (L <= bch->t) memcpy(lambda, C, ((size_t)bch->t + 1) * sizeof *lambda);
    return L;
}

static void sort_i32(int32_t *a, int len) {
    for (int i = 1; i < len; i++) {
        int32_t v = a[i];
        int j = i;
        for (; j > 0 && a[j - 1] > v; j--)
            a[j] = a[j - 1];
        a[j] = v;
    }
}

int spexi_codes_decode_syn(const spex_bch *bch, const uint32_t *S, const uint64_t *word,
                           spex_bch_result *res) {
    memset(res, 0, sizeof *res);
    uint32_t lambda[SPEX_BCH_MAX_T + 1];
    int32_t pos[SPEX_BCH_MAX_T];
    int L = spexi_codes_berlekamp_massey(bch, S, lambda);
    if (L > bch->t) return SPEX_BCH_FAIL;
    if (L > 0) {
        if (!lambda[L]) return SPEX_BCH_FAIL; /* degree < L: too few roots */
        int found = (int64_t)(bch->n + bch->P) * L <= bch->chien_max_work
                        ? spexi_codes_roots_chien(bch, lambda, L, pos)
                        : spexi_codes_roots_bta(bch, lambda, L, pos);
        if (found != L) return SPEX_BCH_FAIL;
        sort_i32(pos, L);
    }
    /* positions < P are parity errors, the rest message bits (sorted) */
    uint64_t check[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64];
    for (int i = 0; i < L; i++) {
        if (pos[i] >= bch->P)
            res->k[res->len++] = pos[i] - bch->P;
        else
            res->n_parity_err++;
    }
    spexi_codes_encode_packed(bch, res->k, res->len, check);
    for (int i = 0; i < L && pos[i] < bch->P; i++)
        check[pos[i] >> 6] ^= (uint64_t)1 << (pos[i] & 63);
    for (int w = 0; w < bch->pw; w++) {
        if (check[w] != word[w]) {
            memset(res, 0, sizeof *res);
            return SPEX_BCH_FAIL;
        }
    }
    res->metric = (double)(res->len + res->n_parity_err);
    return SPEX_OK;
}

int spex_bch_decode(const spex_bch *bch, const uint8_t *parity, spex_bch_result *res) {
    uint64_t word[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64] = {0};
    uint32_t S[2 * SPEX_BCH_MAX_T + 1];
    memset(res, 0, sizeof *res);
    for (int p = 0; p < bch->P; p++) {
        if (parity[p] > 1)
            return spex_seterr(bch->ctx, SPEX_E_INVAL, "BCH decode: parity[%d] = %d is not 0 or 1",
                               p, parity[p]);
        word[p >> 6] |= (uint64_t)parity[p] << (p & 63);
    }
    spexi_codes_syndromes(bch, word, S);
    return spexi_codes_decode_syn(bch, S, word, res);
}
