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
