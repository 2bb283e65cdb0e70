#include <cstdint>
#include <vector>

#include "gpu/kernels/launch.h"
#include "gpu/kernels/multi_tensor_pack.h"
#include "gpu/kernels/optim_element.h"
#include "gpu/kernels/optim_multi.h"

namespace tb::gpu::kernels {
namespace {

using multi_tensor::kChunk;
using multi_tensor::pack;
using multi_tensor::Row;
using multi_tensor::TensorTable;

// Each kernel's arguments, its table and the step's scalars, stay within 3 KB: under the 4 KB
// that kernel arguments were limited to before CUDA 12.1 / Volta.
static_assert(sizeof(TensorTable<1>) + sizeof(float) + sizeof(unsigned*) <= 3072);
static_assert(sizeof(TensorTable<3>) + sizeof(SgdScalars) <= 3072);
static_assert(sizeof(TensorTable<3>) + sizeof(LionScalars) <= 3072);
static_assert(sizeof(TensorTable<5>) + sizeof(AdamScalars) <= 3072);
static_assert(sizeof(TensorTable<5>) + sizeof(RmspropScalars) <= 3072);

// The (tensor, chunk) a block updates: elements [begin, end) of tensor `tensor`.
struct Chunk {
  int tensor;
  std::int64_t begin, end;
};

template <int kDepth>
__device__ __forceinline__ Chunk chunk_of_block(const TensorTable<kDepth>& table) {
  const std::int64_t block = blockIdx.x;
  // The last tensor whose first block is at or before this one (binary search).
  int lo = 0, hi = table.count - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (table.first_block[mid] <= block) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const std::int64_t begin = (block - table.first_block[lo]) * kChunk;
  const std::int64_t n = table.numel[lo];
  return {lo, begin, begin + kChunk < n ? begin + kChunk : n};
}

// The kernels: one block a (tensor, chunk), the single-tensor kernels' update for each element.
// The table is __grid_constant__: read in place from the kernel's parameter space, never copied
// to local memory for its dynamic indexing.
template <bool kMomentum>
__global__ void sgd_multi_kernel(const __grid_constant__ TensorTable<3> table, const SgdScalars s) {
  const Chunk c = chunk_of_block(table);
  float* param = table.ptr[0][c.tensor];
  const float* grad = table.ptr[1][c.tensor];
  float* velocity = table.ptr[2][c.tensor];
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    element::sgd<kMomentum>(param, grad, velocity, i, s);
  }
}

template <bool kAmsgrad>
__global__ void adam_multi_kernel(const __grid_constant__ TensorTable<5> table,
                                  const AdamScalars s) {
  const Chunk c = chunk_of_block(table);
  float* param = table.ptr[0][c.tensor];
  const float* grad = table.ptr[1][c.tensor];
  float* exp_avg = table.ptr[2][c.tensor];
  float* exp_avg_sq = table.ptr[3][c.tensor];
  float* max_exp_avg_sq = table.ptr[4][c.tensor];
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    element::adam<kAmsgrad>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, i, s);
  }
}

template <bool kCentered, bool kMomentum>
__global__ void rmsprop_multi_kernel(const __grid_constant__ TensorTable<5> table,
                                     const RmspropScalars s) {
  const Chunk c = chunk_of_block(table);
  float* param = table.ptr[0][c.tensor];
  const float* grad = table.ptr[1][c.tensor];
  float* square_avg = table.ptr[2][c.tensor];
  float* grad_avg = table.ptr[3][c.tensor];
  float* momentum_buf = table.ptr[4][c.tensor];
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    element::rmsprop<kCentered, kMomentum>(param, grad, square_avg, grad_avg, momentum_buf, i, s);
  }
}

__global__ void lion_multi_kernel(const __grid_constant__ TensorTable<3> table,
                                  const LionScalars s) {
  const Chunk c = chunk_of_block(table);
  float* param = table.ptr[0][c.tensor];
  const float* grad = table.ptr[1][c.tensor];
  float* exp_avg = table.ptr[2][c.tensor];
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    element::lion(param, grad, exp_avg, i, s);
  }
}

__global__ void unscale_multi_kernel(const __grid_constant__ TensorTable<1> table,
                                     const float inv_scale, unsigned* found /* [1] */) {
  const Chunk c = chunk_of_block(table);
  float* grad = table.ptr[0][c.tensor];
  bool bad = false;
  for (std::int64_t i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) {
    bad |= element::unscale(grad, i, inv_scale);
  }
  // Every lane has left the loop (kBlock is a multiple of 32): one store a warp at most, and
  // none on the usual finite step.
  if (__any_sync(0xffffffffu, bad) && threadIdx.x % 32 == 0) *found = 1u;
}

// The grad's pointer in a table row: the kernels only read it.
float* read_only(const float* grad) {
  return const_cast<float*>(grad);
}

}  // namespace

void sgd_step_multi(const SgdOperands* tensors, std::size_t count, const SgdScalars& s,
                    cudaStream_t stream) {
  const auto row = [](const SgdOperands& t) {
    return Row<3>{{t.param, read_only(t.grad), t.velocity}, t.n};
  };
  for (const auto& launch : pack<3>(tensors, count, row, __func__)) {
    if (s.momentum == 0.0f) {
      sgd_multi_kernel<false><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    } else {
      sgd_multi_kernel<true><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    }
  }
}

void adam_step_multi(const AdamOperands* tensors, std::size_t count, const AdamScalars& s,
                     bool amsgrad, cudaStream_t stream) {
  const auto row = [](const AdamOperands& t) {
    return Row<5>{{t.param, read_only(t.grad), t.exp_avg, t.exp_avg_sq, t.max_exp_avg_sq}, t.n};
  };
  for (const auto& launch : pack<5>(tensors, count, row, __func__)) {
    if (amsgrad) {
      adam_multi_kernel<true><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    } else {
      adam_multi_kernel<false><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    }
  }
}

void rmsprop_step_multi(const RmspropOperands* tensors, std::size_t count, const RmspropScalars& s,
                        bool centered, cudaStream_t stream) {
  const bool momentum = s.momentum > 0.0f;
  const auto row = [](const RmspropOperands& t) {
    return Row<5>{{t.param, read_only(t.grad), t.square_avg, t.grad_avg, t.momentum_buf}, t.n};
  };
  for (const auto& launch : pack<5>(tensors, count, row, __func__)) {
    if (centered && momentum) {
      rmsprop_multi_kernel<true, true><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    } else if (centered) {
      rmsprop_multi_kernel<true, false><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    } else if (momentum) {
      rmsprop_multi_kernel<false, true><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    } else {
      rmsprop_multi_kernel<false, false><<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
      check_launch(__func__);
    }
  }
}

void lion_step_multi(const LionOperands* tensors, std::size_t count, const LionScalars& s,
                     cudaStream_t stream) {
  const auto row = [](const LionOperands& t) {
    return Row<3>{{t.param, read_only(t.grad), t.exp_avg}, t.n};
  };
  for (const auto& launch : pack<3>(tensors, count, row, __func__)) {
    lion_multi_kernel<<<launch.blocks, kBlock, 0, stream>>>(launch.table, s);
    check_launch(__func__);
  }
}

void unscale_and_check_multi(const UnscaleOperands* tensors, std::size_t count, float inv_scale,
                             unsigned* found, cudaStream_t stream) {
  cudaMemsetAsync(found, 0, sizeof(*found), stream);
  check_launch(__func__);
  const auto row = [](const UnscaleOperands& t) { return Row<1>{{t.grad}, t.n}; };
  for (const auto& launch : pack<1>(tensors, count, row, __func__)) {
    unscale_multi_kernel<<<launch.blocks, kBlock, 0, stream>>>(launch.table, inv_scale, found);
    check_launch(__func__);
  }
}

}  // namespace tb::gpu::kernels
