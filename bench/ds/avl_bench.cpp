// IntervalTree against the two ways a timeline query is usually written by hand (a scan over every
// span, and a std::multimap keyed by start scanned from lower_bound(t0 - longest span)), and
// AvlTree against std::map, on data shaped like a profiler trace: 1M spans with uniform random
// starts over a 1 s timeline (ns timestamps) and Pareto-distributed (heavy-tailed) lengths, queried
// with windows of 0.1% of the timeline. Prints Google Benchmark's table, then ours beside each peer
// with speedup = peer time / our time.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/ds/avl_tree.h"
#include "core/ds/interval_tree.h"

namespace {

constexpr std::size_t kSpanCount = 1'000'000;
constexpr std::int64_t kTimeline = 1'000'000'000;   // 1 s in ns
constexpr std::int64_t kWindow = kTimeline / 1000;  // 0.1% of the timeline
constexpr std::size_t kQueryCount = 4096;           // distinct windows, cycled through
constexpr std::size_t kKeyCount = 1'000'000;        // AvlTree vs std::map

struct Span {
  std::int64_t start;
  std::int64_t end;
  std::int64_t value;
};

struct TraceData {
  std::vector<Span> spans;
  std::int64_t longest = 0;
  std::vector<std::int64_t> window_starts;
  std::vector<std::int64_t> points;
  tb::ds::IntervalTree<std::int64_t, std::int64_t> tree;
  // The same spans inserted in start order, as a timeline loads a finished trace: nodes then lie
  // in memory roughly in key order, so a query touches fewer cache lines.
  tb::ds::IntervalTree<std::int64_t, std::int64_t> tree_time_ordered;
  std::multimap<std::int64_t, Span> by_start;
};

// Pareto lengths, minimum 200 ns, shape 1.1: most spans are short kernels, a few last tens of
// milliseconds (the longest of 1M is around 5% of the timeline).
std::int64_t pareto_length(std::mt19937_64& rng) {
  constexpr double kMinimum = 200.0;
  constexpr double kShape = 1.1;
  const double u = 1.0 - std::uniform_real_distribution<double>(0.0, 1.0)(rng);  // (0, 1]
  const double length = kMinimum / std::pow(u, 1.0 / kShape);
  return static_cast<std::int64_t>(std::min(length, static_cast<double>(kTimeline / 10)));
}

TraceData& trace() {
  static TraceData data = [] {
    TraceData d;
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::int64_t> start_of(0, kTimeline - 1);
    d.spans.reserve(kSpanCount);
    for (std::size_t i = 0; i < kSpanCount; ++i) {
      const std::int64_t start = start_of(rng);
      const std::int64_t length = pareto_length(rng);
      d.spans.push_back({start, start + length, static_cast<std::int64_t>(i)});
      d.longest = std::max(d.longest, length);
    }
    for (const Span& span : d.spans) {
      d.tree.insert(span.start, span.end, span.value);
      d.by_start.emplace(span.start, span);
    }
    std::vector<Span> sorted = d.spans;
    std::sort(sorted.begin(), sorted.end(),
              [](const Span& a, const Span& b) { return a.start < b.start; });
    for (const Span& span : sorted) d.tree_time_ordered.insert(span.start, span.end, span.value);
    std::uniform_int_distribution<std::int64_t> window_of(0, kTimeline - kWindow);
    for (std::size_t i = 0; i < kQueryCount; ++i) {
      d.window_starts.push_back(window_of(rng));
      d.points.push_back(start_of(rng));
    }
    return d;
  }();
  return data;
}

// Each query returns (matches, sum of values) so that no variant can skip work.
struct QueryResult {
  std::int64_t matches = 0;
  std::int64_t value_sum = 0;
  bool operator==(const QueryResult&) const = default;
};

using SpanTree = tb::ds::IntervalTree<std::int64_t, std::int64_t>;

QueryResult query_interval_tree(const SpanTree& tree, std::int64_t t0, std::int64_t t1) {
  QueryResult result;
  tree.overlapping(t0, t1, [&result](const SpanTree::Interval& interval) {
    ++result.matches;
    result.value_sum += interval.value;
  });
  return result;
}

QueryResult query_tree(const TraceData& d, std::int64_t t0, std::int64_t t1) {
  return query_interval_tree(d.tree, t0, t1);
}

QueryResult query_time_ordered_tree(const TraceData& d, std::int64_t t0, std::int64_t t1) {
  return query_interval_tree(d.tree_time_ordered, t0, t1);
}

QueryResult query_scan(const TraceData& d, std::int64_t t0, std::int64_t t1) {
  QueryResult result;
  for (const Span& span : d.spans) {
    if (span.start < t1 && t0 < span.end) {
      ++result.matches;
      result.value_sum += span.value;
    }
  }
  return result;
}

QueryResult query_multimap(const TraceData& d, std::int64_t t0, std::int64_t t1) {
  QueryResult result;
  const auto last = d.by_start.lower_bound(t1);
  for (auto it = d.by_start.lower_bound(t0 - d.longest); it != last; ++it) {
    if (t0 < it->second.end) {
      ++result.matches;
      result.value_sum += it->second.value;
    }
  }
  return result;
}

// Point queries (what is live at t): [t, t + 1) is the point t for integer spans, for all three.
QueryResult stab_tree(const TraceData& d, std::int64_t t) {
  QueryResult result;
  d.tree.stabbing(t, [&result](const auto& interval) {
    ++result.matches;
    result.value_sum += interval.value;
  });
  return result;
}

template <QueryResult (*Query)(const TraceData&, std::int64_t, std::int64_t)>
void BM_WindowQuery(benchmark::State& state) {
  const TraceData& d = trace();
  std::size_t next = 0;
  std::int64_t matches = 0;
  for (auto _ : state) {
    const std::int64_t t0 = d.window_starts[next++ % kQueryCount];
    const QueryResult result = Query(d, t0, t0 + kWindow);
    benchmark::DoNotOptimize(result);
    matches += result.matches;
  }
  state.counters["hits/query"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations());
}

template <QueryResult (*Query)(const TraceData&, std::int64_t, std::int64_t)>
void BM_PointQuery(benchmark::State& state) {
  const TraceData& d = trace();
  std::size_t next = 0;
  for (auto _ : state) {
    const std::int64_t t = d.points[next++ % kQueryCount];
    benchmark::DoNotOptimize(Query(d, t, t + 1));
  }
}

void BM_PointQuery_IntervalTree(benchmark::State& state) {
  const TraceData& d = trace();
  std::size_t next = 0;
  for (auto _ : state) benchmark::DoNotOptimize(stab_tree(d, d.points[next++ % kQueryCount]));
}

BENCHMARK(BM_WindowQuery<query_tree>)->Name("window/IntervalTree");
BENCHMARK(BM_WindowQuery<query_time_ordered_tree>)->Name("window/IntervalTree_time_ordered");
BENCHMARK(BM_WindowQuery<query_scan>)->Name("window/vector_scan");
BENCHMARK(BM_WindowQuery<query_multimap>)->Name("window/multimap_by_start");
BENCHMARK(BM_PointQuery_IntervalTree)->Name("point/IntervalTree");
BENCHMARK(BM_PointQuery<query_scan>)->Name("point/vector_scan");
BENCHMARK(BM_PointQuery<query_multimap>)->Name("point/multimap_by_start");

// Building the 1M-span index, per span.
void BM_Build_IntervalTree(benchmark::State& state) {
  const TraceData& d = trace();
  for (auto _ : state) {
    tb::ds::IntervalTree<std::int64_t, std::int64_t> tree;
    for (const Span& span : d.spans) tree.insert(span.start, span.end, span.value);
    benchmark::DoNotOptimize(tree.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.spans.size()));
}

void BM_Build_Multimap(benchmark::State& state) {
  const TraceData& d = trace();
  for (auto _ : state) {
    std::multimap<std::int64_t, Span> by_start;
    std::int64_t longest = 0;
    for (const Span& span : d.spans) {
      by_start.emplace(span.start, span);
      longest = std::max(longest, span.end - span.start);
    }
    benchmark::DoNotOptimize(longest);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.spans.size()));
}

BENCHMARK(BM_Build_IntervalTree)->Name("build/IntervalTree")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Build_Multimap)->Name("build/multimap_by_start")->Unit(benchmark::kMillisecond);

// ---- AvlTree vs std::map: 1M random 64-bit keys.

struct KeyData {
  std::vector<std::int64_t> keys;
  std::vector<std::int64_t> lookups;  // the keys again, shuffled
  tb::ds::AvlTree<std::int64_t, std::int64_t> avl;
  std::map<std::int64_t, std::int64_t> map;
};

KeyData& keys() {
  static KeyData data = [] {
    KeyData d;
    std::mt19937_64 rng(7);
    while (d.keys.size() < kKeyCount) {
      const auto key = static_cast<std::int64_t>(rng() >> 1);
      if (d.avl.insert(key, key).second) {
        d.map.emplace(key, key);
        d.keys.push_back(key);
      }
    }
    d.lookups = d.keys;
    std::shuffle(d.lookups.begin(), d.lookups.end(), rng);
    return d;
  }();
  return data;
}

template <auto Member>
void BM_Lookup(benchmark::State& state) {
  const KeyData& d = keys();
  const auto& map = d.*Member;
  std::size_t next = 0;
  for (auto _ : state) {
    const auto it = map.find(d.lookups[next]);
    benchmark::DoNotOptimize(it->second);
    if (++next == d.lookups.size()) next = 0;
  }
}

// Insert all 1M keys into an empty map, then erase them in another order; time per key.
template <typename Map>
void BM_InsertErase(benchmark::State& state) {
  const KeyData& d = keys();
  for (auto _ : state) {
    Map map;
    for (const std::int64_t key : d.keys) map.insert_or_assign(key, key);
    for (const std::int64_t key : d.lookups) map.erase(key);
    benchmark::DoNotOptimize(map.size());
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(d.keys.size()));
}

BENCHMARK(BM_Lookup<&KeyData::avl>)->Name("lookup/AvlTree");
BENCHMARK(BM_Lookup<&KeyData::map>)->Name("lookup/std_map");
BENCHMARK(BM_InsertErase<tb::ds::AvlTree<std::int64_t, std::int64_t>>)
    ->Name("insert_erase/AvlTree")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_InsertErase<std::map<std::int64_t, std::int64_t>>)
    ->Name("insert_erase/std_map")
    ->Unit(benchmark::kMillisecond);

// Keeps each benchmark's CPU time per iteration (seconds) for the side-by-side summary: the runs
// are single-threaded, so CPU time equals wall time on a quiet machine and is less disturbed by
// other jobs on a busy one.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type == Run::RT_Iteration && !run.error_occurred && run.iterations > 0) {
        seconds_[run.benchmark_name()] =
            run.cpu_accumulated_time / static_cast<double>(run.iterations);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& seconds() const { return seconds_; }

 private:
  std::map<std::string, double> seconds_;
};

std::string human_time(double seconds) {
  char text[32];
  if (seconds >= 1e-3) {
    std::snprintf(text, sizeof text, "%.3f ms", seconds * 1e3);
  } else if (seconds >= 1e-6) {
    std::snprintf(text, sizeof text, "%.3f us", seconds * 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.1f ns", seconds * 1e9);
  }
  return text;
}

void print_summary(const std::map<std::string, double>& seconds) {
  struct Row {
    const char* what;
    const char* ours;
    const char* peer;
    double per;  // divide the iteration time by this (items per iteration)
  };
  const Row rows[] = {
      {"window query 0.1% (per query)", "window/IntervalTree", "window/vector_scan", 1},
      {"window query 0.1% (per query)", "window/IntervalTree", "window/multimap_by_start", 1},
      {"window, time-ordered inserts", "window/IntervalTree_time_ordered", "window/vector_scan", 1},
      {"point query (per query)", "point/IntervalTree", "point/vector_scan", 1},
      {"point query (per query)", "point/IntervalTree", "point/multimap_by_start", 1},
      {"build 1M spans (per span)", "build/IntervalTree", "build/multimap_by_start", kSpanCount},
      {"lookup, 1M keys (per lookup)", "lookup/AvlTree", "lookup/std_map", 1},
      {"insert+erase 1M keys (per key)", "insert_erase/AvlTree", "insert_erase/std_map", kKeyCount},
  };
  std::printf("\nSummary, CPU time (speedup = peer time / our time; > 1 means ours is faster)\n");
  std::printf("%-32s %-26s %12s %12s %9s\n", "operation", "peer", "ours", "peer time", "speedup");
  for (const Row& row : rows) {
    const auto ours = seconds.find(row.ours);
    const auto peer = seconds.find(row.peer);
    if (ours == seconds.end() || peer == seconds.end()) continue;  // filtered out
    const std::string peer_name = std::string(row.peer).substr(std::string(row.peer).find('/') + 1);
    std::printf("%-32s %-26s %12s %12s %8.1fx\n", row.what, peer_name.c_str(),
                human_time(ours->second / row.per).c_str(),
                human_time(peer->second / row.per).c_str(), peer->second / ours->second);
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  // The three window queries must agree before their times mean anything.
  {
    const TraceData& d = trace();
    for (std::size_t i = 0; i < 64; ++i) {
      const std::int64_t t0 = d.window_starts[i];
      const QueryResult tree = query_tree(d, t0, t0 + kWindow);
      if (!(tree == query_scan(d, t0, t0 + kWindow)) ||
          !(tree == query_time_ordered_tree(d, t0, t0 + kWindow)) ||
          !(tree == query_multimap(d, t0, t0 + kWindow)) ||
          !(stab_tree(d, d.points[i]) == query_scan(d, d.points[i], d.points[i] + 1))) {
        std::fprintf(stderr, "avl_bench: query results disagree at window %zu\n", i);
        return 1;
      }
    }
    std::printf("%zu spans, longest %lld ns, tree height %d\n", d.spans.size(),
                static_cast<long long>(d.longest), d.tree.height());
  }

  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(reporter.seconds());
  benchmark::Shutdown();
  return 0;
}
