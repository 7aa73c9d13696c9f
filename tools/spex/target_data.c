/* The data-attribution target of `spex explain` (--data TRAIN.csv, spex/data.h):
 * features are training rows (or groups of them), a mask keeps a subset, the
 * learner is re-trained on it, and the value is the new model's output on one
 * test row (--row) or its mean over many (--rows, a task). Feature names
 * "row <i> (label <y>)" or the group's name; the cache fingerprint is the
 * SHA-256 of the data file(s) and every setting, the explained row(s) too. */
#include <stdlib.h>
#include <string.h>

#include "target.h"
#include "spex/data.h"
#include "spex/store.h"

static const cli_opt data_opts[] = {
    {"data", "TRAIN.csv",
     "explain a prediction by the training examples: features are the\n"
     "rows of TRAIN.csv (header row, numeric columns, a label column);\n"
     "a mask keeps a subset, the learner is re-trained on it from scratch\n"
     "and the value is its output on the explained row; needs --label and\n"
     "--row (or --rows with --test)",
     NULL},
    {"label", "COLUMN", "--data: the class column (numbers or text)", NULL},
    {"test", "TEST.csv",
     "--data: the file of the explained row (same columns); without it\n"
     "row --row of TRAIN.csv is explained and held out of training",
     NULL},
    {"row", "K", "--data: the explained row, 0 = the first data row", NULL},
    {"rows", "SPEC",
     "--data with --test, instead of --row: a task, the value is the mean\n"
     "over these rows of TEST.csv of each one's value (mean margin,\n"
     "accuracy, log-loss): all, or rows and ranges such as 0-99,120\n"
     "(0 = the first data row); each mask still trains one model",
     NULL},
    {"learner", "L",
     "--data: logistic (L2-regularised logistic/softmax regression, L-BFGS;\n"
     "default) | xgboost (binary:logistic / multi:softprob, 1 thread, seed 0)",
     NULL},
    {"value", "V",
     "--data: margin (default: true class's score minus the best other;\n"
     "log-odds for 2 classes) | prob (its softmax probability) | logloss\n"
     "| accuracy (1 when the true class scores strictly highest, else 0;\n"
     "with --rows the fraction of rows predicted right)",
     NULL},
    {"groups", "G",
     "--data: features are G contiguous blocks of rows (block g = rows\n"
     "[g*N/G, (g+1)*N/G)) instead of single rows",
     NULL},
    {"group-by", "COLUMN",
     "--data: features are the groups of rows sharing a value of COLUMN\n"
     "(the column is not a model input)",
     NULL},
    {"l2", "L", "--data logistic: L2 penalty on all weights and intercepts (default 1)", NULL},
    {"rounds", "R", "--data xgboost: boosting rounds (default 50)", NULL},
    {"depth", "D", "--data xgboost: max tree depth (default 3)", NULL},
    {"eta", "E", "--data xgboost: learning rate (default 0.3)", NULL},
    {NULL, NULL, NULL, NULL},
};

typedef struct data_state {
    spex_dataset *train, *test;
    int64_t row;     /* the explained row (of test, or of the original training file) */
    char *test_path; /* borrowed option value, NULL when the row comes from the training file */
    int64_t *rows;   /* --rows: the task's n_rows rows of test (malloc'ed), else NULL */
    int64_t n_rows;
    char *rows_key; /* --rows: the rows as runs "0-99,120" (malloc'ed), else NULL */
    spex_data_value value;
    spex_learner learner;
} data_state;

static void free_data(void *p) {
    data_state *s = p;
    if (!s) return;
    spex_dataset_free(s->train);
    spex_dataset_free(s->test);
    free(s->rows);
    free(s->rows_key);
    free(s);
}

static int data_report(void *state, spex_ctx *ctx, const spex_result *res, FILE *f) {
    (void)ctx;
    (void)res;
    data_state *s = state;
    const spex_dataset *t = s->test;
    static const char *const vname[] = {
        "margin of the true class", "probability of the true class", "log-loss",
        "correctness (1 when the true class scores highest, else 0)"};
    const char *lname = s->learner == SPEX_LEARNER_XGBOOST ? "xgboost" : "logistic";
    if (s->rows) {
        fprintf(f, "\nvalue: the re-trained %s model's %s%s over %lld rows of %s (rows %s)\n",
                lname, s->value == SPEX_DATA_ACCURACY ? "accuracy" : "mean ",
                s->value == SPEX_DATA_ACCURACY ? "" : vname[s->value], (long long)s->n_rows,
                s->test_path, s->rows_key);
        return 0;
    }
    fprintf(f, "\nvalue: the re-trained %s model's %s on %s row %lld (label %s)\n", lname,
            vname[s->value], s->test_path ? "test" : "held-out training", (long long)s->row,
            t->class_names[t->y[0]]);
    return 0;
}

/* ds without row k (a copy); NULL when out of memory. */
static spex_dataset *drop_row(const spex_dataset *ds, int64_t k, spex_dataset **one) {
    spex_dataset *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    int64_t N = ds->n_rows, d = ds->n_features;
    size_t dd = (size_t)(d ? d : 1);
    int ok = a && b;
    if (ok) {
        *a = *ds;
        *b = *ds;
        a->n_rows = N - 1;
        b->n_rows = 1;
        a->x = malloc((size_t)(N > 1 ? N - 1 : 1) * dd * sizeof *a->x);
        a->y = malloc((size_t)(N > 1 ? N - 1 : 1) * sizeof *a->y);
        a->group = ds->group ? malloc((size_t)(N > 1 ? N - 1 : 1) * sizeof *a->group) : NULL;
        b->x = malloc(dd * sizeof *b->x);
        b->y = malloc(sizeof *b->y);
        b->group = NULL;
        b->n_groups = 0;
        a->class_names = calloc((size_t)ds->n_classes, sizeof(char *));
        b->class_names = calloc((size_t)ds->n_classes, sizeof(char *));
        a->feature_names = calloc(dd, sizeof(char *));
        b->feature_names = calloc(dd, sizeof(char *));
        a->group_names = ds->n_groups ? calloc((size_t)ds->n_groups, sizeof(char *)) : NULL;
        b->group_names = NULL;
        ok = a->x && a->y && (!ds->group || a->group) && b->x && b->y && a->class_names &&
             b->class_names && a->feature_names && b->feature_names &&
             (!ds->n_groups || a->group_names);
    }
    if (!ok) {
        if (a) a->n_classes = 0, a->n_features = 0, a->n_groups = 0;
        if (b) b->n_classes = 0, b->n_features = 0, b->n_groups = 0;
        spex_dataset_free(a);
        spex_dataset_free(b);
        return NULL;
    }
    for (int64_t i = 0, r = 0; i < N; i++) {
        if (i == k) continue;
        memcpy(a->x + r * d, ds->x + i * d, (size_t)d * sizeof *a->x);
        a->y[r] = ds->y[i];
        if (ds->group) a->group[r] = ds->group[i];
        r++;
    }
    memcpy(b->x, ds->x + k * d, (size_t)d * sizeof *b->x);
    b->y[0] = ds->y[k];
    for (int c = 0; c < ds->n_classes; c++) {
        a->class_names[c] = strdup(ds->class_names[c]);
        b->class_names[c] = strdup(ds->class_names[c]);
    }
    for (int64_t j = 0; j < d; j++) {
        a->feature_names[j] = strdup(ds->feature_names[j]);
        b->feature_names[j] = strdup(ds->feature_names[j]);
    }
    for (int64_t g = 0; g < ds->n_groups; g++)
        a->group_names[g] = strdup(ds->group_names[g]);
    *one = b;
    return a;
}

/* A row number of --rows at *p: decimal digits only, at most SPEX_CSV_MAX_ROWS;
 * -1 on anything else. Advances *p past it. */
static int64_t rows_number(const char **p) {
    int64_t v = 0;
    const char *q = *p;
    if (*q < '0' || *q > '9') return -1;
    for (; *q >= '0' && *q <= '9'; q++)
        if ((v = v * 10 + (*q - '0')) > SPEX_CSV_MAX_ROWS) return -1;
    *p = q;
    return v;
}

/* --rows SPEC: "all" or a comma-separated list of rows K and ranges A-B
 * (A <= B; repeats count twice). With n_file < 0 only the syntax is checked
 * (CLI_USAGE after printing the problem); else the rows of path, a file of
 * n_file data rows, go to *out (malloc'ed, *n_out of them; CLI_INPUT after
 * printing the problem when one is out of range). */
static int parse_rows(const char *spec, const char *path, int64_t n_file, int64_t **out,
                      int64_t *n_out) {
    int64_t cnt = 0, k = 0, *rows = NULL;
    int all = !strcmp(spec, "all");
    for (const char *p = spec; !all && (*p || p == spec);) { /* pass 1: syntax, count */
        int64_t a = rows_number(&p), b = a;
        if (a >= 0 && *p == '-') {
            p++;
            b = rows_number(&p);
        }
        if (a < 0 || b < a || (*p && *p != ',') || (*p == ',' && !p[1]) ||
            (cnt += b - a + 1) > SPEX_CSV_MAX_ROWS) {
            fprintf(stderr,
                    "spex explain: --rows '%s': expected all, or rows and ranges A-B (A <= B) "
                    "separated by commas, such as 0-99,120, at most %lld rows in all\n",
                    spec, (long long)SPEX_CSV_MAX_ROWS);
            return CLI_USAGE;
        }
        if (*p == ',') p++;
    }
    if (n_file < 0) return CLI_OK;
    if (all) cnt = n_file;
    if (cnt < 1) {
        fprintf(stderr, "spex explain: %s: --rows all: the file has no data row\n", path);
        return CLI_INPUT;
    }
    if (!(rows = malloc((size_t)cnt * sizeof *rows))) {
        fprintf(stderr, "spex explain: out of memory\n");
        return CLI_INPUT;
    }
    for (const char *p = spec; all ? k < cnt : *p != 0;) { /* pass 2: the rows */
        int64_t a = all ? k : rows_number(&p), b = a;
        if (!all && *p == '-') {
            p++;
            b = rows_number(&p);
        }
        if (!all && *p == ',') p++;
        if (b >= n_file) {
            fprintf(stderr,
                    "spex explain: %s: --rows: row %lld is out of range: the file has %lld "
                    "data rows (numbered from 0)\n",
                    path, (long long)b, (long long)n_file);
            free(rows);
            return CLI_INPUT;
        }
        for (int64_t r = a; r <= b; r++)
            rows[k++] = r;
    }
    *out = rows;
    *n_out = cnt;
    return CLI_OK;
}

/* The rows as runs of consecutive numbers, "0-99,120" (malloc'ed; NULL when
 * out of memory): the cache key and the label of a task, whatever --rows
 * spelled them as. */
static char *rows_runs(const int64_t *rows, int64_t n) {
    size_t cap = (size_t)n * 20 + 1, len = 0; /* rows < SPEX_CSV_MAX_ROWS: 8 digits */
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && rows[j + 1] == rows[j] + 1)
            j++;
        if (j > i)
            len += (size_t)snprintf(s + len, cap - len, "%s%lld-%lld", i ? "," : "",
                                    (long long)rows[i], (long long)rows[j]);
        else
            len += (size_t)snprintf(s + len, cap - len, "%s%lld", i ? "," : "", (long long)rows[i]);
        i = j + 1;
    }
    return s;
}

static int open_data(spex_ctx *ctx, const cli_opt *o, const spex_explain_opts *eo, cli_target *t) {
    (void)eo;
    const char *train_path = cli_get(o, "data"), *s;
    const char *test_path = cli_get(o, "test"), *label = cli_get(o, "label"),
               *group_by = cli_get(o, "group-by"), *rows_spec = cli_get(o, "rows");
    spex_data_attr_opts ao = spex_data_attr_opts_default();
    int64_t row = 0, v;
    double d;
    if (!label) {
        fprintf(stderr, "spex explain: --data needs --label COLUMN, the class column\n");
        return CLI_USAGE;
    }
    s = cli_get(o, "row");
    if (s && rows_spec) {
        fprintf(stderr, "spex explain: --row and --rows exclude each other (one explained row, "
                        "or the mean over many)\n");
        return CLI_USAGE;
    }
    if (rows_spec && !test_path) {
        fprintf(stderr, "spex explain: --rows needs --test TEST.csv, the file of the rows it "
                        "averages over\n");
        return CLI_USAGE;
    }
    if (!s && !rows_spec) {
        fprintf(stderr, "spex explain: --data needs --row K, the explained row (0 = the first "
                        "data row of --test, or of --data without --test), or --rows with "
                        "--test\n");
        return CLI_USAGE;
    }
    if (s && cli_int("row", s, 0, INT64_MAX, &row)) return CLI_USAGE;
    if (rows_spec && parse_rows(rows_spec, NULL, -1, NULL, NULL)) return CLI_USAGE;
    if ((s = cli_get(o, "learner")) && spex_learner_parse(ctx, s, &ao.learn.learner)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return CLI_USAGE;
    }
    if ((s = cli_get(o, "value")) && spex_data_value_parse(ctx, s, &ao.value)) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return CLI_USAGE;
    }
    if ((s = cli_get(o, "groups"))) {
        if (group_by) {
            fprintf(stderr, "spex explain: --groups and --group-by exclude each other\n");
            return CLI_USAGE;
        }
        if (cli_int("groups", s, 1, SPEX_MAX_FEATURES, &ao.n_groups)) return CLI_USAGE;
    }
    if ((s = cli_get(o, "l2"))) {
        if (cli_double("l2", s, 1e-12, 1e12, &d)) return CLI_USAGE;
        ao.learn.l2 = d;
    }
    if ((s = cli_get(o, "rounds"))) {
        if (cli_int("rounds", s, 1, 100000, &v)) return CLI_USAGE;
        ao.learn.rounds = (int)v;
    }
    if ((s = cli_get(o, "depth"))) {
        if (cli_int("depth", s, 1, 30, &v)) return CLI_USAGE;
        ao.learn.depth = (int)v;
    }
    if ((s = cli_get(o, "eta"))) {
        if (cli_double("eta", s, 1e-6, 1, &d)) return CLI_USAGE;
        ao.learn.eta = d;
    }
    spex_csv_opts co = spex_csv_opts_default();
    co.label = label;
    co.group_by = group_by;
    data_state *st = calloc(1, sizeof *st);
    if (!st) return CLI_INPUT;
    t->state = st;
    t->free_state = free_data;
    st->value = ao.value;
    st->learner = ao.learn.learner;
    st->row = row;
    st->test_path = (char *)test_path;
    spex_dataset *full = NULL;
    int rc = spex_data_read_csv(ctx, train_path, &co, NULL, &full);
    if (!rc && test_path) {
        st->train = full;
        full = NULL;
        spex_dataset *test = NULL;
        rc = spex_data_read_csv(ctx, test_path, &co, st->train, &test);
        if (!rc && rows_spec) { /* a task: the whole test set, the rows listed */
            int crc = parse_rows(rows_spec, test_path, test->n_rows, &st->rows, &st->n_rows);
            if (!crc && !(st->rows_key = rows_runs(st->rows, st->n_rows))) {
                fprintf(stderr, "spex explain: out of memory\n");
                crc = CLI_INPUT;
            }
            st->test = test;
            if (crc) return crc;
            test = NULL;
        } else if (!rc && row >= test->n_rows)
            rc = spex_seterr(ctx, SPEX_E_RANGE,
                             "%s: --row %lld is out of range: the file has %lld data rows "
                             "(numbered from 0)",
                             test_path, (long long)row, (long long)test->n_rows);
        if (!rc && test) {
            /* keep only row K of the test set */
            spex_dataset *one = NULL, *rest = drop_row(test, row, &one);
            if (!rest) rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
            spex_dataset_free(rest);
            spex_dataset_free(st->test);
            st->test = one;
        }
        spex_dataset_free(test);
    } else if (!rc) {
        if (row >= full->n_rows)
            rc = spex_seterr(ctx, SPEX_E_RANGE,
                             "%s: --row %lld is out of range: the file has %lld data rows "
                             "(numbered from 0)",
                             train_path, (long long)row, (long long)full->n_rows);
        else if (full->n_rows < 2)
            rc = spex_seterr(ctx, SPEX_E_RANGE,
                             "%s: one data row: nothing is left to train on once row %lld is "
                             "held out",
                             train_path, (long long)row);
        else if (!(st->train = drop_row(full, row, &st->test)))
            rc = spex_seterr(ctx, SPEX_E_NOMEM, "out of memory");
    }
    spex_dataset_free(full);
    if (!rc)
        rc = st->rows ? spex_data_attr_open_task(ctx, st->train, st->test, st->rows, st->n_rows,
                                                 &ao, &t->vf)
                      : spex_data_attr_open(ctx, st->train, st->test, 0, &ao, &t->vf);
    char h1[65] = "", h2[65] = "none";
    if (!rc) rc = spex_sha256_file(ctx, train_path, h1);
    if (!rc && test_path) rc = spex_sha256_file(ctx, test_path, h2);
    if (rc) {
        fprintf(stderr, "spex explain: %s\n", spex_errmsg(ctx));
        return cli_exit_code(rc);
    }
    const spex_dataset *tr = st->train;
    t->n = t->vf.n;
    t->names = calloc((size_t)t->n, sizeof *t->names);
    for (int64_t j = 0; t->names && j < t->n; j++) {
        if (ao.n_groups > 0) {
            int64_t b, e;
            spex_data_group_range(tr->n_rows, ao.n_groups, j, &b, &e);
            /* row numbers of the training file (the held-out row skipped) */
            int64_t fb = !test_path && b >= row ? b + 1 : b;
            int64_t fe = !test_path && e - 1 >= row ? e : e - 1;
            t->names[j] = cli_strf("rows %lld-%lld", (long long)fb, (long long)fe);
        } else if (tr->group) {
            t->names[j] = cli_strf("%s=%s", group_by, tr->group_names[j]);
        } else {
            int64_t fr = !test_path && j >= row ? j + 1 : j;
            t->names[j] = cli_strf("row %lld (label %s)", (long long)fr, tr->class_names[tr->y[j]]);
        }
    }
    /* one row: "row=K"; a task: "rows=" its rows as runs, so neither shares
     * answers with the other, nor with another row set */
    char *which =
        st->rows ? cli_strf("rows=%s", st->rows_key) : cli_strf("row=%lld", (long long)row);
    t->fingerprint =
        which ? cli_strf("data/1 train=%s test=%s label=%s group_by=%s groups=%lld "
                         "%s learner=%s value=%s l2=%.17g max_iter=%d rounds=%d "
                         "depth=%d eta=%.17g lambda=%.17g seed=%llu standardize=%d",
                         h1, h2, label, group_by ? group_by : "-", (long long)ao.n_groups, which,
                         ao.learn.learner == SPEX_LEARNER_XGBOOST ? "xgboost" : "logistic",
                         spex_data_value_name(ao.value), ao.learn.l2, ao.learn.max_iter,
                         ao.learn.rounds, ao.learn.depth, ao.learn.eta, ao.learn.xgb_lambda,
                         (unsigned long long)ao.learn.seed, ao.standardize)
              : NULL;
    free(which);
    t->label = st->rows
                   ? cli_strf("%s rows %s", test_path, st->rows_key)
                   : cli_strf("%s row %lld", test_path ? test_path : train_path, (long long)row);
    t->report = data_report;
    return CLI_OK;
}

const cli_target_kind cli_target_data = {
    .name = "data",
    .main = "data",
    .usage = "--data TRAIN.csv --label COLUMN --row K",
    .about = "a prediction by training rows",
    .opts = data_opts,
    .open = open_data,
};
