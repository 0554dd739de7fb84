// helios from C++, linked statically: a small RAII class over the byte-level
// BPE tokenizer. Train on a small corpus, encode and decode, encode a batch
// on several threads, share one tokenizer between std::threads, save it as a
// Hugging Face tokenizer.json and load it back.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude examples/cpp/tokenizer.cpp target/release/libhelios.a
//       -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "helios.h"

struct HeliosError : std::runtime_error {
    HeliosStatus status;
    HeliosError(HeliosStatus s)
        : std::runtime_error(std::string(helios_status_name(s)) + ": " + helios_last_error()), status(s) {}
};

static void check(HeliosStatus status) {
    if (status != HELIOS_OK) throw HeliosError(status);
}

// A call that may answer HELIOS_ERR_BUFFER_TOO_SMALL with the size it needs.
static void check_size_query(HeliosStatus status) {
    if (status != HELIOS_OK && status != HELIOS_ERR_BUFFER_TOO_SMALL) throw HeliosError(status);
}

// A tokenizer. Immutable once built and shareable: any number of threads
// may encode and decode with one object at once, so the methods are const.
class Tokenizer {
  public:
    struct Encoding {
        std::vector<uint32_t> ids;
        std::vector<size_t> offsets;  // 2 per token: [start, end) in bytes of the text
    };

    static Tokenizer train_bpe(const std::vector<std::string>& texts, size_t vocab_size,
                               const std::vector<std::string>& special_tokens = {}, size_t min_frequency = 2) {
        std::vector<const char*> pointers, specials;
        std::vector<size_t> lengths;
        for (const auto& text : texts) pointers.push_back(text.data()), lengths.push_back(text.size());
        for (const auto& token : special_tokens) specials.push_back(token.c_str());
        HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
        options.vocab_size = vocab_size;
        options.min_frequency = min_frequency;
        options.special_tokens = specials.empty() ? nullptr : specials.data();
        options.special_tokens_count = specials.size();
        HeliosTokenizer* raw = nullptr;
        check(helios_tokenizer_train_bpe(pointers.data(), lengths.data(), pointers.size(), &options, &raw));
        return Tokenizer(raw);
    }

    static Tokenizer from_file(const std::string& path) {
        HeliosTokenizer* raw = nullptr;
        check(helios_tokenizer_from_file(path.data(), path.size(), &raw));
        return Tokenizer(raw);
    }

    Encoding encode(std::string_view text) const {
        Encoding result;
        size_t needed = 0;
        check_size_query(helios_tokenizer_encode(get(), text.data(), text.size(), nullptr, 0, nullptr, &needed));
        result.ids.resize(needed);
        result.offsets.resize(2 * needed);
        check(helios_tokenizer_encode(get(), text.data(), text.size(), result.ids.data(), needed,
                                      result.offsets.data(), &needed));
        return result;
    }

    // The ids of each text, in order, computed on `threads` threads.
    std::vector<std::vector<uint32_t>> encode_batch(const std::vector<std::string>& texts, size_t threads) const {
        std::vector<const char*> pointers;
        std::vector<size_t> lengths, counts(texts.size());
        for (const auto& text : texts) pointers.push_back(text.data()), lengths.push_back(text.size());
        size_t total = 0;
        check_size_query(helios_tokenizer_encode_batch(get(), pointers.data(), lengths.data(), texts.size(), threads,
                                                       nullptr, 0, counts.data(), &total));
        std::vector<uint32_t> all(total);
        check(helios_tokenizer_encode_batch(get(), pointers.data(), lengths.data(), texts.size(), threads, all.data(),
                                            all.size(), counts.data(), &total));
        std::vector<std::vector<uint32_t>> result;
        size_t at = 0;
        for (size_t count : counts) {
            result.emplace_back(all.begin() + at, all.begin() + at + count);
            at += count;
        }
        return result;
    }

    std::string decode(const std::vector<uint32_t>& ids, bool skip_special = false) const {
        size_t needed = 0;
        check_size_query(helios_tokenizer_decode(get(), ids.data(), ids.size(), skip_special, nullptr, 0, &needed));
        std::string text(needed, '\0');
        check(helios_tokenizer_decode(get(), ids.data(), ids.size(), skip_special,
                                      reinterpret_cast<uint8_t*>(text.data()), text.size(), &needed));
        return text;
    }

    std::string id_to_token(uint32_t id) const {
        size_t needed = 0;
        check_size_query(helios_tokenizer_id_to_token(get(), id, nullptr, 0, &needed));
        std::string token(needed, '\0');
        check(helios_tokenizer_id_to_token(get(), id, reinterpret_cast<uint8_t*>(token.data()), token.size(), &needed));
        return token;
    }

    std::optional<uint32_t> token_to_id(std::string_view token) const {
        uint32_t id = 0;
        check(helios_tokenizer_token_to_id(get(), token.data(), token.size(), &id));
        if (id == HELIOS_NO_TOKEN) return std::nullopt;
        return id;
    }

    size_t vocab_size() const {
        size_t n = 0;
        check(helios_tokenizer_vocab_size(get(), &n));
        return n;
    }

    void save(const std::string& path) const { check(helios_tokenizer_save(get(), path.data(), path.size())); }

  private:
    explicit Tokenizer(HeliosTokenizer* raw) : handle_(raw, helios_tokenizer_free) {}
    HeliosTokenizer* get() const { return handle_.get(); }
    std::shared_ptr<HeliosTokenizer> handle_;  // copies share the one native tokenizer
};

int main() {
    // 1. Train on a small corpus: 256 byte tokens, one special token, and
    //    merges up to a vocabulary of 400.
    std::vector<std::string> corpus = {
        "The tokenizer splits text into pieces and merges the most frequent pairs of bytes.",
        "A byte-level tokenizer can encode any text: every byte has a token of its own.",
        "The merges are learnt from the corpus, most frequent pair first.",
        "Tokenizers turn text into token ids for a language model, and ids back into text.",
        "Caf\xC3\xA9, na\xC3\xAFve, \xE4\xB8\xAD\xE6\x96\x87 and emoji \xF0\x9F\x99\x82 are bytes like any other.",
    };
    Tokenizer tok = Tokenizer::train_bpe(corpus, 400, {"<|endoftext|>"});
    std::printf("trained: %zu tokens in the vocabulary\n", tok.vocab_size());

    // 2. Encode, show the tokens ('Ġ' stands for a space in GPT-2's byte-level
    //    form), decode back.
    std::string sentence = "The tokenizer merges frequent pairs.<|endoftext|>";
    Tokenizer::Encoding enc = tok.encode(sentence);
    std::printf("\"%s\" -> %zu tokens:", sentence.c_str(), enc.ids.size());
    for (uint32_t id : enc.ids) std::printf(" %u:%s", id, tok.id_to_token(id).c_str());
    std::printf("\n");
    std::string back = tok.decode(enc.ids);
    std::printf("decoded: \"%s\" (identical: %s); without special tokens: \"%s\"\n", back.c_str(),
                back == sentence ? "yes" : "NO", tok.decode(enc.ids, true).c_str());
    auto eot = tok.token_to_id("<|endoftext|>");
    std::printf("<|endoftext|> is id %u; \"no such token\" is %s\n", eot.value_or(0),
                tok.token_to_id("no such token") ? "present" : "absent");

    // 3. One tokenizer, four std::threads encoding at once: the same ids as
    //    one thread alone.
    std::vector<std::vector<uint32_t>> alone;
    for (const auto& text : corpus) alone.push_back(tok.encode(text).ids);
    std::vector<int> same(4, 1);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            for (int round = 0; round < 50; round++)
                for (size_t i = 0; i < corpus.size(); i++) same[t] &= tok.encode(corpus[i]).ids == alone[i];
        });
    for (auto& thread : threads) thread.join();
    std::printf("4 threads sharing one tokenizer got the same ids: %s\n",
                same == std::vector<int>(4, 1) ? "yes" : "NO");

    // 4. The whole corpus in one batch call on 2 threads (order is kept).
    auto batch = tok.encode_batch(corpus, 2);
    std::printf("batch of %zu texts: the same ids as one by one: %s\n", batch.size(), batch == alone ? "yes" : "NO");

    // 5. Save as tokenizer.json and load it back.
    const std::string path = "tokenizer_example_cpp.json";
    tok.save(path);
    Tokenizer loaded = Tokenizer::from_file(path);
    std::remove(path.c_str());
    bool same_ids = loaded.encode(sentence).ids == enc.ids;
    std::printf("reloaded from %s: same ids: %s\n", path.c_str(), same_ids ? "yes" : "NO");

    // 6. Errors are exceptions carrying helios's status and message.
    try {
        tok.encode("caf\xC3");
    } catch (const HeliosError& e) {
        std::printf("invalid UTF-8: %s\n", e.what());
    }
    try {
        tok.decode({static_cast<uint32_t>(tok.vocab_size())});
    } catch (const HeliosError& e) {
        std::printf("unknown id: %s\n", e.what());
    }
    return 0;
}
