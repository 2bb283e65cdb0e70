// The analyses on real PyTorch profiler traces (../shared/fixtures, README there): ResNet-50 on a
// V100 with DataLoader num_workers 0 and 4, and a CPU MLP with record_function phases. What a
// correct analysis finds: with 0 workers the DataLoader takes about 40% of each step
// (input-bound); with 4 workers under 1%, and the step is markedly shorter.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>

#include "core/trace/breakdown.h"
#include "core/trace/pytorch_import.h"
#include "core/trace/top_ops.h"
#include "core/trace/verdict.h"

namespace tb::trace {
namespace {

const std::filesystem::path kFixtures =
    std::filesystem::path(TRAINBENCH_SOURCE_DIR) / ".." / "shared" / "fixtures";

struct Analysis {
  Trace trace;
  BreakdownReport breakdown;
  std::vector<OpStat> ops;
  Verdict verdict;
  double share(StepPart part) const {
    return breakdown.mean_part_ns[static_cast<std::size_t>(part)] / breakdown.mean_step_ns;
  }
};

// Each fixture imported and analysed once for the whole test program (the ResNet files hold
// ~75k events each); nullptr when the fixtures folder is absent.
const Analysis* analysed(const std::string& file) {
  static std::map<std::string, std::unique_ptr<Analysis>> cache;
  const auto path = kFixtures / file;
  if (!std::filesystem::exists(path)) return nullptr;
  auto& slot = cache[file];
  if (!slot) {
    slot = std::make_unique<Analysis>();
    slot->trace = import_pytorch_trace(path);
    slot->breakdown = step_breakdown(slot->trace);
    slot->ops = top_ops(slot->trace);
    slot->verdict = judge(slot->trace, slot->breakdown, slot->ops);
  }
  return slot.get();
}

#define FIXTURE_OR_SKIP(var, file)                                                     \
  const Analysis* var = analysed(file);                                                \
  if (var == nullptr) {                                                                \
    GTEST_SKIP() << "fixture " << (kFixtures / (file)).string()                        \
                 << " is absent (the shared fixtures folder is not checked out here)"; \
  }

void expect_parts_add_up(const BreakdownReport& b) {
  for (const auto& s : b.steps) {
    EXPECT_EQ(std::accumulate(s.part_ns.begin(), s.part_ns.end(), std::int64_t{0}),
              s.end_ns - s.start_ns)
        << "step " << s.step;
  }
}

TEST(FixtureAnalysis, ResNetWithoutWorkersIsInputBound) {
  FIXTURE_OR_SKIP(a, "resnet50_gpu_workers0.pt.trace.json.gz");
  const auto& b = a->breakdown;
  ASSERT_EQ(b.steps.size(), 6u);  // ProfilerStep#5 .. #10
  EXPECT_EQ(b.steps.front().step, 5);
  EXPECT_EQ(b.steps.back().step, 10);
  EXPECT_EQ(b.warmup_steps_skipped, 1);
  expect_parts_add_up(b);
  // Steps of ~175 ms; the DataLoader ranges are ~40% of them. The data part proper is smaller:
  // the GPU is still running the previous step's kernels during part of each DataLoader range.
  EXPECT_NEAR(b.mean_step_ns * 1e-6, 174.6, 1.0);
  EXPECT_NEAR(b.mean_data_range_ns / b.mean_step_ns, 0.40, 0.03);
  EXPECT_GT(a->share(StepPart::data), 0.28);
  EXPECT_LE(a->share(StepPart::data), b.mean_data_range_ns / b.mean_step_ns);
  // Autograd's thread runs backward; the rest of the host's ops are forward.
  EXPECT_GT(a->share(StepPart::backward), 0.25);
  EXPECT_GT(a->share(StepPart::forward), 0.15);
  EXPECT_GT(a->share(StepPart::optimizer), 0.01);
  ASSERT_TRUE(b.gpu_idle_share.has_value());
  EXPECT_EQ(b.device_tracks, 1);
  EXPECT_GT(*b.gpu_idle_share, 0.35);

  const auto& v = a->verdict;
  EXPECT_EQ(v.bound, Bound::input) << v.headline;
  EXPECT_NEAR(v.share, a->share(StepPart::data), 1e-12);
  EXPECT_EQ(v.setting, "DataLoader(num_workers=4)");
  // 0 workers (the iterator's name says so): 4 workers hide loading behind compute, 1/(1-d).
  EXPECT_NEAR(v.expected_speedup, 1.0 / (1.0 - v.share), 1e-9);
  EXPECT_GT(v.expected_speedup, 1.3);
  EXPECT_LT(v.expected_speedup, 1.7);

  // Top ops: the DataLoader range leads the host side, a cuDNN kernel the device side; the
  // profiler's session range is no op.
  const auto host = std::find_if(a->ops.begin(), a->ops.end(),
                                 [](const OpStat& op) { return !is_device_category(op.category); });
  ASSERT_NE(host, a->ops.end());
  EXPECT_EQ(host->name, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__");
  EXPECT_EQ(host->count, 6);
  for (const auto& op : a->ops) EXPECT_NE(op.name, "PyTorch Profiler (0)");
}

TEST(FixtureAnalysis, ResNetWithFourWorkersIsNotInputBoundAndFaster) {
  FIXTURE_OR_SKIP(a, "resnet50_gpu_workers4.pt.trace.json.gz");
  FIXTURE_OR_SKIP(zero, "resnet50_gpu_workers0.pt.trace.json.gz");
  const auto& b = a->breakdown;
  ASSERT_EQ(b.steps.size(), 6u);
  expect_parts_add_up(b);
  EXPECT_NEAR(b.mean_step_ns * 1e-6, 131.3, 1.0);
  EXPECT_LT(a->share(StepPart::data), 0.01);
  EXPECT_LT(b.mean_data_range_ns / b.mean_step_ns, 0.01);
  // The step is ~25% shorter than with 0 workers (the warm-up step left out of both means).
  const double ratio = b.mean_step_ns / zero->breakdown.mean_step_ns;
  EXPECT_GT(ratio, 0.65);
  EXPECT_LT(ratio, 0.80);
  ASSERT_TRUE(b.gpu_idle_share.has_value());
  EXPECT_LT(*b.gpu_idle_share, *zero->breakdown.gpu_idle_share);
  EXPECT_NE(a->verdict.bound, Bound::input) << a->verdict.headline;
  EXPECT_NE(a->verdict.bound, Bound::unknown);

  // The diff of the two: the DataLoader iterator was replaced, per step.
  const auto diffs = diff_ops(zero->trace, a->trace);
  ASSERT_FALSE(diffs.empty());
  EXPECT_EQ(diffs.front().name, "enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__");
  EXPECT_EQ(diffs.front().kind, DiffKind::removed);
  EXPECT_LT(diffs.front().delta_per_step_ns, -50e6);  // ~69 ms a step gone
}

TEST(FixtureAnalysis, CpuMlpUsesItsRecordFunctionPhases) {
  FIXTURE_OR_SKIP(a, "pytorch_cpu_mlp_trace.json");
  const auto& b = a->breakdown;
  ASSERT_EQ(b.steps.size(), 3u);
  expect_parts_add_up(b);
  EXPECT_FALSE(b.gpu_idle_share.has_value());
  EXPECT_GT(a->share(StepPart::forward), 0.2);
  EXPECT_GT(a->share(StepPart::backward), 0.1);
  EXPECT_GT(a->share(StepPart::optimizer), 0.1);
  EXPECT_GT(a->share(StepPart::data), 0.0);
  EXPECT_EQ(a->verdict.bound, Bound::compute) << a->verdict.headline;
  EXPECT_EQ(a->verdict.setting, "torch.set_num_threads");
}

TEST(FixtureAnalysis, TraceWithoutStepsIsUnknown) {
  FIXTURE_OR_SKIP(a, "kineto_gpu_small.trace.json");
  EXPECT_TRUE(a->breakdown.steps.empty());
  EXPECT_EQ(a->verdict.bound, Bound::unknown);
  EXPECT_FALSE(a->ops.empty());
}

}  // namespace
}  // namespace tb::trace
