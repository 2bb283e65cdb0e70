// SessionStore: every run is a session in one SQLite database, MLflow-like.
//
// Tables: sessions (one row a run), params (flattened project settings), metrics (key, step,
// wall time, value), checkpoints, the session's trace (tracks, names, chunked spans, counters
// and flows: written and read through core/store/trace_store.h), and schema_version, brought up
// to date by migrations when a database is opened read-write. WAL mode and a busy timeout let the
// GUI read while a run writes. Writes of many rows are one transaction each.
//
// A SessionStore is one connection: use one per thread (the engine thread opens its own).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/util/error.h"
#include "core/util/typed_id.h"

struct sqlite3;

namespace tb::store {

using SessionId = TypedId<struct SessionTag>;

namespace detail {
struct StoreAccess;
}

// An error from the database: names the database file and what failed.
class StoreError : public Error {
 public:
  using Error::Error;
};

struct NewSession {
  std::string name;
  std::string project_json;  // the complete project, defaults filled
  std::string git_revision;  // of the Trainbench build that ran it
  std::string host;
  std::uint64_t seed = 0;
};

struct SessionRecord {
  SessionId id;
  std::string name;
  std::string created;   // ISO 8601, UTC
  std::string finished;  // ISO 8601, UTC; empty while running
  std::string status;    // "running", "completed", "stopped", "failed"
  std::string project_json;
  std::string git_revision;
  std::string host;
  std::uint64_t seed = 0;
  std::string summary_json;  // the run's result (accuracy, loss, samples/s, ...), "{}" until done
};

struct MetricPoint {
  std::string key;
  std::int64_t step = 0;
  double wall_time = 0.0;  // seconds since the run started
  double value = 0.0;
};

using Params = std::vector<std::pair<std::string, std::string>>;

// A named float32 tensor of a checkpoint: "model/1.weight", "optimizer/1.weight.exp_avg".
struct CheckpointTensor {
  std::string name;
  std::vector<float> values;
};

// What a run needs to continue where it was: the model's parameters and the optimizer's state
// at a training step.
struct Checkpoint {
  std::int64_t step = 0;            // training steps done when it was taken
  std::int64_t optimizer_step = 0;  // the optimizer's own step count (bias corrections, ...)
  std::vector<CheckpointTensor> tensors;
};

class SessionStore {
 public:
  enum class Mode { read_write, read_only };
  static constexpr int kSchemaVersion = 6;

  // $XDG_DATA_HOME/trainbench/sessions.db, else ~/.local/share/trainbench/sessions.db.
  static std::filesystem::path default_path();

  // Opens (read-write: creates the file and its folder, and migrates) the database at path.
  // Throws StoreError naming the path when it cannot be opened, is not a Trainbench database, or
  // (read-write only) has a newer schema than this build knows; then nothing is modified.
  // Read-only, a newer database opens (newer_schema() says so).
  explicit SessionStore(const std::filesystem::path& path, Mode mode = Mode::read_write);

  // What a browser opens: read-write when it can; read-only when the file cannot be written or
  // migrated (a newer schema, a read-only file, a damaged one that can still be read), with the
  // reason in `read_only_reason`. Throws StoreError when the file cannot be read at all.
  struct Opened {
    std::unique_ptr<SessionStore> store;
    std::string read_only_reason;  // empty when writable
  };
  static Opened open_for_browsing(const std::filesystem::path& path);
  ~SessionStore();
  SessionStore(const SessionStore&) = delete;
  SessionStore& operator=(const SessionStore&) = delete;

  const std::filesystem::path& path() const { return path_; }
  int schema_version() const;
  bool newer_schema() const { return newer_schema_; }
  bool read_only() const { return read_only_; }

  SessionId create_session(const NewSession& session);
  void add_params(SessionId id, const Params& params);
  void add_metrics(SessionId id, const std::vector<MetricPoint>& points);
  void finish_session(SessionId id, const std::string& status, const std::string& summary_json);

  // Newest first, trashed ones left out; at most `limit` of them (-1: all).
  std::vector<SessionRecord> list_sessions(std::int64_t limit = -1) const;
  std::int64_t session_count() const;  // trashed ones left out
  std::optional<SessionRecord> session(SessionId id) const;
  Params params(SessionId id) const;
  std::vector<std::string> metric_keys(SessionId id) const;
  std::vector<MetricPoint> metrics(SessionId id, const std::string& key) const;  // by step

  // Stores a checkpoint in one transaction, replacing one of the same step.
  void save_checkpoint(SessionId id, const Checkpoint& checkpoint);
  std::vector<std::int64_t> checkpoint_steps(SessionId id) const;  // ascending
  // The checkpoint at step (the latest when step < 0); nullopt when there is none.
  std::optional<Checkpoint> checkpoint(SessionId id, std::int64_t step = -1) const;

 private:
  friend struct detail::StoreAccess;  // the other tables' code (store_access.h) uses db_

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  bool newer_schema_ = false;
  bool read_only_ = false;
};

// The SQLite library's version ("3.40.1"), stored with each session.
std::string sqlite_version();

// Collects metric points and writes them in batches, one transaction per flush.
class MetricWriter {
 public:
  MetricWriter(SessionStore& store, SessionId id, std::size_t batch_size = 1024);
  ~MetricWriter();  // flushes; errors there are swallowed, call flush() to see them
  void add(std::string key, std::int64_t step, double wall_time, double value);
  void flush();

 private:
  SessionStore& store_;
  SessionId id_;
  std::size_t batch_size_;
  std::vector<MetricPoint> pending_;
};

}  // namespace tb::store
