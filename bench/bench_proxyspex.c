/*
 * bench_proxyspex: one method (proxyspex, spex, lasso, kernelshap) on a game
 * file at one budget, through spex_explain like the CLI, printing one
 * Markdown table row: queries used, R² on 10,000 held-out uniformly random
 * masks against the noiseless game, precision and recall of the recovered
 * Fourier support (|F| > 1e-3), solve seconds (everything but the queries),
 * the part of it spent inside XGBoost (proxyspex), and the method's account.
 *
 *   bench_proxyspex --game FILE --budget Q --method M [--max-order K]
 *                   [--seed S] [--threads T]
 *
 * The methods run in separate processes (one row each) so that each row's
 * timing sees the same cold start; bench/run_proxyspex.sh interleaves them.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/rng.h"

static const char *arg_str(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static double arg_num(int argc, char **argv, const char *name, double def) {
    const char *s = arg_str(argc, argv, name);
    return s ? strtod(s, NULL) : def;
}

int main(int argc, char **argv) {
    const char *path = arg_str(argc, argv, "--game"), *mname = arg_str(argc, argv, "--method");
    if (!path || !mname) {
        fprintf(stderr, "usage: bench_proxyspex --game FILE --budget Q --method M "
                        "[--max-order K] [--seed S] [--threads T]\n");
        return 1;
    }
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g = NULL;
    spex_explain_opts eo = spex_explain_opts_default();
    if (spex_game_load(ctx, path, &g) || spex_method_parse(ctx, mname, &eo.method)) {
        fprintf(stderr, "bench_proxyspex: %s\n", spex_errmsg(ctx));
        return 2;
    }
    int64_t n = spex_game_n(g);
    eo.budget = (int64_t)arg_num(argc, argv, "--budget", 5000);
    eo.max_order = (int)arg_num(argc, argv, "--max-order", 5);
    eo.seed = (uint64_t)arg_num(argc, argv, "--seed", 1);
    spex_ctx_set_threads(ctx, (int)arg_num(argc, argv, "--threads", 2));
    spex_valuefn vf;
    spex_game_valuefn(g, 1, eo.seed, &vf);
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    spex_result *res = NULL;
    if (spex_explain(ctx, &vf, &eo, &res)) {
        printf("| %s | %s | %d | %lld | - | - | - | - | - | - | %s |\n", name, mname, eo.max_order,
               (long long)eo.budget, spex_errmsg(ctx));
        return 0;
    }
    spex_rng r;
    spex_rng_seed_stream(&r, eo.seed, 0xe7a1);
    size_t words = spex_bits_words(n);
    uint64_t *row = calloc(words, sizeof *row);
    enum { M = 10000 };
    double *y = malloc(M * sizeof *y), *yh = malloc(M * sizeof *yh), mean = 0;
    for (int i = 0; i < M; i++) {
        spex_rng_bits(&r, row, words, n);
        y[i] = spex_game_value(g, row);
        yh[i] = spex_coefs_eval_fourier(res->fourier, row);
        mean += y[i] / M;
    }
    double ss_res = 0, ss_tot = 0;
    for (int i = 0; i < M; i++) {
        ss_res += (y[i] - yh[i]) * (y[i] - yh[i]);
        ss_tot += (y[i] - mean) * (y[i] - mean);
    }
    const spex_coefs *F = spex_game_fourier(g);
    int64_t tp = 0, n_found = 0, n_true = 0;
    for (int64_t i = 0; i < spex_coefs_count(res->fourier); i++) {
        const int32_t *idx;
        int len;
        double v, w;
        spex_coefs_entry(res->fourier, i, &idx, &len, &v);
        if (!len || fabs(v) <= 1e-3) continue;
        n_found++;
        if (spex_coefs_get(F, idx, len, &w) && fabs(w) > 1e-3) tp++;
    }
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(F, i, &idx, &len, &v);
        if (len && fabs(v) > 1e-3) n_true++;
    }
    const char *x = strstr(res->details, "xgboost ");
    double xgb = x ? strtod(x + 8, NULL) : 0.0;
    char xs[32] = "-";
    if (x) snprintf(xs, sizeof xs, "%.2f (%.0f%%)", xgb, 100.0 * xgb / res->seconds_solve);
    printf("| %s | %s | %d | %lld | %lld | %.4f | %.2f | %.2f | %.2f | %s | %s |\n", name, mname,
           eo.max_order, (long long)eo.budget, (long long)res->queries, 1.0 - ss_res / ss_tot,
           n_found ? (double)tp / (double)n_found : 0.0, n_true ? (double)tp / (double)n_true : 0.0,
           res->seconds_solve, xs, res->details);
    free(row);
    free(y);
    free(yh);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
    return 0;
}
