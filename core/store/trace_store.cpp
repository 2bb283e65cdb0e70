#include "core/store/trace_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <span>
#include <string>
#include <vector>

#include "core/store/statement.h"
#include "core/store/store_access.h"
#include "core/store/trace_appender.h"
#include "core/store/trace_codec.h"

namespace tb::store {

namespace {

namespace fs = std::filesystem;
using detail::ChunkDecoder;
using detail::ChunkError;
using detail::ChunkRange;
using detail::in_quotes;
using detail::Statement;
using detail::StoreAccess;

std::string session_text(SessionId id) {
  return "session " + std::to_string(id.value);
}

void require_session(sqlite3* db, const fs::path& path, SessionId id, const std::string& what) {
  Statement query(db, path, "SELECT 1 FROM sessions WHERE id = ?1", what);
  query.bind_int(1, id.value);
  if (!query.step()) throw StoreError(path.string() + ": " + what + ": there is no such session");
}

// A deferred read transaction: every query of one load sees the same committed state, so the
// names and tracks read first are the ones the chunks read later refer to, while a run goes on
// appending. Nothing when the connection is already inside a transaction.
class ReadTransaction {
 public:
  ReadTransaction(sqlite3* db, const fs::path& path, const std::string& what) : db_(db) {
    if (sqlite3_get_autocommit(db_) == 0) return;
    detail::exec(db_, path, "BEGIN", what + " (starting a read transaction)");
    open_ = true;
  }
  ~ReadTransaction() {
    if (open_) sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  sqlite3* db_;
  bool open_ = false;
};

// One load_trace: reads the tables in order, each chunk through one decoder.
class TraceLoader {
 public:
  TraceLoader(sqlite3* db, const fs::path& path, SessionId id, std::optional<TimeWindow> window)
      : db_(db),
        path_(path),
        id_(id),
        window_(window),
        what_("loading the trace of " + session_text(id)) {}

  trace::Trace load() {
    ReadTransaction transaction(db_, path_, what_);
    require_session(db_, path_, id_, what_);
    load_tracks();
    load_names();
    load_spans();
    load_counters();
    load_flows();
    load_metadata();
    trace_.finish();
    return std::move(trace_);
  }

 private:
  [[noreturn]] void damaged(const std::string& what) const {
    throw StoreError(path_.string() + ": " + what_ + ": " + what);
  }

  std::int64_t t0() const { return window_ ? window_->start_ns : 0; }
  std::int64_t t1() const { return window_ ? window_->end_ns : 0; }
  // The chunk filter (a superset of the item filters below), and its bindings at ?3, ?4.
  std::string chunk_filter() const { return window_ ? " AND start_ns < ?3 AND end_ns >= ?4" : ""; }
  void bind_window(Statement& query) const {
    if (!window_) return;
    query.bind_int(3, window_->end_ns);
    query.bind_int(4, window_->start_ns);
  }
  bool overlaps(const trace::Span& span) const {
    if (!window_) return true;
    return span.start_ns < t1() && (span.end_ns > t0() || span.start_ns >= t0());
  }
  bool inside(std::int64_t time_ns) const {
    return !window_ || (time_ns >= t0() && time_ns < t1());
  }

  void load_tracks() {
    Statement query(db_, path_,
                    "SELECT track_id, name, kind, process, rank FROM trace_tracks WHERE "
                    "session_id = ?1 ORDER BY track_id",
                    what_ + " (its tracks)");
    query.bind_int(1, id_.value);
    while (query.step()) {
      const std::int64_t stored = query.column_int(0);
      const std::string kind = query.column_text(2);
      const auto parsed = trace::track_kind_from_name(kind);
      if (!parsed)
        damaged("track " + std::to_string(stored) + " has an unknown kind " + in_quotes(kind));
      const trace::TrackId id = trace_.add_track(
          {query.column_text(1), *parsed, query.column_text(3), query.column_int(4)});
      if (id.value != stored) {
        damaged("track id " + std::to_string(stored) + " breaks the sequence 1, 2, 3, ...");
      }
    }
  }

  void load_names() {
    Statement query(db_, path_,
                    "SELECT name_id, name FROM trace_names WHERE session_id = ?1 ORDER BY name_id",
                    what_ + " (its names)");
    query.bind_int(1, id_.value);
    while (query.step()) {
      const std::int64_t stored = query.column_int(0);
      const std::string name = query.column_text(1);
      if (trace_.names().find(name) || trace_.intern(name).value != stored) {
        damaged("name id " + std::to_string(stored) + " (" + in_quotes(name) +
                ") breaks the sequence 1, 2, 3, ... of distinct names");
      }
    }
  }

  // The whole load keeps the stored args ids; a window load takes only the args its spans refer
  // to, numbered anew.
  void load_spans() {
    Statement count(db_, path_,
                    "SELECT count(*), coalesce(max(args_id), 0) FROM trace_args WHERE session_id "
                    "= ?1",
                    what_ + " (its args)");
    count.bind_int(1, id_.value);
    count.step();
    const std::int64_t args = count.column_int(0);
    if (count.column_int(1) != args) {
      damaged("args ids are not 1.." + std::to_string(args) + " (the largest is " +
              std::to_string(count.column_int(1)) + ")");
    }
    if (!window_) load_all_args();
    const detail::SpanLimits limits{static_cast<std::int64_t>(trace_.names().size()), args};

    Statement query(db_, path_,
                    "SELECT track_id, seq, start_ns, end_ns, span_count, data FROM "
                    "trace_span_chunks WHERE session_id = ?1" +
                        chunk_filter() + " ORDER BY track_id, seq",
                    what_ + " (its span chunks)");
    query.bind_int(1, id_.value);
    bind_window(query);
    std::vector<trace::Span> chunk;
    std::vector<trace::Span> kept;  // window loads only: args are renumbered before adding
    while (query.step()) {
      const trace::TrackId track(query.column_int(0));
      const std::int64_t seq = query.column_int(1);
      const std::string which =
          "track " + std::to_string(track.value) +
          (track.valid() && track.value <= static_cast<std::int64_t>(trace_.tracks().size())
               ? " (" + in_quotes(trace_.track(track).name) + ")"
               : std::string(" (not in trace_tracks)")) +
          ", span chunk seq " + std::to_string(seq);
      if (!track.valid() || track.value > static_cast<std::int64_t>(trace_.tracks().size())) {
        damaged(which + ": the session has tracks 1.." + std::to_string(trace_.tracks().size()));
      }
      try {
        decoder_.spans(blob(query, 5), track, limits, chunk);
        detail::check_range(
            std::span<const trace::Span>(chunk),
            ChunkRange{query.column_int(2), query.column_int(3), query.column_int(4)});
      } catch (const ChunkError& error) {
        damaged(which + " is damaged: " + error.what());
      }
      for (const auto& span : chunk) {
        if (!overlaps(span)) continue;
        if (window_) {
          kept.push_back(span);
        } else {
          trace_.add_span(span);
        }
      }
    }
    if (window_) add_window_spans(kept);
  }

  void load_all_args() {
    Statement query(db_, path_,
                    "SELECT args_id, json FROM trace_args WHERE session_id = ?1 ORDER BY args_id",
                    what_ + " (its args)");
    query.bind_int(1, id_.value);
    while (query.step()) {
      const std::int64_t stored = query.column_int(0);
      if (trace_.add_args(query.column_text(1)).value != stored) {
        damaged("args " + std::to_string(stored) + " are empty or out of sequence");
      }
    }
  }

  void add_window_spans(std::vector<trace::Span>& spans) {
    std::vector<std::int64_t> wanted;
    for (const auto& span : spans) {
      if (span.args.valid()) wanted.push_back(span.args.value);
    }
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    std::vector<trace::ArgsId> renumbered(wanted.size());
    if (!wanted.empty()) {
      // One range scan: a window's spans were mostly appended together, so their args ids are
      // close to each other.
      Statement query(db_, path_,
                      "SELECT args_id, json FROM trace_args WHERE session_id = ?1 AND args_id "
                      "BETWEEN ?2 AND ?3 ORDER BY args_id",
                      what_ + " (the args of its spans)");
      query.bind_int(1, id_.value);
      query.bind_int(2, wanted.front());
      query.bind_int(3, wanted.back());
      std::size_t next = 0;
      while (query.step() && next < wanted.size()) {
        if (query.column_int(0) != wanted[next]) continue;
        renumbered[next] = trace_.add_args(query.column_text(1));
        if (!renumbered[next].valid()) {
          damaged("args " + std::to_string(wanted[next]) + " are empty");
        }
        ++next;
      }
      if (next != wanted.size()) {
        damaged("a span refers to args " + std::to_string(wanted[next]) +
                ", which the session does not have");
      }
    }
    for (auto span : spans) {
      if (span.args.valid()) {
        const auto at = std::lower_bound(wanted.begin(), wanted.end(), span.args.value);
        span.args = renumbered[static_cast<std::size_t>(at - wanted.begin())];
      }
      trace_.add_span(span);
    }
  }

  void load_counters() {
    Statement query(db_, path_,
                    "SELECT counter_id, name, unit FROM trace_counters WHERE session_id = ?1 "
                    "ORDER BY counter_id",
                    what_ + " (its counters)");
    query.bind_int(1, id_.value);
    while (query.step()) {
      const std::int64_t stored = query.column_int(0);
      const trace::CounterId id = trace_.add_counter(query.column_text(1), query.column_text(2));
      if (id.value != stored) {
        damaged("counter id " + std::to_string(stored) + " breaks the sequence 1, 2, 3, ...");
      }
    }
    for (std::size_t i = 0; i < trace_.counters().size(); ++i) {
      load_points(trace::CounterId(static_cast<std::int64_t>(i + 1)));
    }
  }

  void load_points(trace::CounterId counter) {
    const std::string columns =
        "SELECT seq, start_ns, end_ns, point_count, data FROM trace_counter_chunks WHERE "
        "session_id = ?1 AND counter_id = ?2";
    Statement query(db_, path_, columns + chunk_filter() + " ORDER BY seq",
                    what_ + " (the points of counter " + std::to_string(counter.value) + ")");
    query.bind_int(1, id_.value);
    query.bind_int(2, counter.value);
    bind_window(query);
    std::optional<trace::CounterPoint> before;  // the last point before the window
    const auto consider_before = [&](const trace::CounterPoint& point) {
      if (point.time_ns < t0() && (!before || point.time_ns >= before->time_ns)) before = point;
    };
    std::vector<trace::CounterPoint> points;
    while (query.step()) {
      decode_points(query, counter, points);
      for (const auto& point : points) {
        if (inside(point.time_ns)) {
          trace_.add_counter_point(counter, point.time_ns, point.value);
        } else if (window_) {
          consider_before(point);
        }
      }
    }
    if (!window_) return;
    // Chunks wholly before the window: the one ending last holds the latest point before it,
    // unless a chunk reaching into the window (read above) has a later one.
    Statement last(
        db_, path_, columns + " AND end_ns < ?3 ORDER BY end_ns DESC, seq DESC LIMIT 1",
        what_ + " (the point of counter " + std::to_string(counter.value) + " before the window)");
    last.bind_int(1, id_.value);
    last.bind_int(2, counter.value);
    last.bind_int(3, t0());
    if (last.step()) {
      decode_points(last, counter, points);
      if (!points.empty()) consider_before(points.back());
    }
    if (before) trace_.add_counter_point(counter, before->time_ns, before->value);
  }

  void decode_points(const Statement& row, trace::CounterId counter,
                     std::vector<trace::CounterPoint>& points) {
    try {
      decoder_.points(blob(row, 4), points);
      detail::check_range(std::span<const trace::CounterPoint>(points),
                          ChunkRange{row.column_int(1), row.column_int(2), row.column_int(3)});
    } catch (const ChunkError& error) {
      damaged("counter " + std::to_string(counter.value) + " (" +
              in_quotes(trace_.counter(counter).name) + "), point chunk seq " +
              std::to_string(row.column_int(0)) + " is damaged: " + error.what());
    }
  }

  void load_flows() {
    Statement query(db_, path_,
                    "SELECT seq, start_ns, end_ns, flow_count, data FROM trace_flow_chunks WHERE "
                    "session_id = ?1" +
                        chunk_filter() + " ORDER BY seq",
                    what_ + " (its flows)");
    query.bind_int(1, id_.value);
    bind_window(query);
    const detail::FlowLimits limits{static_cast<std::int64_t>(trace_.tracks().size())};
    std::vector<trace::Flow> flows;
    while (query.step()) {
      try {
        decoder_.flows(blob(query, 4), limits, flows);
        detail::check_range(
            std::span<const trace::Flow>(flows),
            ChunkRange{query.column_int(1), query.column_int(2), query.column_int(3)});
      } catch (const ChunkError& error) {
        damaged("flow chunk seq " + std::to_string(query.column_int(0)) +
                " is damaged: " + error.what());
      }
      for (const auto& flow : flows) {
        if (inside(flow.from_ns) || inside(flow.to_ns)) trace_.add_flow(flow);
      }
    }
  }

  void load_metadata() {
    Statement query(db_, path_, "SELECT json FROM trace_metadata WHERE session_id = ?1",
                    what_ + " (its metadata)");
    query.bind_int(1, id_.value);
    if (!query.step()) return;
    auto metadata = nlohmann::json::parse(query.column_text(0), nullptr, false);
    if (!metadata.is_object()) damaged("the stored metadata is not a JSON object");
    trace_.metadata = std::move(metadata);
  }

  static std::span<const std::uint8_t> blob(const Statement& row, int column) {
    // column_blob first: it may convert the value, after which column_bytes is its size.
    const auto* data = static_cast<const std::uint8_t*>(row.column_blob(column));
    return {data, data == nullptr ? 0 : row.column_bytes(column)};
  }

  sqlite3* db_;
  const fs::path& path_;
  SessionId id_;
  std::optional<TimeWindow> window_;
  std::string what_;  // "loading the trace of session N", for messages after the path
  ChunkDecoder decoder_;
  trace::Trace trace_;
};

}  // namespace

struct TraceWriter::State {
  State(sqlite3* db, const fs::path& path, SessionId id) : appender(db, path, id) {}
  detail::TraceAppender appender;
};

TraceWriter::TraceWriter(SessionStore& store, SessionId id) : store_(store), id_(id) {
  require_session(StoreAccess::db(store_), store_.path(), id_,
                  "writing the trace of " + session_text(id_));
}

TraceWriter::~TraceWriter() = default;

void TraceWriter::append(const trace::Trace& batch) {
  sqlite3* db = StoreAccess::db(store_);
  detail::Transaction transaction(db, store_.path(),
                                  "appending to the trace of " + session_text(id_));
  try {
    // Read inside the transaction: it sees what any earlier writer of the session committed.
    if (!state_) state_ = std::make_unique<State>(db, store_.path(), id_);
    state_->appender.append(batch);
    transaction.commit();
  } catch (...) {
    // The rollback restores the database, not the writer's picture of it: read it again next time.
    state_.reset();
    throw;
  }
}

void TraceWriter::set_metadata(const nlohmann::json& metadata) {
  sqlite3* db = StoreAccess::db(store_);
  detail::Transaction transaction(db, store_.path(),
                                  "setting the trace metadata of " + session_text(id_));
  try {
    if (!state_) state_ = std::make_unique<State>(db, store_.path(), id_);
    state_->appender.merge_metadata(metadata);
    transaction.commit();
  } catch (...) {
    state_.reset();
    throw;
  }
}

trace::Trace load_trace(const SessionStore& store, SessionId id, std::optional<TimeWindow> window) {
  return TraceLoader(StoreAccess::db(store), store.path(), id, window).load();
}

TraceExtent trace_extent(const SessionStore& store, SessionId id) {
  sqlite3* db = StoreAccess::db(store);
  const std::string what = "reading the trace extent of " + session_text(id);
  ReadTransaction transaction(db, store.path(), what);
  require_session(db, store.path(), id, what);
  Statement query(db, store.path(),
                  "SELECT coalesce(sum(span_count), 0), coalesce(min(start_ns), 0), "
                  "coalesce(max(end_ns), 0) FROM trace_span_chunks WHERE session_id = ?1",
                  what);
  query.bind_int(1, id.value);
  query.step();
  return {query.column_int(0), query.column_int(1), query.column_int(2)};
}

}  // namespace tb::store
