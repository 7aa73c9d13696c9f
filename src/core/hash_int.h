/*
 * The one open-addressing hash table of spex (internal, not public API),
 * and the key hashes its callers use: coefficient maps (src/core/coefs.c),
 * the query engine's de-duplication (src/query/query.c), the vocabulary
 * and merge tables of the tokenizer (src/llm/tokenizer.c) and the label
 * interning of the CSV reader (src/learn/csv.c).
 *
 * The table stores ids, not keys: every key lives in the caller's own arrays
 * (id = entry number there), and the caller supplies a key's hash and, for
 * lookups, an equality test "does id hold this key". See hash.c for HOW IT
 * WORKS.
 *
 * Usage (keys are the caller's strings names[0..n)):
 *     spexi_hash h;
 *     spexi_hash_init(ctx, &h, 0);
 *     size_t slot;
 *     uint64_t hv = spexi_hash_bytes(s, len);
 *     int64_t id = spexi_hash_find(&h, hv, name_eq, tab, &key, &slot);
 *     if (id < 0) {  // absent: append to names, then
 *         rc = spexi_hash_add(ctx, &h, slot, hv, n, name_hash, tab);
 *     }
 *     spexi_hash_free(ctx, &h);
 */
#ifndef SPEX_CORE_HASH_INT_H
#define SPEX_CORE_HASH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "spex/common.h"

/* Largest id the table holds: slots keep id + 1 in 32 bits, 0 = empty. */
#define SPEXI_HASH_MAX_ID ((int64_t)UINT32_MAX - 2)

/* A zeroed struct is a valid empty table (it allocates on the first add). */
typedef struct spexi_hash {
    uint32_t *slots; /* (n_slots) id + 1, 0 = empty; n_slots 0 or a power of two */
    size_t n_slots;
    int64_t count; /* occupied slots; count * 2 <= n_slots */
} spexi_hash;

/* 1 when the caller's entry `id` has the key `key` (whatever the caller
 * passed to spexi_hash_find). */
typedef int (*spexi_hash_eq_fn)(const void *user, int64_t id, const void *key);
/* The hash of the key of the caller's entry `id`: the same value the caller
 * passes to spexi_hash_find / spexi_hash_add for that key. Growth and
 * rebuilds rehash through it. */
typedef uint64_t (*spexi_hash_id_fn)(const void *user, int64_t id);

/* An empty table with room for n_hint ids before it first grows (at least
 * 16 slots). SPEX_E_NOMEM (h zeroed) on allocation failure or overflow. */
int spexi_hash_init(spex_ctx *ctx, spexi_hash *h, int64_t n_hint);
/* Frees the slots; NULL-safe, h zeroed. */
void spexi_hash_free(spex_ctx *ctx, spexi_hash *h);

/* The id holding key (hash: its hash), or -1. *slot (when not NULL) gets the
 * slot of that id, or the empty slot where the key would go, valid for
 * spexi_hash_add and spexi_hash_replace until the table next changes. */
static inline int64_t spexi_hash_find(const spexi_hash *h, uint64_t hash, spexi_hash_eq_fn eq,
                                      const void *user, const void *key, size_t *slot) {
    const size_t mask = h->n_slots - 1;
    size_t s = (size_t)hash & mask;
    int64_t found = -1;
    for (; h->n_slots && h->slots[s]; s = (s + 1) & mask) {
        int64_t id = (int64_t)h->slots[s] - 1;
        if (eq(user, id, key)) {
            found = id;
            break;
        }
    }
    if (slot) *slot = s;
    return found;
}

/* Adds id for a key found absent: slot and hash from the spexi_hash_find
 * that missed. Grows first (doubling, every id rehashed through hash_id)
 * when the load would pass 1/2; on failure the table is unchanged.
 * SPEX_E_NOMEM, or SPEX_E_RANGE for id outside 0..SPEXI_HASH_MAX_ID. */
int spexi_hash_add(spex_ctx *ctx, spexi_hash *h, size_t slot, uint64_t hash, int64_t id,
                   spexi_hash_id_fn hash_id, const void *user);

/* Points the slot of a found key at another id (a later duplicate wins). */
static inline void spexi_hash_replace(spexi_hash *h, size_t slot, int64_t id) {
    h->slots[slot] = (uint32_t)(id + 1);
}

/* Empties the table and inserts ids 0..n_ids-1 (distinct keys), for a caller
 * that renumbered or dropped entries. In place, and cannot fail, when
 * n_ids <= h->count; otherwise it may grow (SPEX_E_NOMEM: table unchanged). */
int spexi_hash_rebuild(spex_ctx *ctx, spexi_hash *h, int64_t n_ids, spexi_hash_id_fn hash_id,
                       const void *user);

/* ---- key hashes ---- */

/* FNV-1a (64 bit) of n bytes: texts (tokens, merges, labels). */
static inline uint64_t spexi_hash_bytes(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

/* Multiply-xorshift mix of n 64-bit words: packed masks. */
static inline uint64_t spexi_hash_words(const uint64_t *w, size_t n) {
    uint64_t h = 0x243F6A8885A308D3ull;
    for (size_t i = 0; i < n; i++) {
        h ^= w[i];
        h *= 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    return h ^ (h >> 32);
}

/* murmur3-style mix of n int32 indices, seeded by n: subsets. */
static inline uint64_t spexi_hash_i32s(const int32_t *idx, int n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uint32_t)idx[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

#endif
