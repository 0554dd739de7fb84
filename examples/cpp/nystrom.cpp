// helios from C++, linked statically: a small RAII class over the Nyström
// engine, and how the kernel approximation Phi Phi^T ≈ K improves with the
// number of landmarks.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude examples/cpp/nystrom.cpp target/release/libhelios.a
//       -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
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

// One engine of doubles. Single-owner: use it from one thread at a time (a
// second thread inside it at once gets HELIOS_ERR_BUSY, as an exception here).
class Nystrom {
  public:
    Nystrom(double gamma, size_t landmarks, uint64_t seed) {
        HeliosNystromOptions options = helios_nystrom_default_options();
        options.gamma = gamma;
        options.landmark_count = landmarks;
        options.selection = HELIOS_LANDMARKS_KMEANS_PLUS_PLUS;
        options.seed = seed;
        HeliosNystromEngine* raw = nullptr;
        check(helios_nystrom_new(&options, HELIOS_DTYPE_F64, &raw));
        engine_.reset(raw);
        m_ = landmarks;
    }

    // Phi(x) for the n x d row-major matrix x, choosing the landmarks from it.
    std::vector<double> build(const std::vector<double>& x, size_t d) {
        std::vector<double> phi(x.size() / d * m_);
        check(helios_nystrom_build_f64(engine_.get(), x.data(), x.size() / d, d, d, phi.data(), phi.size(), nullptr));
        return phi;
    }

    // Append Phi(x_new) to phi; only the new rows are computed.
    void update(const std::vector<double>& x_new, size_t d, std::vector<double>& phi) {
        size_t rows = phi.size() / m_;
        phi.resize(phi.size() + x_new.size() / d * m_);
        check(helios_nystrom_update_inplace_f64(engine_.get(), x_new.data(), x_new.size() / d, d, d, phi.data(),
                                                phi.size(), rows, nullptr));
    }

  private:
    struct Free {
        void operator()(HeliosNystromEngine* e) const { helios_nystrom_free(e); }
    };
    std::unique_ptr<HeliosNystromEngine, Free> engine_;
    size_t m_ = 0;
};

int main() {
    const size_t n = 1500, d = 6;
    const double gamma = 0.1;
    std::mt19937_64 rng(1);
    std::normal_distribution<double> normal;
    std::vector<double> x(n * d);
    for (double& v : x) v = normal(rng);

    // Relative error ||Phi Phi^T - K|| / ||K|| (Frobenius) over the first 300
    // rows, for growing m.
    for (size_t m : {16, 64, 256, 768}) {
        Nystrom engine(gamma, m, 7);
        std::vector<double> phi = engine.build(std::vector<double>(x.begin(), x.begin() + 1000 * d), d);
        engine.update(std::vector<double>(x.begin() + 1000 * d, x.end()), d, phi);
        double err2 = 0.0, norm2 = 0.0;
        for (size_t i = 0; i < 300; i++)
            for (size_t j = 0; j < 300; j++) {
                double dot = 0.0, dist2 = 0.0;
                for (size_t k = 0; k < m; k++) dot += phi[i * m + k] * phi[j * m + k];
                for (size_t k = 0; k < d; k++) dist2 += std::pow(x[i * d + k] - x[j * d + k], 2);
                double k = std::exp(-gamma * dist2);
                err2 += (dot - k) * (dot - k);
                norm2 += k * k;
            }
        std::printf("m = %4zu landmarks, %zu rows: ||Phi Phi^T - K|| / ||K|| = %.2e\n", m, phi.size() / m,
                    std::sqrt(err2 / norm2));
    }

    try {
        Nystrom too_many(gamma, 5000, 0);
        too_many.build(x, d);  // 5000 landmarks from 1500 rows
    } catch (const HeliosError& e) {
        std::printf("caught: %s\n", e.what());
    }
    return 0;
}
