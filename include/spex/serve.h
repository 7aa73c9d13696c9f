/*
 * spex/serve.h - spex serve: the GGUF engine (spex/llm.h) as an HTTP server
 * (libmicrohttpd) speaking the dialects that inference clients use for
 * teacher-forced scoring (DESIGN.md §4.5):
 *
 *   POST /v1/completions  OpenAI completions: "prompt" a string, a list of
 *                         strings, token ids or a list of token-id lists;
 *                         "max_tokens" (default 16, greedy), "echo",
 *                         "logprobs" 0 (tokens, token_logprobs, text_offset)
 *                         and vLLM's "prompt_logprobs" 0 (with
 *                         "prompt_token_ids" in each choice)
 *   GET  /v1/models       the one model served
 *   POST /tokenize        llama-server {"content", "add_special"} and vLLM
 *                         {"prompt", "add_special_tokens"} -> {"tokens"}
 *   POST /detokenize      {"tokens"} -> {"content"} (pieces concatenated)
 *   GET  /health          {"status": "ok"}
 *
 * Text prompts are tokenized with BOS; token-id prompts are used as given.
 * Log-probabilities are natural logs of the full-vocabulary softmax, the
 * numbers spex_llm_token_logprobs gives. A malformed, oversized or wrongly
 * typed request gets a 4xx reply {"error": {"message", "type", "code"}}
 * and the server goes on serving.
 *
 * Extensions for spex clients: "spex_logprobs_from" (the positions a client
 * sums, one per prompt), "spex_ablate" (the mechanistic lens: components
 * ablated for that request only):
 *     "spex_ablate": {"heads": [[layer, head], ...], "mlps": [layer, ...],
 *                     "mode": "zero" | "mean",
 *                     "reference": [[token ids], ...]}
 * "zero" (the default) replaces an ablated component's output by zero;
 * "mean" by its mean output over every position of the reference
 * sequences (spex_llm_component_means; required with "mean", refused
 * without). Layers and heads are 0-based; a component out of range, listed
 * twice or an unknown field is a 400. /v1/models reports "n_layers" and
 * "n_heads", and /health the engine's counters (requests, batches, the
 * largest batch, requests refused as busy).
 *
 * One thread runs the engine (the model is not thread-safe); n_http_threads
 * threads read requests and write replies meanwhile, and /health and
 * /v1/models, which only read the model's fixed facts, are answered by them
 * directly. Up to max_queued requests wait for the engine, beyond that a
 * request is answered 503 with "Retry-After: 1" and an OpenAI-style error
 * (spex's client waits and retries). The engine takes every waiting request
 * at once and scores the prompts of all the completion requests among them
 * in one batch, in token order so that neighbours share their KV-cache
 * prefix, with the same numbers as each request alone; an ablated request
 * runs alone.
 *
 * Example:
 *     spex_serve_opts so = spex_serve_opts_default();
 *     so.port = 8080;
 *     spex_server *s;
 *     if (spex_serve_start(ctx, m, &so, &s)) puts(spex_errmsg(ctx));
 *     ...                        // serve until told to stop
 *     spex_serve_stop(s);
 */
#ifndef SPEX_SERVE_H
#define SPEX_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "spex/llm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spex_serve_opts {
    const char *host;     /* address to bind (default "127.0.0.1") */
    int port;             /* TCP port; 0 (default): any free one (spex_serve_port) */
    const char *model_id; /* name in /v1/models; NULL: required of no request */
    const char *api_key;  /* NULL (default): no auth; else requests need
                             "Authorization: Bearer <api_key>" (borrowed) */
    size_t max_body_size; /* request body cap, bytes (default 8 MiB): 413 above */
    int64_t max_prompts;  /* prompts in one request (default 4096) */
    int max_connections;  /* open connections (default 64) */
    int n_http_threads;   /* threads reading requests and writing replies while
                             the engine runs (libmicrohttpd's pool; default 2) */
    int64_t max_queued;   /* requests waiting for the engine (default 32); one
                             more is answered 503 with "Retry-After: 1" */
} spex_serve_opts;

SPEX_API spex_serve_opts spex_serve_opts_default(void);

typedef struct spex_server spex_server;

/* Binds host:port and serves m from a thread of its own until
 * spex_serve_stop. m and ctx are borrowed and used by that thread only
 * while the server runs (do not touch them meanwhile). Errors: SPEX_E_INVAL
 * (host is not a numeric IPv4 address), SPEX_E_IO (cannot bind: the port
 * is taken). *out owned. */
SPEX_API int spex_serve_start(spex_ctx *ctx, spex_llm *m, const spex_serve_opts *opts,
                              spex_server **out);
/* The port bound (the free one chosen when opts.port was 0). */
SPEX_API int spex_serve_port(const spex_server *s);
/* Stops serving, closes the socket and frees s. NULL-safe. */
SPEX_API void spex_serve_stop(spex_server *s);

#ifdef __cplusplus
}
#endif
#endif
