// The step breakdown on hand-built traces whose answers are worked out by hand in the comments.
#include "core/trace/breakdown.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/trace/step_phase.h"
#include "tests/support/cupti_run_builder.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

using tb::testing::TraceBuilder;

std::int64_t part(const StepBreakdown& step, StepPart p) {
  return step.part_ns[static_cast<std::size_t>(p)];
}

double mean(const BreakdownReport& report, StepPart p) {
  return report.mean_part_ns[static_cast<std::size_t>(p)];
}

// An imported PyTorch-style trace of two steps of 100 ns on a main thread, autograd's thread and
// two GPU streams, with a loader worker and a profiler-session range that must not count.
Trace imported_trace() {
  TraceBuilder b;
  const auto main = b.track("thread 1 (python)", TrackKind::cpu_thread, "CPU 1");
  const auto autograd = b.track("thread 2", TrackKind::cpu_thread, "CPU 1");
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  const auto stream2 = b.track("stream 9", TrackKind::gpu_stream, "GPU 0");
  const auto worker = b.track("loader worker 1", TrackKind::loader_worker, "CPU 1");
  const auto session = b.track("PyTorch Profiler", TrackKind::cpu_thread, "Traces");
  b.span(session, "PyTorch Profiler (0)", Category::annotation, 0, 300);
  b.span(worker, "decode", Category::data, 0, 200);
  // Kineto copies host ranges onto the stream (gpu_user_annotation): no device activity.
  b.span(stream, "ProfilerStep#1", Category::annotation, 0, 100);

  // Step 1, [0, 100):
  //   0-30 data (the DataLoader range; its cpu_op inside is data too)
  //  30-32 idle; 32-35 forward CPU (aten::conv2d); 35-40 runtime (launch, kernel not yet running)
  //  40-70 forward kernel (launched from inside aten::conv2d)
  //  70-72 idle; 72-74 backward CPU (autograd thread); 74-76 runtime; 76-78 backward CPU
  //  78-85 backward kernel; 85-90 backward CPU
  //  90-92 optimizer CPU; 92-94 memcpy; 94-96 optimizer CPU; 96-97 runtime; 97-98 optimizer CPU
  //  98-100 idle
  // data 30, forward 33, backward 16, optimizer 5, memcpy 2, runtime 8, idle 6; device busy 39.
  b.span(main, "ProfilerStep#1", Category::step, 0, 100);
  b.span(main, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", Category::data, 0,
         30);
  b.span(main, "aten::stack", Category::cpu_op, 5, 20);
  b.span(main, "aten::conv2d", Category::cpu_op, 32, 62);
  b.span(main, "cudaLaunchKernel", Category::runtime, 35, 60);
  b.span(stream, "conv_kernel", Category::kernel, 40, 70);
  b.flow(main, 35, stream, 40);
  b.span(autograd, "autograd::engine::evaluate_function: ConvolutionBackward0", Category::cpu_op,
         72, 90);
  b.span(autograd, "cudaLaunchKernel", Category::runtime, 74, 76);
  b.span(stream, "conv_backward_kernel", Category::kernel, 78, 85);
  b.flow(autograd, 74, stream, 78);
  b.span(main, "Optimizer.step#SGD.step", Category::cpu_op, 90, 98);
  b.span(stream, "Memcpy DtoD", Category::memcpy, 92, 94);
  b.span(main, "cudaLaunchKernel", Category::runtime, 96, 97);

  // Step 2, [100, 200):
  // 100-110 optimizer kernel (launched at 96 from Optimizer.step, runs into this step)
  // 110-150 idle; 150-160 data; 160-200 forward CPU (aten::relu) except
  // 170-180 a kernel with no flow (forward: the host's phase at its start) and
  // 185-195 an NCCL kernel on another stream (communication beats CPU).
  // optimizer 10, idle 40, data 10, forward 30, communication 10; device busy 30.
  b.span(stream, "sgd_kernel", Category::kernel, 100, 110);
  b.flow(main, 96, stream, 100);
  b.span(main, "ProfilerStep#2", Category::step, 100, 200);
  b.span(main, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", Category::data, 150,
         160);
  b.span(main, "aten::relu", Category::cpu_op, 160, 200);
  b.span(stream, "relu_kernel", Category::kernel, 170, 180);
  b.span(stream2, "ncclKernel_AllReduce_RING_LL_Sum_float", Category::kernel, 185, 195);
  return b.build();
}

TEST(StepBreakdown, ImportedTraceSplitsEachStepByPriorityAndPhase) {
  const Trace trace = imported_trace();
  const auto report = step_breakdown(trace);
  ASSERT_EQ(report.steps.size(), 2u);
  const auto& s1 = report.steps[0];
  EXPECT_EQ(s1.step, 1);
  EXPECT_EQ(s1.start_ns, 0);
  EXPECT_EQ(s1.end_ns, 100);
  EXPECT_EQ(part(s1, StepPart::data), 30);
  EXPECT_EQ(part(s1, StepPart::forward), 33);
  EXPECT_EQ(part(s1, StepPart::backward), 16);
  EXPECT_EQ(part(s1, StepPart::optimizer), 5);
  EXPECT_EQ(part(s1, StepPart::memcpy), 2);
  EXPECT_EQ(part(s1, StepPart::runtime), 8);
  EXPECT_EQ(part(s1, StepPart::communication), 0);
  EXPECT_EQ(part(s1, StepPart::other), 0);
  EXPECT_EQ(part(s1, StepPart::idle), 6);

  const auto& s2 = report.steps[1];
  EXPECT_EQ(s2.step, 2);
  EXPECT_EQ(part(s2, StepPart::optimizer), 10);
  EXPECT_EQ(part(s2, StepPart::idle), 40);
  EXPECT_EQ(part(s2, StepPart::data), 10);
  EXPECT_EQ(part(s2, StepPart::forward), 30);
  EXPECT_EQ(part(s2, StepPart::communication), 10);
  for (const auto& s : report.steps) {
    EXPECT_EQ(std::accumulate(s.part_ns.begin(), s.part_ns.end(), std::int64_t{0}), 100);
  }

  // Two steps: no warm-up step is left out of the means.
  EXPECT_EQ(report.warmup_steps_skipped, 0);
  EXPECT_DOUBLE_EQ(report.mean_step_ns, 100.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::data), 20.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::forward), 31.5);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::backward), 8.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::optimizer), 7.5);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::communication), 5.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::memcpy), 1.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::runtime), 4.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::idle), 23.0);
  EXPECT_EQ(report.device_tracks, 2);
  ASSERT_TRUE(report.gpu_idle_share.has_value());
  EXPECT_DOUBLE_EQ(*report.gpu_idle_share, 1.0 - (39.0 + 30.0) / 200.0);
}

// The engine's own trace: phase spans on the training loop's track, decoding on loader workers,
// unphased work counted as `other`; three steps, the first left out of the means as warm-up.
TEST(StepBreakdown, EngineTraceUsesPhaseSpansAndSkipsTheWarmUpStep) {
  TraceBuilder b;
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto worker = b.track("loader worker 1", TrackKind::loader_worker);
  // Warm-up step 1: [0, 1000), all forward.
  b.span(engine, "step", Category::step, 0, 1000, 1);
  b.span(engine, "forward", Category::forward, 0, 1000, 1);
  // Steps 2 and 3, 100 ns each: data 20, forward 30, backward 30, optimizer 10, idle 2+4,
  // other 4 (an unphased span between the optimizer and the step's end).
  for (std::int64_t step = 2; step <= 3; ++step) {
    const std::int64_t t = 1000 + (step - 2) * 100;
    b.span(engine, "step", Category::step, t, t + 100, step);
    b.span(engine, "data", Category::data, t, t + 20, step);
    b.span(engine, "forward", Category::forward, t + 20, t + 50, step);
    b.span(engine, "backward", Category::backward, t + 50, t + 80, step);
    b.span(engine, "optimizer", Category::optimizer, t + 80, t + 90, step);
    b.span(engine, "metrics", Category::other, t + 92, t + 96, step);
    b.span(worker, "decode", Category::data, t, t + 100, step);
  }
  b.trace.finish();
  const auto report = step_breakdown(b.trace);
  ASSERT_EQ(report.steps.size(), 3u);
  EXPECT_EQ(report.steps[0].step, 1);
  EXPECT_EQ(part(report.steps[0], StepPart::forward), 1000);
  EXPECT_EQ(report.warmup_steps_skipped, 1);
  EXPECT_DOUBLE_EQ(report.mean_step_ns, 100.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::data), 20.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::forward), 30.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::backward), 30.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::optimizer), 10.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::other), 4.0);
  EXPECT_DOUBLE_EQ(mean(report, StepPart::idle), 6.0);
  EXPECT_FALSE(report.gpu_idle_share.has_value());
  EXPECT_EQ(report.device_tracks, 0);
}

// An engine GPU session: the engine's phase spans, and CUPTI's launches and kernels converted
// by GpuActivityConverter. A kernel counts in the phase it was launched in, found through its
// launch on the "CUDA API" track (which marks no phase of its own) back to the engine's phase
// at that moment; not `other`, and not the phase running when the kernel starts (the second
// forward kernel runs while the host is already in backward).
TEST(StepBreakdown, ConvertedKernelsCountInThePhaseThatLaunchedThem) {
  tb::testing::CuptiRunBuilder run;
  // Each step of 1000 ns, from t:
  //     0-100 data; 100-110 forward CPU; 110-130 runtime (launch A); 130-200 forward CPU
  //   200-300 kernel A (forward); 300-320 runtime (launch B); 320-400 forward CPU
  //   400-420 backward CPU; 420-470 kernel B (launched in forward); 470-500 backward CPU
  //   500-520 runtime (launch C); 520-530 backward CPU; 530-700 kernel C; 700-800 backward CPU
  //   800-810 optimizer CPU; 810-820 runtime (launch D); 820-830 optimizer CPU;
  //   830-900 kernel D; 900-950 optimizer CPU; 950-1000 idle
  // data 100, forward 10+70+100+80+50 = 310, backward 20+30+10+170+100 = 330,
  // optimizer 10+10+70+50 = 140, runtime 70, idle 50, other 0.
  run.steps(3, 1000, [&](std::int64_t step, std::int64_t t) {
    run.engine_span("data", Category::data, t, t + 100, step);
    run.engine_span("forward", Category::forward, t + 100, t + 400, step);
    run.engine_span("backward", Category::backward, t + 400, t + 800, step);
    run.engine_span("optimizer", Category::optimizer, t + 800, t + 950, step);
    run.launch(step, Category::forward, "gemm_a", t + 110, t + 130, t + 200, t + 300);
    run.launch(step, Category::forward, "relu_b", t + 300, t + 320, t + 420, t + 470);
    run.launch(step, Category::backward, "gemm_c", t + 500, t + 520, t + 530, t + 700);
    run.launch(step, Category::optimizer, "adam_d", t + 810, t + 820, t + 830, t + 900);
  });
  const Trace trace = run.build();
  const auto report = step_breakdown(trace);
  ASSERT_EQ(report.steps.size(), 3u);
  EXPECT_EQ(report.device_tracks, 1);
  for (const auto& s : report.steps) {
    EXPECT_EQ(part(s, StepPart::data), 100) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::forward), 310) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::backward), 330) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::optimizer), 140) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::runtime), 70) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::other), 0) << "step " << s.step;
    EXPECT_EQ(part(s, StepPart::idle), 50) << "step " << s.step;
  }
  ASSERT_TRUE(report.gpu_idle_share.has_value());
  EXPECT_DOUBLE_EQ(*report.gpu_idle_share, 1.0 - 390.0 / 1000.0);
}

TEST(StepBreakdown, NoStepSpansGiveNoSteps) {
  TraceBuilder b;
  const auto engine = b.track("engine");
  b.span(engine, "forward", Category::forward, 0, 10);
  b.trace.finish();
  const auto report = step_breakdown(b.trace);
  EXPECT_TRUE(report.steps.empty());
  EXPECT_EQ(report.mean_step_ns, 0.0);
  EXPECT_TRUE(step_breakdown(Trace{}).steps.empty());
}

TEST(StepPhase, NamesThatSetAPhase) {
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "CudnnConvolutionBackward"), Phase::backward);
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "ReluBackward1"), Phase::backward);
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "AddmmBackward0"), Phase::backward);
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "torch::autograd::AccumulateGrad"), Phase::backward);
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "aten::convolution_backward"), Phase::none);
  EXPECT_EQ(phase_defined_by(Category::cpu_op, "Optimizer.zero_grad#SGD.zero_grad"),
            Phase::optimizer);
  EXPECT_EQ(phase_defined_by(Category::annotation, "forward"), Phase::forward);
  EXPECT_EQ(phase_defined_by(Category::annotation, "Backward"), Phase::backward);
  EXPECT_EQ(phase_defined_by(Category::runtime, "backward"), Phase::none);
  EXPECT_EQ(activity_of(Category::cpu_op, "enumerate(DataLoader)#_X.__next__"), Activity::data);
  EXPECT_EQ(activity_of(Category::kernel, "ncclDevKernel_AllReduce"), Activity::communication);
  EXPECT_EQ(activity_of(Category::sync, "cudaDeviceSynchronize"), Activity::runtime);
}

// Random nested traces: whatever the overlap, every step's parts add up to the step, and a trace
// of many steps is swept in one pass (this one has ~60k spans).
TEST(StepBreakdown, PartsAlwaysAddUpToTheStep) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::int64_t> length(1, 400), gap(0, 50);
  std::uniform_int_distribution<int> pick(0, kCategoryCount - 1);
  TraceBuilder b;
  const auto host = b.track("main");
  const auto other = b.track("thread 2");
  const auto gpu = b.track("stream 7", TrackKind::gpu_stream);
  std::int64_t t = 0;
  constexpr int kSteps = 2000;
  for (int step = 1; step <= kSteps; ++step) {
    const std::int64_t start = t;
    for (int i = 0; i < 10; ++i) {
      const auto a = t + gap(rng);
      const auto e = a + length(rng);
      const auto category = static_cast<Category>(pick(rng));
      if (category == Category::step) continue;
      b.span(host, "op", category, a, e);
      b.span(host, "inner", Category::runtime, a + (e - a) / 3, e - (e - a) / 3);
      b.span(other, "bwd", Category::cpu_op, a + 5, e + 30);
      b.span(gpu, "k", is_device_category(category) ? category : Category::kernel, a + 10, e + 60);
      b.flow(host, a + (e - a) / 3, gpu, a + 10);
      t = e;
    }
    t += gap(rng);
    b.span(host, "ProfilerStep#", Category::step, start, t);
  }
  b.trace.finish();
  const auto report = step_breakdown(b.trace);
  ASSERT_EQ(report.steps.size(), static_cast<std::size_t>(kSteps));
  double mean_sum = 0.0;
  for (const auto& s : report.steps) {
    ASSERT_EQ(std::accumulate(s.part_ns.begin(), s.part_ns.end(), std::int64_t{0}),
              s.end_ns - s.start_ns);
  }
  for (double p : report.mean_part_ns) mean_sum += p;
  EXPECT_NEAR(mean_sum, report.mean_step_ns, 1e-6 * report.mean_step_ns);
  EXPECT_EQ(report.steps[4].step, 5);  // no number in the name: the position
  ASSERT_TRUE(report.gpu_idle_share.has_value());
  EXPECT_GT(*report.gpu_idle_share, 0.0);
  EXPECT_LT(*report.gpu_idle_share, 1.0);
}

TEST(Breakdown, ASessionOfSeveralRanksIsJudgedOnTheLowestRank) {
  // Two ranks stepping side by side, 100 ns steps: rank 0 all forward, rank 1 all backward.
  tb::testing::TraceBuilder b;
  const TrackId rank0 = b.track("engine");
  const TrackId rank1 =
      b.trace.add_track({"engine", TrackKind::cpu_thread, "trainbench rank 1", 1});
  for (int i = 0; i < 3; ++i) {
    const std::int64_t t = i * 100;
    b.span(rank0, "step", Category::step, t, t + 100, i + 1);
    b.span(rank0, "forward", Category::forward, t, t + 100, i + 1);
    b.span(rank1, "step", Category::step, t + 5, t + 95, i + 1);
    b.span(rank1, "backward", Category::backward, t + 5, t + 95, i + 1);
  }
  b.trace.finish();
  const auto report = step_breakdown(b.trace);
  EXPECT_TRUE(report.ranks_left_out);
  ASSERT_EQ(report.steps.size(), 3u);  // each step once, rank 0's
  EXPECT_DOUBLE_EQ(report.mean_step_ns, 100.0);
  EXPECT_DOUBLE_EQ(report.mean_part_ns[static_cast<std::size_t>(StepPart::forward)], 100.0);
  EXPECT_DOUBLE_EQ(report.mean_part_ns[static_cast<std::size_t>(StepPart::backward)], 0.0);
}

}  // namespace
}  // namespace tb::trace
