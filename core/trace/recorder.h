// Recorder: the engine's spans (each step and its phases), collected per thread.
//
// The hot path appends to the calling thread's own buffer: no allocation of names (they are
// string literals) and no lock shared with other threads. drain() hands the collected spans to
// the runner, which stores them with the session.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {


struct RecordedSpan {
  const char* name = "";  // a string literal: lives for the whole program
  Category category = Category::other;
  std::uint32_t thread = 0;   // index of the recording thread, in order of first use
  std::int64_t start_ns = 0;  // since the recorder's origin
  std::int64_t end_ns = 0;
  std::int64_t step = 0;
};

class Recorder {
 public:
  Recorder();
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Nanoseconds since this recorder was made (steady clock).
  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                origin_)
        .count();
  }
  void record(const char* name, Category category, std::int64_t start_ns, std::int64_t end_ns,
              std::int64_t step);
  // Names the calling thread's track ("loader worker 1"); unnamed threads are "engine".
  void name_this_thread(std::string name);
  // The track name of recording thread `thread` (Span::thread).
  std::string track_name(std::uint32_t thread);
  // Every span recorded since the last drain, from all threads, ordered by start.
  std::vector<RecordedSpan> drain();

 private:
  struct ThreadBuffer;
  ThreadBuffer& buffer_for_this_thread();

  std::chrono::steady_clock::time_point origin_;
  std::uint64_t id_;  // distinguishes recorders in the per-thread cache
  std::mutex registry_mutex_;
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
