// Launch geometry shared by the kernels (included by .cu files only).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/util/error.h"

namespace tb::gpu::kernels {

inline constexpr int kBlock = 256;  // threads a block for the elementwise kernels

// Blocks for a grid-stride loop over n elements: enough to fill an H100 several times over
// (132 SMs x 16 blocks), never more than the elements need.
inline unsigned grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 132 * 16));
}

// After a launch: throws tb::Error naming the launcher when the launch itself failed (a bad
// configuration, no kernel image for this GPU). Errors while a kernel runs surface at the next
// synchronisation, named after the op that waits.
inline void check_launch(const char* launcher) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw Error(std::string(launcher) + ": kernel launch failed: " + cudaGetErrorName(status) +
                " (" + cudaGetErrorString(status) + ")");
  }
}

#ifdef __CUDACC__
__device__ inline std::int64_t global_index() {
  return static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline std::int64_t grid_stride() {
  return static_cast<std::int64_t>(gridDim.x) * blockDim.x;
}
#endif

}  // namespace tb::gpu::kernels
