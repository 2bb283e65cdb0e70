#include <gtest/gtest.h>

#include <set>
#include <string>
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

namespace tb::trace {
namespace {

TEST(Recorder, CountersDrainIntoATraceAsCounterSeries) {
  Recorder recorder;
  recorder.record("step", Category::step, 0, 100, 1);
  recorder.record_counter("loader queue depth", 10, 3);
  recorder.record_counter("memory allocated (cpu)", 20, 4096);
  recorder.record_counter("loader queue depth", 30, 2);
  Trace batch;
  EXPECT_EQ(recorder.drain_into(batch), 4u);
  batch.finish();
  ASSERT_EQ(batch.spans().size(), 1u);
  EXPECT_EQ(batch.name(batch.spans()[0].name), "step");
  EXPECT_EQ(batch.spans()[0].category, Category::step);
  const auto depth = batch.find_counter("loader queue depth");
  ASSERT_TRUE(depth);
  ASSERT_EQ(batch.counter(*depth).points.size(), 2u);
  EXPECT_EQ(batch.counter(*depth).points[1].time_ns, 30);
  EXPECT_EQ(batch.counter(*depth).points[1].value, 2.0);
  EXPECT_EQ(batch.counter(*depth).unit, "");
  const auto memory = batch.find_counter("memory allocated (cpu)");
  ASSERT_TRUE(memory);
  EXPECT_EQ(batch.counter(*memory).unit, "bytes");
}

TEST(Recorder, EachThreadBecomesATrackNamedAsItSaid) {
  Recorder recorder;
  recorder.record("step", Category::step, 0, 10, 1);
  std::thread worker([&] {
    recorder.name_this_thread("loader worker 1");
    // More than one block's worth, so the drain crosses block boundaries.
    for (std::uint32_t i = 0; i < Recorder::kEventsPerBlock * 2 + 5; ++i) {
      recorder.record("decode", Category::data, i, i + 1, 0);
    }
  });
  worker.join();
  Trace batch;
  EXPECT_EQ(recorder.drain_into(batch), Recorder::kEventsPerBlock * 2 + 6);
  ASSERT_EQ(batch.tracks().size(), 2u);
  EXPECT_EQ(batch.tracks()[0].name, "engine");
  EXPECT_EQ(batch.tracks()[0].kind, TrackKind::cpu_thread);
  EXPECT_EQ(batch.tracks()[1].name, "loader worker 1");
  EXPECT_EQ(batch.tracks()[1].kind, TrackKind::loader_worker);
  std::size_t decode = 0;
  for (const auto& span : batch.spans()) decode += batch.name(span.name) == "decode";
  EXPECT_EQ(decode, Recorder::kEventsPerBlock * 2 + 5);
  // A second drain into a new batch finds nothing left.
  Trace again;
  EXPECT_EQ(recorder.drain_into(again), 0u);
}

}  // namespace
}  // namespace tb::trace
