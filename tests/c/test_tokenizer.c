/* The tokenizer from C, against references written here: a byte-level BPE
 * whose tokenizer.json is generated in this file (the 256 GPT-2 byte tokens
 * from the bytes-to-unicode table, twelve hand-written merges and
 * <|endoftext|>) with hand-derived id sequences and byte offsets, and an
 * independent encoder (GPT-2's split for ASCII text and a naive
 * lowest-rank-first merge loop) compared on a few hundred generated strings;
 * decode round trips on arbitrary UTF-8; ask-then-allocate for every output;
 * encode_batch against one encode per text; GPT-2's vocab.json + merges.txt
 * and from_pretrained_dir; BPE and char training with hand-computed merges,
 * ids and vocabularies; progress callbacks and cancel tokens; save/load and
 * JSON round trips; 8 pthreads encoding on one shared tokenizer; and every
 * kind of bad input. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helios.h"
#include "check.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define STR_ARG(s) (s), strlen(s)
#define PATH_ARG(p) (p), strlen(p)

/* ---- a growable byte buffer ------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static void buf_add(Buf *b, const void *data, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(Buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_fmt(Buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_add(b, tmp, (size_t)n);
}

static void buf_free(Buf *b) {
    free(b->p);
    b->p = NULL, b->len = b->cap = 0;
}

/* ---- GPT-2's byte-level alphabet ---------------------------------------------------- */

/* The bytes GPT-2 shows as themselves: '!'..'~', '¡'..'¬', '®'..'ÿ'. */
static bool printable_byte(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

/* bytes_to_unicode(): a printable byte is its own code point, the others
 * get 256, 257, ... in byte order (so ' ' is U+0120 'Ġ', '\n' U+010A 'Ċ'). */
static uint32_t byte_char(unsigned b) {
    if (printable_byte(b)) return b;
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++) n += !printable_byte(c);
    return 256 + n;
}

static size_t utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)), out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)), out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The byte-level form of raw bytes (e.g. " w" -> "Ġw"), JSON-escaped when
 * `json` (only '"' and '\\' need it: every other char is printable). */
static void byte_level(Buf *b, const char *raw, size_t n, bool json) {
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)raw[i];
        if (json && (c == '"' || c == '\\')) buf_add(b, "\\", 1);
        char tmp[4];
        buf_add(b, tmp, utf8_put(byte_char(c), tmp));
    }
}

/* ---- the hand-written tokenizer ------------------------------------------------------ */

/* Merges in rank order, as raw bytes; merge r makes token 256 + r. */
static const char *const MERGES[][2] = {
    {"h", "e"},      /* 256 he */
    {"l", "l"},      /* 257 ll */
    {"he", "ll"},    /* 258 hell */
    {" ", "w"},      /* 259 Ġw */
    {" ", " "},      /* 260 ĠĠ */
    {" ", "b"},      /* 261 Ġb */
    {"n", "'"},      /* 262 n' (must not apply across the "'t" contraction split) */
    {"'", "t"},      /* 263 't */
    {"c", "1"},      /* 264 c1 (must not apply across the letters/digits split) */
    {"o", "r"},      /* 265 or */
    {"w", "o"},      /* 266 wo (ranked after "o r": "wor" is w + or) */
    {"\xC3", "\xA9"}, /* 267 Ã© = é */
};
enum { N_MERGES = ARRAY_LEN(MERGES), EOT = 256 + N_MERGES, VOCAB = EOT + 1 };
static const char EOT_TEXT[] = "<|endoftext|>";

/* The vocabulary as a JSON object: byte b is id b, merge r is id 256 + r,
 * <|endoftext|> is id 268. */
static void vocab_json(Buf *b) {
    buf_str(b, "{");
    for (unsigned byte = 0; byte < 256; byte++) {
        char raw = (char)byte;
        buf_str(b, byte ? ",\"" : "\"");
        byte_level(b, &raw, 1, true);
        buf_fmt(b, "\":%u", byte);
    }
    for (size_t r = 0; r < N_MERGES; r++) {
        buf_str(b, ",\"");
        byte_level(b, MERGES[r][0], strlen(MERGES[r][0]), true);
        byte_level(b, MERGES[r][1], strlen(MERGES[r][1]), true);
        buf_fmt(b, "\":%zu", 256 + r);
    }
    buf_fmt(b, ",\"%s\":%d}", EOT_TEXT, EOT);
}

/* The merges as a JSON array of "a b" strings (pairs = false) or of
 * ["a", "b"] pairs, with `extra` (already in byte-level form) appended. */
static void merges_json(Buf *b, bool pairs, const char *extra) {
    buf_str(b, "[");
    for (size_t r = 0; r < N_MERGES; r++) {
        buf_str(b, r ? (pairs ? ",[\"" : ",\"") : (pairs ? "[\"" : "\""));
        byte_level(b, MERGES[r][0], strlen(MERGES[r][0]), true);
        buf_str(b, pairs ? "\",\"" : " ");
        byte_level(b, MERGES[r][1], strlen(MERGES[r][1]), true);
        buf_str(b, pairs ? "\"]" : "\"");
    }
    if (extra) buf_fmt(b, ",\"%s\"", extra);
    buf_str(b, "]");
}

/* A whole tokenizer.json as HF tokenizers writes it for GPT-2, with the
 * model's type, vocab and merges given as JSON text. */
static void tokenizer_json(Buf *b, const char *model_type, const char *vocab, const char *merges) {
    buf_fmt(b,
            "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":[{\"id\":%d,"
            "\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,\"rstrip\":false,"
            "\"normalized\":false,\"special\":true}],\"normalizer\":null,",
            EOT, EOT_TEXT);
    buf_str(b, "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
               "\"use_regex\":true},\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\","
               "\"add_prefix_space\":true,\"trim_offsets\":true,\"use_regex\":true},");
    buf_fmt(b,
            "\"model\":{\"type\":\"%s\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
            "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,"
            "\"vocab\":",
            model_type);
    buf_str(b, vocab);
    buf_str(b, ",\"merges\":");
    buf_str(b, merges);
    buf_str(b, "}}");
}

static void standard_json(Buf *out, bool pairs) {
    Buf vocab = {0}, merges = {0};
    vocab_json(&vocab);
    merges_json(&merges, pairs, NULL);
    tokenizer_json(out, "BPE", vocab.p, merges.p);
    buf_free(&vocab), buf_free(&merges);
}

static HeliosTokenizer *standard_tokenizer(void) {
    Buf json = {0};
    standard_json(&json, false);
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_from_json((const uint8_t *)json.p, json.len, &tok) == HELIOS_OK);
    buf_free(&json);
    return tok;
}

/* ---- the independent reference encoder (ASCII text) -------------------------------- */

static bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
static bool ascii_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool ascii_digit(char c) { return c >= '0' && c <= '9'; }
static bool ascii_other(char c) { return !ascii_space(c) && !ascii_letter(c) && !ascii_digit(c); }

/* The length of GPT-2's next pre-token at s[i..n) for ASCII text:
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static size_t gpt2_piece(const char *s, size_t i, size_t n) {
    static const char *const contractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < ARRAY_LEN(contractions); k++) {
        size_t len = strlen(contractions[k]);
        if (i + len <= n && memcmp(s + i, contractions[k], len) == 0) return len;
    }
    size_t j = i + (s[i] == ' ' && i + 1 < n ? 1 : 0);
    bool (*classes[])(char) = {ascii_letter, ascii_digit, ascii_other};
    for (size_t k = 0; k < 3; k++) {
        if (j < n && classes[k](s[j])) {
            size_t e = j;
            while (e < n && classes[k](s[e])) e++;
            return e - i;
        }
    }
    /* whitespace: the run, less its last char when a non-space follows
     * (that char then starts " word"), but at least one char */
    size_t e = i;
    while (e < n && ascii_space(s[e])) e++;
    if (e < n && e - i >= 2) return e - i - 1;
    return e - i;
}

/* The id of a symbol (raw bytes): the byte, or 256 + the merge that made it. */
static int symbol_id(const char *sym, size_t len) {
    if (len == 1) return (unsigned char)sym[0];
    for (size_t r = 0; r < N_MERGES; r++) {
        size_t a = strlen(MERGES[r][0]), b = strlen(MERGES[r][1]);
        if (a + b == len && memcmp(sym, MERGES[r][0], a) == 0 && memcmp(sym + a, MERGES[r][1], b) == 0)
            return 256 + (int)r;
    }
    return -1;
}

/* The rank of merging symbols x and y, or -1. */
static int merge_rank(const char *x, size_t xl, const char *y, size_t yl) {
    for (size_t r = 0; r < N_MERGES; r++)
        if (strlen(MERGES[r][0]) == xl && strlen(MERGES[r][1]) == yl && memcmp(x, MERGES[r][0], xl) == 0 &&
            memcmp(y, MERGES[r][1], yl) == 0)
            return (int)r;
    return -1;
}

/* BPE of one piece s[start..end): the lowest-ranked adjacent pair merges
 * first (the leftmost of equal ranks), until none is in the table. */
static size_t bpe_piece(const char *s, size_t start, size_t end, uint32_t *ids, size_t *offsets) {
    size_t bounds[256], count = end - start; /* symbol k is s[bounds[k]..bounds[k+1]) */
    for (size_t k = 0; k <= count; k++) bounds[k] = start + k;
    for (;;) {
        int best = -1;
        size_t at = 0;
        for (size_t k = 0; k + 1 < count; k++) {
            int r = merge_rank(s + bounds[k], bounds[k + 1] - bounds[k], s + bounds[k + 1],
                               bounds[k + 2] - bounds[k + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = k;
        }
        if (best < 0) break;
        memmove(bounds + at + 1, bounds + at + 2, (count - at - 1) * sizeof *bounds);
        count--;
    }
    for (size_t k = 0; k < count; k++) {
        ids[k] = (uint32_t)symbol_id(s + bounds[k], bounds[k + 1] - bounds[k]);
        offsets[2 * k] = bounds[k], offsets[2 * k + 1] = bounds[k + 1];
    }
    return count;
}

/* The reference encoding of ASCII text: <|endoftext|> cut out first, GPT-2's
 * split of each segment, BPE of each piece. */
static size_t reference_encode(const char *s, size_t n, uint32_t *ids, size_t *offsets) {
    size_t count = 0, seg = 0, eot_len = strlen(EOT_TEXT);
    while (seg <= n) {
        const char *hit = NULL;
        for (size_t i = seg; i + eot_len <= n; i++)
            if (memcmp(s + i, EOT_TEXT, eot_len) == 0) {
                hit = s + i;
                break;
            }
        size_t seg_end = hit ? (size_t)(hit - s) : n;
        for (size_t i = seg; i < seg_end;) {
            size_t len = gpt2_piece(s, i, seg_end);
            count += bpe_piece(s, i, i + len, ids + count, offsets + 2 * count);
            i += len;
        }
        if (!hit) break;
        ids[count] = EOT, offsets[2 * count] = seg_end, offsets[2 * count + 1] = seg_end + eot_len;
        count++;
        seg = seg_end + eot_len;
    }
    return count;
}

/* ---- helpers over the API ------------------------------------------------------------ */

/* Encode with ask-then-allocate; returns a malloc'ed array (count in *n) and
 * the offsets in *offsets when asked for. */
static uint32_t *encode_all(const HeliosTokenizer *tok, const char *text, size_t len, size_t *n,
                            size_t **offsets) {
    size_t needed = 0;
    HeliosStatus s = helios_tokenizer_encode(tok, text, len, NULL, 0, NULL, &needed);
    CHECK(s == HELIOS_OK || s == HELIOS_ERR_BUFFER_TOO_SMALL);
    CHECK((s == HELIOS_OK) == (needed == 0));
    uint32_t *ids = malloc((needed ? needed : 1) * sizeof *ids);
    size_t *off = malloc((needed ? 2 * needed : 1) * sizeof *off);
    size_t got = 0;
    CHECK(helios_tokenizer_encode(tok, text, len, ids, needed, off, &got) == HELIOS_OK);
    CHECK(got == needed);
    *n = got;
    if (offsets)
        *offsets = off;
    else
        free(off);
    return ids;
}

/* Decode with ask-then-allocate into a malloc'ed NUL-terminated string. */
static char *decode_all(const HeliosTokenizer *tok, const uint32_t *ids, size_t count, int32_t skip, size_t *len) {
    size_t needed = 0;
    HeliosStatus s = helios_tokenizer_decode(tok, ids, count, skip, NULL, 0, &needed);
    CHECK(s == HELIOS_OK || s == HELIOS_ERR_BUFFER_TOO_SMALL);
    char *out = malloc(needed + 1);
    size_t got = 0;
    CHECK(helios_tokenizer_decode(tok, ids, count, skip, (uint8_t *)out, needed, &got) == HELIOS_OK);
    CHECK(got == needed);
    out[got] = '\0';
    if (len) *len = got;
    return out;
}

static char *to_json_all(const HeliosTokenizer *tok, size_t *len) {
    size_t needed = 0;
    CHECK(helios_tokenizer_to_json(tok, NULL, 0, &needed) == HELIOS_ERR_BUFFER_TOO_SMALL);
    CHECK(needed > 0);
    char *out = malloc(needed + 1);
    size_t got = 0;
    CHECK(helios_tokenizer_to_json(tok, (uint8_t *)out, needed, &got) == HELIOS_OK);
    CHECK(got == needed);
    out[got] = '\0';
    *len = got;
    return out;
}

/* `text` encodes to exactly `expected` (and `offsets`, pairs, when given). */
static bool encodes_to(const HeliosTokenizer *tok, const char *text, const uint32_t *expected, size_t n,
                       const size_t *offsets) {
    size_t count = 0, *off = NULL;
    uint32_t *ids = encode_all(tok, text, strlen(text), &count, &off);
    bool ok = count == n && memcmp(ids, expected, n * sizeof *ids) == 0;
    if (ok && offsets) ok = memcmp(off, offsets, 2 * n * sizeof *off) == 0;
    if (!ok) {
        fprintf(stderr, "    \"%s\" encoded to", text);
        for (size_t i = 0; i < count; i++) fprintf(stderr, " %u[%zu,%zu)", ids[i], off[2 * i], off[2 * i + 1]);
        fprintf(stderr, "\n");
    }
    free(ids), free(off);
    return ok;
}

static bool decodes_to(const HeliosTokenizer *tok, const uint32_t *ids, size_t n, int32_t skip, const char *want) {
    size_t len = 0;
    char *text = decode_all(tok, ids, n, skip, &len);
    bool ok = len == strlen(want) && memcmp(text, want, len) == 0;
    if (!ok) fprintf(stderr, "    decoded to \"%s\", expected \"%s\"\n", text, want);
    free(text);
    return ok;
}

static bool write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* A small deterministic generator. */
static uint64_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_hand_computed_encodings(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    size_t vocab = 0;
    CHECK(helios_tokenizer_vocab_size(tok, &vocab) == HELIOS_OK && vocab == VOCAB);

    /* "hello" -> h e l l o -> he l l o -> he ll o -> hell o;
     * " world" -> Ġ w o r l d -> Ġw o r l d -> Ġw or l d ("w o" can no longer apply) */
    const uint32_t hello_world[] = {258, 111, 259, 265, 108, 100};
    const size_t hello_world_offsets[] = {0, 4, 4, 5, 5, 7, 7, 9, 9, 10, 10, 11};
    CHECK(encodes_to(tok, "hello world", hello_world, 6, hello_world_offsets));
    /* no prefix space is added; a leading space is its own Ġ */
    const uint32_t space_hello[] = {32, 258, 111};
    CHECK(encodes_to(tok, " hello", space_hello, 3, NULL));
    /* trailing spaces are one piece: \s+(?!\S) takes both -> ĠĠ */
    const uint32_t hello_spaces[] = {258, 111, 260};
    CHECK(encodes_to(tok, "hello  ", hello_spaces, 3, NULL));
    /* "a  b": a | Ġ | Ġb (the last space goes with the word), not a | ĠĠ b */
    const uint32_t a_b[] = {97, 32, 261};
    const size_t a_b_offsets[] = {0, 1, 1, 2, 2, 4};
    CHECK(encodes_to(tok, "a  b", a_b, 3, a_b_offsets));
    /* "don't": don | 't, so "n '" (rank 6) cannot apply across the split */
    const uint32_t dont[] = {100, 111, 110, 263};
    CHECK(encodes_to(tok, "don't", dont, 4, NULL));
    /* "abc123": abc | 123, so "c 1" cannot apply */
    const uint32_t abc123[] = {97, 98, 99, 49, 50, 51};
    CHECK(encodes_to(tok, "abc123", abc123, 6, NULL));
    /* ranks, not order of appearance: "o r" (9) before "w o" (10) */
    const uint32_t wor[] = {119, 265};
    CHECK(encodes_to(tok, "wor", wor, 2, NULL));
    /* é is C3 A9 = "Ã©", one merge; its offsets are both bytes */
    const uint32_t cafe[] = {99, 97, 102, 267};
    const size_t cafe_offsets[] = {0, 1, 1, 2, 2, 3, 3, 5};
    CHECK(encodes_to(tok, "caf\xC3\xA9", cafe, 4, cafe_offsets));
    /* € is E2 82 AC with no merge: three tokens of one byte each */
    const uint32_t euro[] = {0xE2, 0x82, 0xAC};
    const size_t euro_offsets[] = {0, 1, 1, 2, 2, 3};
    CHECK(encodes_to(tok, "\xE2\x82\xAC", euro, 3, euro_offsets));
    /* the special token is matched before the split */
    const uint32_t special[] = {104, 105, EOT, 258, 111};
    const size_t special_offsets[] = {0, 1, 1, 2, 2, 15, 15, 19, 19, 20};
    CHECK(encodes_to(tok, "hi<|endoftext|>hello", special, 5, special_offsets));
    /* an empty text has no tokens */
    size_t count = 99;
    uint32_t one[1];
    CHECK(helios_tokenizer_encode(tok, "", 0, one, 1, NULL, &count) == HELIOS_OK && count == 0);
    /* text is counted by len, not NUL-terminated: "hello" of "hello world" */
    const uint32_t hello[] = {258, 111};
    uint32_t ids[8];
    CHECK(helios_tokenizer_encode(tok, "hello world", 5, ids, 8, NULL, &count) == HELIOS_OK && count == 2);
    CHECK(memcmp(ids, hello, sizeof hello) == 0);
    /* embedded NUL is a byte like any other (Ā = byte 0 = id 0) */
    const uint32_t with_nul[] = {97, 0, 98};
    CHECK(helios_tokenizer_encode(tok, "a\0b", 3, ids, 8, NULL, &count) == HELIOS_OK && count == 3);
    CHECK(memcmp(ids, with_nul, sizeof with_nul) == 0);

    /* merges as ["a", "b"] pairs give the same tokenizer */
    Buf json = {0};
    standard_json(&json, true);
    HeliosTokenizer *pairs = NULL;
    CHECK(helios_tokenizer_from_json((const uint8_t *)json.p, json.len, &pairs) == HELIOS_OK);
    CHECK(encodes_to(pairs, "hello world", hello_world, 6, hello_world_offsets));
    CHECK(encodes_to(pairs, "caf\xC3\xA9", cafe, 4, cafe_offsets));
    helios_tokenizer_free(pairs);
    buf_free(&json);
    helios_tokenizer_free(tok);
}

static void test_decode_and_vocabulary(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    const uint32_t hello_world[] = {258, 111, 259, 265, 108, 100};
    CHECK(decodes_to(tok, hello_world, 6, 0, "hello world"));
    /* bytes of one character split over tokens join again */
    const uint32_t e_acute[] = {0xC3, 0xA9}, euro[] = {0xE2, 0x82, 0xAC};
    CHECK(decodes_to(tok, e_acute, 2, 0, "\xC3\xA9"));
    CHECK(decodes_to(tok, euro, 3, 0, "\xE2\x82\xAC"));
    /* a partial sequence is one U+FFFD (EF BF BD), as from_utf8_lossy */
    const uint32_t lone[] = {0xC3}, cut[] = {0xE2, 0x82, 'a'}, cafe_cut[] = {99, 97, 102, 0xC3};
    CHECK(decodes_to(tok, lone, 1, 0, "\xEF\xBF\xBD"));
    CHECK(decodes_to(tok, cut, 3, 0, "\xEF\xBF\xBD" "a"));
    CHECK(decodes_to(tok, cafe_cut, 4, 0, "caf\xEF\xBF\xBD"));
    /* special tokens are kept by default and dropped on request */
    const uint32_t special[] = {104, 105, EOT, 258, 111};
    CHECK(decodes_to(tok, special, 5, 0, "hi<|endoftext|>hello"));
    CHECK(decodes_to(tok, special, 5, 1, "hihello"));
    /* nothing to decode */
    CHECK(decodes_to(tok, special, 0, 0, ""));

    /* decode ask-then-allocate: too small, then exact */
    size_t needed = 0;
    uint8_t small[4];
    CHECK_STATUS(helios_tokenizer_decode(tok, hello_world, 6, 0, NULL, 0, &needed), HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(needed == 11);
    needed = 0;
    CHECK_STATUS(helios_tokenizer_decode(tok, hello_world, 6, 0, small, sizeof small, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(needed == 11);

    /* id_to_token: the byte-level strings */
    char token[32];
    size_t len = 0;
    CHECK(helios_tokenizer_id_to_token(tok, 259, (uint8_t *)token, sizeof token, &len) == HELIOS_OK);
    CHECK(len == 3 && memcmp(token, "\xC4\xA0w", 3) == 0); /* "Ġw" */
    CHECK(helios_tokenizer_id_to_token(tok, 258, (uint8_t *)token, sizeof token, &len) == HELIOS_OK);
    CHECK(len == 4 && memcmp(token, "hell", 4) == 0);
    CHECK(helios_tokenizer_id_to_token(tok, 10, (uint8_t *)token, sizeof token, &len) == HELIOS_OK);
    CHECK(len == 2 && memcmp(token, "\xC4\x8A", 2) == 0); /* '\n' is U+010A "Ċ" */
    CHECK(helios_tokenizer_id_to_token(tok, 0xAD, (uint8_t *)token, sizeof token, &len) == HELIOS_OK);
    CHECK(len == 2 && memcmp(token, "\xC5\x83", 2) == 0); /* soft hyphen, the last unprintable: U+0143 "Ń" */
    CHECK(helios_tokenizer_id_to_token(tok, EOT, (uint8_t *)token, sizeof token, &len) == HELIOS_OK);
    CHECK(len == strlen(EOT_TEXT) && memcmp(token, EOT_TEXT, len) == 0);
    /* ask-then-allocate */
    len = 0;
    CHECK_STATUS(helios_tokenizer_id_to_token(tok, EOT, NULL, 0, &len), HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(len == 13);
    len = 0;
    CHECK_STATUS(helios_tokenizer_id_to_token(tok, 259, (uint8_t *)token, 2, &len), HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(len == 3);

    /* token_to_id */
    uint32_t id = 0;
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG("\xC4\xA0w"), &id) == HELIOS_OK && id == 259);
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG("\xC3\x83\xC2\xA9"), &id) == HELIOS_OK && id == 267); /* Ã© */
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG("!"), &id) == HELIOS_OK && id == 33);
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG(EOT_TEXT), &id) == HELIOS_OK && id == EOT);
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG("hello"), &id) == HELIOS_OK && id == HELIOS_NO_TOKEN);
    id = 0;
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG(" "), &id) == HELIOS_OK && id == HELIOS_NO_TOKEN); /* raw */
    CHECK(helios_tokenizer_token_to_id(tok, "hell", 3, &id) == HELIOS_OK && id == HELIOS_NO_TOKEN);  /* "hel" */
    CHECK(HELIOS_NO_TOKEN == 0xFFFFFFFFu);
    /* every id maps to a token and back */
    int all_back = 1;
    for (uint32_t i = 0; i < VOCAB; i++) {
        len = 0;
        all_back &= helios_tokenizer_id_to_token(tok, i, (uint8_t *)token, sizeof token, &len) == HELIOS_OK;
        all_back &= helios_tokenizer_token_to_id(tok, token, len, &id) == HELIOS_OK && id == i;
    }
    CHECK(all_back);
    helios_tokenizer_free(tok);
}

static void test_encode_ask_then_allocate(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    size_t needed = 0;
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("hello world"), NULL, 0, NULL, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(needed == 6);
    uint32_t ids[8] = {0};
    size_t offsets[16];
    needed = 0;
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("hello world"), ids, 5, offsets, &needed),
                 HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(needed == 6);
    CHECK(helios_tokenizer_encode(tok, STR_ARG("hello world"), ids, 6, offsets, &needed) == HELIOS_OK);
    CHECK(needed == 6 && ids[0] == 258 && ids[5] == 100 && offsets[10] == 10 && offsets[11] == 11);
    /* offsets are optional */
    CHECK(helios_tokenizer_encode(tok, STR_ARG("hello world"), ids, 8, NULL, &needed) == HELIOS_OK && needed == 6);

    /* to_json: ask, then allocate */
    size_t json_len = 0;
    CHECK_STATUS(helios_tokenizer_to_json(tok, NULL, 0, &json_len), HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(json_len > 1000);
    uint8_t tiny[16];
    size_t again = 0;
    CHECK_STATUS(helios_tokenizer_to_json(tok, tiny, sizeof tiny, &again), HELIOS_ERR_BUFFER_TOO_SMALL, "");
    CHECK(again == json_len);
    helios_tokenizer_free(tok);
}

/* The reference encoder against helios on generated ASCII strings. */
static void test_against_reference_encoder(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    static const char *const atoms[] = {"h", "e", "l", "o", "w", "r", "n", "d", "t", "c", "b", "a", "1", "2", "'",
                                        " ", " ", " ", "  ", "\n", "\t", "!", "?", "'t", "'s", "'ll", "hello",
                                        "world", " world", "don't", "<|endoftext|>", "A", "-"};
    uint64_t state = 7;
    int all_same = 1;
    for (int round = 0; round < 400; round++) {
        char text[128];
        size_t n = 0, pieces = 1 + next_random(&state) % 12;
        for (size_t k = 0; k < pieces; k++) {
            const char *atom = atoms[next_random(&state) % ARRAY_LEN(atoms)];
            size_t len = strlen(atom);
            if (n + len >= sizeof text) break;
            memcpy(text + n, atom, len);
            n += len;
        }
        text[n] = '\0';
        uint32_t want[128], got[128];
        size_t want_off[256], got_off[256], count = 0;
        size_t want_n = reference_encode(text, n, want, want_off);
        HeliosStatus s = helios_tokenizer_encode(tok, text, n, got, 128, got_off, &count);
        bool same = s == HELIOS_OK && count == want_n && memcmp(got, want, count * sizeof *got) == 0 &&
                    memcmp(got_off, want_off, 2 * count * sizeof *got_off) == 0;
        if (!same && all_same) {
            fprintf(stderr, "    reference mismatch on \"%s\": want", text);
            for (size_t i = 0; i < want_n; i++)
                fprintf(stderr, " %u[%zu,%zu)", want[i], want_off[2 * i], want_off[2 * i + 1]);
            fprintf(stderr, "\n    got ");
            for (size_t i = 0; i < count; i++)
                fprintf(stderr, " %u[%zu,%zu)", got[i], got_off[2 * i], got_off[2 * i + 1]);
            fprintf(stderr, "\n");
        }
        all_same &= same;
    }
    CHECK(all_same);
    helios_tokenizer_free(tok);
}

/* decode(encode(s)) == s for arbitrary valid UTF-8 (1- to 4-byte scalars,
 * ZWJ sequences, combining marks, CJK, specials inside text). */
static void test_round_trip(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    static const char *const fixed[] = {
        "hello world", "  leading and trailing  ", "tabs\tand\nnew\r\nlines\n\n", "it's we're they've I'm",
        "caf\xC3\xA9 na\xC3\xAFve \xC3\xA9t\xC3\xA9", "\xE4\xB8\xAD\xE6\x96\x87 \xE6\x97\xA5\xE6\x9C\xAC",
        "\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x92\xBB emoji", "e\xCC\x81 combining", "x<|endoftext|>y<|endoftext|>",
        "1234567 digits 3.14", "def f(x):\n    return x ** 2\n", ""};
    int all = 1;
    for (size_t i = 0; i < ARRAY_LEN(fixed); i++) {
        size_t n = 0, len = 0;
        uint32_t *ids = encode_all(tok, fixed[i], strlen(fixed[i]), &n, NULL);
        char *back = decode_all(tok, ids, n, 0, &len);
        int same = len == strlen(fixed[i]) && memcmp(back, fixed[i], len) == 0;
        if (!same) fprintf(stderr, "    round trip of \"%s\" gave \"%s\"\n", fixed[i], back);
        all &= same;
        free(ids), free(back);
    }
    /* random scalars of every UTF-8 length (no surrogates) */
    uint64_t state = 11;
    for (int round = 0; round < 100; round++) {
        char text[400];
        size_t n = 0, chars = next_random(&state) % 60;
        for (size_t k = 0; k < chars; k++) {
            uint32_t cp;
            switch (next_random(&state) % 4) {
            case 0: cp = next_random(&state) % 0x80; break;
            case 1: cp = 0x80 + next_random(&state) % (0x800 - 0x80); break;
            case 2:
                do cp = 0x800 + next_random(&state) % (0x10000 - 0x800);
                while (cp >= 0xD800 && cp <= 0xDFFF);
                break;
            default: cp = 0x10000 + next_random(&state) % (0x110000 - 0x10000); break;
            }
            n += utf8_put(cp, text + n);
        }
        size_t count = 0, len = 0, *off = NULL;
        uint32_t *ids = encode_all(tok, text, n, &count, &off);
        char *back = decode_all(tok, ids, count, 0, &len);
        all &= len == n && memcmp(back, text, n) == 0;
        /* offsets tile the text: each token starts where the last ended */
        size_t at = 0;
        for (size_t i = 0; i < count; i++) {
            all &= off[2 * i] == at && off[2 * i + 1] > off[2 * i];
            at = off[2 * i + 1];
        }
        all &= at == n;
        free(ids), free(back), free(off);
    }
    CHECK(all);
    helios_tokenizer_free(tok);
}

static void test_encode_batch(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    const char *texts[] = {"hello world", "", "don't", "caf\xC3\xA9 \xE2\x82\xAC", "a  b<|endoftext|>hello  "};
    const size_t n = ARRAY_LEN(texts);
    size_t lengths[ARRAY_LEN(texts)], want_counts[ARRAY_LEN(texts)], total = 0;
    uint32_t want[64];
    for (size_t i = 0; i < n; i++) {
        lengths[i] = strlen(texts[i]);
        size_t count = 0;
        uint32_t *ids = encode_all(tok, texts[i], lengths[i], &count, NULL);
        memcpy(want + total, ids, count * sizeof *ids);
        want_counts[i] = count, total += count;
        free(ids);
    }
    /* hand-derived: 6 + 0 + 4 + (4 + 4: Ġ and the three bytes of €) + (3 + 1 + 3) */
    CHECK(total == 25);
    const size_t threads[] = {1, 2, 3, HELIOS_AUTO};
    for (size_t t = 0; t < ARRAY_LEN(threads); t++) {
        uint32_t got[64];
        size_t counts[ARRAY_LEN(texts)], got_total = 0;
        memset(counts, 0xff, sizeof counts);
        CHECK(helios_tokenizer_encode_batch(tok, texts, lengths, n, threads[t], got, 64, counts, &got_total) ==
              HELIOS_OK);
        CHECK(got_total == total && memcmp(got, want, total * sizeof *got) == 0);
        CHECK(memcmp(counts, want_counts, sizeof counts) == 0);
        /* ask-then-allocate: counts come back whatever the capacity */
        memset(counts, 0xff, sizeof counts);
        got_total = 0;
        CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, n, threads[t], NULL, 0, counts, &got_total),
                     HELIOS_ERR_BUFFER_TOO_SMALL, "");
        CHECK(got_total == total && memcmp(counts, want_counts, sizeof counts) == 0);
        got_total = 0;
        CHECK_STATUS(
            helios_tokenizer_encode_batch(tok, texts, lengths, n, threads[t], got, total - 1, counts, &got_total),
            HELIOS_ERR_BUFFER_TOO_SMALL, "");
        CHECK(got_total == total);
    }
    /* many texts, many threads: the order is kept */
    enum { MANY = 64 };
    const char *many[MANY];
    size_t many_len[MANY], many_counts[MANY], many_total = 0, expect_total = 0;
    for (size_t i = 0; i < MANY; i++) {
        many[i] = texts[i % n], many_len[i] = lengths[i % n];
        expect_total += want_counts[i % n];
    }
    uint32_t *many_ids = malloc(expect_total * sizeof *many_ids);
    CHECK(helios_tokenizer_encode_batch(tok, many, many_len, MANY, 3, many_ids, expect_total, many_counts,
                                        &many_total) == HELIOS_OK);
    CHECK(many_total == expect_total);
    size_t at = 0, offset_of[ARRAY_LEN(texts)];
    for (size_t i = 0, o = 0; i < n; i++) offset_of[i] = o, o += want_counts[i];
    int ordered = 1;
    for (size_t i = 0; i < MANY; i++) {
        ordered &= many_counts[i] == want_counts[i % n];
        ordered &= memcmp(many_ids + at, want + offset_of[i % n], want_counts[i % n] * sizeof *want) == 0;
        at += many_counts[i];
    }
    CHECK(ordered);
    free(many_ids);
    helios_tokenizer_free(tok);
}

/* GPT-2's layout: vocab.json + merges.txt, and from_pretrained_dir. */
static void test_vocab_merges_and_pretrained_dir(void) {
    char dir[] = "/tmp/helios_test_tokenizer_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char vocab_path[128], merges_path[128], json_path[128], sub[128], only_vocab[128], only_vocab_file[160];
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    snprintf(json_path, sizeof json_path, "%s/tokenizer.json", dir);
    snprintf(sub, sizeof sub, "%s/with_json", dir);
    snprintf(only_vocab, sizeof only_vocab, "%s/only_vocab", dir);
    snprintf(only_vocab_file, sizeof only_vocab_file, "%s/vocab.json", only_vocab);

    Buf vocab = {0}, merges = {0};
    vocab_json(&vocab);
    buf_str(&merges, "#version: 0.2\n");
    for (size_t r = 0; r < N_MERGES; r++) {
        byte_level(&merges, MERGES[r][0], strlen(MERGES[r][0]), false);
        buf_str(&merges, " ");
        byte_level(&merges, MERGES[r][1], strlen(MERGES[r][1]), false);
        buf_str(&merges, "\n");
    }
    CHECK(write_file(vocab_path, vocab.p, vocab.len));
    CHECK(write_file(merges_path, merges.p, merges.len));

    const uint32_t hello_world[] = {258, 111, 259, 265, 108, 100};
    const uint32_t special[] = {104, 105, EOT, 258, 111};
    HeliosTokenizer *gpt2 = NULL;
    CHECK(helios_tokenizer_from_vocab_merges(PATH_ARG(vocab_path), PATH_ARG(merges_path), &gpt2) == HELIOS_OK);
    CHECK(encodes_to(gpt2, "hello world", hello_world, 6, NULL));
    /* <|endoftext|> is in the vocab, so it is a special token */
    CHECK(encodes_to(gpt2, "hi<|endoftext|>hello", special, 5, NULL));
    CHECK(decodes_to(gpt2, special, 5, 1, "hihello"));
    CHECK(decodes_to(gpt2, special, 5, 0, "hi<|endoftext|>hello"));
    size_t size = 0;
    CHECK(helios_tokenizer_vocab_size(gpt2, &size) == HELIOS_OK && size == VOCAB);

    /* a directory with vocab.json + merges.txt only */
    HeliosTokenizer *from_dir = NULL;
    CHECK(helios_tokenizer_from_pretrained_dir(PATH_ARG(dir), &from_dir) == HELIOS_OK);
    CHECK(encodes_to(from_dir, "hello world", hello_world, 6, NULL));
    CHECK(encodes_to(from_dir, "hi<|endoftext|>hello", special, 5, NULL));
    helios_tokenizer_free(from_dir);

    /* a directory with tokenizer.json (preferred over the pair) */
    CHECK(mkdir(sub, 0700) == 0);
    char sub_json[160];
    snprintf(sub_json, sizeof sub_json, "%s/tokenizer.json", sub);
    Buf json = {0};
    standard_json(&json, false);
    CHECK(write_file(sub_json, json.p, json.len));
    from_dir = NULL;
    CHECK(helios_tokenizer_from_pretrained_dir(PATH_ARG(sub), &from_dir) == HELIOS_OK);
    CHECK(encodes_to(from_dir, "hello world", hello_world, 6, NULL));
    helios_tokenizer_free(from_dir);
    /* tokenizer.json wins when both are there: one whose merges differ */
    Buf vocab_only = {0}, no_merges = {0}, json2 = {0};
    vocab_json(&vocab_only);
    buf_str(&no_merges, "[]");
    tokenizer_json(&json2, "BPE", vocab_only.p, no_merges.p);
    CHECK(write_file(json_path, json2.p, json2.len));
    from_dir = NULL;
    CHECK(helios_tokenizer_from_pretrained_dir(PATH_ARG(dir), &from_dir) == HELIOS_OK);
    const uint32_t unmerged[] = {104, 101, 108, 108, 111};
    CHECK(encodes_to(from_dir, "hello", unmerged, 5, NULL));
    helios_tokenizer_free(from_dir);

    /* missing pieces: IO naming what is missing */
    CHECK(mkdir(only_vocab, 0700) == 0);
    CHECK(write_file(only_vocab_file, vocab.p, vocab.len));
    HeliosTokenizer *none = NULL;
    CHECK_STATUS(helios_tokenizer_from_pretrained_dir(PATH_ARG(only_vocab), &none), HELIOS_ERR_IO, "merges.txt");
    char empty_dir[] = "/tmp/helios_test_tokenizer_empty_XXXXXX";
    CHECK(mkdtemp(empty_dir) != NULL);
    CHECK_STATUS(helios_tokenizer_from_pretrained_dir(PATH_ARG(empty_dir), &none), HELIOS_ERR_IO, "tokenizer.json");
    const char *missing_dir = "/nonexistent-helios-dir", *missing_vocab = "/nonexistent-helios-dir/vocab.json",
               *missing_merges = "/nonexistent-helios-dir/merges.txt";
    CHECK_STATUS(helios_tokenizer_from_pretrained_dir(PATH_ARG(missing_dir), &none), HELIOS_ERR_IO, "");
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG(missing_vocab), PATH_ARG(merges_path), &none),
                 HELIOS_ERR_IO, "vocab.json");
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG(vocab_path), PATH_ARG(missing_merges), &none),
                 HELIOS_ERR_IO, "merges.txt");
    /* a merges.txt naming a token the vocab lacks */
    char bad_merges[160];
    snprintf(bad_merges, sizeof bad_merges, "%s/bad_merges.txt", dir);
    CHECK(write_file(bad_merges, STR_ARG("#version: 0.2\nh e\nqq zz\n")));
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG(vocab_path), PATH_ARG(bad_merges), &none),
                 HELIOS_ERR_FORMAT, "");
    /* a vocab.json that is not a JSON object of ids */
    char bad_vocab[160];
    snprintf(bad_vocab, sizeof bad_vocab, "%s/bad_vocab.json", dir);
    CHECK(write_file(bad_vocab, STR_ARG("{\"a\": 0, \"b\": ")));
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG(bad_vocab), PATH_ARG(merges_path), &none),
                 HELIOS_ERR_FORMAT, "");
    CHECK(none == NULL);

    helios_tokenizer_free(gpt2);
    remove(bad_vocab), remove(bad_merges), remove(only_vocab_file), rmdir(only_vocab), rmdir(empty_dir);
    remove(sub_json), rmdir(sub), remove(json_path), remove(vocab_path), remove(merges_path), rmdir(dir);
    buf_free(&vocab), buf_free(&merges), buf_free(&json), buf_free(&vocab_only), buf_free(&no_merges);
    buf_free(&json2);
}

/* The number of entries of a directory, "." and ".." excluded. */
static int dir_entries(const char *path) {
    DIR *d = opendir(path);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_save_load_and_json(void) {
    HeliosTokenizer *tok = standard_tokenizer();
    char dir[] = "/tmp/helios_test_tokenizer_save_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(helios_tokenizer_save(tok, PATH_ARG(path)) == HELIOS_OK);
    CHECK(dir_entries(dir) == 1); /* no temporary file left behind */
    /* saving again over the file is fine */
    CHECK(helios_tokenizer_save(tok, PATH_ARG(path)) == HELIOS_OK);
    CHECK(dir_entries(dir) == 1);

    HeliosTokenizer *loaded = NULL;
    CHECK(helios_tokenizer_from_file(PATH_ARG(path), &loaded) == HELIOS_OK);
    size_t a_len = 0, b_len = 0;
    char *a = to_json_all(tok, &a_len), *b = to_json_all(loaded, &b_len);
    CHECK(a_len == b_len && memcmp(a, b, a_len) == 0);
    /* the file holds the to_json bytes */
    FILE *f = fopen(path, "rb");
    char *file = malloc(a_len + 1);
    size_t file_len = f ? fread(file, 1, a_len + 1, f) : 0;
    if (f) fclose(f);
    CHECK(file_len == a_len && memcmp(file, a, a_len) == 0);
    /* from_json of to_json is the same tokenizer again */
    HeliosTokenizer *reparsed = NULL;
    CHECK(helios_tokenizer_from_json((const uint8_t *)a, a_len, &reparsed) == HELIOS_OK);
    size_t c_len = 0;
    char *c = to_json_all(reparsed, &c_len);
    CHECK(c_len == a_len && memcmp(c, a, a_len) == 0);
    const uint32_t hello_world[] = {258, 111, 259, 265, 108, 100};
    const uint32_t special[] = {104, 105, EOT, 258, 111};
    CHECK(encodes_to(loaded, "hello world", hello_world, 6, NULL));
    CHECK(encodes_to(loaded, "hi<|endoftext|>hello", special, 5, NULL));
    CHECK(encodes_to(reparsed, "hello world", hello_world, 6, NULL));
    CHECK(decodes_to(reparsed, special, 5, 1, "hihello"));

    /* a file that is not a tokenizer */
    char garbage[160];
    snprintf(garbage, sizeof garbage, "%s/garbage.json", dir);
    CHECK(write_file(garbage, STR_ARG("not json at all")));
    HeliosTokenizer *none = NULL;
    CHECK_STATUS(helios_tokenizer_from_file(PATH_ARG(garbage), &none), HELIOS_ERR_FORMAT, "");
    CHECK_STATUS(helios_tokenizer_from_file(PATH_ARG("/nonexistent-helios-dir/tokenizer.json"), &none),
                 HELIOS_ERR_IO, "");
    CHECK_STATUS(helios_tokenizer_save(tok, PATH_ARG("/nonexistent-helios-dir/tokenizer.json")), HELIOS_ERR_IO, "");
    CHECK(none == NULL);

    remove(garbage), remove(path), rmdir(dir);
    free(a), free(b), free(c), free(file);
    helios_tokenizer_free(reparsed);
    helios_tokenizer_free(loaded);
    helios_tokenizer_free(tok);
}

static HeliosStatus from_json_text(const char *json, HeliosTokenizer **out) {
    return helios_tokenizer_from_json((const uint8_t *)json, strlen(json), out);
}

static void test_bad_tokenizer_json(void) {
    HeliosTokenizer *none = NULL;
    Buf good = {0}, vocab = {0}, merges = {0}, bad = {0};
    standard_json(&good, false);
    vocab_json(&vocab);
    merges_json(&merges, false, NULL);

    /* truncated anywhere: FORMAT */
    const size_t cuts[] = {0, 1, good.len / 3, good.len / 2, good.len - 1};
    for (size_t i = 0; i < ARRAY_LEN(cuts); i++) {
        HeliosStatus s = helios_tokenizer_from_json((const uint8_t *)good.p, cuts[i], &none);
        CHECK(s == HELIOS_ERR_FORMAT);
        if (s != HELIOS_ERR_FORMAT) fprintf(stderr, "    cut at %zu: %s\n", cuts[i], helios_status_name(s));
    }
    CHECK_STATUS(from_json_text("not json", &none), HELIOS_ERR_FORMAT, "");
    CHECK_STATUS(from_json_text("[1, 2, 3]", &none), HELIOS_ERR_FORMAT, "");
    CHECK_STATUS(from_json_text("{\"version\": \"1.0\"}", &none), HELIOS_ERR_FORMAT, "model");
    /* wrong types name the field */
    tokenizer_json(&bad, "BPE", "[]", merges.p);
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_FORMAT, "model.vocab");
    bad.len = 0;
    tokenizer_json(&bad, "BPE", "{\"a\": \"zero\"}", "[]");
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_FORMAT, "model.vocab");
    bad.len = 0;
    tokenizer_json(&bad, "BPE", vocab.p, "5");
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_FORMAT, "model.merges");
    /* merges naming tokens the vocab lacks: a part, or the merged token */
    Buf extra = {0};
    merges_json(&extra, false, "he qq");
    bad.len = 0;
    tokenizer_json(&bad, "BPE", vocab.p, extra.p);
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_FORMAT, "qq");
    extra.len = 0;
    merges_json(&extra, false, "e l"); /* "el" is not in the vocab */
    bad.len = 0;
    tokenizer_json(&bad, "BPE", vocab.p, extra.p);
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_FORMAT, "");
    /* a model helios does not implement */
    bad.len = 0;
    tokenizer_json(&bad, "WordPiece", vocab.p, merges.p);
    CHECK_STATUS(from_json_text(bad.p, &none), HELIOS_ERR_UNSUPPORTED, "WordPiece");
    CHECK(none == NULL);
    buf_free(&good), buf_free(&vocab), buf_free(&merges), buf_free(&bad), buf_free(&extra);
}

/* ---- training ---------------------------------------------------------------------- */

typedef struct {
    size_t calls, last_done, last_total;
    bool ordered;
    int32_t answer;
} Progress;

static int32_t on_progress(size_t done, size_t total, void *user_data) {
    Progress *p = user_data;
    p->ordered &= done <= total && done >= p->last_done;
    p->calls++, p->last_done = done, p->last_total = total;
    return p->answer;
}

static uint32_t id_of(const HeliosTokenizer *tok, const char *token) {
    uint32_t id = 12345;
    CHECK(helios_tokenizer_token_to_id(tok, STR_ARG(token), &id) == HELIOS_OK);
    return id;
}

static size_t vocab_of(const HeliosTokenizer *tok) {
    size_t n = 0;
    CHECK(helios_tokenizer_vocab_size(tok, &n) == HELIOS_OK);
    return n;
}

static void test_train_bpe(void) {
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    CHECK(options.struct_size == sizeof options);
    /* min_frequency 0: no threshold (HF BpeTrainer default); the bindings pass 2 */
    CHECK(options.vocab_size == 30000 && options.min_frequency == 0);
    CHECK(options.special_tokens == NULL && options.special_tokens_count == 0 && options.unk_token == NULL);
    CHECK(options.threads == HELIOS_AUTO && options.cancel == NULL && options.progress == NULL);
    CHECK(options.progress_user_data == NULL);

    /* "ab ab ab" -> words "ab" x1, "Ġab" x2: (a,b) is seen 3 times, (Ġ,a) 2:
     * merge 1 is "a b"; then (Ġ,ab) twice: merge 2 is "Ġ ab"; then no pair. */
    const char *texts[] = {"ab ab ab"};
    const size_t lengths[] = {8};
    options.vocab_size = 300;
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 258);
    CHECK(id_of(tok, "ab") == 256 && id_of(tok, "\xC4\xA0" "ab") == 257);
    /* the 256 byte tokens come first, sorted by their char as HF sorts its
     * alphabet (GPT-2's own ids): '!' 0, 'a' 64, 'b' 65, 'Ġ' 220 */
    CHECK(id_of(tok, "!") == 0 && id_of(tok, "a") == 64 && id_of(tok, "b") == 65);
    CHECK(id_of(tok, "\xC4\xA0") == 220 && id_of(tok, "\xC4\x80") == 188); /* Ġ; Ā = byte 0 */
    const uint32_t ab_ab[] = {256, 257}, ba[] = {65, 64};
    CHECK(encodes_to(tok, "ab ab", ab_ab, 2, NULL));
    CHECK(encodes_to(tok, "ba", ba, 2, NULL));
    CHECK(decodes_to(tok, ab_ab, 2, 0, "ab ab"));
    helios_tokenizer_free(tok);

    /* min_frequency 3 keeps only "a b"; so does vocab_size 257 */
    options.min_frequency = 3;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 257 && id_of(tok, "ab") == 256 && id_of(tok, "\xC4\xA0" "ab") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    options.min_frequency = 2, options.vocab_size = 257;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 257 && id_of(tok, "ab") == 256);
    helios_tokenizer_free(tok);

    /* "aaa": the windows (a,a) and (a,a) count twice, as HF counts them */
    const char *triple[] = {"aaa"};
    const size_t triple_len[] = {3};
    options.vocab_size = 300;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(triple, triple_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 257 && id_of(tok, "aa") == 256);
    const uint32_t aa_a[] = {256, 64};
    CHECK(encodes_to(tok, "aaa", aa_a, 2, NULL));
    helios_tokenizer_free(tok);

    /* ties go to the smallest (left id, right id): "ab cd" with
     * min_frequency 1 has (a,b), (Ġ,c), (c,d) once each: (64,65) "ab" first,
     * then (66,67) "cd" before (220,66) "Ġc", then (220,257) "Ġcd" */
    const char *tie[] = {"ab cd"};
    const size_t tie_len[] = {5};
    options.min_frequency = 1;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(tie, tie_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 259 && id_of(tok, "ab") == 256 && id_of(tok, "cd") == 257);
    CHECK(id_of(tok, "\xC4\xA0" "cd") == 258 && id_of(tok, "\xC4\xA0" "c") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    options.vocab_size = 257;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(tie, tie_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 257 && id_of(tok, "ab") == 256 && id_of(tok, "cd") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    options.min_frequency = 2, options.vocab_size = 300;

    /* special tokens take ids 0..n-1, the bytes and merges shift */
    const char *specials[] = {"<pad>", "<|endoftext|>"};
    options.special_tokens = specials, options.special_tokens_count = 2;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 260);
    CHECK(id_of(tok, "<pad>") == 0 && id_of(tok, "<|endoftext|>") == 1 && id_of(tok, "a") == 66);
    CHECK(id_of(tok, "ab") == 258 && id_of(tok, "\xC4\xA0" "ab") == 259);
    const uint32_t with_pad[] = {258, 0, 259, 1};
    CHECK(encodes_to(tok, "ab<pad> ab<|endoftext|>", with_pad, 4, NULL));
    CHECK(decodes_to(tok, with_pad, 4, 1, "ab ab"));
    CHECK(decodes_to(tok, with_pad, 4, 0, "ab<pad> ab<|endoftext|>"));
    helios_tokenizer_free(tok);
    /* room for the specials and the bytes only: no merge */
    options.vocab_size = 258;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 258 && id_of(tok, "ab") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    /* less than that: refused */
    options.vocab_size = 257;
    tok = NULL;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT,
                 "vocab_size");
    options.special_tokens = NULL, options.special_tokens_count = 0, options.vocab_size = 10;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT,
                 "vocab_size");
    CHECK(tok == NULL);

    /* options NULL: the defaults */
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, NULL, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 258 && id_of(tok, "\xC4\xA0" "ab") == 257);
    helios_tokenizer_free(tok);

    /* texts are counted by length: "ab ab ab" cut to "ab ab" gives (a,b) x2,
     * (Ġ,a) x1: "a b" only */
    const size_t shorter[] = {5};
    options = helios_tokenizer_default_train_options();
    options.min_frequency = 2;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe(texts, shorter, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 257);
    helios_tokenizer_free(tok);

    /* from files: the same tokenizer as from the strings */
    char dir[] = "/tmp/helios_test_tokenizer_train_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char corpus[128];
    snprintf(corpus, sizeof corpus, "%s/corpus.txt", dir);
    CHECK(write_file(corpus, texts[0], lengths[0]));
    const char *paths[] = {corpus};
    const size_t path_lengths[] = {strlen(corpus)};
    HeliosTokenizer *from_files = NULL;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe_files(paths, path_lengths, 1, &options, &from_files) == HELIOS_OK);
    CHECK(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &tok) == HELIOS_OK);
    size_t a_len = 0, b_len = 0;
    char *a = to_json_all(tok, &a_len), *b = to_json_all(from_files, &b_len);
    CHECK(a_len == b_len && memcmp(a, b, a_len) == 0);
    free(a), free(b);
    helios_tokenizer_free(from_files), helios_tokenizer_free(tok);
    const char *missing[] = {"/nonexistent-helios-dir/corpus.txt"};
    const size_t missing_lengths[] = {strlen(missing[0])};
    from_files = NULL;
    CHECK_STATUS(helios_tokenizer_train_bpe_files(missing, missing_lengths, 1, &options, &from_files),
                 HELIOS_ERR_IO, "");
    CHECK(from_files == NULL);
    remove(corpus), rmdir(dir);

    /* empty corpus: no texts, or only empty ones */
    const char *empties[] = {"", ""};
    const size_t zeros[] = {0, 0};
    tok = NULL;
    CHECK_STATUS(helios_tokenizer_train_bpe(empties, zeros, 0, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT, "");
    CHECK_STATUS(helios_tokenizer_train_bpe(empties, zeros, 2, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT, "");
    CHECK(tok == NULL);
}

/* A corpus of `n` generated sentences (malloc'ed, freed by free_corpus). */
static void make_corpus(size_t n, uint64_t seed, char ***texts, size_t **lengths) {
    static const char *const words[] = {"the", "tokenizer", "splits", "text", "into", "pieces", "and", "merges",
                                        "frequent", "pairs", "of", "bytes", "caf\xC3\xA9", "don't", "it's",
                                        "42", "1999", "x+y", "\xE4\xB8\xAD\xE6\x96\x87", "\xF0\x9F\x99\x82"};
    *texts = malloc(n * sizeof **texts);
    *lengths = malloc(n * sizeof **lengths);
    for (size_t i = 0; i < n; i++) {
        Buf b = {0};
        size_t count = 3 + next_random(&seed) % 10;
        for (size_t k = 0; k < count; k++) {
            if (k) buf_str(&b, next_random(&seed) % 7 == 0 ? "  " : " ");
            buf_str(&b, words[next_random(&seed) % ARRAY_LEN(words)]);
        }
        buf_str(&b, next_random(&seed) % 3 == 0 ? ".\n" : ".");
        (*texts)[i] = b.p, (*lengths)[i] = b.len;
    }
}

static void free_corpus(size_t n, char **texts, size_t *lengths) {
    for (size_t i = 0; i < n; i++) free(texts[i]);
    free(texts), free(lengths);
}

static void test_train_deterministic_progress_cancel(void) {
    enum { N = 120 };
    char **texts;
    size_t *lengths;
    make_corpus(N, 3, &texts, &lengths);
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    options.vocab_size = 330;
    const size_t threads[] = {1, 2, 3};
    char *first = NULL;
    size_t first_len = 0;
    for (size_t t = 0; t < ARRAY_LEN(threads); t++) {
        options.threads = threads[t];
        HeliosTokenizer *tok = NULL;
        CHECK(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok) == HELIOS_OK);
        size_t len = 0;
        char *json = to_json_all(tok, &len);
        if (!first) {
            first = json, first_len = len;
            CHECK(vocab_of(tok) == 330);
            /* the trained tokenizer round-trips the corpus */
            int all = 1;
            for (size_t i = 0; i < N; i++) {
                size_t count = 0, back_len = 0;
                uint32_t *ids = encode_all(tok, texts[i], lengths[i], &count, NULL);
                char *back = decode_all(tok, ids, count, 0, &back_len);
                all &= back_len == lengths[i] && memcmp(back, texts[i], back_len) == 0 && count < lengths[i];
                free(ids), free(back);
            }
            CHECK(all);
        } else {
            CHECK(len == first_len && memcmp(json, first, len) == 0); /* the same for every thread count */
            free(json);
        }
        helios_tokenizer_free(tok);
    }
    free(first);

    /* progress: called, in order; a non-zero answer cancels */
    Progress progress = {0, 0, 0, true, 0};
    options.threads = HELIOS_AUTO;
    options.progress = on_progress, options.progress_user_data = &progress;
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok) == HELIOS_OK);
    CHECK(progress.calls >= 1 && progress.ordered && progress.last_done <= progress.last_total);
    CHECK(progress.last_total <= 330 - 256);
    helios_tokenizer_free(tok);
    Progress stop = {0, 0, 0, true, 1};
    options.progress_user_data = &stop;
    tok = NULL;
    CHECK_STATUS(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok),
                 HELIOS_ERR_CANCELLED, "");
    CHECK(stop.calls == 1 && tok == NULL);

    /* a raised cancel token */
    HeliosCancelToken *cancel = NULL;
    CHECK(helios_cancel_token_new(&cancel) == HELIOS_OK);
    CHECK(helios_cancel_token_cancel(cancel) == HELIOS_OK);
    options.progress = NULL, options.progress_user_data = NULL, options.cancel = cancel;
    CHECK_STATUS(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok),
                 HELIOS_ERR_CANCELLED, "");
    CHECK(tok == NULL);
    /* lowered again, the same token lets training run */
    CHECK(helios_cancel_token_reset(cancel) == HELIOS_OK);
    CHECK(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok) == HELIOS_OK);
    helios_tokenizer_free(tok);
    helios_cancel_token_free(cancel);

    /* the trained tokenizer saved and loaded encodes the same */
    options.cancel = NULL;
    tok = NULL;
    CHECK(helios_tokenizer_train_bpe((const char *const *)texts, lengths, N, &options, &tok) == HELIOS_OK);
    char dir[] = "/tmp/helios_test_tokenizer_trained_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    CHECK(helios_tokenizer_save(tok, PATH_ARG(path)) == HELIOS_OK);
    HeliosTokenizer *loaded = NULL;
    CHECK(helios_tokenizer_from_pretrained_dir(PATH_ARG(dir), &loaded) == HELIOS_OK);
    int same = 1;
    for (size_t i = 0; i < N; i++) {
        size_t a_n = 0, b_n = 0;
        uint32_t *a = encode_all(tok, texts[i], lengths[i], &a_n, NULL);
        uint32_t *b = encode_all(loaded, texts[i], lengths[i], &b_n, NULL);
        same &= a_n == b_n && memcmp(a, b, a_n * sizeof *a) == 0;
        free(a), free(b);
    }
    CHECK(same);
    remove(path), rmdir(dir);
    helios_tokenizer_free(loaded);
    helios_tokenizer_free(tok);
    free_corpus(N, texts, lengths);
}

static void test_train_char(void) {
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    /* "banana": a, b, n by code point */
    const char *banana[] = {"banana"};
    const size_t banana_len[] = {6};
    HeliosTokenizer *tok = NULL;
    CHECK(helios_tokenizer_train_char(banana, banana_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 3 && id_of(tok, "a") == 0 && id_of(tok, "b") == 1 && id_of(tok, "n") == 2);
    const uint32_t nab[] = {2, 0, 1};
    const size_t nab_offsets[] = {0, 1, 1, 2, 2, 3};
    CHECK(encodes_to(tok, "nab", nab, 3, nab_offsets));
    CHECK(decodes_to(tok, nab, 3, 0, "nab"));
    /* no unknown token: a character outside the vocabulary is an error */
    uint32_t ids[8];
    size_t count = 0;
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("bax"), ids, 8, NULL, &count), HELIOS_ERR_INVALID_ARGUMENT,
                 "x");
    CHECK(strstr(helios_last_error(), "2") != NULL); /* the character and its byte offset */
    helios_tokenizer_free(tok);

    /* multi-byte characters are one token each; offsets in bytes */
    const char *cafe[] = {"h\xC3\xA9 h\xC3\xA9", "\xE4\xB8\xAD"};
    const size_t cafe_len[] = {7, 3};
    tok = NULL;
    CHECK(helios_tokenizer_train_char(cafe, cafe_len, 2, &options, &tok) == HELIOS_OK);
    /* ' ' U+20, 'h' U+68, 'é' U+E9, '中' U+4E2D */
    CHECK(vocab_of(tok) == 4 && id_of(tok, " ") == 0 && id_of(tok, "h") == 1);
    CHECK(id_of(tok, "\xC3\xA9") == 2 && id_of(tok, "\xE4\xB8\xAD") == 3);
    const uint32_t e_h[] = {2, 0, 3, 1};
    const size_t e_h_offsets[] = {0, 2, 2, 3, 3, 6, 6, 7};
    CHECK(encodes_to(tok, "\xC3\xA9 \xE4\xB8\xADh", e_h, 4, e_h_offsets));
    helios_tokenizer_free(tok);

    /* an unknown token */
    options.unk_token = "<unk>";
    tok = NULL;
    CHECK(helios_tokenizer_train_char(banana, banana_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 4);
    uint32_t unk = id_of(tok, "<unk>"), a = id_of(tok, "a"), b = id_of(tok, "b"), n = id_of(tok, "n");
    CHECK(unk == 0 && a == 1 && b == 2 && n == 3); /* specials (none), the unknown token, the characters */
    const uint32_t bxn[] = {b, unk, n};
    const size_t bxn_offsets[] = {0, 1, 1, 3, 3, 4}; /* é -> <unk> covers its 2 bytes */
    CHECK(encodes_to(tok, "b\xC3\xA9n", bxn, 3, bxn_offsets));
    CHECK(decodes_to(tok, bxn, 3, 1, "bn"));
    helios_tokenizer_free(tok);
    options.unk_token = NULL;

    /* special tokens first, then the characters; matched inside text */
    const char *specials[] = {"<s>", "</s>"};
    options.special_tokens = specials, options.special_tokens_count = 2;
    tok = NULL;
    CHECK(helios_tokenizer_train_char(banana, banana_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 5 && id_of(tok, "<s>") == 0 && id_of(tok, "</s>") == 1 && id_of(tok, "a") == 2);
    const uint32_t tagged[] = {0, 3, 2, 1};
    CHECK(encodes_to(tok, "<s>ba</s>", tagged, 4, NULL));
    CHECK(decodes_to(tok, tagged, 4, 1, "ba"));
    CHECK(decodes_to(tok, tagged, 4, 0, "<s>ba</s>"));
    /* JSON round trip of a char tokenizer */
    size_t len = 0;
    char *json = to_json_all(tok, &len);
    HeliosTokenizer *again = NULL;
    CHECK(helios_tokenizer_from_json((const uint8_t *)json, len, &again) == HELIOS_OK);
    CHECK(encodes_to(again, "<s>ba</s>", tagged, 4, NULL));
    CHECK_STATUS(helios_tokenizer_encode(again, STR_ARG("bax"), ids, 8, NULL, &count), HELIOS_ERR_INVALID_ARGUMENT,
                 "");
    free(json);
    helios_tokenizer_free(again);
    helios_tokenizer_free(tok);
    options.special_tokens = NULL, options.special_tokens_count = 0;

    /* min_frequency drops rare characters; vocab_size keeps the most frequent */
    const char *skewed[] = {"aaabbc"};
    const size_t skewed_len[] = {6};
    options.min_frequency = 2;
    tok = NULL;
    CHECK(helios_tokenizer_train_char(skewed, skewed_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 2 && id_of(tok, "a") == 0 && id_of(tok, "b") == 1 && id_of(tok, "c") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    options.min_frequency = 0, options.vocab_size = 1;
    tok = NULL;
    CHECK(helios_tokenizer_train_char(skewed, skewed_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 1 && id_of(tok, "a") == 0 && id_of(tok, "b") == HELIOS_NO_TOKEN);
    helios_tokenizer_free(tok);
    /* 0 and 1 are alike for min_frequency */
    options = helios_tokenizer_default_train_options();
    options.min_frequency = 1;
    tok = NULL;
    CHECK(helios_tokenizer_train_char(skewed, skewed_len, 1, &options, &tok) == HELIOS_OK);
    CHECK(vocab_of(tok) == 3);
    helios_tokenizer_free(tok);

    /* empty corpus */
    const char *empties[] = {""};
    const size_t zeros[] = {0};
    tok = NULL;
    CHECK_STATUS(helios_tokenizer_train_char(empties, zeros, 1, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT, "");
    CHECK_STATUS(helios_tokenizer_train_char(empties, zeros, 0, &options, &tok), HELIOS_ERR_INVALID_ARGUMENT, "");
    CHECK(tok == NULL);
}

/* ---- sharing ---------------------------------------------------------------------- */

enum { SHARED_TEXTS = 24, SHARED_THREADS = 8, SHARED_ROUNDS = 4 };

typedef struct {
    const HeliosTokenizer *tok;
    char **texts;
    size_t *lengths;
    uint32_t **want;
    size_t *want_counts;
    size_t first;
    int same;
} SharedJob;

static void *shared_worker(void *arg) {
    SharedJob *job = arg;
    job->same = 1;
    for (size_t round = 0; round < SHARED_ROUNDS; round++)
        for (size_t k = 0; k < SHARED_TEXTS; k++) {
            size_t i = (job->first + k * 5 + round) % SHARED_TEXTS; /* each thread in its own order */
            uint32_t ids[256];
            size_t count = 0;
            HeliosStatus s = helios_tokenizer_encode(job->tok, job->texts[i], job->lengths[i], ids, 256, NULL, &count);
            job->same &= s == HELIOS_OK && count == job->want_counts[i] &&
                         memcmp(ids, job->want[i], count * sizeof *ids) == 0;
            char text[512];
            size_t len = 0;
            s = helios_tokenizer_decode(job->tok, ids, count, 0, (uint8_t *)text, sizeof text, &len);
            job->same &= s == HELIOS_OK && len == job->lengths[i] && memcmp(text, job->texts[i], len) == 0;
        }
    return NULL;
}

static void test_threads_share_one_tokenizer(void) {
    char **texts;
    size_t *lengths;
    make_corpus(SHARED_TEXTS, 17, &texts, &lengths);
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    options.vocab_size = 320;
    HeliosTokenizer *trained = NULL;
    CHECK(helios_tokenizer_train_bpe((const char *const *)texts, lengths, SHARED_TEXTS, &options, &trained) ==
          HELIOS_OK);
    HeliosTokenizer *standard = standard_tokenizer();
    HeliosTokenizer *both[] = {standard, trained};
    for (size_t t = 0; t < 2; t++) {
        uint32_t *want[SHARED_TEXTS];
        size_t want_counts[SHARED_TEXTS];
        for (size_t i = 0; i < SHARED_TEXTS; i++)
            want[i] = encode_all(both[t], texts[i], lengths[i], &want_counts[i], NULL);
        pthread_t threads[SHARED_THREADS];
        SharedJob jobs[SHARED_THREADS];
        for (size_t k = 0; k < SHARED_THREADS; k++) {
            jobs[k] = (SharedJob){both[t], texts, lengths, want, want_counts, k * 3, 0};
            CHECK(pthread_create(&threads[k], NULL, shared_worker, &jobs[k]) == 0);
        }
        for (size_t k = 0; k < SHARED_THREADS; k++) {
            CHECK(pthread_join(threads[k], NULL) == 0);
            CHECK(jobs[k].same);
        }
        for (size_t i = 0; i < SHARED_TEXTS; i++) free(want[i]);
    }
    helios_tokenizer_free(standard);
    helios_tokenizer_free(trained);
    free_corpus(SHARED_TEXTS, texts, lengths);
}

/* ---- bad input ---------------------------------------------------------------------- */

static void test_bad_input(void) {
    HeliosTokenizer *tok = standard_tokenizer(), *none = NULL;
    uint32_t ids[16];
    size_t offsets[32], count = 0, len = 0;
    uint8_t out[64];

    /* invalid UTF-8: the message names the byte offset */
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("hello, world!\xC3("), ids, 16, offsets, &count),
                 HELIOS_ERR_INVALID_ARGUMENT, "13");
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("abcdefghijklmnopq\xFF"), ids, 16, offsets, &count),
                 HELIOS_ERR_INVALID_ARGUMENT, "17");
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("\xED\xA0\x80"), ids, 16, offsets, &count), /* a surrogate */
                 HELIOS_ERR_INVALID_ARGUMENT, "0");
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("ab\xC0\xAF"), ids, 16, offsets, &count), /* overlong '/' */
                 HELIOS_ERR_INVALID_ARGUMENT, "2");
    const char *batch[] = {"fine", "bad \xE2\x82"};
    const size_t batch_len[] = {4, 6};
    size_t counts[2], total = 0;
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, batch, batch_len, 2, 1, ids, 16, counts, &total),
                 HELIOS_ERR_INVALID_ARGUMENT, "4");
    CHECK(strstr(helios_last_error(), "texts[1]") != NULL); /* the failing text */
    /* ids out of range */
    const uint32_t out_of_range[] = {258, VOCAB};
    CHECK_STATUS(helios_tokenizer_decode(tok, out_of_range, 2, 0, out, sizeof out, &len), HELIOS_ERR_INVALID_ARGUMENT,
                 "269");
    CHECK(strstr(helios_last_error(), "ids[1]") != NULL); /* the position */
    const uint32_t no_token[] = {HELIOS_NO_TOKEN};
    CHECK_STATUS(helios_tokenizer_decode(tok, no_token, 1, 0, out, sizeof out, &len), HELIOS_ERR_INVALID_ARGUMENT,
                 "4294967295");
    CHECK_STATUS(helios_tokenizer_id_to_token(tok, VOCAB, out, sizeof out, &len), HELIOS_ERR_INVALID_ARGUMENT, "269");
    /* thread counts */
    const char *texts[] = {"hello"};
    const size_t lengths[] = {5};
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, 1, 0, ids, 16, counts, &total),
                 HELIOS_ERR_INVALID_ARGUMENT, "");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, 1, 1025, ids, 16, counts, &total),
                 HELIOS_ERR_INVALID_ARGUMENT, "");
    /* a wrong struct_size */
    HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
    options.struct_size = 8;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "struct_size");
    CHECK_STATUS(helios_tokenizer_train_char(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "struct_size");
    const char *paths[] = {"/nonexistent-helios-dir/corpus.txt"};
    const size_t path_lengths[] = {strlen(paths[0])};
    CHECK_STATUS(helios_tokenizer_train_bpe_files(paths, path_lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "struct_size");
    options = helios_tokenizer_default_train_options();
    options.threads = 0;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT, "");
    /* BPE has no unknown token; special tokens must be distinct and non-empty */
    options = helios_tokenizer_default_train_options();
    options.unk_token = "<unk>";
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "unk_token");
    options.unk_token = NULL;
    const char *twice[] = {"<s>", "<s>"}, *empty_special[] = {""};
    options.special_tokens = twice, options.special_tokens_count = 2;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "special_tokens[1]");
    CHECK_STATUS(helios_tokenizer_train_char(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "special_tokens[1]");
    options.special_tokens = empty_special, options.special_tokens_count = 1;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "special_tokens[0]");
    CHECK_STATUS(helios_tokenizer_train_char(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "special_tokens[0]");
    /* char-level: a vocab_size that leaves no room for a character */
    const char *two[] = {"<s>", "</s>"};
    options.special_tokens = two, options.special_tokens_count = 2, options.vocab_size = 2;
    CHECK_STATUS(helios_tokenizer_train_char(texts, lengths, 1, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "vocab_size");
    options = helios_tokenizer_default_train_options();
    /* invalid UTF-8 in a training text */
    const char *bad_texts[] = {"ok", "no\xFF"};
    const size_t bad_lengths[] = {2, 3};
    CHECK_STATUS(helios_tokenizer_train_bpe(bad_texts, bad_lengths, 2, &options, &none), HELIOS_ERR_INVALID_ARGUMENT,
                 "2");
    CHECK_STATUS(helios_tokenizer_train_char(bad_texts, bad_lengths, 2, &options, &none),
                 HELIOS_ERR_INVALID_ARGUMENT, "2");

    /* NULL for every pointer */
    const char *json = "{}";
    CHECK_STATUS(helios_tokenizer_from_file(NULL, 5, &none), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_tokenizer_from_file(PATH_ARG("/tmp/x.json"), NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_from_json(NULL, 2, &none), HELIOS_ERR_NULL_ARGUMENT, "`json`");
    CHECK_STATUS(helios_tokenizer_from_json((const uint8_t *)json, 2, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(NULL, 5, PATH_ARG("/tmp/m.txt"), &none),
                 HELIOS_ERR_NULL_ARGUMENT, "`vocab`");
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG("/tmp/v.json"), NULL, 5, &none),
                 HELIOS_ERR_NULL_ARGUMENT, "`merges`");
    CHECK_STATUS(helios_tokenizer_from_vocab_merges(PATH_ARG("/tmp/v.json"), PATH_ARG("/tmp/m.txt"), NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_from_pretrained_dir(NULL, 5, &none), HELIOS_ERR_NULL_ARGUMENT, "`dir`");
    CHECK_STATUS(helios_tokenizer_from_pretrained_dir(PATH_ARG("/tmp"), NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_save(NULL, PATH_ARG("/tmp/x.json")), HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_save(tok, NULL, 5), HELIOS_ERR_NULL_ARGUMENT, "`path`");
    CHECK_STATUS(helios_tokenizer_to_json(NULL, out, sizeof out, &len), HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_to_json(tok, NULL, 100000, &len), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_train_bpe(NULL, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "`texts`");
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, NULL, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "`lengths`");
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    const char *null_text[] = {NULL};
    CHECK_STATUS(helios_tokenizer_train_bpe(null_text, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "");
    CHECK_STATUS(helios_tokenizer_train_bpe_files(NULL, path_lengths, 1, &options, &none),
                 HELIOS_ERR_NULL_ARGUMENT, "`paths`");
    CHECK_STATUS(helios_tokenizer_train_bpe_files(paths, NULL, 1, &options, &none),
                 HELIOS_ERR_NULL_ARGUMENT, "`path_lengths`");
    CHECK_STATUS(helios_tokenizer_train_bpe_files(paths, path_lengths, 1, &options, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_train_bpe_files(null_text, lengths, 1, &options, &none),
                 HELIOS_ERR_NULL_ARGUMENT, "");
    CHECK_STATUS(helios_tokenizer_train_char(NULL, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "`texts`");
    CHECK_STATUS(helios_tokenizer_train_char(texts, NULL, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "`lengths`");
    CHECK_STATUS(helios_tokenizer_train_char(texts, lengths, 1, &options, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_train_char(null_text, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "");
    const char *null_special[] = {"<s>", NULL};
    options.special_tokens = null_special, options.special_tokens_count = 2;
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT, "");
    options.special_tokens = NULL; /* count 2 but no array */
    CHECK_STATUS(helios_tokenizer_train_bpe(texts, lengths, 1, &options, &none), HELIOS_ERR_NULL_ARGUMENT,
                 "special_tokens");
    options = helios_tokenizer_default_train_options();
    CHECK_STATUS(helios_tokenizer_encode(NULL, STR_ARG("hi"), ids, 16, offsets, &count),
                 HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_encode(tok, NULL, 2, ids, 16, offsets, &count), HELIOS_ERR_NULL_ARGUMENT, "`text`");
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("hi"), NULL, 16, offsets, &count),
                 HELIOS_ERR_NULL_ARGUMENT, "`ids`");
    CHECK_STATUS(helios_tokenizer_encode(tok, STR_ARG("hi"), ids, 16, offsets, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "out_count");
    /* no text: NULL is fine when len is 0 */
    count = 99;
    CHECK(helios_tokenizer_encode(tok, NULL, 0, ids, 16, offsets, &count) == HELIOS_OK && count == 0);
    CHECK_STATUS(helios_tokenizer_encode_batch(NULL, texts, lengths, 1, 1, ids, 16, counts, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, NULL, lengths, 1, 1, ids, 16, counts, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "`texts`");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, NULL, 1, 1, ids, 16, counts, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "`lengths`");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, 1, 1, NULL, 16, counts, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "`ids`");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, 1, 1, ids, 16, NULL, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "`counts`");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, texts, lengths, 1, 1, ids, 16, counts, NULL),
                 HELIOS_ERR_NULL_ARGUMENT, "out_total");
    CHECK_STATUS(helios_tokenizer_encode_batch(tok, null_text, lengths, 1, 1, ids, 16, counts, &total),
                 HELIOS_ERR_NULL_ARGUMENT, "");
    const uint32_t one_id[] = {104};
    CHECK_STATUS(helios_tokenizer_decode(NULL, one_id, 1, 0, out, sizeof out, &len),
                 HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_decode(tok, NULL, 1, 0, out, sizeof out, &len), HELIOS_ERR_NULL_ARGUMENT, "`ids`");
    CHECK_STATUS(helios_tokenizer_decode(tok, one_id, 1, 0, NULL, 16, &len), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_decode(tok, one_id, 1, 0, out, sizeof out, NULL), HELIOS_ERR_NULL_ARGUMENT,
                 "out_len");
    CHECK_STATUS(helios_tokenizer_vocab_size(NULL, &len), HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_vocab_size(tok, NULL), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    uint32_t id = 0;
    CHECK_STATUS(helios_tokenizer_token_to_id(NULL, STR_ARG("h"), &id), HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_token_to_id(tok, NULL, 1, &id), HELIOS_ERR_NULL_ARGUMENT, "`token`");
    CHECK_STATUS(helios_tokenizer_token_to_id(tok, STR_ARG("h"), NULL), HELIOS_ERR_NULL_ARGUMENT, "`out_id`");
    CHECK_STATUS(helios_tokenizer_id_to_token(NULL, 104, out, sizeof out, &len),
                 HELIOS_ERR_NULL_ARGUMENT, "`tokenizer`");
    CHECK_STATUS(helios_tokenizer_id_to_token(tok, 104, NULL, 16, &len), HELIOS_ERR_NULL_ARGUMENT, "`out`");
    CHECK_STATUS(helios_tokenizer_id_to_token(tok, 104, out, sizeof out, NULL), HELIOS_ERR_NULL_ARGUMENT, "out_len");
    /* to_json's out_needed is optional */
    uint8_t *json_out = malloc(100000);
    CHECK(helios_tokenizer_to_json(tok, json_out, 100000, NULL) == HELIOS_OK);
    free(json_out);
    CHECK(none == NULL);
    helios_tokenizer_free(NULL); /* a no-op */

    /* the tokenizer is untouched by all of that */
    const uint32_t hello_world[] = {258, 111, 259, 265, 108, 100};
    CHECK(encodes_to(tok, "hello world", hello_world, 6, NULL));
    helios_tokenizer_free(tok);
}

int main(void) {
    test_hand_computed_encodings();
    test_decode_and_vocabulary();
    test_encode_ask_then_allocate();
    test_against_reference_encoder();
    test_round_trip();
    test_encode_batch();
    test_vocab_merges_and_pretrained_dir();
    test_save_load_and_json();
    test_bad_tokenizer_json();
    test_train_bpe();
    test_train_deterministic_progress_cancel();
    test_train_char();
    test_threads_share_one_tokenizer();
    test_bad_input();
    return check_summary();
}
