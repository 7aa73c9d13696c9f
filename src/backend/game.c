/*
 * Synthetic games (DESIGN.md §4.1): a value function with known truth, read
 * from a JSON game file or built from coefficients. The algorithms' tests and
 * benchmarks run on these, so the loader is strict and every message names
 * the file and the place (line/column, coefs[i], feature index).
 *
 * A game keeps its coefficients as written (Fourier or Möbius), the exact
 * Fourier form (converted with spex_mobius_to_fourier for Möbius files) and a
 * compiled copy of the written basis for fast evaluation: each coefficient
 * becomes a short list of (word, bit pattern) terms, so that the parity
 * <m, k> (Fourier) or the test S ⊆ m (Möbius) costs one AND per 64-bit word
 * the subset touches instead of one bit lookup per feature.
 *
 * The optional "features" array names the features for reports. It is kept
 * only when it has exactly n elements (otherwise ignored, as any unknown key);
 * a non-string element is named "?" and names are cut to
 * SPEX_GAME_MAX_FEATURE_NAME bytes. The names live in one slab.
 *
 * Error codes of the loader: SPEX_E_PARSE for syntax, wrong types, missing
 * keys, repeated indices and unknown bases (a malformed file); SPEX_E_RANGE
 * for out-of-range numbers (n, feature indices, noise_sd, a Möbius game too
 * dense to convert); SPEX_E_IO for unreadable files. Never SPEX_E_INVAL,
 * which the CLI reports as a usage error.
 */
#include "spex/backend.h"
#include "spex/rng.h"
#include "spex/transform.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A Möbius game's Fourier form has up to Σ_S 2^{|S|} terms; files beyond this
 * bound are refused rather than exhausting memory at load time. */
#define GAME_MAX_FOURIER_TERMS ((int64_t)1 << 20)
/* Game files larger than this are refused before parsing. */
#define GAME_MAX_FILE_SIZE ((size_t)1 << 30)
/* Below this many (mask x term) operations a batch is evaluated on one thread. */
#define GAME_PARALLEL_WORK 200000

struct spex_game {
    spex_ctx *ctx;
    char *name; /* file name or "game"; used in messages */
    int64_t n;
    size_t words; /* words per packed mask */
    spex_basis basis;
    double noise_sd;
    spex_coefs *coefs;          /* as written */
    spex_coefs *fourier;        /* == coefs for Fourier games, else owned */
    const char **feature_names; /* (n) pointers into feature_text, or NULL */
    char *feature_text;         /* the names, NUL-terminated, back to back */
    /* Compiled form of `coefs` (see the file comment). */
    int64_t n_coefs;
    double *val;         /* (n_coefs) coefficient values */
    int64_t *term_start; /* (n_coefs + 1) offsets into term_word/term_bits */
    uint32_t *term_word; /* (n_terms) word index */
    uint64_t *term_bits; /* (n_terms) bits of the subset inside that word */
};

/* The value function's state: the game and its noise seed. */
typedef struct game_vf {
    spex_game *g;
    int with_noise;
    uint64_t seed;
} game_vf;

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    }
    return "an unknown value";
}

/* Builds the (word, bits) term lists from g->coefs. */
static int game_compile(spex_game *g) {
    spex_ctx *ctx = g->ctx;
    int64_t count = spex_coefs_count(g->coefs);
    size_t n_idx = 0;
    for (int64_t i = 0; i < count; i++) {
        int len;
        spex_coefs_entry(g->coefs, i, NULL, &len, NULL);
        n_idx += (size_t)len;
    }
    g->n_coefs = count;
    g->val = spex_calloc(ctx, (size_t)count, sizeof *g->val);
    g->term_start = spex_calloc(ctx, (size_t)count + 1, sizeof *g->term_start);
    /* at most one term per index; the arrays are not shrunk afterwards */
    g->term_word = spex_calloc(ctx, n_idx, sizeof *g->term_word);
    g->term_bits = spex_calloc(ctx, n_idx, sizeof *g->term_bits);
    if (!g->val || !g->term_start || !g->term_word || !g->term_bits) return SPEX_E_NOMEM;
    int64_t t = 0;
    for (int64_t i = 0; i < count; i++) {
        const int32_t *idx;
        int len;
        double v;
        spex_coefs_entry(g->coefs, i, &idx, &len, &v);
        g->val[i] = v;
        g->term_start[i] = t;
        /* idx is strictly increasing, so indices sharing a word are adjacent */
        for (int j = 0; j < len; j++) {
            uint32_t w = (uint32_t)(idx[j] >> 6);
            uint64_t bit = (uint64_t)1 << (idx[j] & 63);
            if (t > g->term_start[i] && g->term_word[t - 1] == w)
                g->term_bits[t - 1] |= bit;
            else {
                g->term_word[t] = w;
                g->term_bits[t] = bit;
                t++;
            }
        }
    }
    g->term_start[count] = t;
    return SPEX_OK;
}

/* The noiseless value at one mask from the compiled terms. */
static double game_eval_compiled(const spex_game *g, const uint64_t *mask) {
    double s = 0.0;
    if (g->basis == SPEX_BASIS_FOURIER) {
        for (int64_t i = 0; i < g->n_coefs; i++) {
            uint64_t x = 0;
            for (int64_t t = g->term_start[i]; t < g->term_start[i + 1]; t++)
                x ^= mask[g->term_word[t]] & g->term_bits[t];
            s += __builtin_parityll(x) ? -g->val[i] : g->val[i];
        }
    } else {
        for (int64_t i = 0; i < g->n_coefs; i++) {
            int in = 1;
            for (int64_t t = g->term_start[i]; t < g->term_start[i + 1] && in; t++)
                in = (mask[g->term_word[t]] & g->term_bits[t]) == g->term_bits[t];
            if (in) s += g->val[i];
        }
    }
    return s;
}

/* Checks the Möbius -> Fourier size bound, then converts. */
static int game_make_fourier(spex_game *g) {
    if (g->basis == SPEX_BASIS_FOURIER) {
        g->fourier = g->coefs;
        return SPEX_OK;
    }
    int64_t terms = 0;
    for (int64_t i = 0; i < g->n_coefs; i++) {
        int len;
        spex_coefs_entry(g->coefs, i, NULL, &len, NULL);
        if (len >= 62 || (terms += (int64_t)1 << len) > GAME_MAX_FOURIER_TERMS)
            return spex_seterr(g->ctx, SPEX_E_RANGE,
                               "%s: Möbius coefficient %lld (a subset of %d features) brings the "
                               "Fourier form past %lld terms; use fewer or smaller interactions "
                               "or write the file in the Fourier basis",
                               g->name, (long long)i, len, (long long)GAME_MAX_FOURIER_TERMS);
    }
    int rc = spex_mobius_to_fourier(g->coefs, &g->fourier);
    if (rc) spex_errprefix(g->ctx, "%s: converting the Möbius coefficients", g->name);
    return rc;
}

/* Allocates a game that takes ownership of coefs; frees coefs on failure. */
static int game_new(spex_ctx *ctx, const char *name, spex_coefs *coefs, spex_basis basis,
                    double noise_sd, spex_game **out) {
    *out = NULL;
    spex_game *g = spex_calloc(ctx, 1, sizeof *g);
    if (!g) {
        spex_coefs_free(coefs);
        return SPEX_E_NOMEM;
    }
    g->ctx = ctx;
    g->coefs = coefs;
    g->n = spex_coefs_n(coefs);
    g->words = spex_bits_words(g->n);
    g->basis = basis;
    g->noise_sd = noise_sd;
    int rc = SPEX_E_NOMEM;
    g->name = spex_strdup(ctx, name);
    if (!g->name) goto done;
    rc = game_compile(g);
    if (rc) goto done;
    rc = game_make_fourier(g);
done:
    if (rc)
        spex_game_free(g);
    else
        *out = g;
    return rc;
}

/* A JSON integer in [lo, hi] or an error naming `what`. */
static int json_get_int(spex_ctx *ctx, const char *name, const char *what, const json_t *v,
                        long long lo, long long hi, long long *out) {
    if (!json_is_integer(v))
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: %s must be an integer, got %s", name, what,
                           json_type_name(v));
    long long x = (long long)json_integer_value(v);
    if (x < lo || x > hi)
        return spex_seterr(ctx, SPEX_E_RANGE, "%s: %s = %lld is outside %lld..%lld", name, what, x,
                           lo, hi);
    *out = x;
    return SPEX_OK;
}

/* Reads coefs[i] = [subset, value] into c. idx has room for any subset. */
static int parse_coef(spex_ctx *ctx, const char *name, const json_t *item, size_t i, spex_coefs *c,
                      int32_t **idx, size_t *idx_cap) {
    int64_t n = spex_coefs_n(c);
    if (!json_is_array(item) || json_array_size(item) != 2) {
        if (json_is_array(item))
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: coefs[%zu]: expected [subset, value], got an array of %zu "
                               "elements",
                               name, i, json_array_size(item));
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: coefs[%zu]: expected [subset, value], got %s",
                           name, i, json_type_name(item));
    }
    const json_t *sub = json_array_get(item, 0), *val = json_array_get(item, 1);
    if (!json_is_array(sub))
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "%s: coefs[%zu]: the subset must be a list of feature indices, got %s",
                           name, i, json_type_name(sub));
    if (!json_is_number(val))
        return spex_seterr(ctx, SPEX_E_PARSE, "%s: coefs[%zu]: the value must be a number, got %s",
                           name, i, json_type_name(val));
    double v = json_number_value(val);
    if (!isfinite(v))
        return spex_seterr(ctx, SPEX_E_RANGE, "%s: coefs[%zu]: the value %g is not finite", name, i,
                           v);
    size_t len = json_array_size(sub);
    if (len > (size_t)INT32_MAX)
        return spex_seterr(ctx, SPEX_E_RANGE, "%s: coefs[%zu]: subset of %zu indices is too long",
                           name, i, len);
    if (len > *idx_cap) {
        int32_t *p = spex_realloc(ctx, *idx, len, sizeof *p);
        if (!p) return SPEX_E_NOMEM;
        *idx = p;
        *idx_cap = len;
    }
    for (size_t j = 0; j < len; j++) {
        const json_t *e = json_array_get(sub, j);
        if (!json_is_integer(e)) {
            if (json_is_real(e))
                return spex_seterr(ctx, SPEX_E_PARSE,
                                   "%s: coefs[%zu]: feature index %g (element %zu of the subset) "
                                   "is not an integer",
                                   name, i, json_real_value(e), j);
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "%s: coefs[%zu]: element %zu of the subset must be an integer "
                               "feature index, got %s",
                               name, i, j, json_type_name(e));
        }
        long long x = (long long)json_integer_value(e);
        if (x < 0 || x >= n)
            return spex_seterr(ctx, SPEX_E_RANGE,
                               "%s: coefs[%zu]: feature index %lld out of range 0..%lld", name, i,
                               x, (long long)n - 1);
        (*idx)[j] = (int32_t)x;
    }
    int rc = spex_subset_normalize(ctx, n, *idx, (int)len);
    if (!rc) rc = spex_coefs_add(c, *idx, (int)len, v);
    if (rc && rc != SPEX_E_NOMEM) spex_errprefix(ctx, "%s: coefs[%zu]", name, i);
    /* a repeated index is a malformed file, not a bad argument (SPEX_E_INVAL
     * means a usage error to the CLI) */
    return rc == SPEX_E_INVAL ? SPEX_E_PARSE : rc;
}

/* Bytes of s kept as a name: at most SPEX_GAME_MAX_FEATURE_NAME, never
 * splitting a UTF-8 character. */
static size_t name_len(const char *s) {
    size_t len = strlen(s);
    if (len <= SPEX_GAME_MAX_FEATURE_NAME) return len;
    len = SPEX_GAME_MAX_FEATURE_NAME;
    while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
        len--; /* s[len] continues a character: cut before it */
    return len;
}

/* The optional "features": [names] of a game with n features (see the file
 * comment): *names and *text stay NULL when the file has none. */
static int parse_feature_names(spex_ctx *ctx, const json_t *jf, int64_t n, const char ***names,
                               char **text) {
    *names = NULL;
    *text = NULL;
    if (!json_is_array(jf) || (int64_t)json_array_size(jf) != n) return SPEX_OK;
    size_t total = 0;
    for (size_t j = 0; j < (size_t)n; j++) {
        const char *s = json_string_value(json_array_get(jf, j));
        total += name_len(s ? s : "?") + 1;
    }
    const char **p = spex_calloc(ctx, (size_t)n, sizeof *p);
    char *t = spex_calloc(ctx, total, 1);
    if (!p || !t) {
        spex_free(ctx, p);
        spex_free(ctx, t);
        return SPEX_E_NOMEM;
    }
    size_t off = 0;
    for (size_t j = 0; j < (size_t)n; j++) {
        const char *s = json_string_value(json_array_get(jf, j));
        if (!s) s = "?";
        size_t len = name_len(s);
        memcpy(t + off, s, len);
        t[off + len] = '\0';
        p[j] = t + off;
        off += len + 1;
    }
    *names = p;
    *text = t;
    return SPEX_OK;
}

int spex_game_parse(spex_ctx *ctx, const char *json, size_t len, const char *name,
                    spex_game **out) {
    *out = NULL;
    if (!name) name = "<memory>";
    json_t *root = NULL;
    spex_coefs *c = NULL;
    int32_t *idx = NULL;
    size_t idx_cap = 0;
    const char **names = NULL;
    char *names_text = NULL;
    int rc;
    json_error_t err;
    /* Duplicate keys are refused: a file with two "n" is a mistake, not a choice. */
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: line %d, column %d: %s", name, err.line,
                         err.column, err.text);
        goto done;
    }
    if (!json_is_object(root)) {
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: a game must be a JSON object, got %s", name,
                         json_type_name(root));
        goto done;
    }
    const json_t *jn = json_object_get(root, "n");
    if (!jn) {
        rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: missing key \"n\" (the number of features)", name);
        goto done;
    }
    long long n = 0;
    rc = json_get_int(ctx, name, "n", jn, 1, (long long)SPEX_MAX_FEATURES, &n);
    if (rc) goto done;

    spex_basis basis = SPEX_BASIS_FOURIER;
    const json_t *jb = json_object_get(root, "basis");
    if (jb && !json_is_null(jb)) {
        if (!json_is_string(jb)) {
            rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: \"basis\" must be a string, got %s", name,
                             json_type_name(jb));
            goto done;
        }
        const char *b = json_string_value(jb);
        if (!strcmp(b, "fourier"))
            basis = SPEX_BASIS_FOURIER;
        else if (!strcmp(b, "mobius") || !strcmp(b, "moebius"))
            basis = SPEX_BASIS_MOBIUS;
        else {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "%s: unknown basis \"%.64s\" (expected \"fourier\" or \"mobius\")",
                             name, b);
            goto done;
        }
    }

    double noise_sd = 0.0;
    const json_t *js = json_object_get(root, "noise_sd");
    if (js && !json_is_null(js)) {
        if (!json_is_number(js)) {
            rc = spex_seterr(ctx, SPEX_E_PARSE, "%s: \"noise_sd\" must be a number, got %s", name,
                             json_type_name(js));
            goto done;
        }
        noise_sd = json_number_value(js);
        if (!(noise_sd >= 0.0) || !isfinite(noise_sd)) {
            rc = spex_seterr(ctx, SPEX_E_RANGE, "%s: noise_sd = %g must be finite and >= 0", name,
                             noise_sd);
            goto done;
        }
    }

    const json_t *jc = json_object_get(root, "coefs");
    if (!jc) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: missing key \"coefs\" (a list of [subset, value] pairs)", name);
        goto done;
    }
    if (!json_is_array(jc)) {
        rc = spex_seterr(ctx, SPEX_E_PARSE,
                         "%s: \"coefs\" must be a list of [subset, value] pairs, got %s", name,
                         json_type_name(jc));
        goto done;
    }
    rc = spex_coefs_new(ctx, (int64_t)n, &c);
    if (rc) goto done;
    /* never NULL, even for empty subsets: qsort's pointer must be valid */
    idx_cap = 16;
    idx = spex_calloc(ctx, idx_cap, sizeof *idx);
    if (!idx) {
        rc = SPEX_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(jc); i++) {
        rc = parse_coef(ctx, name, json_array_get(jc, i), i, c, &idx, &idx_cap);
        if (rc) goto done;
    }
    rc = parse_feature_names(ctx, json_object_get(root, "features"), (int64_t)n, &names,
                             &names_text);
    if (rc) goto done;
    rc = game_new(ctx, name, c, basis, noise_sd, out);
    c = NULL; /* owned by the game, or freed by game_new on failure */
    if (!rc) {
        (*out)->feature_names = names;
        (*out)->feature_text = names_text;
        names = NULL;
        names_text = NULL;
    }
done:
    spex_free(ctx, names);
    spex_free(ctx, names_text);
    spex_free(ctx, idx);
    spex_coefs_free(c);
    json_decref(root);
    return rc;
}

int spex_game_load(spex_ctx *ctx, const char *path, spex_game **out) {
    *out = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = SPEX_OK;
    FILE *f = fopen(path, "rb");
    if (!f) return spex_seterr(ctx, SPEX_E_IO, "%s: cannot open: %s", path, strerror(errno));
    /* Read in growing chunks rather than trusting a seek: the path may be a pipe. */
    for (;;) {
        if (len == cap) {
            if (cap >= GAME_MAX_FILE_SIZE) {
                rc = spex_seterr(ctx, SPEX_E_RANGE, "%s: game file larger than %zu bytes", path,
                                 GAME_MAX_FILE_SIZE);
                goto done;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            char *p = spex_realloc(ctx, buf, ncap, 1);
            if (!p) {
                rc = SPEX_E_NOMEM;
                goto done;
            }
            buf = p;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        rc = spex_seterr(ctx, SPEX_E_IO, "%s: read error after %zu bytes", path, len);
        goto done;
    }
    rc = spex_game_parse(ctx, buf, len, path, out);
done:
    fclose(f);
    spex_free(ctx, buf);
    return rc;
}

int spex_game_from_coefs(spex_ctx *ctx, const spex_coefs *coefs, spex_basis basis, double noise_sd,
                         spex_game **out) {
    *out = NULL;
    if (basis != SPEX_BASIS_FOURIER && basis != SPEX_BASIS_MOBIUS)
        return spex_seterr(ctx, SPEX_E_INVAL, "game: unknown basis %d", (int)basis);
    if (!(noise_sd >= 0.0) || !isfinite(noise_sd))
        return spex_seterr(ctx, SPEX_E_RANGE, "game: noise_sd = %g must be finite and >= 0",
                           noise_sd);
    for (int64_t i = 0; i < spex_coefs_count(coefs); i++) {
        double v;
        spex_coefs_entry(coefs, i, NULL, NULL, &v);
        if (!isfinite(v))
            return spex_seterr(ctx, SPEX_E_RANGE, "game: coefficient %lld = %g is not finite",
                               (long long)i, v);
    }
    spex_coefs *c;
    int rc = spex_coefs_clone(coefs, &c);
    if (rc) return rc;
    return game_new(ctx, "game", c, basis, noise_sd, out);
}

void spex_game_free(spex_game *g) {
    if (!g) return;
    spex_ctx *ctx = g->ctx;
    if (g->fourier != g->coefs) spex_coefs_free(g->fourier);
    spex_coefs_free(g->coefs);
    spex_free(ctx, g->val);
    spex_free(ctx, g->term_start);
    spex_free(ctx, g->term_word);
    spex_free(ctx, g->term_bits);
    spex_free(ctx, g->name);
    spex_free(ctx, g->feature_names);
    spex_free(ctx, g->feature_text);
    spex_free(ctx, g);
}

int64_t spex_game_n(const spex_game *g) {
    return g->n;
}
double spex_game_noise_sd(const spex_game *g) {
    return g->noise_sd;
}
spex_basis spex_game_basis(const spex_game *g) {
    return g->basis;
}
const spex_coefs *spex_game_coefs(const spex_game *g) {
    return g->coefs;
}
const spex_coefs *spex_game_fourier(const spex_game *g) {
    return g->fourier;
}
const char *spex_game_feature_name(const spex_game *g, int64_t j) {
    if (!g->feature_names || j < 0 || j >= g->n) return NULL;
    return g->feature_names[j];
}

double spex_game_value(const spex_game *g, const uint64_t *mask) {
    return game_eval_compiled(g, mask);
}

/* The noise of one mask: N(0, 1) drawn from a stream keyed by (seed, a
 * 64-bit hash of the packed mask), so a mask's noisy value does not depend
 * on the query order, batching or thread count, and a cached, resumed or
 * reordered run sees exactly the values of an uninterrupted one. */
static double game_noise(uint64_t seed, const uint64_t *mask, size_t words) {
    uint64_t h = 0x6A09E667F3BCC909ull ^ (uint64_t)words;
    for (size_t w = 0; w < words; w++) {
        h ^= mask[w];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
        h *= 0x94D049BB133111EBull;
        h ^= h >> 29;
    }
    spex_rng r;
    spex_rng_seed_stream(&r, seed, h);
    return spex_rng_normal(&r);
}

/* Noiseless values and their noise in parallel (disjoint outputs); each
 * value is a function of (game, seed, mask) alone. */
static int game_vf_eval(void *user, const spex_masks *batch, double *out) {
    game_vf *s = user;
    const spex_game *g = s->g;
    if (spex_masks_n(batch) != g->n)
        return spex_seterr(g->ctx, SPEX_E_INVAL,
                           "%s: batch masks have n = %lld features, the game has n = %lld", g->name,
                           (long long)spex_masks_n(batch), (long long)g->n);
    int64_t count = spex_masks_count(batch);
    int64_t n_terms = g->term_start[g->n_coefs] + g->n_coefs;
    int n_threads = spex_ctx_threads(g->ctx);
    int parallel = n_threads > 1 && (double)count * (double)n_terms > GAME_PARALLEL_WORK;
#pragma omp parallel for num_threads(n_threads) schedule(static) if (parallel)
    for (int64_t i = 0; i < count; i++)
        out[i] = game_eval_compiled(g, spex_masks_crow(batch, i));
    if (s->with_noise && g->noise_sd > 0.0) {
#pragma omp parallel for num_threads(n_threads) schedule(static) if (parallel)
        for (int64_t i = 0; i < count; i++)
            out[i] += g->noise_sd * game_noise(s->seed, spex_masks_crow(batch, i), g->words);
    }
    return SPEX_OK;
}

static void game_vf_destroy(void *user) {
    game_vf *s = user;
    if (s) spex_free(s->g->ctx, s);
}

int spex_game_valuefn(spex_game *g, int with_noise, uint64_t seed, spex_valuefn *out) {
    memset(out, 0, sizeof *out);
    game_vf *s = spex_calloc(g->ctx, 1, sizeof *s);
    if (!s) return SPEX_E_NOMEM;
    s->g = g;
    s->with_noise = with_noise != 0;
    s->seed = seed;
    out->eval = game_vf_eval;
    out->user = s;
    out->destroy = game_vf_destroy;
    out->n = g->n;
    out->name = g->name;
    return SPEX_OK;
}
