// A session's trace in the session database: tracks, interned names, args, counters and flows,
// and spans in chunks — per track, up to kSpansPerChunk spans by start, columns delta- and
// varint-encoded, then zstd-compressed — each chunk row carrying its time range, so that loading
// a window of a 10M-span session reads only the chunks that overlap it.
//
// Writing goes through a TraceWriter: the engine appends the batches its recorder drains while a
// run goes on (each batch a small Trace with its own name ids; the writer maps them to the
// session's), and an import appends one whole Trace. Every append is one transaction: a reader
// (the GUI, live) sees whole batches only; a load reads in one read transaction, so it sees
// one state of the session's trace, never half of an append.
//
// Tables (schema version 5, core/store/schema.cpp): trace_tracks, trace_names, trace_args,
// trace_counters, trace_metadata, and the chunk tables trace_span_chunks (per track),
// trace_counter_chunks (per counter) and trace_flow_chunks (per session), each chunk row holding
// its time range and item count beside the blob (layout: core/store/trace_codec.h).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "core/store/session_store.h"
#include "core/trace/model.h"

namespace tb::store {

inline constexpr std::size_t kSpansPerChunk = 16384;
inline constexpr std::size_t kPointsPerChunk = 16384;  // of one counter
inline constexpr std::size_t kFlowsPerChunk = 16384;

struct TimeWindow {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;  // spans overlapping [start_ns, end_ns) are loaded
};

class TraceWriter {
 public:
  // Continues the session's stored trace (its tracks, names and counters keep their ids). One
  // writer per session at a time; `store` must outlive it. Throws StoreError when there is no
  // such session.
  TraceWriter(SessionStore& store, SessionId id);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Stores `batch` (its spans in any order) in one transaction. Tracks are matched by
  // (process, name), counters by name; names and args are re-interned; the batch's metadata,
  // when it has any, is merged as by set_metadata. The last chunk of a track stays open (is
  // rewritten by the next append) until it holds kSpansPerChunk spans. Throws StoreError naming
  // the path and session (a span of the batch on a track it does not have, or ending before it
  // starts, is refused); then nothing of the batch is stored.
  void append(const trace::Trace& batch);
  // Merges `metadata` into the stored trace metadata (top-level keys replaced).
  void set_metadata(const nlohmann::json& metadata);

 private:
  struct State;
  SessionStore& store_;
  SessionId id_;
  std::unique_ptr<State> state_;
};

// The session's trace; with a window, only the spans overlapping it (tracks, names, counters'
// points inside the window, with the last point before it so that a plot starts at the right
// value, and flows with an end inside it; args only those of the loaded spans). A span overlaps
// [t0, t1) when start < t1 and end > t0; a zero-length span when t0 <= start < t1. The result is
// finish()ed. A session with no trace gives an empty Trace. Throws StoreError on a missing session
// or a damaged chunk (naming the session and chunk).
trace::Trace load_trace(const SessionStore& store, SessionId id,
                        std::optional<TimeWindow> window = std::nullopt);

// Stored span count and time range, without decoding any chunk. Throws StoreError on a missing
// session.
struct TraceExtent {
  std::int64_t spans = 0;
  std::int64_t begin_ns = 0;
  std::int64_t end_ns = 0;
};
TraceExtent trace_extent(const SessionStore& store, SessionId id);

}  // namespace tb::store
