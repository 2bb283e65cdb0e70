#include "core/data/crc32c.h"

#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace tb::data::shard {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValueAndChains) {
  const std::string text = "123456789";
  const auto bytes = std::as_bytes(std::span(text.data(), text.size()));
  EXPECT_EQ(crc32c(bytes), 0xE3069283u);
  EXPECT_EQ(crc32c(bytes.subspan(4), crc32c(bytes.first(4))), 0xE3069283u);
  EXPECT_EQ(crc32c({}), 0u);
  std::vector<std::byte> long_input(1000);
  for (std::size_t i = 0; i < long_input.size(); ++i) long_input[i] = std::byte(i * 7);
  EXPECT_EQ(crc32c(long_input),
            crc32c(std::span(long_input).subspan(333), crc32c(std::span(long_input).first(333))));
}

// The hardware instruction path (taken wherever the CPU has SSE4.2, portable builds included)
// and the table agree on every length around the 8-byte steps and at every alignment.
TEST(Crc32c, HardwareAndTableAgree) {
  const std::string text = "123456789";
  EXPECT_EQ(crc32c_portable(std::as_bytes(std::span(text.data(), text.size()))), 0xE3069283u);
  std::vector<std::byte> data(300);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte((i * 131 + 17) & 0xFF);
  for (std::size_t offset = 0; offset < 8; ++offset) {
    for (std::size_t length = 0; length + offset <= 140; ++length) {
      const auto part = std::span(data).subspan(offset, length);
      ASSERT_EQ(crc32c(part, 0x1234u), crc32c_portable(part, 0x1234u)) << offset << "+" << length;
    }
  }
}

// The hardware path runs three chains over blocks of 256 and of 8192 bytes and joins them;
// every length around those blocks' multiples, at several alignments and starting registers,
// must give what the byte-at-a-time table gives.
TEST(Crc32c, ThreeWayBlocksAgreeWithTheTableAroundEveryBlockBoundary) {
  std::vector<std::byte> data(3 * 8192 * 2 + 3 * 256 + 64);
  std::uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1664525u + 1013904223u;
    b = std::byte(x >> 24);
  }
  std::vector<std::size_t> lengths;
  for (const std::size_t base : {768u, 1536u, 24576u, 49152u, 49152u + 768u}) {
    for (std::size_t d = 0; d <= 17; ++d) {
      lengths.push_back(base + d);
      lengths.push_back(base - 1 - d);
    }
  }
  for (const std::size_t offset : {0u, 1u, 5u, 13u}) {
    for (const std::uint32_t start : {0u, 0xFFFFFFFFu, 0x9E3779B9u}) {
      for (const std::size_t length : lengths) {
        if (offset + length > data.size()) continue;
        const auto part = std::span(data).subspan(offset, length);
        ASSERT_EQ(crc32c(part, start), crc32c_portable(part, start))
            << "offset " << offset << ", length " << length << ", start " << start;
      }
    }
  }
  // A flipped bit in the middle block of a three-way round changes the result.
  const auto whole = std::span(data).first(768);
  const std::uint32_t before = crc32c(whole);
  data[400] ^= std::byte{0x10};
  EXPECT_NE(crc32c(whole), before);
}

}  // namespace
}  // namespace tb::data::shard
