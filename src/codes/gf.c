/* GF(2^m) for m = 3..20: log/antilog tables built from a primitive polynomial.
 * The BCH code (bch.c) owns one field; decoding multiplies through the tables
 * (spexi_gf_mul and friends in codes_int.h). */
#include "codes/codes_int.h"

#include <string.h>

/* One primitive polynomial per degree (bit i = coefficient of x^i), the
 * usual table choices (Lin & Costello, Table 2.7; Peterson & Weldon). */
static const uint32_t primitive_polys[SPEX_BCH_MAX_M + 1] = {
    0,        /* m = 0 (unused) */
    0,        /* m = 1 (unused) */
    0,        /* m = 2 (unused) */
    0xB,      /* m = 3:  x^3 + x + 1 */
    0x13,     /* m = 4:  x^4 + x + 1 */
    0x25,     /* m = 5:  x^5 + x^2 + 1 */
    0x43,     /* m = 6:  x^6 + x + 1 */
    0x89,     /* m = 7:  x^7 + x^3 + 1 */
    0x11D,    /* m = 8:  x^8 + x^4 + x^3 + x^2 + 1 */
    0x211,    /* m = 9:  x^9 + x^4 + 1 */
    0x409,    /* m = 10: x^10 + x^3 + 1 */
    0x805,    /* m = 11: x^11 + x^2 + 1 */
    0x1053,   /* m = 12: x^12 + x^6 + x^4 + x + 1 */
    0x201B,   /* m = 13: x^13 + x^4 + x^3 + x + 1 */
    0x4443,   /* m = 14: x^14 + x^10 + x^6 + x + 1 */
    0x8003,   /* m = 15: x^15 + x + 1 */
    0x1100B,  /* m = 16: x^16 + x^12 + x^3 + x + 1 */
    0x20009,  /* m = 17: x^17 + x^3 + 1 */
    0x40081,  /* m = 18: x^18 + x^7 + 1 */
    0x80027,  /* m = 19: x^19 + x^5 + x^2 + x + 1 */
    0x100009, /* m = 20: x^20 + x^3 + 1 */
};

uint32_t spexi_gf_primitive_poly(int m) {
    if (m < SPEX_BCH_MIN_M || m > SPEX_BCH_MAX_M) return 0;
    return primitive_polys[m];
}

int spexi_gf_init(spex_ctx *ctx, int m, spexi_gf *gf) {
    memset(gf, 0, sizeof *gf);
    if (m < SPEX_BCH_MIN_M || m > SPEX_BCH_MAX_M)
        return spex_seterr(ctx, SPEX_E_RANGE, "GF(2^m): m = %d must be in %d..%d", m,
                           SPEX_BCH_MIN_M, SPEX_BCH_MAX_M);
    uint32_t q = ((uint32_t)1 << m) - 1;
    gf->m = m;
    gf->q = q;
    gf->poly = primitive_polys[m];
    gf->exp = spex_calloc(ctx, 2 * (size_t)q, sizeof *gf->exp);
    gf->log = spex_calloc(ctx, (size_t)q + 1, sizeof *gf->log);
    if (!gf->exp || !gf->log) {
        spexi_gf_release(ctx, gf);
        return SPEX_E_NOMEM;
    }
    /* Walk alpha^0, alpha^1, ...: multiply by x, reduce by poly. Each nonzero
     * element must appear exactly once in the first q steps. */
    uint32_t a = 1;
    for (uint32_t i = 0; i < q; i++) {
        if (a == 0 || a > q || (i > 0 && a == 1) || (i > 0 && gf->log[a] != 0)) {
            spexi_gf_release(ctx, gf);
            return spex_seterr(ctx, SPEX_E_INTERNAL,
                               "GF(2^%d): polynomial 0x%X is not primitive (alpha^%u repeats)", m,
                               (unsigned)primitive_polys[m], (unsigned)i);
        }
        gf->exp[i] = gf->exp[i + q] = a;
        gf->log[a] = i;
        a <<= 1;
        if (a >> m) a ^= gf->poly;
    }
    if (a != 1) {
        spexi_gf_release(ctx, gf);
        return spex_seterr(ctx, SPEX_E_INTERNAL, "GF(2^%d): alpha^%u != 1", m, (unsigned)q);
    }
    return SPEX_OK;
}

void spexi_gf_release(spex_ctx *ctx, spexi_gf *gf) {
    if (!gf) return;
    spex_free(ctx, gf->exp);
    spex_free(ctx, gf->log);
    gf->exp = NULL;
    gf->log = NULL;
}
