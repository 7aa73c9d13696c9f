/*
 * The query engine: batching, de-duplication, budget, answer checks, the
 * persistent store and progress (DESIGN.md §1). Every answer is recorded the
 * moment a batch returns, so nothing paid for is lost when a later batch
 * fails or the process is killed.
 *
 * HOW IT WORKS: `seen` holds every distinct mask answered (rows in the order
 * asked) with `vals`; `tab` (core/hash_int.h) maps a packed row to its row
 * number. An eval call
 *   1. looks every row up, collects the distinct unseen ones as pending rows
 *      at the end of `seen` (deduplicating within the call with the same
 *      table, a pending row's value is NaN), and checks the budget, which
 *      counts every distinct mask of the run wherever its answer comes from;
 *   2. cache-first: asks the store for the pending rows (in chunks of
 *      batch_size); rows found there are answered, the rest go to `todo`;
 *   3. sends `todo` to the value function in batches of batch_size, and
 *      after each batch saves its finite answers to the store in one
 *      transaction, before the next batch is asked: a kill loses at most
 *      the batch in flight, and a re-run finds the rest in step 2.
 *      A value function with eval_stream reports answers as they arrive;
 *      the sink (stream_answer) collects them and commits them to the
 *      store once QUERY_COMMIT_ANSWERS have gathered or QUERY_COMMIT_S has
 *      passed since the last commit, whichever comes first, so a kill in
 *      the middle of a long batch loses fewer than QUERY_COMMIT_ANSWERS.
 *      The sink runs on the backend's thread inside eval_stream; the time
 *      rule is checked when an answer arrives (the engine has no thread of
 *      its own), so an answer waits at most until the next one arrives,
 *      63 more arrive, or the batch ends. The rest of the batch is saved
 *      as before when eval_stream returns.
 * A store failure under SPEX_STORE_CONTINUE is recorded once and the store
 * is left alone for the rest of the run; under SPEX_STORE_STOP it is
 * returned like a value-function failure (answers so far are kept).
 */
#include "spex/query.h"

#include "core/hash_int.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Streamed answers are committed in groups: at most this many wait. */
#define QUERY_COMMIT_ANSWERS 64
/* ... or after this many seconds since the last commit. */
#define QUERY_COMMIT_S 1.0

struct spex_query {
    spex_ctx *ctx;
    const spex_valuefn *vf;
    spex_query_opts opts;
    spex_masks *seen; /* distinct masks answered or pending */
    double *vals;     /* (cap) value per seen row; NaN while pending */
    int64_t vals_cap;
    spexi_hash tab;   /* packed row -> row number in seen */
    int64_t n_asked;  /* distinct masks answered (value function or store) */
    int64_t n_cached; /* of those, from the store */
    double seconds;
    const spex_query_store *store; /* NULL when none or after a failure */
    int store_rc;                  /* first failure under SPEX_STORE_CONTINUE */
    char store_msg[512];
};

spex_query_opts spex_query_opts_default(void) {
    spex_query_opts o = {256, 0, NULL, SPEX_STORE_CONTINUE};
    return o;
}

int spex_query_new(spex_ctx *ctx, const spex_valuefn *vf, const spex_query_opts *opts,
                   spex_query **out) {
    *out = NULL;
    if (!vf || !vf->eval || vf->n < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "query engine: no value function");
    spex_query *q = spex_calloc(ctx, 1, sizeof *q);
    if (!q) return SPEX_E_NOMEM;
    q->ctx = ctx;
    q->vf = vf;
    q->opts = opts ? *opts : spex_query_opts_default();
    if (q->opts.batch_size < 1) q->opts.batch_size = 256;
    q->store = q->opts.store;
    if (q->store && (!q->store->lookup || !q->store->save)) {
        spex_free(ctx, q);
        return spex_seterr(ctx, SPEX_E_INVAL, "query engine: a store needs lookup and save");
    }
    int rc = spex_masks_new(ctx, vf->n, 64, &q->seen);
    if (!rc) rc = spexi_hash_init(ctx, &q->tab, 64);
    if (rc) {
        spex_query_free(q);
        return rc;
    }
    *out = q;
    return SPEX_OK;
}

void spex_query_free(spex_query *q) {
    if (!q) return;
    spex_masks_free(q->seen);
    spex_free(q->ctx, q->vals);
    spexi_hash_free(q->ctx, &q->tab);
    spex_free(q->ctx, q);
}

int64_t spex_query_n_asked(const spex_query *q) {
    return q->n_asked;
}
int64_t spex_query_n_cached(const spex_query *q) {
    return q->n_cached;
}
int spex_query_store_error(const spex_query *q, const char **msg) {
    if (msg) *msg = q->store_rc ? q->store_msg : "";
    return q->store_rc;
}
double spex_query_seconds(const spex_query *q) {
    return q->seconds;
}
const spex_masks *spex_query_masks(const spex_query *q) {
    return q->seen;
}
const double *spex_query_values(const spex_query *q) {
    return q->vals;
}

int64_t spex_query_budget_left(const spex_query *q) {
    if (q->opts.budget <= 0) return INT64_MAX;
    return q->opts.budget > q->n_asked ? q->opts.budget - q->n_asked : 0;
}

static int row_eq(const void *user, int64_t id, const void *key) {
    const spex_masks *seen = user;
    return !memcmp(spex_masks_crow(seen, id), key, spex_masks_words(seen) * sizeof(uint64_t));
}

static uint64_t row_hash(const void *user, int64_t id) {
    const spex_masks *seen = user;
    return spexi_hash_words(spex_masks_crow(seen, id), spex_masks_words(seen));
}

/* Row number of `row` in seen, or -1; *slot, *hash for add_pending. */
static int64_t find(const spex_query *q, const uint64_t *row, size_t *slot, uint64_t *hash) {
    *hash = spexi_hash_words(row, spex_masks_words(q->seen));
    return spexi_hash_find(&q->tab, *hash, row_eq, q->seen, row, slot);
}

/* Adds row as pending; returns its row number in *at. */
static int add_pending(spex_query *q, const uint64_t *row, size_t slot, uint64_t hash,
                       int64_t *at) {
    int64_t i = spex_masks_count(q->seen);
    if (i > SPEXI_HASH_MAX_ID)
        return spex_seterr(q->ctx, SPEX_E_RANGE, "more than 4 billion distinct masks in one run");
    /* vals grows first: a row in `seen` must always have its vals entry
     * (drop_pending reads it after a failure here) */
    if (i >= q->vals_cap) {
        int64_t cap = q->vals_cap < 64 ? 64 : q->vals_cap * 2;
        double *v = spex_realloc(q->ctx, q->vals, (size_t)cap, sizeof *v);
        if (!v) return SPEX_E_NOMEM;
        q->vals = v;
        q->vals_cap = cap;
    }
    /* the table first: growing it rehashes rows 0..i-1 only */
    int rc = spexi_hash_add(q->ctx, &q->tab, slot, hash, i, row_hash, q->seen);
    if (!rc) rc = spex_masks_append(q->seen, row);
    if (rc) return rc; /* a row in the table but not in seen: drop_pending rebuilds */
    q->vals[i] = NAN;
    *at = i;
    return SPEX_OK;
}

/* Drops pending rows at the end of `seen` (those never answered), keeping
 * every answered one; the table is rebuilt so lookups stay valid. */
static void drop_pending(spex_query *q, int64_t first_pending) {
    spex_masks *s = q->seen;
    int64_t k = first_pending;
    for (int64_t i = first_pending; i < spex_masks_count(s); i++) {
        if (isnan(q->vals[i])) continue;
        if (k != i) {
            memmove(spex_masks_row(s, k), spex_masks_row(s, i),
                    spex_masks_words(s) * sizeof(uint64_t));
            q->vals[k] = q->vals[i];
        }
        k++;
    }
    spex_masks_truncate(s, k);
    /* fewer rows: in place, cannot fail */
    spexi_hash_rebuild(q->ctx, &q->tab, k, row_hash, s);
}

/* A store call failed with rc: returns rc to stop (SPEX_STORE_STOP), or
 * records it and turns the store off (SPEX_STORE_CONTINUE). */
static int store_failed(spex_query *q, int rc) {
    if (rc == SPEX_OK) return SPEX_OK;
    if (q->opts.store_policy == SPEX_STORE_STOP) {
        spex_errprefix(q->ctx, "query cache");
        return rc;
    }
    if (!q->store_rc) {
        q->store_rc = rc;
        snprintf(q->store_msg, sizeof q->store_msg, "%s", spex_errmsg(q->ctx));
    }
    q->store = NULL;
    return SPEX_OK;
}

/* Step 2: looks rows first_new..first_new+n_new-1 of `seen` up in the store;
 * answers those found, lists the others in todo (*n_todo of them). */
static int from_store(spex_query *q, int64_t first_new, int64_t n_new, int64_t *todo,
                      int64_t *n_todo) {
    spex_ctx *ctx = q->ctx;
    int64_t k = 0, bs = q->opts.batch_size, start = 0;
    spex_masks *chunk = NULL;
    double *vals = NULL;
    unsigned char *found = NULL;
    int rc = SPEX_OK;
    if (q->store && n_new) {
        int64_t cap = bs < n_new ? bs : n_new;
        rc = spex_masks_new(ctx, q->vf->n, cap, &chunk);
        if (!rc) vals = spex_malloc(ctx, (size_t)cap * sizeof *vals);
        if (!rc) found = spex_malloc(ctx, (size_t)cap);
        if (!rc && (!vals || !found)) rc = SPEX_E_NOMEM;
    }
    for (; !rc && q->store && start < n_new; start += bs) {
        int64_t len = n_new - start < bs ? n_new - start : bs;
        spex_masks_clear(chunk);
        for (int64_t i = 0; !rc && i < len; i++)
            rc = spex_masks_append(chunk, spex_masks_crow(q->seen, first_new + start + i));
        if (rc) break;
        for (int64_t i = 0; i < len; i++)
            found[i] = 0;
        double t_look = spex_now();
        int src = q->store->lookup(q->store->user, chunk, vals, found);
        q->seconds += spex_now() - t_look;
        if (src) {
            rc = store_failed(q, src);
            break; /* stopped, or the store is off: the rest are todo */
        }
        for (int64_t i = 0; i < len; i++) {
            int64_t row = first_new + start + i;
            if (found[i] && isfinite(vals[i])) {
                q->vals[row] = vals[i];
                q->n_asked++;
                q->n_cached++;
            } else {
                todo[k++] = row;
            }
        }
    }
    for (; start < n_new; start++)
        todo[k++] = first_new + start;
    *n_todo = k;
    spex_masks_free(chunk);
    spex_free(ctx, vals);
    spex_free(ctx, found);
    return rc;
}

/* One batch of a streaming value function: answers not yet in the store
 * gather in keep/kept until commit_pending saves them. */
typedef struct stream_sink {
    spex_query *q;
    const spex_masks *batch;
    spex_masks *keep; /* (len) rows waiting for a commit */
    double *kept;     /* (len) their answers */
    int64_t n_kept;
    unsigned char *stored; /* (len) 1: batch row i went to keep already */
    int64_t len;
    int64_t done0, total; /* progress: answers before this batch, and in all */
    int64_t n_streamed;   /* answers streamed in this batch */
    int in_eval;          /* 1 while eval_stream runs (its time is counted) */
    double last_commit;   /* spex_now() of the last commit (or batch start) */
    int rc;               /* a store failure that stops (SPEX_STORE_STOP) */
    char msg[512];        /* its message: the value function may overwrite ctx's */
} stream_sink;

/* Saves what keep holds in one transaction (store_failed decides on errors). */
static int commit_pending(stream_sink *s) {
    spex_query *q = s->q;
    int rc = SPEX_OK;
    if (q->store && s->n_kept) {
        spex_masks_truncate(s->keep, s->n_kept); /* an append that failed for memory */
        double t = spex_now();
        rc = store_failed(q, q->store->save(q->store->user, s->keep, s->kept));
        /* a commit inside eval_stream is in the batch's time already */
        if (!s->in_eval) q->seconds += spex_now() - t;
        s->last_commit = spex_now();
    }
    spex_masks_clear(s->keep);
    s->n_kept = 0;
    return rc;
}

/* Queues batch row i (answered v) for the store, once. */
static void keep_answer(stream_sink *s, int64_t i, double v) {
    if (s->stored[i] || !isfinite(v)) return; /* a bad value is reported after the batch */
    s->stored[i] = 1;
    if (!spex_masks_append(s->keep, spex_masks_crow(s->batch, i))) s->kept[s->n_kept++] = v;
}

/* spex_answer_fn given to eval_stream. */
static void stream_answer(void *sink, int64_t i, double v) {
    stream_sink *s = sink;
    if (i < 0 || i >= s->len || s->rc || !s->q->store) return;
    if (!s->stored[i]) s->n_streamed++;
    keep_answer(s, i, v);
    if (s->n_kept >= QUERY_COMMIT_ANSWERS || spex_now() - s->last_commit >= QUERY_COMMIT_S) {
        int rc = commit_pending(s);
        if (rc) {
            s->rc = rc;
            snprintf(s->msg, sizeof s->msg, "%s", spex_errmsg(s->q->ctx));
        }
        /* progress inside a long batch (MPI batches are minutes) */
        spex_ctx_progress(s->q->ctx, s->done0 + s->n_streamed, s->total);
    }
}

int spex_query_eval(spex_query *q, const spex_masks *masks, double *out) {
    spex_ctx *ctx = q->ctx;
    int64_t count = spex_masks_count(masks);
    if (spex_masks_n(masks) != q->vf->n)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "masks have n = %lld features, value function has %lld",
                           (long long)spex_masks_n(masks), (long long)q->vf->n);
    int64_t first_new = spex_masks_count(q->seen);
    int64_t *where = spex_malloc(ctx, (size_t)(count ? count : 1) * sizeof *where);
    double *vals = NULL;
    spex_masks *batch = NULL;
    int rc = where ? SPEX_OK : SPEX_E_NOMEM;
    /* 1. look up every row; append the unseen ones as pending */
    for (int64_t i = 0; !rc && i < count; i++) {
        const uint64_t *row = spex_masks_crow(masks, i);
        size_t slot;
        uint64_t hash;
        int64_t at = find(q, row, &slot, &hash);
        if (at >= 0)
            where[i] = at;
        else
            rc = add_pending(q, row, slot, hash, &where[i]);
    }
    int64_t n_new = spex_masks_count(q->seen) - first_new;
    if (!rc && n_new > spex_query_budget_left(q))
        rc = spex_seterr(ctx, SPEX_E_BUDGET,
                         "%lld new model queries needed but only %lld of the budget of %lld are "
                         "left",
                         (long long)n_new, (long long)spex_query_budget_left(q),
                         (long long)q->opts.budget);
    /* 2. the store first */
    int64_t *todo = NULL, n_todo = 0;
    if (!rc) {
        todo = spex_malloc(ctx, (size_t)(n_new ? n_new : 1) * sizeof *todo);
        rc = todo ? from_store(q, first_new, n_new, todo, &n_todo) : SPEX_E_NOMEM;
    }
    /* 3. ask the rest in batches; save answers as they arrive (eval_stream)
     * or when the batch returns */
    int64_t bs = q->opts.batch_size, cap = bs < n_todo ? bs : n_todo;
    stream_sink sink = {0};
    sink.q = q;
    if (!rc && n_todo) {
        rc = spex_masks_new(ctx, q->vf->n, cap, &batch);
        if (!rc) rc = spex_masks_new(ctx, q->vf->n, cap, &sink.keep);
        if (!rc) vals = spex_malloc(ctx, (size_t)cap * sizeof *vals);
        if (!rc) sink.kept = spex_malloc(ctx, (size_t)cap * sizeof *sink.kept);
        if (!rc) sink.stored = spex_malloc(ctx, (size_t)cap);
        if (!rc && (!vals || !sink.kept || !sink.stored)) rc = SPEX_E_NOMEM;
    }
    for (int64_t start = 0; !rc && start < n_todo; start += bs) {
        int64_t len = n_todo - start < bs ? n_todo - start : bs;
        spex_masks_clear(batch);
        spex_masks_clear(sink.keep);
        for (int64_t i = 0; !rc && i < len; i++)
            rc = spex_masks_append(batch, spex_masks_crow(q->seen, todo[start + i]));
        if (rc) break;
        for (int64_t i = 0; i < len; i++) {
            vals[i] = NAN;
            sink.stored[i] = 0;
        }
        sink.batch = batch;
        sink.len = len;
        sink.n_kept = 0;
        sink.done0 = start;
        sink.total = n_todo;
        sink.n_streamed = 0;
        sink.rc = SPEX_OK;
        double t0 = spex_now();
        sink.last_commit = t0;
        sink.in_eval = 1;
        int vrc = q->vf->eval_stream && q->store
                      ? q->vf->eval_stream(q->vf->user, batch, vals, stream_answer, &sink)
                      : q->vf->eval(q->vf->user, batch, vals);
        sink.in_eval = 0;
        q->seconds += spex_now() - t0;
        /* keep every finite answer, even from a failed batch; those the sink
         * has not committed yet are committed now */
        int64_t bad = -1;
        for (int64_t i = 0; i < len; i++) {
            if (isfinite(vals[i])) {
                q->vals[todo[start + i]] = vals[i];
                q->n_asked++;
                if (q->store) keep_answer(&sink, i, vals[i]);
            } else if (bad < 0 && vrc == SPEX_OK) {
                bad = i;
            }
        }
        /* the value error wins over the store's: keep its message */
        char saved[512];
        snprintf(saved, sizeof saved, "%s", vrc ? spex_errmsg(ctx) : sink.msg);
        int src = sink.rc ? sink.rc : commit_pending(&sink);
        if (vrc) {
            spex_seterr(ctx, vrc, "%s", saved);
            rc = vrc;
        } else if (sink.rc) {
            rc = spex_seterr(ctx, sink.rc, "%s", saved);
        } else if (src != SPEX_OK) {
            rc = src;
        } else if (bad >= 0) {
            rc = spex_seterr(ctx, SPEX_E_VALUE,
                             "value function '%s' returned %g for mask %lld of this run (a value "
                             "must be a finite number)",
                             q->vf->name ? q->vf->name : "?", vals[bad],
                             (long long)todo[start + bad]);
        }
        spex_ctx_progress(ctx, start + len, n_todo);
    }
    /* 4. answers out; on failure forget pending rows so a retry asks them */
    if (!rc) {
        for (int64_t i = 0; i < count; i++)
            out[i] = q->vals[where[i]];
    } else if (where) {
        drop_pending(q, first_new);
    }
    spex_masks_free(batch);
    spex_masks_free(sink.keep);
    spex_free(ctx, vals);
    spex_free(ctx, sink.kept);
    spex_free(ctx, sink.stored);
    spex_free(ctx, todo);
    spex_free(ctx, where);
    return rc;
}
