// SpanIndex against brute force: window queries and clipped phase times on random runs.
#include "core/trace/span_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "core/util/error.h"

namespace tb::trace {
namespace {

// A run of `steps` steps, each split into data, forward, backward and optimizer with a gap
// (untraced time) between some of them, and an evaluation after every 10 steps.
std::vector<SpanRecord> random_run(int steps, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> length(1000, 90000), gap(0, 3000);
  std::vector<SpanRecord> spans;
  std::int64_t t = 5000;
  for (int step = 1; step <= steps; ++step) {
    const std::int64_t step_start = t;
    for (const char* phase : {"data", "forward", "backward", "optimizer"}) {
      const auto start = t + gap(rng);
      const auto end = start + length(rng);
      spans.push_back({"engine", phase, phase, start, end, step});
      t = end;
    }
    t += gap(rng);
    spans.push_back({"engine", "step", "step", step_start, t, step});
    if (step % 10 == 0) {
      spans.push_back({"engine", "evaluate", "eval", t, t + 5 * length(rng), step});
      t = spans.back().end_ns;
    }
  }
  std::shuffle(spans.begin(), spans.end(), rng);  // stored order must not matter
  return spans;
}

double clipped(const SpanRecord& s, std::int64_t t0, std::int64_t t1) {
  return std::max<std::int64_t>(0, std::min(s.end_ns, t1) - std::max(s.start_ns, t0)) * 1e-9;
}

TEST(SpanIndex, WindowsMatchBruteForce) {
  std::mt19937_64 rng(3);
  const auto run = random_run(300, rng);
  const SpanIndex index(run);
  std::uniform_int_distribution<std::int64_t> at(index.begin_ns() - 10000, index.end_ns() + 10000);
  for (int q = 0; q < 300; ++q) {
    auto t0 = at(rng), t1 = at(rng);
    if (t0 > t1) std::swap(t0, t1);
    std::vector<std::size_t> want;
    double step = 0, data = 0, forward = 0, backward = 0, optimizer = 0, eval = 0;
    std::int64_t steps = 0;
    for (std::size_t i = 0; i < run.size(); ++i) {
      const auto& s = run[i];
      const bool overlaps = t0 == t1 ? (s.start_ns <= t0 && t0 < s.end_ns) || s.start_ns == t0
                                     : s.start_ns < t1 && t0 < s.end_ns;
      if (!overlaps) continue;
      want.push_back(i);
      const double c = clipped(s, t0, t1);
      if (s.category == "step") {
        ++steps;
        step += c;
      }
      if (s.category == "data") data += c;
      if (s.category == "forward") forward += c;
      if (s.category == "backward") backward += c;
      if (s.category == "optimizer") optimizer += c;
      if (s.category == "eval") eval += c;
    }
    auto got = index.overlapping(t0, t1);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, want) << "window [" << t0 << ", " << t1 << ")";
    const auto b = index.breakdown(t0, t1);
    EXPECT_EQ(b.steps, steps);
    EXPECT_NEAR(b.step_s, step, 1e-12);
    EXPECT_NEAR(b.data_s, data, 1e-12);
    EXPECT_NEAR(b.forward_s, forward, 1e-12);
    EXPECT_NEAR(b.backward_s, backward, 1e-12);
    EXPECT_NEAR(b.optimizer_s, optimizer, 1e-12);
    EXPECT_NEAR(b.eval_s, eval, 1e-12);
    EXPECT_NEAR(b.other_s, std::max(0.0, step - data - forward - backward - optimizer), 1e-12);
  }
}

TEST(SpanIndex, LastStepsWindowCoversExactlyThoseSteps) {
  std::mt19937_64 rng(4);
  const SpanIndex index(random_run(50, rng));
  const auto [t0, t1] = index.last_steps_window(10);
  const auto b = index.breakdown(t0, t1);
  EXPECT_EQ(b.steps, 10);
  const auto [all0, all1] = index.last_steps_window(1000);
  EXPECT_EQ(index.breakdown(all0, all1).steps, 50);
  // Phases lie inside their steps: over whole steps nothing is clipped and other >= 0.
  EXPECT_GT(b.data_s + b.forward_s + b.backward_s + b.optimizer_s, 0.0);
  EXPECT_LE(b.data_s + b.forward_s + b.backward_s + b.optimizer_s, b.step_s + 1e-12);
}

TEST(SpanIndex, EmptyAndBadInput) {
  const SpanIndex empty({});
  EXPECT_EQ(empty.size(), 0u);
  EXPECT_TRUE(empty.overlapping(0, 100).empty());
  EXPECT_EQ(empty.breakdown(0, 100).steps, 0);
  EXPECT_THROW(SpanIndex({{"engine", "bad", "step", 10, 5, 1}}), Error);
  const SpanIndex one({{"engine", "step", "step", 0, 10, 1}});
  EXPECT_THROW(one.overlapping(5, 1), Error);  // a window that ends before it starts
}

// Loader workers decode on their own tracks while the loop runs: their data spans are loader
// time, not data wait, so the phases still add up to the step.
TEST(SpanIndex, DataSpansOfOtherTracksAreLoaderTimeNotDataWait) {
  const SpanIndex spans({{"engine", "step", "step", 0, 1000, 1},
                         {"engine", "data", "data", 0, 100, 1},
                         {"engine", "forward", "forward", 100, 600, 1},
                         {"loader worker 1", "decode", "data", 0, 800, 1},
                         {"loader worker 2", "decode", "data", 200, 900, 1}});
  const auto b = spans.breakdown(0, 1000);
  EXPECT_EQ(b.steps, 1);
  EXPECT_DOUBLE_EQ(b.step_s, 1000e-9);
  EXPECT_DOUBLE_EQ(b.data_s, 100e-9);
  EXPECT_DOUBLE_EQ(b.loader_s, 1500e-9);
  EXPECT_DOUBLE_EQ(b.other_s, 400e-9);
}

}  // namespace
}  // namespace tb::trace
