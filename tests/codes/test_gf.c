/* GF(2^m), m = 3..20: the log/antilog tables against brute-force polynomial
 * arithmetic (carry-less multiply, reduction by the primitive polynomial). */
#include "test_util.h"

#include "codes/codes_int.h"
#include "spex/rng.h"

#include <string.h>

/* a * b mod poly, schoolbook over GF(2)[x]. */
static uint32_t ref_mul(uint32_t a, uint32_t b, uint32_t poly, int m) {
    uint64_t r = 0;
    for (int i = 0; i < m; i++)
        if (b >> i & 1) r ^= (uint64_t)a << i;
    for (int i = 2 * m - 2; i >= m; i--)
        if (r >> i & 1) r ^= (uint64_t)poly << (i - m);
    return (uint32_t)r;
}

static uint32_t ref_pow(uint32_t a, int64_t e, uint32_t poly, int m) {
    uint32_t r = 1;
    for (int64_t i = 0; i < e; i++)
        r = ref_mul(r, a, poly, m);
    return r;
}

/* alpha = x has multiplicative order exactly 2^m - 1 (the polynomial is
 * primitive), and the tables list its powers. */
static void test_primitive_and_tables(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    for (int m = SPEX_BCH_MIN_M; m <= SPEX_BCH_MAX_M; m++) {
        spexi_gf gf;
        CHECK_RC(ctx, spexi_gf_init(ctx, m, &gf));
        uint32_t poly = spexi_gf_primitive_poly(m);
        CHECK(poly == gf.poly);
        CHECK(poly >> m == 1);
        CHECK(poly & 1);
        CHECK(gf.q == ((uint32_t)1 << m) - 1);
        uint32_t a = 1;
        uint32_t first_one = 0;
        int tables_ok = 1;
        for (uint32_t i = 1; i <= gf.q; i++) {
            a = ref_mul(a, 2, poly, m);
            if (a == 1 && !first_one) first_one = i;
            if (gf.exp[i] != a || gf.exp[i % gf.q] != a || gf.log[a] != i % gf.q) tables_ok = 0;
        }
        if (first_one != gf.q) fail_msg("m = %d: alpha has order %u, want %u", m, first_one, gf.q);
        CHECK(first_one == gf.q);
        CHECK(tables_ok);
        spexi_gf_release(ctx, &gf);
    }
    spexi_gf gf;
    CHECK(spexi_gf_init(ctx, 2, &gf) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "m = 2") != NULL);
    CHECK(spexi_gf_init(ctx, 21, &gf) == SPEX_E_RANGE);
    CHECK(spexi_gf_primitive_poly(21) == 0);
    spexi_gf_release(ctx, &gf); /* zeroed by the failed init: no-op */
    spex_ctx_free(ctx);
}

static void check_ops(const spexi_gf *gf, uint32_t a, uint32_t b, long *bad) {
    uint32_t p = ref_mul(a, b, gf->poly, gf->m);
    if (spexi_gf_mul(gf, a, b) != p) {
        if ((*bad)++ < 5)
            print_error("m = %d: %u * %u = %u, want %u\n", gf->m, a, b, spexi_gf_mul(gf, a, b), p);
    }
    if (b && spexi_gf_div(gf, p, b) != a) {
        if ((*bad)++ < 5)
            print_error("m = %d: (%u * %u) / %u = %u\n", gf->m, a, b, b, spexi_gf_div(gf, p, b));
    }
}

static void test_mul_div(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 3);
    for (int m = SPEX_BCH_MIN_M; m <= SPEX_BCH_MAX_M; m++) {
        spexi_gf gf;
        CHECK_RC(ctx, spexi_gf_init(ctx, m, &gf));
        long bad = 0;
        if (m <= 8) { /* every pair */
            for (uint32_t a = 0; a <= gf.q; a++)
                for (uint32_t b = 0; b <= gf.q; b++)
                    check_ops(&gf, a, b, &bad);
        } else {
            for (int i = 0; i < 20000; i++)
                check_ops(&gf, (uint32_t)spex_rng_below(&r, gf.q + 1),
                          (uint32_t)spex_rng_below(&r, gf.q + 1), &bad);
            for (uint32_t a = 0; a < 64; a++) /* small and extreme elements */
                check_ops(&gf, a, gf.q - a, &bad);
        }
        CHECK(bad == 0);
        /* inverses: every element for m <= 12, a sample beyond */
        long bad_inv = 0;
        uint32_t count = m <= 12 ? gf.q : 20000;
        for (uint32_t i = 1; i <= count; i++) {
            uint32_t a = m <= 12 ? i : 1 + (uint32_t)spex_rng_below(&r, gf.q);
            if (ref_mul(a, spexi_gf_inv(&gf, a), gf.poly, m) != 1) bad_inv++;
        }
        CHECK(bad_inv == 0);
        /* distributivity through the tables */
        long bad_dist = 0;
        for (int i = 0; i < 2000; i++) {
            uint32_t a = (uint32_t)spex_rng_below(&r, gf.q + 1);
            uint32_t b = (uint32_t)spex_rng_below(&r, gf.q + 1);
            uint32_t c = (uint32_t)spex_rng_below(&r, gf.q + 1);
            if (spexi_gf_mul(&gf, a, b ^ c) != (spexi_gf_mul(&gf, a, b) ^ spexi_gf_mul(&gf, a, c)))
                bad_dist++;
        }
        CHECK(bad_dist == 0);
        spexi_gf_release(ctx, &gf);
    }
    spex_ctx_free(ctx);
}

static void test_pow(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 4);
    for (int m = SPEX_BCH_MIN_M; m <= SPEX_BCH_MAX_M; m++) {
        spexi_gf gf;
        CHECK_RC(ctx, spexi_gf_init(ctx, m, &gf));
        long bad = 0;
        for (int i = 0; i < 200; i++) {
            uint32_t a = (uint32_t)spex_rng_below(&r, gf.q + 1);
            for (int64_t e = 0; e <= 40; e++)
                if (spexi_gf_pow(&gf, a, e) != ref_pow(a, e, gf.poly, m)) bad++;
            if (a) {
                /* negative exponents are powers of the inverse */
                uint32_t ia = spexi_gf_inv(&gf, a);
                for (int64_t e = 1; e <= 10; e++)
                    if (spexi_gf_pow(&gf, a, -e) != ref_pow(ia, e, gf.poly, m)) bad++;
                /* Fermat: a^q = 1, a^(q+1) = a; huge exponents reduce mod q */
                if (spexi_gf_pow(&gf, a, gf.q) != 1) bad++;
                if (spexi_gf_pow(&gf, a, (int64_t)gf.q + 1) != a) bad++;
                if (spexi_gf_pow(&gf, a, (int64_t)gf.q * 1000003 + 7) != ref_pow(a, 7, gf.poly, m))
                    bad++;
            }
        }
        CHECK(bad == 0);
        CHECK(spexi_gf_pow(&gf, 0, 0) == 1);
        CHECK(spexi_gf_pow(&gf, 0, 5) == 0);
        CHECK(spexi_gf_alpha(&gf, (int64_t)gf.q + 3) == ref_pow(2, 3, gf.poly, m));
        spexi_gf_release(ctx, &gf);
    }
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_primitive_and_tables),
        cmocka_unit_test(test_mul_div),
        cmocka_unit_test(test_pow),
    };
    SPEX_RUN_TESTS(tests);
}
