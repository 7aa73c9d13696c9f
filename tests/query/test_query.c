/* Query engine: de-duplication, budget, answer checks, and keeping every
 * answer from a batch that failed part-way. */
#include "test_util.h"

#include "spex/query.h"
#include "spex/rng.h"

#include <math.h>
#include <string.h>
#include <time.h>

typedef struct {
    spex_ctx *ctx;
    int64_t calls, masks_seen;
    int64_t fail_after; /* answer this many masks in total, then fail; < 0: never */
    int nan_at;         /* mask number (over the run) answered with NaN; < 0: never */
} counter;

/* f(m) = number of kept features, weighted by position. */
static double truth(const uint64_t *row, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++)
        s += spex_bits_get(row, j) * (double)(j + 1);
    return s;
}

static int eval_counter(void *user, const spex_masks *b, double *out) {
    counter *c = user;
    c->calls++;
    for (int64_t i = 0; i < spex_masks_count(b); i++) {
        if (c->fail_after >= 0 && c->masks_seen >= c->fail_after)
            return spex_seterr(c->ctx, SPEX_E_VALUE, "planted failure after %lld answers",
                               (long long)c->masks_seen);
        out[i] = c->masks_seen == c->nan_at ? NAN : truth(spex_masks_crow(b, i), spex_masks_n(b));
        c->masks_seen++;
    }
    return SPEX_OK;
}

static void test_dedup_and_budget(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    counter c = {ctx, 0, 0, -1, -1};
    spex_valuefn vf = {eval_counter, &c, NULL, 70, "counter", NULL};
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = 7;
    qo.budget = 50;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q));
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 70, 10, &m));
    spex_rng r;
    spex_rng_seed(&r, 9);
    /* 30 masks, each twice: 30 distinct */
    for (int i = 0; i < 30; i++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(m, &row));
        spex_rng_bits(&r, row, 2, 70);
        CHECK_RC(ctx, spex_masks_append(m, row));
    }
    double out[60];
    CHECK_RC(ctx, spex_query_eval(q, m, out));
    CHECK(spex_query_n_asked(q) == 30);
    CHECK(c.masks_seen == 30);
    CHECK(c.calls == 5); /* ceil(30 / 7) */
    for (int i = 0; i < 60; i++)
        CHECK_NEAR(out[i], truth(spex_masks_row(m, i), 70), 0);
    /* asking again costs nothing */
    CHECK_RC(ctx, spex_query_eval(q, m, out));
    CHECK(c.masks_seen == 30);
    /* 25 new masks exceed the remaining budget of 20: nothing is asked */
    spex_masks_clear(m);
    for (int i = 0; i < 25; i++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(m, &row));
        spex_rng_bits(&r, row, 2, 70);
    }
    CHECK(spex_query_eval(q, m, out) == SPEX_E_BUDGET);
    CHECK(strstr(spex_errmsg(ctx), "budget") != NULL);
    CHECK(c.masks_seen == 30);
    CHECK(spex_query_budget_left(q) == 20);
    spex_masks_free(m);
    spex_query_free(q);
    spex_ctx_free(ctx);
}

static void test_failure_keeps_answers(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    counter c = {ctx, 0, 0, 13, -1};
    spex_valuefn vf = {eval_counter, &c, NULL, 10, "counter", NULL};
    spex_query_opts qo = spex_query_opts_default();
    qo.batch_size = 5;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, &qo, &q));
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 10, 20, &m));
    for (int i = 0; i < 20; i++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(m, &row));
        row[0] = (uint64_t)i * 37 + 1;
    }
    double out[20];
    CHECK(spex_query_eval(q, m, out) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "planted failure") != NULL);
    /* the 13 answers received (two full batches + 3 of the third) are kept */
    CHECK(spex_query_n_asked(q) == 13);
    CHECK(spex_masks_count(spex_query_masks(q)) == 13);
    for (int i = 0; i < 13; i++)
        CHECK_NEAR(spex_query_values(q)[i], truth(spex_masks_row(m, i), 10), 0);
    /* a retry asks only the 7 missing masks */
    c.fail_after = -1;
    int64_t before = c.masks_seen;
    CHECK_RC(ctx, spex_query_eval(q, m, out));
    CHECK(c.masks_seen - before == 7);
    for (int i = 0; i < 20; i++)
        CHECK_NEAR(out[i], truth(spex_masks_row(m, i), 10), 0);
    spex_masks_free(m);
    spex_query_free(q);
    spex_ctx_free(ctx);
}

static void test_nan_is_an_error(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    counter c = {ctx, 0, 0, -1, 4};
    spex_valuefn vf = {eval_counter, &c, NULL, 10, "counter", NULL};
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &vf, NULL, &q));
    spex_masks *m;
    CHECK_RC(ctx, spex_masks_new(ctx, 10, 8, &m));
    for (int i = 0; i < 8; i++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(m, &row));
        row[0] = (uint64_t)i;
    }
    double out[8];
    CHECK(spex_query_eval(q, m, out) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "mask 4") != NULL);
    CHECK(spex_query_n_asked(q) == 7); /* the 7 finite answers are kept */
    spex_masks_free(m);
    spex_query_free(q);
    spex_ctx_free(ctx);
}

/* An in-memory spex_query_store (a plain implementation of the interface,
 * not a fault mock except where fail_at says so): rows saved, save calls. */
typedef struct {
    spex_ctx *ctx;
    spex_masks *rows;
    double vals[1024];
    int64_t n_saves;
    int64_t fail_at; /* the save call (0-based) that fails with SPEX_E_IO; < 0: none */
} mem_store;

static int mem_lookup(void *user, const spex_masks *m, double *values, unsigned char *found) {
    mem_store *st = user;
    for (int64_t i = 0; i < spex_masks_count(m); i++)
        for (int64_t j = 0; j < spex_masks_count(st->rows); j++)
            if (!memcmp(spex_masks_crow(m, i), spex_masks_crow(st->rows, j),
                        spex_masks_words(m) * sizeof(uint64_t))) {
                found[i] = 1;
                values[i] = st->vals[j];
            }
    return SPEX_OK;
}

static int mem_save(void *user, const spex_masks *m, const double *values) {
    mem_store *st = user;
    if (st->n_saves++ == st->fail_at)
        return spex_seterr(st->ctx, SPEX_E_IO, "planted store failure (disk full)");
    for (int64_t i = 0; i < spex_masks_count(m); i++) {
        int64_t k = spex_masks_count(st->rows);
        if (k >= 1024 || spex_masks_append(st->rows, spex_masks_crow(m, i)))
            return spex_seterr(st->ctx, SPEX_E_NOMEM, "test store full");
        st->vals[k] = values[i];
    }
    return SPEX_OK;
}

/* A streaming value function: answers mask by mask, and before each answer
 * records how many answers of this batch the store does not hold yet. */
typedef struct {
    mem_store *st;
    int64_t base;        /* store rows before the batch */
    int64_t max_waiting; /* most answers given but not in the store, seen at any answer */
    int64_t fail_after;  /* answers given, then an error; < 0: never */
    double pause_s;      /* sleep after the first answer (tests the time rule) */
} streamer;

static int eval_stream(void *user, const spex_masks *b, double *out, spex_answer_fn answer,
                       void *sink) {
    streamer *sv = user;
    sv->base = spex_masks_count(sv->st->rows);
    for (int64_t i = 0; i < spex_masks_count(b); i++) {
        int64_t waiting = i - (spex_masks_count(sv->st->rows) - sv->base);
        if (waiting > sv->max_waiting) sv->max_waiting = waiting;
        if (sv->fail_after >= 0 && i >= sv->fail_after)
            return spex_seterr(sv->st->ctx, SPEX_E_VALUE, "planted failure at mask %lld",
                               (long long)i);
        out[i] = truth(spex_masks_crow(b, i), spex_masks_n(b));
        if (answer) answer(sink, i, out[i]);
        if (i == 0 && sv->pause_s > 0) {
            double whole = floor(sv->pause_s);
            struct timespec ts = {(time_t)whole, (long)((sv->pause_s - whole) * 1e9)};
            nanosleep(&ts, NULL);
        }
    }
    return SPEX_OK;
}

static int eval_plain(void *user, const spex_masks *b, double *out) {
    return eval_stream(user, b, out, NULL, NULL);
}

/* One streaming test's parts, wired together (they point at each other:
 * initialise in place). */
typedef struct {
    spex_ctx *ctx;
    mem_store st;
    spex_query_store qs;
    streamer sv;
    spex_valuefn vf;
    spex_query_opts qo;
} stream_case;

static void stream_case_init(stream_case *c, int64_t fail_after, double pause_s,
                             int64_t store_fail_at) {
    c->ctx = spex_ctx_new();
    c->st = (mem_store){c->ctx, NULL, {0}, 0, store_fail_at};
    CHECK_RC(c->ctx, spex_masks_new(c->ctx, 40, 64, &c->st.rows));
    c->qs = (spex_query_store){mem_lookup, mem_save, &c->st};
    c->sv = (streamer){&c->st, 0, 0, fail_after, pause_s};
    c->vf = (spex_valuefn){eval_plain, &c->sv, NULL, 40, "streamer", eval_stream};
    c->qo = spex_query_opts_default();
    c->qo.store = &c->qs;
}

static void stream_case_free(stream_case *c) {
    spex_masks_free(c->st.rows);
    spex_ctx_free(c->ctx);
}

static void distinct_masks(spex_ctx *ctx, int64_t n, int64_t count, spex_masks **m) {
    CHECK_RC(ctx, spex_masks_new(ctx, n, count, m));
    for (int64_t i = 0; i < count; i++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(*m, &row));
        row[0] = (uint64_t)i * 2654435761u + 1;
    }
}

/* eval_stream: answers reach the store in groups of at most 64 while the
 * batch runs; a failure mid-batch leaves every answer given in the store. */
static void test_stream_commits(void **state) {
    (void)state;
    stream_case c;
    stream_case_init(&c, 150, 0, -1);
    spex_ctx *ctx = c.ctx;
    c.qo.batch_size = 300;
    spex_query *q;
    CHECK_RC(ctx, spex_query_new(ctx, &c.vf, &c.qo, &q));
    spex_masks *m;
    distinct_masks(ctx, 40, 300, &m);
    double out[300];
    CHECK(spex_query_eval(q, m, out) == SPEX_E_VALUE);
    CHECK(strstr(spex_errmsg(ctx), "planted failure at mask 150") != NULL);
    print_message("streamed: at most %lld answers waited for a commit, %lld saves\n",
                  (long long)c.sv.max_waiting, (long long)c.st.n_saves);
    CHECK(c.sv.max_waiting >= 1 && c.sv.max_waiting <= 64);
    CHECK(c.st.n_saves >= 3); /* 150 answers: at least two groups of 64 and the rest */
    CHECK(spex_masks_count(c.st.rows) == 150);
    CHECK(spex_query_n_asked(q) == 150);
    for (int64_t j = 0; j < 150; j++)
        CHECK_NEAR(c.st.vals[j], truth(spex_masks_row(c.st.rows, j), 40), 0);
    /* a new run over the same store pays only for the other 150 */
    spex_query_free(q);
    c.sv.fail_after = -1;
    CHECK_RC(ctx, spex_query_new(ctx, &c.vf, &c.qo, &q));
    CHECK_RC(ctx, spex_query_eval(q, m, out));
    CHECK(spex_query_n_cached(q) == 150);
    CHECK(spex_masks_count(c.st.rows) == 300);
    for (int i = 0; i < 300; i++)
        CHECK_NEAR(out[i], truth(spex_masks_row(m, i), 40), 0);
    /* without eval_stream the batch is saved in one transaction at its end */
    spex_query_free(q);
    spex_masks_clear(c.st.rows);
    c.st.n_saves = 0;
    c.sv.max_waiting = 0;
    c.vf.eval_stream = NULL;
    CHECK_RC(ctx, spex_query_new(ctx, &c.vf, &c.qo, &q));
    CHECK_RC(ctx, spex_query_eval(q, m, out));
    CHECK(c.st.n_saves == 1 && c.sv.max_waiting == 299);
    spex_masks_free(m);
    spex_query_free(q);
    stream_case_free(&c);
}

/* The time rule: an answer arriving a second after the last commit is
 * committed with it at once, though far fewer than 64 are waiting. */
static void test_stream_commit_after_a_second(void **state) {
    (void)state;
    stream_case c;
    stream_case_init(&c, -1, 1.05, -1);
    spex_query *q;
    CHECK_RC(c.ctx, spex_query_new(c.ctx, &c.vf, &c.qo, &q));
    spex_masks *m;
    distinct_masks(c.ctx, 40, 3, &m);
    double out[3];
    CHECK_RC(c.ctx, spex_query_eval(q, m, out));
    /* answers 0 and 1 were in the store when answer 2 was given */
    CHECK(c.sv.max_waiting <= 1);
    CHECK(spex_masks_count(c.st.rows) == 3);
    spex_masks_free(m);
    spex_query_free(q);
    stream_case_free(&c);
}

/* A store failing mid-batch: SPEX_STORE_STOP returns its error once the
 * batch is done (answers kept in the run); SPEX_STORE_CONTINUE goes on
 * without the store and reports the failure. */
static void test_stream_store_failure(void **state) {
    (void)state;
    for (int policy = 0; policy < 2; policy++) {
        stream_case c;
        stream_case_init(&c, -1, 0, 1);
        spex_ctx *ctx = c.ctx;
        c.qo.store_policy = policy ? SPEX_STORE_STOP : SPEX_STORE_CONTINUE;
        spex_query *q;
        CHECK_RC(ctx, spex_query_new(ctx, &c.vf, &c.qo, &q));
        spex_masks *m;
        distinct_masks(ctx, 40, 200, &m);
        double out[200];
        int rc = spex_query_eval(q, m, out);
        const char *msg = NULL;
        if (policy) {
            CHECK(rc == SPEX_E_IO);
            CHECK(strstr(spex_errmsg(ctx), "planted store failure") != NULL);
            CHECK(spex_query_store_error(q, NULL) == SPEX_OK);
        } else {
            CHECK(rc == SPEX_OK);
            CHECK(spex_query_store_error(q, &msg) == SPEX_E_IO);
            CHECK(strstr(msg, "planted store failure") != NULL);
        }
        CHECK(spex_query_n_asked(q) == 200);      /* every answer kept in the run */
        CHECK(spex_masks_count(c.st.rows) == 64); /* the first commit only */
        CHECK(c.st.n_saves == 2);                 /* nothing tried after the failure */
        spex_masks_free(m);
        spex_query_free(q);
        stream_case_free(&c);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_and_budget),
        cmocka_unit_test(test_failure_keeps_answers),
        cmocka_unit_test(test_nan_is_an_error),
        cmocka_unit_test(test_stream_commits),
        cmocka_unit_test(test_stream_commit_after_a_second),
        cmocka_unit_test(test_stream_store_failure),
    };
    SPEX_RUN_TESTS(tests);
}
