/* helios from C: a byte-level BPE tokenizer (GPT-2 style), start to finish.
 * Train one on a small corpus, encode a sentence into ids, print each token
 * with the bytes it covers, decode the ids back, encode several texts at
 * once, save it as a Hugging Face tokenizer.json, and load it again.
 *
 * Build (from the repository root, after `cargo build --release`):
 *   cc -Iinclude examples/c/tokenizer.c -Ltarget/release -Wl,-rpath,$PWD/target/release -lhelios -lm
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helios.h"

static void die(const char *what, HeliosStatus status) {
    fprintf(stderr, "%s failed: %s: %s\n", what, helios_status_name(status), helios_last_error());
    exit(1);
}
#define TRY(call) do { HeliosStatus s_ = (call); if (s_ != HELIOS_OK) die(#call, s_); } while (0)

/* Most helios functions that return text or ids use "ask, then allocate":
 * call with no buffer, get HELIOS_ERR_BUFFER_TOO_SMALL and the size needed,
 * allocate, call again. This helper does that for encode. */
static uint32_t *encode(const HeliosTokenizer *tok, const char *text, size_t *count, size_t **offsets) {
    size_t needed = 0;
    HeliosStatus status = helios_tokenizer_encode(tok, text, strlen(text), NULL, 0, NULL, &needed);
    if (status != HELIOS_OK && status != HELIOS_ERR_BUFFER_TOO_SMALL) die("helios_tokenizer_encode", status);
    uint32_t *ids = malloc((needed + 1) * sizeof *ids);
    *offsets = malloc((2 * needed + 1) * sizeof **offsets); /* [start, end) byte offsets per token */
    TRY(helios_tokenizer_encode(tok, text, strlen(text), ids, needed, *offsets, count));
    return ids;
}

/* Decode ids to a NUL-terminated string (helios itself does not add the NUL). */
static char *decode(const HeliosTokenizer *tok, const uint32_t *ids, size_t count, int32_t skip_special) {
    size_t needed = 0;
    HeliosStatus status = helios_tokenizer_decode(tok, ids, count, skip_special, NULL, 0, &needed);
    if (status != HELIOS_OK && status != HELIOS_ERR_BUFFER_TOO_SMALL) die("helios_tokenizer_decode", status);
    char *text = malloc(needed + 1);
    TRY(helios_tokenizer_decode(tok, ids, count, skip_special, (uint8_t *)text, needed, &needed));
    text[needed] = '\0';
    return text;
}

int main(void) {
    /* 1. A tiny corpus. Real tokenizers are trained on gigabytes; this one
     *    learns the pieces that repeat here ("the", "token", " merge", ...). */
    const char *corpus[] = {
        "The tokenizer splits text into pieces and merges the most frequent pairs of bytes.",
        "A byte-level tokenizer can encode any text: every byte has a token of its own.",
        "The merges are learnt from the corpus, most frequent pair first.",
        "Tokenizers turn text into token ids for a language model, and ids back into text.",
        "Caf\xC3\xA9, na\xC3\xAFve, \xE4\xB8\xAD\xE6\x96\x87 and emoji \xF0\x9F\x99\x82 are bytes like any other.",
    };
    const size_t n_texts = sizeof corpus / sizeof corpus[0];
    size_t lengths[sizeof corpus / sizeof corpus[0]];
    for (size_t i = 0; i < n_texts; i++) lengths[i] = strlen(corpus[i]);

    /* 2. Train: 256 byte tokens + 1 special token + up to 143 merges. */
    const char *specials[] = {"<|endoftext|>"};
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    options.vocab_size = 400;
    options.min_frequency = 2; /* a pair must be seen twice to be merged */
    options.special_tokens = specials;
    options.special_tokens_count = 1;
    HeliosTokenizer *tok = NULL;
    TRY(helios_tokenizer_train_bpe(corpus, lengths, n_texts, &options, &tok));
    size_t vocab = 0;
    TRY(helios_tokenizer_vocab_size(tok, &vocab));
    printf("trained a byte-level BPE tokenizer: %zu tokens in the vocabulary\n", vocab);

    /* 3. Encode a sentence and show each token. Tokens are stored in GPT-2's
     *    byte-level form, where a space shows as 'Ġ' and a newline as 'Ċ'. */
    const char *sentence = "The tokenizer merges frequent pairs.<|endoftext|>";
    size_t count = 0, *offsets = NULL;
    uint32_t *ids = encode(tok, sentence, &count, &offsets);
    printf("\"%s\" -> %zu tokens (%zu bytes):\n", sentence, count, strlen(sentence));
    for (size_t i = 0; i < count; i++) {
        char token[128];
        size_t len = 0;
        TRY(helios_tokenizer_id_to_token(tok, ids[i], (uint8_t *)token, sizeof token - 1, &len));
        token[len] = '\0';
        int chars = 0; /* pad by characters, not bytes: 'Ġ' is 2 bytes */
        for (size_t b = 0; b < len; b++) chars += ((unsigned char)token[b] & 0xC0) != 0x80;
        printf("  id %4u  %s%*s bytes [%zu, %zu) = \"%.*s\"\n", ids[i], token, chars < 16 ? 16 - chars : 0, "",
               offsets[2 * i], offsets[2 * i + 1], (int)(offsets[2 * i + 1] - offsets[2 * i]),
               sentence + offsets[2 * i]);
    }

    /* 4. Decode: the exact text comes back; special tokens can be skipped. */
    char *back = decode(tok, ids, count, 0);
    char *no_special = decode(tok, ids, count, 1);
    printf("decoded: \"%s\" (identical: %s)\n", back, strcmp(back, sentence) == 0 ? "yes" : "NO");
    printf("decoded without special tokens: \"%s\"\n", no_special);

    /* 5. Look tokens up by string. */
    uint32_t id = 0;
    TRY(helios_tokenizer_token_to_id(tok, "<|endoftext|>", 13, &id));
    printf("token_to_id(\"<|endoftext|>\") = %u\n", id);
    TRY(helios_tokenizer_token_to_id(tok, "no such token", 13, &id));
    printf("token_to_id(\"no such token\") = %s\n", id == HELIOS_NO_TOKEN ? "HELIOS_NO_TOKEN" : "?");

    /* 6. Encode several texts at once on 2 threads: ids of text 0, then
     *    text 1, ...; counts[i] says how many belong to text i. */
    size_t batch_counts[sizeof corpus / sizeof corpus[0]], total = 0;
    HeliosStatus status =
        helios_tokenizer_encode_batch(tok, corpus, lengths, n_texts, 2, NULL, 0, batch_counts, &total);
    if (status != HELIOS_ERR_BUFFER_TOO_SMALL && status != HELIOS_OK) die("helios_tokenizer_encode_batch", status);
    uint32_t *batch = malloc(total * sizeof *batch);
    TRY(helios_tokenizer_encode_batch(tok, corpus, lengths, n_texts, 2, batch, total, batch_counts, &total));
    size_t bytes = 0;
    for (size_t i = 0; i < n_texts; i++) bytes += lengths[i];
    printf("the corpus: %zu bytes -> %zu tokens (%.2f bytes per token)\n", bytes, total, (double)bytes / total);

    /* 7. Save as tokenizer.json (Hugging Face's format; the write is atomic)
     *    and load it back: the same ids. */
    const char *path = "tokenizer_example.json";
    TRY(helios_tokenizer_save(tok, path, strlen(path)));
    HeliosTokenizer *loaded = NULL;
    TRY(helios_tokenizer_from_file(path, strlen(path), &loaded));
    size_t count2 = 0, *offsets2 = NULL;
    uint32_t *ids2 = encode(loaded, sentence, &count2, &offsets2);
    int same = count2 == count && memcmp(ids2, ids, count * sizeof *ids) == 0;
    printf("saved to %s and reloaded: same ids: %s\n", path, same ? "yes" : "NO");
    remove(path);

    /* Bad input is a status and a message, never a crash. */
    status = helios_tokenizer_encode(tok, "caf\xC3", 4, ids, count, NULL, &count2);
    printf("invalid UTF-8: %s: %s\n", helios_status_name(status), helios_last_error());
    const uint32_t too_big[] = {(uint32_t)vocab};
    char small[8];
    status = helios_tokenizer_decode(tok, too_big, 1, 0, (uint8_t *)small, sizeof small, &count2);
    printf("unknown id: %s: %s\n", helios_status_name(status), helios_last_error());

    helios_tokenizer_free(loaded);
    helios_tokenizer_free(tok);
    free(ids), free(offsets), free(ids2), free(offsets2), free(back), free(no_special), free(batch);
    return 0;
}
