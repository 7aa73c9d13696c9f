/* Explaining your own C function with libspex: a value function over 64
 * features with three planted interactions, explained by SPEX from 2,000
 * queries. Build against an installed libspex:
 *     cc explain_fn.c $(pkg-config --cflags --libs spex) -o explain_fn
 * or with CMake: find_package(spex) and target_link_libraries(... spex::spex). */
#include <stdio.h>

#include <spex/spex.h>

/* f(m) = 1.5 x3 x17 - 0.8 x40 + 0.5 x5 x9 x60, with x_j = 1 when feature j
 * is kept: one value per mask of the batch. */
static int planted(void *user, const spex_masks *batch, double *out) {
    (void)user;
    for (int64_t i = 0; i < spex_masks_count(batch); i++) {
        const uint64_t *m = spex_masks_crow(batch, i);
        out[i] = 1.5 * spex_bits_get(m, 3) * spex_bits_get(m, 17) - 0.8 * spex_bits_get(m, 40) +
                 0.5 * spex_bits_get(m, 5) * spex_bits_get(m, 9) * spex_bits_get(m, 60);
    }
    return SPEX_OK;
}

int main(void) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 1;
    printf("libspex %s (built against %s)\n", spex_version(), SPEX_VERSION_STRING);
    spex_valuefn vf = {.eval = planted, .n = 64, .name = "planted"};
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_SPEX;
    eo.budget = 2000;
    eo.max_order = 3;
    eo.index = SPEX_INDEX_MOBIUS; /* Möbius: the planted products themselves */
    spex_result *res = NULL;
    int rc = spex_explain(ctx, &vf, &eo, &res);
    if (rc != SPEX_OK) {
        fprintf(stderr, "spex_explain: %s\n", spex_errmsg(ctx));
        spex_ctx_free(ctx);
        return 1;
    }
    printf("%lld queries\n", (long long)res->queries);
    for (int64_t k = 0; k < spex_coefs_count(res->interactions) && k < 5; k++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, k, &idx, &len, &v);
        if (len == 0 || v * v < 1e-12) continue;
        for (int j = 0; j < len; j++)
            printf("%sx%d", j ? " x " : "", idx[j]);
        printf(": %+.4f\n", v);
    }
    spex_result_free(res);
    spex_ctx_free(ctx);
    return 0;
}
