/*
 * Fourier <-> Möbius conversion (sparse and dense paths) against the
 * definitions over all masks, round trips, a sparse n = 5000 map evaluated at
 * random masks, and the interface: limits, index names, allocation faults.
 */
#include "testing.h"
#include "test_util.h"

#include "spex/coefs.h"
#include "spex/masks.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <stdlib.h>
#include <string.h>

static int pc(uint32_t x) {
    return __builtin_popcount(x);
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

/* m random subsets of [n] of size 0..max_deg with N(0,1) values. */
static spex_coefs *random_map(spex_ctx *ctx, spex_rng *r, int64_t n, int m, int max_deg) {
    spex_coefs *c;
    if (spex_coefs_new(ctx, n, &c)) return NULL;
    for (int i = 0; i < m; i++) {
        int d = (int)spex_rng_below(r, (uint64_t)max_deg + 1);
        int32_t s[64];
        for (int j = 0; j < d; j++)
            s[j] = (int32_t)spex_rng_below(r, (uint64_t)n);
        qsort(s, (size_t)d, sizeof s[0], cmp_i32);
        int len = 0;
        for (int j = 0; j < d; j++)
            if (!len || s[len - 1] != s[j]) s[len++] = s[j];
        spex_coefs_add(c, s, len, spex_rng_normal(r));
    }
    return c;
}

/* Largest |x(S) - y(S)| over the union of both maps' subsets. */
static double map_diff(const spex_coefs *x, const spex_coefs *y) {
    double worst = 0.0;
    for (int pass = 0; pass < 2; pass++) {
        const spex_coefs *p = pass ? y : x, *q = pass ? x : y;
        for (int64_t e = 0; e < spex_coefs_count(p); e++) {
            const int32_t *s;
            int len;
            double a, b;
            spex_coefs_entry(p, e, &s, &len, &a);
            spex_coefs_get(q, s, len, &b);
            worst = fmax(worst, fabs(a - b));
        }
    }
    return worst;
}

static double coef_at(const spex_coefs *c, uint32_t k, int n) {
    int32_t s[32];
    int len = 0;
    for (int j = 0; j < n; j++)
        if (k >> j & 1) s[len++] = j;
    double v;
    spex_coefs_get(c, s, len, &v);
    return v;
}

/* For n <= 12: v(m) from the Fourier map by its definition, then
 * a(S) = Σ_{L ⊆ S} (-1)^{|S|-|L|} v(L), and compare with the conversion; the
 * same from a Möbius map to F(k) = 2^-n Σ_m v(m)(-1)^{<m,k>}. */
static void check_by_definition(const spex_coefs *F, int n) {
    spex_ctx *ctx = spex_coefs_ctx(F);
    uint32_t full = (1u << n) - 1;
    double *v = malloc(sizeof(double) << n);
    for (uint32_t m = 0; m <= full; m++) {
        double s = 0.0;
        for (int64_t e = 0; e < spex_coefs_count(F); e++) {
            const int32_t *idx;
            int len;
            double x;
            spex_coefs_entry(F, e, &idx, &len, &x);
            int par = 0;
            for (int i = 0; i < len; i++)
                par ^= (int)(m >> idx[i] & 1);
            s += par ? -x : x;
        }
        v[m] = s;
    }
    spex_coefs *a, *F2;
    CHECK_RC(ctx, spex_fourier_to_mobius(F, &a));
    double worst = 0.0;
    for (uint32_t S = 0; S <= full; S++) {
        double want = 0.0;
        for (uint32_t L = S;; L = (L - 1) & S) {
            want += ((pc(S) - pc(L)) & 1) ? -v[L] : v[L];
            if (!L) break;
        }
        worst = fmax(worst, fabs(coef_at(a, S, n) - want) / (1 + fabs(want)));
    }
    CHECK_NEAR(worst, 0.0, 1e-11);
    /* and back: Möbius -> Fourier by the definition from the same v */
    CHECK_RC(ctx, spex_mobius_to_fourier(a, &F2));
    worst = 0.0;
    for (uint32_t k = 0; k <= full; k++) {
        double want = 0.0;
        for (uint32_t m = 0; m <= full; m++)
            want += (pc(m & k) & 1) ? -v[m] : v[m];
        worst = fmax(worst, fabs(coef_at(F2, k, n) - ldexp(want, -n)));
    }
    CHECK_NEAR(worst, 0.0, 1e-11);
    CHECK_NEAR(map_diff(F, F2), 0.0, 1e-11);
    spex_coefs_free(a);
    spex_coefs_free(F2);
    free(v);
}

static void test_convert_vs_definition(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 4);
    for (int n = 1; n <= 10; n += 3) {
        spex_coefs *F = random_map(ctx, &r, n, 3 * n, n); /* sparse path */
        check_by_definition(F, n);
        spex_coefs_free(F);
    }
    /* dense path: every one of the 2^12 coefficients present */
    const int n = 12;
    spex_coefs *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &F));
    for (uint32_t k = 0; k < (1u << n); k++) {
        int32_t s[12];
        int len = 0;
        for (int j = 0; j < n; j++)
            if (k >> j & 1) s[len++] = j;
        CHECK_RC(ctx, spex_coefs_add(F, s, len, spex_rng_normal(&r)));
    }
    check_by_definition(F, n);
    spex_coefs_free(F);
    spex_ctx_free(ctx);
}

/* Sparse maps at n = 30 and n = 5000: round trips, and the Fourier and Möbius
 * forms agree at random masks of several densities. */
static void test_convert_large_n(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 5);
    static const int64_t ns[] = {30, 5000};
    for (int in = 0; in < 2; in++) {
        int64_t n = ns[in];
        spex_coefs *F = random_map(ctx, &r, n, 200, 6), *a, *F2, *a2;
        CHECK_RC(ctx, spex_fourier_to_mobius(F, &a));
        CHECK(spex_coefs_max_order(a) <= 6);
        CHECK_RC(ctx, spex_mobius_to_fourier(a, &F2));
        CHECK_NEAR(map_diff(F, F2), 0.0, 1e-10);
        CHECK_RC(ctx, spex_fourier_to_mobius(F2, &a2));
        CHECK_NEAR(map_diff(a, a2), 0.0, 1e-9);
        size_t words = spex_bits_words(n);
        uint64_t *m = calloc(words, sizeof *m);
        for (int t = 0; t < 80; t++) {
            double density = t == 0 ? 0.0 : t == 1 ? 1.0 : spex_rng_uniform(&r);
            for (int64_t j = 0; j < n; j++)
                spex_bits_set(m, j, spex_rng_uniform(&r) < density);
            double vf = spex_coefs_eval_fourier(F, m), va = spex_coefs_eval_mobius(a, m);
            CHECK_NEAR(va, vf, 1e-9 * (1 + fabs(vf)));
        }
        free(m);
        spex_coefs_free(F);
        spex_coefs_free(F2);
        spex_coefs_free(a);
        spex_coefs_free(a2);
    }
    spex_ctx_free(ctx);
}

static void test_convert_limits(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_coefs *F, *a = NULL;
    CHECK_RC(ctx, spex_coefs_new(ctx, 100, &F));
    int32_t s[40];
    for (int j = 0; j < 40; j++)
        s[j] = 2 * j;
    CHECK_RC(ctx, spex_coefs_add(F, s, 40, 1.0));
    CHECK(spex_fourier_to_mobius(F, &a) == SPEX_E_RANGE);
    CHECK(a == NULL);
    CHECK(strstr(spex_errmsg(ctx), "degree 40") != NULL);
    CHECK(spex_interactions(F, SPEX_INDEX_SV, 1, &a) == SPEX_E_RANGE);
    CHECK(a == NULL);
    CHECK(strstr(spex_errmsg(ctx), "sv of order 1") != NULL);
    /* the Fourier index needs no conversion */
    CHECK_RC(ctx, spex_interactions(F, SPEX_INDEX_FOURIER, 3, &a));
    CHECK(spex_coefs_count(a) == 0);
    spex_coefs_free(a);
    CHECK(spex_fourier_to_mobius(NULL, &a) == SPEX_E_INVAL);
    CHECK(spex_interactions(F, SPEX_INDEX_SII, 0, &a) == SPEX_E_RANGE);
    CHECK(spex_interactions(F, (spex_index)42, 2, &a) == SPEX_E_INVAL);
    CHECK(spex_interactions(F, (spex_index)-1, 2, &a) == SPEX_E_INVAL);
    spex_coefs_free(F);
    /* an empty map converts to an empty map; the empty set survives */
    CHECK_RC(ctx, spex_coefs_new(ctx, 3, &F));
    CHECK_RC(ctx, spex_fourier_to_mobius(F, &a));
    CHECK(spex_coefs_count(a) == 0);
    spex_coefs_free(a);
    CHECK_RC(ctx, spex_coefs_add(F, NULL, 0, 2.5));
    CHECK_RC(ctx, spex_interactions(F, SPEX_INDEX_SII, 2, &a));
    double x;
    CHECK(spex_coefs_count(a) == 1 && spex_coefs_get(a, NULL, 0, &x) && x == 2.5);
    spex_coefs_free(a);
    spex_coefs_free(F);
    spex_ctx_free(ctx);
}

static void test_index_names(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static const char *names[] = {"fourier", "mobius", "sv",   "bv",   "sii",
                                  "bii",     "ksii",   "stii", "fsii", "fbii"};
    for (int i = 0; i < 10; i++) {
        spex_index idx = (spex_index)-1;
        CHECK_RC(ctx, spex_index_parse(ctx, names[i], &idx));
        CHECK(idx == (spex_index)i);
        CHECK(!strcmp(spex_index_name(idx), names[i]));
    }
    CHECK(spex_index_parse(ctx, "fsi", &(spex_index){0}) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "'fsi'") != NULL);
    CHECK(strstr(spex_errmsg(ctx), "fsii") != NULL);
    CHECK(spex_index_parse(ctx, "", &(spex_index){0}) == SPEX_E_INVAL);
    CHECK(spex_index_parse(ctx, "SV ", &(spex_index){0}) == SPEX_E_INVAL);
    CHECK(spex_index_parse(ctx, NULL, &(spex_index){0}) == SPEX_E_INVAL);
    CHECK(!strcmp(spex_index_name((spex_index)99), "unknown"));
    spex_ctx_free(ctx);
}

/* Every allocation failure gives a clean SPEX_E_NOMEM (and no leak: ASan). */
/* op 0..9: an index of order 3; 10: Fourier to Möbius; 11: Möbius to Fourier */
struct convert_call {
    const spex_coefs *in;
    int op;
    spex_coefs *out;
};
static int convert_run(spex_ctx *ctx, void *user) {
    (void)ctx;
    struct convert_call *c = user;
    return c->op == 10   ? spex_fourier_to_mobius(c->in, &c->out)
           : c->op == 11 ? spex_mobius_to_fourier(c->in, &c->out)
                         : spex_interactions(c->in, (spex_index)c->op, 3, &c->out);
}
static void convert_after(void *user, int rc) {
    struct convert_call *c = user;
    if (rc != SPEX_OK) CHECK(c->out == NULL);
    spex_coefs_free(c->out);
    c->out = NULL;
}

static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 6);
    spex_coefs *sparse = random_map(ctx, &r, 40, 20, 5);
    double v[64];
    for (int i = 0; i < 64; i++)
        v[i] = spex_rng_normal(&r);
    spex_coefs *dense;
    CHECK_RC(ctx, spex_exact_fourier(ctx, v, 6, 0.0, &dense)); /* dense paths */
    for (int g = 0; g < 2; g++)
        for (int op = 0; op < 12; op++) {
            struct convert_call c = {g ? dense : sparse, op, NULL};
            spex_test_alloc_walk(ctx, 100000, convert_run, convert_after, &c);
        }
    spex_coefs_free(sparse);
    spex_coefs_free(dense);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_vs_definition), cmocka_unit_test(test_convert_large_n),
        cmocka_unit_test(test_convert_limits),        cmocka_unit_test(test_index_names),
        cmocka_unit_test(test_alloc_faults),
    };
    SPEX_RUN_TESTS(tests);
}
