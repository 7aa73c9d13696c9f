/*
 * Walsh–Hadamard transform and the exact Fourier / Möbius transforms over all
 * 2^n masks, against their definitions (DESIGN.md §2) summed directly.
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

/* The fast transform against the O(N^2) definition, and its involution
 * property H H = N I. */
static void test_wht_vs_ref(void **state) {
    (void)state;
    spex_rng r;
    spex_rng_seed(&r, 1);
    for (int L = 0; L <= 11; L++) {
        size_t N = (size_t)1 << L;
        double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *z = malloc(N * sizeof *z);
        for (size_t i = 0; i < N; i++)
            x[i] = z[i] = spex_rng_normal(&r);
        spexi_wht_ref(x, y, L);
        spex_wht(z, L);
        double worst = 0.0;
        for (size_t k = 0; k < N; k++)
            worst = fmax(worst, fabs(z[k] - y[k]));
        CHECK_NEAR(worst, 0.0, 1e-12 * (double)N);
        spex_wht(z, L);
        worst = 0.0;
        for (size_t k = 0; k < N; k++)
            worst = fmax(worst, fabs(z[k] - (double)N * x[k]));
        CHECK_NEAR(worst, 0.0, 1e-12 * (double)N);
        free(x);
        free(y);
        free(z);
    }
    double one = 3.5, out;
    spexi_wht_ref(&one, &out, 0);
    CHECK(out == 3.5);
}

/* Coefficient of subset mask k in c (0 when absent). */
static double coef_at(const spex_coefs *c, uint32_t k, int n) {
    int32_t s[32];
    int len = 0;
    for (int j = 0; j < n; j++)
        if (k >> j & 1) s[len++] = j;
    double v;
    spex_coefs_get(c, s, len, &v);
    return v;
}

static uint64_t mask_word(uint32_t m) {
    return (uint64_t)m;
}

/* F(k) = 2^-n Σ_m f(m)(-1)^{<m,k>} and a(S) = Σ_{L ⊆ S} (-1)^{|S|-|L|} f(L)
 * by direct sums; both maps evaluate back to f at every mask. */
static void test_exact_vs_definition(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 2);
    for (int n = 1; n <= 9; n++) {
        uint32_t full = (1u << n) - 1;
        double *v = malloc(sizeof(double) << n);
        for (uint32_t m = 0; m <= full; m++)
            v[m] = 4 * spex_rng_uniform(&r) - 2;
        spex_coefs *F, *a;
        CHECK_RC(ctx, spex_exact_fourier(ctx, v, n, 0.0, &F));
        CHECK_RC(ctx, spex_exact_mobius(ctx, v, n, 0.0, &a));
        double wf = 0.0, wa = 0.0, ef = 0.0, ea = 0.0;
        for (uint32_t k = 0; k <= full; k++) {
            double f = 0.0, m = 0.0;
            for (uint32_t x = 0; x <= full; x++)
                f += (pc(x & k) & 1) ? -v[x] : v[x];
            for (uint32_t L = k;; L = (L - 1) & k) {
                m += ((pc(k) - pc(L)) & 1) ? -v[L] : v[L];
                if (!L) break;
            }
            wf = fmax(wf, fabs(coef_at(F, k, n) - ldexp(f, -n)));
            wa = fmax(wa, fabs(coef_at(a, k, n) - m));
            uint64_t w = mask_word(k);
            ef = fmax(ef, fabs(spex_coefs_eval_fourier(F, &w) - v[k]));
            ea = fmax(ea, fabs(spex_coefs_eval_mobius(a, &w) - v[k]));
        }
        CHECK_NEAR(wf, 0.0, 1e-12);
        CHECK_NEAR(wa, 0.0, 1e-10);
        CHECK_NEAR(ef, 0.0, 1e-12);
        CHECK_NEAR(ea, 0.0, 1e-10);
        spex_coefs_free(F);
        spex_coefs_free(a);
        /* tol: exactly the |F| > tol survive, and the empty set always */
        double tol = 0.15;
        CHECK_RC(ctx, spex_exact_fourier(ctx, v, n, tol, &F));
        int64_t want = 1;
        for (uint32_t k = 1; k <= full; k++) {
            double f = 0.0;
            for (uint32_t x = 0; x <= full; x++)
                f += (pc(x & k) & 1) ? -v[x] : v[x];
            want += fabs(ldexp(f, -n)) > tol;
        }
        CHECK(spex_coefs_count(F) == want);
        for (int64_t e = 0; e < spex_coefs_count(F); e++) {
            int len;
            double x;
            spex_coefs_entry(F, e, NULL, &len, &x);
            CHECK(len == 0 || fabs(x) > tol);
        }
        spex_coefs_free(F);
        free(v);
    }
    spex_ctx_free(ctx);
}

/* n = 20 (the maximum): a planted sparse Fourier game comes back exactly. */
static void test_exact_n20(void **state) {
    (void)state;
    const int n = 20;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 3);
    spex_coefs *G;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &G));
    for (int i = 0; i < 12; i++) {
        int32_t s[20];
        int len = 0;
        uint32_t k = (uint32_t)spex_rng_u64(&r) & (uint32_t)spex_rng_u64(&r) & 0xFFFFF;
        for (int j = 0; j < n; j++)
            if (k >> j & 1) s[len++] = j;
        CHECK_RC(ctx, spex_coefs_add(G, s, len, 0.5 + spex_rng_uniform(&r)));
    }
    double *v = malloc(sizeof(double) << n);
    for (uint32_t m = 0; m < (1u << n); m++) {
        uint64_t w = m;
        v[m] = spex_coefs_eval_fourier(G, &w);
    }
    spex_coefs *F;
    CHECK_RC(ctx, spex_exact_fourier(ctx, v, n, 1e-9, &F));
    CHECK(spex_coefs_count(F) <= spex_coefs_count(G) + 1);
    for (int64_t e = 0; e < spex_coefs_count(G); e++) {
        const int32_t *s;
        int len;
        double x, y;
        spex_coefs_entry(G, e, &s, &len, &x);
        CHECK(spex_coefs_get(F, s, len, &y));
        CHECK_NEAR(y, x, 1e-12);
    }
    /* Möbius at n = 20 reproduces the values */
    spex_coefs *a;
    CHECK_RC(ctx, spex_exact_mobius(ctx, v, n, 1e-9, &a));
    for (uint32_t m = 0; m < (1u << n); m += 4099) {
        uint64_t w = m;
        CHECK_NEAR(spex_coefs_eval_mobius(a, &w), v[m], 1e-8);
    }
    spex_coefs_free(a);
    spex_coefs_free(F);
    spex_coefs_free(G);
    free(v);
    spex_ctx_free(ctx);
}

struct exact_call {
    int mobius;
    const double *v;
    spex_coefs *F;
};
static int exact_call_run(spex_ctx *ctx, void *user) {
    struct exact_call *c = user;
    return c->mobius ? spex_exact_mobius(ctx, c->v, 3, 0.0, &c->F)
                     : spex_exact_fourier(ctx, c->v, 3, 0.0, &c->F);
}
static void exact_call_after(void *user, int rc) {
    struct exact_call *c = user;
    CHECK(rc == SPEX_OK ? spex_coefs_count(c->F) >= 1 : c->F == NULL);
    spex_coefs_free(c->F);
    c->F = NULL;
}

static void test_exact_errors(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    double v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    spex_coefs *dummy, *F;
    CHECK_RC(ctx, spex_coefs_new(ctx, 1, &dummy));
    F = dummy; /* the calls must reset *out to NULL on failure */
    CHECK(spex_exact_fourier(ctx, v, 0, 0.0, &F) == SPEX_E_RANGE);
    CHECK(F == NULL);
    CHECK(strstr(spex_errmsg(ctx), "n = 0") != NULL);
    CHECK(spex_exact_mobius(ctx, v, 21, 0.0, &F) == SPEX_E_RANGE);
    CHECK(spex_exact_fourier(ctx, NULL, 3, 0.0, &F) == SPEX_E_INVAL);
    CHECK(spex_exact_fourier(ctx, v, 3, -1.0, &F) == SPEX_E_INVAL);
    CHECK(spex_exact_fourier(ctx, v, 3, NAN, &F) == SPEX_E_INVAL);
    v[5] = NAN;
    CHECK(spex_exact_mobius(ctx, v, 3, 0.0, &F) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "mask 5") != NULL);
    CHECK(F == NULL);
    v[5] = 5;
    spex_coefs_free(dummy);
    /* allocation failures: a clean SPEX_E_NOMEM, nothing leaked (ASan) */
    for (int which = 0; which < 2; which++) {
        struct exact_call c = {which, v, NULL};
        CHECK(spex_test_alloc_walk(ctx, 1000, exact_call_run, exact_call_after, &c) >= 1);
    }
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wht_vs_ref),
        cmocka_unit_test(test_exact_vs_definition),
        cmocka_unit_test(test_exact_n20),
        cmocka_unit_test(test_exact_errors),
    };
    SPEX_RUN_TESTS(tests);
}
