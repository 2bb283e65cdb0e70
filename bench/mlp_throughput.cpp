// How close does training the MLP project come to this machine's own fp32 GEMM rate?
//
// 1. The peer: Eigen's fp32 GEMM on large square matrices with the same thread count, best of
//    several repetitions -> FLOP/s.
// 2. FLOPs per training sample of the project's model, counted from its Linear layers:
//    forward 2*in*out, backward 2*in*out for the weight gradient plus 2*in*out for the input
//    gradient (skipped for the first layer, whose input is data).
// 3. The product: the real training loop (Runner, project file, real Fashion-MNIST) for a
//    number of steps -> samples/s.
// The ratio measured/implied is the requirement (>= 0.25).
//
// Usage: bench_mlp_throughput [PROJECT=projects/fashion_mlp.json] [STEPS=1500] [THREADS=2]
#include <Eigen/Core>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/nn/linear.h"
#include "core/nn/model.h"
#include "core/run/runner.h"

namespace {

double gemm_flops_per_s(int threads, int n) {
  Eigen::setNbThreads(threads);
  using M = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  M a = M::Random(n, n), b = M::Random(n, n), c(n, n);
  c.noalias() = a * b;  // warm-up
  double best = 1e30;
  for (int rep = 0; rep < 7; ++rep) {
    const auto start = std::chrono::steady_clock::now();
    c.noalias() = a * b;
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (c(0, 0) == 12345.0f) std::printf(" ");  // keep the product observable
  return 2.0 * n * n * static_cast<double>(n) / best;
}

double training_flops_per_sample(const tb::run::Project& project) {
  auto backend = tb::tensor::make_cpu_backend(1);
  auto model = tb::nn::build_model(*backend, project.model, {1, 28, 28}, 10, project.seed);
  double flops = 0.0;
  bool first = true;
  for (const auto& layer : model->layers()) {
    const auto* linear = dynamic_cast<const tb::nn::Linear*>(layer.get());
    if (!linear) continue;
    const double mac =
        static_cast<double>(linear->in_features()) * static_cast<double>(linear->out_features());
    flops += 2 * mac + 2 * mac + (first ? 0.0 : 2 * mac);
    first = false;
  }
  return flops;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string project_file = argc > 1 ? argv[1] : TRAINBENCH_DEFAULT_PROJECT;
  const long steps = argc > 2 ? std::atol(argv[2]) : 1500;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 2;

  auto project = tb::run::Project::load(project_file, {"train.threads=" + std::to_string(threads),
                                                       "train.max_steps=" + std::to_string(steps),
                                                       "data.test_limit=1000", "train.epochs=100"});
  if (project.model.type != "mlp") {
    std::fprintf(stderr, "this benchmark counts Linear layers only: use an mlp project\n");
    return 2;
  }
  const double gemm = std::max(gemm_flops_per_s(threads, 1024), gemm_flops_per_s(threads, 2048));
  const double per_sample = training_flops_per_sample(project);
  const double implied = gemm / per_sample;

  tb::run::Runner runner(project, {});
  const auto result = runner.run();
  if (result.status != "completed") {
    std::fprintf(stderr, "run failed: %s\n", result.error.c_str());
    return 1;
  }
  const double ratio = result.samples_per_s / implied;
  std::printf("project                  %s (batch %lld, %d threads, %lld steps)\n",
              project_file.c_str(), static_cast<long long>(project.data.batch_size), threads,
              static_cast<long long>(result.steps));
  std::printf("peer: fp32 GEMM (Eigen)  %.1f GFLOP/s\n", gemm / 1e9);
  std::printf("training FLOPs/sample    %.3f MFLOP (forward + backward)\n", per_sample / 1e6);
  std::printf("GEMM-implied samples/s   %.0f\n", implied);
  std::printf("ours: trained samples/s  %.0f\n", result.samples_per_s);
  std::printf("ratio                    %.3f (requirement >= 0.25: %s)\n", ratio,
              ratio >= 0.25 ? "met" : "NOT met");
  return 0;
}
