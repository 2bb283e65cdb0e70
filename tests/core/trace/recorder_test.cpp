#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "core/trace/recorder.h"

namespace tb::trace {
namespace {

TEST(Recorder, ScopedSpansNestAndDrainInStartOrder) {
  Recorder recorder;
  {
    ScopedSpan outer(&recorder, "step", Category::step, 1);
    { ScopedSpan inner(&recorder, "forward", Category::forward, 1); }
    { ScopedSpan inner(&recorder, "backward", Category::backward, 1); }
  }
  auto spans = recorder.drain();
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_STREQ(spans[0].name, "step");
  EXPECT_STREQ(spans[1].name, "forward");
  EXPECT_STREQ(spans[2].name, "backward");
  EXPECT_LE(spans[0].start_ns, spans[1].start_ns);
  EXPECT_LE(spans[1].end_ns, spans[2].start_ns);
  EXPECT_GE(spans[0].end_ns, spans[2].end_ns);
  EXPECT_STREQ(category_name(spans[2].category), "backward");
  EXPECT_TRUE(recorder.drain().empty());
}

TEST(Recorder, ThreadsRecordIntoTheirOwnBuffers) {
  Recorder recorder;
  constexpr int kThreads = 4, kSpans = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kSpans; ++i) {
        const auto now = recorder.now_ns();
        recorder.record("work", Category::other, now, now + 1, i);
      }
    });
  }
  // Draining while threads record must neither lose nor duplicate spans.
  std::size_t drained = 0;
  for (int i = 0; i < 20; ++i) drained += recorder.drain().size();
  for (auto& t : threads) t.join();
  const auto rest = recorder.drain();
  EXPECT_EQ(drained + rest.size(), static_cast<std::size_t>(kThreads * kSpans));
  std::set<std::uint32_t> thread_ids;
  for (const auto& s : rest) thread_ids.insert(s.thread);
  EXPECT_LE(thread_ids.size(), static_cast<std::size_t>(kThreads));
}

TEST(Recorder, TwoRecordersOnOneThreadStaySeparate) {
  Recorder a, b;
  a.record("a", Category::other, 0, 1, 0);
  b.record("b", Category::other, 0, 1, 0);
  a.record("a", Category::other, 2, 3, 0);
  EXPECT_EQ(a.drain().size(), 2u);
  EXPECT_EQ(b.drain().size(), 1u);
}

}  // namespace
}  // namespace tb::trace
