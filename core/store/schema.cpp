#include "core/store/schema.h"

#include <sqlite3.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/store/session_store.h"

namespace tb::store::detail {
namespace {

constexpr Migration kMigrations[] = {
    {1, "sessions, params, metrics and spans",
     R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created TEXT NOT NULL,
  status TEXT NOT NULL,
  project_json TEXT NOT NULL,
  git_revision TEXT NOT NULL,
  host TEXT NOT NULL,
  seed INTEGER NOT NULL
);
CREATE TABLE params (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL
);
-- wall_time and value may be NULL: SQLite stores a bound NaN as NULL, and a diverged run's NaN
-- loss is worth keeping. NULL reads back as NaN.
CREATE TABLE metrics (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  wall_time REAL,
  value REAL
);
CREATE TABLE spans (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track TEXT NOT NULL,
  name TEXT NOT NULL,
  category TEXT NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  step INTEGER NOT NULL
);
)sql",
     nullptr},
    {2, "finish time, run summary and indexes",
     R"sql(
ALTER TABLE sessions ADD COLUMN finished TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN summary_json TEXT NOT NULL DEFAULT '{}';
-- A parameter has one value per session from now on (add_params upserts); version 1 appended,
-- so keep the last value given for each key before the unique index goes on.
DELETE FROM params WHERE rowid NOT IN (SELECT max(rowid) FROM params GROUP BY session_id, key);
-- Each index serves one query of SessionStore and the ON DELETE CASCADE of its table.
CREATE UNIQUE INDEX params_by_session ON params(session_id, key);
CREATE INDEX metrics_by_session_key_step ON metrics(session_id, key, step);
CREATE INDEX spans_by_session_start ON spans(session_id, start_ns);
)sql",
     nullptr},
    {3, "checkpoints (model parameters and optimizer state)",
     R"sql(
CREATE TABLE checkpoints (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  optimizer_step INTEGER NOT NULL,
  created TEXT NOT NULL,
  PRIMARY KEY (session_id, step)
);
-- One row per tensor: values are float32 in the machine's byte order (little-endian on every
-- platform Trainbench builds for), named "model/<param>" or "optimizer/<param>.<buffer>".
CREATE TABLE checkpoint_tensors (
  session_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (session_id, step, name),
  FOREIGN KEY (session_id, step) REFERENCES checkpoints(session_id, step) ON DELETE CASCADE
);
)sql",
     nullptr},
    {4, "trace strings interned per session",
     R"sql(
-- Every track, span name and category string of a session's trace, once; spans refer to them by
-- id (1, 2, 3, ... in first-seen order). A trace repeats a few dozen strings millions of times.
CREATE TABLE trace_strings (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  id INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (session_id, id)
) WITHOUT ROWID;
INSERT INTO trace_strings (session_id, id, text)
  SELECT session_id, row_number() OVER (PARTITION BY session_id ORDER BY first_seen), text
  FROM (SELECT session_id, text, min(position) AS first_seen FROM (
          SELECT session_id, track AS text, 3 * rowid AS position FROM spans
          UNION ALL SELECT session_id, name, 3 * rowid + 1 FROM spans
          UNION ALL SELECT session_id, category, 3 * rowid + 2 FROM spans)
        GROUP BY session_id, text);
CREATE TABLE spans_interned (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track_id INTEGER NOT NULL,
  name_id INTEGER NOT NULL,
  category_id INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  step INTEGER NOT NULL
);
INSERT INTO spans_interned
  SELECT s.session_id, t.id, n.id, c.id, s.start_ns, s.end_ns, s.step
  FROM spans AS s
  JOIN trace_strings AS t ON t.session_id = s.session_id AND t.text = s.track
  JOIN trace_strings AS n ON n.session_id = s.session_id AND n.text = s.name
  JOIN trace_strings AS c ON c.session_id = s.session_id AND c.text = s.category
  ORDER BY s.rowid;
DROP TABLE spans;
ALTER TABLE spans_interned RENAME TO spans;
CREATE INDEX spans_by_session_start ON spans(session_id, start_ns);
)sql",
     nullptr},
    {5, "the trace in chunked, compressed, time-indexed tables",
     R"sql(
-- A session's trace (core/store/trace_store.h). Ids are per session, 1, 2, 3, ... in the order
-- the writer first saw each track, name, args object and counter.
CREATE TABLE trace_tracks (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,      -- trace::track_kind_name: cpu_thread, loader_worker, gpu_stream, rank
  process TEXT NOT NULL,
  rank INTEGER NOT NULL,
  PRIMARY KEY (session_id, track_id)
) WITHOUT ROWID;
CREATE TABLE trace_names (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  name_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  PRIMARY KEY (session_id, name_id)
) WITHOUT ROWID;
-- A span's args: a JSON object's text.
CREATE TABLE trace_args (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  args_id INTEGER NOT NULL,
  json TEXT NOT NULL,
  PRIMARY KEY (session_id, args_id)
) WITHOUT ROWID;
-- Spans by track, in chunks of at most kSpansPerChunk by start (seq 1, 2, ... per track); the
-- blob's layout is core/store/trace_codec.h. start_ns is the chunk's first start, end_ns the
-- latest end in it, so the chunks overlapping [t0, t1) are those with start_ns < t1 and
-- end_ns >= t0: the time index answers that without reading a blob.
CREATE TABLE trace_span_chunks (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  span_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (session_id, track_id, seq),
  FOREIGN KEY (session_id, track_id) REFERENCES trace_tracks(session_id, track_id)
    ON DELETE CASCADE
);
CREATE INDEX trace_span_chunks_by_time ON trace_span_chunks(session_id, start_ns, end_ns);
CREATE TABLE trace_counters (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  counter_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  unit TEXT NOT NULL,
  PRIMARY KEY (session_id, counter_id)
) WITHOUT ROWID;
-- A counter's points by time in chunks like the spans'; start_ns and end_ns: first and last.
CREATE TABLE trace_counter_chunks (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  counter_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  point_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (session_id, counter_id, seq),
  FOREIGN KEY (session_id, counter_id) REFERENCES trace_counters(session_id, counter_id)
    ON DELETE CASCADE
);
-- Flows by from_ns; start_ns and end_ns: the earliest and latest of either end.
CREATE TABLE trace_flow_chunks (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  seq INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns INTEGER NOT NULL,
  flow_count INTEGER NOT NULL,
  data BLOB NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE TABLE trace_metadata (
  session_id INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
  json TEXT NOT NULL
);
)sql",
     convert_legacy_spans},
    {6, "the session catalog (overview columns, tags, notes, sweeps, trash) and clustered metrics",
     R"sql(
-- Metrics clustered by (session, key, step): a curve is one range scan of the table itself, not
-- an index walk with a row lookup per point (2M points of 20 sessions read in about half the
-- time). seq orders repeats of a step as they were written.
CREATE TABLE metrics_clustered (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  step INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  wall_time REAL,
  value REAL,
  PRIMARY KEY (session_id, key, step, seq)
) WITHOUT ROWID;
INSERT INTO metrics_clustered
  SELECT session_id, key, step,
         row_number() OVER (PARTITION BY session_id, key, step ORDER BY rowid) - 1,
         wall_time, value
  FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_clustered RENAME TO metrics;

CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  created TEXT NOT NULL,
  project TEXT NOT NULL,
  grid_json TEXT NOT NULL
);
-- The browser's columns, kept on the row so listing 10,000 sessions parses no JSON: the project's
-- (set when a session is created) and the run's outcome (set as it runs and when it finishes).
ALTER TABLE sessions ADD COLUMN project TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN dataset TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN model TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN optimizer TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN precision TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN best_accuracy REAL;
ALTER TABLE sessions ADD COLUMN samples_per_s REAL;
ALTER TABLE sessions ADD COLUMN duration_s REAL;
ALTER TABLE sessions ADD COLUMN notes TEXT NOT NULL DEFAULT '';
-- 1: deleted in the GUI, still undoable; purged when its window closes.
ALTER TABLE sessions ADD COLUMN trashed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN sweep_id INTEGER REFERENCES sweeps(id) ON DELETE SET NULL;
CREATE TABLE session_tags (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (session_id, tag)
) WITHOUT ROWID;
CREATE INDEX session_tags_by_tag ON session_tags(tag, session_id);
CREATE INDEX sessions_by_project ON sessions(project, id);
CREATE INDEX sessions_by_sweep ON sessions(sweep_id, id);
)sql",
     fill_session_overviews},
};
static_assert(std::size(kMigrations) == SessionStore::kSchemaVersion,
              "every schema version needs its migration step");

int collect_names(void* out, int columns, char** values, char** /*names*/) {
  if (columns > 0 && values[0] != nullptr) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(values[0]);
  }
  return 0;
}

// sqlite3_exec that reports failures as StoreError, with a clearer word for the commonest
// failure on open: a file that is not a database at all.
void exec_collect(sqlite3* db, const std::filesystem::path& path, const char* sql,
                  std::vector<std::string>& out, const std::string& what) {
  const int rc = sqlite3_exec(db, sql, collect_names, &out, nullptr);
  if (rc == SQLITE_NOTADB) {
    throw StoreError(path.string() + ": not a SQLite database (" + sqlite3_errmsg(db) + ")");
  }
  if (rc != SQLITE_OK) throw_sqlite(db, path, what);
}

[[noreturn]] void throw_foreign(const std::filesystem::path& path) {
  throw StoreError(path.string() +
                   ": not a Trainbench session database (a SQLite database without a "
                   "schema_version table)");
}

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

void throw_sqlite(sqlite3* db, const std::filesystem::path& path, const std::string& what) {
  // sqlite3_errmsg(nullptr) is "out of memory", which is what a null handle means.
  throw StoreError(path.string() + ": " + what + ": " + sqlite3_errmsg(db));
}

void throw_newer(const std::filesystem::path& path, int version) {
  throw StoreError(path.string() + ": the session database has schema version " +
                   std::to_string(version) + ", newer than version " +
                   std::to_string(SessionStore::kSchemaVersion) +
                   " that this build of Trainbench knows; open it with a newer Trainbench");
}

void exec(sqlite3* db, const std::filesystem::path& path, const std::string& sql,
          const std::string& what) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
    throw_sqlite(db, path, what);
  }
}

SchemaState inspect(sqlite3* db, const std::filesystem::path& path) {
  std::vector<std::string> tables;
  exec_collect(db, path, "SELECT name FROM sqlite_master WHERE type = 'table'", tables,
               "reading the schema");
  if (tables.empty()) return {};
  if (std::find(tables.begin(), tables.end(), "schema_version") == tables.end()) {
    throw_foreign(path);
  }
  std::vector<std::string> versions;
  exec_collect(db, path, "SELECT CAST(version AS TEXT) FROM schema_version", versions,
               "reading the schema version");
  int version = 0;
  if (versions.size() == 1) {
    try {
      version = std::stoi(versions.front());
    } catch (const std::exception&) {
      version = 0;
    }
  }
  if (version <= 0) {
    throw StoreError(path.string() +
                     ": not a Trainbench session database (its schema_version table holds no "
                     "valid version)");
  }
  return {SchemaState::Kind::trainbench, version};
}

void migrate(sqlite3* db, const std::filesystem::path& path, int target) {
  // IMMEDIATE takes the write lock up front (waiting out busy_timeout), so the state read below
  // cannot go stale before the steps run.
  exec(db, path, "BEGIN IMMEDIATE", "starting the schema migration");
  try {
    const SchemaState state = inspect(db, path);
    if (state.version > target) throw_newer(path, state.version);
    for (const Migration& step : kMigrations) {
      if (step.version <= state.version || step.version > target) continue;
      const std::string what = "migrating the schema from version " +
                               std::to_string(step.version - 1) + " to " +
                               std::to_string(step.version) + " (" + step.summary + ")";
      exec(db, path, step.sql, what);
      if (step.code != nullptr) step.code(db, path, what);
      exec(db, path,
           "DELETE FROM schema_version; INSERT INTO schema_version (version) VALUES (" +
               std::to_string(step.version) + ")",
           what);
    }
    exec(db, path, "COMMIT", "committing the schema migration");
  } catch (...) {
    // Undo every step: the file stays as it was, whatever failed.
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

}  // namespace tb::store::detail
