// `data.dataset: "shards"` trains exactly as the IDX files it was packed from: same data, same
// order, same seed, bit-identical losses, accuracy and weights.
#include <gtest/gtest.h>

#include "core/data/shard_dataset.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "tests/support/test_data.h"

namespace tb::run {
namespace {

using tb::testing::TempDir;

TEST(ShardRunner, TrainingOnPackedShardsIsBitIdenticalToTrainingOnTheIdxFiles) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 800, 200, 5);
  for (const auto& [prefix, split] : {std::pair{"train", "train"}, std::pair{"t10k", "test"}}) {
    auto source = data::shard::fashion_mnist_source(dir / "idx", prefix);
    data::shard::ShardWriterOptions options;
    options.metadata = source->metadata().dump();
    options.zstd_level = 1;
    options.shard_size = 64 << 10;
    data::shard::ShardWriter writer(dir / "packed" / split, source->spec(), options);
    data::shard::pack(*source, writer);
    writer.close();
  }
  Project idx;
  idx.data.path = (dir / "idx").string();
  idx.data.batch_size = 64;
  idx.model.hidden = {32};
  idx.train.epochs = 2;
  idx.train.threads = 1;
  idx.train.checkpoint = "end";
  Project shards = idx;
  shards.data.dataset = "shards";
  shards.data.path = (dir / "packed").string();

  const auto db = dir / "sessions.db";
  const auto a = Runner(idx, {db, nullptr, "", {}, {}, {}}).run();
  const auto b = Runner(shards, {db, nullptr, "", {}, {}, {}}).run();
  ASSERT_EQ(a.status, "completed") << a.error;
  ASSERT_EQ(b.status, "completed") << b.error;
  EXPECT_EQ(a.train_loss, b.train_loss);
  EXPECT_EQ(a.test_loss, b.test_loss);
  EXPECT_EQ(a.test_accuracy, b.test_accuracy);
  EXPECT_GT(b.test_accuracy, 0.5);

  // The sessions record the same data fingerprint.
  store::SessionStore store(db);
  const auto pa = store.params(a.session);
  const auto pb = store.params(b.session);
  auto value = [](const store::Params& params, const std::string& key) {
    for (const auto& [k, v] : params) {
      if (k == key) return v;
    }
    return std::string("missing");
  };
  EXPECT_EQ(value(pa, "dataset.train.fingerprint"), value(pb, "dataset.train.fingerprint"));
  EXPECT_EQ(value(pa, "dataset.test.fingerprint"), value(pb, "dataset.test.fingerprint"));
  // And the same weights, bit for bit.
  const auto wa = store.checkpoint(a.session);
  const auto wb = store.checkpoint(b.session);
  ASSERT_TRUE(wa && wb);
  ASSERT_EQ(wa->tensors.size(), wb->tensors.size());
  for (std::size_t i = 0; i < wa->tensors.size(); ++i) {
    EXPECT_EQ(wa->tensors[i].name, wb->tensors[i].name);
    EXPECT_EQ(wa->tensors[i].values, wb->tensors[i].values) << wa->tensors[i].name;
  }
}

TEST(ShardRunner, ShardsNeedAPath) {
  EXPECT_THROW(Project::from_json({{"data", {{"dataset", "shards"}}}}, "p.json"), ProjectError);
  const auto p = Project::from_json({{"data", {{"dataset", "shards"}, {"path", "/x"}}}}, "p.json");
  EXPECT_EQ(p.data.path, "/x");
  EXPECT_EQ(p.to_json()["data"]["path"], "/x");
}

}  // namespace
}  // namespace tb::run
