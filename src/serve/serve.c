/* spex serve's HTTP side (spex/serve.h) over libmicrohttpd: the daemon and
 * its pool of polling threads, request bodies gathered up to a cap (413
 * above it, the rest of the upload discarded), the optional bearer token,
 * and the hand-over to the engine thread (queue.c): a request's connection
 * is suspended while its job waits and runs, so that an HTTP thread never
 * blocks on the engine and can answer 503 when the queue is full. Its
 * callback resumes the connection, and libmicrohttpd calls on_request
 * again, which sends the reply. libmicrohttpd parses HTTP; spex parses only
 * the JSON bodies. */
#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve_int.h"

struct spex_server {
    spex_ctx *ctx;
    spex_llm *m;
    spex_serve_opts o;
    char *host, *model_id, *api_key; /* owned copies */
    struct MHD_Daemon *d;
    spexi_engine *e;
    int port;
};

spex_serve_opts spex_serve_opts_default(void) {
    spex_serve_opts o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.max_body_size = (size_t)8 << 20;
    o.max_prompts = 4096;
    o.max_connections = 64;
    o.n_http_threads = 2;
    o.max_queued = 32;
    return o;
}

/* One request: its body as it arrives, then its job for the engine. */
typedef struct conn_state {
    char *buf;
    size_t len, cap;
    int too_large;
    int queued; /* the job was handed to the engine; the reply is in once resumed */
    struct MHD_Connection *c;
    spexi_serve_job job;
} conn_state;

/* The job is queued: the connection waits, suspended (before the engine
 * can resume it). */
static void on_job_accepted(spexi_serve_job *j, void *user) {
    conn_state *st = user;
    (void)j;
    MHD_suspend_connection(st->c);
}

/* The engine thread's callback: the reply is in job.reply. */
static void on_job_done(spexi_serve_job *j, void *user) {
    conn_state *st = user;
    (void)j;
    MHD_resume_connection(st->c);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, int status, const char *body,
                                  int retry_after) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (retry_after) MHD_add_response_header(r, "Retry-After", "1");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *msg) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"code\":%d}}", msg,
             status);
    return send_reply(c, status, body, 0);
}

/* Authorization: Bearer <key>, compared over the whole length. */
static int authorized(const spex_server *s, struct MHD_Connection *c) {
    if (!s->api_key) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    const char *k = h + 7;
    size_t a = strlen(k), b = strlen(s->api_key);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < a && i < b; i++)
        diff |= (unsigned)(k[i] ^ s->api_key[i]);
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    (void)version;
    spex_server *s = cls;
    conn_state *st = *con_cls;
    if (!st) { /* first call: headers only */
        if (!(st = calloc(1, sizeof *st))) return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (st->too_large || st->len + n > s->o.max_body_size) {
            st->too_large = 1; /* keep reading, answer 413 at the end */
            return MHD_YES;
        }
        if (st->len + n + 1 > st->cap) {
            size_t cap = st->cap ? st->cap : 4096;
            while (cap < st->len + n + 1)
                cap *= 2;
            char *b = realloc(st->buf, cap);
            if (!b) return MHD_NO;
            st->buf = b;
            st->cap = cap;
        }
        memcpy(st->buf + st->len, upload, n);
        st->len += n;
        return MHD_YES;
    }
    if (st->queued) { /* resumed: the engine has answered */
        spexi_reply *rep = &st->job.reply;
        if (st->job.rc || !rep->body) return send_error(c, 500, "out of memory");
        enum MHD_Result ok = send_reply(c, rep->status, rep->body, 0);
        free(rep->body);
        rep->body = NULL;
        return ok;
    }
    if (!authorized(s, c)) return send_error(c, 401, "missing or wrong bearer token");
    if (st->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", s->o.max_body_size);
        return send_error(c, 413, msg);
    }
    spexi_reply rep = {500, NULL};
    json_t *stats = NULL;
    if (!strcmp(url, "/health")) {
        int64_t served, batches, largest, refused;
        spexi_engine_stats(s->e, &served, &batches, &largest, &refused);
        stats = json_pack("{s:I,s:I,s:I,s:I}", "spex_requests", (json_int_t)served, "spex_batches",
                          (json_int_t)batches, "spex_largest_batch", (json_int_t)largest,
                          "spex_refused", (json_int_t)refused);
    }
    if (spexi_serve_handle_static(s->m, s->model_id, method, url, stats, &rep)) {
        if (!rep.body) return send_error(c, 500, "out of memory");
        enum MHD_Result ok = send_reply(c, rep.status, rep.body, 0);
        free(rep.body);
        return ok;
    }
    st->c = c;
    st->job = (spexi_serve_job){method,      url,     st->buf ? st->buf : "", st->len,
                                {500, NULL}, SPEX_OK, on_job_accepted,        on_job_done,
                                st,          NULL};
    if (spexi_engine_submit(s->e, &st->job)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the server is busy: %lld requests wait for the engine already; retry after "
                 "1 s",
                 (long long)s->o.max_queued);
        if (spexi_reply_error(&rep, 503, msg)) return MHD_NO;
        enum MHD_Result ok = send_reply(c, 503, rep.body, 1);
        free(rep.body);
        return ok;
    }
    st->queued = 1;
    return MHD_YES;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode why) {
    (void)cls;
    (void)c;
    (void)why;
    conn_state *st = *con_cls;
    if (st) {
        free(st->buf);
        free(st->job.reply.body);
    }
    free(st);
    *con_cls = NULL;
}

static char *dup_or_null(spex_ctx *ctx, const char *s, int *rc) {
    if (!s) return NULL;
    char *d = spex_strdup(ctx, s);
    if (!d) *rc = SPEX_E_NOMEM;
    return d;
}

int spex_serve_start(spex_ctx *ctx, spex_llm *m, const spex_serve_opts *opts, spex_server **out) {
    *out = NULL;
    spex_serve_opts def = spex_serve_opts_default();
    const spex_serve_opts *o = opts ? opts : &def;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o->port);
    const char *host = o->host ? o->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "host '%s' is not a numeric IPv4 address", host);
    if (o->port < 0 || o->port > 65535)
        return spex_seterr(ctx, SPEX_E_INVAL, "port %d is outside 0..65535", o->port);
    spex_server *s = spex_calloc(ctx, 1, sizeof *s);
    if (!s) return SPEX_E_NOMEM;
    int rc = SPEX_OK;
    s->ctx = ctx;
    s->m = m;
    s->o = *o;
    if (s->o.max_body_size == 0) s->o.max_body_size = def.max_body_size;
    if (s->o.max_prompts < 1) s->o.max_prompts = def.max_prompts;
    if (s->o.max_connections < 1) s->o.max_connections = def.max_connections;
    if (s->o.n_http_threads < 1) s->o.n_http_threads = def.n_http_threads;
    if (s->o.max_queued < 1) s->o.max_queued = def.max_queued;
    s->host = dup_or_null(ctx, host, &rc);
    s->model_id = dup_or_null(ctx, o->model_id, &rc);
    s->api_key = dup_or_null(ctx, o->api_key, &rc);
    s->o.host = s->host;
    s->o.model_id = s->model_id;
    s->o.api_key = s->api_key;
    if (rc == SPEX_E_NOMEM) spex_seterr(ctx, rc, "out of memory");
    if (!rc) rc = spexi_engine_start(ctx, m, &s->o, &s->e);
    if (!rc) {
        s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                                    MHD_ALLOW_SUSPEND_RESUME,
                                (uint16_t)o->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_done, s,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                                MHD_OPTION_THREAD_POOL_SIZE, (unsigned)s->o.n_http_threads,
                                MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
        if (!s->d)
            rc = spex_seterr(ctx, SPEX_E_IO, "cannot listen on %s:%d (port taken?)", host, o->port);
    }
    if (!rc) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = di ? di->port : o->port;
    }
    if (rc) {
        spex_serve_stop(s);
        return rc;
    }
    *out = s;
    return SPEX_OK;
}

int spex_serve_port(const spex_server *s) {
    return s->port;
}

void spex_serve_stop(spex_server *s) {
    if (!s) return;
    /* no new connections; the engine answers every job queued (and resumes
     * its connection) before the daemon stops, which needs none suspended */
    if (s->d) MHD_quiesce_daemon(s->d);
    spexi_engine_stop(s->e);
    if (s->d) MHD_stop_daemon(s->d);
    spex_free(s->ctx, s->host);
    spex_free(s->ctx, s->model_id);
    spex_free(s->ctx, s->api_key);
    spex_free(s->ctx, s);
}
