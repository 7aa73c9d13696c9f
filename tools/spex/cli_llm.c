/* The pieces the two --llm targets share (cli_llm.h): the --llm option
 * table, the checks, the loading of model and prompt, and the value line. */
#include "cli_llm.h"

#include <stdlib.h>
#include <string.h>

#include "spex/store.h"

const cli_opt cli_llm_opts[] = {
    {"llm", "FILE",
     "explain a GGUF language model's answer by the units of a prompt\n"
     "(spex/prompt.h); needs --prompt or --prompt-file",
     NULL},
    {"prompt", "TEXT", "--llm: the prompt whose units are the features", NULL},
    {"prompt-file", "FILE", "--llm: read the prompt from FILE", NULL},
    {"prefix", "TEXT", "--llm: fixed text before the prompt, never ablated (joined by a space)",
     NULL},
    {"suffix", "TEXT", "--llm: fixed text after the prompt, never ablated (joined by a space)",
     NULL},
    {"target", "TEXT",
     "--llm: value = log p(TEXT | masked prompt) (default: the model's\n"
     "greedy answer to the full prompt, up to 8 tokens, cut at a line\n"
     "break or end of text)",
     NULL},
    {"contrast", "TEXT", "--llm: value = log p(target) - log p(TEXT)", NULL},
    {NULL, NULL, NULL, NULL},
};

const cli_opt cli_server_opts[] = {
    {"server", "URL[,URL...]",
     "explain the answer of a model behind inference servers (vLLM,\n"
     "SGLang, llama.cpp's llama-server, spex serve, OpenAI-compatible;\n"
     "several URLs: a pool serving one model) by the units of a prompt;\n"
     "the --llm prompt options apply",
     NULL},
    {"api", "A",
     "--server: auto (default: probe) | vllm (prompt_logprobs) | openai\n"
     "(echo + logprobs) | llama-server (/completion: each token forced\n"
     "by logit_bias, its log-prob from n_probs)",
     NULL},
    {"model", "NAME", "--server: the model to ask for (default: the one the server lists)", NULL},
    {"concurrency", "N", "--server: requests in flight per endpoint (default 4)", NULL},
    {"prompts-per-request", "N", "--server: masked prompts in one request (default 32, max 64)",
     NULL},
    {"retries", "N",
     "--server: tries again a request that failed (connection, timeout,\n"
     "429, 5xx, a reply cut short) up to N times, waiting 0.25 s doubled\n"
     "each time (default 6)",
     NULL},
    {"api-key-env", "VAR",
     "--server: send the API key in environment variable VAR (default\n"
     "OPENAI_API_KEY when set); keys are never taken on the command line",
     NULL},
    {NULL, NULL, NULL, NULL},
};

int cli_llm_check(const cli_opt *o, const char *const *foreign, const char *why, const char *alt) {
    for (; *foreign; foreign++)
        if (cli_get(o, *foreign)) {
            fprintf(stderr, "spex explain: --%s%s\n", *foreign, why);
            return CLI_USAGE;
        }
    int given = !!cli_get(o, "prompt") + !!cli_get(o, "prompt-file") + !!(alt && cli_get(o, alt));
    if (given != 1) {
        fprintf(stderr,
                "spex explain: --llm needs exactly one of --prompt TEXT%s%s%s and "
                "--prompt-file FILE\n",
                alt ? ", --" : "", alt ? alt : "", alt ? " FILE" : "");
        return CLI_USAGE;
    }
    if (cli_get(o, "n")) {
        fprintf(stderr, "spex explain: --n is for --exec; the prompt gives --llm its n\n");
        return CLI_USAGE;
    }
    return CLI_OK;
}

/* Connects to the --server pool (spex/remote.h). */
static int open_server(spex_ctx *ctx, const cli_opt *o, cli_llm *l) {
    spex_remote_opts ro = spex_remote_opts_default();
    const char *s;
    int64_t v;
    int rc = CLI_OK;
    if ((s = cli_get(o, "api")) && spex_remote_api_parse(ctx, s, &ro.api)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return CLI_USAGE;
    }
    if ((s = cli_get(o, "concurrency")) && !(rc = cli_int("concurrency", s, 1, 1024, &v)))
        ro.concurrency = (int)v;
    if (!rc && (s = cli_get(o, "retries")) && !(rc = cli_int("retries", s, 0, 100, &v)))
        ro.max_retries = (int)v;
    if (!rc && (s = cli_get(o, "prompts-per-request")) &&
        !(rc = cli_int("prompts-per-request", s, 1, 64, &v)))
        ro.prompts_per_request = (int)v;
    if (rc) return rc;
    ro.model = cli_get(o, "model");
    const char *kv = cli_get(o, "api-key-env");
    ro.api_key = getenv(kv ? kv : "OPENAI_API_KEY");
    if (kv && !ro.api_key) {
        fprintf(stderr, "spex explain: --api-key-env %s: the variable is not set\n", kv);
        return CLI_USAGE;
    }
    /* URL[,URL...] */
    const char *list = cli_get(o, "server");
    char *copy = strdup(list);
    const char **urls = calloc(strlen(list) / 2 + 2, sizeof *urls);
    int n = 0;
    for (char *save = NULL, *u = copy ? strtok_r(copy, ",", &save) : NULL; u && urls;
         u = strtok_r(NULL, ",", &save))
        urls[n++] = u;
    ro.urls = urls;
    ro.n_urls = n;
    int src = copy && urls ? spex_remote_open(ctx, &ro, &l->r)
                           : spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    free(urls);
    free(copy);
    if (src) {
        fprintf(stderr, "spex explain: --server: %s\n", spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    l->model = spex_remote_model(l->r);
    fprintf(stderr, "spex explain: --server: %s\n", spex_remote_note(l->r));
    return CLI_OK;
}

int cli_llm_open(spex_ctx *ctx, const cli_opt *o, spex_prompt_opts *po, cli_llm *l) {
    memset(l, 0, sizeof *l);
    const char *pfile = cli_get(o, "prompt-file");
    l->model = cli_get(o, "llm");
    l->prompt = cli_get(o, "prompt");
    po->prefix = cli_get(o, "prefix");
    po->suffix = cli_get(o, "suffix");
    po->target = cli_get(o, "target");
    po->contrast = cli_get(o, "contrast");
    if (po->contrast && !po->target) {
        fprintf(stderr, "spex explain: --contrast B needs --target A (value: log p(A) - "
                        "log p(B))\n");
        return CLI_USAGE;
    }
    int rc;
    if (pfile && (rc = cli_read_text_file("prompt file", pfile, &l->text))) return rc;
    if (!l->prompt) l->prompt = l->text;
    if (!*l->prompt) {
        fprintf(stderr, "spex explain: the prompt%s%s%s is empty\n", pfile ? " file '" : "",
                pfile ? pfile : "", pfile ? "'" : "");
        return pfile ? CLI_INPUT : CLI_USAGE;
    }
    int src;
    if (cli_get(o, "server")) {
        if ((rc = open_server(ctx, o, l))) return rc;
        spex_prompt_scorer sc;
        spex_remote_scorer(l->r, &sc);
        src = spex_prompt_new_scored(ctx, &sc, l->prompt, po, &l->p);
    } else {
        if ((rc = cli_llm_load(ctx, o, l))) return rc;
        src = spex_prompt_new(ctx, l->m, l->prompt, po, &l->p);
    }
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    return CLI_OK;
}

int cli_llm_load(spex_ctx *ctx, const cli_opt *o, cli_llm *l) {
    l->model = cli_get(o, "llm");
    int src = spex_llm_load(ctx, l->model, NULL, &l->m);
    if (!src) src = spex_sha256_file(ctx, l->model, l->hex);
    if (src) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(src);
    }
    return CLI_OK;
}

void cli_llm_close(cli_llm *l) {
    spex_prompt_free(l->p);
    spex_llm_free(l->m);
    spex_remote_free(l->r);
    free(l->text);
    memset(l, 0, sizeof *l);
}

char *cli_llm_fp_prompt(char *fp, const cli_llm *l, const char *contrast) {
    fp = cli_fp_add(fp, "prefix", spex_prompt_prefix(l->p));
    fp = cli_fp_add(fp, "suffix", spex_prompt_suffix(l->p));
    fp = cli_fp_add(fp, "target", spex_prompt_target(l->p));
    fp = cli_fp_add(fp, "contrast", contrast);
    return cli_fp_add(fp, "prompt", l->prompt);
}

char *cli_llm_model_key(const cli_llm *l) {
    return l->r ? cli_strf("server-model=%s", spex_remote_model(l->r))
                : cli_strf("sha256=%s", l->hex);
}

char *cli_llm_label(const cli_llm *l, const char *what) {
    const char *base = strrchr(l->model, '/');
    return cli_strf("%s %s: %.60s", what, base ? base + 1 : l->model, l->prompt);
}

void cli_llm_put_value(FILE *f, const spex_prompt *p) {
    const char *contrast = spex_prompt_contrast(p);
    fprintf(f, "\nvalue: log p(\"");
    cli_put_escaped(f, spex_prompt_target(p));
    if (contrast) {
        fprintf(f, "\") - log p(\"");
        cli_put_escaped(f, contrast);
    }
    fprintf(f, "\")");
}

char *cli_llm_value_note(const spex_prompt *p) {
    const char *contrast = spex_prompt_contrast(p);
    return contrast
               ? cli_strf("value: log p(\"%s\") - log p(\"%s\")", spex_prompt_target(p), contrast)
               : cli_strf("value: log p(\"%s\")", spex_prompt_target(p));
}
