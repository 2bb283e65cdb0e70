// The chunk codec on its own: extreme values round-trip; every truncation and every id out of
// range is a ChunkError, never a crash or an allocation the blob asked for.
#include "core/store/trace_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace tb::store::detail {
namespace {

constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::vector<trace::Span> extreme_spans() {
  const trace::TrackId track(4);
  return {
      {kMin, kMin, kMax, track, trace::NameId(1), {}, trace::Category::step},
      {kMin, kMax, kMin, track, trace::NameId(2), trace::ArgsId(3), trace::Category::annotation},
      {-1, 0, 0, track, trace::NameId(1), trace::ArgsId(1), trace::Category::kernel},
      {0, 0, 5, track, trace::NameId(2), {}, trace::Category::data},
      {kMax, kMax, -5, track, trace::NameId(2), {}, trace::Category::other},
  };
}

TEST(TraceCodec, SpansRoundTripWhateverTheirValues) {
  ChunkEncoder encoder;
  ChunkDecoder decoder;
  const auto spans = extreme_spans();
  const auto blob = encoder.spans(spans);
  EXPECT_EQ(blob[0], kChunkFormatVersion);
  std::vector<trace::Span> got;
  decoder.spans(blob, trace::TrackId(4), {2, 3}, got);
  ASSERT_EQ(got.size(), spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    EXPECT_EQ(got[i].start_ns, spans[i].start_ns) << i;
    EXPECT_EQ(got[i].end_ns, spans[i].end_ns) << i;
    EXPECT_EQ(got[i].step, spans[i].step) << i;
    EXPECT_EQ(got[i].track, spans[i].track) << i;
    EXPECT_EQ(got[i].name, spans[i].name) << i;
    EXPECT_EQ(got[i].args, spans[i].args) << i;
    EXPECT_EQ(got[i].category, spans[i].category) << i;
  }
  const ChunkRange range = range_of(std::span<const trace::Span>(got));
  EXPECT_EQ(range.start_ns, kMin);
  EXPECT_EQ(range.end_ns, kMax);
  EXPECT_EQ(range.count, 5);

  decoder.spans(encoder.spans({}), trace::TrackId(1), {0, 0}, got);
  EXPECT_TRUE(got.empty());
}

TEST(TraceCodec, PointsAndFlowsRoundTrip) {
  ChunkEncoder encoder;
  ChunkDecoder decoder;
  const std::vector<trace::CounterPoint> points = {
      {kMin, -0.0}, {0, std::numeric_limits<double>::infinity()}, {0, 1.5}, {kMax, 1e-300}};
  std::vector<trace::CounterPoint> got_points;
  decoder.points(encoder.points(points), got_points);
  ASSERT_EQ(got_points.size(), points.size());
  for (std::size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(got_points[i].time_ns, points[i].time_ns);
    EXPECT_EQ(std::signbit(got_points[i].value), std::signbit(points[i].value));
    EXPECT_EQ(got_points[i].value, points[i].value);
  }
  const std::vector<trace::Flow> flows = {
      {~0ull, trace::TrackId(1), kMin, trace::TrackId(2), kMax},
      {0, trace::TrackId(2), 5, trace::TrackId(2), kMin},
  };
  std::vector<trace::Flow> got_flows;
  decoder.flows(encoder.flows(flows), {2}, got_flows);
  ASSERT_EQ(got_flows.size(), flows.size());
  for (std::size_t i = 0; i < flows.size(); ++i) {
    EXPECT_EQ(got_flows[i].id, flows[i].id);
    EXPECT_EQ(got_flows[i].from_track, flows[i].from_track);
    EXPECT_EQ(got_flows[i].from_ns, flows[i].from_ns);
    EXPECT_EQ(got_flows[i].to_track, flows[i].to_track);
    EXPECT_EQ(got_flows[i].to_ns, flows[i].to_ns);
  }
  EXPECT_THROW(decoder.flows(encoder.flows(flows), {1}, got_flows), ChunkError);
}

TEST(TraceCodec, EveryTruncationIsAChunkError) {
  ChunkEncoder encoder;
  ChunkDecoder decoder;
  std::vector<trace::Span> spans;
  for (int i = 0; i < 3000; ++i) {
    spans.push_back({i * 10LL,
                     i * 10LL + i % 7,
                     i / 100,
                     trace::TrackId(1),
                     trace::NameId(1 + i % 5),
                     {},
                     trace::Category::other});
  }
  const auto blob = encoder.spans(spans);
  std::vector<trace::Span> out;
  for (std::size_t size = 0; size < blob.size(); ++size) {
    const std::span<const std::uint8_t> cut(blob.data(), size);
    EXPECT_THROW(decoder.spans(cut, trace::TrackId(1), {5, 0}, out), ChunkError) << size;
  }
}

TEST(TraceCodec, IdsOutsideTheSessionAreChunkErrors) {
  ChunkEncoder encoder;
  ChunkDecoder decoder;
  const auto blob = encoder.spans(extreme_spans());
  std::vector<trace::Span> out;
  EXPECT_THROW(decoder.spans(blob, trace::TrackId(4), {1, 3}, out), ChunkError);  // name 2
  EXPECT_THROW(decoder.spans(blob, trace::TrackId(4), {2, 2}, out), ChunkError);  // args 3
  std::vector<trace::Span> unnamed = {{0, 1, 0, trace::TrackId(1), {}, {}, trace::Category::other}};
  EXPECT_THROW(decoder.spans(encoder.spans(unnamed), trace::TrackId(1), {9, 0}, out), ChunkError);
  try {
    decoder.spans(blob, trace::TrackId(4), {1, 3}, out);
  } catch (const ChunkError& error) {
    EXPECT_NE(std::string(error.what()).find("name id 2"), std::string::npos) << error.what();
  }
}

TEST(TraceCodec, UnsortedInputIsRefusedWhenEncoding) {
  ChunkEncoder encoder;
  std::vector<trace::Span> spans = {
      {10, 20, 0, trace::TrackId(1), trace::NameId(1), {}, trace::Category::other},
      {5, 20, 0, trace::TrackId(1), trace::NameId(1), {}, trace::Category::other}};
  EXPECT_THROW(encoder.spans(spans), ChunkError);
}

}  // namespace
}  // namespace tb::store::detail
