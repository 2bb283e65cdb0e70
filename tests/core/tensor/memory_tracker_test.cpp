#include "core/tensor/memory_tracker.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "core/tensor/cpu_backend.h"

namespace tb::tensor {
namespace {

struct Collector : AllocationObserver {
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> events;  // (delta, allocated after)
  void on_allocation(Device device, std::int64_t delta, std::int64_t allocated) override {
    if (device != Device::cpu) return;
    std::lock_guard lock(mutex);
    events.emplace_back(delta, allocated);
  }
};

TEST(MemoryTracker, CountsEveryCpuBufferAllocatedAndFreed) {
  auto backend = make_cpu_backend(1);
  const MemoryStats before = memory_stats(Device::cpu);
  Collector collector;
  {
    ScopedAllocationObserver listening(&collector);
    {
      Tensor a = backend->empty(Shape({100}), DType::f32);  // 400 bytes
      Tensor b = backend->empty(Shape({10, 10}), DType::bf16);  // 200 bytes
      const MemoryStats during = memory_stats(Device::cpu);
      EXPECT_EQ(during.allocated_bytes - before.allocated_bytes, 600);
      EXPECT_GE(during.peak_bytes, during.allocated_bytes);
      EXPECT_EQ(during.allocations - before.allocations, 2);
      Tensor view = a.reshape(Shape({10, 10}));  // shares a's buffer: no allocation
      EXPECT_EQ(memory_stats(Device::cpu).allocations - before.allocations, 2);
    }
    const MemoryStats after = memory_stats(Device::cpu);
    EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
    EXPECT_EQ(after.frees - before.frees, 2);
  }
  ASSERT_EQ(collector.events.size(), 4u);
  EXPECT_EQ(collector.events[0].first, 400);
  EXPECT_EQ(collector.events[1].first, 200);
  EXPECT_EQ(collector.events[1].second, before.allocated_bytes + 600);
  EXPECT_EQ(collector.events[2].first + collector.events[3].first, -600);
  EXPECT_EQ(collector.events[3].second, before.allocated_bytes);
  // Once the observer is gone it hears nothing more.
  { Tensor c = backend->empty(Shape({8}), DType::f32); }
  EXPECT_EQ(collector.events.size(), 4u);
}

TEST(MemoryTracker, PeakKeepsTheHighestLiveTotalUntilReset) {
  auto backend = make_cpu_backend(1);
  reset_peak(Device::cpu);
  const std::int64_t base = memory_stats(Device::cpu).allocated_bytes;
  { Tensor big = backend->empty(Shape({1 << 16}), DType::f32); }
  EXPECT_EQ(memory_stats(Device::cpu).peak_bytes, base + (1 << 18));
  reset_peak(Device::cpu);
  EXPECT_EQ(memory_stats(Device::cpu).peak_bytes, base);
}

}  // namespace
}  // namespace tb::tensor
