/* spex topk: the K features whose joint removal (or keeping) changes the
 * surrogate of a result most, found exactly over its Möbius form
 * (spex/topk.h); with a target, each set is ablated on the model and the
 * measured change printed beside the predicted one. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/backend.h"
#include "spex/report.h"
#include "spex/topk.h"
#include "spex/transform.h"

static cli_opt topk_opts[] = {
    {"result", "FILE", "a result file written by 'spex explain --out'", NULL},
    {"k", "K", "largest set size; sets of size 1..K are reported (default 5)", NULL},
    {"direction", "D",
     "remove: ablate the set from the full input, change f(1-1_R) - f(1)\n"
     "(default) | keep: keep only the set, change f(1_R) - f(0)",
     NULL},
    {"sign", "S",
     "abs: largest |change| (default) | up: largest increase | down: largest\n"
     "decrease",
     NULL},
    {"game", "FILE", "measure each set on this game (noise as in the file)", NULL},
    {"exec", "CMD", "measure each set on an external program (exec protocol); needs --n", NULL},
    {"n", "N", "number of features of the --exec program", NULL},
    {"seed", "S", "seed of the game's noise (default 1)", NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

int cmd_topk(int argc, char **argv) {
    cli_opt *o = topk_opts;
    for (cli_opt *p = o; p->name; p++)
        p->value = NULL;
    if (cli_parse("topk", o, argc, argv, 2)) return CLI_USAGE;
    if (cli_get(o, "help")) {
        cli_help(stdout,
                 "spex topk --result FILE [--k K] [--direction remove|keep] "
                 "[--game FILE | --exec CMD --n N]",
                 "Finds the K features whose joint ablation changes the surrogate most\n"
                 "(exact branch and bound), and measures them on the target when given.",
                 o);
        return CLI_OK;
    }
    const char *rpath = cli_get(o, "result"), *gpath = cli_get(o, "game"),
               *exec_cmd = cli_get(o, "exec"), *s;
    if (!rpath) {
        fprintf(stderr, "spex topk: needs --result FILE (see 'spex topk --help')\n");
        return CLI_USAGE;
    }
    if (gpath && exec_cmd) {
        fprintf(stderr, "spex topk: give at most one target: --game FILE or --exec CMD --n N\n");
        return CLI_USAGE;
    }
    int64_t K = 5, seed = 1, n_exec = 0;
    spex_topk_opts to = spex_topk_opts_default();
    if ((s = cli_get(o, "k")) && cli_int("k", s, 1, 64, &K)) return CLI_USAGE;
    if ((s = cli_get(o, "seed")) && cli_int("seed", s, 0, INT64_MAX, &seed)) return CLI_USAGE;
    if ((s = cli_get(o, "direction"))) {
        if (!strcmp(s, "remove"))
            to.direction = SPEX_TOPK_REMOVE;
        else if (!strcmp(s, "keep"))
            to.direction = SPEX_TOPK_KEEP;
        else {
            fprintf(stderr, "spex topk: unknown direction '%s' (expected remove or keep)\n", s);
            return CLI_USAGE;
        }
    }
    if ((s = cli_get(o, "sign"))) {
        if (!strcmp(s, "abs"))
            to.sign = 0;
        else if (!strcmp(s, "up"))
            to.sign = 1;
        else if (!strcmp(s, "down"))
            to.sign = -1;
        else {
            fprintf(stderr, "spex topk: unknown sign '%s' (expected abs, up or down)\n", s);
            return CLI_USAGE;
        }
    }
    if (exec_cmd) {
        if (!(s = cli_get(o, "n"))) {
            fprintf(stderr, "spex topk: --exec needs --n N, the number of features\n");
            return CLI_USAGE;
        }
        if (cli_int("n", s, 1, SPEX_MAX_FEATURES, &n_exec)) return CLI_USAGE;
    }

    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return CLI_INPUT;
    spex_result *res = NULL;
    spex_coefs *mob = NULL;
    spex_game *game = NULL;
    spex_valuefn vf = {0};
    spex_masks *batch = NULL;
    int32_t *sets = NULL;
    double *pred = NULL, *meas = NULL;
    int *opt = NULL;
    int rc = CLI_OK, src = spex_result_read_json(ctx, rpath, &res);
    if (!src) src = spex_fourier_to_mobius(res->fourier, &mob);
    if (src) goto fail;
    if (K > res->n) {
        fprintf(stderr, "spex topk: --k %lld exceeds the %lld features of '%s'\n", (long long)K,
                (long long)res->n, rpath);
        rc = CLI_USAGE;
        goto done;
    }
    sets = calloc((size_t)(K * K), sizeof *sets);
    pred = calloc((size_t)K, sizeof *pred);
    meas = calloc((size_t)K + 1, sizeof *meas);
    opt = calloc((size_t)K, sizeof *opt);
    if (!sets || !pred || !meas || !opt) {
        src = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
        goto fail;
    }
    for (int k = 1; k <= K; k++) {
        src = spex_topk_search(mob, k, &to, sets + (k - 1) * K, &pred[k - 1], &opt[k - 1]);
        if (src) goto fail;
    }
    int measured = gpath || exec_cmd;
    if (gpath) {
        src = spex_game_load(ctx, gpath, &game);
        if (!src) src = spex_game_valuefn(game, 1, (uint64_t)seed, &vf);
    } else if (exec_cmd) {
        src = spex_exec_open(ctx, exec_cmd, n_exec, NULL, &vf);
    }
    if (src) goto fail;
    if (measured) {
        if (vf.n != res->n) {
            fprintf(stderr, "spex topk: the result has n = %lld features but the target has %lld\n",
                    (long long)res->n, (long long)vf.n);
            rc = CLI_INPUT;
            goto done;
        }
        /* row 0: the reference mask (all kept for remove, none for keep) */
        src = spex_masks_new(ctx, res->n, K + 1, &batch);
        for (int k = 0; !src && k <= K; k++) {
            uint64_t *row;
            src = spex_masks_append_zero(batch, &row);
            if (src) break;
            if (to.direction == SPEX_TOPK_REMOVE)
                for (int64_t j = 0; j < res->n; j++)
                    spex_bits_set(row, j, 1);
            for (int i = 0; k > 0 && i < k; i++)
                spex_bits_set(row, sets[(k - 1) * K + i], to.direction == SPEX_TOPK_KEEP);
        }
        if (!src) src = vf.eval(vf.user, batch, meas);
        if (src) goto fail;
    }
    printf("top-k %s (%s), surrogate of '%s'%s\n",
           to.direction == SPEX_TOPK_REMOVE ? "removal: f(1 - 1_R) - f(1)"
                                            : "keeping: f(1_R) - f(0)",
           to.sign == 0  ? "largest |change|"
           : to.sign > 0 ? "largest increase"
                         : "largest decrease",
           rpath, measured ? "; measured on the target" : "");
    printf("%3s %12s %12s  %s\n", "k", "predicted", measured ? "measured" : "", "features");
    for (int k = 1; k <= K; k++) {
        printf("%3d %12.6f ", k, pred[k - 1]);
        if (measured)
            printf("%12.6f ", meas[k] - meas[0]);
        else
            printf("%12s ", "");
        for (int i = 0; i < k; i++)
            printf("%s%s", i ? ", " : " ", res->features[sets[(k - 1) * K + i]]);
        printf("%s\n", opt[k - 1] ? "" : "  (search stopped early: not proven optimal)");
    }
    goto done;
fail:
    fprintf(stderr, "spex topk: %s\n", spex_errmsg(ctx));
    rc = cli_exit_code(src);
done:
    free(sets);
    free(pred);
    free(meas);
    free(opt);
    spex_masks_free(batch);
    spex_valuefn_release(&vf);
    spex_game_free(game);
    spex_coefs_free(mob);
    spex_result_free(res);
    spex_ctx_free(ctx);
    return rc;
}
