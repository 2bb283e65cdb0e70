// Malformed shards: every truncation and every flipped byte is rejected with a tb::FormatError
// naming the file and the byte offset; each kind of damage says what was expected.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/data/shard_reader.h"
#include "core/data/shard_writer.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data::shard {
namespace {

using tb::testing::TempDir;

std::vector<char> slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void spit(const std::filesystem::path& file, const std::vector<char>& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A one-shard set of 12 records of 40 bytes; returns the shard's path.
std::filesystem::path write_small(const std::filesystem::path& dir, int zstd_level) {
  ShardWriterOptions options;
  options.zstd_level = zstd_level;
  options.metadata = R"({"name":"small"})";
  ShardWriter writer(dir, SampleSpec{SampleDType::u8, {40}}, options);
  for (std::uint64_t k = 0; k < 12; ++k) {
    std::vector<std::byte> payload(40);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte((k * 31 + i) & 0xFF);
    writer.append(k * 3, static_cast<std::int32_t>(k % 4), payload);
  }
  writer.close();
  return writer.files().front();
}

// Opens, reads every record and verifies: the message of the FormatError this throws, or "".
std::string open_and_read(const std::filesystem::path& path) {
  try {
    auto set = ShardSet::open(path);
    set.for_each([](const RecordView&) {});
    set.verify();
    return "";
  } catch (const FormatError& e) {
    return e.what();
  }
}

void expect_rejected(const std::filesystem::path& file, const std::string& message,
                     const std::string& context) {
  ASSERT_FALSE(message.empty()) << context << ": accepted";
  EXPECT_EQ(message.rfind(file.string() + ": at byte ", 0), 0u) << context << ": " << message;
}

class ShardCorruption : public ::testing::TestWithParam<int> {};

TEST_P(ShardCorruption, EveryTruncationIsRejectedNamingFileAndOffset) {
  TempDir dir;
  const auto good = slurp(write_small(dir / "good", GetParam()));
  const auto file = dir / "cut.tbs";
  for (std::size_t length = 0; length < good.size(); ++length) {
    spit(file, std::vector<char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)));
    expect_rejected(file, open_and_read(file), "truncated to " + std::to_string(length));
  }
}

TEST_P(ShardCorruption, EveryFlippedByteIsRejectedNamingFileAndOffset) {
  TempDir dir;
  const auto good = slurp(write_small(dir / "good", GetParam()));
  const auto file = dir / "flipped.tbs";
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (char mask : {'\x01', '\x80', '\xff'}) {
      auto bad = good;
      bad[at] = static_cast<char>(bad[at] ^ mask);
      spit(file, bad);
      expect_rejected(file, open_and_read(file),
                      "byte " + std::to_string(at) + " ^ " + std::to_string(mask & 0xff));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Compression, ShardCorruption, ::testing::Values(0, 1),
                         [](const auto& info) {
                           return info.param ? std::string("Zstd") : std::string("Plain");
                         });

class ShardDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    good_ = slurp(write_small(dir_ / "good", 0));
    file_ = dir_ / "bad.tbs";
  }
  // Writes `bytes` and expects a rejection whose message holds "at byte OFFSET: " and `what`.
  void expect(const std::vector<char>& bytes, std::uint64_t offset, const std::string& what) {
    spit(file_, bytes);
    const auto message = open_and_read(file_);
    EXPECT_NE(message.find(file_.string() + ": at byte " + std::to_string(offset) + ": "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(what), std::string::npos) << message;
  }
  // A copy with the record at `offset` given a new stored payload and a matching checksum.
  std::vector<char> rewrite_record(std::uint64_t offset, const std::vector<char>& stored) {
    std::vector<char> out(good_.begin(), good_.begin() + static_cast<std::ptrdiff_t>(offset));
    std::byte head[kRecordHeaderBytes];
    const auto* old = reinterpret_cast<const std::byte*>(good_.data() + offset);
    encode_record_header(head, get_u64(old + 16), static_cast<std::int32_t>(get_u32(old + 12)),
                         get_u32(old + 8), std::as_bytes(std::span(stored)));
    out.insert(out.end(), reinterpret_cast<char*>(head), reinterpret_cast<char*>(head) + 24);
    out.insert(out.end(), stored.begin(), stored.end());
    const std::size_t rest = offset + 24 + get_u32(old + 4);
    out.insert(out.end(), good_.begin() + static_cast<std::ptrdiff_t>(rest), good_.end());
    return out;
  }
  TempDir dir_;
  std::vector<char> good_;
  std::filesystem::path file_;
};

constexpr std::uint64_t kFirstRecord = 64 + 16;  // header + {"name":"small"}

TEST_F(ShardDamage, EachKindSaysWhatWasExpected) {
  auto bad = good_;
  bad[0] = 'X';
  expect(bad, 0, "expected \"TBSHARD\\x00\"");
  bad = good_;
  bad[8] = 2;
  expect(bad, 8, "version 2 is not supported (expected 1)");
  bad = good_;
  bad[12] = 4;
  expect(bad, 12, "unknown bits");
  bad = good_;
  bad[24] = 9;
  expect(bad, 24, "sample dtype code 9");
  bad = good_;
  bad[70] ^= 1;  // inside the metadata
  expect(bad, 56, "header checksum");
  bad = good_;
  bad[kFirstRecord + 30] ^= 1;  // the first record's payload
  expect(bad, kFirstRecord, "record checksum");
  bad = good_;
  bad[kFirstRecord + 16] ^= 1;  // its key
  expect(bad, kFirstRecord, "record checksum");
  bad = good_;
  bad[good_.size() - 1] = 'Z';
  expect(bad, good_.size() - 8, "footer magic");
  bad = good_;
  bad[good_.size() - 32 - 16 + 3] ^= 1;  // the last index entry's key
  expect(bad, good_.size() - 16, "index checksum");
  bad = good_;
  bad[good_.size() - 24] ^= 1;  // footer length
  expect(bad, good_.size() - 24, "footer length");
  expect(std::vector<char>(good_.begin(), good_.begin() + 50), 50, "shorter than a shard's");
  expect(std::vector<char>(good_.begin(), good_.end() - 5), good_.size() - 5 - 8, "footer magic");
}

TEST_F(ShardDamage, ALengthPastTheRecordsAndABadZstdFrameAreCaughtEvenWithAValidChecksum) {
  // A record claiming more payload than the file holds, checksum recomputed to match.
  auto longer = rewrite_record(kFirstRecord, std::vector<char>(40, 'a'));
  reinterpret_cast<unsigned char&>(longer[kFirstRecord + 4]) = 0xF0;
  expect(longer, kFirstRecord + 4, "stored length");

  TempDir zdir;
  good_ = slurp(write_small(zdir / "z", 3));
  // Garbage where the zstd frame was, checksum made to match: zstd itself must refuse it.
  expect(rewrite_record(kFirstRecord, std::vector<char>(12, '\x42')), kFirstRecord + 24,
         "zstd payload of key 0 does not decompress");
  // A valid frame of the wrong size.
  expect(rewrite_record(kFirstRecord, std::vector<char>{'\x28', '\xb5', '\x2f', '\xfd', '\x20',
                                                        '\x01', '\x09', '\x00', '\x00', 'q'}),
         kFirstRecord + 24, "does not decompress to 40 bytes");
}

TEST(ShardSet, ADuplicateKeyAcrossShardsIsRejectedNamingBoth) {
  TempDir dir;
  const SampleSpec spec{SampleDType::u8, {4}};
  const std::vector<std::byte> payload(4);
  for (const char* name : {"a", "b"}) {
    ShardWriter writer(dir / name, spec);
    for (std::uint64_t k = 0; k < 5; ++k) writer.append(name[0] == 'a' ? k : k + 4, 0, payload);
    writer.close();
  }
  std::filesystem::copy_file(dir / "b" / "shard-00000.tbs", dir / "a" / "shard-00001.tbs");
  try {
    ShardSet::open(dir / "a");
    FAIL() << "duplicate key accepted";
  } catch (const FormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find((dir / "a" / "shard-00001.tbs").string() + ": at byte "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("key 4 is also in " + (dir / "a" / "shard-00000.tbs").string()),
              std::string::npos)
        << message;
  }
  // Shards of different specs do not form one set.
  TempDir other;
  {
    ShardWriter writer(other / "c", SampleSpec{SampleDType::u8, {5}});
    writer.append(100, 0, std::vector<std::byte>(5));
    writer.close();
  }
  std::filesystem::copy_file(other / "c" / "shard-00000.tbs", dir / "b" / "shard-00001.tbs");
  EXPECT_THROW(ShardSet::open(dir / "b"), FormatError);
}

TEST(ShardSet, AShardTruncatedAfterOpeningIsAFormatErrorOnRead) {
  TempDir dir;
  const auto file = write_small(dir / "s", 0);
  auto set = ShardSet::open(dir / "s");
  std::filesystem::resize_file(file, 100);
  try {
    set.read(33);
    FAIL() << "read past the end succeeded";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(file.string() + ": at byte "), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tb::data::shard
