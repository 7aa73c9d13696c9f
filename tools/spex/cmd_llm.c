/* spex llm-info, llm-score, llm-generate: check the built-in GGUF language
 * model engine (spex/llm.h) on a model file: what it holds, the log-probability
 * of a continuation, a greedy continuation. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/llm.h"

static int llm_fail(const char *cmd, spex_ctx *ctx, int rc) {
    fprintf(stderr, "spex %s: %s\n", cmd, spex_errmsg(ctx));
    return cli_exit_code(rc);
}

/* JSON string (UTF-8 passed through, control characters escaped). */
static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void json_tokens(FILE *f, const int32_t *t, int64_t n) {
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", t[i]);
    fputc(']', f);
}

/* Parses the options shared by the three commands and loads the model. */
static int llm_open(const char *cmd, cli_opt *o, int argc, char **argv, const char *usage,
                    const char *about, spex_ctx **ctx_out, spex_llm **m_out) {
    *ctx_out = NULL;
    *m_out = NULL;
    for (cli_opt *p = o; p->name; p++) p->value = NULL;
    if (cli_parse(cmd, o, argc, argv, 2)) return CLI_USAGE;
    if (cli_get(o, "help")) {
        cli_help(stdout, usage, about, o);
        return -1;
    }
    const char *model = cli_get(o, "model"), *s;
    if (!model) {
        fprintf(stderr, "spex %s: --model FILE is required (see 'spex %s --help')\n", cmd, cmd);
        return CLI_USAGE;
    }
    spex_llm_opts lo = spex_llm_opts_default();
    int64_t v, threads = 1;
    if ((s = cli_get(o, "threads")) && cli_int("threads", s, 1, 1024, &threads)) return CLI_USAGE;
    if ((s = cli_get(o, "ctx")) && cli_int("ctx", s, 1, 1 << 20, &v)) return CLI_USAGE;
    if (s) lo.n_ctx = (int)v;
    lo.reference = cli_get(o, "reference") != NULL;
    spex_ctx *ctx = spex_ctx_new();
    if (!ctx) return CLI_INPUT;
    spex_ctx_set_threads(ctx, (int)threads);
    int rc = spex_llm_load(ctx, model, &lo, m_out);
    if (rc) {
        rc = llm_fail(cmd, ctx, rc);
        spex_ctx_free(ctx);
        return rc;
    }
    *ctx_out = ctx;
    return CLI_OK;
}

#define COMMON_OPTS                                                                                \
    {"model", "FILE", "the GGUF model file (llama architecture)", NULL},                           \
        {"threads", "T", "worker threads (default 1; results are identical for any T)", NULL},     \
        {"ctx", "N", "context length (default: the model's, at most 4096)", NULL},                 \
        {"reference", NULL, "use the plain scalar reference kernels (slow; the test oracle)",      \
         NULL},                                                                                    \
        {"help", NULL, "this text", NULL}

static cli_opt info_opts[] = {COMMON_OPTS, {NULL, NULL, NULL, NULL}};
static cli_opt score_opts[] = {
    {"prompt", "TEXT", "the prompt (tokenized with BOS)", NULL},
    {"continuation", "TEXT", "the continuation whose log-probability is printed; its tokens are\n"
                             "those of prompt+continuation beyond the prompt's",
     NULL},
    COMMON_OPTS,
    {NULL, NULL, NULL, NULL},
};
static cli_opt gen_opts[] = {
    {"prompt", "TEXT", "the prompt (tokenized with BOS)", NULL},
    {"tokens", "N", "number of tokens to generate greedily (default 32; stops at EOS)", NULL},
    {"json", NULL, "print a JSON object with the tokens instead of the text", NULL},
    COMMON_OPTS,
    {NULL, NULL, NULL, NULL},
};

int cmd_llm_info(int argc, char **argv) {
    spex_ctx *ctx;
    spex_llm *m;
    int rc = llm_open("llm-info", info_opts, argc, argv, "spex llm-info --model FILE [OPTIONS]",
                      "Prints a GGUF model's architecture, sizes, tensor types and vocabulary.",
                      &ctx, &m);
    if (rc) return rc < 0 ? CLI_OK : rc;
    spex_llm_info I;
    spex_llm_get_info(m, &I);
    const spex_gguf *g = spex_llm_gguf(m);
    printf("file            %s (GGUF v%u, alignment %zu, %lld keys, %lld tensors)\n",
           cli_get(info_opts, "model"), spex_gguf_version(g), spex_gguf_alignment(g),
           (long long)spex_gguf_n_kv(g), (long long)spex_gguf_n_tensors(g));
    printf("name            %s\n", I.name);
    printf("architecture    %s\n", I.arch);
    printf("parameters      %lld\n", (long long)I.n_params);
    printf("dim             %lld\n", (long long)I.dim);
    printf("layers          %lld\n", (long long)I.n_layers);
    printf("heads           %lld (kv heads %lld)\n", (long long)I.n_heads,
           (long long)I.n_kv_heads);
    printf("ffn dim         %lld\n", (long long)I.ffn_dim);
    printf("context         %lld (trained), %lld (used)\n", (long long)I.n_ctx_train,
           (long long)I.n_ctx);
    printf("rope base       %g\n", I.rope_base);
    if (I.rope_freq_scale != 1.0) printf("rope scale      %g (linear)\n", I.rope_freq_scale);
    printf("rms eps         %g\n", I.rms_eps);
    printf("output matrix   %s\n", I.tied_output ? "tied to token_embd" : "separate");
    printf("tokenizer       %s, %lld tokens, bos %d, eos %d, add bos %d\n", I.tokenizer,
           (long long)I.n_vocab, I.bos, I.eos, I.add_bos);
    int64_t counts[64] = {0};
    for (int64_t i = 0; i < spex_gguf_n_tensors(g); i++) {
        spex_tensor_info t;
        spex_gguf_tensor(g, i, &t);
        if (t.type >= 0 && t.type < 64) counts[t.type]++;
    }
    printf("tensor types   ");
    for (int t = 0; t < 64; t++)
        if (counts[t]) printf(" %s x%lld", spex_tensor_type_name(t), (long long)counts[t]);
    printf("\n");
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return CLI_OK;
}

int cmd_llm_score(int argc, char **argv) {
    spex_ctx *ctx;
    spex_llm *m;
    cli_opt *o = score_opts;
    int rc = llm_open("llm-score", o, argc, argv,
                      "spex llm-score --model FILE --prompt TEXT --continuation TEXT [OPTIONS]",
                      "Prints one JSON object: the prompt's and continuation's token ids, the\n"
                      "continuation's summed log-probability (natural log) under teacher forcing\n"
                      "and the log-probability of each of its tokens.",
                      &ctx, &m);
    if (rc) return rc < 0 ? CLI_OK : rc;
    const char *prompt = cli_get(o, "prompt"), *cont = cli_get(o, "continuation");
    if (!prompt || !cont) {
        fprintf(stderr, "spex llm-score: --prompt TEXT and --continuation TEXT are required\n");
        rc = CLI_USAGE;
        goto done;
    }
    spex_llm_score_result r;
    int src = spex_llm_score(m, prompt, cont, &r);
    if (src) {
        rc = llm_fail("llm-score", ctx, src);
        goto done;
    }
    printf("{\"prompt_tokens\": ");
    json_tokens(stdout, r.prompt_tokens, r.n_prompt);
    printf(", \"continuation_tokens\": ");
    json_tokens(stdout, r.continuation_tokens, r.n_continuation);
    printf(", \"logprob\": %.9g, \"token_logprobs\": [", r.logprob);
    for (int64_t i = 0; i < r.n_continuation; i++)
        printf("%s%.9g", i ? ", " : "", r.token_logprobs[i]);
    printf("]}\n");
    spex_llm_score_result_clear(m, &r);
done:
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return rc;
}

int cmd_llm_generate(int argc, char **argv) {
    spex_ctx *ctx;
    spex_llm *m;
    cli_opt *o = gen_opts;
    int rc = llm_open("llm-generate", o, argc, argv,
                      "spex llm-generate --model FILE --prompt TEXT [--tokens N] [OPTIONS]",
                      "Continues the prompt greedily (the most probable token each step) and\n"
                      "prints the continuation's text.",
                      &ctx, &m);
    if (rc) return rc < 0 ? CLI_OK : rc;
    const char *prompt = cli_get(o, "prompt"), *s;
    int64_t n_new = 32, n_p = 0, n_out = 0;
    int32_t *pt = NULL, *gen = NULL;
    char *text = NULL;
    int src;
    if (!prompt) {
        fprintf(stderr, "spex llm-generate: --prompt TEXT is required\n");
        rc = CLI_USAGE;
        goto done;
    }
    if ((s = cli_get(o, "tokens")) && cli_int("tokens", s, 0, 1 << 20, &n_new)) {
        rc = CLI_USAGE;
        goto done;
    }
    if ((src = spex_llm_tokenize(m, prompt, strlen(prompt), 1, &pt, &n_p)) ||
        (src = spex_llm_generate(m, pt, n_p, n_new, &gen, &n_out)) ||
        (src = spex_llm_detokenize(m, gen, n_out, 0, &text))) {
        rc = llm_fail("llm-generate", ctx, src);
        goto done;
    }
    if (cli_get(o, "json")) {
        printf("{\"prompt_tokens\": ");
        json_tokens(stdout, pt, n_p);
        printf(", \"tokens\": ");
        json_tokens(stdout, gen, n_out);
        printf(", \"text\": ");
        json_str(stdout, text, strlen(text));
        printf("}\n");
    } else {
        printf("%s\n", text);
    }
done:
    spex_free(ctx, pt);
    spex_free(ctx, gen);
    spex_free(ctx, text);
    spex_llm_free(m);
    spex_ctx_free(ctx);
    return rc;
}
