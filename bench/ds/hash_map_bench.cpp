// FlatHashMap lookup throughput against std::unordered_map and absl::flat_hash_map (absl with its
// default hash), u64 -> u64 tables of 1M and 16M random keys, queried in random order by
// pre-generated keys that all hit or all miss.
//
// Rounds. On a virtual machine the same table runs up to 1.5x faster or slower depending on where
// its memory happened to land (how the host backs the guest's pages), so one table per
// implementation measures the allocator's luck as much as the map. Each round therefore builds
// every table afresh (std, absl, ours, one after the other, one alive at a time) and queries it;
// the summary prints, per table size and query kind, the median over rounds of each rate and of
// each round's ours/std and ours/absl ratios, with the lowest and highest ratio beside them.
//
//   bench_ds_hash_map [--rounds=5] [--benchmark_min_time=0.3] [--benchmark_filter=...]
//
// 16M entries take ~0.5-1 GB per implementation; std::unordered_map needs ~8 s to build them.
#include <benchmark/benchmark.h>

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ds/hash_map.h"

namespace {

constexpr std::size_t kQueries = std::size_t{1} << 20;
int g_rounds = 5;
constexpr std::size_t kSizes[] = {std::size_t{1} << 20, std::size_t{1} << 24};

enum class Impl { kStd, kAbsl, kOurs };
constexpr Impl kImpls[] = {Impl::kStd, Impl::kAbsl, Impl::kOurs};
const char* impl_name(Impl impl) {
  switch (impl) {
    case Impl::kStd:
      return "std";
    case Impl::kAbsl:
      return "absl";
    case Impl::kOurs:
      return "ours";
  }
  return "?";
}

using StdMap = std::unordered_map<std::uint64_t, std::uint64_t>;
using AbslMap = absl::flat_hash_map<std::uint64_t, std::uint64_t>;
using OurMap = tb::ds::FlatHashMap<std::uint64_t, std::uint64_t>;

std::string size_label(std::size_t n) {
  return std::to_string(n >> 20) + "M";
}

// Stored keys have bit 63 clear and miss queries have it set, so misses are misses by
// construction; all hashes under test mix that bit like any other.
struct Dataset {
  std::vector<std::uint64_t> keys;
  std::vector<std::uint64_t> hit_queries;
  std::vector<std::uint64_t> miss_queries;
};

const Dataset& dataset(std::size_t n) {
  static std::map<std::size_t, Dataset> cache;
  auto [it, inserted] = cache.try_emplace(n);
  if (inserted) {
    std::mt19937_64 rng(n);
    Dataset& data = it->second;
    data.keys.resize(n);
    for (auto& key : data.keys) key = rng() >> 1;
    data.hit_queries.resize(kQueries);
    for (auto& query : data.hit_queries) query = data.keys[rng() % n];
    data.miss_queries.resize(kQueries);
    for (auto& query : data.miss_queries) query = rng() | (std::uint64_t{1} << 63);
  }
  return it->second;
}

// Seconds each table took to build (n inserts, no reserve), keyed "impl/size", one per round.
std::map<std::string, std::vector<double>> g_build_seconds;
// Frees whichever table is alive, so the next one has the memory.
std::function<void()> g_release_table = [] {};

// The table of this implementation, size and round: built on first use, so every round measures
// a fresh allocation.
template <typename Map>
const Map& table(Impl impl, std::size_t n, int round) {
  static std::unique_ptr<Map> map;
  static std::size_t built_for = 0;
  static int built_in_round = -1;
  if (!map || built_for != n || built_in_round != round) {
    g_release_table();
    const Dataset& data = dataset(n);
    const auto start = std::chrono::steady_clock::now();
    map = std::make_unique<Map>();
    for (std::uint64_t key : data.keys) (*map)[key] = key ^ 0x5555;
    g_build_seconds[std::string(impl_name(impl)) + "/" + size_label(n)].push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    built_for = n;
    built_in_round = round;
    g_release_table = [] { map.reset(); };
  }
  return *map;
}

template <typename Map>
void lookup_benchmark(benchmark::State& state, Impl impl, std::size_t n, bool hits, int round) {
  const Map& map = table<Map>(impl, n, round);
  const Dataset& data = dataset(n);
  const std::vector<std::uint64_t>& queries = hits ? data.hit_queries : data.miss_queries;
  const std::size_t expected = hits ? queries.size() : 0;
  for (auto _ : state) {
    std::uint64_t sum = 0;
    std::size_t found = 0;
    for (std::uint64_t query : queries) {
      const auto it = map.find(query);
      if (it != map.end()) {
        sum += it->second;
        ++found;
      }
    }
    benchmark::DoNotOptimize(sum);
    if (found != expected) {
      state.SkipWithError("wrong number of keys found");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * queries.size()));
}

std::string benchmark_name(Impl impl, std::size_t n, bool hits, int round) {
  return std::string("lookup_") + (hits ? "hit" : "miss") + "/" + size_label(n) + "/" +
         impl_name(impl) + "/round:" + std::to_string(round);
}

void register_benchmarks() {
  for (int round = 0; round < g_rounds; ++round) {
    for (std::size_t n : kSizes) {
      for (Impl impl : kImpls) {
        for (bool hits : {true, false}) {
          auto run = [impl, n, hits, round](benchmark::State& state) {
            switch (impl) {
              case Impl::kStd:
                lookup_benchmark<StdMap>(state, impl, n, hits, round);
                break;
              case Impl::kAbsl:
                lookup_benchmark<AbslMap>(state, impl, n, hits, round);
                break;
              case Impl::kOurs:
                lookup_benchmark<OurMap>(state, impl, n, hits, round);
                break;
            }
          };
          benchmark::RegisterBenchmark(benchmark_name(impl, n, hits, round).c_str(), run)
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
}

// Console output as usual, plus the best CPU nanoseconds per lookup of every benchmark.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred || run.iterations == 0) continue;
      // CPU time: on a shared machine it excludes time spent descheduled; on a quiet one it
      // equals wall time for this single-threaded loop.
      const double ns = run.cpu_accumulated_time * 1e9 /
                        (static_cast<double>(run.iterations) * static_cast<double>(kQueries));
      const std::string name = run.run_name.function_name;
      auto [it, inserted] = best_ns_.try_emplace(name, ns);
      if (!inserted) it->second = std::min(it->second, ns);
    }
  }
  // Nanoseconds per lookup, or a negative value when that benchmark did not run.
  double best_ns(const std::string& name) const {
    const auto it = best_ns_.find(name);
    return it == best_ns_.end() ? -1.0 : it->second;
  }

 private:
  std::map<std::string, double> best_ns_;
};

void print_cell(double value, const char* format) {
  if (value < 0) {
    std::printf("%10s", "-");
  } else {
    std::printf(format, value);
  }
}

// Median of the values; negative when there are none.
double median(std::vector<double> values) {
  if (values.empty()) return -1.0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// "median (lowest-highest)" of a ratio over rounds, or "-" when no round measured it.
void print_ratio_cell(const std::vector<double>& ratios) {
  if (ratios.empty()) {
    std::printf(" %18s", "-");
    return;
  }
  const auto [low, high] = std::minmax_element(ratios.begin(), ratios.end());
  char text[64];
  std::snprintf(text, sizeof text, "%.2f (%.2f-%.2f)", median(ratios), *low, *high);
  std::printf(" %18s", text);
}

void print_summary(const CollectingReporter& reporter) {
  std::printf(
      "\nLookup throughput, million lookups/s: median over %d rounds of fresh tables (best "
      "repetition within a round); ratios: median (lowest-highest) of the rounds' ratios\n"
      "%-6s %-5s %8s %8s %8s %18s %18s\n",
      g_rounds, "table", "query", "std", "absl", "ours", "ours/std", "ours/absl");
  for (std::size_t n : kSizes) {
    for (bool hits : {true, false}) {
      std::vector<double> rates[3];
      std::vector<double> vs_std;
      std::vector<double> vs_absl;
      for (int round = 0; round < g_rounds; ++round) {
        double rate[3];
        for (Impl impl : kImpls) {
          const double ns = reporter.best_ns(benchmark_name(impl, n, hits, round));
          rate[static_cast<int>(impl)] = ns > 0 ? 1e3 / ns : -1.0;
          if (ns > 0) rates[static_cast<int>(impl)].push_back(1e3 / ns);
        }
        if (rate[2] > 0 && rate[0] > 0) vs_std.push_back(rate[2] / rate[0]);
        if (rate[2] > 0 && rate[1] > 0) vs_absl.push_back(rate[2] / rate[1]);
      }
      std::printf("%-6s %-5s ", size_label(n).c_str(), hits ? "hit" : "miss");
      for (const auto& r : rates) {
        const double m = median(r);
        if (m < 0) {
          std::printf("%8s ", "-");
        } else {
          std::printf("%8.1f ", m);
        }
      }
      print_ratio_cell(vs_std);
      print_ratio_cell(vs_absl);
      std::printf("\n");
    }
  }
  std::printf(
      "\nBuild time, ms (n inserts through operator[], no reserve; median over rounds)\n"
      "%-6s %10s %10s %10s %10s %10s\n",
      "table", "std", "absl", "ours", "std/ours", "absl/ours");
  for (std::size_t n : kSizes) {
    double ms[3];
    for (Impl impl : kImpls) {
      const auto it = g_build_seconds.find(std::string(impl_name(impl)) + "/" + size_label(n));
      ms[static_cast<int>(impl)] = it == g_build_seconds.end() ? -1.0 : median(it->second) * 1e3;
    }
    std::printf("%-6s ", size_label(n).c_str());
    for (double m : ms) print_cell(m, "%10.1f");
    std::printf(" ");
    print_cell(ms[2] > 0 && ms[0] > 0 ? ms[0] / ms[2] : -1.0, "%10.2f");
    std::printf(" ");
    print_cell(ms[2] > 0 && ms[1] > 0 ? ms[1] / ms[2] : -1.0, "%10.2f");
    std::printf("\n");
  }
}

// Takes --rounds=N out of the arguments (Google Benchmark rejects flags it does not know).
bool take_rounds_flag(int& argc, char** argv) {
  constexpr std::string_view kFlag = "--rounds=";
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with(kFlag)) {
      const std::string_view value = arg.substr(kFlag.size());
      const auto [end, error] =
          std::from_chars(value.data(), value.data() + value.size(), g_rounds);
      if (error != std::errc() || end != value.data() + value.size() || g_rounds < 1) {
        std::fprintf(stderr, "bench_ds_hash_map: --rounds wants a positive integer, got '%s'\n",
                     argv[i]);
        return false;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!take_rounds_flag(argc, argv)) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_benchmarks();
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  g_release_table();
  print_summary(reporter);
  benchmark::Shutdown();
  return 0;
}
