// DeviceTracer: device activity tracing (the CUPTI tracer of gpu/) as the runner sees it.
//
// core/ cannot call gpu/, so gpu/ registers a factory at start (as it does for the CUDA backend)
// and the runner asks make_device_tracer() for one when a project on a CUDA device has
// profile.cupti on. Without a registered factory, or where the device cannot be traced, the run
// goes on without kernel tracing and says why in the session.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/trace/gpu_activity.h"

namespace tb::trace {

struct DeviceTracerOptions {
  std::vector<std::string> kinds;       // of run::kAllCuptiKinds
  std::size_t buffer_bytes = 4u << 20;  // each buffer handed to CUPTI
  std::size_t max_buffers = 64;         // in the pool; beyond, records are dropped (counted)
  // The engine's clock (Recorder::now_ns), onto which device timestamps are put.
  std::function<std::int64_t()> now_ns;
};

class DeviceTracer {
 public:
  virtual ~DeviceTracer() = default;
  // Starts collecting (collection is off until then, so a run can time steps without it).
  virtual void start() = 0;
  // Why activity is not being collected (another CUPTI subscriber, no device); empty when it is.
  virtual std::string unavailable_reason() const = 0;
  // Around each phase of a step: the device work launched inside is tagged with `external_id`
  // (gpu_activity.h: external_id_of), which puts it in that step.
  virtual void push_phase(std::uint64_t external_id) = 0;
  virtual void pop_phase() = 0;
  // The activity completed since the last call, timestamps on the engine's clock. With
  // `flush_device`, CUPTI's partly filled buffers are handed over first (the end of a run, or
  // a live view that wants the latest step).
  virtual GpuActivity take(bool flush_device) = 0;
  // The traced devices' properties, for the occupancy estimate and the session.
  virtual std::vector<GpuDeviceLimits> devices() const = 0;
  // Stops collecting and hands over what is left through the next take().
  virtual void stop() = 0;
};

using DeviceTracerFactory =
    std::function<std::unique_ptr<DeviceTracer>(const DeviceTracerOptions&)>;
void register_device_tracer_factory(DeviceTracerFactory factory);
// The registered factory's tracer; null when none is registered (a build without CUDA).
std::unique_ptr<DeviceTracer> make_device_tracer(const DeviceTracerOptions& options);

}  // namespace tb::trace
