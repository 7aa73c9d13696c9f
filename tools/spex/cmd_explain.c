/* spex explain: load a target (game file or external program), run a method,
 * print the report and write the result file (DESIGN.md §4.3, §4.4). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/backend.h"
#include "spex/explain.h"
#include "spex/report.h"
#include "spex/store.h"

static cli_opt explain_opts[] = {
    {"game", "FILE", "explain a synthetic game file (DESIGN.md §4.1)", NULL},
    {"exec", "CMD", "explain an external program speaking the exec protocol (one mask\n"
                    "per line on its stdin, one number per line back); needs --n", NULL},
    {"n", "N", "number of features of the --exec program", NULL},
    {"exec-workers", "K", "run K copies of the --exec program in parallel (default 1)", NULL},
    {"timeout", "SEC", "give up when one batch takes longer than SEC seconds (default: none)",
     NULL},
    {"method", "M", "exact: all 2^n masks, n <= 20 (default)\n"
                    "spex: sparse Fourier transform, BCH-coded sampling\n"
                    "proxyspex: boosted-tree proxy (XGBoost, 5-fold CV grid) on uniform\n"
                    "  masks, exact Fourier extraction, truncation chosen by CV, ridge\n"
                    "  refit; budget default 5000; --threads T runs the CV fits in parallel\n"
                    "lasso: LASSO over the ±1 Fourier features of all subsets up to\n"
                    "  --max-order on uniform masks (CV penalty; budget default 5000)\n"
                    "kernelshap: Faith-Banzhaf regression (least squares on 0/1 Moebius\n"
                    "  features up to --max-order; order 1 = Banzhaf values)", NULL},
    {"budget", "N", "most model queries to spend (default: the method's own)", NULL},
    {"max-order", "K", "highest interaction order reported (default 2); spex also\n"
                        "decodes interactions up to this order only", NULL},
    {"index", "NAME", "fourier | mobius | sv | bv | sii | bii | ksii | stii | fsii | fbii\n"
                      "(default fourier)", NULL},
    {"top", "K", "show the K largest interactions (default 20; 0 = all)", NULL},
    {"seed", "S", "seed of every random choice, incl. game noise (default 1)", NULL},
    {"threads", "T", "worker threads for the solver (default 1)", NULL},
    {"batch-size", "B", "masks per value-function call (default 256)", NULL},
    {"decoder", "D", "SPEX singleton decoder: soft (default) | hard", NULL},
    {"out", "FILE", "write the result file (JSON, DESIGN.md §4.3) to FILE", NULL},
    {"format", "F", "what to print on stdout: table (default) | json | csv", NULL},
    {"quiet", NULL, "no progress display", NULL},
    {"cache", "FILE", "query cache: answers are read from and saved to FILE, so re-runs,\n"
                      "killed runs and other methods on the same target do not pay again\n"
                      "(default $XDG_CACHE_HOME/spex/cache.sqlite, else ~/.cache/spex/...)",
     NULL},
    {"no-cache", NULL, "neither read nor write the query cache", NULL},
    {"cache-fail", "MODE", "when the cache cannot be opened or written (read-only, disk full,\n"
                           "corrupt): continue without it, with a warning (default) | stop", NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

/* Optional "features": [names] in a game file (other keys are ignored by the
 * game loader, DESIGN.md §4.1). Missing or malformed: keep x0.. names. */
static void game_feature_names(spex_ctx *ctx, const char *path, spex_result *res) {
    json_t *root = json_load_file(path, 0, NULL);
    json_t *names = json_object_get(root, "features");
    if (json_is_array(names) && (int64_t)json_array_size(names) == res->n) {
        for (int64_t j = 0; j < res->n; j++) {
            const char *s = json_string_value(json_array_get(names, (size_t)j));
            char *d = s ? spex_strdup(ctx, s) : NULL;
            if (!d) continue;
            spex_free(ctx, res->features[j]);
            res->features[j] = d;
        }
    }
    json_decref(root);
}

/* Opens the query cache (--cache or the default) and binds it to the
 * target's fingerprint: a game file's SHA-256 (and the noise seed when it is
 * noisy), or an external program's command line and n (spex cannot see
 * inside it: after changing its model, use --no-cache or another --cache). */
static int open_cache(spex_ctx *ctx, const cli_opt *o, const spex_game *game, const char *game_path,
                      const char *exec_cmd, const spex_explain_opts *eo, spex_store **store,
                      spex_query_store *qs) {
    char def[4096], hex[65];
    const char *path = cli_get(o, "cache");
    if (!path && cli_default_cache_path(def, sizeof def))
        return spex_seterr(ctx, SPEX_E_IO, "no cache location: neither XDG_CACHE_HOME nor HOME "
                                           "is set (give --cache FILE or --no-cache)");
    if (!path) path = def;
    spex_store_opts so = spex_store_opts_default();
    int rc = spex_store_open(ctx, path, &so, store);
    if (rc) return rc;
    char *fp = NULL;
    const char *label;
    int64_t n;
    if (game) {
        rc = spex_sha256_file(ctx, game_path, hex);
        size_t cap = 160;
        fp = rc ? NULL : malloc(cap);
        if (fp && spex_game_noise_sd(game) > 0)
            snprintf(fp, cap, "game/1 sha256=%s noise_seed=%llu", hex,
                     (unsigned long long)eo->seed);
        else if (fp)
            snprintf(fp, cap, "game/1 sha256=%s", hex);
        label = game_path;
        n = spex_game_n(game);
    } else {
        int64_t n_exec = 0;
        cli_int("n", cli_get(o, "n"), 1, SPEX_MAX_FEATURES, &n_exec);
        size_t cap = strlen(exec_cmd) + 64;
        fp = malloc(cap);
        if (fp) snprintf(fp, cap, "exec/1 n=%lld cmd=%s", (long long)n_exec, exec_cmd);
        label = exec_cmd;
        n = n_exec;
    }
    if (!rc && !fp) rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    if (!rc) rc = spex_store_bind(*store, fp, label, n, qs);
    free(fp);
    if (rc) {
        spex_store_close(*store);
        *store = NULL;
    }
    return rc;
}

static int fail(spex_ctx *ctx, int rc) {
    fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
    return cli_exit_code(rc);
}

int cmd_explain(int argc, char **argv) {
    cli_opt *o = explain_opts;
    for (cli_opt *p = o; p->name; p++) p->value = NULL;
    if (cli_parse("explain", o, argc, argv, 2)) return CLI_USAGE;
    if (cli_get(o, "help")) {
        cli_help(stdout, "spex explain (--game FILE | --exec CMD --n N) [OPTIONS]",
                 "Runs ablations on the target and reports the interactions that drive it.", o);
        return CLI_OK;
    }
    const char *game_path = cli_get(o, "game"), *exec_cmd = cli_get(o, "exec");
    if (!!game_path + !!exec_cmd != 1) {
        fprintf(stderr, "spex explain: give exactly one target: --game FILE or --exec CMD --n N "
                        "(see 'spex explain --help')\n");
        return CLI_USAGE;
    }
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return CLI_INPUT;
    spex_explain_opts eo = spex_explain_opts_default();
    spex_exec_opts xo = spex_exec_opts_default();
    int64_t top = 20, n_exec = 0, v;
    double d;
    int rc = CLI_OK, src;
    const char *s, *format = cli_get(o, "format") ? cli_get(o, "format") : "table";
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv")) {
        fprintf(stderr, "spex explain: unknown format '%s' (expected table, json or csv)\n",
                format);
        rc = CLI_USAGE;
    }
    if (!rc && (s = cli_get(o, "method")) && spex_method_parse(ctx, s, &eo.method)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        rc = CLI_USAGE;
    }
    if (!rc && (s = cli_get(o, "index")) && spex_index_parse(ctx, s, &eo.index)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        rc = CLI_USAGE;
    }
    if (!rc && (s = cli_get(o, "decoder"))) {
        if (!strcmp(s, "soft")) eo.decoder = SPEX_DECODER_SOFT;
        else if (!strcmp(s, "hard")) eo.decoder = SPEX_DECODER_HARD;
        else {
            fprintf(stderr, "spex explain: unknown decoder '%s' (expected soft or hard)\n", s);
            rc = CLI_USAGE;
        }
    }
    if (!rc && (s = cli_get(o, "budget")) && !(rc = cli_int("budget", s, 1, INT64_MAX / 2, &v)))
        eo.budget = v;
    if (!rc && (s = cli_get(o, "max-order")) && !(rc = cli_int("max-order", s, 1, 64, &v)))
        eo.max_order = (int)v;
    if (!rc && (s = cli_get(o, "top")) && !(rc = cli_int("top", s, 0, INT64_MAX, &v))) top = v;
    if (!rc && (s = cli_get(o, "seed")) && !(rc = cli_int("seed", s, 0, INT64_MAX, &v)))
        eo.seed = (uint64_t)v;
    if (!rc && (s = cli_get(o, "threads")) && !(rc = cli_int("threads", s, 1, 1024, &v)))
        spex_ctx_set_threads(ctx, (int)v);
    if (!rc && (s = cli_get(o, "batch-size")) &&
        !(rc = cli_int("batch-size", s, 1, 1 << 24, &v)))
        eo.batch_size = v;
    if (!rc && (s = cli_get(o, "exec-workers")) &&
        !(rc = cli_int("exec-workers", s, 1, 256, &v)))
        xo.n_workers = (int)v;
    if (!rc && (s = cli_get(o, "timeout")) && !(rc = cli_double("timeout", s, 0.001, 1e9, &d)))
        xo.timeout_s = d;
    if (!rc && exec_cmd) {
        if (!(s = cli_get(o, "n"))) {
            fprintf(stderr, "spex explain: --exec needs --n N, the number of features\n");
            rc = CLI_USAGE;
        } else {
            rc = cli_int("n", s, 1, SPEX_MAX_FEATURES, &n_exec);
        }
    }
    if (!rc && game_path && cli_get(o, "n")) {
        fprintf(stderr, "spex explain: --n is for --exec; a game file gives its own n\n");
        rc = CLI_USAGE;
    }
    int cache_stop = 0;
    if (!rc && (s = cli_get(o, "cache-fail"))) {
        if (!strcmp(s, "stop")) cache_stop = 1;
        else if (strcmp(s, "continue")) {
            fprintf(stderr, "spex explain: unknown --cache-fail '%s' (expected continue or stop)\n",
                    s);
            rc = CLI_USAGE;
        }
    }
    if (!rc && cli_get(o, "no-cache") && cli_get(o, "cache")) {
        fprintf(stderr, "spex explain: --cache and --no-cache exclude each other\n");
        rc = CLI_USAGE;
    }
    if (rc) {
        spex_ctx_free(ctx);
        return rc;
    }

    spex_game *game = NULL;
    spex_store *store = NULL;
    spex_query_store qs;
    spex_valuefn vf = {0};
    spex_result *res = NULL;
    cli_progress prog;
    cli_progress_init(&prog, cli_get(o, "quiet") != NULL);
    spex_ctx_set_progress(ctx, cli_progress_cb, &prog);
    if (game_path) {
        src = spex_game_load(ctx, game_path, &game);
        if (!src) src = spex_game_valuefn(game, 1, eo.seed, &vf);
    } else {
        src = spex_exec_open(ctx, exec_cmd, n_exec, &xo, &vf);
    }
    if (src) {
        rc = fail(ctx, src);
        goto done;
    }
    if (!cli_get(o, "no-cache")) {
        src = open_cache(ctx, o, game, game_path, exec_cmd, &eo, &store, &qs);
        if (src && cache_stop) {
            rc = fail(ctx, src);
            goto done;
        }
        if (src) fprintf(stderr, "spex explain: warning: %s; running without the cache\n",
                         spex_errmsg(ctx));
        else eo.store = &qs;
        eo.store_policy = cache_stop ? SPEX_STORE_STOP : SPEX_STORE_CONTINUE;
    }
    src = spex_explain(ctx, &vf, &eo, &res);
    const char *why;
    if (store && !cache_stop && spex_store_failure(store, &why))
        fprintf(stderr, "spex explain: warning: %s; the rest of this run was not cached\n", why);
    cli_progress_end(&prog);
    if (src) {
        rc = fail(ctx, src);
        goto done;
    }
    if (game_path) game_feature_names(ctx, game_path, res);
    const char *out_path = cli_get(o, "out");
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f) {
            fprintf(stderr, "spex explain: cannot write '%s'\n", out_path);
            rc = CLI_INPUT;
            goto done;
        }
        src = spex_result_write_json(ctx, res, f);
        if (fclose(f) && !src) src = spex_seterr(ctx, SPEX_E_IO, "closing '%s' failed", out_path);
        if (src) {
            rc = fail(ctx, src);
            goto done;
        }
    }
    if (!strcmp(format, "json")) src = spex_result_write_json(ctx, res, stdout);
    else if (!strcmp(format, "csv")) src = spex_result_write_csv(ctx, res, top, stdout);
    else src = spex_result_write_table(ctx, res, top, stdout);
    if (src) rc = fail(ctx, src);
done:
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_game_free(game);
    spex_store_close(store);
    spex_ctx_free(ctx);
    return rc;
}
