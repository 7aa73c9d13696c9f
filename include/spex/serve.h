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
 * and the server goes on serving. One thread runs the engine; requests wait
 * for it in the order they arrive, and a list of prompts in one request is
 * run in token order so that neighbours share their KV-cache prefix.
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
