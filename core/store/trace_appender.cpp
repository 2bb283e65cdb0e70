#include "core/store/trace_appender.h"

#include <sqlite3.h>

#include <algorithm>
#include <memory>
#include <span>

#include "core/store/statement.h"
#include "core/store/trace_store.h"

namespace tb::store::detail {
namespace {

// Trace::finish's order: by start, a longer span before the shorter ones it encloses. Stable, so
// equal spans keep the order they were appended in.
bool span_before(const trace::Span& a, const trace::Span& b) {
  if (a.start_ns != b.start_ns) return a.start_ns < b.start_ns;
  return a.end_ns > b.end_ns;
}
bool point_before(const trace::CounterPoint& a, const trace::CounterPoint& b) {
  return a.time_ns < b.time_ns;
}
bool flow_before(const trace::Flow& a, const trace::Flow& b) {
  return a.from_ns < b.from_ns;
}

// A chunk table's rows of one track (counter; the flows: no key column), for extend().
template <typename Item, typename Encode>
class ChunkTable {
 public:
  ChunkTable(sqlite3* db, const std::filesystem::path& path, const std::string& what,
             const std::string& table, const std::string& count_column,
             const std::string& key_column, SessionId id, std::int64_t key, Encode encode)
      : put_(db, path,
             "INSERT INTO " + table + " (session_id, " + with_key(key_column, ", ") +
                 "seq, start_ns, end_ns, " + count_column + ", data) VALUES (?1, " +
                 with_key("?2", ", ", !key_column.empty()) + "?3, ?4, ?5, ?6, ?7) " +
                 "ON CONFLICT (session_id, " + with_key(key_column, ", ") + "seq) DO UPDATE " +
                 "SET start_ns = excluded.start_ns, end_ns = excluded.end_ns, " + count_column +
                 " = excluded." + count_column + ", data = excluded.data",
             what),
        erase_(db, path,
               "DELETE FROM " + table + " WHERE session_id = ?1 AND " +
                   with_key(key_column + " = ?2", " AND ", !key_column.empty()) + "seq = ?3",
               what),
        encode_(std::move(encode)) {
    // SQLite numbers parameters as written: without a key column ?2 is a gap, bound unused.
    put_.bind_int(1, id.value);
    put_.bind_int(2, key);
    erase_.bind_int(1, id.value);
    erase_.bind_int(2, key);
  }

  void put(std::int64_t seq, std::span<const Item> items) {
    const ChunkRange range = range_of(items);
    const std::vector<std::uint8_t> blob = encode_(items);
    put_.bind_int(3, seq);
    put_.bind_int(4, range.start_ns);
    put_.bind_int(5, range.end_ns);
    put_.bind_int(6, range.count);
    put_.bind_blob(7, blob.data(), blob.size());
    put_.run();
  }
  void erase(std::int64_t seq) {
    erase_.bind_int(3, seq);
    erase_.run();
  }

 private:
  static std::string with_key(const std::string& text, const char* separator, bool present = true) {
    return present && !text.empty() ? text + separator : std::string();
  }

  Statement put_;
  Statement erase_;
  Encode encode_;
};

}  // namespace

TraceAppender::TraceAppender(sqlite3* db, const std::filesystem::path& path, SessionId id)
    : db_(db), path_(path), id_(id) {
  load_state();
}

std::string TraceAppender::where() const {
  return "appending to the trace of session " + std::to_string(id_.value);
}

void TraceAppender::fail(const std::string& what) const {
  throw StoreError(path_.string() + ": " + where() + ": " + what);
}

void TraceAppender::load_state() {
  const std::string what = where() + " (reading what it holds)";
  Statement names(db_, path_,
                  "SELECT name_id, name FROM trace_names WHERE session_id = ?1 ORDER BY name_id",
                  what);
  names.bind_int(1, id_.value);
  while (names.step()) {
    const std::int64_t stored = names.column_int(0);
    const std::string text = names.column_text(1);
    // Ids are 1, 2, 3, ... of distinct names; anything else was not written by this class.
    if (names_.find(text) || names_.intern(text).value != stored) {
      fail("name id " + std::to_string(stored) + " (" + in_quotes(text) +
           ") breaks the sequence 1, 2, 3, ... of distinct names");
    }
  }

  Statement args(db_, path_,
                 "SELECT count(*), coalesce(max(args_id), 0) FROM trace_args WHERE session_id = ?1",
                 what);
  args.bind_int(1, id_.value);
  args.step();
  args_ = args.column_int(0);
  if (args.column_int(1) != args_) {
    fail("args ids are not 1.." + std::to_string(args_) + " (the largest is " +
         std::to_string(args.column_int(1)) + ")");
  }

  Statement tracks(db_, path_,
                   "SELECT track_id, name, kind, process, rank FROM trace_tracks WHERE session_id "
                   "= ?1 ORDER BY track_id",
                   what);
  tracks.bind_int(1, id_.value);
  while (tracks.step()) {
    const std::int64_t stored = tracks.column_int(0);
    trace::Track track{tracks.column_text(1), trace::TrackKind::cpu_thread, tracks.column_text(3),
                       tracks.column_int(4)};
    const std::string kind = tracks.column_text(2);
    const auto parsed = trace::track_kind_from_name(kind);
    if (stored != static_cast<std::int64_t>(tracks_.size()) + 1 || !parsed) {
      fail("track " + std::to_string(stored) + " (" + in_quotes(track.name) + ", kind " +
           in_quotes(kind) + ") has not the next track id or a known kind");
    }
    track.kind = *parsed;
    track_ids_.emplace(std::make_pair(track.process, track.name), trace::TrackId(stored));
    tracks_.push_back(std::move(track));
  }

  Statement counters(db_, path_,
                     "SELECT counter_id, name FROM trace_counters WHERE session_id = ?1 ORDER BY "
                     "counter_id",
                     what);
  counters.bind_int(1, id_.value);
  while (counters.step()) {
    const std::int64_t stored = counters.column_int(0);
    if (stored != static_cast<std::int64_t>(counter_ids_.size()) + 1 ||
        !counter_ids_.emplace(counters.column_text(1), trace::CounterId(stored)).second) {
      fail("counter " + std::to_string(stored) + " (" + in_quotes(counters.column_text(1)) +
           ") has not the next counter id or repeats a name");
    }
  }

  // The open chunks of each track, counter and of the flows (chunk_tail.h), decoded.
  const SpanLimits span_limits{static_cast<std::int64_t>(names_.size()), args_};
  const FlowLimits flow_limits{static_cast<std::int64_t>(tracks_.size())};
  span_tails_.resize(tracks_.size());
  for (std::size_t i = 0; i < tracks_.size(); ++i) {
    const trace::TrackId track(static_cast<std::int64_t>(i + 1));
    read_tail(
        span_tails_[i], "trace_span_chunks", "span_count", "track_id", track.value, kSpansPerChunk,
        [&](std::span<const std::uint8_t> blob, std::vector<trace::Span>& out) {
          decoder_.spans(blob, track, span_limits, out);
        },
        "track " + std::to_string(track.value) + " (" + in_quotes(tracks_[i].name) + "), span");
  }
  point_tails_.resize(counter_ids_.size());
  for (std::size_t i = 0; i < point_tails_.size(); ++i) {
    read_tail(
        point_tails_[i], "trace_counter_chunks", "point_count", "counter_id",
        static_cast<std::int64_t>(i + 1), kPointsPerChunk,
        [&](std::span<const std::uint8_t> blob, std::vector<trace::CounterPoint>& out) {
          decoder_.points(blob, out);
        },
        "counter " + std::to_string(i + 1) + ", point");
  }
  read_tail(
      flow_tail_, "trace_flow_chunks", "flow_count", "", 0, kFlowsPerChunk,
      [&](std::span<const std::uint8_t> blob, std::vector<trace::Flow>& out) {
        decoder_.flows(blob, flow_limits, out);
      },
      "flow");
}

template <typename Item, typename Decode>
void TraceAppender::read_tail(ChunkTail<Item>& tail, const char* table, const char* count_column,
                              const char* key_column, std::int64_t key, std::size_t limit,
                              Decode&& decode, const std::string& chunk_of) {
  const std::string what = where() + " (reading its open chunks)";
  const std::string of_key =
      std::string(table) + " WHERE session_id = ?1" +
      (key_column[0] != '\0' ? std::string(" AND ") + key_column + " = ?2" : std::string());
  Statement last(db_, path_, "SELECT coalesce(max(seq), 0) FROM " + of_key, what);
  last.bind_int(1, id_.value);
  if (key_column[0] != '\0') last.bind_int(2, key);
  last.step();
  tail.next_seq = last.column_int(0) + 1;
  // Largest first, the order extend() keeps them in.
  Statement open(db_, path_,
                 std::string("SELECT seq, start_ns, end_ns, ") + count_column + ", data FROM " +
                     of_key + " AND " + count_column + " < ?3 ORDER BY " + count_column +
                     " DESC, seq",
                 what);
  open.bind_int(1, id_.value);
  open.bind_int(2, key);
  open.bind_int(3, static_cast<std::int64_t>(limit));
  while (open.step()) {
    OpenChunk<Item> chunk;
    chunk.seq = open.column_int(0);
    const ChunkRange row{open.column_int(1), open.column_int(2), open.column_int(3)};
    const auto* data = static_cast<const std::uint8_t*>(open.column_blob(4));
    try {
      decode(std::span<const std::uint8_t>(data, data == nullptr ? 0 : open.column_bytes(4)),
             chunk.items);
      check_range(std::span<const Item>(chunk.items), row);
    } catch (const ChunkError& error) {
      fail(chunk_of + " chunk seq " + std::to_string(chunk.seq) + " is damaged: " + error.what());
    }
    tail.open.push_back(std::move(chunk));
  }
}

template <typename Bind>
void TraceAppender::insert_row(std::string_view sql, std::int64_t item, const std::string& adding,
                               Bind&& bind) {
  Statement insert(db_, path_, sql, where() + " (adding " + adding + ")");
  insert.bind_int(1, id_.value);
  insert.bind_int(2, item);
  bind(insert);
  insert.run();
}

trace::NameId TraceAppender::session_name(std::string_view text) {
  if (const auto found = names_.find(text)) return *found;
  const trace::NameId id = names_.intern(text);
  insert_row("INSERT INTO trace_names (session_id, name_id, name) VALUES (?1, ?2, ?3)", id.value,
             "name " + in_quotes(text), [&](Statement& insert) {
               // An empty view may have a null data(), which SQLite would store as NULL, not "".
               insert.bind_text(3, text.empty() ? std::string_view("") : text);
             });
  return id;
}

trace::TrackId TraceAppender::session_track(const trace::Track& track) {
  const auto key = std::make_pair(track.process, track.name);
  if (const auto found = track_ids_.find(key); found != track_ids_.end()) return found->second;
  const trace::TrackId id(static_cast<std::int64_t>(tracks_.size()) + 1);
  insert_row(
      "INSERT INTO trace_tracks (session_id, track_id, name, kind, process, rank) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
      id.value, "track " + in_quotes(track.name), [&](Statement& insert) {
        insert.bind_text(3, track.name);
        insert.bind_text(4, trace::track_kind_name(track.kind));
        insert.bind_text(5, track.process);
        insert.bind_int(6, track.rank);
      });
  tracks_.push_back(track);
  track_ids_.emplace(key, id);
  span_tails_.emplace_back();
  return id;
}

trace::CounterId TraceAppender::session_counter(const trace::Counter& counter) {
  if (const auto found = counter_ids_.find(counter.name); found != counter_ids_.end()) {
    return found->second;
  }
  const trace::CounterId id(static_cast<std::int64_t>(counter_ids_.size()) + 1);
  insert_row(
      "INSERT INTO trace_counters (session_id, counter_id, name, unit) VALUES (?1, ?2, ?3, ?4)",
      id.value, "counter " + in_quotes(counter.name), [&](Statement& insert) {
        insert.bind_text(3, counter.name);
        insert.bind_text(4, counter.unit);
      });
  counter_ids_.emplace(counter.name, id);
  point_tails_.emplace_back();
  return id;
}

void TraceAppender::append(const trace::Trace& batch) {
  try {
    append_batch(batch);
  } catch (const ChunkError& error) {  // only the encoder's: zstd failing to compress
    fail(error.what());
  }
}

void TraceAppender::append_batch(const trace::Trace& batch) {
  // Every batch id mapped to the session's first, so the spans below only look them up.
  std::vector<trace::NameId> names(batch.names().size() + 1);
  for (std::size_t i = 1; i < names.size(); ++i) {
    names[i] = session_name(batch.name(trace::NameId(static_cast<std::int64_t>(i))));
  }
  std::vector<trace::TrackId> tracks(batch.tracks().size() + 1);
  for (std::size_t i = 1; i < tracks.size(); ++i) tracks[i] = session_track(batch.tracks()[i - 1]);

  const std::int64_t args_base = args_;
  const auto batch_args = static_cast<std::int64_t>(batch.args_count());
  if (batch_args > 0) {
    Statement insert(db_, path_,
                     "INSERT INTO trace_args (session_id, args_id, json) VALUES (?1, ?2, ?3)",
                     where() + " (adding args)");
    insert.bind_int(1, id_.value);
    for (std::int64_t i = 1; i <= batch_args; ++i) {
      insert.bind_int(2, args_base + i);
      insert.bind_text(3, batch.args(trace::ArgsId(i)));
      insert.run();
    }
    args_ += batch_args;
  }

  std::vector<std::vector<trace::Span>> by_track(tracks_.size());
  for (std::size_t i = 0; i < batch.spans().size(); ++i) {
    trace::Span span = batch.spans()[i];
    const std::string which = "span " + std::to_string(i) + " of the batch";
    if (!span.track.valid() || span.track.value >= static_cast<std::int64_t>(tracks.size())) {
      fail(which + " is on track " + std::to_string(span.track.value) +
           ", which the batch does not have");
    }
    if (span.end_ns < span.start_ns) {
      fail(which + " ends (" + std::to_string(span.end_ns) + " ns) before it starts (" +
           std::to_string(span.start_ns) + " ns)");
    }
    if (span.name.value < 0 || span.name.value >= static_cast<std::int64_t>(names.size())) {
      fail(which + " has name id " + std::to_string(span.name.value) +
           ", which the batch does not have");
    }
    if (span.args.value < 0 || span.args.value > batch_args) {
      fail(which + " has args id " + std::to_string(span.args.value) +
           ", which the batch does not have");
    }
    span.track = tracks[static_cast<std::size_t>(span.track.value)];
    // A span without a name (id 0) is stored with the empty name, which every reader can show.
    span.name =
        span.name.valid() ? names[static_cast<std::size_t>(span.name.value)] : session_name("");
    span.args = span.args.valid() ? trace::ArgsId(args_base + span.args.value) : trace::ArgsId{};
    by_track[static_cast<std::size_t>(span.track.value - 1)].push_back(span);
  }
  for (std::size_t i = 0; i < by_track.size(); ++i) {
    if (!by_track[i].empty()) {
      write_spans(trace::TrackId(static_cast<std::int64_t>(i + 1)), std::move(by_track[i]));
    }
  }

  for (const auto& counter : batch.counters()) {
    const trace::CounterId id = session_counter(counter);
    if (!counter.points.empty()) write_points(id, counter.points);
  }

  std::vector<trace::Flow> flows;
  flows.reserve(batch.flows().size());
  for (std::size_t i = 0; i < batch.flows().size(); ++i) {
    trace::Flow flow = batch.flows()[i];
    for (trace::TrackId* track : {&flow.from_track, &flow.to_track}) {
      if (!track->valid() || track->value >= static_cast<std::int64_t>(tracks.size())) {
        fail("flow " + std::to_string(i) + " of the batch has an end on track " +
             std::to_string(track->value) + ", which the batch does not have");
      }
      *track = tracks[static_cast<std::size_t>(track->value)];
    }
    flows.push_back(flow);
  }
  if (!flows.empty()) write_flows(std::move(flows));

  if (batch.metadata.is_object() && !batch.metadata.empty()) merge_metadata(batch.metadata);
}

void TraceAppender::write_spans(trace::TrackId track, std::vector<trace::Span> spans) {
  const auto encode = [this](std::span<const trace::Span> chunk) { return encoder_.spans(chunk); };
  ChunkTable<trace::Span, decltype(encode)> table(
      db_, path_,
      where() + " (writing spans of track " + std::to_string(track.value) + " " +
          in_quotes(tracks_[static_cast<std::size_t>(track.value - 1)].name) + ")",
      "trace_span_chunks", "span_count", "track_id", id_, track.value, encode);
  extend(span_tails_[static_cast<std::size_t>(track.value - 1)], std::move(spans), kSpansPerChunk,
         span_before, table);
}

void TraceAppender::write_points(trace::CounterId counter,
                                 std::vector<trace::CounterPoint> points) {
  const auto encode = [this](std::span<const trace::CounterPoint> chunk) {
    return encoder_.points(chunk);
  };
  ChunkTable<trace::CounterPoint, decltype(encode)> table(
      db_, path_, where() + " (writing points of counter " + std::to_string(counter.value) + ")",
      "trace_counter_chunks", "point_count", "counter_id", id_, counter.value, encode);
  extend(point_tails_[static_cast<std::size_t>(counter.value - 1)], std::move(points),
         kPointsPerChunk, point_before, table);
}

void TraceAppender::write_flows(std::vector<trace::Flow> flows) {
  const auto encode = [this](std::span<const trace::Flow> chunk) { return encoder_.flows(chunk); };
  ChunkTable<trace::Flow, decltype(encode)> table(db_, path_, where() + " (writing flows)",
                                                  "trace_flow_chunks", "flow_count", "", id_, 0,
                                                  encode);
  extend(flow_tail_, std::move(flows), kFlowsPerChunk, flow_before, table);
}

void TraceAppender::merge_metadata(const nlohmann::json& metadata) {
  const std::string what = where() + " (merging its metadata)";
  if (!metadata.is_object()) fail("the metadata to merge is not a JSON object");
  Statement read(db_, path_, "SELECT json FROM trace_metadata WHERE session_id = ?1", what);
  read.bind_int(1, id_.value);
  nlohmann::json merged = nlohmann::json::object();
  if (read.step()) {
    merged = nlohmann::json::parse(read.column_text(0), nullptr, false);
    if (!merged.is_object()) {
      fail("the stored metadata is not a JSON object (damaged)");
    }
  }
  for (const auto& [key, value] : metadata.items()) merged[key] = value;
  Statement write(db_, path_,
                  "INSERT INTO trace_metadata (session_id, json) VALUES (?1, ?2) ON CONFLICT "
                  "(session_id) DO UPDATE SET json = excluded.json",
                  what);
  write.bind_int(1, id_.value);
  write.bind_text(2, merged.dump());
  write.run();
}

}  // namespace tb::store::detail
