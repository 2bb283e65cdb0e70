// The CUPTI tracer on a real GPU: a known sequence of kernels and copies comes back with the
// right names, counts, streams and order, on the engine's clock, linked to its launches and its
// phase, with nothing dropped; a second tracer is refused with a reason; on the MLP project the
// tracing costs under 5% of step time.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/trace/recorder.h"
#include "gpu/cupti_tracer.h"
#include "tests/gpu/gpu_test_support.h"
#include "tests/support/test_data.h"

namespace tb::gpu::testing {
namespace {

trace::DeviceTracerOptions options_for(trace::Recorder& recorder) {
  trace::DeviceTracerOptions options;
  options.kinds = run::kAllCuptiKinds;
  options.now_ns = [&recorder] { return recorder.now_ns(); };
  return options;
}

TEST(CuptiTracer, AKnownSequenceComesBackWhole) {
  TB_REQUIRE_GPU();
  trace::Recorder recorder;
  auto tracer = make_cupti_tracer(options_for(recorder));
  if (const auto why = tracer->unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  Backend& gpu = *cuda();
  Tensor a = gpu.empty({256, 256}), b = gpu.empty({256, 256}), c = gpu.empty({256, 256});
  std::vector<float> host(256 * 256, 0.5f);
  gpu.synchronize();

  tracer->start();
  const std::int64_t before = recorder.now_ns();
  tracer->push_phase(trace::external_id_of(7, trace::Category::forward));
  gpu.upload(a, host.data(), host.size() * sizeof(float));    // HtoD
  gpu.upload(b, host.data(), host.size() * sizeof(float));    // HtoD
  gpu.fill(c, 0.0f);                                          // a kernel
  gpu.gemm(a, false, b, false, c);                            // cuBLAS kernel(s)
  gpu.scale(c, 2.0f);                                         // a kernel
  gpu.download(c, host.data(), host.size() * sizeof(float));  // DtoH
  tracer->pop_phase();
  const std::int64_t after = recorder.now_ns();
  const auto activity = tracer->take(true);

  EXPECT_EQ(activity.dropped_records, 0);
  const auto copies_of = [&](trace::GpuCopyKind kind) {
    return std::count_if(activity.copies.begin(), activity.copies.end(),
                         [&](const auto& c) { return c.kind == kind; });
  };
  EXPECT_EQ(copies_of(trace::GpuCopyKind::host_to_device), 2);
  EXPECT_EQ(copies_of(trace::GpuCopyKind::device_to_host), 1);
  ASSERT_GE(activity.kernels.size(), 3u);
  // One stream, in launch order: the fill first, the scale last.
  const auto stream = activity.kernels.front().stream;
  auto kernels = activity.kernels;
  std::sort(kernels.begin(), kernels.end(),
            [](const auto& x, const auto& y) { return x.start_ns < y.start_ns; });
  for (const auto& k : kernels) {
    EXPECT_EQ(k.stream, stream) << k.name;
    EXPECT_GE(k.start_ns, before) << k.name;
    EXPECT_LE(k.end_ns, after + 1'000'000) << k.name;  // on the engine's clock
    EXPECT_GT(k.block[0], 0) << k.name;
  }
  EXPECT_NE(kernels.front().name.find("fill"), std::string::npos) << kernels.front().name;
  EXPECT_NE(kernels.back().name.find("scale"), std::string::npos) << kernels.back().name;
  const bool has_launch = std::any_of(activity.api_calls.begin(), activity.api_calls.end(),
                                      [](const auto& a) { return a.name == "cudaLaunchKernel"; });
  EXPECT_TRUE(has_launch);

  // Converted: each kernel in step 7, each with a flow from its launch.
  trace::GpuActivityConverter converter(tracer->devices());
  trace::Trace t;
  converter.append(activity, t);
  t.finish();
  std::size_t kernel_spans = 0;
  for (const auto& span : t.spans()) {
    if (span.category != trace::Category::kernel) continue;
    ++kernel_spans;
    EXPECT_EQ(span.step, 7) << t.name(span.name);
  }
  EXPECT_EQ(kernel_spans, activity.kernels.size());
  EXPECT_GE(t.flows().size(), activity.kernels.size() + activity.copies.size());
  ASSERT_FALSE(tracer->devices().empty());
  EXPECT_GT(tracer->devices()[0].sm_count, 0);
}

TEST(CuptiTracer, ASecondTracerIsRefusedWithAReason) {
  TB_REQUIRE_GPU();
  trace::Recorder recorder;
  auto first = make_cupti_tracer(options_for(recorder));
  if (const auto why = first->unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
  auto second = make_cupti_tracer(options_for(recorder));
  EXPECT_NE(second->unavailable_reason().find("another run in this process"), std::string::npos)
      << second->unavailable_reason();
  EXPECT_TRUE(second->take(true).empty());
}

// The bar: CUPTI tracing adds < 5% to the MLP project's steps, drops nothing, and the
// session's trace holds the kernels.
TEST(CuptiTracer, MlpProjectOverheadIsUnderFivePercent) {
  TB_REQUIRE_GPU();
  const char* env = std::getenv("TRAINBENCH_FASHION_MNIST");
  const std::filesystem::path data = env ? env : "/usr/share/datasets/fashion-mnist";
  if (!std::filesystem::exists(data / "train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "no Fashion-MNIST at " << data << " (set TRAINBENCH_FASHION_MNIST)";
  }
  register_cuda_backend();
  register_cupti_tracer();
  tb::testing::TempDir dir;
  auto project = run::Project::load(std::filesystem::path(TRAINBENCH_SOURCE_DIR) / "projects" /
                                    "fashion_mlp.json");
  project.data.path = data.string();
  project.device = "cuda";
  project.train.epochs = 1;
  run::RunOptions options;
  options.db_path = dir / "s.db";
  const auto result = run::Runner(project, options).run();
  trace::register_device_tracer_factory({});
  ASSERT_EQ(result.status, "completed") << result.error;
  const store::SessionStore sessions(dir / "s.db", store::SessionStore::Mode::read_only);
  std::map<std::string, std::string> params;
  for (const auto& [k, v] : sessions.params(result.session)) params[k] = v;
  ASSERT_EQ(params["profile.cupti"], "on");
  EXPECT_EQ(params["profile.cupti_dropped_records"], "0");
  ASSERT_TRUE(params.contains("profile.cupti_overhead"));
  RecordProperty("cupti_overhead", params["profile.cupti_overhead"]);
  EXPECT_LT(std::stod(params["profile.cupti_overhead"]), 0.05);
  EXPECT_GT(std::stoll(params["profile.cupti_records"]), 1000);
}

}  // namespace
}  // namespace tb::gpu::testing
