// Helpers for the CUDA backend's tests: the backend (or a skip naming why there is none),
// tensors moved between it and the CPU backend, and the error measure the op tests use.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/tensor/backend.h"
#include "core/util/error.h"
#include "gpu/cuda_backend.h"
#include "gpu/device.h"
#include "tests/support/error_message.h"

namespace tb::gpu::testing {

using tensor::Backend;
using tensor::DType;
using tensor::Shape;
using tensor::Tensor;

// One CUDA backend for the whole test program (creating a context costs ~100 ms); null where
// there is no GPU.
inline Backend* cuda() {
  static std::unique_ptr<Backend> backend = [] {
    return list_devices().empty() ? nullptr : make_cuda_backend(0);
  }();
  return backend.get();
}

inline Backend& cpu() {
  static std::unique_ptr<Backend> backend = tensor::make_cpu_backend(1);
  return *backend;
}

// In a TEST body: skips the test, with the reason, where there is no GPU.
#define TB_REQUIRE_GPU()                                                  \
  do {                                                                    \
    if (::tb::gpu::testing::cuda() == nullptr)                            \
      GTEST_SKIP() << "no GPU here: " << ::tb::gpu::unavailable_reason(); \
  } while (0)

// A CPU f32 tensor of uniform values in [lo, hi).
inline Tensor random_cpu(const Shape& shape, std::uint32_t seed, float lo = -1.0f,
                         float hi = 1.0f) {
  Tensor t = cpu().empty(shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data()[i] = u(rng);
  return t;
}

// A copy of a CPU tensor (any dtype) on the GPU, and back.
inline Tensor to_gpu(const Tensor& host) {
  Tensor t = cuda()->empty(host.shape(), host.dtype());
  cuda()->upload(t, host.raw(), host.bytes());
  return t;
}

inline Tensor to_cpu(const Tensor& device) {
  Tensor t = cpu().empty(device.shape(), device.dtype());
  cuda()->download(device, t.raw(), t.bytes());
  return t;
}

// max |a - b| / max(|b|, floor) over the elements of two CPU f32 tensors (b the reference): the
// relative error where values are large, absolute near zero.
inline double max_rel_error(const Tensor& a, const Tensor& b, double floor = 1.0) {
  EXPECT_EQ(a.numel(), b.numel());
  double worst = 0.0;
  for (std::int64_t i = 0; i < std::min(a.numel(), b.numel()); ++i) {
    const double x = a.data()[i], y = b.data()[i];
    if (std::isnan(x) != std::isnan(y)) return INFINITY;
    if (std::isnan(x)) continue;
    if (std::isinf(x) || std::isinf(y)) {
      if (x != y) return INFINITY;  // inf/inf would be NaN, which max() would drop
      continue;
    }
    worst = std::max(worst, std::abs(x - y) / std::max(std::abs(y), floor));
  }
  return worst;
}

using tb::testing::error_of;

}  // namespace tb::gpu::testing
