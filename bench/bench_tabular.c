/*
 * bench_tabular: explaining one prediction of a tabular model (issue 4's
 * tabular row). An XGBoost model (the data lens's learner, spex/data.h:
 * binary:logistic, 50 rounds of depth 3, eta 0.3) is trained once on every
 * row of a CSV data set; the value of a mask is the model's log-odds of
 * class 1 for the explained row with its ablated features (mask bit 0) set
 * to the column mean. One method at one budget through spex_explain, one
 * Markdown table row: queries used, R² of the surrogate on held-out
 * uniformly random masks (default 5,000) against the model itself, solve
 * seconds, the method's account. There is no planted truth: R² on held-out
 * masks is the measure of recovery.
 *
 *   bench_tabular --csv FILE --label COL --budget Q --method M [--row R]
 *                 [--max-order K] [--seed S] [--threads T] [--heldout H]
 *
 * bench/run_tabular.sh runs the grid of methods and budgets.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spex/data.h"
#include "spex/explain.h"
#include "spex/masks.h"
#include "spex/rng.h"

typedef struct tab_model {
    spex_ctx *ctx;
    const spex_dataset *ds;
    int64_t *rows; /* every row: the model is trained on all of them */
    spex_learn_opts lo;
    const double *row; /* the explained row (n_features) */
    double *mean;      /* column means (n_features) */
    double *X;         /* (cap, n_features) scratch of masked rows */
    int64_t cap;
} tab_model;

/* Value of each mask of the batch: log-odds of class 1 on the masked row.
 * The model is re-trained per batch from the same rows; XGBoost training is
 * deterministic (one thread, fixed seed), so every batch sees one model
 * (main checks this before timing). */
static int tab_eval(void *user, const spex_masks *b, double *out) {
    tab_model *m = user;
    int64_t count = spex_masks_count(b), d = m->ds->n_features;
    if (count > m->cap) {
        double *X = spex_realloc(m->ctx, m->X, (size_t)count, (size_t)d * sizeof *X);
        if (!X) return SPEX_E_NOMEM;
        m->X = X;
        m->cap = count;
    }
    double *scores = spex_calloc(m->ctx, (size_t)(count ? count : 1), 2 * sizeof *scores);
    if (!scores) return SPEX_E_NOMEM;
    for (int64_t i = 0; i < count; i++) {
        const uint64_t *mask = spex_masks_crow(b, i);
        for (int64_t j = 0; j < d; j++)
            m->X[i * d + j] = spex_bits_get(mask, j) ? m->row[j] : m->mean[j];
    }
    int rc = spex_learn_fit_predict_many(m->ctx, m->ds, m->rows, m->ds->n_rows, NULL, NULL, &m->lo,
                                         m->X, count, scores);
    for (int64_t i = 0; i < count; i++)
        out[i] = rc ? NAN : scores[2 * i + 1];
    spex_free(m->ctx, scores);
    return rc;
}

static const char *arg_str(int argc, char **argv, const char *name) {
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return NULL;
}

static double arg_num(int argc, char **argv, const char *name, double def) {
    const char *s = arg_str(argc, argv, name);
    return s ? strtod(s, NULL) : def;
}

int main(int argc, char **argv) {
    const char *path = arg_str(argc, argv, "--csv"), *label = arg_str(argc, argv, "--label");
    const char *mname = arg_str(argc, argv, "--method");
    if (!path || !label || !mname) {
        fprintf(stderr, "usage: bench_tabular --csv FILE --label COL --budget Q --method M "
                        "[--row R] [--max-order K] [--seed S] [--threads T] [--heldout H]\n");
        return 1;
    }
    spex_ctx *ctx = spex_ctx_new();
    spex_csv_opts co = spex_csv_opts_default();
    co.label = label;
    spex_dataset *ds = NULL;
    spex_explain_opts eo = spex_explain_opts_default();
    if (!ctx || spex_data_read_csv(ctx, path, &co, NULL, &ds) ||
        spex_method_parse(ctx, mname, &eo.method)) {
        fprintf(stderr, "bench_tabular: %s\n", ctx ? spex_errmsg(ctx) : "out of memory");
        return 2;
    }
    int64_t r = (int64_t)arg_num(argc, argv, "--row", 0),
            H = (int64_t)arg_num(argc, argv, "--heldout", 5000);
    int64_t d = ds->n_features;
    if (r < 0 || r >= ds->n_rows || H < 10 || ds->n_classes != 2) {
        fprintf(stderr, "bench_tabular: need 0 <= row < %lld, heldout >= 10, 2 classes\n",
                (long long)ds->n_rows);
        return 1;
    }
    eo.budget = (int64_t)arg_num(argc, argv, "--budget", 5000);
    eo.max_order = (int)arg_num(argc, argv, "--max-order", 3);
    eo.seed = (uint64_t)arg_num(argc, argv, "--seed", 1);
    spex_ctx_set_threads(ctx, (int)arg_num(argc, argv, "--threads", 2));

    tab_model m = {ctx, ds, NULL, spex_learn_opts_default(), ds->x + r * d, NULL, NULL, 0};
    m.lo.learner = SPEX_LEARNER_XGBOOST;
    m.rows = malloc((size_t)ds->n_rows * sizeof *m.rows);
    m.mean = calloc((size_t)d, sizeof *m.mean);
    if (!m.rows || !m.mean) return 1;
    for (int64_t i = 0; i < ds->n_rows; i++) {
        m.rows[i] = i;
        for (int64_t j = 0; j < d; j++)
            m.mean[j] += ds->x[i * d + j] / (double)ds->n_rows;
    }
    spex_valuefn vf = {tab_eval, &m, NULL, d, "xgboost on a masked row", NULL};

    /* held-out masks and their values; the first value is asked again in a
     * batch of its own: the same answer means one model throughout */
    spex_masks *h = NULL, *one = NULL;
    double *yh = malloc((size_t)H * sizeof *yh), y1 = NAN;
    if (!yh || spex_masks_new(ctx, d, H, &h) || spex_masks_new(ctx, d, 1, &one)) return 1;
    spex_rng rng;
    spex_rng_seed_stream(&rng, eo.seed, 0x7ab1e);
    for (int64_t i = 0; i < H; i++) {
        uint64_t *row;
        if (spex_masks_append_zero(h, &row)) return 1;
        spex_rng_bits(&rng, row, spex_masks_words(h), d);
    }
    uint64_t *row1;
    if (spex_masks_append_zero(one, &row1)) return 1;
    memcpy(row1, spex_masks_crow(h, 0), (size_t)spex_masks_words(h) * sizeof *row1);
    if (tab_eval(&m, h, yh) || tab_eval(&m, one, &y1)) {
        fprintf(stderr, "bench_tabular: %s\n", spex_errmsg(ctx));
        return 3;
    }
    if (y1 != yh[0]) {
        fprintf(stderr, "bench_tabular: the model is not reproducible (%.17g vs %.17g)\n", y1,
                yh[0]);
        return 3;
    }
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    spex_result *res = NULL;
    if (spex_explain(ctx, &vf, &eo, &res)) {
        printf("| %s | %lld | %s | %d | %lld | - | - | - | - | %s |\n", name, (long long)r, mname,
               eo.max_order, (long long)eo.budget, spex_errmsg(ctx));
        return 0;
    }
    double mean = 0, ss_tot = 0, ss_res = 0;
    for (int64_t i = 0; i < H; i++)
        mean += yh[i] / (double)H;
    for (int64_t i = 0; i < H; i++) {
        double e = yh[i] - spex_coefs_eval_fourier(res->fourier, spex_masks_crow(h, i));
        ss_res += e * e;
        ss_tot += (yh[i] - mean) * (yh[i] - mean);
    }
    char details[512];
    spex_result_details_text(res, details, sizeof details);
    printf("| %s | %lld | %s | %d | %lld | %lld | %.6f | %lld | %.2f | %s |\n", name, (long long)r,
           mname, eo.max_order, (long long)eo.budget, (long long)res->queries,
           1.0 - ss_res / ss_tot, (long long)spex_coefs_count(res->fourier), res->seconds_solve,
           details);
    spex_result_free(res);
    spex_masks_free(h);
    spex_masks_free(one);
    spex_free(ctx, m.X);
    free(m.rows);
    free(m.mean);
    free(yh);
    spex_dataset_free(ds);
    spex_ctx_free(ctx);
    return 0;
}
