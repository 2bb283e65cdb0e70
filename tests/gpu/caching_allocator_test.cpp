// The caching allocator over a host fake of device memory: blocks come back from the free lists
// (no device allocation in a steady state), size classes, counters, and out of memory as an
// error that gives the sizes. Runs without a GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "gpu/caching_allocator.h"

namespace tb::gpu {
namespace {

// Device memory of `limit` bytes, from the host heap.
class FakeDeviceMemory final : public RawDeviceMemory {
 public:
  explicit FakeDeviceMemory(std::size_t limit) : limit_(limit) {}
  void* allocate(std::size_t bytes) override {
    if (used_ + bytes > limit_) return nullptr;
    used_ += bytes;
    ++allocations;
    void* p = std::malloc(bytes);
    sizes_[p] = bytes;
    return p;
  }
  void free(void* block) override {
    used_ -= sizes_.at(block);
    sizes_.erase(block);
    ++frees;
    std::free(block);
  }
  std::pair<std::size_t, std::size_t> device_memory() const override {
    return {limit_ - used_, limit_};
  }
  std::size_t used() const { return used_; }
  int allocations = 0, frees = 0;

 private:
  std::size_t limit_, used_ = 0;
  std::map<void*, std::size_t> sizes_;
};

constexpr std::size_t kMiB = std::size_t{1} << 20;

TEST(CachingAllocator, SizeClassesRoundUpByAtMostAnEighth) {
  EXPECT_EQ(CachingAllocator::size_class(0), 512u);
  EXPECT_EQ(CachingAllocator::size_class(1), 512u);
  EXPECT_EQ(CachingAllocator::size_class(512), 512u);
  EXPECT_EQ(CachingAllocator::size_class(513), 1024u);
  EXPECT_EQ(CachingAllocator::size_class(kMiB), kMiB);
  EXPECT_EQ(CachingAllocator::size_class(kMiB + 1), 2 * kMiB);
  EXPECT_EQ(CachingAllocator::size_class(3 * kMiB), 4 * kMiB);
  EXPECT_EQ(CachingAllocator::size_class(100 * kMiB), 104 * kMiB);  // steps of 64/8 = 8 MiB
  for (std::size_t bytes = 1; bytes < (std::size_t{1} << 34); bytes = bytes * 3 + 7) {
    const std::size_t size = CachingAllocator::size_class(bytes);
    EXPECT_GE(size, bytes);
    if (bytes > 16 * kMiB) {
      EXPECT_LE(size - bytes, bytes / 8) << bytes;
    }
    EXPECT_EQ(CachingAllocator::size_class(size), size) << "a class is its own class";
  }
}

TEST(CachingAllocator, ASteadyStateStepAllocatesNothingFromTheDevice) {
  FakeDeviceMemory device(1024 * kMiB);
  CachingAllocator allocator(device);
  const std::vector<std::size_t> step = {4 * kMiB, 100'000, 100'000, 512, 33 * kMiB, 7};
  for (int s = 0; s < 10; ++s) {
    std::vector<void*> blocks;
    for (std::size_t bytes : step) blocks.push_back(allocator.allocate(bytes));
    EXPECT_EQ(std::set<void*>(blocks.begin(), blocks.end()).size(), blocks.size());
    for (void* b : blocks) allocator.free(b);
  }
  const AllocatorStats stats = allocator.stats();
  EXPECT_EQ(device.allocations, 6) << "only the first step's";
  EXPECT_EQ(stats.device_allocations, 6);
  EXPECT_EQ(stats.requests, 60);
  EXPECT_EQ(stats.cache_hits, 54);
  EXPECT_EQ(stats.allocated_bytes, 0);
  std::int64_t classes = 0;
  for (std::size_t bytes : step)
    classes += static_cast<std::int64_t>(CachingAllocator::size_class(bytes));
  EXPECT_EQ(stats.reserved_bytes, classes);
  EXPECT_EQ(stats.peak_allocated_bytes, classes);
  EXPECT_EQ(static_cast<std::int64_t>(device.used()), classes);
  allocator.release_cached();
  EXPECT_EQ(device.used(), 0u);
  EXPECT_EQ(allocator.stats().reserved_bytes, 0);
  EXPECT_EQ(device.frees, 6);
}

TEST(CachingAllocator, CountsAllocatedReservedAndPeaks) {
  FakeDeviceMemory device(64 * kMiB);
  CachingAllocator allocator(device);
  void* a = allocator.allocate(2 * kMiB);
  void* b = allocator.allocate(1000);
  EXPECT_EQ(allocator.stats().allocated_bytes, static_cast<std::int64_t>(2 * kMiB + 1024));
  allocator.free(a);
  AllocatorStats stats = allocator.stats();
  EXPECT_EQ(stats.allocated_bytes, 1024);
  EXPECT_EQ(stats.reserved_bytes, static_cast<std::int64_t>(2 * kMiB + 1024));
  EXPECT_EQ(stats.peak_allocated_bytes, static_cast<std::int64_t>(2 * kMiB + 1024));
  allocator.reset_peaks();
  EXPECT_EQ(allocator.stats().peak_allocated_bytes, 1024);
  EXPECT_EQ(allocator.stats().peak_reserved_bytes, static_cast<std::int64_t>(2 * kMiB + 1024));
  allocator.free(b);
  allocator.free(nullptr);  // ignored
  EXPECT_THROW(allocator.free(&stats), Error);
}

TEST(CachingAllocator, OutOfMemoryFirstReturnsTheCacheThenSaysHowMuch) {
  FakeDeviceMemory device(10 * kMiB);
  CachingAllocator allocator(device);
  // 8 MiB cached in another size class: the 6 MiB request fits only once it is returned.
  allocator.free(allocator.allocate(8 * kMiB));
  EXPECT_EQ(device.used(), 8 * kMiB);
  void* six = allocator.allocate(6 * kMiB);
  EXPECT_NE(six, nullptr);
  EXPECT_EQ(device.used(), 6 * kMiB);
  try {
    allocator.allocate(8 * kMiB);
    FAIL() << "10 MiB cannot hold 6 + 8";
  } catch (const OutOfDeviceMemory& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("out of device memory allocating 8.0 MiB"), std::string::npos)
        << message;
    EXPECT_NE(message.find("6.0 MiB allocated"), std::string::npos) << message;
    EXPECT_NE(message.find("4.0 MiB free of 10.0 MiB"), std::string::npos) << message;
  }
  // Nothing was lost: the 6 MiB block is still handed out and can be freed and reused.
  allocator.free(six);
  EXPECT_EQ(allocator.stats().allocated_bytes, 0);
  void* again = allocator.allocate(6 * kMiB);
  EXPECT_EQ(again, six) << "the cached block, not a new one";
  allocator.free(again);
}

TEST(CachingAllocator, ByteTextReadsLikeAPerson) {
  EXPECT_EQ(byte_text(512), "512 B");
  EXPECT_EQ(byte_text(1536), "1.5 KiB");
  EXPECT_EQ(byte_text(3 * 1024 * 1024), "3.0 MiB");
  EXPECT_EQ(byte_text(std::int64_t{3} << 29), "1.50 GiB");
}

}  // namespace
}  // namespace tb::gpu
