// bench_ds_bloom: BlockedBloomFilter queries against the filter a user would otherwise write (a
// classic Bloom filter: k independent positions over one big bit array) and against exact
// membership in absl::flat_hash_set<uint64_t>, all holding the same 10M keys at 10 bits/key
// (12.5 MB of filter, well beyond L2). Single-threaded. Ends with a summary table: ours, the
// peers, the ratios, and the measured false-positive rates beside the formulas.
#include <benchmark/benchmark.h>

#include <absl/container/flat_hash_set.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/ds/bloom_filter.h"

namespace {

using tb::ds::BlockedBloomFilter;

constexpr std::size_t kKeys = 10'000'000;
constexpr double kBitsPerKey = 10.0;
constexpr std::size_t kQueries = std::size_t{1} << 20;  // per benchmark iteration
constexpr std::size_t kBatch = 4096;

// Well-mixed 64-bit keys, as content_hash() would give: splitmix64 of a counter.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// The baseline: what one writes from the textbook. One bit array of m bits, k positions by double
// hashing (Kirsch-Mitzenmacher) reduced modulo m, early exit on the first clear bit.
class ClassicBloomFilter {
 public:
  ClassicBloomFilter(std::size_t expected_keys, double bits_per_key, int k)
      : bit_count_(static_cast<std::uint64_t>(std::ceil(expected_keys * bits_per_key))),
        words_((bit_count_ + 63) / 64, 0),
        k_(k) {}

  void insert(std::uint64_t hash) {
    const std::uint64_t h1 = hash & 0xffffffff;
    const std::uint64_t h2 = hash >> 32;
    for (int i = 0; i < k_; ++i) {
      const std::uint64_t bit = (h1 + static_cast<std::uint64_t>(i) * h2) % bit_count_;
      words_[bit / 64] |= std::uint64_t{1} << (bit % 64);
    }
  }

  bool maybe_contains(std::uint64_t hash) const {
    const std::uint64_t h1 = hash & 0xffffffff;
    const std::uint64_t h2 = hash >> 32;
    for (int i = 0; i < k_; ++i) {
      const std::uint64_t bit = (h1 + static_cast<std::uint64_t>(i) * h2) % bit_count_;
      if ((words_[bit / 64] & (std::uint64_t{1} << (bit % 64))) == 0) return false;
    }
    return true;
  }

  std::size_t bytes() const { return words_.size() * 8; }
  std::uint64_t bit_count() const { return bit_count_; }
  int k() const { return k_; }

 private:
  std::uint64_t bit_count_;
  std::vector<std::uint64_t> words_;
  int k_;
};

struct Fixture {
  std::unique_ptr<BlockedBloomFilter> ours;
  std::unique_ptr<ClassicBloomFilter> classic;
  std::unique_ptr<absl::flat_hash_set<std::uint64_t>> exact;
  std::vector<std::uint64_t> fresh_queries;     // never inserted (the dedup's common case)
  std::vector<std::uint64_t> inserted_queries;  // all inserted, in random order
  double ours_build_s = 0, classic_build_s = 0, exact_build_s = 0;
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

// CPU seconds of this process, the clock Google Benchmark's items/s use by default, so the
// one-pass insert rates compare with the query rates on a shared machine.
template <typename Fn>
double cpu_seconds(Fn&& fn) {
  const std::clock_t start = std::clock();
  fn();
  return static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
}

void build_fixture() {
  Fixture& f = fixture();
  f.ours = std::make_unique<BlockedBloomFilter>(kKeys, kBitsPerKey);
  f.classic = std::make_unique<ClassicBloomFilter>(
      kKeys, kBitsPerKey, static_cast<int>(std::lround(std::log(2.0) * kBitsPerKey)));
  f.exact = std::make_unique<absl::flat_hash_set<std::uint64_t>>();
  f.ours_build_s = cpu_seconds([&] {
    for (std::size_t i = 0; i < kKeys; ++i) f.ours->insert(mix(i));
  });
  f.classic_build_s = cpu_seconds([&] {
    for (std::size_t i = 0; i < kKeys; ++i) f.classic->insert(mix(i));
  });
  f.exact_build_s = cpu_seconds([&] {
    f.exact->reserve(kKeys);
    for (std::size_t i = 0; i < kKeys; ++i) f.exact->insert(mix(i));
  });
  f.fresh_queries.resize(kQueries);
  f.inserted_queries.resize(kQueries);
  for (std::size_t i = 0; i < kQueries; ++i) {
    f.fresh_queries[i] = mix(kKeys + 1000 + i);
    f.inserted_queries[i] = mix(mix(~i) % kKeys);  // a pseudo-random inserted key
  }
}

const std::vector<std::uint64_t>& queries_for(const benchmark::State& state) {
  return state.range(0) == 0 ? fixture().fresh_queries : fixture().inserted_queries;
}

void label(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kQueries));
  state.SetLabel(state.range(0) == 0 ? "fresh keys" : "inserted keys");
}

void BM_Ours(benchmark::State& state) {
  const auto& queries = queries_for(state);
  const BlockedBloomFilter& filter = *fixture().ours;
  for (auto _ : state) {
    std::size_t hits = 0;
    for (std::uint64_t q : queries) hits += filter.maybe_contains(q) ? 1 : 0;
    benchmark::DoNotOptimize(hits);
  }
  label(state);
}

void BM_OursBatch(benchmark::State& state) {
  const auto& queries = queries_for(state);
  const BlockedBloomFilter& filter = *fixture().ours;
  std::unique_ptr<bool[]> results(new bool[kBatch]);
  for (auto _ : state) {
    std::size_t hits = 0;
    for (std::size_t i = 0; i < queries.size(); i += kBatch) {
      hits += filter.maybe_contains_batch(std::span(queries).subspan(i, kBatch),
                                          std::span<bool>(results.get(), kBatch));
    }
    benchmark::DoNotOptimize(hits);
  }
  label(state);
}

void BM_Classic(benchmark::State& state) {
  const auto& queries = queries_for(state);
  const ClassicBloomFilter& filter = *fixture().classic;
  for (auto _ : state) {
    std::size_t hits = 0;
    for (std::uint64_t q : queries) hits += filter.maybe_contains(q) ? 1 : 0;
    benchmark::DoNotOptimize(hits);
  }
  label(state);
}

void BM_AbslFlatHashSet(benchmark::State& state) {
  const auto& queries = queries_for(state);
  const auto& set = *fixture().exact;
  for (auto _ : state) {
    std::size_t hits = 0;
    for (std::uint64_t q : queries) hits += set.contains(q) ? 1 : 0;
    benchmark::DoNotOptimize(hits);
  }
  label(state);
}

BENCHMARK(BM_Ours)->Arg(0)->Arg(1);
BENCHMARK(BM_OursBatch)->Arg(0)->Arg(1);
BENCHMARK(BM_Classic)->Arg(0)->Arg(1);
BENCHMARK(BM_AbslFlatHashSet)->Arg(0)->Arg(1);

// Keeps items/s of every run so the summary can print ratios from this same run.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const auto it = run.counters.find("items_per_second");
      if (it != run.counters.end()) rates[run.benchmark_name()] = it->second.value;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> rates;
};

void print_row(const CollectingReporter& reporter, const char* what, const std::string& arg) {
  auto rate = [&](const std::string& name) {
    const auto it = reporter.rates.find(name + "/" + arg);
    return it == reporter.rates.end() ? std::nan("") : it->second / 1e6;
  };
  const double ours = rate("BM_Ours");
  const double batch = rate("BM_OursBatch");
  const double classic = rate("BM_Classic");
  const double exact = rate("BM_AbslFlatHashSet");
  std::printf("%-14s %10.1f %10.1f %12.1f %12.1f %10.2fx %10.2fx %10.2fx\n", what, ours, batch,
              classic, exact, ours / classic, batch / classic, batch / exact);
}

double measured_fpr_ours(const std::vector<std::uint64_t>& fresh) {
  std::size_t hits = 0;
  for (std::uint64_t q : fresh) hits += fixture().ours->maybe_contains(q) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(fresh.size());
}

double measured_fpr_classic(const std::vector<std::uint64_t>& fresh) {
  std::size_t hits = 0;
  for (std::uint64_t q : fresh) hits += fixture().classic->maybe_contains(q) ? 1 : 0;
  return static_cast<double>(hits) / static_cast<double>(fresh.size());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  build_fixture();
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  const Fixture& f = fixture();
  std::printf("\n== bench_ds_bloom summary: %zu keys, %.0f bits/key, single thread ==\n", kKeys,
              kBitsPerKey);
  std::printf(
      "filters: ours %.1f MB (k=%d, %zu blocks of 64 B), classic %.1f MB (k=%d), "
      "absl::flat_hash_set %.1f MB (capacity %zu x 8 B + control bytes)\n",
      f.ours->bytes() / 1e6, f.ours->probes(), f.ours->block_count(), f.classic->bytes() / 1e6,
      f.classic->k(), static_cast<double>(f.exact->capacity() * 9) / 1e6, f.exact->capacity());
  std::printf(
      "inserts (one pass, CPU time, M keys/s): ours %.1f, classic %.1f, absl::flat_hash_set %.1f\n",
      kKeys / f.ours_build_s / 1e6, kKeys / f.classic_build_s / 1e6, kKeys / f.exact_build_s / 1e6);
  std::printf("\nqueries, M/s:   %10s %10s %12s %12s %11s %11s %11s\n", "ours", "ours batch",
              "classic", "flat_hash_set", "ours/clas.", "batch/clas.", "batch/absl");
  print_row(reporter, "fresh keys", "0");
  print_row(reporter, "inserted keys", "1");
  std::printf(
      "(target: >= 50 M queries/s single-threaded; ours/clas. and batch/clas. compare with "
      "the classic filter, batch/absl with exact membership)\n");

  // 10M fresh queries for the rate (1M would leave about 3% noise at ~1%).
  std::vector<std::uint64_t> fresh(10'000'000);
  for (std::size_t i = 0; i < fresh.size(); ++i) fresh[i] = mix(std::uint64_t{1} << 40 | i);
  std::printf("\nfalse-positive rate over %zu fresh keys at %.0f bits/key:\n", fresh.size(),
              kBitsPerKey);
  std::printf(
      "  ours:    measured %.5f, blocked formula %.5f (ratio %.3f), classic formula for "
      "the same bits and k %.5f\n",
      measured_fpr_ours(fresh), f.ours->expected_false_positive_rate(),
      measured_fpr_ours(fresh) / f.ours->expected_false_positive_rate(),
      f.ours->classic_false_positive_rate());
  const double classic_formula = BlockedBloomFilter::classic_fpr_formula(
      kKeys, static_cast<double>(f.classic->bit_count()), f.classic->k());
  std::printf("  classic: measured %.5f, classic formula %.5f (ratio %.3f)\n",
              measured_fpr_classic(fresh), classic_formula,
              measured_fpr_classic(fresh) / classic_formula);
  benchmark::Shutdown();
  return 0;
}
