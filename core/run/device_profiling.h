// DeviceProfiling: a run's device activity tracing (profile.cupti on a CUDA device).
//
// It asks for the registered DeviceTracer, tags each phase of each step with an external id so
// the device work lands in its step, converts the activity into every trace batch the runner
// stores (live, at each flush), and measures what tracing costs: the first steps run untraced
// and timed, then the tracer starts and the same number of steps is timed with it, and the
// session keeps both rates and the overhead. A run too short for both windows is traced from the
// start, without an overhead figure.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/run/project.h"
#include "core/store/session_store.h"
#include "core/tensor/backend.h"
#include "core/tensor/tensor.h"
#include "core/trace/device_tracer.h"
#include "core/trace/recorder.h"

namespace tb::run {

// A GPU's properties as session params: device.N.name, .sm_count, .compute_capability ("9.0")
// and .memory_bytes. The runner stores them for every run on a GPU, traced or not.
store::Params device_params(const tensor::DeviceProperties& device);

class DeviceProfiling {
 public:
  // Steps [kUntracedFrom, kTracingStartsAfter] are timed untraced; the tracer starts after step
  // kTracingStartsAfter, and steps [kTracedFrom, kTracedTo] are timed with it. The first steps
  // of either window are left out: warm-up (allocations, cuBLAS heuristics, CUPTI's own start).
  static constexpr std::int64_t kUntracedFrom = 6;
  static constexpr std::int64_t kTracingStartsAfter = 25;
  static constexpr std::int64_t kTracedFrom = 31;
  static constexpr std::int64_t kTracedTo = 50;

  // No tracer on the CPU, with profile.cupti off, or where none is registered (then params()
  // says why). total_steps: the run's planned steps, to decide on the overhead windows.
  DeviceProfiling(const ProfileSettings& settings, tensor::Device device, trace::Recorder& recorder,
                  std::int64_t total_steps);
  ~DeviceProfiling();
  DeviceProfiling(const DeviceProfiling&) = delete;
  DeviceProfiling& operator=(const DeviceProfiling&) = delete;

  bool tracing() const { return tracer_ != nullptr && started_; }

  // Tags the device work launched while it lives with (step, phase).
  class Phase {
   public:
    Phase(DeviceProfiling& profiling, std::int64_t step, trace::Category phase);
    ~Phase();
    Phase(const Phase&) = delete;
    Phase& operator=(const Phase&) = delete;

   private:
    trace::DeviceTracer* tracer_;
  };

  // After each training step (its global number, its duration): the overhead windows, counted
  // in this session's steps, so a resumed run measures and starts tracing like a new one.
  void on_step(std::int64_t step, double seconds);
  // The activity since the last call, converted into `batch`; `final` flushes CUPTI's
  // partly filled buffers (the run's end) and stops the tracer. With profile.flush "step" the
  // partly filled buffers are flushed at every call (the runner then calls after every step).
  void append_to(trace::Trace& batch, bool final);
  // profile.cupti ("on", or "off: why"), dropped records, the overhead figures, the device.
  store::Params params() const;

 private:
  void start_tracer();

  std::unique_ptr<trace::DeviceTracer> tracer_;
  std::string off_reason_;  // why there is no tracing, when there is none
  bool wanted_ = false;     // profile.cupti on a CUDA device
  bool started_ = false;
  bool measure_overhead_ = false;
  bool flush_device_each_time_ = false;  // profile.flush "step"
  double untraced_s_ = 0.0, traced_s_ = 0.0;
  std::int64_t untraced_steps_ = 0, traced_steps_ = 0;
  std::int64_t steps_seen_ = 0;  // on_step calls: the windows count this session's steps
  trace::GpuActivityConverter converter_;
};

}  // namespace tb::run
