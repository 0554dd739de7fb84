// helios from C++, linked statically: a small RAII class over the vector
// index, an exact and a product-quantized index with ids of your own,
// searches from several std::threads on one shared index, and a save/load
// round trip.
//
// Build (from the repository root, after `cargo build --release`):
//   c++ -std=c++17 -Iinclude examples/cpp/vector_search.cpp target/release/libhelios.a
//       -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
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

// The k best hits of each query, row-major: ids[q * k + j] at distances[q * k + j].
struct Hits {
    size_t k = 0;
    std::vector<float> distances;
    std::vector<uint64_t> ids;
};

// A vector index. Shareable: any number of threads may search, add and
// remove at once (a search sees the index before or after each write), so
// the methods are const and one object can be handed to several threads.
class VectorIndex {
  public:
    static VectorIndex flat(size_t dim, int32_t metric = HELIOS_METRIC_L2) {
        HeliosIndexOptions options = helios_index_default_options();
        options.dim = dim;
        options.metric = metric;
        return VectorIndex(options);
    }

    // M sub-spaces of 2^nbits centroids: a vector is stored in M codes.
    static VectorIndex pq(size_t dim, size_t m, uint32_t nbits, uint64_t seed, int32_t metric = HELIOS_METRIC_L2) {
        HeliosIndexOptions options = helios_index_default_options();
        options.kind = HELIOS_INDEX_PQ;
        options.dim = dim;
        options.metric = metric;
        options.pq_m = m;
        options.pq_nbits = nbits;
        options.train_iterations = 15;
        options.seed = seed;
        return VectorIndex(options);
    }

    static VectorIndex load(const std::string& path) {
        HeliosVectorIndex* raw = nullptr;
        check(helios_index_load(path.data(), path.size(), &raw));
        return VectorIndex(raw);
    }

    void train(const std::vector<float>& x) const { check(helios_index_train(get(), x.data(), rows(x), dim_)); }

    // Add the rows of x with these ids (one per row), or with sequential ids.
    void add(const std::vector<float>& x, const std::vector<uint64_t>& ids = {}) const {
        if (!ids.empty() && ids.size() != rows(x)) throw std::invalid_argument("one id per row");
        check(helios_index_add(get(), x.data(), rows(x), dim_, ids.empty() ? nullptr : ids.data()));
    }

    void remove(const std::vector<uint64_t>& ids) const { check(helios_index_remove(get(), ids.data(), ids.size())); }

    size_t size() const {
        size_t count = 0;
        check(helios_index_count(get(), &count));
        return count;
    }

    // The k nearest of n queries at `queries` (n x dim floats). `threads`
    // travels with this call only; the hits are the same for every count.
    Hits search(const float* queries, size_t n, size_t dim, size_t k, size_t threads = HELIOS_AUTO) const {
        HeliosSearchOptions options = helios_index_default_search_options();
        options.threads = threads;
        Hits hits;
        hits.k = k;
        hits.distances.resize(n * k);
        hits.ids.resize(n * k);
        check(helios_index_search(get(), queries, n, dim, k, &options, hits.distances.data(), hits.distances.size(),
                                  hits.ids.data(), hits.ids.size(), nullptr));
        return hits;
    }

    Hits search(const std::vector<float>& queries, size_t k) const {
        return search(queries.data(), rows(queries), dim_, k);
    }

    void save(const std::string& path) const { check(helios_index_save(get(), path.data(), path.size())); }

    size_t dim() const { return dim_; }

  private:
    explicit VectorIndex(const HeliosIndexOptions& options) {
        HeliosVectorIndex* raw = nullptr;
        check(helios_index_new(&options, &raw));
        index_.reset(raw);
        dim_ = options.dim;
    }

    explicit VectorIndex(HeliosVectorIndex* raw) : index_(raw) {
        HeliosIndexOptions options;
        check(helios_index_get_options(raw, &options));
        dim_ = options.dim;
    }

    HeliosVectorIndex* get() const { return index_.get(); }
    size_t rows(const std::vector<float>& x) const { return x.size() / dim_; }

    struct Free {
        void operator()(HeliosVectorIndex* index) const { helios_index_free(index); }
    };
    std::unique_ptr<HeliosVectorIndex, Free> index_;
    size_t dim_ = 0;
};

// n points around `centres` (row-major, d columns) with Gaussian noise.
static std::vector<float> around(const std::vector<float>& centres, size_t n, size_t d, std::mt19937_64& rng) {
    std::uniform_int_distribution<size_t> pick(0, centres.size() / d - 1);
    std::normal_distribution<float> noise(0.0f, 0.1f);
    std::vector<float> x(n * d);
    for (size_t i = 0; i < n; i++) {
        size_t c = pick(rng);
        for (size_t t = 0; t < d; t++) x[i * d + t] = centres[c * d + t] + noise(rng);
    }
    return x;
}

int main() {
    const size_t n = 20000, d = 32, n_queries = 256, k = 10;
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    std::vector<float> centres(64 * d);
    for (float& v : centres) v = uniform(rng);
    std::vector<float> x = around(centres, n, d, rng), queries = around(centres, n_queries, d, rng);
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; i++) ids[i] = 5000000 + 3 * i;  // ids of our own

    // Exact search.
    VectorIndex flat = VectorIndex::flat(d);
    flat.add(x, ids);
    Hits exact = flat.search(queries, k);
    std::printf("flat index of %zu vectors; query 0's nearest: id %llu (%.4f), id %llu (%.4f), id %llu (%.4f)\n",
                flat.size(), (unsigned long long)exact.ids[0], exact.distances[0], (unsigned long long)exact.ids[1],
                exact.distances[1], (unsigned long long)exact.ids[2], exact.distances[2]);

    // Product quantization: 16 one-byte codes per vector instead of 32 floats.
    VectorIndex pq = VectorIndex::pq(d, 16, 8, 7);
    pq.train(std::vector<float>(x.begin(), x.begin() + 4096 * d));
    pq.add(x, ids);
    Hits approx = pq.search(queries, k);
    size_t found = 0;
    for (size_t q = 0; q < n_queries; q++)
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++) found += approx.ids[q * k + a] == exact.ids[q * k + b];
    std::printf("PQ index: recall@%zu against flat = %.3f\n", k, double(found) / double(n_queries * k));

    // Four threads search one shared index, each a quarter of the queries on
    // one worker; together they get the bits of the single batch above.
    const size_t threads = 4, share = n_queries / threads;
    std::vector<Hits> parts(threads);
    std::vector<std::thread> workers;
    for (size_t t = 0; t < threads; t++)
        workers.emplace_back([&, t] { parts[t] = pq.search(queries.data() + t * share * d, share, d, k, 1); });
    for (std::thread& worker : workers) worker.join();
    bool same = true;
    for (size_t t = 0; t < threads; t++) {
        const size_t at = t * share * k, len = share * k;
        same = same && std::memcmp(parts[t].ids.data(), &approx.ids[at], len * sizeof(uint64_t)) == 0;
        same = same && std::memcmp(parts[t].distances.data(), &approx.distances[at], len * sizeof(float)) == 0;
    }
    std::printf("%zu threads searching one index get the batch's bits: %s\n", threads, same ? "yes" : "NO");

    // Save, reload, same hits; then remove a few ids.
    const std::string path = "vector_search_example_cpp.bin";
    pq.save(path);
    VectorIndex loaded = VectorIndex::load(path);
    Hits again = loaded.search(queries, k);
    std::printf("reloaded index gives the same hits: %s\n",
                again.ids == approx.ids && again.distances == approx.distances ? "yes" : "NO");
    std::remove(path.c_str());
    loaded.remove({approx.ids[0], approx.ids[1]});
    std::printf("after removing 2 ids: %zu vectors, query 0's nearest is now id %llu\n", loaded.size(),
                (unsigned long long)loaded.search(queries.data(), 1, d, 1).ids[0]);

    try {
        flat.add(std::vector<float>(d, 0.0f), {ids[0]});  // an id already present
    } catch (const HeliosError& e) {
        std::printf("caught: %s\n", e.what());
    }
    return 0;
}
