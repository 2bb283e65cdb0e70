// DeviceProfiling with a fake tracer registered in place of CUPTI: when it traces, how it tags
// phases, when the tracer starts (after the untraced window), what the session is told.
#include "core/run/device_profiling.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace tb::run {
namespace {

struct FakeTracerLog {
  std::vector<std::uint64_t> pushed;
  int pops = 0;
  int starts = 0;
  int stops = 0;
  int takes = 0;
  bool flushed = false;
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

class DeviceProfilingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    trace::register_device_tracer_factory([this](const trace::DeviceTracerOptions& options) {
      log_.options = options;
      return std::make_unique<FakeTracer>(log_);
    });
  }
  void TearDown() override { trace::register_device_tracer_factory({}); }

  std::map<std::string, std::string> params(const DeviceProfiling& p) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : p.params()) out[k] = v;
    return out;
  }

  FakeTracerLog log_;
  trace::Recorder recorder_;
  ProfileSettings settings_{true, kAllCuptiKinds};
};

TEST_F(DeviceProfilingTest, NothingOnTheCpu) {
  DeviceProfiling p(settings_, tensor::Device::cpu, recorder_, 1000);
  EXPECT_FALSE(p.tracing());
  EXPECT_TRUE(p.params().empty());
  { const DeviceProfiling::Phase tag(p, 1, trace::Category::forward); }
  EXPECT_TRUE(log_.pushed.empty());
}

TEST_F(DeviceProfilingTest, OffInTheProjectOrWithoutATracerSaysWhy) {
  settings_.cupti = false;
  DeviceProfiling off(settings_, tensor::Device::cuda, recorder_, 1000);
  EXPECT_EQ(params(off)["profile.cupti"], "off: off in the project (profile.cupti)");
  settings_.cupti = true;
  trace::register_device_tracer_factory({});
  DeviceProfiling none(settings_, tensor::Device::cuda, recorder_, 1000);
  EXPECT_EQ(params(none)["profile.cupti"], "off: this build has no CUPTI tracer");
}

TEST_F(DeviceProfilingTest, AnotherSubscriberTurnsTracingOffWithTheReason) {
  log_.unavailable = "another profiler holds CUPTI (CUPTI_ERROR_MULTIPLE_SUBSCRIBERS)";
  DeviceProfiling p(settings_, tensor::Device::cuda, recorder_, 1000);
  EXPECT_FALSE(p.tracing());
  EXPECT_EQ(params(p)["profile.cupti"], "off: " + log_.unavailable);
  trace::Trace batch;
  p.append_to(batch, true);
  EXPECT_TRUE(batch.spans().empty());
}

TEST_F(DeviceProfilingTest, StartsAfterTheUntracedWindowAndMeasuresTheOverhead) {
  settings_.kinds = {"kernel", "runtime"};
  DeviceProfiling p(settings_, tensor::Device::cuda, recorder_, 1000);
  EXPECT_EQ(log_.options.kinds, settings_.kinds);
  EXPECT_FALSE(p.tracing());
  for (std::int64_t step = 1; step <= DeviceProfiling::kTracedTo; ++step) {
    { const DeviceProfiling::Phase tag(p, step, trace::Category::backward); }
    // Untraced steps of 10 ms, traced ones of 10.5 ms.
    p.on_step(step, step > DeviceProfiling::kTracingStartsAfter ? 0.0105 : 0.010);
    EXPECT_EQ(log_.starts, step >= DeviceProfiling::kTracingStartsAfter ? 1 : 0) << step;
  }
  // Phases are tagged only while tracing.
  ASSERT_EQ(log_.pushed.size(), static_cast<std::size_t>(DeviceProfiling::kTracedTo -
                                                         DeviceProfiling::kTracingStartsAfter));
  EXPECT_EQ(log_.pops, static_cast<int>(log_.pushed.size()));
  EXPECT_EQ(trace::step_of_external_id(log_.pushed.front()),
            DeviceProfiling::kTracingStartsAfter + 1);
  EXPECT_EQ(trace::phase_of_external_id(log_.pushed.front()), trace::Category::backward);

  trace::Trace live, last;
  p.append_to(live, false);
  EXPECT_FALSE(log_.flushed);
  p.append_to(last, true);
  EXPECT_TRUE(log_.flushed);
  EXPECT_EQ(log_.stops, 1);
  ASSERT_EQ(live.spans().size(), 1u);
  EXPECT_EQ(live.track(live.spans()[0].track).kind, trace::TrackKind::gpu_stream);

  auto stored = params(p);
  EXPECT_EQ(stored["profile.cupti"], "on");
  EXPECT_EQ(stored["profile.cupti_records"], "2");
  EXPECT_EQ(stored["profile.cupti_dropped_records"], "2");
  EXPECT_EQ(stored["profile.steps_per_s_untraced"], "100.00");
  EXPECT_EQ(stored["profile.steps_per_s_traced"], "95.24");
  EXPECT_EQ(stored["profile.cupti_overhead"], "0.0500");
  EXPECT_EQ(stored["device.0.name"], "Fake GPU");
  EXPECT_EQ(stored["device.0.sm_count"], "132");
  EXPECT_EQ(stored["device.0.compute_capability"], "9.0");
}

TEST_F(DeviceProfilingTest, AShortRunIsTracedFromTheStartWithoutAnOverheadFigure) {
  DeviceProfiling p(settings_, tensor::Device::cuda, recorder_, 20);
  EXPECT_TRUE(p.tracing());
  EXPECT_EQ(log_.starts, 1);
  for (std::int64_t step = 1; step <= 20; ++step) p.on_step(step, 0.01);
  EXPECT_EQ(params(p).count("profile.cupti_overhead"), 0u);
}

}  // namespace
}  // namespace tb::run
