/*
 * Sparse subset -> value map.
 *
 * HOW IT WORKS: entries live in insertion order in `ent` (offset into the
 * index pool `pool`, length, value); `tab` (core/hash_int.h) maps a subset
 * to its entry number. Sorting or pruning reorders `ent` and rebuilds `tab`;
 * the pool is never compacted except by prune.
 */
#include "spex/coefs.h"
#include "spex/masks.h"

#include "core/hash_int.h"

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
    spexi_hash tab; /* subset -> entry number */
};

/* A subset being looked up. */
typedef struct {
    const int32_t *idx;
    int len;
} subset_key;

static int entry_eq(const void *user, int64_t id, const void *key) {
    const spex_coefs *c = user;
    const entry *e = &c->ent[id];
    const subset_key *k = key;
    return e->len == k->len &&
           (k->len == 0 || !memcmp(c->pool + e->off, k->idx, (size_t)k->len * sizeof *k->idx));
}

static uint64_t entry_hash(const void *user, int64_t id) {
    const spex_coefs *c = user;
    return spexi_hash_i32s(c->pool + c->ent[id].off, c->ent[id].len);
}

/* Entry number of S or -1; *slot, *hash for a following spexi_hash_add. */
static int64_t find(const spex_coefs *c, const int32_t *idx, int len, size_t *slot,
                    uint64_t *hash) {
    subset_key k = {idx, len};
    uint64_t h = spexi_hash_i32s(idx, len);
    if (hash) *hash = h;
    return spexi_hash_find(&c->tab, h, entry_eq, c, &k, slot);
}

int spex_coefs_new(spex_ctx *ctx, int64_t n, spex_coefs **out) {
    *out = NULL;
    if (n < 1)
        return spex_seterr(ctx, SPEX_E_RANGE, "number of features n = %lld must be >= 1",
                           (long long)n);
    spex_coefs *c = spex_calloc(ctx, 1, sizeof *c);
    if (!c) return SPEX_E_NOMEM;
    c->ctx = ctx;
    c->n = n;
    int rc = spexi_hash_init(ctx, &c->tab, 8);
    /* the pool is never NULL, so subsets of length 0 point somewhere valid */
    c->pool_cap = 64;
    c->pool = rc ? NULL : spex_malloc(ctx, c->pool_cap * sizeof *c->pool);
    if (!c->pool) {
        spexi_hash_free(ctx, &c->tab);
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
    spexi_hash_free(c->ctx, &c->tab);
    spex_free(c->ctx, c);
}

int64_t spex_coefs_n(const spex_coefs *c) {
    return c->n;
}
spex_ctx *spex_coefs_ctx(const spex_coefs *c) {
    return c->ctx;
}
int64_t spex_coefs_count(const spex_coefs *c) {
    return c->count;
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
    size_t slot;
    uint64_t hash;
    int64_t id = find(c, idx, len, &slot, &hash);
    if (id >= 0) {
        entry *e = &c->ent[id];
        e->v = add ? e->v + v : v;
        return SPEX_OK;
    }
    if (c->count > SPEXI_HASH_MAX_ID)
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
        while (cap < c->pool_len + (size_t)len)
            cap *= 2;
        int32_t *p = spex_realloc(c->ctx, c->pool, cap, sizeof *p);
        if (!p) return SPEX_E_NOMEM;
        c->pool = p;
        c->pool_cap = cap;
    }
    /* the table may grow, rehashing entries 0..count-1: the new one is
     * committed only once it has its slot */
    rc = spexi_hash_add(c->ctx, &c->tab, slot, hash, c->count, entry_hash, c);
    if (rc) return rc;
    if (len) memcpy(c->pool + c->pool_len, idx, (size_t)len * sizeof *idx);
    c->ent[c->count] = (entry){c->pool_len, len, v};
    c->pool_len += (size_t)len;
    c->count++;
    return SPEX_OK;
}

int spex_coefs_add(spex_coefs *c, const int32_t *idx, int len, double v) {
    return upsert(c, idx, len, v, 1);
}

int spex_coefs_set(spex_coefs *c, const int32_t *idx, int len, double v) {
    return upsert(c, idx, len, v, 0);
}

int spex_coefs_get(const spex_coefs *c, const int32_t *idx, int len, double *v) {
    int64_t id = find(c, idx, len, NULL, NULL);
    if (id < 0) {
        *v = 0.0;
        return 0;
    }
    *v = c->ent[id].v;
    return 1;
}

void spex_coefs_entry(const spex_coefs *c, int64_t i, const int32_t **idx, int *len, double *v) {
    const entry *e = &c->ent[i];
    if (idx) *idx = c->pool + e->off;
    if (len) *len = e->len;
    if (v) *v = e->v;
}

void spex_coefs_entry_set(spex_coefs *c, int64_t i, double v) {
    c->ent[i].v = v;
}

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
    for (int64_t i = 0; i < c->count; i++)
        items[i] = (sort_item){c->ent[i], c->pool};
    qsort(items, (size_t)c->count, sizeof *items, cmp);
    for (int64_t i = 0; i < c->count; i++)
        c->ent[i] = items[i].e;
    spex_free(c->ctx, items);
    /* same entries renumbered: in place, cannot fail */
    spexi_hash_rebuild(c->ctx, &c->tab, c->count, entry_hash, c);
}

void spex_coefs_sort_abs(spex_coefs *c) {
    sort_with(c, cmp_abs);
}
void spex_coefs_sort_subsets(spex_coefs *c) {
    sort_with(c, cmp_sub);
}

int spex_coefs_prune(spex_coefs *c, double tol) {
    int64_t k = 0;
    for (int64_t i = 0; i < c->count; i++)
        if (fabs(c->ent[i].v) > tol) c->ent[k++] = c->ent[i];
    c->count = k;
    /* fewer entries: in place, cannot fail */
    return spexi_hash_rebuild(c->ctx, &c->tab, c->count, entry_hash, c);
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
        for (int j = 0; j < e->len && in; j++)
            in = spex_bits_get(mask, idx[j]);
        if (in) s += e->v;
    }
    return s;
}
