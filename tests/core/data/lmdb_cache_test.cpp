// The LMDB sample cache: samples survive a restart bit for bit, another fingerprint or sample
// size finds it empty, concurrent puts all land, a full budget drops puts instead of failing,
// and an LMDB that is no cache is never cleared.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <thread>

#include "core/data/formats/lmdb.h"
#include "core/data/lmdb_cache.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using tb::testing::TempDir;

// Random floats plus the values a careless copy would lose: -0, denormals, inf, NaN payloads.
std::vector<float> sample_for(std::uint64_t key, std::size_t floats) {
  std::mt19937 rng(static_cast<std::uint32_t>(key * 2654435761u + 1));
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  std::vector<float> v(floats);
  for (auto& x : v) x = dist(rng);
  const std::uint32_t nan_bits = 0x7FC00000u | static_cast<std::uint32_t>(key & 0xFFFF);
  float nan;
  std::memcpy(&nan, &nan_bits, sizeof nan);
  const float specials[] = {-0.0f, std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::infinity(), nan};
  for (std::size_t i = 0; i < std::min<std::size_t>(4, floats); ++i)
    v[(key + i) % floats] = specials[i];
  return v;
}

std::int32_t label_for(std::uint64_t key) {
  return static_cast<std::int32_t>(key % 1000) - 500;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

// Every key in `keys` reads back as sample_for/label_for gave it.
void expect_all_cached(LmdbSampleCache& cache, const std::vector<std::uint64_t>& keys) {
  std::vector<float> out(cache.sample_floats());
  for (auto key : keys) {
    std::int32_t label = 0;
    ASSERT_TRUE(cache.get(key, out, label)) << "key " << key;
    EXPECT_EQ(label, label_for(key));
    ASSERT_TRUE(same_bits(out, sample_for(key, out.size()))) << "key " << key;
  }
}

std::vector<std::uint64_t> spread_keys(std::size_t count) {
  std::vector<std::uint64_t> keys;
  for (std::uint64_t i = 0; i < count; ++i) keys.push_back(i * 0x9E3779B97F4A7C15ull);
  return keys;
}

TEST(LmdbSampleCache, SurvivesARestartBitForBit) {
  TempDir dir;
  const auto keys = spread_keys(1500);
  constexpr std::size_t kFloats = 300;
  {
    LmdbSampleCache cache(dir / "cache", "crc32:1234abcd|resize=28", kFloats);
    EXPECT_FALSE(cache.cleared());
    std::vector<float> out(kFloats);
    std::int32_t label = 0;
    for (auto key : keys) {
      EXPECT_FALSE(cache.get(key, out, label));
      cache.put(key, sample_for(key, kFloats), label_for(key));
    }
    expect_all_cached(cache, keys);  // from the queue and committed batches alike
    const auto stats = cache.stats();
    EXPECT_EQ(stats.misses, keys.size());
    EXPECT_EQ(stats.hits, keys.size());
    EXPECT_EQ(stats.entries + stats.pending, keys.size());
    EXPECT_GT(stats.pending, 0u);  // 1500 is no multiple of the batch: the destructor flushes
  }
  LmdbSampleCache cache(dir / "cache", "crc32:1234abcd|resize=28", kFloats);
  EXPECT_FALSE(cache.cleared());
  EXPECT_EQ(cache.stats().entries, keys.size());
  EXPECT_EQ(cache.stats().pending, 0u);
  expect_all_cached(cache, keys);
  std::vector<float> out(kFloats);
  std::int32_t label = 0;
  EXPECT_FALSE(cache.get(12345, out, label));
  EXPECT_EQ(cache.stats().misses, 1u);
  EXPECT_EQ(cache.stats().hits, keys.size());
}

TEST(LmdbSampleCache, AnotherFingerprintOrSampleSizeFindsItEmpty) {
  TempDir dir;
  const auto keys = spread_keys(100);
  {
    LmdbSampleCache cache(dir / "cache", "dataset-a", 16);
    for (auto key : keys) cache.put(key, sample_for(key, 16), label_for(key));
  }
  {
    LmdbSampleCache cache(dir / "cache", "dataset-b", 16);
    EXPECT_TRUE(cache.cleared());
    EXPECT_EQ(cache.stats().entries, 0u);
    std::vector<float> out(16);
    std::int32_t label = 0;
    for (auto key : keys) EXPECT_FALSE(cache.get(key, out, label));
    for (auto key : keys) cache.put(key, sample_for(key, 16), label_for(key));
  }
  {
    LmdbSampleCache cache(dir / "cache", "dataset-b", 16);  // b's samples are b's to keep
    EXPECT_FALSE(cache.cleared());
    expect_all_cached(cache, keys);
  }
  LmdbSampleCache cache(dir / "cache", "dataset-b", 17);  // other decoding, other size
  EXPECT_TRUE(cache.cleared());
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(LmdbSampleCache, ConcurrentPutsFromFourThreadsAllLand) {
  TempDir dir;
  constexpr std::size_t kFloats = 64, kPerThread = 2500;
  LmdbCacheOptions options;
  options.batch_puts = 97;
  std::vector<std::uint64_t> all;
  {
    LmdbSampleCache cache(dir / "cache", "fp", kFloats, options);
    std::vector<std::string> failures(4);
    std::vector<std::thread> threads;
    for (std::uint64_t t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        std::vector<float> out(kFloats);
        for (std::uint64_t i = 0; i < kPerThread; ++i) {
          const std::uint64_t key = i * 4 + t;
          cache.put(key, sample_for(key, kFloats), label_for(key));
          // Readable at once, from whichever place it is in (queue, committing, committed).
          const std::uint64_t back = (i / 2) * 4 + t;
          std::int32_t label = 0;
          if (!cache.get(back, out, label) || label != label_for(back) ||
              !same_bits(out, sample_for(back, kFloats))) {
            failures[t] = "key " + std::to_string(back);
            return;
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    for (const auto& f : failures) EXPECT_EQ(f, "");
    for (std::uint64_t k = 0; k < 4 * kPerThread; ++k) all.push_back(k);
    cache.flush();
    EXPECT_EQ(cache.stats().entries, all.size());
    EXPECT_EQ(cache.stats().pending, 0u);
    expect_all_cached(cache, all);
  }
  LmdbSampleCache cache(dir / "cache", "fp", kFloats, options);
  expect_all_cached(cache, all);
}

TEST(LmdbSampleCache, AFullBudgetDropsPutsAndKeepsServing) {
  TempDir dir;
  constexpr std::size_t kFloats = 1000;  // 4 KiB a sample: an overflow page each
  LmdbCacheOptions options;
  options.map_bytes = 1 << 20;
  options.batch_puts = 16;
  LmdbSampleCache cache(dir / "cache", "fp", kFloats, options);
  const auto keys = spread_keys(600);  // 2.4 MB of samples into 1 MiB
  for (auto key : keys) cache.put(key, sample_for(key, kFloats), label_for(key));
  cache.flush();
  const auto stats = cache.stats();
  EXPECT_TRUE(stats.full);
  EXPECT_GT(stats.entries, 50u);
  EXPECT_GT(stats.dropped, 0u);
  EXPECT_EQ(stats.entries + stats.dropped, keys.size());
  std::vector<float> out(kFloats);
  std::uint64_t found = 0;
  for (auto key : keys) {
    std::int32_t label = 0;
    if (!cache.get(key, out, label)) continue;
    ++found;
    EXPECT_EQ(label, label_for(key));
    ASSERT_TRUE(same_bits(out, sample_for(key, kFloats)));
  }
  EXPECT_EQ(found, stats.entries);
}

TEST(LmdbSampleCache, WrongSizesAreErrors) {
  TempDir dir;
  LmdbSampleCache cache(dir / "cache", "fp", 8);
  std::vector<float> seven(7);
  std::int32_t label = 0;
  EXPECT_THROW(cache.put(1, seven, 0), Error);
  EXPECT_THROW(cache.get(1, seven, label), Error);
  EXPECT_THROW(LmdbSampleCache(dir / "cache", "fp", 8), Error);  // open twice in one process
}

TEST(LmdbSampleCache, AStoredValueOfTheWrongLengthIsAFormatErrorNamingTheKey) {
  TempDir dir;
  {
    LmdbSampleCache cache(dir / "cache", "fp", 8);
    cache.put(5, sample_for(5, 8), 1);
    cache.put(6, sample_for(6, 8), 2);
  }
  {  // damage key 5 with the raw API
    MDB_env* env = nullptr;
    MDB_txn* txn = nullptr;
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_env_create(&env), 0);
    ASSERT_EQ(mdb_env_open(env, (dir / "cache").c_str(), 0, 0644), 0);
    ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
    ASSERT_EQ(mdb_dbi_open(txn, nullptr, 0, &dbi), 0);
    unsigned char key[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    char value[10] = {};
    MDB_val k{sizeof key, key}, v{sizeof value, value};
    ASSERT_EQ(mdb_put(txn, dbi, &k, &v, 0), 0);
    ASSERT_EQ(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
  }
  LmdbSampleCache cache(dir / "cache", "fp", 8);
  std::vector<float> out(8);
  std::int32_t label = 0;
  try {
    cache.get(5, out, label);
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find((dir / "cache").string()), std::string::npos) << what;
    EXPECT_NE(what.find("key 5: value of 10 bytes, expected 36"), std::string::npos) << what;
  }
  EXPECT_TRUE(cache.get(6, out, label));  // the rest still serves
  EXPECT_EQ(label, 2);
}

TEST(LmdbSampleCache, AnLmdbThatIsNoCacheIsNeverCleared) {
  TempDir dir;
  // A dataset written by write_lmdb: has a "meta", but not a cache's.
  class OneRecord final : public shard::RecordSource {
   public:
    std::string name() const override { return "one"; }
    SampleSpec spec() const override { return {shard::SampleDType::u8, {1}}; }
    nlohmann::json metadata() const override { return nlohmann::json::object(); }
    std::uint64_t size() const override { return 1; }
    bool next(shard::SourceRecord& out) override {
      if (done_) return false;
      done_ = true;
      out.key = 7;
      out.payload = {&byte_, 1};
      return true;
    }

   private:
    bool done_ = false;
    std::byte byte_{42};
  } source;
  write_lmdb(dir / "dataset", source);
  try {
    LmdbSampleCache cache(dir / "dataset", "fp", 4);
    ADD_FAILURE() << "opened a dataset as a cache";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find((dir / "dataset").string()), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("not a Trainbench sample cache"), std::string::npos);
  }
  LmdbRecordSet set(dir / "dataset");  // still whole
  EXPECT_EQ(set.size(), 1u);
}

}  // namespace
}  // namespace tb::data
