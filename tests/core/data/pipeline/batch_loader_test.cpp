// BatchLoader against what batch mode promises: every position exactly once per epoch and the
// same batches for a seed whatever the worker count and prefetch depth; errors at the batch that
// holds the bad record (or skipped and counted); the cache; resuming inside an epoch.
#include "core/data/pipeline/batch_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/data/sparse_dataset.h"
#include "core/util/error.h"

namespace tb::data {
namespace {

// Records made up on the fly: sample i is u8 [1, 4, 4] with byte j = (i * 7 + j) % 251, label
// i % 10, key 1000 + i. Positions listed in `bad` fail to read.
class GeneratedSet final : public RecordSet {
 public:
  explicit GeneratedSet(std::uint64_t size, std::set<std::uint64_t> bad = {})
      : size_(size), bad_(std::move(bad)) {}
  std::string name() const override { return "generated"; }
  SampleSpec spec() const override { return {shard::SampleDType::u8, {1, 4, 4}}; }
  nlohmann::json metadata() const override {
    return {{"classes", 10}, {"normalize", {{"scale", 255.0}, {"mean", 0.5}, {"std", 0.25}}}};
  }
  std::uint64_t size() const override { return size_; }
  std::unique_ptr<RecordReader> open_reader() const override {
    return std::make_unique<Reader>(bad_);
  }

 private:
  class Reader final : public RecordReader {
   public:
    explicit Reader(const std::set<std::uint64_t>& bad) : bad_(bad) {}
    RecordRef read(std::uint64_t position) override {
      if (bad_.contains(position)) {
        throw FormatError("generated: at byte " + std::to_string(position * 16) + ": record " +
                          std::to_string(position) + " is corrupt");
      }
      for (std::size_t j = 0; j < payload_.size(); ++j) {
        payload_[j] = static_cast<std::byte>((position * 7 + j) % 251);
      }
      return {1000 + position, static_cast<std::int32_t>(position % 10), payload_};
    }

   private:
    const std::set<std::uint64_t>& bad_;
    std::vector<std::byte> payload_ = std::vector<std::byte>(16);
  };
  std::uint64_t size_;
  std::set<std::uint64_t> bad_;
};

std::vector<LoadedBatch> epoch(BatchLoader& loader, std::int64_t e, std::int64_t skip = 0) {
  loader.start_epoch(e, skip);
  std::vector<LoadedBatch> batches;
  LoadedBatch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

LoaderOptions options(int workers, int prefetch) {
  LoaderOptions o;
  o.batch_size = 64;
  o.seed = 42;
  o.workers = workers;
  o.prefetch = prefetch;
  return o;
}

TEST(BatchLoader, EveryPositionExactlyOncePerEpochForAnyWorkerCount) {
  const auto set = std::make_shared<GeneratedSet>(1000);
  for (int workers : {0, 1, 2, 4}) {
    BatchLoader loader(set, options(workers, 3));
    EXPECT_EQ(loader.batches_per_epoch(), 16);
    for (std::int64_t e = 0; e < 2; ++e) {
      std::vector<std::uint64_t> seen;
      std::int64_t expected_index = 0;
      for (const auto& batch : epoch(loader, e)) {
        EXPECT_EQ(batch.index, expected_index++);
        EXPECT_EQ(batch.size, static_cast<std::int64_t>(batch.positions.size()));
        EXPECT_EQ(batch.features.size(), batch.positions.size() * 16);
        seen.insert(seen.end(), batch.positions.begin(), batch.positions.end());
      }
      ASSERT_EQ(seen.size(), 1000u) << workers;
      std::sort(seen.begin(), seen.end());
      for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i) << workers;
    }
    EXPECT_EQ(loader.stats().samples, 2000u);
    EXPECT_EQ(loader.stats().decoded, 2000u);
  }
}

TEST(BatchLoader, SameBatchesWhateverTheWorkersAndPrefetchWithAugmentation) {
  const auto set = std::make_shared<GeneratedSet>(517);  // a short last batch
  auto reference_options = options(0, 1);
  reference_options.augment = {1, true};
  BatchLoader reference(set, reference_options);
  const auto want0 = epoch(reference, 0);
  const auto want1 = epoch(reference, 1);
  ASSERT_EQ(want0.size(), 9u);
  EXPECT_EQ(want0.back().size, 517 - 8 * 64);
  // The order is the seeded permutation the in-memory iterator uses.
  EXPECT_EQ(reference.order(), epoch_order(517, true, 42, 1));
  EXPECT_NE(want0[0].positions, want1[0].positions);  // a new order each epoch
  for (int workers : {1, 2, 4}) {
    for (int prefetch : {1, 2, 8}) {
      auto o = options(workers, prefetch);
      o.augment = {1, true};
      BatchLoader loader(set, o);
      const auto got0 = epoch(loader, 0);
      const auto got1 = epoch(loader, 1);
      ASSERT_EQ(got0.size(), want0.size());
      for (std::size_t b = 0; b < got0.size(); ++b) {
        EXPECT_EQ(got0[b].positions, want0[b].positions) << workers << "/" << prefetch;
        EXPECT_EQ(got0[b].labels, want0[b].labels);
        EXPECT_EQ(got0[b].features, want0[b].features) << workers << "/" << prefetch << " " << b;
        EXPECT_EQ(got1[b].features, want1[b].features) << workers << "/" << prefetch << " " << b;
      }
    }
  }
}

// With a backend's host memory (pinned on CUDA) every batch is decoded straight into it, and the
// buffers circulate between the slots and the consumer instead of being allocated per batch.
TEST(BatchLoader, DecodesIntoTheGivenHostMemoryAndRecyclesItsBuffers) {
  const auto set = std::make_shared<GeneratedSet>(1000);
  for (int workers : {0, 2}) {
    auto memory = std::make_shared<tensor::CachingHostMemory>(tensor::plain_host_memory());
    auto o = options(workers, 3);
    o.host_memory = memory;
    BatchLoader loader(set, o);
    LoadedBatch batch;  // starts in plain memory, as a consumer's batch does
    std::int64_t batches = 0;
    for (std::int64_t e = 0; e < 3; ++e) {
      loader.start_epoch(e);
      while (loader.next(batch)) {
        ++batches;
        ASSERT_EQ(batch.features.get_allocator().memory(), memory.get()) << workers;
        ASSERT_EQ(batch.labels.get_allocator().memory(), memory.get()) << workers;
        ASSERT_EQ(batch.features.size(), static_cast<std::size_t>(batch.size) * 16);
      }
    }
    EXPECT_EQ(batches, 3 * 16);
    // Features and labels for the prefetch slots and the consumer's batch, and the short last
    // batch's smaller sizes: a handful, not two per batch.
    EXPECT_LE(memory->stats().upstream_allocations, 2 * (3 + 1) * 2) << workers;
  }
}

// Data-parallel shards: ranks of 2 and 4 each take their slice of every global batch. Together
// they read every position exactly once per epoch, and rank by rank their batch b is the
// one-process batch b of the global size, whatever each rank's worker count.
TEST(BatchLoader, ShardsPartitionEachGlobalBatchAcrossRanks) {
  const auto set = std::make_shared<GeneratedSet>(1000);  // 1000 = 7 x 128 + 104: a short last
  for (int ranks : {2, 4}) {
    auto whole = options(2, 3);
    whole.batch_size = 32 * ranks;
    BatchLoader one(set, whole);
    for (std::int64_t e = 0; e < 2; ++e) {
      const auto reference = epoch(one, e);
      std::vector<std::vector<LoadedBatch>> by_rank;
      for (int r = 0; r < ranks; ++r) {
        auto o = options(r % 3, 2);  // 0, 1 or 2 workers: the shards do not depend on it
        o.batch_size = 32;
        o.shard_rank = r;
        o.shard_count = ranks;
        BatchLoader shard(set, o);
        EXPECT_EQ(shard.batches_per_epoch(), one.batches_per_epoch());
        by_rank.push_back(epoch(shard, e));
        ASSERT_EQ(by_rank.back().size(), reference.size()) << ranks << " ranks, rank " << r;
        for (std::size_t b = 0; b < reference.size(); ++b) {
          EXPECT_EQ(by_rank.back()[b].size, shard.shard_samples(static_cast<std::int64_t>(b), r));
        }
      }
      std::vector<std::uint64_t> seen;
      for (std::size_t b = 0; b < reference.size(); ++b) {
        std::vector<std::uint64_t> joined;
        std::vector<float> features;
        for (int r = 0; r < ranks; ++r) {
          const auto& part = by_rank[static_cast<std::size_t>(r)][b];
          joined.insert(joined.end(), part.positions.begin(), part.positions.end());
          features.insert(features.end(), part.features.begin(), part.features.end());
        }
        EXPECT_EQ(joined, reference[b].positions) << ranks << " ranks, batch " << b;
        EXPECT_TRUE(std::equal(features.begin(), features.end(), reference[b].features.begin(),
                               reference[b].features.end()));
        seen.insert(seen.end(), joined.begin(), joined.end());
      }
      std::sort(seen.begin(), seen.end());
      ASSERT_EQ(seen.size(), 1000u);
      for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(seen[i], i);
    }
  }
  // 1000 samples in global batches of 4 x 32: the last (104) gives 32, 32, 32 and 8.
  auto o = options(0, 1);
  o.batch_size = 32;
  o.shard_rank = 3;
  o.shard_count = 4;
  BatchLoader last(set, o);
  EXPECT_EQ(last.shard_samples(7, 3), 8);
  EXPECT_EQ(last.shard_samples(7, 0), 32);
  // 90 samples over 4 ranks of 32: rank 2 gets 26, rank 3 nothing in the only batch.
  BatchLoader small(std::make_shared<GeneratedSet>(90), o);
  EXPECT_EQ(small.shard_samples(0, 2), 26);
  EXPECT_EQ(small.shard_samples(0, 3), 0);
  const auto empty = epoch(small, 0);
  ASSERT_EQ(empty.size(), 1u);
  EXPECT_EQ(empty[0].size, 0);
  o.shard_rank = 4;
  EXPECT_THROW(BatchLoader(set, o), Error);
}

TEST(BatchLoader, DecodesAsTheMetadataSaysAndChecksLabels) {
  const auto set = std::make_shared<GeneratedSet>(10);
  auto o = options(1, 2);
  o.shuffle = false;
  o.batch_size = 10;
  BatchLoader loader(set, o);
  const auto batches = epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  for (std::size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(batches[0].labels[i], static_cast<std::int32_t>(i % 10));
    for (std::size_t j = 0; j < 16; ++j) {
      const float raw = static_cast<float>((i * 7 + j) % 251);
      EXPECT_FLOAT_EQ(batches[0].features[i * 16 + j], (raw / 255.0f - 0.5f) / 0.25f);
    }
  }
}

TEST(BatchLoader, ABadRecordFailsItsBatchOrIsSkippedAndCounted) {
  const auto set = std::make_shared<GeneratedSet>(300, std::set<std::uint64_t>{123});
  for (int workers : {0, 2}) {
    auto o = options(workers, 2);
    o.shuffle = false;
    BatchLoader loader(set, o);
    loader.start_epoch(0);
    LoadedBatch batch;
    ASSERT_TRUE(loader.next(batch));  // 0..63
    try {
      loader.next(batch);  // 64..127 holds 123
      ADD_FAILURE() << "the corrupt record was not reported";
    } catch (const FormatError& e) {
      EXPECT_NE(std::string(e.what()).find("record 123 is corrupt"), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("byte 1968"), std::string::npos);
    }
    EXPECT_FALSE(loader.next(batch));  // the epoch ends at the error
    // A new epoch starts cleanly.
    loader.start_epoch(1);
    EXPECT_TRUE(loader.next(batch));

    o.on_error = OnError::skip;
    BatchLoader skipping(set, o);
    std::vector<std::uint64_t> seen;
    for (const auto& b : epoch(skipping, 0)) {
      seen.insert(seen.end(), b.positions.begin(), b.positions.end());
    }
    EXPECT_EQ(seen.size(), 299u);
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 123u), 0);
    EXPECT_EQ(skipping.stats().skipped_records, 1u);
  }
}

// A set whose record 5 carries label 12 (the metadata says 10 classes) and record 7 a payload
// one byte short: each is a FormatError naming the record, or with skip, left out and counted.
class MislabelledSet final : public RecordSet {
 public:
  std::string name() const override { return "mislabelled"; }
  SampleSpec spec() const override { return {shard::SampleDType::u8, {1, 2, 2}}; }
  nlohmann::json metadata() const override { return {{"classes", 10}}; }
  std::uint64_t size() const override { return 20; }
  std::unique_ptr<RecordReader> open_reader() const override { return std::make_unique<Reader>(); }

 private:
  class Reader final : public RecordReader {
   public:
    RecordRef read(std::uint64_t position) override {
      const auto label = static_cast<std::int32_t>(position == 5 ? 12 : position % 10);
      return {position + 100, label, std::span(payload_).first(position == 7 ? 3 : 4)};
    }

   private:
    std::vector<std::byte> payload_ = std::vector<std::byte>(4);
  };
};

TEST(BatchLoader, LabelsOutsideTheClassesAndShortPayloadsAreFormatErrors) {
  const auto set = std::make_shared<MislabelledSet>();
  auto o = options(1, 2);
  o.shuffle = false;
  o.batch_size = 6;
  BatchLoader loader(set, o);
  loader.start_epoch(0);
  LoadedBatch batch;
  try {
    loader.next(batch);
    ADD_FAILURE() << "label 12 of 10 classes was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("mislabelled: record 5 (key 105) has label 12, expected "
                                         "0..9"),
              std::string::npos)
        << e.what();
  }
  loader.start_epoch(0, 1);  // batch 1: records 6..11
  try {
    loader.next(batch);
    ADD_FAILURE() << "a 3-byte payload was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("mislabelled: record 7 (key 107) has 3 payload bytes, "
                                         "expected 4"),
              std::string::npos)
        << e.what();
  }
  o.batch_size = 20;
  o.on_error = OnError::skip;
  BatchLoader skipping(set, o);
  const auto batches = epoch(skipping, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].size, 18);
  EXPECT_EQ(skipping.stats().skipped_records, 2u);
  EXPECT_EQ(std::count(batches[0].positions.begin(), batches[0].positions.end(), 7u), 0);
}

TEST(CheckRecord, NamesTheRecordAndWhatWasExpected) {
  std::vector<std::byte> payload(4);
  int named = 0;
  const auto where = [&] {
    ++named;
    return std::string("s: record 1");
  };
  EXPECT_NO_THROW(check_record({1, 9, payload}, 4, 10, where));
  EXPECT_NO_THROW(check_record({1, 500, payload}, 4, 0, where));
  EXPECT_EQ(named, 0) << "the message was built for a record that fits";
  EXPECT_FALSE(record_fits({1, 10, payload}, 4, 10));
  try {
    check_record({1, 0, std::span(payload).first(3)}, 4, 10, where);
    ADD_FAILURE() << "short payload accepted";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "s: record 1 has 3 payload bytes, expected 4");
  }
  try {
    check_record({1, -1, payload}, 4, 0, where);
    ADD_FAILURE() << "negative label accepted";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "s: record 1 has label -1, expected 0..2147483647");
  }
  try {
    check_record({1, 10, payload}, 4, 10, where);
    ADD_FAILURE() << "label past the classes accepted";
  } catch (const FormatError& e) {
    EXPECT_STREQ(e.what(), "s: record 1 has label 10, expected 0..9");
  }
  EXPECT_EQ(named, 3);
  EXPECT_EQ(metadata_classes({{"classes", 7}}), 7);
  EXPECT_EQ(metadata_classes({{"classes", "7"}}), 0);
  EXPECT_EQ(metadata_classes(nlohmann::json::array()), 0);
}

TEST(BatchLoader, TheCacheServesLaterEpochsWithTheSameSamples) {
  const auto set = std::make_shared<GeneratedSet>(200);
  auto o = options(2, 2);
  o.cache = std::make_shared<MemorySampleCache>(std::size_t{1} << 20);
  BatchLoader loader(set, o);
  BatchLoader uncached(set, options(2, 2));
  const auto first = epoch(loader, 0);
  const auto second = epoch(loader, 1);
  EXPECT_EQ(loader.stats().decoded, 200u);
  EXPECT_EQ(loader.stats().cache_hits, 200u);
  const auto want = epoch(uncached, 1);
  ASSERT_EQ(second.size(), want.size());
  for (std::size_t b = 0; b < want.size(); ++b) {
    EXPECT_EQ(second[b].features, want[b].features);
    EXPECT_EQ(second[b].labels, want[b].labels);
  }
}

TEST(BatchLoader, ResumingInsideAnEpochGivesItsRemainingBatches) {
  const auto set = std::make_shared<GeneratedSet>(640);
  BatchLoader loader(set, options(2, 3));
  const auto full = epoch(loader, 2);
  const auto rest = epoch(loader, 2, 4);
  ASSERT_EQ(rest.size(), full.size() - 4);
  for (std::size_t b = 0; b < rest.size(); ++b) {
    EXPECT_EQ(rest[b].index, full[b + 4].index);
    EXPECT_EQ(rest[b].positions, full[b + 4].positions);
  }
}

TEST(BatchLoader, AbandoningAnEpochMidwayAndStoppingAreSafe) {
  const auto set = std::make_shared<GeneratedSet>(5000);
  for (int round = 0; round < 5; ++round) {
    BatchLoader loader(set, options(4, 4));
    loader.start_epoch(0);
    LoadedBatch batch;
    ASSERT_TRUE(loader.next(batch));
    loader.start_epoch(1);  // while workers are filling epoch 0's batches
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.index, 0);
    EXPECT_EQ(std::vector<std::int64_t>(loader.order().begin(), loader.order().begin() + 64),
              std::vector<std::int64_t>(batch.positions.begin(), batch.positions.end()));
  }  // destroyed with batches in flight
}

TEST(BatchLoader, RecordsADecodeSpanPerBatchOnTheWorkers) {
  const auto set = std::make_shared<GeneratedSet>(256);
  trace::Recorder recorder;
  auto o = options(2, 2);
  o.recorder = &recorder;
  {
    BatchLoader loader(set, o);
    epoch(loader, 0);
  }
  const auto spans = recorder.drain();
  ASSERT_EQ(spans.size(), 4u);
  for (const auto& span : spans) {
    EXPECT_STREQ(span.name, "decode");
    EXPECT_EQ(recorder.track_name(span.thread).rfind("loader worker ", 0), 0u);
    EXPECT_EQ(span.category, trace::Category::data);
    EXPECT_LE(span.start_ns, span.end_ns);
  }
}

TEST(BatchLoader, RejectsBadOptions) {
  const auto set = std::make_shared<GeneratedSet>(10);
  auto o = options(1, 0);
  EXPECT_THROW(BatchLoader(set, o), Error);
  o = options(-1, 1);
  EXPECT_THROW(BatchLoader(set, o), Error);
  o = options(1, 1);
  o.batch_size = 0;
  EXPECT_THROW(BatchLoader(set, o), Error);
}

TEST(MemorySampleCache, EvictsTheLeastRecentlyUsedPastItsBudget) {
  MemorySampleCache cache(3 * 4 * sizeof(float));  // three samples of 4 floats
  const std::vector<float> a{1, 2, 3, 4}, b{5, 6, 7, 8}, c{9, 10, 11, 12}, d{0, 0, 0, 1};
  cache.put(1, a, 1);
  cache.put(2, b, 2);
  cache.put(3, c, 3);
  std::vector<float> out(4);
  std::int32_t label = -1;
  ASSERT_TRUE(cache.get(1, out, label));  // 1 becomes the most recent; 2 is now the oldest
  EXPECT_EQ(out, a);
  EXPECT_EQ(label, 1);
  cache.put(4, d, 4);
  EXPECT_FALSE(cache.get(2, out, label));
  EXPECT_TRUE(cache.get(3, out, label));
  EXPECT_EQ(out, c);
  EXPECT_TRUE(cache.get(4, out, label));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.bytes, 3 * 4 * sizeof(float));
  EXPECT_EQ(stats.hits, 3u);
  EXPECT_EQ(stats.misses, 1u);
  std::vector<float> wrong_size(5);
  EXPECT_FALSE(cache.get(1, wrong_size, label));
}

}  // namespace
}  // namespace tb::data
