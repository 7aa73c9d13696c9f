/* Internals of src/learn: the data-attribution learners (spex/data.h),
 * shared by logistic.c, xgboost.c (src/learn) and data_attr.c (src/lens), and
 * the one XGBoost wrapper (gbt.c) used by the XGBoost learner and ProxySPEX
 * (src/algo/proxyspex.c). Only gbt.c calls XGBoost's C API. */
#ifndef SPEX_LEARN_INT_H
#define SPEX_LEARN_INT_H

#include "spex/learn.h"

/* Both: train on rows[0..n_rows) of ds (n_rows >= 1) and write ds->n_classes
 * class scores for each of the n_x rows of x (n_x, n_features) to scores
 * (n_x, n_classes); see spex_learn_fit_predict_many. */
int spexi_logistic_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                               int64_t n_rows, const double *mu, const double *sd,
                               const spex_learn_opts *o, const double *x, int64_t n_x,
                               double *scores);
int spexi_xgb_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                          int64_t n_rows, const spex_learn_opts *o, const double *x, int64_t n_x,
                          double *scores);

/* ---- gradient-boosted trees through XGBoost's C API (gbt.c) ---- */

/* A trained booster (an XGBoost BoosterHandle). */
typedef struct spexi_gbt spexi_gbt;
typedef struct spexi_gbt_params {
    const char *objective; /* "reg:squarederror" (default), "binary:logistic",
                              "multi:softprob" ... */
    int num_class;         /* > 0: XGBoost's num_class (multi:softprob); 0: unset */
    int max_depth;         /* default 6 */
    double lr;             /* eta (default 0.3) */
    int rounds;            /* boosting rounds (default 10) */
    double base_score;     /* default 0.5 */
    double lambda;         /* L2 on leaf weights (default 1, XGBoost's own) */
    int threads;           /* XGBoost threads (nthread), <= 0 means 1 (default 1) */
    uint64_t seed;         /* the low 31 bits are XGBoost's seed (default 0) */
    /* 1: zeros are handed to XGBoost as missing entries, so its histograms
     * visit only the ones (half the work on uniform masks) and each split's
     * default branch stands for x_j = 0. The booster remembers the choice;
     * predictions and dumps follow it. 0: dense rows, NaN is missing (default). */
    int zero_missing;
} spexi_gbt_params;
spexi_gbt_params spexi_gbt_params_default(void);
/* Trains on X (rows, n) row-major float features and labels y (rows);
 * histogram trees, silent. *out owned: spexi_gbt_free. Errors: SPEX_E_NUMERIC
 * with XGBoost's own message (XGBGetLastError) naming the call that failed. */
int spexi_gbt_train(spex_ctx *ctx, const float *X, const float *y, int64_t rows, int64_t n,
                    const spexi_gbt_params *p, spexi_gbt **out);
/* out (rows, per_row): the predictions (margin = 0: XGBoost's prediction
 * type 0, e.g. the value of reg:squarederror) or raw margins (margin = 1,
 * type 1) of the first iter_end rounds (0: all) at each row of X (rows, n),
 * encoded as the booster was trained (zero_missing). per_row: values per row
 * (1, or num_class for multi:softprob); SPEX_E_INTERNAL when XGBoost returns
 * another count. */
int spexi_gbt_predict(spex_ctx *ctx, spexi_gbt *g, const float *X, int64_t rows, int64_t n,
                      int margin, int iter_end, int64_t per_row, double *out);
/* The trees as XGBoost JSON dumps (no statistics): *dumps[0..*n_trees) are
 * borrowed from XGBoost and valid only until the next call on g: parse them
 * first. *zero_missing: the encoding the booster was trained with. */
int spexi_gbt_dump_json(spex_ctx *ctx, spexi_gbt *g, const char *const **dumps, int64_t *n_trees,
                        int *zero_missing);
void spexi_gbt_free(spexi_gbt *g);

#endif
