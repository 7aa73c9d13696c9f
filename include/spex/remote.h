/*
 * spex/remote.h - a language model behind inference servers, as a scorer of
 * the prompt lens (spex/prompt.h, DESIGN.md §4.5): a pool of endpoints that
 * serve one model, reached with libcurl's multi interface.
 *
 * Dialects (the request that scores a prompt's tokens):
 *   vllm    POST /v1/completions {"prompt": [[ids], ...], "max_tokens": 0,
 *           "prompt_logprobs": 0} -> choices[i].prompt_logprobs, checked
 *           against choices[i].prompt_token_ids (vLLM, spex serve)
 *   openai  POST /v1/completions {"prompt": [[ids], ...], "echo": true,
 *           "logprobs": 0, "max_tokens": 0} -> choices[i].logprobs
 *           .token_logprobs (OpenAI legacy completions, vLLM, spex serve);
 *           the echo has no ids, so its token count is what is checked
 *   llama-server  POST /completion {"prompt": [[context ids], ...],
 *           "n_predict": 1, "n_probs": 1, "temperature": 0, "logit_bias":
 *           [[id, 1e30]], "cache_prompt": true} -> [{"index": i,
 *           "completion_probabilities": [{"id", "logprob"}]}, ...]
 *           (llama.cpp's llama-server, which has no prompt log-probs):
 *           the bias forces the token to score, the log-prob reported is
 *           that of the raw logits before any sampler, so exactly teacher
 *           forcing; the forced id is checked. One request forces one
 *           token: a continuation of k tokens is k prompts, each context
 *           extended by the tokens before
 *   auto    GET /v1/models: "owned_by": "llamacpp" is llama-server (then
 *           a probe in its form); else a two-token probe in the vllm form,
 *           else the openai form; spex_remote_note says what was found
 * Tokenization comes from the server: POST /tokenize at the server root
 * ({"content", "add_special"} as llama-server and spex serve take it, with
 * vLLM's "prompt", "add_special_tokens" beside), /detokenize likewise. The
 * greedy answer is a /v1/completions request with temperature 0.
 *
 * Throughput: sequences are sorted by their tokens (neighbours share long
 * prefixes, for the servers' prefix caches) and sent prompts_per_request at
 * a time, with up to `concurrency` requests in flight per endpoint; a new
 * request goes to the live endpoint with the fewest outstanding.
 *
 * Faults: each request has a timeout; connection errors, timeouts, 429 and
 * 5xx replies, and replies that are cut short or not JSON are retried with
 * exponential backoff and jitter (a Retry-After header wins), up to
 * max_retries times; an endpoint that fails max_failures times in a row is
 * dropped and its requests go to the others. Replies are capped at
 * max_reply_size. Any other 4xx, ids that differ from those sent, or a
 * reply without the fields is an error quoting the first 200 bytes of the
 * reply. Answers that arrived before a failure are kept (the prompt lens
 * streams them to the query cache). TLS is verified.
 *
 * Example:
 *     const char *urls[] = {"http://127.0.0.1:8080"};
 *     spex_remote_opts ro = spex_remote_opts_default();
 *     ro.urls = urls;
 *     ro.n_urls = 1;
 *     ro.model = "synth";                   // NULL: the one model served
 *     spex_remote *r;
 *     if (spex_remote_open(ctx, &ro, &r)) puts(spex_errmsg(ctx));
 *     spex_prompt_scorer sc;
 *     spex_remote_scorer(r, &sc);
 *     spex_prompt_new_scored(ctx, &sc, "the food was not good .", &po, &p);
 *     ...
 *     spex_prompt_free(p);
 *     spex_remote_free(r);
 */
#ifndef SPEX_REMOTE_H
#define SPEX_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "spex/heads.h"
#include "spex/prompt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum spex_remote_api {
    SPEX_REMOTE_AUTO = 0,
    SPEX_REMOTE_VLLM = 1,
    SPEX_REMOTE_OPENAI = 2,
    SPEX_REMOTE_LLAMA_SERVER = 3
} spex_remote_api;

/* "auto", "vllm", "openai", "llama-server"; SPEX_E_UNSUPPORTED names the
 * dialects that are known but not spoken (sglang, tgi), SPEX_E_INVAL
 * others. */
SPEX_API int spex_remote_api_parse(spex_ctx *ctx, const char *name, spex_remote_api *out);
SPEX_API const char *spex_remote_api_name(spex_remote_api api);

typedef struct spex_remote_opts {
    const char *const *urls; /* n_urls base URLs (http://host:port, with or without /v1) */
    int n_urls;
    spex_remote_api api;     /* default AUTO */
    const char *model;       /* the model to ask for; NULL: the one each endpoint lists */
    const char *api_key;     /* sent as "Authorization: Bearer"; NULL: none. Borrowed,
                                never printed or stored */
    int concurrency;         /* requests in flight per endpoint (default 4) */
    int prompts_per_request; /* sequences in one scoring request (default 32) */
    double timeout_s;        /* one request (default 120) */
    int max_retries;         /* retries of one request (default 6) */
    double backoff_s;        /* first retry delay, doubled each time, +-50% jitter (default 0.25) */
    double max_backoff_s;    /* cap of the delay and of Retry-After (default 30) */
    int max_failures;        /* consecutive failures that drop an endpoint (default 8) */
    size_t max_reply_size;   /* bytes (default 64 MiB) */
    uint64_t seed;           /* of the jitter (default 1) */
} spex_remote_opts;

SPEX_API spex_remote_opts spex_remote_opts_default(void);

typedef struct spex_remote spex_remote;

/* Connects to every endpoint: GET /v1/models on each (all must list the
 * model, or with model NULL list the same single one), then the dialect
 * probe when api is AUTO. Errors: SPEX_E_INVAL (no URL, bad options),
 * SPEX_E_IO (an endpoint unreachable), SPEX_E_VALUE (the endpoints serve
 * different models, the model is not listed, no dialect works). *out
 * owned; ctx borrowed (messages go there). */
SPEX_API int spex_remote_open(spex_ctx *ctx, const spex_remote_opts *opts, spex_remote **out);
SPEX_API void spex_remote_free(spex_remote *r);
/* The model id every endpoint serves (borrowed). */
SPEX_API const char *spex_remote_model(const spex_remote *r);
SPEX_API spex_remote_api spex_remote_api_used(const spex_remote *r);
/* What the connection found, one line (e.g. "2 endpoints, model M, vllm
 * dialect (probed: prompt_logprobs)"); borrowed. */
SPEX_API const char *spex_remote_note(const spex_remote *r);
/* A scorer for spex_prompt_new_scored (harness_split = 1); r must outlive
 * its use. */
SPEX_API void spex_remote_scorer(spex_remote *r, spex_prompt_scorer *out);

/* A scorer for spex_heads_new_scored, the mechanistic lens over spex serve
 * (every endpoint must be one): its components from /v1/models ("n_layers",
 * "n_heads"), each ablation one request of the sequences under it with the
 * "spex_ablate" extension (spex/serve.h), mean ablation's reference
 * sequences sent with each. r must outlive its use. SPEX_E_UNSUPPORTED when
 * an endpoint is not spex serve. */
SPEX_API int spex_remote_heads_scorer(spex_remote *r, spex_heads_scorer *out);

/* Requests sent and retried so far (all endpoints). */
SPEX_API void spex_remote_counts(const spex_remote *r, int64_t *n_requests, int64_t *n_retries);

#ifdef __cplusplus
}
#endif
#endif
