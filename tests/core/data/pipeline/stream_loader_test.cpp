// StreamLoader: repeated samples are left out by content (Bloom filter), the shuffle buffer
// reorders without losing or adding a sample, batches do not depend on the worker count, and a
// bad record fails the stream after the batches before it (or is skipped and counted).
#include "core/data/pipeline/stream_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace tb::data {
namespace {

// Record i (key i) carries content id ids[i]: payload bytes derived from the id, so records with
// the same id are duplicates by content. `bad` keys throw a FormatError when read.
class ListStream final : public RecordStream {
 public:
  ListStream(std::vector<std::uint32_t> ids, std::set<std::uint64_t> bad = {})
      : ids_(std::move(ids)), bad_(std::move(bad)) {}
  std::string name() const override { return "list"; }
  SampleSpec spec() const override { return {shard::SampleDType::u8, {1, 2, 4}}; }
  nlohmann::json metadata() const override { return {{"classes", 5}}; }
  bool next(RecordRef& out) override {
    if (next_ >= ids_.size()) return false;
    const std::uint64_t key = next_++;
    if (bad_.contains(key)) throw FormatError("list: record " + std::to_string(key) + " is bad");
    const std::uint32_t id = ids_[key];
    for (std::size_t j = 0; j < payload_.size(); ++j) {
      payload_[j] = static_cast<std::byte>((id >> (j % 4 * 8)) + j);
    }
    out = {key, static_cast<std::int32_t>(id % 5), payload_};
    return true;
  }

 private:
  std::vector<std::uint32_t> ids_;
  std::set<std::uint64_t> bad_;
  std::size_t next_ = 0;
  std::vector<std::byte> payload_ = std::vector<std::byte>(8);
};

std::vector<LoadedBatch> drain(StreamLoader& loader) {
  std::vector<LoadedBatch> batches;
  LoadedBatch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

std::vector<std::uint64_t> keys_of(const std::vector<LoadedBatch>& batches) {
  std::vector<std::uint64_t> keys;
  for (const auto& b : batches) keys.insert(keys.end(), b.positions.begin(), b.positions.end());
  return keys;
}

// 3000 records over 1000 distinct contents: every content once, then repeats of a third of them.
std::vector<std::uint32_t> ids_with_repeats() {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < 1000; ++i) ids.push_back(i * 2654435761u);
  for (std::uint32_t r = 0; r < 2000; ++r) ids.push_back(ids[(r * 7) % 333]);
  return ids;
}

TEST(StreamLoader, LeavesOutRepeatedContentKeepingEveryFirstSighting) {
  StreamOptions o;
  o.batch_size = 50;
  o.dedup_expected = 10'000;
  StreamLoader loader(std::make_unique<ListStream>(ids_with_repeats()), o);
  const auto keys = keys_of(drain(loader));
  // The first sighting of each content is key 0..999, and nothing else gets through.
  std::vector<std::uint64_t> want(1000);
  for (std::uint64_t i = 0; i < 1000; ++i) want[i] = i;
  EXPECT_EQ(keys, want);
  const auto stats = loader.stats();
  EXPECT_EQ(stats.read, 3000u);
  EXPECT_EQ(stats.duplicates_skipped, 2000u);
  EXPECT_EQ(stats.samples, 1000u);
  EXPECT_GT(stats.dedup_false_positive_rate, 0.0);
  EXPECT_LT(stats.dedup_false_positive_rate, 1e-3);

  o.dedup = false;
  StreamLoader keeping(std::make_unique<ListStream>(ids_with_repeats()), o);
  EXPECT_EQ(keys_of(drain(keeping)).size(), 3000u);
}

TEST(StreamLoader, TheShuffleBufferReordersEverySampleOnce) {
  std::vector<std::uint32_t> ids(1000);
  for (std::uint32_t i = 0; i < 1000; ++i) ids[i] = i + 1;
  StreamOptions o;
  o.batch_size = 64;
  o.shuffle_buffer = 100;
  o.seed = 9;
  StreamLoader loader(std::make_unique<ListStream>(ids), o);
  const auto batches = drain(loader);
  EXPECT_EQ(batches.size(), 16u);
  EXPECT_EQ(batches.back().size, 1000 - 15 * 64);
  auto keys = keys_of(batches);
  std::vector<std::uint64_t> in_order(1000);
  for (std::uint64_t i = 0; i < 1000; ++i) in_order[i] = i;
  EXPECT_NE(keys, in_order);
  // The k-th record out was among the first k + 100 read: the buffer holds 100, no more.
  for (std::size_t k = 0; k < keys.size(); ++k) ASSERT_LT(keys[k], k + 100) << k;
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys, in_order);
}

TEST(StreamLoader, SameBatchesWhateverTheWorkerCount) {
  StreamOptions o;
  o.batch_size = 32;
  o.shuffle_buffer = 64;
  o.seed = 3;
  o.augment = {0, true};
  o.workers = 1;
  auto make = [] { return std::make_unique<ListStream>(ids_with_repeats()); };
  // Augmentation needs [C, H, W]: the list stream's samples are [1, 2, 4].
  StreamLoader one(make(), o);
  const auto want = drain(one);
  for (int workers : {2, 4}) {
    o.workers = workers;
    o.prefetch = workers + 1;
    StreamLoader loader(make(), o);
    const auto got = drain(loader);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t b = 0; b < got.size(); ++b) {
      EXPECT_EQ(got[b].index, static_cast<std::int64_t>(b));
      EXPECT_EQ(got[b].positions, want[b].positions);
      EXPECT_EQ(got[b].features, want[b].features);
      EXPECT_EQ(got[b].labels, want[b].labels);
    }
  }
}

TEST(StreamLoader, DecodesIntoTheGivenHostMemory) {
  StreamOptions o;
  o.batch_size = 32;
  o.workers = 2;
  auto memory = std::make_shared<tensor::CachingHostMemory>(tensor::plain_host_memory());
  o.host_memory = memory;
  StreamLoader loader(std::make_unique<ListStream>(ids_with_repeats()), o);
  LoadedBatch batch;
  int batches = 0;
  while (loader.next(batch)) {
    ++batches;
    ASSERT_EQ(batch.features.get_allocator().memory(), memory.get());
    ASSERT_EQ(batch.labels.get_allocator().memory(), memory.get());
    ASSERT_EQ(batch.labels.size(), static_cast<std::size_t>(batch.size));
  }
  EXPECT_GT(batches, 2);
  EXPECT_GT(memory->stats().upstream_allocations, 0);
}

TEST(StreamLoader, ABadRecordEndsTheStreamAfterTheBatchesBeforeItOrIsSkipped) {
  std::vector<std::uint32_t> ids(200);
  for (std::uint32_t i = 0; i < 200; ++i) ids[i] = i + 1;
  StreamOptions o;
  o.batch_size = 10;
  o.dedup = false;
  StreamLoader failing(std::make_unique<ListStream>(ids, std::set<std::uint64_t>{125}), o);
  LoadedBatch batch;
  for (int b = 0; b < 12; ++b) ASSERT_TRUE(failing.next(batch)) << b;  // keys 0..119
  try {
    while (failing.next(batch)) {
    }
    ADD_FAILURE() << "the bad record was not reported";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("record 125 is bad"), std::string::npos);
  }

  o.on_error = OnError::skip;
  StreamLoader skipping(std::make_unique<ListStream>(ids, std::set<std::uint64_t>{125, 126}), o);
  EXPECT_EQ(keys_of(drain(skipping)).size(), 198u);
  EXPECT_EQ(skipping.stats().skipped_records, 2u);
}

// The stream's metadata names 5 classes; a record labelled 7 is refused by the reader thread.
class LabelSevenStream final : public RecordStream {
 public:
  std::string name() const override { return "sevens"; }
  SampleSpec spec() const override { return {shard::SampleDType::u8, {2}}; }
  nlohmann::json metadata() const override { return {{"classes", 5}}; }
  bool next(RecordRef& out) override {
    if (next_ == 30) return false;
    const std::uint64_t key = next_++;
    payload_[0] = static_cast<std::byte>(key);
    out = {key, key == 20 ? 7 : 1, payload_};
    return true;
  }

 private:
  std::uint64_t next_ = 0;
  std::vector<std::byte> payload_ = std::vector<std::byte>(2);
};

TEST(StreamLoader, ALabelOutsideTheClassesIsAFormatErrorOrSkipped) {
  StreamOptions o;
  o.batch_size = 10;
  StreamLoader failing(std::make_unique<LabelSevenStream>(), o);
  LoadedBatch batch;
  ASSERT_TRUE(failing.next(batch));
  ASSERT_TRUE(failing.next(batch));
  try {
    failing.next(batch);
    ADD_FAILURE() << "label 7 of 5 classes was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("sevens: record with key 20 has label 7, expected 0..4"),
              std::string::npos)
        << e.what();
  }
  o.on_error = OnError::skip;
  StreamLoader skipping(std::make_unique<LabelSevenStream>(), o);
  EXPECT_EQ(keys_of(drain(skipping)).size(), 29u);
  EXPECT_EQ(skipping.stats().skipped_records, 1u);
}

TEST(StreamLoader, StoppingWhileTheReaderWaitsIsSafe) {
  std::vector<std::uint32_t> ids(100'000);
  for (std::uint32_t i = 0; i < ids.size(); ++i) ids[i] = i;
  StreamOptions o;
  o.batch_size = 16;
  o.prefetch = 2;
  StreamLoader loader(std::make_unique<ListStream>(ids), o);
  LoadedBatch batch;
  ASSERT_TRUE(loader.next(batch));
}  // destroyed with the reader blocked on a full queue

TEST(StreamLoader, RejectsBadOptions) {
  StreamOptions o;
  o.workers = 0;
  EXPECT_THROW(StreamLoader(std::make_unique<ListStream>(std::vector<std::uint32_t>{1}), o), Error);
  o = StreamOptions{};
  o.dedup_bits_per_key = -1;
  EXPECT_THROW(StreamLoader(std::make_unique<ListStream>(std::vector<std::uint32_t>{1}), o), Error);
}

}  // namespace
}  // namespace tb::data
