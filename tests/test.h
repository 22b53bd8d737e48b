/* test.h — the whole test framework: checks count, failures print, main ends with a summary.
 * A test program calls CHECK / CHECK_NEAR and returns test_summary(name) from main. */
#ifndef RNNREP_TEST_H
#define RNNREP_TEST_H
#include <math.h>
#include <stdio.h>
#include "rnnrep.h"

static int tests_passed, tests_failed;

#define CHECK(cond, ...)                                                           \
    do {                                                                           \
        if (cond) tests_passed++;                                                  \
        else {                                                                     \
            tests_failed++;                                                        \
            fprintf(stdout, "FAIL %s:%d: ", __FILE__, __LINE__);                   \
            fprintf(stdout, __VA_ARGS__);                                          \
            fputc('\n', stdout);                                                   \
        }                                                                          \
    } while (0)

/* |got - want| <= tol * max(1, |want|) */
#define CHECK_NEAR(got, want, tol, what)                                           \
    do {                                                                           \
        double g_ = (double)(got), w_ = (double)(want);                            \
        double s_ = fabs(w_) > 1.0 ? fabs(w_) : 1.0;                               \
        CHECK(fabs(g_ - w_) <= (tol) * s_, "%s: got %.9g, want %.9g", what, g_, w_); \
    } while (0)

/* Tests that need double precision (finite differences) skip themselves in the float build. */
#ifdef RNNREP_DOUBLE
#define IS_DOUBLE_BUILD 1
#else
#define IS_DOUBLE_BUILD 0
#endif

static int test_summary(const char *name)
{
    printf("%s%s: %d passed, %d failed\n", name, IS_DOUBLE_BUILD ? "" : "_f32", tests_passed,
           tests_failed);
    return tests_failed ? 1 : 0;
}
#endif
