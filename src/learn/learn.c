/* The learners' front door (spex/learn.h): default options, the learner
 * names, and the dispatch of a fit to logistic.c or xgboost.c. The data lens
 * (src/lens/data_attr.c) re-trains through it. */
#include <math.h>
#include <string.h>

#include "learn/learn_int.h"

spex_learn_opts spex_learn_opts_default(void) {
    spex_learn_opts o;
    memset(&o, 0, sizeof o);
    o.learner = SPEX_LEARNER_LOGISTIC;
    o.l2 = 1;
    o.max_iter = 500;
    o.rounds = 50;
    o.depth = 3;
    o.eta = 0.3;
    o.xgb_lambda = 1;
    o.seed = 0;
    return o;
}

int spex_learner_parse(spex_ctx *ctx, const char *name, spex_learner *out) {
    if (!strcmp(name, "logistic"))
        *out = SPEX_LEARNER_LOGISTIC;
    else if (!strcmp(name, "xgboost"))
        *out = SPEX_LEARNER_XGBOOST;
    else
        return spex_seterr(ctx, SPEX_E_INVAL, "unknown learner '%s' (expected logistic or xgboost)",
                           name);
    return SPEX_OK;
}

int spex_learn_fit_predict_many(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                                int64_t n_rows, const double *mu, const double *sd,
                                const spex_learn_opts *opts, const double *x, int64_t n_x,
                                double *scores) {
    if (ds->n_classes < 2)
        return spex_seterr(ctx, SPEX_E_INVAL, "the training set has %d class(es); need 2 or more",
                           ds->n_classes);
    if (n_x < 0) return spex_seterr(ctx, SPEX_E_INVAL, "%lld rows to score", (long long)n_x);
    int K = ds->n_classes, rc;
    if (n_rows == 0) { /* nothing to learn from: the uniform prediction */
        for (int64_t e = 0; e < n_x * K; e++)
            scores[e] = 0;
        return SPEX_OK;
    }
    if (n_x == 0) return SPEX_OK;
    if (opts->learner == SPEX_LEARNER_XGBOOST)
        rc = spexi_xgb_fit_predict(ctx, ds, rows, n_rows, opts, x, n_x, scores);
    else
        rc = spexi_logistic_fit_predict(ctx, ds, rows, n_rows, mu, sd, opts, x, n_x, scores);
    if (rc) return rc;
    for (int64_t e = 0; e < n_x * K; e++)
        if (!isfinite(scores[e]))
            return spex_seterr(ctx, SPEX_E_NUMERIC,
                               "the re-trained model gave a non-finite score (row %lld)",
                               (long long)(e / K));
    return SPEX_OK;
}

int spex_learn_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                           int64_t n_rows, const double *mu, const double *sd,
                           const spex_learn_opts *opts, const double *x, double *scores) {
    return spex_learn_fit_predict_many(ctx, ds, rows, n_rows, mu, sd, opts, x, 1, scores);
}
