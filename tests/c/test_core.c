/* The C ABI of the foundation, from C: versions, status names, last error,
 * cancel tokens, thread counts and the deterministic parallel runner, with
 * every kind of bad input. Built against include/helios.h and linked to both
 * libhelios.so and libhelios.a; `make test-c` runs both under valgrind. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "helios.h"
#include "check.h"

/* ---- kernels and references ------------------------------------------------ */

/* y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1], edges clamped: radius 1. */
static int stencil3_f32(const float *block, size_t block_len, size_t core_offset,
                        size_t core_len, float *core_out, void *user_data) {
    (void)user_data;
    for (size_t k = 0; k < core_len; k++) {
        size_t i = core_offset + k;
        float left = block[i > 0 ? i - 1 : 0];
        float right = block[i + 1 < block_len ? i + 1 : block_len - 1];
        core_out[k] = 0.25f * left + 0.5f * block[i] + 0.25f * right;
    }
    return 0;
}

/* A radius-2 nonlinear stencil in double, edges clamped. */
static double stencil5_at(const double *x, size_t n, size_t i) {
    ptrdiff_t last = (ptrdiff_t)n - 1;
    double acc = 0.0;
    static const double w[5] = {0.1, 0.2, 0.4, 0.2, 0.1};
    for (int d = -2; d <= 2; d++) {
        ptrdiff_t j = (ptrdiff_t)i + d;
        j = j < 0 ? 0 : (j > last ? last : j);
        acc += w[d + 2] * x[j];
    }
    return sin(acc);
}

static int stencil5_f64(const double *block, size_t block_len, size_t core_offset,
                        size_t core_len, double *core_out, void *user_data) {
    (void)user_data;
    for (size_t k = 0; k < core_len; k++) core_out[k] = stencil5_at(block, block_len, core_offset + k);
    return 0;
}

/* Fails (returns 42) on every block whose core starts at a value of at least
 * `fail_on_value`; copies the others. */
typedef struct {
    float fail_on_value;
} FailSpec;

static int fail_on(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                   float *core_out, void *user_data) {
    (void)block_len;
    const FailSpec *spec = user_data;
    if (block[core_offset] >= spec->fail_on_value) return 42;
    for (size_t k = 0; k < core_len; k++) core_out[k] = block[core_offset + k];
    return 0;
}

static int copy_f32(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                    float *core_out, void *user_data) {
    (void)block_len;
    (void)user_data;
    memcpy(core_out, block + core_offset, core_len * sizeof(float));
    return 0;
}

/* Raises the token passed as user_data after a few blocks, sleeping a little
 * in each block so that the run is still going. */
static int cancel_after_blocks(const float *block, size_t block_len, size_t core_offset,
                               size_t core_len, float *core_out, void *user_data) {
    (void)block_len;
    static const struct timespec pause = {0, 200000};
    nanosleep(&pause, NULL);
    if (block[core_offset] >= 40.0f) helios_cancel_token_cancel((const HeliosCancelToken *)user_data);
    memcpy(core_out, block + core_offset, core_len * sizeof(float));
    return 0;
}

static float *ramp_f32(size_t n) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)i;
    return x;
}

static double *noise_f64(size_t n) {
    double *x = malloc(n * sizeof *x);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = ((double)(s >> 11) / 9007199254740992.0 - 0.5) * 1e3;
    }
    return x;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_versions_and_names(void) {
    CHECK(helios_abi_version() == HELIOS_ABI_VERSION);
    CHECK(strlen(helios_version()) >= 5);
    CHECK(strcmp(helios_status_name(HELIOS_OK), "HELIOS_OK") == 0);
    CHECK(strcmp(helios_status_name(HELIOS_ERR_BUSY), "HELIOS_ERR_BUSY") == 0);
    CHECK(strcmp(helios_status_name(HELIOS_ERR_INTERNAL), "HELIOS_ERR_INTERNAL") == 0);
    CHECK(strcmp(helios_status_name(999), "HELIOS_UNKNOWN_STATUS") == 0);
    CHECK(strcmp(helios_status_name(-1), "HELIOS_UNKNOWN_STATUS") == 0);
    CHECK(HELIOS_OK == 0 && HELIOS_ERR_INTERNAL == 13);
}

static void test_threads(void) {
    size_t before = helios_get_num_threads();
    CHECK(before >= 1);
    CHECK_STATUS(helios_set_num_threads(0), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    CHECK_STATUS(helios_set_num_threads(HELIOS_MAX_THREADS + 1), HELIOS_ERR_INVALID_ARGUMENT, "maximum");
    CHECK_STATUS(helios_set_num_threads((size_t)-1), HELIOS_ERR_INVALID_ARGUMENT, "maximum");
    CHECK(helios_get_num_threads() == before);
    CHECK_STATUS(helios_set_num_threads(3), HELIOS_OK, "");
    CHECK(helios_get_num_threads() == 3);
    CHECK(helios_set_num_threads(before) == HELIOS_OK);
}

static void test_cancel_token(void) {
    HeliosCancelToken *token = NULL;
    bool cancelled = true;
    CHECK_STATUS(helios_cancel_token_new(NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK(helios_cancel_token_new(&token) == HELIOS_OK && token != NULL);
    CHECK(helios_cancel_token_is_cancelled(token, &cancelled) == HELIOS_OK && !cancelled);
    CHECK(helios_cancel_token_cancel(token) == HELIOS_OK);
    CHECK(helios_cancel_token_cancel(token) == HELIOS_OK);
    CHECK(helios_cancel_token_is_cancelled(token, &cancelled) == HELIOS_OK && cancelled);
    CHECK(helios_cancel_token_reset(token) == HELIOS_OK);
    CHECK(helios_cancel_token_is_cancelled(token, &cancelled) == HELIOS_OK && !cancelled);
    CHECK_STATUS(helios_cancel_token_cancel(NULL), HELIOS_ERR_NULL_ARGUMENT, "`token`");
    CHECK_STATUS(helios_cancel_token_reset(NULL), HELIOS_ERR_NULL_ARGUMENT, "`token`");
    CHECK_STATUS(helios_cancel_token_is_cancelled(NULL, &cancelled), HELIOS_ERR_NULL_ARGUMENT, "`token`");
    CHECK_STATUS(helios_cancel_token_is_cancelled(token, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out_cancelled`");
    helios_cancel_token_free(token);
    helios_cancel_token_free(NULL); /* a no-op */
}

static void test_stencil_equals_reference_for_every_split(void) {
    const size_t n = 10007;
    float *x = ramp_f32(n);
    for (size_t i = 0; i < n; i++) x[i] = sinf((float)i * 0.01f) * 100.0f;
    float *expected = malloc(n * sizeof *expected);
    for (size_t i = 0; i < n; i++) {
        float left = x[i > 0 ? i - 1 : 0], right = x[i + 1 < n ? i + 1 : n - 1];
        expected[i] = 0.25f * left + 0.5f * x[i] + 0.25f * right;
    }
    float *y = malloc(n * sizeof *y);
    const size_t blocks[] = {1, 2, 7, 100, 4096, 10007, 20000, HELIOS_AUTO};
    for (size_t t = 1; t <= 4; t++) {
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++) {
            HeliosParallelMapOptions options = helios_parallel_map_default_options();
            options.halo = 1;
            options.threads = t;
            options.block_elems = blocks[b];
            memset(y, 0, n * sizeof *y);
            size_t needed = 0;
            CHECK(helios_parallel_map_f32(x, n, y, n, &needed, &options, stencil3_f32, NULL) == HELIOS_OK);
            CHECK(needed == n);
            CHECK(memcmp(y, expected, n * sizeof *y) == 0);
        }
    }
    free(x);
    free(expected);
    free(y);
}

static void test_f64_is_bit_identical_across_thread_counts(void) {
    const size_t n = 50001;
    double *x = noise_f64(n);
    double *expected = malloc(n * sizeof *expected);
    for (size_t i = 0; i < n; i++) expected[i] = stencil5_at(x, n, i);
    double *y = malloc(n * sizeof *y);
    for (size_t t = 1; t <= 3; t++) {
        HeliosParallelMapOptions options = helios_parallel_map_default_options();
        options.halo = 2;
        options.threads = t;
        options.block_elems = 1000;
        CHECK(helios_parallel_map_f64(x, n, y, n, NULL, &options, stencil5_f64, NULL) == HELIOS_OK);
        CHECK(memcmp(y, expected, n * sizeof *y) == 0);
    }
    /* NULL options are the defaults: halo 0, so a block's edge points see a
     * clamped neighbourhood, but points inside the first block match. */
    CHECK(helios_parallel_map_f64(x, n, y, n, NULL, NULL, stencil5_f64, NULL) == HELIOS_OK);
    CHECK(y[0] == expected[0] && y[100] == expected[100]);
    free(x);
    free(expected);
    free(y);
}

static void test_bad_input(void) {
    float x[16], y[16], big[32];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    HeliosParallelMapOptions o = helios_parallel_map_default_options();
    size_t needed = 0;

    CHECK_STATUS(helios_parallel_map_f32(NULL, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_NULL_ARGUMENT, "`input`");
    CHECK_STATUS(helios_parallel_map_f32(x, 16, NULL, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_NULL_ARGUMENT, "`output`");
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, NULL, NULL), HELIOS_ERR_NULL_ARGUMENT, "`kernel`");
    CHECK_STATUS(helios_parallel_map_f32(x, 0, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(helios_parallel_map_f32(x, SIZE_MAX, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overflows");
    CHECK_STATUS(helios_parallel_map_f32(x, SIZE_MAX / 2, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overflows");
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 15, &needed, &o, copy_f32, NULL), HELIOS_ERR_BUFFER_TOO_SMALL, "16 are needed");
    CHECK(needed == 16);
    CHECK_STATUS(helios_parallel_map_f32(x, 16, x, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overlap");
    CHECK_STATUS(helios_parallel_map_f32(big + 8, 8, big + 4, 8, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overlap");
    /* Only output[0..len) is written: spare capacity may cover the input. */
    memset(big, 0, sizeof big);
    big[16] = 7.0f;
    CHECK_STATUS(helios_parallel_map_f32(big + 16, 8, big, 32, NULL, &o, copy_f32, NULL), HELIOS_OK, "");
    CHECK(big[0] == 7.0f && big[16] == 7.0f);
    CHECK_STATUS(helios_parallel_map_f32(x, 16, (float *)((char *)big + 1), 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "aligned");
    CHECK_STATUS(helios_parallel_map_f32((const float *)((const char *)big + 2), 8, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "`input` is not aligned");

    o.halo = 17;
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "halo 17");
    o = helios_parallel_map_default_options();
    o.block_elems = 0;
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "block_elems is 0");
    o = helios_parallel_map_default_options();
    o.threads = 0;
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    o.threads = 100000;
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "maximum 1024");
    /* An options struct from a shorter (older) header: only its size is read. */
    size_t *short_options = malloc(sizeof(size_t));
    *short_options = sizeof(size_t);
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, (const HeliosParallelMapOptions *)short_options, copy_f32, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "struct_size is 8");
    free(short_options);
    o = helios_parallel_map_default_options();
    o.struct_size = 0;
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_ERR_INVALID_ARGUMENT, "struct_size");

    /* NaN and Inf are data: the runner passes them to the kernel untouched. */
    x[3] = NAN;
    x[4] = INFINITY;
    o = helios_parallel_map_default_options();
    CHECK_STATUS(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL), HELIOS_OK, "");
    CHECK(isnan(y[3]) && isinf(y[4]));

    /* A message stays until the thread's next call, and success clears it. */
    CHECK(helios_parallel_map_f32(x, 0, y, 16, NULL, &o, copy_f32, NULL) == HELIOS_ERR_INVALID_ARGUMENT);
    CHECK(strlen(helios_last_error()) > 0);
    CHECK(helios_parallel_map_f32(x, 16, y, 16, NULL, &o, copy_f32, NULL) == HELIOS_OK);
    CHECK(strcmp(helios_last_error(), "") == 0);
}

static void test_kernel_failure_stops_the_run(void) {
    const size_t n = 1000;
    float *x = ramp_f32(n);
    float *y = malloc(n * sizeof *y);
    FailSpec spec = {500.0f};
    for (size_t t = 1; t <= 3; t++) {
        HeliosParallelMapOptions o = helios_parallel_map_default_options();
        o.threads = t;
        o.block_elems = 100;
        for (size_t i = 0; i < n; i++) y[i] = -1.0f;
        /* Blocks 5..9 all fail; the lowest one is reported whatever the thread count. */
        CHECK_STATUS(helios_parallel_map_f32(x, n, y, n, NULL, &o, fail_on, &spec), HELIOS_ERR_CANCELLED,
                     "the kernel returned 42 for the block whose core is elements 500..600");
        /* Blocks before the failing one are complete. */
        for (size_t i = 0; i < 500; i++) CHECK(y[i] == x[i]);
    }
    free(x);
    free(y);
}

static void test_cancellation(void) {
    const size_t n = 1000;
    float *x = ramp_f32(n);
    float *y = malloc(n * sizeof *y);
    HeliosCancelToken *token = NULL;
    CHECK(helios_cancel_token_new(&token) == HELIOS_OK);
    HeliosParallelMapOptions o = helios_parallel_map_default_options();
    o.cancel = token;
    o.block_elems = 10;
    o.threads = 2;

    /* Raised before the call: nothing runs. */
    CHECK(helios_cancel_token_cancel(token) == HELIOS_OK);
    CHECK_STATUS(helios_parallel_map_f32(x, n, y, n, NULL, &o, copy_f32, NULL), HELIOS_ERR_CANCELLED, "CancelToken");
    /* Raised mid-run by the kernel (standing in for another thread). */
    CHECK(helios_cancel_token_reset(token) == HELIOS_OK);
    CHECK_STATUS(helios_parallel_map_f32(x, n, y, n, NULL, &o, cancel_after_blocks, token), HELIOS_ERR_CANCELLED, "CancelToken");
    /* Reset: the token serves again. */
    CHECK(helios_cancel_token_reset(token) == HELIOS_OK);
    CHECK(helios_parallel_map_f32(x, n, y, n, NULL, &o, copy_f32, NULL) == HELIOS_OK);
    CHECK(memcmp(x, y, n * sizeof *y) == 0);
    helios_cancel_token_free(token);
    free(x);
    free(y);
}

/* Several threads share one token and call the runner at once: each gets the
 * sequential result, and per-thread error messages never mix. */
typedef struct {
    const float *x;
    const float *expected;
    size_t n;
    const HeliosCancelToken *token;
    int ok;
} HammerArgs;

static void *hammer(void *arg) {
    HammerArgs *a = arg;
    float *y = malloc(a->n * sizeof *y);
    a->ok = 1;
    for (int round = 0; round < 20; round++) {
        HeliosParallelMapOptions o = helios_parallel_map_default_options();
        o.halo = 1;
        o.threads = 1 + (size_t)round % 3;
        o.block_elems = 97;
        o.cancel = a->token;
        if (helios_parallel_map_f32(a->x, a->n, y, a->n, NULL, &o, stencil3_f32, NULL) != HELIOS_OK) a->ok = 0;
        if (memcmp(y, a->expected, a->n * sizeof *y) != 0) a->ok = 0;
        o.threads = 0; /* this thread's own error... */
        if (helios_parallel_map_f32(a->x, a->n, y, a->n, NULL, &o, stencil3_f32, NULL) != HELIOS_ERR_INVALID_ARGUMENT) a->ok = 0;
        if (strstr(helios_last_error(), "thread count is 0") == NULL) a->ok = 0; /* ...is its own */
    }
    free(y);
    return NULL;
}

static void test_concurrent_calls(void) {
    const size_t n = 5000;
    float *x = ramp_f32(n);
    float *expected = malloc(n * sizeof *expected);
    HeliosParallelMapOptions o = helios_parallel_map_default_options();
    o.halo = 1;
    o.threads = 1;
    CHECK(helios_parallel_map_f32(x, n, expected, n, NULL, &o, stencil3_f32, NULL) == HELIOS_OK);
    HeliosCancelToken *token = NULL;
    CHECK(helios_cancel_token_new(&token) == HELIOS_OK);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    HammerArgs args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (HammerArgs){x, expected, n, token, 0};
        pthread_create(&threads[i], NULL, hammer, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(args[i].ok);
    }
    helios_cancel_token_free(token);
    free(x);
    free(expected);
}

/* helios must work (or fail cleanly) from an atexit handler, after the
 * main thread's thread-locals may have been torn down: never abort. */
static void call_helios_at_exit(void) {
    HeliosCancelToken *token = NULL;
    if (helios_cancel_token_new(&token) == HELIOS_OK) helios_cancel_token_free(token);
    float x[4] = {1, 2, 3, 4}, y[4];
    HeliosParallelMapOptions o = helios_parallel_map_default_options();
    o.threads = 2;
    o.block_elems = 1;
    if (helios_parallel_map_f32(x, 4, y, 4, NULL, &o, copy_f32, NULL) != HELIOS_OK || y[3] != 4.0f) {
        fprintf(stderr, "helios failed in an atexit handler: %s\n", helios_last_error());
        _exit(1);
    }
    (void)helios_parallel_map_f32(x, 0, y, 4, NULL, &o, copy_f32, NULL); /* an error: no message slot */
    (void)helios_last_error();
}

int main(void) {
    atexit(call_helios_at_exit);
    test_versions_and_names();
    test_threads();
    test_cancel_token();
    test_stencil_equals_reference_for_every_split();
    test_f64_is_bit_identical_across_thread_counts();
    test_bad_input();
    test_kernel_failure_stops_the_run();
    test_cancellation();
    test_concurrent_calls();
    return check_summary();
}
