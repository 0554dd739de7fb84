/* A tiny test harness for the C tests: CHECK records a failure with its
 * location and goes on; check_summary() prints "N passed, N failed" and
 * returns the exit code. */
#ifndef HELIOS_TEST_CHECK_H
#define HELIOS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed = 0;
static int check_failed = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            check_passed++;                                                           \
        } else {                                                                      \
            check_failed++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, \
                    __LINE__, #cond, helios_last_error());                           \
        }                                                                             \
    } while (0)

/* The call returned `status` and the thread's message contains `fragment`. */
#define CHECK_STATUS(call, status, fragment)                                          \
    do {                                                                              \
        HeliosStatus got_ = (call);                                                   \
        CHECK(got_ == (status));                                                      \
        if (got_ != (status))                                                         \
            fprintf(stderr, "    got %s, expected %s\n", helios_status_name(got_),    \
                    helios_status_name(status));                                      \
        CHECK(strstr(helios_last_error(), (fragment)) != NULL);                       \
    } while (0)

static int check_summary(void) {
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

#endif
