// tb::ds::BPlusTreeMap against std::map and absl::btree_map: u64 -> u64, 1M entries inserted in
// the same random order into all three; (a) random point lookups, (b) range scans of 100 and of
// 10,000 consecutive entries summing their values. Ends with a side-by-side table and ratios.
//
//   bench_ds_btree [--benchmark_min_time=0.2] [--benchmark_repetitions=5] [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <absl/container/btree_map.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/ds/btree.h"

namespace {

constexpr std::size_t kEntries = 1'000'000;
constexpr std::size_t kQueries = 1 << 20;  // power of two: the query index wraps with a mask

using Ours = tb::ds::BPlusTreeMap<std::uint64_t, std::uint64_t>;
using StdMap = std::map<std::uint64_t, std::uint64_t>;
using AbslMap = absl::btree_map<std::uint64_t, std::uint64_t>;

struct Data {
  std::vector<std::uint64_t> sorted_keys;
  std::vector<std::uint64_t> lookup_keys;  // random existing keys
  std::vector<std::uint32_t> scan_starts;  // random indices into sorted_keys
  Ours ours;
  StdMap std_map;
  AbslMap absl_map;
  double build_ms[3] = {0, 0, 0};
  double bulk_load_ms = 0;
};

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

Data& data() {
  static Data* d = [] {
    auto* out = new Data;
    std::mt19937_64 rng(2024);
    std::vector<std::uint64_t> keys;
    keys.reserve(kEntries);
    while (keys.size() < kEntries) {
      for (std::size_t i = keys.size(); i < kEntries; ++i) keys.push_back(rng());
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    }
    out->sorted_keys = keys;
    std::shuffle(keys.begin(), keys.end(), rng);  // insertion order, the same for all three
    auto start = std::chrono::steady_clock::now();
    for (const std::uint64_t k : keys) out->ours.insert(k, k >> 7);
    out->build_ms[0] = elapsed_ms(start);
    start = std::chrono::steady_clock::now();
    for (const std::uint64_t k : keys) out->std_map.emplace(k, k >> 7);
    out->build_ms[1] = elapsed_ms(start);
    start = std::chrono::steady_clock::now();
    for (const std::uint64_t k : keys) out->absl_map.emplace(k, k >> 7);
    out->build_ms[2] = elapsed_ms(start);
    {
      std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
      entries.reserve(kEntries);
      for (const std::uint64_t k : out->sorted_keys) entries.emplace_back(k, k >> 7);
      Ours loaded;
      start = std::chrono::steady_clock::now();
      loaded.bulk_load(entries);
      out->bulk_load_ms = elapsed_ms(start);
    }
    out->lookup_keys.resize(kQueries);
    for (auto& k : out->lookup_keys) k = out->sorted_keys[rng() % kEntries];
    out->scan_starts.resize(kQueries);
    for (auto& s : out->scan_starts) s = static_cast<std::uint32_t>(rng() % (kEntries - 10'001));
    return out;
  }();
  return *d;
}

template <class Map>
const Map& map_of(const Data& d) {
  if constexpr (std::is_same_v<Map, Ours>) {
    return d.ours;
  } else if constexpr (std::is_same_v<Map, StdMap>) {
    return d.std_map;
  } else {
    return d.absl_map;
  }
}

template <class Map>
void BM_Lookup(benchmark::State& state) {
  const Data& d = data();
  const Map& map = map_of<Map>(d);
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += map.find(d.lookup_keys[i++ & (kQueries - 1)])->second;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

// Sums the values of the entries in [sorted_keys[s], sorted_keys[s + length]): exactly `length`
// entries. Every map pays two descents (lower bounds of both ends) and then walks.
template <class Map>
void BM_Scan(benchmark::State& state) {
  const Data& d = data();
  const Map& map = map_of<Map>(d);
  const auto length = static_cast<std::size_t>(state.range(0));
  std::size_t i = 0;
  std::uint64_t sum = 0;
  for (auto _ : state) {
    const std::uint32_t s = d.scan_starts[i++ & (kQueries - 1)];
    const std::uint64_t lo = d.sorted_keys[s];
    const std::uint64_t hi = d.sorted_keys[s + length];
    if constexpr (std::is_same_v<Map, Ours>) {
      for (const auto& entry : map.range(lo, hi)) sum += entry.second;
    } else {
      const auto end = map.lower_bound(hi);
      for (auto it = map.lower_bound(lo); it != end; ++it) sum += it->second;
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(length));
}

BENCHMARK(BM_Lookup<Ours>)->Name("lookup/ours");
BENCHMARK(BM_Lookup<StdMap>)->Name("lookup/std_map");
BENCHMARK(BM_Lookup<AbslMap>)->Name("lookup/absl_btree_map");
BENCHMARK(BM_Scan<Ours>)->Name("scan100/ours")->Arg(100);
BENCHMARK(BM_Scan<StdMap>)->Name("scan100/std_map")->Arg(100);
BENCHMARK(BM_Scan<AbslMap>)->Name("scan100/absl_btree_map")->Arg(100);
BENCHMARK(BM_Scan<Ours>)->Name("scan10000/ours")->Arg(10'000);
BENCHMARK(BM_Scan<StdMap>)->Name("scan10000/std_map")->Arg(10'000);
BENCHMARK(BM_Scan<AbslMap>)->Name("scan10000/absl_btree_map")->Arg(10'000);

// Keeps each benchmark's CPU time per operation (by name, without the argument; the fastest of its
// repetitions) while printing as usual. CPU rather than wall time and the fastest repetition:
// on a shared machine both wall time and single runs also count other jobs' interference.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred) {
        const double ns = run.GetAdjustedCPUTime() *
                          benchmark::GetTimeUnitMultiplier(benchmark::kNanosecond) /
                          benchmark::GetTimeUnitMultiplier(run.time_unit);
        const auto [it, fresh] = ns_per_op.emplace(run.run_name.function_name, ns);
        if (!fresh) it->second = std::min(it->second, ns);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> ns_per_op;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  data();  // build outside the timed runs
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  const Data& d = data();
  std::printf(
      "\nBPlusTreeMap vs std::map vs absl::btree_map, u64 -> u64, %zu entries inserted in "
      "one random order (leaf slots %zu, internal keys %zu, height %zu)\n",
      kEntries, Ours::kLeafCapacity, Ours::kInternalCapacity, d.ours.height());
  std::printf("%-12s %12s %12s %12s %16s %16s\n", "CPU ns/op", "ours", "std::map", "absl",
              "std::map/ours", "absl/ours");
  for (const char* workload : {"lookup", "scan100", "scan10000"}) {
    const std::string w = workload;
    const auto find = [&](const char* who) {
      const auto it = reporter.ns_per_op.find(w + "/" + who);
      return it == reporter.ns_per_op.end() ? 0.0 : it->second;
    };
    const double ours = find("ours");
    const double std_map = find("std_map");
    const double absl = find("absl_btree_map");
    if (ours == 0) continue;
    // Ratios are speed-ups of ours: time of the peer over our time (> 1: ours is faster).
    std::printf("%-12s %12.1f %12.1f %12.1f %15.2fx %15.2fx\n", workload, ours, std_map, absl,
                std_map / ours, absl / ours);
  }
  std::printf(
      "build by 1M random inserts (ms): ours %.0f, std::map %.0f, absl %.0f; "
      "ours bulk_load of the sorted entries: %.0f ms\n",
      d.build_ms[0], d.build_ms[1], d.build_ms[2], d.bulk_load_ms);
  std::printf("targets: scans std::map/ours >= 3, lookup std::map/ours >= 1.5, absl/ours >= 0.8\n");
  return 0;
}
