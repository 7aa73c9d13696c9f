/* The feature-attribution lens of `spex explain`: --llm M.gguf with a prompt
 * whose words, sentences, tokens or given segments are the features
 * (spex/prompt.h), and its terminal report: the prompt with each unit marked
 * by its first-order value, then the top interactions in words. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "target.h"
#include "spex/prompt.h"
#include "spex/store.h"

typedef struct llm_state {
    spex_llm *m;
    spex_prompt *p;
    cli_heads *heads; /* the mechanistic lens (--heads/--mlp), else NULL */
    const char **leads; /* for the HTML report, built on demand */
    char *value_note;
} llm_state;

static void free_llm_state(void *s) {
    llm_state *st = s;
    if (!st) return;
    free(st->leads);
    free(st->value_note);
    cli_heads_free(st->heads);
    spex_prompt_free(st->p);
    spex_llm_free(st->m);
    free(st);
}

#define PROMPT_FILE_MAX ((long)1 << 20)

int cli_read_text_file(const char *what, const char *path, char **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "spex explain: cannot open the %s '%s'\n", what, path);
        return CLI_INPUT;
    }
    char *buf = malloc((size_t)PROMPT_FILE_MAX + 1);
    size_t len = buf ? fread(buf, 1, (size_t)PROMPT_FILE_MAX + 1, f) : 0;
    int err = ferror(f);
    fclose(f);
    if (!buf || err || len > (size_t)PROMPT_FILE_MAX) {
        fprintf(stderr, "spex explain: cannot read the %s '%s'%s\n", what, path,
                buf && !err ? " (larger than 1 MiB)" : "");
        free(buf);
        return CLI_INPUT;
    }
    buf[len] = 0;
    if (strlen(buf) != len) {
        fprintf(stderr, "spex explain: the %s '%s' holds a NUL byte at offset %zu\n", what,
                path, strlen(buf));
        free(buf);
        return CLI_INPUT;
    }
    *out = buf;
    return CLI_OK;
}

/* Appends " key=<len>:<text>" (length-prefixed: any text is unambiguous). */
static char *fp_add(char *fp, const char *key, const char *text) {
    if (!fp) return NULL;
    char *d = text ? cli_strf("%s %s=%zu:%s", fp, key, strlen(text), text)
                   : cli_strf("%s %s=-", fp, key);
    free(fp);
    return d;
}

/* Prints one line of text with control characters shown as \n, \t. */
static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '\n') fputs("\\n", f);
        else if (*s == '\t') fputs("\\t", f);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\x%02x", (unsigned char)*s);
        else fputc(*s, f);
    }
}

void cli_print_top_interactions(FILE *f, const spex_result *res, int64_t n,
                                const char *(*name)(const void *obj, int64_t i),
                                const void *obj) {
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
            put_escaped(f, idx[j] < n ? name(obj, idx[j]) : "?");
        }
        fprintf(f, ": %+.3f\n", v);
        shown++;
    }
    if (!shown) fprintf(f, "  (none of order 2 or more; try --max-order 2)\n");
}

static const char *unit_name(const void *p, int64_t i) { return spex_prompt_unit_text(p, i); }

/* The report hook (target.h): the prompt with each unit marked by its
 * first-order value of the result's index, then the top interactions. */
static int llm_report(void *state, spex_ctx *ctx, const spex_result *res, FILE *f) {
    llm_state *st = state;
    spex_prompt *p = st->p;
    const char *contrast = spex_prompt_contrast(p);
    fprintf(f, "\nvalue: log p(\"");
    put_escaped(f, spex_prompt_target(p));
    if (contrast) {
        fprintf(f, "\") - log p(\"");
        put_escaped(f, contrast);
    }
    fprintf(f, "\")");
    if (st->heads) {
        fprintf(f, " after \"");
        char *text = NULL;
        if (spex_prompt_text(p, NULL, &text)) return SPEX_E_NOMEM;
        put_escaped(f, text);
        spex_free(ctx, text);
        fprintf(f, "\"\n");
        return cli_heads_report(st->heads, ctx, res, f);
    }
    int64_t n = spex_prompt_n_units(p);
    double *first = spex_calloc(ctx, (size_t)n, sizeof *first);
    if (!first) return SPEX_E_NOMEM;
    double vmax = 0;
    for (int64_t i = 0; i < spex_coefs_count(res->interactions); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(res->interactions, i, &idx, &len, &v);
        if (len == 1 && idx[0] < n) {
            first[idx[0]] = v;
            if (fabs(v) > vmax) vmax = fabs(v);
        }
    }
    int tty = isatty(fileno(f));
    fprintf(f, "; each unit marked by its %s value (order 1)%s:\n\n  ",
            spex_index_name(res->index),
            tty ? ", green raises it, red lowers it" : "");
    if (*spex_prompt_prefix(p)) {
        put_escaped(f, spex_prompt_prefix(p));
        fputc(' ', f);
    }
    for (int64_t i = 0; i < n; i++) {
        if (i) put_escaped(f, spex_prompt_unit_lead(p, i));
        double v = first[i], r = vmax > 0 ? fabs(v) / vmax : 0;
        if (tty && r >= 0.1) /* background: strong or faint green/red */
            fprintf(f, "\033[%s%dm", r >= 0.5 ? "1;97;" : "", v > 0 ? (r >= 0.5 ? 42 : 32)
                                                                    : (r >= 0.5 ? 41 : 31));
        put_escaped(f, spex_prompt_unit_text(p, i));
        if (tty && r >= 0.1) fputs("\033[0m", f);
        fprintf(f, tty ? "\033[2m[%+.2f]\033[0m" : "[%+.2f]", v);
    }
    if (*spex_prompt_suffix(p)) {
        fputc(' ', f);
        put_escaped(f, spex_prompt_suffix(p));
    }
    fputs("\n", f);
    cli_print_top_interactions(f, res, n, unit_name, p);
    spex_free(ctx, first);
    return SPEX_OK;
}

/* The HTML hook (target.h): the prompt's fixed text, the whitespace between
 * units and a line saying what the value is. */
static int llm_html(void *state, spex_html_opts *ho) {
    llm_state *st = state;
    int64_t n = spex_prompt_n_units(st->p);
    if (!st->leads && !(st->leads = calloc((size_t)n, sizeof *st->leads))) return SPEX_E_NOMEM;
    for (int64_t i = 0; i < n; i++) st->leads[i] = spex_prompt_unit_lead(st->p, i);
    const char *contrast = spex_prompt_contrast(st->p);
    free(st->value_note);
    st->value_note = contrast ? cli_strf("value: log p(\"%s\") - log p(\"%s\")",
                                         spex_prompt_target(st->p), contrast)
                              : cli_strf("value: log p(\"%s\")", spex_prompt_target(st->p));
    if (!st->value_note) return SPEX_E_NOMEM;
    if (st->heads) { /* components are chips; the note says what was scored */
        ho->notes = (const char *const *)&st->value_note;
        ho->n_notes = 1;
        return SPEX_OK;
    }
    ho->prose = 1;
    ho->prefix = spex_prompt_prefix(st->p);
    ho->suffix = spex_prompt_suffix(st->p);
    ho->leads = st->leads;
    ho->notes = (const char *const *)&st->value_note;
    ho->n_notes = 1;
    return SPEX_OK;
}

/* The rest of the target for the mechanistic lens: components as features. */
static int open_heads_target(spex_ctx *ctx, llm_state *st, const char *hex, const char *prompt,
                             const char *model, cli_target *t) {
    spex_heads *h = cli_heads_lens(st->heads);
    if (spex_heads_valuefn(h, &t->vf)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return CLI_INPUT;
    }
    t->n = spex_heads_n_features(h);
    t->names = calloc((size_t)t->n, sizeof *t->names);
    for (int64_t j = 0; t->names && j < t->n; j++)
        t->names[j] = strdup(spex_heads_feature_name(h, j));
    char *fp = cli_strf("llm-heads/1 sha256=%s %s", hex, cli_heads_settings(st->heads));
    fp = fp_add(fp, "prefix", spex_prompt_prefix(st->p));
    fp = fp_add(fp, "suffix", spex_prompt_suffix(st->p));
    fp = fp_add(fp, "target", spex_prompt_target(st->p));
    fp = fp_add(fp, "contrast", spex_prompt_contrast(st->p));
    fp = fp_add(fp, "prompt", prompt);
    t->fingerprint = fp;
    const char *base = strrchr(model, '/');
    t->label = cli_strf("llm heads %s: %.60s", base ? base + 1 : model, prompt);
    t->report = llm_report;
    t->html = llm_html;
    return CLI_OK;
}

int cli_target_open_llm(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo,
                        cli_target *t) {
    (void)eo;
    const char *model = cli_get(o, "llm"), *s;
    if (!model) return 1;
    const char *prompt = cli_get(o, "prompt"), *pfile = cli_get(o, "prompt-file");
    if (!!prompt == !!pfile) {
        fprintf(stderr, "spex explain: --llm needs exactly one of --prompt TEXT and "
                        "--prompt-file FILE\n");
        return CLI_USAGE;
    }
    int heads = cli_heads_requested(o);
    static const char *const heads_only[] = {"layers", "ablate", "reference-prompts"};
    static const char *const units_only[] = {"unit", "segments-sep", "mask"};
    for (int i = 0; i < 3; i++) {
        if (!heads && cli_get(o, heads_only[i])) {
            fprintf(stderr, "spex explain: --%s goes with --heads or --mlp\n", heads_only[i]);
            return CLI_USAGE;
        }
        if (heads && cli_get(o, units_only[i])) {
            fprintf(stderr, "spex explain: --%s is for prompt units; with --heads/--mlp the "
                            "whole prompt is kept and components are ablated\n",
                    units_only[i]);
            return CLI_USAGE;
        }
    }
    if (cli_get(o, "n")) {
        fprintf(stderr, "spex explain: --n is for --exec; the prompt gives --llm its n\n");
        return CLI_USAGE;
    }
    spex_prompt_opts po = spex_prompt_opts_default();
    if ((s = cli_get(o, "unit")) && spex_prompt_unit_parse(ctx, s, &po.unit)) {
        fprintf(stderr, "spex explain: --unit: %s\n", spex_errmsg(ctx));
        return CLI_USAGE;
    }
    po.segments_sep = cli_get(o, "segments-sep");
    if (po.segments_sep && po.unit != SPEX_PROMPT_SEGMENT) {
        fprintf(stderr, "spex explain: --segments-sep goes with --unit segment\n");
        return CLI_USAGE;
    }
    if ((s = cli_get(o, "mask"))) {
        if (!strncmp(s, "replace:", 8)) po.replace = s + 8;
        else if (strcmp(s, "remove")) {
            fprintf(stderr, "spex explain: unknown --mask '%s' (expected remove or "
                            "replace:TEXT)\n", s);
            return CLI_USAGE;
        }
    }
    po.prefix = cli_get(o, "prefix");
    po.suffix = cli_get(o, "suffix");
    po.target = cli_get(o, "target");
    po.contrast = cli_get(o, "contrast");
    if (po.contrast && !po.target) {
        fprintf(stderr, "spex explain: --contrast B needs --target A (value: log p(A) - "
                        "log p(B))\n");
        return CLI_USAGE;
    }
    char *text = NULL, hex[65];
    int rc = CLI_OK;
    if (pfile && (rc = cli_read_text_file("prompt file", pfile, &text))) return rc;
    if (!prompt) prompt = text;
    if (!*prompt) {
        fprintf(stderr, "spex explain: the prompt%s%s%s is empty\n", pfile ? " file '" : "",
                pfile ? pfile : "", pfile ? "'" : "");
        free(text);
        return pfile ? CLI_INPUT : CLI_USAGE;
    }
    llm_state *st = calloc(1, sizeof *st);
    if (!st) {
        free(text);
        return CLI_INPUT;
    }
    t->state = st;
    t->free_state = free_llm_state;
    int src = spex_llm_load(ctx, model, NULL, &st->m);
    if (!src) src = spex_sha256_file(ctx, model, hex);
    if (!src) src = spex_prompt_new(ctx, st->m, prompt, &po, &st->p);
    if (!src && !heads) src = spex_prompt_valuefn(st->p, &t->vf);
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        free(text);
        return cli_exit_code(src);
    }
    if (heads) {
        rc = cli_heads_open(ctx, o, st->m, st->p, &st->heads);
        if (!rc) rc = open_heads_target(ctx, st, hex, prompt, model, t);
        free(text);
        return rc;
    }
    t->n = spex_prompt_n_units(st->p);
    t->names = calloc((size_t)t->n, sizeof *t->names);
    for (int64_t j = 0; t->names && j < t->n; j++)
        t->names[j] = strdup(spex_prompt_unit_text(st->p, j));
    /* every setting that changes a value; the target as resolved (a greedy
     * answer is a function of the model and the full prompt) */
    char *fp = cli_strf("llm-prompt/1 sha256=%s unit=%s", hex, spex_prompt_unit_name(po.unit));
    fp = fp_add(fp, "sep", po.unit == SPEX_PROMPT_SEGMENT
                               ? (po.segments_sep ? po.segments_sep : "\n") : NULL);
    fp = fp_add(fp, "replace", po.replace);
    fp = fp_add(fp, "prefix", spex_prompt_prefix(st->p));
    fp = fp_add(fp, "suffix", spex_prompt_suffix(st->p));
    fp = fp_add(fp, "target", spex_prompt_target(st->p));
    fp = fp_add(fp, "contrast", po.contrast);
    fp = fp_add(fp, "prompt", prompt);
    t->fingerprint = fp;
    const char *base = strrchr(model, '/');
    t->label = cli_strf("llm %s: %.60s", base ? base + 1 : model, prompt);
    t->report = llm_report;
    t->html = llm_html;
    free(text);
    return CLI_OK;
}
