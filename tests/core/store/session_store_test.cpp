// SessionStore's API: writing a run and reading it back, ordering, lookups, default path.
#include "core/store/session_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/store/trace_store.h"
#include "tests/support/test_data.h"

namespace tb::store {
namespace {

NewSession make_session(const std::string& name, std::uint64_t seed = 7) {
  return {name, R"({"model":"mlp","epochs":2})", "abc123def456", "testhost", seed};
}

bool is_iso_utc(const std::string& text) {
  static const std::regex iso(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z)");
  return std::regex_match(text, iso);
}

TEST(SessionStore, RoundTripsAWholeRun) {
  testing::TempDir dir;
  const auto path = dir / "nested" / "folder" / "sessions.db";  // the folder is created
  SessionStore store(path);
  EXPECT_EQ(store.path(), path);
  EXPECT_EQ(store.schema_version(), SessionStore::kSchemaVersion);

  // A seed above 2^63 checks the unsigned round trip through SQLite's signed integers.
  const std::uint64_t seed = 0xF000'0000'0000'0001ull;
  const SessionId id = store.create_session(make_session("mnist-mlp", seed));
  ASSERT_TRUE(id.valid());

  const Params params = {{"optimizer.lr", "0.001"}, {"model", "mlp"}, {"batch", "64"}};
  store.add_params(id, params);

  // Thousands of points through a writer with a small batch: many flushes plus a partial tail.
  std::vector<MetricPoint> expected_loss, expected_acc;
  {
    MetricWriter writer(store, id, 64);
    for (int step = 0; step < 3000; ++step) {
      const double wall = step * 0.01;
      writer.add("train/loss", step, wall, 2.0 / (1 + step));
      expected_loss.push_back({"train/loss", step, wall, 2.0 / (1 + step)});
      if (step % 100 == 0) {
        writer.add("eval/accuracy", step, wall, step / 3000.0);
        expected_acc.push_back({"eval/accuracy", step, wall, step / 3000.0});
      }
    }
  }  // the destructor flushes what is left

  trace::Trace spans;
  const auto engine = spans.add_track({"engine", trace::TrackKind::cpu_thread, "trainbench", 0});
  for (int step = 0; step < 50; ++step) {
    const std::int64_t base = step * 1'000'000;
    spans.add_span(
        {base, base + 900'000, step, engine, spans.intern("step"), {}, trace::Category::step});
    spans.add_span(
        {base, base + 100'000, step, engine, spans.intern("data"), {}, trace::Category::data});
    spans.add_span({base + 100'000,
                    base + 400'000,
                    step,
                    engine,
                    spans.intern("forward"),
                    {},
                    trace::Category::forward});
  }
  TraceWriter(store, id).append(spans);
  store.finish_session(id, "completed", R"({"accuracy":0.97})");

  const std::optional<SessionRecord> record = store.session(id);
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->id, id);
  EXPECT_EQ(record->name, "mnist-mlp");
  EXPECT_EQ(record->status, "completed");
  EXPECT_EQ(record->project_json, R"({"model":"mlp","epochs":2})");
  EXPECT_EQ(record->git_revision, "abc123def456");
  EXPECT_EQ(record->host, "testhost");
  EXPECT_EQ(record->seed, seed);
  EXPECT_EQ(record->summary_json, R"({"accuracy":0.97})");
  EXPECT_TRUE(is_iso_utc(record->created)) << record->created;
  EXPECT_TRUE(is_iso_utc(record->finished)) << record->finished;
  EXPECT_LE(record->created, record->finished);

  EXPECT_EQ(store.params(id), params);  // in the order given

  auto equal_points = [](const std::vector<MetricPoint>& got,
                         const std::vector<MetricPoint>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].key, want[i].key);
      EXPECT_EQ(got[i].step, want[i].step);
      EXPECT_DOUBLE_EQ(got[i].wall_time, want[i].wall_time);
      EXPECT_DOUBLE_EQ(got[i].value, want[i].value);
    }
  };
  equal_points(store.metrics(id, "train/loss"), expected_loss);
  equal_points(store.metrics(id, "eval/accuracy"), expected_acc);
  EXPECT_TRUE(store.metrics(id, "no/such/key").empty());

  // The trace goes with the session (trace_store_test.cpp tests it in depth).
  const trace::Trace got = load_trace(store, id);
  ASSERT_EQ(got.spans().size(), spans.spans().size());
  EXPECT_EQ(got.name(got.spans().front().name), "step");  // by start, the longer first
  EXPECT_EQ(got.spans().back().category, trace::Category::forward);
  EXPECT_EQ(got.spans().back().step, 49);
}

TEST(SessionStore, DataSurvivesReopening) {
  testing::TempDir dir;
  SessionId id;
  {
    SessionStore store(dir / "s.db");
    id = store.create_session(make_session("persisted"));
    store.add_metrics(id, {{"loss", 0, 0.0, 1.5}, {"loss", 1, 0.1, 1.25}});
  }
  SessionStore reopened(dir / "s.db", SessionStore::Mode::read_only);
  ASSERT_TRUE(reopened.session(id).has_value());
  EXPECT_EQ(reopened.session(id)->status, "running");
  EXPECT_EQ(reopened.session(id)->finished, "");
  EXPECT_EQ(reopened.session(id)->summary_json, "{}");
  EXPECT_EQ(reopened.metrics(id, "loss").size(), 2u);
}

TEST(SessionStore, MetricsComeBackByStepWhateverTheInsertOrder) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("order"));
  store.add_metrics(id, {{"loss", 5, 0.5, 5.0}, {"loss", 1, 0.1, 1.0}, {"loss", 3, 0.3, 3.0}});
  store.add_metrics(id, {{"loss", 2, 0.2, 2.0}});
  std::vector<std::int64_t> steps;
  for (const MetricPoint& p : store.metrics(id, "loss")) steps.push_back(p.step);
  EXPECT_EQ(steps, (std::vector<std::int64_t>{1, 2, 3, 5}));
}

TEST(SessionStore, NanAndInfinityValuesRoundTrip) {
  // A diverged run's loss is NaN; SQLite would store a bare NaN as NULL.
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("diverged"));
  const double inf = std::numeric_limits<double>::infinity();
  store.add_metrics(id, {{"loss", 0, 0.0, 1.0},
                         {"loss", 1, 0.1, std::numeric_limits<double>::quiet_NaN()},
                         {"loss", 2, 0.2, inf}});
  const auto points = store.metrics(id, "loss");
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].value, 1.0);
  EXPECT_TRUE(std::isnan(points[1].value));
  EXPECT_EQ(points[2].value, inf);
}

TEST(SessionStore, ListsNewestFirstAndUnknownIdsAreEmpty) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  EXPECT_TRUE(store.list_sessions().empty());
  const SessionId a = store.create_session(make_session("first"));
  const SessionId b = store.create_session(make_session("second"));
  const SessionId c = store.create_session(make_session("third"));
  const auto sessions = store.list_sessions();
  ASSERT_EQ(sessions.size(), 3u);
  EXPECT_EQ(sessions[0].id, c);
  EXPECT_EQ(sessions[1].id, b);
  EXPECT_EQ(sessions[2].id, a);
  EXPECT_EQ(sessions[0].name, "third");
  EXPECT_EQ(sessions[2].name, "first");
  EXPECT_EQ(store.session_count(), 3);
  // A limit keeps the newest.
  const auto newest = store.list_sessions(2);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest[0].id, c);
  EXPECT_EQ(newest[1].id, b);
  EXPECT_TRUE(store.list_sessions(0).empty());
  EXPECT_EQ(store.list_sessions(10).size(), 3u);
  EXPECT_EQ(store.list_sessions(-1).size(), 3u);

  const SessionId unknown(c.value + 100);
  EXPECT_FALSE(store.session(unknown).has_value());
  EXPECT_TRUE(store.params(unknown).empty());
  EXPECT_TRUE(store.metric_keys(unknown).empty());
  EXPECT_THROW(load_trace(store, unknown), StoreError);
}

TEST(SessionStore, MetricKeysAreDistinctSortedAndPerSession) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId a = store.create_session(make_session("a"));
  const SessionId b = store.create_session(make_session("b"));
  EXPECT_TRUE(store.metric_keys(a).empty());
  std::vector<MetricPoint> points;
  for (int step = 0; step < 100; ++step) {
    points.push_back({"train/loss", step, 0.0, 1.0});
    points.push_back({"lr", step, 0.0, 0.1});
    if (step % 10 == 0) points.push_back({"eval/accuracy", step, 0.0, 0.5});
  }
  points.push_back({"", 0, 0.0, 0.0});  // an empty key is still a key
  store.add_metrics(a, points);
  store.add_metrics(b, {{"only-in-b", 0, 0.0, 1.0}});
  EXPECT_EQ(store.metric_keys(a),
            (std::vector<std::string>{"", "eval/accuracy", "lr", "train/loss"}));
  EXPECT_EQ(store.metric_keys(b), (std::vector<std::string>{"only-in-b"}));
}

TEST(SessionStore, AParameterGivenAgainKeepsTheLastValue) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("p"));
  store.add_params(id, {{"lr", "0.1"}, {"batch", "32"}, {"lr", "0.2"}});
  store.add_params(id, {{"batch", "64"}});
  EXPECT_EQ(store.params(id), (Params{{"lr", "0.2"}, {"batch", "64"}}));
}

TEST(SessionStore, WritesForAnUnknownSessionFailNamingThePath) {
  testing::TempDir dir;
  const auto path = dir / "s.db";
  SessionStore store(path);
  const SessionId id = store.create_session(make_session("real"));
  const SessionId unknown(id.value + 1);
  auto expect_store_error = [&](auto&& write) {
    try {
      write();
      ADD_FAILURE() << "expected a StoreError";
    } catch (const StoreError& error) {
      EXPECT_NE(std::string(error.what()).find(path.string()), std::string::npos) << error.what();
    }
  };
  // The foreign keys refuse rows of a session that does not exist.
  expect_store_error([&] { store.add_metrics(unknown, {{"loss", 0, 0.0, 1.0}}); });
  expect_store_error([&] { TraceWriter writer(store, unknown); });
  expect_store_error([&] { store.add_params(unknown, {{"lr", "1"}}); });
  expect_store_error([&] { store.finish_session(unknown, "completed", "{}"); });

  // A failed batch is rolled back whole, and the connection stays usable.
  EXPECT_TRUE(store.metric_keys(unknown).empty());
  store.add_metrics(id, {{"loss", 0, 0.0, 1.0}});
  EXPECT_EQ(store.metrics(id, "loss").size(), 1u);
}

TEST(SessionStore, MetricWriterFlushesOnlyFullBatchesUntilAskedTo) {
  testing::TempDir dir;
  SessionStore store(dir / "s.db");
  const SessionId id = store.create_session(make_session("w"));
  MetricWriter writer(store, id, 10);
  for (int step = 0; step < 25; ++step) writer.add("loss", step, 0.0, 1.0);
  EXPECT_EQ(store.metrics(id, "loss").size(), 20u);  // two full batches written, 5 pending
  writer.flush();
  EXPECT_EQ(store.metrics(id, "loss").size(), 25u);
  writer.flush();  // nothing pending: no duplicate rows
  EXPECT_EQ(store.metrics(id, "loss").size(), 25u);
}

// Sets an environment variable for one scope, restoring the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(SessionStore, DefaultPathFollowsXdgDataHomeThenHome) {
  {
    ScopedEnv xdg("XDG_DATA_HOME", "/data/xdg");
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(SessionStore::default_path(), "/data/xdg/trainbench/sessions.db");
  }
  {
    ScopedEnv xdg("XDG_DATA_HOME", nullptr);
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(SessionStore::default_path(), "/home/someone/.local/share/trainbench/sessions.db");
  }
  {
    // The XDG spec says a relative value is invalid and must be ignored.
    ScopedEnv xdg("XDG_DATA_HOME", "relative/dir");
    ScopedEnv home("HOME", "/home/someone");
    EXPECT_EQ(SessionStore::default_path(), "/home/someone/.local/share/trainbench/sessions.db");
  }
}

}  // namespace
}  // namespace tb::store
