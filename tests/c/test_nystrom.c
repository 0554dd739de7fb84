/* The Nyström engine from C: its output against the kernel written out
 * plainly, build + update against one transform of the stacked rows, the same
 * bits for every thread count, save/load and byte round trips, BUSY from a
 * second thread, and every kind of bad input. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helios.h"
#include "check.h"
#include "data.h"

#define PATH_ARG(p) (p), strlen(p)

static HeliosNystromEngine *engine_new(double gamma, double ridge, size_t m, int32_t selection, uint64_t seed,
                                       int32_t dtype) {
    HeliosNystromOptions options = helios_nystrom_default_options();
    options.gamma = gamma;
    options.ridge = ridge;
    options.landmark_count = m;
    options.selection = selection;
    options.seed = seed;
    HeliosNystromEngine *engine = NULL;
    CHECK(helios_nystrom_new(&options, dtype, &engine) == HELIOS_OK);
    return engine;
}

/* Is `row` (d values) one of the n rows of x? */
static int is_row_of(const double *row, const double *x, size_t n, size_t d) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(row, x + i * d, d * sizeof *row) == 0) return 1;
    return 0;
}

static void test_defaults_and_info(void) {
    HeliosNystromOptions options = helios_nystrom_default_options();
    CHECK(options.struct_size == sizeof options);
    CHECK(options.gamma == 1.0 && options.ridge == 1e-6 && options.landmark_count == 256);
    CHECK(options.selection == HELIOS_LANDMARKS_UNIFORM && options.seed == 0 && options.threads == HELIOS_AUTO);
    HeliosNystromEngine *engine = NULL;
    CHECK(helios_nystrom_new(NULL, HELIOS_DTYPE_F32, &engine) == HELIOS_OK);
    int32_t dtype = -1, built = -1;
    size_t m = 0, d = 99;
    CHECK(helios_nystrom_info(engine, &dtype, &m, &d, &built) == HELIOS_OK);
    CHECK(dtype == HELIOS_DTYPE_F32 && m == 256 && d == 0 && built == 0);
    CHECK(helios_nystrom_info(engine, NULL, NULL, NULL, NULL) == HELIOS_OK);
    CHECK(helios_nystrom_set_threads(engine, 3) == HELIOS_OK);
    HeliosNystromOptions got;
    CHECK(helios_nystrom_get_options(engine, &got) == HELIOS_OK);
    CHECK(got.threads == 3 && got.landmark_count == 256 && got.struct_size == sizeof got);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    CHECK(helios_nystrom_free(NULL) == HELIOS_OK);
}

/* Phi = K(X, L) M with the engine's own landmarks L and normaliser M, and M
 * is the inverse square root of K(L, L) + ridge I: M (K + ridge I) M = I. */
static void test_output_is_the_kernel_times_the_normaliser(void) {
    const size_t n = 200, d = 5, m = 24;
    const double gamma = 0.7, ridge = 1e-3;
    double *x = noise(n * d, 11);
    HeliosNystromEngine *engine = engine_new(gamma, ridge, m, HELIOS_LANDMARKS_KMEANS_PLUS_PLUS, 5, HELIOS_DTYPE_F64);
    double *phi = malloc(n * m * sizeof *phi), *l = malloc(m * d * sizeof *l), *mm = malloc(m * m * sizeof *mm);
    size_t needed = 0;
    CHECK(helios_nystrom_build_f64(engine, x, n, d, d, phi, n * m, &needed) == HELIOS_OK);
    CHECK(needed == n * m);
    CHECK(helios_nystrom_landmarks_f64(engine, l, m * d, &needed) == HELIOS_OK && needed == m * d);
    CHECK(helios_nystrom_normaliser_f64(engine, mm, m * m, &needed) == HELIOS_OK && needed == m * m);
    int rows_of_x = 1;
    for (size_t j = 0; j < m; j++) rows_of_x &= is_row_of(l + j * d, x, n, d);
    CHECK(rows_of_x);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double v = 0.0;
            for (size_t k = 0; k < m; k++) v += rbf(x + i * d, l + k * d, d, gamma) * mm[k * m + j];
            worst = fmax(worst, fabs(v - phi[i * m + j]));
        }
    CHECK(worst < 1e-10);
    /* M (K + ridge I) M = I */
    double identity_error = 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < m; j++) {
            double v = 0.0;
            for (size_t a = 0; a < m; a++)
                for (size_t b = 0; b < m; b++) {
                    double k = rbf(l + a * d, l + b * d, d, gamma) + (a == b ? ridge : 0.0);
                    v += mm[i * m + a] * k * mm[b * m + j];
                }
            identity_error = fmax(identity_error, fabs(v - (i == j ? 1.0 : 0.0)));
        }
    CHECK(identity_error < 1e-8);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    free(x), free(phi), free(l), free(mm);
}

/* build(X1) then update(X2) equals transform([X1; X2]) bit for bit, in every
 * form of update; the in-place one touches only the new rows. */
static void test_update_equals_transform_of_the_stacked_rows(void) {
    const size_t n1 = 300, n2 = 77, d = 6, m = 32, n = n1 + n2;
    double *x64 = noise(n * d, 21);
    float *x = to_f32(x64, n * d);
    HeliosNystromEngine *engine = engine_new(0.5, 1e-6, m, HELIOS_LANDMARKS_UNIFORM, 3, HELIOS_DTYPE_F32);
    float *all = malloc(n * m * sizeof *all), *built = malloc(n1 * m * sizeof *built);
    float *copied = malloc(n * m * sizeof *copied), *spare = malloc((n + 10) * m * sizeof *spare);
    CHECK(helios_nystrom_build_f32(engine, x, n1, d, d, built, n1 * m, NULL) == HELIOS_OK);
    CHECK(helios_nystrom_transform_f32(engine, x, n, d, d, all, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(all, built, n1 * m * sizeof *all) == 0);

    size_t needed = 0;
    CHECK(helios_nystrom_update_f32(engine, x + n1 * d, n2, d, d, built, n1, copied, n * m, &needed) == HELIOS_OK);
    CHECK(needed == n * m);
    CHECK(memcmp(all, copied, n * m * sizeof *all) == 0);

    for (size_t i = 0; i < (n + 10) * m; i++) spare[i] = -7.0f; /* sentinels */
    memcpy(spare, built, n1 * m * sizeof *built);
    spare[0] = 1234.5f; /* an old row that must not be rewritten */
    CHECK(helios_nystrom_update_inplace_f32(engine, x + n1 * d, n2, d, d, spare, (n + 10) * m, n1, &needed) == HELIOS_OK);
    CHECK(needed == n * m);
    CHECK(spare[0] == 1234.5f);
    CHECK(memcmp(spare + m, all + m, (n - 1) * m * sizeof *all) == 0);
    int untouched = 1;
    for (size_t i = n * m; i < (n + 10) * m; i++) untouched &= spare[i] == -7.0f;
    CHECK(untouched);

    /* update with phi_old == out is the in-place case */
    memcpy(copied, built, n1 * m * sizeof *built);
    CHECK(helios_nystrom_update_f32(engine, x + n1 * d, n2, d, d, copied, n1, copied, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(all, copied, n * m * sizeof *all) == 0);
    /* a stream of single rows gives the bits those rows get in one batch */
    memcpy(spare, built, n1 * m * sizeof *built);
    for (size_t r = 0; r < 5; r++)
        CHECK(helios_nystrom_update_inplace_f32(engine, x + (n1 + r) * d, 1, d, d, spare, (n + 10) * m, n1 + r, NULL) ==
              HELIOS_OK);
    CHECK(memcmp(spare, all, (n1 + 5) * m * sizeof *all) == 0);
    /* nothing old: phi_old may be NULL */
    CHECK(helios_nystrom_update_f32(engine, x, n, d, d, NULL, 0, copied, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(all, copied, n * m * sizeof *all) == 0);

    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    free(x64), free(x), free(all), free(built), free(copied), free(spare);
}

static void test_same_bits_for_every_thread_count_and_seeded_landmarks(void) {
    const size_t n = 2000, d = 8, m = 64;
    double *x64 = noise(n * d, 31);
    float *x = to_f32(x64, n * d);
    float *one = malloc(n * m * sizeof *one), *other = malloc(n * m * sizeof *other);
    float *l_one = malloc(m * d * sizeof *l_one), *l_other = malloc(m * d * sizeof *l_other);
    for (int32_t selection = 0; selection <= 1; selection++) {
        HeliosNystromEngine *engine = engine_new(0.2, 1e-6, m, selection, 9, HELIOS_DTYPE_F32);
        CHECK(helios_nystrom_set_threads(engine, 1) == HELIOS_OK);
        CHECK(helios_nystrom_build_f32(engine, x, n, d, d, one, n * m, NULL) == HELIOS_OK);
        CHECK(helios_nystrom_landmarks_f32(engine, l_one, m * d, NULL) == HELIOS_OK);
        for (size_t threads = 2; threads <= 3; threads++) {
            CHECK(helios_nystrom_set_threads(engine, threads) == HELIOS_OK);
            CHECK(helios_nystrom_build_f32(engine, x, n, d, d, other, n * m, NULL) == HELIOS_OK);
            CHECK(memcmp(one, other, n * m * sizeof *one) == 0);
            CHECK(helios_nystrom_landmarks_f32(engine, l_other, m * d, NULL) == HELIOS_OK);
            CHECK(memcmp(l_one, l_other, m * d * sizeof *l_one) == 0);
        }
        CHECK(helios_nystrom_free(engine) == HELIOS_OK);
        /* another seed chooses other landmarks */
        engine = engine_new(0.2, 1e-6, m, selection, 10, HELIOS_DTYPE_F32);
        CHECK(helios_nystrom_build_f32(engine, x, n, d, d, other, n * m, NULL) == HELIOS_OK);
        CHECK(helios_nystrom_landmarks_f32(engine, l_other, m * d, NULL) == HELIOS_OK);
        CHECK(memcmp(l_one, l_other, m * d * sizeof *l_one) != 0);
        CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    }
    free(x64), free(x), free(one), free(other), free(l_one), free(l_other);
}

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *bytes = malloc(*len);
    *len = fread(bytes, 1, *len, f);
    fclose(f);
    return bytes;
}

static void write_all(const char *path, const unsigned char *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    fwrite(bytes, 1, len, f);
    fclose(f);
}

static void test_save_load_and_bytes(void) {
    const size_t n = 150, d = 4, m = 16;
    double *x = noise(n * d, 41);
    char path[64], broken[64];
    snprintf(path, sizeof path, "/tmp/helios_test_nystrom_%d.bin", (int)getpid());
    snprintf(broken, sizeof broken, "/tmp/helios_test_nystrom_%d.bad", (int)getpid());
    HeliosNystromEngine *engine = engine_new(0.9, 1e-4, m, HELIOS_LANDMARKS_KMEANS_PLUS_PLUS, 77, HELIOS_DTYPE_F64);
    double *phi = malloc(n * m * sizeof *phi), *again = malloc(n * m * sizeof *again);
    CHECK_STATUS(helios_nystrom_save(engine, PATH_ARG(path)), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK_STATUS(helios_nystrom_to_bytes(engine, NULL, 0, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK(helios_nystrom_build_f64(engine, x, n, d, d, phi, n * m, NULL) == HELIOS_OK);
    CHECK(helios_nystrom_save(engine, PATH_ARG(path)) == HELIOS_OK);

    HeliosNystromEngine *loaded = NULL;
    CHECK(helios_nystrom_load(PATH_ARG(path), &loaded) == HELIOS_OK);
    int32_t dtype = -1, built = 0;
    size_t got_m = 0, got_d = 0;
    CHECK(helios_nystrom_info(loaded, &dtype, &got_m, &got_d, &built) == HELIOS_OK);
    CHECK(dtype == HELIOS_DTYPE_F64 && got_m == m && got_d == d && built == 1);
    HeliosNystromOptions options;
    CHECK(helios_nystrom_get_options(loaded, &options) == HELIOS_OK);
    CHECK(options.gamma == 0.9 && options.ridge == 1e-4 && options.seed == 77 &&
          options.selection == HELIOS_LANDMARKS_KMEANS_PLUS_PLUS);
    CHECK(helios_nystrom_transform_f64(loaded, x, n, d, d, again, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(phi, again, n * m * sizeof *phi) == 0);

    size_t len = 0, needed = 0;
    unsigned char *file = read_all(path, &len);
    CHECK(file != NULL && len > 100);
    /* a NULL buffer of capacity 0 asks for the size */
    CHECK_STATUS(helios_nystrom_to_bytes(engine, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "are needed");
    CHECK(needed == len);
    unsigned char *bytes = malloc(needed);
    CHECK(helios_nystrom_to_bytes(engine, bytes, needed, NULL) == HELIOS_OK);
    CHECK(memcmp(bytes, file, len) == 0); /* the same bytes as the file */
    HeliosNystromEngine *copy = NULL;
    CHECK(helios_nystrom_from_bytes(bytes, len, &copy) == HELIOS_OK);
    CHECK(helios_nystrom_transform_f64(copy, x, n, d, d, again, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(phi, again, n * m * sizeof *phi) == 0);

    /* truncated, corrupt, foreign and missing files */
    HeliosNystromEngine *none = NULL;
    write_all(broken, file, len - 1);
    CHECK_STATUS(helios_nystrom_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "checksum");
    file[len / 2] ^= 0x10;
    write_all(broken, file, len);
    CHECK_STATUS(helios_nystrom_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "corrupt");
    CHECK_STATUS(helios_nystrom_from_bytes(file, len, &none), HELIOS_ERR_FORMAT, "corrupt");
    write_all(broken, (const unsigned char *)"hello", 5);
    CHECK_STATUS(helios_nystrom_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "not a helios");
    CHECK_STATUS(helios_nystrom_from_bytes(file, 0, &none), HELIOS_ERR_FORMAT, "not a helios");
    CHECK(none == NULL);
    remove(broken);
    CHECK_STATUS(helios_nystrom_load(PATH_ARG(broken), &none), HELIOS_ERR_IO, "cannot read");
    CHECK_STATUS(helios_nystrom_save(engine, "/nonexistent-dir/x.bin", 22), HELIOS_ERR_IO, "nonexistent");
    CHECK_STATUS(helios_nystrom_save(engine, "\xff\xfe", 2), HELIOS_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_STATUS(helios_nystrom_save(engine, path, 0), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(helios_nystrom_save(engine, NULL, 3), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_nystrom_load(NULL, 3, &none), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_nystrom_load(PATH_ARG(path), NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_nystrom_from_bytes(NULL, 10, &none), HELIOS_ERR_NULL_ARGUMENT, "`data`");
    /* an f64 file loads as an f64 engine: the f32 entry points are refused */
    float xf[4] = {0}, outf[16];
    CHECK_STATUS(helios_nystrom_transform_f32(loaded, xf, 1, 4, 4, outf, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "holds double");

    remove(path);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    CHECK(helios_nystrom_free(loaded) == HELIOS_OK);
    CHECK(helios_nystrom_free(copy) == HELIOS_OK);
    free(x), free(phi), free(again), free(file), free(bytes);
}

/* A transform on another thread. With `retry` it is tried again while the
 * engine is busy (`busy` counts those tries); without, it is one call, and
 * once it has been inside the engine this thread never enters it again. */
typedef struct {
    HeliosNystromEngine *engine;
    const float *x;
    size_t n, d, m;
    float *out;
    int retry, busy;
    atomic_int started, finished;
    HeliosStatus status;
} OtherCall;

static void *other_transform(void *arg) {
    OtherCall *call = arg;
    atomic_store(&call->started, 1);
    for (;;) {
        call->status = helios_nystrom_transform_f32(call->engine, call->x, call->n, call->d, call->d, call->out,
                                                    call->n * call->m, NULL);
        if (!call->retry || call->status != HELIOS_ERR_BUSY) break;
        call->busy++;
        sched_yield();
    }
    atomic_store(&call->finished, 1);
    return NULL;
}

/* Two threads on one engine: while one is inside, the other gets BUSY (never
 * another error), and the engine is untouched: its output afterwards is the
 * output before. */
static void test_a_second_thread_gets_busy(void) {
    const size_t n = 6000, d = 16, m = 64;
    double *x64 = noise(n * d, 51);
    float *x = to_f32(x64, n * d);
    HeliosNystromEngine *engine = engine_new(0.1, 1e-6, m, HELIOS_LANDMARKS_UNIFORM, 1, HELIOS_DTYPE_F32);
    /* one worker: the two threads of the test then fit the machine's cores */
    CHECK(helios_nystrom_set_threads(engine, 1) == HELIOS_OK);
    float *before = malloc(n * m * sizeof *before), *after = malloc(n * m * sizeof *after);
    float *mine = malloc(8 * m * sizeof *mine);
    CHECK(helios_nystrom_build_f32(engine, x, n, d, d, before, n * m, NULL) == HELIOS_OK);

    int busy = 0, ok = 0, other = 0, unnamed = 0;
    OtherCall call;
    /* Until the two threads have met inside (a loaded machine may run them
     * one after the other). */
    for (int attempt = 0; attempt < 20 && busy == 0; attempt++) {
        call = (OtherCall){engine, x, n, d, m, after, 1, 0, 0, 0, HELIOS_OK};
        pthread_t thread;
        pthread_create(&thread, NULL, other_transform, &call);
        while (!atomic_load(&call.started)) sched_yield();
        while (!atomic_load(&call.finished)) {
            HeliosStatus status = helios_nystrom_update_f32(engine, x, 8, d, d, NULL, 0, mine, 8 * m, NULL);
            if (status == HELIOS_ERR_BUSY) {
                busy++;
                unnamed += strstr(helios_last_error(), "Nyström engine is in use") == NULL;
            } else if (status == HELIOS_OK) {
                ok++;
            } else {
                other++;
            }
        }
        pthread_join(thread, NULL);
        CHECK(call.status == HELIOS_OK);
    }
    CHECK(busy > 0);
    CHECK(other == 0 && unnamed == 0);
    CHECK(memcmp(before, after, n * m * sizeof *before) == 0);
    CHECK(helios_nystrom_transform_f32(engine, x, n, d, d, after, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(before, after, n * m * sizeof *before) == 0);
    printf("busy test: %d BUSY and %d completed updates beside one transform (which saw BUSY %d times)\n", busy,
           ok, call.busy);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    free(x64), free(x), free(before), free(after), free(mine);
}

/* Freeing an engine another thread is inside returns BUSY and frees nothing:
 * the engine still works afterwards. The free is tried only once a probe has
 * seen the other thread inside (BUSY), so that thread never enters again and
 * a successful free (it had just left) is safe too. */
static void test_free_while_in_use_is_busy(void) {
    const size_t n = 6000, d = 16, m = 64;
    double *x64 = noise(n * d, 71);
    float *x = to_f32(x64, n * d);
    float *out = malloc(n * m * sizeof *out), *again = malloc(n * m * sizeof *again);
    int refused = 0;
    /* Valgrind runs one thread at a time and may run the whole transform in
     * one time slice, so an attempt can miss it inside: try up to 200. */
    for (int attempt = 0; attempt < 200 && !refused; attempt++) {
        HeliosNystromEngine *engine = engine_new(0.1, 1e-6, m, HELIOS_LANDMARKS_UNIFORM, 2, HELIOS_DTYPE_F32);
        CHECK(helios_nystrom_set_threads(engine, 1) == HELIOS_OK);
        CHECK(helios_nystrom_build_f32(engine, x, m, d, d, out, n * m, NULL) == HELIOS_OK);
        OtherCall call = {engine, x, n, d, m, out, 0, 0, 0, 0, HELIOS_OK};
        pthread_t thread;
        pthread_create(&thread, NULL, other_transform, &call);
        while (!atomic_load(&call.started)) sched_yield();
        HeliosStatus freed = HELIOS_ERR_INVALID_STATE; /* not tried */
        while (!atomic_load(&call.finished)) {
            if (helios_nystrom_info(engine, NULL, NULL, NULL, NULL) == HELIOS_ERR_BUSY) {
                freed = helios_nystrom_free(engine);
                break;
            }
        }
        pthread_join(thread, NULL);
        if (freed == HELIOS_ERR_BUSY) {
            refused = 1;
            CHECK(call.status == HELIOS_OK);
            CHECK(helios_nystrom_transform_f32(engine, x, n, d, d, again, n * m, NULL) == HELIOS_OK);
            CHECK(memcmp(out, again, n * m * sizeof *out) == 0);
            CHECK(helios_nystrom_free(engine) == HELIOS_OK);
        } else if (freed != HELIOS_OK) {
            CHECK(helios_nystrom_free(engine) == HELIOS_OK); /* never saw it inside */
        }
    }
    CHECK(refused);
    free(x64), free(x), free(out), free(again);
}

static void test_bad_input(void) {
    HeliosNystromOptions options = helios_nystrom_default_options();
    HeliosNystromEngine *engine = NULL;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_nystrom_new(&options, 7, &engine), HELIOS_ERR_INVALID_ARGUMENT, "dtype is 7");
    options.struct_size = 8;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "struct_size");
    options = helios_nystrom_default_options();
    options.gamma = 0.0;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "gamma");
    options.gamma = NAN;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "gamma");
    options.gamma = 1.0, options.ridge = -1.0;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "ridge");
    options.ridge = INFINITY;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "ridge");
    options.ridge = 0.0, options.landmark_count = 0;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "landmark_count is 0");
    options.landmark_count = 4, options.selection = 5;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "selection is 5");
    options.selection = HELIOS_LANDMARKS_UNIFORM, options.threads = 0;
    CHECK_STATUS(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    CHECK(engine == NULL);
    options.threads = 2;
    CHECK(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &engine) == HELIOS_OK);

    double x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, out[64];
    size_t needed = 0;
    /* before build */
    CHECK_STATUS(helios_nystrom_transform_f64(engine, x, 3, 2, 2, out, 64, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK_STATUS(helios_nystrom_update_f64(engine, x, 3, 2, 2, NULL, 0, out, 64, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK_STATUS(helios_nystrom_update_inplace_f64(engine, x, 3, 2, 2, out, 64, 0, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK_STATUS(helios_nystrom_landmarks_f64(engine, out, 64, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    CHECK_STATUS(helios_nystrom_normaliser_f64(engine, out, 64, NULL), HELIOS_ERR_INVALID_STATE, "build first");
    /* build */
    CHECK_STATUS(helios_nystrom_build_f64(NULL, x, 6, 2, 2, out, 64, NULL), HELIOS_ERR_NULL_ARGUMENT, "`engine`");
    CHECK_STATUS(helios_nystrom_build_f64(engine, NULL, 6, 2, 2, out, 64, NULL), HELIOS_ERR_NULL_ARGUMENT, "`x`");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 6, 2, 2, NULL, 64, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 0, 2, 2, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 6, 0, 2, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT, "d = 0");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 3, 2, 2, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "landmark_count 4 is larger than the 3 rows");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 6, 2, 1, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT, "leading dimension 1");
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, SIZE_MAX, 2, 2, out, 64, &needed), HELIOS_ERR_INVALID_ARGUMENT, "overflow");
    CHECK(needed == SIZE_MAX);
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 6, 2, 2, out, 23, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "24 are needed");
    CHECK(needed == 24);
    CHECK_STATUS(helios_nystrom_build_f64(engine, x, 6, 2, 2, x, 24, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overlaps `x`");
    double bad[12] = {0, 1, 2, 3, 4, 5, 6, INFINITY, 8, 9, 10, 11};
    CHECK_STATUS(helios_nystrom_build_f64(engine, bad, 6, 2, 2, out, 64, NULL), HELIOS_ERR_NUMERIC, "row 3 of X");
    bad[7] = NAN;
    CHECK_STATUS(helios_nystrom_build_f64(engine, bad, 6, 2, 2, out, 64, NULL), HELIOS_ERR_NUMERIC, "row 3 of X");
    float xf[12] = {0}, outf[64];
    CHECK_STATUS(helios_nystrom_build_f32(engine, xf, 6, 2, 2, outf, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT, "holds double");
    int32_t built = 1;
    CHECK(helios_nystrom_info(engine, NULL, NULL, NULL, &built) == HELIOS_OK && built == 0); /* failures left it unbuilt */

    CHECK(helios_nystrom_build_f64(engine, x, 6, 2, 2, out, 64, NULL) == HELIOS_OK);
    /* after build */
    CHECK_STATUS(helios_nystrom_transform_f64(engine, x, 4, 3, 3, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "X has 3 columns but the landmarks have 2");
    CHECK_STATUS(helios_nystrom_transform_f64(engine, bad, 6, 2, 2, out, 64, NULL), HELIOS_ERR_NUMERIC, "row 3 of X");
    CHECK_STATUS(helios_nystrom_transform_f64(engine, x, 0, 2, 2, out, 64, NULL), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_nystrom_update_inplace_f64(engine, x, 0, 2, 2, out, 64, 0, NULL), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_nystrom_update_f64(engine, x, 2, 2, 2, NULL, 3, out, 64, NULL), HELIOS_ERR_NULL_ARGUMENT, "`phi_old`");
    CHECK_STATUS(helios_nystrom_update_f64(engine, x, 2, 2, 2, out, SIZE_MAX / 2, out + 1, 64, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "overflow");
    CHECK_STATUS(helios_nystrom_update_f64(engine, x, 2, 2, 2, out, 3, out + 4, 60, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "overlaps `phi_old`");
    for (size_t i = 0; i < 64; i++) out[i] = -1.0;
    CHECK_STATUS(helios_nystrom_update_inplace_f64(engine, x, 3, 2, 2, out, 19, 2, &needed), HELIOS_ERR_BUFFER_TOO_SMALL,
                 "`buffer` holds 19 elements but 20 are needed");
    CHECK_STATUS(helios_nystrom_update_inplace_f64(engine, x, 3, 2, 2, NULL, 20, 2, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "`buffer`");
    CHECK(needed == 20);
    int untouched = 1;
    for (size_t i = 0; i < 64; i++) untouched &= out[i] == -1.0;
    CHECK(untouched);
    CHECK_STATUS(helios_nystrom_landmarks_f64(engine, out, 7, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "8 are needed");
    CHECK_STATUS(helios_nystrom_normaliser_f64(engine, out, 15, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "16 are needed");
    CHECK_STATUS(helios_nystrom_set_threads(engine, 0), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    CHECK_STATUS(helios_nystrom_set_threads(engine, 5000), HELIOS_ERR_INVALID_ARGUMENT, "5000");
    CHECK_STATUS(helios_nystrom_info(NULL, NULL, NULL, NULL, NULL), HELIOS_ERR_NULL_ARGUMENT, "`engine`");
    CHECK_STATUS(helios_nystrom_get_options(engine, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
}

/* Duplicate rows give duplicate landmarks, a rank-deficient K(L, L) with
 * ridge 0: the pseudo-inverse keeps the output finite. */
static void test_duplicate_landmarks_stay_finite(void) {
    const size_t d = 3, m = 8;
    double *half = noise(4 * d, 61), x[8 * 3], out[8 * 8];
    memcpy(x, half, 4 * d * sizeof *x);
    memcpy(x + 4 * d, half, 4 * d * sizeof *x);
    HeliosNystromEngine *engine = engine_new(1.0, 0.0, m, HELIOS_LANDMARKS_KMEANS_PLUS_PLUS, 0, HELIOS_DTYPE_F64);
    CHECK(helios_nystrom_build_f64(engine, x, 8, d, d, out, 64, NULL) == HELIOS_OK);
    int finite = 1;
    for (size_t i = 0; i < 64; i++) finite &= isfinite(out[i]) != 0;
    CHECK(finite);
    /* the kernel is still reproduced: Phi Phi^T = K on the training rows */
    double worst = 0.0;
    for (size_t i = 0; i < 8; i++)
        for (size_t j = 0; j < 8; j++) {
            double dot = 0.0;
            for (size_t k = 0; k < m; k++) dot += out[i * m + k] * out[j * m + k];
            worst = fmax(worst, fabs(dot - rbf(x + i * d, x + j * d, d, 1.0)));
        }
    CHECK(worst < 1e-8);
    CHECK(helios_nystrom_free(engine) == HELIOS_OK);
    free(half);
}

int main(void) {
    test_defaults_and_info();
    test_output_is_the_kernel_times_the_normaliser();
    test_update_equals_transform_of_the_stacked_rows();
    test_same_bits_for_every_thread_count_and_seeded_landmarks();
    test_save_load_and_bytes();
    test_a_second_thread_gets_busy();
    test_free_while_in_use_is_busy();
    test_bad_input();
    test_duplicate_landmarks_stay_finite();
    return check_summary();
}
