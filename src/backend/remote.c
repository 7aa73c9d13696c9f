/*
 * A language model behind inference servers (spex/remote.h): a pool of
 * endpoints driven by one libcurl multi handle.
 *
 * HOW IT WORKS. remote_pool.c runs requests (jobs) over the endpoints;
 * remote_score.c scores in each dialect; this file tokenizes through the
 * servers, detokenizes, asks for greedy answers and connects: every
 * endpoint must list the model, the dialect is probed (auto), and a pool
 * of spex serve processes gets spex's extensions (token lists, scoring
 * from the summed positions only).
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
#include "backend/remote_pool.h"
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

static int tok_done(void *user, spexi_job *j) {
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
    spexi_job *jobs = spexi_new_jobs(r, nj);
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
        jobs[q].body = spexi_json_dump(o);
        jobs[q].tag = q;
        if (!jobs[q].body) rc = spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    }
    tok_run t = {r, toks, n_toks, n, per};
    if (!rc) rc = spexi_run_jobs(r, jobs, nj, tok_done, &t);
    spexi_free_jobs(jobs, nj);
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

static int text_done(void *user, spexi_job *j) {
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
    spexi_job *jobs = spexi_new_jobs(r, 1);
    if (!jobs) {
        json_decref(o);
        return SPEX_E_NOMEM;
    }
    jobs[0].path = path;
    jobs[0].body = spexi_json_dump(o);
    text_run t = {r, NULL, completion};
    int rc = jobs[0].body ? spexi_run_jobs(r, jobs, 1, text_done, &t)
                          : spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    spexi_free_jobs(jobs, 1);
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
    json_object_set_new(o, "tokens", spexi_ids_array(tokens, n));
    json_object_set_new(o, "model", json_string(r->model));
    return one_text(r, "/detokenize", o, 0, text);
}

static int r_answer(void *user, const int32_t *tokens, int64_t n, int64_t max_tokens, char **text) {
    spex_remote *r = user;
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(r->model));
    json_object_set_new(o, "prompt", spexi_ids_array(tokens, n));
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

static int r_score(void *user, int64_t n, const int32_t *const *seqs, const int64_t *lens,
                   const int64_t *from, double *out, spex_answer_fn answer, void *sink) {
    spex_remote *r = user;
    return spexi_score_with(r, r->api, n, seqs, lens, from, out, answer, sink);
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

static int models_done(void *user, spexi_job *j) {
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
        rc = spexi_score_with(r, SPEX_REMOTE_LLAMA_SERVER, 1, seqs, lens, from, &v, NULL, NULL);
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
        rc = spexi_score_with(r, order[k], 1, seqs, lens, from, &v, NULL, NULL);
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
    spexi_job *jobs = rc ? NULL : spexi_new_jobs(r, r->n_ep);
    if (!rc && !jobs) rc = SPEX_E_NOMEM;
    for (int e = 0; !rc && e < r->n_ep; e++) {
        jobs[e].path = "/v1/models";
        jobs[e].fixed_ep = e;
        jobs[e].tag = e;
    }
    models_run mr = {r, ids, owners};
    if (!rc) rc = spexi_run_jobs(r, jobs, r->n_ep, models_done, &mr);
    spexi_free_jobs(jobs, r->n_ep);
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
    json_decref(r->reference);
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
