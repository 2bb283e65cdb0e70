// A trace batch as bytes, for sending it to another process: how the ranks of a parallel run
// hand their tracks to rank 0, which stores them in its session beside its own. CBOR through
// nlohmann::json: tracks, the names and args the spans use, spans, counters and flows.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/trace/model.h"

namespace tb::trace {

std::vector<std::uint8_t> encode_trace(const Trace& batch);

// Adds what `bytes` holds (encode_trace's output) to `into` as rank `rank`'s: its times shifted
// by `shift_ns` (onto the receiver's clock), each track in process "<process> rank N" with
// Track::rank N, each counter named "<name> (rank N)". Throws tb::Error naming the offset of
// bytes that are not such a trace.
void append_rank_trace(Trace& into, std::span<const std::uint8_t> bytes, std::int64_t rank,
                       std::int64_t shift_ns);

}  // namespace tb::trace
