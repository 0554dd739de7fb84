/* helios from C: the incremental Nyström engine on a stream of batches.
 * Build it on the first batch, append each later batch's features into a
 * buffer with spare rows (the cost depends on the batch only), check that
 * Phi Phi^T approximates the RBF kernel, then save, reload and compare.
 *
 * Build (from the repository root, after `cargo build --release`):
 *   cc -Iinclude examples/c/nystrom.c -Ltarget/release -Wl,-rpath,$PWD/target/release -lhelios -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

enum { D = 8, M = 128, BATCH = 500, BATCHES = 4, ROWS = BATCH * BATCHES };

static void die(const char *what, HeliosStatus status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, helios_status_name(status), helios_last_error());
    exit(1);
}
#define TRY(call) do { HeliosStatus s_ = (call); if (s_ != HELIOS_OK) die(#call, s_); } while (0)

int main(void) {
    /* Data: ROWS points in [-1, 1]^D from a small seeded generator. */
    float *x = malloc(ROWS * D * sizeof *x);
    unsigned long long state = 42;
    for (size_t i = 0; i < ROWS * D; i++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((state >> 40) / 8388608.0 - 1.0);
    }

    HeliosNystromOptions options = helios_nystrom_default_options();
    options.gamma = 0.25;
    options.landmark_count = M;
    options.selection = HELIOS_LANDMARKS_KMEANS_PLUS_PLUS;
    options.seed = 7;
    HeliosNystromEngine *engine = NULL;
    TRY(helios_nystrom_new(&options, HELIOS_DTYPE_F32, &engine));

    /* One buffer for every row the stream will bring: build fills the first
     * batch, each update appends after the rows used so far. */
    float *phi = malloc((size_t)ROWS * M * sizeof *phi);
    TRY(helios_nystrom_build_f32(engine, x, BATCH, D, D, phi, (size_t)ROWS * M, NULL));
    size_t rows = BATCH;
    for (int b = 1; b < BATCHES; b++) {
        TRY(helios_nystrom_update_inplace_f32(engine, x + rows * D, BATCH, D, D, phi, (size_t)ROWS * M, rows, NULL));
        rows += BATCH;
    }
    printf("embedded %zu rows of %d values into %d features\n", rows, D, M);

    /* Phi(a) . Phi(b) approximates k(a, b) = exp(-gamma ||a - b||^2). */
    for (size_t pair = 0; pair < 3; pair++) {
        size_t a = pair * 17, b = ROWS - 1 - pair * 29;
        double dot = 0.0, dist2 = 0.0;
        for (size_t k = 0; k < M; k++) dot += (double)phi[a * M + k] * phi[b * M + k];
        for (size_t k = 0; k < D; k++) dist2 += pow((double)x[a * D + k] - x[b * D + k], 2);
        printf("k(x%zu, x%zu) = %.4f, Phi Phi^T = %.4f\n", a, b, exp(-options.gamma * dist2), dot);
    }

    /* Save (atomically: temp file + rename), reload, and get the same bits. */
    const char *path = "nystrom_example.bin";
    TRY(helios_nystrom_save(engine, path, strlen(path)));
    HeliosNystromEngine *loaded = NULL;
    TRY(helios_nystrom_load(path, strlen(path), &loaded));
    float *again = malloc((size_t)BATCH * M * sizeof *again);
    TRY(helios_nystrom_transform_f32(loaded, x, BATCH, D, D, again, (size_t)BATCH * M, NULL));
    printf("reloaded engine gives the same bits: %s\n",
           memcmp(again, phi, (size_t)BATCH * M * sizeof *phi) == 0 ? "yes" : "NO");
    remove(path);

    /* Bad input is a status and a message, never a crash. */
    HeliosStatus status = helios_nystrom_transform_f32(loaded, x, BATCH / 2, D + 1, D + 1, again, (size_t)BATCH * M, NULL);
    printf("wrong width: %s: %s\n", helios_status_name(status), helios_last_error());

    TRY(helios_nystrom_free(loaded));
    TRY(helios_nystrom_free(engine));
    free(x), free(phi), free(again);
    return 0;
}
