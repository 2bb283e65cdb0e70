// The session catalog: overview columns, the browser's queries (filter, sort, page), tags, notes,
// rename, trash and delete, sweeps; 10,000 generated sessions; readers beside a writer.
#include "core/store/session_catalog.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "core/store/integrity.h"
#include "core/store/trace_store.h"
#include "tests/support/raw_sqlite.h"
#include "tests/support/test_data.h"
#include "tests/support/trace_builder.h"

namespace tb::store {
namespace {

using namespace testing_raw;

std::string project_json(const std::string& name, const std::string& optimizer,
                         const std::string& precision = "fp32") {
  return R"({"name":")" + name + R"(","precision":")" + precision +
         R"(","data":{"dataset":"fashion-mnist","batch_size":64},"model":{"type":"mlp"},)" +
         R"("optimizer":{"type":")" + optimizer + R"(","lr":0.01}})";
}

SessionId add_session(SessionStore& store, const std::string& name, const std::string& project,
                      const std::string& optimizer, double accuracy, double samples_per_s) {
  const SessionId id =
      store.create_session({name, project_json(project, optimizer), "rev", "host", 1});
  store.add_metrics(id, {{"test_accuracy", 100, 1.0, accuracy - 0.05},
                         {"test_accuracy", 200, 2.0, accuracy},
                         {"test_accuracy", 300, 3.0, accuracy - 0.01}});
  store.finish_session(id, "completed",
                       R"({"samples_per_s":)" + std::to_string(samples_per_s) +
                           R"(,"wall_s":12.5,"test_accuracy":)" + std::to_string(accuracy - 0.01) +
                           "}");
  return id;
}

std::vector<std::int64_t> ids_of(const std::vector<SessionOverview>& rows) {
  std::vector<std::int64_t> ids;
  for (const auto& row : rows) ids.push_back(row.id.value);
  return ids;
}

std::vector<std::int64_t> query_ids(const SessionStore& store, const SessionQuery& query) {
  return ids_of(query_sessions(store, query, 0, 1000));
}

TEST(SessionCatalog, OverviewComesFromTheProjectAndTheRun) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = add_session(store, "run", "fashion_mlp", "adamw", 0.9, 5000.0);
  const auto row = session_overview(store, id);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->name, "run");
  EXPECT_EQ(row->project, "fashion_mlp");
  EXPECT_EQ(row->dataset, "fashion-mnist");
  EXPECT_EQ(row->model, "mlp");
  EXPECT_EQ(row->optimizer, "adamw");
  EXPECT_EQ(row->precision, "fp32");
  EXPECT_EQ(row->status, "completed");
  ASSERT_TRUE(row->best_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*row->best_accuracy, 0.9);  // the best evaluation, not the last (0.89)
  ASSERT_TRUE(row->samples_per_s.has_value());
  EXPECT_DOUBLE_EQ(*row->samples_per_s, 5000.0);
  ASSERT_TRUE(row->duration_s.has_value());
  EXPECT_DOUBLE_EQ(*row->duration_s, 12.5);
  EXPECT_FALSE(row->sweep.valid());

  // A running session shows its best accuracy so far, and no outcome yet.
  const SessionId running =
      store.create_session({"live", project_json("fashion_mlp", "sgd"), "rev", "host", 1});
  EXPECT_FALSE(session_overview(store, running)->best_accuracy.has_value());
  store.add_metrics(running, {{"test_accuracy", 10, 0.5, 0.7}, {"train_loss", 10, 0.5, 0.3}});
  store.add_metrics(running, {{"test_accuracy", 20, 1.0, 0.6}});
  EXPECT_DOUBLE_EQ(*session_overview(store, running)->best_accuracy, 0.7);
  EXPECT_FALSE(session_overview(store, running)->samples_per_s.has_value());

  // Whatever a creator stored as project text, the row is readable.
  const SessionId odd = store.create_session({"odd", "not json {", "rev", "host", 1});
  store.finish_session(odd, "failed", "also not json");
  const auto odd_row = session_overview(store, odd);
  ASSERT_TRUE(odd_row.has_value());
  EXPECT_EQ(odd_row->project, "");
  EXPECT_FALSE(odd_row->samples_per_s.has_value());
  ASSERT_TRUE(odd_row->duration_s.has_value());  // from the created/finished times
  EXPECT_GE(*odd_row->duration_s, 0.0);
  EXPECT_FALSE(session_overview(store, SessionId(999)).has_value());
}

TEST(SessionCatalog, FiltersSortsAndPages) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId a = add_session(store, "alpha baseline", "mlp", "sgd", 0.85, 3000);
  const SessionId b = add_session(store, "beta", "mlp", "adam", 0.89, 4000);
  const SessionId c = add_session(store, "gamma", "cnn", "adam", 0.91, 1000);
  const SessionId d = add_session(store, "delta 100%_done", "cnn", "lion", 0.80, 2000);

  SessionQuery all;
  EXPECT_EQ(count_sessions(store, all), 4);
  EXPECT_EQ(query_ids(store, all), (std::vector<std::int64_t>{d.value, c.value, b.value, a.value}));

  SessionQuery text;
  text.text = "ADAM";  // case-insensitive, any column
  EXPECT_EQ(query_ids(store, text), (std::vector<std::int64_t>{c.value, b.value}));
  text.text = "adam cnn";  // every word somewhere
  EXPECT_EQ(query_ids(store, text), (std::vector<std::int64_t>{c.value}));
  text.text = "100%_";  // LIKE's own characters are literal
  EXPECT_EQ(query_ids(store, text), (std::vector<std::int64_t>{d.value}));
  text.text = "0%x";
  EXPECT_EQ(count_sessions(store, text), 0);

  SessionQuery column;
  column.column_filters = {{SessionColumn::best_accuracy, ">= 0.89"}};
  EXPECT_EQ(query_ids(store, column), (std::vector<std::int64_t>{c.value, b.value}));
  column.column_filters = {{SessionColumn::best_accuracy, ">=0.89"},
                           {SessionColumn::project, "ml"}};
  EXPECT_EQ(query_ids(store, column), (std::vector<std::int64_t>{b.value}));
  column.column_filters = {{SessionColumn::samples_per_s, "<2500"}};
  EXPECT_EQ(query_ids(store, column), (std::vector<std::int64_t>{d.value, c.value}));
  column.column_filters = {{SessionColumn::name, "ta"}};  // beta, delta
  EXPECT_EQ(query_ids(store, column), (std::vector<std::int64_t>{d.value, b.value}));

  SessionQuery project;
  project.project = "cnn";
  EXPECT_EQ(query_ids(store, project), (std::vector<std::int64_t>{d.value, c.value}));
  EXPECT_EQ(list_projects(store).size(), 2u);
  EXPECT_EQ(list_projects(store)[0].project, "cnn");
  EXPECT_EQ(list_projects(store)[0].sessions, 2);

  SessionQuery sorted;
  sorted.sort = SessionColumn::best_accuracy;
  sorted.descending = false;
  EXPECT_EQ(query_ids(store, sorted),
            (std::vector<std::int64_t>{d.value, a.value, b.value, c.value}));
  sorted.sort = SessionColumn::optimizer;  // adam, adam, lion, sgd; ties by id in the same order
  EXPECT_EQ(query_ids(store, sorted),
            (std::vector<std::int64_t>{b.value, c.value, d.value, a.value}));
  sorted.descending = true;
  EXPECT_EQ(query_ids(store, sorted),
            (std::vector<std::int64_t>{a.value, d.value, c.value, b.value}));

  // Pages put together are the whole list.
  std::vector<std::int64_t> paged;
  for (std::int64_t offset = 0; offset < 4; offset += 3) {
    for (auto id : ids_of(query_sessions(store, sorted, offset, 3))) paged.push_back(id);
  }
  EXPECT_EQ(paged, query_ids(store, sorted));
}

TEST(SessionCatalog, TagsNotesAndRename) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId a = add_session(store, "a", "mlp", "sgd", 0.8, 1000);
  const SessionId b = add_session(store, "b", "mlp", "adam", 0.8, 1000);

  set_tags(store, a, {" baseline ", "", "fp32", "baseline", "a,b"});
  EXPECT_EQ(session_overview(store, a)->tags,
            (std::vector<std::string>{"a b", "baseline", "fp32"}));
  add_tag(store, b, "baseline");
  add_tag(store, b, "baseline");  // once
  remove_tag(store, a, "fp32");
  EXPECT_EQ(session_overview(store, a)->tags, (std::vector<std::string>{"a b", "baseline"}));
  const auto tags = list_tags(store);
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(tags[1].project, "baseline");
  EXPECT_EQ(tags[1].sessions, 2);

  SessionQuery by_tag;
  by_tag.tag = "baseline";
  EXPECT_EQ(count_sessions(store, by_tag), 2);
  SessionQuery text;
  text.text = "BASEline";  // the text filter looks at tags too
  EXPECT_EQ(query_ids(store, text), (std::vector<std::int64_t>{b.value, a.value}));

  rename_session(store, a, "  the baseline  ");
  EXPECT_EQ(store.session(a)->name, "the baseline");
  EXPECT_THROW(rename_session(store, a, "   "), StoreError);
  set_notes(store, b, "lr too high?\nretry with warmup");
  EXPECT_EQ(session_overview(store, b)->notes, "lr too high?\nretry with warmup");
  SessionQuery notes;
  notes.text = "warmup";
  EXPECT_EQ(query_ids(store, notes), (std::vector<std::int64_t>{b.value}));

  try {
    set_tags(store, SessionId(77), {"x"});
    ADD_FAILURE() << "tagged a missing session";
  } catch (const StoreError& error) {
    EXPECT_NE(std::string(error.what()).find("session 77"), std::string::npos) << error.what();
  }
  EXPECT_THROW(set_notes(store, SessionId(77), "x"), StoreError);
}

// Rows of each table that belong to `id`.
std::int64_t rows_of(const std::filesystem::path& path, const std::string& table, SessionId id) {
  return std::stoll(raw_query(path, "SELECT count(*) FROM " + table +
                                        " WHERE session_id = " + std::to_string(id.value))
                        .front());
}

const std::vector<std::string> kSessionTables = {"params",         "metrics",
                                                 "checkpoints",    "checkpoint_tensors",
                                                 "session_tags",   "trace_tracks",
                                                 "trace_names",    "trace_span_chunks",
                                                 "trace_counters", "trace_counter_chunks",
                                                 "trace_metadata"};

TEST(SessionCatalog, TrashIsUndoableAndDeleteTakesEverythingInOneTransaction) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionStore store(path);
  std::vector<SessionId> ids;
  for (int i = 0; i < 3; ++i) {
    const SessionId id = add_session(store, "run" + std::to_string(i), "mlp", "sgd", 0.8, 1000);
    store.add_params(id, {{"optimizer.lr", "0.1"}});
    store.save_checkpoint(id, {10, 10, {{"model/w", {1.0f, 2.0f}}}});
    add_tag(store, id, "t");
    tb::testing::TraceBuilder b;
    const auto engine = b.track("engine", trace::TrackKind::cpu_thread, "trainbench");
    b.span(engine, "step", trace::Category::step, 0, 100, 1);
    const auto memory = b.counter("memory", "bytes");
    b.point(memory, 10, 1.0);
    b.trace.metadata = nlohmann::json{{"k", 1}};
    TraceWriter(store, id).append(b.trace);
    ids.push_back(id);
  }
  for (const auto& table : kSessionTables) {
    ASSERT_GT(rows_of(path, table, ids[1]), 0) << table;
  }

  trash_sessions(store, {ids[1]});
  EXPECT_EQ(count_sessions(store, {}), 2);
  EXPECT_EQ(store.list_sessions().size(), 2u);
  EXPECT_EQ(list_projects(store).front().sessions, 2);
  EXPECT_EQ(trashed_sessions(store), std::vector<SessionId>{ids[1]});
  SessionQuery with_trash;
  with_trash.include_trashed = true;
  EXPECT_EQ(count_sessions(store, with_trash), 3);
  restore_sessions(store, {ids[1]});
  EXPECT_EQ(count_sessions(store, {}), 3);
  EXPECT_TRUE(trashed_sessions(store).empty());

  // One id missing: nothing is deleted.
  EXPECT_THROW(delete_sessions(store, {ids[1], SessionId(999)}), StoreError);
  EXPECT_EQ(count_sessions(store, {}), 3);
  EXPECT_GT(rows_of(path, "metrics", ids[1]), 0);

  delete_sessions(store, {ids[1]});
  EXPECT_FALSE(store.session(ids[1]).has_value());
  for (const auto& table : kSessionTables) {
    EXPECT_EQ(rows_of(path, table, ids[1]), 0) << table;
    EXPECT_GT(rows_of(path, table, ids[0]), 0) << table;  // the others keep theirs
  }
  EXPECT_EQ(load_trace(store, ids[2]).spans().size(), 1u);
}

TEST(SessionCatalog, SweepsGroupTheirSessions) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SweepId sweep =
      create_sweep(store, "lr sweep", "mlp", R"({"optimizer.lr":["0.1","0.01"]})");
  const SessionId a = add_session(store, "a", "mlp", "sgd", 0.8, 1000);
  const SessionId b = add_session(store, "b", "mlp", "sgd", 0.8, 1000);
  add_session(store, "other", "mlp", "sgd", 0.8, 1000);
  add_to_sweep(store, sweep, a);
  add_to_sweep(store, sweep, b);
  EXPECT_THROW(add_to_sweep(store, SweepId(42), a), StoreError);
  EXPECT_THROW(add_to_sweep(store, sweep, SessionId(42)), StoreError);

  const auto sweeps = list_sweeps(store);
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].name, "lr sweep");
  EXPECT_EQ(sweeps[0].project, "mlp");
  EXPECT_EQ(sweeps[0].sessions, 2);
  EXPECT_EQ(sweep_sessions(store, sweep), (std::vector<SessionId>{a, b}));
  SessionQuery query;
  query.sweep = sweep;
  EXPECT_EQ(query_ids(store, query), (std::vector<std::int64_t>{b.value, a.value}));
  EXPECT_EQ(session_overview(store, a)->sweep, sweep);
}

TEST(SessionCatalog, TenThousandSessionsAnswerQuickly) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  { SessionStore create(path); }
  // Generated in one statement: 10,000 rows as finished runs leave them.
  raw_exec(path, R"sql(
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999)
INSERT INTO sessions (id, name, created, finished, status, project_json, git_revision, host, seed,
                      summary_json, project, dataset, model, optimizer, precision, samples_per_s)
SELECT i + 1, 'run ' || i, '2026-11-01T00:00:00Z', '2026-11-01T00:10:00Z', 'completed', '{}',
       'rev', 'host', 1, '{}', 'project' || (i % 7), 'fashion-mnist', 'mlp',
       CASE i % 5 WHEN 0 THEN 'sgd' WHEN 1 THEN 'adam' WHEN 2 THEN 'adamw' WHEN 3 THEN 'lion'
                  ELSE 'rmsprop' END,
       'fp32', 1000 + i % 997
FROM n;
INSERT INTO session_tags (session_id, tag) SELECT id, 'tag' || (id % 4) FROM sessions
  WHERE id % 3 = 0;
)sql");
  SessionStore store(path, SessionStore::Mode::read_only);
  const auto start = std::chrono::steady_clock::now();
  SessionQuery query;
  query.sort = SessionColumn::samples_per_s;
  const auto count = count_sessions(store, query);
  const auto first_page = query_sessions(store, query, 0, 200);
  query.sort = SessionColumn::tags;
  const auto by_tags = query_sessions(store, query, 0, 200);
  query.text = "adamw";
  query.project = "project3";
  const auto filtered = count_sessions(store, query);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(count, 10'000);
  ASSERT_EQ(first_page.size(), 200u);
  EXPECT_DOUBLE_EQ(*first_page.front().samples_per_s, 1996.0);
  ASSERT_EQ(by_tags.size(), 200u);
  EXPECT_EQ(by_tags.front().tags, std::vector<std::string>{"tag3"});
  // i % 5 == 2 and i % 7 == 3: one in 35.
  EXPECT_EQ(filtered, 286);
  // Loose: the real figure is bench/session_browser_bench's; this catches a lost index.
  EXPECT_LT(seconds, 2.0);
}

TEST(SessionCatalog, AReaderIsNotBlockedByAnOpenWrite) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionStore writer(path);
  add_session(writer, "first", "mlp", "sgd", 0.8, 1000);
  SessionStore reader(path, SessionStore::Mode::read_only);

  // A run's batch, in the middle of its transaction: the write lock is held.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw,
                         "BEGIN IMMEDIATE; INSERT INTO sessions (name, created, status, "
                         "project_json, git_revision, host, seed) VALUES ('second', "
                         "'2026-11-01T00:00:00Z', 'running', '{}', 'rev', 'host', 1)",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(count_sessions(reader, {}), 1);  // the committed state, at once
  EXPECT_EQ(query_sessions(reader, {}, 0, 10).size(), 1u);
  // Far below the 5 s busy timeout a blocked reader would wait out.
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);
  ASSERT_EQ(sqlite3_exec(raw, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  EXPECT_EQ(count_sessions(reader, {}), 2);
}

TEST(SessionCatalog, TheIntegrityCheckFindsADamagedFileAndWritesNothing) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  {
    SessionStore store(path);
    for (int i = 0; i < 20; ++i) {
      const SessionId id = add_session(store, "run" + std::to_string(i), "mlp", "sgd", 0.8, 10);
      std::vector<MetricPoint> points;
      for (int step = 0; step < 2000; ++step) points.push_back({"train_loss", step, 0.0, 1.0});
      store.add_metrics(id, points);
    }
  }
  EXPECT_EQ(check_integrity(path), "");
  const std::atomic<bool> cancelled{true};
  EXPECT_EQ(check_integrity(path, &cancelled), "");  // stopped at once: no verdict

  // Garbage over a page in the middle: inside the metrics' b-tree.
  std::string bytes = file_bytes(path);
  ASSERT_GT(bytes.size(), 64u * 4096u);
  const std::size_t page = (bytes.size() / 4096 / 2) * 4096;
  for (std::size_t i = 0; i < 4096; ++i) bytes[page + i] = static_cast<char>(i * 37 + 11);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  const std::string finding = check_integrity(path);
  EXPECT_NE(finding.find("damaged"), std::string::npos) << finding;
  EXPECT_NE(finding.find(path.string()), std::string::npos) << finding;
  EXPECT_EQ(file_bytes(path), bytes);
}

}  // namespace
}  // namespace tb::store
