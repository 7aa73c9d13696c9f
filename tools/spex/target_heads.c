/* The --llm --heads target of `spex explain`, the mechanistic lens: the
 * features are a GGUF model's attention heads and MLP blocks (--heads [--mlp]
 * [--layers A-B] [--ablate zero|mean], spex/heads.h), ablated while the model
 * scores the whole prompt and target. Its report: a layer × head grid of
 * first-order values, then the top interactions by component name. The model
 * and prompt options it shares with target_llm.c are in cli_llm.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_llm.h"
#include "target.h"
#include "spex/heads.h"
#include "spex/store.h"

static const cli_opt heads_opts[] = {
    {"heads", NULL,
     "--llm: the features are the model's attention heads, L<layer>.H<head>\n"
     "(the mechanistic lens, spex/heads.h): a mask ablates heads while the\n"
     "model scores the whole prompt (prefix, prompt, suffix) and target",
     NULL},
    {"mlp", NULL, "--llm: the MLP blocks are features too, L<layer>.MLP (alone: only them)", NULL},
    {"layers", "A-B", "--heads/--mlp: only layers A to B (0-based, inclusive; or one layer A)",
     NULL},
    {"ablate", "HOW",
     "--heads/--mlp: zero (default: an ablated component outputs zero) |\n"
     "mean (its mean output over --reference-prompts, or over the\n"
     "prompt's own positions without them)",
     NULL},
    {"reference-prompts", "FILE", "--ablate mean: reference prompts, one per line", NULL},
    {"prompts", "FILE",
     "--heads/--mlp, instead of --prompt: a task, one prompt per line as\n"
     "PROMPT<TAB>TARGET[<TAB>CONTRAST] (--prefix/--suffix added to each;\n"
     "empty lines and lines starting with # skipped); the value of a mask\n"
     "is the mean over the prompts of each one's value",
     NULL},
    {NULL, NULL, NULL, NULL},
};

typedef struct heads_state {
    cli_llm l;
    spex_heads_scorer sc; /* --server: spex serve's components */
    spex_heads *h;
    char *task;            /* --prompts file contents (lines split in place) */
    spex_prompt **prompts; /* the task's prompts; prompts[0] is l.p (owned by l) */
    int64_t n_prompts;
    char *refs; /* reference prompts file contents (lines NUL-split) */
    const char **ref_lines;
    char *value_note;
} heads_state;

static void free_heads_state(void *s) {
    heads_state *st = s;
    if (!st) return;
    spex_heads_free(st->h);
    for (int64_t i = 1; i < st->n_prompts; i++)
        spex_prompt_free(st->prompts[i]);
    free(st->prompts);
    free(st->task);
    free(st->refs);
    free(st->ref_lines);
    free(st->value_note);
    cli_llm_close(&st->l);
    free(st);
}

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
static int split_refs(heads_state *c, int64_t *n) {
    size_t cap = 1;
    for (const char *p = c->refs; *p; p++)
        cap += *p == '\n';
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

/* Reads the --prompts file into the task's prompts (built with the model
 * already loaded in st->l; prefix and suffix from po): st->prompts[0] becomes
 * st->l.p and the file's text st->l.prompt (fingerprint and label). */
static int read_task(spex_ctx *ctx, const char *path, spex_prompt_opts *po, heads_state *st) {
    int rc = cli_read_text_file("prompts file", path, &st->task);
    if (rc) return rc;
    size_t cap = 1;
    for (const char *p = st->task; *p; p++)
        cap += *p == '\n';
    char *text = strdup(st->task);
    st->prompts = calloc(cap, sizeof *st->prompts);
    if (!text || !st->prompts) {
        free(text);
        fprintf(stderr, "spex explain: out of memory\n");
        return CLI_INPUT;
    }
    st->l.text = text; /* freed by cli_llm_close */
    st->l.prompt = text;
    int lineno = 0;
    for (char *line = st->task; line && !rc;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = 0;
        char *next = nl ? nl + 1 : NULL;
        if (!len || line[0] == '#') {
            line = next;
            continue;
        }
        char *tab = strchr(line, '\t'), *tab2 = tab ? strchr(tab + 1, '\t') : NULL;
        if (!tab || !tab[1] || tab == line || (tab2 && (!tab2[1] || tab2 == tab + 1)) ||
            (tab2 && strchr(tab2 + 1, '\t'))) {
            fprintf(stderr,
                    "spex explain: %s, line %d: expected PROMPT<TAB>TARGET[<TAB>CONTRAST] "
                    "(non-empty fields)\n",
                    path, lineno);
            return CLI_INPUT;
        }
        *tab = 0;
        if (tab2) *tab2 = 0;
        po->target = tab + 1;
        po->contrast = tab2 ? tab2 + 1 : NULL;
        spex_prompt **dst = st->n_prompts ? &st->prompts[st->n_prompts] : &st->l.p;
        int src = spex_prompt_new(ctx, st->l.m, line, po, dst);
        if (src) {
            fprintf(stderr, "spex explain: %s, line %d: %s\n", path, lineno, spex_errmsg(ctx));
            return cli_exit_code(src);
        }
        st->prompts[st->n_prompts++] = *dst;
        line = next;
    }
    if (st->n_prompts == 0) {
        fprintf(stderr, "spex explain: the prompts file '%s' has no prompt\n", path);
        return CLI_INPUT;
    }
    return CLI_OK;
}

/* The report hook (target.h): what was scored, a layer × head grid of
 * first-order values, then the top interactions by component name. */
static int heads_report(void *state, spex_ctx *ctx, const spex_result *res, FILE *f) {
    heads_state *st = state;
    if (st->n_prompts > 1) {
        fprintf(f,
                "\nvalue: the mean over %lld prompts of log p(target) [- log p(contrast)], "
                "each line's own; the first:",
                (long long)st->n_prompts);
    }
    cli_llm_put_value(f, st->l.p);
    fprintf(f, " after \"");
    char *text = NULL;
    if (spex_prompt_text(st->l.p, NULL, &text)) return SPEX_E_NOMEM;
    cli_put_escaped(f, text);
    spex_free(ctx, text);
    fprintf(f, "\"\n");
    spex_heads *h = st->h;
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
    fprintf(f,
            "\neach component's %s value (order 1; its effect when kept rather than "
            "ablated):\n\n      ",
            spex_index_name(res->index));
    for (int64_t j = 0; j < cols; j++) {
        int used = 0;
        for (int64_t r = 0; r < rows; r++)
            used |= set[r * cols + j];
        if (!used) continue;
        if (j < cols - 1)
            fprintf(f, "%9s%lld", "H", (long long)j);
        else
            fprintf(f, "%10s", "MLP");
    }
    fputc('\n', f);
    for (int64_t r = 0; r < rows; r++) {
        fprintf(f, "  L%-3lld", (long long)(r + lmin));
        for (int64_t j = 0; j < cols; j++) {
            int used = 0;
            for (int64_t k = 0; k < rows; k++)
                used |= set[k * cols + j];
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
    cli_print_top_interactions(f, res);
    spex_free(ctx, cell);
    spex_free(ctx, set);
    return SPEX_OK;
}

/* The HTML hook (target.h): components are chips; the note says what was
 * scored. */
static int heads_html(void *state, spex_html_opts *ho) {
    heads_state *st = state;
    free(st->value_note);
    if (!(st->value_note = cli_llm_value_note(st->l.p))) return SPEX_E_NOMEM;
    ho->notes = (const char *const *)&st->value_note;
    ho->n_notes = 1;
    return SPEX_OK;
}

/* the prompt lens's own options, refused here */
static const char *const units_only[] = {"unit", "segments-sep", "mask", NULL};

static int claims_heads(const cli_opt *o) {
    return cli_get(o, "heads") || cli_get(o, "mlp");
}

static int open_heads(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    (void)eo;
    int rc = cli_llm_check(o, units_only,
                           " is for prompt units; with --heads/--mlp the whole prompt is kept "
                           "and components are ablated",
                           "prompts");
    if (rc) return rc;
    const char *task = cli_get(o, "prompts");
    if (task && (cli_get(o, "target") || cli_get(o, "contrast"))) {
        fprintf(stderr, "spex explain: with --prompts each line gives its own target and "
                        "contrast (PROMPT<TAB>TARGET[<TAB>CONTRAST]); drop --target/--contrast\n");
        return CLI_USAGE;
    }
    spex_prompt_opts po = spex_prompt_opts_default();
    heads_state *st = calloc(1, sizeof *st);
    if (!st) return CLI_INPUT;
    t->state = st;
    t->free_state = free_heads_state;
    if (task && cli_get(o, "server")) {
        fprintf(stderr, "spex explain: --prompts (a task) is not available with --server yet; "
                        "give one --prompt\n");
        return CLI_USAGE;
    }
    if (task) {
        po.prefix = cli_get(o, "prefix");
        po.suffix = cli_get(o, "suffix");
        if ((rc = cli_llm_load(ctx, o, &st->l)) || (rc = read_task(ctx, task, &po, st))) return rc;
    } else {
        if ((rc = cli_llm_open(ctx, o, &po, &st->l))) return rc;
        st->prompts = malloc(sizeof *st->prompts);
        if (!st->prompts) return CLI_INPUT;
        st->prompts[0] = st->l.p;
        st->n_prompts = 1;
    }

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
    char hex[65] = "-";
    if (rfile) {
        rc = cli_read_text_file("reference prompts file", rfile, &st->refs);
        if (!rc) rc = split_refs(st, &ho.n_ref);
        if (!rc && ho.n_ref == 0) {
            fprintf(stderr, "spex explain: the reference prompts file '%s' has no prompt\n", rfile);
            rc = CLI_INPUT;
        }
        if (rc) return rc;
        spex_sha256_hex(st->refs, strlen(st->refs), hex);
        ho.ref_prompts = st->ref_lines;
    }
    int src = st->l.r ? spex_remote_heads_scorer(st->l.r, &st->sc) : SPEX_OK;
    if (!src && st->l.r)
        src = spex_heads_new_scored(ctx, &st->sc, st->prompts, st->n_prompts, &ho, &st->h);
    else if (!src)
        src = spex_heads_new_task(ctx, st->l.m, st->prompts, st->n_prompts, &ho, &st->h);
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    if (spex_heads_valuefn(st->h, &t->vf)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return CLI_INPUT;
    }
    t->n = spex_heads_n_features(st->h);
    t->names = calloc((size_t)t->n, sizeof *t->names);
    for (int64_t j = 0; t->names && j < t->n; j++)
        t->names[j] = strdup(spex_heads_feature_name(st->h, j));
    /* a task's file text stands for the prompt (every line's target and
     * contrast in it); a single prompt keeps the fingerprint it always had */
    char *key = cli_llm_model_key(&st->l);
    char *fp = cli_strf("llm-heads/1 %s layers=%lld-%lld heads=%d mlps=%d ablate=%s "
                        "refs=%s%s",
                        key ? key : "", (long long)ho.layer_from, (long long)ho.layer_to, ho.heads,
                        ho.mlps, ablate, hex, task ? " task=1" : "");
    free(key);
    t->fingerprint = cli_llm_fp_prompt(fp, &st->l, spex_prompt_contrast(st->l.p));
    t->label = cli_llm_label(&st->l, "llm heads");
    t->report = heads_report;
    t->html = heads_html;
    return CLI_OK;
}

const cli_target_kind cli_target_heads = {
    .name = "heads",
    .main = "llm",
    .usage = "--llm M.gguf --prompt TEXT --heads",
    .about = "an LLM's answer by heads and MLPs",
    .opts = heads_opts,
    .shared = cli_llm_opts,
    .claims = claims_heads,
    .open = open_heads,
};

/* The same lens over spex serve (--server URL --heads): the ablations go
 * to the server in its "spex_ablate" extension (spex_remote_heads_scorer). */
static const cli_opt no_opts[] = {{NULL, NULL, NULL, NULL}};

const cli_target_kind cli_target_heads_server = {
    .name = "heads over spex serve",
    .main = "server",
    .usage = "--server URL --prompt TEXT --heads",
    .about = "a model behind spex serve, by heads and MLPs",
    .opts = no_opts,
    .shared = cli_llm_opts,
    .claims = claims_heads,
    .open = open_heads,
};
