/* Query engine: de-duplication, budget, answer checks, and keeping every
 * answer from a batch that failed part-way. */
#include "test_util.h"

#include "spex/query.h"
#include "spex/rng.h"

#include <string.h>

typedef struct {
    spex_ctx *ctx;
    int64_t calls, masks_seen;
    int64_t fail_after; /* answer this many masks in total, then fail; < 0: never */
    int nan_at;         /* mask number (over the run) answered with NaN; < 0: never */
} counter;

/* f(m) = number of kept features, weighted by position. */
static double truth(const uint64_t *row, int64_t n) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += spex_bits_get(row, j) * (double)(j + 1);
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
    for (int i = 0; i < 60; i++) CHECK_NEAR(out[i], truth(spex_masks_row(m, i), 70), 0);
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
    for (int i = 0; i < 20; i++) CHECK_NEAR(out[i], truth(spex_masks_row(m, i), 10), 0);
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dedup_and_budget),
        cmocka_unit_test(test_failure_keeps_answers),
        cmocka_unit_test(test_nan_is_an_error),
    };
    SPEX_RUN_TESTS(tests);
}
