// Fashion-MNIST packed into shards loads (load_into_memory over the shards' RecordSet, as
// `data check` reads it) as the very dataset the IDX files give: same floats bit for bit, same
// labels, same fingerprint; and `summarize` reports what `data inspect` prints.
#include <gtest/gtest.h>

#include <cstring>

#include "core/data/dataset.h"
#include "core/data/formats/splits.h"
#include "core/data/shard_dataset.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data::shard {
namespace {

using tb::testing::TempDir;

void pack_split(const std::filesystem::path& idx, const std::string& prefix,
                const std::filesystem::path& out, ShardWriterOptions options) {
  auto source = fashion_mnist_source(idx, prefix);
  options.metadata = source->metadata().dump();
  ShardWriter writer(out, source->spec(), options);
  EXPECT_EQ(pack(*source, writer), source->size());
  writer.close();
}

// Both splits of a pack in memory, the first train_limit / test_limit samples of each (0: all).
TrainTestSplit load_pack(const std::filesystem::path& dir, std::uint64_t train_limit = 0,
                         std::uint64_t test_limit = 0) {
  return {load_into_memory(*open_split("shards", dir, true), train_limit),
          load_into_memory(*open_split("shards", dir, false), test_limit)};
}

void expect_same(const InMemoryDataset& a, const InMemoryDataset& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.sample_shape.dims(), b.sample_shape.dims());
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(a.class_names, b.class_names);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.fingerprint, b.fingerprint);
  EXPECT_EQ(a.raw_mean, b.raw_mean);
  EXPECT_EQ(a.raw_std, b.raw_std);
  ASSERT_EQ(a.features.size(), b.features.size());
  EXPECT_EQ(std::memcmp(a.features.data(), b.features.data(), a.features.size() * sizeof(float)),
            0);
}

TEST(ShardDataset, PackedFashionMnistLoadsBitForBitAsTheIdxFiles) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 700, 150, 4);
  for (int level : {0, 3}) {
    const auto out = dir / ("packed" + std::to_string(level));
    ShardWriterOptions options;
    options.zstd_level = level;
    options.shard_size = 100 << 10;  // several shards per split
    pack_split(dir / "idx", "train", out / "train", options);
    pack_split(dir / "idx", "t10k", out / "test", options);
    const auto idx = load_fashion_mnist(dir / "idx");
    const auto shards = load_pack(out);
    expect_same(shards.train, idx.train);
    expect_same(shards.test, idx.test);
    // Limits keep the first samples; the fingerprint still covers them all, as with IDX.
    const auto idx_limited = load_fashion_mnist(dir / "idx", 100, 30);
    const auto limited = load_pack(out, 100, 30);
    expect_same(limited.train, idx_limited.train);
    expect_same(limited.test, idx_limited.test);

    const auto summary = summarize(out / "train", 3, true);
    EXPECT_EQ(summary.records, 700u);
    EXPECT_GT(summary.shards, 1u);
    EXPECT_EQ(summary.zstd_shards, level ? summary.shards : 0u);
    EXPECT_EQ(summary.first_key, 0u);
    EXPECT_EQ(summary.last_key, 699u);
    EXPECT_EQ(summary.raw_payload_bytes, 700u * 784u);
    EXPECT_TRUE(summary.verify_error.empty()) << summary.verify_error;
    if (level) {
      EXPECT_LT(summary.stored_payload_bytes, summary.raw_payload_bytes);
    } else {
      EXPECT_EQ(summary.stored_payload_bytes, summary.raw_payload_bytes);
    }
    ASSERT_EQ(summary.examples.size(), 3u);
    for (std::uint64_t k = 0; k < 3; ++k) {
      EXPECT_EQ(summary.examples[k].key, k);
      EXPECT_EQ(summary.examples[k].label, idx.train.labels[k]);
    }
  }
}

TEST(ShardDataset, AMissingSplitIsAFormatErrorNamingTheFolder) {
  TempDir dir;
  tb::testing::write_synthetic_fashion_mnist(dir / "idx", 50, 10, 4);
  pack_split(dir / "idx", "train", dir / "packed" / "train", {});
  try {
    load_pack(dir / "packed");
    FAIL() << "loaded without test/";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "packed" / "test").string()), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tb::data::shard
