#include "gpu/caching_allocator.h"

#include <algorithm>
#include <bit>
#include <cstdio>

namespace tb::gpu {
namespace {

constexpr std::size_t kSmallStep = 512;
constexpr std::size_t kSmallLimit = std::size_t{1} << 20;  // 1 MiB
constexpr std::size_t kLargeStep = std::size_t{2} << 20;   // 2 MiB

std::size_t round_up(std::size_t bytes, std::size_t step) {
  return (bytes + step - 1) / step * step;
}

}  // namespace

std::string byte_text(std::int64_t bytes) {
  const double b = static_cast<double>(bytes);
  char text[48];
  if (bytes < 1024) {
    std::snprintf(text, sizeof text, "%lld B", static_cast<long long>(bytes));
  } else if (b < 1024.0 * 1024) {
    std::snprintf(text, sizeof text, "%.1f KiB", b / 1024);
  } else if (b < 1024.0 * 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f MiB", b / (1024.0 * 1024));
  } else {
    std::snprintf(text, sizeof text, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  }
  return text;
}

std::size_t CachingAllocator::size_class(std::size_t bytes) {
  if (bytes <= kSmallLimit) return round_up(std::max<std::size_t>(bytes, 1), kSmallStep);
  const std::size_t eighth = std::bit_floor(bytes) / 8;
  return round_up(bytes, std::max(kLargeStep, eighth));
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
  if (!handed_out_.empty()) {
    std::fprintf(stderr, "trainbench: %zu device block(s) still in use when the allocator ended\n",
                 handed_out_.size());
  }
}

void* CachingAllocator::allocate(std::size_t bytes) {
  const std::size_t size = size_class(bytes);
  std::lock_guard lock(mutex_);
  ++stats_.requests;
  void* block = nullptr;
  if (auto it = free_.find(size); it != free_.end() && !it->second.empty()) {
    block = it->second.back();
    it->second.pop_back();
    ++stats_.cache_hits;
  } else {
    block = allocate_from_device(size);
  }
  handed_out_.emplace(block, size);
  stats_.allocated_bytes += static_cast<std::int64_t>(size);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return block;
}

void* CachingAllocator::allocate_from_device(std::size_t size) {
  void* block = raw_.allocate(size);
  if (!block) {
    // Cached blocks of other sizes may be what stands in the way: give them back and try again.
    release_cached_locked();
    block = raw_.allocate(size);
  }
  if (!block) {
    const auto [free_bytes, total_bytes] = raw_.device_memory();
    std::string message = "out of device memory allocating " +
                          byte_text(static_cast<std::int64_t>(size)) + ": " +
                          byte_text(stats_.allocated_bytes) + " allocated by tensors, " +
                          byte_text(stats_.reserved_bytes) + " reserved";
    if (total_bytes > 0) {
      message += ", " + byte_text(static_cast<std::int64_t>(free_bytes)) + " free of " +
                 byte_text(static_cast<std::int64_t>(total_bytes)) + " on the device";
    }
    throw OutOfDeviceMemory(message + " (a smaller batch size or bf16 storage needs less)");
  }
  ++stats_.device_allocations;
  stats_.reserved_bytes += static_cast<std::int64_t>(size);
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  return block;
}

void CachingAllocator::free(void* block) {
  if (!block) return;
  std::lock_guard lock(mutex_);
  const auto it = handed_out_.find(block);
  if (it == handed_out_.end()) throw Error("device allocator: freeing a block it did not hand out");
  const std::size_t size = it->second;
  handed_out_.erase(it);
  stats_.allocated_bytes -= static_cast<std::int64_t>(size);
  free_[size].push_back(block);
}

void CachingAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  for (auto& [size, blocks] : free_) {
    for (void* block : blocks) {
      raw_.free(block);
      ++stats_.device_frees;
      stats_.reserved_bytes -= static_cast<std::int64_t>(size);
    }
  }
  free_.clear();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peaks() {
  std::lock_guard lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace tb::gpu
