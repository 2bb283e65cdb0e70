#include <cstdint>
#include <string>
#include <vector>

#include "gpu/kernels/launch.h"
#include "gpu/kernels/optim_element.h"
#include "gpu/kernels/optim_multi.h"

namespace tb::gpu::kernels {
namespace {

// Elements one block updates: 64 a thread at kBlock threads. Smaller tensors take one block.
constexpr std::int64_t kChunk = 16384;
// Blocks one launch may have (gridDim.x's limit); first_block below counts in int32 too.
constexpr std::int64_t kMaxBlocks = 0x7FFFFFFF;

// The kernel argument: up to kCapacity tensors, each its kDepth buffers (param, grad, state...)
// and its size. kCapacity keeps the table within about 2.5 KB, well under the 4 KB that kernel
// arguments were limited to before CUDA 12.1 / Volta, the step's scalars included.
template <int kDepth>
struct TensorTable {
  static constexpr int kCapacity = 2560 / (8 * kDepth + 8 + 4);
  float* ptr[kDepth][kCapacity];  // a read-only buffer (grad) too: the kernels only read it
  std::int64_t numel[kCapacity];
  // Tensor t's chunks are the blocks [first_block[t], first_block[t + 1]); empty tensors are not
  // in the table, so first_block rises strictly.
  std::int32_t first_block[kCapacity + 1];
  int count;
};
static_assert(sizeof(TensorTable<1>) + sizeof(float) + sizeof(unsigned*) <= 3072);
static_assert(sizeof(TensorTable<3>) + sizeof(SgdScalars) <= 3072);
static_assert(sizeof(TensorTable<3>) + sizeof(LionScalars) <= 3072);
static_assert(sizeof(TensorTable<5>) + sizeof(AdamScalars) <= 3072);
static_assert(sizeof(TensorTable<5>) + sizeof(RmspropScalars) <= 3072);

// One table and the blocks its launch needs.
template <int kDepth>
struct Launch {
  TensorTable<kDepth> table;
  unsigned blocks;
};

// One tensor's row of a table.
template <int kDepth>
struct Row {
  float* ptr[kDepth];
  std::int64_t n;
};

// The list packed into tables, one a launch: a new table when the last is full (kCapacity
// tensors, or kMaxBlocks blocks). row(tensors[i]) gives tensor i's Row.
template <int kDepth, class Operands, class RowOf>
std::vector<Launch<kDepth>> pack(const Operands* tensors, std::size_t count, const RowOf& row_of,
                                 const char* launcher) {
  using Table = TensorTable<kDepth>;
  std::vector<Launch<kDepth>> launches;
  std::int64_t blocks = 0;
  const auto close = [&] {
    Launch<kDepth>& last = launches.back();
    last.table.first_block[last.table.count] = static_cast<std::int32_t>(blocks);
    last.blocks = static_cast<unsigned>(blocks);
  };
  for (std::size_t i = 0; i < count; ++i) {
    const Row<kDepth> row = row_of(tensors[i]);
    if (row.n <= 0) continue;
    const std::int64_t chunks = (row.n + kChunk - 1) / kChunk;
    if (chunks > kMaxBlocks) {
      throw Error(std::string(launcher) + ": a tensor of " + std::to_string(row.n) +
                  " elements is more than one launch can cover");
    }
    if (launches.empty() || launches.back().table.count == Table::kCapacity ||
        blocks + chunks > kMaxBlocks) {
      if (!launches.empty()) close();
      launches.emplace_back();  // value-initialised: a zeroed table
      blocks = 0;
    }
    Table& table = launches.back().table;
    for (int d = 0; d < kDepth; ++d) table.ptr[d][table.count] = row.ptr[d];
    table.numel[table.count] = row.n;
    table.first_block[table.count] = static_cast<std::int32_t>(blocks);
    ++table.count;
    blocks += chunks;
  }
  if (!launches.empty()) close();
  return launches;
}

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
