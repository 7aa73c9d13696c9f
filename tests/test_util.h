/* Shared test helpers on top of cmocka: checks that print both values and the
 * tolerance, and a guard that fails a test binary that ran zero checks. */
#ifndef SPEX_TEST_UTIL_H
#define SPEX_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "spex/coefs.h"
#include "spex/common.h"
#include "testing.h"

/* Number of checks run in this binary; main() fails when it stays 0. */
static long spex_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        spex_test_checks++;                                                                        \
        if (!(cond)) fail_msg("check failed: %s", #cond);                                          \
    } while (0)

#define CHECK_NEAR(got, want, tol)                                                                 \
    do {                                                                                           \
        double g_ = (got), w_ = (want), t_ = (tol);                                                \
        spex_test_checks++;                                                                        \
        if (!(fabs(g_ - w_) <= t_))                                                                \
            fail_msg("%s = %.17g, expected %s = %.17g (tolerance %g, diff %g)", #got, g_, #want,   \
                     w_, t_, fabs(g_ - w_));                                                       \
    } while (0)

#define CHECK_RC(ctx, call)                                                                        \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        spex_test_checks++;                                                                        \
        if (rc_ != SPEX_OK) fail_msg("%s returned %d: %s", #call, rc_, spex_errmsg(ctx));          \
    } while (0)

/* Largest |a(S) - b(S)| over the union of both supports (a term missing
 * from one map counts as 0 there); used to check that a run that survived
 * injected allocation failures returns the fault-free answer. */
static inline double spex_test_coefs_maxdiff(const spex_coefs *a, const spex_coefs *b) {
    double worst = 0;
    for (int side = 0; side < 2; side++) {
        const spex_coefs *x = side ? b : a, *y = side ? a : b;
        for (int64_t i = 0; i < spex_coefs_count(x); i++) {
            const int32_t *idx;
            int len;
            double v, w = 0;
            spex_coefs_entry(x, i, &idx, &len, &v);
            if (!spex_coefs_get(y, idx, len, &w)) w = 0;
            if (fabs(v - w) > worst) worst = fabs(v - w);
        }
    }
    return worst;
}

/* The allocation-failure walk (STYLE.md rule 7): run(ctx, user) is called
 * with the k-th allocation through ctx from its start failing, k = 1, 2, ...,
 * until a run succeeds. Every failing run must return SPEX_E_NOMEM with a
 * message that says so, and leave nothing behind (the ASan build checks for
 * leaks); after(user, rc), when not NULL, is called after each run (fault
 * injection off again) to check and free what the run returned. Fails the
 * test when a run returns anything else, or none succeeds within max_k
 * allocations. Returns the number of failing runs (the allocations walked). */
typedef int (*spex_test_run_fn)(spex_ctx *ctx, void *user);
static inline int64_t spex_test_alloc_walk(spex_ctx *ctx, int64_t max_k, spex_test_run_fn run,
                                           void (*after)(void *user, int rc), void *user) {
    for (int64_t k = 1; k <= max_k; k++) {
        spexi_ctx_fail_alloc_after(ctx, k);
        int rc = run(ctx, user);
        spexi_ctx_fail_alloc_after(ctx, 0);
        spex_test_checks++;
        if (rc != SPEX_OK && rc != SPEX_E_NOMEM)
            fail_msg("allocation %lld failing: rc %d (%s), expected SPEX_E_NOMEM", (long long)k, rc,
                     spex_errmsg(ctx));
        if (rc == SPEX_E_NOMEM && !strstr(spex_errmsg(ctx), "memory"))
            fail_msg("allocation %lld failing: SPEX_E_NOMEM with the message '%s'", (long long)k,
                     spex_errmsg(ctx));
        if (after) after(user, rc);
        if (rc == SPEX_OK) return k - 1;
    }
    fail_msg("no run succeeded with up to %lld allocations failing", (long long)max_k);
    return -1;
}

/* Runs the group and fails when no CHECK ran. */
#define SPEX_RUN_TESTS(tests)                                                                      \
    do {                                                                                           \
        int failed_ = cmocka_run_group_tests(tests, NULL, NULL);                                   \
        if (!failed_ && spex_test_checks == 0) {                                                   \
            fprintf(stderr, "no checks ran\n");                                                    \
            return 1;                                                                              \
        }                                                                                          \
        printf("%ld checks\n", spex_test_checks);                                                  \
        return failed_;                                                                            \
    } while (0)

#endif
