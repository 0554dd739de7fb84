/* helios from C: generate text with a GPT-2 model, streamed as it comes.
 *
 *   generate                      a tiny model with random weights and a tokenizer
 *                                 trained here on a few sentences (runs anywhere, in
 *                                 a second; the text is gibberish, the API is the same)
 *   generate MODEL_DIR [PROMPT]   a Hugging Face GPT-2 checkpoint directory:
 *                                 config.json + model.safetensors for the model and
 *                                 tokenizer.json (or vocab.json + merges.txt)
 *
 * For example, with a GPT-2 downloaded by `huggingface-cli download gpt2 --local-dir gpt2`:
 *   ./generate gpt2 "The meaning of life is"
 *
 * Build (from the repository root, after `cargo build --release`):
 *   cc -Iinclude examples/c/generate.c -Ltarget/release -Wl,-rpath,$PWD/target/release -lhelios -lm
 *
 * The pieces: a HeliosModel holds the weights. It is immutable and shareable:
 * one model can serve any number of requests, on any number of threads. A
 * HeliosSampler is one request: its KV cache (the attention keys and values
 * of the tokens so far), its random generator and its context. It belongs to
 * one thread at a time. A HeliosTokenizer turns text into token ids and back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

/* Every fallible helios call returns a HeliosStatus (HELIOS_OK is 0) and
 * leaves a message for this thread in helios_last_error(). */
static void die(const char *what, HeliosStatus status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, helios_status_name(status), helios_last_error());
    exit(1);
}
#define TRY(call) do { HeliosStatus s_ = (call); if (s_ != HELIOS_OK) die(#call, s_); } while (0)

static const char *stop_reason_name(int32_t reason) {
    switch (reason) {
        case HELIOS_STOP_MAX_TOKENS: return "max_tokens reached";
        case HELIOS_STOP_TOKEN: return "a stop token";
        case HELIOS_STOP_STRING: return "a stop string";
        case HELIOS_STOP_CONTEXT_FULL: return "the context is full";
        case HELIOS_STOP_CALLBACK: return "the callback asked to stop";
        default: return "?";
    }
}

/* A random model's text is random bytes: show control characters as \xNN
 * so that they cannot upset the terminal. Real text prints as it is. */
static void print_piece(const char *piece, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)piece[i];
        if (c < 0x20 && c != '\n') printf("\\x%02X", c);
        else if (c == 0x7F) printf("\\x7F");
        else putchar(c);
    }
}

/* What the text callback needs: here, a copy of the text so far. */
typedef struct {
    char *text;
    size_t len, cap;
    size_t pieces;
    int echo; /* print each piece as it comes */
} Collected;

/* Called by helios_sampler_generate_text with each piece of new text, as
 * soon as it is known. A piece is whole UTF-8 characters (never half of
 * one) and is not NUL-terminated. Return 0 to go on, non-zero to stop. */
static int32_t on_text(const char *piece, size_t len, void *user_data) {
    Collected *c = user_data;
    if (c->len + len + 1 > c->cap) {
        c->cap = 2 * (c->len + len + 1);
        c->text = realloc(c->text, c->cap);
        if (c->text == NULL) return 1; /* out of memory: stop generating */
    }
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    c->text[c->len] = '\0';
    c->pieces++;
    if (c->echo) {
        print_piece(piece, len);
        fflush(stdout); /* show it now, not when the line ends */
    }
    return 0;
}

/* No model given: a tokenizer trained on a few sentences, and a model of a
 * matching vocabulary with seeded random weights. */
static void make_tiny(HeliosModel **model, HeliosTokenizer **tokenizer) {
    const char *corpus[] = {
        "Once upon a time there was a small language model that lived in a library.",
        "Every morning the model read a prompt and wrote the next word, one token at a time.",
        "The sampler kept its own memory of the story, and the model shared its weights with everyone.",
        "Once upon a time the library had many readers, and each reader had a sampler of its own.",
    };
    size_t lengths[sizeof corpus / sizeof corpus[0]];
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) lengths[i] = strlen(corpus[i]);
    HeliosTokenizerTrainOptions train = helios_tokenizer_default_train_options();
    train.vocab_size = 400; /* 256 byte tokens + merges */
    train.min_frequency = 2;
    TRY(helios_tokenizer_train_bpe(corpus, lengths, sizeof corpus / sizeof corpus[0], &train, tokenizer));

    /* The model's vocabulary must hold every id of the tokenizer. */
    size_t vocab = 0;
    TRY(helios_tokenizer_vocab_size(*tokenizer, &vocab));
    HeliosGptConfig config = helios_model_default_config(); /* GPT-2 small; shrink it */
    config.vocab_size = vocab;
    config.n_positions = 128; /* the longest context */
    config.n_embd = 64;       /* the width */
    config.n_layer = 2;       /* transformer blocks */
    config.n_head = 4;        /* attention heads (they divide the width) */
    config.n_inner = 4 * config.n_embd;
    TRY(helios_model_random(&config, /*seed=*/1, model));
}

int main(int argc, char **argv) {
    HeliosModel *model = NULL;
    HeliosTokenizer *tokenizer = NULL;
    const char *prompt = "Once upon a time";

    /* 1. A model and its tokenizer. */
    if (argc > 1) {
        const char *dir = argv[1];
        TRY(helios_model_load(dir, strlen(dir), &model)); /* the weights are memory-mapped */
        TRY(helios_tokenizer_from_pretrained_dir(dir, strlen(dir), &tokenizer));
        if (argc > 2) prompt = argv[2];
        printf("loaded %s\n", dir);
    } else {
        make_tiny(&model, &tokenizer);
        printf("no model directory given: a tiny model with random weights (its text is gibberish)\n");
    }
    HeliosGptConfig config;
    config.struct_size = sizeof config;
    TRY(helios_model_get_config(model, &config));
    printf("model: %zu layers, width %zu, %zu heads, vocabulary %zu, context %zu\n", config.n_layer, config.n_embd,
           config.n_head, config.vocab_size, config.n_positions);

    /* 2. A sampler: one request's settings and state. Start from the
     *    defaults (that sets struct_size) and change what you need. */
    const char *stop_strings[] = {"\n\n"}; /* stop at a blank line (it is not printed) */
    HeliosSamplerOptions options = helios_sampler_default_options();
    options.temperature = 0.8f; /* < 1: more predictable, > 1: more surprising, 0: always the likeliest */
    options.top_k = 40;         /* draw among the 40 likeliest tokens only */
    options.top_p = 0.95f;      /* ... and among those, the fewest that hold 95 % of the probability */
    options.seed = 42;          /* the same seed gives the same text, on any machine and thread count */
    options.max_tokens = 60;
    options.stop_strings = stop_strings;
    options.stop_strings_count = 1;
    HeliosSampler *sampler = NULL;
    TRY(helios_sampler_new(model, &options, &sampler));

    /* The sampler keeps its own reference to the model, so the model handle
     * can go now (a server would keep it to make more samplers). */
    helios_model_free(model);

    /* 3. Generate: the prompt is encoded, the model runs, and each new piece
     *    of text reaches on_text as soon as it is decoded. */
    printf("\n%s", prompt);
    fflush(stdout);
    Collected first = {.echo = 1};
    size_t bytes = 0;
    int32_t reason = -1;
    TRY(helios_sampler_generate_text(sampler, tokenizer, prompt, strlen(prompt), on_text, &first,
                                     /*cancel=*/NULL, &bytes, &reason));
    size_t context = 0;
    TRY(helios_sampler_context_len(sampler, &context));
    printf("\n\n[%zu bytes in %zu pieces; stopped: %s; %zu tokens in the context]\n", bytes, first.pieces,
           stop_reason_name(reason), context);

    /* 4. reset() forgets the context and restarts the random generator from
     *    the seed: the same prompt gives the same text again. (A second
     *    generate without reset would continue the story instead.) */
    TRY(helios_sampler_reset(sampler));
    Collected again = {0};
    TRY(helios_sampler_generate_text(sampler, tokenizer, prompt, strlen(prompt), on_text, &again, NULL, &bytes,
                                     &reason));
    printf("after reset, the same seed gives the same text: %s\n",
           again.len == first.len && (first.len == 0 || memcmp(again.text, first.text, first.len) == 0) ? "yes"
                                                                                                         : "NO");

    /* 5. Free what was created. The sampler held the last reference to the
     *    model, so the weights go with it. */
    free(first.text);
    free(again.text);
    TRY(helios_sampler_free(sampler));
    helios_tokenizer_free(tokenizer);
    return 0;
}
