/*
 * The open-addressing hash table shared by the coefficient maps, the query
 * engine, the tokenizer and the CSV reader (declared in core/hash_int.h).
 *
 * HOW IT WORKS
 * The table is an array of n_slots 32-bit slots, n_slots a power of two,
 * each 0 (empty) or id + 1, where id numbers an entry in the caller's own
 * arrays; the table never sees a key. A key with hash h starts at slot
 * h & (n_slots - 1) and probes linearly (wrapping) until it meets the slot
 * whose id the caller's equality test accepts, or an empty slot: the key is
 * absent and that empty slot is where it goes. Nothing is ever deleted one
 * at a time, so no tombstones: a caller that drops or renumbers entries
 * rebuilds the table from its ids (spexi_hash_rebuild). The load stays at
 * most 1/2 (an add that would pass it first doubles the table, rehashing
 * every stored id through the caller's hash_id), so a probe always ends at
 * an empty slot and expected probe lengths stay short. Growth allocates the
 * new array before touching the old one, so a failed allocation leaves the
 * table as it was. A zeroed table has no slots yet and allocates 16 on its
 * first add. All memory comes from the context's allocator.
 */
#include "core/hash_int.h"

#include <string.h>

#define HASH_MIN_SLOTS 16

/* Smallest power of two >= 16 with n_ids * 2 <= slots, or 0 on overflow. */
static size_t slots_for(int64_t n_ids) {
    size_t s = HASH_MIN_SLOTS;
    if (n_ids < 0) n_ids = 0;
    if ((uint64_t)n_ids > SIZE_MAX / 4) return 0;
    while (s < (size_t)n_ids * 2)
        s *= 2;
    return s;
}

int spexi_hash_init(spex_ctx *ctx, spexi_hash *h, int64_t n_hint) {
    memset(h, 0, sizeof *h);
    size_t n = slots_for(n_hint);
    if (!n)
        return spex_seterr(ctx, SPEX_E_NOMEM, "hash table: %lld entries overflow the size",
                           (long long)n_hint);
    h->slots = spex_calloc(ctx, n, sizeof *h->slots);
    if (!h->slots) return SPEX_E_NOMEM;
    h->n_slots = n;
    return SPEX_OK;
}

void spexi_hash_free(spex_ctx *ctx, spexi_hash *h) {
    if (!h) return;
    spex_free(ctx, h->slots);
    memset(h, 0, sizeof *h);
}

/* First empty slot on the probe path of hash (the key is known absent). */
static size_t empty_slot(const uint32_t *slots, size_t n_slots, uint64_t hash) {
    const size_t mask = n_slots - 1;
    size_t s = (size_t)hash & mask;
    while (slots[s])
        s = (s + 1) & mask;
    return s;
}

/* Moves every stored id into a fresh array of n_slots slots. */
static int resize(spex_ctx *ctx, spexi_hash *h, size_t n_slots, spexi_hash_id_fn hash_id,
                  const void *user) {
    uint32_t *slots = spex_calloc(ctx, n_slots, sizeof *slots);
    if (!slots) return SPEX_E_NOMEM;
    for (size_t i = 0; i < h->n_slots; i++) {
        uint32_t v = h->slots[i];
        if (v) slots[empty_slot(slots, n_slots, hash_id(user, (int64_t)v - 1))] = v;
    }
    spex_free(ctx, h->slots);
    h->slots = slots;
    h->n_slots = n_slots;
    return SPEX_OK;
}

int spexi_hash_add(spex_ctx *ctx, spexi_hash *h, size_t slot, uint64_t hash, int64_t id,
                   spexi_hash_id_fn hash_id, const void *user) {
    if (id < 0 || id > SPEXI_HASH_MAX_ID)
        return spex_seterr(ctx, SPEX_E_RANGE, "hash table: id %lld outside 0..%lld", (long long)id,
                           (long long)SPEXI_HASH_MAX_ID);
    if ((size_t)(h->count + 1) * 2 > h->n_slots) {
        if (h->n_slots > SIZE_MAX / 2 / sizeof *h->slots)
            return spex_seterr(ctx, SPEX_E_NOMEM, "hash table: %zu slots cannot double",
                               h->n_slots);
        int rc = resize(ctx, h, h->n_slots ? h->n_slots * 2 : HASH_MIN_SLOTS, hash_id, user);
        if (rc) return rc;
        slot = empty_slot(h->slots, h->n_slots, hash);
    }
    h->slots[slot] = (uint32_t)(id + 1);
    h->count++;
    return SPEX_OK;
}

int spexi_hash_rebuild(spex_ctx *ctx, spexi_hash *h, int64_t n_ids, spexi_hash_id_fn hash_id,
                       const void *user) {
    if (n_ids < 0 || n_ids > SPEXI_HASH_MAX_ID + 1)
        return spex_seterr(ctx, SPEX_E_RANGE, "hash table: %lld ids, more than %lld",
                           (long long)n_ids, (long long)SPEXI_HASH_MAX_ID + 1);
    size_t need = n_ids ? slots_for(n_ids) : h->n_slots;
    if (n_ids && !need)
        return spex_seterr(ctx, SPEX_E_NOMEM, "hash table: %lld entries overflow the size",
                           (long long)n_ids);
    if (need > h->n_slots) {
        uint32_t *slots = spex_calloc(ctx, need, sizeof *slots);
        if (!slots) return SPEX_E_NOMEM;
        spex_free(ctx, h->slots);
        h->slots = slots;
        h->n_slots = need;
    } else if (h->n_slots) {
        memset(h->slots, 0, h->n_slots * sizeof *h->slots);
    }
    for (int64_t i = 0; i < n_ids; i++)
        h->slots[empty_slot(h->slots, h->n_slots, hash_id(user, i))] = (uint32_t)(i + 1);
    h->count = n_ids;
    return SPEX_OK;
}
