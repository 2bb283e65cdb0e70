#include "core/tensor/memory_tracker.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <vector>

namespace tb::tensor {
namespace {

constexpr std::size_t kDevices = 2;  // Device::cpu, Device::cuda

struct DeviceCounters {
  std::atomic<std::int64_t> allocated{0};
  std::atomic<std::int64_t> peak{0};
  std::atomic<std::int64_t> allocations{0};
  std::atomic<std::int64_t> frees{0};
};

struct Tracker {
  std::array<DeviceCounters, kDevices> devices;
  // Observers are few and change once a run; the atomic count lets allocations skip the lock
  // when nobody listens.
  std::mutex observers_mutex;
  std::vector<AllocationObserver*> observers;
  std::atomic<int> observer_count{0};
};

Tracker& tracker() {
  static Tracker instance;  // never destroyed before the last tensor: buffers are freed earlier
  return instance;
}

DeviceCounters& counters(Device device) {
  return tracker().devices[std::min<std::size_t>(static_cast<std::size_t>(device), kDevices - 1)];
}

void notify(Device device, std::int64_t delta, std::int64_t allocated) {
  Tracker& t = tracker();
  if (t.observer_count.load(std::memory_order_acquire) == 0) return;
  std::lock_guard lock(t.observers_mutex);
  for (auto* observer : t.observers) observer->on_allocation(device, delta, allocated);
}

}  // namespace

MemoryStats memory_stats(Device device) {
  const DeviceCounters& c = counters(device);
  return {c.allocated.load(), c.peak.load(), c.allocations.load(), c.frees.load()};
}

void reset_peak(Device device) {
  DeviceCounters& c = counters(device);
  c.peak.store(c.allocated.load());
}

void note_allocated(Device device, std::size_t bytes) {
  DeviceCounters& c = counters(device);
  const auto delta = static_cast<std::int64_t>(bytes);
  const std::int64_t now = c.allocated.fetch_add(delta) + delta;
  c.allocations.fetch_add(1, std::memory_order_relaxed);
  std::int64_t peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
  notify(device, delta, now);
}

void note_freed(Device device, std::size_t bytes) {
  DeviceCounters& c = counters(device);
  const auto delta = -static_cast<std::int64_t>(bytes);
  const std::int64_t now = c.allocated.fetch_add(delta) + delta;
  c.frees.fetch_add(1, std::memory_order_relaxed);
  notify(device, delta, now);
}

ScopedAllocationObserver::ScopedAllocationObserver(AllocationObserver* observer)
    : observer_(observer) {
  Tracker& t = tracker();
  std::lock_guard lock(t.observers_mutex);
  t.observers.push_back(observer_);
  t.observer_count.fetch_add(1, std::memory_order_release);
}

ScopedAllocationObserver::~ScopedAllocationObserver() {
  Tracker& t = tracker();
  std::lock_guard lock(t.observers_mutex);
  t.observers.erase(std::find(t.observers.begin(), t.observers.end(), observer_));
  t.observer_count.fetch_sub(1, std::memory_order_release);
}

}  // namespace tb::tensor
