// The backend's hot ops at the shapes the Fashion-MNIST projects use, each beside its peer:
// the Linear layer's GEMM beside a plain Eigen product of the same shape (what the backend adds
// on top of Eigen), and the convolution beside the GEMM it reduces to (im2col's cost).
#include <benchmark/benchmark.h>

#include <random>

#include "core/tensor/backend.h"

namespace {

using tb::tensor::Shape;
using tb::tensor::Tensor;

Tensor random_tensor(tb::tensor::Backend& backend, Shape shape, std::uint64_t seed) {
  Tensor t = backend.empty(std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data()[i] = dist(rng);
  return t;
}

void BM_LinearForwardBackend(benchmark::State& state) {
  auto backend = tb::tensor::make_cpu_backend(static_cast<int>(state.range(0)));
  Tensor x = random_tensor(*backend, {128, 784}, 1);
  Tensor w = random_tensor(*backend, {256, 784}, 2);
  Tensor y = backend->empty({128, 256});
  for (auto _ : state) {
    backend->gemm(x, false, w, true, y);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 128 * 784 * 256, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LinearForwardBackend)->Arg(1)->Arg(2)->UseRealTime();

void BM_LinearForwardEigenPeer(benchmark::State& state) {
  Eigen::setNbThreads(static_cast<int>(state.range(0)));
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M x = M::Random(128, 784), w = M::Random(256, 784), y(128, 256);
  for (auto _ : state) {
    y.noalias() = x * w.transpose();
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 128 * 784 * 256, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LinearForwardEigenPeer)->Arg(1)->Arg(2)->UseRealTime();

void BM_Conv2dForward(benchmark::State& state) {
  auto backend = tb::tensor::make_cpu_backend(static_cast<int>(state.range(0)));
  tb::tensor::Conv2dGeometry g{32, 64, 3, 1, 1, 14, 14};
  Tensor x = random_tensor(*backend, {128, 32, 14, 14}, 1);
  Tensor w = random_tensor(*backend, {64, 32, 3, 3}, 2);
  Tensor b = random_tensor(*backend, {64}, 3);
  Tensor y = backend->empty({128, 64, 14, 14});
  for (auto _ : state) {
    backend->conv2d_forward(x, w, b, y, g);
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 128 * 64 * 288 * 196, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Conv2dForward)->Arg(1)->Arg(2)->UseRealTime();

// The convolution's peer: one GEMM of the same FLOPs ([64 x 288] x [288 x 128*196]).
void BM_Conv2dGemmPeer(benchmark::State& state) {
  Eigen::setNbThreads(static_cast<int>(state.range(0)));
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M w = M::Random(64, 288), cols = M::Random(288, 128 * 196), y(64, 128 * 196);
  for (auto _ : state) {
    y.noalias() = w * cols;
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * 128 * 64 * 288 * 196, benchmark::Counter::kIsIterationInvariantRate,
                         benchmark::Counter::kIs1000);
}
BENCHMARK(BM_Conv2dGemmPeer)->Arg(1)->Arg(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
