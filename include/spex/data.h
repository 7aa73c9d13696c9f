/*
 * spex/data.h - the data-attribution lens (DESIGN.md §1): a value function
 * whose features are training rows (or groups of rows) of a data set
 * (spex/learn.h): a mask keeps a subset, the learner is re-trained on it from
 * scratch, and the value is the new model's output on one test row, or its
 * mean over many test rows (a task: mean margin, accuracy, log-loss).
 *
 * Example:
 *     spex_csv_opts co = spex_csv_opts_default();
 *     co.label = "label";
 *     spex_dataset *train, *test;
 *     spex_data_read_csv(ctx, "train.csv", &co, NULL, &train);
 *     spex_data_read_csv(ctx, "test.csv", &co, train, &test); // same columns, same classes
 *     spex_data_attr_opts ao = spex_data_attr_opts_default();
 *     ao.learn.learner = SPEX_LEARNER_LOGISTIC;
 *     spex_valuefn vf;
 *     if (spex_data_attr_open(ctx, train, test, 3, &ao, &vf) == SPEX_OK) { // row 3
 *         ...                                  // spex_explain(ctx, &vf, ...)
 *         spex_valuefn_release(&vf);
 *     }
 *     ao.value = SPEX_DATA_ACCURACY;       // the task: accuracy over every test row
 *     if (spex_data_attr_open_task(ctx, train, test, NULL, 0, &ao, &vf) == SPEX_OK) ...
 *     spex_dataset_free(test);
 *     spex_dataset_free(train);
 */
#ifndef SPEX_DATA_H
#define SPEX_DATA_H

#include "spex/learn.h"
#include "spex/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the value function ---- */
typedef enum spex_data_value {
    SPEX_DATA_MARGIN =
        0, /* s_y - max_{c≠y} s_c: the true class's margin (log-odds for 2 classes) */
    SPEX_DATA_PROB = 1,    /* softmax probability of the true class */
    SPEX_DATA_LOGLOSS = 2, /* -log of that probability */
    SPEX_DATA_ACCURACY = 3 /* 1 when the true class's score beats every other
                              (margin > 0; a tie counts as wrong), else 0 */
} spex_data_value;

/* "margin", "prob", "logloss", "accuracy"; SPEX_E_INVAL for another name. */
SPEX_API int spex_data_value_parse(spex_ctx *ctx, const char *name, spex_data_value *out);
/* The name spex_data_value_parse reads; "?" for a value outside the enum. */
SPEX_API const char *spex_data_value_name(spex_data_value v);

typedef struct spex_data_attr_opts {
    spex_learn_opts learn;
    spex_data_value value; /* default SPEX_DATA_MARGIN */
    int64_t n_groups;      /* > 0: G contiguous groups of rows, group g holding rows
                              [g·N/G, (g+1)·N/G); 0: one feature per row, or the
                              data set's own groups (ds->group) when it has them */
    int standardize;       /* logistic: standardise features by the full training
                              set's mean and sd (default 1) */
} spex_data_attr_opts;

SPEX_API spex_data_attr_opts spex_data_attr_opts_default(void);

/* A value function over the features of train (rows, or groups as above):
 * a mask keeps the rows of its kept features, the learner is re-trained on
 * them from scratch, and the value is computed on test row `test_row` of
 * `test` (its class from the label column). Masks of a batch are re-trained
 * on spex_ctx_threads(ctx) threads; each answer depends only on its mask.
 * train and test are borrowed and must outlive vf. Errors: SPEX_E_RANGE (test
 * row out of range, G outside [1, rows]), SPEX_E_INVAL (column mismatch). */
SPEX_API int spex_data_attr_open(spex_ctx *ctx, const spex_dataset *train, const spex_dataset *test,
                                 int64_t test_row, const spex_data_attr_opts *opts,
                                 spex_valuefn *vf);
/* The lens over a task: the value of a mask is the mean, over the test rows
 * rows[0..n_rows) of `test` (repeats count twice), of each row's value as
 * spex_data_attr_open defines it; with opts->value SPEX_DATA_ACCURACY it is
 * the re-trained model's accuracy on those rows. rows NULL: every row of
 * test, in order (n_rows is then ignored). Each mask trains the learner once
 * and that model scores every row. spex_data_attr_open is the task of one
 * row. Errors as spex_data_attr_open, naming the row at fault; SPEX_E_INVAL
 * when there is no row (n_rows < 1 or an empty test set). */
SPEX_API int spex_data_attr_open_task(spex_ctx *ctx, const spex_dataset *train,
                                      const spex_dataset *test, const int64_t *rows, int64_t n_rows,
                                      const spex_data_attr_opts *opts, spex_valuefn *vf);
/* The rows [*begin, *end) of feature j under contiguous grouping of n rows
 * into G groups (G = 0: one row per feature). */
SPEX_API void spex_data_group_range(int64_t n_rows, int64_t n_groups, int64_t j, int64_t *begin,
                                    int64_t *end);

#ifdef __cplusplus
}
#endif
#endif
