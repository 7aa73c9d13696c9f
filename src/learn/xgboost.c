/*
 * The XGBoost learner of the data-attribution lens (spex/data.h), through
 * XGBoost's C API: binary:logistic for 2 classes, multi:softprob with
 * num_class = K otherwise, histogram trees, one XGBoost thread per model (the
 * lens runs models side by side instead) and a fixed seed, so a subset always
 * gives the same model. base_score is pinned to 0.5 so a subset with one class
 * only trains like any other (its trees simply push towards that class).
 * Scores are the raw margins (prediction type 1). The XGBoost calls are
 * those of gbt.c, shared with ProxySPEX.
 */
#include "learn/learn_int.h"

int spexi_xgb_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                          int64_t n_rows, const spex_learn_opts *o, const double *x, int64_t n_x,
                          double *scores) {
    int K = ds->n_classes;
    int64_t d = ds->n_features;
    float *X = spex_calloc(ctx, (size_t)n_rows, (size_t)(d ? d : 1) * sizeof(float));
    float *y = spex_calloc(ctx, (size_t)n_rows, sizeof *y);
    float *xt = spex_calloc(ctx, (size_t)(n_x ? n_x : 1), (size_t)(d ? d : 1) * sizeof *xt);
    spexi_gbt *b = NULL;
    int rc = SPEX_OK;
    if (!X || !y || !xt) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n_rows; i++) {
        for (int64_t j = 0; j < d; j++)
            X[i * d + j] = (float)ds->x[rows[i] * d + j];
        y[i] = (float)ds->y[rows[i]];
    }
    for (int64_t i = 0; i < n_x * d; i++)
        xt[i] = (float)x[i];
    spexi_gbt_params p = spexi_gbt_params_default();
    p.objective = K == 2 ? "binary:logistic" : "multi:softprob";
    p.num_class = K == 2 ? 0 : K;
    p.max_depth = o->depth;
    p.lr = o->eta;
    p.rounds = o->rounds;
    p.base_score = 0.5;
    p.lambda = o->xgb_lambda;
    p.threads = 1;
    p.seed = o->seed;
    rc = spexi_gbt_train(ctx, X, y, n_rows, d, &p, &b);
    /* margins: (n_x, 1) for 2 classes, (n_x, K) otherwise, into scores */
    if (!rc) rc = spexi_gbt_predict(ctx, b, xt, n_x, d, 1, 0, K == 2 ? 1 : K, scores);
    if (!rc && K == 2)
        for (int64_t i = n_x - 1; i >= 0; i--) { /* spread in place, from the end */
            double m = scores[i];
            scores[i * 2] = 0;
            scores[i * 2 + 1] = m;
        }
done:
    spexi_gbt_free(b);
    spex_free(ctx, X);
    spex_free(ctx, y);
    spex_free(ctx, xt);
    return rc;
}
