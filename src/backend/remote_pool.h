/* The request pool of the remote scorer (spex/remote.h): endpoints, one
 * libcurl multi handle, and jobs (one HTTP request each) run to their end
 * with retries (remote_pool.c). remote.c (tokenizing, connecting) and
 * remote_score.c (scoring in each dialect) build their requests as jobs. */
#ifndef SPEX_REMOTE_POOL_H
#define SPEX_REMOTE_POOL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdint.h>

#include "spex/remote.h"
#include "spex/rng.h"

typedef struct spexi_endpoint {
    char *base; /* scheme://host:port[/path] without a trailing "/" or "/v1" */
    int outstanding, fails, alive;
    int busy_cut; /* slots taken off concurrency after a busy reply (remote_pool.c) */
} spexi_endpoint;

struct spex_remote {
    spex_ctx *ctx;
    spex_remote_opts o;
    spexi_endpoint *ep;
    int n_ep;
    char *model;
    spex_remote_api api;
    char note[512];
    int spex_ext;              /* every endpoint is spex serve: "spex_logprobs_from" */
    int64_t n_layers, n_heads; /* spex serve's components (remote_heads.c) */
    json_t *reference;         /* "spex_ablate".reference of mean ablation, or NULL */
    CURLM *multi;
    struct curl_slist *headers; /* content type and, with a key, Authorization */
    spex_rng rng;               /* jitter */
    int64_t n_requests, n_retries;
};

/* One HTTP request. */
typedef struct spexi_job {
    const char *path; /* "/v1/completions" */
    char *body;       /* JSON (owned), NULL for a GET */
    int fixed_ep;     /* -1: any endpoint */
    int ep, attempts, running, done;
    double not_before;
    CURL *h;
    char *resp;
    size_t len, cap;
    int too_big;
    double retry_after; /* seconds from a Retry-After header, 0 when none */
    int has_retry_after;
    double busy_since; /* when a busy server first refused it (0: never) */
    int64_t tag;       /* the caller's */
} spexi_job;

/* Parses a reply; SPEX_E_PARSE makes it retried, other errors stop the run. */
typedef int (*spexi_job_done_fn)(void *user, spexi_job *j);

/* Runs every job to its end (or the first error that stops the list). */
int spexi_run_jobs(spex_remote *r, spexi_job *jobs, int64_t n, spexi_job_done_fn done, void *user);
/* n zeroed jobs (fixed_ep -1), NULL with SPEX_E_NOMEM on r's context. */
spexi_job *spexi_new_jobs(spex_remote *r, int64_t n);
void spexi_free_jobs(spexi_job *jobs, int64_t n);
/* json_dumps of o (stolen), or NULL. */
char *spexi_json_dump(json_t *o);
/* A JSON array of the ids t[0..n). */
json_t *spexi_ids_array(const int32_t *t, int64_t n);
/* Scores n sequences in dialect api (remote_score.c): out[i] = the summed
 * log-probs of tokens from[i].. of seqs[i], each answer also to answer(). */
int spexi_score_with(spex_remote *r, spex_remote_api api, int64_t n, const int32_t *const *seqs,
                     const int64_t *lens, const int64_t *from, double *out, spex_answer_fn answer,
                     void *sink);

#endif
