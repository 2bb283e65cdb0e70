// Host memory for data on its way to a device: where the loader's batches are decoded into.
//
// A GPU copies from page-locked ("pinned") host memory by DMA, asynchronously and at full link
// speed; from ordinary pageable memory the driver first copies through a bounce buffer and the
// copy cannot overlap compute. So a backend may hand the data pipeline its own HostMemory (the
// CUDA backend's is pinned), and the loader's workers decode each batch straight into it: no extra
// host copy, and the upload starts the moment the batch is taken.
//
// HostVector<T> is a std::vector drawing from a HostMemory. Its allocator travels with the buffer
// on move and swap (propagate_on_container_*), so a batch handed from a loader's slot to the
// training loop and back keeps its pinned block instead of being copied into plain memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

namespace tb::tensor {

class HostMemory {
 public:
  virtual ~HostMemory() = default;
  // At least `bytes` (> 0), aligned to 64 bytes. Throws on failure (std::bad_alloc or tb::Error).
  virtual void* allocate(std::size_t bytes) = 0;
  // A block from allocate() of this object, with the same `bytes`.
  virtual void deallocate(void* block, std::size_t bytes) = 0;
  // Whether a device can copy from it asynchronously (page-locked memory).
  virtual bool pinned() const = 0;
  // Gives back memory held for reuse (a cache's free blocks); for the end of a run, so the next
  // one, with other batch sizes, does not keep this one's pinned pages.
  virtual void trim() {}
};

// Ordinary heap memory (operator new, 64-byte aligned); the default of every HostVector.
HostMemory& plain_host_memory();

// Keeps freed blocks by size and hands them out again: page-locking memory costs about a
// millisecond per megabyte, so pinned batches must be allocated once and then reused. The
// batches of one run are all one size, so exact sizes suffice. Thread-safe (loader workers
// allocate, the training thread frees). Cached blocks go back to `upstream` at destruction.
class CachingHostMemory final : public HostMemory {
 public:
  // `upstream` must outlive this object.
  explicit CachingHostMemory(HostMemory& upstream) : upstream_(upstream) {}
  ~CachingHostMemory() override;
  CachingHostMemory(const CachingHostMemory&) = delete;
  CachingHostMemory& operator=(const CachingHostMemory&) = delete;

  void* allocate(std::size_t bytes) override;
  void deallocate(void* block, std::size_t bytes) override;
  bool pinned() const override { return upstream_.pinned(); }
  void trim() override;

  struct Stats {
    std::int64_t upstream_allocations = 0;
    std::int64_t cache_hits = 0;
    std::int64_t cached_bytes = 0;  // free, held for reuse
    std::int64_t in_use_bytes = 0;  // handed out now
  };
  Stats stats() const;

 private:
  HostMemory& upstream_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> free_;  // size -> cached block
  Stats stats_;
};

template <class T>
class HostAllocator {
 public:
  using value_type = T;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;

  HostAllocator() noexcept : memory_(&plain_host_memory()) {}
  explicit HostAllocator(HostMemory* memory) noexcept
      : memory_(memory != nullptr ? memory : &plain_host_memory()) {}
  template <class U>
  HostAllocator(const HostAllocator<U>& other) noexcept : memory_(other.memory()) {}

  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { memory_->deallocate(p, n * sizeof(T)); }
  HostMemory* memory() const noexcept { return memory_; }

  template <class U>
  bool operator==(const HostAllocator<U>& other) const noexcept {
    return memory_ == other.memory();
  }

 private:
  static_assert(alignof(T) <= 64, "HostMemory aligns to 64 bytes");
  HostMemory* memory_;
};

template <class T>
using HostVector = std::vector<T, HostAllocator<T>>;

// `v` emptied and drawing from `memory` (plain when null) from now on, unless it already does:
// how a loader makes sure the buffer it decodes into is the device's pinned memory.
template <class T>
void use_host_memory(HostVector<T>& v, HostMemory* memory) {
  const HostAllocator<T> wanted(memory);
  if (v.get_allocator() == wanted) return;
  v = HostVector<T>(wanted);
}

}  // namespace tb::tensor
