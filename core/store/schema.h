// Internal to core/store: the session database's schema as an ordered list of migrations, the
// check of what an opened file holds, and the error helpers both store sources share.
#pragma once

#include <filesystem>
#include <span>
#include <string>

struct sqlite3;

namespace tb::store::detail {

// One step of the schema's history. Steps are never edited once released: databases made by
// older builds exist on users' disks and are brought forward by running the later steps.
struct Migration {
  int version;          // the schema version after this step
  const char* summary;  // what the step adds, for error messages
  const char* sql;      // one or more statements, run inside the migration's transaction
  // Runs after `sql`, in the same transaction, for what SQL cannot do (re-encoding rows); null
  // for most steps. Throws StoreError naming the path, `what` says which step.
  void (*code)(sqlite3* db, const std::filesystem::path& path, const std::string& what);
};

// Version 5's code: the spans of the version-4 `spans` table (strings in `trace_strings`) moved
// into the chunked trace tables, a track per track string, then both old tables dropped.
// Defined in legacy_spans.cpp, beside nothing else.
void convert_legacy_spans(sqlite3* db, const std::filesystem::path& path, const std::string& what);

// Version 6's code: the overview columns of every existing session, from its project and
// summary JSON and its test accuracy metric. Defined in session_catalog.cpp, beside the SQL that
// fills them for new sessions.
void fill_session_overviews(sqlite3* db, const std::filesystem::path& path,
                            const std::string& what);

// The overview columns (project, dataset, model, optimizer, precision) of one session from its
// project JSON, or of every session when id < 0; and the outcome columns (best accuracy, samples/s,
// duration) from its summary and metrics. Defined in session_catalog.cpp.
void update_overview(sqlite3* db, const std::filesystem::path& path, long long id,
                     const std::string& what);
void update_outcome(sqlite3* db, const std::filesystem::path& path, long long id,
                    const std::string& what);

// Every step from an empty file to SessionStore::kSchemaVersion, in order (step i makes i + 1).
std::span<const Migration> migrations();

// What an opened file holds.
struct SchemaState {
  enum class Kind {
    empty,       // a new (zero-length) file, or a SQLite database without tables
    trainbench,  // a session database; version says which schema
  };
  Kind kind = Kind::empty;
  int version = 0;  // 0 unless trainbench
};

// Reads the schema. This is the first read of the file, so a file that is not a SQLite database
// fails here (StoreError naming the path) before anything could have been written to it; so does
// another program's SQLite database (tables, but no schema_version).
SchemaState inspect(sqlite3* db, const std::filesystem::path& path);

// Brings an empty or older database to `target` in one IMMEDIATE transaction: all steps or none.
// The state is read again inside the transaction, so two processes opening a new file at once
// migrate it once. Throws StoreError (and changes nothing) on a foreign or newer database.
void migrate(sqlite3* db, const std::filesystem::path& path, int target);

// The StoreError messages: "<path>: <what>: <sqlite3_errmsg>" and the newer-schema refusal.
[[noreturn]] void throw_sqlite(sqlite3* db, const std::filesystem::path& path,
                               const std::string& what);
[[noreturn]] void throw_newer(const std::filesystem::path& path, int version);

// Runs one or more statements that return no rows we need.
void exec(sqlite3* db, const std::filesystem::path& path, const std::string& sql,
          const std::string& what);

}  // namespace tb::store::detail
