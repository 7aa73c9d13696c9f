/* spex serve: the GGUF engine as an HTTP server (spex/serve.h) until
 * SIGINT or SIGTERM. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "spex/serve.h"

static cli_opt serve_opts[] = {
    {"model", "FILE", "the GGUF model file served", NULL},
    {"host", "ADDR", "IPv4 address to listen on (default 127.0.0.1: this machine only)", NULL},
    {"port", "P", "TCP port (default 8080; 0: a free one, printed at start)", NULL},
    {"threads", "T", "engine threads (default 1; results are identical for any T)", NULL},
    {"ctx", "N", "context length (default: the model's, at most 4096)", NULL},
    {"model-id", "NAME",
     "the name in /v1/models and the \"model\" requests must give\n"
     "(default: the file name without .gguf)",
     NULL},
    {"api-key-env", "VAR",
     "require \"Authorization: Bearer $VAR\" on every request (the key\n"
     "is read from the environment variable VAR, never from the command line)",
     NULL},
    {"parallel", "P",
     "HTTP threads reading requests and writing replies while the engine\n"
     "runs (default 2); one engine thread runs the model",
     NULL},
    {"queue", "N",
     "requests waiting for the engine (default 32); beyond that a request\n"
     "gets 503 with Retry-After: 1. The engine takes every waiting request at\n"
     "once and scores their prompts in one batch (same numbers as alone)",
     NULL},
    {"max-body", "BYTES", "largest request body accepted (default 8388608; 413 above)", NULL},
    {"port-file", "FILE", "write the port to FILE once listening (for scripts)", NULL},
    {"help", NULL, "this text", NULL},
    {NULL, NULL, NULL, NULL},
};

int cmd_serve(int argc, char **argv) {
    cli_opt *o = serve_opts;
    if (cli_parse("serve", o, argc, argv, 2)) return CLI_USAGE;
    if (cli_get(o, "help")) {
        cli_help(stdout, "spex serve --model M.gguf [OPTIONS]",
                 "Serves a GGUF model through spex's engine over HTTP: OpenAI completions with\n"
                 "echo and logprobs (max_tokens 0 scores a prompt), vLLM's prompt_logprobs,\n"
                 "/tokenize, /detokenize, /health and /v1/models. Greedy decoding only.\n"
                 "Extensions for spex clients: \"spex_logprobs_from\" and \"spex_ablate\"\n"
                 "(heads/MLP blocks ablated for one request: {\"heads\": [[layer, head],\n"
                 "...], \"mlps\": [layer, ...], \"mode\": \"zero\"|\"mean\", \"reference\":\n"
                 "[[ids], ...]}; see spex/serve.h). Stops on SIGINT or SIGTERM.",
                 o);
        return CLI_OK;
    }
    const char *model = cli_get(o, "model"), *s;
    if (!model) {
        fprintf(stderr, "spex serve: --model FILE is required (see 'spex serve --help')\n");
        return CLI_USAGE;
    }
    spex_serve_opts so = spex_serve_opts_default();
    spex_llm_opts lo = spex_llm_opts_default();
    int64_t v, threads = 1;
    so.port = 8080;
    if ((s = cli_get(o, "port")) && cli_int("port", s, 0, 65535, &v)) return CLI_USAGE;
    if (s) so.port = (int)v;
    if ((s = cli_get(o, "threads")) && cli_int("threads", s, 1, 1024, &threads)) return CLI_USAGE;
    if ((s = cli_get(o, "ctx")) && cli_int("ctx", s, 1, 1 << 20, &v)) return CLI_USAGE;
    if (s) lo.n_ctx = (int)v;
    if ((s = cli_get(o, "parallel")) && cli_int("parallel", s, 1, 256, &v)) return CLI_USAGE;
    if (s) so.n_http_threads = (int)v;
    if ((s = cli_get(o, "queue")) && cli_int("queue", s, 1, 1 << 20, &v)) return CLI_USAGE;
    if (s) so.max_queued = v;
    if ((s = cli_get(o, "max-body")) && cli_int("max-body", s, 64, (int64_t)1 << 32, &v))
        return CLI_USAGE;
    if (s) so.max_body_size = (size_t)v;
    if ((s = cli_get(o, "host"))) so.host = s;
    if ((s = cli_get(o, "api-key-env"))) {
        so.api_key = getenv(s);
        if (!so.api_key || !*so.api_key) {
            fprintf(stderr, "spex serve: --api-key-env %s: the variable is not set or empty\n", s);
            return CLI_USAGE;
        }
    }
    char *id = NULL;
    if (!(s = cli_get(o, "model-id"))) {
        const char *base = strrchr(model, '/');
        base = base ? base + 1 : model;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".gguf")) n -= 5;
        id = cli_strf("%.*s", (int)n, base);
        s = id;
    }
    so.model_id = s;
    /* block the stop signals in every thread (the server's inherits the mask),
     * then wait for one here */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    spex_ctx *ctx = spex_ctx_new();
    spex_llm *m = NULL;
    spex_server *srv = NULL;
    int rc = CLI_OK, src = ctx ? SPEX_OK : SPEX_E_NOMEM;
    if (ctx) spex_ctx_set_threads(ctx, (int)threads);
    if (!src) src = spex_llm_load(ctx, model, &lo, &m);
    if (!src) src = spex_serve_start(ctx, m, &so, &srv);
    if (src) {
        fprintf(stderr, "spex serve: %s\n", ctx ? spex_errmsg(ctx) : "out of memory");
        rc = src == SPEX_E_INVAL ? CLI_USAGE : CLI_INPUT;
        goto done;
    }
    fprintf(stderr, "spex serve: %s on http://%s:%d (Ctrl-C stops)\n", so.model_id, so.host,
            spex_serve_port(srv));
    if ((s = cli_get(o, "port-file"))) {
        FILE *f = fopen(s, "w");
        if (!f || fprintf(f, "%d\n", spex_serve_port(srv)) < 0 || fclose(f)) {
            fprintf(stderr, "spex serve: cannot write the port file '%s'\n", s);
            rc = CLI_INPUT;
            goto done;
        }
    }
    int sig;
    sigwait(&stop, &sig);
    fprintf(stderr, "spex serve: stopping (signal %d)\n", sig);
done:
    spex_serve_stop(srv);
    spex_llm_free(m);
    spex_ctx_free(ctx);
    free(id);
    return rc;
}
