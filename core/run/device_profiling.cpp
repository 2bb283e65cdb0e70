#include "core/run/device_profiling.h"

#include <sstream>

namespace tb::run {
namespace {

std::string fixed(double value, int digits) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(digits);
  out << value;
  return out.str();
}

}  // namespace

DeviceProfiling::DeviceProfiling(const ProfileSettings& settings, tensor::Device device,
                                 trace::Recorder& recorder, std::int64_t total_steps) {
  if (device != tensor::Device::cuda) return;  // nothing to trace on the CPU
  if (!settings.cupti) {
    off_reason_ = "off in the project (profile.cupti)";
    return;
  }
  wanted_ = true;
  flush_device_each_time_ = settings.flush == "step";
  trace::DeviceTracerOptions options;
  options.kinds = settings.kinds;
  options.now_ns = [&recorder] { return recorder.now_ns(); };
  try {
    tracer_ = trace::make_device_tracer(options);
  } catch (const std::exception& e) {
    off_reason_ = e.what();
    return;
  }
  if (!tracer_) {
    off_reason_ = "this build has no CUPTI tracer";
    return;
  }
  if (auto why = tracer_->unavailable_reason(); !why.empty()) {
    off_reason_ = std::move(why);
    tracer_.reset();
    return;
  }
  converter_ = trace::GpuActivityConverter(tracer_->devices());
  measure_overhead_ = total_steps >= kTracedTo;  // resumed runs: see on_step
  if (!measure_overhead_) start_tracer();
}

DeviceProfiling::~DeviceProfiling() {
  if (!tracer_) return;
  try {
    tracer_->stop();
  } catch (...) {
    // Tracing ends with the run; a failure to stop it changes nothing stored.
  }
}

void DeviceProfiling::start_tracer() {
  try {
    tracer_->start();
    started_ = true;
  } catch (const std::exception& e) {
    // The run goes on untraced; the session says why.
    off_reason_ = e.what();
    tracer_.reset();
  }
}

DeviceProfiling::Phase::Phase(DeviceProfiling& profiling, std::int64_t step, trace::Category phase)
    : tracer_(profiling.tracing() ? profiling.tracer_.get() : nullptr) {
  if (tracer_) tracer_->push_phase(trace::external_id_of(step, phase));
}

DeviceProfiling::Phase::~Phase() {
  if (tracer_) tracer_->pop_phase();
}

void DeviceProfiling::on_step(std::int64_t, double seconds) {
  if (!tracer_ || !measure_overhead_) return;
  // Counted from this session's first step: a resumed run starts at a later global step.
  const std::int64_t step = ++steps_seen_;
  if (step >= kUntracedFrom && step <= kTracingStartsAfter) {
    untraced_s_ += seconds;
    ++untraced_steps_;
  }
  if (step == kTracingStartsAfter) start_tracer();
  if (step >= kTracedFrom && step <= kTracedTo) {
    traced_s_ += seconds;
    ++traced_steps_;
  }
}

void DeviceProfiling::append_to(trace::Trace& batch, bool final) {
  if (!tracer_ || !started_) return;
  if (final) tracer_->stop();
  converter_.append(tracer_->take(final || flush_device_each_time_), batch);
}

store::Params DeviceProfiling::params() const {
  if (!wanted_ && off_reason_.empty()) return {};
  if (!tracer_) return {{"profile.cupti", "off: " + off_reason_}};
  store::Params out = {
      {"profile.cupti", "on"},
      {"profile.cupti_records", std::to_string(converter_.records_converted())},
      {"profile.cupti_dropped_records", std::to_string(converter_.dropped_records())}};
  if (untraced_steps_ > 0 && traced_steps_ > 0 && untraced_s_ > 0.0) {
    const double untraced = static_cast<double>(untraced_steps_) / untraced_s_;
    const double traced = static_cast<double>(traced_steps_) / traced_s_;
    out.push_back({"profile.steps_per_s_untraced", fixed(untraced, 2)});
    out.push_back({"profile.steps_per_s_traced", fixed(traced, 2)});
    // The share of step time tracing adds: 0.03 is 3% longer steps.
    out.push_back({"profile.cupti_overhead", fixed(untraced / traced - 1.0, 4)});
  }
  for (const auto& d : tracer_->devices()) {
    const auto device = device_params({d.device, d.name, d.sm_count, d.compute_major,
                                       d.compute_minor, static_cast<std::int64_t>(d.total_memory)});
    out.insert(out.end(), device.begin(), device.end());
  }
  return out;
}

store::Params device_params(const tensor::DeviceProperties& device) {
  const std::string prefix = "device." + std::to_string(device.index) + ".";
  return {{prefix + "name", device.name},
          {prefix + "sm_count", std::to_string(device.sm_count)},
          {prefix + "compute_capability",
           std::to_string(device.compute_major) + "." + std::to_string(device.compute_minor)},
          {prefix + "memory_bytes", std::to_string(device.memory_bytes)}};
}

}  // namespace tb::run
