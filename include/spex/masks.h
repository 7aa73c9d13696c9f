/*
 * spex/masks.h - packed bit masks and batches of them.
 *
 * A mask m in {0,1}^n says which features are KEPT (1) and which are ABLATED
 * (0) (DESIGN.md §1). A row is ceil(n/64) uint64_t words; feature j is bit
 * (j % 64) of word (j / 64); bits past n are always 0. A spex_masks is a
 * growable batch of rows of one n, stored contiguously, row-major.
 *
 * Example:
 *     spex_masks *b;
 *     spex_masks_new(ctx, 1000, 16, &b);
 *     uint64_t *row;
 *     spex_masks_append_zero(b, &row);      // one all-ablated mask
 *     spex_bits_set(row, 17, 1);            // keep feature 17
 *     spex_masks_free(b);
 */
#ifndef SPEX_MASKS_H
#define SPEX_MASKS_H

#include "spex/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SPEX_MAX_FEATURES ((int64_t)1 << 30)

typedef struct spex_masks spex_masks;

/* Words per row for n features. */
static inline size_t spex_bits_words(int64_t n) {
    return (size_t)((n + 63) / 64);
}
static inline int spex_bits_get(const uint64_t *row, int64_t j) {
    return (int)((row[j >> 6] >> (j & 63)) & 1u);
}
static inline void spex_bits_set(uint64_t *row, int64_t j, int v) {
    uint64_t bit = (uint64_t)1 << (j & 63);
    if (v)
        row[j >> 6] |= bit;
    else
        row[j >> 6] &= ~bit;
}
static inline void spex_bits_flip(uint64_t *row, int64_t j) {
    row[j >> 6] ^= (uint64_t)1 << (j & 63);
}
/* Number of ones in a row of `words` words. */
static inline int64_t spex_bits_popcount(const uint64_t *row, size_t words) {
    int64_t c = 0;
    for (size_t w = 0; w < words; w++)
        c += __builtin_popcountll(row[w]);
    return c;
}
/* Parity of <a, b> over F2: the sign exponent of (-1)^{<a,b>}. */
static inline int spex_bits_dot(const uint64_t *a, const uint64_t *b, size_t words) {
    uint64_t x = 0;
    for (size_t w = 0; w < words; w++)
        x ^= a[w] & b[w];
    return __builtin_parityll(x);
}
/* Parity of the mask restricted to the sorted/unsorted index list idx. */
static inline int spex_bits_dot_idx(const uint64_t *row, const int32_t *idx, int len) {
    int p = 0;
    for (int i = 0; i < len; i++)
        p ^= spex_bits_get(row, idx[i]);
    return p;
}

/* A new empty batch for n features (1 <= n <= SPEX_MAX_FEATURES) with room for
 * cap rows (grows as needed). *out is owned by the caller. */
SPEX_API int spex_masks_new(spex_ctx *ctx, int64_t n, int64_t cap, spex_masks **out);
SPEX_API void spex_masks_free(spex_masks *b);
SPEX_API int64_t spex_masks_n(const spex_masks *b);
SPEX_API int64_t spex_masks_count(const spex_masks *b);
SPEX_API size_t spex_masks_words(const spex_masks *b);
/* Row i (0 <= i < count); borrowed, invalidated by any append. */
SPEX_API uint64_t *spex_masks_row(spex_masks *b, int64_t i);
SPEX_API const uint64_t *spex_masks_crow(const spex_masks *b, int64_t i);
/* Appends a copy of row (spex_masks_words words; padding bits must be 0). */
SPEX_API int spex_masks_append(spex_masks *b, const uint64_t *row);
/* Appends an all-zero row and returns it in *row (borrowed). */
SPEX_API int spex_masks_append_zero(spex_masks *b, uint64_t **row);
/* Drops all rows (keeps the memory). */
SPEX_API void spex_masks_clear(spex_masks *b);
/* Keeps the first count rows (count <= current count). */
SPEX_API void spex_masks_truncate(spex_masks *b, int64_t count);
/* Ensures room for cap rows in total. */
SPEX_API int spex_masks_reserve(spex_masks *b, int64_t cap);
/* Writes row i as n characters '0'/'1' plus NUL into buf (n+1 bytes). */
SPEX_API void spex_masks_to_string(const spex_masks *b, int64_t i, char *buf);
/* Parses n characters '0'/'1' into a new appended row; SPEX_E_PARSE on a bad
 * character or length (the message gives the position). */
SPEX_API int spex_masks_append_string(spex_masks *b, const char *s, size_t len);

#ifdef __cplusplus
}
#endif
#endif
