// Recorder: the engine's spans (each step and its phases, each loader worker's decoding) and
// counters (queue depth, loss scale, tensor memory), collected per thread.
//
// The hot path takes no lock and allocates nothing but, once every kEventsPerBlock events, a new
// block: each thread appends to its own chain of blocks and publishes how far it has written with
// one release store. drain() (any one thread at a time) reads what every thread has published
// and frees the blocks their writers have left. Names are string literals (they live for the
// whole program), so recording copies a pointer, not a string; drain_into() interns them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/trace/model.h"
#include "core/trace/trace_clock.h"

namespace tb::trace {

struct RecordedSpan {
  const char* name = "";  // a string literal: lives for the whole program
  Category category = Category::other;
  bool counter = false;       // a counter sample: value at start_ns (end_ns == start_ns)
  std::uint32_t thread = 0;   // index of the recording thread, in order of first use
  std::int64_t start_ns = 0;  // since the recorder's origin
  std::int64_t end_ns = 0;
  std::int64_t step = 0;
  double value = 0.0;  // counters only
};

namespace detail {

inline constexpr std::uint32_t kEventsPerBlock = 1024;

// A fixed array of events. Its writer fills it front to back and publishes the count; once full
// it links a successor and never touches it again, which is when the drainer may take it.
struct RecorderBlock {
  std::atomic<std::uint32_t> published{0};    // events [0, published) are written
  std::atomic<RecorderBlock*> next{nullptr};  // set by the writer when this block is full
  std::uint32_t consumed = 0;                 // drainer only: events [0, consumed) drained
  RecordedSpan events[kEventsPerBlock];
};

// The calling thread's buffer for the recorder it used last: one compare on the hot path.
struct RecorderThreadCache {
  std::uint64_t recorder_id = 0;
  RecorderBlock** tail = nullptr;  // the buffer's current block
  std::uint32_t* fill = nullptr;   // events written into it
  void* buffer = nullptr;          // the Recorder::ThreadBuffer
};
inline thread_local RecorderThreadCache recorder_cache;

}  // namespace detail

class Recorder {
 public:
  static constexpr std::uint32_t kEventsPerBlock = detail::kEventsPerBlock;

  Recorder();
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Nanoseconds since this recorder was made (see TraceClock: the TSC where it is invariant).
  std::int64_t now_ns() const { return clock_.now_ns(); }
  void record(const char* name, Category category, std::int64_t start_ns, std::int64_t end_ns,
              std::int64_t step) {
    append({name, category, false, 0, start_ns, end_ns, step, 0.0});
  }
  // A counter's value at time_ns ("loader queue depth", "memory allocated (cpu)").
  void record_counter(const char* name, std::int64_t time_ns, double value) {
    append({name, Category::other, true, 0, time_ns, time_ns, 0, value});
  }
  // Names the calling thread's track ("loader worker 1"); unnamed threads are "engine".
  void name_this_thread(std::string name);
  // The track name of recording thread `thread` (RecordedSpan::thread).
  std::string track_name(std::uint32_t thread);
  // Every span and counter sample recorded since the last drain, from all threads, ordered by
  // start. One thread drains at a time (drains are serialized by a lock).
  std::vector<RecordedSpan> drain();
  // Drains into `batch`: a track per recording thread (the loader's workers as loader_worker
  // tracks, the rest cpu_thread, process "trainbench"), names interned, counters by name with
  // `unit` "" (or "bytes" for names starting "memory"). Returns the number of events moved.
  std::size_t drain_into(Trace& batch);

 private:
  using Block = detail::RecorderBlock;
  struct ThreadBuffer;

  void append(const RecordedSpan& event) {
    if (detail::recorder_cache.recorder_id != id_) [[unlikely]]
      register_this_thread();
    if (*detail::recorder_cache.fill == kEventsPerBlock) [[unlikely]]
      next_block();
    Block* block = *detail::recorder_cache.tail;
    const std::uint32_t at = (*detail::recorder_cache.fill)++;
    block->events[at] = event;
    block->published.store(at + 1, std::memory_order_release);
  }
  void next_block();
  void register_this_thread();

  TraceClock clock_;
  std::uint64_t id_;           // distinguishes recorders in the per-thread cache
  std::mutex registry_mutex_;  // guards buffers_ and thread names; held by drain
  std::vector<std::unique_ptr<ThreadBuffer>> buffers_;
};

// Records [construction, destruction) as one span.
class ScopedSpan {
 public:
  ScopedSpan(Recorder* recorder, const char* name, Category category, std::int64_t step)
      : recorder_(recorder),
        name_(name),
        category_(category),
        step_(step),
        start_(recorder ? recorder->now_ns() : 0) {}
  ~ScopedSpan() {
    if (recorder_) recorder_->record(name_, category_, start_, recorder_->now_ns(), step_);
  }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  Recorder* recorder_;
  const char* name_;
  Category category_;
  std::int64_t step_;
  std::int64_t start_;
};

}  // namespace tb::trace
