/* spex explain: open a target (target.h: one of the registry in targets.c,
 * whose option tables and --help groups are joined here with the general
 * options), run a method, print the report and write the result file
 * (DESIGN.md §4.3, §4.4). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_mpi.h"
#include "target.h"
#include "spex/explain.h"
#include "spex/plan.h"
#include "spex/report.h"
#include "spex/store.h"

/* The options of every target; each target's own come from the registry
 * (targets.c) and are joined in front of these by explain_opts(). */
static const cli_opt general_opts[] = {
    {"method", "M",
     "auto (default): exact when all 2^n masks fit the budget, else\n"
     "  proxyspex, the most faithful on real model functions\n"
     "  (bench/RESULTS.md); the report says which it chose\n"
     "exact: all 2^n masks, n <= 20\n"
     "spex: sparse Fourier transform, BCH-coded sampling\n"
     "proxyspex: boosted-tree proxy (XGBoost, 5-fold CV grid) on uniform\n"
     "  masks, exact Fourier extraction, truncation chosen by CV, ridge\n"
     "  refit; budget default 5000; --threads T runs the CV fits in parallel\n"
     "lasso: LASSO over the ±1 Fourier features of all subsets up to\n"
     "  --degree on uniform masks (CV penalty; budget default 5000)\n"
     "kernelshap: Faith-Banzhaf regression (least squares on 0/1 Moebius\n"
     "  features up to --degree; degree 1 = Banzhaf values)",
     NULL},
    {"budget", "N",
     "most model queries to spend (default: for auto, all 2^n masks when\n"
     "n <= 11, else 50 per feature within 2,000..10,000; for the others\n"
     "the method's own)",
     NULL},
    {"degree", "D",
     "the surrogate's highest interaction order: spex decodes and\n"
     "designs its code for it, lasso and kernelshap take all subsets up to\n"
     "it, proxyspex caps its trees and growth at it (default: the highest\n"
     "the budget affords, up to 5 and at least --max-order; the report\n"
     "says which)",
     NULL},
    {"max-order", "K",
     "highest interaction order of the reported index (default 2); it\n"
     "does not limit the surrogate (see --degree)",
     NULL},
    {"index", "NAME",
     "fourier | mobius | sv | bv | sii | bii | ksii | stii | fsii | fbii\n"
     "(default fourier)",
     NULL},
    {"top", "K", "show the K largest interactions (default 20; 0 = all)", NULL},
    {"seed", "S", "seed of every random choice, incl. game noise (default 1)", NULL},
    {"threads", "T", "worker threads for the solver (default 1)", NULL},
    {"batch-size", "B", "masks per value-function call (default 256)", NULL},
    {"decoder", "D", "SPEX singleton decoder: soft (default) | hard", NULL},
    {"validate", "K",
     "re-query the target for the top K interactions (each ablated with\n"
     "all its subsets) and print predicted vs measured value changes",
     NULL},
    {"out", "FILE", "write the result file (JSON, DESIGN.md §4.3) to FILE", NULL},
    {"format", "F",
     "what to print on stdout: table (default) | json | csv | html (one\n"
     "self-contained page: shaded features, bar chart, interaction arcs,\n"
     "settings; --top K interactions)",
     NULL},
    {"html", "FILE", "also write the HTML report (as --format html) to FILE", NULL},
    {"quiet", NULL, "no progress display", NULL},
    {"cache", "FILE",
     "query cache: answers are read from and saved to FILE, so re-runs,\n"
     "killed runs and other methods on the same target do not pay again\n"
     "(default $XDG_CACHE_HOME/spex/cache.sqlite, else ~/.cache/spex/...)",
     NULL},
    {"no-cache", NULL, "neither read nor write the query cache", NULL},
    {"plan", "FILE",
     "ask nothing: write the masks this run would ask, with the target's\n"
     "fingerprint, to FILE for 'spex work' shards (every method; not with\n"
     "--validate, whose masks depend on the result)",
     NULL},
    {"cache-fail", "MODE",
     "when the cache cannot be opened or written (read-only, disk full,\n"
     "corrupt): continue without it, with a warning (default) | stop",
     NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

/* Opens the query cache (--cache or the default) and binds it to the
 * target's fingerprint. */
static int open_cache(spex_ctx *ctx, const cli_opt *o, const cli_target *t, spex_store **store,
                      spex_query_store *qs) {
    char def[4096];
    const char *path = cli_get(o, "cache");
    if (!path && cli_default_cache_path(def, sizeof def))
        return spex_seterr(ctx, SPEX_E_IO,
                           "no cache location: neither XDG_CACHE_HOME nor HOME "
                           "is set (give --cache FILE or --no-cache)");
    if (!path) path = def;
    if (!t->fingerprint) return spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    spex_store_opts so = spex_store_opts_default();
    int rc = spex_store_open(ctx, path, &so, store);
    if (rc) return rc;
    rc = spex_store_bind(*store, t->fingerprint, t->label ? t->label : "?", t->n, qs);
    if (rc) {
        spex_store_close(*store);
        *store = NULL;
    }
    return rc;
}

/* Whether kind *k is the first of the registry with its shared table (which
 * is parsed and listed once, with that kind), or with its main option. */
static int shared_first(const cli_target_kind *const *k) {
    if (!(*k)->shared) return 0;
    for (const cli_target_kind *const *e = cli_target_kinds; e < k; e++)
        if ((*e)->shared == (*k)->shared) return 0;
    return 1;
}

static int main_first(const cli_target_kind *const *k) {
    for (const cli_target_kind *const *e = cli_target_kinds; e < k; e++)
        if (!strcmp((*e)->main, (*k)->main)) return 0;
    return 1;
}

/* The table cmd_explain parses (malloc'ed, {NULL}-terminated): every
 * target's options in registry order, a table shared by several targets
 * once, then the general ones. NULL after printing the problem. */
cli_opt *cli_explain_opts(void) {
    size_t n = sizeof general_opts / sizeof *general_opts;
    for (const cli_opt *p = cli_mpi_opts; p->name; p++)
        n++;
    for (const cli_target_kind *const *k = cli_target_kinds; *k; k++)
        for (int pass = 0; pass < 2; pass++)
            for (const cli_opt *p = pass ? (*k)->opts : (*k)->shared; p && p->name; p++)
                n++;
    cli_opt *o = calloc(n, sizeof *o);
    if (!o) {
        fprintf(stderr, "spex explain: out of memory\n");
        return NULL;
    }
    size_t m = 0;
    for (const cli_target_kind *const *k = cli_target_kinds; *k; k++) {
        for (const cli_opt *p = shared_first(k) ? (*k)->shared : NULL; p && p->name; p++)
            o[m++] = *p;
        for (const cli_opt *p = (*k)->opts; p->name; p++)
            o[m++] = *p;
    }
    for (const cli_opt *p = general_opts; p->name; p++)
        o[m++] = *p;
    for (const cli_opt *p = cli_mpi_opts; p->name; p++)
        o[m++] = *p;
    for (size_t i = 0; i < m; i++) {
        o[i].value = NULL;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(o[i].name, o[j].name)) {
                fprintf(stderr,
                        "spex explain: internal error: option --%s is defined twice "
                        "(the targets in targets.c)\n",
                        o[i].name);
                free(o);
                return NULL;
            }
    }
    return o; /* calloc'ed: o[m] is the terminator */
}

/* --help: the targets, one group of options per target (a shared table
 * with the first target naming it), then the general options. */
static void explain_help(FILE *f) {
    int w = 0;
    for (const cli_target_kind *const *k = cli_target_kinds; *k; k++)
        if ((int)strlen((*k)->usage) > w) w = (int)strlen((*k)->usage);
    fprintf(f, "usage: spex explain TARGET [OPTIONS]\n\n"
               "Runs ablations on the target and reports the interactions that drive it.\n\n"
               "TARGET (exactly one):\n");
    for (const cli_target_kind *const *k = cli_target_kinds; *k; k++)
        fprintf(f, "  %-*s  %s\n", w, (*k)->usage, (*k)->about);
    for (const cli_target_kind *const *k = cli_target_kinds; *k; k++) {
        fprintf(f, "\n%s options (%s):\n", (*k)->name, (*k)->usage);
        if (shared_first(k)) cli_help_lines(f, (*k)->shared);
        cli_help_lines(f, (*k)->opts);
    }
    cli_help_group(f, "options", general_opts);
    fprintf(f, "\nUnder 'mpirun -n N spex explain ...' (a build with MPI), rank 0 runs the method\n"
               "and owns the cache; ranks 1..N-1 each open the target once and answer the\n"
               "chunks of masks rank 0 hands out. The result is the serial run's.\n");
    cli_help_group(f, "MPI options", cli_mpi_opts);
}

/* Opens the one target the options name (target.h: claims, then the main
 * option alone). */
int cli_target_open(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    const cli_target_kind *const *ks = cli_target_kinds, *pick = NULL;
    const char *named = NULL;
    int given = 0;
    for (size_t i = 0; ks[i]; i++) {
        if (main_first(ks + i) && cli_get(o, ks[i]->main)) {
            given++;
            named = ks[i]->main;
        }
    }
    if (given != 1) {
        fprintf(stderr, "spex explain: give exactly one target:");
        for (size_t i = 0, shown = 0; ks[i]; i++)
            if (main_first(ks + i)) fprintf(stderr, "%s --%s", shown++ ? "," : "", ks[i]->main);
        fprintf(stderr, " (see 'spex explain --help')\n");
        return CLI_USAGE;
    }
    for (size_t i = 0; ks[i] && !pick; i++)
        if (!strcmp(ks[i]->main, named) && ks[i]->claims && ks[i]->claims(o)) pick = ks[i];
    for (size_t i = 0; ks[i] && !pick; i++)
        if (!strcmp(ks[i]->main, named) && !ks[i]->claims) pick = ks[i];
    if (!pick) { /* every target of this main option has a claims function: none said yes */
        fprintf(stderr,
                "spex explain: --%s: no target takes these options (see 'spex explain "
                "--help')\n",
                named);
        return CLI_USAGE;
    }
    return pick->open(ctx, o, eo, t);
}

/* The HTML report (spex/report.h) with the target's text and label. */
static int write_html(spex_ctx *ctx, cli_target *t, const spex_result *res, int64_t top,
                      const cli_validation *val, FILE *f) {
    spex_html_opts ho = spex_html_opts_default();
    ho.top = top > 0 ? top : INT64_MAX;
    ho.title = "spex explain";
    if (t->html) {
        int rc = t->html(t->state, &ho);
        if (rc) return rc == SPEX_E_NOMEM ? spex_seterr(ctx, rc, "out of memory") : rc;
    }
    const char *notes[9];
    int64_t k = 0;
    if (t->label) notes[k++] = t->label;
    for (int64_t i = 0; i < ho.n_notes && k < 9; i++)
        notes[k++] = ho.notes[i];
    ho.notes = notes;
    ho.n_notes = k;
    ho.validation = val->rows;
    ho.n_validation = val->n;
    return spex_result_write_html(ctx, res, &ho, f);
}

static int fail(spex_ctx *ctx, int rc) {
    fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
    return cli_exit_code(rc);
}

/* --plan FILE: the masks the method would ask (spex/plan.h), nothing asked. */
static int write_plan(spex_ctx *ctx, const char *path, const cli_target *t,
                      const spex_explain_opts *eo) {
    if (!t->fingerprint) return fail(ctx, spex_seterr(ctx, SPEX_E_NOMEM, "out of memory"));
    spex_masks *m = NULL;
    int rc = spex_plan_masks(ctx, eo, t->n, &m);
    if (rc) return fail(ctx, rc);
    char fp[65];
    spex_sha256_hex(t->fingerprint, strlen(t->fingerprint), fp);
    FILE *f = fopen(path, "w");
    if (!f) {
        spex_masks_free(m);
        fprintf(stderr, "spex explain: cannot write the plan '%s'\n", path);
        return CLI_INPUT;
    }
    rc = spex_plan_write(ctx, f, fp, m);
    if (fclose(f) && !rc) rc = spex_seterr(ctx, SPEX_E_IO, "closing '%s' failed", path);
    if (!rc)
        fprintf(stderr, "spex explain: plan of %lld masks written to %s (method %s)\n",
                (long long)spex_masks_count(m), path, spex_method_name(eo->method));
    spex_masks_free(m);
    return rc ? fail(ctx, rc) : CLI_OK;
}

/* The run settings shared with spex work (target.h). */
int cli_run_opts(spex_ctx *ctx, const cli_opt *o, const char *cmd, spex_explain_opts *eo,
                 int *cache_stop) {
    const char *s;
    int64_t v;
    int rc = CLI_OK;
    if ((s = cli_get(o, "seed")) && !(rc = cli_int("seed", s, 0, INT64_MAX, &v)))
        eo->seed = (uint64_t)v;
    if (!rc && (s = cli_get(o, "threads")) && !(rc = cli_int("threads", s, 1, 1024, &v)))
        spex_ctx_set_threads(ctx, (int)v);
    if (!rc && (s = cli_get(o, "batch-size")) && !(rc = cli_int("batch-size", s, 1, 1 << 24, &v)))
        eo->batch_size = v;
    if (!rc && (s = cli_get(o, "cache-fail"))) {
        if (!strcmp(s, "stop") || !strcmp(s, "continue")) {
            *cache_stop = !strcmp(s, "stop");
        } else {
            fprintf(stderr, "spex %s: unknown --cache-fail '%s' (expected continue or stop)\n", cmd,
                    s);
            rc = CLI_USAGE;
        }
    }
    return rc;
}

int cmd_explain(int argc, char **argv) {
    cli_opt *o = cli_explain_opts();
    if (!o) return CLI_INPUT;
    if (cli_parse("explain", o, argc, argv, 2)) {
        free(o);
        return CLI_USAGE;
    }
    if (cli_get(o, "help")) {
        explain_help(stdout);
        free(o);
        return CLI_OK;
    }
    spex_ctx *ctx = spex_ctx_new();
    spex_mpi *mp = NULL;
    if (ctx && spex_mpi_open(ctx, NULL, NULL, &mp)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        spex_ctx_free(ctx);
        ctx = NULL;
    }
    if (!ctx) {
        free(o);
        return CLI_INPUT;
    }
    spex_explain_opts eo = spex_explain_opts_default();
    int64_t top = 20, v;
    int rc = CLI_OK, src;
    const char *s, *format = cli_get(o, "format") ? cli_get(o, "format") : "table";
    if (strcmp(format, "table") && strcmp(format, "json") && strcmp(format, "csv") &&
        strcmp(format, "html")) {
        fprintf(stderr, "spex explain: unknown format '%s' (expected table, json, csv or html)\n",
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
        if (!strcmp(s, "soft"))
            eo.decoder = SPEX_DECODER_SOFT;
        else if (!strcmp(s, "hard"))
            eo.decoder = SPEX_DECODER_HARD;
        else {
            fprintf(stderr, "spex explain: unknown decoder '%s' (expected soft or hard)\n", s);
            rc = CLI_USAGE;
        }
    }
    if (!rc && (s = cli_get(o, "budget")) && !(rc = cli_int("budget", s, 1, INT64_MAX / 2, &v)))
        eo.budget = v;
    if (!rc && (s = cli_get(o, "max-order")) && !(rc = cli_int("max-order", s, 1, 64, &v)))
        eo.max_order = (int)v;
    if (!rc && (s = cli_get(o, "degree")) && !(rc = cli_int("degree", s, 1, 63, &v)))
        eo.degree = (int)v;
    if (!rc && (s = cli_get(o, "top")) && !(rc = cli_int("top", s, 0, INT64_MAX, &v))) top = v;
    int64_t validate = 0;
    if (!rc && (s = cli_get(o, "validate")) && !(rc = cli_int("validate", s, 1, 1000, &v)))
        validate = v;
    int cache_stop = 0;
    if (!rc) rc = cli_run_opts(ctx, o, "explain", &eo, &cache_stop);
    if (!rc && cli_get(o, "plan") && validate) {
        fprintf(stderr, "spex explain: --plan and --validate exclude each other (validation "
                        "masks depend on the result)\n");
        rc = CLI_USAGE;
    }
    if (!rc && cli_get(o, "no-cache") && cli_get(o, "cache")) {
        fprintf(stderr, "spex explain: --cache and --no-cache exclude each other\n");
        rc = CLI_USAGE;
    }
    if (rc) {
        spex_mpi_close(mp);
        spex_ctx_free(ctx);
        free(o);
        return rc;
    }

    cli_target t;
    memset(&t, 0, sizeof t);
    cli_validation val;
    memset(&val, 0, sizeof val);
    spex_store *store = NULL;
    spex_query_store qs;
    spex_result *res = NULL;
    cli_progress prog;
    /* one progress display: rank 0's */
    cli_progress_init(&prog, cli_get(o, "quiet") != NULL || spex_mpi_rank(mp) > 0);
    spex_ctx_set_progress(ctx, cli_progress_cb, &prog);
    spex_ctx_set_notice(ctx, cli_notice_cb, &prog);
    rc = cli_target_open(ctx, o, &eo, &t);
    if (rc) goto done;
    int worker = 0;
    rc = cli_mpi_attach(ctx, mp, o, "explain", &t, &eo, &worker);
    if (rc || worker) goto done;
    if (cli_get(o, "plan")) {
        rc = write_plan(ctx, cli_get(o, "plan"), &t, &eo);
        goto done;
    }
    if (!cli_get(o, "no-cache")) {
        src = open_cache(ctx, o, &t, &store, &qs);
        if (src && cache_stop) {
            rc = fail(ctx, src);
            goto done;
        }
        if (src)
            fprintf(stderr, "spex explain: warning: %s; running without the cache\n",
                    spex_errmsg(ctx));
        else
            eo.store = &qs;
        eo.store_policy = cache_stop ? SPEX_STORE_STOP : SPEX_STORE_CONTINUE;
    }
    src = spex_explain(ctx, &t.vf, &eo, &res);
    const char *why;
    if (store && !cache_stop && spex_store_failure(store, &why))
        fprintf(stderr, "spex explain: warning: %s; the rest of this run was not cached\n", why);
    cli_progress_end(&prog);
    if (src) {
        rc = fail(ctx, src);
        goto done;
    }
    /* the target's names, repeats told apart (waiter#1, waiter#2), for
     * every report; the cache fingerprint never sees them */
    if ((src = spex_result_set_features(res, (const char *const *)t.names))) {
        rc = fail(ctx, src);
        goto done;
    }
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
    /* validation first: its rows go into the HTML report as well; when it
     * fails, the result paid for is still written, and the exit status
     * says so */
    int vrc = validate ? cli_validate(ctx, &t, &eo, res, validate, &val) : SPEX_OK;
    if (vrc) vrc = fail(ctx, vrc);
    const char *html_path = cli_get(o, "html");
    if (html_path) {
        FILE *f = fopen(html_path, "w");
        if (!f) {
            fprintf(stderr, "spex explain: cannot write '%s'\n", html_path);
            rc = CLI_INPUT;
            goto done;
        }
        src = write_html(ctx, &t, res, top, &val, f);
        if (fclose(f) && !src) src = spex_seterr(ctx, SPEX_E_IO, "closing '%s' failed", html_path);
        if (src) {
            rc = fail(ctx, src);
            goto done;
        }
    }
    if (!strcmp(format, "json"))
        src = spex_result_write_json(ctx, res, stdout);
    else if (!strcmp(format, "html"))
        src = write_html(ctx, &t, res, top, &val, stdout);
    else if (!strcmp(format, "csv"))
        src = spex_result_write_csv(ctx, res, top, stdout);
    else
        src = spex_result_write_table(ctx, res, top, stdout);
    if (!src && t.report && !strcmp(format, "table")) src = t.report(t.state, ctx, res, stdout);
    /* the table report goes on stdout; with json/csv stdout stays machine-readable */
    if (!src && validate && !vrc)
        cli_validation_print(&val, res, strcmp(format, "table") ? stderr : stdout);
    if (src)
        rc = fail(ctx, src);
    else
        rc = vrc;
done:
    cli_validation_clear(&val);
    spex_result_free(res);
    cli_target_close(&t); /* (stops the MPI workers) */
    spex_store_close(store);
    spex_mpi_close(mp);
    spex_ctx_free(ctx);
    free(o);
    return rc;
}
