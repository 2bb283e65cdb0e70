// The session catalog: what the session browser, `trainbench sessions` and `compare` ask of the
// sessions table, answered by indexed queries that never read a project's JSON or a run's
// summary per row.
//
// Each session row carries its overview (project, dataset, model, optimizer, precision from the
// project file; best test accuracy, samples/s and duration from the finished run), filled by
// the store itself when a session is created and finished, so a browser over 10,000 sessions
// reads plain columns. Tags and notes are the user's; sweeps group the sessions of one
// `trainbench sweep`.
//
// Deleting has two steps so the GUI can undo: trash_sessions() hides sessions from every query
// (reversible by restore_sessions()); delete_sessions() removes sessions with their params,
// metrics, checkpoints and trace rows in one transaction, for good.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/store/session_store.h"
#include "core/util/typed_id.h"

namespace tb::store {

using SweepId = TypedId<struct SweepTag>;

// One browser row.
struct SessionOverview {
  SessionId id;
  std::string name;
  std::string created;                  // ISO 8601, UTC
  std::string finished;                 // ISO 8601, UTC; empty while running
  std::string status;                   // "running", "completed", "stopped", "failed"
  std::string project;                  // the project file's "name": the browser's groups
  std::string dataset;                  // data.dataset
  std::string model;                    // model.type
  std::string optimizer;                // optimizer.type
  std::string precision;                // fp32, fp16, bf16
  std::optional<double> best_accuracy;  // the highest test accuracy the run reached, 0..1
  std::optional<double> samples_per_s;  // training throughput of the finished run
  std::optional<double> duration_s;     // wall time of the finished run
  std::vector<std::string> tags;        // sorted
  std::string notes;
  SweepId sweep;  // invalid when the session is no sweep's
};

// The columns a query can sort and filter by.
enum class SessionColumn {
  id,
  name,
  created,
  status,
  project,
  dataset,
  model,
  optimizer,
  precision,
  best_accuracy,
  samples_per_s,
  duration_s,
  tags,
  notes,
};

struct ColumnFilter {
  SessionColumn column = SessionColumn::name;
  std::string text;  // case-insensitive substring of the column's text ("0.89" matches 0.8957)
};

struct SessionQuery {
  // Case-insensitive substring of any of name, status, project, dataset, model, optimizer,
  // precision, tags or notes; every whitespace-separated word must match somewhere.
  std::string text;
  std::vector<ColumnFilter> column_filters;  // all must match
  std::optional<std::string> project;        // exactly this project ("" : sessions without one)
  SweepId sweep;                             // valid: only this sweep's sessions
  std::string tag;                           // non-empty: only sessions with this tag
  SessionColumn sort = SessionColumn::id;
  bool descending = true;  // ties are broken by id, in the same direction
  bool include_trashed = false;
};

// How many sessions match (for the browser's row count and scroll bar).
std::int64_t count_sessions(const SessionStore& store, const SessionQuery& query);
// Matching sessions [offset, offset + limit) in the query's order.
std::vector<SessionOverview> query_sessions(const SessionStore& store, const SessionQuery& query,
                                            std::int64_t offset, std::int64_t limit);
std::optional<SessionOverview> session_overview(const SessionStore& store, SessionId id);

// The browser's groups: every project with its number of (untrashed) sessions, by name.
struct ProjectGroup {
  std::string project;
  std::int64_t sessions = 0;
};
std::vector<ProjectGroup> list_projects(const SessionStore& store);

// Every tag in use, by name, with its number of sessions.
std::vector<ProjectGroup> list_tags(const SessionStore& store);

// Throws StoreError naming the session when it does not exist.
void rename_session(SessionStore& store, SessionId id, const std::string& name);
void set_notes(SessionStore& store, SessionId id, const std::string& notes);
// Replaces the session's tags (trimmed, empty ones and repeats dropped).
void set_tags(SessionStore& store, SessionId id, const std::vector<std::string>& tags);
void add_tag(SessionStore& store, SessionId id, const std::string& tag);
void remove_tag(SessionStore& store, SessionId id, const std::string& tag);

// Hides sessions from every query (undoable); one transaction.
void trash_sessions(SessionStore& store, const std::vector<SessionId>& ids);
void restore_sessions(SessionStore& store, const std::vector<SessionId>& ids);
std::vector<SessionId> trashed_sessions(const SessionStore& store);
// Removes sessions and everything stored with them in one transaction: all or nothing.
void delete_sessions(SessionStore& store, const std::vector<SessionId>& ids);

// A sweep: the sessions one `trainbench sweep` ran, one per point of its grid.
struct SweepRecord {
  SweepId id;
  std::string name;
  std::string created;    // ISO 8601, UTC
  std::string project;    // the project file's "name"
  std::string grid_json;  // {"optimizer.lr": ["0.1", "0.01"], ...}
  std::int64_t sessions = 0;
};
SweepId create_sweep(SessionStore& store, const std::string& name, const std::string& project,
                     const std::string& grid_json);
void add_to_sweep(SessionStore& store, SweepId sweep, SessionId session);
std::vector<SweepRecord> list_sweeps(const SessionStore& store);                  // newest first
std::vector<SessionId> sweep_sessions(const SessionStore& store, SweepId sweep);  // ascending

}  // namespace tb::store
