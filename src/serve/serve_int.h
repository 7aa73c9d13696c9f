/* Internals of spex serve (spex/serve.h): the parsed form of each request
 * body (request.c, the part that reads untrusted bytes and has a fuzz
 * target), the handlers that run them on the engine (handle.c), and the
 * HTTP glue over libmicrohttpd (serve.c). */
#ifndef SPEX_SERVE_INT_H
#define SPEX_SERVE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "spex/llm.h"
#include "spex/serve.h"

/* Limits of one request, checked by the parser (request.c). */
typedef struct spexi_req_limits {
    int64_t n_vocab;     /* token ids must lie in [0, n_vocab) */
    int64_t max_prompts; /* prompts in one completion request */
    int64_t max_tokens;  /* tokens of one prompt, and max_tokens */
} spexi_req_limits;

/* One prompt of a completion request: either text (tokenized by the
 * handler, with BOS) or token ids (used as they are). */
typedef struct spexi_prompt_in {
    char *text; /* owned, or NULL for ids */
    size_t text_len;
    int32_t *ids; /* owned, or NULL for text */
    int64_t n_ids;
} spexi_prompt_in;

/* POST /v1/completions (OpenAI and vLLM fields spex serves). */
typedef struct spexi_completion_req {
    spexi_prompt_in *prompts; /* n_prompts, owned */
    int64_t n_prompts;
    char *model;         /* owned; NULL when absent */
    int64_t max_tokens;  /* new tokens, greedy (OpenAI default 16) */
    int echo;            /* OpenAI echo: the prompt's tokens in text/logprobs */
    int logprobs;        /* OpenAI logprobs: -1 absent (null), else 0 */
    int prompt_logprobs; /* vLLM prompt_logprobs: -1 absent, else 0 */
    /* spex extension "spex_logprobs_from": [P0, P1, ...], one per prompt:
     * log-probs of prompt i's tokens from position Pi on only (earlier ones
     * are null), the positions a spex client sums; owned, NULL when absent */
    int64_t *lp_from;
} spexi_completion_req;

/* POST /tokenize (llama-server "content"/"add_special", vLLM
 * "prompt"/"add_special_tokens"); a spex extension: "content" an array of
 * strings, answered by "tokens": an array of id arrays. */
typedef struct spexi_tokenize_req {
    char **texts; /* n_texts, owned */
    size_t *lens;
    int64_t n_texts;
    int list; /* "content" was an array */
    int add_special;
} spexi_tokenize_req;

/* POST /detokenize ("tokens"). */
typedef struct spexi_detokenize_req {
    int32_t *ids; /* owned */
    int64_t n_ids;
} spexi_detokenize_req;

/* Parsers of request bodies (len bytes, need not be NUL-terminated). On
 * failure SPEX_E_PARSE (not JSON, not an object), SPEX_E_INVAL (a field of
 * the wrong type or value) or SPEX_E_RANGE (over a limit, an id outside the
 * vocabulary), with a message naming the field; the request is cleared. */
int spexi_parse_completion(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                           spexi_completion_req *out);
void spexi_completion_req_clear(spex_ctx *ctx, spexi_completion_req *r);
int spexi_parse_tokenize(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                         spexi_tokenize_req *out);
void spexi_tokenize_req_clear(spex_ctx *ctx, spexi_tokenize_req *r);
int spexi_parse_detokenize(spex_ctx *ctx, const char *body, size_t len, const spexi_req_limits *lim,
                           spexi_detokenize_req *out);
void spexi_detokenize_req_clear(spex_ctx *ctx, spexi_detokenize_req *r);

/* A handled request: HTTP status and a JSON body (malloc'ed by jansson's
 * allocator: free with free()). */
typedef struct spexi_reply {
    int status;
    char *body;
} spexi_reply;

/* Runs one request (method "GET"/"POST", path, body) on the engine and
 * fills *out; every failure becomes a 4xx/5xx reply with an OpenAI-style
 * {"error": {...}} body. Returns SPEX_E_NOMEM only when not even the error
 * body could be made. model_id names the model in /v1/models and must match
 * a request's "model" when it has one. */
int spexi_serve_handle(spex_ctx *ctx, spex_llm *m, const char *model_id,
                       const spex_serve_opts *opts, const char *method, const char *path,
                       const char *body, size_t len, spexi_reply *out);

#endif
