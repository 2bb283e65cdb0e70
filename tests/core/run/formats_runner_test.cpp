// Every input format feeds training the same samples: a split converted to TFRecord, HDF5, NPZ
// and LMDB (formats/splits.h's write_split) trains bit for bit as the IDX files it came from, with
// 1 or 2 loader workers; and the loader's settings (workers, cache, augmentation, errors) run.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "core/data/formats/splits.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "tests/support/run_support.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::param;
using tb::testing::small_project;
using tb::testing::TempDir;

TEST(FormatsRunner, EveryFormatTrainsBitIdenticallyToTheIdxFiles) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 600, 150, 5);
  const Project idx = small_project(dir / "idx");
  const auto want = Runner(idx, {}).run();
  ASSERT_EQ(want.status, "completed") << want.error;
  EXPECT_GT(want.test_accuracy, 0.5);
  for (const std::string format : {"tfrecord", "hdf5", "npy", "lmdb"}) {
    for (const bool train : {true, false}) {
      auto source = data::as_record_source(data::open_split("fashion-mnist", dir / "idx", train));
      EXPECT_EQ(data::write_split(format, dir / format, train, *source), train ? 600u : 150u);
    }
    for (const std::int64_t workers : {1, 2}) {
      Project p = idx;
      p.data.dataset = format;
      p.data.path = (dir / format).string();
      p.data.loader.workers = workers;
      const auto got = Runner(p, {}).run();
      ASSERT_EQ(got.status, "completed") << format << ": " << got.error;
      EXPECT_EQ(got.train_loss, want.train_loss) << format << " workers " << workers;
      EXPECT_EQ(got.test_loss, want.test_loss) << format;
      EXPECT_EQ(got.test_accuracy, want.test_accuracy) << format;
    }
  }
}

TEST(FormatsRunner, TheLmdbCacheServesTheNextRunAndChangesNothing) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 400, 100, 5);
  Project p = small_project(dir / "idx");
  p.data.loader.cache = "lmdb";
  p.data.loader.cache_dir = (dir / "cache").string();
  const auto db = dir / "s.db";
  const auto first = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  const auto second = Runner(p, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(first.status, "completed") << first.error;
  ASSERT_EQ(second.status, "completed") << second.error;
  EXPECT_EQ(first.test_accuracy, second.test_accuracy);
  EXPECT_EQ(first.train_loss, second.train_loss);
  store::SessionStore store(db);
  // First run: epoch 1 decodes, epoch 2 hits. Second run: every sample comes from the disk cache.
  EXPECT_EQ(param(store.params(first.session), "loader.decoded"), "400");
  EXPECT_EQ(param(store.params(first.session), "loader.cache_hits"), "400");
  EXPECT_EQ(param(store.params(second.session), "loader.decoded"), "0");
  EXPECT_EQ(param(store.params(second.session), "loader.cache_hits"), "800");
}

TEST(FormatsRunner, AugmentationAndZeroWorkersRun) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 300, 100, 5);
  Project p = small_project(dir / "idx");
  p.data.loader.workers = 0;
  p.data.loader.crop_padding = 2;
  p.data.loader.flip = true;
  const auto augmented = Runner(p, {}).run();
  ASSERT_EQ(augmented.status, "completed") << augmented.error;
  p.data.loader.workers = 2;
  const auto again = Runner(p, {}).run();  // the same augmentation with workers
  EXPECT_EQ(again.train_loss, augmented.train_loss);
  p.data.loader.crop_padding = 0;
  p.data.loader.flip = false;
  const auto plain = Runner(p, {}).run();
  EXPECT_NE(plain.train_loss, augmented.train_loss);
}

TEST(FormatsRunner, ProjectsNameTheFormatAndItsOptions) {
  auto doc = nlohmann::json::parse(R"({"data": {"dataset": "hdf5", "path": "/tmp/x",
      "options": {"samples": "x"}, "loader": {"workers": 3, "cache": "lmdb",
      "augment": {"flip": true}}}})");
  const auto p = Project::from_json(doc);
  EXPECT_EQ(p.data.dataset, "hdf5");
  EXPECT_EQ(p.data.options["samples"], "x");
  EXPECT_EQ(p.data.loader.workers, 3);
  EXPECT_TRUE(p.data.loader.flip);
  EXPECT_EQ(Project::from_json(p.to_json()).to_json(), p.to_json());
  auto expect_field = [](nlohmann::json d, const std::string& field) {
    try {
      Project::from_json(d);
      ADD_FAILURE() << "accepted " << d.dump();
    } catch (const ProjectError& e) {
      EXPECT_EQ(e.field(), field) << e.what();
    }
  };
  expect_field(nlohmann::json::parse(R"({"data": {"dataset": "tfrecord"}})"), "data.path");
  expect_field(nlohmann::json::parse(R"({"data": {"loader": {"cache": "disk"}}})"),
               "data.loader.cache");
  expect_field(nlohmann::json::parse(R"({"data": {"loader": {"workers": -1}}})"),
               "data.loader.workers");
  expect_field(nlohmann::json::parse(R"({"data": {"options": 3}})"), "data.options");
}

}  // namespace
}  // namespace tb::run
