/* Chase-II soft decoding: against brute-force maximum likelihood over every
 * k with |k| <= t on small codes (depth = P tries every word), equal to the
 * hard decoder at depth 0, and correcting weight-t messages plus flipped
 * parity bits marked unreliable, where the hard decoder cannot. */
#include "test_util.h"

#include "codes/codes_int.h"
#include "spex/rng.h"

#include <string.h>

#define PMAX (SPEX_BCH_MAX_M * SPEX_BCH_MAX_T)

/* metric(k) as documented in spex/codes.h, computed from the bytes. */
static double ref_metric(spex_bch *bch, const int32_t *k, int len, const double *llr,
                         double penalty) {
    uint8_t enc[PMAX];
    spex_bch_encode(bch, k, len, enc);
    double s = penalty * len;
    for (int p = 0; p < spex_bch_n_parity(bch); p++)
        if (enc[p] != (llr[p] < 0)) s += fabs(llr[p]);
    return s;
}

/* Random distinct indices below n, ascending. */
static int random_support(spex_rng *r, int64_t n, int len, int32_t *k) {
    for (int i = 0; i < len; i++) {
        int32_t x;
        int dup;
        do {
            x = (int32_t)spex_rng_below(r, (uint64_t)n);
            dup = 0;
            for (int a = 0; a < i; a++)
                dup |= k[a] == x;
        } while (dup);
        int a = i;
        for (; a > 0 && k[a - 1] > x; a--)
            k[a] = k[a - 1];
        k[a] = x;
    }
    return len;
}

/* Brute-force ML: the k (|k| <= t) of least metric, ties to smaller |k|. */
static double brute_ml(spex_bch *bch, const double *llr, double penalty, int32_t *best,
                       int *best_len) {
    int64_t n = spex_bch_n(bch);
    int t = spex_bch_t(bch);
    double best_m = INFINITY;
    int32_t c[SPEX_BCH_MAX_T];
    for (int s = 0; s <= t && s <= n; s++) {
        for (int i = 0; i < s; i++)
            c[i] = i;
        for (;;) {
            double mm = ref_metric(bch, c, s, llr, penalty);
            if (mm < best_m) {
                best_m = mm;
                *best_len = s;
                memcpy(best, c, (size_t)s * sizeof *c);
            }
            int i = s - 1;
            while (i >= 0 && c[i] == n - s + i)
                i--;
            if (i < 0) break;
            c[i]++;
            for (int j = i + 1; j < s; j++)
                c[j] = c[j - 1] + 1;
        }
    }
    return best_m;
}

static void test_chase_vs_ml(void **state) {
    (void)state;
    static const struct {
        int64_t n;
        int t;
    } cases[] = {{7, 2}, {5, 3}, {10, 2}, {12, 2}, {4, 1}, {11, 1}, {16, 3}};
    spex_ctx *ctx = spex_ctx_new();
    spex_rng r;
    spex_rng_seed(&r, 21);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        spex_bch *bch;
        CHECK_RC(ctx, spex_bch_new(ctx, cases[c].n, cases[c].t, &bch));
        int P = spex_bch_n_parity(bch), t = cases[c].t;
        CHECK(P <= SPEX_CHASE_MAX_DEPTH);
        int trials = P > 12 ? 30 : 300;
        long bad = 0;
        for (int trial = 0; trial < trials; trial++) {
            int32_t k0[SPEX_BCH_MAX_T], kb[SPEX_BCH_MAX_T];
            int len0 = random_support(&r, cases[c].n, (int)spex_rng_below(&r, (uint64_t)t + 1), k0);
            uint8_t bits[PMAX];
            spex_bch_encode(bch, k0, len0, bits);
            double llr[PMAX];
            for (int p = 0; p < P; p++) /* BPSK through Gaussian noise, SNR low */
                llr[p] = 2.0 * ((bits[p] ? -1.0 : 1.0) + 0.8 * spex_rng_normal(&r)) / 0.64;
            double penalty = trial % 2 ? 0.0 : 1.5;
            int lb = 0;
            double mb = brute_ml(bch, llr, penalty, kb, &lb);
            spex_chase_opts o = {.depth = P, .msg_penalty = penalty};
            spex_bch_result res;
            int rc = spex_bch_decode_chase(bch, llr, &o, &res);
            int good = rc == SPEX_OK && res.len == lb && !memcmp(res.k, kb, (size_t)lb * 4) &&
                       fabs(res.metric - mb) <= 1e-9 &&
                       fabs(ref_metric(bch, res.k, res.len, llr, penalty) - res.metric) <= 1e-9;
            if (!good && bad++ < 5)
                print_error("n=%lld t=%d trial %d: rc %d len %d metric %.12g; ML len %d metric "
                            "%.12g (tolerance 1e-9)\n",
                            (long long)cases[c].n, t, trial, rc, res.len, res.metric, lb, mb);
        }
        CHECK(bad == 0);
        spex_bch_free(bch);
    }
    spex_ctx_free(ctx);
}

/* Depth 0 is the hard decoder on the signs, scored by the metric. */
static void test_depth0_is_hard(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, 1000, 3, &bch));
    int P = spex_bch_n_parity(bch);
    spex_rng r;
    spex_rng_seed(&r, 22);
    long bad = 0, n_ok = 0;
    for (int trial = 0; trial < 3000; trial++) {
        int32_t k0[8];
        int len0 = random_support(&r, 1000, (int)spex_rng_below(&r, 6), k0);
        uint8_t bits[PMAX];
        spex_bch_encode(bch, k0, len0, bits);
        double llr[PMAX];
        for (int p = 0; p < P; p++) {
            if (spex_rng_below(&r, 20) == 0) bits[p] ^= 1;
            llr[p] = (bits[p] ? -1.0 : 1.0) * (0.1 + spex_rng_uniform(&r));
        }
        spex_bch_result hard, soft;
        int rh = spex_bch_decode(bch, bits, &hard);
        spex_chase_opts o = {.depth = 0, .msg_penalty = 0.25};
        int rs = spex_bch_decode_chase(bch, llr, &o, &soft);
        n_ok += rh == SPEX_OK;
        int good = rh == rs;
        if (good && rh == SPEX_OK)
            good = hard.len == soft.len && !memcmp(hard.k, soft.k, (size_t)hard.len * 4) &&
                   hard.n_parity_err == soft.n_parity_err &&
                   fabs(soft.metric - ref_metric(bch, hard.k, hard.len, llr, 0.25)) <= 1e-12;
        if (!good && bad++ < 5) print_error("trial %d: hard rc %d, chase rc %d\n", trial, rh, rs);
    }
    printf("depth 0: %ld of 3000 words decoded\n", n_ok);
    CHECK(bad == 0);
    CHECK(n_ok > 0 && n_ok < 3000);
    spex_bch_free(bch);
    spex_ctx_free(ctx);
}

/*
 * k0 of weight w plus f flipped parity bits that carry the lowest
 * reliabilities: w + f > t errors, so the hard decoder cannot return k0,
 * while Chase (depth 4 >= f) has k0 among its candidates.
 * The exact ML answer: every other position has |llr| >= 1 > metric(k0), so
 * a k that beats k0 must have encode(k) = h xor s for a subset s of the
 * flipped positions; for each s, the k with encode(k) = h xor s exactly (if
 * any, |k| <= t) is what the hard decoder returns with no parity error. Chase
 * must return that ML answer. It is k0 unless the code is so dense (few
 * parity bits for C(n, <= t) messages) that another message explains the
 * observed signs better: the fraction where k0 wins is checked against
 * min_recovered.
 */
static void beyond_t(spex_ctx *ctx, int64_t n, int t, int w, int trials, double min_recovered) {
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, n, t, &bch));
    int P = spex_bch_n_parity(bch);
    spex_rng r;
    spex_rng_seed_stream(&r, 23, (uint64_t)(n * 64 + t));
    long bad = 0, hard_fail = 0, hard_wrong = 0, recovered = 0;
    spex_chase_opts o = spex_chase_opts_default();
    for (int trial = 0; trial < trials; trial++) {
        int f = t + 1 - w + trial % 2; /* at least t + 1 errors in all */
        int32_t k0[SPEX_BCH_MAX_T];
        random_support(&r, n, w, k0);
        uint8_t bits[PMAX];
        spex_bch_encode(bch, k0, w, bits);
        double llr[PMAX];
        for (int p = 0; p < P; p++)
            llr[p] = (bits[p] ? -1.0 : 1.0) * (1.0 + 2.0 * spex_rng_uniform(&r));
        int32_t flips[4];
        random_support(&r, P, f, flips);
        for (int i = 0; i < f; i++) {
            bits[flips[i]] ^= 1;
            llr[flips[i]] = (bits[flips[i]] ? -1.0 : 1.0) * (0.05 + 0.25 * spex_rng_uniform(&r));
        }
        spex_bch_result hard, soft, other;
        int rh = spex_bch_decode(bch, bits, &hard);
        if (rh == SPEX_BCH_FAIL)
            hard_fail++;
        else if (rh == SPEX_OK)
            hard_wrong++;
        int hard_right = rh == SPEX_OK && hard.len == w && !memcmp(hard.k, k0, (size_t)w * 4);

        /* exact ML */
        int32_t kml[SPEX_BCH_MAX_T];
        int lml = w;
        memcpy(kml, k0, (size_t)w * 4);
        double mml = ref_metric(bch, k0, w, llr, o.msg_penalty);
        for (int sub = 0; sub < (1 << f) - 1; sub++) { /* the full set gives k0 */
            uint8_t word[PMAX];
            memcpy(word, bits, (size_t)P);
            double ms = 0.0;
            for (int i = 0; i < f; i++)
                if (sub >> i & 1) {
                    word[flips[i]] ^= 1;
                    ms += fabs(llr[flips[i]]);
                }
            if (spex_bch_decode(bch, word, &other) != SPEX_OK || other.n_parity_err) continue;
            ms += o.msg_penalty * other.len;
            if (ms < mml || (ms == mml && other.len < lml)) {
                mml = ms;
                lml = other.len;
                memcpy(kml, other.k, (size_t)lml * 4);
            }
        }
        int rs = spex_bch_decode_chase(bch, llr, &o, &soft);
        int good =
            !hard_right && rs == SPEX_OK && soft.len == lml &&
            !memcmp(soft.k, kml, (size_t)lml * 4) && fabs(soft.metric - mml) <= 1e-12 &&
            fabs(ref_metric(bch, soft.k, soft.len, llr, o.msg_penalty) - soft.metric) <= 1e-12;
        recovered += good && soft.len == w && !memcmp(soft.k, k0, (size_t)w * 4);
        if (!good && bad++ < 5)
            print_error("n=%lld t=%d |k0|=%d flips %d trial %d: hard rc %d right %d, chase rc "
                        "%d len %d metric %.12g; ML len %d metric %.12g (tolerance 1e-12)\n",
                        (long long)n, t, w, f, trial, rh, hard_right, rs, soft.len, soft.metric,
                        lml, mml);
    }
    printf("n = %lld, t = %d (P = %d), |k0| = %d + %d..%d flips: hard decoding failed on %ld, "
           "miscorrected %ld of %d; Chase = ML always, = k0 in %ld\n",
           (long long)n, t, P, w, t + 1 - w, t + 2 - w, hard_fail, hard_wrong, trials, recovered);
    CHECK(bad == 0);
    if (recovered < min_recovered * trials)
        fail_msg("recovered %ld of %d, want at least %.2f", recovered, trials, min_recovered);
    CHECK(recovered >= min_recovered * trials);
    spex_bch_free(bch);
}

static void test_beyond_t(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    /* dense codes (C(n, <= t) close to 2^P): another k often fits better */
    beyond_t(ctx, 20, 2, 2, 500, 0.0);
    beyond_t(ctx, 1000, 2, 2, 500, 0.0);
    /* codes with room to spare */
    beyond_t(ctx, 1000, 3, 3, 500, 0.8);
    beyond_t(ctx, 1000, 4, 3, 500, 0.95);
    beyond_t(ctx, 100000, 3, 3, 300, 0.6);
    beyond_t(ctx, 100000, 5, 5, 300, 0.95);
    beyond_t(ctx, 100000, 6, 4, 300, 0.95);
    spex_ctx_free(ctx);
}

/* Noisy bins: whenever the hard decoder succeeds, Chase's choice is at least
 * as likely (pattern 0 is one of its trials); rates printed for reference. */
static void test_noisy_rates(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, 1000, 3, &bch));
    int P = spex_bch_n_parity(bch);
    spex_rng r;
    spex_rng_seed(&r, 24);
    long bad = 0, hard_ok = 0, chase_ok = 0;
    const int trials = 2000;
    for (int trial = 0; trial < trials; trial++) {
        int32_t k0[4];
        int len0 = random_support(&r, 1000, 1 + (int)spex_rng_below(&r, 3), k0);
        uint8_t bits[PMAX];
        spex_bch_encode(bch, k0, len0, bits);
        double llr[PMAX];
        uint8_t hb[PMAX];
        for (int p = 0; p < P; p++) {
            llr[p] = 2.0 * ((bits[p] ? -1.0 : 1.0) + 0.55 * spex_rng_normal(&r)) / 0.3025;
            hb[p] = llr[p] < 0;
        }
        spex_bch_result hard, soft;
        int rh = spex_bch_decode(bch, hb, &hard);
        spex_chase_opts o = {.depth = 6, .msg_penalty = 0.0};
        int rs = spex_bch_decode_chase(bch, llr, &o, &soft);
        hard_ok += rh == SPEX_OK && hard.len == len0 && !memcmp(hard.k, k0, (size_t)len0 * 4);
        chase_ok += rs == SPEX_OK && soft.len == len0 && !memcmp(soft.k, k0, (size_t)len0 * 4);
        if (rh == SPEX_OK) {
            double mh = ref_metric(bch, hard.k, hard.len, llr, 0.0);
            if (!(rs == SPEX_OK && soft.metric <= mh + 1e-12) && bad++ < 5)
                print_error("trial %d: chase rc %d metric %.12g > hard metric %.12g\n", trial, rs,
                            soft.metric, mh);
        }
    }
    printf("noisy bins (sigma 0.55): hard %ld, Chase depth 6 %ld of %d recovered\n", hard_ok,
           chase_ok, trials);
    CHECK(bad == 0);
    CHECK(chase_ok > hard_ok);
    spex_bch_free(bch);
    spex_ctx_free(ctx);
}

static void test_chase_args(void **state) {
    (void)state;
    spex_ctx *ctx = spex_ctx_new();
    spex_bch *bch;
    CHECK_RC(ctx, spex_bch_new(ctx, 7, 2, &bch));
    int P = spex_bch_n_parity(bch);
    double llr[PMAX];
    int32_t k0[] = {2, 5};
    uint8_t bits[PMAX];
    spex_bch_encode(bch, k0, 2, bits);
    for (int p = 0; p < P; p++)
        llr[p] = bits[p] ? -1.0 : 1.0;
    spex_bch_result res;
    CHECK_RC(ctx, spex_bch_decode_chase(bch, llr, NULL, &res));
    CHECK(res.len == 2 && res.k[0] == 2 && res.k[1] == 5 && res.metric == 0.0);
    spex_chase_opts o = spex_chase_opts_default();
    CHECK(o.depth == 4 && o.msg_penalty == 0.0);
    o.depth = SPEX_CHASE_MAX_DEPTH; /* more than P: capped */
    CHECK_RC(ctx, spex_bch_decode_chase(bch, llr, &o, &res));
    CHECK(res.len == 2 && res.k[0] == 2 && res.k[1] == 5);
    o.depth = SPEX_CHASE_MAX_DEPTH + 1;
    CHECK(spex_bch_decode_chase(bch, llr, &o, &res) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "depth = 17") != NULL);
    o.depth = -1;
    CHECK(spex_bch_decode_chase(bch, llr, &o, &res) == SPEX_E_INVAL);
    o = spex_chase_opts_default();
    o.msg_penalty = -1.0;
    CHECK(spex_bch_decode_chase(bch, llr, &o, &res) == SPEX_E_INVAL);
    o.msg_penalty = NAN;
    CHECK(spex_bch_decode_chase(bch, llr, &o, &res) == SPEX_E_INVAL);
    o.msg_penalty = 0.0;
    llr[3] = NAN;
    CHECK(spex_bch_decode_chase(bch, llr, &o, &res) == SPEX_E_INVAL);
    CHECK(strstr(spex_errmsg(ctx), "llr[3]") != NULL);
    /* zero reliabilities everywhere: every word is tried, the empty set wins
     * (metric 0, smallest |k|) */
    for (int p = 0; p < P; p++)
        llr[p] = 0.0;
    CHECK_RC(ctx, spex_bch_decode_chase(bch, llr, &o, &res));
    CHECK(res.len == 0 && res.metric == 0.0);
    spex_bch_free(bch);
    spex_ctx_free(ctx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chase_vs_ml), cmocka_unit_test(test_depth0_is_hard),
        cmocka_unit_test(test_beyond_t),    cmocka_unit_test(test_noisy_rates),
        cmocka_unit_test(test_chase_args),
    };
    SPEX_RUN_TESTS(tests);
}
