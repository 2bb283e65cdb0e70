// A trace batch sent as bytes arrives as rank N's: every span, counter point and flow, moved onto
// the receiver's clock, on tracks of its own process; bytes that are not a batch are refused
// with the offset.
#include "core/trace/trace_wire.h"

#include <gtest/gtest.h>

#include "core/util/error.h"
#include "tests/support/trace_builder.h"

namespace tb::trace {
namespace {

TEST(TraceWire, ABatchArrivesAsTheRanksOnTheReceiversClock) {
  tb::testing::TraceBuilder sent;
  const TrackId engine = sent.track("engine");
  const TrackId comm = sent.track("communication");
  sent.span(engine, "backward", Category::backward, 100, 400);
  sent.span(comm, "all_reduce_async", Category::communication, 150, 300);
  const CounterId memory = sent.trace.add_counter("memory allocated (cpu)", "bytes");
  sent.trace.add_counter_point(memory, 120, 4096.0);
  sent.trace.add_flow({7, engine, 200, comm, 250});
  sent.trace.finish();

  Trace received;
  received.track_named("engine", TrackKind::cpu_thread, "trainbench");  // rank 0's own
  append_rank_trace(received, encode_trace(sent.trace), 2, 1000);
  received.finish();

  ASSERT_EQ(received.tracks().size(), 3u);
  EXPECT_EQ(received.tracks()[1].name, "engine");
  EXPECT_EQ(received.tracks()[1].process, sent.trace.tracks()[0].process + " rank 2");
  EXPECT_EQ(received.tracks()[1].rank, 2);
  ASSERT_EQ(received.spans().size(), 2u);
  EXPECT_EQ(received.spans()[0].start_ns, 1100);
  EXPECT_EQ(received.spans()[0].end_ns, 1400);
  EXPECT_EQ(received.name(received.spans()[1].name), "all_reduce_async");
  EXPECT_EQ(received.spans()[1].category, Category::communication);
  EXPECT_EQ(received.track(received.spans()[1].track).name, "communication");
  ASSERT_EQ(received.counters().size(), 1u);
  EXPECT_EQ(received.counters()[0].name, "memory allocated (cpu) (rank 2)");
  ASSERT_EQ(received.counters()[0].points.size(), 1u);
  EXPECT_EQ(received.counters()[0].points[0].time_ns, 1120);
  ASSERT_EQ(received.flows().size(), 1u);
  EXPECT_EQ(received.flows()[0].from_ns, 1200);
  EXPECT_EQ(received.track(received.flows()[0].to_track).name, "communication");
}

TEST(TraceWire, BytesThatAreNotABatchAreRefusedWithTheOffset) {
  const std::vector<std::uint8_t> junk = {0xff, 0x00, 0x13};
  Trace into;
  try {
    append_rank_trace(into, junk, 1, 0);
    FAIL() << "junk was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1's trace"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(into.spans().empty());
}

}  // namespace
}  // namespace tb::trace
