/* spex serve's engine thread and the bounded queue in front of it
 * (serve_int.h). The model and the server's spex_ctx are used by this one
 * thread only (neither is thread-safe); the HTTP threads of serve.c hand it
 * jobs and are called back with the replies.
 *
 * HOW IT WORKS
 * spexi_engine_submit appends a job under the mutex, unless max_queued jobs
 * wait already (the caller answers 503 with Retry-After). The thread sleeps
 * on a condition variable until jobs wait, then takes all of them at once,
 * one batch: the completion requests among them are prepared (parsed,
 * tokenized, generated), the sequences of all of them scored by one
 * spex_llm_token_logprobs_batch call (it visits them in token order, so
 * neighbours from different requests share their KV-cache prefix, and it
 * gives the same bits as one sequence at a time, so a request's numbers do
 * not depend on its neighbours), and each finished into its reply; other
 * requests (tokenize, detokenize, and ablated completions, whose ablation
 * must not reach other requests) run one at a time. Then each job's done
 * callback fires. Stopping drains the queue first: every job submitted
 * gets its reply. */
#include <pthread.h>
#include <string.h>

#include "serve/serve_int.h"

struct spexi_engine {
    spex_ctx *ctx;
    spex_llm *m;
    const spex_serve_opts *o; /* the server's (outlives the engine) */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu: */
    spexi_serve_job *head, *tail;
    int64_t n_queued;
    int stop;
    int64_t served, batches, largest, refused;
    spexi_means_cache means; /* the engine thread's only */
};

static int is_completion(const spexi_serve_job *j) {
    return !strcmp(j->method, "POST") && !strcmp(j->path, "/v1/completions");
}

/* Scores every prepared request's sequences in one engine call: a first
 * pass counts them, a second gathers them. */
static int score_together(spexi_engine *e, spexi_comp **comps, int64_t n) {
    const int32_t **seqs = NULL;
    int64_t *lens = NULL, *from = NULL, total = 0;
    double **dst = NULL;
    int rc = SPEX_OK;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        int64_t at = 0;
        for (int64_t k = 0; k < n; k++) {
            int64_t nb;
            const int32_t *const *s;
            const int64_t *l, *f;
            double *const *d;
            if (!comps[k]) continue;
            spexi_comp_seqs(comps[k], &nb, &s, &l, &f, &d);
            if (pass == 1) {
                memcpy(seqs + at, s, (size_t)nb * sizeof *seqs);
                memcpy(lens + at, l, (size_t)nb * sizeof *lens);
                memcpy(from + at, f, (size_t)nb * sizeof *from);
                memcpy(dst + at, d, (size_t)nb * sizeof *dst);
            }
            at += nb;
        }
        total = at;
        if (pass == 1 || !total) break;
        seqs = spex_malloc(e->ctx, (size_t)total * sizeof *seqs);
        lens = spex_malloc(e->ctx, (size_t)total * sizeof *lens);
        from = spex_malloc(e->ctx, (size_t)total * sizeof *from);
        dst = spex_malloc(e->ctx, (size_t)total * sizeof *dst);
        rc = seqs && lens && from && dst ? SPEX_OK : SPEX_E_NOMEM;
    }
    if (!rc && total) rc = spex_llm_token_logprobs_batch(e->m, total, seqs, lens, from, dst);
    spex_free(e->ctx, seqs);
    spex_free(e->ctx, lens);
    spex_free(e->ctx, from);
    spex_free(e->ctx, dst);
    return rc;
}

/* Runs n jobs (a list from head) and fires their callbacks. */
static void run_batch(spexi_engine *e, spexi_serve_job *head, int64_t n) {
    spexi_comp **comps = spex_calloc(e->ctx, (size_t)n, sizeof *comps);
    int64_t k = 0;
    for (spexi_serve_job *j = head; j; j = j->next, k++) {
        j->reply.status = 500;
        j->reply.body = NULL;
        if (comps && is_completion(j)) {
            comps[k] = spexi_comp_prepare(e->ctx, e->m, e->o->model_id, e->o, &e->means, j->body,
                                          j->len, &j->reply);
            j->rc = comps[k] || j->reply.body ? SPEX_OK : SPEX_E_NOMEM;
        } else { /* also every job when even comps could not be had */
            j->rc = spexi_serve_handle(e->ctx, e->m, e->o->model_id, e->o, j->method, j->path,
                                       j->body, j->len, &j->reply);
        }
    }
    if (comps) {
        int rc = score_together(e, comps, n);
        k = 0;
        for (spexi_serve_job *j = head; j; j = j->next, k++)
            if (comps[k]) j->rc = spexi_comp_finish(e->ctx, e->m, comps[k], rc, &j->reply);
    }
    spex_free(e->ctx, comps);
    while (head) { /* the callback may free the job: next first */
        spexi_serve_job *next = head->next;
        head->done(head, head->user);
        head = next;
    }
}

static void *engine_main(void *arg) {
    spexi_engine *e = arg;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->head && !e->stop)
            pthread_cond_wait(&e->cv, &e->mu);
        spexi_serve_job *jobs = e->head;
        int64_t n = e->n_queued;
        e->head = e->tail = NULL;
        e->n_queued = 0;
        pthread_mutex_unlock(&e->mu);
        if (!jobs) break; /* stopping, and nothing left */
        run_batch(e, jobs, n);
        pthread_mutex_lock(&e->mu);
        e->served += n;
        e->batches++;
        if (n > e->largest) e->largest = n;
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

int spexi_engine_start(spex_ctx *ctx, spex_llm *m, const spex_serve_opts *opts,
                       spexi_engine **out) {
    *out = NULL;
    spexi_engine *e = spex_calloc(ctx, 1, sizeof *e);
    if (!e) return spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    e->ctx = ctx;
    e->m = m;
    e->o = opts;
    if (pthread_mutex_init(&e->mu, NULL)) {
        spex_free(ctx, e);
        return spex_seterr(ctx, SPEX_E_NOMEM, "cannot create the engine's mutex");
    }
    if (pthread_cond_init(&e->cv, NULL)) {
        pthread_mutex_destroy(&e->mu);
        spex_free(ctx, e);
        return spex_seterr(ctx, SPEX_E_NOMEM, "cannot create the engine's condition variable");
    }
    if (pthread_create(&e->thread, NULL, engine_main, e)) {
        pthread_cond_destroy(&e->cv);
        pthread_mutex_destroy(&e->mu);
        spex_free(ctx, e);
        return spex_seterr(ctx, SPEX_E_NOMEM, "cannot start the engine thread");
    }
    *out = e;
    return SPEX_OK;
}

int spexi_engine_submit(spexi_engine *e, spexi_serve_job *j) {
    pthread_mutex_lock(&e->mu);
    int full = e->stop || e->n_queued >= e->o->max_queued;
    if (full) {
        e->refused++;
    } else {
        if (j->accepted) j->accepted(j, j->user);
        j->next = NULL;
        if (e->tail)
            e->tail->next = j;
        else
            e->head = j;
        e->tail = j;
        e->n_queued++;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return full;
}

void spexi_engine_stats(spexi_engine *e, int64_t *served, int64_t *batches, int64_t *largest,
                        int64_t *refused) {
    pthread_mutex_lock(&e->mu);
    *served = e->served;
    *batches = e->batches;
    *largest = e->largest;
    *refused = e->refused;
    pthread_mutex_unlock(&e->mu);
}

void spexi_engine_stop(spexi_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->stop = 1;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    spexi_means_cache_clear(e->ctx, &e->means);
    spex_free(e->ctx, e);
}
