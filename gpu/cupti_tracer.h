// CuptiTracer: trace::DeviceTracer over CUPTI's Activity API.
//
// Buffers of 4 MB are handed to CUPTI from a pool; CUPTI's "buffer completed" callback only
// queues the buffer and returns, and a parser thread of the tracer turns its records into
// trace::GpuActivity records (so CUPTI's own thread never waits on us). Timestamps come from
// the engine's clock through CUPTI's timestamp callback, so kernels and the engine's spans share
// one time axis. When the pool is exhausted CUPTI drops records; the tracer asks CUPTI for the
// count and reports it with the activity, never silently.
//
// CUPTI is process-wide: one tracer at a time. Where CUPTI cannot be loaded or another
// subscriber (Nsight Systems, a second tracer) holds it, unavailable_reason() says so and the
// run goes on without kernel tracing.
#pragma once

#include <memory>

#include "core/trace/device_tracer.h"

namespace tb::gpu {

std::unique_ptr<trace::DeviceTracer> make_cupti_tracer(const trace::DeviceTracerOptions& options);

// Makes make_cupti_tracer what trace::make_device_tracer() uses (the app calls it at start).
void register_cupti_tracer();

}  // namespace tb::gpu
