/* spex cache: inspect, prune and merge the persistent query cache (spex/store.h),
 * and the default cache location shared with 'spex explain'. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "spex/store.h"

static cli_opt cache_opts[] = {
    {"cache", "FILE",
     "the cache file (default $XDG_CACHE_HOME/spex/cache.sqlite, else\n"
     "~/.cache/spex/cache.sqlite)",
     NULL},
    {"older-than", "AGE",
     "clear: only answers older than AGE: a number with s, m, h, d or w\n"
     "(seconds when bare), e.g. 30d",
     NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

int cli_default_cache_path(char *buf, size_t cap) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int w;
    if (xdg && xdg[0] == '/')
        w = snprintf(buf, cap, "%s/spex/cache.sqlite", xdg);
    else if (home && *home)
        w = snprintf(buf, cap, "%s/.cache/spex/cache.sqlite", home);
    else
        return -1;
    return w > 0 && (size_t)w < cap ? 0 : -1;
}

/* "30d" -> seconds; -1 on junk. */
static int64_t parse_age(const char *s) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0) return -1;
    int64_t unit = 1;
    if (*end) {
        switch (*end) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        case 'w':
            unit = 7 * 86400;
            break;
        default:
            return -1;
        }
        if (end[1]) return -1;
    }
    if (v > INT64_MAX / unit) return -1;
    return (int64_t)v * unit;
}

static void fmt_time(int64_t t, char *buf, size_t cap) {
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, cap, "-");
}

static int print_entry(void *user, const spex_store_entry *e) {
    (void)user;
    char used[40];
    fmt_time(e->used, used, sizeof used);
    printf("%9lld  %7lld  %-23s  %s\n    %s\n", (long long)e->n_answers, (long long)e->n, used,
           e->label[0] ? e->label : "-", e->fingerprint);
    return 0;
}

/* spex cache merge OUT IN...: every answer of the IN files into OUT. */
static int cache_merge(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "spex cache merge: expected OUT IN... (at least one input; see "
                        "'spex cache --help')\n");
        return CLI_USAGE;
    }
    for (int i = 3; i < argc; i++)
        if (argv[i][0] == '-') {
            fprintf(stderr, "spex cache merge: unknown option '%s' (merge takes file names only)\n",
                    argv[i]);
            return CLI_USAGE;
        }
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return CLI_INPUT;
    spex_store *st = NULL;
    spex_store_opts so = spex_store_opts_default();
    int rc = spex_store_open(ctx, argv[3], &so, &st);
    int64_t total_new = 0;
    for (int i = 4; !rc && i < argc; i++) {
        spex_store_merge_stats ms;
        rc = spex_store_merge(st, argv[i], &ms);
        if (rc) break;
        total_new += ms.answers_new;
        printf("%s: %lld new answers, %lld already in %s%s%lld%s, %lld new value functions\n",
               argv[i], (long long)ms.answers_new, (long long)ms.answers_known, argv[3],
               ms.answers_skipped ? ", " : "", (long long)ms.answers_skipped,
               ms.answers_skipped ? " malformed rows skipped" : "", (long long)ms.fingerprints_new);
    }
    int ret = CLI_OK;
    if (rc) {
        fprintf(stderr, "spex cache merge: %s\n", spex_errmsg(ctx));
        ret = cli_exit_code(rc);
    } else {
        printf("merged %d file(s) into %s: %lld new answers\n", argc - 4, argv[3],
               (long long)total_new);
    }
    spex_store_close(st);
    spex_ctx_free(ctx);
    return ret;
}

int cmd_cache(int argc, char **argv) {
    cli_opt *o = cache_opts;
    for (cli_opt *p = o; p->name; p++)
        p->value = NULL;
    const char *sub = argc > 2 ? argv[2] : NULL;
    if (sub && (!strcmp(sub, "--help") || !strcmp(sub, "-h"))) sub = "help";
    if (sub && !strcmp(sub, "merge")) return cache_merge(argc, argv);
    if (!sub || (strcmp(sub, "stats") && strcmp(sub, "list") && strcmp(sub, "clear") &&
                 strcmp(sub, "help"))) {
        fprintf(
            stderr,
            "spex cache: expected stats, list, clear or merge%s%s%s (see 'spex cache --help')\n",
            sub ? ", got '" : "", sub ? sub : "", sub ? "'" : "");
        return CLI_USAGE;
    }
    if (cli_parse("cache", o, argc, argv, 3)) return CLI_USAGE;
    if (!strcmp(sub, "help") || cli_get(o, "help")) {
        cli_help(stdout,
                 "spex cache stats|list|clear [--older-than AGE] [--cache FILE]\n"
                 "       spex cache merge OUT IN...",
                 "Inspects or prunes the query cache: every answer of a value function is\n"
                 "kept there, so re-runs, resumed runs and other methods on the same target\n"
                 "do not pay for it again. stats: size and counts; list: one entry per value\n"
                 "function (fingerprint); clear: delete answers (all, or those older than AGE);\n"
                 "merge: copy every answer of the cache files IN... into OUT (created when\n"
                 "missing; an answer OUT already has is kept), e.g. the shard caches of jobs\n"
                 "on many machines. Inputs of another program, corrupt ones and ones written\n"
                 "by a newer spex are refused. Keep caches on local disks while runs write\n"
                 "them: SQLite's write-ahead log must not live on a network file system.",
                 o);
        return CLI_OK;
    }
    int64_t age = -1;
    const char *s = cli_get(o, "older-than");
    if (s && (strcmp(sub, "clear") || (age = parse_age(s)) < 0)) {
        fprintf(stderr, "spex cache: %s\n",
                strcmp(sub, "clear") ? "--older-than is for 'clear'"
                                     : "--older-than expects AGE like 90, 45m, 12h, 30d or 2w");
        return CLI_USAGE;
    }
    char def[4096];
    const char *path = cli_get(o, "cache");
    if (!path) {
        if (cli_default_cache_path(def, sizeof def)) {
            fprintf(stderr,
                    "spex cache: neither XDG_CACHE_HOME nor HOME is set: give --cache FILE\n");
            return CLI_USAGE;
        }
        path = def;
    }
    struct stat sb;
    if (stat(path, &sb)) {
        printf("no cache at %s (nothing cached yet)\n", path);
        return CLI_OK;
    }
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return CLI_INPUT;
    spex_store *st = NULL;
    spex_store_opts so = spex_store_opts_default();
    int rc = spex_store_open(ctx, path, &so, &st);
    if (!rc && !strcmp(sub, "stats")) {
        spex_store_stats ss;
        rc = spex_store_stats_get(st, &ss);
        if (!rc) {
            char t0[40], t1[40];
            fmt_time(ss.oldest, t0, sizeof t0);
            fmt_time(ss.newest, t1, sizeof t1);
            printf("cache %s\n  schema version %d, %.2f MiB\n  %lld value functions, %lld "
                   "answers\n  oldest answer %s, newest %s\n",
                   path, ss.schema, (double)ss.size / 1048576.0, (long long)ss.n_fingerprints,
                   (long long)ss.n_answers, t0, t1);
        }
    } else if (!rc && !strcmp(sub, "list")) {
        printf("%9s  %7s  %-23s  %s\n", "answers", "n", "last used", "target / fingerprint");
        rc = spex_store_list(st, print_entry, NULL);
    } else if (!rc) {
        int64_t deleted = 0;
        int64_t before = age < 0 ? INT64_MAX : (int64_t)time(NULL) - age;
        rc = spex_store_clear(st, before, &deleted);
        if (!rc) printf("deleted %lld answers from %s\n", (long long)deleted, path);
    }
    int ret = CLI_OK;
    if (rc) {
        fprintf(stderr, "spex cache: %s\n", spex_errmsg(ctx));
        ret = cli_exit_code(rc);
    }
    spex_store_close(st);
    spex_ctx_free(ctx);
    return ret;
}
