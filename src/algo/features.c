/* Feature names of a result (spex_result_set_features, spex/explain.h): the
 * names every report shows (table, CSV, JSON "features", HTML), with
 * repeated names told apart, so that "never × waiter" says which waiter.
 *
 * HOW IT WORKS: one hash table over the given names finds each name's first
 * occurrence and counts them. Names given once are kept as they are and
 * entered in a second table, of the names handed out; then, in feature
 * order, each occurrence of a repeated name takes "name#k" with the next k
 * (from 1) whose text is not handed out yet. Every k skipped is a distinct
 * name already handed out, so the skips cost O(n) in all. */
#include "algo/algo_int.h"

#include <stdio.h>
#include <string.h>

#include "core/hash_int.h"

/* the hash table's callbacks: user = the strings (const char *const *),
 * key = a string */
static int str_eq(const void *user, int64_t id, const void *key) {
    return !strcmp(((const char *const *)user)[id], key);
}

static uint64_t str_hash(const void *user, int64_t id) {
    const char *s = ((const char *const *)user)[id];
    return spexi_hash_bytes(s, strlen(s));
}

/* The id in h (over strs) holding s, or -1; *hv and *slot for spexi_hash_add. */
static int64_t str_find(const spexi_hash *h, const char *const *strs, const char *s, uint64_t *hv,
                        size_t *slot) {
    *hv = spexi_hash_bytes(s, strlen(s));
    return spexi_hash_find(h, *hv, str_eq, strs, s, slot);
}

int spex_result_set_features(spex_result *r, const char *const *names) {
    spex_ctx *ctx = spex_coefs_ctx(r->fourier);
    const int64_t n = r->n;
    if (n <= 0) return SPEX_OK;
    const char **in = spex_calloc(ctx, (size_t)n, sizeof *in);
    char **out = spex_calloc(ctx, (size_t)n, sizeof *out);
    /* (3, n): first occurrence of each name, occurrences by first
     * occurrence, last k handed out by first occurrence */
    int64_t *tally = spex_calloc(ctx, (size_t)n, 3 * sizeof *tally);
    spexi_hash seen = {0}, taken = {0};
    int rc = in && out && tally ? SPEX_OK : SPEX_E_NOMEM;
    if (!rc) rc = spexi_hash_init(ctx, &seen, n);
    if (!rc) rc = spexi_hash_init(ctx, &taken, n);
    int64_t *first = tally, *count = tally + n, *last_k = tally + 2 * n;
    for (int64_t j = 0; !rc && j < n; j++) {
        in[j] = names && names[j] ? names[j] : r->features[j];
        uint64_t hv;
        size_t slot;
        int64_t id = str_find(&seen, in, in[j], &hv, &slot);
        if (id < 0) {
            id = j;
            rc = spexi_hash_add(ctx, &seen, slot, hv, id, str_hash, in);
        }
        first[j] = id;
        count[id]++;
    }
    for (int64_t j = 0; !rc && j < n; j++) {
        if (count[first[j]] > 1) continue;
        uint64_t hv;
        size_t slot;
        str_find(&taken, (const char *const *)out, in[j], &hv, &slot);
        if (!(out[j] = spex_strdup(ctx, in[j])))
            rc = SPEX_E_NOMEM;
        else
            rc = spexi_hash_add(ctx, &taken, slot, hv, j, str_hash, out);
    }
    for (int64_t j = 0; !rc && j < n; j++) {
        if (count[first[j]] == 1) continue;
        size_t len = strlen(in[j]), cap = len + 24; /* '#', 20 digits, NUL */
        char *s = cap > len ? spex_malloc(ctx, cap) : NULL;
        if (!s) {
            rc = SPEX_E_NOMEM;
            break;
        }
        uint64_t hv;
        size_t slot;
        do
            snprintf(s, cap, "%s#%lld", in[j], (long long)++last_k[first[j]]);
        while (str_find(&taken, (const char *const *)out, s, &hv, &slot) >= 0);
        out[j] = s;
        rc = spexi_hash_add(ctx, &taken, slot, hv, j, str_hash, out);
    }
    for (int64_t j = 0; !rc && j < n; j++) {
        spex_free(ctx, r->features[j]);
        r->features[j] = out[j];
        out[j] = NULL;
    }
    for (int64_t j = 0; out && j < n; j++)
        spex_free(ctx, out[j]);
    spexi_hash_free(ctx, &seen);
    spexi_hash_free(ctx, &taken);
    spex_free(ctx, tally);
    spex_free(ctx, out);
    spex_free(ctx, in);
    return rc;
}
