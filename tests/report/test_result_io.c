/* The result file's "details" object (src/report/result_io.c, DESIGN.md
 * §4.3): each method's typed fields are written and read back exactly, so a
 * result read back prints the same one-line summary; files whose "details"
 * is today's free text still load (as no details); hostile values (wrong
 * types, ranges, list lengths) are refused with a message that names the
 * file and the key. */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "spex/backend.h"
#include "spex/report.h"

/* r written as JSON into a malloc'ed string. */
static char *to_json(spex_ctx *ctx, const spex_result *r) {
    FILE *f = tmpfile();
    CHECK(f != NULL);
    CHECK_RC(ctx, spex_result_write_json(ctx, r, f));
    long len = ftell(f);
    CHECK(len > 0);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    CHECK(buf != NULL);
    CHECK(fread(buf, 1, (size_t)len, f) == (size_t)len);
    buf[len] = 0;
    fclose(f);
    return buf;
}

/* Same doubles, NaN equal to NaN. */
static int same(double a, double b) {
    return (isnan(a) && isnan(b)) || a == b;
}

/* Writes r, reads it back, and checks the details field by field and the
 * summary line character by character. */
static void check_round_trip(spex_ctx *ctx, const spex_result *r) {
    char *json = to_json(ctx, r);
    spex_result *back = NULL;
    CHECK_RC(ctx, spex_result_parse(ctx, json, strlen(json), "rt.json", &back));
    const spex_details *a = &r->details, *b = &back->details;
    CHECK(a->kind == b->kind);
    if (a->kind == SPEX_DETAILS_SPEX) {
        const spex_spex_details *x = &a->u.spex, *y = &b->u.spex;
        CHECK(x->C == y->C && x->t == y->t && x->delays == y->delays);
        for (int c = 0; c < x->C; c++)
            CHECK(x->b[c] == y->b[c]);
        CHECK(x->structured == y->structured && x->structured_distinct == y->structured_distinct);
        CHECK(x->random == y->random && x->found == y->found && x->sweeps == y->sweeps);
        CHECK(x->pairs == y->pairs && x->triples == y->triples && same(x->seconds, y->seconds));
    } else if (a->kind == SPEX_DETAILS_PROXYSPEX) {
        const spex_proxyspex_details *x = &a->u.proxyspex, *y = &b->u.proxyspex;
        CHECK(x->max_depth == y->max_depth && same(x->lr, y->lr) && x->rounds == y->rounds);
        CHECK(same(x->grid_cv_r2, y->grid_cv_r2) && x->tree_terms == y->tree_terms);
        CHECK(x->kept == y->kept && same(x->energy, y->energy) && same(x->alpha, y->alpha));
        CHECK(same(x->cv_r2, y->cv_r2) && x->grown == y->grown);
        CHECK(same(x->seconds_grow, y->seconds_grow) && x->final_terms == y->final_terms);
        CHECK(same(x->seconds_xgb, y->seconds_xgb));
    } else if (a->kind != SPEX_DETAILS_NONE) {
        const spex_linear_details *x = &a->u.linear, *y = &b->u.linear;
        CHECK(x->masks == y->masks && x->columns == y->columns && x->max_order == y->max_order);
        CHECK(same(x->alpha, y->alpha) && x->nonzero == y->nonzero && same(x->cv_r2, y->cv_r2));
        CHECK(x->rank == y->rank && same(x->train_r2, y->train_r2));
    }
    char t1[512], t2[512];
    int l1 = spex_result_details_text(r, t1, sizeof t1);
    int l2 = spex_result_details_text(back, t2, sizeof t2);
    printf("%s\n  -> %s\n", t1, t2);
    CHECK(l1 == l2 && !strcmp(t1, t2));
    CHECK((l1 == 0) == (a->kind == SPEX_DETAILS_NONE));
    /* and written again, byte for byte the same file */
    char *again = to_json(ctx, back);
    CHECK(!strcmp(json, again));
    free(again);
    free(json);
    spex_result_free(back);
}

/* Hand-made accounts of every kind, with the awkward values: unequal group
 * sizes, NaN (no grid search), infinities, LASSO's rank -1. */
static void test_round_trip_fields(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_result *r;
    CHECK_RC(ctx, spex_result_new(ctx, 5, &r));
    check_round_trip(ctx, r); /* no details: null */

    r->details.kind = SPEX_DETAILS_SPEX;
    spex_spex_details *s = &r->details.u.spex;
    *s = (spex_spex_details){3, {5, 5, 4}, 5, 56, 4480, 4368, 632, 100, 14, 33, 0, 0.00712345};
    check_round_trip(ctx, r);
    char line[512];
    spex_result_details_text(r, line, sizeof line);
    CHECK(!strcmp(line, "spex: b = 5,5,4, t = 5, C = 3 groups, 56 delays: 4480 structured masks "
                        "(4368 distinct) + 632 random; 100 coefficients found in 14 peeling "
                        "sweeps, 33 pairs, 0 triples (0.007 s)"));
    s->b[2] = 5; /* all equal: "b = 5" */
    spex_result_details_text(r, line, sizeof line);
    CHECK(!strncmp(line, "spex: b = 5, t = 5, C = 3 groups", 32));
    /* snprintf-style: the full length, the line cut to the buffer */
    char small[10];
    CHECK(spex_result_details_text(r, small, sizeof small) == (int)strlen(line));
    CHECK(!strcmp(small, "spex: b ="));

    memset(&r->details, 0, sizeof r->details);
    r->details.kind = SPEX_DETAILS_PROXYSPEX;
    r->details.u.proxyspex = (spex_proxyspex_details){
        3, 0.1, 1000, NAN, 5826, 500, 0.995, 2.6612345678, 0.98151, 30, 0.12, 119, INFINITY};
    check_round_trip(ctx, r);
    spex_result_details_text(r, line, sizeof line);
    CHECK(!strcmp(line, "proxy: depth 3, lr 0.1, 1000 rounds (grid cv r2 nan); 5826 tree terms; "
                        "kept 500 (0.9950 of the energy), ridge alpha 2.66, cv r2 0.9815; grown "
                        "by 30 (0.12 s); 119 above the noise level after the final refit; "
                        "xgboost inf s"));
    r->details.u.proxyspex.seconds_xgb = -INFINITY;
    check_round_trip(ctx, r);

    memset(&r->details, 0, sizeof r->details);
    r->details.kind = SPEX_DETAILS_LASSO;
    r->details.u.linear = (spex_linear_details){1000, 528, 2, 0.163, 36, 0.4639, -1, 0.51};
    check_round_trip(ctx, r);
    r->details.kind = SPEX_DETAILS_KERNELSHAP;
    r->details.u.linear = (spex_linear_details){2000, 528, 2, 0.0, 529, NAN, 528, 0.6335};
    check_round_trip(ctx, r);
    spex_result_details_text(r, line, sizeof line);
    CHECK(!strcmp(line, "faith-banzhaf regression: 2000 masks, 528 Moebius columns (orders 1..2), "
                        "rank 528, train r2 0.6335"));
    spex_result_free(r);
    spex_ctx_free(ctx);
}

/* Results of real runs (SPEX, LASSO, Faith-Banzhaf) read back print the same
 * summary. */
static void test_round_trip_runs(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int n = 10;
    spex_coefs *c;
    CHECK_RC(ctx, spex_coefs_new(ctx, n, &c));
    int32_t a[1] = {2}, p[2] = {1, 7}, t[3] = {0, 4, 9};
    CHECK_RC(ctx, spex_coefs_set(c, a, 1, 1.5));
    CHECK_RC(ctx, spex_coefs_set(c, p, 2, -0.75));
    CHECK_RC(ctx, spex_coefs_set(c, t, 3, 0.5));
    spex_game *g;
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 0.0, &g));
    spex_coefs_free(c);
    spex_valuefn vf;
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 1, &vf));
    const spex_method ms[] = {SPEX_METHOD_SPEX, SPEX_METHOD_LASSO, SPEX_METHOD_KERNELSHAP,
                              SPEX_METHOD_EXACT};
    const spex_details_kind ks[] = {SPEX_DETAILS_SPEX, SPEX_DETAILS_LASSO, SPEX_DETAILS_KERNELSHAP,
                                    SPEX_DETAILS_NONE};
    for (int i = 0; i < 4; i++) {
        spex_explain_opts eo = spex_explain_opts_default();
        eo.method = ms[i];
        eo.budget = ms[i] == SPEX_METHOD_EXACT ? 0 : 600;
        eo.max_order = 3;
        spex_result *r;
        CHECK_RC(ctx, spex_explain(ctx, &vf, &eo, &r));
        CHECK(r->details.kind == ks[i]);
        check_round_trip(ctx, r);
        spex_result_free(r);
    }
    spex_valuefn_release(&vf);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

static const char *const head = "{\"format\": \"spex-result/1\", \"n\": 3, \"fourier\": [], ";

/* parse head + tail; returns the code, *kind the details kind on success. */
static int parse_tail(spex_ctx *ctx, const char *tail, spex_details_kind *kind) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s%s}", head, tail);
    spex_result *r = NULL;
    int rc = spex_result_parse(ctx, buf, strlen(buf), "bad.json", &r);
    if (!rc) *kind = r->details.kind;
    CHECK((rc == SPEX_OK) == (r != NULL));
    spex_result_free(r);
    return rc;
}

/* Files from before the typed fields: "details" a string (ignored), or
 * absent, or null. */
static void test_old_files(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_details_kind k = SPEX_DETAILS_LASSO;
    CHECK_RC(ctx, parse_tail(ctx,
                             "\"details\": \"spex: b = 7, t = 5, C = 4 groups, 56 delays: 28672 "
                             "structured masks (28504 distinct) + 1496 random\"",
                             &k));
    CHECK(k == SPEX_DETAILS_NONE);
    k = SPEX_DETAILS_LASSO;
    CHECK_RC(ctx, parse_tail(ctx, "\"details\": \"\"", &k));
    CHECK(k == SPEX_DETAILS_NONE);
    k = SPEX_DETAILS_LASSO;
    CHECK_RC(ctx, parse_tail(ctx, "\"details\": null", &k));
    CHECK(k == SPEX_DETAILS_NONE);
    k = SPEX_DETAILS_LASSO;
    CHECK_RC(ctx, parse_tail(ctx, "\"details\": {\"method\": \"none\"}", &k));
    CHECK(k == SPEX_DETAILS_NONE);
    k = SPEX_DETAILS_LASSO;
    CHECK_RC(ctx, parse_tail(ctx, "\"seed\": 1", &k));
    CHECK(k == SPEX_DETAILS_NONE);
    spex_ctx_free(ctx);
}

static const char *const lasso_ok =
    "{\"method\": \"lasso\", \"masks\": 10, \"columns\": 6, \"max_order\": 2, \"alpha\": 0.1, "
    "\"nonzero\": 3, \"cv_r2\": 0.5, \"rank\": -1, \"train_r2\": 0.6}";
static const char *const spex_ok =
    "{\"method\": \"spex\", \"b\": [1, 0], \"t\": 1, \"C\": 2, \"delays\": 4, \"structured\": 8, "
    "\"structured_distinct\": 8, \"random\": 0, \"found\": 1, \"sweeps\": 1, \"pairs\": 0, "
    "\"triples\": 0, \"seconds\": 0.5}";

/* base with the value of "key" (up to the next ", \"" or the closing brace)
 * replaced by value, or the key dropped when value is NULL; into out. */
static void with(const char *base, const char *key, const char *value, char *out, size_t cap) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *at = strstr(base, pat);
    CHECK(at != NULL);
    const char *end = strstr(at, ", \"");
    if (!end) end = base + strlen(base) - 1;
    if (value) {
        snprintf(out, cap, "%.*s%s%s%s", (int)(at - base), base, pat, value, end);
    } else if (*end == ',') { /* drop "key": v, */
        snprintf(out, cap, "%.*s%s", (int)(at - base), base, end + 2);
    } else { /* the last key: drop , "key": v */
        snprintf(out, cap, "%.*s%s", (int)(at - 2 - base), base, end);
    }
}

/* Hostile details: each refused with SPEX_E_PARSE and a message naming the
 * file and the key. */
static void test_bad_details(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_details_kind k;
    char tail[1024], d[900];
    /* the well-formed ones the bad ones are made from */
    snprintf(tail, sizeof tail, "\"details\": %s", lasso_ok);
    CHECK_RC(ctx, parse_tail(ctx, tail, &k));
    CHECK(k == SPEX_DETAILS_LASSO);
    snprintf(tail, sizeof tail, "\"details\": %s", spex_ok);
    CHECK_RC(ctx, parse_tail(ctx, tail, &k));
    CHECK(k == SPEX_DETAILS_SPEX);
    with(lasso_ok, "train_r2", "0.6, \"future\": [1]", d, sizeof d); /* unknown keys: ignored */
    snprintf(tail, sizeof tail, "\"details\": %s", d);
    CHECK_RC(ctx, parse_tail(ctx, tail, &k));
    static const struct {
        const char *base, *key, *value; /* base with key's value replaced (NULL: dropped) */
        const char *want;
    } bad[] = {
        {"5", NULL, NULL, "\"details\" must be an object"},
        {"[]", NULL, NULL, "\"details\" must be an object"},
        {"true", NULL, NULL, "\"details\" must be an object"},
        {"{}", NULL, NULL, "details.method must be"},
        {"{\"method\": \"exact\"}", NULL, NULL, "details.method must be"},
        {"{\"method\": 3}", NULL, NULL, "details.method must be"},
        {"{\"method\": \"lasso\"}", NULL, NULL, "details.masks must be an integer"},
        {"{\"method\": \"proxyspex\", \"max_depth\": 3}", NULL, NULL,
         "details.lr must be a number"},
        {"L", "masks", "-1", "details.masks must be an integer in 0.."},
        {"L", "masks", "1.5", "details.masks must be an integer"},
        {"L", "masks", "\"10\"", "details.masks must be an integer"},
        {"L", "masks", "null", "details.masks must be an integer"},
        {"L", "columns", NULL, "details.columns must be an integer"},
        {"L", "max_order", "64", "details.max_order must be an integer in 0..63"},
        {"L", "rank", "-2", "details.rank must be an integer in -1.."},
        {"L", "alpha", "\"big\"", "details.alpha must be a number"},
        {"L", "alpha", "[0.1]", "details.alpha must be a number"},
        {"L", "train_r2", NULL, "details.train_r2 must be a number"},
        {"S", "C", "0", "details.C must be an integer in 1..64"},
        {"S", "C", "65", "details.C must be an integer in 1..64"},
        {"S", "C", "2147483648", "details.C must be an integer"},
        {"S", "C", "9223372036854775807", "details.C must be an integer"},
        {"S", "t", "-3", "details.t must be an integer in 0.."},
        {"S", "t", "2147483648", "details.t must be an integer in 0..2147483647"},
        {"S", "b", "[1]", "details.b must be a list of C = 2"},
        {"S", "b", "[1, 2, 3]", "details.b must be a list of C = 2"},
        {"S", "b", "7", "details.b must be a list"},
        {"S", "b", NULL, "details.b must be a list"},
        {"S", "b", "[1, 64]", "details.b[1] must be an integer in 0..63"},
        {"S", "b", "[-1, 2]", "details.b[0] must be an integer"},
        {"S", "b", "[1, 2.0]", "details.b[1] must be an integer"},
        {"S", "seconds", "{}", "details.seconds must be a number"},
        {"S", "t", "1, \"t\": 2", NULL}, /* a duplicate key: the JSON parser's error */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *base = bad[i].base;
        if (!strcmp(base, "L") || !strcmp(base, "S")) {
            with(*base == 'L' ? lasso_ok : spex_ok, bad[i].key, bad[i].value, d, sizeof d);
            base = d;
        }
        snprintf(tail, sizeof tail, "\"details\": %s", base);
        int rc = parse_tail(ctx, tail, &k);
        printf("%s\n  -> %s\n", base, spex_errmsg(ctx));
        CHECK(rc == SPEX_E_PARSE);
        CHECK(!strncmp(spex_errmsg(ctx), "bad.json", 8));
        if (bad[i].want) CHECK(strstr(spex_errmsg(ctx), bad[i].want) != NULL);
    }
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_fields),
        cmocka_unit_test(test_round_trip_runs),
        cmocka_unit_test(test_old_files),
        cmocka_unit_test(test_bad_details),
    };
    SPEX_RUN_TESTS(tests);
}
