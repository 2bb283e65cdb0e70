// Internal to core/store: appending Traces to one session's stored trace on an open connection,
// inside a transaction the caller holds — TraceWriter's (one per append) or the schema
// migration's (converting the spans of older databases). Holds what it needs to know of the
// stored trace (names, tracks, counters, each track's open chunks: chunk_tail.h), read once
// when it is made.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/ds/string_interner.h"
#include "core/store/chunk_tail.h"
#include "core/store/session_store.h"
#include "core/store/trace_codec.h"
#include "core/trace/model.h"

struct sqlite3;

namespace tb::store::detail {

class TraceAppender {
 public:
  // Reads the session's stored trace state. Throws StoreError naming the path and session on a
  // database error or a damaged last chunk.
  TraceAppender(sqlite3* db, const std::filesystem::path& path, SessionId id);

  // Stores `batch`, mapping its names, tracks (by process and name), args and counters (by name)
  // to the session's. Runs no BEGIN/COMMIT: the caller's transaction makes it all or nothing,
  // and after a failure this object no longer matches the database (make a new one).
  void append(const trace::Trace& batch);
  // Replaces the top-level keys of the stored metadata that `metadata` (an object) has.
  void merge_metadata(const nlohmann::json& metadata);

 private:
  void load_state();
  void append_batch(const trace::Trace& batch);
  // Inserts one row of `sql`, whose ?1 and ?2 are the session and `item`: binds those, then the
  // rest through bind(Statement&), and runs it. `adding` names the row for errors ("track \"x\"").
  template <typename Bind>
  void insert_row(std::string_view sql, std::int64_t item, const std::string& adding, Bind&& bind);
  trace::NameId session_name(std::string_view text);
  trace::TrackId session_track(const trace::Track& track);
  trace::CounterId session_counter(const trace::Counter& counter);
  template <typename Item, typename Decode>
  void read_tail(ChunkTail<Item>& tail, const char* table, const char* count_column,
                 const char* key_column, std::int64_t key, std::size_t limit, Decode&& decode,
                 const std::string& chunk_of);
  void write_spans(trace::TrackId track, std::vector<trace::Span> spans);
  void write_points(trace::CounterId counter, std::vector<trace::CounterPoint> points);
  void write_flows(std::vector<trace::Flow> flows);
  std::string where() const;  // "appending to the trace of session N"
  // Throws StoreError "<path>: <where()>: <what>".
  [[noreturn]] void fail(const std::string& what) const;

  sqlite3* db_;
  const std::filesystem::path& path_;
  SessionId id_;
  ChunkEncoder encoder_;
  ChunkDecoder decoder_;

  ds::StringInterner names_;  // the session's names; ids as stored
  std::int64_t args_ = 0;     // args stored so far (ids 1..args_)
  std::vector<trace::Track> tracks_;
  std::map<std::pair<std::string, std::string>, trace::TrackId> track_ids_;  // (process, name)
  std::unordered_map<std::string, trace::CounterId> counter_ids_;
  std::vector<ChunkTail<trace::Span>> span_tails_;           // [track - 1]
  std::vector<ChunkTail<trace::CounterPoint>> point_tails_;  // [counter - 1]
  ChunkTail<trace::Flow> flow_tail_;
};

}  // namespace tb::store::detail
