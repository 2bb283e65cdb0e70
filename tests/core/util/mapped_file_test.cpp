#include "core/util/mapped_file.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/util/error.h"

namespace tb {
namespace {

std::filesystem::path write_file(const std::string& name, std::size_t bytes) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("trainbench-mapped-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream out(path, std::ios::binary);
  for (std::size_t i = 0; i < bytes; ++i) out.put(static_cast<char>(i * 7 + 1));
  return path;
}

TEST(MappedFile, MapsTheWholeFile) {
  const auto path = write_file("whole", 10000);
  const auto file = MappedFile::open(path);
  ASSERT_EQ(file.size(), 10000u);
  for (std::size_t i = 0; i < 10000; i += 997) {
    EXPECT_EQ(file.bytes()[i], static_cast<std::byte>(static_cast<unsigned char>(i * 7 + 1)));
  }
  EXPECT_FALSE(file.truncated());
  std::filesystem::remove(path);
}

TEST(MappedFile, AnEmptyFileMapsToNoBytesAndAMissingOneIsAFormatError) {
  const auto path = write_file("empty", 0);
  EXPECT_EQ(MappedFile::open(path).size(), 0u);
  EXPECT_TRUE(MappedFile::open(path).bytes().empty());
  std::filesystem::remove(path);
  try {
    MappedFile::open(path);
    FAIL() << "opened a missing file";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

// The point of the class: a file cut short under the mapping reads as zeros past its new end
// and says so, where a plain mapping would kill the process with SIGBUS.
TEST(MappedFile, PagesCutOffByATruncationReadAsZerosAndAreReported) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const auto path = write_file("cut", 4 * page);
  const auto file = MappedFile::open(path);
  std::filesystem::resize_file(path, page);
  EXPECT_FALSE(file.truncated());
  EXPECT_EQ(file.bytes()[10], std::byte{71});  // still in the file
  EXPECT_FALSE(file.truncated());
  EXPECT_EQ(file.bytes()[2 * page + 5], std::byte{0});  // past the new end
  EXPECT_TRUE(file.truncated());
  EXPECT_EQ(file.bytes()[3 * page], std::byte{0});
  // Another file's flag is its own.
  const auto other_path = write_file("other", 100);
  const auto other = MappedFile::open(other_path);
  EXPECT_FALSE(other.truncated());
  std::filesystem::remove(path);
  std::filesystem::remove(other_path);
}

TEST(MappedFile, MovingKeepsTheMappingAndItsGuard) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const auto path = write_file("moved", 2 * page);
  MappedFile moved;
  {
    auto file = MappedFile::open(path);
    moved = std::move(file);
    EXPECT_TRUE(file.bytes().empty());
  }
  std::filesystem::resize_file(path, 0);
  EXPECT_EQ(moved.bytes()[page + 1], std::byte{0});
  EXPECT_TRUE(moved.truncated());
  std::filesystem::remove(path);
}

// A SIGBUS that is not about a mapped file keeps its default action: the guard does not swallow
// a real crash.
TEST(MappedFileDeathTest, ASigbusElsewhereStillKillsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const auto path = write_file("death", 100);
  EXPECT_EXIT(
      {
        const auto file = MappedFile::open(path);  // installs the handler
        ::raise(SIGBUS);
      },
      ::testing::KilledBySignal(SIGBUS), "");
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace tb
