/*
 * spex/learn.h - tabular data sets read from CSV and the learners that the
 * data-attribution lens (spex/data.h) re-trains: L2-regularised logistic /
 * softmax regression of our own, and XGBoost.
 *
 * Example:
 *     spex_csv_opts co = spex_csv_opts_default();
 *     co.label = "label";
 *     spex_dataset *train;
 *     if (spex_data_read_csv(ctx, "train.csv", &co, NULL, &train) == SPEX_OK) {
 *         spex_learn_opts lo = spex_learn_opts_default();
 *         double scores[2];                   // n_classes scores of one row
 *         spex_learn_fit_predict(ctx, train, rows, n_rows, NULL, NULL, &lo, x, scores);
 *         spex_dataset_free(train);
 *     }
 */
#ifndef SPEX_LEARN_H
#define SPEX_LEARN_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Size caps of the CSV reader (SPEX_E_RANGE beyond them). */
#define SPEX_CSV_MAX_BYTES ((size_t)1 << 30)
#define SPEX_CSV_MAX_COLS 100000
#define SPEX_CSV_MAX_ROWS 10000000
#define SPEX_CSV_MAX_CLASSES 1000

/* A data set: plain data, owned by whoever holds the pointer; its arrays come
 * from the C allocator (malloc), so spex_dataset_free needs no context. */
typedef struct spex_dataset {
    int64_t n_rows;
    int64_t n_features;   /* numeric feature columns (label and group columns excluded) */
    double *x;            /* (n_rows, n_features) row-major */
    int *y;               /* n_rows class ids in [0, n_classes) */
    int n_classes;        /* distinct labels (of the training set for a test set) */
    char **class_names;   /* n_classes label texts, in order of first appearance
                             (numeric labels: sorted by value) */
    char **feature_names; /* n_features column names */
    int64_t *group;       /* n_rows group ids with --group-by, else NULL */
    int64_t n_groups;     /* distinct group values (0 without a group column) */
    char **group_names;   /* n_groups group texts, in order of first appearance */
} spex_dataset;

typedef struct spex_csv_opts {
    const char *label;    /* name of the label column (required) */
    const char *group_by; /* name of a column whose values group rows, or NULL */
    size_t max_bytes;     /* default SPEX_CSV_MAX_BYTES */
    int64_t max_rows;     /* default SPEX_CSV_MAX_ROWS */
    int64_t max_cols;     /* default SPEX_CSV_MAX_COLS */
} spex_csv_opts;

SPEX_API spex_csv_opts spex_csv_opts_default(void);

/* Reads a CSV file: one header row, comma-separated, no quoting; every cell
 * of a feature column a finite number (strtod syntax, surrounding spaces
 * allowed, nothing else); the label column numbers or any text (mapped to
 * class ids). With `like` (a training set), the file must have the same
 * feature columns in the same order and its labels are mapped through like's
 * classes (a label the training set lacks is an error). Errors: SPEX_E_IO
 * (cannot open/read), SPEX_E_PARSE (empty file, missing value, non-numeric
 * cell, ragged row, unknown label or group column, column mismatch with
 * like), SPEX_E_RANGE (a size cap); messages name the file, line and column.
 * *out owned by the caller. */
SPEX_API int spex_data_read_csv(spex_ctx *ctx, const char *path, const spex_csv_opts *opts,
                                const spex_dataset *like, spex_dataset **out);
/* The same from memory; `name` is used in messages. */
SPEX_API int spex_data_parse_csv(spex_ctx *ctx, const char *buf, size_t size, const char *name,
                                 const spex_csv_opts *opts, const spex_dataset *like,
                                 spex_dataset **out);
SPEX_API void spex_dataset_free(spex_dataset *ds);

/* ---- learners ---- */
typedef enum spex_learner {
    SPEX_LEARNER_LOGISTIC = 0, /* L2-regularised logistic (2 classes) / softmax regression */
    SPEX_LEARNER_XGBOOST = 1   /* gradient-boosted trees, XGBoost's C API */
} spex_learner;

typedef struct spex_learn_opts {
    spex_learner learner;
    double l2;         /* logistic: penalty (l2/2)·||W||² on all weights and intercepts,
                          loss summed over rows (default 1) */
    int max_iter;      /* logistic: Newton (2 classes) / L-BFGS (more) iterations (default 200) */
    int rounds;        /* xgboost: boosting rounds (default 50) */
    int depth;         /* xgboost: max tree depth (default 3) */
    double eta;        /* xgboost: learning rate (default 0.3) */
    double xgb_lambda; /* xgboost: L2 on leaf weights (default 1) */
    uint64_t seed;     /* xgboost seed (default 0) */
} spex_learn_opts;

SPEX_API spex_learn_opts spex_learn_opts_default(void);
/* "logistic", "xgboost". */
SPEX_API int spex_learner_parse(spex_ctx *ctx, const char *name, spex_learner *out);

/* Trains on the rows rows[0..n_rows) of ds (any order; duplicates count
 * twice) and writes the model's n_classes class scores (margins, logits) for
 * the feature vector x (ds->n_features values) to scores. A 2-class model has
 * scores {0, z} with z the log-odds of class 1. No rows: all scores 0 (the
 * uniform prediction). Single-threaded and deterministic. `mu`, `sd`: per
 * feature standardisation applied before the logistic learner (NULL: none).
 * Errors: SPEX_E_NOMEM, SPEX_E_NUMERIC (XGBoost failed, non-finite result). */
SPEX_API int spex_learn_fit_predict(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                                    int64_t n_rows, const double *mu, const double *sd,
                                    const spex_learn_opts *opts, const double *x, double *scores);
/* The same for n_x feature vectors x (n_x, n_features) row-major, scores
 * (n_x, n_classes): one model scores them all (what explaining a trained
 * model's prediction needs, e.g. bench/bench_tabular.c). Training is
 * deterministic, so calls with the same rows give the same model. */
SPEX_API int spex_learn_fit_predict_many(spex_ctx *ctx, const spex_dataset *ds, const int64_t *rows,
                                         int64_t n_rows, const double *mu, const double *sd,
                                         const spex_learn_opts *opts, const double *x, int64_t n_x,
                                         double *scores);

#ifdef __cplusplus
}
#endif
#endif
