// Sparse x dense products of core/ds/sparse.h against Eigen's SparseMatrix, single-threaded.
//
// Peer: Eigen::SparseMatrix<float, Eigen::RowMajor> (int32 indices, like CsrMatrix) times
// Eigen::Matrix<float, Dynamic, Dynamic, RowMajor> (Eigen::Map over the very buffers our kernels
// read, so both see the same memory), Eigen::setNbThreads(1).
//
// Matrices: bag-of-words-like 4096 x 100,000 at 0.1% and 1% density (about 100 and 1000 features
// per row), and a 50,000 x 50,000 graph-like matrix at 0.01% (5 per row); dense operands 64 and
// 256 wide. Operations:
//   spmm            c = a * b                 peer: c = a * b
//   spmm_transposed c = a^T * b               peer: c = a.transpose() * b
//                   (ours twice: the default transpose-then-gather and the scatter method)
//   spmm_dense_bt   c = a * w^T, w [out x F]  peer: c = a * w.transpose()   (Linear forward)
//   dense_t_spmm    dw = dy^T * a             peer: dw = dy.transpose() * a  (Linear dW)
// After the Google Benchmark output a summary prints, for each operation and matrix, our time,
// Eigen's, and ratio = Eigen time / our time (>= 1: ours is as fast or faster), plus the largest
// difference between the two results. Times are CPU time of the (single) thread, which time spent
// descheduled by other load does not inflate, taking the fastest repetition of each benchmark
// (use --benchmark_repetitions=N on a noisy machine).
//
//   bench_ds_sparse [--benchmark_filter=REGEX] [--benchmark_repetitions=N] [--benchmark_min_time=S]
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <Eigen/SparseCore>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/ds/sparse.h"

namespace {

using tb::ds::CsrMatrix;
using tb::ds::DenseView;
using tb::ds::MutableDenseView;
using EigenSparse = Eigen::SparseMatrix<float, Eigen::RowMajor>;
using EigenDense = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using EigenMap = Eigen::Map<EigenDense>;
using EigenConstMap = Eigen::Map<const EigenDense>;

struct SparseCase {
  std::string name;
  std::int64_t rows;
  std::int64_t cols;
  double density;
};

const std::vector<SparseCase> kCases = {
    {"bow_4096x100k_0.1%", 4096, 100'000, 0.001},
    {"bow_4096x100k_1%", 4096, 100'000, 0.01},
    {"graph_50kx50k_0.01%", 50'000, 50'000, 0.0001},
};
const std::vector<std::int64_t> kWidths = {64, 256};

// Both representations of one random matrix, built on first use (the 1% one has 4M entries).
struct SparsePair {
  CsrMatrix ours;
  EigenSparse eigen;
};

const SparsePair& sparse(const SparseCase& c) {
  static std::map<std::string, std::unique_ptr<SparsePair>> built;
  auto& slot = built[c.name];
  if (slot) return *slot;
  std::mt19937_64 rng(std::hash<std::string>{}(c.name));
  std::uniform_int_distribution<std::int64_t> column(0, c.cols - 1);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::poisson_distribution<std::int64_t> per_row(c.density * static_cast<double>(c.cols));
  std::vector<std::int64_t> row_ptr{0};
  std::vector<std::int32_t> col_idx;
  std::vector<float> values;
  std::vector<std::int64_t> picked;
  for (std::int64_t r = 0; r < c.rows; ++r) {
    picked.resize(static_cast<std::size_t>(per_row(rng)));
    for (auto& j : picked) j = column(rng);
    std::sort(picked.begin(), picked.end());
    picked.erase(std::unique(picked.begin(), picked.end()), picked.end());
    for (const std::int64_t j : picked) {
      col_idx.push_back(static_cast<std::int32_t>(j));
      values.push_back(value(rng));
    }
    row_ptr.push_back(static_cast<std::int64_t>(values.size()));
  }
  slot = std::make_unique<SparsePair>();
  std::vector<int> outer(row_ptr.begin(), row_ptr.end());
  slot->eigen = Eigen::Map<const EigenSparse>(c.rows, c.cols, static_cast<int>(values.size()),
                                              outer.data(), col_idx.data(), values.data());
  slot->ours = CsrMatrix::from_arrays(c.rows, c.cols, std::move(row_ptr), std::move(col_idx),
                                      std::move(values));
  return *slot;
}

// One random buffer for every dense operand (the largest is 100k x 256 floats), shared by all runs
// so that ours and Eigen multiply the same numbers.
constexpr std::int64_t kMaxDense = 100'000 * 256;
const float* random_floats(std::int64_t count) {
  static const std::vector<float> data = [] {
    std::mt19937_64 rng(7);
    std::uniform_real_distribution<float> value(-1.0f, 1.0f);
    std::vector<float> d(static_cast<std::size_t>(kMaxDense));
    for (auto& x : d) x = value(rng);
    return d;
  }();
  if (count > kMaxDense) std::abort();
  return data.data();
}

// Output buffers per benchmark name, kept so the summary can compare ours with Eigen's.
std::map<std::string, std::vector<float>>& outputs() {
  static std::map<std::string, std::vector<float>> out;
  return out;
}

float* output(const std::string& key, std::int64_t count) {
  auto& buf = outputs()[key];
  buf.assign(static_cast<std::size_t>(count), 0.0f);
  return buf.data();
}

struct Row {
  std::string op;
  std::string matrix;
  std::string ours_key;
  std::string eigen_key;
};
std::vector<Row> summary_rows;

// Registers "op/matrix/impl" for each implementation; fn(state, out) runs one product into out.
template <typename Fn>
void add(const std::string& op, const std::string& matrix, const std::string& impl,
         std::int64_t out_count, Fn fn) {
  const std::string name = op + "/" + matrix + "/" + impl;
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
    float* out = output(name, out_count);
    fn(out);  // untimed: builds the matrix on first use, faults in the output pages
    for (auto _ : state) {
      fn(out);
      benchmark::ClobberMemory();
    }
  })->Unit(benchmark::kMillisecond);
}

void register_all() {
  for (const SparseCase& c : kCases) {
    for (const std::int64_t n : kWidths) {
      const std::string matrix = c.name + "_x" + std::to_string(n);
      const std::int64_t rows = c.rows;
      const std::int64_t cols = c.cols;
      auto pair = [c] { return &sparse(c); };
      // spmm: b [cols x n].
      add("spmm", matrix, "ours", rows * n, [=](float* out) {
        const float* b = random_floats(cols * n);
        tb::ds::spmm(pair()->ours, DenseView{b, cols, n}, MutableDenseView{out, rows, n});
      });
      add("spmm", matrix, "eigen", rows * n, [=](float* out) {
        EigenConstMap b(random_floats(cols * n), cols, n);
        EigenMap c_map(out, rows, n);
        c_map.noalias() = pair()->eigen * b;
      });
      summary_rows.push_back(
          {"spmm", matrix, "spmm/" + matrix + "/ours", "spmm/" + matrix + "/eigen"});
      // spmm_transposed: b [rows x n], c [cols x n].
      for (const auto& choice : {std::pair{"ours", tb::ds::TransposedMethod::kAuto},
                                 std::pair{"ours_scatter", tb::ds::TransposedMethod::kScatter}}) {
        const tb::ds::TransposedMethod method = choice.second;
        add("spmm_transposed", matrix, choice.first, cols * n, [=](float* out) {
          const float* b = random_floats(rows * n);
          tb::ds::spmm_transposed(pair()->ours, DenseView{b, rows, n},
                                  MutableDenseView{out, cols, n}, 1.0f, 0.0f, 1, method);
        });
      }
      add("spmm_transposed", matrix, "eigen", cols * n, [=](float* out) {
        EigenConstMap b(random_floats(rows * n), rows, n);
        EigenMap c_map(out, cols, n);
        c_map.noalias() = pair()->eigen.transpose() * b;
      });
      const std::string tprefix = "spmm_transposed/" + matrix;
      summary_rows.push_back({"spmm_transposed", matrix, tprefix + "/ours", tprefix + "/eigen"});
      summary_rows.push_back(
          {"spmm_transposed (scatter)", matrix, tprefix + "/ours_scatter", tprefix + "/eigen"});
      if (c.name.rfind("bow", 0) != 0) continue;  // the Linear-layer products: bag-of-words only
      // spmm_dense_bt: w [n x cols] (n = the layer's outputs), c [rows x n].
      add("spmm_dense_bt", matrix, "ours", rows * n, [=](float* out) {
        const float* w = random_floats(n * cols);
        tb::ds::spmm_dense_bt(pair()->ours, DenseView{w, n, cols}, MutableDenseView{out, rows, n});
      });
      add("spmm_dense_bt", matrix, "eigen", rows * n, [=](float* out) {
        EigenConstMap w(random_floats(n * cols), n, cols);
        EigenMap c_map(out, rows, n);
        c_map.noalias() = pair()->eigen * w.transpose();
      });
      summary_rows.push_back({"spmm_dense_bt", matrix, "spmm_dense_bt/" + matrix + "/ours",
                              "spmm_dense_bt/" + matrix + "/eigen"});
      // dense_t_spmm: dy [rows x n], dw [n x cols].
      add("dense_t_spmm", matrix, "ours", n * cols, [=](float* out) {
        const float* dy = random_floats(rows * n);
        tb::ds::dense_t_spmm(DenseView{dy, rows, n}, pair()->ours, MutableDenseView{out, n, cols});
      });
      add("dense_t_spmm", matrix, "eigen", n * cols, [=](float* out) {
        EigenConstMap dy(random_floats(rows * n), rows, n);
        EigenMap dw(out, n, cols);
        dw.noalias() = dy.transpose() * pair()->eigen;
      });
      summary_rows.push_back({"dense_t_spmm", matrix, "dense_t_spmm/" + matrix + "/ours",
                              "dense_t_spmm/" + matrix + "/eigen"});
    }
  }
}

// Console output as usual, plus each benchmark's fastest CPU time for the summary.
class CollectingReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      const std::string name = run.benchmark_name();
      const double ms = run.GetAdjustedCPUTime();
      auto it = best_ms.find(name);
      if (it == best_ms.end() || ms < it->second) best_ms[name] = ms;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  std::map<std::string, double> best_ms;
};

double max_difference(const std::string& a, const std::string& b) {
  const auto& x = outputs()[a];
  const auto& y = outputs()[b];
  if (x.size() != y.size()) return NAN;
  double worst = 0.0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(x[i] - y[i])));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  CollectingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  std::printf(
      "\nSummary (single thread, CPU ms; ratio = Eigen time / our time, >= 1 means ours is as fast "
      "or faster)\n");
  std::printf("%-27s %-28s %11s %11s %7s %10s\n", "operation", "matrix x dense width", "ours ms",
              "Eigen ms", "ratio", "max |diff|");
  for (const Row& row : summary_rows) {
    const auto ours = reporter.best_ms.find(row.ours_key);
    const auto eigen = reporter.best_ms.find(row.eigen_key);
    if (ours == reporter.best_ms.end() || eigen == reporter.best_ms.end()) continue;
    std::printf("%-27s %-28s %11.3f %11.3f %7.2f %10.2e\n", row.op.c_str(), row.matrix.c_str(),
                ours->second, eigen->second, eigen->second / ours->second,
                max_difference(row.ours_key, row.eigen_key));
  }
  benchmark::Shutdown();
  return 0;
}
