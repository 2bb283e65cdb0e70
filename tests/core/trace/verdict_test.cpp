// The verdict on hand-built traces, one a limit, with the expected speedup worked out by hand.
#include "core/trace/verdict.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/cupti_run_builder.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

struct Builder : tb::testing::TraceBuilder {
  TrackId host = track("main");
  TrackId worker = track("loader worker 1", TrackKind::loader_worker);
  TrackId gpu_track;  // added on first use: a CPU trace has none

  TrackId gpu() {
    if (!gpu_track.valid()) gpu_track = track("stream 7", TrackKind::gpu_stream);
    return gpu_track;
  }

  Verdict judge_it(int loader_workers = -1) {
    trace.finish();
    const auto breakdown = step_breakdown(trace);
    return judge(trace, breakdown, top_ops(trace), {.loader_workers = loader_workers});
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Three engine steps of 100 ns (the first is warm-up) split into data, forward, backward and
// optimizer spans of the given lengths; the rest of each step is idle.
Builder engine_steps(std::int64_t data, std::int64_t forward, std::int64_t backward,
                     std::int64_t optimizer) {
  Builder b;
  for (int i = 0; i < 3; ++i) {
    std::int64_t t = i * 100;
    b.span(b.host, "step", Category::step, t, t + 100);
    b.span(b.host, "data", Category::data, t, t + data);
    t += data;
    b.span(b.host, "forward", Category::forward, t, t + forward);
    t += forward;
    b.span(b.host, "backward", Category::backward, t, t + backward);
    t += backward;
    b.span(b.host, "optimizer", Category::optimizer, t, t + optimizer);
    b.span(b.worker, "decode", Category::data, i * 100, i * 100 + 100);  // not step time
  }
  return b;
}

TEST(Verdict, InputBoundWithoutWorkersSuggestsFourWorkers) {
  const auto v = engine_steps(40, 30, 20, 10).judge_it(0);
  EXPECT_EQ(v.bound, Bound::input);
  EXPECT_DOUBLE_EQ(v.share, 0.4);
  // Serial loading: P = 0.4 T; 4 workers hide it behind compute C = 0.6 T: max(0.6, 0.1).
  EXPECT_NEAR(v.expected_speedup, 1.0 / 0.6, 1e-12);
  EXPECT_EQ(v.setting, "data.loader.workers=4");
  EXPECT_TRUE(contains(v.headline, "input-bound")) << v.headline;
  EXPECT_TRUE(contains(v.headline, "40.0%")) << v.headline;
  EXPECT_TRUE(contains(v.suggestion, "≈ 1.67×")) << v.suggestion;
  EXPECT_TRUE(contains(v.suggestion, "100 ns → 60 ns")) << v.suggestion;
  ASSERT_GE(v.evidence.size(), 2u);
  EXPECT_TRUE(contains(v.evidence[0], "mean step 100 ns over 2 steps")) << v.evidence[0];
  EXPECT_TRUE(contains(v.evidence[1], "data 40.0%")) << v.evidence[1];
}

TEST(Verdict, InputBoundWithWorkersThatCannotKeepUp) {
  // 2 workers still leave a 30% wait: one batch a step is 2 workers' worth (P = 2T). k =
  // max(2·2, ⌈2/0.7⌉) = 4 gives max(0.7, 2/4) = 0.7 of today's step.
  const auto v = engine_steps(30, 40, 20, 10).judge_it(2);
  EXPECT_EQ(v.bound, Bound::input);
  EXPECT_NEAR(v.expected_speedup, 1.0 / 0.7, 1e-12);
  EXPECT_EQ(v.setting, "data.loader.workers=4");
  EXPECT_TRUE(contains(v.suggestion, "≈ 1.43×")) << v.suggestion;
}

TEST(Verdict, ImportedSingleProcessLoaderCountsAsNoWorkers) {
  Builder b;
  for (int i = 0; i < 2; ++i) {
    const std::int64_t t = i * 1000;
    b.span(b.host, "ProfilerStep#1", Category::step, t, t + 1000);
    b.span(b.host, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__", Category::data, t,
           t + 500);
    b.span(b.host, "aten::conv2d", Category::cpu_op, t + 500, t + 600);
    b.span(b.gpu(), "conv", Category::kernel, t + 600, t + 1000);
  }
  const auto v = b.judge_it();
  EXPECT_EQ(v.bound, Bound::input);
  EXPECT_DOUBLE_EQ(v.share, 0.5);
  EXPECT_NEAR(v.expected_speedup, 2.0, 1e-12);  // max(0.5, 0.5 / 4)
  EXPECT_EQ(v.setting, "DataLoader(num_workers=4)");
  bool named = false;
  for (const auto& line : v.evidence) named |= contains(line, "_SingleProcessDataLoaderIter");
  EXPECT_TRUE(named);
}

TEST(Verdict, CpuComputeBoundAndBalanced) {
  // forward + backward + optimizer = 85% of the step.
  const auto compute = engine_steps(5, 40, 35, 10).judge_it(4);
  EXPECT_EQ(compute.bound, Bound::compute);
  EXPECT_DOUBLE_EQ(compute.share, 0.85);
  EXPECT_NEAR(compute.expected_speedup, 1.0 / (1.0 - 0.425), 1e-12);
  EXPECT_TRUE(contains(compute.headline, "85.0%")) << compute.headline;
  EXPECT_EQ(compute.setting, "train.threads");  // an engine run: its project key
  EXPECT_TRUE(contains(compute.suggestion, "twice the train.threads")) << compute.suggestion;
  // The CPU engine's bf16 saves memory, not time: never suggested for speed there.
  EXPECT_FALSE(contains(compute.suggestion, "bf16")) << compute.suggestion;

  // 10% data, 50% phases, 40% idle: nothing passes a threshold.
  const auto balanced = engine_steps(10, 30, 20, 0).judge_it(4);
  EXPECT_EQ(balanced.bound, Bound::balanced);
  EXPECT_DOUBLE_EQ(balanced.expected_speedup, 1.0);
  EXPECT_DOUBLE_EQ(balanced.share, 0.4);  // the largest part: idle
  EXPECT_TRUE(contains(balanced.suggestion, "idle at 40.0%")) << balanced.suggestion;
}

// GPU steps of 1000 ns: a host op launching one kernel, then `device` kernels of the given
// categories and lengths back to back from t+100.
Builder gpu_steps(const std::vector<std::pair<Category, std::int64_t>>& device) {
  Builder b;
  for (int i = 0; i < 2; ++i) {
    const std::int64_t t = i * 1000;
    b.span(b.host, "ProfilerStep#1", Category::step, t, t + 1000);
    b.span(b.host, "aten::mm", Category::cpu_op, t, t + 100);
    std::int64_t at = t + 100;
    for (const auto& [category, length] : device) {
      const char* name = category == Category::communication ? "ncclAllReduce"
                         : category == Category::memcpy      ? "Memcpy HtoD"
                                                             : "gemm";
      b.span(b.gpu(), name, category, at, at + length);
      at += length;
    }
  }
  return b;
}

TEST(Verdict, GpuLimits) {
  const auto comm = gpu_steps({{Category::kernel, 500}, {Category::communication, 300}}).judge_it();
  EXPECT_EQ(comm.bound, Bound::communication);
  EXPECT_DOUBLE_EQ(comm.share, 0.3);
  EXPECT_NEAR(comm.expected_speedup, 1.0 / 0.7, 1e-12);

  const auto memory = gpu_steps({{Category::kernel, 400}, {Category::memcpy, 400}}).judge_it();
  EXPECT_EQ(memory.bound, Bound::memory);
  EXPECT_DOUBLE_EQ(memory.share, 0.4);
  EXPECT_NEAR(memory.expected_speedup, 1.0 / 0.6, 1e-12);

  // Busy 90% of the step (100 ns host op, then 900 ns of kernels).
  const auto compute = gpu_steps({{Category::kernel, 900}}).judge_it();
  EXPECT_EQ(compute.bound, Bound::compute);
  EXPECT_DOUBLE_EQ(compute.share, 0.9);
  EXPECT_NEAR(compute.expected_speedup, 1.0 / 0.55, 1e-12);
  bool idle = false;
  for (const auto& line : compute.evidence) idle |= contains(line, "GPU idle 10.0%");
  EXPECT_TRUE(idle);
}

// Engine steps of 100 ns on two ranks' worth of work: forward 20, backward 50, optimizer 10, and
// an all-reduce of `length` ns on the communication thread's track starting `start` ns into the
// step (during backward it is hidden; after the optimizer it is not).
Builder data_parallel_steps(std::int64_t start, std::int64_t length) {
  Builder b;
  const TrackId comm = b.track("communication");
  for (int i = 0; i < 3; ++i) {
    const std::int64_t t = i * 200;
    b.span(b.host, "step", Category::step, t, t + 200);
    b.span(b.host, "forward", Category::forward, t, t + 20);
    b.span(b.host, "backward", Category::backward, t + 20, t + 70);
    b.span(b.host, "optimizer", Category::optimizer, t + 70, t + 80);
    b.span(comm, "all_reduce_async", Category::communication, t + start, t + start + length);
  }
  return b;
}

TEST(Verdict, CommunicationHiddenUnderBackwardIsNotTheLimit) {
  // 40 ns of all-reduce, all under backward (t+25..t+65): the overlap share is 100%.
  auto hidden = data_parallel_steps(25, 40);
  hidden.trace.finish();
  const auto overlap = communication_overlap(hidden.trace);
  EXPECT_EQ(overlap.communication_ns, 3 * 40);
  EXPECT_EQ(overlap.hidden_ns, 3 * 40);
  EXPECT_DOUBLE_EQ(overlap.share(), 1.0);
  const auto v = hidden.judge_it(2);
  EXPECT_NE(v.bound, Bound::communication) << v.headline;
  bool said = false;
  for (const auto& line : v.evidence) said |= contains(line, "100.0% of its time hidden");
  EXPECT_TRUE(said) << ::testing::PrintToString(v.evidence);

  // 100 ns of all-reduce from t+60: 10 ns under backward, 10 under the optimizer, 80 exposed
  // (half the 200 ns step): communication-bound, with the overlap share said.
  auto exposed = data_parallel_steps(60, 100);
  exposed.trace.finish();
  EXPECT_EQ(communication_overlap(exposed.trace).hidden_ns, 3 * 20);
  const auto w = exposed.judge_it(2);
  EXPECT_EQ(w.bound, Bound::communication) << w.headline;
  EXPECT_NEAR(w.share, 0.5 * 0.8, 1e-9);
  EXPECT_TRUE(contains(w.headline, "20.0% of their time hidden under compute")) << w.headline;
}

TEST(Verdict, ManyTinyKernelsAreLaunchBound) {
  // Each step: 200 launches of 5 µs, each followed by its 2 µs kernel. Runtime with the device
  // idle: 1000 of 1400 µs; GPU idle the same; median kernel 2 µs.
  Builder b;
  std::int64_t t = 0;
  for (int step = 0; step < 2; ++step) {
    b.span(b.host, "ProfilerStep#1", Category::step, t, t + 200 * 7000);
    for (int k = 0; k < 200; ++k) {
      b.span(b.host, "cudaLaunchKernel", Category::runtime, t, t + 5000);
      b.span(b.gpu(), "tiny", Category::kernel, t + 5000, t + 7000);
      b.trace.add_flow({static_cast<std::uint64_t>(k + 1), b.host, t, b.gpu(), t + 5000});
      t += 7000;
    }
  }
  const auto v = b.judge_it();
  EXPECT_EQ(v.bound, Bound::launch);
  EXPECT_NEAR(v.share, 1000.0 / 1400.0, 1e-12);
  EXPECT_NEAR(v.expected_speedup, 1400.0 / 400.0, 1e-9);
  bool kernels = false, gaps = false;
  for (const auto& line : v.evidence) {
    kernels |= contains(line, "200 kernels a step, median 2.0 µs");
    // The device idles 5 µs between consecutive kernels: 199 gaps in each step's 200 kernels.
    gaps |=
        contains(line, "199 idle gaps between device work a step, median 5.0 µs, longest 5.0 µs");
  }
  EXPECT_TRUE(kernels);
  EXPECT_TRUE(gaps);
}

// The verdict on an engine session traced with CUPTI: the engine's spans and the activity
// records, through GpuActivityConverter, as a GPU run stores them.
Verdict judge_converted(tb::testing::CuptiRunBuilder& run) {
  const Trace trace = run.build();
  return judge(trace, step_breakdown(trace), top_ops(trace));
}

bool any_line(const std::vector<std::string>& lines, const std::string& part) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& line) { return contains(line, part); });
}

TEST(Verdict, ConvertedLaunchGapsAreLaunchBound) {
  // Three steps of 1400 µs in forward: 200 launches of 5 µs, each kernel 2 µs right after its
  // launch. The device idles 5 µs before every kernel but the first: 199 short gaps a step,
  // 2.5 kernels long. Runtime with the device idle 1000 µs, the kernels 400 µs (forward).
  tb::testing::CuptiRunBuilder run;
  run.steps(3, 1'400'000, [&](std::int64_t step, std::int64_t t) {
    run.engine_span("forward", Category::forward, t, t + 1'400'000, step);
    for (std::int64_t k = 0; k < 200; ++k) {
      const std::int64_t at = t + k * 7000;
      run.launch(step, Category::forward, "tiny", at, at + 5000, at + 5000, at + 7000);
    }
  });
  const auto v = judge_converted(run);
  EXPECT_EQ(v.bound, Bound::launch) << v.headline;
  EXPECT_NEAR(v.share, 1000.0 / 1400.0, 1e-12);
  EXPECT_TRUE(contains(v.headline, "in 199 short gaps a step (median 5.0 µs)")) << v.headline;
  EXPECT_TRUE(any_line(v.evidence, "200 kernels a step, median 2.0 µs"))
      << ::testing::PrintToString(v.evidence);
  EXPECT_TRUE(any_line(v.evidence, "forward 28.6%")) << ::testing::PrintToString(v.evidence);
}

TEST(Verdict, ConvertedHostStallInOneLongGapIsNotLaunchBound) {
  // Steps of 2010 µs: 400 µs loading the batch, then 100 launches of 1 µs queueing 5 µs kernels
  // (the device runs them back to back), the host 600 µs in cudaMalloc with the device idle,
  // 100 more launches and kernels, 8 µs idle. The device idles 50% and the host is in runtime
  // calls 30% of the step with 200 tiny kernels, as in a launch-bound run; but the idle time is
  // one 601 µs gap a step (and the wait for data before the first kernel), which no CUDA graph
  // removes: input-bound (data 19.9%), not launch-bound.
  tb::testing::CuptiRunBuilder run;
  run.steps(3, 2'010'000, [&](std::int64_t step, std::int64_t t) {
    run.engine_span("data", Category::data, t, t + 400'000, step);
    run.engine_span("forward", Category::forward, t + 400'000, t + 2'002'000, step);
    for (std::int64_t k = 0; k < 100; ++k) {
      run.launch(step, Category::forward, "tiny", t + 400'000 + k * 1000, t + 401'000 + k * 1000,
                 t + 401'000 + k * 5000, t + 406'000 + k * 5000);
    }
    run.call("cudaMalloc", t + 901'000, t + 1'501'000);
    for (std::int64_t k = 0; k < 100; ++k) {
      run.launch(step, Category::forward, "tiny", t + 1'501'000 + k * 1000,
                 t + 1'502'000 + k * 1000, t + 1'502'000 + k * 5000, t + 1'507'000 + k * 5000);
    }
  });
  const auto v = judge_converted(run);
  EXPECT_EQ(v.bound, Bound::input) << v.headline;
  EXPECT_NEAR(v.share, 400.0 / 2010.0, 1e-12);
  EXPECT_TRUE(any_line(v.evidence, "GPU idle 50.2%")) << ::testing::PrintToString(v.evidence);
  EXPECT_TRUE(any_line(v.evidence, "runtime 30.0%")) << ::testing::PrintToString(v.evidence);
  EXPECT_TRUE(any_line(v.evidence, "200 kernels a step, median 5.0 µs"))
      << ::testing::PrintToString(v.evidence);
  EXPECT_TRUE(any_line(v.evidence,
                       "1 idle gaps between device work a step, median 601.0 µs, longest 601.0 µs"))
      << ::testing::PrintToString(v.evidence);
}

TEST(Verdict, ConvertedGapsFarLongerThanALaunchAreNotLaunchBound) {
  // Every one of 120 kernels of 5 µs follows a 300 µs cudaMalloc and a 5 µs launch: a gap
  // before nearly every kernel, as in a launch-bound run, but each 61 kernels long. The host
  // allocating is what to fix, not the launches.
  tb::testing::CuptiRunBuilder run;
  constexpr std::int64_t kUnit = 310'000, kStep = 120 * kUnit;
  run.steps(3, kStep, [&](std::int64_t step, std::int64_t t) {
    run.engine_span("forward", Category::forward, t, t + kStep, step);
    for (std::int64_t k = 0; k < 120; ++k) {
      const std::int64_t at = t + k * kUnit;
      run.call("cudaMalloc", at, at + 300'000);
      run.launch(step, Category::forward, "tiny", at + 300'000, at + 305'000, at + 305'000,
                 at + 310'000);
    }
  });
  const auto v = judge_converted(run);
  EXPECT_NE(v.bound, Bound::launch) << v.headline;
  EXPECT_TRUE(any_line(v.evidence,
                       "119 idle gaps between device work a step, median 305.0 µs, longest "
                       "305.0 µs"))
      << ::testing::PrintToString(v.evidence);
}

TEST(Verdict, DroppedCuptiRecordsAreAWarningInTheEvidence) {
  auto b = engine_steps(40, 30, 20, 10);
  b.trace.finish();
  const auto breakdown = step_breakdown(b.trace);
  const auto ops = top_ops(b.trace);
  const auto dropped =
      judge(b.trace, breakdown, ops, {.loader_workers = 0, .cupti_dropped_records = 1234});
  ASSERT_FALSE(dropped.evidence.empty());
  EXPECT_EQ(dropped.evidence.back(),
            "CUPTI dropped 1234 records: the kernel timeline is incomplete, so the GPU idle, "
            "kernel and gap figures are approximate");
  EXPECT_EQ(dropped.bound, Bound::input);  // the warning changes no figure
  const auto none = judge(b.trace, breakdown, ops, {.loader_workers = 0});
  EXPECT_FALSE(any_line(none.evidence, "CUPTI")) << ::testing::PrintToString(none.evidence);
  EXPECT_EQ(none.evidence.size() + 1, dropped.evidence.size());
}

TEST(SessionFacts, ReadFromTheParams) {
  // A CUDA run that traced: profile.cupti says "on", and only the counts matter.
  const auto traced = session_facts({{"data.loader.workers", "2"},
                                     {"profile.cupti", "on"},
                                     {"profile.cupti_records", "1200"},
                                     {"profile.cupti_dropped_records", "34"}});
  EXPECT_EQ(traced.loader_workers, 2);
  EXPECT_EQ(traced.cupti_dropped_records, 34);
  // A CPU run: profile.cupti is the project's "true", with no counts.
  const auto cpu = session_facts({{"data.loader.workers", "0"}, {"profile.cupti", "true"}});
  EXPECT_EQ(cpu.loader_workers, 0);
  EXPECT_EQ(cpu.cupti_dropped_records, 0);
}

TEST(SessionFacts, MissingOrMalformedValuesAreUnknown) {
  const auto none = session_facts({});
  EXPECT_EQ(none.loader_workers, -1);
  EXPECT_EQ(none.cupti_dropped_records, 0);
  for (const char* bad : {"", "four", "4x", " 4", "-3", "99999999999999999999", "1.5"}) {
    SCOPED_TRACE(bad);
    const auto facts =
        session_facts({{"data.loader.workers", bad}, {"profile.cupti_dropped_records", bad}});
    EXPECT_EQ(facts.loader_workers, -1);
    EXPECT_EQ(facts.cupti_dropped_records, 0);
  }
}

TEST(Verdict, GapsAreCountedAcrossStreamsAsOneDevice) {
  // Two streams whose kernels overlap leave one 30 ns gap a step; a host span is no device work.
  Builder b;
  const TrackId other = b.track("stream 13", TrackKind::gpu_stream);
  for (int i = 0; i < 3; ++i) {
    const std::int64_t t = i * 1000;
    b.span(b.host, "step", Category::step, t, t + 1000);
    b.span(b.gpu(), "a", Category::kernel, t + 100, t + 400);
    b.span(other, "b", Category::kernel, t + 300, t + 600);
    b.span(b.gpu(), "c", Category::memcpy, t + 630, t + 900);
  }
  const auto v = b.judge_it();
  bool gaps = false;
  for (const auto& line : v.evidence) {
    gaps |= contains(line, "1 idle gaps between device work a step, median 30 ns, longest 30 ns");
  }
  EXPECT_TRUE(gaps) << ::testing::PrintToString(v.evidence);
}

TEST(Verdict, NoStepsIsUnknown) {
  Builder b;
  b.span(b.host, "aten::mm", Category::cpu_op, 0, 10);
  const auto v = b.judge_it();
  EXPECT_EQ(v.bound, Bound::unknown);
  EXPECT_STREQ(bound_name(Bound::unknown), "unknown");
  EXPECT_STREQ(bound_name(Bound::input), "input-bound");
}

}  // namespace
}  // namespace tb::trace
