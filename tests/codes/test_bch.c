/* Shortened binary BCH codes: parameters against the published tables,
 * the generator against its definition, encoding against GF(2) polynomial
 * division and the delays, and the hard decoder exhaustively on small codes
 * (every error pattern of weight <= t, both root finders), randomly on large
 * ones (n = 1000, n = 100,000), and past t (fail or a consistent codeword). */
#include "testing.h"
#include "test_util.h"

#include "codes/codes_int.h"
#include "spex/masks.h"
#include "spex/rng.h"

#include <stdlib.h>
#include <string.h>

/* c mod g over GF(2) (bytes 0/1, low degree first); 1 when it is zero. */
static int gf2_divides(const uint8_t *g, int dg, const uint8_t *c, int64_t dc) {
    uint8_t *r = malloc((size_t)dc + 1);
    memcpy(r, c, (size_t)dc + 1);
    for (int64_t i = dc; i >= dg; i--)
        if (r[i])
            for (int j = 0; j <= dg; j++)
                r[i - dg + j] ^= g[j];
    int zero = 1;
    for (int64_t i = 0; i <= dc; i++)
        zero &= r[i] == 0;
    free(r);
    return zero;
}

/* Next s-subset of 0..N-1 in lexicographic order; 0 after the last. */
static int next_comb(int32_t *c, int s, int64_t N) {
    int i = s - 1;
    while (i >= 0 && c[i] == N - s + i)
        i--;
    if (i < 0) return 0;
    c[i]++;
    for (int j = i + 1; j < s; j++)
        c[j] = c[j - 1] + 1;
    return 1;
}

/* (n, t) -> (m, P), and the full code (2^m - 1, 2^m - 1 - P): published
 * binary BCH parameters (Lin & Costello, Appendix C), and shortened codes
 * where the smallest m with dimension >= n decides. */
static void test_parameters(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        int t, m, P;
    } cases[] = {
        {7, 2, 4, 8},         {5, 3, 4, 10},     {21, 2, 5, 10},    {51, 2, 6, 12},
        {106, 3, 7, 21},      {239, 2, 8, 16},   {4, 1, 3, 3},      {11, 1, 4, 4},
        {16, 3, 5, 15},       {11, 5, 5, 20},    {6, 7, 5, 25},     {45, 3, 6, 18},
        {39, 4, 6, 24},       {36, 5, 6, 27},    {7, 15, 6, 56},    {120, 1, 7, 7},
        {99, 4, 7, 28},       {231, 3, 8, 24},   {223, 4, 8, 32},   {215, 5, 8, 40},
        {187, 9, 8, 68},      {1013, 1, 10, 10}, {8, 2, 5, 10},     {1000, 2, 10, 20},
        {1003, 2, 10, 20},    {1004, 2, 11, 22}, {1000, 3, 11, 33}, {100000, 5, 17, 85},
        {100000, 8, 17, 136}, {1, 1, 3, 3},      {1, 3, 3, 6},      {1, 4, 4, 14},
    };
    spex_ctx *ctx = spex_ctx_new();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spex_bch *bch;
        CHECK_RC(ctx, spex_bch_new(ctx, cases[i].n, cases[i].t, &bch));
        int m = spex_bch_m(bch), P = spex_bch_n_parity(bch);
        if (m != cases[i].m || P != cases[i].P)
            fail_msg("n = %lld, t = %d: m = %d, P = %d; want m = %d, P = %d", (long long)cases[i].n,
                     cases[i].t, m, P, cases[i].m, cases[i].P);
        CHECK(spex_bch_n(bch) == cases[i].n);
        CHECK(spex_bch_t(bch) == cases[i].t);
        CHECK(spex_bch_length(bch) == ((int64_t)1 << m) - 1);
        CHECK(spex_bch_dim(bch) == spex_bch_length(bch) - P);
        CHECK(spex_bch_dim(bch) >= cases[i].n);
        spex_bch_free(bch);
    }
    spex_ctx_free(ctx);
}

static int bch_new_1000(spex_ctx *ctx, void *user) {
    return spex_bch_new(ctx, 1000, 3, (spex_bch **)user);
}
static void bch_after(void *user, int rc) {
    spex_bch **b = user;
    CHECK(rc == SPEX_OK ? *b != NULL : *b == NULL);
    spex_bch_free(*b);
    *b = NULL;
}

static void test_errors(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_bch *bch = (spex_bch *)1;
    CHECK(spex_bch_new(ctx, 100, 0, &bch) == SPEX_E_RANGE);
    CHECK(bch == NULL);
    CHECK(strstr(spex_errmsg(ctx), "t = 0") != NULL);
    CHECK(spex_bch_new(ctx, 100, SPEX_BCH_MAX_T + 1, &bch) == SPEX_E_RANGE);
    CHECK(spex_bch_new(ctx, 0, 2, &bch) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "n = 0") != NULL);
    /* 2^20 - 1 - 20 message bits at most for t = 1 */
    CHECK(spex_bch_new(ctx, (int64_t)1 << 20, 1, &bch) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "n = 1048576") != NULL);
    CHECK(strstr(spex_errmsg(ctx), "1048555") != NULL);
    CHECK_RC(ctx, spex_bch_new(ctx, ((int64_t)1 << 20) - 21, 1, &bch));
    CHECK(spex_bch_m(bch) == 20);
    spex_bch_free(bch);
    spex_bch_free(NULL);

    CHECK_RC(ctx, spex_bch_new(ctx, 50, 2, &bch));
    int P = spex_bch_n_parity(bch);
    uint8_t par[64] = {0};
    uint64_t row[1];
    int32_t bad[] = {3, 50};
    CHECK(spex_bch_encode(bch, bad, 2, par) == SPEX_E_RANGE);
    CHECK(strstr(spex_errmsg(ctx), "k[1] = 50") != NULL);
    int32_t neg[] = {-1};
    CHECK(spex_bch_encode(bch, neg, 1, par) == SPEX_E_RANGE);
    CHECK(spex_bch_encode(bch, neg, -1, par) == SPEX_E_INVAL);
    CHECK(spex_bch_delay(bch, P, row) == SPEX_E_RANGE);
    CHECK(spex_bch_delay(bch, -1, row) == SPEX_E_RANGE);
    spex_bch_result res;
    par[5] = 2;
    CHECK(spex_bch_decode(bch, par, &res) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "parity[5] = 2") != NULL);
    spex_bch_free(bch);

    /* every allocation failure ends in SPEX_E_NOMEM, no leak (ASan build) */
    bch = NULL;
    CHECK(spex_test_alloc_walk(ctx, 1000, bch_new_1000, bch_after, &bch) > 3);
    spex_ctx_free(ctx);
}

/* g has the roots alpha^1..alpha^{2t}, exactly P roots in all, divides
 * x^q - 1, and every codeword (message, encode(message)) is a multiple. */
static void test_generator_and_encoding(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        int t;
    } cases[] = {{7, 2},   {5, 3},    {21, 2},   {51, 2},  {106, 3},
                 {239, 2}, {1000, 3}, {3000, 4}, {200, 8}, {20, 6}};
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 7);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spex_bch *bch;
        CHECK_RC(ctx, spex_bch_new(ctx, cases[c].n, cases[c].t, &bch));
        const spexi_gf *gf = &bch->gf;
        int P = spex_bch_n_parity(bch), t = cases[c].t;
        int64_t n = cases[c].n, q = spex_bch_length(bch);
        const uint8_t *g = spex_bch_generator(bch);
        CHECK(g[0] == 1 && g[P] == 1);
        int64_t n_roots = 0;
        for (int64_t i = 0; i < q; i++) {
            uint32_t v = 0;
            for (int j = 0; j <= P; j++)
                if (g[j]) v ^= spexi_gf_alpha(gf, i * j);
            if (i >= 1 && i <= 2 * t && v != 0) fail_msg("g(alpha^%lld) != 0", (long long)i);
            n_roots += v == 0;
        }
        CHECK(n_roots == P);
        uint8_t *xq = calloc((size_t)q + 1, 1);
        xq[0] = xq[q] = 1;
        CHECK(gf2_divides(g, P, xq, q));
        free(xq);

        uint8_t *cw = calloc((size_t)(n + P), 1);
        uint8_t par[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
        int32_t k[40];
        for (int trial = 0; trial < 50; trial++) {
            int len = (int)spex_rng_below(&r, 40);
            memset(cw, 0, (size_t)(n + P));
            for (int i = 0; i < len; i++) {
                k[i] = (int32_t)spex_rng_below(&r, (uint64_t)n);
                cw[P + k[i]] ^= 1; /* repeats cancel, as in encode */
            }
            CHECK_RC(ctx, spex_bch_encode(bch, k, len, par));
            for (int p = 0; p < P; p++) {
                CHECK(par[p] <= 1);
                cw[p] = par[p];
            }
            CHECK(gf2_divides(g, P, cw, n + P - 1));
        }
        free(cw);
        spex_bch_free(bch);
    }
    spex_ctx_free(ctx);
}

/* <d_p, k> = parity bit p of k, for every delay; padding bits clear. */
static void test_delays(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        int t;
    } cases[] = {{1000, 3}, {100000, 5}, {70, 2}, {64, 1}};
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 8);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spex_bch *bch;
        int64_t n = cases[c].n;
        CHECK_RC(ctx, spex_bch_new(ctx, n, cases[c].t, &bch));
        int P = spex_bch_n_parity(bch);
        size_t words = spex_bits_words(n);
        uint64_t *d = malloc((size_t)P * words * sizeof *d);
        for (int p = 0; p < P; p++) {
            CHECK_RC(ctx, spex_bch_delay(bch, p, d + (size_t)p * words));
            if (n & 63) CHECK((d[(size_t)p * words + words - 1] >> (n & 63)) == 0);
        }
        /* unit messages: bit j of d_p is parity bit p of e_j */
        long bad = 0;
        uint8_t par[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
        for (int64_t j = 0; j < n; j += 1 + n / 300) {
            int32_t k1 = (int32_t)j;
            spex_bch_encode(bch, &k1, 1, par);
            for (int p = 0; p < P; p++)
                bad += spex_bits_get(d + (size_t)p * words, j) != par[p];
        }
        for (int trial = 0; trial < 200; trial++) {
            int32_t k[8];
            int len = 0;
            for (int i = 0; i < 8; i++) { /* distinct indices */
                int32_t x = (int32_t)spex_rng_below(&r, (uint64_t)n);
                int dup = 0;
                for (int a = 0; a < len; a++)
                    dup |= k[a] == x;
                if (!dup) k[len++] = x;
            }
            len = (int)spex_rng_below(&r, (uint64_t)len + 1);
            spex_bch_encode(bch, k, len, par);
            for (int p = 0; p < P; p++)
                bad += spex_bits_dot_idx(d + (size_t)p * words, k, len) != par[p];
        }
        CHECK(bad == 0);
        free(d);
        spex_bch_free(bch);
    }
    spex_ctx_free(ctx);
}

/* The received word for an error set E of codeword positions (sorted):
 * positions < P flip parity bits, positions P + j put j in the message. */
static int word_from_errors(spex_bch *bch, const int32_t *E, int s, uint8_t *word, int32_t *k) {
    int P = spex_bch_n_parity(bch), len = 0;
    for (int i = 0; i < s; i++)
        if (E[i] >= P) k[len++] = E[i] - P;
    spex_bch_encode(bch, k, len, word);
    for (int i = 0; i < s; i++)
        if (E[i] < P) word[E[i]] ^= 1;
    return len;
}

/* A decoded result must explain the word: word = encode(k) xor e with
 * |k| + |e| <= t, k ascending and in range. Returns 0 when it does not. */
static int consistent(spex_bch *bch, const uint8_t *word, const spex_bch_result *res) {
    uint8_t enc[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
    for (int i = 0; i < res->len; i++) {
        if (res->k[i] < 0 || res->k[i] >= spex_bch_n(bch)) return 0;
        if (i && res->k[i] <= res->k[i - 1]) return 0;
    }
    if (spex_bch_encode(bch, res->k, res->len, enc) != SPEX_OK) return 0;
    int diff = 0;
    for (int p = 0; p < spex_bch_n_parity(bch); p++)
        diff += enc[p] != word[p];
    return diff == res->n_parity_err && res->len + diff <= spex_bch_t(bch);
}

/* Every error set of weight <= t over the n + P positions decodes, with
 * Chien search and with the trace algorithm; every set of weight t + 1
 * either fails or gives a consistent other codeword, the same for both. */
static void exhaustive(spex_ctx *ctx, int64_t n, int t, long *n_words) {
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, n, t, &bch));
    int P = spex_bch_n_parity(bch);
    int64_t N = n + P;
    long bad = 0;
    int32_t E[SPEX_BCH_MAX_T + 1], k[SPEX_BCH_MAX_T + 1];
    uint8_t word[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
    for (int s = 0; s <= t + 1 && s <= N; s++) {
        for (int i = 0; i < s; i++)
            E[i] = i;
        do {
            int len = word_from_errors(bch, E, s, word, k);
            spex_bch_result rc_res[2];
            int rc[2];
            for (int method = 0; method < 2; method++) {
                bch->chien_max_work = method == 0 ? INT64_MAX : 0;
                rc[method] = spex_bch_decode(bch, word, &rc_res[method]);
            }
            (*n_words)++;
            if (rc[0] != rc[1] || memcmp(&rc_res[0], &rc_res[1], sizeof rc_res[0])) {
                if (bad++ < 5)
                    print_error("n=%lld t=%d |E|=%d: Chien rc %d, trace rc %d differ\n",
                                (long long)n, t, s, rc[0], rc[1]);
                continue;
            }
            const spex_bch_result *res = &rc_res[0];
            if (s <= t) {
                int good = rc[0] == SPEX_OK && res->len == len &&
                           !memcmp(res->k, k, (size_t)len * sizeof *k) &&
                           res->n_parity_err == s - len && res->metric == s;
                if (!good && bad++ < 5)
                    print_error("n=%lld t=%d |E|=%d (first %d): rc %d len %d\n", (long long)n, t, s,
                                s ? E[0] : -1, rc[0], res->len);
            } else {
                int good = rc[0] == SPEX_BCH_FAIL ? res->len == 0
                                                  : rc[0] == SPEX_OK && consistent(bch, word, res);
                if (!good && bad++ < 5)
                    print_error("n=%lld t=%d weight %d: rc %d, inconsistent\n", (long long)n, t, s,
                                rc[0]);
            }
        } while (next_comb(E, s, N));
    }
    if (bad) fail_msg("n = %lld, t = %d: %ld bad decodes", (long long)n, t, bad);
    CHECK(bad == 0);
    spex_bch_free(bch);
}

static void test_exhaustive_small(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    long words = 0;
    for (int64_t n = 1; n <= 20; n++)
        for (int t = 1; t <= 3; t++)
            exhaustive(ctx, n, t, &words);
    exhaustive(ctx, 12, 4, &words);
    exhaustive(ctx, 9, 5, &words);
    printf("exhaustive: %ld words decoded twice\n", words);
    spex_ctx_free(ctx);
}

/* Random error sets on large codes: weight <= t decodes (both root finders
 * on some, the automatic choice on all); heavier ones fail or are
 * consistent, never crash. */
static void random_large(spex_ctx *ctx, int64_t n, int t, int trials, int chien_trials) {
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, n, t, &bch));
    int P = spex_bch_n_parity(bch);
    int64_t auto_work = bch->chien_max_work;
    spex_rng r;
    spex_rng_seed_stream(&r, 99, (uint64_t)(n * 64 + t));
    long bad = 0, n_fail_heavy = 0, n_heavy = 0;
    uint8_t word[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
    for (int trial = 0; trial < trials; trial++) {
        int s = (int)spex_rng_below(&r, (uint64_t)(trial % 3 == 0 ? 2 * t + 3 : t + 1));
        int32_t E[3 * SPEX_BCH_MAX_T + 3], k[3 * SPEX_BCH_MAX_T + 3];
        for (int i = 0; i < s; i++) {
            int32_t x;
            int dup;
            do { /* a third of the errors in the parity part */
                x = spex_rng_below(&r, 3) == 0 ? (int32_t)spex_rng_below(&r, (uint64_t)P)
                                               : P + (int32_t)spex_rng_below(&r, (uint64_t)n);
                dup = 0;
                for (int a = 0; a < i; a++)
                    dup |= E[a] == x;
            } while (dup);
            int a = i;
            for (; a > 0 && E[a - 1] > x; a--)
                E[a] = E[a - 1];
            E[a] = x;
        }
        int len = word_from_errors(bch, E, s, word, k);
        for (int method = 0; method < 3; method++) {
            if (method < 2 && trial >= chien_trials) continue;
            bch->chien_max_work = method == 0 ? INT64_MAX : method == 1 ? 0 : auto_work;
            spex_bch_result res;
            int rc = spex_bch_decode(bch, word, &res);
            if (s <= t) {
                int good = rc == SPEX_OK && res.len == len &&
                           !memcmp(res.k, k, (size_t)len * sizeof *k) &&
                           res.n_parity_err == s - len;
                if (!good && bad++ < 5)
                    print_error("n=%lld t=%d |E|=%d method %d: rc %d len %d want %d\n",
                                (long long)n, t, s, method, rc, res.len, len);
            } else {
                n_heavy += method == 2;
                n_fail_heavy += method == 2 && rc == SPEX_BCH_FAIL;
                int good = rc == SPEX_BCH_FAIL ||
                           (rc == SPEX_OK && consistent(bch, word, &res) &&
                            !(res.len == len && !memcmp(res.k, k, (size_t)len * sizeof *k)));
                if (!good && bad++ < 5)
                    print_error("n=%lld t=%d weight %d method %d: rc %d inconsistent\n",
                                (long long)n, t, s, method, rc);
            }
        }
    }
    printf("n = %lld, t = %d (m = %d, P = %d): %d trials, %ld of %ld heavier words failed\n",
           (long long)n, t, spex_bch_m(bch), P, trials, n_fail_heavy, n_heavy);
    if (bad) fail_msg("n = %lld, t = %d: %ld bad decodes", (long long)n, t, bad);
    CHECK(bad == 0);
    spex_bch_free(bch);
}

static void test_random_large(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    for (int t = 1; t <= 8; t++)
        random_large(ctx, 1000, t, 3000, 3000);
    for (int t = 1; t <= 5; t++)
        random_large(ctx, 100000, t, 2000, 100);
    random_large(ctx, 100000, 8, 1000, 20);
    random_large(ctx, 1000000, 4, 300, 5);
    spex_ctx_free(ctx);
}

/* Words that are not near any codeword: all-ones and random parity words
 * (what a multiton bin looks like) fail or decode consistently. */
static void test_random_words(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 12);
    static const struct {
        int64_t n;
        int t;
    } cases[] = {{10, 2}, {1000, 3}, {100000, 5}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spex_bch *bch;
        CHECK_RC(ctx, spex_bch_new(ctx, cases[c].n, cases[c].t, &bch));
        int P = spex_bch_n_parity(bch);
        uint8_t word[SPEX_BCH_MAX_M * SPEX_BCH_MAX_T];
        long bad = 0, ok = 0;
        for (int trial = 0; trial < 2000; trial++) {
            for (int p = 0; p < P; p++)
                word[p] = trial == 0 ? 1 : (uint8_t)(spex_rng_u64(&r) & 1);
            spex_bch_result res;
            int rc = spex_bch_decode(bch, word, &res);
            if (rc == SPEX_OK) ok++;
            if (!(rc == SPEX_BCH_FAIL || (rc == SPEX_OK && consistent(bch, word, &res)))) bad++;
        }
        printf("n = %lld, t = %d: %ld of 2000 random words decoded\n", (long long)cases[c].n,
               cases[c].t, ok);
        CHECK(bad == 0);
        spex_bch_free(bch);
    }
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_generator_and_encoding),
        cmocka_unit_test(test_delays),
        cmocka_unit_test(test_exhaustive_small),
        cmocka_unit_test(test_random_large),
        cmocka_unit_test(test_random_words),
    };
    SPEX_RUN_TESTS(tests);
}
