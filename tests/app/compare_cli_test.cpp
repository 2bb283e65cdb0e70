// `trainbench compare` and `trainbench sweep` end to end, on sessions of a tiny project.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/store/session_catalog.h"
#include "core/store/session_store.h"
#include "tests/support/cli_support.h"
#include "tests/support/test_data.h"

namespace tb::app {
namespace {

using nlohmann::json;
using tb::testing::TempDir;
using tb::testing::trainbench;

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The tiny project run twice, at learning rates 0.1 and 0.01: sessions 1 and 2.
class CompareCli : public ::testing::Test {
 protected:
  void SetUp() override {
    tb::testing::write_one_epoch_project(dir_);
    for (const char* lr : {"0.1", "0.01"}) {
      const auto run = trainbench("run " + (dir_ / "tiny.json").string() +
                                      " --set optimizer.lr=" + lr + " --json" + db_arg(),
                                  dir_);
      ASSERT_EQ(run.exit_code, 0) << run.err;
      runs_.push_back(json::parse(run.out));
    }
  }
  std::string db() const { return (dir_ / "s.db").string(); }
  std::string db_arg() const { return " --db " + db(); }

  TempDir dir_;
  std::vector<json> runs_;
};

TEST_F(CompareCli, PrintsTheDifferingSettingsFirstThenTheSummaryAndTheMetric) {
  const auto out = trainbench("compare 1 2" + db_arg(), dir_);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto lines = lines_of(out.out);
  // The sessions by name, the heading, the column headings, then the one setting that differs.
  ASSERT_GE(lines.size(), 7u) << out.out;
  EXPECT_EQ(lines[0], "sessions:") << out.out;
  EXPECT_EQ(lines[1].rfind("  #1  tiny  (completed, ", 0), 0u) << out.out;
  EXPECT_EQ(lines[2].rfind("  #2  tiny  (completed, ", 0), 0u) << out.out;
  EXPECT_NE(lines[3].find("settings that differ (1 of"), std::string::npos) << out.out;
  EXPECT_EQ(lines[4], "  setting       #1   #2") << out.out;
  EXPECT_EQ(lines[5], "  optimizer.lr  0.1  0.01") << out.out;
  EXPECT_EQ(lines[6], "summary (* best):") << out.out;
  EXPECT_NE(out.out.find("samples/s"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("time to 85.0% test accuracy (s)"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find('*'), std::string::npos) << "a best value is marked: " << out.out;
  EXPECT_NE(out.out.find("train_loss:"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("  #1: final "), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("at step 8"), std::string::npos) << out.out;

  // --all lists the equal settings too, after the differing one.
  const auto all = trainbench("compare 1 2 --all" + db_arg(), dir_);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("data.batch_size"), std::string::npos) << all.out;
  EXPECT_LT(all.out.find("optimizer.lr"), all.out.find("data.batch_size")) << all.out;
  EXPECT_EQ(out.out.find("data.batch_size"), std::string::npos) << out.out;
}

TEST_F(CompareCli, JsonHasSessionsSettingsSummaryAndTheMetric) {
  const auto out = trainbench("compare 2 1 --json --target 2" + db_arg(), dir_);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto doc = json::parse(out.out);
  ASSERT_EQ(doc["sessions"].size(), 2u);
  EXPECT_EQ(doc["sessions"][0]["session_id"], 2);
  EXPECT_EQ(doc["sessions"][1]["session_id"], 1);
  EXPECT_EQ(doc["sessions"][0]["batch_size"], 32);
  EXPECT_DOUBLE_EQ(doc["target_accuracy"].get<double>(), 0.02) << "--target 2 is 2 %";

  ASSERT_EQ(doc["settings"].size(), 1u) << doc["settings"].dump();
  EXPECT_EQ(doc["settings"][0]["key"], "optimizer.lr");
  EXPECT_EQ(doc["settings"][0]["values"], json({"0.01", "0.1"}));
  EXPECT_EQ(doc["settings"][0]["differs"], true);

  std::map<std::string, json> rows;
  for (const auto& row : doc["summary"]) rows[row["key"]] = row;
  ASSERT_TRUE(rows.contains("samples_per_s"));
  const auto& speed = rows["samples_per_s"];
  EXPECT_EQ(speed["label"], "samples/s");
  EXPECT_EQ(speed["unit"], "samples/s");
  EXPECT_EQ(speed["better"], "higher");
  EXPECT_DOUBLE_EQ(speed["values"][0].get<double>(), runs_[1]["samples_per_s"].get<double>());
  EXPECT_DOUBLE_EQ(speed["values"][1].get<double>(), runs_[0]["samples_per_s"].get<double>());
  const std::size_t faster = speed["values"][0] > speed["values"][1] ? 0 : 1;
  EXPECT_EQ(speed["best"], faster);
  EXPECT_DOUBLE_EQ(rows["best_test_accuracy"]["values"][1].get<double>(),
                   runs_[0]["test_accuracy"].get<double>());
  EXPECT_EQ(rows["steps"]["values"], json({8.0, 8.0}));
  EXPECT_EQ(rows["steps"]["best"], nullptr);
  // One evaluation, after the 8th step: both reach 2 % there.
  EXPECT_EQ(rows["steps_to_target"]["values"], json({8.0, 8.0}));
  EXPECT_EQ(rows["steps_to_target"]["best"], nullptr) << "a tie";
  EXPECT_EQ(rows["duration_s"]["better"], "lower");

  const auto& metric = doc["metric"];
  EXPECT_EQ(metric["key"], "train_loss");
  ASSERT_EQ(metric["sessions"].size(), 2u);
  store::SessionStore store(db(), store::SessionStore::Mode::read_only);
  const auto loss = store.metrics(store::SessionId{2}, "train_loss");
  ASSERT_EQ(loss.size(), 8u);
  const auto& two = metric["sessions"][0];
  EXPECT_EQ(two["session_id"], 2);
  EXPECT_EQ(two["points"], 8);
  EXPECT_EQ(two["final"], loss.back().value);
  EXPECT_EQ(two["final_step"], 8);
  double lowest = loss.front().value;
  for (const auto& p : loss) lowest = std::min(lowest, p.value);
  EXPECT_EQ(two["min"], lowest);

  // --all: every setting, the differing one first.
  const auto all = json::parse(trainbench("compare 1 2 --all --json" + db_arg(), dir_).out);
  ASSERT_GT(all["settings"].size(), 10u);
  EXPECT_EQ(all["settings"][0]["key"], "optimizer.lr");
  EXPECT_EQ(all["settings"][1]["differs"], false);
}

TEST_F(CompareCli, CsvIsWrittenWhole) {
  const auto file = dir_ / "out dir" / "compare.csv";
  std::filesystem::create_directories(file.parent_path());
  const auto out =
      trainbench("compare 1 2 --csv '" + file.string() + "' --metric test_loss" + db_arg(), dir_);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.out.find("CSV written to"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("test_loss:"), std::string::npos) << out.out;
  const auto csv = read_file(file);
  EXPECT_EQ(csv.rfind("section,key,label,1 tiny,2 tiny\r\n", 0), 0u) << csv;
  EXPECT_NE(csv.find("\r\nsetting,optimizer.lr,optimizer.lr,0.1,0.01\r\n"), std::string::npos)
      << csv;
  EXPECT_NE(csv.find("\r\nsummary,samples_per_s,samples/s,"), std::string::npos) << csv;
  EXPECT_EQ(csv.find("data.batch_size"), std::string::npos) << "differences only: " << csv;
  // Nothing but the file itself is left in its folder.
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(file.parent_path()))
    ++files;
  EXPECT_EQ(files, 1u);

  const auto unwritable = trainbench(
      "compare 1 2 --csv " + (dir_ / "no" / "such" / "dir.csv").string() + db_arg(), dir_);
  EXPECT_EQ(unwritable.exit_code, 2);
  EXPECT_NE(unwritable.err.find("dir.csv"), std::string::npos) << unwritable.err;
}

TEST_F(CompareCli, BadIdsAreOneLineAndExitTwo) {
  const auto one = trainbench("compare 1" + db_arg(), dir_);
  EXPECT_EQ(one.exit_code, 2);
  EXPECT_NE(one.err.find("2 to 20"), std::string::npos) << one.err;
  EXPECT_EQ(std::count(one.err.begin(), one.err.end(), '\n'), 1) << one.err;

  std::string many = "compare";
  for (int i = 1; i <= 21; ++i) {
    many += ' ';
    many += std::to_string(i);
  }
  EXPECT_EQ(trainbench(many + db_arg(), dir_).exit_code, 2);

  const auto missing = trainbench("compare 1 99 --json" + db_arg(), dir_);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("session 99"), std::string::npos) << missing.err;
  EXPECT_EQ(std::count(missing.err.begin(), missing.err.end(), '\n'), 1) << missing.err;
  EXPECT_TRUE(missing.out.empty()) << missing.out;

  const auto twice = trainbench("compare 1 1" + db_arg(), dir_);
  EXPECT_EQ(twice.exit_code, 2);
  EXPECT_NE(twice.err.find("twice"), std::string::npos) << twice.err;

  const auto no_db = trainbench("compare 1 2 --db " + (dir_ / "none.db").string(), dir_);
  EXPECT_EQ(no_db.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "none.db"));

  EXPECT_EQ(trainbench("compare 1 2 --target 0" + db_arg(), dir_).exit_code, 2);
  EXPECT_EQ(trainbench("compare --help", dir_).exit_code, 0);
}

TEST(SweepCli, RunsEveryPointAsOneSweepOfNamedSessions) {
  TempDir dir;
  tb::testing::write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  const auto out = trainbench("sweep " + (dir / "tiny.json").string() +
                                  " --set optimizer.lr=0.1,0.01 --set 'model.hidden=[8]'"
                                  " --max-steps 3 --name lr-sweep --json --db " +
                                  db,
                              dir);
  ASSERT_EQ(out.exit_code, 0) << out.err;
  const auto doc = json::parse(out.out);
  EXPECT_EQ(doc["name"], "lr-sweep");
  EXPECT_EQ(doc["project"], "tiny");
  ASSERT_EQ(doc["points"].size(), 2u);
  // model.hidden has one value: set on every point, but no part of the labels.
  EXPECT_EQ(doc["points"][0]["label"], "optimizer.lr=0.1");
  EXPECT_EQ(doc["points"][1]["label"], "optimizer.lr=0.01");
  EXPECT_EQ(doc["points"][1]["overrides"],
            json({{"optimizer.lr", "0.01"}, {"model.hidden", "[8]"}}));
  EXPECT_EQ(doc["points"][0]["status"], "completed");
  EXPECT_EQ(doc["sessions"], json({1, 2}));
  EXPECT_EQ(doc["compare"], "trainbench compare 1 2 --db " + db);
  EXPECT_EQ(doc["summary"][0]["key"], "samples_per_s");
  EXPECT_EQ(doc["summary"][0]["values"].size(), 2u);

  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto sweeps = store::list_sweeps(store);
  ASSERT_EQ(sweeps.size(), 1u);
  EXPECT_EQ(sweeps[0].id.value, doc["sweep_id"].get<std::int64_t>());
  EXPECT_EQ(sweeps[0].name, "lr-sweep");
  EXPECT_EQ(sweeps[0].project, "tiny");
  EXPECT_EQ(json::parse(sweeps[0].grid_json),
            json({{"optimizer.lr", {"0.1", "0.01"}}, {"model.hidden", {"[8]"}}}));
  const auto ids = store::sweep_sessions(store, sweeps[0].id);
  ASSERT_EQ(ids.size(), 2u);
  const char* lrs[] = {"0.1", "0.01"};
  for (std::size_t i = 0; i < 2; ++i) {
    const auto session = store.session(ids[i]);
    ASSERT_TRUE(session);
    EXPECT_EQ(session->name, std::string("tiny [optimizer.lr=") + lrs[i] + "]");
    EXPECT_EQ(session->status, "completed");
    const auto params = store.params(ids[i]);
    EXPECT_NE(std::find(params.begin(), params.end(),
                        std::pair<std::string, std::string>{"optimizer.lr", lrs[i]}),
              params.end());
    for (const auto& [key, value] :
         {std::pair<std::string, std::string>{"model.hidden", "[8]"}, {"train.max_steps", "3"}}) {
      EXPECT_NE(std::find(params.begin(), params.end(), std::pair{key, value}), params.end())
          << key;
    }
    EXPECT_EQ(store.metrics(ids[i], "train_loss").size(), 3u);
  }
}

TEST(SweepCli, AFailingPointIsReportedAndTheSweepGoesOn) {
  TempDir dir;
  tb::testing::write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  const auto out = trainbench("sweep " + (dir / "tiny.json").string() +
                                  " --set data.path=" + (dir / "missing").string() + "," +
                                  (dir / "data").string() + " --max-steps 2 --db " + db,
                              dir);
  EXPECT_EQ(out.exit_code, 1) << out.out << out.err;
  const auto lines = lines_of(out.out);
  ASSERT_GE(lines.size(), 3u) << out.out;
  EXPECT_NE(lines[0].find("sweep 1 \"tiny sweep over data.path\": 2 points"), std::string::npos)
      << out.out;
  EXPECT_EQ(lines[1].rfind("[1/2] data.path=", 0), 0u) << out.out;
  EXPECT_NE(lines[1].find(": failed: "), std::string::npos) << out.out;
  EXPECT_EQ(lines[2].rfind("[2/2] data.path=", 0), 0u) << out.out;
  EXPECT_NE(lines[2].find(": completed, test accuracy "), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("summary (* best)"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("compare them: trainbench compare 1 2 --db " + db), std::string::npos)
      << out.out;

  // The failed run's session is in the sweep too, under its point's name.
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto sweeps = store::list_sweeps(store);
  ASSERT_EQ(sweeps.size(), 1u);
  const auto ids = store::sweep_sessions(store, sweeps[0].id);
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(store.session(ids[0])->status, "failed");
  EXPECT_EQ(store.session(ids[0])->name, "tiny [data.path=" + (dir / "missing").string() + "]");
  EXPECT_EQ(store.session(ids[1])->status, "completed");

  // Long values are cut to their column, ending in an ellipsis.
  const auto compared = trainbench("compare 1 2 --db " + db, dir);
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  const auto lines_of_compare = lines_of(compared.out);
  const auto row = std::find_if(lines_of_compare.begin(), lines_of_compare.end(),
                                [](const std::string& l) { return l.starts_with("  data.path "); });
  ASSERT_NE(row, lines_of_compare.end()) << compared.out;
  EXPECT_NE(row->find("…"), std::string::npos) << *row;
  EXPECT_EQ(row->find((dir / "missing").string()), std::string::npos) << *row;
}

TEST(SweepCli, BadAxesAndValuesAreAnsweredBeforeAnythingRuns) {
  TempDir dir;
  tb::testing::write_one_epoch_project(dir);
  const std::string db = " --db " + (dir / "s.db").string();
  const std::string project = (dir / "tiny.json").string();
  const auto no_equals = trainbench("sweep " + project + " --set optimizer.lr" + db, dir);
  EXPECT_EQ(no_equals.exit_code, 2);
  EXPECT_NE(no_equals.err.find("optimizer.lr"), std::string::npos) << no_equals.err;

  const auto bad_value =
      trainbench("sweep " + project + " --set optimizer.type=sgd,nonsense" + db, dir);
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_NE(bad_value.err.find("optimizer.type=nonsense"), std::string::npos) << bad_value.err;
  EXPECT_EQ(std::count(bad_value.err.begin(), bad_value.err.end(), '\n'), 1) << bad_value.err;

  EXPECT_NE(trainbench("sweep " + project + db, dir).exit_code, 0) << "no --set";
  EXPECT_FALSE(std::filesystem::exists(dir / "s.db")) << "bad input must not create a database";
  EXPECT_EQ(trainbench("sweep --help", dir).exit_code, 0);
}

}  // namespace
}  // namespace tb::app
