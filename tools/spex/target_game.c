/* The --game target: a synthetic game file (DESIGN.md §4.1), its optional
 * feature names read by the library's loader (spex_game_feature_name). */
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "spex/backend.h"
#include "spex/store.h"

static const cli_opt game_opts[] = {
    {"game", "FILE", "explain a synthetic game file (DESIGN.md §4.1)", NULL},
    {NULL, NULL, NULL, NULL},
};

static void free_game(void *g) {
    spex_game_free(g);
}

static int open_game(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    const char *path = cli_get(o, "game");
    if (cli_get(o, "n")) {
        fprintf(stderr, "spex explain: --n is for --exec; a game file gives its own n\n");
        return CLI_USAGE;
    }
    spex_game *g = NULL;
    int rc = spex_game_load(ctx, path, &g);
    if (!rc) {
        t->state = g;
        t->free_state = free_game;
        t->n = spex_game_n(g);
        rc = spex_game_valuefn(g, 1, eo->seed, &t->vf);
    }
    char hex[65];
    if (!rc) rc = spex_sha256_file(ctx, path, hex);
    if (rc) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(rc);
    }
    /* noise is a function of (seed, mask): the seed matters only with noise */
    t->fingerprint = spex_game_noise_sd(g) > 0 ? cli_strf("game/1 sha256=%s noise_seed=%llu", hex,
                                                          (unsigned long long)eo->seed)
                                               : cli_strf("game/1 sha256=%s", hex);
    t->label = strdup(path);
    /* the file's "features" names, when it has them (else x0..) */
    if (spex_game_feature_name(g, 0)) {
        t->names = calloc((size_t)t->n, sizeof *t->names);
        for (int64_t j = 0; t->names && j < t->n; j++)
            t->names[j] = strdup(spex_game_feature_name(g, j));
    }
    return CLI_OK;
}

const cli_target_kind cli_target_game = {
    .name = "game",
    .main = "game",
    .usage = "--game FILE",
    .about = "a synthetic game, known truth",
    .opts = game_opts,
    .open = open_game,
};
