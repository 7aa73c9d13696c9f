/*
 * Gradient-boosted trees through XGBoost's C API: the one wrapper that both
 * ProxySPEX (src/algo/proxyspex.c: its proxy, grid search and tree dumps for
 * the tree-to-Fourier extraction) and the data lens's XGBoost learner
 * (xgboost.c) train, predict and dump with. It owns every DMatrix it makes,
 * copies XGBoost's buffers out before the next call into XGBoost (except the
 * dumps, which spexi_gbt_dump_json documents as borrowed), and turns each
 * failed call into SPEX_E_NUMERIC with XGBGetLastError's message. The rest of
 * spex never includes xgboost/c_api.h (STYLE.md "Layering").
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "learn/learn_int.h"

static int xgb_err(spex_ctx *ctx, const char *what) {
    return spex_seterr(ctx, SPEX_E_NUMERIC, "XGBoost %s failed: %s", what, XGBGetLastError());
}

/* The booster attribute recording spexi_gbt_params.zero_missing, so that
 * predictions and dumps encode and read rows as training did. */
#define ZERO_MISSING_ATTR "spexi_zero_missing"

/* The value XGBoost drops from a dense row as "missing": 0 in sparse mode;
 * NaN (never present in a mask, nor in a parsed CSV cell) in dense mode. */
static float missing_value(int zero_missing) {
    return zero_missing ? 0.0f : NAN;
}

static int gbt_zero_missing(spex_ctx *ctx, spexi_gbt *g, int *zero_missing) {
    const char *v = NULL;
    int ok = 0;
    if (XGBoosterGetAttr((BoosterHandle)g, ZERO_MISSING_ATTR, &v, &ok))
        return xgb_err(ctx, "XGBoosterGetAttr");
    *zero_missing = ok && v && v[0] == '1';
    return SPEX_OK;
}

spexi_gbt_params spexi_gbt_params_default(void) {
    spexi_gbt_params p;
    memset(&p, 0, sizeof p);
    p.objective = "reg:squarederror";
    p.max_depth = 6;
    p.lr = 0.3;
    p.rounds = 10;
    p.base_score = 0.5;
    p.lambda = 1;
    p.threads = 1;
    return p;
}

void spexi_gbt_free(spexi_gbt *g) {
    if (g) XGBoosterFree((BoosterHandle)g);
}

int spexi_gbt_train(spex_ctx *ctx, const float *X, const float *y, int64_t rows, int64_t n,
                    const spexi_gbt_params *p, spexi_gbt **out) {
    *out = NULL;
    DMatrixHandle d = NULL;
    BoosterHandle b = NULL;
    char buf[64];
    int rc = SPEX_OK;
    if (XGDMatrixCreateFromMat(X, (bst_ulong)rows, (bst_ulong)n, missing_value(p->zero_missing),
                               &d)) {
        rc = xgb_err(ctx, "XGDMatrixCreateFromMat");
        goto done;
    }
    if (XGDMatrixSetFloatInfo(d, "label", y, (bst_ulong)rows)) {
        rc = xgb_err(ctx, "setting labels");
        goto done;
    }
    if (XGBoosterCreate(&d, 1, &b)) {
        rc = xgb_err(ctx, "XGBoosterCreate");
        goto done;
    }
    if (XGBoosterSetAttr(b, ZERO_MISSING_ATTR, p->zero_missing ? "1" : "0")) {
        rc = xgb_err(ctx, "XGBoosterSetAttr");
        goto done;
    }
    const char *fixed[][2] = {{"objective", p->objective ? p->objective : "reg:squarederror"},
                              {"tree_method", "hist"},
                              {"verbosity", "0"},
                              {"validate_parameters", "1"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (XGBoosterSetParam(b, fixed[i][0], fixed[i][1])) {
            rc = xgb_err(ctx, fixed[i][0]);
            goto done;
        }
    struct {
        const char *k;
        double v;
    } num[] = {{"num_class", p->num_class},
               {"max_depth", p->max_depth},
               {"eta", p->lr},
               {"base_score", p->base_score},
               {"lambda", p->lambda},
               {"nthread", p->threads > 0 ? p->threads : 1},
               {"seed", (double)(p->seed & 0x7fffffff)}};
    for (size_t i = 0; i < sizeof num / sizeof *num; i++) {
        if (i == 0 && p->num_class <= 0) continue;
        snprintf(buf, sizeof buf, "%.17g", num[i].v);
        if (XGBoosterSetParam(b, num[i].k, buf)) {
            rc = xgb_err(ctx, num[i].k);
            goto done;
        }
    }
    for (int it = 0; it < p->rounds; it++)
        if (XGBoosterUpdateOneIter(b, it, d)) {
            rc = xgb_err(ctx, "XGBoosterUpdateOneIter");
            goto done;
        }
done:
    if (d) XGDMatrixFree(d);
    if (rc) {
        if (b) XGBoosterFree(b);
        return rc;
    }
    *out = (spexi_gbt *)b;
    return SPEX_OK;
}

int spexi_gbt_predict(spex_ctx *ctx, spexi_gbt *g, const float *X, int64_t rows, int64_t n,
                      int margin, int iter_end, int64_t per_row, double *out) {
    DMatrixHandle d = NULL;
    char cfg[160];
    const bst_ulong *shape = NULL;
    bst_ulong dim = 0;
    const float *res = NULL;
    int zm = 0;
    int rc = gbt_zero_missing(ctx, g, &zm);
    if (rc) return rc;
    if (XGDMatrixCreateFromMat(X, (bst_ulong)rows, (bst_ulong)n, missing_value(zm), &d))
        return xgb_err(ctx, "XGDMatrixCreateFromMat");
    snprintf(cfg, sizeof cfg,
             "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
             "\"iteration_end\": %d, \"strict_shape\": false}",
             margin ? 1 : 0, iter_end);
    if (XGBoosterPredictFromDMatrix((BoosterHandle)g, d, cfg, &shape, &dim, &res)) {
        rc = xgb_err(ctx, "XGBoosterPredictFromDMatrix");
        goto done;
    }
    bst_ulong total = 1;
    for (bst_ulong i = 0; i < dim; i++)
        total *= shape[i];
    if (total != (bst_ulong)rows * (bst_ulong)per_row) {
        rc = spex_seterr(ctx, SPEX_E_INTERNAL, "XGBoost returned %llu predictions, expected %lld",
                         (unsigned long long)total, (long long)(rows * per_row));
        goto done;
    }
    /* res belongs to the booster: copy it now */
    for (int64_t i = 0; i < rows * per_row; i++)
        out[i] = res[i];
done:
    XGDMatrixFree(d);
    return rc;
}

int spexi_gbt_dump_json(spex_ctx *ctx, spexi_gbt *g, const char *const **dumps, int64_t *n_trees,
                        int *zero_missing) {
    bst_ulong len = 0;
    const char **dump = NULL;
    *dumps = NULL;
    *n_trees = 0;
    int rc = gbt_zero_missing(ctx, g, zero_missing);
    if (rc) return rc;
    if (XGBoosterDumpModelEx((BoosterHandle)g, "", 0, "json", &len, &dump))
        return xgb_err(ctx, "XGBoosterDumpModelEx");
    *dumps = dump;
    *n_trees = (int64_t)len;
    return SPEX_OK;
}
