#include "core/store/trace_codec.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace tb::store::detail {
namespace {

static_assert(std::endian::native == std::endian::little,
              "counter values are stored as little-endian doubles");

// Level 3 (zstd's default) compresses the engine's spans about 2x better than level 1 at a cost
// that stays below a millisecond for a full chunk; decompression speed does not depend on it.
constexpr int kZstdLevel = 3;

// No chunk this codec writes comes near this (a full span chunk is under 1 MiB even raw); a
// frame claiming more is damage, refused before anything is allocated for it.
constexpr std::size_t kMaxPayloadBytes = std::size_t{64} << 20;

// Fewest payload bytes one row can take (a one-byte varint per column), so that a damaged count
// is refused before a vector of that size is allocated.
constexpr std::size_t kMinSpanBytes = 6;   // start, duration, step, name, args, category
constexpr std::size_t kMinPointBytes = 9;  // time, 8-byte value
constexpr std::size_t kMinFlowBytes = 5;   // from, to, from track, to track, id

// Two's-complement wrapping arithmetic: deltas of any two int64 values round-trip exactly.
std::uint64_t minus(std::int64_t a, std::int64_t b) {
  return static_cast<std::uint64_t>(a) - static_cast<std::uint64_t>(b);
}
std::int64_t plus(std::int64_t a, std::uint64_t delta) {
  return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + delta);
}
std::uint64_t zigzag(std::uint64_t wrapped_signed) {
  const auto value = static_cast<std::int64_t>(wrapped_signed);
  return (wrapped_signed << 1) ^ static_cast<std::uint64_t>(value >> 63);
}
std::uint64_t unzigzag(std::uint64_t code) {
  return (code >> 1) ^ (~(code & 1) + 1);
}

void put(std::vector<std::uint8_t>& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<std::uint8_t>(value) | 0x80);
    value >>= 7;
  }
  out.push_back(static_cast<std::uint8_t>(value));
}

// Reads a payload front to back; every read checks the bytes are there.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes)
      : at_(bytes.data()), end_(bytes.data() + bytes.size()), size_(bytes.size()) {}

  std::uint64_t varint(const char* column) {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == end_) fail(std::string("the ") + column + " column ends early");
      const std::uint8_t byte = *at_++;
      if (shift == 63 && byte > 1)
        fail(std::string("a varint of the ") + column + " column overflows 64 bits");
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail(std::string("a varint of the ") + column + " column is longer than 10 bytes");
  }
  std::uint8_t byte(const char* column) {
    if (at_ == end_) fail(std::string("the ") + column + " column ends early");
    return *at_++;
  }
  double real(const char* column) {
    if (end_ - at_ < 8) fail(std::string("the ") + column + " column ends early");
    double value;
    std::memcpy(&value, at_, 8);
    at_ += 8;
    return value;
  }
  // The row count, refused when the payload is too short to hold that many rows.
  std::size_t count(std::size_t min_row_bytes) {
    const std::uint64_t count = varint("count");
    if (count > left() / min_row_bytes) {
      fail("the count " + std::to_string(count) + " needs at least " +
           std::to_string(count * min_row_bytes) + " more bytes, but " + std::to_string(left()) +
           " are left");
    }
    return static_cast<std::size_t>(count);
  }
  void expect_end() const {
    if (at_ != end_) fail(std::to_string(left()) + " bytes follow the last column");
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw ChunkError(what + " (at byte " + std::to_string(size_ - left()) + " of a " +
                     std::to_string(size_) + "-byte payload)");
  }

 private:
  std::size_t left() const { return static_cast<std::size_t>(end_ - at_); }

  const std::uint8_t* at_;
  const std::uint8_t* end_;
  std::size_t size_;
};

}  // namespace

ChunkRange range_of(std::span<const trace::Span> spans) {
  ChunkRange range{0, 0, static_cast<std::int64_t>(spans.size())};
  if (spans.empty()) return range;
  range.start_ns = spans.front().start_ns;
  range.end_ns = spans.front().end_ns;
  for (const auto& span : spans) range.end_ns = std::max(range.end_ns, span.end_ns);
  return range;
}

ChunkRange range_of(std::span<const trace::CounterPoint> points) {
  if (points.empty()) return {};
  return {points.front().time_ns, points.back().time_ns, static_cast<std::int64_t>(points.size())};
}

ChunkRange range_of(std::span<const trace::Flow> flows) {
  ChunkRange range{0, 0, static_cast<std::int64_t>(flows.size())};
  if (flows.empty()) return range;
  range.start_ns = std::min(flows.front().from_ns, flows.front().to_ns);
  range.end_ns = std::max(flows.front().from_ns, flows.front().to_ns);
  for (const auto& flow : flows) {
    range.start_ns = std::min({range.start_ns, flow.from_ns, flow.to_ns});
    range.end_ns = std::max({range.end_ns, flow.from_ns, flow.to_ns});
  }
  return range;
}

ChunkEncoder::ChunkEncoder() : context_(ZSTD_createCCtx()) {
  if (context_ == nullptr) throw ChunkError("zstd: cannot create a compression context");
  // The checksum (4 bytes a chunk) makes any changed byte of a frame an error on reading, where
  // without it a flip could decode to other, plausible spans.
  if (ZSTD_isError(ZSTD_CCtx_setParameter(context_, ZSTD_c_compressionLevel, kZstdLevel)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(context_, ZSTD_c_checksumFlag, 1))) {
    ZSTD_freeCCtx(context_);
    throw ChunkError("zstd: cannot set the compression level and checksum");
  }
}

ChunkEncoder::~ChunkEncoder() {
  ZSTD_freeCCtx(context_);
}

std::vector<std::uint8_t> ChunkEncoder::compress(const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> blob(1 + ZSTD_compressBound(payload.size()));
  blob[0] = kChunkFormatVersion;
  const std::size_t written =
      ZSTD_compress2(context_, blob.data() + 1, blob.size() - 1, payload.data(), payload.size());
  if (ZSTD_isError(written)) {
    throw ChunkError(std::string("zstd: compressing a chunk failed: ") +
                     ZSTD_getErrorName(written));
  }
  blob.resize(1 + written);
  return blob;
}

std::vector<std::uint8_t> ChunkEncoder::spans(std::span<const trace::Span> spans) {
  auto& out = payload_;
  out.clear();
  put(out, spans.size());
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i == 0) {
      put(out, zigzag(static_cast<std::uint64_t>(spans[i].start_ns)));
    } else {
      if (spans[i].start_ns < previous)
        throw ChunkError("spans of a chunk must be sorted by start");
      put(out, minus(spans[i].start_ns, previous));
    }
    previous = spans[i].start_ns;
  }
  for (const auto& span : spans) put(out, minus(span.end_ns, span.start_ns));
  std::int64_t step = 0;
  for (const auto& span : spans) {
    put(out, zigzag(minus(span.step, step)));
    step = span.step;
  }
  for (const auto& span : spans) put(out, static_cast<std::uint64_t>(span.name.value));
  for (const auto& span : spans) put(out, static_cast<std::uint64_t>(span.args.value));
  for (const auto& span : spans) out.push_back(static_cast<std::uint8_t>(span.category));
  return compress(out);
}

std::vector<std::uint8_t> ChunkEncoder::points(std::span<const trace::CounterPoint> points) {
  auto& out = payload_;
  out.clear();
  put(out, points.size());
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i == 0) {
      put(out, zigzag(static_cast<std::uint64_t>(points[i].time_ns)));
    } else {
      if (points[i].time_ns < previous) throw ChunkError("counter points must be sorted by time");
      put(out, minus(points[i].time_ns, previous));
    }
    previous = points[i].time_ns;
  }
  for (const auto& point : points) {
    std::uint8_t bytes[8];
    std::memcpy(bytes, &point.value, 8);
    out.insert(out.end(), bytes, bytes + 8);
  }
  return compress(out);
}

std::vector<std::uint8_t> ChunkEncoder::flows(std::span<const trace::Flow> flows) {
  auto& out = payload_;
  out.clear();
  put(out, flows.size());
  std::int64_t previous = 0;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    if (i == 0) {
      put(out, zigzag(static_cast<std::uint64_t>(flows[i].from_ns)));
    } else {
      if (flows[i].from_ns < previous) throw ChunkError("flows must be sorted by from_ns");
      put(out, minus(flows[i].from_ns, previous));
    }
    previous = flows[i].from_ns;
  }
  for (const auto& flow : flows) put(out, zigzag(minus(flow.to_ns, flow.from_ns)));
  for (const auto& flow : flows) put(out, static_cast<std::uint64_t>(flow.from_track.value));
  for (const auto& flow : flows) put(out, static_cast<std::uint64_t>(flow.to_track.value));
  for (const auto& flow : flows) put(out, flow.id);
  return compress(out);
}

ChunkDecoder::ChunkDecoder() : context_(ZSTD_createDCtx()) {
  if (context_ == nullptr) throw ChunkError("zstd: cannot create a decompression context");
}

ChunkDecoder::~ChunkDecoder() {
  ZSTD_freeDCtx(context_);
}

std::span<const std::uint8_t> ChunkDecoder::decompress(std::span<const std::uint8_t> blob) {
  if (blob.empty()) throw ChunkError("the blob is empty");
  if (blob[0] != kChunkFormatVersion) {
    throw ChunkError("format version " + std::to_string(blob[0]) + " (this build reads version " +
                     std::to_string(kChunkFormatVersion) + ")");
  }
  const auto frame = blob.subspan(1);
  const unsigned long long size = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) throw ChunkError("the data is not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) throw ChunkError("the zstd frame does not say its size");
  if (size > kMaxPayloadBytes) {
    throw ChunkError("the zstd frame claims " + std::to_string(size) + " bytes (at most " +
                     std::to_string(kMaxPayloadBytes) + " expected)");
  }
  payload_.resize(static_cast<std::size_t>(size));
  const std::size_t got =
      ZSTD_decompressDCtx(context_, payload_.data(), payload_.size(), frame.data(), frame.size());
  if (ZSTD_isError(got)) {
    throw ChunkError(std::string("zstd: ") + ZSTD_getErrorName(got));
  }
  if (got != payload_.size()) {
    throw ChunkError("the zstd frame holds " + std::to_string(got) + " bytes, not the " +
                     std::to_string(payload_.size()) + " it claims");
  }
  return payload_;
}

void ChunkDecoder::spans(std::span<const std::uint8_t> blob, trace::TrackId track,
                         const SpanLimits& limits, std::vector<trace::Span>& out) {
  Reader in(decompress(blob));
  const std::size_t count = in.count(kMinSpanBytes);
  out.resize(count);
  std::int64_t start = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i == 0) {
      start = static_cast<std::int64_t>(unzigzag(in.varint("start")));
    } else {
      const std::int64_t next = plus(start, in.varint("start"));
      if (next < start)
        in.fail("span " + std::to_string(i) + " starts before span " + std::to_string(i - 1));
      start = next;
    }
    out[i].start_ns = start;
    out[i].track = track;
  }
  for (std::size_t i = 0; i < count; ++i) {
    out[i].end_ns = plus(out[i].start_ns, in.varint("duration"));
    if (out[i].end_ns < out[i].start_ns) {
      in.fail("span " + std::to_string(i) + " ends before it starts");
    }
  }
  std::int64_t step = 0;
  for (std::size_t i = 0; i < count; ++i) {
    step = plus(step, unzigzag(in.varint("step")));
    out[i].step = step;
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t name = in.varint("name");
    if (name < 1 || name > static_cast<std::uint64_t>(limits.names)) {
      in.fail("span " + std::to_string(i) + " has name id " + std::to_string(name) +
              " (the session has names 1.." + std::to_string(limits.names) + ")");
    }
    out[i].name = trace::NameId(static_cast<std::int64_t>(name));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t args = in.varint("args");
    if (args > static_cast<std::uint64_t>(limits.args)) {
      in.fail("span " + std::to_string(i) + " has args id " + std::to_string(args) +
              " (the session has args 1.." + std::to_string(limits.args) + ")");
    }
    out[i].args = trace::ArgsId(static_cast<std::int64_t>(args));
  }
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t category = in.byte("category");
    if (category >= trace::kCategoryCount) {
      in.fail("span " + std::to_string(i) + " has category " + std::to_string(category) +
              " (categories are 0.." + std::to_string(trace::kCategoryCount - 1) + ")");
    }
    out[i].category = static_cast<trace::Category>(category);
  }
  in.expect_end();
}

void ChunkDecoder::points(std::span<const std::uint8_t> blob,
                          std::vector<trace::CounterPoint>& out) {
  Reader in(decompress(blob));
  const std::size_t count = in.count(kMinPointBytes);
  out.resize(count);
  std::int64_t time = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i == 0) {
      time = static_cast<std::int64_t>(unzigzag(in.varint("time")));
    } else {
      const std::int64_t next = plus(time, in.varint("time"));
      if (next < time)
        in.fail("point " + std::to_string(i) + " comes before point " + std::to_string(i - 1));
      time = next;
    }
    out[i].time_ns = time;
  }
  for (std::size_t i = 0; i < count; ++i) out[i].value = in.real("value");
  in.expect_end();
}

void ChunkDecoder::flows(std::span<const std::uint8_t> blob, const FlowLimits& limits,
                         std::vector<trace::Flow>& out) {
  Reader in(decompress(blob));
  const std::size_t count = in.count(kMinFlowBytes);
  out.resize(count);
  std::int64_t from = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i == 0) {
      from = static_cast<std::int64_t>(unzigzag(in.varint("from")));
    } else {
      const std::int64_t next = plus(from, in.varint("from"));
      if (next < from)
        in.fail("flow " + std::to_string(i) + " comes before flow " + std::to_string(i - 1));
      from = next;
    }
    out[i].from_ns = from;
  }
  for (std::size_t i = 0; i < count; ++i) {
    out[i].to_ns = plus(out[i].from_ns, unzigzag(in.varint("to")));
  }
  const auto track = [&](const char* column, std::size_t i) {
    const std::uint64_t id = in.varint(column);
    if (id < 1 || id > static_cast<std::uint64_t>(limits.tracks)) {
      in.fail("flow " + std::to_string(i) + " has " + column + " id " + std::to_string(id) +
              " (the session has tracks 1.." + std::to_string(limits.tracks) + ")");
    }
    return trace::TrackId(static_cast<std::int64_t>(id));
  };
  for (std::size_t i = 0; i < count; ++i) out[i].from_track = track("from track", i);
  for (std::size_t i = 0; i < count; ++i) out[i].to_track = track("to track", i);
  for (std::size_t i = 0; i < count; ++i) out[i].id = in.varint("id");
  in.expect_end();
}

}  // namespace tb::store::detail
