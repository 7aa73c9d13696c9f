/*
 * The request pool of the remote scorer (remote_pool.h).
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
 * dropped. A 429 or 503 that carries Retry-After is a busy server (spex
 * serve's full queue), not a failure: the job waits that long and goes
 * again, counted neither against its retries nor against the endpoint, for
 * up to the request timeout in all; meanwhile the endpoint takes fewer
 * requests at once (wait_busy). Anything else (another 4xx, token ids that differ from those
 * sent) stops the list at once with a message quoting the reply. Scoring
 * sorts the sequences by their tokens before grouping them into requests,
 * so that the requests in flight share long prefixes (the servers' prefix
 * caches), and reports each answer as its request returns.
 */
#include "backend/remote_pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend/remote_int.h"

static size_t on_body(char *p, size_t size, size_t nmemb, void *user) {
    spexi_job *j = user;
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
    spexi_job *j = user;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(p, "Retry-After:", 12)) {
        char *end;
        double v = strtod(p + 12, &end); /* seconds; an HTTP date is ignored */
        if (end != p + 12 && v >= 0 && v <= 86400) {
            j->retry_after = v;
            j->has_retry_after = 1;
        }
    }
    return n;
}

static int start_job(spex_remote *r, spexi_job *j, int e) {
    char url[2048];
    snprintf(url, sizeof url, "%s%s", r->ep[e].base, j->path);
    j->h = curl_easy_init();
    if (!j->h) return spex_seterr(r->ctx, SPEX_E_NOMEM, "curl_easy_init failed");
    j->len = 0;
    j->too_big = 0;
    j->retry_after = 0;
    j->has_retry_after = 0;
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

static void finish_handle(spex_remote *r, spexi_job *j) {
    if (!j->h) return;
    curl_multi_remove_handle(r->multi, j->h);
    curl_easy_cleanup(j->h);
    j->h = NULL;
    if (j->running) r->ep[j->ep].outstanding--;
    j->running = 0;
}

/* The endpoint for a job: its fixed one, else the live one with a free
 * slot and the fewest outstanding requests; -1 when none is free now. */
static int pick_endpoint(const spex_remote *r, const spexi_job *j) {
    if (j->fixed_ep >= 0)
        return r->ep[j->fixed_ep].outstanding < r->o.concurrency - r->ep[j->fixed_ep].busy_cut
                   ? j->fixed_ep
                   : -1;
    int best = -1;
    for (int e = 0; e < r->n_ep; e++) {
        const spexi_endpoint *p = &r->ep[e];
        if (!p->alive || p->outstanding >= r->o.concurrency - p->busy_cut) continue;
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
static int retry(spex_remote *r, spexi_job *j, const char *msg) {
    spexi_endpoint *p = &r->ep[j->ep];
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

/* A busy server's refusal (429/503 with Retry-After): another try after
 * the time it asks for, unless it has refused the job for longer than the
 * request timeout. The endpoint's slots shrink to the requests it still
 * holds (at least one), growing back by one per reply, so that the other
 * jobs do not all run into the same refusal at once. */
static int wait_busy(spex_remote *r, spexi_job *j, const char *msg) {
    spexi_endpoint *p = &r->ep[j->ep];
    int keep = p->outstanding > 1 ? p->outstanding : 1;
    if (r->o.concurrency - keep > p->busy_cut) p->busy_cut = r->o.concurrency - keep;
    double now = spex_now();
    if (j->busy_since == 0) j->busy_since = now;
    if (now - j->busy_since > r->o.timeout_s)
        return spex_seterr(r->ctx, SPEX_E_IO, "%s%s: %s (busy for more than %g s)",
                           r->ep[j->ep].base, j->path, msg, r->o.timeout_s);
    double d = j->retry_after < r->o.max_backoff_s ? j->retry_after : r->o.max_backoff_s;
    j->not_before = now + d;
    r->n_retries++;
    return SPEX_OK;
}

/* A reply is in: classify it. */
static int handle_reply(spex_remote *r, spexi_job *j, CURLcode cc, spexi_job_done_fn done,
                        void *user) {
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
        if ((status == 429 || status == 503) && j->has_retry_after) return wait_busy(r, j, msg);
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
    if (r->ep[e].busy_cut > 0) r->ep[e].busy_cut--;
    j->done = 1;
    return SPEX_OK;
}

/* Runs every job to its end (or the first error that stops the list). */
int spexi_run_jobs(spex_remote *r, spexi_job *jobs, int64_t n, spexi_job_done_fn done, void *user) {
    int rc = SPEX_OK;
    int64_t left = n;
    while (!rc && left > 0) {
        double now = spex_now(), wake = now + 0.1;
        for (int64_t i = 0; i < n && !rc; i++) {
            spexi_job *j = &jobs[i];
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
            spexi_job *j = NULL;
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

void spexi_free_jobs(spexi_job *jobs, int64_t n) {
    for (int64_t i = 0; jobs && i < n; i++) {
        free(jobs[i].body);
        free(jobs[i].resp);
    }
    free(jobs);
}

spexi_job *spexi_new_jobs(spex_remote *r, int64_t n) {
    spexi_job *jobs = calloc((size_t)(n > 0 ? n : 1), sizeof *jobs);
    if (!jobs) spex_seterr(r->ctx, SPEX_E_NOMEM, "out of memory");
    for (int64_t i = 0; jobs && i < n; i++)
        jobs[i].fixed_ep = -1;
    return jobs;
}

/* json_dumps of o (stolen), or NULL. */
char *spexi_json_dump(json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

json_t *spexi_ids_array(const int32_t *t, int64_t n) {
    json_t *a = json_array();
    for (int64_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_integer(t[i]));
    return a;
}
