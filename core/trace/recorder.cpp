#include "core/trace/recorder.h"

#include <algorithm>
#include <atomic>

namespace tb::trace {

// A thread's spans. Its mutex is only ever contended by drain(), never by another recorder
// thread, so the hot path takes it uncontended.
struct Recorder::ThreadBuffer {
  std::thread::id owner;
  std::uint32_t thread = 0;
  std::string name;  // guarded by the recorder's registry mutex
  std::mutex mutex;
  std::vector<RecordedSpan> spans;
};

namespace {
std::atomic<std::uint64_t> next_recorder_id{1};

// The calling thread's buffer for the recorder it used last: one compare on the hot path.
struct ThreadCache {
  std::uint64_t recorder_id = 0;
  void* buffer = nullptr;
};
thread_local ThreadCache cache;
}  // namespace

Recorder::Recorder() : origin_(std::chrono::steady_clock::now()), id_(next_recorder_id++) {}
Recorder::~Recorder() = default;

Recorder::ThreadBuffer& Recorder::buffer_for_this_thread() {
  if (cache.recorder_id == id_) return *static_cast<ThreadBuffer*>(cache.buffer);
  std::lock_guard lock(registry_mutex_);
  // A thread that alternates between recorders finds its buffer again here.
  const auto owner = std::this_thread::get_id();
  for (auto& existing : buffers_) {
    if (existing->owner == owner) {
      cache = {id_, existing.get()};
      return *existing;
    }
  }
  auto buffer = std::make_unique<ThreadBuffer>();
  buffer->owner = owner;
  buffer->thread = static_cast<std::uint32_t>(buffers_.size());
  buffer->spans.reserve(4096);
  buffers_.push_back(std::move(buffer));
  cache = {id_, buffers_.back().get()};
  return *buffers_.back();
}

void Recorder::name_this_thread(std::string name) {
  ThreadBuffer& buffer = buffer_for_this_thread();
  const std::lock_guard lock(registry_mutex_);
  buffer.name = std::move(name);
}

std::string Recorder::track_name(std::uint32_t thread) {
  const std::lock_guard lock(registry_mutex_);
  if (thread < buffers_.size() && !buffers_[thread]->name.empty()) return buffers_[thread]->name;
  return "engine";
}

void Recorder::record(const char* name, Category category, std::int64_t start_ns,
                      std::int64_t end_ns, std::int64_t step) {
  ThreadBuffer& buffer = buffer_for_this_thread();
  std::lock_guard lock(buffer.mutex);
  buffer.spans.push_back({name, category, buffer.thread, start_ns, end_ns, step});
}

std::vector<RecordedSpan> Recorder::drain() {
  std::vector<RecordedSpan> all;
  {
    std::lock_guard lock(registry_mutex_);
    for (auto& buffer : buffers_) {
      std::lock_guard buffer_lock(buffer->mutex);
      all.insert(all.end(), buffer->spans.begin(), buffer->spans.end());
      buffer->spans.clear();
    }
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const RecordedSpan& a, const RecordedSpan& b) { return a.start_ns < b.start_ns; });
  return all;
}

}  // namespace tb::trace
