// The summary table (best marked, time to target) and the CSV export.
#include "core/compare/compare_summary.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace tb::compare {
namespace {

using nlohmann::json;

SessionData session(std::int64_t id, std::string name, json summary) {
  SessionData s;
  s.record.id = store::SessionId{id};
  s.record.name = std::move(name);
  s.summary = std::move(summary);
  return s;
}

void add_metric(SessionData& s, const std::string& key, std::vector<std::int64_t> steps,
                std::vector<double> wall, std::vector<double> values) {
  s.metrics[key] = MetricSeries{std::move(steps), std::move(wall), std::move(values)};
}

const SummaryRow& row(const std::vector<SummaryRow>& rows, const std::string& key) {
  for (const auto& r : rows) {
    if (r.key == key) return r;
  }
  throw std::runtime_error("no row " + key);
}

TEST(CompareSummary, RowsInOrderWithTheBestMarked) {
  std::vector<SessionData> sessions = {
      session(1, "a",
              {{"samples_per_s", 1000.0},
               {"test_accuracy", 0.80},
               {"test_loss", 0.6},
               {"train_loss", 0.5},
               {"train_s", 10.0},
               {"data_wait_s", 2.0},
               {"wall_s", 12.0},
               {"steps", 500},
               {"peak_memory_bytes", 4096}}),
      session(2, "b",
              {{"samples_per_s", 2000.0},
               {"test_accuracy", 0.85},
               {"test_loss", 0.4},
               {"train_loss", 0.3},
               {"train_s", 5.0},
               {"data_wait_s", 0.5},
               {"wall_s", 6.0},
               {"steps", 500},
               {"peak_memory_bytes", 8192}}),
  };
  const auto rows = summarize(sessions, 0.85);
  std::vector<std::string> keys;
  for (const auto& r : rows) keys.push_back(r.key);
  EXPECT_EQ(keys, (std::vector<std::string>{
                      "samples_per_s", "time_to_target_s", "steps_to_target", "best_test_accuracy",
                      "final_test_accuracy", "final_test_loss", "final_train_loss",
                      "peak_memory_bytes", "data_wait_share", "duration_s", "steps"}));
  for (const auto& r : rows) EXPECT_EQ(r.values.size(), 2u) << r.key;

  EXPECT_EQ(row(rows, "samples_per_s").better, Better::higher);
  EXPECT_EQ(row(rows, "samples_per_s").best, 1u);
  EXPECT_EQ(row(rows, "final_test_accuracy").best, 1u);
  EXPECT_EQ(row(rows, "final_test_loss").better, Better::lower);
  EXPECT_EQ(row(rows, "final_test_loss").best, 1u);
  EXPECT_EQ(row(rows, "peak_memory_bytes").best, 0u) << "lower memory is better";
  EXPECT_EQ(row(rows, "peak_memory_bytes").unit, "bytes");
  EXPECT_EQ(row(rows, "duration_s").best, 1u);
  // Without the test_accuracy curve the best accuracy is the summary's.
  EXPECT_EQ(row(rows, "best_test_accuracy").values[0], 0.80);
  const auto& wait = row(rows, "data_wait_share");
  EXPECT_DOUBLE_EQ(*wait.values[0], 20.0);
  EXPECT_DOUBLE_EQ(*wait.values[1], 10.0);
  EXPECT_EQ(wait.unit, "%");
  EXPECT_EQ(wait.best, 1u);
  // Equal steps, and steps is no contest anyway.
  EXPECT_EQ(row(rows, "steps").better, Better::none);
  EXPECT_FALSE(row(rows, "steps").best);
  EXPECT_EQ(row(rows, "time_to_target_s").label, "time to 85.0% test accuracy (s)");
}

TEST(CompareSummary, TiesAndMissingValues) {
  std::vector<SessionData> sessions = {
      session(1, "a", {{"samples_per_s", 500.0}, {"test_loss", 0.3}, {"wall_s", 5.0}}),
      session(2, "b", {{"samples_per_s", 700.0}, {"test_loss", 0.3}}),
      session(3, "c", {{"samples_per_s", 700.0}, {"test_loss", 0.4}, {"wall_s", "unreadable"}}),
      session(4, "d", json::object()),
  };
  const auto rows = summarize(sessions, 0.9);
  // Two sessions share the highest throughput: no single best.
  EXPECT_FALSE(row(rows, "samples_per_s").best);
  EXPECT_FALSE(row(rows, "final_test_loss").best) << "0.3 twice";
  EXPECT_FALSE(row(rows, "samples_per_s").values[3]);
  // Only one session has a duration: it is the best of those known.
  const auto& duration = row(rows, "duration_s");
  EXPECT_EQ(duration.values[0], 5.0);
  EXPECT_FALSE(duration.values[1]);
  EXPECT_FALSE(duration.values[2]) << "a non-number is not a value";
  EXPECT_EQ(duration.best, 0u);
  // No values at all: no best.
  EXPECT_FALSE(row(rows, "peak_memory_bytes").best);
  EXPECT_FALSE(row(rows, "data_wait_share").values[0]) << "needs data_wait_s and train_s";

  // A tie below the best does not matter.
  std::vector<SessionData> three = {session(1, "a", {{"samples_per_s", 9.0}}),
                                    session(2, "b", {{"samples_per_s", 7.0}}),
                                    session(3, "c", {{"samples_per_s", 7.0}})};
  EXPECT_EQ(row(summarize(three, 0.9), "samples_per_s").best, 0u);
  // Every session equal: none.
  std::vector<SessionData> equal = {session(1, "a", {{"samples_per_s", 7.0}}),
                                    session(2, "b", {{"samples_per_s", 7.0}})};
  EXPECT_FALSE(row(summarize(equal, 0.9), "samples_per_s").best);
}

TEST(CompareSummary, TimeToTargetIsTheFirstEvaluationAtOrAboveIt) {
  auto fast = session(1, "fast", {{"test_accuracy", 0.91}});
  add_metric(fast, "test_accuracy", {100, 200, 300}, {10.0, 20.0, 30.0}, {0.80, 0.90, 0.91});
  auto slow = session(2, "slow", {{"test_accuracy", 0.92}});
  add_metric(slow, "test_accuracy", {100, 200, 300, 400}, {5.0, 15.0, 25.0, 35.0},
             {0.70, 0.85, 0.89, 0.92});
  auto never = session(3, "never", {{"test_accuracy", 0.95}});  // summary alone: no curve
  auto short_of = session(4, "short", {{"test_accuracy", 0.88}});
  add_metric(short_of, "test_accuracy", {100, 200}, {1.0, 2.0}, {0.5, 0.88});

  const auto rows = summarize({fast, slow, never, short_of}, 0.90);
  const auto& time = row(rows, "time_to_target_s");
  EXPECT_EQ(time.label, "time to 90.0% test accuracy (s)");
  EXPECT_EQ(time.unit, "s");
  EXPECT_EQ(time.values[0], 20.0) << "0.90 itself reaches a 0.90 target";
  EXPECT_EQ(time.values[1], 35.0);
  EXPECT_EQ(time.values[2], std::nullopt) << "no test_accuracy curve loaded";
  EXPECT_EQ(time.values[3], std::nullopt) << "never reached";
  EXPECT_EQ(time.best, 0u);
  const auto& steps = row(rows, "steps_to_target");
  EXPECT_EQ(steps.values[0], 200.0);
  EXPECT_EQ(steps.values[1], 400.0);
  EXPECT_EQ(steps.values[3], std::nullopt);
  EXPECT_EQ(steps.best, 0u);
  // The best accuracy is the curve's maximum where it is loaded, else the summary's.
  const auto& best = row(rows, "best_test_accuracy");
  EXPECT_EQ(best.values[0], 0.91);
  EXPECT_EQ(best.values[2], 0.95);
  EXPECT_EQ(best.best, 2u);
}

TEST(CompareSummary, FinalValuesFallBackToTheCurvesAndMemoryToItsPeak) {
  auto stopped = session(1, "stopped", json::object());
  add_metric(stopped, "test_accuracy", {10, 20}, {1.0, 2.0}, {0.6, 0.7});
  add_metric(stopped, "test_loss", {10, 20}, {1.0, 2.0}, {0.9, 0.8});
  add_metric(stopped, "epoch_train_loss", {10, 20}, {1.0, 2.0}, {1.1, 1.0});
  add_metric(stopped, "memory_bytes", {1, 2, 3}, {0.1, 0.2, 0.3}, {100.0, 300.0, 200.0});
  const auto rows = summarize({stopped}, 0.9);
  EXPECT_EQ(row(rows, "final_test_accuracy").values[0], 0.7);
  EXPECT_EQ(row(rows, "final_test_loss").values[0], 0.8);
  EXPECT_EQ(row(rows, "final_train_loss").values[0], 1.0);
  EXPECT_EQ(row(rows, "peak_memory_bytes").values[0], 300.0);
}

TEST(CompareSummary, NamesTheCurvesItReads) {
  const auto keys = summary_metric_keys();
  for (const char* key : {"test_accuracy", "test_loss", "epoch_train_loss", "memory_bytes"}) {
    EXPECT_NE(std::find(keys.begin(), keys.end(), key), keys.end()) << key;
  }
}

TEST(CompareCsv, QuotesCommasQuotesAndLineBreaks) {
  std::vector<SessionData> sessions = {session(1, "plain", {{"samples_per_s", 1500.5}}),
                                       session(2, "lr=0.1, \"fast\"", json::object())};
  std::vector<SettingsRow> settings = {
      {"model.hidden", {"[256,128]", "[64]"}, true},
      {"notes", {"line one\nline two", std::nullopt}, true},
      {"name", {"tiny", "tiny"}, false},
  };
  const auto summary = summarize(sessions, 0.5);
  const std::string csv = compare_csv(sessions, settings, summary);
  const std::string expected_head =
      "section,key,label,1 plain,\"2 lr=0.1, \"\"fast\"\"\"\r\n"
      "setting,model.hidden,model.hidden,\"[256,128]\",[64]\r\n"
      "setting,notes,notes,\"line one\nline two\",\r\n"
      "setting,name,name,tiny,tiny\r\n"
      "summary,samples_per_s,samples/s,1500.5,\r\n"
      "summary,time_to_target_s,time to 50.0% test accuracy (s),,\r\n";
  EXPECT_EQ(csv.substr(0, expected_head.size()), expected_head) << csv;
  // One line per row (the quoted line break aside) and a header.
  std::size_t lines = 0;
  for (std::size_t at = csv.find("\r\n"); at != std::string::npos; at = csv.find("\r\n", at + 2))
    ++lines;
  EXPECT_EQ(lines, 1 + settings.size() + summary.size());
}

}  // namespace
}  // namespace tb::compare
