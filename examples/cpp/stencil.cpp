// helios from C++, linked statically (libhelios.a): a 3-point stencil with the
// deterministic parallel runner, errors as exceptions, and cancellation.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude examples/cpp/stencil.cpp target/release/libhelios.a
//       -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "helios.h"

// Turn a failed status into an exception that carries the thread's message.
struct HeliosError : std::runtime_error {
    HeliosStatus status;
    HeliosError(HeliosStatus s)
        : std::runtime_error(std::string(helios_status_name(s)) + ": " + helios_last_error()), status(s) {}
};

static void check(HeliosStatus status) {
    if (status != HELIOS_OK) throw HeliosError(status);
}

// Own a cancel token with RAII.
using CancelToken = std::unique_ptr<HeliosCancelToken, decltype(&helios_cancel_token_free)>;

static CancelToken make_token() {
    HeliosCancelToken* raw = nullptr;
    check(helios_cancel_token_new(&raw));
    return CancelToken(raw, &helios_cancel_token_free);
}

// Map `input` with any C++ callable `f(block, core_offset, core_out)`.
// helios runs the callable on several threads at once, one block each.
template <typename F>
std::vector<float> parallel_map(const std::vector<float>& input, F f, size_t halo,
                                const HeliosCancelToken* cancel = nullptr) {
    struct Thunk {
        static int call(const float* block, size_t block_len, size_t core_offset, size_t core_len,
                        float* core_out, void* user_data) {
            try {
                (*static_cast<F*>(user_data))(block, block_len, core_offset, core_len, core_out);
                return 0;
            } catch (...) {
                return 1;  // never let an exception cross into helios: stop the run
            }
        }
    };
    std::vector<float> output(input.size());
    HeliosParallelMapOptions options = helios_parallel_map_default_options();
    options.halo = halo;
    options.cancel = cancel;
    check(helios_parallel_map_f32(input.data(), input.size(), output.data(), output.size(), nullptr,
                                  &options, &Thunk::call, &f));
    return output;
}

int main() {
    std::vector<float> signal(1 << 20);
    for (size_t i = 0; i < signal.size(); i++) signal[i] = (i / 1000) % 2 ? 1.0f : -1.0f;

    auto smooth = [](const float* block, size_t len, size_t core, size_t core_len, float* out) {
        for (size_t k = 0; k < core_len; k++) {
            size_t i = core + k;
            out[k] = 0.25f * block[i > 0 ? i - 1 : 0] + 0.5f * block[i] +
                     0.25f * block[i + 1 < len ? i + 1 : len - 1];
        }
    };
    std::vector<float> smoothed = parallel_map(signal, smooth, 1);
    std::printf("helios %s (static): smoothed[999..1001] = %.2f %.2f %.2f\n", helios_version(),
                smoothed[999], smoothed[1000], smoothed[1001]);

    try {
        parallel_map(signal, smooth, signal.size() + 1);  // a halo longer than the array
    } catch (const HeliosError& e) {
        std::printf("caught: %s\n", e.what());
    }

    CancelToken token = make_token();
    check(helios_cancel_token_cancel(token.get()));
    try {
        parallel_map(signal, smooth, 1, token.get());
    } catch (const HeliosError& e) {
        std::printf("cancelled: %s\n", e.status == HELIOS_ERR_CANCELLED ? "yes" : "no");
    }
    return 0;
}
