/* Feature names of a result (spex_result_set_features, src/algo/features.c):
 * repeated names become name#1, name#2, ... in feature order, names given
 * once stay; a "name#k" that is already a feature's name is skipped; the
 * names come out distinct. Checked on hand-made cases, against a quadratic
 * reference on random lists drawn from a small alphabet of colliding names,
 * at n = 100,000, and under every allocation failure (result unchanged). */
#include "test_util.h"

#include <stdlib.h>
#include <string.h>

#include "spex/explain.h"
#include "spex/rng.h"

/* A result of n features named by names (set through the function under test). */
static spex_result *named(spex_ctx *ctx, int64_t n, const char *const *names) {
    spex_result *r = NULL;
    CHECK_RC(ctx, spex_result_new(ctx, n, &r));
    CHECK_RC(ctx, spex_result_set_features(r, names));
    return r;
}

static void check_names(const spex_result *r, const char *const *want) {
    for (int64_t j = 0; j < r->n; j++) {
        spex_test_checks++;
        if (strcmp(r->features[j], want[j]))
            fail_msg("feature %lld named '%s', expected '%s'", (long long)j, r->features[j],
                     want[j]);
    }
}

static void test_cases(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static const struct {
        int n;
        const char *in[8], *want[8];
    } cases[] = {
        {3, {"a", "a", "a"}, {"a#1", "a#2", "a#3"}},
        /* a name that is a prefix of another is a different name */
        {4, {"wait", "waiter", "waiter", "wai"}, {"wait", "waiter#1", "waiter#2", "wai"}},
        /* no repeats: unchanged */
        {3, {"x", "y", "z"}, {"x", "y", "z"}},
        /* a given "a#1" keeps its name; the repeats skip it */
        {3, {"a", "a#1", "a"}, {"a#2", "a#1", "a#3"}},
        /* repeats of a name that looks numbered, and of the empty name */
        {6, {"a#1", "", "a#1", "", "a", "a"}, {"a#1#1", "#1", "a#1#2", "#2", "a#1", "a#2"}},
        /* interleaved groups count separately */
        {6, {"b", "a", "b", "a", "b", "c"}, {"b#1", "a#1", "b#2", "a#2", "b#3", "c"}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        spex_result *r = named(ctx, cases[c].n, cases[c].in);
        check_names(r, cases[c].want);
        spex_result_free(r);
    }
    /* the whole sentence of the issue: both words repeat */
    const char *words[] = {"the", "waiter", "is",     "never", "so",     "superb",
                           "but", "the",    "waiter", "felt",  "lovely", "."};
    const char *want[] = {"the#1", "waiter#1", "is",       "never", "so",     "superb",
                          "but",   "the#2",    "waiter#2", "felt",  "lovely", "."};
    spex_result *r = named(ctx, 12, words);
    check_names(r, want);
    /* NULL keeps the names the result has (distinct: unchanged) */
    CHECK_RC(ctx, spex_result_set_features(r, NULL));
    check_names(r, want);
    spex_result_free(r);
    /* NULL array: x0..; a NULL entry keeps its feature's name */
    r = named(ctx, 3, NULL);
    check_names(r, (const char *[]){"x0", "x1", "x2"});
    CHECK_RC(ctx, spex_result_set_features(r, (const char *[]){"x2", NULL, NULL}));
    check_names(r, (const char *[]){"x2#1", "x1", "x2#2"});
    spex_result_free(r);
    spex_ctx_free(ctx);
}

/* The rule written out directly, O(n^2): 1 when name s is among the names
 * handed out so far (out[i] NULL: not yet). */
static int taken(char **out, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (out[i] && !strcmp(out[i], s)) return 1;
    return 0;
}

static void reference(const char *const *in, int n, char **out) {
    for (int j = 0; j < n; j++) {
        int count = 0;
        for (int i = 0; i < n; i++)
            count += !strcmp(in[i], in[j]);
        out[j] = count == 1 ? strdup(in[j]) : NULL;
    }
    for (int j = 0; j < n; j++) {
        if (out[j]) continue;
        /* k after the last one its earlier repeats took */
        long long k = 0;
        for (int i = 0; i < j; i++)
            if (!strcmp(in[i], in[j])) k = strtoll(strrchr(out[i], '#') + 1, NULL, 10);
        char buf[64];
        do
            snprintf(buf, sizeof buf, "%s#%lld", in[j], ++k);
        while (taken(out, n, buf));
        out[j] = strdup(buf);
    }
}

static void test_random_vs_reference(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    static const char *const alphabet[] = {"a", "b", "a#1", "a#2", "a#1#1", "b#1", "", "#1", "ab"};
    const int n_alpha = (int)(sizeof alphabet / sizeof *alphabet);
    spex_rng rng;
    spex_rng_seed(&rng, 14);
    for (int trial = 0; trial < 2000; trial++) {
        int n = 1 + (int)(spex_rng_below(&rng, 12));
        const char *in[12];
        char *want[12];
        for (int j = 0; j < n; j++)
            in[j] = alphabet[spex_rng_below(&rng, (uint64_t)n_alpha)];
        reference(in, n, want);
        spex_result *r = named(ctx, n, in);
        check_names(r, (const char *const *)want);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                CHECK(strcmp(r->features[i], r->features[j]));
        for (int j = 0; j < n; j++)
            free(want[j]);
        spex_result_free(r);
    }
    spex_ctx_free(ctx);
}

/* n = 100,000: feature j even named w<(j/2) mod 1000> (each name 50 times),
 * j odd once<j> */
static void test_large(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const int64_t n = 100000;
    char **in = calloc((size_t)n, sizeof *in);
    CHECK(in != NULL);
    for (int64_t j = 0; j < n; j++) {
        in[j] = malloc(32);
        snprintf(in[j], 32, j % 2 ? "once%lld" : "w%lld", (long long)(j % 2 ? j : j / 2 % 1000));
    }
    spex_result *r = named(ctx, n, (const char *const *)in);
    int64_t bad = 0;
    for (int64_t j = 0; j < n && bad < 5; j++) {
        char want[48];
        if (j % 2)
            snprintf(want, sizeof want, "%s", in[j]);
        else /* the (j/2 / 1000 + 1)-th occurrence of its name */
            snprintf(want, sizeof want, "%s#%lld", in[j], (long long)(j / 2 / 1000 + 1));
        if (strcmp(r->features[j], want)) {
            printf("feature %lld: '%s', expected '%s'\n", (long long)j, r->features[j], want);
            bad++;
        }
    }
    CHECK(bad == 0);
    spex_result_free(r);
    for (int64_t j = 0; j < n; j++)
        free(in[j]);
    free(in);
    spex_ctx_free(ctx);
}

/* every allocation failing in turn: SPEX_E_NOMEM and the names unchanged */
typedef struct walk {
    spex_result *r;
} walk;

static const char *const walk_names[] = {"the", "waiter", "the", "felt", "waiter", "the"};

static int walk_run(spex_ctx *ctx, void *user) {
    (void)ctx;
    return spex_result_set_features(((walk *)user)->r, walk_names);
}

static void walk_after(void *user, int rc) {
    walk *w = user;
    if (rc == SPEX_OK) {
        check_names(w->r,
                    (const char *[]){"the#1", "waiter#1", "the#2", "felt", "waiter#2", "the#3"});
    } else {
        check_names(w->r, (const char *[]){"x0", "x1", "x2", "x3", "x4", "x5"});
    }
}

static void test_alloc_failures(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    walk w;
    CHECK_RC(ctx, spex_result_new(ctx, 6, &w.r));
    int64_t walked = spex_test_alloc_walk(ctx, 200, walk_run, walk_after, &w);
    printf("%lld allocations walked\n", (long long)walked);
    CHECK(walked >= 6);
    spex_result_free(w.r);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_random_vs_reference),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_alloc_failures),
    };
    SPEX_RUN_TESTS(tests);
}
