#include "core/store/session_catalog.h"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <sstream>
#include <variant>

#include "core/store/schema.h"
#include "core/store/statement.h"
#include "core/store/store_access.h"

namespace tb::store {

namespace detail {

// The JSON paths of a project file the browser shows. json_valid() first: json_extract() of a
// malformed document is an error, and a session's project text is whatever its creator stored.
void update_overview(sqlite3* db, const std::filesystem::path& path, long long id,
                     const std::string& what) {
  Statement update(db, path,
                   "UPDATE sessions SET "
                   "project = coalesce(CASE WHEN json_valid(project_json) THEN "
                   "  json_extract(project_json, '$.name') END, ''), "
                   "dataset = coalesce(CASE WHEN json_valid(project_json) THEN "
                   "  json_extract(project_json, '$.data.dataset') END, ''), "
                   "model = coalesce(CASE WHEN json_valid(project_json) THEN "
                   "  json_extract(project_json, '$.model.type') END, ''), "
                   "optimizer = coalesce(CASE WHEN json_valid(project_json) THEN "
                   "  json_extract(project_json, '$.optimizer.type') END, ''), "
                   "precision = coalesce(CASE WHEN json_valid(project_json) THEN "
                   "  json_extract(project_json, '$.precision') END, '') "
                   "WHERE id = ?1 OR ?1 < 0",
                   what);
  update.bind_int(1, id);
  update.run();
}

// A finished run's outcome. The best accuracy is the best evaluation seen (the summary's is the
// last one); runs without evaluations in their metrics (imports) fall back to the summary.
void update_outcome(sqlite3* db, const std::filesystem::path& path, long long id,
                    const std::string& what) {
  Statement update(db, path,
                   "UPDATE sessions SET "
                   "best_accuracy = coalesce((SELECT max(value) FROM metrics WHERE "
                   "  session_id = sessions.id AND key = 'test_accuracy'), "
                   "  CASE WHEN json_valid(summary_json) THEN "
                   "  json_extract(summary_json, '$.test_accuracy') END), "
                   "samples_per_s = CASE WHEN json_valid(summary_json) THEN "
                   "  json_extract(summary_json, '$.samples_per_s') END, "
                   "duration_s = CASE WHEN finished = '' THEN NULL ELSE "
                   "  coalesce(CASE WHEN json_valid(summary_json) THEN "
                   "  json_extract(summary_json, '$.wall_s') END, "
                   "  (julianday(finished) - julianday(created)) * 86400.0) END "
                   "WHERE (id = ?1 OR ?1 < 0) AND status != 'running'",
                   what);
  update.bind_int(1, id);
  update.run();
}

void fill_session_overviews(sqlite3* db, const std::filesystem::path& path,
                            const std::string& what) {
  update_overview(db, path, -1, what);
  update_outcome(db, path, -1, what);
}

}  // namespace detail

namespace {

namespace fs = std::filesystem;
using detail::Statement;
using detail::StoreAccess;
using detail::Transaction;

std::string session_text(SessionId id) {
  return "session " + std::to_string(id.value);
}

// The tags of the row, joined: the same text sorting and filtering by the tags column see.
constexpr const char* kTagsSql =
    "coalesce((SELECT group_concat(tag, ', ') FROM (SELECT tag FROM session_tags AS t WHERE "
    "t.session_id = s.id ORDER BY tag)), '')";

const char* column_sql(SessionColumn column) {
  switch (column) {
    case SessionColumn::id:
      return "s.id";
    case SessionColumn::name:
      return "s.name";
    case SessionColumn::created:
      return "s.created";
    case SessionColumn::status:
      return "s.status";
    case SessionColumn::project:
      return "s.project";
    case SessionColumn::dataset:
      return "s.dataset";
    case SessionColumn::model:
      return "s.model";
    case SessionColumn::optimizer:
      return "s.optimizer";
    case SessionColumn::precision:
      return "s.precision";
    case SessionColumn::best_accuracy:
      return "s.best_accuracy";
    case SessionColumn::samples_per_s:
      return "s.samples_per_s";
    case SessionColumn::duration_s:
      return "s.duration_s";
    case SessionColumn::tags:
      return kTagsSql;
    case SessionColumn::notes:
      return "s.notes";
  }
  return "s.id";
}

bool is_numeric(SessionColumn column) {
  return column == SessionColumn::id || column == SessionColumn::best_accuracy ||
         column == SessionColumn::samples_per_s || column == SessionColumn::duration_s;
}

// "%text%" for LIKE, with the pattern's own characters escaped (ESCAPE '\').
std::string like_pattern(std::string_view text) {
  std::string out = "%";
  for (char c : text) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  out += '%';
  return out;
}

std::string trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return std::string(text.substr(first, last - first + 1));
}

// ">0.85", "<= 100", "=3": a numeric column's comparison filter; nullopt for plain text.
struct Comparison {
  std::string op;
  double value = 0.0;
};
std::optional<Comparison> parse_comparison(std::string_view text) {
  const std::string trimmed = trim(text);
  std::string op;
  for (const char* candidate : {">=", "<=", "!=", ">", "<", "="}) {
    if (trimmed.rfind(candidate, 0) == 0) {
      op = candidate;
      break;
    }
  }
  if (op.empty()) return std::nullopt;
  const std::string number = trim(std::string_view(trimmed).substr(op.size()));
  Comparison out{op, 0.0};
  const char* end = number.data() + number.size();
  const auto [ptr, ec] = std::from_chars(number.data(), end, out.value);
  if (number.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return out;
}

using Binding = std::variant<std::string, double, std::int64_t>;

// The WHERE clause of a query and the values it binds, in order (?1, ?2, ...).
struct Filter {
  std::string where;
  std::vector<Binding> bindings;

  std::string bind(Binding value) {
    bindings.push_back(std::move(value));
    return "?" + std::to_string(bindings.size());
  }
  void add(const std::string& condition) {
    where += (where.empty() ? " WHERE " : " AND ") + condition;
  }
};

Filter build_filter(const SessionQuery& query) {
  Filter filter;
  if (!query.include_trashed) filter.add("s.trashed = 0");
  std::istringstream words(query.text);
  for (std::string word; words >> word;) {
    const std::string p = filter.bind(like_pattern(word));
    std::string any = "(";
    for (const char* column : {"s.name", "s.status", "s.project", "s.dataset", "s.model",
                               "s.optimizer", "s.precision", "s.notes"}) {
      any += std::string(column) + " LIKE " + p + " ESCAPE '\\' OR ";
    }
    any += "EXISTS (SELECT 1 FROM session_tags AS t WHERE t.session_id = s.id AND t.tag LIKE " + p +
           " ESCAPE '\\'))";
    filter.add(any);
  }
  for (const ColumnFilter& column : query.column_filters) {
    if (trim(column.text).empty()) continue;
    const std::string sql = column_sql(column.column);
    if (is_numeric(column.column)) {
      if (const auto comparison = parse_comparison(column.text)) {
        filter.add(sql + " " + comparison->op + " " + filter.bind(comparison->value));
        continue;
      }
    }
    filter.add("CAST(" + sql + " AS TEXT) LIKE " + filter.bind(like_pattern(trim(column.text))) +
               " ESCAPE '\\'");
  }
  if (query.project) filter.add("s.project = " + filter.bind(*query.project));
  if (query.sweep.valid()) filter.add("s.sweep_id = " + filter.bind(query.sweep.value));
  if (!query.tag.empty()) {
    filter.add("EXISTS (SELECT 1 FROM session_tags AS t WHERE t.session_id = s.id AND t.tag = " +
               filter.bind(query.tag) + ")");
  }
  return filter;
}

void bind_all(Statement& statement, const std::vector<Binding>& bindings) {
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    const int index = static_cast<int>(i + 1);
    std::visit(
        [&](const auto& value) {
          using T = std::decay_t<decltype(value)>;
          if constexpr (std::is_same_v<T, std::string>) {
            statement.bind_text(index, value);
          } else if constexpr (std::is_same_v<T, double>) {
            statement.bind_real(index, value);
          } else {
            statement.bind_int(index, value);
          }
        },
        bindings[i]);
  }
}

constexpr const char* kOverviewColumns =
    "s.id, s.name, s.created, s.finished, s.status, s.project, s.dataset, s.model, s.optimizer, "
    "s.precision, s.best_accuracy, s.samples_per_s, s.duration_s, s.notes, s.sweep_id";

std::optional<double> optional_real(const Statement& row, int column) {
  if (row.column_null(column)) return std::nullopt;
  return row.column_real(column);
}

std::vector<std::string> split_tags(const std::string& joined) {
  std::vector<std::string> tags;
  std::size_t start = 0;
  while (start < joined.size()) {
    std::size_t end = joined.find(", ", start);
    if (end == std::string::npos) end = joined.size();
    tags.push_back(joined.substr(start, end - start));
    start = end + 2;
  }
  return tags;
}

SessionOverview read_overview(const Statement& row) {
  SessionOverview out;
  out.id = SessionId(row.column_int(0));
  out.name = row.column_text(1);
  out.created = row.column_text(2);
  out.finished = row.column_text(3);
  out.status = row.column_text(4);
  out.project = row.column_text(5);
  out.dataset = row.column_text(6);
  out.model = row.column_text(7);
  out.optimizer = row.column_text(8);
  out.precision = row.column_text(9);
  out.best_accuracy = optional_real(row, 10);
  out.samples_per_s = optional_real(row, 11);
  out.duration_s = optional_real(row, 12);
  out.notes = row.column_text(13);
  if (!row.column_null(14)) out.sweep = SweepId(row.column_int(14));
  out.tags = split_tags(row.column_text(15));
  return out;
}

// Runs an UPDATE of one session's row; StoreError when there is no such session.
void update_session(SessionStore& store, SessionId id, const char* sql, const std::string& text,
                    const std::string& what) {
  sqlite3* db = StoreAccess::db(store);
  Statement update(db, store.path(), sql, what);
  update.bind_int(1, id.value);
  update.bind_text(2, text);
  update.run();
  if (sqlite3_changes(db) == 0) {
    throw StoreError(store.path().string() + ": " + what + ": there is no such session");
  }
}

void require_session(const SessionStore& store, SessionId id, const std::string& what) {
  Statement query(StoreAccess::db(store), store.path(), "SELECT 1 FROM sessions WHERE id = ?1",
                  what);
  query.bind_int(1, id.value);
  if (!query.step()) {
    throw StoreError(store.path().string() + ": " + what + ": there is no such session");
  }
}

std::vector<std::string> normalized_tags(const std::vector<std::string>& tags) {
  std::vector<std::string> out;
  for (const auto& tag : tags) {
    std::string t = trim(tag);
    // ", " joins a row's tags for display and sorting; a comma inside a tag would split it.
    std::replace(t.begin(), t.end(), ',', ' ');
    t = trim(t);
    if (!t.empty()) out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void set_trashed(SessionStore& store, const std::vector<SessionId>& ids, int trashed,
                 const std::string& what) {
  if (ids.empty()) return;
  sqlite3* db = StoreAccess::db(store);
  Transaction transaction(db, store.path(), what);
  Statement update(db, store.path(), "UPDATE sessions SET trashed = ?2 WHERE id = ?1", what);
  update.bind_int(2, trashed);
  for (SessionId id : ids) {
    update.bind_int(1, id.value);
    update.run();
  }
  transaction.commit();
}

std::vector<ProjectGroup> read_groups(const SessionStore& store, const char* sql,
                                      const std::string& what) {
  Statement query(StoreAccess::db(store), store.path(), sql, what);
  std::vector<ProjectGroup> groups;
  while (query.step()) groups.push_back({query.column_text(0), query.column_int(1)});
  return groups;
}

}  // namespace

std::int64_t count_sessions(const SessionStore& store, const SessionQuery& query) {
  const Filter filter = build_filter(query);
  Statement count(StoreAccess::db(store), store.path(),
                  "SELECT count(*) FROM sessions AS s" + filter.where, "counting sessions");
  bind_all(count, filter.bindings);
  return count.step() ? count.column_int(0) : 0;
}

std::vector<SessionOverview> query_sessions(const SessionStore& store, const SessionQuery& query,
                                            std::int64_t offset, std::int64_t limit) {
  Filter filter = build_filter(query);
  const char* direction = query.descending ? " DESC" : " ASC";
  const std::string limit_sql = filter.bind(std::max<std::int64_t>(limit, 0));
  const std::string offset_sql = filter.bind(std::max<std::int64_t>(offset, 0));
  const std::string sql = std::string("SELECT ") + kOverviewColumns + ", " + kTagsSql +
                          " FROM sessions AS s" + filter.where + " ORDER BY " +
                          column_sql(query.sort) + direction + ", s.id" + direction + " LIMIT " +
                          limit_sql + " OFFSET " + offset_sql;
  Statement rows(StoreAccess::db(store), store.path(), sql, "listing sessions");
  bind_all(rows, filter.bindings);
  std::vector<SessionOverview> out;
  while (rows.step()) out.push_back(read_overview(rows));
  return out;
}

std::optional<SessionOverview> session_overview(const SessionStore& store, SessionId id) {
  Statement row(StoreAccess::db(store), store.path(),
                std::string("SELECT ") + kOverviewColumns + ", " + kTagsSql +
                    " FROM sessions AS s WHERE s.id = ?1",
                "reading " + session_text(id));
  row.bind_int(1, id.value);
  if (!row.step()) return std::nullopt;
  return read_overview(row);
}

std::vector<ProjectGroup> list_projects(const SessionStore& store) {
  return read_groups(store,
                     "SELECT project, count(*) FROM sessions WHERE trashed = 0 GROUP BY project "
                     "ORDER BY project",
                     "listing projects");
}

std::vector<ProjectGroup> list_tags(const SessionStore& store) {
  return read_groups(store,
                     "SELECT t.tag, count(*) FROM session_tags AS t JOIN sessions AS s ON s.id = "
                     "t.session_id WHERE s.trashed = 0 GROUP BY t.tag ORDER BY t.tag",
                     "listing tags");
}

void rename_session(SessionStore& store, SessionId id, const std::string& name) {
  const std::string trimmed = trim(name);
  const std::string what = "renaming " + session_text(id);
  if (trimmed.empty()) {
    throw StoreError(store.path().string() + ": " + what + ": a session needs a name");
  }
  update_session(store, id, "UPDATE sessions SET name = ?2 WHERE id = ?1", trimmed, what);
}

void set_notes(SessionStore& store, SessionId id, const std::string& notes) {
  update_session(store, id, "UPDATE sessions SET notes = ?2 WHERE id = ?1", notes,
                 "writing the notes of " + session_text(id));
}

void set_tags(SessionStore& store, SessionId id, const std::vector<std::string>& tags) {
  sqlite3* db = StoreAccess::db(store);
  const std::string what = "tagging " + session_text(id);
  Transaction transaction(db, store.path(), what);
  require_session(store, id, what);
  Statement clear(db, store.path(), "DELETE FROM session_tags WHERE session_id = ?1", what);
  clear.bind_int(1, id.value);
  clear.run();
  Statement insert(db, store.path(), "INSERT INTO session_tags (session_id, tag) VALUES (?1, ?2)",
                   what);
  insert.bind_int(1, id.value);
  for (const auto& tag : normalized_tags(tags)) {
    insert.bind_text(2, tag);
    insert.run();
  }
  transaction.commit();
}

void add_tag(SessionStore& store, SessionId id, const std::string& tag) {
  const std::string what = "tagging " + session_text(id);
  const auto tags = normalized_tags({tag});
  if (tags.empty()) return;
  require_session(store, id, what);
  Statement insert(StoreAccess::db(store), store.path(),
                   "INSERT OR IGNORE INTO session_tags (session_id, tag) VALUES (?1, ?2)", what);
  insert.bind_int(1, id.value);
  insert.bind_text(2, tags.front());
  insert.run();
}

void remove_tag(SessionStore& store, SessionId id, const std::string& tag) {
  Statement erase(StoreAccess::db(store), store.path(),
                  "DELETE FROM session_tags WHERE session_id = ?1 AND tag = ?2",
                  "untagging " + session_text(id));
  erase.bind_int(1, id.value);
  erase.bind_text(2, trim(tag));
  erase.run();
}

void trash_sessions(SessionStore& store, const std::vector<SessionId>& ids) {
  set_trashed(store, ids, 1, "moving sessions to the trash");
}

void restore_sessions(SessionStore& store, const std::vector<SessionId>& ids) {
  set_trashed(store, ids, 0, "restoring sessions from the trash");
}

std::vector<SessionId> trashed_sessions(const SessionStore& store) {
  Statement query(StoreAccess::db(store), store.path(),
                  "SELECT id FROM sessions WHERE trashed = 1 ORDER BY id", "listing the trash");
  std::vector<SessionId> ids;
  while (query.step()) ids.emplace_back(query.column_int(0));
  return ids;
}

void delete_sessions(SessionStore& store, const std::vector<SessionId>& ids) {
  if (ids.empty()) return;
  sqlite3* db = StoreAccess::db(store);
  const std::string what = "deleting " + std::to_string(ids.size()) + " session(s)";
  // ON DELETE CASCADE (foreign keys are on for every connection) takes the params, metrics,
  // checkpoints, tags and every trace table's rows with each session, inside this transaction.
  Transaction transaction(db, store.path(), what);
  Statement erase(db, store.path(), "DELETE FROM sessions WHERE id = ?1", what);
  for (SessionId id : ids) {
    erase.bind_int(1, id.value);
    erase.run();
    if (sqlite3_changes(db) == 0) {
      throw StoreError(store.path().string() + ": " + what + ": there is no " + session_text(id));
    }
  }
  transaction.commit();
}

SweepId create_sweep(SessionStore& store, const std::string& name, const std::string& project,
                     const std::string& grid_json) {
  sqlite3* db = StoreAccess::db(store);
  Statement insert(db, store.path(),
                   "INSERT INTO sweeps (name, created, project, grid_json) VALUES "
                   "(?1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'), ?2, ?3)",
                   "creating sweep " + detail::in_quotes(name));
  insert.bind_text(1, name);
  insert.bind_text(2, project);
  insert.bind_text(3, grid_json);
  insert.run();
  return SweepId(sqlite3_last_insert_rowid(db));
}

void add_to_sweep(SessionStore& store, SweepId sweep, SessionId session) {
  sqlite3* db = StoreAccess::db(store);
  const std::string what =
      "adding " + session_text(session) + " to sweep " + std::to_string(sweep.value);
  Statement exists(db, store.path(), "SELECT 1 FROM sweeps WHERE id = ?1", what);
  exists.bind_int(1, sweep.value);
  if (!exists.step()) {
    throw StoreError(store.path().string() + ": " + what + ": there is no such sweep");
  }
  Statement update(db, store.path(), "UPDATE sessions SET sweep_id = ?2 WHERE id = ?1", what);
  update.bind_int(1, session.value);
  update.bind_int(2, sweep.value);
  update.run();
  if (sqlite3_changes(db) == 0) {
    throw StoreError(store.path().string() + ": " + what + ": there is no such session");
  }
}

std::vector<SweepRecord> list_sweeps(const SessionStore& store) {
  Statement query(StoreAccess::db(store), store.path(),
                  "SELECT w.id, w.name, w.created, w.project, w.grid_json, "
                  "(SELECT count(*) FROM sessions AS s WHERE s.sweep_id = w.id AND s.trashed = 0) "
                  "FROM sweeps AS w ORDER BY w.id DESC",
                  "listing sweeps");
  std::vector<SweepRecord> sweeps;
  while (query.step()) {
    sweeps.push_back({SweepId(query.column_int(0)), query.column_text(1), query.column_text(2),
                      query.column_text(3), query.column_text(4), query.column_int(5)});
  }
  return sweeps;
}

std::vector<SessionId> sweep_sessions(const SessionStore& store, SweepId sweep) {
  Statement query(StoreAccess::db(store), store.path(),
                  "SELECT id FROM sessions WHERE sweep_id = ?1 AND trashed = 0 ORDER BY id",
                  "listing the sessions of sweep " + std::to_string(sweep.value));
  query.bind_int(1, sweep.value);
  std::vector<SessionId> ids;
  while (query.step()) ids.emplace_back(query.column_int(0));
  return ids;
}

}  // namespace tb::store
