/* Internals of src/codes shared between its files (not public API): GF(2^m)
 * tables and arithmetic, the spex_bch object, and the decoder's stages
 * (syndromes, Berlekamp-Massey, root finding) so that Chase and the tests can
 * call them one by one. */
#ifndef SPEX_CODES_INT_H
#define SPEX_CODES_INT_H

#include "spex/codes.h"

/* ---- GF(2^m), m = SPEX_BCH_MIN_M..SPEX_BCH_MAX_M (gf.c) ---------------- */

/* Elements are m-bit integers: bit i is the coefficient of alpha^i in the
 * polynomial basis, alpha a root of the primitive polynomial `poly`. */
typedef struct spexi_gf {
    int m;
    uint32_t q;    /* 2^m - 1: order of the multiplicative group */
    uint32_t poly; /* primitive polynomial, bit i = coefficient of x^i (bit m set) */
    uint32_t *exp; /* (2q) exp[i] = alpha^i; period q, doubled so sums of two logs need no mod */
    uint32_t *log; /* (q + 1) log[a] in 0..q-1 for a != 0; log[0] unused */
} spexi_gf;

/* The primitive polynomial used for GF(2^m), or 0 when m is out of range. */
uint32_t spexi_gf_primitive_poly(int m);
/* Builds the tables; checks that alpha has order exactly 2^m - 1.
 * SPEX_E_RANGE (m), SPEX_E_NOMEM, SPEX_E_INTERNAL (not primitive). */
int spexi_gf_init(spex_ctx *ctx, int m, spexi_gf *gf);
/* Frees the tables; a zeroed gf is a no-op. */
void spexi_gf_release(spex_ctx *ctx, spexi_gf *gf);

static inline uint32_t spexi_gf_mul(const spexi_gf *gf, uint32_t a, uint32_t b) {
    if (!a || !b) return 0;
    return gf->exp[gf->log[a] + gf->log[b]];
}
/* a / b for b != 0. */
static inline uint32_t spexi_gf_div(const spexi_gf *gf, uint32_t a, uint32_t b) {
    if (!a) return 0;
    return gf->exp[gf->log[a] + gf->q - gf->log[b]];
}
/* 1 / a for a != 0. */
static inline uint32_t spexi_gf_inv(const spexi_gf *gf, uint32_t a) {
    return gf->exp[gf->q - gf->log[a]];
}
/* a^e for any integer e (0^0 = 1, 0^e = 0 for e > 0; a = 0, e < 0 gives 0). */
static inline uint32_t spexi_gf_pow(const spexi_gf *gf, uint32_t a, int64_t e) {
    if (!a) return e == 0 ? 1 : 0;
    int64_t r = ((int64_t)gf->log[a] * (e % (int64_t)gf->q)) % (int64_t)gf->q;
    if (r < 0) r += gf->q;
    return gf->exp[r];
}
/* alpha^e for e >= 0. */
static inline uint32_t spexi_gf_alpha(const spexi_gf *gf, int64_t e) {
    return gf->exp[e % gf->q];
}

/* ---- the code object (bch.c) ------------------------------------------- */

struct spex_bch {
    spex_ctx *ctx;
    int64_t n;              /* message bits */
    int t;                  /* designed correctable weight */
    int P;                  /* parity bits = deg g */
    int pw;                 /* words per packed parity vector: ceil(P / 64) */
    spexi_gf gf;            /* GF(2^m) */
    uint8_t *gen;           /* (P + 1) generator polynomial over GF(2), low degree first */
    uint64_t *cols;         /* (n, pw) parity bits of the unit message e_j: x^{P+j} mod g */
    int64_t chien_max_work; /* use Chien search when (n + P) * deg <= this */
};

/* Syndromes S[1..2t] of a word that is zero outside the parity positions;
 * word packed (pw words). S has 2t + 1 entries; S[0] is set to 0. */
void spexi_codes_syndromes(const spex_bch *bch, const uint64_t *word, uint32_t *S);
/* Berlekamp-Massey on S[1..2t]: the error locator lambda[0..t] (lambda[0] = 1)
 * and its linear complexity L; returns L (may exceed t: the caller fails). */
int spexi_codes_berlekamp_massey(const spex_bch *bch, const uint32_t *S, uint32_t *lambda);
/* Error positions (exponents, 0 <= pos < n + P) from a locator of degree L
 * (lambda[L] != 0, 1 <= L <= t). Returns the number found, which equals L
 * when lambda splits into L distinct roots all inside the shortened code;
 * any other count means failure. pos holds up to L entries, unsorted. */
int spexi_codes_roots_chien(const spex_bch *bch, const uint32_t *lambda, int L, int32_t *pos);
int spexi_codes_roots_bta(const spex_bch *bch, const uint32_t *lambda, int L, int32_t *pos);
/* The whole hard decoder from syndromes: locator, roots, split into message
 * and parity errors, and a check that word = encode(k) xor e. Returns
 * SPEX_OK or SPEX_BCH_FAIL. */
int spexi_codes_decode_syn(const spex_bch *bch, const uint32_t *S, const uint64_t *word,
                           spex_bch_result *res);
/* parity (pw words) = encode(k) packed; indices must be valid. */
void spexi_codes_encode_packed(const spex_bch *bch, const int32_t *k, int len, uint64_t *parity);

#endif
