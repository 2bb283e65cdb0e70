// The one trace model: the engine's own spans, loader workers, CUPTI kernels and imported PyTorch
// profiler traces all become a Trace — tracks, spans, counters, flows and interned names — so
// every analysis and every view works on each of them.
//
// Times are nanoseconds since the trace's origin (the run's start; for an imported trace, its
// first event). A Trace is built once (recorded, loaded or imported), then read-only: analyses
// and views share it as std::shared_ptr<const Trace>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ds/string_interner.h"
#include "core/util/typed_id.h"

namespace tb::trace {

using NameId = ds::NameId;                     // an interned string of Trace::names (1, 2, ...)
using TrackId = TypedId<struct TrackTag>;      // Trace::tracks[value - 1]
using ArgsId = TypedId<struct ArgsTag>;        // Trace::args[value - 1]; 0: the span has none
using CounterId = TypedId<struct CounterTag>;  // Trace::counters[value - 1]

// What a span is. The engine records the first seven; imports and CUPTI add the rest.
enum class Category : std::uint8_t {
  step,           // one training step (ProfilerStep#N when imported)
  data,           // waiting for / loading a batch (DataLoader ranges when imported)
  forward,        // forward pass (the engine's phase, or a user annotation)
  backward,       // backward pass
  optimizer,      // optimizer update
  eval,           // evaluation outside training steps
  other,          // anything else the engine records
  cpu_op,         // a host-side operator (aten::conv2d, Operator, cpu_op)
  runtime,        // a CUDA runtime/driver call (cudaLaunchKernel, cudaMemcpyAsync)
  kernel,         // a GPU kernel
  memcpy,         // a GPU copy
  memset,         // a GPU memset
  communication,  // collectives (NCCL kernels, MPI calls)
  sync,           // host waits for the device (cudaDeviceSynchronize, cuda_sync)
  annotation,     // a user range (record_function, user_annotation) of no known phase
};
inline constexpr int kCategoryCount = 15;
const char* category_name(Category category);
// The category named `name` (as category_name writes it); nullopt for any other text.
std::optional<Category> category_from_name(std::string_view name);
// Kernels, copies, memsets and communication run on a device; the rest on a host thread.
bool is_device_category(Category category);

enum class TrackKind : std::uint8_t {
  cpu_thread,     // a host thread: the training loop, a PyTorch thread
  loader_worker,  // one of the data loader's worker threads
  gpu_stream,     // a CUDA stream
  rank,           // one process of a distributed run, when a track stands for a whole rank
};
const char* track_kind_name(TrackKind kind);
std::optional<TrackKind> track_kind_from_name(std::string_view name);

struct Track {
  std::string name;  // "engine", "loader worker 1", "stream 7", "thread 1234 (python)"
  TrackKind kind = TrackKind::cpu_thread;
  std::string process;    // the row group: "trainbench", "CPU 1234", "GPU 0"; may be empty
  std::int64_t rank = 0;  // the process rank in a distributed run; 0 otherwise
};

struct Span {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;  // >= start_ns
  std::int64_t step = 0;    // the training step it belongs to; 0: none known
  TrackId track;
  NameId name;
  ArgsId args;  // invalid (0): no args
  Category category = Category::other;
};

struct CounterPoint {
  std::int64_t time_ns = 0;
  double value = 0.0;
};

// A value over time: memory allocated / reserved, queue depth, loss scale.
struct Counter {
  std::string name;                  // "memory allocated (cpu)", "loader queue depth", "loss_scale"
  std::string unit;                  // "bytes", "batches", "" (a plain number)
  std::vector<CounterPoint> points;  // by time
};

// An arrow between two spans: a kernel launch to its kernel (PyTorch's ac2g / async flows), a
// batch handed from a loader worker to the training loop. Each end is the span on `track`
// enclosing `time_ns`.
struct Flow {
  std::uint64_t id = 0;
  TrackId from_track;
  std::int64_t from_ns = 0;
  TrackId to_track;
  std::int64_t to_ns = 0;
};

class Trace {
 public:
  Trace() = default;
  Trace(Trace&&) noexcept = default;
  Trace& operator=(Trace&&) noexcept = default;
  Trace(const Trace&) = delete;
  Trace& operator=(const Trace&) = delete;

  // --- building ---------------------------------------------------------------------------
  TrackId add_track(Track track);
  // The track named `name` in `process`, added with `kind` when there is none.
  TrackId track_named(std::string_view name, TrackKind kind, std::string_view process = {});
  NameId intern(std::string_view name) { return names_.intern(name); }
  // args: a JSON object's text ({"grid": [1, 2, 1], "stream": 7}); empty or "{}" gives no id.
  ArgsId add_args(std::string json_object_text);
  void add_span(const Span& span) { spans_.push_back(span); }
  CounterId add_counter(std::string name, std::string unit);
  void add_counter_point(CounterId counter, std::int64_t time_ns, double value);
  void add_flow(const Flow& flow) { flows_.push_back(flow); }
  // Sorts spans by (start, longer first), counters' points and flows by time. Call once after
  // building and before reading through the accessors below that need order.
  void finish();

  // --- reading ----------------------------------------------------------------------------
  const std::vector<Track>& tracks() const { return tracks_; }
  const Track& track(TrackId id) const {
    return tracks_.at(static_cast<std::size_t>(id.value - 1));
  }
  const std::vector<Span>& spans() const { return spans_; }  // by start after finish()
  const std::vector<Counter>& counters() const { return counters_; }
  const Counter& counter(CounterId id) const {
    return counters_.at(static_cast<std::size_t>(id.value - 1));
  }
  std::optional<CounterId> find_counter(std::string_view name) const;
  const std::vector<Flow>& flows() const { return flows_; }
  std::string_view name(NameId id) const { return names_.name(id); }
  const ds::StringInterner& names() const { return names_; }
  // The args' JSON text ("" when the span has none).
  std::string_view args(ArgsId id) const;
  std::size_t args_count() const { return args_.size(); }

  // First span start / last span end over all spans (0, 0 when empty).
  std::int64_t begin_ns() const;
  std::int64_t end_ns() const;

  // Where the trace came from and what it says about itself: "source" ("trainbench",
  // "pytorch-kineto", "pytorch-legacy"), "file", "deviceProperties", skipped-event counts.
  nlohmann::json metadata = nlohmann::json::object();

 private:
  ds::StringInterner names_;
  std::vector<Track> tracks_;
  std::vector<Span> spans_;
  std::vector<std::string> args_;
  std::vector<Counter> counters_;
  std::vector<Flow> flows_;
};

}  // namespace tb::trace
