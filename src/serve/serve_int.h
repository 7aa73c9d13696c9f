/* Internals of spex serve (spex/serve.h): the parsed form of each request
 * body (request.c, the part that reads untrusted bytes and has a fuzz
 * target), the handlers that run them on the engine (handle.c), the engine
 * thread and its bounded queue (queue.c), and the HTTP glue over
 * libmicrohttpd (serve.c). */
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
    int64_t n_layers;    /* "spex_ablate": layers in [0, n_layers) */
    int64_t n_heads;     /* and heads in [0, n_heads) */
} spexi_req_limits;

/* One prompt of a completion request: either text (tokenized by the
 * handler, with BOS) or token ids (used as they are). */
typedef struct spexi_prompt_in {
    char *text; /* owned, or NULL for ids */
    size_t text_len;
    int32_t *ids; /* owned, or NULL for text */
    int64_t n_ids;
} spexi_prompt_in;

/* The spex extension "spex_ablate" of a completion request: components
 * ablated while its prompts are scored (spex/llm.h, ablation). */
typedef struct spexi_ablate_req {
    uint8_t *heads; /* n_layers * n_heads flags, owned */
    uint8_t *mlps;  /* n_layers flags, owned */
    int mean;       /* "mode": "mean" (else zero) */
    int32_t **refs; /* "mean": reference token sequences, n_refs, owned */
    int64_t *ref_lens;
    int64_t n_refs;
} spexi_ablate_req;

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
    spexi_ablate_req *ablate; /* "spex_ablate", owned; NULL when absent */
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
/* The requests that only read the model's immutable facts (/health,
 * /v1/models): answered by the HTTP threads without the engine. 1 and *out
 * filled when path is one of them, else 0. stats: extra fields of /health
 * (a JSON object, stolen; may be NULL). */
int spexi_serve_handle_static(const spex_llm *m, const char *model_id, const char *method,
                              const char *path, void *stats, spexi_reply *out);
/* An OpenAI-style error reply (the body from jansson). */
int spexi_reply_error(spexi_reply *out, int status, const char *msg);

/* A completion request split for batching (handle.c): prepared (parsed,
 * tokenized, generated; the sequences it needs scored listed), scored by
 * the caller in one spex_llm_token_logprobs_batch call with other requests'
 * sequences, then finished into its reply. */
typedef struct spexi_comp spexi_comp;
/* Returns NULL with *out filled when the request is answered already (an
 * error, or nothing to score through a shared batch: an ablated request is
 * run whole here, since its ablation must not mix with other requests). */
/* The component means of the last reference set that a mean-ablated
 * request named, kept by the engine thread: a heads lens sends the same
 * references with every mask, and running them again for each would about
 * double the server's work. Zeroed: empty. */
typedef struct spexi_means_cache {
    int32_t *ids; /* the references' tokens end to end, owned */
    int64_t *lens, n_refs, n_ids;
    float *hm, *mm; /* their head and MLP means (n_layers * dim each), owned */
} spexi_means_cache;
void spexi_means_cache_clear(spex_ctx *ctx, spexi_means_cache *mc);
/* mc: the engine's cache of means, or NULL for none. */
spexi_comp *spexi_comp_prepare(spex_ctx *ctx, spex_llm *m, const char *model_id,
                               const spex_serve_opts *opts, spexi_means_cache *mc, const char *body,
                               size_t len, spexi_reply *out);
/* The sequences to score: n of them; arrays borrowed from c, as the
 * arguments of spex_llm_token_logprobs_batch. */
void spexi_comp_seqs(spexi_comp *c, int64_t *n, const int32_t *const **seqs, const int64_t **lens,
                     const int64_t **from, double *const **dst);
/* The reply once the sequences are scored (score_rc: that call's result;
 * on failure the request's own sequences are scored again alone so that
 * the error is its own). Frees c. */
int spexi_comp_finish(spex_ctx *ctx, spex_llm *m, spexi_comp *c, int score_rc, spexi_reply *out);
void spexi_comp_free(spex_ctx *ctx, spexi_comp *c);

/* The engine thread and the queue of requests waiting for it (queue.c). */
typedef struct spexi_engine spexi_engine;
typedef struct spexi_serve_job {
    const char *method, *path, *body; /* borrowed until done */
    size_t len;
    spexi_reply reply; /* filled by the engine thread */
    int rc;            /* spexi_serve_handle's */
    /* called by spexi_engine_submit once the job is accepted, before the
     * engine can see it (under the queue's lock: keep it short) */
    void (*accepted)(struct spexi_serve_job *j, void *user);
    /* called on the engine thread once reply is filled (the job must not
     * be touched by it after that) */
    void (*done)(struct spexi_serve_job *j, void *user);
    void *user;
    struct spexi_serve_job *next;
} spexi_serve_job;
int spexi_engine_start(spex_ctx *ctx, spex_llm *m, const spex_serve_opts *opts, spexi_engine **out);
/* Queues j for the engine: SPEX_OK, or 1 when the queue is full (j untouched: the
 * caller answers 503). */
int spexi_engine_submit(spexi_engine *e, spexi_serve_job *j);
/* Counters for /health: requests run, engine batches, the largest batch. */
void spexi_engine_stats(spexi_engine *e, int64_t *served, int64_t *batches, int64_t *largest,
                        int64_t *refused);
/* Runs what is queued, stops the thread, frees e. NULL-safe. */
void spexi_engine_stop(spexi_engine *e);

#endif
