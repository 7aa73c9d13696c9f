/* The mechanistic lens of `spex explain`: --llm M.gguf --heads [--mlp]
 * [--layers A-B] [--ablate zero|mean] (spex/heads.h). target_llm.c reads the
 * prompt and target and hands over here when --heads or --mlp is given; this
 * file parses the lens's options and prints its report: a layer × head grid
 * of first-order values, then the top interactions by component name. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "spex/heads.h"
#include "spex/store.h"

struct cli_heads {
    spex_heads *h;
    char *settings; /* the settings that change a value, for the fingerprint */
    char *refs;     /* reference prompts file contents (lines NUL-split) */
    const char **ref_lines;
};

int cli_heads_requested(const cli_opt *o) {
    return cli_get(o, "heads") || cli_get(o, "mlp");
}

void cli_heads_free(cli_heads *c) {
    if (!c) return;
    spex_heads_free(c->h);
    free(c->settings);
    free(c->refs);
    free(c->ref_lines);
    free(c);
}

spex_heads *cli_heads_lens(cli_heads *c) { return c->h; }
const char *cli_heads_settings(const cli_heads *c) { return c->settings; }

/* "A-B" or "A" into [*lo, *hi]. */
static int parse_layers(const char *s, int64_t *lo, int64_t *hi) {
    const char *dash = strchr(s, '-');
    if (!dash) {
        if (cli_int("--layers", s, 0, 1 << 20, lo)) return CLI_USAGE;
        *hi = *lo;
        return CLI_OK;
    }
    char a[32];
    size_t n = (size_t)(dash - s);
    if (n == 0 || n >= sizeof a) {
        fprintf(stderr, "spex explain: --layers '%s': expected A-B or A (0-based layers)\n", s);
        return CLI_USAGE;
    }
    memcpy(a, s, n);
    a[n] = 0;
    if (cli_int("--layers", a, 0, 1 << 20, lo) || cli_int("--layers", dash + 1, 0, 1 << 20, hi))
        return CLI_USAGE;
    if (*hi < *lo) {
        fprintf(stderr, "spex explain: --layers %s: the last layer is before the first\n", s);
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Splits the reference file into its non-empty lines. */
static int split_refs(cli_heads *c, int64_t *n) {
    size_t cap = 1;
    for (const char *p = c->refs; *p; p++) cap += *p == '\n';
    c->ref_lines = calloc(cap, sizeof *c->ref_lines);
    if (!c->ref_lines) return CLI_INPUT;
    *n = 0;
    for (char *line = c->refs; line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = 0;
        if (len) c->ref_lines[(*n)++] = line;
        line = nl ? nl + 1 : NULL;
    }
    return CLI_OK;
}

int cli_heads_open(spex_ctx *ctx, const cli_opt *o, spex_llm *m, spex_prompt *p,
                   cli_heads **out) {
    *out = NULL;
    spex_heads_opts ho = spex_heads_opts_default();
    const char *s, *rfile = cli_get(o, "reference-prompts");
    ho.heads = cli_get(o, "heads") != NULL;
    ho.mlps = cli_get(o, "mlp") != NULL;
    if ((s = cli_get(o, "layers")) && parse_layers(s, &ho.layer_from, &ho.layer_to))
        return CLI_USAGE;
    const char *ablate = cli_get(o, "ablate") ? cli_get(o, "ablate") : "zero";
    if (strcmp(ablate, "zero") && strcmp(ablate, "mean")) {
        fprintf(stderr, "spex explain: unknown --ablate '%s' (expected zero or mean)\n", ablate);
        return CLI_USAGE;
    }
    ho.mean = !strcmp(ablate, "mean");
    if (rfile && !ho.mean) {
        fprintf(stderr, "spex explain: --reference-prompts goes with --ablate mean\n");
        return CLI_USAGE;
    }
    cli_heads *c = calloc(1, sizeof *c);
    if (!c) return CLI_INPUT;
    char hex[65] = "-";
    int rc = CLI_OK;
    if (rfile) {
        rc = cli_read_text_file("reference prompts file", rfile, &c->refs);
        if (!rc) rc = split_refs(c, &ho.n_ref);
        if (!rc && ho.n_ref == 0) {
            fprintf(stderr, "spex explain: the reference prompts file '%s' has no prompt\n",
                    rfile);
            rc = CLI_INPUT;
        }
        if (!rc) spex_sha256_hex(c->refs, strlen(c->refs), hex);
        ho.ref_prompts = c->ref_lines;
    }
    int src = rc ? SPEX_OK : spex_heads_new(ctx, m, p, &ho, &c->h);
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        rc = cli_exit_code(src);
    }
    if (!rc) {
        c->settings = cli_strf("layers=%lld-%lld heads=%d mlps=%d ablate=%s refs=%s",
                               (long long)ho.layer_from, (long long)ho.layer_to, ho.heads,
                               ho.mlps, ablate, hex);
        if (!c->settings) rc = CLI_INPUT;
    }
    if (rc) {
        cli_heads_free(c);
        return rc;
    }
    *out = c;
    return CLI_OK;
}

static const char *component_name(const void *h, int64_t i) {
    return spex_heads_feature_name(h, i);
}

int cli_heads_report(cli_heads *c, spex_ctx *ctx, const spex_result *res, FILE *f) {
    spex_heads *h = c->h;
    int64_t n = spex_heads_n_features(h), lmin = INT64_MAX, lmax = -1, hmax = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t l, hd;
        spex_heads_feature(h, i, &l, &hd);
        if (l < lmin) lmin = l;
        if (l > lmax) lmax = l;
        if (hd > hmax) hmax = hd;
    }
    /* grid cell of (layer, head); column hmax + 1 is the MLP block */
    int64_t cols = hmax + 2, rows = lmax - lmin + 1;
    double *cell = spex_calloc(ctx, (size_t)(rows * cols), sizeof *cell);
    char *set = spex_calloc(ctx, (size_t)(rows * cols), 1);
    if (!cell || !set) {
        spex_free(ctx, cell);
        spex_free(ctx, set);
        return SPEX_E_NOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t l, hd;
        spex_heads_feature(h, i, &l, &hd);
        set[(l - lmin) * cols + (hd < 0 ? cols - 1 : hd)] = 1;
    }
    for (int64_t i = 0; i < spex_coefs_count(res->interactions); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, i, &idx, &len, &v);
        if (len != 1 || idx[0] >= n) continue;
        int64_t l, hd;
        spex_heads_feature(h, idx[0], &l, &hd);
        cell[(l - lmin) * cols + (hd < 0 ? cols - 1 : hd)] = v;
    }
    int tty = isatty(fileno(f));
    fprintf(f, "\neach component's %s value (order 1; its effect when kept rather than "
               "ablated):\n\n      ", spex_index_name(res->index));
    for (int64_t j = 0; j < cols; j++) {
        int used = 0;
        for (int64_t r = 0; r < rows; r++) used |= set[r * cols + j];
        if (!used) continue;
        if (j < cols - 1) fprintf(f, "%9s%lld", "H", (long long)j);
        else fprintf(f, "%10s", "MLP");
    }
    fputc('\n', f);
    for (int64_t r = 0; r < rows; r++) {
        fprintf(f, "  L%-3lld", (long long)(r + lmin));
        for (int64_t j = 0; j < cols; j++) {
            int used = 0;
            for (int64_t k = 0; k < rows; k++) used |= set[k * cols + j];
            if (!used) continue;
            if (!set[r * cols + j]) {
                fprintf(f, "%10s", "");
                continue;
            }
            double v = cell[r * cols + j];
            if (tty && fabs(v) >= 0.05)
                fprintf(f, "\033[%dm%+10.3f\033[0m", v > 0 ? 32 : 31, v);
            else
                fprintf(f, "%+10.3f", v);
        }
        fputc('\n', f);
    }
    cli_print_top_interactions(f, res, n, component_name, h);
    spex_free(ctx, cell);
    spex_free(ctx, set);
    return SPEX_OK;
}
