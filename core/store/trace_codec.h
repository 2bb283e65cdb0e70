// Internal to core/store: the bytes of a trace chunk — up to a few thousand spans of one track,
// points of one counter, or flows of one session — as stored in one BLOB of the session
// database.
//
// A blob is a version byte, then one zstd frame of the payload. The payload is a count and then
// one column after another (all starts, then all durations, ...): a column holds similar small
// numbers (deltas from the previous row, ids of a few hundred names), which compresses far
// better than row after row. Numbers are LEB128 varints, signed ones zigzag-coded.
//
// Decoding trusts nothing in the blob: every length, count, id and value is checked, and damage
// is a ChunkError saying what was wrong; the caller adds which session, track and chunk.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/trace/model.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace tb::store::detail {

// The layout written by this build; a blob with another first byte is refused.
inline constexpr std::uint8_t kChunkFormatVersion = 1;

// A blob that is not what the codec writes. what() says what was wrong, without the context.
class ChunkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a decoded span chunk may refer to: name ids 1..names, args ids 0..args (0: none).
struct SpanLimits {
  std::int64_t names = 0;
  std::int64_t args = 0;
};

// What a decoded flow chunk may refer to: track ids 1..tracks.
struct FlowLimits {
  std::int64_t tracks = 0;
};

// What a chunk's row says of its items, so that a window query needs no decoding: the first
// start and the latest end of its spans, its first and last point, or the earliest and latest
// end of its flows.
struct ChunkRange {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
  std::int64_t count = 0;
};
ChunkRange range_of(std::span<const trace::Span> spans);
ChunkRange range_of(std::span<const trace::CounterPoint> points);
ChunkRange range_of(std::span<const trace::Flow> flows);
// Throws ChunkError when decoded items disagree with their row: damage the codec's own checks
// cannot see (a row edited, or a blob of another chunk).
template <typename Item>
void check_range(std::span<const Item> items, const ChunkRange& row) {
  const ChunkRange got = range_of(items);
  if (got.count != row.count || got.start_ns != row.start_ns || got.end_ns != row.end_ns) {
    throw ChunkError("the chunk row says " + std::to_string(row.count) + " items in [" +
                     std::to_string(row.start_ns) + ", " + std::to_string(row.end_ns) +
                     "] but its data holds " + std::to_string(got.count) + " in [" +
                     std::to_string(got.start_ns) + ", " + std::to_string(got.end_ns) + "]");
  }
}

// Compresses chunks; keeps one zstd context for all of them.
class ChunkEncoder {
 public:
  ChunkEncoder();
  ~ChunkEncoder();
  ChunkEncoder(const ChunkEncoder&) = delete;
  ChunkEncoder& operator=(const ChunkEncoder&) = delete;

  // Spans of one track sorted by start (their track field is not stored: the chunk row has it).
  std::vector<std::uint8_t> spans(std::span<const trace::Span> spans);
  // Points of one counter sorted by time.
  std::vector<std::uint8_t> points(std::span<const trace::CounterPoint> points);
  // Flows sorted by from_ns.
  std::vector<std::uint8_t> flows(std::span<const trace::Flow> flows);

 private:
  std::vector<std::uint8_t> compress(const std::vector<std::uint8_t>& payload);

  ZSTD_CCtx_s* context_ = nullptr;
  std::vector<std::uint8_t> payload_;
};

// Decompresses and checks chunks; keeps one zstd context and one buffer for all of them.
class ChunkDecoder {
 public:
  ChunkDecoder();
  ~ChunkDecoder();
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;

  // Replaces `out` with the chunk's spans, each on `track`, sorted by start.
  void spans(std::span<const std::uint8_t> blob, trace::TrackId track, const SpanLimits& limits,
             std::vector<trace::Span>& out);
  // Replaces `out` with the chunk's points, sorted by time.
  void points(std::span<const std::uint8_t> blob, std::vector<trace::CounterPoint>& out);
  // Replaces `out` with the chunk's flows, sorted by from_ns.
  void flows(std::span<const std::uint8_t> blob, const FlowLimits& limits,
             std::vector<trace::Flow>& out);

 private:
  std::span<const std::uint8_t> decompress(std::span<const std::uint8_t> blob);

  ZSTD_DCtx_s* context_ = nullptr;
  std::vector<std::uint8_t> payload_;
};

}  // namespace tb::store::detail
