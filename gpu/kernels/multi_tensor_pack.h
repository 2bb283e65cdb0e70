// The multi-tensor launches' tables (optim_multi.cu): a list of tensors packed into tables of at
// most kCapacity tensors, each tensor cut into kChunk-element chunks, one block a chunk.
//
// Host code only, apart from the table type the kernels take by value: kept out of the .cu so
// the packing (table capacity, empty tensors, block offsets, the grid's block limit) is tested on
// a machine without a GPU (tests/gpu/multi_tensor_pack_test.cpp). Included by nvcc as C++17.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace tb::gpu::kernels::multi_tensor {

// Elements one block updates: 64 a thread at kBlock threads. Smaller tensors take one block.
constexpr std::int64_t kChunk = 16384;
// Blocks one launch may have (gridDim.x's limit); first_block below counts in int32 too.
constexpr std::int64_t kMaxBlocks = 0x7FFFFFFF;

// The kernel argument: up to kCapacity tensors, each its kDepth buffers (param, grad, state...)
// and its size. kCapacity keeps the table within about 2.5 KB, well under the 4 KB that kernel
// arguments were limited to before CUDA 12.1 / Volta, the step's scalars included
// (optim_multi.cu checks the sums).
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
// tensors, or kMaxBlocks blocks). row_of(tensors[i]) gives tensor i's Row. Throws tb::Error
// naming `launcher` for a tensor more than one launch's blocks can cover.
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

}  // namespace tb::gpu::kernels::multi_tensor
