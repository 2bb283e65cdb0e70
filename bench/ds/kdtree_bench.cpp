// KdTree beside nanoflann (the header-only KD-tree a C++ user would otherwise pick) and a brute-
// force scan: k = 10 nearest neighbours among 1M uniform random points in [0,1)^d, d = 3 and 16,
// queries from the same distribution (10,000 at d = 3; 2,000 at d = 16, where a query costs
// milliseconds and nanoflann alone would otherwise run for minutes), one thread. Build time is
// measured separately from query time. nanoflann runs with the same leaf size as ours, both with
// the dimension given at run time (as ours takes it) and fixed at compile time (its fastest form);
// the ratio is taken against the faster of the two. Brute force runs a subset of the queries and is
// reported per query. A summary table follows Google Benchmark's own output.
#include <benchmark/benchmark.h>

#include <nanoflann.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/ds/kd_tree.h"

namespace {

constexpr std::size_t kPoints = 1'000'000;
// Per-query times are reported, so the query count only sets how long each measurement runs.
std::size_t query_count(std::size_t d) {
  return d <= 8 ? 10'000 : 2'000;
}
constexpr std::size_t kK = 10;
constexpr std::size_t kLeafSize = 16;
// Brute force costs n·d per query; this many queries give a stable per-query time.
constexpr std::size_t kBruteQueries = 40;

struct FlatCloud {
  const float* data = nullptr;
  std::size_t n = 0;
  std::size_t d = 0;
  std::size_t kdtree_get_point_count() const { return n; }
  float kdtree_get_pt(std::size_t i, std::size_t j) const { return data[i * d + j]; }
  template <class Box>
  bool kdtree_get_bbox(Box&) const {
    return false;
  }
};

template <int Dim>
using NanoTree = nanoflann::KDTreeSingleIndexAdaptor<nanoflann::L2_Simple_Adaptor<float, FlatCloud>,
                                                     FlatCloud, Dim, std::uint32_t>;

struct DataSet {
  std::size_t d = 0;
  std::vector<float> points;
  std::vector<float> queries;
  FlatCloud cloud;
  std::unique_ptr<tb::ds::KdTree> ours;
  std::unique_ptr<NanoTree<-1>> nano_runtime;
  std::unique_ptr<NanoTree<3>> nano3;
  std::unique_ptr<NanoTree<16>> nano16;
};

DataSet& data_set(std::size_t d) {
  static std::map<std::size_t, DataSet> sets;
  DataSet& s = sets[d];
  if (s.d == 0) {
    s.d = d;
    std::mt19937_64 rng(1234 + d);
    std::uniform_real_distribution<float> unit(0.0f, 1.0f);
    s.points.resize(kPoints * d);
    for (float& v : s.points) v = unit(rng);
    s.queries.resize(query_count(d) * d);
    for (float& v : s.queries) v = unit(rng);
    s.cloud = {s.points.data(), kPoints, d};
    const nanoflann::KDTreeSingleIndexAdaptorParams params(kLeafSize);
    s.ours = std::make_unique<tb::ds::KdTree>(s.points, d, tb::ds::KdTreeOptions{kLeafSize});
    s.nano_runtime = std::make_unique<NanoTree<-1>>(static_cast<int>(d), s.cloud, params);
    if (d == 3) s.nano3 = std::make_unique<NanoTree<3>>(3, s.cloud, params);
    if (d == 16) s.nano16 = std::make_unique<NanoTree<16>>(16, s.cloud, params);
  }
  return s;
}

template <class Tree>
void nano_knn(const Tree& tree, const float* q, std::uint32_t* idx, float* dist) {
  nanoflann::KNNResultSet<float, std::uint32_t> result(kK);
  result.init(idx, dist);
  tree.findNeighbors(result, q, nanoflann::SearchParams());
}

// The scan a user would write: every distance, the k best kept in a sorted array.
template <std::size_t D>
void brute_knn(const std::vector<float>& pts, const float* q, std::uint32_t* idx, float* dist) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < kPoints; ++i) {
    float s = 0.0f;
    for (std::size_t j = 0; j < D; ++j) {
      const float x = pts[i * D + j] - q[j];
      s += x * x;
    }
    if (count == kK && s >= dist[kK - 1]) continue;
    std::size_t at = count < kK ? count++ : kK - 1;
    while (at > 0 && dist[at - 1] > s) {
      dist[at] = dist[at - 1];
      idx[at] = idx[at - 1];
      --at;
    }
    dist[at] = s;
    idx[at] = static_cast<std::uint32_t>(i);
  }
}

void set_units(benchmark::State& state, std::size_t units) {
  state.counters["units"] = static_cast<double>(units);
}

void build_ours(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  for (auto _ : state) {
    tb::ds::KdTree tree(s.points, d, tb::ds::KdTreeOptions{kLeafSize});
    benchmark::DoNotOptimize(tree.node_count());
  }
  set_units(state, 1);
}

void build_nano(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  for (auto _ : state) {
    NanoTree<-1> tree(static_cast<int>(d), s.cloud,
                      nanoflann::KDTreeSingleIndexAdaptorParams(kLeafSize));
    benchmark::DoNotOptimize(tree.size(tree));
  }
  set_units(state, 1);
}

void query_ours(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  for (auto _ : state) {
    for (std::size_t i = 0; i < query_count(d); ++i) {
      auto result = s.ours->knn({&s.queries[i * d], d}, kK);
      benchmark::DoNotOptimize(result.data());
    }
  }
  set_units(state, query_count(d));
}

void query_ours_batch(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  for (auto _ : state) {
    auto result = s.ours->knn_batch(s.queries, kK, 1);
    benchmark::DoNotOptimize(result.data());
  }
  set_units(state, query_count(d));
}

template <class Tree>
void query_nano_with(benchmark::State& state, const Tree& tree, const DataSet& s) {
  std::uint32_t idx[kK];
  float dist[kK];
  for (auto _ : state) {
    for (std::size_t i = 0; i < query_count(s.d); ++i) {
      nano_knn(tree, &s.queries[i * s.d], idx, dist);
      benchmark::DoNotOptimize(idx);
    }
  }
  set_units(state, query_count(s.d));
}

void query_nano_runtime(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  query_nano_with(state, *s.nano_runtime, s);
}

void query_nano_fixed(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  if (d == 3) query_nano_with(state, *s.nano3, s);
  if (d == 16) query_nano_with(state, *s.nano16, s);
}

void query_brute(benchmark::State& state, std::size_t d) {
  DataSet& s = data_set(d);
  std::uint32_t idx[kK];
  float dist[kK];
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBruteQueries; ++i) {
      if (d == 3) brute_knn<3>(s.points, &s.queries[i * d], idx, dist);
      if (d == 16) brute_knn<16>(s.points, &s.queries[i * d], idx, dist);
      benchmark::DoNotOptimize(idx);
    }
  }
  set_units(state, kBruteQueries);
}

// Records CPU seconds per unit (per build or per query) of each run, by name, while printing as
// usual. CPU time rather than wall time: the benchmarks are single-threaded, and CPU time is less
// disturbed on a shared machine.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred || run.iterations == 0) continue;
      const auto units = run.counters.find("units");
      const double per_iter = units == run.counters.end() ? 1.0 : units->second.value;
      seconds_per_unit[run.benchmark_name()] =
          run.cpu_accumulated_time / static_cast<double>(run.iterations) / per_iter;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> seconds_per_unit;
};

std::string name(const char* what, const char* who, std::size_t d) {
  return std::string(what) + "/" + who + "/d=" + std::to_string(d);
}

// The ours-vs-nanoflann results on the first queries: the same neighbour distances (nanoflann
// sums coordinates in another order, so distances are compared to a relative 1e-5).
void check_agreement(std::size_t d) {
  DataSet& s = data_set(d);
  std::size_t agree = 0;
  constexpr std::size_t kChecked = 200;
  for (std::size_t i = 0; i < kChecked; ++i) {
    std::uint32_t idx[kK];
    float dist[kK];
    nano_knn(*s.nano_runtime, &s.queries[i * d], idx, dist);
    const auto ours = s.ours->knn({&s.queries[i * d], d}, kK);
    bool same = ours.size() == kK;
    for (std::size_t j = 0; same && j < kK; ++j) {
      same = std::fabs(ours[j].distance2 - dist[j]) <= 1e-5f * dist[j] + 1e-12f;
    }
    agree += same ? 1 : 0;
  }
  std::printf("d=%zu: ours and nanoflann agree on %zu/%zu queries\n", d, agree, kChecked);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  for (std::size_t d : {std::size_t{3}, std::size_t{16}}) {
    benchmark::RegisterBenchmark(name("build", "ours", d).c_str(), build_ours, d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("build", "nanoflann", d).c_str(), build_nano, d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("query", "ours", d).c_str(), query_ours, d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("query", "ours_batch1", d).c_str(), query_ours_batch, d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("query", "nanoflann", d).c_str(), query_nano_runtime, d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("query", "nanoflann_fixed_dim", d).c_str(), query_nano_fixed,
                                 d)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(name("query", "brute", d).c_str(), query_brute, d)
        ->Unit(benchmark::kMillisecond);
  }
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  auto& t = reporter.seconds_per_unit;
  auto get = [&](const std::string& key) {
    const auto it = t.find(key);
    return it == t.end() ? std::nan("") : it->second;
  };
  std::printf(
      "\nKdTree vs nanoflann (version 0x%x) vs brute force: n=%zu uniform, k=%zu, leaf=%zu, "
      "1 thread, %zu queries at d=3, %zu at d=16, brute force on %zu of them\n",
      NANOFLANN_VERSION, kPoints, kK, kLeafSize, query_count(3), query_count(16), kBruteQueries);
  for (std::size_t d : {std::size_t{3}, std::size_t{16}}) {
    if (std::isnan(get(name("query", "ours", d)))) continue;
    check_agreement(d);
  }
  std::printf("%-4s %12s %12s %8s | %10s %10s %10s %10s %10s | %9s %9s\n", "d", "build ours",
              "build nano", "ratio", "ours", "ours batch", "nano", "nano fixD", "brute", "vs nano",
              "vs brute");
  std::printf("%-4s %12s %12s %8s | %10s %10s %10s %10s %10s | %9s %9s\n", "", "(ms)", "(ms)",
              "nano/us", "(us/q)", "(us/q)", "(us/q)", "(us/q)", "(us/q)", "(thrpt)", "(speedup)");
  for (std::size_t d : {std::size_t{3}, std::size_t{16}}) {
    const double bo = get(name("build", "ours", d)) * 1e3;
    const double bn = get(name("build", "nanoflann", d)) * 1e3;
    const double qo = get(name("query", "ours", d)) * 1e6;
    const double qb = get(name("query", "ours_batch1", d)) * 1e6;
    const double qn = get(name("query", "nanoflann", d)) * 1e6;
    const double qf = get(name("query", "nanoflann_fixed_dim", d)) * 1e6;
    const double br = get(name("query", "brute", d)) * 1e6;
    const double best_nano = std::fmin(qn, qf);  // fmin ignores a missing (NaN) one
    std::printf("%-4zu %12.1f %12.1f %8.2f | %10.2f %10.2f %10.2f %10.2f %10.1f | %8.2fx %8.1fx\n",
                d, bo, bn, bn / bo, qo, qb, qn, qf, br, best_nano / qo, br / qo);
  }
  std::printf(
      "vs nano: ours' query throughput / the faster nanoflann's (target >= 0.8); "
      "vs brute: brute-force time / ours per query (target >= 20 at d=3)\n");
  return 0;
}
