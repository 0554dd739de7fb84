/* The sampler from C, against references computed here: greedy decoding
 * against the argmax of helios_model_forward over the growing context (with
 * and without a repetition penalty, computed with the CTRL / Hugging Face
 * rule), top_k 1 and a tiny top_p against greedy, a seed giving the same
 * tokens for 1, 2 and 3 threads; output buffers and the token callback
 * (order, stop, cancel through a CancelToken raised mid-generation and
 * continued afterwards); stop tokens; a full context; continuing a context;
 * reset; freeing the model before its sampler; two pthreads on one sampler
 * (HELIOS_ERR_BUSY, the sampler intact); four pthreads with a sampler each
 * on one shared model against the same requests run one after another;
 * generate_text with trained byte-level BPE, char-level and decoder-less
 * tokenizers against helios_tokenizer_decode of the ids helios_sampler_generate
 * gives for the encoded prompt, every piece checked to be whole UTF-8, stop
 * strings, the text callback's stop and cancel; and every kind of bad
 * input. The models are tiny (width 16, 2 layers) so that valgrind stays
 * fast. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"
#include "check.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

enum { VOCAB = 60, POSITIONS = 32, WIDTH = 16, LAYERS = 2, HEADS = 2, MAX_OUT = 64 };

static const uint32_t PROMPT[] = {7, 21, 3, 45};
enum { PROMPT_LEN = ARRAY_LEN(PROMPT) };

/* ---- helpers --------------------------------------------------------------------- */

static HeliosModel *tiny_model(size_t vocab, size_t positions, uint64_t seed) {
    HeliosGptConfig config = helios_model_default_config();
    config.vocab_size = vocab;
    config.n_positions = positions;
    config.n_embd = WIDTH;
    config.n_layer = LAYERS;
    config.n_head = HEADS;
    config.n_inner = 4 * WIDTH;
    HeliosModel *model = NULL;
    CHECK(helios_model_random(&config, seed, &model) == HELIOS_OK);
    return model;
}

static HeliosSamplerOptions options_with(float temperature, uint64_t seed, size_t max_tokens) {
    HeliosSamplerOptions o = helios_sampler_default_options();
    o.temperature = temperature;
    o.seed = seed;
    o.max_tokens = max_tokens;
    return o;
}

static HeliosSampler *new_sampler(const HeliosModel *model, const HeliosSamplerOptions *options) {
    HeliosSampler *sampler = NULL;
    CHECK(helios_sampler_new(model, options, &sampler) == HELIOS_OK);
    return sampler;
}

static size_t context_len(const HeliosSampler *sampler) {
    size_t n = SIZE_MAX;
    CHECK(helios_sampler_context_len(sampler, &n) == HELIOS_OK);
    return n;
}

/* One generate call with a buffer of `capacity` and no callback. */
static HeliosStatus gen(HeliosSampler *s, const uint32_t *prompt, size_t prompt_len, uint32_t *out,
                        size_t capacity, size_t *count, int32_t *reason) {
    *count = SIZE_MAX;
    *reason = -1;
    return helios_sampler_generate(s, prompt, prompt_len, out, capacity, NULL, NULL, NULL, count, reason);
}

/* The tokens of a fresh sampler with `options` on `prompt` (one call). */
static size_t fresh_tokens(const HeliosModel *model, const HeliosSamplerOptions *options, const uint32_t *prompt,
                           size_t prompt_len, uint32_t *out) {
    HeliosSampler *s = new_sampler(model, options);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(gen(s, prompt, prompt_len, out, options->max_tokens, &count, &reason) == HELIOS_OK);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    return count;
}

static bool same_ids(const uint32_t *a, const uint32_t *b, size_t n) { return n == 0 || memcmp(a, b, n * sizeof *a) == 0; }

/* The greedy next token after `ids`, from helios_model_forward: the last
 * row's argmax (ties to the lower id), after the repetition penalty of
 * CTRL / Hugging Face (a positive logit of a token in `ids` divided by it, a
 * negative one multiplied). */
static uint32_t reference_next(const HeliosModel *model, const uint32_t *ids, size_t n, size_t vocab, float penalty) {
    float *logits = malloc(n * vocab * sizeof *logits);
    size_t needed = 0;
    CHECK(helios_model_forward(model, ids, n, 1, logits, n * vocab, &needed) == HELIOS_OK);
    CHECK(needed == n * vocab);
    float *last = logits + (n - 1) * vocab;
    if (penalty != 1.0f) {
        bool *seen = calloc(vocab, sizeof *seen);
        for (size_t i = 0; i < n; i++) {
            if (seen[ids[i]]) continue;
            seen[ids[i]] = true;
            float *l = &last[ids[i]];
            *l = *l > 0.0f ? *l / penalty : *l * penalty;
        }
        free(seen);
    }
    uint32_t best = 0;
    for (uint32_t v = 1; v < vocab; v++)
        if (last[v] > last[best]) best = v;
    free(logits);
    return best;
}

/* `steps` greedy tokens after `prompt`, one full forward per step. */
static void reference_greedy(const HeliosModel *model, const uint32_t *prompt, size_t prompt_len, size_t steps,
                             size_t vocab, float penalty, uint32_t *out) {
    uint32_t *ids = malloc((prompt_len + steps) * sizeof *ids);
    memcpy(ids, prompt, prompt_len * sizeof *ids);
    for (size_t t = 0; t < steps; t++) {
        out[t] = reference_next(model, ids, prompt_len + t, vocab, penalty);
        ids[prompt_len + t] = out[t];
    }
    free(ids);
}

/* A token callback that logs what it sees; it stops (non-zero) or raises a
 * cancel token once it has seen the given number of tokens (0: never). */
typedef struct {
    uint32_t seen[MAX_OUT];
    size_t n;
    size_t stop_at;
    size_t cancel_at;
    const HeliosCancelToken *cancel;
} TokenLog;

static int32_t log_token(uint32_t token, void *user_data) {
    TokenLog *log = user_data;
    if (log->n < MAX_OUT) log->seen[log->n] = token;
    log->n++;
    if (log->cancel && log->n == log->cancel_at) helios_cancel_token_cancel(log->cancel);
    return log->stop_at != 0 && log->n == log->stop_at ? 7 : 0;
}

/* Whether `len` bytes are well-formed UTF-8 (no overlong forms, surrogates
 * or code points above U+10FFFF). */
static bool valid_utf8(const char *text, size_t len) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + n >= len) return false; /* fewer than n continuation bytes left */
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n + 1;
    }
    return true;
}

/* ---- options, greedy, seeds and threads ----------------------------------------- */

static void test_default_options(void) {
    HeliosSamplerOptions o = helios_sampler_default_options();
    CHECK(o.struct_size == sizeof(HeliosSamplerOptions));
    CHECK(o.temperature == 1.0f);
    CHECK(o.top_k == 0);
    CHECK(o.top_p == 1.0f);
    CHECK(o.repetition_penalty == 1.0f);
    CHECK(o.seed == 0);
    CHECK(o.max_tokens == 256);
    CHECK(o.stop_tokens == NULL && o.stop_tokens_count == 0);
    CHECK(o.stop_strings == NULL && o.stop_strings_count == 0);
    CHECK(o.context == 0);
    CHECK(o.threads == HELIOS_AUTO);

    /* NULL options are the defaults: the same tokens as the default struct. */
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 1);
    HeliosSampler *a = new_sampler(model, NULL), *b = new_sampler(model, &o);
    CHECK(context_len(a) == 0);
    uint32_t ta[POSITIONS], tb[POSITIONS];
    size_t na = 0, nb = 0;
    int32_t ra = -1, rb = -1;
    /* The default max_tokens (256) is more than the context holds: it fills
     * the context. The buffer must hold max_tokens, so generate into the
     * callback only. */
    TokenLog la = {0}, lb = {0};
    CHECK(helios_sampler_generate(a, PROMPT, PROMPT_LEN, NULL, 0, log_token, &la, NULL, &na, &ra) == HELIOS_OK);
    CHECK(helios_sampler_generate(b, PROMPT, PROMPT_LEN, NULL, 0, log_token, &lb, NULL, &nb, &rb) == HELIOS_OK);
    CHECK(ra == HELIOS_STOP_CONTEXT_FULL && rb == HELIOS_STOP_CONTEXT_FULL);
    CHECK(na == nb && na == la.n && nb == lb.n && na > 0 && na <= POSITIONS);
    memcpy(ta, la.seen, na * sizeof *ta);
    memcpy(tb, lb.seen, nb * sizeof *tb);
    CHECK(same_ids(ta, tb, na));
    CHECK(helios_sampler_free(a) == HELIOS_OK);
    CHECK(helios_sampler_free(b) == HELIOS_OK);
    helios_model_free(model);
}

static void test_greedy_is_argmax(void) {
    HeliosModel *model = tiny_model(VOCAB, 2 * POSITIONS, 2);
    enum { STEPS = 20 };
    uint32_t expected[STEPS], got[STEPS];
    size_t count = 0;
    int32_t reason = -1;

    reference_greedy(model, PROMPT, PROMPT_LEN, STEPS, VOCAB, 1.0f, expected);
    HeliosSamplerOptions o = options_with(0.0f, 99, STEPS);
    HeliosSampler *s = new_sampler(model, &o);
    CHECK(gen(s, PROMPT, PROMPT_LEN, got, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(same_ids(got, expected, STEPS));
    CHECK(context_len(s) == PROMPT_LEN + STEPS);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* The seed does not matter at temperature 0, nor do top_k / top_p. */
    o.seed = 12345;
    o.top_k = 3;
    o.top_p = 0.5f;
    CHECK(fresh_tokens(model, &o, PROMPT, PROMPT_LEN, got) == STEPS);
    CHECK(same_ids(got, expected, STEPS));

    /* top_k 1 and a tiny top_p keep only the most likely token: greedy at
     * any temperature and seed. */
    HeliosSamplerOptions k1 = options_with(1.5f, 5, STEPS);
    k1.top_k = 1;
    CHECK(fresh_tokens(model, &k1, PROMPT, PROMPT_LEN, got) == STEPS);
    CHECK(same_ids(got, expected, STEPS));
    HeliosSamplerOptions p0 = options_with(0.7f, 6, STEPS);
    p0.top_p = 1e-6f;
    CHECK(fresh_tokens(model, &p0, PROMPT, PROMPT_LEN, got) == STEPS);
    CHECK(same_ids(got, expected, STEPS));

    /* Ten tokens, then ten more with prompt_len 0 (and a NULL prompt): the
     * same twenty, continuing the context. */
    HeliosSamplerOptions half = options_with(0.0f, 0, STEPS / 2);
    s = new_sampler(model, &half);
    CHECK(gen(s, PROMPT, PROMPT_LEN, got, STEPS / 2, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS / 2 && reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(context_len(s) == PROMPT_LEN + STEPS / 2);
    CHECK(gen(s, NULL, 0, got + STEPS / 2, STEPS / 2, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS / 2 && reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(same_ids(got, expected, STEPS));
    CHECK(context_len(s) == PROMPT_LEN + STEPS);
    /* A later call may add a prompt of its own: the reference over the whole
     * context (prompt, generated, new prompt). */
    const uint32_t more[] = {1, 2};
    uint32_t all[PROMPT_LEN + STEPS + 2], next[STEPS / 2], expected_next[STEPS / 2];
    memcpy(all, PROMPT, sizeof PROMPT);
    memcpy(all + PROMPT_LEN, got, STEPS * sizeof *got);
    memcpy(all + PROMPT_LEN + STEPS, more, sizeof more);
    reference_greedy(model, all, ARRAY_LEN(all), STEPS / 2, VOCAB, 1.0f, expected_next);
    CHECK(gen(s, more, 2, next, STEPS / 2, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS / 2 && same_ids(next, expected_next, STEPS / 2));
    CHECK(context_len(s) == PROMPT_LEN + STEPS + 2 + STEPS / 2);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* With a repetition penalty: the reference applies it to the logits. */
    float penalties[] = {1.3f, 0.6f};
    for (size_t p = 0; p < ARRAY_LEN(penalties); p++) {
        HeliosSamplerOptions rp = options_with(0.0f, 0, STEPS);
        rp.repetition_penalty = penalties[p];
        reference_greedy(model, PROMPT, PROMPT_LEN, STEPS, VOCAB, penalties[p], expected);
        CHECK(fresh_tokens(model, &rp, PROMPT, PROMPT_LEN, got) == STEPS);
        CHECK(same_ids(got, expected, STEPS));
    }
    helios_model_free(model);
}

static void test_seeds_and_threads(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 3);
    enum { STEPS = 24 };
    HeliosSamplerOptions settings[3];
    settings[0] = options_with(1.0f, 42, STEPS);
    settings[1] = options_with(0.8f, 43, STEPS);
    settings[1].top_k = 10;
    settings[2] = options_with(1.2f, 44, STEPS);
    settings[2].top_p = 0.9f;
    settings[2].repetition_penalty = 1.2f;
    for (size_t k = 0; k < ARRAY_LEN(settings); k++) {
        uint32_t first[STEPS], again[STEPS];
        settings[k].threads = 1;
        CHECK(fresh_tokens(model, &settings[k], PROMPT, PROMPT_LEN, first) == STEPS);
        for (size_t threads = 1; threads <= 3; threads++) {
            settings[k].threads = threads;
            memset(again, 0xFF, sizeof again);
            CHECK(fresh_tokens(model, &settings[k], PROMPT, PROMPT_LEN, again) == STEPS);
            CHECK(same_ids(first, again, STEPS));
        }
        settings[k].threads = HELIOS_AUTO;
        CHECK(fresh_tokens(model, &settings[k], PROMPT, PROMPT_LEN, again) == STEPS);
        CHECK(same_ids(first, again, STEPS));
        /* Another seed: other tokens (24 draws from nearly uniform
         * probabilities over dozens of tokens cannot all agree by chance). */
        settings[k].seed += 1000;
        CHECK(fresh_tokens(model, &settings[k], PROMPT, PROMPT_LEN, again) == STEPS);
        CHECK(!same_ids(first, again, STEPS));
        /* Every token is in the vocabulary. */
        bool in_vocab = true;
        for (size_t t = 0; t < STEPS; t++) in_vocab &= first[t] < VOCAB;
        CHECK(in_vocab);
    }
    helios_model_free(model);
}

/* ---- buffers, callbacks, cancellation, stops --------------------------------------- */

static void test_buffers_and_callbacks(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 4);
    enum { STEPS = 12 };
    HeliosSamplerOptions o = options_with(1.0f, 8, STEPS);
    uint32_t expected[STEPS];
    CHECK(fresh_tokens(model, &o, PROMPT, PROMPT_LEN, expected) == STEPS);

    /* The callback sees every token, in order; the buffer holds the same. */
    HeliosSampler *s = new_sampler(model, &o);
    TokenLog log = {0};
    uint32_t out[STEPS];
    size_t count = 0;
    int32_t reason = -1;
    CHECK(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS, log_token, &log, NULL, &count, &reason) ==
          HELIOS_OK);
    CHECK(count == STEPS && log.n == STEPS && reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(same_ids(out, expected, STEPS) && same_ids(log.seen, expected, STEPS));
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* out_tokens NULL with capacity 0: the callback alone. */
    s = new_sampler(model, &o);
    memset(&log, 0, sizeof log);
    CHECK(helios_sampler_generate(s, PROMPT, PROMPT_LEN, NULL, 0, log_token, &log, NULL, &count, &reason) ==
          HELIOS_OK);
    CHECK(count == STEPS && log.n == STEPS && reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(same_ids(log.seen, expected, STEPS));
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* Neither a buffer nor a callback: the tokens still go into the context
     * (the count and the context length say so). */
    s = new_sampler(model, &o);
    CHECK(helios_sampler_generate(s, PROMPT, PROMPT_LEN, NULL, 0, NULL, NULL, NULL, &count, NULL) == HELIOS_OK);
    CHECK(count == STEPS && context_len(s) == PROMPT_LEN + STEPS);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* A buffer smaller than max_tokens: refused before anything runs (no
     * token, no callback, the context and the random generator untouched). */
    s = new_sampler(model, &o);
    memset(&log, 0, sizeof log);
    count = 77;
    CHECK_STATUS(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS - 1, log_token, &log, NULL, &count, &reason),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "out_tokens");
    CHECK(count == 0 && log.n == 0 && context_len(s) == 0);
    CHECK_STATUS(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, 0, NULL, NULL, NULL, &count, &reason),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "out_tokens");
    CHECK(count == 0 && context_len(s) == 0);
    /* A larger buffer than needed is fine; the sampler behaves as new. */
    uint32_t big[STEPS + 5];
    CHECK(gen(s, PROMPT, PROMPT_LEN, big, ARRAY_LEN(big), &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && same_ids(big, expected, STEPS));
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* A non-zero return stops: HELIOS_STOP_CALLBACK, the tokens so far. */
    for (size_t stop_at = 1; stop_at <= 5; stop_at += 2) {
        s = new_sampler(model, &o);
        memset(&log, 0, sizeof log);
        memset(out, 0xFF, sizeof out);
        log.stop_at = stop_at;
        CHECK(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS, log_token, &log, NULL, &count, &reason) ==
              HELIOS_OK);
        CHECK(reason == HELIOS_STOP_CALLBACK && count == stop_at && log.n == stop_at);
        CHECK(same_ids(out, expected, stop_at) && same_ids(log.seen, expected, stop_at));
        CHECK(out[stop_at] == UINT32_MAX); /* nothing written past the count */
        CHECK(context_len(s) == PROMPT_LEN + stop_at);
        /* Going on continues the same sequence. */
        uint32_t rest[STEPS];
        CHECK(gen(s, NULL, 0, rest, STEPS, &count, &reason) == HELIOS_OK);
        CHECK(count == STEPS && same_ids(rest, expected + stop_at, STEPS - stop_at));
        CHECK(helios_sampler_free(s) == HELIOS_OK);
    }
    helios_model_free(model);
}

static void test_cancel(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 5);
    enum { STEPS = 10 };
    HeliosSamplerOptions o = options_with(0.9f, 21, STEPS);
    uint32_t expected[2 * STEPS];
    /* The uninterrupted sequence: two calls of STEPS. */
    HeliosSampler *s = new_sampler(model, &o);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(gen(s, PROMPT, PROMPT_LEN, expected, STEPS, &count, &reason) == HELIOS_OK && count == STEPS);
    CHECK(gen(s, NULL, 0, expected + STEPS, STEPS, &count, &reason) == HELIOS_OK && count == STEPS);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    HeliosCancelToken *cancel = NULL;
    CHECK(helios_cancel_token_new(&cancel) == HELIOS_OK);

    /* Raised in the callback after 3 tokens: HELIOS_ERR_CANCELLED with those
     * 3 in the buffer and the count. */
    s = new_sampler(model, &o);
    TokenLog log = {0};
    log.cancel = cancel;
    log.cancel_at = 3;
    uint32_t out[STEPS];
    memset(out, 0xFF, sizeof out);
    CHECK_STATUS(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS, log_token, &log, cancel, &count, &reason),
                 HELIOS_ERR_CANCELLED, "cancel");
    CHECK(count == 3 && log.n == 3 && same_ids(out, expected, 3) && out[3] == UINT32_MAX);
    CHECK(context_len(s) == PROMPT_LEN + 3);
    /* Still raised: the next call stops before its first token. */
    CHECK_STATUS(helios_sampler_generate(s, NULL, 0, out, STEPS, NULL, NULL, cancel, &count, &reason),
                 HELIOS_ERR_CANCELLED, "cancel");
    CHECK(count == 0 && context_len(s) == PROMPT_LEN + 3);
    /* Lowered: the context goes on where it stopped, the same sequence. */
    CHECK(helios_cancel_token_reset(cancel) == HELIOS_OK);
    CHECK(helios_sampler_generate(s, NULL, 0, out, STEPS, NULL, NULL, cancel, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && same_ids(out, expected + 3, STEPS));
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* Raised before the call: nothing produced, no callback. */
    s = new_sampler(model, &o);
    CHECK(helios_cancel_token_cancel(cancel) == HELIOS_OK);
    memset(&log, 0, sizeof log);
    count = 77;
    CHECK_STATUS(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS, log_token, &log, cancel, &count, &reason),
                 HELIOS_ERR_CANCELLED, "cancel");
    CHECK(count == 0 && log.n == 0);
    /* A cancel with a NULL out_count is fine too. */
    CHECK(helios_sampler_generate(s, NULL, 0, out, STEPS, NULL, NULL, cancel, NULL, NULL) == HELIOS_ERR_CANCELLED);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_cancel_token_free(cancel);
    helios_model_free(model);
}

static void test_stop_tokens(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 6);
    enum { STEPS = 16 };
    for (int sampled = 0; sampled <= 1; sampled++) {
        HeliosSamplerOptions o = options_with(sampled ? 1.0f : 0.0f, 33, STEPS);
        uint32_t expected[STEPS];
        CHECK(fresh_tokens(model, &o, PROMPT, PROMPT_LEN, expected) == STEPS);
        /* Stop at the token found at position 5: the output ends before its
         * first occurrence. */
        uint32_t stop = expected[5];
        size_t first = 0;
        while (expected[first] != stop) first++;
        uint32_t stops[] = {VOCAB - 1 == stop ? 0 : VOCAB - 1, stop};
        /* (the other stop token must not come before: keep it only if absent) */
        bool other_absent = true;
        for (size_t t = 0; t <= first; t++) other_absent &= expected[t] != stops[0];
        o.stop_tokens = other_absent ? stops : stops + 1;
        o.stop_tokens_count = other_absent ? 2 : 1;
        HeliosSampler *s = new_sampler(model, &o);
        TokenLog log = {0};
        uint32_t out[STEPS];
        size_t count = 0;
        int32_t reason = -1;
        CHECK(helios_sampler_generate(s, PROMPT, PROMPT_LEN, out, STEPS, log_token, &log, NULL, &count, &reason) ==
              HELIOS_OK);
        CHECK(reason == HELIOS_STOP_TOKEN && count == first && log.n == first);
        CHECK(same_ids(out, expected, first));
        bool stop_absent = true;
        for (size_t t = 0; t < count; t++) stop_absent &= out[t] != stop && log.seen[t] != stop;
        CHECK(stop_absent);
        CHECK(helios_sampler_free(s) == HELIOS_OK);
    }
    helios_model_free(model);
}

static void test_context_full(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 7);
    /* A context of 8 positions, a prompt of 4, up to 50 tokens: the context
     * fills with prompt + generated tokens, so 8 - 4 tokens come out. */
    enum { CONTEXT = 8, MAX = 50 };
    HeliosSamplerOptions o = options_with(0.0f, 0, MAX);
    o.context = CONTEXT;
    uint32_t expected[MAX], out[MAX];
    reference_greedy(model, PROMPT, PROMPT_LEN, CONTEXT - PROMPT_LEN, VOCAB, 1.0f, expected);
    HeliosSampler *s = new_sampler(model, &o);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(gen(s, PROMPT, PROMPT_LEN, out, MAX, &count, &reason) == HELIOS_OK);
    CHECK(reason == HELIOS_STOP_CONTEXT_FULL);
    CHECK(count == CONTEXT - PROMPT_LEN);
    CHECK(same_ids(out, expected, count < MAX ? count : MAX));
    /* Nothing more fits: another prompt is refused, the context unchanged. */
    size_t used = context_len(s);
    CHECK_STATUS(gen(s, PROMPT, 1, out, MAX, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "does not fit");
    CHECK(count == 0 && context_len(s) == used);
    /* Going on with no prompt produces nothing either, and says why. */
    CHECK(gen(s, NULL, 0, out, MAX, &count, &reason) == HELIOS_OK);
    CHECK(reason == HELIOS_STOP_CONTEXT_FULL && count == 0 && context_len(s) == used);
    /* After a reset the sampler starts over. */
    CHECK(helios_sampler_reset(s) == HELIOS_OK);
    CHECK(context_len(s) == 0);
    CHECK(gen(s, PROMPT, PROMPT_LEN, out, MAX, &count, &reason) == HELIOS_OK);
    CHECK(reason == HELIOS_STOP_CONTEXT_FULL && count == CONTEXT - PROMPT_LEN && same_ids(out, expected, count));
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* A prompt that fills the whole context leaves no room: no token. */
    uint32_t full[CONTEXT];
    for (size_t i = 0; i < CONTEXT; i++) full[i] = (uint32_t)(i * 7 % VOCAB);
    s = new_sampler(model, &o);
    CHECK(gen(s, full, CONTEXT, out, MAX, &count, &reason) == HELIOS_OK);
    CHECK(reason == HELIOS_STOP_CONTEXT_FULL && count == 0);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* The default context is the model's n_positions. */
    HeliosSamplerOptions d = options_with(1.0f, 3, MAX);
    s = new_sampler(model, &d);
    uint32_t long_prompt[POSITIONS - 2];
    for (size_t i = 0; i < ARRAY_LEN(long_prompt); i++) long_prompt[i] = (uint32_t)(i * 11 % VOCAB);
    CHECK(gen(s, long_prompt, ARRAY_LEN(long_prompt), out, MAX, &count, &reason) == HELIOS_OK);
    CHECK(reason == HELIOS_STOP_CONTEXT_FULL && count == 2);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_model_free(model);
}

static void test_reset_and_context_len(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 8);
    enum { STEPS = 6 };
    HeliosSamplerOptions o = options_with(1.0f, 77, STEPS);
    uint32_t fresh[STEPS], first[STEPS], second[STEPS], after[STEPS];
    CHECK(fresh_tokens(model, &o, PROMPT, PROMPT_LEN, fresh) == STEPS);

    HeliosSampler *s = new_sampler(model, &o);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(context_len(s) == 0);
    CHECK(gen(s, PROMPT, PROMPT_LEN, first, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(same_ids(first, fresh, STEPS));
    CHECK(context_len(s) == PROMPT_LEN + STEPS);
    const uint32_t more[] = {9, 10, 11};
    CHECK(gen(s, more, 3, second, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(context_len(s) == PROMPT_LEN + STEPS + 3 + STEPS);
    CHECK(helios_sampler_reset(s) == HELIOS_OK);
    CHECK(context_len(s) == 0);
    /* Empty prompt on the emptied context: refused. */
    CHECK_STATUS(gen(s, NULL, 0, after, STEPS, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    /* The same prompt: the same tokens as a new sampler (the generator
     * restarts from the seed). */
    CHECK(gen(s, PROMPT, PROMPT_LEN, after, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && same_ids(after, fresh, STEPS));
    CHECK(helios_sampler_reset(s) == HELIOS_OK);
    CHECK(helios_sampler_reset(s) == HELIOS_OK); /* twice is harmless */
    CHECK(gen(s, PROMPT, PROMPT_LEN, after, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(same_ids(after, fresh, STEPS));
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_model_free(model);
}

static void test_model_freed_first(void) {
    enum { STEPS = 10 };
    HeliosSamplerOptions o = options_with(1.0f, 5, STEPS);
    /* The reference: the same weights (same seed) in another model. */
    HeliosModel *twin = tiny_model(VOCAB, POSITIONS, 9);
    uint32_t expected[2 * STEPS];
    HeliosSampler *ref = new_sampler(twin, &o);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(gen(ref, PROMPT, PROMPT_LEN, expected, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(gen(ref, NULL, 0, expected + STEPS, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(helios_sampler_free(ref) == HELIOS_OK);
    helios_model_free(twin);

    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 9);
    HeliosSampler *a = new_sampler(model, &o), *b = new_sampler(model, &o);
    uint32_t out[STEPS];
    CHECK(gen(a, PROMPT, PROMPT_LEN, out, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(same_ids(out, expected, STEPS));
    helios_model_free(model); /* the samplers keep the weights alive */
    CHECK(gen(a, NULL, 0, out, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && same_ids(out, expected + STEPS, STEPS));
    CHECK(gen(b, PROMPT, PROMPT_LEN, out, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(same_ids(out, expected, STEPS));
    CHECK(helios_sampler_free(a) == HELIOS_OK);
    CHECK(helios_sampler_reset(b) == HELIOS_OK);
    CHECK(gen(b, PROMPT, PROMPT_LEN, out, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(same_ids(out, expected, STEPS));
    CHECK(helios_sampler_free(b) == HELIOS_OK); /* the last reference: the weights go (valgrind checks) */
}

/* ---- threads ----------------------------------------------------------------------- */

/* Two threads on one sampler: the owner is inside generate, parked in its
 * token callback until the intruder has tried every call. */
typedef struct {
    HeliosSampler *sampler;
    const HeliosTokenizer *tokenizer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool inside, tried;
    HeliosStatus status;
    size_t count;
    int32_t reason;
    uint32_t tokens[MAX_OUT];
    size_t callbacks;
} BusyCase;

static int32_t park_in_callback(uint32_t token, void *user_data) {
    BusyCase *c = user_data;
    (void)token;
    c->callbacks++;
    pthread_mutex_lock(&c->mu);
    if (!c->inside) {
        c->inside = true;
        pthread_cond_broadcast(&c->cv);
        while (!c->tried) pthread_cond_wait(&c->cv, &c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void *busy_owner(void *arg) {
    BusyCase *c = arg;
    c->status = helios_sampler_generate(c->sampler, PROMPT, PROMPT_LEN, c->tokens, MAX_OUT, park_in_callback, c, NULL,
                                        &c->count, &c->reason);
    return NULL;
}

static int32_t ignore_text(const char *piece, size_t len, void *user_data) {
    (void)piece, (void)len, (void)user_data;
    return 0;
}

static void *busy_intruder(void *arg) {
    BusyCase *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->inside) pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
    /* The owner is inside: every call on the sampler is refused, and none
     * changes it. (The main thread is in pthread_join and the owner parked,
     * so CHECK's counters are this thread's alone for now.) */
    uint32_t out[MAX_OUT];
    size_t count = 77, len = 77, n = 77;
    int32_t reason = -1;
    CHECK_STATUS(helios_sampler_generate(c->sampler, PROMPT, PROMPT_LEN, out, MAX_OUT, NULL, NULL, NULL, &count,
                                         &reason),
                 HELIOS_ERR_BUSY, "in use");
    CHECK(count == 0 && reason == -1);
    CHECK_STATUS(helios_sampler_generate(c->sampler, NULL, 0, NULL, 0, NULL, NULL, NULL, &count, NULL),
                 HELIOS_ERR_BUSY, "in use");
    CHECK_STATUS(helios_sampler_reset(c->sampler), HELIOS_ERR_BUSY, "in use");
    CHECK_STATUS(helios_sampler_context_len(c->sampler, &n), HELIOS_ERR_BUSY, "in use");
    CHECK(n == 77);
    CHECK_STATUS(helios_sampler_generate_text(c->sampler, c->tokenizer, "ab", 2, ignore_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_BUSY, "in use");
    CHECK(len == 0);
    CHECK_STATUS(helios_sampler_free(c->sampler), HELIOS_ERR_BUSY, "in use");
    pthread_mutex_lock(&c->mu);
    c->tried = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

static HeliosTokenizer *char_tokenizer(const char *text) {
    HeliosTokenizerTrainOptions to = helios_tokenizer_default_train_options();
    to.vocab_size = 0;
    size_t len = strlen(text);
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_train_char(&text, &len, 1, &to, &tok) == HELIOS_OK);
    return tok;
}

static void test_two_threads_one_sampler(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 10);
    enum { STEPS = 8 };
    HeliosSamplerOptions o = options_with(1.0f, 123, STEPS);
    uint32_t expected[2 * STEPS];
    HeliosSampler *ref = new_sampler(model, &o);
    size_t count = 0;
    int32_t reason = -1;
    CHECK(gen(ref, PROMPT, PROMPT_LEN, expected, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(gen(ref, NULL, 0, expected + STEPS, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(helios_sampler_free(ref) == HELIOS_OK);

    BusyCase c;
    memset(&c, 0, sizeof c);
    c.sampler = new_sampler(model, &o);
    c.tokenizer = char_tokenizer("abc");
    pthread_mutex_init(&c.mu, NULL);
    pthread_cond_init(&c.cv, NULL);
    pthread_t owner, intruder;
    CHECK(pthread_create(&owner, NULL, busy_owner, &c) == 0);
    CHECK(pthread_create(&intruder, NULL, busy_intruder, &c) == 0);
    pthread_join(intruder, NULL);
    pthread_join(owner, NULL);
    /* The owner's call was not disturbed. */
    CHECK(c.status == HELIOS_OK && c.count == STEPS && c.reason == HELIOS_STOP_MAX_TOKENS);
    CHECK(c.callbacks == STEPS && c.tried);
    CHECK(same_ids(c.tokens, expected, STEPS));
    /* And the sampler still works: it goes on with the same sequence. */
    CHECK(context_len(c.sampler) == PROMPT_LEN + STEPS);
    uint32_t out[STEPS];
    CHECK(gen(c.sampler, NULL, 0, out, STEPS, &count, &reason) == HELIOS_OK);
    CHECK(count == STEPS && same_ids(out, expected + STEPS, STEPS));
    CHECK(helios_sampler_free(c.sampler) == HELIOS_OK);
    helios_tokenizer_free((HeliosTokenizer *)c.tokenizer);
    pthread_cond_destroy(&c.cv);
    pthread_mutex_destroy(&c.mu);
    helios_model_free(model);
}

/* One request: a sampler of its own on the shared model. */
typedef struct {
    const HeliosModel *model;
    HeliosSamplerOptions options;
    uint32_t prompt[8];
    size_t prompt_len;
    uint32_t tokens[2][MAX_OUT];
    size_t counts[2];
    HeliosStatus status;
} Request;

static void *run_request(void *arg) {
    Request *r = arg;
    HeliosSampler *s = NULL;
    r->status = helios_sampler_new(r->model, &r->options, &s);
    if (r->status != HELIOS_OK) return NULL;
    int32_t reason = -1;
    r->status = helios_sampler_generate(s, r->prompt, r->prompt_len, r->tokens[0], MAX_OUT, NULL, NULL, NULL,
                                        &r->counts[0], &reason);
    if (r->status == HELIOS_OK)
        r->status = helios_sampler_generate(s, NULL, 0, r->tokens[1], MAX_OUT, NULL, NULL, NULL, &r->counts[1], &reason);
    HeliosStatus freed = helios_sampler_free(s);
    if (r->status == HELIOS_OK) r->status = freed;
    return NULL;
}

static void test_four_threads_own_samplers(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 11);
    enum { N = 4 };
    Request sequential[N], parallel[N];
    for (size_t i = 0; i < N; i++) {
        Request *r = &sequential[i];
        memset(r, 0, sizeof *r);
        r->model = model;
        r->options = options_with(i == 3 ? 0.0f : 0.7f + 0.2f * (float)i, 1000 + i, 6 + i);
        r->options.top_k = i == 1 ? 8 : 0;
        r->options.top_p = i == 2 ? 0.8f : 1.0f;
        r->options.threads = i % 2 ? 2 : 1;
        r->prompt_len = 2 + i;
        for (size_t t = 0; t < r->prompt_len; t++) r->prompt[t] = (uint32_t)((i * 13 + t * 7) % VOCAB);
        parallel[i] = *r;
        run_request(r);
        CHECK(r->status == HELIOS_OK && r->counts[0] == 6 + i && r->counts[1] == 6 + i);
    }
    pthread_t threads[N];
    for (size_t i = 0; i < N; i++) CHECK(pthread_create(&threads[i], NULL, run_request, &parallel[i]) == 0);
    for (size_t i = 0; i < N; i++) pthread_join(threads[i], NULL);
    for (size_t i = 0; i < N; i++) {
        CHECK(parallel[i].status == HELIOS_OK);
        for (size_t k = 0; k < 2; k++) {
            CHECK(parallel[i].counts[k] == sequential[i].counts[k]);
            CHECK(same_ids(parallel[i].tokens[k], sequential[i].tokens[k], sequential[i].counts[k]));
        }
    }
    helios_model_free(model);
}

/* ---- generate_text ----------------------------------------------------------------- */

static const char *const CORPUS[] = {
    "The model reads the prompt and writes the next token, one at a time.",
    "A sampler keeps its own cache, its own random generator and its own context.",
    "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9\x65, na\xC3\xAFve \xC3\xBC\x62\x65r, \xE4\xB8\xAD\xE6\x96\x87, "
    "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E and \xF0\x9F\x99\x82 \xF0\x9F\x8E\x89 are bytes like any other.",
    "Caf\xC3\xA9 \xC3\xA9t\xC3\xA9 \xC3\xA0 la plage, \xE4\xB8\xAD\xE6\x96\x87 \xE4\xB8\xAD\xE6\x96\x87 "
    "\xF0\x9F\x99\x82\xF0\x9F\x99\x82.<|endoftext|>",
    "The model writes the text; the tokenizer turns tokens back into text.",
};

static HeliosTokenizer *bpe_tokenizer(void) {
    size_t lengths[ARRAY_LEN(CORPUS)];
    for (size_t i = 0; i < ARRAY_LEN(CORPUS); i++) lengths[i] = strlen(CORPUS[i]);
    const char *specials[] = {"<|endoftext|>"};
    HeliosTokenizerTrainOptions to = helios_tokenizer_default_train_options();
    to.vocab_size = 300;
    to.min_frequency = 2;
    to.special_tokens = specials;
    to.special_tokens_count = 1;
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_train_bpe((const char *const *)CORPUS, lengths, ARRAY_LEN(CORPUS), &to, &tok) ==
          HELIOS_OK);
    return tok;
}

/* A BPE over single letters with no pre-tokenizer and no decoder: Hugging
 * Face joins such tokens with spaces when decoding. */
static HeliosTokenizer *plain_tokenizer(void) {
    char json[2048];
    int n = snprintf(json, sizeof json,
                     "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[],"
                     "\"normalizer\":null,\"pre_tokenizer\":null,\"post_processor\":null,\"decoder\":null,"
                     "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
                     "\"continuing_subword_prefix\":null,\"end_of_word_suffix\":null,\"fuse_unk\":false,"
                     "\"byte_fallback\":false,\"ignore_merges\":false,\"vocab\":{");
    for (int c = 0; c < 26; c++) n += snprintf(json + n, sizeof json - n, "%s\"%c\":%d", c ? "," : "", 'a' + c, c);
    n += snprintf(json + n, sizeof json - n, ",\"ab\":26,\"abc\":27},\"merges\":[\"a b\",\"ab c\"]}}");
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_from_json((const uint8_t *)json, (size_t)n, &tok) == HELIOS_OK);
    return tok;
}

static size_t tokenizer_vocab(const HeliosTokenizer *tok) {
    size_t n = 0;
    CHECK(helios_tokenizer_vocab_size(tok, &n) == HELIOS_OK);
    return n;
}

enum { TEXT_CAP = 8192 };

/* A text callback that logs the pieces, checks each, and stops or cancels
 * after a given number of pieces. */
typedef struct {
    char text[TEXT_CAP];
    size_t len;
    size_t pieces;
    size_t ends[256]; /* the length after each piece */
    bool all_valid;   /* every piece whole UTF-8 */
    bool any_empty;
    size_t stop_after;
    size_t cancel_after;
    const HeliosCancelToken *cancel;
} TextLog;

static void text_log_init(TextLog *log) {
    memset(log, 0, sizeof *log);
    log->all_valid = true;
}

static int32_t log_text(const char *piece, size_t len, void *user_data) {
    TextLog *log = user_data;
    log->all_valid &= valid_utf8(piece, len);
    log->any_empty |= len == 0;
    if (log->len + len < TEXT_CAP) {
        memcpy(log->text + log->len, piece, len);
        log->len += len;
        log->text[log->len] = '\0';
    }
    if (log->pieces < ARRAY_LEN(log->ends)) log->ends[log->pieces] = log->len;
    log->pieces++;
    if (log->cancel && log->pieces == log->cancel_after) helios_cancel_token_cancel(log->cancel);
    return log->stop_after != 0 && log->pieces == log->stop_after ? 1 : 0;
}

static size_t encode(const HeliosTokenizer *tok, const char *text, uint32_t *ids, size_t capacity) {
    size_t n = 0;
    CHECK(helios_tokenizer_encode(tok, text, strlen(text), ids, capacity, NULL, &n) == HELIOS_OK);
    return n;
}

static size_t decode(const HeliosTokenizer *tok, const uint32_t *ids, size_t count, char *out, size_t capacity) {
    size_t len = 0;
    CHECK(helios_tokenizer_decode(tok, ids, count, 0, (uint8_t *)out, capacity - 1, &len) == HELIOS_OK);
    out[len < capacity ? len : capacity - 1] = '\0';
    return len;
}

/* generate_text's stream against helios_sampler_generate on the encoded
 * prompt and helios_tokenizer_decode of its ids, on a fresh sampler each. */
static void check_text_matches_tokens(const HeliosModel *model, const HeliosTokenizer *tok,
                                      const HeliosSamplerOptions *o, const char *prompt, TextLog *log,
                                      int32_t *reason_out) {
    HeliosSampler *s = new_sampler(model, o);
    text_log_init(log);
    size_t len = 77;
    int32_t reason = -1;
    CHECK(helios_sampler_generate_text(s, tok, prompt, strlen(prompt), log_text, log, NULL, &len, &reason) ==
          HELIOS_OK);
    CHECK(len == log->len);
    CHECK(log->all_valid && !log->any_empty);
    CHECK(valid_utf8(log->text, log->len));
    size_t text_context = context_len(s);

    uint32_t ids[POSITIONS * 2];
    size_t n_ids = encode(tok, prompt, ids, ARRAY_LEN(ids));
    uint32_t tokens[MAX_OUT];
    HeliosSampler *ref = new_sampler(model, o);
    size_t count = 0;
    int32_t token_reason = -1;
    CHECK(gen(ref, ids, n_ids, tokens, MAX_OUT, &count, &token_reason) == HELIOS_OK);
    /* The same prompt encoding: the same context length and stop reason
     * (generate_text reports the token stop reasons as they are), and the
     * same context: going on from both gives the same tokens. */
    CHECK(context_len(ref) == text_context);
    CHECK(count + n_ids == text_context);
    CHECK(reason == token_reason);
    uint32_t next_text[MAX_OUT], next_ref[MAX_OUT];
    size_t n_text = 0, n_ref = 1;
    int32_t r_text = -1, r_ref = -2;
    CHECK(gen(s, NULL, 0, next_text, MAX_OUT, &n_text, &r_text) == HELIOS_OK);
    CHECK(gen(ref, NULL, 0, next_ref, MAX_OUT, &n_ref, &r_ref) == HELIOS_OK);
    CHECK(n_text == n_ref && r_text == r_ref && same_ids(next_text, next_ref, n_ref));
    CHECK(helios_sampler_free(ref) == HELIOS_OK);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    char decoded[TEXT_CAP];
    size_t decoded_len = decode(tok, tokens, count, decoded, sizeof decoded);
    CHECK(decoded_len == log->len && memcmp(decoded, log->text, decoded_len) == 0);
    if (decoded_len != log->len || memcmp(decoded, log->text, decoded_len) != 0)
        fprintf(stderr, "    streamed \"%s\"\n    decoded  \"%s\"\n", log->text, decoded);
    *reason_out = reason;
}

static void test_generate_text(void) {
    HeliosTokenizer *tok = bpe_tokenizer();
    size_t vocab = tokenizer_vocab(tok);
    CHECK(vocab > 256 && vocab <= 300);
    HeliosModel *model = tiny_model(vocab, 64, 12);
    const char *prompts[] = {"The model", "Caf\xC3\xA9 \xE4\xB8\xAD", "<|endoftext|>", " "};
    size_t multibyte_pieces = 0, total_pieces = 0;
    for (uint64_t seed = 0; seed < 6; seed++) {
        HeliosSamplerOptions o = options_with(seed == 5 ? 0.0f : 1.0f, seed, 24);
        TextLog log;
        int32_t reason = -1;
        check_text_matches_tokens(model, tok, &o, prompts[seed % ARRAY_LEN(prompts)], &log, &reason);
        CHECK(reason == HELIOS_STOP_MAX_TOKENS);
        total_pieces += log.pieces;
        for (size_t i = 0; i < log.len; i++) multibyte_pieces += (unsigned char)log.text[i] >= 0xC0;
    }
    /* The random tokens included multi-byte characters (whole ones or U+FFFD
     * for cut ones), so the UTF-8 checks had something to check. */
    CHECK(multibyte_pieces > 0 && total_pieces > 6);

    /* A stop token in generate_text: HELIOS_STOP_TOKEN, its text not in the
     * output. The token is found with a first run. */
    {
        HeliosSamplerOptions o = options_with(1.0f, 2, 24);
        uint32_t ids[64], tokens[MAX_OUT];
        size_t n_ids = encode(tok, "The model", ids, 64), count = 0;
        int32_t reason = -1;
        HeliosSampler *s = new_sampler(model, &o);
        CHECK(gen(s, ids, n_ids, tokens, MAX_OUT, &count, &reason) == HELIOS_OK && count == 24);
        CHECK(helios_sampler_free(s) == HELIOS_OK);
        uint32_t stop = tokens[10];
        size_t first = 0;
        while (tokens[first] != stop) first++;
        o.stop_tokens = &stop;
        o.stop_tokens_count = 1;
        TextLog log;
        check_text_matches_tokens(model, tok, &o, "The model", &log, &reason);
        CHECK(reason == HELIOS_STOP_TOKEN);
        char decoded[TEXT_CAP];
        size_t len = decode(tok, tokens, first, decoded, sizeof decoded);
        CHECK(len == log.len && memcmp(decoded, log.text, len) == 0);
    }

    /* Continuing with an empty prompt on a non-empty context. */
    {
        HeliosSamplerOptions o = options_with(1.0f, 9, 8);
        HeliosSampler *s = new_sampler(model, &o);
        TextLog log;
        text_log_init(&log);
        size_t len = 0;
        int32_t reason = -1;
        CHECK(helios_sampler_generate_text(s, tok, "The", 3, log_text, &log, NULL, &len, &reason) == HELIOS_OK);
        size_t used = context_len(s);
        text_log_init(&log);
        CHECK(helios_sampler_generate_text(s, tok, NULL, 0, log_text, &log, NULL, &len, &reason) == HELIOS_OK);
        CHECK(reason == HELIOS_STOP_MAX_TOKENS && context_len(s) == used + 8 && len == log.len && log.all_valid);
        CHECK(helios_sampler_reset(s) == HELIOS_OK);
        CHECK_STATUS(helios_sampler_generate_text(s, tok, "", 0, log_text, &log, NULL, &len, &reason),
                     HELIOS_ERR_INVALID_ARGUMENT, "empty");
        CHECK(len == 0);
        CHECK(helios_sampler_free(s) == HELIOS_OK);
    }

    /* Char-level (Fuse decoder) and decoder-less tokenizers: the same
     * agreement with decode. */
    {
        HeliosTokenizer *chars = char_tokenizer("the quick brown fox jumps over the lazy dog \xC3\xA9\xE4\xB8\xAD");
        HeliosModel *small = tiny_model(tokenizer_vocab(chars), POSITIONS, 13);
        HeliosTokenizer *plain = plain_tokenizer();
        HeliosModel *plain_model = tiny_model(tokenizer_vocab(plain), POSITIONS, 14);
        for (uint64_t seed = 0; seed < 3; seed++) {
            HeliosSamplerOptions o = options_with(1.0f, seed, 12);
            TextLog log;
            int32_t reason = -1;
            check_text_matches_tokens(small, chars, &o, "the fox", &log, &reason);
            CHECK(reason == HELIOS_STOP_MAX_TOKENS);
            check_text_matches_tokens(plain_model, plain, &o, "abcab", &log, &reason);
            CHECK(reason == HELIOS_STOP_MAX_TOKENS);
        }
        helios_tokenizer_free(plain);
        helios_model_free(plain_model);
        helios_tokenizer_free(chars);
        helios_model_free(small);
    }
    helios_model_free(model);
    helios_tokenizer_free(tok);
}

/* The byte offset of the first occurrence of `needle` in `hay`, or SIZE_MAX. */
static size_t find(const char *hay, size_t hay_len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= hay_len; i++)
        if (memcmp(hay + i, needle, n) == 0) return i;
    return SIZE_MAX;
}

/* The start of the UTF-8 character holding byte `at`. */
static size_t char_start(const char *text, size_t at) {
    while (at > 0 && ((unsigned char)text[at] & 0xC0) == 0x80) at--;
    return at;
}

static void test_stop_strings_and_text_callback(void) {
    HeliosTokenizer *tok = bpe_tokenizer();
    size_t vocab = tokenizer_vocab(tok);
    HeliosModel *model = tiny_model(vocab, 64, 15);
    const char *prompt = "The model";
    size_t checked = 0;
    for (uint64_t seed = 0; seed < 6; seed++) {
        /* The whole text without stop strings. */
        HeliosSamplerOptions o = options_with(1.0f, 100 + seed, 24);
        TextLog full;
        int32_t reason = -1;
        check_text_matches_tokens(model, tok, &o, prompt, &full, &reason);
        if (full.len < 8) continue;

        /* A stop string taken from the middle of that text (whole
         * characters): the text stops right before its first occurrence. */
        size_t from = char_start(full.text, full.len / 2);
        size_t to = from + 3 < full.len ? char_start(full.text, from + 3) : full.len;
        if (to == from) to = full.len;
        /* (stop strings are NUL-terminated: skip a text with a NUL byte) */
        if (memchr(full.text, '\0', full.len) != NULL) continue;
        char stop[64];
        snprintf(stop, sizeof stop, "%.*s", (int)(to - from), full.text + from);
        size_t at = find(full.text, full.len, stop);
        CHECK(at <= from);
        checked++;
        const char *stops[] = {"\x01never", stop};
        o.stop_strings = stops;
        o.stop_strings_count = 2;
        HeliosSampler *s = new_sampler(model, &o);
        TextLog log;
        text_log_init(&log);
        size_t len = 77;
        CHECK(helios_sampler_generate_text(s, tok, prompt, strlen(prompt), log_text, &log, NULL, &len, &reason) ==
              HELIOS_OK);
        CHECK(reason == HELIOS_STOP_STRING);
        CHECK(len == at && log.len == at && memcmp(log.text, full.text, at) == 0);
        CHECK(log.all_valid && !log.any_empty);
        CHECK(find(log.text, log.len, stop) == SIZE_MAX);
        CHECK(helios_sampler_free(s) == HELIOS_OK);

        /* A stop string that begins with the text's last character and never
         * completes: that character is held back, then flushed at the end. */
        size_t last = char_start(full.text, full.len - 1);
        char tail_stop[16];
        snprintf(tail_stop, sizeof tail_stop, "%s\x02\x03", full.text + last);
        const char *tail_stops[] = {tail_stop};
        o.stop_strings = tail_stops;
        o.stop_strings_count = 1;
        if (find(full.text, full.len, tail_stop) == SIZE_MAX) {
            s = new_sampler(model, &o);
            text_log_init(&log);
            CHECK(helios_sampler_generate_text(s, tok, prompt, strlen(prompt), log_text, &log, NULL, &len, &reason) ==
                  HELIOS_OK);
            CHECK(reason == HELIOS_STOP_MAX_TOKENS);
            CHECK(len == full.len && log.len == full.len && memcmp(log.text, full.text, full.len) == 0);
            CHECK(log.all_valid && !log.any_empty);
            CHECK(helios_sampler_free(s) == HELIOS_OK);
        }
        o.stop_strings = NULL;
        o.stop_strings_count = 0;

        /* The text callback's non-zero return after the second piece:
         * HELIOS_STOP_CALLBACK, the first two pieces streamed. */
        if (full.pieces >= 3) {
            s = new_sampler(model, &o);
            text_log_init(&log);
            log.stop_after = 2;
            CHECK(helios_sampler_generate_text(s, tok, prompt, strlen(prompt), log_text, &log, NULL, &len, &reason) ==
                  HELIOS_OK);
            CHECK(reason == HELIOS_STOP_CALLBACK && log.pieces == 2);
            CHECK(len == full.ends[1] && log.len == full.ends[1] && memcmp(log.text, full.text, log.len) == 0);
            CHECK(helios_sampler_free(s) == HELIOS_OK);

            /* A cancel token raised in the text callback: HELIOS_ERR_CANCELLED,
             * out_len the bytes streamed. */
            HeliosCancelToken *cancel = NULL;
            CHECK(helios_cancel_token_new(&cancel) == HELIOS_OK);
            s = new_sampler(model, &o);
            text_log_init(&log);
            log.cancel = cancel;
            log.cancel_after = 1;
            len = 77;
            CHECK_STATUS(helios_sampler_generate_text(s, tok, prompt, strlen(prompt), log_text, &log, cancel, &len,
                                                      &reason),
                         HELIOS_ERR_CANCELLED, "cancel");
            CHECK(log.pieces == 1 && len == full.ends[0] && memcmp(log.text, full.text, len) == 0);
            CHECK(helios_sampler_free(s) == HELIOS_OK);
            helios_cancel_token_free(cancel);
        }
    }
    CHECK(checked >= 3);
    helios_model_free(model);
    helios_tokenizer_free(tok);
}

/* ---- bad input --------------------------------------------------------------------- */

static void check_new_refused(const HeliosModel *model, const HeliosSamplerOptions *o, HeliosStatus status,
                              const char *fragment) {
    HeliosSampler *s = NULL;
    CHECK_STATUS(helios_sampler_new(model, o, &s), status, fragment);
    CHECK(s == NULL);
}

static void test_bad_input(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 16);
    HeliosSamplerOptions o = options_with(1.0f, 0, 4);
    HeliosSampler *s = NULL;

    /* helios_sampler_new */
    CHECK_STATUS(helios_sampler_new(NULL, &o, &s), HELIOS_ERR_NULL_ARGUMENT, "model");
    CHECK_STATUS(helios_sampler_new(model, &o, NULL), HELIOS_ERR_NULL_ARGUMENT, "out");
    HeliosSamplerOptions bad = o;
    bad.struct_size = sizeof bad - 8;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "struct_size");
    bad.struct_size = 0;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "struct_size");
    const float bad_temperatures[] = {NAN, -1.0f, -0.0001f, INFINITY};
    for (size_t i = 0; i < ARRAY_LEN(bad_temperatures); i++) {
        bad = o;
        bad.temperature = bad_temperatures[i];
        check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "temperature");
    }
    const float bad_top_p[] = {0.0f, 1.5f, -0.5f, NAN, 1.0001f};
    for (size_t i = 0; i < ARRAY_LEN(bad_top_p); i++) {
        bad = o;
        bad.top_p = bad_top_p[i];
        check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "top_p");
    }
    const float bad_penalties[] = {0.0f, -1.0f, NAN, INFINITY};
    for (size_t i = 0; i < ARRAY_LEN(bad_penalties); i++) {
        bad = o;
        bad.repetition_penalty = bad_penalties[i];
        check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "repetition_penalty");
    }
    bad = o;
    bad.max_tokens = 0;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "max_tokens");
    const char *empty_stop[] = {"ok", ""};
    bad = o;
    bad.stop_strings = empty_stop;
    bad.stop_strings_count = 2;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "stop string");
    const char *null_stop[] = {"ok", NULL};
    bad.stop_strings = null_stop;
    check_new_refused(model, &bad, HELIOS_ERR_NULL_ARGUMENT, "stop_strings");
    bad.stop_strings = NULL;
    check_new_refused(model, &bad, HELIOS_ERR_NULL_ARGUMENT, "stop_strings");
    const char *not_utf8[] = {"caf\xC3"};
    bad.stop_strings = not_utf8;
    bad.stop_strings_count = 1;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "UTF-8");
    const uint32_t stop_tokens[] = {3, VOCAB};
    bad = o;
    bad.stop_tokens = stop_tokens;
    bad.stop_tokens_count = 2;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "stop token");
    bad.stop_tokens = NULL;
    check_new_refused(model, &bad, HELIOS_ERR_NULL_ARGUMENT, "stop_tokens");
    bad.stop_tokens_count = 1; /* {3}: fine */
    bad.stop_tokens = stop_tokens;
    s = new_sampler(model, &bad);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    bad = o;
    bad.context = POSITIONS + 1;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "context");
    bad.context = POSITIONS; /* the largest allowed */
    s = new_sampler(model, &bad);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    bad.threads = 0;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "thread");
    bad.threads = HELIOS_MAX_THREADS + 1;
    check_new_refused(model, &bad, HELIOS_ERR_INVALID_ARGUMENT, "thread");
    /* The edges that are allowed: temperature 0, top_p 1, tiny positive
     * values, a penalty below 1. */
    bad = o;
    bad.temperature = 0.0f;
    bad.top_p = 1.0f;
    bad.repetition_penalty = 0.5f;
    s = new_sampler(model, &bad);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    bad.temperature = 1e-6f;
    bad.top_p = 1e-6f;
    s = new_sampler(model, &bad);
    CHECK(helios_sampler_free(s) == HELIOS_OK);

    /* helios_sampler_free / reset / context_len */
    CHECK(helios_sampler_free(NULL) == HELIOS_OK);
    CHECK_STATUS(helios_sampler_reset(NULL), HELIOS_ERR_NULL_ARGUMENT, "sampler");
    size_t n = 0;
    CHECK_STATUS(helios_sampler_context_len(NULL, &n), HELIOS_ERR_NULL_ARGUMENT, "sampler");
    s = new_sampler(model, &o);
    CHECK_STATUS(helios_sampler_context_len(s, NULL), HELIOS_ERR_NULL_ARGUMENT, "out");

    /* helios_sampler_generate: each refusal leaves the context as it was. */
    uint32_t out[8];
    size_t count = 0;
    int32_t reason = -1;
    CHECK_STATUS(helios_sampler_generate(NULL, PROMPT, PROMPT_LEN, out, 8, NULL, NULL, NULL, &count, &reason),
                 HELIOS_ERR_NULL_ARGUMENT, "sampler");
    CHECK(count == 0);
    CHECK_STATUS(gen(s, NULL, 3, out, 8, &count, &reason), HELIOS_ERR_NULL_ARGUMENT, "prompt");
    CHECK(count == 0);
    CHECK_STATUS(gen(s, NULL, 0, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(gen(s, PROMPT, 0, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "empty");
    const uint32_t bad_ids[] = {1, 2, VOCAB, 3};
    CHECK_STATUS(gen(s, bad_ids, 4, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "prompt[2]");
    CHECK(count == 0);
    const uint32_t huge_id[] = {UINT32_MAX};
    CHECK_STATUS(gen(s, huge_id, 1, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "vocabulary");
    uint32_t too_long[POSITIONS + 1];
    for (size_t i = 0; i < ARRAY_LEN(too_long); i++) too_long[i] = (uint32_t)(i % VOCAB);
    CHECK_STATUS(gen(s, too_long, POSITIONS + 1, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT,
                 "does not fit");
    CHECK(count == 0 && context_len(s) == 0);
    /* A prompt that would fit an empty context but not what is left. */
    CHECK(gen(s, too_long, POSITIONS - 6, out, 8, &count, &reason) == HELIOS_OK && count == 4);
    CHECK(context_len(s) == POSITIONS - 2);
    CHECK_STATUS(gen(s, PROMPT, 3, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "does not fit");
    CHECK(context_len(s) == POSITIONS - 2);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    /* A context of 8: a prompt of 9 does not fit. */
    bad = o;
    bad.context = 8;
    s = new_sampler(model, &bad);
    CHECK_STATUS(gen(s, too_long, 9, out, 8, &count, &reason), HELIOS_ERR_INVALID_ARGUMENT, "does not fit");
    CHECK(gen(s, too_long, 8, out, 8, &count, &reason) == HELIOS_OK);

    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_model_free(model);

    /* helios_sampler_generate_text, on a model with the char tokenizer's
     * vocabulary */
    HeliosTokenizer *tok = char_tokenizer("abcdef");
    HeliosTokenizer *big = bpe_tokenizer(); /* more ids than the model has */
    model = tiny_model(tokenizer_vocab(tok), POSITIONS, 17);
    s = new_sampler(model, &o);
    size_t len = 77;
    CHECK_STATUS(helios_sampler_generate_text(NULL, tok, "ab", 2, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_NULL_ARGUMENT, "sampler");
    CHECK(len == 0);
    CHECK_STATUS(helios_sampler_generate_text(s, NULL, "ab", 2, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_NULL_ARGUMENT, "tokenizer");
    CHECK_STATUS(helios_sampler_generate_text(s, tok, "ab", 2, NULL, NULL, NULL, &len, &reason),
                 HELIOS_ERR_NULL_ARGUMENT, "on_text");
    CHECK_STATUS(helios_sampler_generate_text(s, tok, NULL, 2, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_NULL_ARGUMENT, "prompt");
    CHECK_STATUS(helios_sampler_generate_text(s, tok, "a\xC3", 2, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_STATUS(helios_sampler_generate_text(s, tok, "\xFF" "ab", 3, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_INVALID_ARGUMENT, "UTF-8");
    CHECK_STATUS(helios_sampler_generate_text(s, tok, NULL, 0, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_INVALID_ARGUMENT, "empty");
    CHECK_STATUS(helios_sampler_generate_text(s, big, "ab", 2, log_text, NULL, NULL, &len, &reason),
                 HELIOS_ERR_INVALID_ARGUMENT, "vocabulary");
    /* A character outside the char tokenizer's vocabulary: its error. */
    CHECK(helios_sampler_generate_text(s, tok, "xyz", 3, log_text, NULL, NULL, &len, &reason) ==
          HELIOS_ERR_INVALID_ARGUMENT);
    CHECK(len == 0 && context_len(s) == 0);
    /* All that left the sampler as it was. */
    TextLog log;
    text_log_init(&log);
    CHECK(helios_sampler_generate_text(s, tok, "ab", 2, log_text, &log, NULL, &len, &reason) == HELIOS_OK);
    CHECK(len == log.len && reason == HELIOS_STOP_MAX_TOKENS && context_len(s) == 2 + 4);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_tokenizer_free(big);
    helios_tokenizer_free(tok);
    helios_model_free(model);
}

/* The output buffer needs only what a call can produce, never overlaps the
 * prompt, and a huge max_tokens streams through the callback. */
static void test_output_buffer_bounds(void) {
    HeliosModel *model = tiny_model(VOCAB, POSITIONS, 21);
    HeliosSamplerOptions o = options_with(1.0f, 3, (size_t)1 << 40);
    o.context = 8;
    HeliosSampler *s = new_sampler(model, &o);
    uint32_t buf[8] = {1, 2, 3, 0, 0, 0, 0, 0};
    size_t count = 0;
    int32_t reason = -1;
    /* Same memory for the prompt and the output: refused, nothing runs. */
    CHECK_STATUS(helios_sampler_generate(s, buf, 3, buf, 8, NULL, NULL, NULL, &count, &reason),
                 HELIOS_ERR_INVALID_ARGUMENT, "overlaps");
    CHECK(count == 0 && context_len(s) == 0);
    /* 3 prompt tokens leave room for 5: a buffer of 5 is enough. */
    uint32_t out[5];
    CHECK(helios_sampler_generate(s, buf, 3, out, 5, NULL, NULL, NULL, &count, &reason) == HELIOS_OK);
    CHECK(count == 5 && reason == HELIOS_STOP_CONTEXT_FULL);
    CHECK(helios_sampler_reset(s) == HELIOS_OK);
    /* NULL output: tokens go only to the callback; no allocation by max_tokens. */
    CHECK(helios_sampler_generate(s, buf, 3, NULL, 0, NULL, NULL, NULL, &count, &reason) == HELIOS_OK);
    CHECK(count == 5 && reason == HELIOS_STOP_CONTEXT_FULL);
    CHECK(helios_sampler_free(s) == HELIOS_OK);
    helios_model_free(model);
}

int main(void) {
    test_output_buffer_bounds();
    test_default_options();
    test_greedy_is_argmax();
    test_seeds_and_threads();
    test_buffers_and_callbacks();
    test_cancel();
    test_stop_tokens();
    test_context_full();
    test_reset_and_context_len();
    test_model_freed_first();
    test_two_threads_one_sampler();
    test_four_threads_own_samplers();
    test_generate_text();
    test_stop_strings_and_text_callback();
    test_bad_input();
    return check_summary();
}
