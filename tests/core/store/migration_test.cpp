// Opening databases SessionStore did not just create: older schemas are migrated, newer ones,
// foreign databases and non-databases are refused without being touched, read-only never writes.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/store/session_store.h"
#include "core/store/trace_store.h"
#include "tests/support/raw_sqlite.h"
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

namespace fs = std::filesystem;
using namespace testing_raw;

// Schema version 1 exactly as released. Written out here rather than taken from the migration
// list: databases with this schema exist on disk, so editing step 1 would be a bug this catches.
constexpr const char* kVersion1Schema = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL,
  project_json TEXT NOT NULL, git_revision TEXT NOT NULL, host TEXT NOT NULL,
  seed INTEGER NOT NULL);
CREATE TABLE params (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL);
CREATE TABLE metrics (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL, step INTEGER NOT NULL, wall_time REAL, value REAL);
CREATE TABLE spans (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track TEXT NOT NULL, name TEXT NOT NULL, category TEXT NOT NULL,
  start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, step INTEGER NOT NULL);
INSERT INTO schema_version (version) VALUES (1);
INSERT INTO sessions (id, name, created, status, project_json, git_revision, host, seed)
  VALUES (3, 'old-run', '2026-01-02T03:04:05Z', 'completed', '{"model":"cnn"}', 'deadbeef',
          'oldhost', 42);
INSERT INTO params (session_id, key, value) VALUES (3, 'lr', '0.1'), (3, 'batch', '32'),
  (3, 'lr', '0.05');
INSERT INTO metrics (session_id, key, step, wall_time, value) VALUES
  (3, 'loss', 0, 0.0, 2.5), (3, 'loss', 1, 0.5, 1.5), (3, 'acc', 1, 0.5, 0.6),
  (3, 'loss', 1, 0.6, 1.25);
INSERT INTO spans VALUES (3, 'engine', 'step', 'other', 0, 1000, 0);
)sql";

// Opening `path` in `mode` throws a StoreError whose message holds every one of `words`.
void expect_refused(const fs::path& path, SessionStore::Mode mode,
                    const std::vector<std::string>& words) {
  try {
    SessionStore store(path, mode);
    ADD_FAILURE() << "opened " << path << " without an error";
  } catch (const StoreError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    for (const std::string& word : words) {
      EXPECT_NE(message.find(word), std::string::npos) << "no '" << word << "' in: " << message;
    }
  }
}

TEST(SchemaMigration, UpgradesAVersion1DatabaseKeepingItsRows) {
  testing::TempDir dir;
  const auto path = dir / "v1.db";
  raw_exec(path, kVersion1Schema);
  ASSERT_EQ(raw_query(path, "SELECT version FROM schema_version"), std::vector<std::string>{"1"});
  {
    SessionStore store(path);
    EXPECT_EQ(store.schema_version(), SessionStore::kSchemaVersion);

    const SessionId old_id(3);
    const auto old = store.session(old_id);
    ASSERT_TRUE(old.has_value());
    EXPECT_EQ(old->name, "old-run");
    EXPECT_EQ(old->created, "2026-01-02T03:04:05Z");
    EXPECT_EQ(old->status, "completed");
    EXPECT_EQ(old->seed, 42u);
    EXPECT_EQ(old->finished, "");  // the defaults of the columns version 2 added
    EXPECT_EQ(old->summary_json, "{}");
    // Version 1 appended duplicate keys; version 2 keeps the last value of each.
    EXPECT_EQ(store.params(old_id), (Params{{"batch", "32"}, {"lr", "0.05"}}));
    EXPECT_EQ(store.metric_keys(old_id), (std::vector<std::string>{"acc", "loss"}));
    // Two points of step 1 keep the order they were written in (version 6's seq).
    const auto loss = store.metrics(old_id, "loss");
    ASSERT_EQ(loss.size(), 3u);
    EXPECT_EQ(loss[1].value, 1.5);
    EXPECT_EQ(loss[2].value, 1.25);
    EXPECT_EQ(load_trace(store, old_id).spans().size(), 1u);

    // The new columns are usable on old and new rows alike.
    store.finish_session(old_id, "stopped", R"({"loss":1.5})");
    EXPECT_EQ(store.session(old_id)->summary_json, R"({"loss":1.5})");
    EXPECT_FALSE(store.session(old_id)->finished.empty());
    const SessionId fresh = store.create_session({"new-run", "{}", "rev", "host", 1});
    EXPECT_GT(fresh.value, old_id.value);
    EXPECT_EQ(store.list_sessions().size(), 2u);
  }
  // One version row, and the indexes the queries rely on.
  EXPECT_EQ(raw_query(path, "SELECT version FROM schema_version"),
            std::vector<std::string>{std::to_string(SessionStore::kSchemaVersion)});
  EXPECT_EQ(
      raw_query(path,
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT "
                "LIKE 'sqlite_%' ORDER BY name"),
      (std::vector<std::string>{"params_by_session", "session_tags_by_tag", "sessions_by_project",
                                "sessions_by_sweep", "trace_span_chunks_by_time"}));
  // Opening again finds nothing to migrate.
  SessionStore again(path);
  EXPECT_EQ(again.schema_version(), SessionStore::kSchemaVersion);
  EXPECT_EQ(again.list_sessions().size(), 2u);
}

// Schema version 4 exactly as released (what steps 1 to 4 leave), for the tests of step 5.
constexpr const char* kVersion4Schema = R"sql(
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE sessions (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, status TEXT NOT NULL,
  project_json TEXT NOT NULL, git_revision TEXT NOT NULL, host TEXT NOT NULL,
  seed INTEGER NOT NULL, finished TEXT NOT NULL DEFAULT '',
  summary_json TEXT NOT NULL DEFAULT '{}');
CREATE TABLE params (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL, value TEXT NOT NULL);
CREATE TABLE metrics (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  key TEXT NOT NULL, step INTEGER NOT NULL, wall_time REAL, value REAL);
CREATE UNIQUE INDEX params_by_session ON params(session_id, key);
CREATE INDEX metrics_by_session_key_step ON metrics(session_id, key, step);
CREATE TABLE checkpoints (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  step INTEGER NOT NULL, optimizer_step INTEGER NOT NULL, created TEXT NOT NULL,
  PRIMARY KEY (session_id, step));
CREATE TABLE checkpoint_tensors (
  session_id INTEGER NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, data BLOB NOT NULL,
  PRIMARY KEY (session_id, step, name),
  FOREIGN KEY (session_id, step) REFERENCES checkpoints(session_id, step) ON DELETE CASCADE);
CREATE TABLE trace_strings (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  id INTEGER NOT NULL, text TEXT NOT NULL,
  PRIMARY KEY (session_id, id)) WITHOUT ROWID;
CREATE TABLE spans (
  session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
  track_id INTEGER NOT NULL, name_id INTEGER NOT NULL, category_id INTEGER NOT NULL,
  start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, step INTEGER NOT NULL);
CREATE INDEX spans_by_session_start ON spans(session_id, start_ns);
INSERT INTO schema_version (version) VALUES (4);
INSERT INTO sessions (id, name, created, status, project_json, git_revision, host, seed)
  VALUES (3, 'old-run', '2026-01-02T03:04:05Z', 'completed', '{}', 'deadbeef', 'oldhost', 42);
INSERT INTO trace_strings VALUES (3, 1, 'engine'), (3, 2, 'step'), (3, 3, 'other'),
  (3, 4, 'loader worker 1'), (3, 5, 'decode'), (3, 6, 'data'), (3, 7, 'weird');
)sql";

// The spans of a version-1 file (two sessions, one of them with a loader worker's track) go
// through versions 4 and 5 and read back through load_trace: a track per track string, names,
// categories, times and steps as stored.
TEST(SchemaMigration, Version5MovesTheSpansOfEverySessionIntoTheTrace) {
  testing::TempDir dir;
  const auto path = dir / "v1.db";
  raw_exec(path, std::string(kVersion1Schema) + R"sql(
INSERT INTO sessions (id, name, created, status, project_json, git_revision, host, seed)
  VALUES (5, 'other', '2026-01-03T00:00:00Z', 'completed', '{}', 'r', 'h', 1);
INSERT INTO spans VALUES (5, 'engine', 'data', 'data', 0, 40, 0);
INSERT INTO spans VALUES (3, 'engine', 'data', 'data', 0, 100, 0);
INSERT INTO spans VALUES (3, 'engine', 'step', 'other', 1000, 2000, 1);
INSERT INTO spans VALUES (5, 'loader worker 1', 'decode', 'data', 10, 30, 0);
)sql");
  {
    SessionStore store(path);
    const trace::Trace old = load_trace(store, SessionId(3));
    ASSERT_EQ(old.spans().size(), 3u);
    ASSERT_EQ(old.tracks().size(), 1u);
    EXPECT_EQ(old.tracks()[0].name, "engine");
    EXPECT_EQ(old.tracks()[0].kind, trace::TrackKind::cpu_thread);
    EXPECT_EQ(old.tracks()[0].process, "trainbench");
    EXPECT_EQ(old.name(old.spans()[0].name), "step");  // start 0, the longer first
    EXPECT_EQ(old.spans()[0].category, trace::Category::other);
    EXPECT_EQ(old.name(old.spans()[1].name), "data");
    EXPECT_EQ(old.spans()[1].category, trace::Category::data);
    EXPECT_EQ(old.spans()[1].end_ns, 100);
    EXPECT_EQ(old.spans()[2].step, 1);
    EXPECT_EQ(old.spans()[2].start_ns, 1000);
    const trace::Trace other = load_trace(store, SessionId(5));
    ASSERT_EQ(other.spans().size(), 2u);
    const auto& worker = other.track(other.spans()[1].track);
    EXPECT_EQ(worker.name, "loader worker 1");
    EXPECT_EQ(worker.kind, trace::TrackKind::loader_worker);
    EXPECT_EQ(other.name(other.spans()[1].name), "decode");

    // New spans continue the migrated trace: the same track, the names known already.
    trace::Trace batch;
    const auto engine = batch.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
    batch.add_span(
        {3000, 3500, 2, engine, batch.intern("backward"), {}, trace::Category::backward});
    TraceWriter(store, SessionId(3)).append(batch);
    const trace::Trace after = load_trace(store, SessionId(3));
    EXPECT_EQ(after.tracks().size(), 1u);
    EXPECT_EQ(after.name(after.spans().back().name), "backward");
  }
  EXPECT_EQ(raw_query(path,
                      "SELECT count(*) FROM sqlite_master WHERE name IN ('spans', "
                      "'trace_strings', 'spans_by_session_start')"),
            std::vector<std::string>{"0"});
  EXPECT_EQ(raw_query(path, "SELECT name FROM trace_names WHERE session_id = 3 ORDER BY name_id"),
            (std::vector<std::string>{"step", "data", "backward"}));
  // A chunk per track and session, and one for the append (too small yet to be merged).
  EXPECT_EQ(raw_query(path,
                      "SELECT count(*) FROM trace_span_chunks GROUP BY session_id ORDER BY "
                      "session_id"),
            (std::vector<std::string>{"2", "2"}));
}

// What the version-5 model has no field for is kept in the span's args: a category this build
// does not know, and the end of a span stored ending before its start.
TEST(SchemaMigration, Version5KeepsWhatTheModelCannotHoldInArgs) {
  testing::TempDir dir;
  const auto path = dir / "v4.db";
  raw_exec(path, std::string(kVersion4Schema) + R"sql(
INSERT INTO spans VALUES (3, 4, 5, 6, 10, 30, 1);
INSERT INTO spans VALUES (3, 1, 2, 7, 0, 100, 1);
INSERT INTO spans VALUES (3, 1, 2, 3, 200, 150, 2);
)sql");
  SessionStore store(path);
  const trace::Trace got = load_trace(store, SessionId(3));
  ASSERT_EQ(got.spans().size(), 3u);
  EXPECT_EQ(got.spans()[0].category, trace::Category::other);
  EXPECT_EQ(got.args(got.spans()[0].args), R"({"category":"weird"})");
  EXPECT_EQ(got.track(got.spans()[1].track).name, "loader worker 1");
  EXPECT_FALSE(got.spans()[1].args.valid());
  EXPECT_EQ(got.spans()[2].start_ns, 200);
  EXPECT_EQ(got.spans()[2].end_ns, 200);
  EXPECT_EQ(got.args(got.spans()[2].args), R"({"end_ns":150})");
}

// A version-4 span that refers to a string its session does not have: the migration fails with
// an error naming the file and the string, and leaves the file as it was (the C++ step of
// version 5 runs in the migration's one transaction).
TEST(SchemaMigration, Version5RefusesADanglingTraceStringAndChangesNothing) {
  testing::TempDir dir;
  const auto path = dir / "v4.db";
  raw_exec(path, std::string(kVersion4Schema) + R"sql(
INSERT INTO spans VALUES (3, 1, 2, 3, 0, 10, 0);
INSERT INTO spans VALUES (3, 1, 9, 3, 20, 30, 0);
)sql");
  const std::string before = file_bytes(path);
  expect_refused(path, SessionStore::Mode::read_write,
                 {"version 4 to 5", "session 3", "trace string 9"});
  expect_refused(path, SessionStore::Mode::read_only, {"version 4", "read-write"});
  EXPECT_EQ(file_bytes(path), before);
  EXPECT_EQ(raw_query(path, "SELECT version FROM schema_version"), std::vector<std::string>{"4"});

  raw_exec(path, "UPDATE spans SET name_id = 2");
  SessionStore store(path);
  EXPECT_EQ(load_trace(store, SessionId(3)).spans().size(), 2u);
}

TEST(SchemaMigration, AFailedMigrationLeavesTheFileAsItWas) {
  // An index already named like one version 2 creates makes step 2 fail halfway, after its
  // ALTER TABLEs: the whole migration must roll back.
  testing::TempDir dir;
  const auto path = dir / "v1.db";
  raw_exec(path, std::string(kVersion1Schema) +
                     "CREATE INDEX metrics_by_session_key_step ON metrics(key);");
  const std::string before = file_bytes(path);
  expect_refused(path, SessionStore::Mode::read_write, {"version 1 to 2"});
  EXPECT_EQ(file_bytes(path), before);
  EXPECT_EQ(raw_query(path, "SELECT version FROM schema_version"), std::vector<std::string>{"1"});
  EXPECT_EQ(raw_query(path,
                      "SELECT count(*) FROM pragma_table_info('sessions') "
                      "WHERE name IN ('finished', 'summary_json')"),
            std::vector<std::string>{"0"});
}

TEST(SchemaMigration, OpensANewerSchemaOnlyReadOnlyAndChangesNothing) {
  testing::TempDir dir;
  const auto path = dir / "future.db";
  {
    SessionStore store(path);
    store.create_session({"from-the-future", "{}", "rev", "host", 1});
  }
  raw_exec(path, "UPDATE schema_version SET version = 99");
  const std::string before = file_bytes(path);
  ASSERT_FALSE(before.empty());

  expect_refused(path, SessionStore::Mode::read_write,
                 {"version 99", "version " + std::to_string(SessionStore::kSchemaVersion)});
  {
    // Read-only, a newer database can still be browsed; the browser says why edits are off.
    SessionStore reader(path, SessionStore::Mode::read_only);
    EXPECT_TRUE(reader.newer_schema());
    EXPECT_TRUE(reader.read_only());
    ASSERT_EQ(reader.list_sessions().size(), 1u);
    EXPECT_EQ(reader.list_sessions().front().name, "from-the-future");
    const auto opened = SessionStore::open_for_browsing(path);
    ASSERT_NE(opened.store, nullptr);
    EXPECT_TRUE(opened.store->read_only());
    EXPECT_NE(opened.read_only_reason.find("read-only"), std::string::npos);
    EXPECT_NE(opened.read_only_reason.find("version 99"), std::string::npos);
    EXPECT_THROW(opened.store->create_session({"write", "{}", "rev", "host", 1}), StoreError);
  }
  EXPECT_EQ(file_bytes(path), before);
  EXPECT_EQ(raw_query(path, "SELECT version FROM schema_version"), std::vector<std::string>{"99"});
}

TEST(SchemaMigration, RefusesAFileThatIsNotADatabaseAndChangesNothing) {
  testing::TempDir dir;
  std::mt19937 rng(12345);
  std::vector<std::uint8_t> random(8192);
  for (auto& byte : random) byte = static_cast<std::uint8_t>(rng());
  const std::string text = "name,loss\nrun1,0.5\n";
  const std::vector<std::pair<std::string, std::vector<std::uint8_t>>> files = {
      {"random.db", random},
      {"text.db", std::vector<std::uint8_t>(text.begin(), text.end())},
      {"tiny.db", {0x01, 0x02, 0x03}},
  };
  for (const auto& [name, bytes] : files) {
    SCOPED_TRACE(name);
    const auto path = dir / name;
    testing::write_bytes(path, bytes, /*gzip=*/false);
    const std::string before = file_bytes(path);
    expect_refused(path, SessionStore::Mode::read_write, {"not a SQLite database"});
    expect_refused(path, SessionStore::Mode::read_only, {"not a SQLite database"});
    EXPECT_EQ(file_bytes(path), before);
    EXPECT_FALSE(fs::exists(path.string() + "-journal"));
    EXPECT_FALSE(fs::exists(path.string() + "-wal"));
  }
}

TEST(SchemaMigration, RefusesAnotherProgramsSqliteDatabase) {
  testing::TempDir dir;
  const auto path = dir / "other.db";
  raw_exec(path,
           "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
           "INSERT INTO users VALUES (1, 'ada');");
  const std::string before = file_bytes(path);
  expect_refused(path, SessionStore::Mode::read_write, {"not a Trainbench"});
  expect_refused(path, SessionStore::Mode::read_only, {"not a Trainbench"});
  EXPECT_EQ(file_bytes(path), before);
}

TEST(SchemaMigration, ReadOnlyOpenOfAMissingFileFailsAndCreatesNothing) {
  testing::TempDir dir;
  const auto path = dir / "missing" / "sessions.db";
  expect_refused(path, SessionStore::Mode::read_only, {"read-only"});
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(fs::exists(path.parent_path()));
}

TEST(SchemaMigration, ReadOnlyNeverMigratesOrWrites) {
  testing::TempDir dir;
  const auto old_path = dir / "v1.db";
  raw_exec(old_path, kVersion1Schema);
  const std::string before = file_bytes(old_path);
  expect_refused(old_path, SessionStore::Mode::read_only, {"version 1", "read-write"});
  EXPECT_EQ(file_bytes(old_path), before);

  const auto path = dir / "current.db";
  SessionId id;
  {
    SessionStore store(path);
    id = store.create_session({"run", "{}", "rev", "host", 1});
  }
  SessionStore reader(path, SessionStore::Mode::read_only);
  EXPECT_EQ(reader.schema_version(), SessionStore::kSchemaVersion);
  EXPECT_EQ(reader.list_sessions().size(), 1u);
  EXPECT_THROW(reader.create_session({"x", "{}", "rev", "host", 1}), StoreError);
  EXPECT_THROW(reader.add_metrics(id, {{"loss", 0, 0.0, 1.0}}), StoreError);
  EXPECT_THROW(reader.finish_session(id, "completed", "{}"), StoreError);
  EXPECT_EQ(reader.list_sessions().size(), 1u);
  EXPECT_TRUE(reader.metrics(id, "loss").empty());
}

TEST(SchemaMigration, AnEmptyFileBecomesASessionDatabase) {
  testing::TempDir dir;
  const auto path = dir / "empty.db";
  testing::write_bytes(path, {}, /*gzip=*/false);
  expect_refused(path, SessionStore::Mode::read_only, {"empty"});
  SessionStore store(path);
  EXPECT_EQ(store.schema_version(), SessionStore::kSchemaVersion);
  EXPECT_EQ(raw_query(path, "PRAGMA journal_mode"), std::vector<std::string>{"wal"});
}

TEST(SchemaMigration, AnUncreatableFolderIsAStoreError) {
  testing::TempDir dir;
  testing::write_bytes(dir / "a-file", {'x'}, /*gzip=*/false);
  expect_refused(dir / "a-file" / "sessions.db", SessionStore::Mode::read_write, {"folder"});
}

}  // namespace
}  // namespace tb::store
