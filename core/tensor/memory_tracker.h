// Tensor memory over time: every backend buffer's allocation and free is counted here, per
// device, and reported to the observers that are listening (the runner, which records them as the
// trace's "memory allocated" counter). Process-wide, like a CUDA caching allocator's statistics:
// two runs at once in one process see each other's tensors.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor/tensor.h"

namespace tb::tensor {

struct MemoryStats {
  std::int64_t allocated_bytes = 0;  // live now
  std::int64_t peak_bytes = 0;       // most live at once since the process started (or reset)
  std::int64_t allocations = 0;      // buffers allocated so far
  std::int64_t frees = 0;
};

// Told of every allocation and free, after the totals changed; may be called from any thread
// that allocates or frees a tensor, so it must be thread-safe and quick.
class AllocationObserver {
 public:
  virtual ~AllocationObserver() = default;
  // delta_bytes > 0: an allocation; < 0: a free. allocated_bytes: the device's live total after.
  virtual void on_allocation(Device device, std::int64_t delta_bytes,
                             std::int64_t allocated_bytes) = 0;
};

MemoryStats memory_stats(Device device);
void reset_peak(Device device);  // the peak becomes the current live total

// Registers `observer` for as long as this object lives.
class ScopedAllocationObserver {
 public:
  explicit ScopedAllocationObserver(AllocationObserver* observer);
  ~ScopedAllocationObserver();
  ScopedAllocationObserver(const ScopedAllocationObserver&) = delete;
  ScopedAllocationObserver& operator=(const ScopedAllocationObserver&) = delete;

 private:
  AllocationObserver* observer_;
};

// For backends: call after allocating and before freeing a buffer's memory.
void note_allocated(Device device, std::size_t bytes);
void note_freed(Device device, std::size_t bytes);

}  // namespace tb::tensor
