// HostMemory: the cache that keeps pinned batches from being re-pinned, and HostVector's
// allocator travelling with its buffer.
#include "core/tensor/host_memory.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <utility>

namespace tb::tensor {
namespace {

// Plain memory that counts what it hands out and takes back.
class CountingMemory final : public HostMemory {
 public:
  void* allocate(std::size_t bytes) override {
    ++allocations;
    live_bytes += static_cast<std::int64_t>(bytes);
    void* block = plain_host_memory().allocate(bytes);
    live.insert(block);
    return block;
  }
  void deallocate(void* block, std::size_t bytes) override {
    ++frees;
    live_bytes -= static_cast<std::int64_t>(bytes);
    EXPECT_EQ(live.erase(block), 1u) << "a block this memory did not hand out";
    plain_host_memory().deallocate(block, bytes);
  }
  bool pinned() const override { return true; }

  int allocations = 0, frees = 0;
  std::int64_t live_bytes = 0;
  std::set<void*> live;
};

TEST(HostMemoryTest, PlainMemoryIsAlignedForVectorLoads) {
  auto& plain = plain_host_memory();
  EXPECT_FALSE(plain.pinned());
  for (std::size_t bytes : {1u, 7u, 4096u, 100000u}) {
    void* block = plain.allocate(bytes);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % 64, 0u) << bytes;
    plain.deallocate(block, bytes);
  }
}

TEST(HostMemoryTest, CacheReusesBlocksOfTheSameSize) {
  CountingMemory upstream;
  {
    CachingHostMemory cache(upstream);
    EXPECT_TRUE(cache.pinned());
    void* a = cache.allocate(4096);
    void* b = cache.allocate(4096);
    EXPECT_NE(a, b);
    cache.deallocate(a, 4096);
    EXPECT_EQ(cache.allocate(4096), a);  // from the cache, not from upstream
    void* c = cache.allocate(8192);      // another size: a new block
    EXPECT_EQ(upstream.allocations, 3);
    cache.deallocate(a, 4096);
    cache.deallocate(b, 4096);
    cache.deallocate(c, 8192);
    const auto stats = cache.stats();
    EXPECT_EQ(stats.upstream_allocations, 3);
    EXPECT_EQ(stats.cache_hits, 1);
    EXPECT_EQ(stats.cached_bytes, 4096 + 4096 + 8192);
    EXPECT_EQ(stats.in_use_bytes, 0);
    EXPECT_EQ(upstream.frees, 0);  // held for reuse
  }
  // The cache's destruction gives every block back.
  EXPECT_EQ(upstream.frees, 3);
  EXPECT_EQ(upstream.live_bytes, 0);
  {
    CachingHostMemory cache(upstream);
    void* a = cache.allocate(100);
    void* b = cache.allocate(200);
    cache.deallocate(a, 100);
    const int frees_before = upstream.frees;
    cache.trim();  // the free block goes back; the one in use stays
    EXPECT_EQ(upstream.frees, frees_before + 1);
    EXPECT_EQ(cache.stats().cached_bytes, 0);
    cache.deallocate(b, 200);
  }
}

TEST(HostMemoryTest, SteadyBatchesAllocateOnlyOnce) {
  CountingMemory upstream;
  CachingHostMemory cache(upstream);
  for (int step = 0; step < 100; ++step) {
    HostVector<float> batch{HostAllocator<float>(&cache)};
    batch.resize(1000);
  }
  EXPECT_EQ(upstream.allocations, 1);
  EXPECT_EQ(cache.stats().cache_hits, 99);
}

TEST(HostMemoryTest, AllocatorTravelsWithTheBufferOnSwapAndMove) {
  CountingMemory pinned;
  HostVector<float> from_loader{HostAllocator<float>(&pinned)};
  from_loader.assign(256, 1.5f);
  const float* block = from_loader.data();
  HostVector<float> consumer;  // plain, as a batch starts out
  consumer.assign(16, 0.0f);

  std::swap(consumer, from_loader);  // how a loader hands a batch out
  EXPECT_EQ(consumer.data(), block) << "swapped without copying";
  EXPECT_EQ(consumer.get_allocator().memory(), &pinned);
  EXPECT_EQ(from_loader.get_allocator().memory(), &plain_host_memory());

  HostVector<float> moved;
  moved = std::move(consumer);
  EXPECT_EQ(moved.data(), block);
  EXPECT_EQ(moved.get_allocator().memory(), &pinned);
  EXPECT_EQ(pinned.allocations, 1);
  moved = HostVector<float>();
  EXPECT_EQ(pinned.frees, 1);
}

TEST(HostMemoryTest, UseHostMemoryRedirectsOnlyABufferFromElsewhere) {
  CountingMemory pinned;
  HostVector<float> v(10, 2.0f);  // plain
  use_host_memory(v, &pinned);
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.get_allocator().memory(), &pinned);
  v.resize(10);
  const float* block = v.data();
  use_host_memory(v, &pinned);  // already there: kept as is
  EXPECT_EQ(v.data(), block);
  EXPECT_EQ(v.size(), 10u);
  use_host_memory(v, nullptr);  // back to plain memory
  EXPECT_EQ(v.get_allocator().memory(), &plain_host_memory());
  EXPECT_EQ(pinned.live_bytes, 0);
}

}  // namespace
}  // namespace tb::tensor
