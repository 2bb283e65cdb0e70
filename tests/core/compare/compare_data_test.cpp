// Loading sessions for a comparison from a real store, on one thread and on several.
#include "core/compare/compare_data.h"

#include <gtest/gtest.h>

#include "tests/support/test_data.h"

namespace tb::compare {
namespace {

using store::SessionId;
using store::SessionStore;

// Three finished sessions: settings, a summary, per-step train_loss and per-epoch test_accuracy.
std::vector<SessionId> write_sessions(const std::filesystem::path& db) {
  SessionStore store(db);
  std::vector<SessionId> ids;
  for (int s = 0; s < 3; ++s) {
    const auto id = store.create_session(
        {"run " + std::to_string(s), R"({"name":"tiny"})", "rev", "host", std::uint64_t(s)});
    store.add_params(id, {{"name", "tiny"},
                          {"optimizer.lr", s == 1 ? "0.01" : "0.1"},
                          {"data.batch_size", std::to_string(32 * (s + 1))}});
    std::vector<store::MetricPoint> points;
    for (int step = 1; step <= 200; ++step) {
      points.push_back({"train_loss", step, 0.01 * step, 2.0 / (step + s)});
      if (step % 50 == 0) points.push_back({"test_accuracy", step, 0.01 * step, 0.2 * step / 50});
    }
    if (s == 2) points.push_back({"grad_norm", 1, 0.01, 3.0});
    store.add_metrics(id, points);
    store.finish_session(id, "completed",
                         s == 0 ? "not json" : R"({"samples_per_s": 100.0, "steps": 200})");
    ids.push_back(id);
  }
  return ids;
}

void expect_same(const SessionData& a, const SessionData& b) {
  EXPECT_EQ(a.record.id, b.record.id);
  EXPECT_EQ(a.record.name, b.record.name);
  EXPECT_EQ(a.settings, b.settings);
  EXPECT_EQ(a.summary, b.summary);
  EXPECT_EQ(a.batch_size, b.batch_size);
  ASSERT_EQ(a.metrics.size(), b.metrics.size());
  for (const auto& [key, series] : a.metrics) {
    const auto& other = b.metrics.at(key);
    EXPECT_EQ(series.step, other.step) << key;
    EXPECT_EQ(series.wall_time, other.wall_time) << key;
    EXPECT_EQ(series.value, other.value) << key;
  }
}

TEST(CompareData, LoadsSessionsInTheOrderAskedOnOneThreadOrSeveral) {
  tb::testing::TempDir dir;
  const auto db = dir / "sessions.db";
  const auto ids = write_sessions(db);
  const std::vector<SessionId> order = {ids[2], ids[0], ids[1]};
  const std::vector<std::string> keys = {"train_loss", "test_accuracy", "memory_bytes"};

  const auto one = load_sessions(db, order, keys, 1);
  const auto two = load_sessions(db, order, keys, 2);
  const auto any = load_sessions(db, order, keys);
  ASSERT_EQ(one.size(), 3u);
  ASSERT_EQ(two.size(), 3u);
  ASSERT_EQ(any.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(one[i].record.id, order[i]);
    expect_same(one[i], two[i]);
    expect_same(one[i], any[i]);
  }

  const auto& first = one[1];  // ids[0]
  EXPECT_EQ(first.record.name, "run 0");
  EXPECT_EQ(first.batch_size, 32);
  EXPECT_EQ(first.summary, nlohmann::json::object()) << "an unreadable summary reads as {}";
  EXPECT_EQ(one[0].summary["samples_per_s"], 100.0);
  EXPECT_EQ(one[0].batch_size, 96);
  ASSERT_EQ(first.settings.size(), 3u);
  EXPECT_EQ(first.settings[1], (std::pair<std::string, std::string>{"optimizer.lr", "0.1"}));

  // The keys asked for that each session has: memory_bytes is nowhere, grad_norm not asked.
  ASSERT_EQ(first.metrics.size(), 2u);
  const auto& loss = first.metrics.at("train_loss");
  ASSERT_EQ(loss.size(), 200u);
  EXPECT_EQ(loss.step.front(), 1);
  EXPECT_EQ(loss.step.back(), 200);
  EXPECT_DOUBLE_EQ(loss.wall_time[9], 0.1);
  EXPECT_DOUBLE_EQ(loss.value[0], 2.0);
  const auto& accuracy = first.metrics.at("test_accuracy");
  EXPECT_EQ(accuracy.step, (std::vector<std::int64_t>{50, 100, 150, 200}));
  EXPECT_DOUBLE_EQ(accuracy.value.back(), 0.8);
  EXPECT_FALSE(one[0].metrics.contains("grad_norm"));

  EXPECT_TRUE(load_sessions(db, {}, keys).empty());
  EXPECT_TRUE(load_sessions(db, {ids[0]}, {}).front().metrics.empty());
}

TEST(CompareData, AnUnknownIdIsAStoreErrorNamingIt) {
  tb::testing::TempDir dir;
  const auto db = dir / "sessions.db";
  const auto ids = write_sessions(db);
  for (const unsigned threads : {1u, 2u, 4u}) {
    try {
      load_sessions(db, {ids[0], SessionId{77}, ids[1], SessionId{78}}, {"train_loss"}, threads);
      FAIL() << "no error for session 77";
    } catch (const store::StoreError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("session 77"), std::string::npos) << message;
      EXPECT_EQ(message.find("session 78"), std::string::npos)
          << "the first missing id: " << message;
    }
  }
  EXPECT_THROW(metric_keys_of(db, {ids[0], SessionId{99}}), store::StoreError);
}

TEST(CompareData, MetricKeysPutTheCommonCurvesFirst) {
  tb::testing::TempDir dir;
  const auto db = dir / "sessions.db";
  const auto ids = write_sessions(db);
  EXPECT_EQ(metric_keys_of(db, ids),
            (std::vector<std::string>{"train_loss", "test_accuracy", "grad_norm"}));
  EXPECT_EQ(metric_keys_of(db, {ids[0]}),
            (std::vector<std::string>{"train_loss", "test_accuracy"}));
}

}  // namespace
}  // namespace tb::compare
