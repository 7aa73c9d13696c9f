/* The basic targets: a synthetic game file (--game, DESIGN.md §4.1) and an
 * external program speaking the exec protocol (--exec CMD --n N, §4.2). */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "spex/backend.h"
#include "spex/store.h"

char *cli_strf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}

void cli_target_close(cli_target *t) {
    spex_valuefn_release(&t->vf);
    if (t->free_state) t->free_state(t->state);
    if (t->names)
        for (int64_t j = 0; j < t->n; j++) free(t->names[j]);
    free(t->names);
    free(t->fingerprint);
    free(t->label);
    memset(t, 0, sizeof *t);
}

static void free_game(void *g) { spex_game_free(g); }

/* Optional "features": [names] in a game file (other keys are ignored by the
 * game loader, DESIGN.md §4.1). Missing or malformed: NULL (x0.. names). */
static char **game_feature_names(const char *path, int64_t n) {
    json_t *root = json_load_file(path, 0, NULL);
    json_t *names = json_object_get(root, "features");
    char **out = NULL;
    if (json_is_array(names) && (int64_t)json_array_size(names) == n) {
        out = calloc((size_t)n, sizeof *out);
        for (int64_t j = 0; out && j < n; j++) {
            const char *s = json_string_value(json_array_get(names, (size_t)j));
            out[j] = strdup(s ? s : "?");
        }
    }
    json_decref(root);
    return out;
}

int cli_target_open_game(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                         cli_target *t) {
    const char *path = cli_get(o, "game");
    if (!path) return 1;
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
    t->fingerprint = spex_game_noise_sd(g) > 0
                         ? cli_strf("game/1 sha256=%s noise_seed=%llu", hex,
                                    (unsigned long long)eo->seed)
                         : cli_strf("game/1 sha256=%s", hex);
    t->label = strdup(path);
    t->names = game_feature_names(path, t->n);
    return CLI_OK;
}

int cli_target_open_exec(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                         cli_target *t) {
    (void)eo;
    const char *cmd = cli_get(o, "exec"), *s;
    if (!cmd) return 1;
    spex_exec_opts xo = spex_exec_opts_default();
    int64_t n = 0, v;
    double d;
    if (!(s = cli_get(o, "n"))) {
        fprintf(stderr, "spex explain: --exec needs --n N, the number of features\n");
        return CLI_USAGE;
    }
    if (cli_int("n", s, 1, SPEX_MAX_FEATURES, &n)) return CLI_USAGE;
    if ((s = cli_get(o, "exec-workers"))) {
        if (cli_int("exec-workers", s, 1, 256, &v)) return CLI_USAGE;
        xo.n_workers = (int)v;
    }
    if ((s = cli_get(o, "timeout"))) {
        if (cli_double("timeout", s, 0.001, 1e9, &d)) return CLI_USAGE;
        xo.timeout_s = d;
    }
    int rc = spex_exec_open(ctx, cmd, n, &xo, &t->vf);
    if (rc) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(rc);
    }
    t->n = n;
    /* spex cannot see inside the program: its command line and n are the key */
    t->fingerprint = cli_strf("exec/1 n=%lld cmd=%s", (long long)n, cmd);
    t->label = strdup(cmd);
    return CLI_OK;
}
