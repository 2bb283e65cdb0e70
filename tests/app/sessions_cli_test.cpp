// `trainbench sessions`: listing with filters and sorting, and the catalog's edits (rename, tags,
// notes, delete, sweeps) end to end through the built binary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/store/session_catalog.h"
#include "tests/support/cli_support.h"

namespace {

using nlohmann::json;
using tb::testing::TempDir;
using tb::testing::trainbench;

// Two runs of the tiny project, at two learning rates: sessions 1 and 2.
std::string two_runs(const TempDir& dir) {
  tb::testing::write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  for (const char* lr : {"0.1", "0.01"}) {
    const auto run = trainbench("run " + (dir / "tiny.json").string() +
                                    " --max-steps 3 --set optimizer.lr=" + lr + " --db " + db,
                                dir);
    EXPECT_EQ(run.exit_code, 0) << run.err;
  }
  return db;
}

TEST(SessionsCli, ListsFiltersSortsAndEdits) {
  TempDir dir;
  const std::string db = two_runs(dir);

  const auto listed = trainbench("sessions --json --db " + db, dir);
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  auto doc = json::parse(listed.out);
  EXPECT_EQ(doc["total"], 2);
  ASSERT_EQ(doc["sessions"].size(), 2u);
  EXPECT_EQ(doc["sessions"][0]["session_id"], 2);  // newest first
  EXPECT_EQ(doc["sessions"][0]["project"], "tiny");
  EXPECT_EQ(doc["sessions"][0]["optimizer"], "sgd");
  EXPECT_TRUE(doc["sessions"][0]["samples_per_s"].is_number());
  EXPECT_TRUE(doc["sessions"][0]["best_accuracy"].is_number());

  EXPECT_EQ(trainbench("sessions rename 1 'high lr' --db " + db, dir).exit_code, 0);
  const auto tagged = trainbench("sessions tag 1 baseline fp32 --json --db " + db, dir);
  ASSERT_EQ(tagged.exit_code, 0) << tagged.err;
  EXPECT_EQ(json::parse(tagged.out)["tags"], (json{"baseline", "fp32"}));
  EXPECT_EQ(trainbench("sessions untag 1 fp32 --db " + db, dir).exit_code, 0);
  const auto noted = trainbench("sessions note 1 'diverged at first' --db " + db, dir);
  EXPECT_NE(noted.out.find("diverged at first"), std::string::npos) << noted.out;

  doc = json::parse(trainbench("sessions --filter baseline --json --db " + db, dir).out);
  ASSERT_EQ(doc["sessions"].size(), 1u);
  EXPECT_EQ(doc["sessions"][0]["name"], "high lr");
  EXPECT_EQ(doc["sessions"][0]["tags"], json{"baseline"});
  EXPECT_EQ(doc["sessions"][0]["notes"], "diverged at first");
  doc = json::parse(trainbench("sessions --tag baseline --json --db " + db, dir).out);
  EXPECT_EQ(doc["sessions"].size(), 1u);
  doc = json::parse(trainbench("sessions --sort id --asc --limit 1 --json --db " + db, dir).out);
  ASSERT_EQ(doc["sessions"].size(), 1u);
  EXPECT_EQ(doc["sessions"][0]["session_id"], 1);
  EXPECT_EQ(doc["total"], 2);

  const auto table = trainbench("sessions --db " + db, dir);
  EXPECT_NE(table.out.find("high lr"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("baseline"), std::string::npos) << table.out;
  const auto none = trainbench("sessions --filter nothing-like-this --db " + db, dir);
  EXPECT_NE(none.out.find("match"), std::string::npos) << none.out;

  // Mistakes are answered, not obeyed.
  EXPECT_EQ(trainbench("sessions --sort speed --db " + db, dir).exit_code, 2);
  const auto missing = trainbench("sessions delete 1 99 --db " + db, dir);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("no session 99"), std::string::npos) << missing.err;
  EXPECT_EQ(trainbench("sessions rename 1 '  ' --db " + db, dir).exit_code, 2);

  const auto deleted = trainbench("sessions delete 1 --db " + db, dir);
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  tb::store::SessionStore store(db, tb::store::SessionStore::Mode::read_only);
  EXPECT_FALSE(store.session(tb::store::SessionId(1)).has_value());
  EXPECT_TRUE(store.metrics(tb::store::SessionId(1), "train_loss").empty());
  EXPECT_TRUE(store.session(tb::store::SessionId(2)).has_value());
}

TEST(SessionsCli, ListsSweeps) {
  TempDir dir;
  tb::testing::write_one_epoch_project(dir);
  const std::string db = (dir / "s.db").string();
  const auto none = trainbench("sessions sweeps --db " + db, dir);
  EXPECT_EQ(none.exit_code, 0);
  EXPECT_NE(none.out.find("no sweeps"), std::string::npos) << none.out;
  ASSERT_EQ(trainbench("sweep " + (dir / "tiny.json").string() +
                           " --set optimizer.lr=0.1,0.01 --max-steps 2 --name lrs --db " + db,
                       dir)
                .exit_code,
            0);
  const auto sweeps = trainbench("sessions sweeps --json --db " + db, dir);
  ASSERT_EQ(sweeps.exit_code, 0) << sweeps.err;
  const auto doc = json::parse(sweeps.out);
  ASSERT_EQ(doc["sweeps"].size(), 1u);
  EXPECT_EQ(doc["sweeps"][0]["name"], "lrs");
  EXPECT_EQ(doc["sweeps"][0]["sessions"], (json{1, 2}));
  const auto listed = trainbench("sessions --sweep 1 --json --db " + db, dir);
  EXPECT_EQ(json::parse(listed.out)["sessions"].size(), 2u);
  const auto text = trainbench("sessions sweeps --db " + db, dir);
  EXPECT_NE(text.out.find("trainbench compare 1 2"), std::string::npos) << text.out;
}

}  // namespace
