/* Option parsing, exit codes and the progress display shared by every
 * subcommand, and the text helpers the targets of `spex explain` share
 * (formatted strings, cache fingerprints, text files, the interactions in
 * words). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_exit_code(int rc) {
    switch (rc) {
    case SPEX_OK:
        return CLI_OK;
    case SPEX_E_VALUE:
    case SPEX_E_TIMEOUT:
    case SPEX_E_CHILD:
        return CLI_VALUE;
    case SPEX_E_INVAL:
    case SPEX_E_BUDGET:
        return CLI_USAGE;
    default:
        return CLI_INPUT;
    }
}

static cli_opt *find_opt(cli_opt *opts, const char *name, size_t len) {
    for (cli_opt *o = opts; o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, name, len)) return o;
    return NULL;
}

int cli_parse(const char *cmd, cli_opt *opts, int argc, char **argv, int first) {
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2]) {
            fprintf(stderr, "spex %s: unexpected argument '%s' (see 'spex %s --help')\n", cmd, a,
                    cmd);
            return CLI_USAGE;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        cli_opt *o = find_opt(opts, name, len);
        if (!o) {
            fprintf(stderr, "spex %s: unknown option '--%.*s' (see 'spex %s --help')\n", cmd,
                    (int)len, name, cmd);
            return CLI_USAGE;
        }
        if (!o->arg) {
            if (eq) {
                fprintf(stderr, "spex %s: option '--%s' takes no value\n", cmd, o->name);
                return CLI_USAGE;
            }
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "spex %s: option '--%s' needs a value (%s)\n", cmd, o->name, o->arg);
            return CLI_USAGE;
        }
    }
    return CLI_OK;
}

void cli_help_lines(FILE *f, const cli_opt *opts) {
    for (const cli_opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        fprintf(f, "  %-24s ", left);
        /* indent continuation lines of the help text */
        for (const char *p = o->help; *p; p++) {
            fputc(*p, f);
            if (*p == '\n') fprintf(f, "  %-24s ", "");
        }
        fputc('\n', f);
    }
}

void cli_help(FILE *f, const char *usage, const char *about, const cli_opt *opts) {
    fprintf(f, "usage: %s\n\n%s\n\noptions:\n", usage, about);
    cli_help_lines(f, opts);
}

void cli_help_group(FILE *f, const char *title, const cli_opt *opts) {
    fprintf(f, "\n%s:\n", title);
    cli_help_lines(f, opts);
}

const char *cli_get(const cli_opt *opts, const char *name) {
    for (const cli_opt *o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o->value;
    return NULL;
}

int cli_int(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        fprintf(stderr, "spex: --%s expects an integer, got '%s'\n", opt, s);
        return CLI_USAGE;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "spex: --%s must be in %lld..%lld, got %lld\n", opt, (long long)lo,
                (long long)hi, v);
        return CLI_USAGE;
    }
    *out = v;
    return CLI_OK;
}

int cli_double(const char *opt, const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        fprintf(stderr, "spex: --%s expects a number, got '%s'\n", opt, s);
        return CLI_USAGE;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "spex: --%s must be in [%g, %g], got %g\n", opt, lo, hi, v);
        return CLI_USAGE;
    }
    *out = v;
    return CLI_OK;
}

void cli_progress_init(cli_progress *p, int quiet) {
    memset(p, 0, sizeof *p);
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t_start = p->t_last = spex_now();
}

void cli_notice_cb(void *user, const char *msg) {
    cli_progress *p = user;
    if (p && p->drawn) {
        fputc('\n', stderr);
        p->drawn = 0;
    }
    fprintf(stderr, "spex: %s\n", msg);
}

void cli_progress_cb(void *user, int64_t done, int64_t total) {
    cli_progress *p = user;
    if (p->quiet || total <= 0) return;
    double now = spex_now();
    if (total != p->last_total || done == 0) {
        p->last_total = total;
        p->t_start = now - 1e-9;
    }
    int final = done >= total;
    double gap = p->tty ? 0.1 : 5.0;
    if (!final && now - p->t_last < gap) return;
    if (final && !p->tty && now - p->t_start < gap) return; /* short runs: stay quiet */
    p->t_last = now;
    double rate = (double)done / (now - p->t_start);
    double eta = rate > 0 ? (double)(total - done) / rate : 0;
    int pct = (int)(100.0 * (double)done / (double)total);
    if (p->tty) {
        char bar[31];
        int fill = pct * 30 / 100;
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %3d%% %lld/%lld queries  %.0f/s  ETA %.0f s\033[K", bar, pct,
                (long long)done, (long long)total, rate, eta);
        p->drawn = 1;
        if (final) {
            fputc('\n', stderr);
            p->drawn = 0;
        }
    } else {
        fprintf(stderr, "spex: %lld/%lld queries (%d%%), %.0f/s, ETA %.0f s\n", (long long)done,
                (long long)total, pct, rate, eta);
    }
    fflush(stderr);
}

void cli_progress_end(cli_progress *p) {
    if (p->drawn) fputc('\n', stderr);
    p->drawn = 0;
}

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

char *cli_fp_add(char *fp, const char *key, const char *text) {
    if (!fp) return NULL;
    char *d =
        text ? cli_strf("%s %s=%zu:%s", fp, key, strlen(text), text) : cli_strf("%s %s=-", fp, key);
    free(fp);
    return d;
}

#define TEXT_FILE_MAX ((long)1 << 20)

int cli_read_text_file(const char *what, const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spex explain: cannot open the %s '%s'\n", what, path);
        return CLI_INPUT;
    }
    char *buf = malloc((size_t)TEXT_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, (size_t)TEXT_FILE_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || len > (size_t)TEXT_FILE_MAX) {
        fprintf(stderr, "spex explain: cannot read the %s '%s'%s\n", what, path,
                buf && !err ? " (larger than 1 MiB)" : "");
        free(buf);
        return CLI_INPUT;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        fprintf(stderr, "spex explain: the %s '%s' holds a NUL byte at offset %zu\n", what, path,
                strlen(buf));
        free(buf);
        return CLI_INPUT;
    }
    *out = buf;
    return CLI_OK;
}

void cli_put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\n')
            fputs("\\n", f);
        else if (*s == '\t')
            fputs("\\t", f);
        else if ((unsigned char)*s < 0x20)
            fprintf(f, "\\x%02x", (unsigned char)*s);
        else
            fputc(*s, f);
    }
}

void cli_print_top_interactions(FILE *f, const spex_result *res) {
    fprintf(f, "\ntop interactions (%s):\n", spex_index_name(res->index));
    int shown = 0;
    for (int64_t i = 0; i < spex_coefs_count(res->interactions) && shown < 5; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, i, &idx, &len, &v);
        if (len < 2) continue;
        fputs("  ", f);
        for (int j = 0; j < len; j++) {
            if (j) fputs(" × ", f);
            cli_put_escaped(f, idx[j] < res->n ? res->features[idx[j]] : "?");
        }
        fprintf(f, ": %+.3f\n", v);
        shown++;
    }
    if (!shown) fprintf(f, "  (none of order 2 or more; try --max-order 2)\n");
}
