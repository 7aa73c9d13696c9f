/* spex eval: faithfulness of a result — R² of its Fourier surrogate against
 * the (noiseless) game on uniformly random masks, or on all 2^n masks. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/report.h"

static cli_opt eval_opts[] = {
    {"result", "FILE", "a result file written by 'spex explain --out'", NULL},
    {"game", "FILE", "the game the result explains", NULL},
    {"masks", "M",
     "number of uniformly random masks (default 10000), or 'all'\n"
     "for every mask (n <= 20)",
     NULL},
    {"seed", "S", "seed of the random masks (default 1)", NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

int cmd_eval(int argc, char **argv) {
    cli_opt *o = eval_opts;
    for (cli_opt *p = o; p->name; p++)
        p->value = NULL;
    if (cli_parse("eval", o, argc, argv, 2)) return CLI_USAGE;
    if (cli_get(o, "help")) {
        cli_help(stdout, "spex eval --result FILE --game FILE [--masks M|all] [--seed S]",
                 "Prints the R^2 of the result's surrogate against the noiseless game.", o);
        return CLI_OK;
    }
    const char *rpath = cli_get(o, "result"), *gpath = cli_get(o, "game"), *s;
    if (!rpath || !gpath) {
        fprintf(stderr, "spex eval: needs --result FILE and --game FILE\n");
        return CLI_USAGE;
    }
    int64_t n_masks = 10000, seed = 1;
    int all = 0;
    if ((s = cli_get(o, "masks"))) {
        if (!strcmp(s, "all"))
            all = 1;
        else if (cli_int("masks", s, 1, 100000000, &n_masks))
            return CLI_USAGE;
    }
    if ((s = cli_get(o, "seed")) && cli_int("seed", s, 0, INT64_MAX, &seed)) return CLI_USAGE;

    spex_ctx *ctx = spex_ctx_new();
    spex_result *res = NULL;
    spex_game *game = NULL;
    int rc = CLI_OK, src = spex_result_read_json(ctx, rpath, &res);
    if (!src) src = spex_game_load(ctx, gpath, &game);
    if (src) {
        fprintf(stderr, "spex eval: %s\n", spex_errmsg(ctx));
        rc = cli_exit_code(src);
        goto done;
    }
    int64_t n = spex_game_n(game);
    if (n != res->n) {
        fprintf(stderr, "spex eval: the result has n = %lld features but the game has %lld\n",
                (long long)res->n, (long long)n);
        rc = CLI_INPUT;
        goto done;
    }
    double r2;
    spex_valuefn truth; /* the noiseless game */
    src = spex_game_valuefn(game, 0, (uint64_t)seed, &truth);
    if (!src) {
        src = spex_faithfulness(ctx, &truth, res->fourier, all ? 0 : n_masks, (uint64_t)seed, &r2);
        spex_valuefn_release(&truth);
    }
    if (src) {
        fprintf(stderr, "spex eval: %s\n", spex_errmsg(ctx));
        rc = src == SPEX_E_RANGE ? CLI_USAGE : cli_exit_code(src);
        goto done;
    }
    if (all) n_masks = (int64_t)1 << n;
    printf("r2 %.6f on %s%lld masks (seed %lld)\n", r2, all ? "all " : "", (long long)n_masks,
           (long long)seed);
done:
    spex_game_free(game);
    spex_result_free(res);
    spex_ctx_free(ctx);
    return rc;
}
