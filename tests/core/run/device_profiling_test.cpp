// DeviceProfiling with a fake tracer registered in place of CUPTI: when it traces, how it tags
// phases, when the tracer starts (after the untraced window), what the session is told.
#include "core/run/device_profiling.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "tests/support/fake_device_tracer.h"

namespace tb::run {
namespace {

class DeviceProfilingTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> params(const DeviceProfiling& p) {
    std::map<std::string, std::string> out;
    for (const auto& [k, v] : p.params()) out[k] = v;
    return out;
  }

  tb::testing::RegisteredFakeTracer tracer_;
  tb::testing::FakeTracerLog& log_ = tracer_.log;
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

TEST_F(DeviceProfilingTest, FlushEachStepHandsOverCuptisPartlyFilledBuffersWithoutStopping) {
  settings_.flush = "step";
  DeviceProfiling p(settings_, tensor::Device::cuda, recorder_, 20);
  for (int call = 1; call <= 3; ++call) {
    trace::Trace batch;
    p.append_to(batch, false);
    EXPECT_EQ(log_.flushes, call);
    EXPECT_EQ(batch.spans().size(), 1u);
  }
  EXPECT_EQ(log_.stops, 0);
  EXPECT_TRUE(p.tracing());
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
