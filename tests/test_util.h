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

#include "spex/coefs.h"
#include "spex/common.h"

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
