/* helios from C: nearest-neighbour search with the vector index.
 * An exact (flat) index over vectors with ids of your own, a product-
 * quantized (PQ) index trained on a sample and its recall@10 against the
 * exact answer, then save, reload and compare.
 *
 * Build (from the repository root, after `cargo build --release`):
 *   cc -Iinclude examples/c/vector_search.c -Ltarget/release -Wl,-rpath,$PWD/target/release -lhelios -lm
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

enum { N = 20000, D = 32, CLUSTERS = 64, QUERIES = 200, K = 10, TRAIN = 4096 };

static void die(const char *what, HeliosStatus status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, helios_status_name(status), helios_last_error());
    exit(1);
}
#define TRY(call) do { HeliosStatus s_ = (call); if (s_ != HELIOS_OK) die(#call, s_); } while (0)

/* A uniform value in [-1, 1) from a small seeded generator. */
static float uniform(unsigned long long *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*state >> 40) / 8388608.0 - 1.0);
}

/* rows points around CLUSTERS centres in [-1, 1]^D. */
static float *clustered(size_t rows, const float *centres, unsigned long long seed) {
    float *x = malloc(rows * D * sizeof *x);
    for (size_t i = 0; i < rows; i++) {
        size_t c = (size_t)((uniform(&seed) + 1.0f) * 0.5f * CLUSTERS) % CLUSTERS;
        for (size_t t = 0; t < D; t++) x[i * D + t] = centres[c * D + t] + 0.2f * uniform(&seed);
    }
    return x;
}

int main(void) {
    unsigned long long seed = 42;
    float *centres = malloc(CLUSTERS * D * sizeof *centres);
    for (size_t i = 0; i < CLUSTERS * D; i++) centres[i] = uniform(&seed);
    float *x = clustered(N, centres, 1), *queries = clustered(QUERIES, centres, 2);
    /* ids of our own: think of them as row numbers in a database table */
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++) ids[i] = 100000 + 7 * i;

    /* 1. An exact index: add with explicit ids, search, print the hits. */
    HeliosIndexOptions options = helios_index_default_options();
    options.dim = D; /* kind HELIOS_INDEX_FLAT and metric HELIOS_METRIC_L2 are the defaults */
    HeliosVectorIndex *flat = NULL;
    TRY(helios_index_new(&options, &flat));
    TRY(helios_index_add(flat, x, N, D, ids));
    size_t count = 0;
    TRY(helios_index_count(flat, &count));

    float *flat_d = malloc(QUERIES * K * sizeof *flat_d);
    uint64_t *flat_i = malloc(QUERIES * K * sizeof *flat_i);
    TRY(helios_index_search(flat, queries, QUERIES, D, K, NULL, flat_d, QUERIES * K, flat_i, QUERIES * K, NULL));
    printf("flat index: %zu vectors of %d values; the 5 nearest to query 0:\n", count, D);
    for (size_t j = 0; j < 5; j++) printf("  id %llu at squared distance %.4f\n", (unsigned long long)flat_i[j], flat_d[j]);

    /* 2. A PQ index: 16 sub-spaces of 2 values, 256 centroids each, so a
     * vector is stored in 16 one-byte codes instead of 32 floats (128
     * bytes). Train on a sample, add, and measure recall@10 against the
     * exact answer. */
    options.kind = HELIOS_INDEX_PQ;
    options.pq_m = 16;
    options.pq_nbits = 8;
    options.train_iterations = 15;
    options.seed = 7;
    HeliosVectorIndex *pq = NULL;
    TRY(helios_index_new(&options, &pq));
    TRY(helios_index_train(pq, x, TRAIN, D));
    TRY(helios_index_add(pq, x, N, D, ids));
    float *pq_d = malloc(QUERIES * K * sizeof *pq_d);
    uint64_t *pq_i = malloc(QUERIES * K * sizeof *pq_i);
    TRY(helios_index_search(pq, queries, QUERIES, D, K, NULL, pq_d, QUERIES * K, pq_i, QUERIES * K, NULL));
    size_t found = 0;
    for (size_t q = 0; q < QUERIES; q++)
        for (size_t a = 0; a < K; a++)
            for (size_t b = 0; b < K; b++) found += pq_i[q * K + a] == flat_i[q * K + b];
    bool trained = false;
    TRY(helios_index_is_trained(pq, &trained));
    printf("PQ index (trained: %s): %zu bytes per vector instead of %zu, recall@%d against flat = %.3f\n",
           trained ? "yes" : "no", options.pq_m, D * sizeof(float), K, (double)found / (QUERIES * K));

    /* 3. Save (atomically: temp file + rename), reload, same answers. */
    const char *path = "vector_search_example.bin";
    TRY(helios_index_save(pq, path, strlen(path)));
    HeliosVectorIndex *loaded = NULL;
    TRY(helios_index_load(path, strlen(path), &loaded));
    float *again_d = malloc(QUERIES * K * sizeof *again_d);
    uint64_t *again_i = malloc(QUERIES * K * sizeof *again_i);
    TRY(helios_index_search(loaded, queries, QUERIES, D, K, NULL, again_d, QUERIES * K, again_i, QUERIES * K, NULL));
    int same = memcmp(again_d, pq_d, QUERIES * K * sizeof *pq_d) == 0 &&
               memcmp(again_i, pq_i, QUERIES * K * sizeof *pq_i) == 0;
    printf("reloaded PQ index gives the same hits: %s\n", same ? "yes" : "NO");
    remove(path);

    /* 4. Remove vectors by id: they stop showing up. */
    TRY(helios_index_remove(flat, flat_i, 3)); /* query 0's three nearest */
    TRY(helios_index_search(flat, queries, 1, D, K, NULL, flat_d, K, flat_i + K, K, NULL));
    printf("after removing ids %llu, %llu, %llu the nearest is id %llu\n", (unsigned long long)flat_i[0],
           (unsigned long long)flat_i[1], (unsigned long long)flat_i[2], (unsigned long long)flat_i[K]);

    /* Bad input is a status and a message, never a crash. */
    HeliosStatus status = helios_index_search(flat, queries, 1, D - 1, K, NULL, flat_d, K, flat_i, K, NULL);
    printf("wrong dimension: %s: %s\n", helios_status_name(status), helios_last_error());
    status = helios_index_add(flat, x, 1, D, ids + 5); /* id already present */
    printf("duplicate id: %s: %s\n", helios_status_name(status), helios_last_error());

    helios_index_free(loaded);
    helios_index_free(pq);
    helios_index_free(flat);
    free(centres), free(x), free(queries), free(ids), free(flat_d), free(flat_i), free(pq_d), free(pq_i);
    free(again_d), free(again_i);
    return 0;
}
