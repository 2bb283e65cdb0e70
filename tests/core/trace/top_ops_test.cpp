// Top ops and the trace diff on hand-built traces with known totals.
#include "core/trace/top_ops.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

struct Builder : tb::testing::TraceBuilder {
  TrackId host = track("main");
  TrackId gpu = track("stream 7", TrackKind::gpu_stream);
  std::int64_t t = 0;
  // `count` back-to-back spans of `duration` ns.
  void ops(const char* name, Category category, int count, std::int64_t duration) {
    for (int i = 0; i < count; ++i) {
      span(is_device_category(category) ? gpu : host, name, category, t, t + duration);
      t += duration;
    }
  }
  void steps(int count) { ops("ProfilerStep#", Category::step, count, 1000); }
};

const OpStat* find(const std::vector<OpStat>& ops, const std::string& name, Category category) {
  auto it = std::find_if(ops.begin(), ops.end(), [&](const OpStat& op) {
    return op.name == name && op.category == category;
  });
  return it == ops.end() ? nullptr : &*it;
}

TEST(TopOps, TotalsCountsMeansAndSharesPerSide) {
  Builder b;
  b.steps(2);                                           // left out
  b.ops("aten::conv2d", Category::cpu_op, 3, 100);      // host 300
  b.ops("aten::relu", Category::cpu_op, 4, 25);         // host 100
  b.ops("cudaLaunchKernel", Category::runtime, 2, 50);  // host 100 -> host total 500
  b.ops("gemm", Category::kernel, 2, 300);              // device 600
  b.ops("Memcpy HtoD", Category::memcpy, 1, 200);       // device 200 -> device total 800
  b.ops("aten::relu", Category::annotation, 1, 10);     // same name, other category: its own row
  // No ops: a profiler session range around the steps, and a host range copied onto a stream.
  b.span(b.host, "PyTorch Profiler (0)", Category::annotation, 0, b.t);
  b.span(b.gpu, "ProfilerStep#1", Category::annotation, 0, 100);
  b.trace.finish();
  const auto ops = top_ops(b.trace);
  ASSERT_EQ(ops.size(), 6u);
  EXPECT_EQ(ops[0].name, "gemm");
  EXPECT_EQ(ops[1].name, "aten::conv2d");
  EXPECT_EQ(ops[2].name, "Memcpy HtoD");
  EXPECT_EQ(ops.back().name, "aten::relu");
  EXPECT_EQ(ops.back().category, Category::annotation);
  EXPECT_EQ(find(ops, "ProfilerStep#", Category::step), nullptr);

  const auto* gemm = find(ops, "gemm", Category::kernel);
  ASSERT_NE(gemm, nullptr);
  EXPECT_EQ(gemm->count, 2);
  EXPECT_EQ(gemm->total_ns, 600);
  EXPECT_DOUBLE_EQ(gemm->mean_ns, 300.0);
  EXPECT_DOUBLE_EQ(gemm->share, 600.0 / 800.0);
  const auto* relu = find(ops, "aten::relu", Category::cpu_op);
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->count, 4);
  EXPECT_DOUBLE_EQ(relu->mean_ns, 25.0);
  EXPECT_DOUBLE_EQ(relu->share, 100.0 / 510.0);  // host total: 300 + 100 + 100 + 10
  EXPECT_DOUBLE_EQ(find(ops, "Memcpy HtoD", Category::memcpy)->share, 0.25);

  const auto top2 = top_ops(b.trace, 2);
  ASSERT_EQ(top2.size(), 2u);
  EXPECT_EQ(top2[0].name, "gemm");
  EXPECT_EQ(top2[1].name, "aten::conv2d");
  EXPECT_TRUE(top_ops(Trace{}).empty());
}

TEST(DiffOps, AddedRemovedFasterSlowerPerStepSortedByDelta) {
  Builder before;
  before.steps(2);
  before.ops("gemm", Category::kernel, 4, 100);       // 200 a step
  before.ops("relu", Category::kernel, 4, 50);        // 100 a step
  before.ops("old_kernel", Category::kernel, 2, 30);  // 30 a step, removed
  before.ops("aten::add", Category::cpu_op, 2, 100);  // 100 a step
  before.trace.finish();
  Builder after;
  after.steps(4);
  after.ops("gemm", Category::kernel, 8, 60);        // 120 a step: faster, -80
  after.ops("relu", Category::kernel, 8, 70);        // 140 a step: slower, +40
  after.ops("new_kernel", Category::kernel, 4, 25);  // 25 a step, added
  after.ops("aten::add", Category::cpu_op, 4, 104);  // mean 4% up: within 5%, the same
  after.trace.finish();

  const auto diffs = diff_ops(before.trace, after.trace);
  ASSERT_EQ(diffs.size(), 5u);
  EXPECT_EQ(diffs[0].name, "gemm");
  EXPECT_EQ(diffs[0].kind, DiffKind::faster);
  EXPECT_DOUBLE_EQ(diffs[0].delta_per_step_ns, -80.0);
  EXPECT_EQ(diffs[0].delta_total_ns, 480 - 400);
  EXPECT_EQ(diffs[0].before.count, 4);
  EXPECT_EQ(diffs[0].after.count, 8);
  EXPECT_EQ(diffs[1].name, "relu");
  EXPECT_EQ(diffs[1].kind, DiffKind::slower);
  EXPECT_DOUBLE_EQ(diffs[1].delta_per_step_ns, 40.0);
  EXPECT_EQ(diffs[2].name, "old_kernel");
  EXPECT_EQ(diffs[2].kind, DiffKind::removed);
  EXPECT_EQ(diffs[2].after.count, 0);
  EXPECT_DOUBLE_EQ(diffs[2].delta_per_step_ns, -30.0);
  EXPECT_EQ(diffs[3].name, "new_kernel");
  EXPECT_EQ(diffs[3].kind, DiffKind::added);
  EXPECT_EQ(diffs[3].before.count, 0);
  EXPECT_DOUBLE_EQ(diffs[3].delta_per_step_ns, 25.0);
  EXPECT_EQ(diffs[4].name, "aten::add");
  EXPECT_EQ(diffs[4].kind, DiffKind::same);
  EXPECT_DOUBLE_EQ(diffs[4].delta_per_step_ns, 4.0);
  EXPECT_STREQ(diff_kind_name(DiffKind::slower), "slower");

  // Without steps the deltas are the totals'.
  Builder plain_before, plain_after;
  plain_before.ops("gemm", Category::kernel, 1, 100);
  plain_after.ops("gemm", Category::kernel, 1, 300);
  const auto plain = diff_ops(plain_before.trace, plain_after.trace);
  ASSERT_EQ(plain.size(), 1u);
  EXPECT_EQ(plain[0].kind, DiffKind::slower);
  EXPECT_DOUBLE_EQ(plain[0].delta_per_step_ns, 200.0);
}

}  // namespace
}  // namespace tb::trace
