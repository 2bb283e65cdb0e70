// Fashion-MNIST loading and the seeded batch order.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/data/batch_iterator.h"
#include "core/data/dataset.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using tb::testing::TempDir;

TEST(FashionMnist, LoadsSyntheticFilesNormalised) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 300, 100);
  const auto split = load_fashion_mnist(dir.path());
  EXPECT_EQ(split.train.size(), 300);
  EXPECT_EQ(split.test.size(), 100);
  EXPECT_EQ(split.train.sample_shape, (tensor::Shape{1, 28, 28}));
  EXPECT_EQ(split.train.classes, 10);
  EXPECT_EQ(split.train.class_names.size(), 10u);
  EXPECT_EQ(split.train.features.size(), 300u * 784u);
  const auto [lo, hi] =
      std::minmax_element(split.train.features.begin(), split.train.features.end());
  EXPECT_NEAR(*lo, (0.0f - 0.2860f) / 0.3530f, 1e-5);
  EXPECT_LE(*hi, (1.0f - 0.2860f) / 0.3530f + 1e-5);
  for (auto label : split.train.labels) EXPECT_TRUE(label >= 0 && label < 10);
}

TEST(FashionMnist, LimitsKeepTheFirstSamples) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 300, 100);
  const auto all = load_fashion_mnist(dir.path());
  const auto some = load_fashion_mnist(dir.path(), 50, 20);
  EXPECT_EQ(some.train.size(), 50);
  EXPECT_EQ(some.test.size(), 20);
  EXPECT_TRUE(
      std::equal(some.train.labels.begin(), some.train.labels.end(), all.train.labels.begin()));
}

TEST(FashionMnist, FingerprintFollowsTheBytesNotTheLimit) {
  TempDir a, b, c;
  tb::testing::write_synthetic_fashion_mnist(a.path(), 100, 20, 5);
  tb::testing::write_synthetic_fashion_mnist(b.path(), 100, 20, 5);
  tb::testing::write_synthetic_fashion_mnist(c.path(), 100, 20, 6);
  const auto first = load_fashion_mnist(a.path());
  EXPECT_EQ(first.train.fingerprint.rfind("crc32:", 0), 0u) << first.train.fingerprint;
  EXPECT_EQ(first.train.fingerprint, load_fashion_mnist(b.path()).train.fingerprint);
  EXPECT_EQ(first.train.fingerprint, load_fashion_mnist(a.path(), 10, 5).train.fingerprint);
  EXPECT_NE(first.train.fingerprint, load_fashion_mnist(c.path()).train.fingerprint);
  EXPECT_NE(first.train.fingerprint, first.test.fingerprint);
}

TEST(FashionMnist, MissingFolderSaysWhatToInstall) {
  try {
    load_fashion_mnist("/nonexistent-folder");
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("train-images-idx3-ubyte"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dataset-fashion-mnist"), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, ImageAndLabelCountsMustAgree) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 30, 10);
  tb::testing::write_idx(dir / "train-labels-idx1-ubyte.gz", {29},
                         std::vector<std::uint8_t>(29, 1));
  try {
    load_fashion_mnist(dir.path());
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("29 labels for 30 images"), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, LabelOutOfRangeNamesItsOffset) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir.path(), 30, 10);
  std::vector<std::uint8_t> labels(30, 1);
  labels[4] = 12;
  tb::testing::write_idx(dir / "train-labels-idx1-ubyte.gz", {30}, labels);
  try {
    load_fashion_mnist(dir.path());
    FAIL() << "expected an error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("at byte 12: label 12"), std::string::npos) << e.what();
  }
}

TEST(FashionMnist, RealDatasetWhenInstalled) {
  const auto dir = tb::testing::system_fashion_mnist();
  if (dir.empty()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  const auto split = load_fashion_mnist(dir);
  EXPECT_EQ(split.train.size(), 60000);
  EXPECT_EQ(split.test.size(), 10000);
  // Fashion-MNIST is balanced: 6,000 training images of each class.
  std::vector<int> counts(10, 0);
  for (auto label : split.train.labels) ++counts[static_cast<std::size_t>(label)];
  for (int c : counts) EXPECT_EQ(c, 6000);
}

InMemoryDataset counting_dataset(int n) {
  InMemoryDataset set;
  set.sample_shape = tensor::Shape{2};
  set.classes = 10;
  for (int i = 0; i < n; ++i) {
    set.features.push_back(static_cast<float>(i));
    set.features.push_back(static_cast<float>(-i));
    set.labels.push_back(i % 10);
  }
  return set;
}

TEST(BatchIterator, EveryEpochVisitsEverySampleOnce) {
  const auto set = counting_dataset(103);
  BatchIterator it(set, 10, true, 7);
  EXPECT_EQ(it.batches_per_epoch(), 11);
  for (int epoch = 0; epoch < 3; ++epoch) {
    it.start_epoch(epoch);
    std::multiset<int> seen;
    Batch batch;
    int batches = 0;
    while (it.next(batch)) {
      ++batches;
      for (std::int64_t i = 0; i < batch.size; ++i) {
        const int sample = static_cast<int>(batch.features[static_cast<std::size_t>(2 * i)]);
        EXPECT_EQ(batch.features[static_cast<std::size_t>(2 * i + 1)], -static_cast<float>(sample));
        EXPECT_EQ(batch.labels[static_cast<std::size_t>(i)], sample % 10);
        seen.insert(sample);
      }
    }
    EXPECT_EQ(batches, 11);
    EXPECT_EQ(seen.size(), 103u);
    EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), 103u);
  }
}

TEST(BatchIterator, SameSeedSameOrderOtherSeedOrEpochOtherOrder) {
  const auto set = counting_dataset(500);
  BatchIterator a(set, 32, true, 42), b(set, 32, true, 42), c(set, 32, true, 43);
  EXPECT_EQ(a.order(), b.order());
  EXPECT_NE(a.order(), c.order());
  const auto first = a.order();
  a.start_epoch(1);
  EXPECT_NE(a.order(), first);
  b.start_epoch(1);
  EXPECT_EQ(a.order(), b.order());
}

TEST(BatchIterator, NoShuffleKeepsFileOrderAndDropLastDrops) {
  const auto set = counting_dataset(25);
  BatchIterator it(set, 10, false, 1, true);
  EXPECT_EQ(it.batches_per_epoch(), 2);
  Batch batch;
  ASSERT_TRUE(it.next(batch));
  EXPECT_EQ(batch.features[0], 0.0f);
  ASSERT_TRUE(it.next(batch));
  EXPECT_EQ(batch.features[0], 10.0f);
  EXPECT_FALSE(it.next(batch));
  EXPECT_THROW(BatchIterator(set, 0, false, 1), Error);
}

}  // namespace
}  // namespace tb::data
