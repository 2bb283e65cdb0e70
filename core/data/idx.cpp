#include "core/data/idx.h"

#include <zlib.h>

#include <cstdio>
#include <memory>
#include <string>

#include "core/util/error.h"

namespace tb::data {
namespace {

[[noreturn]] void fail(const std::filesystem::path& file, std::size_t offset,
                       const std::string& what) {
  throw FormatError(file.string() + ": at byte " + std::to_string(offset) + ": " + what);
}

std::string hex(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

// The whole (decompressed) content. zlib reads plain files through the same calls.
std::vector<std::uint8_t> read_all(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw FormatError(file.string() + ": no such file");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> in(gzopen(file.c_str(), "rb"), gzclose);
  if (!in) throw FormatError(file.string() + ": cannot open for reading");
  gzbuffer(in.get(), 1 << 17);
  std::vector<std::uint8_t> bytes;
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const int got = gzread(in.get(), chunk, sizeof chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(in.get(), &code);
      fail(file, bytes.size(), std::string("corrupt compressed data (") + message + ")");
    }
    if (got == 0) break;
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
  int code = 0;
  const char* message = gzerror(in.get(), &code);
  if (code != Z_OK && code != Z_STREAM_END) {
    fail(file, bytes.size(), std::string("compressed stream ends early (") + message + ")");
  }
  return bytes;
}

std::uint32_t big_endian_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx(const std::filesystem::path& file, std::uint32_t expected_magic) {
  const auto bytes = read_all(file);
  if (bytes.size() < 4) {
    fail(file, bytes.size(),
         "file ends inside the 4-byte IDX magic (" + std::to_string(bytes.size()) +
             " bytes in the file)");
  }
  IdxArray array;
  array.magic = big_endian_u32(bytes.data());
  if (bytes[0] != 0 || bytes[1] != 0) {
    fail(file, 0,
         "magic " + hex(array.magic) + " is not an IDX magic (expected " +
             (expected_magic ? hex(expected_magic) + ", " + std::to_string(expected_magic)
                             : std::string("0x000008xx")) +
             ")");
  }
  if (expected_magic && array.magic != expected_magic) {
    fail(file, 0,
         "magic " + std::to_string(array.magic) + " (" + hex(array.magic) + "), expected " +
             std::to_string(expected_magic) + " (" + hex(expected_magic) + ")");
  }
  if (bytes[2] != 0x08) {
    fail(file, 2,
         "data type " + hex(bytes[2]) + " is not supported (expected 0x08, unsigned byte)");
  }
  const std::size_t rank = bytes[3];
  if (rank == 0) fail(file, 3, "rank 0 (expected at least one dimension)");
  const std::size_t header = 4 + 4 * rank;
  if (bytes.size() < header) {
    fail(file, bytes.size(),
         "file ends inside the header (expected " + std::to_string(rank) + " dimensions, " +
             std::to_string(header) + " header bytes)");
  }
  std::uint64_t count = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    array.dims.push_back(big_endian_u32(&bytes[4 + 4 * i]));
    count *= array.dims.back();
  }
  const std::size_t available = bytes.size() - header;
  if (available < count) {
    fail(file, bytes.size(),
         "truncated: expected " + std::to_string(count) + " data bytes after the header, found " +
             std::to_string(available));
  }
  if (available > count) {
    fail(file, header + count,
         std::to_string(available - count) +
             " unexpected bytes after the data (expected end of file)");
  }
  array.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return array;
}

}  // namespace tb::data
