#include "core/store/session_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/store/schema.h"
#include "core/store/statement.h"

namespace tb::store {
namespace {

namespace fs = std::filesystem;
using detail::exec;
using detail::Statement;
using detail::throw_sqlite;
using detail::Transaction;

// Long enough to wait out another connection's batch commit or a checkpoint, short enough that a
// truly stuck writer surfaces as an error instead of a hung GUI.
constexpr int kBusyTimeoutMs = 5000;

// SQLite's own clock, so every timestamp has the same format: ISO 8601, UTC, whole seconds.
constexpr const char* kNowSql = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

struct CloseDb {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};

std::string session_text(SessionId id) {
  return "session " + std::to_string(id.value);
}

constexpr const char* kSessionColumns =
    "SELECT id, name, created, finished, status, project_json, git_revision, host, seed, "
    "summary_json FROM sessions";

SessionRecord read_session(const Statement& row) {
  SessionRecord record;
  record.id = SessionId(row.column_int(0));
  record.name = row.column_text(1);
  record.created = row.column_text(2);
  record.finished = row.column_text(3);
  record.status = row.column_text(4);
  record.project_json = row.column_text(5);
  record.git_revision = row.column_text(6);
  record.host = row.column_text(7);
  // SQLite integers are signed: seeds above 2^63 are stored as their two's-complement bits.
  record.seed = std::bit_cast<std::uint64_t>(row.column_int(8));
  record.summary_json = row.column_text(9);
  return record;
}

}  // namespace

fs::path SessionStore::default_path() {
  // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg != nullptr && xdg[0] == '/') {
    return fs::path(xdg) / "trainbench" / "sessions.db";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && home[0] != '\0') {
    return fs::path(home) / ".local" / "share" / "trainbench" / "sessions.db";
  }
  throw StoreError(
      "no place for the session database: neither XDG_DATA_HOME nor HOME is set; pass a path");
}

SessionStore::SessionStore(const fs::path& path, Mode mode) : path_(path) {
  const bool writable = mode == Mode::read_write;
  if (writable) {
    if (path_.has_parent_path()) {
      std::error_code error;
      fs::create_directories(path_.parent_path(), error);
      if (error) {
        throw StoreError(path_.string() + ": cannot create its folder: " + error.message());
      }
    }
  } else if (std::error_code error; !fs::exists(path_, error)) {
    throw StoreError(path_.string() + ": cannot open the session database read-only: no such file");
  }

  sqlite3* raw = nullptr;
  const int flags = writable ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  const int rc = sqlite3_open_v2(path_.c_str(), &raw, flags, nullptr);
  // Owned from here: every throw below closes the handle.
  std::unique_ptr<sqlite3, CloseDb> db(raw);
  if (rc != SQLITE_OK) {
    throw_sqlite(raw, path_,
                 writable ? "cannot open the session database"
                          : "cannot open the session database read-only");
  }
  sqlite3_busy_timeout(db.get(), kBusyTimeoutMs);
  // Off by default in SQLite, per connection; without it ON DELETE CASCADE and the checks that
  // rows belong to an existing session do nothing.
  exec(db.get(), path_, "PRAGMA foreign_keys = ON", "enabling foreign keys");

  // Everything up to here only read the file; from here on a writable store may change it, so
  // every reason to refuse the file is checked first.
  const detail::SchemaState state = detail::inspect(db.get(), path_);
  // A newer database is never written, but may be read: the queries of this build name only
  // columns that later versions keep, so the browser can still list it (read-only).
  if (state.version > kSchemaVersion && writable) detail::throw_newer(path_, state.version);
  newer_schema_ = state.version > kSchemaVersion;
  if (!writable) {
    if (state.kind == detail::SchemaState::Kind::empty) {
      throw StoreError(path_.string() +
                       ": not a Trainbench session database yet (it is empty); open it "
                       "read-write once to create it");
    }
    if (state.version < kSchemaVersion) {
      throw StoreError(path_.string() + ": the session database has schema version " +
                       std::to_string(state.version) + ", older than version " +
                       std::to_string(kSchemaVersion) + "; open it read-write once to upgrade it");
    }
  } else {
    if (state.version < kSchemaVersion) detail::migrate(db.get(), path_, kSchemaVersion);
    // WAL lets readers (the GUI) go on while a run writes. The mode is stored in the file, so
    // only the first writer pays for the switch; switching after migrating means a failed
    // migration leaves the file as it was. Where WAL is impossible (some network file systems)
    // SQLite keeps the rollback journal, which still works, only with more waiting.
    exec(db.get(), path_, "PRAGMA journal_mode = WAL", "switching to WAL journal mode");
  }
  read_only_ = !writable;
  db_ = db.release();
}

SessionStore::Opened SessionStore::open_for_browsing(const fs::path& path) {
  try {
    return {std::make_unique<SessionStore>(path, Mode::read_write), {}};
  } catch (const StoreError& writable_error) {
    std::error_code error;
    if (!fs::exists(path, error)) throw;
    // Nothing was written by the failed attempt (refusals come before any write); the reason it
    // gave is the user's explanation of why edits are off.
    auto store = std::make_unique<SessionStore>(path, Mode::read_only);
    return {std::move(store), std::string("opened read-only: ") + writable_error.what()};
  }
}

SessionStore::~SessionStore() {
  sqlite3_close_v2(db_);
}

int SessionStore::schema_version() const {
  Statement query(db_, path_, "SELECT version FROM schema_version", "reading the schema version");
  return query.step() ? static_cast<int>(query.column_int(0)) : 0;
}

SessionId SessionStore::create_session(const NewSession& session) {
  Statement insert(db_, path_,
                   std::string("INSERT INTO sessions (name, created, finished, status, "
                               "project_json, git_revision, host, seed, summary_json) VALUES "
                               "(?1, ") +
                       kNowSql + ", '', 'running', ?2, ?3, ?4, ?5, '{}')",
                   "creating session \"" + session.name + "\"");
  insert.bind_text(1, session.name);
  insert.bind_text(2, session.project_json);
  insert.bind_text(3, session.git_revision);
  insert.bind_text(4, session.host);
  insert.bind_int(5, std::bit_cast<std::int64_t>(session.seed));
  insert.run();
  const SessionId id(sqlite3_last_insert_rowid(db_));
  detail::update_overview(db_, path_, id.value, "creating session \"" + session.name + "\"");
  return id;
}

void SessionStore::add_params(SessionId id, const Params& params) {
  if (params.empty()) return;
  const std::string what = "adding parameters to " + session_text(id);
  Transaction transaction(db_, path_, what);
  // One value per key: a key given again (in this call or a later one) replaces the value.
  Statement insert(db_, path_,
                   "INSERT INTO params (session_id, key, value) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT (session_id, key) DO UPDATE SET value = excluded.value",
                   what);
  insert.bind_int(1, id.value);
  for (const auto& [key, value] : params) {
    insert.bind_text(2, key);
    insert.bind_text(3, value);
    insert.run();
  }
  transaction.commit();
}

void SessionStore::add_metrics(SessionId id, const std::vector<MetricPoint>& points) {
  if (points.empty()) return;
  const std::string what = "adding metrics to " + session_text(id);
  Transaction transaction(db_, path_, what);
  // seq numbers the repeats of a step in the order written (one index seek each).
  Statement insert(db_, path_,
                   "INSERT INTO metrics (session_id, key, step, seq, wall_time, value) "
                   "VALUES (?1, ?2, ?3, coalesce((SELECT max(seq) + 1 FROM metrics WHERE "
                   "session_id = ?1 AND key = ?2 AND step = ?3), 0), ?4, ?5)",
                   what);
  insert.bind_int(1, id.value);  // bindings survive sqlite3_reset
  double best_accuracy = -std::numeric_limits<double>::infinity();
  for (const MetricPoint& point : points) {
    insert.bind_text(2, point.key);
    insert.bind_int(3, point.step);
    insert.bind_real(4, point.wall_time);
    insert.bind_real(5, point.value);
    insert.run();
    if (point.key == "test_accuracy") best_accuracy = std::max(best_accuracy, point.value);
  }
  // The browser shows a running session's best accuracy so far.
  if (best_accuracy > -std::numeric_limits<double>::infinity()) {
    Statement best(db_, path_,
                   "UPDATE sessions SET best_accuracy = max(coalesce(best_accuracy, ?2), ?2) "
                   "WHERE id = ?1",
                   what);
    best.bind_int(1, id.value);
    best.bind_real(2, best_accuracy);
    best.run();
  }
  transaction.commit();
}

void SessionStore::finish_session(SessionId id, const std::string& status,
                                  const std::string& summary_json) {
  const std::string what = "finishing " + session_text(id);
  Statement update(db_, path_,
                   std::string("UPDATE sessions SET finished = ") + kNowSql +
                       ", status = ?2, summary_json = ?3 WHERE id = ?1",
                   what);
  update.bind_int(1, id.value);
  update.bind_text(2, status);
  update.bind_text(3, summary_json);
  update.run();
  if (sqlite3_changes(db_) == 0) {
    throw StoreError(path_.string() + ": " + what + ": there is no such session");
  }
  detail::update_outcome(db_, path_, id.value, what);
}

std::vector<SessionRecord> SessionStore::list_sessions(std::int64_t limit) const {
  Statement query(db_, path_,
                  std::string(kSessionColumns) + " WHERE trashed = 0 ORDER BY id DESC LIMIT ?1",
                  "listing sessions");
  query.bind_int(1, limit < 0 ? -1 : limit);  // SQLite: a negative limit is none
  std::vector<SessionRecord> sessions;
  while (query.step()) sessions.push_back(read_session(query));
  return sessions;
}

std::int64_t SessionStore::session_count() const {
  Statement query(db_, path_, "SELECT COUNT(*) FROM sessions WHERE trashed = 0",
                  "counting sessions");
  return query.step() ? query.column_int(0) : 0;
}

std::optional<SessionRecord> SessionStore::session(SessionId id) const {
  Statement query(db_, path_, std::string(kSessionColumns) + " WHERE id = ?1",
                  "reading " + session_text(id));
  query.bind_int(1, id.value);
  if (!query.step()) return std::nullopt;
  return read_session(query);
}

Params SessionStore::params(SessionId id) const {
  Statement query(db_, path_, "SELECT key, value FROM params WHERE session_id = ?1 ORDER BY rowid",
                  "reading the parameters of " + session_text(id));
  query.bind_int(1, id.value);
  Params params;
  while (query.step()) params.emplace_back(query.column_text(0), query.column_text(1));
  return params;
}

std::vector<std::string> SessionStore::metric_keys(SessionId id) const {
  // A skip scan over the (session_id, key, step) index: one index seek per distinct key instead
  // of SELECT DISTINCT visiting every point of a long run.
  const std::string what = "reading the metric keys of " + session_text(id);
  Statement first(db_, path_, "SELECT min(key) FROM metrics WHERE session_id = ?1", what);
  Statement next(db_, path_, "SELECT min(key) FROM metrics WHERE session_id = ?1 AND key > ?2",
                 what);
  first.bind_int(1, id.value);
  next.bind_int(1, id.value);
  std::vector<std::string> keys;
  if (!first.step() || first.column_null(0)) return keys;  // min() of no rows is one NULL row
  keys.push_back(first.column_text(0));
  for (;;) {
    next.bind_text(2, keys.back());
    if (!next.step() || next.column_null(0)) break;
    keys.push_back(next.column_text(0));
    next.reset();
  }
  return keys;
}

std::vector<MetricPoint> SessionStore::metrics(SessionId id, const std::string& key) const {
  Statement query(db_, path_,
                  "SELECT step, wall_time, value FROM metrics WHERE session_id = ?1 AND key = ?2 "
                  "ORDER BY step, seq",
                  "reading metric \"" + key + "\" of " + session_text(id));
  query.bind_int(1, id.value);
  query.bind_text(2, key);
  std::vector<MetricPoint> points;
  while (query.step()) {
    points.push_back({key, query.column_int(0), query.column_real(1), query.column_real(2)});
  }
  return points;
}

MetricWriter::MetricWriter(SessionStore& store, SessionId id, std::size_t batch_size)
    : store_(store), id_(id), batch_size_(std::max<std::size_t>(batch_size, 1)) {
  pending_.reserve(batch_size_);
}

MetricWriter::~MetricWriter() {
  try {
    flush();
  } catch (...) {
    // A destructor must not throw; callers who need to know call flush() first.
  }
}

void MetricWriter::add(std::string key, std::int64_t step, double wall_time, double value) {
  pending_.push_back({std::move(key), step, wall_time, value});
  if (pending_.size() >= batch_size_) flush();
}

void MetricWriter::flush() {
  if (pending_.empty()) return;
  // Cleared only once written: after a failure the points are still here for the next flush().
  store_.add_metrics(id_, pending_);
  pending_.clear();
}

std::string sqlite_version() {
  return sqlite3_libversion();
}

}  // namespace tb::store
