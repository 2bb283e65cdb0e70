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
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

namespace fs = std::filesystem;

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
  (3, 'loss', 0, 0.0, 2.5), (3, 'loss', 1, 0.5, 1.5), (3, 'acc', 1, 0.5, 0.6);
INSERT INTO spans VALUES (3, 'engine', 'step', 'other', 0, 1000, 0);
)sql";

// Raw sqlite3, so the tests make files SessionStore would never make.
void raw_exec(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path.string());
  }
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  const std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("raw sql failed: " + text);
}

// The first column of every row, as text.
std::vector<std::string> raw_query(const fs::path& path, const std::string& sql) {
  std::vector<std::string> rows;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("cannot open " + path.string());
  }
  auto collect = [](void* out, int, char** values, char**) {
    static_cast<std::vector<std::string>*>(out)->emplace_back(values[0] ? values[0] : "NULL");
    return 0;
  };
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), collect, &rows, &message);
  const std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  if (rc != SQLITE_OK) throw std::runtime_error("raw query failed: " + text);
  return rows;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

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
    EXPECT_EQ(store.metrics(old_id, "loss").size(), 2u);
    EXPECT_EQ(store.spans(old_id).size(), 1u);

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
  EXPECT_EQ(raw_query(path,
                      "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT "
                      "LIKE 'sqlite_%' ORDER BY name"),
            (std::vector<std::string>{"metrics_by_session_key_step", "params_by_session",
                                      "spans_by_session_start"}));
  // Opening again finds nothing to migrate.
  SessionStore again(path);
  EXPECT_EQ(again.schema_version(), SessionStore::kSchemaVersion);
  EXPECT_EQ(again.list_sessions().size(), 2u);
}

// Version 4 moved the spans' strings into trace_strings: a version-1 file with two sessions'
// spans reads back the same rows, each session's strings stored once with ids in first-seen order.
TEST(SchemaMigration, Version4InternsTheSpanStringsOfEverySession) {
  testing::TempDir dir;
  const auto path = dir / "v1.db";
  raw_exec(path, std::string(kVersion1Schema) + R"sql(
INSERT INTO sessions (id, name, created, status, project_json, git_revision, host, seed)
  VALUES (5, 'other', '2026-01-03T00:00:00Z', 'completed', '{}', 'r', 'h', 1);
INSERT INTO spans VALUES (5, 'engine', 'data', 'data', 0, 40, 0);
INSERT INTO spans VALUES (3, 'engine', 'data', 'data', 0, 100, 0);
INSERT INTO spans VALUES (3, 'engine', 'step', 'other', 1000, 2000, 1);
INSERT INTO spans VALUES (5, 'worker 1', 'decode', 'data', 10, 30, 0);
)sql");
  {
    SessionStore store(path);
    const auto spans = store.spans(SessionId(3));
    ASSERT_EQ(spans.size(), 3u);
    EXPECT_EQ(spans[0].name, "step");  // start 0, added first
    EXPECT_EQ(spans[1].name, "data");
    EXPECT_EQ(spans[1].category, "data");
    EXPECT_EQ(spans[1].end_ns, 100);
    EXPECT_EQ(spans[2].step, 1);
    const auto other = store.spans(SessionId(5));
    ASSERT_EQ(other.size(), 2u);
    EXPECT_EQ(other[1].track, "worker 1");
    EXPECT_EQ(other[1].name, "decode");
    // New spans reuse the migrated strings and add only what is new.
    store.add_spans(SessionId(3), {{"engine", "backward", "backward", 3000, 3500, 2}});
    EXPECT_EQ(store.spans(SessionId(3)).back().name, "backward");
  }
  EXPECT_EQ(raw_query(path, "SELECT text FROM trace_strings WHERE session_id = 3 ORDER BY id"),
            (std::vector<std::string>{"engine", "step", "other", "data", "backward"}));
  EXPECT_EQ(raw_query(path, "SELECT text FROM trace_strings WHERE session_id = 5 ORDER BY id"),
            (std::vector<std::string>{"engine", "data", "worker 1", "decode"}));
}

// A span that refers to a string its session does not have, or strings whose ids are not
// 1, 2, 3, ...: reading fails with an error naming the file, never a crash or a wrong name.
TEST(SchemaMigration, BrokenTraceStringReferencesAreErrors) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionId id;
  {
    SessionStore store(path);
    id = store.create_session({"run", "{}", "rev", "host", 1});
    store.add_spans(id, {{"engine", "step", "other", 0, 10, 0}});
  }
  raw_exec(path, "UPDATE spans SET name_id = 9");
  try {
    SessionStore store(path, SessionStore::Mode::read_only);
    store.spans(id);
    ADD_FAILURE() << "a dangling trace string id was read";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("trace string 9"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(path.string()), std::string::npos) << error.what();
  }
  raw_exec(path, "UPDATE spans SET name_id = 2; UPDATE trace_strings SET id = 7 WHERE id = 3");
  SessionStore store(path);
  EXPECT_THROW(store.spans(id), StoreError);
  EXPECT_THROW(store.add_spans(id, {{"engine", "step", "other", 0, 10, 0}}), StoreError);
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

TEST(SchemaMigration, RefusesANewerSchemaAndChangesNothing) {
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
  expect_refused(path, SessionStore::Mode::read_only,
                 {"version 99", "version " + std::to_string(SessionStore::kSchemaVersion)});
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
