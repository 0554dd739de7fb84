/* The GPT-2 model from C, on tiny shapes (vocab 50, 16 positions, width 16,
 * 2 layers, 2 heads) so that it stays fast under valgrind: the default
 * config, seeded random models, forward passes that are bit-identical for
 * 1, 2 and 3 threads and across prefixes (row t of a forward over ids equals
 * the last row of a forward over ids[0..=t]), ask-then-allocate for the
 * logits, save/load round trips through a Hugging Face checkpoint folder,
 * truncated and missing files, 4 pthreads sharing one model, and every kind
 * of bad argument. The logits against an independent GPT-2 are checked in
 * the Python tests (a numpy forward pass). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helios.h"
#include "check.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define PATH_ARG(p) (p), strlen(p)

enum { VOCAB = 50, POSITIONS = 16, WIDTH = 16, LAYERS = 2, HEADS = 2 };

static HeliosGptConfig tiny_config(void) {
    HeliosGptConfig c = helios_model_default_config();
    c.vocab_size = VOCAB;
    c.n_positions = POSITIONS;
    c.n_embd = WIDTH;
    c.n_layer = LAYERS;
    c.n_head = HEADS;
    c.n_inner = 4 * WIDTH;
    return c;
}

/* ---- helpers ------------------------------------------------------------------------- */

static HeliosModel *tiny_model(uint64_t seed) {
    HeliosGptConfig c = tiny_config();
    HeliosModel *model = NULL;
    CHECK(helios_model_random(&c, seed, &model) == HELIOS_OK);
    CHECK(model != NULL);
    return model;
}

/* The logits of `ids` in a new buffer (asked for, then allocated), or NULL. */
static float *forward_all(const HeliosModel *model, const uint32_t *ids, size_t count, size_t threads) {
    size_t needed = 0;
    if (helios_model_forward(model, ids, count, threads, NULL, 0, &needed) != HELIOS_ERR_BUFFER_TOO_SMALL)
        return NULL;
    float *logits = malloc(needed * sizeof *logits);
    if (helios_model_forward(model, ids, count, threads, logits, needed, NULL) != HELIOS_OK) {
        free(logits);
        return NULL;
    }
    return logits;
}

/* A fixed sequence of POSITIONS ids in 0..VOCAB. */
static void sequence(uint32_t *ids, size_t count, uint32_t seed) {
    uint32_t s = seed * 2654435761u | 1u;
    for (size_t i = 0; i < count; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        ids[i] = s % VOCAB;
    }
}

static bool same_config(HeliosGptConfig a, HeliosGptConfig b) {
    return a.struct_size == b.struct_size && a.vocab_size == b.vocab_size && a.n_positions == b.n_positions &&
           a.n_embd == b.n_embd && a.n_layer == b.n_layer && a.n_head == b.n_head && a.n_inner == b.n_inner &&
           a.layer_norm_epsilon == b.layer_norm_epsilon;
}

static int dir_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

/* ---- the tests ----------------------------------------------------------------------- */

static void test_default_config(void) {
    HeliosGptConfig c = helios_model_default_config();
    CHECK(c.struct_size == sizeof(HeliosGptConfig));
    CHECK(c.vocab_size == 50257);
    CHECK(c.n_positions == 1024);
    CHECK(c.n_embd == 768);
    CHECK(c.n_layer == 12);
    CHECK(c.n_head == 12);
    CHECK(c.n_inner == 3072);
    CHECK(c.layer_norm_epsilon == 1e-5f);
}

static void test_random_is_seeded(void) {
    uint32_t ids[POSITIONS];
    sequence(ids, POSITIONS, 1);
    HeliosModel *a = tiny_model(7), *b = tiny_model(7), *c = tiny_model(8);
    float *la = forward_all(a, ids, POSITIONS, 1), *lb = forward_all(b, ids, POSITIONS, 1),
          *lc = forward_all(c, ids, POSITIONS, 1);
    CHECK(la && lb && lc);
    if (la && lb && lc) {
        CHECK(memcmp(la, lb, POSITIONS * VOCAB * sizeof *la) == 0);
        CHECK(memcmp(la, lc, POSITIONS * VOCAB * sizeof *la) != 0);
        bool finite = true, nonzero = false;
        for (size_t i = 0; i < POSITIONS * VOCAB; i++) finite &= isfinite(la[i]) != 0, nonzero |= la[i] != 0.0f;
        CHECK(finite && nonzero);
    }
    HeliosGptConfig got;
    memset(&got, 0xAB, sizeof got);
    CHECK(helios_model_get_config(a, &got) == HELIOS_OK);
    CHECK(same_config(got, tiny_config()));
    /* another n_inner and epsilon come back as given */
    HeliosGptConfig other = tiny_config();
    other.n_inner = 24;
    other.layer_norm_epsilon = 1e-3f;
    HeliosModel *d = NULL;
    CHECK(helios_model_random(&other, 0, &d) == HELIOS_OK);
    CHECK(helios_model_get_config(d, &got) == HELIOS_OK);
    CHECK(same_config(got, other));
    free(la), free(lb), free(lc);
    helios_model_free(a), helios_model_free(b), helios_model_free(c), helios_model_free(d);
}

static void test_forward_is_batch_invariant(void) {
    HeliosModel *model = tiny_model(3);
    uint32_t ids[POSITIONS];
    sequence(ids, POSITIONS, 2);
    float *full = forward_all(model, ids, POSITIONS, 1);
    CHECK(full != NULL);
    const size_t thread_counts[] = {1, 2, 3, HELIOS_AUTO};
    for (size_t k = 0; k < ARRAY_LEN(thread_counts) && full; k++) {
        float *again = forward_all(model, ids, POSITIONS, thread_counts[k]);
        CHECK(again && memcmp(again, full, POSITIONS * VOCAB * sizeof *full) == 0);
        free(again);
        for (size_t t = 0; t < POSITIONS; t++) {
            float *prefix = forward_all(model, ids, t + 1, thread_counts[k]);
            /* every row of the prefix's forward, its last row included */
            CHECK(prefix && memcmp(prefix, full, (t + 1) * VOCAB * sizeof *full) == 0);
            free(prefix);
        }
    }
    free(full);
    helios_model_free(model);
}

static void test_ask_then_allocate(void) {
    HeliosModel *model = tiny_model(4);
    uint32_t ids[5];
    sequence(ids, 5, 3);
    size_t needed = 0;
    CHECK_STATUS(helios_model_forward(model, ids, 5, 1, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "logits");
    CHECK(needed == 5 * VOCAB);
    enum { ROOM = 5 * VOCAB + 8 };
    float logits[ROOM], exact[5 * VOCAB];
    for (size_t i = 0; i < ROOM; i++) logits[i] = -123.0f;
    needed = 0;
    CHECK_STATUS(helios_model_forward(model, ids, 5, 1, logits, 5 * VOCAB - 1, &needed), HELIOS_ERR_BUFFER_TOO_SMALL,
                 "logits");
    CHECK(needed == 5 * VOCAB);
    CHECK(logits[0] == -123.0f); /* nothing written */
    needed = 0;
    CHECK(helios_model_forward(model, ids, 5, 1, logits, ROOM, &needed) == HELIOS_OK);
    CHECK(needed == 5 * VOCAB);
    bool tail_untouched = true;
    for (size_t i = 5 * VOCAB; i < ROOM; i++) tail_untouched &= logits[i] == -123.0f;
    CHECK(tail_untouched);
    CHECK(helios_model_forward(model, ids, 5, 1, exact, 5 * VOCAB, NULL) == HELIOS_OK); /* out_needed NULL */
    CHECK(memcmp(exact, logits, sizeof exact) == 0);
    helios_model_free(model);
}

static void test_save_and_load(void) {
    HeliosModel *model = tiny_model(5);
    char dir[] = "/tmp/helios_test_model_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[64], config_path[96], weights_path[96];
    snprintf(sub, sizeof sub, "%s/saved", dir); /* created by save */
    snprintf(config_path, sizeof config_path, "%s/config.json", sub);
    snprintf(weights_path, sizeof weights_path, "%s/model.safetensors", sub);
    CHECK(helios_model_save(model, PATH_ARG(sub)) == HELIOS_OK);
    CHECK(dir_entries(sub) == 2);
    CHECK(helios_model_save(model, PATH_ARG(sub)) == HELIOS_OK); /* over the files */
    CHECK(dir_entries(sub) == 2);                                /* no temporary file left */

    HeliosModel *loaded = NULL;
    CHECK(helios_model_load(PATH_ARG(sub), &loaded) == HELIOS_OK);
    HeliosGptConfig got;
    CHECK(helios_model_get_config(loaded, &got) == HELIOS_OK);
    CHECK(same_config(got, tiny_config()));
    uint32_t ids[POSITIONS];
    sequence(ids, POSITIONS, 4);
    float *a = forward_all(model, ids, POSITIONS, 2), *b = forward_all(loaded, ids, POSITIONS, 1);
    CHECK(a && b && memcmp(a, b, POSITIONS * VOCAB * sizeof *a) == 0);
    free(a), free(b);
    helios_model_free(loaded);

    /* the path is dir_len bytes, not NUL-terminated */
    char padded[128];
    snprintf(padded, sizeof padded, "%sXYZ", sub);
    loaded = NULL;
    CHECK(helios_model_load(padded, strlen(sub), &loaded) == HELIOS_OK);
    helios_model_free(loaded);

    /* a truncated model.safetensors */
    long size = file_size(weights_path);
    CHECK(size > 1000);
    CHECK(truncate(weights_path, size / 2) == 0);
    HeliosModel *none = NULL;
    CHECK_STATUS(helios_model_load(PATH_ARG(sub), &none), HELIOS_ERR_FORMAT, "model.safetensors");
    CHECK(truncate(weights_path, 4) == 0);
    CHECK_STATUS(helios_model_load(PATH_ARG(sub), &none), HELIOS_ERR_FORMAT, "model.safetensors");
    CHECK(none == NULL);
    /* missing files and folders */
    CHECK(remove(weights_path) == 0);
    CHECK_STATUS(helios_model_load(PATH_ARG(sub), &none), HELIOS_ERR_IO, "model.safetensors");
    CHECK(remove(config_path) == 0);
    CHECK_STATUS(helios_model_load(PATH_ARG(sub), &none), HELIOS_ERR_IO, "config.json");
    CHECK_STATUS(helios_model_load(PATH_ARG("/nonexistent-helios-dir/model"), &none), HELIOS_ERR_IO, "");
    CHECK(none == NULL);
    /* save where a file is in the way */
    char blocker[96];
    snprintf(blocker, sizeof blocker, "%s/file", dir);
    FILE *f = fopen(blocker, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    CHECK_STATUS(helios_model_save(model, PATH_ARG(blocker)), HELIOS_ERR_IO, "");

    remove(blocker), rmdir(sub), rmdir(dir);
    helios_model_free(model);
}

static void test_null_arguments(void) {
    HeliosGptConfig c = tiny_config();
    HeliosModel *model = tiny_model(6), *none = NULL;
    uint32_t ids[3] = {1, 2, 3};
    float logits[3 * VOCAB];
    size_t needed = 0;
    CHECK_STATUS(helios_model_random(NULL, 0, &none), HELIOS_ERR_NULL_ARGUMENT, "config");
    CHECK_STATUS(helios_model_random(&c, 0, NULL), HELIOS_ERR_NULL_ARGUMENT, "out");
    CHECK_STATUS(helios_model_load(NULL, 5, &none), HELIOS_ERR_NULL_ARGUMENT, "dir");
    CHECK_STATUS(helios_model_load(PATH_ARG("/tmp"), NULL), HELIOS_ERR_NULL_ARGUMENT, "out");
    CHECK_STATUS(helios_model_save(NULL, PATH_ARG("/tmp/never")), HELIOS_ERR_NULL_ARGUMENT, "model");
    CHECK_STATUS(helios_model_save(model, NULL, 5), HELIOS_ERR_NULL_ARGUMENT, "dir");
    CHECK_STATUS(helios_model_get_config(NULL, &c), HELIOS_ERR_NULL_ARGUMENT, "model");
    CHECK_STATUS(helios_model_get_config(model, NULL), HELIOS_ERR_NULL_ARGUMENT, "out");
    CHECK_STATUS(helios_model_forward(NULL, ids, 3, 1, logits, 3 * VOCAB, &needed), HELIOS_ERR_NULL_ARGUMENT,
                 "model");
    CHECK_STATUS(helios_model_forward(model, NULL, 3, 1, logits, 3 * VOCAB, &needed), HELIOS_ERR_NULL_ARGUMENT,
                 "ids");
    CHECK_STATUS(helios_model_forward(model, ids, 3, 1, NULL, 3 * VOCAB, &needed), HELIOS_ERR_NULL_ARGUMENT,
                 "logits");
    CHECK(none == NULL);
    helios_model_free(NULL); /* a no-op */
    helios_model_free(model);
}

static void test_bad_arguments(void) {
    HeliosModel *model = tiny_model(7), *none = NULL;
    HeliosGptConfig c = tiny_config();
    /* struct_size from another header */
    c.struct_size = sizeof c - 1;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "struct_size");
    c.struct_size = 0;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "struct_size");
    /* configs helios refuses, named */
    c = tiny_config(), c.n_head = 3;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "n_head");
    c = tiny_config(), c.layer_norm_epsilon = NAN;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "layer_norm_epsilon");
    c = tiny_config(), c.layer_norm_epsilon = INFINITY;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "layer_norm_epsilon");
    c = tiny_config(), c.layer_norm_epsilon = 0.0f;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "layer_norm_epsilon");
    c = tiny_config(), c.n_layer = 0;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "n_layer");
    c = tiny_config(), c.vocab_size = ((size_t)1 << 24) + 1;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "vocab_size");
    c = tiny_config(), c.n_inner = 0;
    CHECK_STATUS(helios_model_random(&c, 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "n_inner");
    CHECK(none == NULL);
    /* empty or non-UTF-8 paths */
    CHECK_STATUS(helios_model_load("", 0, &none), HELIOS_ERR_INVALID_ARGUMENT, "dir");
    CHECK_STATUS(helios_model_load("/tmp/\xff", 6, &none), HELIOS_ERR_INVALID_ARGUMENT, "dir");
    CHECK_STATUS(helios_model_save(model, "", 0), HELIOS_ERR_INVALID_ARGUMENT, "dir");

    uint32_t ids[POSITIONS + 1];
    sequence(ids, POSITIONS + 1, 5);
    float logits[(POSITIONS + 1) * VOCAB];
    size_t needed = 0;
    /* count 0 */
    CHECK_STATUS(helios_model_forward(model, ids, 0, 1, logits, VOCAB, &needed), HELIOS_ERR_INVALID_ARGUMENT,
                 "count");
    CHECK_STATUS(helios_model_forward(model, NULL, 0, 1, NULL, 0, &needed), HELIOS_ERR_INVALID_ARGUMENT, "count");
    /* an id out of range, named with its position */
    uint32_t bad[4] = {1, 2, VOCAB, 3};
    CHECK_STATUS(helios_model_forward(model, bad, 4, 1, logits, 4 * VOCAB, &needed), HELIOS_ERR_INVALID_ARGUMENT,
                 "ids[2]");
    CHECK(strstr(helios_last_error(), "50") != NULL);
    bad[2] = UINT32_MAX;
    CHECK_STATUS(helios_model_forward(model, bad, 4, 1, logits, 4 * VOCAB, &needed), HELIOS_ERR_INVALID_ARGUMENT,
                 "ids[2]");
    /* more ids than n_positions (with room for their logits) */
    CHECK_STATUS(helios_model_forward(model, ids, POSITIONS + 1, 1, logits, (POSITIONS + 1) * VOCAB, &needed),
                 HELIOS_ERR_INVALID_ARGUMENT, "16");
    CHECK(helios_model_forward(model, ids, POSITIONS, 1, logits, POSITIONS * VOCAB, NULL) == HELIOS_OK);
    /* thread counts */
    CHECK_STATUS(helios_model_forward(model, ids, 3, 0, logits, 3 * VOCAB, NULL), HELIOS_ERR_INVALID_ARGUMENT,
                 "thread count is 0");
    CHECK_STATUS(helios_model_forward(model, ids, 3, HELIOS_MAX_THREADS + 1, logits, 3 * VOCAB, NULL),
                 HELIOS_ERR_INVALID_ARGUMENT, "1024");
    helios_model_free(model);
}

/* ---- 4 pthreads on one shared model ------------------------------------------------- */

enum { SHARED_THREADS = 4, SHARED_REQUESTS = 6, SHARED_ROUNDS = 3 };

typedef struct {
    const HeliosModel *model;
    const uint32_t (*ids)[POSITIONS];
    const size_t *lengths;
    float *const *expected;
    size_t first;
    int same;
} SharedJob;

static void *shared_worker(void *arg) {
    SharedJob *job = arg;
    job->same = 1;
    float logits[POSITIONS * VOCAB];
    for (size_t round = 0; round < SHARED_ROUNDS; round++)
        for (size_t k = 0; k < SHARED_REQUESTS; k++) {
            size_t i = (job->first + k + round) % SHARED_REQUESTS; /* each thread in its own order */
            size_t threads = 1 + (job->first + k) % 2;
            HeliosStatus s = helios_model_forward(job->model, job->ids[i], job->lengths[i], threads, logits,
                                                  POSITIONS * VOCAB, NULL);
            job->same &= s == HELIOS_OK &&
                         memcmp(logits, job->expected[i], job->lengths[i] * VOCAB * sizeof *logits) == 0;
        }
    return NULL;
}

static void test_threads_share_one_model(void) {
    HeliosModel *model = tiny_model(9);
    uint32_t ids[SHARED_REQUESTS][POSITIONS];
    size_t lengths[SHARED_REQUESTS];
    float *expected[SHARED_REQUESTS];
    for (size_t i = 0; i < SHARED_REQUESTS; i++) {
        lengths[i] = 3 + 2 * i;
        sequence(ids[i], POSITIONS, 10 + (uint32_t)i);
        expected[i] = forward_all(model, ids[i], lengths[i], 1);
        CHECK(expected[i] != NULL);
    }
    pthread_t threads[SHARED_THREADS];
    SharedJob jobs[SHARED_THREADS];
    for (size_t k = 0; k < SHARED_THREADS; k++) {
        jobs[k] = (SharedJob){model, (const uint32_t(*)[POSITIONS])ids, lengths, expected, k, 0};
        CHECK(pthread_create(&threads[k], NULL, shared_worker, &jobs[k]) == 0);
    }
    for (size_t k = 0; k < SHARED_THREADS; k++) {
        CHECK(pthread_join(threads[k], NULL) == 0);
        CHECK(jobs[k].same);
    }
    for (size_t i = 0; i < SHARED_REQUESTS; i++) free(expected[i]);
    helios_model_free(model);
}

int main(void) {
    test_default_config();
    test_random_is_seeded();
    test_forward_is_batch_invariant();
    test_ask_then_allocate();
    test_save_and_load();
    test_null_arguments();
    test_bad_arguments();
    test_threads_share_one_model();
    return check_summary();
}
