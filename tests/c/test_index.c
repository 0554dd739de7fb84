/* The vector index from C: flat search against a brute-force loop in double
 * precision and hand-computed cases, exact ties, padding, custom and
 * sequential ids, remove and reconstruct, product quantization (recall
 * against flat, ADC distances against the reconstructed vectors), the same
 * bits for every thread count and every batch, save/load and byte round
 * trips, readers and a writer on one handle from several pthreads, and every
 * kind of bad input. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helios.h"
#include "check.h"
#include "data.h"

#define PATH_ARG(p) (p), strlen(p)

static HeliosVectorIndex *flat_new(int32_t metric, size_t dim) {
    HeliosIndexOptions options = helios_index_default_options();
    options.metric = metric;
    options.dim = dim;
    HeliosVectorIndex *index = NULL;
    CHECK(helios_index_new(&options, &index) == HELIOS_OK);
    return index;
}

static HeliosVectorIndex *pq_new(int32_t metric, size_t dim, size_t m, uint32_t nbits, size_t iterations,
                                 uint64_t seed, size_t threads) {
    HeliosIndexOptions options = helios_index_default_options();
    options.kind = HELIOS_INDEX_PQ;
    options.metric = metric;
    options.dim = dim;
    options.pq_m = m;
    options.pq_nbits = nbits;
    options.train_iterations = iterations;
    options.seed = seed;
    options.threads = threads;
    HeliosVectorIndex *index = NULL;
    CHECK(helios_index_new(&options, &index) == HELIOS_OK);
    return index;
}

/* `count` floats uniform in [-1, 1). */
static float *noise_f32(size_t count, uint64_t seed) {
    double *v = noise(count, seed);
    float *f = to_f32(v, count);
    free(v);
    return f;
}

/* n points around `clusters` centres in [-1, 1)^dim, spread 0.15 per value. */
static float *clustered(size_t n, size_t dim, size_t clusters, uint64_t seed) {
    double *centres = noise(clusters * dim, seed), *jitter = noise(n * dim, seed + 1000);
    float *x = malloc(n * dim * sizeof *x);
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < dim; t++)
            x[i * dim + t] = (float)(centres[(i % clusters) * dim + t] + 0.15 * jitter[i * dim + t]);
    free(centres), free(jitter);
    return x;
}

/* One reference hit: the key it is ranked by (smaller is better), its id,
 * its distance or score, and the scale its tolerance is relative to. */
typedef struct {
    double key;
    uint64_t id;
    double value, scale;
} RefHit;

static int by_key_then_id(const void *a, const void *b) {
    const RefHit *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The reference: the k best of the n rows of x (those with present[i] when
 * `present` is not NULL) for each query, in double precision, sorted by
 * (key, id), padded with HELIOS_NO_ID and +-INFINITY. Writes nq x k values,
 * ids and tolerance scales (||q||^2 + ||x||^2 for L2, ||q|| ||x|| for the
 * inner product). */
static void brute_force(const float *x, const uint64_t *ids, const unsigned char *present, size_t n, size_t dim,
                        const float *queries, size_t nq, size_t k, int32_t metric, double *values,
                        uint64_t *out_ids, double *scales) {
    RefHit *hits = malloc((n ? n : 1) * sizeof *hits);
    for (size_t q = 0; q < nq; q++) {
        const float *qv = queries + q * dim;
        size_t count = 0;
        for (size_t i = 0; i < n; i++) {
            if (present && !present[i]) continue;
            const float *xv = x + i * dim;
            double dot = 0.0, qq = 0.0, xx = 0.0, l2 = 0.0;
            for (size_t t = 0; t < dim; t++) {
                double a = qv[t], b = xv[t];
                dot += a * b, qq += a * a, xx += b * b, l2 += (a - b) * (a - b);
            }
            RefHit hit = {metric == HELIOS_METRIC_L2 ? l2 : -dot, ids[i], metric == HELIOS_METRIC_L2 ? l2 : dot,
                          metric == HELIOS_METRIC_L2 ? qq + xx : sqrt(qq * xx)};
            hits[count++] = hit;
        }
        qsort(hits, count, sizeof *hits, by_key_then_id);
        for (size_t j = 0; j < k; j++) {
            if (j < count) {
                values[q * k + j] = hits[j].value, out_ids[q * k + j] = hits[j].id, scales[q * k + j] = hits[j].scale;
            } else {
                values[q * k + j] = metric == HELIOS_METRIC_L2 ? INFINITY : -INFINITY;
                out_ids[q * k + j] = HELIOS_NO_ID, scales[q * k + j] = 0.0;
            }
        }
    }
    free(hits);
}

/* The index's hits against the reference: the same ids, distances within
 * `tol` times each hit's scale, and padding exactly as the reference pads. */
static bool same_hits(const float *distances, const uint64_t *ids, const double *values, const uint64_t *ref_ids,
                      const double *scales, size_t count, double tol) {
    for (size_t i = 0; i < count; i++) {
        if (ids[i] != ref_ids[i]) return false;
        if (isinf(values[i])) {
            if ((double)distances[i] != values[i]) return false;
        } else if (!(fabs((double)distances[i] - values[i]) <= tol * scales[i] + 1e-30)) {
            return false;
        }
    }
    return true;
}

/* Search and compare with brute force in one go. */
static void check_search(HeliosVectorIndex *index, const float *x, const uint64_t *ids, const unsigned char *present,
                         size_t n, size_t dim, const float *queries, size_t nq, size_t k, int32_t metric) {
    float *distances = malloc(nq * k * sizeof *distances);
    uint64_t *got = malloc(nq * k * sizeof *got), *ref_ids = malloc(nq * k * sizeof *ref_ids);
    double *values = malloc(nq * k * sizeof *values), *scales = malloc(nq * k * sizeof *scales);
    size_t needed = 0;
    CHECK(helios_index_search(index, queries, nq, dim, k, NULL, distances, nq * k, got, nq * k, &needed) == HELIOS_OK);
    CHECK(needed == nq * k);
    brute_force(x, ids, present, n, dim, queries, nq, k, metric, values, ref_ids, scales);
    CHECK(same_hits(distances, got, values, ref_ids, scales, nq * k, 1e-5));
    free(distances), free(got), free(ref_ids), free(values), free(scales);
}

static void test_defaults_and_options(void) {
    HeliosIndexOptions options = helios_index_default_options();
    CHECK(options.struct_size == sizeof options);
    CHECK(options.kind == HELIOS_INDEX_FLAT && options.metric == HELIOS_METRIC_L2 && options.dim == 0);
    CHECK(options.pq_m == 16 && options.pq_nbits == 8 && options.train_iterations == 25);
    CHECK(options.seed == 0 && options.threads == HELIOS_AUTO);
    HeliosSearchOptions search = helios_index_default_search_options();
    CHECK(search.struct_size == sizeof search && search.threads == HELIOS_AUTO);
    CHECK(HELIOS_NO_ID == UINT64_MAX && (int64_t)HELIOS_NO_ID == -1);

    HeliosVectorIndex *index = pq_new(HELIOS_METRIC_INNER_PRODUCT, 12, 3, 5, 7, 99, 2);
    HeliosIndexOptions got;
    memset(&got, 0xab, sizeof got);
    CHECK(helios_index_get_options(index, &got) == HELIOS_OK);
    CHECK(got.struct_size == sizeof got && got.kind == HELIOS_INDEX_PQ && got.metric == HELIOS_METRIC_INNER_PRODUCT);
    CHECK(got.dim == 12 && got.pq_m == 3 && got.pq_nbits == 5 && got.train_iterations == 7 && got.seed == 99);
    CHECK(got.threads == 2);
    CHECK(helios_index_set_threads(index, 3) == HELIOS_OK);
    CHECK(helios_index_get_options(index, &got) == HELIOS_OK && got.threads == 3);
    CHECK(helios_index_set_threads(index, HELIOS_AUTO) == HELIOS_OK);
    CHECK(helios_index_get_options(index, &got) == HELIOS_OK && got.threads == HELIOS_AUTO);
    bool trained = true;
    size_t count = 99;
    CHECK(helios_index_is_trained(index, &trained) == HELIOS_OK && !trained);
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 0);
    helios_index_free(index);

    index = flat_new(HELIOS_METRIC_L2, 5);
    CHECK(helios_index_is_trained(index, &trained) == HELIOS_OK && trained);
    CHECK(helios_index_get_options(index, &got) == HELIOS_OK);
    CHECK(got.kind == HELIOS_INDEX_FLAT && got.metric == HELIOS_METRIC_L2 && got.dim == 5 && got.threads == HELIOS_AUTO);
    helios_index_free(index);
    helios_index_free(NULL); /* a no-op */
}

/* Small integer coordinates: every distance is exact in f32, so the
 * hand-computed values must come back bit for bit. */
static void test_hand_computed_cases(void) {
    /* inserted out of id order; 14 repeats 11 */
    const float points[] = {3, 4, 1, 0, 0, 0, 0, 2, 3, 4};
    const uint64_t ids[] = {14, 12, 10, 13, 11};
    const float query[] = {1, 1};
    float distances[7];
    uint64_t got[7];

    HeliosVectorIndex *index = flat_new(HELIOS_METRIC_L2, 2);
    CHECK(helios_index_add(index, points, 5, 2, ids) == HELIOS_OK);
    /* (1,1) to (1,0): 1; to (0,0) and (0,2): 2, the tie to the smaller id;
     * to (3,4) twice: 13 */
    CHECK(helios_index_search(index, query, 1, 2, 7, NULL, distances, 7, got, 7, NULL) == HELIOS_OK);
    const uint64_t l2_ids[] = {12, 10, 13, 11, 14, HELIOS_NO_ID, HELIOS_NO_ID};
    const float l2_distances[] = {1, 2, 2, 13, 13, INFINITY, INFINITY};
    CHECK(memcmp(got, l2_ids, sizeof got) == 0);
    CHECK(memcmp(distances, l2_distances, sizeof distances) == 0);
    /* a stored point searched for is at distance exactly 0 */
    CHECK(helios_index_search(index, points + 6, 1, 2, 2, NULL, distances, 7, got, 7, NULL) == HELIOS_OK);
    CHECK(got[0] == 13 && distances[0] == 0.0f && got[1] == 10 && distances[1] == 4.0f);
    helios_index_free(index);

    index = flat_new(HELIOS_METRIC_INNER_PRODUCT, 2);
    CHECK(helios_index_add(index, points, 5, 2, ids) == HELIOS_OK);
    /* (1,1) . (3,4) = 7 twice, (0,2) = 2, (1,0) = 1, (0,0) = 0 */
    CHECK(helios_index_search(index, query, 1, 2, 7, NULL, distances, 7, got, 7, NULL) == HELIOS_OK);
    const uint64_t ip_ids[] = {11, 14, 13, 12, 10, HELIOS_NO_ID, HELIOS_NO_ID};
    const float ip_scores[] = {7, 7, 2, 1, 0, -INFINITY, -INFINITY};
    CHECK(memcmp(got, ip_ids, sizeof got) == 0);
    for (size_t j = 0; j < 7; j++) CHECK(distances[j] == ip_scores[j]);
    helios_index_free(index);

    /* an empty index pads the whole row */
    index = flat_new(HELIOS_METRIC_L2, 2);
    CHECK(helios_index_search(index, query, 1, 2, 3, NULL, distances, 7, got, 7, NULL) == HELIOS_OK);
    CHECK(got[0] == HELIOS_NO_ID && got[2] == HELIOS_NO_ID && distances[0] == INFINITY && distances[2] == INFINITY);
    helios_index_free(index);
}

static void test_flat_matches_brute_force(void) {
    const size_t n = 600, dim = 24, nq = 20, k = 10;
    float *x = noise_f32(n * dim, 1), *queries = noise_f32(nq * dim, 2);
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = i;
    for (int32_t metric = HELIOS_METRIC_L2; metric <= HELIOS_METRIC_INNER_PRODUCT; metric++) {
        HeliosVectorIndex *index = flat_new(metric, dim);
        CHECK(helios_index_add(index, x, n, dim, NULL) == HELIOS_OK);
        check_search(index, x, ids, NULL, n, dim, queries, nq, k, metric);
        /* k above the count: every vector, then padding */
        HeliosVectorIndex *small = flat_new(metric, dim);
        CHECK(helios_index_add(small, x, 6, dim, NULL) == HELIOS_OK);
        check_search(small, x, ids, NULL, 6, dim, queries, nq, 9, metric);
        helios_index_free(small);
        helios_index_free(index);
    }
    free(x), free(queries), free(ids);
}

/* Every vector stored three times under scrambled ids: the copies tie with
 * the same bits, in id order, whatever the insertion order. */
static void test_duplicates_tie_exactly(void) {
    const size_t base = 50, n = 3 * base, dim = 10, nq = 8, k = 9;
    float *unique = noise_f32(base * dim, 3), *queries = noise_f32(nq * dim, 4);
    float *x = malloc(n * dim * sizeof *x);
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        memcpy(x + i * dim, unique + (i % base) * dim, dim * sizeof *x);
        ids[i] = (uint64_t)((n - i) * 7919 % 100003); /* distinct, falling and rising */
    }
    float distances[8 * 9];
    uint64_t got[8 * 9];
    for (int32_t metric = HELIOS_METRIC_L2; metric <= HELIOS_METRIC_INNER_PRODUCT; metric++) {
        HeliosVectorIndex *index = flat_new(metric, dim);
        CHECK(helios_index_add(index, x, n, dim, ids) == HELIOS_OK);
        check_search(index, x, ids, NULL, n, dim, queries, nq, k, metric);
        CHECK(helios_index_search(index, queries, nq, dim, k, NULL, distances, nq * k, got, nq * k, NULL) == HELIOS_OK);
        int triples = 1;
        for (size_t q = 0; q < nq; q++)
            for (size_t j = 0; j < k; j += 3) {
                const float *d = distances + q * k + j;
                const uint64_t *id = got + q * k + j;
                triples &= memcmp(d, d + 1, sizeof *d) == 0 && memcmp(d, d + 2, sizeof *d) == 0;
                triples &= id[0] < id[1] && id[1] < id[2];
            }
        CHECK(triples);
        helios_index_free(index);
    }
    free(unique), free(queries), free(x), free(ids);
}

/* One query alone gets the bits it gets in a batch (of more than one block of
 * queries), for flat and PQ. */
static void test_single_query_equals_batch(void) {
    const size_t n = 400, dim = 16, nq = 70, k = 5;
    float *x = clustered(n, dim, 10, 5), *queries = noise_f32(nq * dim, 6);
    float *batch_d = malloc(nq * k * sizeof *batch_d), alone_d[5];
    uint64_t *batch_i = malloc(nq * k * sizeof *batch_i), alone_i[5];
    for (int kind = 0; kind <= 1; kind++)
        for (int32_t metric = HELIOS_METRIC_L2; metric <= HELIOS_METRIC_INNER_PRODUCT; metric++) {
            HeliosVectorIndex *index =
                kind == 0 ? flat_new(metric, dim) : pq_new(metric, dim, 4, 4, 5, 1, HELIOS_AUTO);
            CHECK(helios_index_train(index, x, n, dim) == HELIOS_OK);
            CHECK(helios_index_add(index, x, n, dim, NULL) == HELIOS_OK);
            CHECK(helios_index_search(index, queries, nq, dim, k, NULL, batch_d, nq * k, batch_i, nq * k, NULL) ==
                  HELIOS_OK);
            int same = 1;
            for (size_t q = 0; q < nq; q++) {
                CHECK(helios_index_search(index, queries + q * dim, 1, dim, k, NULL, alone_d, k, alone_i, k, NULL) ==
                      HELIOS_OK);
                same &= memcmp(alone_d, batch_d + q * k, sizeof alone_d) == 0;
                same &= memcmp(alone_i, batch_i + q * k, sizeof alone_i) == 0;
            }
            CHECK(same);
            helios_index_free(index);
        }
    free(x), free(queries), free(batch_d), free(batch_i);
}

static void test_ids_remove_count_reconstruct(void) {
    const size_t n = 120, dim = 6, nq = 10, k = 8;
    float *x = noise_f32(n * dim, 7), *queries = noise_f32(nq * dim, 8);
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = 1000000 + (i * 37) % n * 11; /* custom, out of order */
    unsigned char present[120];
    memset(present, 1, sizeof present);
    float row[6];
    size_t count = 0;

    HeliosVectorIndex *index = flat_new(HELIOS_METRIC_L2, dim);
    CHECK(helios_index_add(index, x, n / 2, dim, ids) == HELIOS_OK);
    CHECK(helios_index_add(index, x + n / 2 * dim, n - n / 2, dim, ids + n / 2) == HELIOS_OK);
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == n);
    check_search(index, x, ids, present, n, dim, queries, nq, k, HELIOS_METRIC_L2);
    int exact = 1;
    for (size_t i = 0; i < n; i++) {
        CHECK(helios_index_reconstruct(index, ids[i], row, dim) == HELIOS_OK);
        exact &= memcmp(row, x + i * dim, sizeof row) == 0;
    }
    CHECK(exact);

    /* remove every third vector (in a scrambled order), then the nearest of
     * what remains */
    uint64_t gone[40];
    size_t n_gone = 0;
    for (size_t i = n; i-- > 0;)
        if (i % 3 == 1) gone[n_gone++] = ids[i], present[i] = 0;
    CHECK(helios_index_remove(index, gone, n_gone) == HELIOS_OK);
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == n - n_gone);
    check_search(index, x, ids, present, n, dim, queries, nq, k, HELIOS_METRIC_L2);
    CHECK_STATUS(helios_index_reconstruct(index, gone[0], row, dim), HELIOS_ERR_INVALID_ARGUMENT, "not in the index");
    exact = 1;
    for (size_t i = 0; i < n; i++)
        if (present[i]) {
            CHECK(helios_index_reconstruct(index, ids[i], row, dim) == HELIOS_OK);
            exact &= memcmp(row, x + i * dim, sizeof row) == 0;
        }
    CHECK(exact);
    /* a removed id may be added again, with another vector */
    CHECK(helios_index_add(index, x, 1, dim, gone) == HELIOS_OK);
    CHECK(helios_index_reconstruct(index, gone[0], row, dim) == HELIOS_OK && memcmp(row, x, sizeof row) == 0);
    CHECK(helios_index_remove(index, gone, 1) == HELIOS_OK);
    check_search(index, x, ids, present, n, dim, queries, nq, k, HELIOS_METRIC_L2);
    /* removing everything leaves an empty index that pads */
    uint64_t rest[120];
    size_t n_rest = 0;
    for (size_t i = 0; i < n; i++)
        if (present[i]) rest[n_rest++] = ids[i];
    CHECK(helios_index_remove(index, rest, n_rest) == HELIOS_OK);
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 0);
    memset(present, 0, sizeof present);
    check_search(index, x, ids, present, n, dim, queries, nq, k, HELIOS_METRIC_L2);
    helios_index_free(index);

    /* sequential ids: 0, 1, 2 on a fresh index, then one past the largest id
     * ever added, even after it was removed */
    index = flat_new(HELIOS_METRIC_INNER_PRODUCT, dim);
    CHECK(helios_index_add(index, x, 3, dim, NULL) == HELIOS_OK);
    for (uint64_t id = 0; id < 3; id++) {
        CHECK(helios_index_reconstruct(index, id, row, dim) == HELIOS_OK);
        CHECK(memcmp(row, x + id * dim, sizeof row) == 0);
    }
    const uint64_t custom[] = {100, 50};
    CHECK(helios_index_add(index, x + 3 * dim, 2, dim, custom) == HELIOS_OK);
    CHECK(helios_index_remove(index, custom, 1) == HELIOS_OK);
    CHECK(helios_index_add(index, x + 5 * dim, 2, dim, NULL) == HELIOS_OK);
    CHECK(helios_index_reconstruct(index, 101, row, dim) == HELIOS_OK && memcmp(row, x + 5 * dim, sizeof row) == 0);
    CHECK(helios_index_reconstruct(index, 102, row, dim) == HELIOS_OK && memcmp(row, x + 6 * dim, sizeof row) == 0);
    CHECK_STATUS(helios_index_reconstruct(index, 100, row, dim), HELIOS_ERR_INVALID_ARGUMENT, "id 100 is not");
    CHECK_STATUS(helios_index_reconstruct(index, 3, row, dim), HELIOS_ERR_INVALID_ARGUMENT, "id 3 is not");
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 6);
    /* ids 0 1 2 50 101 102 hold rows 0 1 2 4 5 6 */
    const uint64_t held[] = {0, 1, 2, 50, 101, 102};
    float stored[6 * 6];
    memcpy(stored, x, 3 * dim * sizeof *x);
    memcpy(stored + 3 * dim, x + 4 * dim, 3 * dim * sizeof *x);
    check_search(index, stored, held, NULL, 6, dim, queries, nq, 10, HELIOS_METRIC_INNER_PRODUCT);
    helios_index_free(index);
    free(x), free(queries), free(ids);
}

/* Recall@10 of PQ against flat on clustered data, the ADC distances against
 * the exact distance to the reconstructed vectors, and the training rules. */
static void test_pq(void) {
    const size_t n = 1000, dim = 16, nq = 40, k = 10, m = 8;
    const uint32_t nbits = 6; /* 64 centroids per sub-space of 2 values */
    float *x = clustered(n, dim, 25, 9), *queries = clustered(nq, dim, 25, 10);
    HeliosVectorIndex *pq = pq_new(HELIOS_METRIC_L2, dim, m, nbits, 10, 3, HELIOS_AUTO);
    HeliosVectorIndex *flat = flat_new(HELIOS_METRIC_L2, dim);
    float *pq_d = malloc(nq * k * sizeof *pq_d), *flat_d = malloc(nq * k * sizeof *flat_d);
    uint64_t *pq_i = malloc(nq * k * sizeof *pq_i), *flat_i = malloc(nq * k * sizeof *flat_i);
    bool trained = true;

    CHECK(helios_index_is_trained(pq, &trained) == HELIOS_OK && !trained);
    CHECK_STATUS(helios_index_search(pq, queries, nq, dim, k, NULL, pq_d, nq * k, pq_i, nq * k, NULL),
                 HELIOS_ERR_INVALID_STATE, "not trained");
    CHECK_STATUS(helios_index_add(pq, x, n, dim, NULL), HELIOS_ERR_INVALID_STATE, "not trained");
    CHECK_STATUS(helios_index_train(pq, x, 63, dim), HELIOS_ERR_INVALID_ARGUMENT, "at least 64 vectors");
    CHECK(helios_index_is_trained(pq, &trained) == HELIOS_OK && !trained);
    CHECK(helios_index_train(pq, x + 500 * dim, 64, dim) == HELIOS_OK); /* exactly 2^nbits is enough */
    CHECK(helios_index_train(pq, x, n, dim) == HELIOS_OK);               /* retrained while empty */
    CHECK(helios_index_is_trained(pq, &trained) == HELIOS_OK && trained);
    CHECK(helios_index_add(pq, x, n, dim, NULL) == HELIOS_OK);
    CHECK_STATUS(helios_index_train(pq, x, n, dim), HELIOS_ERR_INVALID_STATE, "remove them");
    size_t count = 0;
    CHECK(helios_index_count(pq, &count) == HELIOS_OK && count == n);
    CHECK(helios_index_add(flat, x, n, dim, NULL) == HELIOS_OK);

    CHECK(helios_index_search(pq, queries, nq, dim, k, NULL, pq_d, nq * k, pq_i, nq * k, NULL) == HELIOS_OK);
    CHECK(helios_index_search(flat, queries, nq, dim, k, NULL, flat_d, nq * k, flat_i, nq * k, NULL) == HELIOS_OK);
    size_t found = 0;
    int sorted = 1;
    for (size_t q = 0; q < nq; q++)
        for (size_t j = 0; j < k; j++) {
            for (size_t l = 0; l < k; l++) found += pq_i[q * k + j] == flat_i[q * k + l];
            if (j > 0) sorted &= pq_d[q * k + j - 1] <= pq_d[q * k + j];
        }
    double recall = (double)found / (double)(nq * k);
    printf("PQ recall@10 against flat: %.3f (n %zu, dim %zu, M %zu, %u bits)\n", recall, n, dim, m, nbits);
    CHECK(recall >= 0.55); /* 0.698 measured */
    CHECK(sorted);

    /* ADC distance = the exact distance from the query to the reconstructed
     * vector; checked over every stored vector for a few queries */
    const size_t few = 3;
    float *all_d = malloc(few * n * sizeof *all_d), recon[16];
    uint64_t *all_i = malloc(few * n * sizeof *all_i);
    CHECK(helios_index_search(pq, queries, few, dim, n, NULL, all_d, few * n, all_i, few * n, NULL) == HELIOS_OK);
    double worst = 0.0;
    int every_id = 1;
    for (size_t q = 0; q < few; q++)
        for (size_t j = 0; j < n; j++) {
            every_id &= all_i[q * n + j] < n;
            if (helios_index_reconstruct(pq, all_i[q * n + j], recon, dim) != HELIOS_OK) continue;
            double exact = 0.0;
            for (size_t t = 0; t < dim; t++) exact += pow((double)queries[q * dim + t] - recon[t], 2);
            worst = fmax(worst, fabs(all_d[q * n + j] - exact) / fmax(exact, 1e-12));
        }
    CHECK(every_id);
    CHECK(worst < 1e-4);
    /* a reconstructed vector is near its original */
    double err = 0.0, norm = 0.0;
    for (size_t i = 0; i < n; i++) {
        CHECK(helios_index_reconstruct(pq, i, recon, dim) == HELIOS_OK);
        for (size_t t = 0; t < dim; t++) err += pow(recon[t] - x[i * dim + t], 2), norm += pow(x[i * dim + t], 2);
    }
    CHECK(err < 0.05 * norm);

    /* removing everything allows training again */
    uint64_t *all = malloc(n * sizeof *all);
    for (size_t i = 0; i < n; i++) all[i] = i;
    CHECK(helios_index_remove(pq, all, n) == HELIOS_OK);
    CHECK(helios_index_train(pq, x, 64, dim) == HELIOS_OK);
    helios_index_free(pq);
    helios_index_free(flat);

    /* inner product: the ADC score is q . reconstruction */
    pq = pq_new(HELIOS_METRIC_INNER_PRODUCT, dim, 4, 4, 10, 1, HELIOS_AUTO);
    CHECK(helios_index_train(pq, x, n, dim) == HELIOS_OK);
    CHECK(helios_index_add(pq, x, 300, dim, all + 100) == HELIOS_OK); /* ids 100..399 */
    CHECK(helios_index_search(pq, queries, few, dim, 300, NULL, all_d, few * n, all_i, few * n, NULL) == HELIOS_OK);
    worst = 0.0;
    sorted = 1;
    for (size_t q = 0; q < few; q++)
        for (size_t j = 0; j < 300; j++) {
            CHECK(helios_index_reconstruct(pq, all_i[q * 300 + j], recon, dim) == HELIOS_OK);
            double dot = 0.0, qq = 0.0, rr = 0.0;
            for (size_t t = 0; t < dim; t++) {
                dot += (double)queries[q * dim + t] * recon[t];
                qq += pow(queries[q * dim + t], 2), rr += pow(recon[t], 2);
            }
            worst = fmax(worst, fabs(all_d[q * 300 + j] - dot) / sqrt(qq * rr));
            if (j > 0) sorted &= all_d[q * 300 + j - 1] >= all_d[q * 300 + j];
        }
    CHECK(worst < 1e-4);
    CHECK(sorted);
    helios_index_free(pq);
    free(x), free(queries), free(pq_d), free(flat_d), free(pq_i), free(flat_i), free(all_d), free(all_i), free(all);
}

/* The same bits for 1, 2 and 3 threads, named per search or set on the
 * index, with enough vectors (more than one range of 8192) and queries
 * (more than one block of 64) for the work to be split in several ways; PQ
 * training and encoding give the same bytes too. */
static void test_same_bits_for_every_thread_count(void) {
    const size_t n = 9000, dim = 8, nq = 66, k = 6, n_train = 1500;
    float *x = clustered(n, dim, 40, 11), *queries = noise_f32(nq * dim, 12);
    float *one_d = malloc(nq * k * sizeof *one_d), *other_d = malloc(nq * k * sizeof *other_d);
    uint64_t *one_i = malloc(nq * k * sizeof *one_i), *other_i = malloc(nq * k * sizeof *other_i);
    uint64_t *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++) ids[i] = i;
    unsigned char *first_bytes = NULL;
    size_t first_len = 0;

    for (int kind = 0; kind <= 1; kind++) {
        for (size_t threads = 1; threads <= 3; threads++) {
            HeliosVectorIndex *index = kind == 0 ? flat_new(HELIOS_METRIC_L2, dim)
                                                 : pq_new(HELIOS_METRIC_L2, dim, 4, 5, 6, 21, threads);
            if (kind == 0) CHECK(helios_index_set_threads(index, threads) == HELIOS_OK);
            CHECK(helios_index_train(index, x, n_train, dim) == HELIOS_OK);
            CHECK(helios_index_add(index, x, n, dim, NULL) == HELIOS_OK);
            /* the bytes: codebooks and codes are the same for every count */
            size_t len = 0;
            CHECK(helios_index_to_bytes(index, NULL, 0, &len) == HELIOS_ERR_BUFFER_TOO_SMALL);
            unsigned char *bytes = malloc(len);
            CHECK(helios_index_to_bytes(index, bytes, len, NULL) == HELIOS_OK);
            if (threads == 1) {
                first_bytes = bytes, first_len = len;
                /* the index's own setting */
                CHECK(helios_index_search(index, queries, nq, dim, k, NULL, one_d, nq * k, one_i, nq * k, NULL) ==
                      HELIOS_OK);
                if (kind == 0) {
                    double *values = malloc(nq * k * sizeof *values), *scales = malloc(nq * k * sizeof *scales);
                    uint64_t *ref = malloc(nq * k * sizeof *ref);
                    brute_force(x, ids, NULL, n, dim, queries, nq, k, HELIOS_METRIC_L2, values, ref, scales);
                    CHECK(same_hits(one_d, one_i, values, ref, scales, nq * k, 1e-5));
                    free(values), free(scales), free(ref);
                }
            } else {
                CHECK(len == first_len && memcmp(bytes, first_bytes, len) == 0);
                free(bytes);
                CHECK(helios_index_search(index, queries, nq, dim, k, NULL, other_d, nq * k, other_i, nq * k, NULL) ==
                      HELIOS_OK);
                CHECK(memcmp(one_d, other_d, nq * k * sizeof *one_d) == 0);
                CHECK(memcmp(one_i, other_i, nq * k * sizeof *one_i) == 0);
            }
            /* per-search thread counts override the index's */
            for (size_t t = 1; t <= 3; t++) {
                HeliosSearchOptions options = helios_index_default_search_options();
                options.threads = t;
                CHECK(helios_index_search(index, queries, nq, dim, k, &options, other_d, nq * k, other_i, nq * k,
                                          NULL) == HELIOS_OK);
                CHECK(memcmp(one_d, other_d, nq * k * sizeof *one_d) == 0);
                CHECK(memcmp(one_i, other_i, nq * k * sizeof *one_i) == 0);
            }
            helios_index_free(index);
        }
        free(first_bytes);
        first_bytes = NULL;
    }
    free(x), free(queries), free(one_d), free(other_d), free(one_i), free(other_i), free(ids);
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

/* Search results of two indexes on the same queries, bit for bit. */
static bool same_search(HeliosVectorIndex *a, HeliosVectorIndex *b, const float *queries, size_t nq, size_t dim,
                        size_t k) {
    float *da = malloc(nq * k * sizeof *da), *db = malloc(nq * k * sizeof *db);
    uint64_t *ia = malloc(nq * k * sizeof *ia), *ib = malloc(nq * k * sizeof *ib);
    bool same = helios_index_search(a, queries, nq, dim, k, NULL, da, nq * k, ia, nq * k, NULL) == HELIOS_OK &&
                helios_index_search(b, queries, nq, dim, k, NULL, db, nq * k, ib, nq * k, NULL) == HELIOS_OK &&
                memcmp(da, db, nq * k * sizeof *da) == 0 && memcmp(ia, ib, nq * k * sizeof *ia) == 0;
    free(da), free(db), free(ia), free(ib);
    return same;
}

static void test_save_load_and_bytes(void) {
    const size_t n = 300, dim = 8, nq = 12, k = 7;
    float *x = clustered(n, dim, 6, 13), *queries = noise_f32(nq * dim, 14);
    char path[64], broken[64];
    snprintf(path, sizeof path, "/tmp/helios_test_index_%d.bin", (int)getpid());
    snprintf(broken, sizeof broken, "/tmp/helios_test_index_%d.bad", (int)getpid());
    const uint64_t removed[] = {3, 17, 250};

    for (int kind = 0; kind <= 1; kind++) {
        HeliosVectorIndex *index = kind == 0 ? flat_new(HELIOS_METRIC_INNER_PRODUCT, dim)
                                             : pq_new(HELIOS_METRIC_L2, dim, 2, 4, 6, 5, 2);
        CHECK(helios_index_train(index, x, n, dim) == HELIOS_OK);
        CHECK(helios_index_add(index, x, n, dim, NULL) == HELIOS_OK);
        CHECK(helios_index_remove(index, removed, 3) == HELIOS_OK);
        CHECK(helios_index_save(index, PATH_ARG(path)) == HELIOS_OK);
        CHECK(helios_index_save(index, PATH_ARG(path)) == HELIOS_OK); /* over an existing file */

        HeliosVectorIndex *loaded = NULL, *copy = NULL;
        CHECK(helios_index_load(PATH_ARG(path), &loaded) == HELIOS_OK);
        HeliosIndexOptions a, b;
        CHECK(helios_index_get_options(index, &a) == HELIOS_OK && helios_index_get_options(loaded, &b) == HELIOS_OK);
        CHECK(a.kind == b.kind && a.metric == b.metric && a.dim == b.dim && a.pq_m == b.pq_m &&
              a.pq_nbits == b.pq_nbits && a.train_iterations == b.train_iterations && a.seed == b.seed);
        CHECK(b.threads == HELIOS_AUTO);
        size_t count = 0;
        CHECK(helios_index_count(loaded, &count) == HELIOS_OK && count == n - 3);
        CHECK(same_search(index, loaded, queries, nq, dim, k));

        size_t len = 0, needed = 0;
        unsigned char *file = read_all(path, &len);
        CHECK(file != NULL && len > 100);
        /* a NULL buffer of capacity 0 asks for the size */
        CHECK_STATUS(helios_index_to_bytes(index, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "are needed");
        CHECK(needed == len);
        unsigned char *bytes = malloc(len), *again = malloc(len);
        CHECK_STATUS(helios_index_to_bytes(index, bytes, len - 1, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "are needed");
        CHECK(helios_index_to_bytes(index, bytes, len, NULL) == HELIOS_OK);
        CHECK(memcmp(bytes, file, len) == 0); /* the bytes of the file */
        CHECK(helios_index_from_bytes(bytes, len, &copy) == HELIOS_OK);
        CHECK(same_search(index, copy, queries, nq, dim, k));
        CHECK(helios_index_to_bytes(copy, again, len, &needed) == HELIOS_OK && needed == len);
        CHECK(memcmp(bytes, again, len) == 0);
        CHECK(helios_index_to_bytes(loaded, again, len, NULL) == HELIOS_OK && memcmp(bytes, again, len) == 0);
        /* the reconstructions and the next sequential id travel too */
        float r1[8], r2[8];
        CHECK(helios_index_reconstruct(index, 42, r1, dim) == HELIOS_OK);
        CHECK(helios_index_reconstruct(copy, 42, r2, dim) == HELIOS_OK && memcmp(r1, r2, sizeof r1) == 0);
        CHECK_STATUS(helios_index_reconstruct(copy, 17, r2, dim), HELIOS_ERR_INVALID_ARGUMENT, "not in the index");
        CHECK(helios_index_add(copy, x, 1, dim, NULL) == HELIOS_OK);
        CHECK(helios_index_reconstruct(copy, n, r2, dim) == HELIOS_OK);

        /* truncated, corrupt, foreign and missing files */
        HeliosVectorIndex *none = NULL;
        write_all(broken, file, len - 1);
        CHECK_STATUS(helios_index_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "checksum");
        CHECK_STATUS(helios_index_from_bytes(file, len / 2, &none), HELIOS_ERR_FORMAT, "truncated");
        file[len / 2] ^= 0x10;
        write_all(broken, file, len);
        CHECK_STATUS(helios_index_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "corrupt");
        CHECK_STATUS(helios_index_from_bytes(file, len, &none), HELIOS_ERR_FORMAT, "corrupt");
        file[len / 2] ^= 0x10;
        file[0] = 'X'; /* the magic */
        CHECK_STATUS(helios_index_from_bytes(file, len, &none), HELIOS_ERR_FORMAT, "not a helios vector index");
        write_all(broken, file, len);
        CHECK_STATUS(helios_index_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "not a helios vector index");
        write_all(broken, (const unsigned char *)"hello", 5);
        CHECK_STATUS(helios_index_load(PATH_ARG(broken), &none), HELIOS_ERR_FORMAT, "not a helios");
        CHECK_STATUS(helios_index_from_bytes(file, 0, &none), HELIOS_ERR_FORMAT, "not a helios");
        CHECK(none == NULL);
        remove(broken);
        CHECK_STATUS(helios_index_load(PATH_ARG(broken), &none), HELIOS_ERR_IO, "cannot read");
        CHECK(none == NULL);

        remove(path);
        helios_index_free(index);
        helios_index_free(loaded);
        helios_index_free(copy);
        free(file), free(bytes), free(again);
    }

    /* an untrained PQ index round-trips untrained */
    HeliosVectorIndex *index = pq_new(HELIOS_METRIC_L2, dim, 4, 3, 5, 0, HELIOS_AUTO), *copy = NULL;
    size_t len = 0;
    CHECK(helios_index_to_bytes(index, NULL, 0, &len) == HELIOS_ERR_BUFFER_TOO_SMALL);
    unsigned char *bytes = malloc(len);
    CHECK(helios_index_to_bytes(index, bytes, len, NULL) == HELIOS_OK);
    CHECK(helios_index_from_bytes(bytes, len, &copy) == HELIOS_OK);
    bool trained = true;
    CHECK(helios_index_is_trained(copy, &trained) == HELIOS_OK && !trained);
    helios_index_free(index);
    helios_index_free(copy);
    free(bytes), free(x), free(queries);
}

/* The concurrency test: a base set B, batches A and C, and R (the first
 * rows of B). The writer cycles through six known states; every search must
 * return the brute-force hits of one of them, never a mixture.
 *
 * The threads meet through `epoch` (the number of writes done): after each
 * write the writer waits until every reader has finished a search begun in
 * the new epoch (which therefore saw exactly that state), and a reader does
 * at most SEARCHES_PER_EPOCH searches per epoch, the later ones overlapping
 * the next write. That bounds the work and makes every state seen by every
 * reader, whatever the scheduling. */
enum { CB = 160, CA = 24, CC = 24, CR = 24, CPOOL = CB + CA + CC, CDIM = 8, CNQ = 6, CK = 10, CSTATES = 6 };
enum { READERS = 4, WRITER_CYCLES = 5, SEARCHES_PER_EPOCH = 3 };

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int epoch, done;
    int reader_epoch[READERS], searches_in_epoch[READERS]; /* finished, begun in reader_epoch */
} Meeting;

typedef struct {
    HeliosVectorIndex *index;
    Meeting *meeting;
    int me;
    const float *queries;
    const double *values, *scales; /* CSTATES x CNQ x CK */
    const uint64_t *ids;
    size_t threads;
    int searches, errors, unmatched, seen[CSTATES];
} Reader;

static void *reader_thread(void *arg) {
    Reader *r = arg;
    Meeting *m = r->meeting;
    float distances[CNQ * CK];
    uint64_t ids[CNQ * CK];
    HeliosSearchOptions options = helios_index_default_search_options();
    options.threads = r->threads;
    for (;;) {
        pthread_mutex_lock(&m->lock);
        while (!m->done && m->reader_epoch[r->me] == m->epoch && m->searches_in_epoch[r->me] >= SEARCHES_PER_EPOCH)
            pthread_cond_wait(&m->changed, &m->lock);
        int epoch = m->epoch, done = m->done;
        pthread_mutex_unlock(&m->lock);
        if (done) break;

        r->searches++;
        if (helios_index_search(r->index, r->queries, CNQ, CDIM, CK, &options, distances, CNQ * CK, ids, CNQ * CK,
                                NULL) != HELIOS_OK) {
            r->errors++;
        } else {
            int matched = 0;
            for (int s = 0; s < CSTATES && !matched; s++) {
                const size_t at = (size_t)s * CNQ * CK;
                if (same_hits(distances, ids, r->values + at, r->ids + at, r->scales + at, CNQ * CK, 1e-5)) {
                    r->seen[s]++;
                    matched = 1;
                }
            }
            r->unmatched += !matched;
        }

        pthread_mutex_lock(&m->lock);
        if (m->reader_epoch[r->me] != epoch) m->reader_epoch[r->me] = epoch, m->searches_in_epoch[r->me] = 0;
        m->searches_in_epoch[r->me]++;
        pthread_cond_broadcast(&m->changed);
        pthread_mutex_unlock(&m->lock);
    }
    return NULL;
}

typedef struct {
    HeliosVectorIndex *index;
    Meeting *meeting;
    const float *pool;
    const uint64_t *pool_ids;
    int failures;
} Writer;

/* Wait until every reader has finished a search begun in this epoch. */
static void wait_for_readers(Meeting *m) {
    pthread_mutex_lock(&m->lock);
    for (;;) {
        int all = 1;
        for (int i = 0; i < READERS; i++) all &= m->reader_epoch[i] == m->epoch && m->searches_in_epoch[i] > 0;
        if (all) break;
        pthread_cond_wait(&m->changed, &m->lock);
    }
    pthread_mutex_unlock(&m->lock);
}

/* Count a failed write and start the next epoch. */
static void after_write(Writer *w, HeliosStatus status) {
    w->failures += status != HELIOS_OK;
    pthread_mutex_lock(&w->meeting->lock);
    w->meeting->epoch++;
    pthread_cond_broadcast(&w->meeting->changed);
    pthread_mutex_unlock(&w->meeting->lock);
    wait_for_readers(w->meeting);
}

static void *writer_thread(void *arg) {
    Writer *w = arg;
    const float *a = w->pool + CB * CDIM, *c = w->pool + (CB + CA) * CDIM, *r = w->pool;
    const uint64_t *a_ids = w->pool_ids + CB, *c_ids = w->pool_ids + CB + CA, *r_ids = w->pool_ids;
    wait_for_readers(w->meeting); /* state 0 */
    for (int cycle = 0; cycle < WRITER_CYCLES; cycle++) {
        after_write(w, helios_index_add(w->index, a, CA, CDIM, a_ids)); /* state 1 */
        after_write(w, helios_index_remove(w->index, r_ids, CR));       /* 2 */
        after_write(w, helios_index_add(w->index, c, CC, CDIM, c_ids)); /* 3 */
        after_write(w, helios_index_remove(w->index, a_ids, CA));       /* 4 */
        after_write(w, helios_index_add(w->index, r, CR, CDIM, r_ids)); /* 5 */
        after_write(w, helios_index_remove(w->index, c_ids, CC));       /* 0 */
    }
    pthread_mutex_lock(&w->meeting->lock);
    w->meeting->done = 1;
    pthread_cond_broadcast(&w->meeting->changed);
    pthread_mutex_unlock(&w->meeting->lock);
    return NULL;
}

static void test_readers_and_a_writer(void) {
    float *pool = noise_f32(CPOOL * CDIM, 15), queries[CNQ * CDIM];
    uint64_t pool_ids[CPOOL];
    for (size_t i = 0; i < CPOOL; i++) pool_ids[i] = i < CB ? i * 3 : i < CB + CA ? 1000 + i : 5000 + i;
    /* queries next to members of R, A and C, so that the states differ */
    const size_t near[CNQ] = {2, CB + 1, CB + CA + 2, 7, CB + 9, CB + CA + 11};
    for (size_t q = 0; q < CNQ; q++)
        for (size_t t = 0; t < CDIM; t++) queries[q * CDIM + t] = pool[near[q] * CDIM + t] + 0.01f * (float)t;

    /* the six states the writer passes through, as membership of the pool */
    static unsigned char present[CSTATES][CPOOL];
    for (int s = 0; s < CSTATES; s++)
        for (size_t i = 0; i < CPOOL; i++) {
            bool in_r = i < CR, in_b = i < CB, in_a = i >= CB && i < CB + CA, in_c = i >= CB + CA;
            bool has_a = s == 1 || s == 2 || s == 3, has_c = s == 3 || s == 4 || s == 5, lost_r = s >= 2 && s <= 4;
            present[s][i] = (in_b && !(in_r && lost_r)) || (in_a && has_a) || (in_c && has_c);
        }
    static double values[CSTATES * CNQ * CK], scales[CSTATES * CNQ * CK];
    static uint64_t ref_ids[CSTATES * CNQ * CK];
    for (int s = 0; s < CSTATES; s++) {
        const size_t at = (size_t)s * CNQ * CK;
        brute_force(pool, pool_ids, present[s], CPOOL, CDIM, queries, CNQ, CK, HELIOS_METRIC_L2, values + at,
                    ref_ids + at, scales + at);
    }
    /* the states are told apart by their results */
    int distinct = 1;
    for (int s = 0; s < CSTATES; s++)
        for (int u = s + 1; u < CSTATES; u++)
            distinct &= memcmp(ref_ids + s * CNQ * CK, ref_ids + u * CNQ * CK, CNQ * CK * sizeof *ref_ids) != 0;
    CHECK(distinct);

    HeliosVectorIndex *index = flat_new(HELIOS_METRIC_L2, CDIM);
    CHECK(helios_index_add(index, pool, CB, CDIM, pool_ids) == HELIOS_OK);
    Meeting meeting = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, {0}, {0}};
    for (int i = 0; i < READERS; i++) meeting.reader_epoch[i] = -1;
    Writer writer = {index, &meeting, pool, pool_ids, 0};
    Reader readers[READERS];
    pthread_t reader_threads[READERS], writer_thread_id;
    for (int i = 0; i < READERS; i++) {
        readers[i] = (Reader){index, &meeting, i, queries, values, scales, ref_ids, (size_t)(1 + i % 2), 0, 0, 0, {0}};
        pthread_create(&reader_threads[i], NULL, reader_thread, &readers[i]);
    }
    pthread_create(&writer_thread_id, NULL, writer_thread, &writer);
    pthread_join(writer_thread_id, NULL);
    int searches = 0, errors = 0, unmatched = 0, seen[CSTATES] = {0}, every_state = 1;
    for (int i = 0; i < READERS; i++) {
        pthread_join(reader_threads[i], NULL);
        searches += readers[i].searches, errors += readers[i].errors, unmatched += readers[i].unmatched;
        for (int s = 0; s < CSTATES; s++) seen[s] += readers[i].seen[s], every_state &= readers[i].seen[s] > 0;
    }
    pthread_mutex_destroy(&meeting.lock);
    pthread_cond_destroy(&meeting.changed);
    CHECK(writer.failures == 0);
    CHECK(errors == 0 && unmatched == 0);
    CHECK(every_state); /* every reader saw every state */
    printf("readers and a writer: %d searches beside %d writes, states seen:", searches, 6 * WRITER_CYCLES);
    for (int s = 0; s < CSTATES; s++) printf(" %d", seen[s]);
    printf("\n");
    /* the writer ended in state 0 */
    size_t count = 0;
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == CB);
    check_search(index, pool, pool_ids, present[0], CPOOL, CDIM, queries, CNQ, CK, HELIOS_METRIC_L2);
    /* freed from the main thread once no one else is inside */
    helios_index_free(index);
    free(pool);
}

/* Adds with sequential ids from several threads: each call takes one block
 * of ids, and together they are 0 .. n-1. */
typedef struct {
    HeliosVectorIndex *index;
    const float *rows;
    HeliosStatus status;
} Adder;

static void *adder_thread(void *arg) {
    Adder *a = arg;
    a->status = helios_index_add(a->index, a->rows, 25, 4, NULL);
    return NULL;
}

static void test_concurrent_sequential_adds(void) {
    float *x = noise_f32(4 * 25 * 4, 16);
    HeliosVectorIndex *index = flat_new(HELIOS_METRIC_L2, 4);
    Adder adders[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        adders[i] = (Adder){index, x + i * 25 * 4, HELIOS_ERR_INTERNAL};
        pthread_create(&threads[i], NULL, adder_thread, &adders[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(adders[i].status == HELIOS_OK);
    }
    size_t count = 0;
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 100);
    /* id b*25 + r holds row r of one thread's batch, each batch once */
    int blocks_ok = 1, used[4] = {0};
    for (uint64_t block = 0; block < 4; block++) {
        float row[4];
        CHECK(helios_index_reconstruct(index, block * 25, row, 4) == HELIOS_OK);
        int owner = -1;
        for (int i = 0; i < 4; i++)
            if (memcmp(row, x + i * 25 * 4, sizeof row) == 0) owner = i;
        blocks_ok &= owner >= 0 && !used[owner];
        if (owner < 0) continue;
        used[owner] = 1;
        for (uint64_t r = 0; r < 25; r++) {
            CHECK(helios_index_reconstruct(index, block * 25 + r, row, 4) == HELIOS_OK);
            blocks_ok &= memcmp(row, x + ((size_t)owner * 25 + r) * 4, sizeof row) == 0;
        }
    }
    CHECK(blocks_ok);
    helios_index_free(index);
    free(x);
}

static void test_bad_input(void) {
    HeliosIndexOptions options = helios_index_default_options();
    HeliosVectorIndex *index = NULL;
    options.dim = 4;
    CHECK_STATUS(helios_index_new(NULL, &index), HELIOS_ERR_NULL_ARGUMENT, "`options`");
    CHECK_STATUS(helios_index_new(&options, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    options.struct_size = 8;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "struct_size is 8");
    options.struct_size = sizeof options, options.kind = 5;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "options.kind is 5");
    options.kind = HELIOS_INDEX_FLAT, options.metric = -1;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "options.metric is -1");
    options.metric = HELIOS_METRIC_L2, options.dim = 0;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "dim is 0");
    options.dim = 10, options.threads = 0;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    options.threads = 5000;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "5000");
    options.threads = HELIOS_AUTO, options.kind = HELIOS_INDEX_PQ, options.pq_m = 4;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "dim 10 is not divisible by pq_m 4");
    options.pq_m = 0;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "pq_m 0");
    options.pq_m = 5, options.pq_nbits = 0;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "pq_nbits 0");
    options.pq_nbits = 9;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "pq_nbits 9");
    options.pq_nbits = 2, options.train_iterations = 0;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "train_iterations 0");
    options.train_iterations = 1001;
    CHECK_STATUS(helios_index_new(&options, &index), HELIOS_ERR_INVALID_ARGUMENT, "train_iterations 1001");
    CHECK(index == NULL);
    options.train_iterations = 3;
    CHECK(helios_index_new(&options, &index) == HELIOS_OK); /* PQ, dim 10, M 5, 2 bits */

    const float x[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    float bad[40], distances[16];
    uint64_t ids[16];
    size_t needed = 0, count = 0;
    /* untrained PQ */
    CHECK_STATUS(helios_index_search(index, x, 1, 10, 1, NULL, distances, 16, ids, 16, NULL), HELIOS_ERR_INVALID_STATE,
                 "not trained");
    CHECK_STATUS(helios_index_add(index, x, 1, 10, NULL), HELIOS_ERR_INVALID_STATE, "not trained");
    for (size_t i = 0; i < 40; i++) bad[i] = (float)i;
    CHECK_STATUS(helios_index_train(index, bad, 3, 10), HELIOS_ERR_INVALID_ARGUMENT, "at least 4 vectors");
    CHECK_STATUS(helios_index_train(NULL, bad, 4, 10), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_train(index, NULL, 4, 10), HELIOS_ERR_NULL_ARGUMENT, "`x`");
    CHECK_STATUS(helios_index_train(index, bad, 0, 10), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_index_train(index, bad, 4, 5), HELIOS_ERR_INVALID_ARGUMENT, "has dim 10");
    CHECK_STATUS(helios_index_train(index, bad, SIZE_MAX / 2, 10), HELIOS_ERR_INVALID_ARGUMENT, "rows of stride 10 overflow");
    bad[13] = NAN;
    CHECK_STATUS(helios_index_train(index, bad, 4, 10), HELIOS_ERR_NUMERIC, "row 1 of X holds a NaN");
    bad[13] = -INFINITY;
    CHECK_STATUS(helios_index_train(index, bad, 4, 10), HELIOS_ERR_NUMERIC, "row 1 of X holds a NaN or infinite");
    bad[13] = 1e30f;
    CHECK_STATUS(helios_index_train(index, bad, 4, 10), HELIOS_ERR_NUMERIC, "squared norm exceeds");
    bool trained = true;
    CHECK(helios_index_is_trained(index, &trained) == HELIOS_OK && !trained);
    bad[13] = 13.0f;
    CHECK(helios_index_train(index, bad, 4, 10) == HELIOS_OK);
    helios_index_free(index);

    /* a flat index of dim 3 holding ids 0..3 */
    index = flat_new(HELIOS_METRIC_L2, 3);
    CHECK(helios_index_add(index, x, 4, 3, NULL) == HELIOS_OK);
    /* train on a flat index only checks the vectors */
    CHECK(helios_index_train(index, x, 1, 3) == HELIOS_OK);
    float nan_row[3] = {1, NAN, 2}, inf_row[3] = {INFINITY, 0, 0};
    CHECK_STATUS(helios_index_train(index, nan_row, 1, 3), HELIOS_ERR_NUMERIC, "NaN");

    /* add */
    const uint64_t taken[2] = {9, 2}, twice[2] = {7, 7}, no_id[1] = {HELIOS_NO_ID};
    CHECK_STATUS(helios_index_add(NULL, x, 1, 3, NULL), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_add(index, NULL, 1, 3, NULL), HELIOS_ERR_NULL_ARGUMENT, "`x`");
    CHECK_STATUS(helios_index_add(index, x, 0, 3, NULL), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_index_add(index, x, 1, 4, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "X: 4 values per vector, but the index has dim 3");
    CHECK_STATUS(helios_index_add(index, x, SIZE_MAX / 2, 3, NULL), HELIOS_ERR_INVALID_ARGUMENT, "rows of stride 3 overflow");
    CHECK_STATUS(helios_index_add(index, nan_row, 1, 3, NULL), HELIOS_ERR_NUMERIC, "NaN or infinite");
    CHECK_STATUS(helios_index_add(index, inf_row, 1, 3, NULL), HELIOS_ERR_NUMERIC, "NaN or infinite");
    CHECK_STATUS(helios_index_add(index, x, 2, 3, taken), HELIOS_ERR_INVALID_ARGUMENT, "ids[1] = 2 is already");
    CHECK_STATUS(helios_index_add(index, x, 2, 3, twice), HELIOS_ERR_INVALID_ARGUMENT, "ids[1] = 7 appears twice");
    CHECK_STATUS(helios_index_add(index, x, 1, 3, no_id), HELIOS_ERR_INVALID_ARGUMENT, "UINT64_MAX");
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 4); /* nothing was added */
    float row[3];
    CHECK_STATUS(helios_index_reconstruct(index, 9, row, 3), HELIOS_ERR_INVALID_ARGUMENT, "id 9 is not");
    CHECK_STATUS(helios_index_reconstruct(index, 7, row, 3), HELIOS_ERR_INVALID_ARGUMENT, "id 7 is not");
    /* the largest id: sequential ids cannot follow it */
    const uint64_t largest[1] = {HELIOS_NO_ID - 1};
    CHECK(helios_index_add(index, x, 1, 3, largest) == HELIOS_OK);
    CHECK_STATUS(helios_index_add(index, x, 1, 3, NULL), HELIOS_ERR_INVALID_ARGUMENT, "give explicit ids");
    CHECK(helios_index_remove(index, largest, 1) == HELIOS_OK);

    /* remove */
    const uint64_t unknown[2] = {1, 99}, repeated[3] = {0, 3, 0};
    CHECK_STATUS(helios_index_remove(NULL, unknown, 1), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_remove(index, NULL, 1), HELIOS_ERR_NULL_ARGUMENT, "`ids`");
    CHECK_STATUS(helios_index_remove(index, unknown, 0), HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_index_remove(index, unknown, 2), HELIOS_ERR_INVALID_ARGUMENT, "ids[1] = 99 is not in the index");
    CHECK_STATUS(helios_index_remove(index, repeated, 3), HELIOS_ERR_INVALID_ARGUMENT, "ids[2] = 0 appears twice");
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 4); /* nothing was removed */
    CHECK(helios_index_reconstruct(index, 1, row, 3) == HELIOS_OK && memcmp(row, x + 3, sizeof row) == 0);

    /* search */
    const float q[3] = {1, 1, 1};
    HeliosSearchOptions search = helios_index_default_search_options();
    CHECK_STATUS(helios_index_search(NULL, q, 1, 3, 2, NULL, distances, 16, ids, 16, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "`index`");
    CHECK_STATUS(helios_index_search(index, NULL, 1, 3, 2, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "`queries`");
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, NULL, NULL, 16, ids, 16, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "`distances`");
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, NULL, distances, 16, NULL, 16, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "`ids`");
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 0, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "k is 0");
    CHECK_STATUS(helios_index_search(index, q, 0, 3, 2, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "n = 0");
    CHECK_STATUS(helios_index_search(index, q, 1, 2, 2, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "2 values per vector, but the index has dim 3");
    CHECK_STATUS(helios_index_search(index, nan_row, 1, 3, 2, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_NUMERIC, "NaN or infinite");
    CHECK_STATUS(helios_index_search(index, inf_row, 1, 3, 2, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_NUMERIC, "NaN or infinite");
    CHECK_STATUS(helios_index_search(index, q, SIZE_MAX / 2, 3, 1, NULL, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "rows of stride 3 overflow");
    CHECK_STATUS(helios_index_search(index, q, SIZE_MAX / 2, 3, 3, NULL, distances, 16, ids, 16, &needed),
                 HELIOS_ERR_INVALID_ARGUMENT, "overflows");
    CHECK(needed == SIZE_MAX);
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, NULL, (float *)q, 3, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "overlaps `queries`");
    /* ids overlapping the queries or the distances (different types, same bytes) */
    uint64_t shared[8] = {0};
    CHECK_STATUS(helios_index_search(index, (const float *)shared, 1, 3, 2, NULL, distances, 16, shared, 8, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "`ids` overlaps `queries`");
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, NULL, (float *)shared, 16, shared, 8, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "`ids` overlaps `distances`");
    search.struct_size = 4;
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, &search, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "struct_size is 4");
    search.struct_size = sizeof search, search.threads = 0;
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 2, &search, distances, 16, ids, 16, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    /* buffers too small: nothing is written, the size comes back */
    for (size_t i = 0; i < 16; i++) distances[i] = -7.0f, ids[i] = 77;
    CHECK_STATUS(helios_index_search(index, q, 2, 3, 3, NULL, distances, 5, ids, 16, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "`distances` holds 5 elements but 6 are needed");
    CHECK(needed == 6);
    needed = 0;
    CHECK_STATUS(helios_index_search(index, q, 2, 3, 3, NULL, distances, 16, ids, 5, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "`ids` holds 5 elements but 6 are needed");
    CHECK(needed == 6);
    int untouched = 1;
    for (size_t i = 0; i < 16; i++) untouched &= distances[i] == -7.0f && ids[i] == 77;
    CHECK(untouched);
    /* NULL buffers of capacity 0 ask for the size */
    needed = 0;
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 4, NULL, NULL, 0, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL,
                 "4 are needed");
    CHECK(needed == 4);
    /* the ids capacity is checked before any overlap: a NULL ids of capacity 0 asks too */
    needed = 0;
    CHECK_STATUS(helios_index_search(index, q, 1, 3, 4, NULL, distances, 16, NULL, 0, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "`ids` holds 0 elements but 4 are needed");
    CHECK(needed == 4);

    /* reconstruct, count, is_trained, get_options, set_threads */
    CHECK_STATUS(helios_index_reconstruct(NULL, 0, row, 3), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_reconstruct(index, 0, NULL, 3), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_index_reconstruct(index, 0, row, 2), HELIOS_ERR_BUFFER_TOO_SMALL, "3 are needed");
    CHECK_STATUS(helios_index_reconstruct(index, 12345, row, 3), HELIOS_ERR_INVALID_ARGUMENT, "id 12345 is not");
    CHECK_STATUS(helios_index_count(NULL, &count), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_count(index, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out_count`");
    CHECK_STATUS(helios_index_is_trained(index, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out_trained`");
    CHECK_STATUS(helios_index_is_trained(NULL, &trained), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_get_options(index, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_index_get_options(NULL, &options), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_set_threads(NULL, 2), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_set_threads(index, 0), HELIOS_ERR_INVALID_ARGUMENT, "thread count is 0");
    CHECK_STATUS(helios_index_set_threads(index, 5000), HELIOS_ERR_INVALID_ARGUMENT, "5000");

    /* save, load, bytes */
    HeliosVectorIndex *none = NULL;
    const char *path = "/tmp/helios_test_index_bad_input.bin";
    CHECK_STATUS(helios_index_save(NULL, PATH_ARG(path)), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_save(index, NULL, 3), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_index_save(index, path, 0), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(helios_index_save(index, "\xff\xfe", 2), HELIOS_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_STATUS(helios_index_save(index, "a\0b", 3), HELIOS_ERR_INVALID_ARGUMENT, "NUL");
    CHECK_STATUS(helios_index_save(index, "/nonexistent-dir/x.bin", 22), HELIOS_ERR_IO, "nonexistent");
    CHECK_STATUS(helios_index_load(NULL, 3, &none), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_index_load(PATH_ARG(path), NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_index_load(path, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(helios_index_load("/nonexistent-dir/x.bin", 22, &none), HELIOS_ERR_IO, "cannot read");
    CHECK_STATUS(helios_index_to_bytes(NULL, NULL, 0, &needed), HELIOS_ERR_NULL_ARGUMENT, "`index`");
    CHECK_STATUS(helios_index_to_bytes(index, NULL, 10000, &needed), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_index_from_bytes(NULL, 10, &none), HELIOS_ERR_NULL_ARGUMENT, "`data`");
    CHECK_STATUS(helios_index_from_bytes((const uint8_t *)x, sizeof x, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK(none == NULL);
    CHECK(helios_index_count(index, &count) == HELIOS_OK && count == 4); /* still whole */
    helios_index_free(index);
}

int main(void) {
    test_defaults_and_options();
    test_hand_computed_cases();
    test_flat_matches_brute_force();
    test_duplicates_tie_exactly();
    test_single_query_equals_batch();
    test_ids_remove_count_reconstruct();
    test_pq();
    test_same_bits_for_every_thread_count();
    test_save_load_and_bytes();
    test_readers_and_a_writer();
    test_concurrent_sequential_adds();
    test_bad_input();
    return check_summary();
}
