/*
 * A language model behind inference servers (spex/remote.h): a pool of
 * endpoints driven by one libcurl multi handle.
 *
 * HOW IT WORKS. Every exchange with the servers is a list of jobs (one HTTP
 * request each) run by run_jobs(): a job waits until its retry time has
 * come and an endpoint has a free slot (fewer than `concurrency` requests
 * in flight), goes to the live endpoint with the fewest outstanding
 * requests (least-outstanding dispatch), and when its reply is in, the
 * caller's `done` function parses it. A reply is retried (exponential
 * backoff with jitter, Retry-After honoured) when the connection failed or
 * timed out, on 429 and 5xx, and when the body could not be parsed (cut
 * short, not JSON); an endpoint that fails max_failures times in a row is
 * dropped. Anything else (another 4xx, token ids that differ from those
 * sent) stops the list at once with a message quoting the reply. Scoring
 * sorts the sequences by their tokens before grouping them into requests,
 * so that the requests in flight share long prefixes (the servers' prefix
 * caches), and reports each answer as its request returns.
 */
#include "spex/remote.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/remote_int.h"
#include "spex/rng.h"

static const char *const api_names[] = {"auto", "vllm", "openai", "llama-server"};
#define N_APIS 4

int spex_remote_api_parse(spex_ctx *ctx, const char *name, spex_remote_api *out) {
    for (int i = 0; i < N_APIS; i++)
        if (!strcmp(name, api_names[i])) {
            *out = (spex_remote_api)i;
            return SPEX_OK;
        }
    if (!strcmp(name, "sglang") || !strcmp(name, "tgi"))
        return spex_seterr(ctx, SPEX_E_UNSUPPORTED,
                           "--api %s is not spoken yet (auto, vllm, openai and llama-server "
                           "are; SGLang's OpenAI completions endpoint answers --api vllm or "
                           "openai)",
                           name);
    return spex_seterr(ctx, SPEX_E_INVAL,
                       "unknown --api '%s' (expected auto, vllm, openai or llama-server)", name);
}

const char *spex_remote_api_name(spex_remote_api api) {
    return (unsigned)api < N_APIS ? api_names[api] : "?";
}

spex_remote_opts spex_remote_opts_default(void) {
    spex_remote_opts o;
    memset(&o, 0, sizeof o);
    o.api = SPEX_REMOTE_AUTO;
    o.concurrency = 4;
    o.prompts_per_request = 32;
    o.timeout_s = 120;
    o.max_retries = 6;
    o.backoff_s = 0.25;
    o.max_backoff_s = 30;
    o.max_failures = 8;
    o.max_reply_size = (size_t)64 << 20;
    o.seed = 1;
    return o;
}

typedef struct endpoint {
    char *base; /* scheme://host:port[/path] without a trailing "/" or "/v1" */
    int outstanding, fails, alive;
} endpoint;

struct spex_remote {
    spex_ctx *ctx;
    spex_remote_opts o;
    endpoint *ep;
    int n_ep;
    char *model;
    spex_remote_api api;
    char note[512];
    int spex_ext; /* every endpoint is spex serve: "spex_logprobs_from" */
    CURLM *multi;
    struct curl_slist *headers; /* content type and, with a key, Authorization */
    spex_rng rng;               /* jitter */
    int64_t n_requests, n_retries;
};

/* One HTTP request. */
typedef struct job {
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
    int64_t tag;        /* the caller's */
} job;

/* Parses a reply; SPEX_E_PARSE makes it retried, other errors stop the run. */
typedef int (*job_done_fn)(void *user, job *j);

static size_t on_body(char *p, size_t size, size_t nmemb, void *user) {
    job *j = user;
    size_t n = size * nmemb;
    if (j->too_big) return 0;
    if (j->len + n + 1 > j->cap) {
        size_t cap = j->cap ? j->cap : 4096;
        while (cap < j->len + n + 1)
            cap *= 2;
        char *q = realloc(j->resp, cap);
        if (!q) return 0;
        j->resp = q;
        j->cap = cap;
    }
    memcpy(j->resp + j->len, p, n);
    j->len += n;
    j->resp[j->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *user) {
    job *j = user;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        double v = strtod(p + 12, NULL); /* seconds; an HTTP date is ignored */
        if (v > 0) j->retry_after = v;
    }
    return n;
}

static int start_job(spex_remote *r, job *j, int e) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->ep[e].base, j->path);
    j->h = curl_easy_init();
    if (!j->h) return spex_seterr(r->ctx, SPEX_E_NOMEM, "curl_easy_init failed");
    j->len = 0;
    j->too_big = 0;
    j->retry_after = 0;
    curl_easy_setopt(j->h, CURLOPT_URL, url);
    curl_easy_setopt(j->h, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(j->h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(j->h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(j->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(j->h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(j->h, CURLOPT_PRIVATE, j);
    curl_easy_setopt(j->h, CURLOPT_TIMEOUT_MS, (long)(r->o.timeout_s * 1000));
    curl_easy_setopt(j->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(j->h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->o.max_reply_size);
    if (j->body) curl_easy_setopt(j->h, CURLOPT_POSTFIELDS, j->body);
    if (curl_multi_add_handle(r->multi, j->h) != CURLM_OK) {
        curl_easy_cleanup(j->h);
        j->h = NULL;
        return spex_seterr(r->ctx, SPEX_E_IO, "curl_multi_add_handle failed");
    }
    j->ep = e;
    j->running = 1;
    r->ep[e].outstanding++;
    r->n_requests++;
    return SPEX_OK;
}

static void finish_handle(spex_remote *r, job *j) {
    if (!j->h) return;
    curl_multi_remove_handle(r->multi, j->h);
    curl_easy_cleanup(j->h);
    j->h = NULL;
    if (j->running) r->ep[j->ep].outstanding--;
    j->running = 0;
}

/* The endpoint for a job: its fixed one, else the live one with a free
 * slot and the fewest outstanding requests; -1 when none is free now. */
static int pick_endpoint(const spex_remote *r, const job *j) {
    if (j->fixed_ep >= 0)
        return r->ep[j->fixed_ep].outstanding < r->o.concurrency ? j->fixed_ep : -1;
    int best = -1;
    for (int e = 0; e < r->n_ep; e++) {
        const endpoint *p = &r->ep[e];
        if (!p->alive || p->outstanding >= r->o.concurrency) continue;
        if (best < 0 || p->outstanding < r->ep[best].outstanding) best = e;
    }
    return best;
}

static int live_endpoints(const spex_remote *r) {
    int n = 0;
    for (int e = 0; e < r->n_ep; e++)
        n += r->ep[e].alive;
    return n;
}

/* A failure worth another try: schedules it, or stops with msg when out of
 * tries or endpoints. */
static int retry(spex_remote *r, job *j, const char *msg) {
    endpoint *p = &r->ep[j->ep];
    if (++p->fails >= r->o.max_failures && j->fixed_ep < 0 && p->alive) {
        p->alive = 0;
        if (!live_endpoints(r))
            return spex_seterr(r->ctx, SPEX_E_IO,
                               "every endpoint failed %d times in a row; the last: %s: %s",
                               r->o.max_failures, p->base, msg);
    }
    if (++j->attempts > r->o.max_retries)
        return spex_seterr(r->ctx, SPEX_E_IO, "%s%s: %s (after %d retries)", p->base, j->path, msg,
                           r->o.max_retries);
    double d = r->o.backoff_s * pow(2, j->attempts - 1);
    d *= 0.5 + spex_rng_uniform(&r->rng); /* jitter: 0.5x .. 1.5x */
    if (j->retry_after > d) d = j->retry_after;
    if (d > r->o.max_backoff_s) d = r->o.max_backoff_s;
    j->not_before = spex_now() + d;
    r->n_retries++;
    return SPEX_OK;
}

/* A reply is in: classify it. */
static int handle_reply(spex_remote *r, job *j, CURLcode cc, job_done_fn done, void *user) {
    long status = 0;
    curl_easy_getinfo(j->h, CURLINFO_RESPONSE_CODE, &status);
    int e = j->ep;
    finish_handle(r, j);
    char q[1024], msg[1400];
    if (cc != CURLE_OK) {
        snprintf(msg, sizeof msg, "%s", curl_easy_strerror(cc));
        if (cc == CURLE_FILESIZE_EXCEEDED || cc == CURLE_WRITE_ERROR)
            return spex_seterr(r->ctx, SPEX_E_VALUE, "%s%s: the reply is larger than %zu bytes",
                               r->ep[e].base, j->path, r->o.max_reply_size);
        return retry(r, j, msg);
    }
    if (status == 429 || status >= 500) {
        spexi_quote_reply(j->resp ? j->resp : "", j->len, q, sizeof q);
        snprintf(msg, sizeof msg, "HTTP %ld '%s'", status, q);
        return retry(r, j, msg);
    }
    if (status != 200) {
        spexi_quote_reply(j->resp ? j->resp : "", j->len, q, sizeof q);
        return spex_seterr(r->ctx, SPEX_E_VALUE, "%s%s: HTTP %ld '%s'", r->ep[e].base, j->path,
                           status, q);
    }
    int rc = done(user, j);
    if (rc == SPEX_E_PARSE) {
        snprintf(msg, sizeof msg, "%s", spex_errmsg(r->ctx));
        return retry(r, j, msg);
    }
    if (rc) {
        spex_errprefix(r->ctx, "%s%s", r->ep[e].base, j->path);
        return rc;
    }
    r->ep[e].fails = 0;
    j->done = 1;
    return SPEX_OK;
}

/* Runs every job to its end (or the first error that stops the list). */
static int run_jobs(spex_remote *r, job *jobs, int64_t n, job_done_fn done, void *user) {
    int rc = SPEX_OK;
    int64_t left = n;
    while (!rc && left > 0) {
        double now = spex_now(), wake = now + 0.1;
        for (int64_t i = 0; i < n && !rc; i++) {
            job *j = &jobs[i];
            if (j->done || j->running) continue;
            if (j->not_before > now) {
                if (j->not_before < wake) wake = j->not_before;
                continue;
            }
            int e = pick_endpoint(r, j);
            if (e >= 0) rc = start_job(r, j, e);
        }
        if (rc) break;
        int still = 0;
        curl_multi_perform(r->multi, &still);
        CURLMsg *m;
        int q, ended = 0;
        while (!rc && (m = curl_multi_info_read(r->multi, &q))) {
            if (m->msg != CURLMSG_DONE) continue;
            job *j = NULL;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&j);
            rc = handle_reply(r, j, m->data.result, done, user);
            ended++;
            if (!rc && j->done) left--;
        }
        if (rc || left == 0) break;
        /* a request ended: its slot goes to a waiting job at once (a poll
         * now would sleep until the timeout, nothing being in flight) */
        if (ended) continue;
        int ms = (int)((wake - spex_now()) * 1000);
        curl_multi_poll(r->multi, NULL, 0, ms < 1 ? 1 : ms, NULL);
    }
    for (int64_t i = 0; i < n; i++)
        finish_handle(r, &jobs[i]);
    return rc;
}

static void free_jobs(job *jobs, int64_t n) {
    for (int64_t i = 0; jobs && i < n; i++) {
        free(jobs[i].body);
        free(jobs[i].resp);
    }
    free(jobs);
}

static job *new_jobs(spex_remote *r, int64_t n) {
    job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    if (!jobs) spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    for (int64_t i = 0; jobs && i < n; i++)
        jobs[i].fixed_ep = -1;
    return jobs;
}

/* json_dumps of o (stolen), or NULL. */
static char *dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static json_t *ids_array(const int32_t *t, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(t[i]));
    return a;
}

/* ---- tokenize / detokenize / answer ---- */

/* Texts per /tokenize request: spex serve takes a list ("content" an
 * array, its extension); other servers one text a request. */
#define TOK_PER_REQUEST 64

typedef struct tok_run {
    spex_remote *r;
    int32_t **toks;
    int64_t *n_toks;
    int64_t n, per; /* texts, and texts per request (1: the plain form) */
} tok_run;

static int tok_done(void *user, job *j) {
    tok_run *t = user;
    const char *b = j->resp ? j->resp : "";
    int64_t a = j->tag * t->per, k = t->n - a < t->per ? t->n - a : t->per;
    if (t->per == 1)
        return spexi_parse_tokens_reply(t->r->ctx, b, j->len, &t->toks[a], &t->n_toks[a]);
    return spexi_parse_tokens_list_reply(t->r->ctx, b, j->len, k, t->toks + a, t->n_toks + a);
}

static int r_tokenize(void *user, int64_t n, const char *const *texts, const size_t *lens,
                      int add_bos, int32_t **toks, int64_t *n_toks) {
    spex_remote *r = user;
    for (int64_t i = 0; i < n; i++) {
        toks[i] = NULL;
        n_toks[i] = 0;
    }
    int64_t per = r->spex_ext ? TOK_PER_REQUEST : 1, nj = (n + per - 1) / per;
    job *jobs = new_jobs(r, nj);
    if (!jobs) return SPEX_E_NOMEM;
    int rc = SPEX_OK;
    for (int64_t q = 0; q < nj && !rc; q++) {
        json_t *o = json_object(), *list = per > 1 ? json_array() : NULL, *s = NULL;
        for (int64_t i = q * per; i < n && i < (q + 1) * per && !rc; i++) {
            if (!(s = json_stringn(texts[i], lens[i]))) /* not UTF-8 */
                rc = spex_seterr(r->ctx, SPEX_E_INVAL, "text %lld is not UTF-8", (long long)i);
            else if (list)
                json_array_append_new(list, s);
        }
        if (rc) {
            json_decref(list);
            json_decref(o);
            break;
        }
        if (list) {
            json_object_set_new(o, "content", list);
        } else { /* llama-server's and spex serve's names, and vLLM's beside them */
            json_object_set(o, "content", s);
            json_object_set_new(o, "prompt", s);
        }
        json_object_set_new(o, "add_special", json_boolean(add_bos));
        json_object_set_new(o, "add_special_tokens", json_boolean(add_bos));
        json_object_set_new(o, "model", json_string(r->model));
        jobs[q].path = "/tokenize";
        jobs[q].body = dump(o);
        jobs[q].tag = q;
        if (!jobs[q].body) rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    tok_run t = {r, toks, n_toks, n, per};
    if (!rc) rc = run_jobs(r, jobs, nj, tok_done, &t);
    free_jobs(jobs, nj);
    if (rc)
        for (int64_t i = 0; i < n; i++) {
            spex_free(r->ctx, toks[i]);
            toks[i] = NULL;
        }
    return rc;
}

typedef struct text_run {
    spex_remote *r;
    char *text;
    int completion; /* choices[0].text rather than content */
} text_run;

static int text_done(void *user, job *j) {
    text_run *t = user;
    spex_free(t->r->ctx, t->text);
    t->text = NULL;
    int stopped;
    return t->completion
               ? spexi_parse_text_reply(t->r->ctx, j->resp ? j->resp : "", j->len, &t->text,
                                        &stopped)
               : spexi_parse_content_reply(t->r->ctx, j->resp ? j->resp : "", j->len, &t->text);
}

static int one_text(spex_remote *r, const char *path, json_t *o, int completion, char **text) {
    *text = NULL;
    job *jobs = new_jobs(r, 1);
    if (!jobs) {
        json_decref(o);
        return SPEX_E_NOMEM;
    }
    jobs[0].path = path;
    jobs[0].body = dump(o);
    text_run t = {r, NULL, completion};
    int rc = jobs[0].body ? run_jobs(r, jobs, 1, text_done, &t)
                          : spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    free_jobs(jobs, 1);
    if (rc) {
        spex_free(r->ctx, t.text);
        return rc;
    }
    *text = t.text;
    return SPEX_OK;
}

static int r_detokenize(void *user, const int32_t *tokens, int64_t n, char **text) {
    spex_remote *r = user;
    json_t *o = json_object();
    json_object_set_new(o, "tokens", ids_array(tokens, n));
    json_object_set_new(o, "model", json_string(r->model));
    return one_text(r, "/detokenize", o, 0, text);
}

static int r_answer(void *user, const int32_t *tokens, int64_t n, int64_t max_tokens, char **text) {
    spex_remote *r = user;
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "prompt", ids_array(tokens, n));
    json_object_set_new(o, "max_tokens", json_integer(max_tokens));
    json_object_set_new(o, "temperature", json_real(0));
    json_t *stop = json_array();
    json_array_append_new(stop, json_string("\n"));
    json_object_set_new(o, "stop", stop);
    int rc = one_text(r, "/v1/completions", o, 1, text);
    if (rc) return rc;
    char *nl = strchr(*text, '\n'); /* a server that ignores "stop" */
    if (nl) *nl = '\0';
    return SPEX_OK;
}

/* ---- scoring ---- */

typedef struct seq_ref {
    const int32_t *t;
    int64_t len, idx;
    int64_t from; /* the first position summed */
} seq_ref;

static int cmp_ids(const int32_t *x, int64_t nx, const int32_t *y, int64_t ny) {
    int64_t m = nx < ny ? nx : ny;
    for (int64_t i = 0; i < m; i++)
        if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
    return (nx > ny) - (nx < ny);
}

static int cmp_seq(const void *a, const void *b) {
    const seq_ref *x = a, *y = b;
    return cmp_ids(x->t, x->len, y->t, y->len);
}

static int cmp_cont(const seq_ref *x, const seq_ref *y) {
    return cmp_ids(x->t + x->from, x->len - x->from, y->t + y->from, y->len - y->from);
}

/* llama-server: by continuation first (one forced token per request), then by
 * the tokens. */
static int cmp_cont_seq(const void *a, const void *b) {
    int c = cmp_cont(a, b);
    return c ? c : cmp_seq(a, b);
}

typedef struct score_run {
    spex_remote *r;
    spex_remote_api api;
    const seq_ref *order; /* sorted */
    const int64_t *start; /* request k scores order[start[k] .. start[k + 1]) */
    int64_t n;
    const int32_t *const *seqs;
    const int64_t *lens, *from;
    double *out;
    spex_answer_fn answer;
    void *sink;
} score_run;

static int score_done(void *user, job *j) {
    score_run *s = user;
    int64_t a = s->start[j->tag], k = s->start[j->tag + 1] - a;
    const int32_t *seqs[64];
    int64_t lens[64], from[64];
    double v[64];
    for (int64_t i = 0; i < k; i++) {
        int64_t x = s->order[a + i].idx;
        seqs[i] = s->seqs[x];
        lens[i] = s->lens[x];
        from[i] = s->from[x];
    }
    int rc = spexi_parse_score_reply(s->r->ctx, s->api, j->resp ? j->resp : "", j->len, k, seqs,
                                     lens, from, v);
    if (rc) return rc;
    for (int64_t i = 0; i < k; i++) {
        int64_t x = s->order[a + i].idx;
        s->out[x] = v[i];
        if (s->answer) s->answer(s->sink, x, v[i]);
    }
    return SPEX_OK;
}

/* llama-server's body for sequences order[a..b) of one token to score
 * (from = len - 1) that is the same for all: the contexts t[0..from) as
 * prompts, that token forced, one token generated.
 *
 * WHY LOGIT_BIAS. llama-server scores no prompt tokens, but with n_probs > 0
 * and post_sampling_probs false it reports, for each generated token, the
 * log-softmax of the raw logits at that step, computed before logit_bias,
 * grammar or any sampler: the teacher-forced log-prob, when the generated
 * token is the one to score. A bias of 1e30 on that token makes it the
 * greedy choice (temperature 0) whatever the logits, and the id that comes
 * back is checked (remote_reply.c). The bias holds at every step, so one
 * request forces one token: a continuation of k tokens costs k prompts,
 * each its context extended by the tokens before (cache_prompt keeps the
 * shared prefix). A grammar of token ids ("root ::= <[id]> <[id]>") would
 * force all k in one request, but the tested build (81ff7abe) answers HTTP
 * 500 for some tokens (the byte token <0x00>) and older builds have no
 * token grammars; a large n_probs misses tokens ranked below it and costs
 * a vocabulary-sized reply.
 *
 * PRECISION. llama-server sums the softmax in float32, so tail mass below
 * half an ulp of the running sum is lost: every log-prob of one position
 * is off by the same log(true sum / float sum), at most about n_vocab *
 * 2^-24 (3.3e-4 measured on a peaked position of a 32000-token model).
 * It cancels in target - contrast at one position; renormalizing over all
 * n_vocab top_logprobs in double would remove it, at a vocabulary-sized
 * reply per prompt, and is not done. */
static json_t *llama_body(const seq_ref *order, int64_t a, int64_t b) {
    json_t *o = json_object(), *p = json_array(), *bias = json_array(), *pair = json_array();
    for (int64_t i = a; i < b; i++)
        json_array_append_new(p, ids_array(order[i].t, order[i].from));
    json_array_append_new(pair, json_integer(order[a].t[order[a].from]));
    json_array_append_new(pair, json_real(1e30));
    json_array_append_new(bias, pair);
    json_object_set_new(o, "prompt", p);
    json_object_set_new(o, "n_predict", json_integer(1));
    json_object_set_new(o, "n_probs", json_integer(1));
    json_object_set_new(o, "post_sampling_probs", json_false());
    json_object_set_new(o, "temperature", json_real(0));
    json_object_set_new(o, "logit_bias", bias);
    json_object_set_new(o, "cache_prompt", json_true());
    return o;
}

/* The body scoring sequences order[a..b) in the dialect. */
static char *score_body(const spex_remote *r, spex_remote_api api, const seq_ref *order, int64_t a,
                        int64_t b) {
    if (api == SPEX_REMOTE_LLAMA_SERVER) return dump(llama_body(order, a, b));
    json_t *o = json_object(), *p = json_array();
    for (int64_t i = a; i < b; i++)
        json_array_append_new(p, ids_array(order[i].t, order[i].len));
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "prompt", p);
    json_object_set_new(o, "temperature", json_real(0));
    if (r->spex_ext) { /* the positions summed only, and no token generated */
        json_t *f = json_array();
        for (int64_t i = a; i < b; i++)
            json_array_append_new(f, json_integer((json_int_t)order[i].from));
        json_object_set_new(o, "spex_logprobs_from", f);
    }
    if (api == SPEX_REMOTE_VLLM) {
        json_object_set_new(o, "max_tokens", json_integer(r->spex_ext ? 0 : 1));
        json_object_set_new(o, "prompt_logprobs", json_integer(0));
    } else {
        json_object_set_new(o, "max_tokens", json_integer(0));
        json_object_set_new(o, "echo", json_true());
        json_object_set_new(o, "logprobs", json_integer(0));
    }
    return dump(o);
}

/* Scores the sequences in the dialect; under llama-server each has one
 * token to score (llama_score makes them so). */
static int score_core(spex_remote *r, spex_remote_api api, int64_t n, const int32_t *const *seqs,
                      const int64_t *lens, const int64_t *from, double *out, spex_answer_fn answer,
                      void *sink) {
    for (int64_t i = 0; i < n; i++)
        out[i] = NAN;
    if (n == 0) return SPEX_OK;
    seq_ref *order = malloc((size_t)n * sizeof *order);
    if (!order) return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    int llama = api == SPEX_REMOTE_LLAMA_SERVER;
    int64_t *start = malloc((size_t)(n + 1) * sizeof *start);
    if (!start) {
        free(order);
        return spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    for (int64_t i = 0; i < n; i++) {
        order[i].t = seqs[i];
        order[i].len = lens[i];
        order[i].idx = i;
        order[i].from = from[i];
    }
    qsort(order, (size_t)n, sizeof *order, llama ? cmp_cont_seq : cmp_seq);
    /* requests of up to prompts_per_request sequences; under llama-server
     * of one continuation each */
    int64_t per = r->o.prompts_per_request, nj = 0;
    for (int64_t i = 0; i < n; i++)
        if (!nj || i - start[nj - 1] == per || (llama && cmp_cont(&order[i - 1], &order[i])))
            start[nj++] = i;
    start[nj] = n;
    job *jobs = new_jobs(r, nj);
    int rc = jobs ? SPEX_OK : SPEX_E_NOMEM;
    for (int64_t k = 0; k < nj && !rc; k++) {
        jobs[k].path = llama ? "/completion" : "/v1/completions";
        jobs[k].tag = k;
        jobs[k].body = score_body(r, api, order, start[k], start[k + 1]);
        if (!jobs[k].body) rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    score_run s = {r, api, order, start, n, seqs, lens, from, out, answer, sink};
    if (!rc) rc = run_jobs(r, jobs, nj, score_done, &s);
    free_jobs(jobs, nj);
    free(start);
    free(order);
    return rc;
}

/* llama-server: sequence x's tokens from[x] .. lens[x] - 1 become items
 * off[x] .. off[x + 1] - 1, item p scoring token p of x after tokens 0..p;
 * x's value is the sum of its items' log-probs, added in token order once
 * all are in (the same sum whatever order the replies come in). */
typedef struct llama_items {
    const int64_t *off, *seq_of; /* (n + 1) offsets; (n_items) its sequence */
    int64_t *pending;            /* (n) items not yet answered */
    double *lp, *out;            /* (n_items), (n) */
    spex_answer_fn answer;
    void *sink;
} llama_items;

static void llama_item_done(void *user, int64_t item, double v) {
    llama_items *L = user;
    int64_t x = L->seq_of[item];
    L->lp[item] = v;
    if (--L->pending[x]) return;
    double sum = 0;
    for (int64_t k = L->off[x]; k < L->off[x + 1]; k++)
        sum += L->lp[k];
    L->out[x] = sum;
    if (L->answer) L->answer(L->sink, x, sum);
}

static int llama_score(spex_remote *r, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                       const int64_t *from, double *out, spex_answer_fn answer, void *sink) {
    if (n == 0) return SPEX_OK;
    for (int64_t x = 0; x < n; x++) {
        out[x] = NAN;
        if (from[x] < 1 || from[x] >= lens[x])
            return spex_seterr(r->ctx, SPEX_E_INVAL,
                               "sequence %lld: llama-server scores tokens after a context, "
                               "both not empty (tokens %lld.. of %lld)",
                               (long long)x, (long long)from[x], (long long)lens[x]);
    }
    int64_t m = 0;
    for (int64_t x = 0; x < n; x++)
        m += lens[x] - from[x];
    int64_t *off = malloc((size_t)(n + 1) * sizeof *off), *seq_of = malloc((size_t)m * sizeof *off),
            *pending = malloc((size_t)n * sizeof *off), *ilen = malloc((size_t)m * sizeof *off),
            *ifrom = malloc((size_t)m * sizeof *off);
    const int32_t **iseq = malloc((size_t)m * sizeof *iseq);
    double *lp = malloc((size_t)m * sizeof *lp);
    int rc = SPEX_OK;
    if (!off || !seq_of || !pending || !ilen || !ifrom || !iseq || !lp)
        rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    for (int64_t x = 0, k = 0; !rc && x < n; x++) {
        off[x] = k;
        pending[x] = lens[x] - from[x];
        for (int64_t p = from[x]; p < lens[x]; p++, k++) {
            iseq[k] = seqs[x];
            ilen[k] = p + 1;
            ifrom[k] = p;
            seq_of[k] = x;
        }
        off[x + 1] = k;
    }
    llama_items L = {off, seq_of, pending, lp, out, answer, sink};
    if (!rc)
        rc = score_core(r, SPEX_REMOTE_LLAMA_SERVER, m, iseq, ilen, ifrom, lp, llama_item_done, &L);
    free(off);
    free(seq_of);
    free(pending);
    free(ilen);
    free(ifrom);
    free(iseq);
    free(lp);
    return rc;
}

static int score_with(spex_remote *r, spex_remote_api api, int64_t n, const int32_t *const *seqs,
                      const int64_t *lens, const int64_t *from, double *out, spex_answer_fn answer,
                      void *sink) {
    return api == SPEX_REMOTE_LLAMA_SERVER
               ? llama_score(r, n, seqs, lens, from, out, answer, sink)
               : score_core(r, api, n, seqs, lens, from, out, answer, sink);
}

static int r_score(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                   const int64_t *from, double *out, spex_answer_fn answer, void *sink) {
    spex_remote *r = user;
    return score_with(r, r->api, n, seqs, lens, from, out, answer, sink);
}

void spex_remote_scorer(spex_remote *r, spex_prompt_scorer *out) {
    memset(out, 0, sizeof *out);
    out->user = r;
    out->tokenize = r_tokenize;
    out->detokenize = r_detokenize;
    out->answer = r_answer;
    out->score = r_score;
    out->harness_split = 1;
}

/* ---- connecting ---- */

typedef struct models_run {
    spex_remote *r;
    char **ids, **owners; /* per endpoint */
} models_run;

static int models_done(void *user, job *j) {
    models_run *m = user;
    return spexi_parse_models_reply(m->r->ctx, j->resp ? j->resp : "", j->len, m->r->o.model,
                                    &m->ids[j->tag], &m->owners[j->tag]);
}

/* "http://h:p/v1/" -> "http://h:p" (owned). */
static char *base_url(spex_ctx *ctx, const char *u) {
    size_t n = strlen(u);
    while (n && u[n - 1] == '/')
        n--;
    if (n >= 3 && !strncmp(u + n - 3, "/v1", 3)) n -= 3;
    char *b = spex_malloc(ctx, n + 1);
    if (b) {
        memcpy(b, u, n);
        b[n] = '\0';
    }
    return b;
}

/* The dialect probe: score one two-token sequence in the llama-server form
 * when /v1/models said llama.cpp, else in the vllm form, else the openai
 * form; the note says what answered. */
static int probe(spex_remote *r, int llamacpp) {
    int32_t *t[1] = {NULL};
    int64_t nt[1] = {0};
    const char *text[1] = {"Hello world"};
    size_t len[1] = {11};
    int rc = r_tokenize(r, 1, text, len, 1, t, nt);
    if (rc) return rc;
    if (nt[0] < 2) {
        spex_free(r->ctx, t[0]);
        return spex_seterr(r->ctx, SPEX_E_VALUE,
                           "the server tokenizes 'Hello world' into %lld "
                           "tokens: too few to probe",
                           (long long)nt[0]);
    }
    const int32_t *seqs[1] = {t[0]};
    int64_t lens[1] = {2}, from[1] = {1};
    double v;
    char first[512] = "";
    if (llamacpp) {
        rc = score_with(r, SPEX_REMOTE_LLAMA_SERVER, 1, seqs, lens, from, &v, NULL, NULL);
        spex_free(r->ctx, t[0]);
        if (rc)
            return spex_seterr(r->ctx, SPEX_E_VALUE,
                               "the server is llama.cpp's (/v1/models: owned_by llamacpp) but "
                               "scoring in its form (/completion with n_probs and logit_bias) "
                               "failed: %s",
                               spex_errmsg(r->ctx));
        r->api = SPEX_REMOTE_LLAMA_SERVER;
        return SPEX_OK;
    }
    static const spex_remote_api order[] = {SPEX_REMOTE_VLLM, SPEX_REMOTE_OPENAI};
    rc = SPEX_E_VALUE;
    for (int k = 0; k < 2 && rc; k++) {
        rc = score_with(r, order[k], 1, seqs, lens, from, &v, NULL, NULL);
        if (!rc)
            r->api = order[k];
        else if (k == 0)
            snprintf(first, sizeof first, "%s", spex_errmsg(r->ctx));
    }
    spex_free(r->ctx, t[0]);
    if (rc)
        return spex_seterr(r->ctx, SPEX_E_VALUE,
                           "no scoring dialect works on this server: prompt_logprobs: %s; "
                           "echo+logprobs: %s",
                           first, spex_errmsg(r->ctx));
    return SPEX_OK;
}

int spex_remote_open(spex_ctx *ctx, const spex_remote_opts *opts, spex_remote **out) {
    *out = NULL;
    spex_remote_opts o = opts ? *opts : spex_remote_opts_default();
    if (!o.urls || o.n_urls < 1) return spex_seterr(ctx, SPEX_E_INVAL, "no server URL given");
    if (o.concurrency < 1 || o.prompts_per_request < 1 || o.prompts_per_request > 64 ||
        !(o.timeout_s > 0) || o.max_retries < 0 || !(o.backoff_s >= 0) || o.max_failures < 1)
        return spex_seterr(ctx, SPEX_E_RANGE,
                           "remote options: concurrency >= 1, 1 <= prompts per request <= 64, "
                           "timeout > 0, retries >= 0, max failures >= 1");
    if ((unsigned)o.api > SPEX_REMOTE_LLAMA_SERVER)
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown remote dialect %d", (int)o.api);
    spex_remote *r = spex_calloc(ctx, 1, sizeof *r);
    if (!r) return SPEX_E_NOMEM;
    r->ctx = ctx;
    r->o = o;
    r->o.urls = NULL; /* not kept */
    r->o.api_key = NULL;
    r->api = o.api;
    spex_rng_seed(&r->rng, o.seed);
    int rc = SPEX_OK;
    r->ep = spex_calloc(ctx, (size_t)o.n_urls, sizeof *r->ep);
    if (!r->ep) rc = SPEX_E_NOMEM;
    for (int e = 0; !rc && e < o.n_urls; e++) {
        if (strncmp(o.urls[e], "http://", 7) && strncmp(o.urls[e], "https://", 8))
            rc = spex_seterr(ctx, SPEX_E_INVAL, "server URL '%s' is not http:// or https://",
                             o.urls[e]);
        else if (!(r->ep[e].base = base_url(ctx, o.urls[e])))
            rc = SPEX_E_NOMEM;
        r->ep[e].alive = 1;
        r->n_ep = e + 1;
    }
    if (!rc) {
        r->multi = curl_multi_init();
        r->headers = curl_slist_append(NULL, "Content-Type: application/json");
        /* no "Expect: 100-continue" on large bodies: servers that do not
         * answer it would cost a second's wait per request */
        if (r->headers) r->headers = curl_slist_append(r->headers, "Expect:");
        if (o.api_key) {
            char h[4096];
            snprintf(h, sizeof h, "Authorization: Bearer %s", o.api_key);
            struct curl_slist *l = curl_slist_append(r->headers, h);
            if (l) r->headers = l;
        }
        if (!r->multi || !r->headers) rc = spex_seterr(ctx, SPEX_E_NOMEM, "libcurl: out of memory");
    }
    /* every endpoint lists the model (or the same single one) */
    char **ids = rc ? NULL : spex_calloc(ctx, (size_t)r->n_ep, sizeof *ids);
    char **owners = rc ? NULL : spex_calloc(ctx, (size_t)r->n_ep, sizeof *owners);
    if (!rc && (!ids || !owners)) rc = SPEX_E_NOMEM;
    job *jobs = rc ? NULL : new_jobs(r, r->n_ep);
    if (!rc && !jobs) rc = SPEX_E_NOMEM;
    for (int e = 0; !rc && e < r->n_ep; e++) {
        jobs[e].path = "/v1/models";
        jobs[e].fixed_ep = e;
        jobs[e].tag = e;
    }
    models_run mr = {r, ids, owners};
    if (!rc) rc = run_jobs(r, jobs, r->n_ep, models_done, &mr);
    free_jobs(jobs, r->n_ep);
    for (int e = 1; !rc && e < r->n_ep; e++)
        if (strcmp(ids[e], ids[0]))
            rc = spex_seterr(ctx, SPEX_E_VALUE,
                             "the endpoints serve different models: %s has '%s', %s has '%s' "
                             "(a pool serves one model)",
                             r->ep[0].base, ids[0], r->ep[e].base, ids[e]);
    if (!rc) {
        r->model = ids[0];
        ids[0] = NULL;
        /* spex serve scores only the positions asked for (its extension
         * "spex_logprobs_from"); other servers every prompt position */
        int n_spex = 0;
        for (int e = 0; e < r->n_ep; e++)
            n_spex += owners[e] && !strcmp(owners[e], "spex");
        r->spex_ext = n_spex == r->n_ep;
    }
    int llamacpp = !rc && owners[0] && !strcmp(owners[0], "llamacpp");
    for (int e = 0; ids && e < r->n_ep; e++)
        spex_free(ctx, ids[e]);
    for (int e = 0; owners && e < r->n_ep; e++)
        spex_free(ctx, owners[e]);
    spex_free(ctx, ids);
    spex_free(ctx, owners);
    const char *how = "as given";
    if (!rc && r->api == SPEX_REMOTE_AUTO) {
        rc = probe(r, llamacpp);
        how = r->api == SPEX_REMOTE_VLLM     ? "probed: prompt_logprobs"
              : r->api == SPEX_REMOTE_OPENAI ? "probed: echo+logprobs"
                                             : "found: /v1/models owned_by llamacpp; probed: "
                                               "/completion n_probs + logit_bias";
    }
    if (rc) {
        spex_remote_free(r);
        return rc;
    }
    snprintf(r->note, sizeof r->note, "%d endpoint%s, model %s, %s dialect (%s)%s", r->n_ep,
             r->n_ep == 1 ? "" : "s", r->model, spex_remote_api_name(r->api), how,
             r->spex_ext ? "; spex serve: only the target's positions are scored" : "");
    *out = r;
    return SPEX_OK;
}

void spex_remote_free(spex_remote *r) {
    if (!r) return;
    for (int e = 0; r->ep && e < r->n_ep; e++)
        spex_free(r->ctx, r->ep[e].base);
    spex_free(r->ctx, r->ep);
    spex_free(r->ctx, r->model);
    if (r->multi) curl_multi_cleanup(r->multi);
    curl_slist_free_all(r->headers);
    spex_free(r->ctx, r);
}

const char *spex_remote_model(const spex_remote *r) {
    return r->model;
}

spex_remote_api spex_remote_api_used(const spex_remote *r) {
    return r->api;
}

const char *spex_remote_note(const spex_remote *r) {
    return r->note;
}

void spex_remote_counts(const spex_remote *r, int64_t *n_requests, int64_t *n_retries) {
    if (n_requests) *n_requests = r->n_requests;
    if (n_retries) *n_retries = r->n_retries;
}
