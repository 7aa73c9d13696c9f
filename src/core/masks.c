/* Packed bit-mask batches: contiguous rows of ceil(n/64) words. */
#include "spex/masks.h"

#include <string.h>

struct spex_masks {
    spex_ctx *ctx;
    int64_t n;
    size_t words;
    int64_t count, cap;
    uint64_t *data; /* (cap, words) */
};

int spex_masks_new(spex_ctx *ctx, int64_t n, int64_t cap, spex_masks **out) {
    *out = NULL;
    if (n < 1 || n > SPEX_MAX_FEATURES)
        return spex_seterr(ctx, SPEX_E_RANGE, "number of features n = %lld must be in 1..%lld",
                           (long long)n, (long long)SPEX_MAX_FEATURES);
    spex_masks *b = spex_calloc(ctx, 1, sizeof *b);
    if (!b) return SPEX_E_NOMEM;
    b->ctx = ctx;
    b->n = n;
    b->words = spex_bits_words(n);
    int rc = spex_masks_reserve(b, cap < 1 ? 1 : cap);
    if (rc) {
        spex_masks_free(b);
        return rc;
    }
    *out = b;
    return SPEX_OK;
}

void spex_masks_free(spex_masks *b) {
    if (!b) return;
    spex_free(b->ctx, b->data);
    spex_free(b->ctx, b);
}

int64_t spex_masks_n(const spex_masks *b) { return b->n; }
int64_t spex_masks_count(const spex_masks *b) { return b->count; }
size_t spex_masks_words(const spex_masks *b) { return b->words; }
uint64_t *spex_masks_row(spex_masks *b, int64_t i) { return b->data + (size_t)i * b->words; }
const uint64_t *spex_masks_crow(const spex_masks *b, int64_t i) {
    return b->data + (size_t)i * b->words;
}

int spex_masks_reserve(spex_masks *b, int64_t cap) {
    if (cap <= b->cap) return SPEX_OK;
    if ((uint64_t)cap > SIZE_MAX / (b->words * sizeof(uint64_t)))
        return spex_seterr(b->ctx, SPEX_E_NOMEM, "mask batch of %lld rows x %zu words overflows",
                           (long long)cap, b->words);
    uint64_t *d = spex_realloc(b->ctx, b->data, (size_t)cap * b->words, sizeof(uint64_t));
    if (!d) return SPEX_E_NOMEM;
    b->data = d;
    b->cap = cap;
    return SPEX_OK;
}

static int grow(spex_masks *b) {
    if (b->count < b->cap) return SPEX_OK;
    int64_t cap = b->cap < 8 ? 8 : b->cap + b->cap / 2;
    return spex_masks_reserve(b, cap);
}

int spex_masks_append_zero(spex_masks *b, uint64_t **row) {
    int rc = grow(b);
    if (rc) return rc;
    uint64_t *r = b->data + (size_t)b->count * b->words;
    memset(r, 0, b->words * sizeof *r);
    b->count++;
    if (row) *row = r;
    return SPEX_OK;
}

int spex_masks_append(spex_masks *b, const uint64_t *row) {
    /* row may point into b itself (appending a copy of row i); growing would
     * move it, so remember its row number instead */
    int64_t self = -1;
    uintptr_t lo = (uintptr_t)b->data, at = (uintptr_t)row;
    if (b->data && at >= lo && at < lo + (size_t)b->count * b->words * sizeof *row)
        self = (int64_t)((at - lo) / (b->words * sizeof *row));
    uint64_t *r;
    int rc = spex_masks_append_zero(b, &r);
    if (rc) return rc;
    if (self >= 0) row = b->data + (size_t)self * b->words;
    memcpy(r, row, b->words * sizeof *r);
    return SPEX_OK;
}

void spex_masks_clear(spex_masks *b) { b->count = 0; }

void spex_masks_truncate(spex_masks *b, int64_t count) {
    if (count >= 0 && count < b->count) b->count = count;
}

void spex_masks_to_string(const spex_masks *b, int64_t i, char *buf) {
    const uint64_t *r = spex_masks_crow(b, i);
    for (int64_t j = 0; j < b->n; j++) buf[j] = (char)('0' + spex_bits_get(r, j));
    buf[b->n] = '\0';
}

int spex_masks_append_string(spex_masks *b, const char *s, size_t len) {
    if ((int64_t)len != b->n)
        return spex_seterr(b->ctx, SPEX_E_PARSE, "mask has %zu characters, expected n = %lld", len,
                           (long long)b->n);
    uint64_t *r;
    int rc = spex_masks_append_zero(b, &r);
    if (rc) return rc;
    for (size_t j = 0; j < len; j++) {
        if (s[j] == '1') spex_bits_set(r, (int64_t)j, 1);
        else if (s[j] != '0') {
            b->count--;
            return spex_seterr(b->ctx, SPEX_E_PARSE,
                               "mask character %zu is '%c', expected '0' or '1'", j, s[j]);
        }
    }
    return SPEX_OK;
}
