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
    /* R² on 10,000 held-out masks against the noiseless game; support
     * precision / recall over non-constant terms with |F| > 1e-3 */
    double r2 = NAN;
    spex_valuefn truth;
    if (spex_game_valuefn(g, 0, eo.seed, &truth) == SPEX_OK) {
        spex_faithfulness(ctx, &truth, res->fourier, 10000, eo.seed, &r2);
        spex_valuefn_release(&truth);
    }
    int64_t tp, n_found, n_true;
    spex_support_match(spex_game_fourier(g), res->fourier, 1e-3, &tp, &n_found, &n_true);
    char xs[32] = "-", details[512];
    if (res->details.kind == SPEX_DETAILS_PROXYSPEX) {
        double xgb = res->details.u.proxyspex.seconds_xgb;
        snprintf(xs, sizeof xs, "%.2f (%.0f%%)", xgb, 100.0 * xgb / res->seconds_solve);
    }
    spex_result_details_text(res, details, sizeof details);
    printf("| %s | %s | %d | %lld | %lld | %.4f | %.2f | %.2f | %.2f | %s | %s |\n", name, mname,
           eo.max_order, (long long)eo.budget, (long long)res->queries, r2,
           n_found ? (double)tp / (double)n_found : 0.0, n_true ? (double)tp / (double)n_true : 0.0,
           res->seconds_solve, xs, details);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
    return 0;
}
