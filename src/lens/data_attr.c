/*
 * The data-attribution value function (spex/data.h, DESIGN.md §1): features
 * are training rows or groups of rows; a mask keeps a subset; the learner is
 * re-trained on it from scratch; the value is the model's output on one test
 * row (the true class's margin, its probability, its log-loss, or whether it
 * is right), or the mean of that over many test rows (a task).
 *
 * HOW IT WORKS
 * Features map to row lists (CSR: feat_off, feat_rows): one row each, G
 * contiguous blocks (group g = rows [g·N/G, (g+1)·N/G)), or the data set's own
 * group column (rows in file order). A batch of masks is split over
 * W = min(threads, masks) worker threads, worker w taking masks w, w+W, ...;
 * each worker has its own context and scratch, and each answer depends only
 * on its mask (the kept rows, in increasing order, and the fixed learner
 * settings), so results are bit-identical for any thread count. A task of R
 * test rows trains once per mask and scores the R rows with that one model
 * (spex_learn_fit_predict_many); the value is the sum of the R row values in
 * row order, divided by R, so one row gives exactly its value. A mask that
 * fails gets NaN; the error of the first failing mask (in batch order) is
 * reported, and the answers of all others are kept (value.h contract).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "spex/data.h"
#include "spex/masks.h"

spex_data_attr_opts spex_data_attr_opts_default(void) {
    spex_data_attr_opts o;
    memset(&o, 0, sizeof o);
    o.learn = spex_learn_opts_default();
    o.value = SPEX_DATA_MARGIN;
    o.standardize = 1;
    return o;
}

int spex_data_value_parse(spex_ctx *ctx, const char *name, spex_data_value *out) {
    if (!strcmp(name, "margin"))
        *out = SPEX_DATA_MARGIN;
    else if (!strcmp(name, "prob"))
        *out = SPEX_DATA_PROB;
    else if (!strcmp(name, "logloss"))
        *out = SPEX_DATA_LOGLOSS;
    else if (!strcmp(name, "accuracy"))
        *out = SPEX_DATA_ACCURACY;
    else
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "unknown value '%s' (expected margin, prob, logloss or accuracy)", name);
    return SPEX_OK;
}

const char *spex_data_value_name(spex_data_value v) {
    static const char *const names[] = {"margin", "prob", "logloss", "accuracy"};
    return (int)v >= 0 && (int)v < (int)(sizeof names / sizeof *names) ? names[v] : "?";
}

void spex_data_group_range(int64_t n_rows, int64_t n_groups, int64_t j, int64_t *begin,
                           int64_t *end) {
    if (n_groups <= 0) {
        *begin = j;
        *end = j + 1;
        return;
    }
    *begin = j * n_rows / n_groups;
    *end = (j + 1) * n_rows / n_groups;
}

typedef struct data_attr {
    spex_ctx *ctx;
    const spex_dataset *train;
    spex_data_attr_opts o;
    int64_t n;          /* features */
    int64_t *feat_off;  /* n + 1 */
    int64_t *feat_rows; /* train->n_rows */
    int64_t n_x;        /* test rows of the task (1 for one row) */
    double *x;          /* (n_x, n_features) the test rows */
    int *y;             /* n_x their classes */
    double *mu, *sd;    /* standardisation or NULL */
    char name[64];
} data_attr;

/* The value of class scores s (K) for true class y. */
static double score_value(spex_data_value v, const double *s, int K, int y) {
    double best = -INFINITY, m = -INFINITY, se = 0;
    for (int c = 0; c < K; c++) {
        if (c != y && s[c] > best) best = s[c];
        if (s[c] > m) m = s[c];
    }
    for (int c = 0; c < K; c++)
        se += exp(s[c] - m);
    double lse = m + log(se);
    if (v == SPEX_DATA_MARGIN) return s[y] - best;
    if (v == SPEX_DATA_ACCURACY) return s[y] > best ? 1.0 : 0.0;
    if (v == SPEX_DATA_PROB) return exp(s[y] - lse);
    return lse - s[y];
}

typedef struct da_worker {
    data_attr *a;
    const spex_masks *batch;
    double *out;
    int w, W;
    int rc; /* error of the first failing mask of this worker */
    int64_t fail_i;
    char msg[512];
    /* eval_stream: each re-training's answer goes to answer(sink, ...) as
     * soon as it is known, one worker at a time (the sink may commit to the
     * cache: it is not thread-safe) */
    spex_answer_fn answer;
    void *sink;
    pthread_mutex_t *lock;
} da_worker;

static void *da_run(void *arg) {
    da_worker *k = arg;
    data_attr *a = k->a;
    spex_ctx *wctx = spex_ctx_new();
    int64_t N = a->train->n_rows, cnt = spex_masks_count(k->batch);
    int K = a->train->n_classes;
    int64_t *rows = wctx ? spex_malloc(wctx, (size_t)N * sizeof *rows) : NULL;
    double *s =
        wctx ? spex_calloc(wctx, (size_t)a->n_x, (size_t)K * sizeof *s) : NULL; /* (n_x, K) */
    k->rc = SPEX_OK;
    k->fail_i = -1;
    for (int64_t i = k->w; i < cnt; i += k->W) {
        k->out[i] = NAN;
        if (!rows || !s) {
            if (!k->rc) {
                k->rc = SPEX_E_NOMEM;
                k->fail_i = i;
                snprintf(k->msg, sizeof k->msg, "out of memory");
            }
            continue;
        }
        const uint64_t *m = spex_masks_crow(k->batch, i);
        int64_t nr = 0;
        for (int64_t j = 0; j < a->n; j++)
            if (m[j >> 6] >> (j & 63) & 1)
                for (int64_t t = a->feat_off[j]; t < a->feat_off[j + 1]; t++)
                    rows[nr++] = a->feat_rows[t];
        int rc = spex_learn_fit_predict_many(wctx, a->train, rows, nr, a->mu, a->sd, &a->o.learn,
                                             a->x, a->n_x, s);
        if (rc) {
            if (!k->rc) {
                k->rc = rc;
                k->fail_i = i;
                snprintf(k->msg, sizeof k->msg, "%s", spex_errmsg(wctx));
            }
            continue;
        }
        double sum = 0;
        for (int64_t r = 0; r < a->n_x; r++)
            sum += score_value(a->o.value, s + r * K, K, a->y[r]);
        k->out[i] = sum / (double)a->n_x;
        if (k->answer) {
            pthread_mutex_lock(k->lock);
            k->answer(k->sink, i, k->out[i]);
            pthread_mutex_unlock(k->lock);
        }
    }
    if (wctx) {
        spex_free(wctx, rows);
        spex_free(wctx, s);
        spex_ctx_free(wctx);
    }
    return NULL;
}

static int da_eval_stream(void *user, const spex_masks *batch, double *out, spex_answer_fn answer,
                          void *sink) {
    data_attr *a = user;
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    int64_t cnt = spex_masks_count(batch);
    if (cnt == 0) return SPEX_OK;
    int64_t T = spex_ctx_threads(a->ctx);
    int W = (int)(T < cnt ? T : cnt);
    if (W < 1) W = 1;
    da_worker *ws = spex_calloc(a->ctx, (size_t)W, sizeof *ws);
    pthread_t *tids = spex_calloc(a->ctx, (size_t)W, sizeof *tids);
    if (!ws || !tids) {
        spex_free(a->ctx, ws);
        spex_free(a->ctx, tids);
        for (int64_t i = 0; i < cnt; i++)
            out[i] = NAN;
        return spex_seterr(a->ctx, SPEX_E_NOMEM, "%s: out of memory", a->name);
    }
    int started = 0;
    for (int w = 0; w < W; w++)
        ws[w] = (da_worker){a, batch, out, w, W, 0, -1, {0}, answer, sink, &lock};
    for (int w = 1; w < W; w++) {
        if (pthread_create(&tids[w], NULL, da_run, &ws[w])) break;
        started = w;
    }
    da_run(&ws[0]);
    for (int w = started + 1; w < W; w++)
        da_run(&ws[w]); /* threads that did not start */
    for (int w = 1; w <= started; w++)
        pthread_join(tids[w], NULL);
    int rc = SPEX_OK, first = -1;
    for (int w = 0; w < W; w++)
        if (ws[w].rc && (first < 0 || ws[w].fail_i < ws[first].fail_i)) first = w;
    if (first >= 0)
        rc = spex_seterr(a->ctx, ws[first].rc == SPEX_E_NOMEM ? SPEX_E_NOMEM : SPEX_E_VALUE,
                         "%s: re-training for mask %lld of the batch: %s", a->name,
                         (long long)ws[first].fail_i, ws[first].msg);
    spex_free(a->ctx, ws);
    spex_free(a->ctx, tids);
    pthread_mutex_destroy(&lock);
    return rc;
}

static int da_eval(void *user, const spex_masks *batch, double *out) {
    return da_eval_stream(user, batch, out, NULL, NULL);
}

static void da_destroy(void *user) {
    data_attr *a = user;
    if (!a) return;
    spex_ctx *ctx = a->ctx;
    spex_free(ctx, a->feat_off);
    spex_free(ctx, a->feat_rows);
    spex_free(ctx, a->x);
    spex_free(ctx, a->y);
    spex_free(ctx, a->mu);
    spex_free(ctx, a->sd);
    spex_free(ctx, a);
}

int spex_data_attr_open(spex_ctx *ctx, const spex_dataset *train, const spex_dataset *test,
                        int64_t test_row, const spex_data_attr_opts *opts, spex_valuefn *vf) {
    return spex_data_attr_open_task(ctx, train, test, &test_row, 1, opts, vf);
}

int spex_data_attr_open_task(spex_ctx *ctx, const spex_dataset *train, const spex_dataset *test,
                             const int64_t *rows, int64_t n_rows, const spex_data_attr_opts *opts,
                             spex_valuefn *vf) {
    memset(vf, 0, sizeof *vf);
    spex_data_attr_opts o = opts ? *opts : spex_data_attr_opts_default();
    int64_t N = train->n_rows, d = train->n_features;
    int64_t R = rows ? n_rows : test->n_rows;
    if (R < 1)
        return spex_seterr(ctx, SPEX_E_INVAL, "a task needs at least one test row (got %lld)",
                           (long long)R);
    for (int64_t r = 0; rows && r < R; r++)
        if (rows[r] < 0 || rows[r] >= test->n_rows)
            return spex_seterr(ctx, SPEX_E_RANGE,
                               "test row %lld is out of range (the test set has "
                               "%lld rows, numbered from 0)",
                               (long long)rows[r], (long long)test->n_rows);
    if ((int)o.value < 0 || (int)o.value > (int)SPEX_DATA_ACCURACY)
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown data value %d", (int)o.value);
    if (test->n_features != d)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "the test set has %lld features, the training set %lld",
                           (long long)test->n_features, (long long)d);
    if (train->n_classes < 2)
        return spex_seterr(ctx, SPEX_E_INVAL,
                           "the training set has %d class(es); attribution needs 2 or more",
                           train->n_classes);
    if (o.n_groups < 0 || o.n_groups > N)
        return spex_seterr(ctx, SPEX_E_RANGE, "%lld groups for %lld training rows (need 1..%lld)",
                           (long long)o.n_groups, (long long)N, (long long)N);
    if (o.learn.learner == SPEX_LEARNER_LOGISTIC && !(o.learn.l2 > 0))
        return spex_seterr(ctx, SPEX_E_INVAL, "the logistic learner needs l2 > 0 (got %g)",
                           o.learn.l2);
    for (int64_t r = 0; r < R; r++) {
        int64_t t = rows ? rows[r] : r;
        if (test->y[t] < 0 || test->y[t] >= train->n_classes)
            return spex_seterr(ctx, SPEX_E_INVAL,
                               "test row %lld has a class the training set lacks", (long long)t);
    }
    int use_col = o.n_groups == 0 && train->group;
    int64_t n = o.n_groups > 0 ? o.n_groups : use_col ? train->n_groups : N;
    data_attr *a = spex_calloc(ctx, 1, sizeof *a);
    if (!a) return SPEX_E_NOMEM;
    a->ctx = ctx;
    a->train = train;
    a->o = o;
    a->n = n;
    a->n_x = R;
    a->feat_off = spex_calloc(ctx, (size_t)n + 1, sizeof *a->feat_off);
    a->feat_rows = spex_calloc(ctx, (size_t)N, sizeof *a->feat_rows);
    a->x = spex_calloc(ctx, (size_t)R, (size_t)(d ? d : 1) * sizeof *a->x);
    a->y = spex_calloc(ctx, (size_t)R, sizeof *a->y);
    if (!a->feat_off || !a->feat_rows || !a->x || !a->y) goto nomem;
    for (int64_t r = 0; r < R; r++) {
        int64_t t = rows ? rows[r] : r;
        memcpy(a->x + r * d, test->x + t * d, (size_t)d * sizeof *a->x);
        a->y[r] = test->y[t];
    }
    if (use_col) { /* counting sort by group id, rows in file order */
        for (int64_t i = 0; i < N; i++)
            a->feat_off[train->group[i] + 1]++;
        for (int64_t g = 0; g < n; g++)
            a->feat_off[g + 1] += a->feat_off[g];
        int64_t *fill = spex_calloc(ctx, (size_t)n, sizeof *fill);
        if (!fill) goto nomem;
        for (int64_t i = 0; i < N; i++) {
            int64_t g = train->group[i];
            a->feat_rows[a->feat_off[g] + fill[g]++] = i;
        }
        spex_free(ctx, fill);
    } else {
        for (int64_t j = 0; j < n; j++) {
            int64_t b, e;
            spex_data_group_range(N, o.n_groups, j, &b, &e);
            a->feat_off[j + 1] = e;
        }
        for (int64_t i = 0; i < N; i++)
            a->feat_rows[i] = i;
    }
    if (o.learn.learner == SPEX_LEARNER_LOGISTIC && o.standardize) {
        a->mu = spex_calloc(ctx, (size_t)(d ? d : 1), sizeof *a->mu);
        a->sd = spex_calloc(ctx, (size_t)(d ? d : 1), sizeof *a->sd);
        if (!a->mu || !a->sd) goto nomem;
        for (int64_t j = 0; j < d; j++) {
            double m = 0, v = 0;
            for (int64_t i = 0; i < N; i++)
                m += train->x[i * d + j];
            m /= (double)N;
            for (int64_t i = 0; i < N; i++) {
                double t = train->x[i * d + j] - m;
                v += t * t;
            }
            v = sqrt(v / (double)N);
            a->mu[j] = m;
            a->sd[j] = v > 1e-12 ? v : 1; /* a constant column stays (centred) at 0 */
        }
    }
    const char *lname = o.learn.learner == SPEX_LEARNER_XGBOOST ? "xgboost" : "logistic";
    if (R == 1)
        snprintf(a->name, sizeof a->name, "data attribution (%s)", lname);
    else
        snprintf(a->name, sizeof a->name, "data attribution (%s, %lld test rows)", lname,
                 (long long)R);
    vf->eval = da_eval;
    vf->eval_stream = da_eval_stream;
    vf->user = a;
    vf->destroy = da_destroy;
    vf->n = n;
    vf->name = a->name;
    return SPEX_OK;
nomem:
    da_destroy(a);
    return spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
}
