/*
 * libFuzzer target for the game-file loader (DESIGN.md §4.1): arbitrary bytes
 * into spex_game_parse; a game that loads is evaluated at a few masks and its
 * value function run once, so the compiled form and the Fourier conversion
 * are exercised too. Built with -DSPEX_FUZZ=ON and CC=clang:
 *
 *     ./fuzz_game -max_total_time=30 corpus/
 *
 */
#include <math.h>
#include <string.h>

#include "spex/backend.h"


#include "spex/masks.h"
#include "spex/rng.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return 0;
    spex_game *g = NULL;
    int rc = spex_game_parse(ctx, (const char *)data, size, "fuzz.json", &g);
    /* every failure explains itself and names the input */
    if (rc != SPEX_OK && (g != NULL || strncmp(spex_errmsg(ctx), "fuzz.json", 9) != 0)) abort();
    if (rc == SPEX_OK) {
        int64_t n = spex_game_n(g);
        /* big n would make the masks, not the parser, the cost */
        /* rounding differs between the two forms by at most ~ulp(Σ|a|) per term */
        double scale = 0.0;
        for (int64_t i = 0; i < spex_coefs_count(spex_game_coefs(g)); i++) {
            double a;
            spex_coefs_entry(spex_game_coefs(g), i, NULL, NULL, &a);
            scale += fabs(a);
        }
        if (n <= 4096) {
            spex_masks *b = NULL;
            if (spex_masks_new(ctx, n, 4, &b) == SPEX_OK) {
                spex_rng r;
                spex_rng_seed(&r, size);
                for (int i = 0; i < 4; i++) {
                    uint64_t *row;
                    if (spex_masks_append_zero(b, &row)) break;
                    if (i == 1)
                        for (int64_t j = 0; j < n; j++)
                            spex_bits_set(row, j, 1);
                    if (i >= 2) spex_rng_bits(&r, row, spex_masks_words(b), n);
                    double v = spex_game_value(g, row);
                    double f = spex_coefs_eval_fourier(spex_game_fourier(g), row);
                    /* the Fourier form is the same function */
                    if (isfinite(scale) && !(fabs(v - f) <= 1e-9 * (1.0 + scale))) abort();
                }
                double out[4];
                spex_valuefn vf;
                if (spex_game_valuefn(g, 1, 1, &vf) == SPEX_OK) {
                    vf.eval(vf.user, b, out);
                    spex_valuefn_release(&vf);
                }
                spex_masks_free(b);
            }
        }
        spex_game_free(g);
    }
    spex_ctx_free(ctx);
    return 0;
}
