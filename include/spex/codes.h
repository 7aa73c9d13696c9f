/*
 * spex/codes.h - shortened binary BCH codes: the delays of SPEX and the
 * decoders that turn a bin's observed signs back into a subset of features.
 *
 * SPEX (Kang et al., ICML 2025; DESIGN.md §3) queries masks shifted by P
 * "delays" d_0..d_{P-1} in {0,1}^n. In a bin that holds one Fourier
 * coefficient F(k), delay p shows F(k) * (-1)^{<d_p, k>}, i.e. P bits
 * <d_p, k>. The delays are chosen so that these bits are the parity bits of a
 * systematic BCH codeword whose message is the indicator of k: with |k| <= t,
 * decoding the word (message 0^n, parity = observed bits) finds k, since that
 * word differs from the codeword (k, parity(k)) in exactly |k| positions.
 * Noise that flips observed bits costs one more error each; soft information
 * (a reliability per observed bit) lets Chase decoding go past t.
 *
 * The code: the binary narrow-sense BCH code of length 2^m - 1 and designed
 * distance 2t + 1 (generator g = lcm of the minimal polynomials of
 * alpha^1..alpha^{2t} over GF(2^m)), for the smallest m in 3..20 whose
 * dimension 2^m - 1 - deg g is at least n, shortened to n message bits.
 * P = deg g parity bits. Bit positions (exponents of x in the codeword
 * polynomial): parity bit p is x^p (0 <= p < P), message bit j is x^{P+j}.
 *
 * Thread safety: after spex_bch_new, every function here only reads the
 * code, so one spex_bch may be shared by threads that encode and decode
 * concurrently (only an argument error writes the context's message).
 *
 * Example (one bin, hard then soft):
 *     spex_bch *bch;
 *     if (spex_bch_new(ctx, 1000, 3, &bch)) return;       // m = 11, P = 33
 *     int P = spex_bch_n_parity(bch);
 *     uint64_t *d = calloc(spex_bits_words(1000), 8);
 *     spex_bch_delay(bch, 0, d);                           // delay mask d_0
 *     int32_t k[] = {17, 401};
 *     uint8_t bits[64];
 *     spex_bch_encode(bch, k, 2, bits);                    // bits[p] = <d_p, k>
 *     spex_bch_result res;
 *     if (spex_bch_decode(bch, bits, &res) == SPEX_OK)     // res.k = {17, 401}
 *         ...;
 *     double llr[64];                                      // from the bin's ratios
 *     for (int p = 0; p < P; p++) llr[p] = bits[p] ? -2.0 : 2.0;
 *     spex_chase_opts o = spex_chase_opts_default();
 *     int rc = spex_bch_decode_chase(bch, llr, &o, &res);  // SPEX_BCH_FAIL: none
 *     spex_bch_free(bch);
 */
#ifndef SPEX_CODES_H
#define SPEX_CODES_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest correctable weight t a code may be built for. */
#define SPEX_BCH_MAX_T 32
/* Smallest and largest field degree m (code length 2^m - 1). */
#define SPEX_BCH_MIN_M 3
#define SPEX_BCH_MAX_M 20
/* Largest Chase depth (2^depth hard decodes per call). */
#define SPEX_CHASE_MAX_DEPTH 16
/* Positive status of the decoders: the word is not within reach of any
 * codeword (a multiton or a too-noisy bin). Not an error: no message is set. */
#define SPEX_BCH_FAIL 1

typedef struct spex_bch spex_bch;

/* What a decoder found: the message support k and how well it fits. */
typedef struct spex_bch_result {
    int len;                   /* |k|, 0..t */
    int32_t k[SPEX_BCH_MAX_T]; /* the support, ascending feature indices */
    int n_parity_err;          /* observed parity bits that disagree with encode(k);
                                  len + n_parity_err <= t for the hard decoder */
    double metric;             /* hard: len + n_parity_err (errors corrected);
                                  Chase: see spex_bch_decode_chase */
} spex_bch_result;

/* Builds the code for n message bits (1 <= n) correcting t errors
 * (1 <= t <= SPEX_BCH_MAX_T). *out is owned by the caller (spex_bch_free).
 * Memory: about n * ceil(P/64) words plus the GF(2^m) tables (12 * 2^m bytes).
 * Errors: SPEX_E_RANGE when t or n is out of range or no m <= 20 gives a code with
 * n message bits (the message names n, t and the largest n possible);
 * SPEX_E_NOMEM; SPEX_E_INTERNAL if a table check fails (a bug). */
SPEX_API int spex_bch_new(spex_ctx *ctx, int64_t n, int t, spex_bch **out);
/* NULL is a no-op. */
SPEX_API void spex_bch_free(spex_bch *bch);

/* Parameters: message bits n, correctable weight t, field degree m, parity
 * bits P = deg g, full length 2^m - 1 and full dimension 2^m - 1 - P. */
SPEX_API int64_t spex_bch_n(const spex_bch *bch);
SPEX_API int spex_bch_t(const spex_bch *bch);
SPEX_API int spex_bch_m(const spex_bch *bch);
SPEX_API int spex_bch_n_parity(const spex_bch *bch);
SPEX_API int64_t spex_bch_length(const spex_bch *bch);
SPEX_API int64_t spex_bch_dim(const spex_bch *bch);
/* The generator polynomial g: P + 1 bytes 0/1, g[i] = coefficient of x^i
 * (g[0] = g[P] = 1). Borrowed, lives as long as bch. */
SPEX_API const uint8_t *spex_bch_generator(const spex_bch *bch);

/* Writes delay p (0 <= p < P) as a packed row of n bits (spex/masks.h
 * layout, spex_bits_words(n) words, padding bits cleared): bit j is parity
 * bit p of the unit message e_j, so that <d_p, k> = parity bit p of k.
 * O(n). Errors: SPEX_E_RANGE for p out of range. */
SPEX_API int spex_bch_delay(const spex_bch *bch, int p, uint64_t *row);

/* Parity bits of the message with support k (len distinct indices in
 * 0..n-1, any order, any len >= 0; duplicates cancel): parity[p] in {0,1}
 * for p < P, equal to <d_p, k> over F2. O(len * P / 64).
 * Errors: SPEX_E_RANGE for an index out of range (named), SPEX_E_INVAL for
 * len < 0. */
SPEX_API int spex_bch_encode(const spex_bch *bch, const int32_t *k, int len, uint8_t *parity);

/* Hard-decision decoding of the word (message 0^n, parity) where parity
 * holds P bytes 0/1: finds the unique k and parity error set e with
 * parity = encode(k) xor e and |k| + |e| <= t. Allocates nothing; about
 * O(P t + t^2 m^2) field operations, independent of n.
 * Returns SPEX_OK (res filled), SPEX_BCH_FAIL when no such k exists (res
 * zeroed), SPEX_E_INVAL for a byte other than 0/1 (named). */
SPEX_API int spex_bch_decode(const spex_bch *bch, const uint8_t *parity, spex_bch_result *res);

/* Options of Chase decoding. */
typedef struct spex_chase_opts {
    int depth;          /* flip every subset of the `depth` least reliable parity
                           bits: 2^depth hard decodes (0..SPEX_CHASE_MAX_DEPTH;
                           capped at P) */
    double msg_penalty; /* metric cost of each message bit in k (>= 0): the log
                           prior odds against one more interacting feature */
} spex_chase_opts;
/* depth 4, msg_penalty 0. */
SPEX_API spex_chase_opts spex_chase_opts_default(void);

/* Soft-decision (Chase-II) decoding. llr[p] (P values) is the log likelihood
 * ratio log P(bit p = 0) / P(bit p = 1): its sign is the bit (>= 0 reads 0)
 * and |llr[p]| the confidence. Every flip pattern of the opts->depth least
 * reliable bits is hard-decoded; among the decoded k the result minimises
 *     metric(k) = sum of |llr[p]| over p with encode(k)[p] != (llr[p] < 0)
 *                 + msg_penalty * |k|
 * (minus the log likelihood of the observations given k, up to a constant,
 * plus a sparsity prior); ties go to the smaller |k|, then to the first
 * found. res->n_parity_err counts the disagreeing bits. opts NULL means the
 * defaults. Allocates nothing.
 * Returns SPEX_OK, SPEX_BCH_FAIL when no pattern decodes, SPEX_E_INVAL for a
 * NaN llr, a bad depth or a negative penalty (named). */
SPEX_API int spex_bch_decode_chase(const spex_bch *bch, const double *llr,
                                   const spex_chase_opts *opts, spex_bch_result *res);

#ifdef __cplusplus
}
#endif
#endif
