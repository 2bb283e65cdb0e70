// A DeviceTracer registered in place of CUPTI: it logs what it is asked (phases pushed, starts,
// takes and flushes, stops) and hands over one kernel per take(), so the runner's and
// DeviceProfiling's use of a tracer is tested without a GPU.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/trace/device_tracer.h"
#include "core/trace/gpu_activity.h"

namespace tb::testing {

struct FakeTracerLog {
  std::vector<std::uint64_t> pushed;
  int pops = 0;
  int starts = 0;
  int stops = 0;
  int takes = 0;
  bool flushed = false;
  int flushes = 0;  // take(true) calls
  std::string unavailable;
  trace::DeviceTracerOptions options;
};

class FakeTracer final : public trace::DeviceTracer {
 public:
  explicit FakeTracer(FakeTracerLog& log) : log_(log) {}
  void start() override { ++log_.starts; }
  std::string unavailable_reason() const override { return log_.unavailable; }
  void push_phase(std::uint64_t id) override { log_.pushed.push_back(id); }
  void pop_phase() override { ++log_.pops; }
  trace::GpuActivity take(bool flush_device) override {
    ++log_.takes;
    log_.flushed = log_.flushed || flush_device;
    log_.flushes += flush_device ? 1 : 0;
    trace::GpuActivity a;
    trace::GpuKernelRecord k;
    k.name = "kernel " + std::to_string(log_.takes);
    k.start_ns = 10 * log_.takes;
    k.end_ns = k.start_ns + 5;
    a.kernels.push_back(k);
    a.dropped_records = 1;
    return a;
  }
  std::vector<trace::GpuDeviceLimits> devices() const override {
    trace::GpuDeviceLimits d;
    d.name = "Fake GPU";
    d.sm_count = 132;
    d.compute_major = 9;
    d.total_memory = 80;
    return {d};
  }
  void stop() override { ++log_.stops; }

 private:
  FakeTracerLog& log_;
};

// A FakeTracer registered as the process's device tracer while this lives; `log` records what
// every tracer made from it was asked.
struct RegisteredFakeTracer {
  FakeTracerLog log;
  RegisteredFakeTracer() {
    trace::register_device_tracer_factory([this](const trace::DeviceTracerOptions& options) {
      log.options = options;
      return std::make_unique<FakeTracer>(log);
    });
  }
  ~RegisteredFakeTracer() { trace::register_device_tracer_factory({}); }
  RegisteredFakeTracer(const RegisteredFakeTracer&) = delete;
  RegisteredFakeTracer& operator=(const RegisteredFakeTracer&) = delete;
};

}  // namespace tb::testing
