// The real CUPTI tracer where there is no GPU (a CI runner, a laptop): making one never crashes
// and either says why it cannot trace or, made, starts, hands over nothing and stops harmlessly;
// a run profiled on "cuda" through the factory gpu/ registers stores profile.cupti "off: why"
// instead of failing. These run here; with a GPU, cupti_tracer_test.cpp covers the tracer.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "core/run/device_profiling.h"
#include "core/trace/device_tracer.h"
#include "core/trace/recorder.h"
#include "gpu/cupti_tracer.h"
#include "gpu/device.h"

namespace tb::gpu::testing {
namespace {

// Registers gpu/'s tracer factory for the test's lifetime (the registry is process-wide), and
// takes it back out however the test ends.
struct RegisteredCuptiTracer {
  RegisteredCuptiTracer() { register_cupti_tracer(); }
  ~RegisteredCuptiTracer() { trace::register_device_tracer_factory({}); }
  RegisteredCuptiTracer(const RegisteredCuptiTracer&) = delete;
  RegisteredCuptiTracer& operator=(const RegisteredCuptiTracer&) = delete;
};

class CuptiTracerWithoutGpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!list_devices().empty()) GTEST_SKIP() << "a GPU is here: cupti_tracer_test.cpp runs";
  }

  trace::DeviceTracerOptions options() {
    trace::DeviceTracerOptions o;
    o.kinds = run::kAllCuptiKinds;
    o.now_ns = [this] { return recorder_.now_ns(); };
    return o;
  }

  trace::Recorder recorder_;
};

TEST_F(CuptiTracerWithoutGpu, SaysWhyOrTracesNothingHarmlessly) {
  const RegisteredCuptiTracer registered;
  // Through the registered factory, as the runner gets it.
  auto tracer = trace::make_device_tracer(options());
  ASSERT_NE(tracer, nullptr) << "gpu/'s registration gave no tracer";
  const std::string why = tracer->unavailable_reason();
  RecordProperty("unavailable_reason", why);
  if (why.empty()) {
    // CUPTI let itself be claimed without a device: nothing ran, so nothing comes back, and
    // every call of a run's life goes through.
    tracer->start();
    tracer->push_phase(trace::external_id_of(1, trace::Category::forward));
    tracer->pop_phase();
    const auto activity = tracer->take(true);
    EXPECT_TRUE(activity.empty());
    EXPECT_EQ(activity.dropped_records, 0);
    tracer->stop();
    EXPECT_TRUE(tracer->take(true).empty());
  } else {
    // Unavailable: every call of a run's life is a no-op (start() and take() check first).
    tracer->start();
    EXPECT_TRUE(tracer->take(true).empty());
    tracer->stop();
    EXPECT_TRUE(tracer->devices().empty());
  }
  tracer.reset();
  // Gone, it leaves CUPTI as it found it: a second tracer says the same.
  EXPECT_EQ(trace::make_device_tracer(options())->unavailable_reason(), why);
}

TEST_F(CuptiTracerWithoutGpu, AProfiledCudaRunSaysTracingIsOffAndWhy) {
  const RegisteredCuptiTracer registered;
  const std::string why = trace::make_device_tracer(options())->unavailable_reason();
  ASSERT_FALSE(why.empty()) << "without a GPU the tracer should say why it cannot trace";
  const run::ProfileSettings settings{true, run::kAllCuptiKinds};
  run::DeviceProfiling profiling(settings, tensor::Device::cuda, recorder_, 1000);
  EXPECT_FALSE(profiling.tracing());
  std::map<std::string, std::string> params;
  for (const auto& [k, v] : profiling.params()) params[k] = v;
  EXPECT_EQ(params["profile.cupti"], "off: " + why);
  // Nothing besides: no record counts, no overhead, no device.
  EXPECT_EQ(params.size(), 1u);
  // A run's steps and its end go through untraced.
  for (std::int64_t step = 1; step <= run::DeviceProfiling::kTracedTo; ++step) {
    { const run::DeviceProfiling::Phase tag(profiling, step, trace::Category::forward); }
    profiling.on_step(step, 0.01);
  }
  trace::Trace batch;
  profiling.append_to(batch, true);
  batch.finish();
  EXPECT_TRUE(batch.spans().empty());
  EXPECT_TRUE(batch.counters().empty());
}

}  // namespace
}  // namespace tb::gpu::testing
