/* Internals of the data-attribution learners (spex/data.h), shared by
 * logistic.c, xgboost.c (src/learn) and data_attr.c (src/lens). */
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

#endif
