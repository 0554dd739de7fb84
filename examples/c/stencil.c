/* helios from C: a 3-point stencil with the deterministic parallel runner,
 * error handling, and cancellation.
 *
 * Build (from the repository root, after `cargo build --release`):
 *   cc -Iinclude examples/c/stencil.c -Ltarget/release -Wl,-rpath,$PWD/target/release -lhelios
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

/* The kernel: smooth y[i] = (x[i-1] + 2 x[i] + x[i+1]) / 4, edges clamped.
 * `block` holds this block's core plus `halo` neighbours on each side (fewer
 * at the ends of the array); the core starts at block[core_offset]. It runs on
 * several threads at once, so it only reads its inputs and writes core_out. */
static int smooth(const float *block, size_t block_len, size_t core_offset, size_t core_len,
                  float *core_out, void *user_data) {
    (void)user_data;
    for (size_t k = 0; k < core_len; k++) {
        size_t i = core_offset + k;
        float left = block[i > 0 ? i - 1 : 0];
        float right = block[i + 1 < block_len ? i + 1 : block_len - 1];
        core_out[k] = 0.25f * left + 0.5f * block[i] + 0.25f * right;
    }
    return 0; /* non-zero would stop the run */
}

/* Print the failed call's status and this thread's message, then exit. */
static void die(const char *what, HeliosStatus status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, helios_status_name(status), helios_last_error());
    exit(1);
}

int main(void) {
    if (helios_abi_version() != HELIOS_ABI_VERSION) {
        fprintf(stderr, "libhelios ABI %u, header ABI %d\n", helios_abi_version(), HELIOS_ABI_VERSION);
        return 1;
    }
    printf("helios %s, %zu threads by default\n", helios_version(), helios_get_num_threads());

    /* 1. A stencil over a million samples of a square wave. */
    const size_t n = 1000000;
    float *signal = malloc(n * sizeof *signal);
    float *smoothed = malloc(n * sizeof *smoothed);
    for (size_t i = 0; i < n; i++) signal[i] = (i / 1000) % 2 ? 1.0f : -1.0f;

    HeliosParallelMapOptions options = helios_parallel_map_default_options();
    options.halo = 1; /* the kernel's radius: the result equals one pass over the whole array */
    HeliosStatus status = helios_parallel_map_f32(signal, n, smoothed, n, NULL, &options, smooth, NULL);
    if (status != HELIOS_OK) die("helios_parallel_map_f32", status);
    printf("smoothed around the first edge: %.2f %.2f %.2f %.2f\n", smoothed[998], smoothed[999],
           smoothed[1000], smoothed[1001]);

    /* The same bits with one thread (the calling thread) as with many. */
    float *single = malloc(n * sizeof *single);
    options.threads = 1;
    status = helios_parallel_map_f32(signal, n, single, n, NULL, &options, smooth, NULL);
    if (status != HELIOS_OK) die("helios_parallel_map_f32", status);
    printf("1 thread and %zu threads agree bit for bit: %s\n", helios_get_num_threads(),
           memcmp(single, smoothed, n * sizeof *single) == 0 ? "yes" : "NO");

    /* 2. Errors come back as a status plus a message for this thread. An
     * output buffer that is too small: the call says how much it needs. */
    size_t needed = 0;
    status = helios_parallel_map_f32(signal, n, smoothed, 10, &needed, &options, smooth, NULL);
    printf("too small a buffer: %s (%s); needed %zu\n", helios_status_name(status), helios_last_error(), needed);

    /* 3. Cancellation: a token raised (from any thread) stops the run between blocks. */
    HeliosCancelToken *token = NULL;
    status = helios_cancel_token_new(&token);
    if (status != HELIOS_OK) die("helios_cancel_token_new", status);
    options.cancel = token;
    helios_cancel_token_cancel(token);
    status = helios_parallel_map_f32(signal, n, smoothed, n, NULL, &options, smooth, NULL);
    printf("with a cancelled token: %s (%s)\n", helios_status_name(status), helios_last_error());
    helios_cancel_token_free(token);

    free(signal);
    free(smoothed);
    free(single);
    return 0;
}
