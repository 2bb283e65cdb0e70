// IDX files (the MNIST family's format), plain or gzip-compressed.
//
// Layout: two zero bytes, a type byte (0x08: unsigned byte — the only type Fashion-MNIST uses and
// the only one read here), a rank byte, then `rank` big-endian uint32 dimensions and the data.
// As one big-endian uint32 the first four bytes are the "magic": 2051 for rank-3 images, 2049 for
// rank-1 labels.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace tb::data {

struct IdxArray {
  std::uint32_t magic = 0;
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> values;  // product(dims) bytes, row-major
};

// Reads the whole file. Throws tb::FormatError naming the file, the byte offset (in the
// decompressed stream) and what was expected there: a wrong magic, an unsupported type, a
// truncated header or payload, trailing bytes, an unreadable or corrupt gzip stream.
// expected_magic 0 accepts any rank with type 0x08.
IdxArray read_idx(const std::filesystem::path& file, std::uint32_t expected_magic = 0);

}  // namespace tb::data
