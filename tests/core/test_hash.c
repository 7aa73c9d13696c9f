/* Core: the shared open-addressing hash table (core/hash_int.h) against a
 * brute-force oracle (a linear scan of the caller's key array): random adds
 * and lookups through growth, duplicates that replace or keep, rebuilds after
 * renumbering, a zeroed table, and a failed allocation at each allocation. */
#include "testing.h"
#include "test_util.h"

#include "core/hash_int.h"
#include "spex/rng.h"

#include <stdlib.h>
#include <string.h>

/* The caller's side: keys are short byte strings in one array. */
typedef struct keyset {
    char (*text)[8];
    size_t *len;
    int64_t n, cap;
    int hash_bits; /* hashes keep only this many low bits: forces collisions */
    int64_t hash_calls;
} keyset;

typedef struct text_key {
    const char *s;
    size_t len;
} text_key;

static uint64_t key_hash(const keyset *ks, const char *s, size_t len) {
    uint64_t h = spexi_hash_bytes(s, len);
    return ks->hash_bits < 64 ? h & ((UINT64_C(1) << ks->hash_bits) - 1) : h;
}

static int ks_eq(const void *user, int64_t id, const void *key) {
    const keyset *ks = user;
    const text_key *k = key;
    return ks->len[id] == k->len && !memcmp(ks->text[id], k->s, k->len);
}

static uint64_t ks_hash(const void *user, int64_t id) {
    keyset *ks = (keyset *)(uintptr_t)user;
    ks->hash_calls++;
    return key_hash(ks, ks->text[id], ks->len[id]);
}

/* The oracle: first id with this key, or -1. */
static int64_t scan(const keyset *ks, const char *s, size_t len) {
    for (int64_t i = 0; i < ks->n; i++)
        if (ks->len[i] == len && !memcmp(ks->text[i], s, len)) return i;
    return -1;
}

static void ks_push(keyset *ks, const char *s, size_t len) {
    if (ks->n == ks->cap) {
        ks->cap = ks->cap ? ks->cap * 2 : 64;
        ks->text = realloc(ks->text, (size_t)ks->cap * sizeof *ks->text);
        ks->len = realloc(ks->len, (size_t)ks->cap * sizeof *ks->len);
        assert_non_null(ks->text);
        assert_non_null(ks->len);
    }
    memcpy(ks->text[ks->n], s, len);
    ks->len[ks->n] = len;
    ks->n++;
}

static void ks_free(keyset *ks) {
    free(ks->text);
    free(ks->len);
    memset(ks, 0, sizeof *ks);
}

/* A random key of 0..3 bytes over a 4-letter alphabet: 85 distinct keys,
 * so lookups hit and miss often. */
static size_t random_key(spex_rng *r, char *s) {
    size_t len = (size_t)spex_rng_below(r, 4);
    for (size_t i = 0; i < len; i++)
        s[i] = (char)('a' + spex_rng_below(r, 4));
    return len;
}

/* Intern-style use: find, and add when absent; checked against the scan. */
static int64_t intern(spex_ctx *ctx, spexi_hash *h, keyset *ks, const char *s, size_t len,
                      int *rc) {
    text_key k = {s, len};
    uint64_t hv = key_hash(ks, s, len);
    size_t slot;
    int64_t id = spexi_hash_find(h, hv, ks_eq, ks, &k, &slot);
    CHECK(id == scan(ks, s, len));
    *rc = SPEX_OK;
    if (id >= 0) return id;
    *rc = spexi_hash_add(ctx, h, slot, hv, ks->n, ks_hash, ks);
    if (*rc) return -1;
    ks_push(ks, s, len);
    return ks->n - 1;
}

/* Every key of ks and a batch of random ones look up as the scan says. */
static void check_all(const spexi_hash *h, const keyset *ks, spex_rng *r) {
    CHECK(h->count == ks->n);
    CHECK(h->n_slots == 0 || h->count * 2 <= (int64_t)h->n_slots);
    for (int64_t i = 0; i < ks->n; i++) {
        text_key k = {ks->text[i], ks->len[i]};
        CHECK(spexi_hash_find(h, key_hash(ks, k.s, k.len), ks_eq, ks, &k, NULL) == i);
    }
    for (int t = 0; t < 50; t++) {
        char s[8];
        size_t len = random_key(r, s);
        text_key k = {s, len};
        CHECK(spexi_hash_find(h, key_hash(ks, s, len), ks_eq, ks, &k, NULL) == scan(ks, s, len));
    }
}

static void test_random_vs_scan(void **state) {
    (void)state;
    const int bits[] = {64, 3, 0}; /* good hashes, 8 buckets, all keys collide */
    for (int b = 0; b < 3; b++) {
        spex_ctx *ctx = spex_ctx_new();
        spex_rng r;
        spex_rng_seed(&r, 11 + (uint64_t)b);
        keyset ks = {0};
        ks.hash_bits = bits[b];
        spexi_hash h;
        CHECK_RC(ctx, spexi_hash_init(ctx, &h, 0));
        CHECK(h.n_slots == 16);
        size_t grew = 0;
        for (int i = 0; i < 3000; i++) {
            char s[8];
            size_t len = random_key(&r, s);
            int rc;
            int64_t id = intern(ctx, &h, &ks, s, len, &rc);
            CHECK_RC(ctx, rc);
            CHECK(id >= 0 && ks.len[id] == len && !memcmp(ks.text[id], s, len));
            if (h.n_slots > 16) grew = h.n_slots;
            if (i % 500 == 0) check_all(&h, &ks, &r);
        }
        CHECK(ks.n == 85);  /* every key of length 0..3 over 4 letters */
        CHECK(grew == 256); /* 85 ids at load <= 1/2 */
        check_all(&h, &ks, &r);
        spexi_hash_free(ctx, &h);
        spexi_hash_free(ctx, &h); /* zeroed: a second free is harmless */
        spexi_hash_free(ctx, NULL);
        ks_free(&ks);
        spex_ctx_free(ctx);
    }
}

/* Many distinct keys (4-byte counters): growth through several doublings. */
static void test_growth(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 3);
    keyset ks = {0};
    ks.hash_bits = 64;
    spexi_hash h = {0}; /* zeroed: allocates on the first add */
    text_key k0 = {"", 0};
    CHECK(spexi_hash_find(&h, 0, ks_eq, &ks, &k0, NULL) == -1);
    for (uint32_t i = 0; i < 5000; i++) {
        char s[4];
        memcpy(s, &i, 4);
        int rc;
        CHECK(intern(ctx, &h, &ks, s, 4, &rc) == (int64_t)i);
        CHECK_RC(ctx, rc);
        CHECK(h.count * 2 <= (int64_t)h.n_slots);
    }
    CHECK(h.n_slots == 16384);
    check_all(&h, &ks, &r);
    /* hash_id is called only by the resizes, each moving the ids stored:
     * at 8, 16, ..., 4096 ids */
    CHECK(ks.hash_calls == 8184);
    spexi_hash_free(ctx, &h);
    ks_free(&ks);
    spex_ctx_free(ctx);
}

/* The vocabulary rule (a later duplicate replaces) and the merge rule (the
 * first one stays), against scans for the last and first occurrence. */
static void test_duplicates(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 5);
    keyset ks = {0};
    ks.hash_bits = 5;
    for (int i = 0; i < 400; i++) {
        char s[8];
        size_t len = random_key(&r, s);
        ks_push(&ks, s, len);
    }
    spexi_hash last, first;
    CHECK_RC(ctx, spexi_hash_init(ctx, &last, ks.n));
    CHECK_RC(ctx, spexi_hash_init(ctx, &first, ks.n));
    size_t slots = last.n_slots;
    CHECK(slots == 1024);
    for (int64_t i = 0; i < ks.n; i++) {
        text_key k = {ks.text[i], ks.len[i]};
        uint64_t hv = key_hash(&ks, k.s, k.len);
        size_t slot;
        if (spexi_hash_find(&last, hv, ks_eq, &ks, &k, &slot) >= 0)
            spexi_hash_replace(&last, slot, i);
        else
            CHECK_RC(ctx, spexi_hash_add(ctx, &last, slot, hv, i, ks_hash, &ks));
        if (spexi_hash_find(&first, hv, ks_eq, &ks, &k, &slot) < 0)
            CHECK_RC(ctx, spexi_hash_add(ctx, &first, slot, hv, i, ks_hash, &ks));
    }
    CHECK(last.n_slots == slots && first.n_slots == slots); /* presized: no growth */
    CHECK(ks.hash_calls == 0);
    int64_t distinct = 0;
    for (int64_t i = 0; i < ks.n; i++)
        distinct += scan(&ks, ks.text[i], ks.len[i]) == i;
    CHECK(distinct > 60);
    CHECK(last.count == distinct && first.count == distinct);
    for (int64_t i = 0; i < ks.n; i++) {
        text_key k = {ks.text[i], ks.len[i]};
        uint64_t hv = key_hash(&ks, k.s, k.len);
        int64_t lo = scan(&ks, k.s, k.len), hi = lo;
        for (int64_t j = lo; j < ks.n; j++)
            if (ks_eq(&ks, j, &k)) hi = j;
        CHECK(spexi_hash_find(&first, hv, ks_eq, &ks, &k, NULL) == lo);
        CHECK(spexi_hash_find(&last, hv, ks_eq, &ks, &k, NULL) == hi);
    }
    spexi_hash_free(ctx, &last);
    spexi_hash_free(ctx, &first);
    ks_free(&ks);
    spex_ctx_free(ctx);
}

/* Renumbering (a reversal) and dropping entries, then rebuild. */
static void test_rebuild(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 9);
    keyset ks = {0};
    ks.hash_bits = 64;
    spexi_hash h;
    CHECK_RC(ctx, spexi_hash_init(ctx, &h, 0));
    for (int i = 0; i < 500; i++) {
        char s[8];
        size_t len = random_key(&r, s);
        int rc;
        intern(ctx, &h, &ks, s, len, &rc);
        CHECK_RC(ctx, rc);
    }
    for (int64_t i = 0; i < ks.n / 2; i++) {
        char t[8];
        size_t tl = ks.len[i];
        memcpy(t, ks.text[i], 8);
        memcpy(ks.text[i], ks.text[ks.n - 1 - i], 8);
        ks.len[i] = ks.len[ks.n - 1 - i];
        memcpy(ks.text[ks.n - 1 - i], t, 8);
        ks.len[ks.n - 1 - i] = tl;
    }
    size_t slots = h.n_slots;
    /* in place even when every allocation fails */
    spexi_ctx_fail_alloc_after(ctx, 1);
    CHECK_RC(ctx, spexi_hash_rebuild(ctx, &h, ks.n, ks_hash, &ks));
    CHECK(h.n_slots == slots);
    check_all(&h, &ks, &r);
    ks.n = 30;
    CHECK_RC(ctx, spexi_hash_rebuild(ctx, &h, ks.n, ks_hash, &ks));
    check_all(&h, &ks, &r);
    ks.n = 0;
    CHECK_RC(ctx, spexi_hash_rebuild(ctx, &h, 0, ks_hash, &ks));
    check_all(&h, &ks, &r);
    spexi_ctx_fail_alloc_after(ctx, 0);
    /* more ids than the table holds: it grows */
    for (uint32_t i = 0; i < 100; i++) {
        char s[4];
        memcpy(s, &i, 4);
        ks_push(&ks, s, 4);
    }
    CHECK_RC(ctx, spexi_hash_rebuild(ctx, &h, ks.n, ks_hash, &ks));
    CHECK(h.n_slots == 256);
    check_all(&h, &ks, &r);
    CHECK(spexi_hash_rebuild(ctx, &h, -1, ks_hash, &ks) == SPEX_E_RANGE);
    spexi_hash_free(ctx, &h);
    ks_free(&ks);
    spex_ctx_free(ctx);
}

/* The k-th allocation fails, for every k: a clean SPEX_E_NOMEM, the table
 * keeps every id added before, the failed key stays absent, later adds
 * succeed once allocation works again; ASan checks for leaks. */
static void test_alloc_faults(void **state) {
    (void)state;
    int saw_fail = 0, saw_ok = 0;
    for (int k = 1; k < 12; k++) {
        spex_ctx *ctx = spex_ctx_new();
        spex_rng r;
        spex_rng_seed(&r, 21);
        keyset ks = {0};
        ks.hash_bits = 64;
        spexi_ctx_fail_alloc_after(ctx, k);
        spexi_hash h;
        int rc = spexi_hash_init(ctx, &h, 0);
        if (rc) {
            CHECK(rc == SPEX_E_NOMEM && h.slots == NULL && h.n_slots == 0);
            saw_fail++;
        }
        int failed = rc != SPEX_OK;
        for (uint32_t i = 0; !failed && i < 2000; i++) {
            char s[4];
            memcpy(s, &i, 4);
            int64_t before = ks.n;
            size_t slots = h.n_slots;
            int64_t id = intern(ctx, &h, &ks, s, 4, &rc);
            if (rc) {
                CHECK(rc == SPEX_E_NOMEM && id == -1);
                CHECK(strstr(spex_errmsg(ctx), "memory") != NULL);
                CHECK(ks.n == before && h.n_slots == slots);
                text_key key = {s, 4};
                CHECK(spexi_hash_find(&h, key_hash(&ks, s, 4), ks_eq, &ks, &key, NULL) == -1);
                check_all(&h, &ks, &r);
                failed = 1;
                saw_fail++;
            }
        }
        if (!failed) saw_ok++;
        spexi_ctx_fail_alloc_after(ctx, 0);
        for (uint32_t i = 0; i < 300; i++) {
            char s[4];
            memcpy(s, &i, 4);
            intern(ctx, &h, &ks, s, 4, &rc);
            CHECK_RC(ctx, rc);
        }
        check_all(&h, &ks, &r);
        spexi_hash_free(ctx, &h);
        ks_free(&ks);
        spex_ctx_free(ctx);
    }
    CHECK(saw_fail == 9); /* init, then 8 growths to 4096 slots */
    CHECK(saw_ok == 2);
}

static void test_range(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    keyset ks = {0};
    spexi_hash h;
    CHECK_RC(ctx, spexi_hash_init(ctx, &h, 0));
    CHECK(spexi_hash_add(ctx, &h, 0, 0, -1, ks_hash, &ks) == SPEX_E_RANGE);
    CHECK(spexi_hash_add(ctx, &h, 0, 0, SPEXI_HASH_MAX_ID + 1, ks_hash, &ks) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "hash table") != NULL);
    CHECK(h.count == 0);
    spexi_hash_free(ctx, &h);
    CHECK(spexi_hash_init(ctx, &h, INT64_MAX) == SPEX_E_NOMEM);
    CHECK(h.slots == NULL);
    spexi_hash_free(ctx, &h);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_vs_scan), cmocka_unit_test(test_growth),
        cmocka_unit_test(test_duplicates),     cmocka_unit_test(test_rebuild),
        cmocka_unit_test(test_alloc_faults),   cmocka_unit_test(test_range),
    };
    SPEX_RUN_TESTS(tests);
}
