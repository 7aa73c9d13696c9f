/* Synthetic games (DESIGN.md §4.1): the shared game files against a direct
 * evaluation of their JSON, a Möbius game against Σ_{S ⊆ m} a(S), noise
 * reproducibility and level, and every malformed input with its message. */
#include "testing.h"
#include "test_util.h"

#include "spex/backend.h"
#include "spex/coefs.h"
#include "spex/rng.h"

#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *games_dir(void) {
    const char *d = getenv("SPEX_GAMES_DIR");
    return d ? d : "../shared/games";
}

/* Σ over [subset, value] pairs of value · sign, straight from the JSON:
 * Fourier: sign = (-1)^{Σ_{j in S} m_j}; Möbius: [S ⊆ m]. */
static double json_eval(const json_t *list, const uint64_t *mask, int mobius) {
    double s = 0.0;
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *item = json_array_get(list, i);
        const json_t *sub = json_array_get(item, 0);
        double v = json_number_value(json_array_get(item, 1));
        int ones = 0;
        for (size_t j = 0; j < json_array_size(sub); j++)
            ones += spex_bits_get(mask, (int64_t)json_integer_value(json_array_get(sub, j)));
        if (mobius)
            s += ones == (int)json_array_size(sub) ? v : 0.0;
        else
            s += (ones & 1) ? -v : v;
    }
    return s;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static void test_shared_games(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    DIR *d = opendir(games_dir());
    if (!d) fail_msg("cannot open the games directory %s (set SPEX_GAMES_DIR)", games_dir());
    int n_files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!ends_with(de->d_name, ".json")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", games_dir(), de->d_name);
        json_error_t jerr;
        json_t *root = json_load_file(path, 0, &jerr);
        if (!root) fail_msg("%s: %s", path, jerr.text);
        spex_game *g;
        CHECK_RC(ctx, spex_game_load(ctx, path, &g));
        int64_t n = (int64_t)json_integer_value(json_object_get(root, "n"));
        const json_t *coefs = json_object_get(root, "coefs");
        const json_t *moebius = json_object_get(root, "moebius");
        CHECK(spex_game_n(g) == n);
        CHECK(spex_game_basis(g) == SPEX_BASIS_FOURIER);
        CHECK_NEAR(spex_game_noise_sd(g), json_number_value(json_object_get(root, "noise_sd")), 0);
        /* distinct supports in these files: one entry per JSON pair */
        CHECK(spex_coefs_count(spex_game_coefs(g)) == (int64_t)json_array_size(coefs));
        CHECK(spex_game_fourier(g) == spex_game_coefs(g));
        size_t words = spex_bits_words(n);
        uint64_t *m = calloc(words, sizeof *m);
        spex_rng r;
        spex_rng_seed(&r, 99);
        for (int t = 0; t < 300; t++) {
            if (t == 0)
                memset(m, 0, words * 8);
            else if (t == 1) {
                for (int64_t j = 0; j < n; j++)
                    spex_bits_set(m, j, 1);
            } else
                spex_rng_bits(&r, m, words, n);
            double want = json_eval(coefs, m, 0);
            CHECK_NEAR(spex_game_value(g, m), want, 1e-9 * (1 + fabs(want)));
            CHECK_NEAR(spex_coefs_eval_fourier(spex_game_fourier(g), m), want,
                       1e-9 * (1 + fabs(want)));
            /* the hierarchical files also list the Möbius form of the same game */
            if (moebius) CHECK_NEAR(json_eval(moebius, m, 1), want, 1e-9 * (1 + fabs(want)));
        }
        free(m);
        spex_game_free(g);
        json_decref(root);
        n_files++;
    }
    closedir(d);
    CHECK(n_files >= 20);
    spex_ctx_free(ctx);
}

static const char *MOBIUS_GAME =
    "{\"n\": 7, \"basis\": \"mobius\", \"name\": \"hand\",\n"
    " \"coefs\": [[[], 0.7], [[0], 1.5], [[1, 2], -2.0], [[2, 1], 0.5],\n"
    "            [[0, 3, 5], 0.25], [[6, 4, 2, 0], -1.25], [[6], 3.0]]}";

/* a(S) by hand: the subsets as bit sets and their summed values */
static const unsigned hand_sets[] = {0x00, 0x01, 0x06, 0x29, 0x55, 0x40};
static const double hand_vals[] = {0.7, 1.5, -1.5, 0.25, -1.25, 3.0};

static void test_mobius_game(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g;
    CHECK_RC(ctx, spex_game_parse(ctx, MOBIUS_GAME, strlen(MOBIUS_GAME), "hand.json", &g));
    CHECK(spex_game_basis(g) == SPEX_BASIS_MOBIUS);
    CHECK(spex_coefs_count(spex_game_coefs(g)) == 6); /* {1,2} twice: merged */
    int32_t s12[] = {1, 2};
    double v;
    CHECK(spex_coefs_get(spex_game_coefs(g), s12, 2, &v) == 1);
    CHECK_NEAR(v, -1.5, 1e-15);
    const spex_coefs *F = spex_game_fourier(g);
    CHECK(F != NULL);
    for (unsigned m = 0; m < 128; m++) {
        uint64_t mask[1] = {m};
        double want = 0.0;
        for (int i = 0; i < 6; i++)
            if ((hand_sets[i] & m) == hand_sets[i]) want += hand_vals[i];
        CHECK_NEAR(spex_game_value(g, mask), want, 1e-12);
        CHECK_NEAR(spex_coefs_eval_mobius(spex_game_coefs(g), mask), want, 1e-12);
        CHECK_NEAR(spex_coefs_eval_fourier(F, mask), want, 1e-12);
    }
    /* F(k) = (-1)^{|k|} Σ_{S ⊇ k} a(S) / 2^{|S|}, spot checks */
    int32_t k0[] = {0};
    double want0 = -(1.5 / 2 + 0.25 / 8 - 1.25 / 16);
    CHECK(spex_coefs_get(F, k0, 1, &v) == 1);
    CHECK_NEAR(v, want0, 1e-15);
    int32_t k35[] = {3, 5};
    CHECK(spex_coefs_get(F, k35, 2, &v) == 1);
    CHECK_NEAR(v, 0.25 / 8, 1e-15);
    spex_game_free(g);

    /* "moebius" spelling, and the same game built from coefficients */
    const char *alt = "{\"n\": 3, \"basis\": \"moebius\", \"coefs\": [[[0, 2], 2.0]]}";
    CHECK_RC(ctx, spex_game_parse(ctx, alt, strlen(alt), "alt.json", &g));
    spex_coefs *c;
    CHECK_RC(ctx, spex_coefs_new(ctx, 3, &c));
    int32_t s02[] = {0, 2};
    CHECK_RC(ctx, spex_coefs_add(c, s02, 2, 2.0));
    spex_game *h;
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_MOBIUS, 0.0, &h));
    for (unsigned m = 0; m < 8; m++) {
        uint64_t mask[1] = {m};
        double want = (m & 5) == 5 ? 2.0 : 0.0;
        CHECK_NEAR(spex_game_value(g, mask), want, 0);
        CHECK_NEAR(spex_game_value(h, mask), want, 0);
    }
    spex_coefs_free(c);
    spex_game_free(h);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

static void fill_batch(spex_masks *b, int64_t count, uint64_t seed) {
    spex_rng r;
    spex_rng_seed(&r, seed);
    for (int64_t i = 0; i < count; i++) {
        uint64_t *row;
        spex_masks_append_zero(b, &row);
        spex_rng_bits(&r, row, spex_masks_words(b), spex_masks_n(b));
    }
}

static void test_noise(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    const char *js = "{\"n\": 70, \"noise_sd\": 0.5, \"coefs\": [[[], 1.0], [[3, 66], 2.0]]}";
    spex_game *g;
    CHECK_RC(ctx, spex_game_parse(ctx, js, strlen(js), "noisy.json", &g));
    spex_masks *b;
    CHECK_RC(ctx, spex_masks_new(ctx, 70, 16, &b));
    fill_batch(b, 50, 3);
    double a[50], c[50], d[50], clean[50];
    spex_valuefn v1, v2, v3, v0;
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 7, &v1));
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 7, &v2));
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 8, &v3));
    CHECK_RC(ctx, spex_game_valuefn(g, 0, 7, &v0));
    CHECK(v1.n == 70);
    CHECK_RC(ctx, v0.eval(v0.user, b, clean));
    for (int i = 0; i < 50; i++)
        CHECK_NEAR(clean[i], spex_game_value(g, spex_masks_crow(b, i)), 0);
    /* noise is a function of (seed, mask): same seed => same values, batch
     * after batch (a mask asked again gets the same value) */
    double first[50];
    for (int round = 0; round < 3; round++) {
        CHECK_RC(ctx, v1.eval(v1.user, b, a));
        CHECK_RC(ctx, v2.eval(v2.user, b, c));
        CHECK_RC(ctx, v3.eval(v3.user, b, d));
        int differ = 0;
        for (int i = 0; i < 50; i++) {
            CHECK(a[i] == c[i]);
            if (round == 0) first[i] = a[i];
            CHECK(a[i] == first[i]);
            differ += a[i] != d[i];
            CHECK(a[i] != clean[i]);
        }
        CHECK(differ == 50);
    }
    /* ... and of nothing else: the masks reversed and asked one at a time
     * get the same values as in one batch */
    {
        spex_masks *one;
        CHECK_RC(ctx, spex_masks_new(ctx, 70, 1, &one));
        for (int i = 49; i >= 0; i--) {
            double y1;
            spex_masks_clear(one);
            CHECK_RC(ctx, spex_masks_append(one, spex_masks_crow(b, i)));
            CHECK_RC(ctx, v2.eval(v2.user, one, &y1));
            CHECK(y1 == first[i]);
        }
        spex_masks_free(one);
    }
    /* the noise level: N(0, 0.25) around the clean value */
    spex_masks_clear(b);
    fill_batch(b, 20000, 5);
    double *y = malloc(20000 * sizeof *y), *y0 = malloc(20000 * sizeof *y0);
    CHECK_RC(ctx, v1.eval(v1.user, b, y));
    CHECK_RC(ctx, v0.eval(v0.user, b, y0));
    double s1 = 0, s2 = 0;
    for (int i = 0; i < 20000; i++) {
        double e = y[i] - y0[i];
        s1 += e;
        s2 += e * e;
    }
    double mean = s1 / 20000, sd = sqrt(s2 / 20000 - mean * mean);
    CHECK_NEAR(mean, 0.0, 4 * 0.5 / sqrt(20000.0));
    CHECK_NEAR(sd, 0.5, 0.02); /* sd of the sample sd ≈ 0.5/sqrt(40000) = 0.0025 */
    free(y);
    free(y0);
    spex_valuefn_release(&v1);
    spex_valuefn_release(&v2);
    spex_valuefn_release(&v3);
    spex_valuefn_release(&v0);
    CHECK(v1.eval == NULL);
    spex_masks_free(b);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* Batches evaluate the same on 1 and 4 threads; a batch of the wrong n fails. */
static void test_valuefn_threads(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    char path[1024];
    snprintf(path, sizeof path, "%s/sparse_fourier_n512_s100_snr10db.json", games_dir());
    spex_game *g;
    CHECK_RC(ctx, spex_game_load(ctx, path, &g));
    spex_masks *b;
    CHECK_RC(ctx, spex_masks_new(ctx, 512, 16, &b));
    fill_batch(b, 3000, 11);
    double *a = malloc(3000 * sizeof *a), *c = malloc(3000 * sizeof *c);
    spex_valuefn v;
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 42, &v));
    CHECK_RC(ctx, v.eval(v.user, b, a));
    spex_valuefn_release(&v);
    spex_ctx_set_threads(ctx, 4);
    CHECK_RC(ctx, spex_game_valuefn(g, 1, 42, &v));
    CHECK_RC(ctx, v.eval(v.user, b, c));
    for (int i = 0; i < 3000; i++)
        CHECK(a[i] == c[i]);
    spex_masks *wrong;
    CHECK_RC(ctx, spex_masks_new(ctx, 511, 1, &wrong));
    fill_batch(wrong, 1, 1);
    CHECK(v.eval(v.user, wrong, a) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "511") != NULL);
    CHECK(strstr(spex_errmsg(ctx), path) != NULL);
    spex_valuefn_release(&v);
    spex_masks_free(wrong);
    spex_masks_free(b);
    free(a);
    free(c);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

typedef struct bad_case {
    const char *json;
    int code;
    const char *want[3]; /* substrings of the message besides the file name */
} bad_case;

static void test_bad_inputs(void **state) {
    (void)state;
    static const bad_case cases[] = {
        {"{\"n\": 3, \"coefs\": [}", SPEX_E_PARSE, {"line 1", "column"}},
        {"{\"n\": 3,\n \"coefs\": [[[0], 1.0],\n   ,]\n}", SPEX_E_PARSE, {"line 3", "column"}},
        {"", SPEX_E_PARSE, {"line"}},
        {"{\"n\": 3, \"coefs\": []} trailing", SPEX_E_PARSE, {"line 1"}},
        {"[1, 2]", SPEX_E_PARSE, {"JSON object", "an array"}},
        {"{\"coefs\": []}", SPEX_E_PARSE, {"missing", "\"n\""}},
        {"{\"n\": 3}", SPEX_E_PARSE, {"missing", "\"coefs\""}},
        {"{\"n\": 0, \"coefs\": []}", SPEX_E_RANGE, {"n = 0", "1.."}},
        {"{\"n\": -4, \"coefs\": []}", SPEX_E_RANGE, {"n = -4"}},
        {"{\"n\": 99999999999, \"coefs\": []}", SPEX_E_RANGE, {"n = 99999999999"}},
        {"{\"n\": \"12\", \"coefs\": []}", SPEX_E_PARSE, {"n must be an integer", "a string"}},
        {"{\"n\": 3.0, \"coefs\": []}", SPEX_E_PARSE, {"n must be an integer", "a real"}},
        {"{\"n\": 3, \"n\": 4, \"coefs\": []}", SPEX_E_PARSE, {"duplicate"}},
        {"{\"n\": 3, \"basis\": \"walsh\", \"coefs\": []}", SPEX_E_PARSE, {"basis", "walsh"}},
        {"{\"n\": 3, \"basis\": 1, \"coefs\": []}", SPEX_E_PARSE, {"basis", "an integer"}},
        {"{\"n\": 3, \"noise_sd\": -0.1, \"coefs\": []}", SPEX_E_RANGE, {"noise_sd", "-0.1"}},
        {"{\"n\": 3, \"noise_sd\": \"x\", \"coefs\": []}", SPEX_E_PARSE, {"noise_sd", "a string"}},
        {"{\"n\": 3, \"coefs\": {}}", SPEX_E_PARSE, {"coefs", "an object"}},
        {"{\"n\": 3, \"coefs\": [[[0], 1], [[1]]]}", SPEX_E_PARSE, {"coefs[1]", "1 elements"}},
        {"{\"n\": 3, \"coefs\": [7]}", SPEX_E_PARSE, {"coefs[0]", "an integer"}},
        {"{\"n\": 3, \"coefs\": [[0, 1.0]]}", SPEX_E_PARSE, {"coefs[0]", "subset"}},
        {"{\"n\": 3, \"coefs\": [[[2, 0, 2], 1.0]]}", SPEX_E_PARSE, {"coefs[0]", "2", "repeated"}},
        {"{\"n\": 3, \"coefs\": [[[1.5], 1.0]]}", SPEX_E_PARSE, {"coefs[0]", "1.5", "integer"}},
        {"{\"n\": 3, \"coefs\": [[[\"1\"], 1.0]]}", SPEX_E_PARSE, {"coefs[0]", "a string"}},
        {"{\"n\": 3, \"coefs\": [[[-1], 1.0]]}", SPEX_E_RANGE, {"coefs[0]", "-1", "0..2"}},
        {"{\"n\": 3, \"coefs\": [[[0], \"big\"]]}", SPEX_E_PARSE, {"coefs[0]", "value", "number"}},
        {"{\"n\": 3, \"coefs\": [[[0], null]]}", SPEX_E_PARSE, {"coefs[0]", "null"}},
        {"{\"n\": 3, \"coefs\": [[[0], 1e999]]}", SPEX_E_PARSE, {"line 1", "overflow"}},
        {"{\"n\": 30, \"basis\": \"mobius\", \"coefs\": [[[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,"
         "15,16,17,18,19,20,21,22,23,24], 1.0]]}",
         SPEX_E_RANGE,
         {"Möbius", "25 features"}},
    };
    spex_ctx *ctx = spex_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const bad_case *bc = &cases[i];
        spex_game *g = (spex_game *)&g;
        int rc = spex_game_parse(ctx, bc->json, strlen(bc->json), "bad.json", &g);
        const char *msg = spex_errmsg(ctx);
        if (rc != bc->code)
            fail_msg("case %zu (%s): code %d, expected %d; message: %s", i, bc->json, rc, bc->code,
                     msg);
        CHECK(g == NULL);
        if (strncmp(msg, "bad.json: ", 10))
            fail_msg("case %zu: message does not start with the file name: %s", i, msg);
        for (int k = 0; k < 3 && bc->want[k]; k++) {
            spex_test_checks++;
            if (!strstr(msg, bc->want[k]))
                fail_msg("case %zu (%s): message lacks \"%s\": %s", i, bc->json, bc->want[k], msg);
        }
    }

    /* the example from the brief: coefs[17] with feature 130 of n = 128 */
    char buf[2048];
    size_t k = (size_t)snprintf(buf, sizeof buf, "{\"n\": 128, \"coefs\": [");
    for (int i = 0; i < 17; i++)
        k += (size_t)snprintf(buf + k, sizeof buf - k, "[[%d], 0.5], ", i);
    snprintf(buf + k, sizeof buf - k, "[[4, 130], 1.0]]}");
    spex_game *g;
    CHECK(spex_game_parse(ctx, buf, strlen(buf), "g.json", &g) == SPEX_E_RANGE);
    CHECK(!strcmp(spex_errmsg(ctx), "g.json: coefs[17]: feature index 130 out of range 0..127"));

    /* a file that does not exist */
    CHECK(spex_game_load(ctx, "/nonexistent/dir/game.json", &g) == SPEX_E_IO);
    CHECK(strstr(spex_errmsg(ctx), "/nonexistent/dir/game.json") != NULL);

    /* non-finite coefficients and bad noise through the API */
    spex_coefs *c;
    CHECK_RC(ctx, spex_coefs_new(ctx, 4, &c));
    int32_t s1[] = {1};
    CHECK_RC(ctx, spex_coefs_add(c, s1, 1, INFINITY));
    CHECK(spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 0.0, &g) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "not finite") != NULL);
    spex_coefs_entry_set(c, 0, 1.0);
    CHECK(spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, -1.0, &g) == SPEX_E_RANGE);
    CHECK(spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, NAN, &g) == SPEX_E_RANGE);
    CHECK(spex_game_from_coefs(ctx, c, (spex_basis)7, 0.0, &g) == SPEX_E_INVAL);
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 0.0, &g));
    spex_game_free(g);
    spex_coefs_free(c);

    /* keys that are not part of the format are ignored; empty coefs is a zero game */
    const char *ok =
        "{\"n\": 2, \"name\": \"x\", \"seed\": [1], \"coefs\": [], \"noise_sd\": null}";
    CHECK_RC(ctx, spex_game_parse(ctx, ok, strlen(ok), "ok.json", &g));
    uint64_t m[1] = {3};
    CHECK_NEAR(spex_game_value(g, m), 0.0, 0);
    spex_game_free(g);
    spex_ctx_free(ctx);
}

/* One allocation-fault run: parsing a game text. */
typedef struct parse_run {
    const char *text, *name;
    spex_game *g;
    const char *feature1; /* the name feature 1 must get, or NULL */
} parse_run;

static int parse_once(spex_ctx *ctx, void *user) {
    parse_run *pr = user;
    return spex_game_parse(ctx, pr->text, strlen(pr->text), pr->name, &pr->g);
}

/* A failed parse left no game; the one that got through is whole: its
 * names read back and it gives a value function. */
static void check_parsed(void *user, int rc) {
    parse_run *pr = user;
    if (rc != SPEX_OK) {
        CHECK(pr->g == NULL);
        return;
    }
    spex_ctx *ctx = spex_ctx_new();
    if (pr->feature1) CHECK(!strcmp(spex_game_feature_name(pr->g, 1), pr->feature1));
    spex_valuefn v;
    CHECK_RC(ctx, spex_game_valuefn(pr->g, 1, 1, &v));
    spex_valuefn_release(&v);
    spex_ctx_free(ctx);
    spex_game_free(pr->g);
    pr->g = NULL;
}

/* The optional "features" array: kept with exactly n elements (non-strings
 * named "?", long names cut at a character boundary), ignored otherwise. */
static void test_feature_names(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_game *g;
    const char *named = "{\"n\": 4, \"features\": [\"not\", \"bad\", 7, null], "
                        "\"coefs\": [[[0, 1], 1.0]]}";
    CHECK_RC(ctx, spex_game_parse(ctx, named, strlen(named), "named.json", &g));
    static const char *const want[] = {"not", "bad", "?", "?"};
    for (int64_t j = 0; j < 4; j++) {
        const char *got = spex_game_feature_name(g, j);
        if (!got || strcmp(got, want[j]))
            fail_msg("feature %lld: got \"%s\", expected \"%s\"", (long long)j,
                     got ? got : "(null)", want[j]);
        spex_test_checks++;
    }
    CHECK(spex_game_feature_name(g, -1) == NULL);
    CHECK(spex_game_feature_name(g, 4) == NULL);
    spex_game_free(g);

    /* ignored: missing, not an array, too few or too many names */
    static const char *const ignored[] = {
        "{\"n\": 2, \"coefs\": []}",
        "{\"n\": 2, \"features\": \"ab\", \"coefs\": []}",
        "{\"n\": 2, \"features\": [\"a\"], \"coefs\": []}",
        "{\"n\": 2, \"features\": [\"a\", \"b\", \"c\"], \"coefs\": []}",
    };
    for (size_t i = 0; i < sizeof ignored / sizeof *ignored; i++) {
        CHECK_RC(ctx, spex_game_parse(ctx, ignored[i], strlen(ignored[i]), "g.json", &g));
        CHECK(spex_game_feature_name(g, 0) == NULL && spex_game_feature_name(g, 1) == NULL);
        spex_game_free(g);
    }

    /* a long name is cut to SPEX_GAME_MAX_FEATURE_NAME bytes, never inside a
     * character: "é" (2 bytes) straddling the cap is dropped whole */
    char buf[2048], longname[SPEX_GAME_MAX_FEATURE_NAME];
    memset(longname, 'a', sizeof longname);
    longname[SPEX_GAME_MAX_FEATURE_NAME - 1] = '\0';
    snprintf(buf, sizeof buf,
             "{\"n\": 2, \"features\": [\"%s\\u00e9z\", \"%sbc\"], "
             "\"coefs\": []}",
             longname, longname);
    CHECK_RC(ctx, spex_game_parse(ctx, buf, strlen(buf), "long.json", &g));
    CHECK(strlen(spex_game_feature_name(g, 0)) == SPEX_GAME_MAX_FEATURE_NAME - 1);
    CHECK(strlen(spex_game_feature_name(g, 1)) == SPEX_GAME_MAX_FEATURE_NAME);
    CHECK(!strncmp(spex_game_feature_name(g, 1), longname, SPEX_GAME_MAX_FEATURE_NAME - 1));
    CHECK(spex_game_feature_name(g, 1)[SPEX_GAME_MAX_FEATURE_NAME - 1] == 'b');
    spex_game_free(g);

    /* the shared file with names, and a game from coefficients (none) */
    CHECK_RC(ctx, spex_game_load(ctx, "examples/movie_review.json", &g));
    CHECK(!strcmp(spex_game_feature_name(g, 3), "not"));
    CHECK(!strcmp(spex_game_feature_name(g, 9), "it"));
    spex_coefs *c;
    CHECK_RC(ctx, spex_coefs_new(ctx, 3, &c));
    spex_game *g2;
    CHECK_RC(ctx, spex_game_from_coefs(ctx, c, SPEX_BASIS_FOURIER, 0.0, &g2));
    CHECK(spex_game_feature_name(g2, 0) == NULL);
    spex_game_free(g2);
    spex_coefs_free(c);
    spex_game_free(g);

    /* allocation failures while reading the names: SPEX_E_NOMEM, no leak */
    parse_run pr = {named, "named.json", NULL, "bad"};
    CHECK(spex_test_alloc_walk(ctx, 100, parse_once, check_parsed, &pr) > 2);
    spex_ctx_free(ctx);
}

/* Every allocation failure gives SPEX_E_NOMEM and leaks nothing (ASan). */
static void test_alloc_faults(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    parse_run pr = {MOBIUS_GAME, "hand.json", NULL, NULL};
    CHECK(spex_test_alloc_walk(ctx, 200, parse_once, check_parsed, &pr) > 5);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_games),  cmocka_unit_test(test_mobius_game),
        cmocka_unit_test(test_noise),         cmocka_unit_test(test_valuefn_threads),
        cmocka_unit_test(test_bad_inputs),    cmocka_unit_test(test_alloc_faults),
        cmocka_unit_test(test_feature_names),
    };
    SPEX_RUN_TESTS(tests);
}
