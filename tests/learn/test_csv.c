/* The CSV reader of the data lens (src/backend/csv.c): values and class ids of
 * good files, and for each kind of bad file the error code and a message
 * naming the file, line and column. */
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "spex/data.h"

static int parse(spex_ctx *ctx, const char *text, const spex_csv_opts *o, const spex_dataset *like,
                 spex_dataset **ds) {
    return spex_data_parse_csv(ctx, text, strlen(text), "t.csv", o, like, ds);
}

static spex_csv_opts lab(const char *label) {
    spex_csv_opts o = spex_csv_opts_default();
    o.label = label;
    return o;
}

static void test_good(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_csv_opts o = lab("y");
    spex_dataset *ds = NULL;
    /* spaces, CRLF, a trailing blank line; text labels in order of appearance */
    CHECK_RC(ctx,
             parse(ctx, "a, y ,b\r\n1.5, cat, -2e1\r\n 0 ,dog,3\r\n7,cat,0.25\n\n", &o, NULL, &ds));
    CHECK(ds->n_rows == 3 && ds->n_features == 2 && ds->n_classes == 2);
    CHECK(!strcmp(ds->feature_names[0], "a") && !strcmp(ds->feature_names[1], "b"));
    CHECK_NEAR(ds->x[0], 1.5, 0);
    CHECK_NEAR(ds->x[1], -20, 0);
    CHECK_NEAR(ds->x[5], 0.25, 0);
    CHECK(ds->y[0] == 0 && ds->y[1] == 1 && ds->y[2] == 0);
    CHECK(!strcmp(ds->class_names[0], "cat") && !strcmp(ds->class_names[1], "dog"));
    /* a test file maps its labels through the training classes */
    spex_dataset *te = NULL;
    CHECK_RC(ctx, parse(ctx, "a,y,b\n0,dog,0\n", &o, ds, &te));
    CHECK(te->n_classes == 2 && te->y[0] == 1);
    spex_dataset_free(te);
    spex_dataset_free(ds);
    /* numeric labels: classes sorted by value, "1.0" matches "1" in a test file */
    CHECK_RC(ctx, parse(ctx, "y,x\n10,0\n2,0\n1,0\n2,1\n", &o, NULL, &ds));
    CHECK(ds->n_classes == 3 && ds->y[0] == 2 && ds->y[1] == 1 && ds->y[2] == 0 && ds->y[3] == 1);
    CHECK_RC(ctx, parse(ctx, "y,x\n1.0,5\n", &o, ds, &te));
    CHECK(te->y[0] == 0);
    spex_dataset_free(te);
    spex_dataset_free(ds);
    /* group column: ids in order of first appearance, not a feature */
    o.group_by = "g";
    CHECK_RC(ctx, parse(ctx, "x,g,y\n1,b,0\n2,a,1\n3,b,1\n", &o, NULL, &ds));
    CHECK(ds->n_features == 1 && ds->n_groups == 2);
    CHECK(ds->group[0] == 0 && ds->group[1] == 1 && ds->group[2] == 0);
    CHECK(!strcmp(ds->group_names[0], "b"));
    spex_dataset_free(ds);
    spex_ctx_free(ctx);
}

/* expect: code and every fragment of the message */
static void bad(spex_ctx *ctx, const char *text, const spex_csv_opts *o, const spex_dataset *like,
                int code, const char *frag1, const char *frag2) {
    spex_dataset *ds = NULL;
    int rc = parse(ctx, text, o, like, &ds);
    spex_test_checks++;
    if (rc != code || ds != NULL)
        fail_msg("'%s': rc %d (expected %d): %s", text, rc, code, spex_errmsg(ctx));
    const char *m = spex_errmsg(ctx);
    spex_test_checks++;
    if (!strstr(m, "t.csv") || (frag1 && !strstr(m, frag1)) || (frag2 && !strstr(m, frag2)))
        fail_msg("'%s': message '%s' lacks t.csv / '%s' / '%s'", text, m, frag1 ? frag1 : "",
                 frag2 ? frag2 : "");
}

static void test_errors(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_csv_opts o = lab("y");
    bad(ctx, "", &o, NULL, SPEX_E_PARSE, "empty file", NULL);
    bad(ctx, "\n  \n", &o, NULL, SPEX_E_PARSE, "empty file", NULL);
    bad(ctx, "a,y\n", &o, NULL, SPEX_E_PARSE, "no data rows", NULL);
    bad(ctx, "a,label\n1,2\n", &o, NULL, SPEX_E_PARSE, "no label column named 'y'", "line 1");
    bad(ctx, "a,y,b\n1,0,2\n1,,2\n", &o, NULL, SPEX_E_PARSE, "line 3, column 2", "missing value");
    bad(ctx, "a,y,b\n1,0,2\n1,1,\n", &o, NULL, SPEX_E_PARSE, "line 3, column 3 ('b')",
        "missing value");
    bad(ctx, "a,y,b\n1,0,2\n1,1,2x\n", &o, NULL, SPEX_E_PARSE, "line 3, column 3 ('b')",
        "not a number: '2x'");
    bad(ctx, "a,y\nnan,0\n", &o, NULL, SPEX_E_PARSE, "line 2, column 1", "not a number");
    bad(ctx, "a,y\ninf,0\n", &o, NULL, SPEX_E_PARSE, "line 2, column 1", "not a number");
    bad(ctx, "a,y\n1e999,0\n", &o, NULL, SPEX_E_PARSE, "line 2, column 1", "not a number");
    bad(ctx, "a,y\n0x10,0\n", &o, NULL, SPEX_E_PARSE, "line 2", "not a number");
    bad(ctx, "a,y,b\n1,0,2\n1,1\n", &o, NULL, SPEX_E_PARSE, "line 3: 2 cells, expected 3",
        "ragged");
    bad(ctx, "a,y\n1,0\n1,1,5\n", &o, NULL, SPEX_E_PARSE, "line 3: 3 cells", "ragged");
    bad(ctx, "a,,y\n1,2,0\n", &o, NULL, SPEX_E_PARSE, "line 1, column 2", "empty column name");
    spex_csv_opts og = lab("y");
    og.group_by = "site";
    bad(ctx, "a,y\n1,0\n", &og, NULL, SPEX_E_PARSE, "no group column named 'site'", NULL);
    /* caps */
    spex_csv_opts oc = lab("y");
    oc.max_rows = 2;
    bad(ctx, "a,y\n1,0\n2,1\n3,0\n", &oc, NULL, SPEX_E_RANGE, "3 data rows", "limit of 2");
    oc = lab("y");
    oc.max_cols = 2;
    bad(ctx, "a,b,y\n1,0,1\n", &oc, NULL, SPEX_E_RANGE, "3 columns", "limit of 2");
    oc = lab("y");
    oc.max_bytes = 8;
    bad(ctx, "a,y\n1,0\n2,1\n", &oc, NULL, SPEX_E_RANGE, "bytes", "limit of 8");
    /* against a training set */
    spex_dataset *tr = NULL;
    CHECK_RC(ctx, parse(ctx, "a,b,y\n1,2,cat\n3,4,dog\n", &o, NULL, &tr));
    bad(ctx, "a,b,y\n1,2,bird\n", &o, tr, SPEX_E_PARSE, "line 2, column 3", "label 'bird'");
    bad(ctx, "b,a,y\n1,2,cat\n", &o, tr, SPEX_E_PARSE, "line 1", "feature columns differ");
    spex_dataset_free(tr);
    /* files */
    spex_dataset *ds = NULL;
    int rc = spex_data_read_csv(ctx, "/nonexistent/t.csv", &o, NULL, &ds);
    CHECK(rc == SPEX_E_IO && ds == NULL && strstr(spex_errmsg(ctx), "/nonexistent/t.csv"));
    CHECK_RC(ctx, spex_data_read_csv(ctx, "../shared/data/breast_cancer.csv",
                                     &(spex_csv_opts){"target", NULL, SPEX_CSV_MAX_BYTES,
                                                      SPEX_CSV_MAX_ROWS, SPEX_CSV_MAX_COLS},
                                     NULL, &ds));
    CHECK(ds->n_rows == 569 && ds->n_features == 30 && ds->n_classes == 2);
    CHECK_NEAR(ds->x[0], 17.99, 0);
    spex_dataset_free(ds);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_errors)};
    SPEX_RUN_TESTS(tests);
}
