// The CUDA backend's memory figures, which the runner stores per step and as the run's peak:
// reserved_bytes and peak_reserved_bytes are the caching allocator's, reset_peak_memory() (the
// runner's call at a run's start, so a session's peak is its own) makes the peaks what is held
// now without freeing anything, and a later allocation from the device raises the peak again.
#include <gtest/gtest.h>

#include <cstdint>

#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1} << 20;

TEST(CudaMemory, ResetPeakMemoryStartsThePeaksFromWhatIsHeldNow) {
  TB_REQUIRE_GPU();
  // A backend of its own: the shared one's cache holds the other tests' blocks.
  const auto backend = make_cuda_backend(0);
  const CachingAllocator* allocator = device_allocator(*backend);
  ASSERT_NE(allocator, nullptr);
  const Tensor kept = backend->empty({kMiB});  // 4 MiB of f32
  {
    // 16 MiB, freed at the brace: back to the allocator's cache, still reserved.
    const Tensor freed = backend->empty({4 * kMiB});
  }
  backend->synchronize();
  const std::int64_t reserved = backend->reserved_bytes();
  EXPECT_EQ(reserved, allocator->stats().reserved_bytes);
  EXPECT_GE(reserved, 20 * kMiB);
  EXPECT_GE(backend->peak_reserved_bytes(), reserved);
  const AllocatorStats before = allocator->stats();
  EXPECT_GT(before.peak_allocated_bytes, before.allocated_bytes);  // the freed tensor's block

  backend->reset_peak_memory();
  EXPECT_EQ(backend->reserved_bytes(), reserved);  // nothing given back to the device
  EXPECT_EQ(backend->peak_reserved_bytes(), reserved);
  const AllocatorStats after = allocator->stats();
  EXPECT_EQ(after.peak_allocated_bytes, after.allocated_bytes);
  EXPECT_LT(after.peak_allocated_bytes, before.peak_allocated_bytes);

  // The cached 16 MiB block serves a tensor of its size: nothing new reserved, no new peak.
  const Tensor reused = backend->empty({4 * kMiB});
  EXPECT_EQ(backend->reserved_bytes(), reserved);
  EXPECT_EQ(backend->peak_reserved_bytes(), reserved);
  // 64 MiB, more than the cache holds: new device memory, and the peak rises with it.
  const Tensor more = backend->empty({16 * kMiB});
  EXPECT_GE(backend->reserved_bytes(), reserved + 64 * kMiB);
  EXPECT_EQ(backend->peak_reserved_bytes(), backend->reserved_bytes());
}

}  // namespace
}  // namespace tb::gpu::testing
