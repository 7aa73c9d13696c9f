/* Soft-decision BCH decoding (Chase-II) for noisy SPEX bins: per-bit
 * reliabilities let the decoder correct observed sign flips beyond what the
 * hard decoder (bch.c) reaches, by retrying it on the likeliest alternatives. */
#include "codes/codes_int.h"

#include <math.h>
#include <string.h>

spex_chase_opts spex_chase_opts_default(void) {
    spex_chase_opts o;
    o.depth = 4;
    o.msg_penalty = 0.0;
    return o;
}

/*
 * HOW IT WORKS: Chase-II decoding.
 * Hard decisions h_p = (llr_p < 0) put the received word at some distance
 * from the true codeword; the hard decoder fixes it when that distance is
 * <= t. Bits that are wrong are usually the unreliable ones (small |llr|).
 * Chase takes the D least reliable parity positions and hard-decodes all 2^D
 * words h xor e, e ranging over the patterns supported on those positions.
 * Any error pattern with at most t errors outside the D positions is then
 * corrected by one of the trials, so up to t + D errors can be fixed.
 * Each trial that decodes proposes a k; the proposals are ranked by
 *     metric(k) = sum_{p : encode(k)_p != h_p} |llr_p| + msg_penalty * |k|,
 * which is -log P(observations | k) + const for independent bit
 * observations (each disagreeing bit costs its log-likelihood ratio) plus a
 * per-feature prior cost; the smallest wins (ties: smaller |k|, then the
 * earlier trial). The trials run in Gray-code order, so consecutive words
 * differ in one bit and their syndromes in one precomputed term per odd
 * syndrome; each trial costs Berlekamp-Massey plus root finding.
 */
int spex_bch_decode_chase(const spex_bch *bch, const double *llr, const spex_chase_opts *opts,
                          spex_bch_result *res) {
    spex_chase_opts o = opts ? *opts : spex_chase_opts_default();
    const spexi_gf *gf = &bch->gf;
    int P = bch->P, t2 = 2 * bch->t, pw = bch->pw;
    memset(res, 0, sizeof *res);
    if (o.depth < 0 || o.depth > SPEX_CHASE_MAX_DEPTH)
        return spex_seterr(bch->ctx, SPEX_E_INVAL, "Chase decode: depth = %d must be in 0..%d",
                           o.depth, SPEX_CHASE_MAX_DEPTH);
    if (!(o.msg_penalty >= 0.0))
        return spex_seterr(bch->ctx, SPEX_E_INVAL, "Chase decode: msg_penalty = %g must be >= 0",
                           o.msg_penalty);

    /* hard decisions and the D least reliable positions (ties: lower p) */
    uint64_t hard[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64] = {0};
    int sel[SPEX_CHASE_MAX_DEPTH];
    int D = o.depth < P ? o.depth : P, ns = 0;
    for (int p = 0; p < P; p++) {
        if (isnan(llr[p]))
            return spex_seterr(bch->ctx, SPEX_E_INVAL, "Chase decode: llr[%d] is NaN", p);
        if (llr[p] < 0) hard[p >> 6] |= (uint64_t)1 << (p & 63);
        double r = fabs(llr[p]);
        int i;
        if (ns < D)
            i = ns++;
        else if (D > 0 && r < fabs(llr[sel[D - 1]]))
            i = D - 1;
        else
            continue;
        for (; i > 0 && r < fabs(llr[sel[i - 1]]); i--)
            sel[i] = sel[i - 1];
        sel[i] = p;
    }

    /* contrib[d][i] = alpha^{(2i+1) sel[d]}: the odd syndromes of bit sel[d] */
    uint32_t contrib[SPEX_CHASE_MAX_DEPTH][SPEX_BCH_MAX_T];
    for (int d = 0; d < D; d++) {
        uint32_t e = (uint32_t)sel[d], step = (2 * (uint32_t)sel[d]) % gf->q;
        for (int i = 0; i < bch->t; i++) {
            contrib[d][i] = gf->exp[e];
            e += step;
            if (e >= gf->q) e -= gf->q;
        }
    }

    uint64_t word[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64];
    uint64_t enc[(SPEX_BCH_MAX_M * SPEX_BCH_MAX_T + 63) / 64];
    uint32_t S[2 * SPEX_BCH_MAX_T + 1];
    memcpy(word, hard, (size_t)pw * sizeof *word);
    spexi_codes_syndromes(bch, word, S);
    spex_bch_result cand;
    int have = 0;
    for (uint32_t g = 0; g < ((uint32_t)1 << D); g++) {
        if (g) { /* Gray code: flip bit ctz(g) of the pattern */
            int d = __builtin_ctz(g);
            int p = sel[d];
            word[p >> 6] ^= (uint64_t)1 << (p & 63);
            for (int i = 0; i < bch->t; i++)
                S[2 * i + 1] ^= contrib[d][i];
            for (int i = 2; i <= t2; i += 2)
                S[i] = spexi_gf_mul(gf, S[i / 2], S[i / 2]);
        }
        if (spexi_codes_decode_syn(bch, S, word, &cand) != SPEX_OK) continue;
        spexi_codes_encode_packed(bch, cand.k, cand.len, enc);
        double metric = o.msg_penalty * cand.len;
        int nerr = 0;
        for (int w = 0; w < pw; w++) {
            uint64_t diff = enc[w] ^ hard[w];
            while (diff) {
                metric += fabs(llr[w * 64 + __builtin_ctzll(diff)]);
                nerr++;
                diff &= diff - 1;
            }
        }
        if (have && !(metric < res->metric || (metric == res->metric && cand.len < res->len)))
            continue;
        *res = cand;
        res->metric = metric;
        res->n_parity_err = nerr;
        have = 1;
    }
    if (!have) {
        memset(res, 0, sizeof *res);
        return SPEX_BCH_FAIL;
    }
    return SPEX_OK;
}
