/*
 * The XGBoost learner of the data-attribution lens (spex/data.h), through
 * XGBoost's C API: binary:logistic for 2 classes, multi:softprob with
 * num_class = K otherwise, histogram trees, one XGBoost thread per model (the
 * lens runs models side by side instead) and a fixed seed, so a subset always
 * gives the same model. base_score is pinned to 0.5 so a subset with one class
 * only trains like any other (its trees simply push towards that class).
 * Scores are the raw margins (prediction type 1).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "learn/learn_int.h"

static int xerr(spex_ctx *ctx, const char *what) {
    return spex_seterr(ctx, SPEX_E_NUMERIC, "XGBoost %s failed: %s", what, XGBGetLastError());
}

int spexi_xgb_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                         int64_t n_rows, const spex_learn_opts *o, const double *x, int64_t n_x,
                         double *scores) {
    int K = ds->n_classes;
    int64_t d = ds->n_features;
    float *X = spex_calloc(ctx, (size_t)n_rows, (size_t)(d ? d : 1) * sizeof(float));
    float *y = spex_calloc(ctx, (size_t)n_rows, sizeof *y);
    float *xt = spex_calloc(ctx, (size_t)(n_x ? n_x : 1), (size_t)(d ? d : 1) * sizeof *xt);
    DMatrixHandle dm = NULL, dt = NULL;
    BoosterHandle b = NULL;
    int rc = SPEX_OK;
    char buf[64];
    if (!X || !y || !xt) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (int64_t i = 0; i < n_rows; i++) {
        for (int64_t j = 0; j < d; j++) X[i * d + j] = (float)ds->x[rows[i] * d + j];
        y[i] = (float)ds->y[rows[i]];
    }
    for (int64_t i = 0; i < n_x * d; i++) xt[i] = (float)x[i];
    if (XGDMatrixCreateFromMat(X, (bst_ulong)n_rows, (bst_ulong)d, NAN, &dm)) {
        rc = xerr(ctx, "XGDMatrixCreateFromMat");
        goto done;
    }
    if (XGDMatrixSetFloatInfo(dm, "label", y, (bst_ulong)n_rows)) {
        rc = xerr(ctx, "setting labels");
        goto done;
    }
    if (XGBoosterCreate(&dm, 1, &b)) {
        rc = xerr(ctx, "XGBoosterCreate");
        goto done;
    }
    snprintf(buf, sizeof buf, "%d", K);
    const char *fixed[][2] = {{"objective", K == 2 ? "binary:logistic" : "multi:softprob"},
                              {"num_class", K == 2 ? "1" : buf},
                              {"tree_method", "hist"},
                              {"base_score", "0.5"},
                              {"nthread", "1"},
                              {"verbosity", "0"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        if (K == 2 && !strcmp(fixed[i][0], "num_class")) continue;
        if (XGBoosterSetParam(b, fixed[i][0], fixed[i][1])) {
            rc = xerr(ctx, fixed[i][0]);
            goto done;
        }
    }
    struct {
        const char *k;
        double v;
    } num[] = {{"max_depth", o->depth},
               {"eta", o->eta},
               {"lambda", o->xgb_lambda},
               {"seed", (double)(o->seed & 0x7fffffff)}};
    for (size_t i = 0; i < sizeof num / sizeof *num; i++) {
        snprintf(buf, sizeof buf, "%.17g", num[i].v);
        if (XGBoosterSetParam(b, num[i].k, buf)) {
            rc = xerr(ctx, num[i].k);
            goto done;
        }
    }
    for (int it = 0; it < o->rounds; it++)
        if (XGBoosterUpdateOneIter(b, it, dm)) {
            rc = xerr(ctx, "XGBoosterUpdateOneIter");
            goto done;
        }
    if (XGDMatrixCreateFromMat(xt, (bst_ulong)n_x, (bst_ulong)d, NAN, &dt)) {
        rc = xerr(ctx, "XGDMatrixCreateFromMat");
        goto done;
    }
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    if (XGBoosterPredictFromDMatrix(b, dt,
                                    "{\"type\": 1, \"training\": false, \"iteration_begin\": 0, "
                                    "\"iteration_end\": 0, \"strict_shape\": false}",
                                    &shape, &dim, &res)) {
        rc = xerr(ctx, "XGBoosterPredictFromDMatrix");
        goto done;
    }
    bst_ulong total = 1;
    for (bst_ulong i = 0; i < dim; i++) total *= shape[i];
    if (total != (bst_ulong)n_x * (bst_ulong)(K == 2 ? 1 : K)) {
        rc = spex_seterr(ctx, SPEX_E_INTERNAL, "XGBoost returned %llu margins, expected %lld",
                         (unsigned long long)total, (long long)n_x * (K == 2 ? 1 : K));
        goto done;
    }
    /* res belongs to the booster: copy it now */
    for (int64_t i = 0; i < n_x; i++) {
        if (K == 2) {
            scores[i * 2] = 0;
            scores[i * 2 + 1] = res[i];
        } else {
            for (int c = 0; c < K; c++) scores[i * K + c] = res[i * K + c];
        }
    }
done:
    if (b) XGBoosterFree(b);
    if (dm) XGDMatrixFree(dm);
    if (dt) XGDMatrixFree(dt);
    spex_free(ctx, X);
    spex_free(ctx, y);
    spex_free(ctx, xt);
    return rc;
}
