// LMDB datasets: what write_lmdb stores reads back by position, bit for bit, in key order, from
// several readers at once; damaged and foreign environments are FormatErrors naming what is wrong.
#include <gtest/gtest.h>
#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "core/data/formats/lmdb.h"
#include "core/util/error.h"
#include "tests/support/record_source.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using tb::testing::TempDir;

using Record = tb::testing::TestRecord;
using tb::testing::VectorSource;

// Unique keys across the whole u64 range (small ones, ones above 2^32 and 2^56, so that a
// little-endian key layout would misorder them), shuffled, with random labels and payloads.
std::vector<Record> make_records(std::size_t count, const SampleSpec& spec, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> keys;
  std::map<std::uint64_t, bool> seen;
  while (keys.size() < count) {
    const int shift = static_cast<int>(rng() % 4) * 20;
    const std::uint64_t key = (rng() % 100000) << shift;
    if (!seen[key]) {
      seen[key] = true;
      keys.push_back(key);
    }
  }
  std::vector<Record> records;
  for (auto key : keys) {
    Record r{key, static_cast<std::int32_t>(rng() % 2000) - 1000, {}};
    r.payload.resize(spec.payload_bytes());
    for (auto& b : r.payload) b = static_cast<std::byte>(rng());
    records.push_back(std::move(r));
  }
  return records;
}

const nlohmann::json kMetadata = {{"classes", 3},
                                  {"class_names", {"a", "b", "c"}},
                                  {"normalize", {{"scale", 255.0}, {"mean", 0.5}, {"std", 0.25}}}};

std::shared_ptr<LmdbRecordSet> write_and_open(const std::filesystem::path& path,
                                              const SampleSpec& spec,
                                              const std::vector<Record>& records,
                                              LmdbWriteOptions options = {}) {
  VectorSource source(spec, records, kMetadata);
  EXPECT_EQ(write_lmdb(path, source, options), records.size());
  return std::make_shared<LmdbRecordSet>(path);
}

void expect_matches(const LmdbRecordSet& set, const std::vector<Record>& records) {
  std::map<std::uint64_t, const Record*> by_key;
  for (const auto& r : records) by_key[r.key] = &r;
  ASSERT_EQ(set.size(), records.size());
  auto reader = set.open_reader();
  std::uint64_t position = 0;
  for (const auto& [key, expected] : by_key) {  // map order = numeric key order
    const RecordRef got = reader->read(position);
    ASSERT_EQ(got.key, key) << "position " << position;
    EXPECT_EQ(set.keys()[position], key);
    EXPECT_EQ(got.label, expected->label);
    ASSERT_EQ(got.payload.size(), expected->payload.size());
    EXPECT_EQ(std::memcmp(got.payload.data(), expected->payload.data(), got.payload.size()), 0)
        << "key " << key;
    ++position;
  }
}

bool mentions(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Runs `f`, expecting a FormatError whose message holds every one of `parts`.
template <typename F>
void expect_format_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no FormatError";
  } catch (const FormatError& e) {
    for (const auto& part : parts) EXPECT_TRUE(mentions(e.what(), part)) << e.what();
  }
}

// Raw LMDB for building damaged and foreign environments by hand.
class RawEnv {
 public:
  explicit RawEnv(const std::filesystem::path& path, unsigned flags = 0) {
    std::filesystem::create_directories(flags & MDB_NOSUBDIR ? path.parent_path() : path);
    EXPECT_EQ(mdb_env_create(&env_), 0);
    EXPECT_EQ(mdb_env_set_mapsize(env_, 64u << 20), 0);
    EXPECT_EQ(mdb_env_open(env_, path.c_str(), flags, 0644), 0);
    EXPECT_EQ(mdb_txn_begin(env_, nullptr, 0, &txn_), 0);
    EXPECT_EQ(mdb_dbi_open(txn_, nullptr, 0, &dbi_), 0);
  }
  ~RawEnv() {
    EXPECT_EQ(mdb_txn_commit(txn_), 0);
    mdb_env_close(env_);
  }
  void put(const std::string& key, const std::string& value) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    EXPECT_EQ(mdb_put(txn_, dbi_, &k, &v, 0), 0);
  }
  void del(const std::string& key) {
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    EXPECT_EQ(mdb_del(txn_, dbi_, &k, nullptr), 0);
  }

 private:
  MDB_env* env_ = nullptr;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
};

std::string be_key(std::uint64_t key) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(key >> (56 - 8 * i));
  return bytes;
}

TEST(LmdbFormat, RoundTripsManyRecordsU8AndF32) {
  TempDir dir;
  const SampleSpec u8{shard::SampleDType::u8, {1, 6, 5}};
  const SampleSpec f32{shard::SampleDType::f32, {3, 7}};
  const SampleSpec big{shard::SampleDType::f32, {3, 32, 32}};  // 12 KiB: overflow pages
  int n = 0;
  for (const auto& [spec, count] : {std::pair{u8, 5000}, {f32, 3000}, {big, 300}}) {
    for (bool single_file : {false, true}) {
      SCOPED_TRACE(spec.describe() + (single_file ? " single file" : " directory"));
      const auto records = make_records(count, spec, 17 + n);
      LmdbWriteOptions options;
      options.single_file = single_file;
      options.batch_records = 256;
      options.initial_map_bytes = 64 << 10;  // far too small: the map must grow
      const auto path = dir / ("set" + std::to_string(n++) + (single_file ? ".lmdb" : ""));
      const auto set = write_and_open(path, spec, records, options);
      EXPECT_EQ(std::filesystem::is_regular_file(path), single_file);
      EXPECT_EQ(set->spec(), spec);
      EXPECT_EQ(set->metadata(), kMetadata);
      EXPECT_EQ(set->name(), path.filename().string());
      expect_matches(*set, records);
    }
  }
}

TEST(LmdbFormat, KeysAreInNumericOrder) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::u8, {2}};
  std::vector<Record> records;
  const std::vector<std::uint64_t> keys = {256, 1,   std::uint64_t{1} << 40,       255,
                                           0,   257, (std::uint64_t{1} << 63) + 5, 65536};
  for (auto key : keys) {
    records.push_back({key,
                       static_cast<std::int32_t>(key % 7),
                       {std::byte(key & 0xFF), std::byte((key >> 8) & 0xFF)}});
  }
  const auto set = write_and_open(dir / "set", spec, records);
  auto sorted = keys;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(set->keys(), sorted);
  expect_matches(*set, records);
}

TEST(LmdbFormat, TwoThreadsReadRandomPositionsWithTheirOwnReaders) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::f32, {4, 9}};
  const auto records = make_records(2000, spec, 5);
  const auto set = write_and_open(dir / "set", spec, records);
  std::map<std::uint64_t, const Record*> by_key;
  for (const auto& r : records) by_key[r.key] = &r;

  std::vector<std::string> failures(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto reader = set->open_reader();
      std::mt19937_64 rng(100 + t);
      for (int i = 0; i < 20000 && failures[t].empty(); ++i) {
        const std::uint64_t position = rng() % set->size();
        const RecordRef got = reader->read(position);
        const Record& want = *by_key.at(set->keys()[position]);
        if (got.key != want.key || got.label != want.label ||
            std::memcmp(got.payload.data(), want.payload.data(), want.payload.size()) != 0) {
          failures[t] = "thread " + std::to_string(t) + " position " + std::to_string(position);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures[0], "");
  EXPECT_EQ(failures[1], "");
}

TEST(LmdbFormat, SeveralSetsOfOnePathShareTheEnvironment) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::u8, {3}};
  const auto records = make_records(50, spec, 9);
  auto first = write_and_open(dir / "set", spec, records);
  auto second = std::make_shared<LmdbRecordSet>(dir / "set");
  first.reset();  // closing one must leave the other readable
  expect_matches(*second, records);
}

TEST(LmdbFormat, RecordSourceOfASetWritesTheSameSet) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::i32, {5}};
  const auto records = make_records(700, spec, 3);
  const auto set = write_and_open(dir / "a", spec, records);
  auto source = as_record_source(set);
  EXPECT_EQ(write_lmdb(dir / "b", *source), records.size());
  LmdbRecordSet copy(dir / "b");
  expect_matches(copy, records);
}

TEST(LmdbFormat, ValueOfTheWrongLengthIsAFormatErrorNamingTheKey) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::u8, {4, 4}};
  std::vector<Record> records;
  for (std::uint64_t key = 40; key < 45; ++key) {
    records.push_back({key, 1, std::vector<std::byte>(16, std::byte{7})});
  }
  const auto path = dir / "set";
  write_and_open(path, spec, records);
  { RawEnv(path).put(be_key(42), std::string("\x01\0\0\0short", 9)); }

  LmdbRecordSet set(path);  // values are checked when read
  auto reader = set.open_reader();
  EXPECT_EQ(reader->read(1).key, 41u);
  expect_format_error([&] { reader->read(2); },
                      {path.string(), "key 42", "position 2", "9 bytes", "16 payload bytes"});
  EXPECT_EQ(reader->read(3).key, 43u);  // the reader stays usable
  expect_format_error([&] { reader->read(5); }, {path.string(), "position 5", "out of range"});
}

TEST(LmdbFormat, ForeignAndDamagedEnvironmentsAreRefused) {
  TempDir dir;
  // Caffe-style: decimal string keys, no "meta".
  {
    RawEnv caffe(dir / "caffe");
    caffe.put("00000000", "datum");
    caffe.put("00000001", "datum");
  }
  expect_format_error([&] { LmdbRecordSet set(dir / "caffe"); },
                      {(dir / "caffe").string(), "no \"meta\"", "not a Trainbench"});
  // A "meta" entry of someone else's.
  { RawEnv(dir / "other").put("meta", R"({"owner": "someone"})"); }
  expect_format_error([&] { LmdbRecordSet set(dir / "other"); }, {"not a Trainbench"});
  { RawEnv(dir / "garbage").put("meta", "\xff\xfe not json"); }
  expect_format_error([&] { LmdbRecordSet set(dir / "garbage"); }, {"not a Trainbench"});

  // A Trainbench set with an extra key that is no sample key, and one with a record gone.
  const SampleSpec spec{shard::SampleDType::u8, {2}};
  const auto records = make_records(20, spec, 1);
  write_and_open(dir / "extra", spec, records);
  { RawEnv(dir / "extra").put("zz-extra", "x"); }
  // "zz-extra" is 8 bytes: a sample key to the reader, so the count no longer matches.
  expect_format_error([&] { LmdbRecordSet set(dir / "extra"); }, {"21 records", "says 20"});
  write_and_open(dir / "odd", spec, records);
  { RawEnv(dir / "odd").put("abc", "x"); }
  expect_format_error([&] { LmdbRecordSet set(dir / "odd"); }, {"key of 3 bytes", "616263"});
  write_and_open(dir / "short", spec, records);
  { RawEnv(dir / "short").del(be_key(records[3].key)); }
  expect_format_error([&] { LmdbRecordSet set(dir / "short"); }, {"19 records", "says 20"});
  write_and_open(dir / "version", spec, records);
  {
    const nlohmann::json meta = {{"format", "trainbench-lmdb"},
                                 {"version", 9},
                                 {"spec", {{"dtype", "u8"}, {"shape", {2}}}},
                                 {"count", 20}};
    RawEnv(dir / "version").put("meta", meta.dump());
  }
  expect_format_error([&] { LmdbRecordSet set(dir / "version"); }, {"version 9"});

  // Not LMDB at all, and nothing there.
  {
    std::ofstream junk(dir / "junk.lmdb", std::ios::binary);
    junk << std::string(16384, 'x');
  }
  expect_format_error([&] { LmdbRecordSet set(dir / "junk.lmdb"); },
                      {(dir / "junk.lmdb").string()});
  std::filesystem::create_directories(dir / "empty");
  expect_format_error([&] { LmdbRecordSet set(dir / "empty"); }, {"no data.mdb"});
  expect_format_error([&] { LmdbRecordSet set(dir / "missing"); }, {"no such"});
}

TEST(LmdbFormat, WriterRefusesDuplicateKeysBadPayloadsAndExistingPaths) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::u8, {2}};
  std::vector<Record> dup = {{5, 0, {std::byte{1}, std::byte{2}}},
                             {9, 0, {std::byte{1}, std::byte{2}}},
                             {5, 1, {std::byte{3}, std::byte{4}}}};
  VectorSource dup_source(spec, dup);
  expect_format_error([&] { write_lmdb(dir / "dup", dup_source); }, {"duplicate sample key 5"});
  // The interrupted write left no "meta": the environment cannot be mistaken for a dataset.
  expect_format_error([&] { LmdbRecordSet set(dir / "dup"); }, {"no \"meta\""});

  std::vector<Record> bad = {{1, 0, {std::byte{1}}}};
  VectorSource bad_source(spec, bad);
  expect_format_error([&] { write_lmdb(dir / "bad", bad_source); },
                      {"key 1", "1 payload bytes", "expected 2"});

  std::vector<Record> fine = {{1, 0, {std::byte{1}, std::byte{2}}}};
  VectorSource first(spec, fine), second(spec, fine);
  write_lmdb(dir / "exists", first);
  EXPECT_THROW(write_lmdb(dir / "exists", second), Error);
}

TEST(LmdbFormat, EmptySetOpens) {
  TempDir dir;
  const SampleSpec spec{shard::SampleDType::f32, {3}};
  const auto set = write_and_open(dir / "empty", spec, {});
  EXPECT_EQ(set->size(), 0u);
  EXPECT_EQ(set->spec(), spec);
}

}  // namespace
}  // namespace tb::data
