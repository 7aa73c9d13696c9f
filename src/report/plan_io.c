/*
 * Plan files (spex/plan.h): written by `spex explain --plan`, read by every
 * `spex work` shard. The parser takes untrusted text: every count is checked
 * against the bytes that remain before anything is allocated, numbers are
 * parsed strictly, and errors name the line (tests/fuzz/fuzz_plan.c).
 */
#include "spex/plan.h"

#include <string.h>

int spex_plan_write(spex_ctx *ctx, FILE *f, const char *fp_hex, const spex_masks *m) {
    int64_t n = spex_masks_n(m), count = spex_masks_count(m);
    if (!fp_hex || strlen(fp_hex) != 64)
        return spex_seterr(ctx, SPEX_E_INVAL, "plan: the fingerprint must be 64 hex digits");
    char *line = spex_malloc(ctx, (size_t)n + 1);
    if (!line) return SPEX_E_NOMEM;
    line[n] = '\n';
    int bad = fprintf(f, "spex-plan 1\nfingerprint %s\nn %lld\nmasks %lld\n", fp_hex, (long long)n,
                      (long long)count) < 0;
    for (int64_t i = 0; !bad && i < count; i++) {
        const uint64_t *row = spex_masks_crow(m, i);
        for (int64_t j = 0; j < n; j++)
            line[j] = spex_bits_get(row, j) ? '1' : '0';
        bad = fwrite(line, 1, (size_t)n + 1, f) != (size_t)n + 1;
    }
    spex_free(ctx, line);
    if (bad || fflush(f)) return spex_seterr(ctx, SPEX_E_IO, "plan: writing failed");
    return SPEX_OK;
}

/* The next line of text (without '\n') from *pos; 0 at the end. */
static int next_line(const char *text, size_t len, size_t *pos, const char **s, size_t *n) {
    if (*pos >= len) return 0;
    const char *nl = memchr(text + *pos, '\n', len - *pos);
    *s = text + *pos;
    *n = nl ? (size_t)(nl - *s) : len - *pos;
    *pos += *n + (nl != NULL);
    return 1;
}

/* "KEY DIGITS" with DIGITS a decimal in [lo, hi] and nothing else. */
static int key_int(const char *s, size_t n, const char *key, int64_t lo, int64_t hi, int64_t *out) {
    size_t k = strlen(key);
    if (n <= k + 1 || memcmp(s, key, k) || s[k] != ' ') return 0;
    int64_t v = 0;
    for (size_t i = k + 1; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || i - k > 18) return 0;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

int spex_plan_parse(spex_ctx *ctx, const char *text, size_t len, char fp_hex[65],
                    spex_masks **out) {
    *out = NULL;
    fp_hex[0] = '\0';
    size_t pos = 0, ln = 0;
    const char *s = NULL;
    int64_t n = 0, count = 0;
    if (!next_line(text, len, &pos, &s, &ln) || ln != 11 || memcmp(s, "spex-plan 1", 11))
        return spex_seterr(ctx, SPEX_E_PARSE, "plan: line 1 is not 'spex-plan 1'");
    if (!next_line(text, len, &pos, &s, &ln) || ln != 12 + 64 || memcmp(s, "fingerprint ", 12))
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "plan: line 2 is not 'fingerprint' and 64 hex digits");
    for (size_t i = 12; i < ln; i++)
        if (!strchr("0123456789abcdef", s[i]) || !s[i])
            return spex_seterr(ctx, SPEX_E_PARSE,
                               "plan: line 2: the fingerprint is not lowercase hex");
    memcpy(fp_hex, s + 12, 64);
    fp_hex[64] = '\0';
    if (!next_line(text, len, &pos, &s, &ln) || !key_int(s, ln, "n", 1, SPEX_MAX_FEATURES, &n))
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "plan: line 3 is not 'n' and a number of features in 1..%lld",
                           (long long)SPEX_MAX_FEATURES);
    if (!next_line(text, len, &pos, &s, &ln) || !key_int(s, ln, "masks", 0, INT64_MAX / 4, &count))
        return spex_seterr(ctx, SPEX_E_PARSE, "plan: line 4 is not 'masks' and a count");
    /* each mask is n + 1 bytes: the count must fit the text that is left */
    if (count > (int64_t)((len - pos) / ((size_t)n + 1) + 1) ||
        count * (n + 1) > SPEX_PLAN_MAX_CHARS)
        return spex_seterr(ctx, SPEX_E_PARSE,
                           "plan: line 4 announces %lld masks of %lld features, more than the file "
                           "holds",
                           (long long)count, (long long)n);
    spex_masks *m = NULL;
    int rc = spex_masks_new(ctx, n, count ? count : 1, &m);
    for (int64_t i = 0; !rc && i < count; i++) {
        uint64_t *row;
        if (!next_line(text, len, &pos, &s, &ln) || (int64_t)ln != n) {
            rc = spex_seterr(ctx, SPEX_E_PARSE,
                             "plan: line %lld: mask %lld is missing or not %lld characters long",
                             (long long)(5 + i), (long long)i, (long long)n);
            break;
        }
        rc = spex_masks_append_zero(m, &row);
        for (int64_t j = 0; !rc && j < n; j++) {
            if (s[j] == '1')
                row[j >> 6] |= (uint64_t)1 << (j & 63);
            else if (s[j] != '0')
                rc = spex_seterr(ctx, SPEX_E_PARSE,
                                 "plan: line %lld: character %lld of the mask is not 0 or 1",
                                 (long long)(5 + i), (long long)(j + 1));
        }
    }
    if (!rc && pos < len)
        rc = spex_seterr(ctx, SPEX_E_PARSE, "plan: text after the %lld masks announced (line %lld)",
                         (long long)count, (long long)(5 + count));
    if (rc) {
        spex_masks_free(m);
        return rc;
    }
    *out = m;
    return SPEX_OK;
}
