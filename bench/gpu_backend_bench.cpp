// The CUDA backend against the device's own ceilings, measured in the same run:
//   gemm  a 4096^3 bf16 product (fp32 accumulation, Tensor Cores) through Backend::gemm beside
//         cublasGemmEx called directly on the same data: requirement ours >= 70% of its rate;
//         the fp32 product beside it for reference;
//   adam  the fused Adam step over 64M parameters (reads p, g, m, v and writes p, m, v: 28 bytes
//         an element) beside a device-to-device copy of 1 GiB (bytes read plus written):
//         requirement the step's bytes/s >= 70% of the copy's.
// Each figure is the median of 7 timings of 20 back-to-back launches, after a warm-up, on random
// data (never zeros). Without a GPU it says why and exits 0.
//
//   bench_gpu_backend [adam_elements=67108864]
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "core/tensor/backend.h"
#include "gpu/cuda_backend.h"
#include "gpu/device.h"

namespace {

using tb::tensor::Backend;
using tb::tensor::DType;
using tb::tensor::Tensor;
using Clock = std::chrono::steady_clock;

constexpr int kReps = 20;
constexpr int kTimings = 7;

void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    std::fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(status));
    std::exit(1);
  }
}

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "%s: %s\n", what, cublasGetStatusString(status));
    std::exit(1);
  }
}

// Seconds per call: the median over kTimings of (kReps calls, then `wait`) / kReps.
double seconds_per_call(const std::function<void()>& call, const std::function<void()>& wait) {
  for (int i = 0; i < 3; ++i) call();
  wait();
  std::vector<double> timings;
  for (int t = 0; t < kTimings; ++t) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kReps; ++i) call();
    wait();
    timings.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / kReps);
  }
  std::sort(timings.begin(), timings.end());
  return timings[timings.size() / 2];
}

Tensor random_tensor(Backend& backend, std::int64_t rows, std::int64_t cols, DType dtype,
                     unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(rows * cols));
  for (float& v : values) v = u(rng);
  Tensor wide = backend.empty({rows, cols});
  backend.upload(wide, values.data(), values.size() * sizeof(float));
  if (dtype == DType::f32) return wide;
  Tensor narrow = backend.empty({rows, cols}, dtype);
  backend.convert(wide, narrow);
  return narrow;
}

}  // namespace

int main(int argc, char** argv) {
  if (tb::gpu::list_devices().empty()) {
    std::printf("bench_gpu_backend: no GPU here (%s); nothing measured\n",
                tb::gpu::unavailable_reason().c_str());
    return 0;
  }
  const std::int64_t adam_elements = argc > 1 ? std::atoll(argv[1]) : std::int64_t{1} << 26;
  auto backend = tb::gpu::make_cuda_backend(0);
  const auto device = tb::gpu::list_devices().front();
  std::printf("bench_gpu_backend on %s (CUDA runtime %s), %d x %d calls a figure\n\n",
              device.name.c_str(), tb::gpu::runtime_version().c_str(), kTimings, kReps);
  const auto sync = [&] { backend->synchronize(); };

  // --- gemm ---------------------------------------------------------------------------------
  constexpr std::int64_t n = 4096;
  const double flops = 2.0 * n * n * n;
  cublasHandle_t cublas = nullptr;
  check(cublasCreate(&cublas), "cublasCreate");
  std::printf("%-34s %12s %12s %8s\n", "4096^3 matrix product", "ours TFLOP/s", "cuBLAS", "ratio");
  for (const DType dtype : {DType::bf16, DType::f32}) {
    Tensor a = random_tensor(*backend, n, n, dtype, 1);
    Tensor b = random_tensor(*backend, n, n, dtype, 2);
    Tensor c = backend->empty({n, n});
    const double ours =
        seconds_per_call([&] { backend->gemm(a, false, b, false, c, 1.0f, 0.0f); }, sync);
    // The peer: cuBLAS on the same buffers, row-major as C^T = B^T A^T.
    const cudaDataType_t type = dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_32F;
    const float one = 1.0f, zero = 0.0f;
    const double peer = seconds_per_call(
        [&] {
          check(cublasGemmEx(cublas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, b.raw(), type, n,
                             a.raw(), type, n, &zero, c.raw(), CUDA_R_32F, n, CUBLAS_COMPUTE_32F,
                             CUBLAS_GEMM_DEFAULT),
                "cublasGemmEx");
        },
        [] { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); });
    std::printf("%-34s %12.1f %12.1f %7.0f%%\n",
                dtype == DType::bf16 ? "bf16 in, fp32 out (requirement >= 70%)" : "fp32",
                flops / ours / 1e12, flops / peer / 1e12, 100.0 * peer / ours);
  }
  cublasDestroy(cublas);

  // --- adam vs copy ---------------------------------------------------------------------------
  Tensor p = random_tensor(*backend, adam_elements, 1, DType::f32, 3);
  Tensor g = random_tensor(*backend, adam_elements, 1, DType::f32, 4);
  Tensor m = backend->zeros({adam_elements, 1});
  Tensor v = backend->zeros({adam_elements, 1});
  Tensor none;
  tb::tensor::AdamStep step;
  step.decoupled = true;
  step.weight_decay = 0.01f;
  step.bias_correction1 = 0.1f;
  step.bias_correction2 = 0.001f;
  const double adam = seconds_per_call([&] { backend->adam_step(p, g, m, v, none, step); }, sync);
  const double adam_bytes = 28.0 * static_cast<double>(adam_elements);
  const std::size_t copy_bytes = std::size_t{1} << 30;
  void *from = nullptr, *to = nullptr;
  check(cudaMalloc(&from, copy_bytes), "cudaMalloc");
  check(cudaMalloc(&to, copy_bytes), "cudaMalloc");
  check(cudaMemset(from, 0x3c, copy_bytes), "cudaMemset");
  const double copy = seconds_per_call(
      [&] { check(cudaMemcpyAsync(to, from, copy_bytes, cudaMemcpyDeviceToDevice), "copy"); },
      [] { check(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); });
  cudaFree(from);
  cudaFree(to);
  // The same parameters as training holds them: 64 tensors of one group, one multi-tensor
  // launch (what optim::GroupedOptimizer issues each step).
  constexpr std::int64_t kTensors = 64;
  const std::int64_t per_tensor = adam_elements / kTensors;
  std::vector<Tensor> ps, gs, ms, vs;
  for (std::int64_t i = 0; i < kTensors; ++i) {
    ps.push_back(random_tensor(*backend, per_tensor, 1, DType::f32, 10 + static_cast<int>(i)));
    gs.push_back(random_tensor(*backend, per_tensor, 1, DType::f32, 90 + static_cast<int>(i)));
    ms.push_back(backend->zeros({per_tensor, 1}));
    vs.push_back(backend->zeros({per_tensor, 1}));
  }
  std::vector<tb::tensor::AdamTensors> group;
  for (std::int64_t i = 0; i < kTensors; ++i) {
    const auto k = static_cast<std::size_t>(i);
    group.push_back({&ps[k], &gs[k], &ms[k], &vs[k], nullptr});
  }
  const double adam_multi = seconds_per_call([&] { backend->adam_step_multi(group, step); }, sync);
  const double adam_multi_bytes = 28.0 * static_cast<double>(per_tensor * kTensors);

  const double adam_rate = adam_bytes / adam / 1e9;
  const double adam_multi_rate = adam_multi_bytes / adam_multi / 1e9;
  const double copy_rate = 2.0 * static_cast<double>(copy_bytes) / copy / 1e9;
  std::printf("\n%-34s %12s %12s %8s\n", "fused Adam step (requirement >= 70%)", "ours GB/s",
              "copy GB/s", "ratio");
  std::printf("%-34s %12.0f %12.0f %7.0f%%\n",
              (std::to_string(adam_elements) + " params, one tensor").c_str(), adam_rate, copy_rate,
              100.0 * adam_rate / copy_rate);
  std::printf("%-34s %12.0f %12.0f %7.0f%%\n",
              (std::to_string(kTensors) + " tensors, one launch").c_str(), adam_multi_rate,
              copy_rate, 100.0 * adam_multi_rate / copy_rate);
  return 0;
}
