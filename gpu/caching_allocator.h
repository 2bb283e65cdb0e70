// CachingAllocator: device memory handed out from size-class free lists, so a training step that
// allocates the same tensors as the step before reuses their blocks and calls cudaMalloc not at
// all (cudaMalloc and cudaFree synchronise the device and cost tens of microseconds each).
//
// The logic is plain C++ over a RawDeviceMemory (cudaMalloc / cudaFree in the CUDA backend, a
// host fake in the tests), so it is tested on a machine without a GPU. Blocks are reused in
// stream order: the backend issues every kernel on one stream, so a block freed after the kernels
// that used it were queued can be handed to the next kernel on that stream at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/util/error.h"

namespace tb::gpu {

// Where blocks come from: allocate returns nullptr when the device is out of memory.
class RawDeviceMemory {
 public:
  virtual ~RawDeviceMemory() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void free(void* block) = 0;
  // Free and total device memory, for the out-of-memory message (0, 0 where unknown).
  virtual std::pair<std::size_t, std::size_t> device_memory() const { return {0, 0}; }
};

// Out of device memory even after returning every cached block: the message gives the request,
// what is allocated and reserved, and the device's free and total memory.
class OutOfDeviceMemory : public Error {
 public:
  using Error::Error;
};

struct AllocatorStats {
  std::int64_t allocated_bytes = 0;  // in blocks handed out now (size classes, not requests)
  std::int64_t reserved_bytes = 0;   // held from the device: handed out plus cached
  std::int64_t peak_allocated_bytes = 0;
  std::int64_t peak_reserved_bytes = 0;
  std::int64_t device_allocations = 0;  // RawDeviceMemory::allocate calls that succeeded
  std::int64_t device_frees = 0;
  std::int64_t cache_hits = 0;  // requests served from a free list
  std::int64_t requests = 0;
};

class CachingAllocator {
 public:
  explicit CachingAllocator(RawDeviceMemory& raw) : raw_(raw) {}
  ~CachingAllocator();  // returns the cached blocks (blocks still handed out are leaked, loudly)
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // A block of at least `bytes` (a size class: size_class(bytes)). Throws OutOfDeviceMemory.
  void* allocate(std::size_t bytes);
  // Back to its size class's free list (not to the device). nullptr is ignored; a pointer this
  // allocator did not hand out throws.
  void free(void* block);
  // Returns every cached block to the device (after an out-of-memory, or when asked).
  void release_cached();
  AllocatorStats stats() const;
  void reset_peaks();  // the peaks become the current totals

  // The block size a request gets: multiples of 512 bytes up to 1 MiB; beyond, multiples of
  // 2 MiB or of an eighth of the request's power of two, whichever is larger (at most 1/8 of a
  // large block is rounding).
  static std::size_t size_class(std::size_t bytes);

 private:
  void* allocate_from_device(std::size_t bytes);
  void release_cached_locked();

  RawDeviceMemory& raw_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;     // size class -> cached blocks
  std::unordered_map<void*, std::size_t> handed_out_;  // block -> its size class
  AllocatorStats stats_;
};

// A human-readable byte count: "1.50 GiB", "512 B".
std::string byte_text(std::int64_t bytes);

}  // namespace tb::gpu
