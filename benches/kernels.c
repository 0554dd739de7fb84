/* The kernels of the runner benchmark (benches/bench_runner.py), each twice:
 * as a helios block kernel (HeliosKernelF32) and as a plain single-threaded
 * loop over the whole array, the baseline helios is measured against.
 *
 * Both versions run the same loop, so their outputs must agree bit for bit;
 * the bench checks that. Floating-point contraction (fusing a*b + c into one
 * FMA) is switched off so that the compiler cannot round the two differently,
 * and so that the results also match numpy's, which never fuses.
 *
 * Built by `make bench`: cc -O3 -march=native -shared -fPIC -Iinclude. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <stddef.h>

#include "helios.h"

/* ---- the loops, shared by both versions ----------------------------------
 * Each computes outputs begin..end of the array x[0..n) into out[0..end-begin):
 * a helios kernel calls it on its block, the plain version on the whole array,
 * so the two run the same machine code and differ only in how it is driven. */

static void signflip_range(const float *x, size_t begin, size_t end, float *out) {
    for (size_t i = begin; i < end; i++) out[i - begin] = -x[i];
}

static void clamp_range(const float *x, size_t begin, size_t end, float *out) {
    for (size_t i = begin; i < end; i++) {
        float v = x[i];
        out[i - begin] = v < -0.5f ? -0.5f : (v > 0.5f ? 0.5f : v);
    }
}

static inline float stencil3(float left, float centre, float right) {
    return 0.25f * left + 0.5f * centre + 0.25f * right;
}

/* y[i] = 0.25 x[i-1] + 0.5 x[i] + 0.25 x[i+1] with the index clamped to
 * [0, n): radius 1, so helios must be given halo = 1. The edges are peeled
 * off so that the interior loop has no branches and vectorises. */
static void stencil_range(const float *x, size_t n, size_t begin, size_t end, float *out) {
    size_t i = begin;
    if (i == 0 && i < end) {
        out[0] = stencil3(x[0], x[0], x[n > 1 ? 1 : 0]);
        i = 1;
    }
    size_t interior_end = end < n - 1 ? end : n - 1; /* x[i + 1] exists below it */
    for (; i < interior_end; i++) out[i - begin] = stencil3(x[i - 1], x[i], x[i + 1]);
    if (i < end) /* i == n - 1, the last element */
        out[i - begin] = stencil3(x[i - 1], x[i], x[i]);
}

/* ---- helios kernels (HeliosKernelF32) ------------------------------------- */

int signflip_kernel(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                    float *core_out, void *user_data) {
    (void)block_len;
    (void)user_data;
    signflip_range(block, core_offset, core_offset + core_len, core_out);
    return 0;
}

int clamp_kernel(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                 float *core_out, void *user_data) {
    (void)block_len;
    (void)user_data;
    clamp_range(block, core_offset, core_offset + core_len, core_out);
    return 0;
}

int stencil_kernel(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                   float *core_out, void *user_data) {
    (void)user_data;
    stencil_range(block, block_len, core_offset, core_offset + core_len, core_out);
    return 0;
}

/* Does not compile if a kernel's signature drifts from the header's. */
const HeliosKernelF32 bench_kernels[3] = {signflip_kernel, clamp_kernel, stencil_kernel};

/* ---- plain whole-array loops (one thread) --------------------------------- */

void plain_signflip(const float *x, float *y, size_t n) { signflip_range(x, 0, n, y); }

void plain_clamp(const float *x, float *y, size_t n) { clamp_range(x, 0, n, y); }

void plain_stencil(const float *x, float *y, size_t n) { stencil_range(x, n, 0, n, y); }
