/* Seeded test data and the RBF kernel written out plainly, shared by the C
 * tests (static inline: a test may use only some of them under -Werror). */
#ifndef HELIOS_TEST_DATA_H
#define HELIOS_TEST_DATA_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* `count` values uniform in [-1, 1) from an xorshift generator. */
static inline double *noise(size_t count, uint64_t seed) {
    double *v = malloc(count * sizeof *v);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull | 1;
    for (size_t i = 0; i < count; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        v[i] = (double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    }
    return v;
}

static inline float *to_f32(const double *v, size_t count) {
    float *f = malloc(count * sizeof *f);
    for (size_t i = 0; i < count; i++) f[i] = (float)v[i];
    return f;
}

/* exp(-gamma ||a - b||^2). */
static inline double rbf(const double *a, const double *b, size_t d, double gamma) {
    double s = 0.0;
    for (size_t k = 0; k < d; k++) s += (a[k] - b[k]) * (a[k] - b[k]);
    return exp(-gamma * s);
}

#endif
