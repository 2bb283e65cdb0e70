// The IDX reader on good, corrupt and truncated files: errors name the file, the byte offset and
// what was expected.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "core/data/idx.h"
#include "core/util/error.h"
#include "tests/support/test_data.h"

namespace tb::data {
namespace {

using tb::testing::TempDir;
using tb::testing::write_bytes;
using tb::testing::write_idx;

std::vector<std::uint8_t> images_file_bytes(std::uint32_t count) {
  std::vector<std::uint8_t> bytes = {0, 0, 8, 3, 0, 0, 0, static_cast<std::uint8_t>(count),
                                     0, 0, 0, 2, 0, 0, 0, 3};
  for (std::uint32_t i = 0; i < count * 6; ++i) bytes.push_back(static_cast<std::uint8_t>(i));
  return bytes;
}

std::string error_of(const std::filesystem::path& file, std::uint32_t magic) {
  try {
    read_idx(file, magic);
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

TEST(Idx, ReadsPlainAndGzipFilesAlike) {
  TempDir dir;
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    write_bytes(dir / name, images_file_bytes(4), std::string(name).ends_with(".gz"));
    const auto array = read_idx(dir / name, 2051);
    EXPECT_EQ(array.magic, 2051u);
    EXPECT_EQ(array.dims, (std::vector<std::uint32_t>{4, 2, 3}));
    ASSERT_EQ(array.values.size(), 24u);
    EXPECT_EQ(array.values[0], 0);
    EXPECT_EQ(array.values[23], 23);
  }
}

TEST(Idx, LabelsHaveMagic2049) {
  TempDir dir;
  write_idx(dir / "l.gz", {5}, {0, 1, 2, 3, 9});
  const auto array = read_idx(dir / "l.gz", 2049);
  EXPECT_EQ(array.dims, std::vector<std::uint32_t>{5});
  EXPECT_EQ(array.values[4], 9);
}

TEST(Idx, WrongMagicNamesFileOffsetAndExpectation) {
  TempDir dir;
  write_idx(dir / "labels.gz", {3}, {1, 2, 3});  // magic 2049
  const auto message = error_of(dir / "labels.gz", 2051);
  EXPECT_NE(message.find("labels.gz"), std::string::npos) << message;
  EXPECT_NE(message.find("at byte 0"), std::string::npos) << message;
  EXPECT_NE(message.find("expected 2051"), std::string::npos) << message;
  EXPECT_NE(message.find("2049"), std::string::npos) << message;
}

TEST(Idx, NotAnIdxFileAtAll) {
  TempDir dir;
  write_bytes(dir / "text.gz", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, true);
  const auto message = error_of(dir / "text.gz", 2051);
  EXPECT_NE(message.find("not an IDX magic"), std::string::npos) << message;
}

TEST(Idx, TruncatedPayloadSaysHowMuchIsMissing) {
  TempDir dir;
  auto bytes = images_file_bytes(4);
  bytes.resize(bytes.size() - 5);
  write_bytes(dir / "short.gz", bytes, true);
  const auto message = error_of(dir / "short.gz", 2051);
  EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  EXPECT_NE(message.find("expected 24 data bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("found 19"), std::string::npos) << message;
  EXPECT_NE(message.find("at byte 35"), std::string::npos) << message;
}

TEST(Idx, TruncatedHeader) {
  TempDir dir;
  write_bytes(dir / "header", {0, 0, 8, 3, 0, 0}, false);
  const auto message = error_of(dir / "header", 2051);
  EXPECT_NE(message.find("inside the header"), std::string::npos) << message;
  EXPECT_NE(message.find("at byte 6"), std::string::npos) << message;
  write_bytes(dir / "tiny", {0, 0}, false);
  EXPECT_NE(error_of(dir / "tiny", 2051).find("4-byte IDX magic"), std::string::npos);
}

TEST(Idx, TrailingBytesAreAnError) {
  TempDir dir;
  auto bytes = images_file_bytes(1);
  bytes.push_back(7);
  write_bytes(dir / "long", bytes, false);
  const auto message = error_of(dir / "long", 2051);
  EXPECT_NE(message.find("1 unexpected bytes after the data"), std::string::npos) << message;
  EXPECT_NE(message.find("at byte 22"), std::string::npos) << message;
}

TEST(Idx, UnsupportedDataType) {
  TempDir dir;
  write_bytes(dir / "floats", {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0}, false);
  const auto message = error_of(dir / "floats", 0);
  EXPECT_NE(message.find("at byte 2"), std::string::npos) << message;
  EXPECT_NE(message.find("not supported"), std::string::npos) << message;
}

TEST(Idx, CutGzipStreamIsAnErrorNotACrash) {
  TempDir dir;
  write_bytes(dir / "whole.gz", images_file_bytes(200), true);
  std::ifstream in(dir / "whole.gz", std::ios::binary);
  std::vector<std::uint8_t> compressed((std::istreambuf_iterator<char>(in)), {});
  compressed.resize(compressed.size() / 2);
  write_bytes(dir / "cut.gz", compressed, false);
  const auto message = error_of(dir / "cut.gz", 2051);
  EXPECT_NE(message.find("cut.gz"), std::string::npos) << message;
  EXPECT_FALSE(message.empty());
}

TEST(Idx, MissingFile) {
  EXPECT_NE(error_of("/nonexistent/file.gz", 2051).find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace tb::data
