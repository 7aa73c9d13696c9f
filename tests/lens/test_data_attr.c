/* The data-attribution value function (src/backend/data_attr.c) against
 * ground truth: re-training on every subset by brute force (the exact
 * method's surrogate must reproduce it), a planted pair of identical training
 * points that only matter together, a planted irrelevant point, defined values
 * for empty and one-class subsets, groups, thread-count invariance, and the
 * task lens (many test rows) against the mean of the single-row values. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "spex/data.h"
#include "spex/explain.h"
#include "spex/masks.h"

static spex_dataset *csv(spex_ctx *ctx, const char *text, const char *group_by,
                         const spex_dataset *like) {
    spex_csv_opts o = spex_csv_opts_default();
    o.label = "y";
    o.group_by = group_by;
    spex_dataset *ds = NULL;
    int rc = spex_data_parse_csv(ctx, text, strlen(text), "t.csv", &o, like, &ds);
    if (rc) fail_msg("parse: %s", spex_errmsg(ctx));
    return ds;
}

/* The value, computed here from class scores (the oracle's own formula). */
static double oracle_value(spex_data_value v, const double *s, int K, int y) {
    double best = -INFINITY, se = 0;
    for (int c = 0; c < K; c++)
        if (c != y && s[c] > best) best = s[c];
    for (int c = 0; c < K; c++)
        se += exp(s[c]);
    if (v == SPEX_DATA_MARGIN) return s[y] - best;
    if (v == SPEX_DATA_ACCURACY) return s[y] > best; /* right: strictly the top score */
    if (v == SPEX_DATA_PROB) return exp(s[y]) / se;
    return log(se) - s[y];
}

/* Re-trains on the rows of mask m (bits over rows) and returns the value on
 * row r of te. */
static double brute_row(spex_ctx *ctx, const spex_dataset *tr, const spex_dataset *te,
                        const spex_data_attr_opts *ao, uint64_t m, int64_t r) {
    int64_t rows[64], nr = 0;
    double s[16];
    for (int64_t i = 0; i < tr->n_rows; i++)
        if (m >> i & 1) rows[nr++] = i;
    CHECK_RC(ctx, spex_learn_fit_predict(ctx, tr, rows, nr, NULL, NULL, &ao->learn,
                                         te->x + r * te->n_features, s));
    return oracle_value(ao->value, s, tr->n_classes, te->y[r]);
}

static double brute(spex_ctx *ctx, const spex_dataset *tr, const spex_dataset *te,
                    const spex_data_attr_opts *ao, uint64_t m) {
    return brute_row(ctx, tr, te, ao, m, 0);
}

/* Runs the exact method; returns its Fourier surrogate (owned by *res). */
static const spex_coefs *exact(spex_ctx *ctx, spex_valuefn *vf, spex_result **res) {
    spex_explain_opts eo = spex_explain_opts_default();
    eo.method = SPEX_METHOD_EXACT;
    CHECK_RC(ctx, spex_explain(ctx, vf, &eo, res));
    return (*res)->fourier;
}

static void test_planted_pair_and_irrelevant(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    /* rows 0, 1: two identical positives; rows 2-6: negatives at the origin;
     * row 7: a negative alone on its own axis (x2), which a private weight w2
     * fits at almost no cost, so it barely moves the shared weights */
    spex_dataset *tr = csv(ctx,
                           "x1,x2,y\n3,0,1\n3,0,1\n0,0,0\n0,0,0\n0,0,0\n0,0,0\n0,0,0\n"
                           "0,-10000,0\n",
                           NULL, NULL);
    spex_dataset *te = csv(ctx, "x1,x2,y\n3,0,1\n", NULL, tr);
    spex_data_attr_opts ao = spex_data_attr_opts_default();
    ao.learn.l2 = 0.01;
    ao.value = SPEX_DATA_PROB;
    ao.standardize = 0;
    spex_valuefn vf;
    CHECK_RC(ctx, spex_data_attr_open(ctx, tr, te, 0, &ao, &vf));
    CHECK(vf.n == 8);
    spex_result *res = NULL;
    const spex_coefs *F = exact(ctx, &vf, &res);
    double f[256];
    for (uint64_t m = 0; m < 256; m++) {
        f[m] = brute(ctx, tr, te, &ao, m);
        CHECK_NEAR(spex_coefs_eval_fourier(F, &m), f[m], 1e-9);
    }
    double full = f[255], loo0 = f[255 & ~1u], loo1 = f[255 & ~2u], both = f[255 & ~3u];
    double joint = full - both, pair = full - loo0 - loo1 + both;
    printf("planted pair: f(N) = %.6f, f(N-0) = %.6f, f(N-1) = %.6f, f(N-01) = %.6f, "
           "interaction at N = %.6f\n",
           full, loo0, loo1, both, pair);
    CHECK(joint > 0.5);                      /* removing both flips the prediction */
    CHECK(fabs(full - loo0) < 0.01 * joint); /* removing either alone: negligible */
    CHECK(fabs(full - loo1) < 0.01 * joint);
    CHECK_NEAR(pair, -joint, 0.02 * joint); /* a redundant (negative) pair */
    /* the pair is the largest interaction of order 2 in the surrogate */
    double v01 = 0, best_other = 0;
    int32_t pr[2] = {0, 1};
    spex_coefs_get(F, pr, 2, &v01);
    for (int64_t i = 0; i < spex_coefs_count(F); i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(F, i, &idx, &len, &v);
        if (len == 2 && !(idx[0] == 0 && idx[1] == 1) && fabs(v) > best_other) best_other = fabs(v);
        /* the irrelevant row: every coefficient that involves it ~0 */
        for (int t = 0; t < len; t++)
            if (idx[t] == 7) CHECK_NEAR(v, 0, 1e-4);
    }
    printf("F({0,1}) = %.6f, largest other pair %.6f\n", v01, best_other);
    CHECK(fabs(v01) > 2 * best_other);
    for (uint64_t m = 0; m < 128; m++)
        CHECK_NEAR(f[m | 128], f[m], 1e-4);
    /* the interaction index agrees: the pair tops the Banzhaf interactions */
    CHECK_RC(ctx, spex_result_set_index(res, SPEX_INDEX_BII, 2));
    const int32_t *idx;
    int len;
    double v;
    for (int64_t i = 0; i < spex_coefs_count(res->interactions); i++) {
        spex_coefs_entry(res->interactions, i, &idx, &len, &v);
        if (len == 2) break;
    }
    CHECK(len == 2 && idx[0] == 0 && idx[1] == 1 && v < 0);
    spex_result_free(res);
    spex_valuefn_release(&vf);
    spex_dataset_free(te);
    spex_dataset_free(tr);
    spex_ctx_free(ctx);
}

/* Settings for the tiny sets: learner L (1 = xgboost, 10 rounds), value val,
 * no standardisation (so brute() re-trains the same model). */
static spex_data_attr_opts tiny_opts(int L, int val) {
    spex_data_attr_opts ao = spex_data_attr_opts_default();
    ao.learn.learner = L ? SPEX_LEARNER_XGBOOST : SPEX_LEARNER_LOGISTIC;
    ao.learn.rounds = 10;
    ao.value = (spex_data_value)val;
    ao.standardize = 0;
    return ao;
}

/* Exact results for a tiny multiclass set against re-training on every
 * subset, for both learners and all three values; Fourier by definition. */
static void test_exact_vs_brute(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_dataset *tr = csv(ctx,
                           "a,b,y\n0.1,1.2,red\n1.0,0.3,green\n0.2,0.9,blue\n0.9,0.1,red\n"
                           "0.5,0.5,green\n0.0,0.7,blue\n",
                           NULL, NULL);
    spex_dataset *te = csv(ctx, "a,b,y\n0.3,0.8,blue\n", NULL, tr);
    for (int L = 0; L < 2; L++)
        for (int val = 0; val < 3; val++) {
            spex_data_attr_opts ao = tiny_opts(L, val);
            spex_valuefn vf;
            CHECK_RC(ctx, spex_data_attr_open(ctx, tr, te, 0, &ao, &vf));
            spex_result *res = NULL;
            const spex_coefs *F = exact(ctx, &vf, &res);
            double f[64];
            for (uint64_t m = 0; m < 64; m++)
                f[m] = brute(ctx, tr, te, &ao, m);
            for (uint32_t k = 0; k < 64; k++) {
                double want = 0, got = 0;
                for (uint32_t m = 0; m < 64; m++)
                    want += f[m] * ((__builtin_popcount(m & k) & 1) ? -1 : 1) / 64.0;
                int32_t idx[6];
                int len = 0;
                for (int j = 0; j < 6; j++)
                    if (k >> j & 1) idx[len++] = j;
                spex_coefs_get(F, idx, len, &got);
                CHECK_NEAR(got, want, 1e-9);
            }
            /* the empty training set: the uniform prediction */
            CHECK_NEAR(f[0], val == 0 ? 0 : val == 1 ? 1.0 / 3 : log(3.0), 1e-12);
            /* one class only (rows 0 and 3 are "red"): a finite value */
            CHECK(isfinite(f[(1u << 0) | (1u << 3)]));
            spex_result_free(res);
            spex_valuefn_release(&vf);
        }
    spex_dataset_free(te);
    spex_dataset_free(tr);
    spex_ctx_free(ctx);
}

/* Groups: contiguous blocks and a group column keep the right rows. */
static void test_groups(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *text = "a,g,y\n0,s1,0\n1,s2,1\n0.2,s1,0\n0.8,s3,1\n0.1,s2,0\n0.9,s3,1\n0.4,s1,1\n";
    spex_dataset *tr = csv(ctx, "a,y\n0,0\n1,1\n0.2,0\n0.8,1\n0.1,0\n0.9,1\n0.4,1\n", NULL, NULL);
    spex_dataset *trg = csv(ctx, text, "g", NULL);
    spex_dataset *te = csv(ctx, "a,y\n0.6,1\n", NULL, tr);
    spex_dataset *teg = csv(ctx, "a,y\n0.6,1\n", NULL, trg);
    spex_data_attr_opts ao = spex_data_attr_opts_default();
    ao.standardize = 0;
    ao.value = SPEX_DATA_LOGLOSS;
    spex_masks *b = NULL;
    double out[1];
    uint64_t *row;
    /* G = 3 of 7 rows: blocks [0,2), [2,4), [4,7); keep blocks 0 and 2 */
    ao.n_groups = 3;
    spex_valuefn vf;
    CHECK_RC(ctx, spex_data_attr_open(ctx, tr, te, 0, &ao, &vf));
    CHECK(vf.n == 3);
    CHECK_RC(ctx, spex_masks_new(ctx, 3, 1, &b));
    CHECK_RC(ctx, spex_masks_append_zero(b, &row));
    row[0] = 5;
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    CHECK_NEAR(out[0], brute(ctx, tr, te, &ao, 0x73), 1e-12); /* rows 0,1,4,5,6 */
    spex_valuefn_release(&vf);
    spex_masks_free(b);
    /* --group-by g: groups s1 (rows 0,2,6), s2 (1,4), s3 (3,5); keep s1 and s3 */
    ao.n_groups = 0;
    CHECK_RC(ctx, spex_data_attr_open(ctx, trg, teg, 0, &ao, &vf));
    CHECK(vf.n == 3);
    CHECK_RC(ctx, spex_masks_new(ctx, 3, 1, &b));
    CHECK_RC(ctx, spex_masks_append_zero(b, &row));
    row[0] = 5;
    CHECK_RC(ctx, vf.eval(vf.user, b, out));
    CHECK_NEAR(out[0], brute(ctx, trg, teg, &ao, 0x6d), 1e-12); /* rows 0,2,3,5,6 */
    spex_valuefn_release(&vf);
    spex_masks_free(b);
    /* bad settings */
    ao.n_groups = 8;
    CHECK(spex_data_attr_open(ctx, tr, te, 0, &ao, &vf) == SPEX_E_RANGE);
    ao.n_groups = 0;
    CHECK(spex_data_attr_open(ctx, tr, te, 1, &ao, &vf) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "test row 1 is out of range") != NULL);
    spex_dataset_free(teg);
    spex_dataset_free(te);
    spex_dataset_free(trg);
    spex_dataset_free(tr);
    spex_ctx_free(ctx);
}

/* Answers are bit-identical for 1, 2 and 3 threads. */
/* Answers streamed by eval_stream (the sink is called one worker at a time). */
typedef struct {
    int times[24];
    double v[24];
} streamed;

static void take_answer(void *sink, int64_t i, double v) {
    streamed *s = sink;
    if (i < 0 || i >= 24) return;
    s->times[i]++;
    s->v[i] = v;
}

static void test_threads(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof text, "a,b,c,y\n");
    uint64_t r = 12345;
    for (int i = 0; i < 40; i++) {
        double v[3];
        for (int j = 0; j < 3; j++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            v[j] = (double)(r >> 40) / (double)(1 << 24);
        }
        len += (size_t)snprintf(text + len, sizeof text - len, "%.6f,%.6f,%.6f,%d\n", v[0], v[1],
                                v[2], (int)((v[0] + v[1] > 1) + (v[2] > 0.7)));
    }
    spex_dataset *tr = csv(ctx, text, NULL, NULL);
    spex_dataset *te = csv(ctx, "a,b,c,y\n0.5,0.6,0.8,2\n", NULL, tr);
    for (int L = 0; L < 2; L++) {
        spex_data_attr_opts ao = spex_data_attr_opts_default();
        ao.learn.learner = L ? SPEX_LEARNER_XGBOOST : SPEX_LEARNER_LOGISTIC;
        ao.learn.rounds = 20;
        spex_valuefn vf;
        CHECK_RC(ctx, spex_data_attr_open(ctx, tr, te, 0, &ao, &vf));
        spex_masks *b = NULL;
        CHECK_RC(ctx, spex_masks_new(ctx, 40, 24, &b));
        for (int i = 0; i < 24; i++) {
            uint64_t *row;
            CHECK_RC(ctx, spex_masks_append_zero(b, &row));
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            row[0] = (r >> 11) & ((1ull << 40) - 1);
        }
        double out[3][24];
        for (int t = 0; t < 3; t++) {
            spex_ctx_set_threads(ctx, t + 1);
            CHECK_RC(ctx, vf.eval(vf.user, b, out[t]));
        }
        CHECK(!memcmp(out[0], out[1], sizeof out[0]) && !memcmp(out[0], out[2], sizeof out[0]));
        for (int i = 0; i < 24; i++)
            CHECK(isfinite(out[0][i]));
        /* eval_stream on 3 threads: every answer streamed once, equal to out[] */
        streamed sm = {{0}, {0}};
        double so[24];
        CHECK(vf.eval_stream != NULL);
        CHECK_RC(ctx, vf.eval_stream(vf.user, b, so, take_answer, &sm));
        for (int i = 0; i < 24; i++) {
            CHECK(sm.times[i] == 1);
            CHECK(sm.v[i] == out[0][i] && so[i] == out[0][i]);
        }
        spex_ctx_set_threads(ctx, 1);
        spex_masks_free(b);
        spex_valuefn_release(&vf);
    }
    spex_dataset_free(te);
    spex_dataset_free(tr);
    spex_ctx_free(ctx);
}

/* One model scoring several rows (spex_learn_fit_predict_many) gives, row
 * by row, exactly what a training and a prediction per row give, for both
 * learners and for 2 and 3 classes; no training rows gives all zeros. */
static void test_predict_many(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *texts[] = {"a,b,y\n0,1,0\n1,0.5,1\n0.2,0.1,0\n0.8,0.9,1\n0.1,0.3,0\n0.9,0.2,1\n",
                           "a,b,y\n0,1,0\n1,0.5,1\n0.2,0.1,2\n0.8,0.9,1\n0.1,0.3,0\n0.9,0.2,2\n"};
    const double x[4 * 2] = {0.5, 0.5, 0.0, 1.0, 1.0, 0.0, 0.3, 0.7};
    int64_t rows[6] = {0, 1, 2, 3, 4, 5};
    for (int t = 0; t < 2; t++) {
        spex_dataset *tr = csv(ctx, texts[t], NULL, NULL);
        int K = tr->n_classes;
        CHECK(K == 2 + t);
        for (int l = 0; l < 2; l++) {
            spex_learn_opts lo = spex_learn_opts_default();
            lo.learner = l ? SPEX_LEARNER_XGBOOST : SPEX_LEARNER_LOGISTIC;
            double many[4 * 3], one[3];
            CHECK_RC(ctx,
                     spex_learn_fit_predict_many(ctx, tr, rows, 6, NULL, NULL, &lo, x, 4, many));
            for (int i = 0; i < 4; i++) {
                CHECK_RC(ctx,
                         spex_learn_fit_predict(ctx, tr, rows, 6, NULL, NULL, &lo, x + 2 * i, one));
                for (int c = 0; c < K; c++)
                    CHECK_NEAR(many[i * K + c], one[c], 0.0);
            }
            CHECK_RC(ctx,
                     spex_learn_fit_predict_many(ctx, tr, rows, 0, NULL, NULL, &lo, x, 4, many));
            for (int e = 0; e < 4 * K; e++)
                CHECK_NEAR(many[e], 0.0, 0.0);
        }
        spex_dataset_free(tr);
    }
    spex_ctx_free(ctx);
}

/* Every mask of n features (bit i of mask m = feature i), one batch. */
static spex_masks *all_masks(spex_ctx *ctx, int n) {
    spex_masks *b = NULL;
    CHECK_RC(ctx, spex_masks_new(ctx, n, (int64_t)1 << n, &b));
    for (uint64_t m = 0; m < (1u << n); m++) {
        uint64_t *row;
        CHECK_RC(ctx, spex_masks_append_zero(b, &row));
        row[0] = m;
    }
    return b;
}

/* The task lens (many test rows): for every mask, the empty and the full one
 * among them, its value is the arithmetic mean over the rows of the
 * single-row lens's values (and of re-training by brute force), for both
 * learners, 2 and 3 classes and all four values; accuracy lies in
 * {0, 1/R, ..., 1} and is 0 for the empty training set (all scores tie). */
static void test_task_mean(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *trains[] = {"a,b,y\n0,1,0\n1,0.5,1\n0.2,0.1,0\n0.8,0.9,1\n0.1,0.3,1\n0.9,0.2,1\n",
                            "a,b,y\n0.1,1.2,red\n1.0,0.3,green\n0.2,0.9,blue\n0.9,0.1,red\n"
                            "0.5,0.5,green\n0.0,0.7,blue\n"};
    const char *tests[] = {"a,b,y\n0.5,0.5,1\n0.0,1.0,0\n1.0,0.0,1\n0.3,0.7,0\n0.6,0.2,0\n",
                           "a,b,y\n0.3,0.8,blue\n0.9,0.2,red\n0.6,0.4,green\n0.1,1.0,red\n"
                           "0.4,0.4,blue\n"};
    const int64_t some[] = {3, 0, 3, 4}; /* a row list with a repeat */
    enum { N = 6, M = 1 << N, R = 5 };
    spex_masks *b = all_masks(ctx, N);
    int64_t checked = 0;
    for (int t = 0; t < 2; t++) {
        spex_dataset *tr = csv(ctx, trains[t], NULL, NULL);
        spex_dataset *te = csv(ctx, tests[t], NULL, tr);
        CHECK(te->n_rows == R && tr->n_classes == 2 + t);
        for (int L = 0; L < 2; L++)
            for (int val = 0; val < 4; val++) {
                spex_data_attr_opts ao = tiny_opts(L, val);
                static double one[R][M], task[M], part[M];
                spex_valuefn vf;
                for (int64_t r = 0; r < R; r++) {
                    CHECK_RC(ctx, spex_data_attr_open(ctx, tr, te, r, &ao, &vf));
                    CHECK_RC(ctx, vf.eval(vf.user, b, one[r]));
                    spex_valuefn_release(&vf);
                }
                CHECK_RC(ctx, spex_data_attr_open_task(ctx, tr, te, NULL, 0, &ao, &vf));
                CHECK(vf.n == N);
                spex_ctx_set_threads(ctx, 2);
                CHECK_RC(ctx, vf.eval(vf.user, b, task));
                spex_ctx_set_threads(ctx, 1);
                spex_valuefn_release(&vf);
                CHECK_RC(ctx, spex_data_attr_open_task(ctx, tr, te, some, 4, &ao, &vf));
                CHECK_RC(ctx, vf.eval(vf.user, b, part));
                spex_valuefn_release(&vf);
                for (int m = 0; m < M; m++) {
                    double mean = 0, truth = 0, mean4 = 0;
                    for (int64_t r = 0; r < R; r++) {
                        mean += one[r][m];
                        truth += brute_row(ctx, tr, te, &ao, (uint64_t)m, r);
                    }
                    mean /= R;
                    truth /= R;
                    for (int k = 0; k < 4; k++)
                        mean4 += one[some[k]][m] / 4;
                    CHECK_NEAR(task[m], mean, 1e-12);
                    CHECK_NEAR(task[m], truth, 1e-9);
                    CHECK_NEAR(part[m], mean4, 1e-12);
                    if (val == SPEX_DATA_ACCURACY) {
                        double k = task[m] * R;
                        CHECK(task[m] >= 0 && task[m] <= 1);
                        CHECK_NEAR(k, round(k), 1e-12);
                    }
                    checked++;
                }
                int varies = 0; /* the masks give more than one value */
                for (int m = 1; m < M; m++)
                    varies |= task[m] != task[0];
                CHECK(varies);
                if (val == SPEX_DATA_ACCURACY) CHECK_NEAR(task[0], 0.0, 0.0);
                printf("task of %d rows, %d classes, %s, %s: f(empty) = %.6f, f(full) = %.6f\n", R,
                       2 + t, L ? "xgboost" : "logistic", spex_data_value_name(ao.value), task[0],
                       task[M - 1]);
            }
        /* errors: no row, a row out of range (named), a bad value */
        spex_data_attr_opts ao = spex_data_attr_opts_default();
        spex_valuefn vf;
        CHECK(spex_data_attr_open_task(ctx, tr, te, some, 0, &ao, &vf) == SPEX_E_INVAL);
        const int64_t bad[] = {0, 5};
        CHECK(spex_data_attr_open_task(ctx, tr, te, bad, 2, &ao, &vf) == SPEX_E_RANGE);
        CHECK(strstr(spex_errmsg(ctx), "test row 5 is out of range") != NULL);
        ao.value = (spex_data_value)4;
        CHECK(spex_data_attr_open_task(ctx, tr, te, NULL, 0, &ao, &vf) == SPEX_E_INVAL);
        spex_dataset_free(te);
        spex_dataset_free(tr);
    }
    CHECK(checked == 2 * 2 * 4 * M);
    /* the value names round-trip */
    for (int v = 0; v < 4; v++) {
        spex_data_value got;
        CHECK_RC(ctx, spex_data_value_parse(ctx, spex_data_value_name((spex_data_value)v), &got));
        CHECK((int)got == v);
    }
    spex_masks_free(b);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_planted_pair_and_irrelevant),
                                       cmocka_unit_test(test_exact_vs_brute),
                                       cmocka_unit_test(test_groups),
                                       cmocka_unit_test(test_threads),
                                       cmocka_unit_test(test_predict_many),
                                       cmocka_unit_test(test_task_mean)};
    SPEX_RUN_TESTS(tests);
}
