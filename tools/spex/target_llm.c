/* The --llm target of `spex explain`, the feature-attribution lens: a GGUF
 * model's answer explained by the words, sentences, tokens or given segments
 * of a prompt (spex/prompt.h), and its terminal report: the prompt with each
 * unit marked by its first-order value, then the top interactions in words.
 * The model and prompt options it shares with target_heads.c are in
 * cli_llm.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_llm.h"
#include "target.h"

static const cli_opt prompt_opts[] = {
    {"unit", "U", "--llm: word (default) | sentence | token | segment", NULL},
    {"segments-sep", "MARK",
     "--unit segment: split the prompt on MARK (default: one segment\n"
     "per line)",
     NULL},
    {"mask", "M",
     "--llm: remove (default: a removed unit is deleted with its space)\n"
     "| replace:TEXT (a removed unit becomes TEXT)",
     NULL},
    {NULL, NULL, NULL, NULL},
};

typedef struct llm_state {
    cli_llm l;
    const char **leads, **texts; /* for the HTML report, built on demand */
    char *value_note;
} llm_state;

static void free_llm_state(void *s) {
    llm_state *st = s;
    if (!st) return;
    free(st->leads);
    free(st->texts);
    free(st->value_note);
    cli_llm_close(&st->l);
    free(st);
}

/* The report hook (target.h): the prompt with each unit marked by its
 * first-order value of the result's index, then the top interactions. */
static int llm_report(void *state, spex_ctx *ctx, const spex_result *res, FILE *f) {
    llm_state *st = state;
    spex_prompt *p = st->l.p;
    cli_llm_put_value(f, p);
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
    fprintf(f, "; each unit marked by its %s value (order 1)%s:\n\n  ", spex_index_name(res->index),
            tty ? ", green raises it, red lowers it" : "");
    if (*spex_prompt_prefix(p)) {
        cli_put_escaped(f, spex_prompt_prefix(p));
        fputc(' ', f);
    }
    for (int64_t i = 0; i < n; i++) {
        if (i) cli_put_escaped(f, spex_prompt_unit_lead(p, i));
        double v = first[i], r = vmax > 0 ? fabs(v) / vmax : 0;
        if (tty && r >= 0.1) /* background: strong or faint green/red */
            fprintf(f, "\033[%s%dm", r >= 0.5 ? "1;97;" : "",
                    v > 0 ? (r >= 0.5 ? 42 : 32) : (r >= 0.5 ? 41 : 31));
        cli_put_escaped(f, spex_prompt_unit_text(p, i));
        if (tty && r >= 0.1) fputs("\033[0m", f);
        fprintf(f, tty ? "\033[2m[%+.2f]\033[0m" : "[%+.2f]", v);
    }
    if (*spex_prompt_suffix(p)) {
        fputc(' ', f);
        cli_put_escaped(f, spex_prompt_suffix(p));
    }
    fputs("\n", f);
    cli_print_top_interactions(f, res);
    spex_free(ctx, first);
    return SPEX_OK;
}

/* The HTML hook (target.h): the prompt's fixed text, the whitespace between
 * units and a line saying what the value is. */
static int llm_html(void *state, spex_html_opts *ho) {
    llm_state *st = state;
    spex_prompt *p = st->l.p;
    int64_t n = spex_prompt_n_units(p);
    if (!st->leads && !(st->leads = calloc((size_t)n, sizeof *st->leads))) return SPEX_E_NOMEM;
    if (!st->texts && !(st->texts = calloc((size_t)n, sizeof *st->texts))) return SPEX_E_NOMEM;
    for (int64_t i = 0; i < n; i++) {
        st->leads[i] = spex_prompt_unit_lead(p, i);
        st->texts[i] = spex_prompt_unit_text(p, i);
    }
    free(st->value_note);
    if (!(st->value_note = cli_llm_value_note(p))) return SPEX_E_NOMEM;
    ho->prose = 1;
    ho->prefix = spex_prompt_prefix(p);
    ho->suffix = spex_prompt_suffix(p);
    ho->leads = st->leads;
    ho->texts = st->texts; /* the words in place; their names (waiter#2) in tooltips */
    ho->notes = (const char *const *)&st->value_note;
    ho->n_notes = 1;
    return SPEX_OK;
}

/* the mechanistic lens's own options, refused here */
static const char *const heads_only[] = {"layers", "ablate", "reference-prompts", "prompts", NULL};

static int open_llm(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    (void)eo;
    const char *s;
    int rc = cli_llm_check(o, heads_only, " goes with --heads or --mlp", NULL);
    if (rc) return rc;
    for (const cli_opt *p = cli_server_opts + 1; !cli_get(o, "server") && p->name; p++)
        if (cli_get(o, p->name)) {
            fprintf(stderr, "spex explain: --%s goes with --server\n", p->name);
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
        if (!strncmp(s, "replace:", 8))
            po.replace = s + 8;
        else if (strcmp(s, "remove")) {
            fprintf(stderr,
                    "spex explain: unknown --mask '%s' (expected remove or "
                    "replace:TEXT)\n",
                    s);
            return CLI_USAGE;
        }
    }
    llm_state *st = calloc(1, sizeof *st);
    if (!st) return CLI_INPUT;
    t->state = st;
    t->free_state = free_llm_state;
    if ((rc = cli_llm_open(ctx, o, &po, &st->l))) return rc;
    int src = spex_prompt_valuefn(st->l.p, &t->vf);
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    spex_prompt *p = st->l.p;
    t->n = spex_prompt_n_units(p);
    t->names = calloc((size_t)t->n, sizeof *t->names);
    for (int64_t j = 0; t->names && j < t->n; j++)
        t->names[j] = strdup(spex_prompt_unit_text(p, j));
    /* every setting that changes a value; the target as resolved (a greedy
     * answer is a function of the model and the full prompt) */
    char *key = cli_llm_model_key(&st->l);
    char *fp =
        key ? cli_strf("llm-prompt/1 %s unit=%s", key, spex_prompt_unit_name(po.unit)) : NULL;
    free(key);
    fp = cli_fp_add(fp, "sep",
                    po.unit == SPEX_PROMPT_SEGMENT ? (po.segments_sep ? po.segments_sep : "\n")
                                                   : NULL);
    fp = cli_fp_add(fp, "replace", po.replace);
    t->fingerprint = cli_llm_fp_prompt(fp, &st->l, po.contrast);
    t->label = cli_llm_label(&st->l, "llm");
    t->report = llm_report;
    t->html = llm_html;
    return CLI_OK;
}

/* The same lens with the model behind inference servers (cli_llm.c
 * connects; everything after is shared). */
const cli_target_kind cli_target_server = {
    .name = "server",
    .main = "server",
    .usage = "--server URL --prompt TEXT",
    .about = "a served LLM's answer by units",
    .opts = cli_server_opts,
    .shared = cli_llm_opts,
    .open = open_llm,
};

const cli_target_kind cli_target_llm = {
    .name = "llm",
    .main = "llm",
    .usage = "--llm M.gguf --prompt TEXT",
    .about = "an LLM's answer by prompt units",
    .opts = prompt_opts,
    .shared = cli_llm_opts,
    .open = open_llm,
};
