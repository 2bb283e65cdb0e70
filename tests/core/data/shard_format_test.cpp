// The shard format: round trips with and without zstd against the source, lookups and ranges
// against std::map, roll-over at the shard size, and what the writer refuses.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "core/data/shard_reader.h"
#include "core/data/shard_writer.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data::shard {
namespace {

using tb::testing::TempDir;

struct Source {
  std::int32_t label;
  std::vector<std::byte> payload;
};

// Random keys (appended in random order) with payloads half noise, half runs, so zstd has
// something to do and something it cannot shrink.
std::map<std::uint64_t, Source> random_records(std::size_t count, std::size_t bytes,
                                               std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::map<std::uint64_t, Source> records;
  while (records.size() < count) {
    Source s;
    s.label = static_cast<std::int32_t>(rng() % 1000) - 10;
    s.payload.resize(bytes);
    for (std::size_t i = 0; i < bytes; ++i) {
      s.payload[i] = static_cast<std::byte>(i < bytes / 2 ? rng() : (i / 16) & 0xFF);
    }
    records.emplace(rng() % (count * 20), std::move(s));
  }
  return records;
}

void write_all(const std::filesystem::path& dir, const std::map<std::uint64_t, Source>& records,
               const SampleSpec& spec, ShardWriterOptions options, std::uint64_t seed = 7) {
  std::vector<std::uint64_t> order;
  for (const auto& [key, _] : records) order.push_back(key);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  ShardWriter writer(dir, spec, options);
  for (auto key : order) writer.append(key, records.at(key).label, records.at(key).payload);
  writer.close();
  EXPECT_EQ(writer.stats().records, records.size());
}

class ShardRoundTrip : public ::testing::TestWithParam<int> {};

TEST_P(ShardRoundTrip, EveryRecordComesBackAsWrittenAndLookupsMatchStdMap) {
  TempDir dir;
  const auto records = random_records(3000, 96, 11);
  const SampleSpec spec{SampleDType::i32, {4, 6}};
  ShardWriterOptions options;
  options.zstd_level = GetParam();
  options.shard_size = 64 << 10;  // several shards, so merged footers are exercised
  options.metadata = R"({"name":"random"})";
  write_all(dir.path(), records, spec, options);

  auto set = ShardSet::open(dir.path());
  EXPECT_GT(set.shards().size(), 3u);
  EXPECT_EQ(set.size(), records.size());
  EXPECT_EQ(set.spec(), spec);
  EXPECT_EQ(set.metadata(), options.metadata);
  for (const auto& info : set.shards()) EXPECT_EQ(info.header.zstd(), GetParam() > 0);

  // Point reads through the hash map.
  for (const auto& [key, source] : records) {
    const Record r = set.read(key);
    ASSERT_EQ(r.key, key);
    ASSERT_EQ(r.label, source.label);
    ASSERT_EQ(r.payload, source.payload) << "key " << key;
  }
  Record none;
  std::mt19937_64 rng(3);
  for (int i = 0; i < 500; ++i) {
    const std::uint64_t key = rng() % 100000;
    EXPECT_EQ(set.contains(key), records.count(key) == 1);
    EXPECT_EQ(set.read(key, none), records.count(key) == 1);
  }
  EXPECT_THROW(set.read(std::uint64_t{1} << 60), Error);

  // Iteration in key order.
  auto expected = records.begin();
  set.for_each([&](const RecordView& r) {
    ASSERT_NE(expected, records.end());
    ASSERT_EQ(r.key, expected->first);
    ASSERT_EQ(r.label, expected->second.label);
    ASSERT_TRUE(std::ranges::equal(r.payload, expected->second.payload));
    ++expected;
  });
  EXPECT_EQ(expected, records.end());

  // Ranges [lo, hi) against std::map's.
  for (int i = 0; i < 200; ++i) {
    std::uint64_t lo = rng() % 70000, hi = lo + rng() % 8000;
    if (i % 10 == 0) std::swap(lo, hi);  // empty when hi is not after lo
    std::vector<std::uint64_t> got, want;
    set.range(lo, hi, [&](const RecordView& r) { got.push_back(r.key); });
    if (lo < hi) {
      for (auto it = records.lower_bound(lo); it != records.lower_bound(hi); ++it) {
        want.push_back(it->first);
      }
    }
    ASSERT_EQ(got, want) << lo << ".." << hi;
  }
  EXPECT_EQ(set.verify(), records.size());

  // Sets shared with other threads read the same open files, each with its own zstd buffer, at
  // once: every record by its index location, a prefetch first.
  std::vector<std::pair<std::uint64_t, Location>> locations;
  for (const auto& entry : set.index()) locations.emplace_back(entry.first, entry.second);
  std::vector<std::thread> readers;
  std::vector<int> mismatches(3, 0);
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&, t, shared = set.share()]() mutable {
      for (std::size_t i = static_cast<std::size_t>(t); i < locations.size(); i += 2) {
        const auto& [key, where] = locations[i];
        shared.prefetch(where);
        const RecordView r = shared.read_at(where, key);
        const auto& source = records.at(key);
        if (r.key != key || r.label != source.label ||
            !std::ranges::equal(r.payload, source.payload)) {
          ++mismatches[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& thread : readers) thread.join();
  EXPECT_EQ(mismatches, std::vector<int>(3, 0));
  // A location that does not hold the key is an error naming the file, not a wrong record.
  EXPECT_THROW(set.read_at(locations[0].second, locations[1].first), FormatError);
}

INSTANTIATE_TEST_SUITE_P(Compression, ShardRoundTrip, ::testing::Values(0, 3),
                         [](const auto& info) {
                           return info.param ? "Zstd" + std::to_string(info.param)
                                             : std::string("Plain");
                         });

TEST(ShardWriter, ZstdShrinksCompressiblePayloads) {
  TempDir plain, packed;
  const auto records = random_records(500, 256, 5);
  const SampleSpec spec{SampleDType::u8, {256}};
  ShardWriterOptions options;
  write_all(plain.path(), records, spec, options);
  options.zstd_level = 5;
  write_all(packed.path(), records, spec, options);
  const auto bytes = [](const std::filesystem::path& dir) {
    std::uintmax_t total = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) total += e.file_size();
    return total;
  };
  EXPECT_LT(bytes(packed.path()), bytes(plain.path()) * 3 / 4);
}

TEST(ShardWriter, RollsOverBeforeAShardWouldExceedItsSize) {
  TempDir dir;
  const auto records = random_records(1000, 100, 9);
  const SampleSpec spec{SampleDType::u8, {100}};
  ShardWriterOptions options;
  options.shard_size = 10000;
  write_all(dir.path(), records, spec, options);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  // (24 + 100) bytes a record, 16 an index entry, header and trailer 64 + 2 + 32.
  const std::size_t per_shard = (10000 - 64 - 2 - 32) / (24 + 100 + 16);
  ASSERT_EQ(files.size(), (1000 + per_shard - 1) / per_shard);
  for (std::size_t i = 0; i < files.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "shard-%05zu.tbs", i);
    EXPECT_EQ(files[i].filename(), name);
    EXPECT_LE(std::filesystem::file_size(files[i]), 10000u);
    if (i + 1 < files.size()) {
      EXPECT_GT(std::filesystem::file_size(files[i]), 10000u - 140u);
    }
  }
  auto set = ShardSet::open(dir.path());
  EXPECT_EQ(set.size(), 1000u);
  // One file of the set opens on its own.
  EXPECT_EQ(ShardSet::open(files[1]).size(), per_shard);

  // A record larger than the shard size still gets a shard of its own.
  TempDir big;
  ShardWriterOptions tiny;
  tiny.shard_size = 50;
  ShardWriter writer(big.path(), spec, tiny);
  const std::vector<std::byte> payload(100, std::byte{1});
  for (std::uint64_t k = 0; k < 3; ++k) writer.append(k, 0, payload);
  writer.close();
  EXPECT_EQ(writer.files().size(), 3u);
  EXPECT_EQ(ShardSet::open(big.path()).size(), 3u);
}

TEST(ShardWriter, RefusesBadRecordsAndNeverLeavesAnUnfinishedShard) {
  TempDir dir;
  const SampleSpec spec{SampleDType::f32, {2, 2}};
  const std::vector<std::byte> payload(16), short_payload(12);
  {
    ShardWriter writer(dir / "a", spec);
    writer.append(5, 1, payload);
    EXPECT_THROW(writer.append(6, 1, short_payload), Error);
    try {
      writer.append(5, 2, payload);
      FAIL() << "a duplicate key was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("key 5 appended twice"), std::string::npos) << e.what();
    }
    // Destroyed without close(): the shard was never finished.
  }
  for (const auto& e : std::filesystem::directory_iterator(dir / "a")) {
    ADD_FAILURE() << "left behind: " << e.path();
  }
  {
    ShardWriter writer(dir / "b", spec);
    writer.append(1, 0, payload);
    writer.close();
    writer.close();  // idempotent
  }
  EXPECT_THROW(ShardWriter(dir / "b", spec), Error);  // already holds shards
  ShardWriterOptions options;
  options.zstd_level = 23;
  EXPECT_THROW(ShardWriter(dir / "c", spec, options), Error);
  EXPECT_THROW(ShardWriter(dir / "d", SampleSpec{SampleDType::u8, {}}), Error);
  EXPECT_THROW(ShardWriter(dir / "e", SampleSpec{SampleDType::u8, {3, 0}}), Error);
  // A writer that got no record writes no file.
  {
    ShardWriter writer(dir / "f", spec);
    writer.close();
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir / "f"));
  EXPECT_THROW(ShardSet::open(dir / "f"), FormatError);
  EXPECT_THROW(ShardSet::open(dir / "missing"), FormatError);
}

TEST(ShardWriter, EveryDTypeRoundTrips) {
  for (auto dtype : {SampleDType::u8, SampleDType::i8, SampleDType::i32, SampleDType::f32,
                     SampleDType::f16, SampleDType::bf16}) {
    TempDir dir;
    const SampleSpec spec{dtype, {3, 5, 2, 1, 1, 2}};
    std::vector<std::byte> payload(spec.payload_bytes());
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(i * 13);
    ShardWriter writer(dir.path(), spec);
    writer.append(42, -7, payload);
    writer.close();
    auto set = ShardSet::open(dir.path());
    EXPECT_EQ(set.spec(), spec) << dtype_name(dtype);
    const auto r = set.read(42);
    EXPECT_EQ(r.label, -7);
    EXPECT_EQ(r.payload, payload);
  }
}

}  // namespace
}  // namespace tb::data::shard
