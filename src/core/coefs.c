/*
 * Sparse subset -> value map.
 *
 * HOW IT WORKS: entries live in insertion order in `ent` (offset into the
 * index pool `pool`, length, value); `slots` is an open-addressing table
 * (linear probing, power-of-two size, load <= 1/2) of entry numbers + 1
 * (0 = empty). Sorting or pruning reorders `ent` and rebuilds `slots`; the
 * pool is never compacted except by prune.
 */
#include "spex/coefs.h"
#include "spex/masks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t off;
    int len;
    double v;
} entry;

struct spex_coefs {
    spex_ctx *ctx;
    int64_t n;
    entry *ent;
    int64_t count, cap;
    int32_t *pool;
    size_t pool_len, pool_cap;
    uint32_t *slots; /* entry index + 1; 0 = empty */
    size_t n_slots;
};

static uint64_t hash_subset(const int32_t *idx, int len) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)len;
    for (int i = 0; i < len; i++) {
        h ^= (uint64_t)(uint32_t)idx[i];
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

int spex_coefs_new(spex_ctx *ctx, int64_t n, spex_coefs **out) {
    *out = NULL;
    if (n < 1) return spex_seterr(ctx, SPEX_E_RANGE, "number of features n = %lld must be >= 1",
                                  (long long)n);
    spex_coefs *c = spex_calloc(ctx, 1, sizeof *c);
    if (!c) return SPEX_E_NOMEM;
    c->ctx = ctx;
    c->n = n;
    c->n_slots = 16;
    c->slots = spex_calloc(ctx, c->n_slots, sizeof *c->slots);
    /* the pool is never NULL, so subsets of length 0 point somewhere valid */
    c->pool_cap = 64;
    c->pool = spex_malloc(ctx, c->pool_cap * sizeof *c->pool);
    if (!c->slots || !c->pool) {
        spex_free(ctx, c->slots);
        spex_free(ctx, c->pool);
        spex_free(ctx, c);
        return SPEX_E_NOMEM;
    }
    *out = c;
    return SPEX_OK;
}

void spex_coefs_free(spex_coefs *c) {
    if (!c) return;
    spex_free(c->ctx, c->ent);
    spex_free(c->ctx, c->pool);
    spex_free(c->ctx, c->slots);
    spex_free(c->ctx, c);
}

int64_t spex_coefs_n(const spex_coefs *c) { return c->n; }
spex_ctx *spex_coefs_ctx(const spex_coefs *c) { return c->ctx; }
int64_t spex_coefs_count(const spex_coefs *c) { return c->count; }

static int same(const spex_coefs *c, const entry *e, const int32_t *idx, int len) {
    return e->len == len && (len == 0 || !memcmp(c->pool + e->off, idx, (size_t)len * sizeof *idx));
}

/* Slot holding S, or the empty slot where it would go. */
static size_t find_slot(const spex_coefs *c, const int32_t *idx, int len) {
    size_t mask = c->n_slots - 1;
    size_t s = (size_t)hash_subset(idx, len) & mask;
    while (c->slots[s] && !same(c, &c->ent[c->slots[s] - 1], idx, len)) s = (s + 1) & mask;
    return s;
}

static int rebuild(spex_coefs *c, size_t n_slots) {
    uint32_t *slots = spex_calloc(c->ctx, n_slots, sizeof *slots);
    if (!slots) return SPEX_E_NOMEM;
    spex_free(c->ctx, c->slots);
    c->slots = slots;
    c->n_slots = n_slots;
    for (int64_t i = 0; i < c->count; i++) {
        const entry *e = &c->ent[i];
        size_t s = find_slot(c, c->pool + e->off, e->len);
        c->slots[s] = (uint32_t)(i + 1);
    }
    return SPEX_OK;
}

static int check_subset(const spex_coefs *c, const int32_t *idx, int len) {
    if (len < 0) return spex_seterr(c->ctx, SPEX_E_INVAL, "negative subset length %d", len);
    for (int i = 0; i < len; i++) {
        if (idx[i] < 0 || idx[i] >= c->n)
            return spex_seterr(c->ctx, SPEX_E_RANGE,
                               "feature index %d at position %d is outside 0..%lld", idx[i], i,
                               (long long)c->n - 1);
        if (i && idx[i] <= idx[i - 1])
            return spex_seterr(c->ctx, SPEX_E_INVAL,
                               "subset indices must be strictly increasing: %d follows %d at "
                               "position %d",
                               idx[i], idx[i - 1], i);
    }
    return SPEX_OK;
}

static int upsert(spex_coefs *c, const int32_t *idx, int len, double v, int add) {
    int rc = check_subset(c, idx, len);
    if (rc) return rc;
    size_t s = find_slot(c, idx, len);
    if (c->slots[s]) {
        entry *e = &c->ent[c->slots[s] - 1];
        e->v = add ? e->v + v : v;
        return SPEX_OK;
    }
    if (c->count >= (int64_t)UINT32_MAX - 1)
        return spex_seterr(c->ctx, SPEX_E_RANGE, "too many coefficients");
    if (c->count == c->cap) {
        int64_t cap = c->cap < 16 ? 16 : c->cap * 2;
        entry *e = spex_realloc(c->ctx, c->ent, (size_t)cap, sizeof *e);
        if (!e) return SPEX_E_NOMEM;
        c->ent = e;
        c->cap = cap;
    }
    if (c->pool_len + (size_t)len > c->pool_cap) {
        size_t cap = c->pool_cap * 2;
        while (cap < c->pool_len + (size_t)len) cap *= 2;
        int32_t *p = spex_realloc(c->ctx, c->pool, cap, sizeof *p);
        if (!p) return SPEX_E_NOMEM;
        c->pool = p;
        c->pool_cap = cap;
    }
    if (len) memcpy(c->pool + c->pool_len, idx, (size_t)len * sizeof *idx);
    c->ent[c->count] = (entry){c->pool_len, len, v};
    c->pool_len += (size_t)len;
    c->slots[s] = (uint32_t)(c->count + 1);
    c->count++;
    if ((size_t)c->count * 2 > c->n_slots) return rebuild(c, c->n_slots * 2);
    return SPEX_OK;
}

int spex_coefs_add(spex_coefs *c, const int32_t *idx, int len, double v) {
    return upsert(c, idx, len, v, 1);
}

int spex_coefs_set(spex_coefs *c, const int32_t *idx, int len, double v) {
    return upsert(c, idx, len, v, 0);
}

int spex_coefs_get(const spex_coefs *c, const int32_t *idx, int len, double *v) {
    size_t s = find_slot(c, idx, len);
    if (!c->slots[s]) {
        *v = 0.0;
        return 0;
    }
    *v = c->ent[c->slots[s] - 1].v;
    return 1;
}

void spex_coefs_entry(const spex_coefs *c, int64_t i, const int32_t **idx, int *len, double *v) {
    const entry *e = &c->ent[i];
    if (idx) *idx = c->pool + e->off;
    if (len) *len = e->len;
    if (v) *v = e->v;
}

void spex_coefs_entry_set(spex_coefs *c, int64_t i, double v) { c->ent[i].v = v; }

int spex_coefs_max_order(const spex_coefs *c) {
    int m = 0;
    for (int64_t i = 0; i < c->count; i++)
        if (c->ent[i].len > m) m = c->ent[i].len;
    return m;
}

int spex_coefs_clone(const spex_coefs *c, spex_coefs **out) {
    int rc = spex_coefs_new(c->ctx, c->n, out);
    for (int64_t i = 0; !rc && i < c->count; i++)
        rc = spex_coefs_add(*out, c->pool + c->ent[i].off, c->ent[i].len, c->ent[i].v);
    if (rc) {
        spex_coefs_free(*out);
        *out = NULL;
    }
    return rc;
}

/* qsort has no context argument; the pool pointer travels inside the items. */
typedef struct {
    entry e;
    const int32_t *pool;
} sort_item;

static int cmp_subsets(const sort_item *a, const sort_item *b) {
    if (a->e.len != b->e.len) return a->e.len < b->e.len ? -1 : 1;
    for (int i = 0; i < a->e.len; i++) {
        int32_t x = a->pool[a->e.off + (size_t)i], y = b->pool[b->e.off + (size_t)i];
        if (x != y) return x < y ? -1 : 1;
    }
    return 0;
}

static int cmp_abs(const void *pa, const void *pb) {
    const sort_item *a = pa, *b = pb;
    double x = fabs(a->e.v), y = fabs(b->e.v);
    if (x != y) return x > y ? -1 : 1;
    return cmp_subsets(a, b);
}

static int cmp_sub(const void *pa, const void *pb) {
    return cmp_subsets(pa, pb);
}

static void sort_with(spex_coefs *c, int (*cmp)(const void *, const void *)) {
    sort_item *items = spex_malloc(c->ctx, (size_t)(c->count ? c->count : 1) * sizeof *items);
    if (!items) return; /* out of memory: leave the order as it was */
    for (int64_t i = 0; i < c->count; i++) items[i] = (sort_item){c->ent[i], c->pool};
    qsort(items, (size_t)c->count, sizeof *items, cmp);
    for (int64_t i = 0; i < c->count; i++) c->ent[i] = items[i].e;
    spex_free(c->ctx, items);
    /* Same table size: rebuild can only fail on allocation; then keep probing
     * valid by rebuilding in place below. */
    memset(c->slots, 0, c->n_slots * sizeof *c->slots);
    for (int64_t i = 0; i < c->count; i++) {
        size_t s = find_slot(c, c->pool + c->ent[i].off, c->ent[i].len);
        c->slots[s] = (uint32_t)(i + 1);
    }
}

void spex_coefs_sort_abs(spex_coefs *c) { sort_with(c, cmp_abs); }
void spex_coefs_sort_subsets(spex_coefs *c) { sort_with(c, cmp_sub); }

int spex_coefs_prune(spex_coefs *c, double tol) {
    int64_t k = 0;
    for (int64_t i = 0; i < c->count; i++)
        if (fabs(c->ent[i].v) > tol) c->ent[k++] = c->ent[i];
    c->count = k;
    memset(c->slots, 0, c->n_slots * sizeof *c->slots);
    for (int64_t i = 0; i < c->count; i++) {
        size_t s = find_slot(c, c->pool + c->ent[i].off, c->ent[i].len);
        c->slots[s] = (uint32_t)(i + 1);
    }
    return SPEX_OK;
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int spex_subset_normalize(spex_ctx *ctx, int64_t n, int32_t *idx, int len) {
    for (int i = 0; i < len; i++)
        if (idx[i] < 0 || idx[i] >= n)
            return spex_seterr(ctx, SPEX_E_RANGE, "feature index %d is outside 0..%lld", idx[i],
                               (long long)n - 1);
    qsort(idx, (size_t)len, sizeof *idx, cmp_i32);
    for (int i = 1; i < len; i++)
        if (idx[i] == idx[i - 1])
            return spex_seterr(ctx, SPEX_E_INVAL, "feature index %d is repeated in a subset",
                               idx[i]);
    return SPEX_OK;
}

double spex_coefs_eval_fourier(const spex_coefs *c, const uint64_t *mask) {
    double s = 0.0;
    for (int64_t i = 0; i < c->count; i++) {
        const entry *e = &c->ent[i];
        s += spex_bits_dot_idx(mask, c->pool + e->off, e->len) ? -e->v : e->v;
    }
    return s;
}

double spex_coefs_eval_mobius(const spex_coefs *c, const uint64_t *mask) {
    double s = 0.0;
    for (int64_t i = 0; i < c->count; i++) {
        const entry *e = &c->ent[i];
        const int32_t *idx = c->pool + e->off;
        int in = 1;
        for (int j = 0; j < e->len && in; j++) in = spex_bits_get(mask, idx[j]);
        if (in) s += e->v;
    }
    return s;
}
