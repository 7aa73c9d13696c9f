/* spex work: one shard of a plan (spex/plan.h, written by `spex explain
 * --plan`). Opens the same target as `spex explain` (same options, checked
 * against the plan's fingerprint), and answers mask k of the plan when
 * k mod N = I into the cache, cache-first, so a re-run of a killed shard
 * pays only for what its cache lacks. I and N come from --shard I/N, else
 * from a Slurm job array (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN,
 * SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX,
 * with --shards N). Shard caches are then joined by `spex cache merge`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_mpi.h"
#include "target.h"
#include "spex/plan.h"
#include "spex/query.h"
#include "spex/store.h"

static const cli_opt work_opts[] = {
    {"shard", "I/N",
     "answer mask k of the plan when k mod N = I (default: from\n"
     "SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT, or JOB_COMPLETION_INDEX\n"
     "with --shards N)",
     NULL},
    {"shards", "N", "the number of shards N, when I comes from the environment", NULL},
    {NULL, NULL, NULL, NULL},
};

/* explain options that the plan fixes: refused rather than ignored */
static const char *const fixed_by_plan[] = {"method", "budget",  "max-order", "index",
                                            "top",    "decoder", "validate",  "out",
                                            "format", "html",    "no-cache",  NULL};

static void work_help(FILE *f, const cli_opt *o) {
    fprintf(f, "usage: spex work --plan FILE [--shard I/N] --cache SHARD.sqlite TARGET "
               "[TARGET OPTIONS]\n\n"
               "Answers one shard of a plan written by 'spex explain ... --plan FILE' into a\n"
               "cache; a re-run skips what the cache holds. TARGET and its options are those of\n"
               "'spex explain' (they must give the plan's fingerprint). Keep the cache on a local\n"
               "disk; join the shards' caches with 'spex cache merge', then run the same\n"
               "'spex explain' with --cache on the merged file.\n\n"
               "work options:\n");
    cli_help_lines(f, work_opts);
    fprintf(f, "  (and --plan FILE, --cache FILE, --batch-size B, --seed S, --threads T,\n"
               "   --quiet, --cache-fail MODE as in 'spex explain')\n");
    (void)o;
}

/* The explain table with work's own options appended (malloc'ed). */
static cli_opt *work_table(void) {
    cli_opt *e = cli_explain_opts();
    if (!e) return NULL;
    size_t n = 0, k = 0;
    while (e[n].name)
        n++;
    size_t extra = sizeof work_opts / sizeof *work_opts; /* with the terminator */
    cli_opt *o = realloc(e, (n + extra) * sizeof *o);
    if (!o) {
        free(e);
        fprintf(stderr, "spex work: out of memory\n");
        return NULL;
    }
    for (k = 0; k < extra; k++)
        o[n + k] = work_opts[k];
    return o;
}

/* A decimal environment variable, or -1 when unset; -2 when not a number. */
static int64_t env_int(const char *name) {
    const char *s = getenv(name);
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < 0) return -2;
    return v;
}

/* I and N from --shard, --shards and the environment. */
static int pick_shard(const cli_opt *o, int64_t *I, int64_t *N) {
    const char *s = cli_get(o, "shard");
    *I = *N = -1;
    if (s) {
        const char *slash = strchr(s, '/');
        char buf[64];
        if (!slash || (size_t)(slash - s) >= sizeof buf) {
            fprintf(stderr, "spex work: --shard '%s' is not I/N (e.g. 0/4)\n", s);
            return CLI_USAGE;
        }
        memcpy(buf, s, (size_t)(slash - s));
        buf[slash - s] = '\0';
        int rc = cli_int("shard", buf, 0, INT64_MAX / 2, I);
        if (!rc) rc = cli_int("shard", slash + 1, 1, INT64_MAX / 2, N);
        if (rc) return rc;
    } else {
        const char *from = "SLURM_ARRAY_TASK_ID";
        int64_t id = env_int(from), min = env_int("SLURM_ARRAY_TASK_MIN");
        if (id == -1) id = env_int(from = "JOB_COMPLETION_INDEX");
        if (id == -2 || min == -2) {
            fprintf(stderr, "spex work: %s is not a number\n", from);
            return CLI_USAGE;
        }
        if (id >= 0 && min > 0 && !strcmp(from, "SLURM_ARRAY_TASK_ID")) id -= min;
        *I = id;
        *N = env_int("SLURM_ARRAY_TASK_COUNT");
    }
    if ((s = cli_get(o, "shards"))) {
        int rc = cli_int("shards", s, 1, INT64_MAX / 2, N);
        if (rc) return rc;
    }
    if (*I < 0 || *N < 1) {
        fprintf(stderr, "spex work: which shard? give --shard I/N, or run as a Slurm array task "
                        "(SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) or a Kubernetes Indexed "
                        "Job (JOB_COMPLETION_INDEX, with --shards N)\n");
        return CLI_USAGE;
    }
    if (*I >= *N) {
        fprintf(stderr, "spex work: shard %lld of %lld: I must be below N\n", (long long)*I,
                (long long)*N);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* The whole plan file (capped at SPEX_PLAN_MAX_CHARS + header room). */
static int read_plan(spex_ctx *ctx, const char *path, char fp[65], spex_masks **m) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spex work: cannot open the plan '%s'\n", path);
        return CLI_INPUT;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap || cap > (size_t)SPEX_PLAN_MAX_CHARS) break;
        char *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        free(buf);
        fprintf(stderr, "spex work: cannot read the plan '%s'\n", path);
        return CLI_INPUT;
    }
    int rc = spex_plan_parse(ctx, buf, len, fp, m);
    free(buf);
    if (rc) {
        fprintf(stderr, "spex work: '%s': %s\n", path, spex_errmsg(ctx));
        return CLI_INPUT;
    }
    return CLI_OK;
}

int cmd_work(int argc, char **argv) {
    cli_opt *o = work_table();
    if (!o) return CLI_INPUT;
    if (cli_parse("work", o, argc, argv, 2)) {
        free(o);
        return CLI_USAGE;
    }
    if (cli_get(o, "help")) {
        work_help(stdout, o);
        free(o);
        return CLI_OK;
    }
    int rc = CLI_OK;
    for (const char *const *k = fixed_by_plan; *k && !rc; k++)
        if (cli_get(o, *k)) {
            fprintf(stderr,
                    "spex work: --%s is not taken here: the plan fixes the masks, and "
                    "the answers go to --cache\n",
                    *k);
            rc = CLI_USAGE;
        }
    const char *plan = cli_get(o, "plan");
    if (!rc && !plan) {
        fprintf(stderr,
                "spex work: give --plan FILE (written by 'spex explain ... --plan FILE')\n");
        rc = CLI_USAGE;
    }
    int64_t I = 0, N = 1;
    if (!rc) rc = pick_shard(o, &I, &N);
    spex_ctx *ctx = rc ? NULL : spex_ctx_new();
    if (!rc && !ctx) rc = CLI_INPUT;
    spex_mpi *mp = NULL;
    if (!rc && spex_mpi_open(ctx, NULL, NULL, &mp)) {
        fprintf(stderr, "spex work: %s\n", spex_errmsg(ctx));
        rc = CLI_INPUT;
    }
    spex_explain_opts eo = spex_explain_opts_default();
    int cache_stop = 1; /* a shard that cannot save its answers is pointless */
    if (!rc) rc = cli_run_opts(ctx, o, "work", &eo, &cache_stop);
    if (rc) {
        spex_mpi_close(mp);
        spex_ctx_free(ctx);
        free(o);
        return rc;
    }

    cli_target t;
    memset(&t, 0, sizeof t);
    spex_masks *m = NULL, *mine = NULL;
    spex_store *store = NULL;
    spex_query *q = NULL;
    double *vals = NULL;
    char fp[65], have[65];
    cli_progress prog;
    cli_progress_init(&prog, cli_get(o, "quiet") != NULL || spex_mpi_rank(mp) > 0);
    spex_ctx_set_progress(ctx, cli_progress_cb, &prog);
    spex_ctx_set_notice(ctx, cli_notice_cb, &prog);
    rc = read_plan(ctx, plan, fp, &m);
    if (!rc) rc = cli_target_open(ctx, o, &eo, &t);
    if (rc) goto done;
    if (!t.fingerprint) {
        rc = CLI_INPUT;
        fprintf(stderr, "spex work: out of memory\n");
        goto done;
    }
    spex_sha256_hex(t.fingerprint, strlen(t.fingerprint), have);
    if (strcmp(have, fp) || t.n != spex_masks_n(m)) {
        fprintf(stderr,
                "spex work: the plan '%s' was made for another target (fingerprint %.12s..., "
                "n = %lld; these options give %.12s..., n = %lld): give the options of the "
                "'spex explain --plan' run\n",
                plan, fp, (long long)spex_masks_n(m), have, (long long)t.n);
        rc = CLI_USAGE;
        goto done;
    }
    int worker = 0;
    rc = cli_mpi_attach(ctx, mp, o, "work", &t, &eo, &worker);
    if (rc || worker) goto done;
    /* mask k of the plan when k mod N = I */
    int64_t total = spex_masks_count(m);
    int src = spex_masks_new(ctx, t.n, total / N + 1, &mine);
    for (int64_t k = I; !src && k < total; k += N)
        src = spex_masks_append(mine, spex_masks_crow(m, k));
    char def[4096];
    const char *path = cli_get(o, "cache");
    if (!src && !path && cli_default_cache_path(def, sizeof def))
        src = spex_seterr(ctx, SPEX_E_IO, "no cache location: give --cache FILE");
    if (!src && !path) path = def;
    spex_query_store qs;
    if (!src) src = spex_store_open(ctx, path, NULL, &store);
    if (!src) src = spex_store_bind(store, t.fingerprint, t.label ? t.label : "?", t.n, &qs);
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = eo.batch_size > 0 ? eo.batch_size : qo.batch_size;
    qo.store = &qs;
    qo.store_policy = cache_stop ? SPEX_STORE_STOP : SPEX_STORE_CONTINUE;
    if (!src) src = spex_query_new(ctx, &t.vf, &qo, &q);
    int64_t cnt = mine ? spex_masks_count(mine) : 0;
    if (!src) vals = malloc((size_t)(cnt ? cnt : 1) * sizeof *vals);
    if (!src && !vals) src = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    if (!src) src = spex_query_eval(q, mine, vals);
    cli_progress_end(&prog);
    if (q)
        fprintf(stderr,
                "spex work: shard %lld/%lld: %lld of the plan's %lld masks; %lld from the cache, "
                "%lld new%s\n",
                (long long)I, (long long)N, (long long)cnt, (long long)total,
                (long long)spex_query_n_cached(q),
                (long long)(spex_query_n_asked(q) - spex_query_n_cached(q)),
                src ? " (answers received were saved; re-run to go on)" : "");
    if (src) {
        fprintf(stderr, "spex work: %s\n", spex_errmsg(ctx));
        rc = cli_exit_code(src);
    }
done:
    free(vals);
    spex_query_free(q);
    spex_store_close(store);
    spex_masks_free(mine);
    spex_masks_free(m);
    cli_target_close(&t); /* (stops the MPI workers) */
    spex_mpi_close(mp);
    spex_ctx_free(ctx);
    free(o);
    return rc;
}
