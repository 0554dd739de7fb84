// helios from C++, linked statically: generate text with a GPT-2 model,
// streamed as it comes, through small RAII classes over the C API.
//
//   generate                      a tiny model with random weights and a tokenizer
//                                 trained here (the text is gibberish, the API the same)
//   generate MODEL_DIR [PROMPT]   a Hugging Face GPT-2 checkpoint directory
//                                 (config.json, model.safetensors, tokenizer.json or
//                                 vocab.json + merges.txt)
//
// A Model is shareable: one instance serves many requests on many threads.
// A Sampler is one request (its KV cache, random generator and context) and
// belongs to one thread at a time. The last part runs three requests on
// three std::threads over one model, as a server would.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude examples/cpp/generate.cpp target/release/libhelios.a
//       -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
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

// A tokenizer: immutable and shareable, so copies share one native object.
class Tokenizer {
  public:
    static Tokenizer from_pretrained_dir(const std::string& dir) {
        HeliosTokenizer* raw = nullptr;
        check(helios_tokenizer_from_pretrained_dir(dir.data(), dir.size(), &raw));
        return Tokenizer(raw);
    }

    static Tokenizer train_bpe(const std::vector<std::string>& texts, size_t vocab_size) {
        std::vector<const char*> pointers;
        std::vector<size_t> lengths;
        for (const auto& text : texts) pointers.push_back(text.data()), lengths.push_back(text.size());
        HeliosTokenizerTrainOptions options = helios_tokenizer_default_train_options();
        options.vocab_size = vocab_size;
        options.min_frequency = 2;
        HeliosTokenizer* raw = nullptr;
        check(helios_tokenizer_train_bpe(pointers.data(), lengths.data(), pointers.size(), &options, &raw));
        return Tokenizer(raw);
    }

    size_t vocab_size() const {
        size_t n = 0;
        check(helios_tokenizer_vocab_size(get(), &n));
        return n;
    }

    const HeliosTokenizer* get() const { return handle_.get(); }

  private:
    explicit Tokenizer(HeliosTokenizer* raw) : handle_(raw, helios_tokenizer_free) {}
    std::shared_ptr<HeliosTokenizer> handle_;
};

// A model: immutable weights, shareable between threads; copies share them.
class Model {
  public:
    static Model load(const std::string& dir) {
        HeliosModel* raw = nullptr;
        check(helios_model_load(dir.data(), dir.size(), &raw));
        return Model(raw);
    }

    static Model random(const HeliosGptConfig& config, uint64_t seed) {
        HeliosModel* raw = nullptr;
        check(helios_model_random(&config, seed, &raw));
        return Model(raw);
    }

    HeliosGptConfig config() const {
        HeliosGptConfig config = helios_model_default_config();
        check(helios_model_get_config(get(), &config));
        return config;
    }

    const HeliosModel* get() const { return handle_.get(); }

  private:
    explicit Model(HeliosModel* raw) : handle_(raw, helios_model_free) {}
    std::shared_ptr<HeliosModel> handle_;
};

// One generation request. Movable, not copyable: it owns its state. It keeps
// its own reference to the model's weights, so the Model may go first.
class Sampler {
  public:
    struct Result {
        std::string text;
        int32_t stop_reason;
    };

    // Sampling settings, with the library's defaults.
    struct Options {
        float temperature = 1.0f;
        size_t top_k = 0;
        float top_p = 1.0f;
        float repetition_penalty = 1.0f;
        uint64_t seed = 0;
        size_t max_tokens = 256;
        std::vector<std::string> stop_strings;
        size_t threads = HELIOS_AUTO;
    };

    Sampler(const Model& model, const Options& o) {
        std::vector<const char*> stops;
        for (const auto& s : o.stop_strings) stops.push_back(s.c_str());
        HeliosSamplerOptions options = helios_sampler_default_options();  // sets struct_size
        options.temperature = o.temperature;
        options.top_k = o.top_k;
        options.top_p = o.top_p;
        options.repetition_penalty = o.repetition_penalty;
        options.seed = o.seed;
        options.max_tokens = o.max_tokens;
        options.stop_strings = stops.empty() ? nullptr : stops.data();
        options.stop_strings_count = stops.size();
        options.threads = o.threads;
        HeliosSampler* raw = nullptr;
        check(helios_sampler_new(model.get(), &options, &raw));  // the strings are copied
        handle_.reset(raw);
    }

    // Generate after `prompt`, calling `on_piece` with each piece of text
    // (whole UTF-8 characters) as it comes; return false from it to stop.
    Result generate_text(const Tokenizer& tokenizer, std::string_view prompt,
                         const std::function<bool(std::string_view)>& on_piece = nullptr) {
        Stream stream{on_piece, {}, nullptr};
        size_t bytes = 0;
        Result result{{}, -1};
        HeliosStatus status = helios_sampler_generate_text(handle_.get(), tokenizer.get(), prompt.data(), prompt.size(),
                                                           &Stream::trampoline, &stream, nullptr, &bytes,
                                                           &result.stop_reason);
        if (stream.error) std::rethrow_exception(stream.error);  // thrown by on_piece
        check(status);
        result.text = std::move(stream.text);
        return result;
    }

    // Forget the context; the random generator restarts from the seed.
    void reset() { check(helios_sampler_reset(handle_.get())); }

    size_t context_len() const {
        size_t n = 0;
        check(helios_sampler_context_len(handle_.get(), &n));
        return n;
    }

  private:
    // The C callback cannot let a C++ exception through: keep it and stop.
    struct Stream {
        const std::function<bool(std::string_view)>& on_piece;
        std::string text;
        std::exception_ptr error;

        static int32_t trampoline(const char* piece, size_t len, void* user_data) {
            auto* self = static_cast<Stream*>(user_data);
            try {
                self->text.append(piece, len);
                return self->on_piece && !self->on_piece(std::string_view(piece, len)) ? 1 : 0;
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
        }
    };
    struct Free {
        void operator()(HeliosSampler* s) const { helios_sampler_free(s); }
    };
    std::unique_ptr<HeliosSampler, Free> handle_;
};

static const char* stop_reason_name(int32_t reason) {
    switch (reason) {
        case HELIOS_STOP_MAX_TOKENS: return "max_tokens reached";
        case HELIOS_STOP_TOKEN: return "a stop token";
        case HELIOS_STOP_STRING: return "a stop string";
        case HELIOS_STOP_CONTEXT_FULL: return "the context is full";
        case HELIOS_STOP_CALLBACK: return "the callback asked to stop";
        default: return "?";
    }
}

// A random model writes random bytes: show control characters as \xNN.
static std::string printable(std::string_view text) {
    std::string out;
    for (unsigned char c : text) {
        if ((c < 0x20 && c != '\n') || c == 0x7F) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02X", c);
            out += hex;
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

int main(int argc, char** argv) try {
    // 1. A model and its tokenizer: loaded, or tiny and random.
    std::string prompt = "Once upon a time";
    auto [model, tokenizer] = [&]() -> std::pair<Model, Tokenizer> {
        if (argc > 1) {
            if (argc > 2) prompt = argv[2];
            return {Model::load(argv[1]), Tokenizer::from_pretrained_dir(argv[1])};
        }
        Tokenizer tok = Tokenizer::train_bpe(
            {"Once upon a time there was a small language model that lived in a library.",
             "Every morning the model read a prompt and wrote the next word, one token at a time.",
             "The sampler kept its own memory of the story, and the model shared its weights with everyone.",
             "Once upon a time the library had many readers, and each reader had a sampler of its own."},
            400);
        HeliosGptConfig config = helios_model_default_config();
        config.vocab_size = tok.vocab_size();  // every tokenizer id must be a model id
        config.n_positions = 128;
        config.n_embd = 64;
        config.n_layer = 2;
        config.n_head = 4;
        config.n_inner = 256;
        return {Model::random(config, 1), tok};
    }();
    HeliosGptConfig config = model.config();
    std::printf("%s: %zu layers, width %zu, vocabulary %zu, context %zu\n",
                argc > 1 ? argv[1] : "a tiny model with random weights (its text is gibberish)", config.n_layer,
                config.n_embd, config.vocab_size, config.n_positions);

    // 2. One request, streamed: each piece is printed as soon as it is known.
    Sampler::Options options;
    options.temperature = 0.8f;  // 0 would always take the likeliest token
    options.top_k = 40;
    options.top_p = 0.95f;
    options.seed = 42;
    options.max_tokens = 60;
    options.stop_strings = {"\n\n"};  // stop at a blank line (not included)
    Sampler sampler(model, options);
    std::printf("\n%s", prompt.c_str());
    Sampler::Result result = sampler.generate_text(tokenizer, prompt, [](std::string_view piece) {
        std::fputs(printable(piece).c_str(), stdout);
        std::fflush(stdout);
        return true;  // go on
    });
    std::printf("\n\n[%zu bytes; stopped: %s; %zu tokens in the context]\n", result.text.size(),
                stop_reason_name(result.stop_reason), sampler.context_len());

    // 3. After reset, the same seed gives the same text.
    sampler.reset();
    bool same = sampler.generate_text(tokenizer, prompt).text == result.text;
    std::printf("after reset, the same text: %s\n", same ? "yes" : "NO");

    // 4. A server's loop in miniature: one shared model, a sampler per
    //    request, each request on a thread of its own. A seed gives the same
    //    text whichever thread runs it and whatever else runs at the time.
    std::vector<std::string> answers(3), again(3);
    auto serve = [&](size_t i, std::vector<std::string>& out) {
        Sampler::Options o = options;
        o.seed = 100 + i;
        o.max_tokens = 20;
        o.threads = 1;  // the requests already keep the cores busy
        Sampler request(model, o);
        out[i] = request.generate_text(tokenizer, prompt).text;
    };
    std::vector<std::thread> threads;
    for (size_t i = 0; i < answers.size(); i++) threads.emplace_back(serve, i, std::ref(answers));
    for (auto& thread : threads) thread.join();
    for (size_t i = 0; i < again.size(); i++) serve(i, again);  // the same requests, one after another
    for (size_t i = 0; i < answers.size(); i++)
        std::printf("request %zu (seed %zu): %s%s\n", i, 100 + i, prompt.c_str(), printable(answers[i]).c_str());
    std::printf("the threads gave the same text as one request after another: %s\n", answers == again ? "yes" : "NO");
    return 0;
} catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
}
