// Schema version 5's code: the spans older builds stored one row each (version 4: `spans` with
// ids into `trace_strings`) become the chunked trace of their session, so that every session,
// old or new, is read through load_trace.
#include <sqlite3.h>

#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/store/schema.h"
#include "core/store/statement.h"
#include "core/store/trace_appender.h"

namespace tb::store::detail {
namespace {

// One session's version-4 spans as a Trace: a track per track string (process "trainbench", as
// the engine records them), names interned, categories parsed. What has no place in the model
// is kept in the span's args instead of being lost: a category string this build does not know,
// and the end of a span that ended before it started (its end is set to its start).
trace::Trace legacy_trace(sqlite3* db, const std::filesystem::path& path, const std::string& what,
                          std::int64_t session) {
  const std::string in_session = " of session " + std::to_string(session);
  std::unordered_map<std::int64_t, std::string> strings;
  Statement read_strings(db, path, "SELECT id, text FROM trace_strings WHERE session_id = ?1",
                         what);
  read_strings.bind_int(1, session);
  while (read_strings.step()) strings[read_strings.column_int(0)] = read_strings.column_text(1);

  trace::Trace batch;
  std::unordered_map<std::int64_t, trace::TrackId> tracks;
  std::unordered_map<std::int64_t, trace::NameId> names;
  Statement spans(db, path,
                  "SELECT rowid, track_id, name_id, category_id, start_ns, end_ns, step FROM spans "
                  "WHERE session_id = ?1 ORDER BY start_ns, rowid",
                  what);
  spans.bind_int(1, session);
  while (spans.step()) {
    const auto text = [&](int column) -> const std::string& {
      const std::int64_t id = spans.column_int(column);
      const auto found = strings.find(id);
      if (found == strings.end()) {
        // The whole migration rolls back: better than a span with a made-up name.
        throw StoreError(path.string() + ": " + what + ": span (rowid " +
                         std::to_string(spans.column_int(0)) + ")" + in_session +
                         " refers to trace string " + std::to_string(id) +
                         ", which the session does not have");
      }
      return found->second;
    };
    auto track = tracks.find(spans.column_int(1));
    if (track == tracks.end()) {
      const std::string& name = text(1);
      const auto kind = name.starts_with("loader worker") ? trace::TrackKind::loader_worker
                                                          : trace::TrackKind::cpu_thread;
      track =
          tracks.emplace(spans.column_int(1), batch.track_named(name, kind, "trainbench")).first;
    }
    auto name = names.find(spans.column_int(2));
    if (name == names.end()) {
      name = names.emplace(spans.column_int(2), batch.intern(text(2))).first;
    }
    trace::Span span;
    span.track = track->second;
    span.name = name->second;
    span.start_ns = spans.column_int(4);
    span.end_ns = spans.column_int(5);
    span.step = spans.column_int(6);
    nlohmann::json kept = nlohmann::json::object();
    const std::string& category = text(3);
    if (const auto parsed = trace::category_from_name(category)) {
      span.category = *parsed;
    } else {
      span.category = trace::Category::other;
      kept["category"] = category;
    }
    if (span.end_ns < span.start_ns) {
      kept["end_ns"] = span.end_ns;
      span.end_ns = span.start_ns;
    }
    if (!kept.empty()) span.args = batch.add_args(kept.dump());
    batch.add_span(span);
  }
  return batch;
}

}  // namespace

void convert_legacy_spans(sqlite3* db, const std::filesystem::path& path, const std::string& what) {
  // Spans of a session that no longer exists (possible only where foreign keys were off) go
  // with the table: ON DELETE CASCADE would have removed them.
  std::vector<std::int64_t> sessions;
  {
    Statement query(db, path,
                    "SELECT DISTINCT session_id FROM spans WHERE session_id IN (SELECT id FROM "
                    "sessions) ORDER BY session_id",
                    what);
    while (query.step()) sessions.push_back(query.column_int(0));
  }
  // One session at a time, so memory holds one session's spans, not the whole database's.
  for (const std::int64_t session : sessions) {
    const trace::Trace batch = legacy_trace(db, path, what, session);
    TraceAppender(db, path, SessionId(session)).append(batch);
  }
  exec(db, path, "DROP TABLE spans; DROP TABLE trace_strings;", what);
}

}  // namespace tb::store::detail
