// data.loader.mode "stream": each epoch reads the training split front to back through the
// StreamLoader, repeated samples left out by the Bloom filter and counted in the session, the
// order from the shuffle buffer and the seed (the same for any worker count).
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/data/formats/splits.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "tests/support/record_source.h"
#include "tests/support/run_support.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::param;
using tb::testing::TempDir;
using tb::testing::TestRecord;

// 400 training images and 100 more that repeat the first 100 (new keys, same pixels and labels),
// as NPZ; the test split as it is.
std::filesystem::path write_split_with_repeats(const std::filesystem::path& dir) {
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 400, 100, 5);
  const auto train = data::open_split("fashion-mnist", dir / "idx", true);
  const auto reader = train->open_reader();
  std::vector<TestRecord> records;
  for (std::uint64_t i = 0; i < train->size(); ++i) {
    const auto r = reader->read(i);
    records.push_back({r.key, r.label, {r.payload.begin(), r.payload.end()}});
  }
  for (std::uint64_t i = 0; i < 100; ++i) {
    records.push_back({1000 + i, records[i].label, records[i].payload});
  }
  tb::testing::VectorSource with_repeats(train->spec(), records, train->metadata());
  EXPECT_EQ(data::write_split("npy", dir / "npy", true, with_repeats), 500u);
  auto test = data::as_record_source(data::open_split("fashion-mnist", dir / "idx", false));
  EXPECT_EQ(data::write_split("npy", dir / "npy", false, *test), 100u);
  return dir / "npy";
}

Project stream_project(const std::filesystem::path& path) {
  Project p = tb::testing::small_project(path, "npy");
  p.data.loader.mode = "stream";
  p.data.loader.shuffle_buffer = 128;
  return p;
}

TEST(StreamRunner, RepeatedSamplesAreLeftOutEveryEpochAndCounted) {
  TempDir dir;
  const Project p = stream_project(write_split_with_repeats(dir.path()));
  const auto db = dir / "s.db";
  const auto result = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(result.status, "completed") << result.error;
  EXPECT_EQ(result.epochs, 2);
  EXPECT_EQ(result.steps, 2 * 7);  // 400 distinct samples a pass, batches of 64
  EXPECT_GT(result.test_accuracy, 0.3);
  store::SessionStore store(db, store::SessionStore::Mode::read_only);
  const auto params = store.params(result.session);
  EXPECT_EQ(param(params, "loader.mode"), "stream");
  EXPECT_EQ(param(params, "loader.read"), "1000");
  EXPECT_EQ(param(params, "loader.duplicates_skipped"), "200");
  EXPECT_EQ(param(params, "loader.samples"), "800");
  EXPECT_EQ(param(params, "loader.skipped_records"), "0");
  EXPECT_FALSE(store.metrics(result.session, "loader_queue_depth").empty());

  // Without dedup every record trains: 500 a pass.
  auto all = p;
  all.data.loader.dedup = false;
  const auto undeduplicated = Runner(all, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(undeduplicated.status, "completed") << undeduplicated.error;
  EXPECT_EQ(undeduplicated.steps, 2 * 8);
  EXPECT_EQ(param(store.params(undeduplicated.session), "loader.duplicates_skipped"), "0");
}

TEST(StreamRunner, TheSeedDecidesTheBatchesWhateverTheWorkerCount) {
  TempDir dir;
  Project p = stream_project(write_split_with_repeats(dir.path()));
  p.data.loader.workers = 1;
  const auto one = Runner(p, {}).run();
  p.data.loader.workers = 3;
  const auto three = Runner(p, {}).run();
  ASSERT_EQ(one.status, "completed") << one.error;
  ASSERT_EQ(three.status, "completed") << three.error;
  EXPECT_EQ(one.train_loss, three.train_loss);
  EXPECT_EQ(one.test_accuracy, three.test_accuracy);
  // The shuffle buffer matters: the stream's own order trains differently.
  p.data.shuffle = false;
  const auto in_order = Runner(p, {}).run();
  ASSERT_EQ(in_order.status, "completed") << in_order.error;
  EXPECT_NE(in_order.train_loss, one.train_loss);
}

TEST(StreamRunner, ResumingNeedsAKnownEpochLength) {
  TempDir dir;
  Project p = stream_project(write_split_with_repeats(dir.path()));
  p.train.max_steps = 9;
  p.train.checkpoint = "end";
  const auto db = dir / "s.db";
  const auto part = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(part.status, "completed") << part.error;
  p.train.max_steps = 0;
  RunOptions options{db, nullptr, "", {}, {}, {}};
  options.resume_from = part.session;
  const auto refused = Runner(p, options).run();
  EXPECT_EQ(refused.status, "failed");
  EXPECT_NE(refused.error.find("dedup"), std::string::npos) << refused.error;

  // Without dedup a pass is the whole split: resuming gives the uninterrupted run.
  p.data.loader.dedup = false;
  const auto straight = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  p.train.max_steps = 9;
  const auto first = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  p.train.max_steps = 0;
  options.resume_from = first.session;
  const auto resumed = Runner(p, options).run();
  ASSERT_EQ(resumed.status, "completed") << resumed.error;
  EXPECT_EQ(resumed.steps, straight.steps);
  EXPECT_EQ(resumed.test_loss, straight.test_loss);
}

TEST(StreamRunner, ProjectsRefuseStreamSettingsThatCannotWork) {
  const auto p = Project::from_json(nlohmann::json::parse(
      R"({"data": {"loader": {"mode": "stream", "shuffle_buffer": 500, "dedup": false}}})"));
  EXPECT_EQ(p.data.loader.mode, "stream");
  EXPECT_EQ(p.data.loader.shuffle_buffer, 500);
  EXPECT_FALSE(p.data.loader.dedup);
  EXPECT_EQ(Project::from_json(p.to_json()).to_json(), p.to_json());
  const auto expect_field = [](const char* text, const std::string& field) {
    try {
      Project::from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << "accepted " << text;
    } catch (const ProjectError& e) {
      EXPECT_EQ(e.field(), field) << e.what();
    }
  };
  expect_field(R"({"data": {"loader": {"mode": "river"}}})", "data.loader.mode");
  expect_field(R"({"data": {"loader": {"mode": "stream", "workers": 0}}})", "data.loader.workers");
  expect_field(R"({"data": {"loader": {"mode": "stream", "cache": "memory"}}})",
               "data.loader.cache");
  expect_field(R"({"data": {"loader": {"shuffle_buffer": -1}}})", "data.loader.shuffle_buffer");
}

}  // namespace
}  // namespace tb::run
