/*
 * bench_spex: one SPEX run on a planted sparse game or a game file, printing
 * one Markdown table row: queries used, R² on 10,000 held-out uniformly
 * random masks against the noiseless game, precision and recall of the
 * recovered Fourier support (|F| > 1e-3), solve seconds (everything except
 * the queries), peak memory of the process.
 *
 *   bench_spex --n N --s S [--snr DB] [--b B | --budget Q] [--max-order T] [--seed S]
 *   bench_spex --game FILE --budget Q [--max-order T] [--seed S]
 *
 * Planted games: s distinct subsets with degree uniform in 1..T, |F| uniform
 * in [0.5, 1], random sign, no constant (as ../shared/games). --snr adds
 * Gaussian noise with variance Σ F² / 10^(snr/10). --b B sets the budget to
 * 3 · (P+1) · 2^B, the cost of three groups of 2^B bins at order T.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "spex/backend.h"
#include "spex/codes.h"
#include "spex/explain.h"
#include "spex/rng.h"

static double arg_num(int argc, char **argv, const char *name, double def) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return strtod(argv[i + 1], NULL);
    return def;
}

static const char *arg_str(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static spex_game *planted(spex_ctx *ctx, int64_t n, int s, int dmax, double snr_db, uint64_t seed) {
    spex_coefs *c;
    if (spex_coefs_new(ctx, n, &c)) return NULL;
    spex_rng r;
    spex_rng_seed(&r, seed);
    double energy = 0;
    while (spex_coefs_count(c) < s) {
        int d = 1 + (int)spex_rng_below(&r, (uint64_t)dmax);
        int32_t idx[32];
        for (int i = 0; i < d; i++)
            idx[i] = (int32_t)spex_rng_below(&r, (uint64_t)n);
        if (spex_subset_normalize(ctx, n, idx, d)) continue;
        double v;
        if (spex_coefs_get(c, idx, d, &v)) continue;
        v = 0.5 + 0.5 * spex_rng_uniform(&r);
        spex_coefs_set(c, idx, d, spex_rng_uniform(&r) < 0.5 ? -v : v);
        energy += v * v;
    }
    double sd = isfinite(snr_db) ? sqrt(energy / pow(10.0, snr_db / 10.0)) : 0.0;
    spex_game *g = NULL;
    spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, sd, &g);
    spex_coefs_free(c);
    return g;
}

int main(int argc, char **argv) {
    /* as the CLI does: single-threaded BLAS unless the environment says */
    if (!getenv("OPENBLAS_NUM_THREADS")) openblas_set_num_threads(1);
    spex_ctx *ctx = spex_ctx_new();
    const char *game_path = arg_str(argc, argv, "--game");
    int64_t n = (int64_t)arg_num(argc, argv, "--n", 1000);
    int s = (int)arg_num(argc, argv, "--s", 20);
    int t = (int)arg_num(argc, argv, "--max-order", 5);
    double snr = arg_num(argc, argv, "--snr", INFINITY);
    uint64_t seed = (uint64_t)arg_num(argc, argv, "--seed", 1);
    const char *dec = arg_str(argc, argv, "--decoder");
    spex_game *g = NULL;
    if (game_path) {
        if (spex_game_load(ctx, game_path, &g)) {
            fprintf(stderr, "bench_spex: %s\n", spex_errmsg(ctx));
            return 2;
        }
        n = spex_game_n(g);
    } else {
        g = planted(ctx, n, s, t, snr, seed * 7919 + (uint64_t)n);
    }
    if (!g) {
        fprintf(stderr, "bench_spex: %s\n", spex_errmsg(ctx));
        return 2;
    }
    int64_t budget = (int64_t)arg_num(argc, argv, "--budget", 0);
    int b = (int)arg_num(argc, argv, "--b", 0);
    if (b > 0) {
        spex_bch *bch;
        if (spex_bch_new(ctx, n, t, &bch)) return 2;
        budget = 3 * (int64_t)(spex_bch_n_parity(bch) + 1) * ((int64_t)1 << b);
        spex_bch_free(bch);
    }
    spex_valuefn vf;
    spex_game_valuefn(g, 1, seed, &vf);
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_SPEX;
    eo.max_order = t;
    eo.budget = budget;
    eo.seed = seed;
    if (dec && !strcmp(dec, "hard")) eo.decoder = SPEX_DECODER_HARD;
    spex_result *res = NULL;
    int rc = spex_explain(ctx, &vf, &eo, &res);
    const char *name =
        game_path ? strrchr(game_path, '/') ? strrchr(game_path, '/') + 1 : game_path : "planted";
    if (rc) {
        printf("| %s | %lld | %d | %s | %lld | - | - | - | - | - | - | %s |\n", name, (long long)n,
               game_path ? (int)spex_coefs_count(spex_game_fourier(g)) : s,
               isfinite(snr) ? "10 dB" : "none", (long long)budget, spex_errmsg(ctx));
        return 0;
    }
    /* R² on 10,000 held-out masks against the noiseless game; support
     * precision / recall over non-constant terms with |F| > 1e-3 */
    double r2 = NAN;
    spex_valuefn truth;
    if (spex_game_valuefn(g, 0, seed, &truth) == SPEX_OK) {
        spex_faithfulness(ctx, &truth, res->fourier, 10000, seed, &r2);
        spex_valuefn_release(&truth);
    }
    int64_t tp, n_found, n_true;
    spex_support_match(spex_game_fourier(g), res->fourier, 1e-3, &tp, &n_found, &n_true);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    char prec[16] = "-";
    if (n_found) snprintf(prec, sizeof prec, "%.2f", (double)tp / (double)n_found);
    char details[512];
    spex_result_details_text(res, details, sizeof details);
    printf("| %s | %lld | %lld | %s | %lld | %lld | %.4f | %s | %.2f | %.3f | %.0f | %s |\n", name,
           (long long)n, (long long)n_true, isfinite(snr) ? "10 dB" : (game_path ? "file" : "none"),
           (long long)budget, (long long)res->queries, r2, prec,
           n_true ? (double)tp / (double)n_true : 1.0, res->seconds_solve,
           (double)ru.ru_maxrss / 1024.0, details);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
    return 0;
}
