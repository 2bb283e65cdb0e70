#include "core/tensor/host_memory.h"

#include <new>

namespace tb::tensor {
namespace {

constexpr std::align_val_t kHostAlignment{64};

class PlainHostMemory final : public HostMemory {
 public:
  void* allocate(std::size_t bytes) override { return ::operator new(bytes, kHostAlignment); }
  void deallocate(void* block, std::size_t) override { ::operator delete(block, kHostAlignment); }
  bool pinned() const override { return false; }
};

}  // namespace

HostMemory& plain_host_memory() {
  // Never destroyed: vectors in static objects may free into it during exit.
  static auto* memory = new PlainHostMemory;
  return *memory;
}

CachingHostMemory::~CachingHostMemory() {
  for (const auto& [bytes, block] : free_) upstream_.deallocate(block, bytes);
}

void* CachingHostMemory::allocate(std::size_t bytes) {
  {
    const std::lock_guard lock(mutex_);
    if (const auto it = free_.find(bytes); it != free_.end()) {
      void* block = it->second;
      free_.erase(it);
      ++stats_.cache_hits;
      stats_.cached_bytes -= static_cast<std::int64_t>(bytes);
      stats_.in_use_bytes += static_cast<std::int64_t>(bytes);
      return block;
    }
  }
  // Outside the lock: pinning takes long, and other threads' cache hits need not wait for it.
  void* block = upstream_.allocate(bytes);
  const std::lock_guard lock(mutex_);
  ++stats_.upstream_allocations;
  stats_.in_use_bytes += static_cast<std::int64_t>(bytes);
  return block;
}

void CachingHostMemory::deallocate(void* block, std::size_t bytes) {
  const std::lock_guard lock(mutex_);
  free_.emplace(bytes, block);
  stats_.cached_bytes += static_cast<std::int64_t>(bytes);
  stats_.in_use_bytes -= static_cast<std::int64_t>(bytes);
}

void CachingHostMemory::trim() {
  std::multimap<std::size_t, void*> free;
  {
    const std::lock_guard lock(mutex_);
    free.swap(free_);
    stats_.cached_bytes = 0;
  }
  for (const auto& [bytes, block] : free) upstream_.deallocate(block, bytes);
}

CachingHostMemory::Stats CachingHostMemory::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace tb::tensor
