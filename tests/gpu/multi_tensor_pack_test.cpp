// The multi-tensor launches' packing (gpu/kernels/multi_tensor_pack.h), on the CPU: no GPU
// needed, so it runs everywhere. A list longer than a table holds takes several tables; a tensor
// of many chunks takes that many blocks; empty tensors take no row; each table's blocks are
// contiguous from 0, tensor after tensor, in list order; the grid's block limit starts a new
// table, and a tensor past it is refused naming the launcher.
#include "gpu/kernels/multi_tensor_pack.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/error_message.h"

namespace tb::gpu::kernels::multi_tensor {
namespace {

// The rows of a list of tensors of these sizes, each buffer a distinct (never dereferenced)
// address in `storage`, so a row's pointers say which tensor it came from.
template <int kDepth>
std::vector<Row<kDepth>> rows_of(const std::vector<std::int64_t>& sizes,
                                 std::vector<float>& storage) {
  storage.assign(sizes.size() * kDepth, 0.0f);
  std::vector<Row<kDepth>> rows(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    for (int d = 0; d < kDepth; ++d) rows[i].ptr[d] = &storage[i * kDepth + d];
    rows[i].n = sizes[i];
  }
  return rows;
}

template <int kDepth>
std::vector<Launch<kDepth>> pack_rows(const std::vector<Row<kDepth>>& rows) {
  return pack<kDepth>(
      rows.data(), rows.size(), [](const Row<kDepth>& r) { return r; }, "test");
}

std::int64_t chunks(std::int64_t n) {
  return (n + kChunk - 1) / kChunk;
}

// Every table of `launches` against the non-empty tensors of `rows`, in order: each row's
// pointers and size, its blocks [first_block[t], first_block[t + 1]) contiguous from 0 and as
// many as its chunks, the launch's block count the table's last first_block, the unused slots
// left null.
template <int kDepth>
void expect_packs(const std::vector<Launch<kDepth>>& launches,
                  const std::vector<Row<kDepth>>& rows) {
  std::size_t next = 0;  // the next row of `rows` a table should hold
  const auto skip_empty = [&] {
    while (next < rows.size() && rows[next].n <= 0) ++next;
  };
  for (std::size_t l = 0; l < launches.size(); ++l) {
    const auto& table = launches[l].table;
    ASSERT_GT(table.count, 0) << "launch " << l;
    ASSERT_LE(table.count, TensorTable<kDepth>::kCapacity) << "launch " << l;
    EXPECT_EQ(table.first_block[0], 0) << "launch " << l;
    for (int t = 0; t < table.count; ++t) {
      skip_empty();
      ASSERT_LT(next, rows.size()) << "launch " << l << " holds more tensors than the list";
      for (int d = 0; d < kDepth; ++d) {
        EXPECT_EQ(table.ptr[d][t], rows[next].ptr[d]) << "launch " << l << " row " << t;
      }
      EXPECT_EQ(table.numel[t], rows[next].n) << "launch " << l << " row " << t;
      EXPECT_EQ(table.first_block[t + 1] - table.first_block[t], chunks(rows[next].n))
          << "launch " << l << " row " << t;
      ++next;
    }
    EXPECT_EQ(launches[l].blocks, static_cast<unsigned>(table.first_block[table.count]))
        << "launch " << l;
    for (int t = table.count; t < TensorTable<kDepth>::kCapacity; ++t) {
      for (int d = 0; d < kDepth; ++d) EXPECT_EQ(table.ptr[d][t], nullptr) << "launch " << l;
    }
  }
  skip_empty();
  EXPECT_EQ(next, rows.size()) << "tensors left out of every table";
}

TEST(MultiTensorPack, ALongerListThanATableHoldsTakesSeveralTables) {
  constexpr int kCapacity = TensorTable<3>::kCapacity;
  static_assert(kCapacity == 2560 / (8 * 3 + 8 + 4));
  std::vector<float> storage;
  const auto rows = rows_of<3>(std::vector<std::int64_t>(2 * kCapacity + 5, 10), storage);
  const auto launches = pack_rows(rows);
  ASSERT_EQ(launches.size(), 3u);
  EXPECT_EQ(launches[0].table.count, kCapacity);
  EXPECT_EQ(launches[1].table.count, kCapacity);
  EXPECT_EQ(launches[2].table.count, 5);
  // One block each: the second table starts again from block 0 with tensor kCapacity.
  EXPECT_EQ(launches[1].blocks, static_cast<unsigned>(kCapacity));
  EXPECT_EQ(launches[1].table.ptr[0][0], rows[kCapacity].ptr[0]);
  expect_packs(launches, rows);
}

TEST(MultiTensorPack, ATensorOfManyChunksTakesABlockAChunk) {
  std::vector<float> storage;
  // A chunk exactly, one element past it, many chunks and one past, between two small ones.
  const auto rows = rows_of<5>({1, kChunk, kChunk + 1, 40 * kChunk + 1, 7}, storage);
  const auto launches = pack_rows(rows);
  ASSERT_EQ(launches.size(), 1u);
  const auto& table = launches[0].table;
  ASSERT_EQ(table.count, 5);
  const std::vector<std::int32_t> first(table.first_block, table.first_block + 6);
  EXPECT_EQ(first, (std::vector<std::int32_t>{0, 1, 2, 4, 45, 46}));
  EXPECT_EQ(launches[0].blocks, 46u);
  expect_packs(launches, rows);
}

TEST(MultiTensorPack, EmptyTensorsTakeNoRowAndNoBlock) {
  std::vector<float> storage;
  const auto rows = rows_of<1>({0, 3, 0, 0, kChunk + 5, 0}, storage);
  const auto launches = pack_rows(rows);
  ASSERT_EQ(launches.size(), 1u);
  const auto& table = launches[0].table;
  ASSERT_EQ(table.count, 2);
  EXPECT_EQ(table.ptr[0][0], rows[1].ptr[0]);
  EXPECT_EQ(table.ptr[0][1], rows[4].ptr[0]);
  EXPECT_EQ(table.first_block[1], 1);
  EXPECT_EQ(launches[0].blocks, 3u);
  expect_packs(launches, rows);

  // A list of nothing but empty tensors (or no list) launches nothing.
  const auto empty_rows = rows_of<1>({0, 0, 0}, storage);
  EXPECT_TRUE(pack_rows(empty_rows).empty());
  EXPECT_TRUE(pack_rows(std::vector<Row<1>>{}).empty());
}

TEST(MultiTensorPack, EmptyTensorsDoNotCountTowardsATablesCapacity) {
  constexpr int kCapacity = TensorTable<1>::kCapacity;
  std::vector<std::int64_t> sizes;
  for (int i = 0; i < kCapacity; ++i) {
    sizes.push_back(0);
    sizes.push_back(1);
  }
  std::vector<float> storage;
  const auto rows = rows_of<1>(sizes, storage);
  const auto launches = pack_rows(rows);
  ASSERT_EQ(launches.size(), 1u);
  EXPECT_EQ(launches[0].table.count, kCapacity);
  expect_packs(launches, rows);
}

TEST(MultiTensorPack, BlocksAreContiguousAcrossAMixedList) {
  // Odd sizes, empties among them, some of several chunks: over three tables of 49.
  std::vector<std::int64_t> sizes;
  for (int i = 0; i < 130; ++i) {
    sizes.push_back(i % 7 == 3 ? 0 : 1 + (static_cast<std::int64_t>(i) * 7919) % (3 * kChunk));
  }
  std::vector<float> storage;
  const auto rows = rows_of<5>(sizes, storage);
  const auto launches = pack_rows(rows);
  EXPECT_EQ(launches.size(), 3u);
  expect_packs(launches, rows);
}

TEST(MultiTensorPack, TheGridsBlockLimitStartsANewTable) {
  // Sizes only: nothing is read, so tensors of 2^45 elements cost nothing here.
  const std::int64_t half = (kMaxBlocks / 2 + 1) * kChunk;
  std::vector<float> storage;
  const auto rows = rows_of<1>({half, half}, storage);
  const auto launches = pack_rows(rows);
  ASSERT_EQ(launches.size(), 2u);
  EXPECT_EQ(launches[0].blocks, static_cast<unsigned>(kMaxBlocks / 2 + 1));
  EXPECT_EQ(launches[1].blocks, static_cast<unsigned>(kMaxBlocks / 2 + 1));
  expect_packs(launches, rows);

  // A tensor of exactly kMaxBlocks chunks fits one launch; one more element does not.
  const auto full = rows_of<1>({kMaxBlocks * kChunk}, storage);
  ASSERT_EQ(pack_rows(full).size(), 1u);
  EXPECT_EQ(pack_rows(full)[0].blocks, static_cast<unsigned>(kMaxBlocks));
  const auto too_big = rows_of<1>({kMaxBlocks * kChunk + 1}, storage);
  EXPECT_EQ(tb::testing::error_of([&] { pack_rows(too_big); }),
            "test: a tensor of " + std::to_string(kMaxBlocks * kChunk + 1) +
                " elements is more than one launch can cover");
}

}  // namespace
}  // namespace tb::gpu::kernels::multi_tensor
