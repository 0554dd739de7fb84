/* helios_rkhs_embed_f32/_f64 from C: the kernel reproduced by Phi Phi^T, the
 * same bits for every thread count and from concurrent callers, leading
 * dimensions, rank-deficient landmarks, and every kind of bad input. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "helios.h"
#include "check.h"
#include "data.h"

static void test_phi_phi_t_is_the_kernel(void) {
    const size_t n = 30, d = 4;
    const double gamma = 0.4;
    double *x = noise(n * d, 1);
    double *phi = malloc(n * n * sizeof *phi);
    size_t needed = 0;
    CHECK(helios_rkhs_embed_f64(x, n, d, d, x, n, d, gamma, 0.0, HELIOS_AUTO, phi, n * n, &needed) == HELIOS_OK);
    CHECK(needed == n * n);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double dot = 0.0;
            for (size_t k = 0; k < n; k++) dot += phi[i * n + k] * phi[j * n + k];
            double err = fabs(dot - rbf(x + i * d, x + j * d, d, gamma));
            worst = err > worst ? err : worst;
        }
    CHECK(worst < 1e-8);
    free(x);
    free(phi);
}

static void test_bit_identical_across_threads_and_f32_close_to_f64(void) {
    const size_t n = 1000, d = 8, m = 48;
    double *x = noise(n * d, 2), *l = noise(m * d, 3);
    float *x32 = to_f32(x, n * d), *l32 = to_f32(l, m * d);
    float *one = malloc(n * m * sizeof *one), *other = malloc(n * m * sizeof *other);
    double *phi64 = malloc(n * m * sizeof *phi64);
    CHECK(helios_rkhs_embed_f32(x32, n, d, d, l32, m, d, 0.3, 1e-6, 1, one, n * m, NULL) == HELIOS_OK);
    for (size_t t = 2; t <= 3; t++) {
        CHECK(helios_rkhs_embed_f32(x32, n, d, d, l32, m, d, 0.3, 1e-6, t, other, n * m, NULL) == HELIOS_OK);
        CHECK(memcmp(one, other, n * m * sizeof *one) == 0);
    }
    CHECK(helios_rkhs_embed_f64(x, n, d, d, l, m, d, 0.3, 1e-6, 2, phi64, n * m, NULL) == HELIOS_OK);
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < n * m; i++) {
        double err = fabs(phi64[i] - (double)one[i]);
        worst = err > worst ? err : worst;
        scale = fabs(phi64[i]) > scale ? fabs(phi64[i]) : scale;
    }
    CHECK(worst < 1e-3 * scale);
    free(x), free(l), free(x32), free(l32), free(one), free(other), free(phi64);
}

static void test_leading_dimension_and_duplicates(void) {
    const size_t n = 12, d = 3, m = 5, ldx = 7;
    double *x = noise(n * d, 4);
    double *padded = malloc(n * ldx * sizeof *padded);
    for (size_t i = 0; i < n * ldx; i++) padded[i] = NAN; /* padding is never read */
    for (size_t i = 0; i < n; i++) memcpy(padded + i * ldx, x + i * d, d * sizeof *x);
    double *dense = malloc(n * m * sizeof *dense), *strided = malloc(n * m * sizeof *strided);
    double l[5 * 3];
    memcpy(l, x, 3 * d * sizeof *x);
    memcpy(l + 3 * d, x, 2 * d * sizeof *x); /* landmarks 3 and 4 repeat 0 and 1 */
    CHECK(helios_rkhs_embed_f64(x, n, d, d, l, m, d, 0.5, 0.0, 2, dense, n * m, NULL) == HELIOS_OK);
    CHECK(helios_rkhs_embed_f64(padded, n, d, ldx, l, m, d, 0.5, 0.0, 2, strided, n * m, NULL) == HELIOS_OK);
    CHECK(memcmp(dense, strided, n * m * sizeof *dense) == 0);
    int finite = 1;
    for (size_t i = 0; i < n * m; i++) finite &= isfinite(dense[i]) != 0;
    CHECK(finite);
    free(x), free(padded), free(dense), free(strided);
}

static void test_bad_input(void) {
    double x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, out[16];
    size_t needed = 0;
    CHECK_STATUS(helios_rkhs_embed_f64(NULL, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_NULL_ARGUMENT, "`x`");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, NULL, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_NULL_ARGUMENT, "`landmarks`");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, NULL, 16, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 0, 2, 2, x, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 0, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "m = 0");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 0, 2, x, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "d = 0");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 1, x, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "leading dimension 1");
    CHECK_STATUS(helios_rkhs_embed_f64(x, SIZE_MAX, 2, 2, x, 2, 2, 1.0, 0.0, 1, out, 16, &needed), HELIOS_ERR_INVALID_ARGUMENT, "overflow");
    CHECK_STATUS(helios_rkhs_embed_f64(x, SIZE_MAX / 4, 2, SIZE_MAX / 2, x, 1, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overflow");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 0.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "gamma");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, NAN, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "gamma");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, INFINITY, 0.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "gamma");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, -1.0, 1, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "ridge");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, 0.0, 0, out, 16, NULL), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, out, 7, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "8 are needed");
    CHECK(needed == 8);
    needed = 0; /* a NULL output of capacity 0 asks for the size */
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "8 are needed");
    CHECK(needed == 8);
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, x, 8, NULL), HELIOS_ERR_INVALID_ARGUMENT, "overlaps `x`");
    double bad[8] = {0, 1, 2, 3, 4, NAN, 6, 7};
    CHECK_STATUS(helios_rkhs_embed_f64(bad, 4, 2, 2, x, 2, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_NUMERIC, "row 2 of X");
    bad[5] = INFINITY;
    CHECK_STATUS(helios_rkhs_embed_f64(x, 4, 2, 2, bad, 4, 2, 1.0, 0.0, 1, out, 16, NULL), HELIOS_ERR_NUMERIC, "row 2 of landmarks");
}

typedef struct {
    const float *x, *l, *expected;
    size_t n, d, m;
    int ok;
} Job;

static void *embed_job(void *arg) {
    Job *job = arg;
    float *out = malloc(job->n * job->m * sizeof *out);
    job->ok = helios_rkhs_embed_f32(job->x, job->n, job->d, job->d, job->l, job->m, job->d, 0.8, 1e-6, 2, out,
                                    job->n * job->m, NULL) == HELIOS_OK &&
              memcmp(out, job->expected, job->n * job->m * sizeof *out) == 0;
    free(out);
    return NULL;
}

static void test_concurrent_callers(void) {
    enum { THREADS = 8 };
    const size_t n = 400, d = 6, m = 20;
    double *l64 = noise(m * d, 50);
    float *l = to_f32(l64, m * d);
    pthread_t threads[THREADS];
    Job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        double *x64 = noise(n * d, 60 + t);
        float *expected = malloc(n * m * sizeof *expected);
        jobs[t] = (Job){to_f32(x64, n * d), l, expected, n, d, m, 0};
        CHECK(helios_rkhs_embed_f32(jobs[t].x, n, d, d, l, m, d, 0.8, 1e-6, 1, expected, n * m, NULL) == HELIOS_OK);
        free(x64);
    }
    for (int t = 0; t < THREADS; t++) pthread_create(&threads[t], NULL, embed_job, &jobs[t]);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].ok);
        free((void *)jobs[t].x);
        free((void *)jobs[t].expected);
    }
    free(l64);
    free(l);
}

int main(void) {
    test_phi_phi_t_is_the_kernel();
    test_bit_identical_across_threads_and_f32_close_to_f64();
    test_leading_dimension_and_duplicates();
    test_bad_input();
    test_concurrent_callers();
    return check_summary();
}
