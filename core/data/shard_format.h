// The project's own shard format (`.tbs`): samples packed for fast, verified reads.
//
// A shard set is a folder of files `shard-00000.tbs`, `shard-00001.tbs`, ... written by
// ShardWriter (core/data/shard_writer.h) and read by ShardSet (core/data/shard_reader.h). Each
// record is one sample: a key (u64, unique across the set; the sample's index for packed
// datasets), a label (i32), and a payload of one fixed dtype and shape per shard.
//
// Every integer is little-endian. One shard file is
//
//   header   64 bytes, then `metadata length` bytes of UTF-8 JSON (what the source knows: name,
//            class names, how to normalise the values)
//     0   8  magic "TBSHARD\0"
//     8   4  version (1)
//    12   4  flags: bit 0 = payloads are zstd-compressed, one zstd frame per record; other bits 0
//    16   8  record count
//    24   1  sample dtype code (SampleDType)
//    25   1  rank, 1..6
//    26   2  zero
//    28  24  dims: rank u32 sizes, each > 0, then zeros
//    52   4  metadata length
//    56   4  CRC32C of header bytes 0..56 and the metadata
//    60   4  zero
//   records  back to back, from the end of the header; each
//     0   4  CRC32C of record bytes 4..24 and the stored payload: the key, label and lengths are
//            covered with the payload, so a flipped bit anywhere in a record is caught
//     4   4  stored length: payload bytes on disk
//     8   4  raw length: payload bytes after decompression, always the dtype size times the
//            product of the dims (equal to the stored length without zstd)
//    12   4  label (i32)
//    16   8  key
//    24      the stored payload
//   index    record count entries of { u64 key, u64 offset of the record from the file's start },
//            sorted by key, keys strictly increasing
//   trailer  32 bytes, the file's last: a reader finds the index from the end
//     0   8  entry count (equal to the header's record count)
//     8   8  footer length: index and trailer bytes (16 x entries + 32)
//    16   4  CRC32C of the index entries and trailer bytes 0..16
//    20   4  zero
//    24   8  magic "TBSINDX\0"
//
// CRC32C (Castagnoli, as iSCSI, ext4 and LevelDB use) rather than XXH3: it is a true checksum
// (every error of up to three bits within a record is detected, all burst errors up to 32 bits),
// and SSE4.2 computes it in hardware at several GB/s (chosen at run time, so portable builds
// use it too); crc32c() falls back to a table elsewhere.
//
// A shard is written under a temporary name (`.tbs.tmp`) and renamed when its index is complete,
// so a file named `.tbs` is never a half-written shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/data/crc32c.h"

namespace tb::data::shard {

inline constexpr char kHeaderMagic[8] = {'T', 'B', 'S', 'H', 'A', 'R', 'D', '\0'};
inline constexpr char kTrailerMagic[8] = {'T', 'B', 'S', 'I', 'N', 'D', 'X', '\0'};
inline constexpr std::uint32_t kVersion = 1;
inline constexpr std::uint32_t kFlagZstd = 1u;
inline constexpr std::size_t kFixedHeaderBytes = 64;
inline constexpr std::size_t kRecordHeaderBytes = 24;
inline constexpr std::size_t kIndexEntryBytes = 16;
inline constexpr std::size_t kTrailerBytes = 32;
inline constexpr std::size_t kMaxRank = 6;
// Keeps a corrupt length from asking for gigabytes: no header's metadata is near this.
inline constexpr std::uint32_t kMaxMetadataBytes = 16u << 20;
inline constexpr const char* kShardExtension = ".tbs";

// On-disk codes; never renumber.
enum class SampleDType : std::uint8_t { u8 = 1, i8 = 2, i32 = 3, f32 = 4, f16 = 5, bf16 = 6 };

std::size_t dtype_size(SampleDType dtype);
const char* dtype_name(SampleDType dtype);
// False for a code that names no SampleDType (a corrupt or newer header).
bool valid_dtype_code(std::uint8_t code);

// The dtype and shape every record of a shard shares.
struct SampleSpec {
  SampleDType dtype = SampleDType::u8;
  std::vector<std::uint32_t> shape;  // one sample, e.g. {1, 28, 28}

  std::uint64_t numel() const;
  std::uint64_t payload_bytes() const { return numel() * dtype_size(dtype); }
  std::string describe() const;  // "u8 [1, 28, 28]"
  bool operator==(const SampleSpec&) const = default;
};

struct ShardHeader {
  std::uint32_t version = kVersion;
  std::uint32_t flags = 0;
  std::uint64_t record_count = 0;
  SampleSpec spec;
  std::string metadata;  // JSON text

  bool zstd() const { return (flags & kFlagZstd) != 0; }
  // Where the records begin.
  std::uint64_t bytes() const { return kFixedHeaderBytes + metadata.size(); }
};

struct IndexEntry {
  std::uint64_t key = 0;
  std::uint64_t offset = 0;  // of the record, from the file's start
};

struct Trailer {
  std::uint64_t entry_count = 0;
  std::uint64_t footer_bytes = 0;  // index + trailer
  std::uint32_t crc = 0;
};

// Little-endian field access on raw bytes. Inline: the compiler turns each into one load or store
// on little-endian machines, and a reader calls them for every record.
inline void put_u32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline void put_u64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
inline std::uint32_t get_u32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
inline std::uint64_t get_u64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

// The header's bytes (fixed part and metadata) with its checksum filled in.
std::vector<std::byte> encode_header(const ShardHeader& header);
// Parses and checks the 64 fixed bytes; returns the metadata length still to be read. Throws
// tb::FormatError naming `file`, the byte offset and what was expected (magic, version, flags,
// dtype, rank, dims, metadata length).
std::uint32_t parse_fixed_header(std::span<const std::byte, kFixedHeaderBytes> bytes,
                                 const std::filesystem::path& file, ShardHeader& header);
// Checks the header checksum over the fixed bytes and the metadata, then keeps the metadata.
void check_header_crc(std::span<const std::byte, kFixedHeaderBytes> fixed,
                      std::span<const std::byte> metadata, const std::filesystem::path& file,
                      ShardHeader& header);

// The index and trailer bytes for entries already sorted by key.
std::vector<std::byte> encode_footer(const std::vector<IndexEntry>& sorted);
// Parses the 32 trailer bytes found at `offset` (the file's size minus 32): magic and lengths.
Trailer parse_trailer(std::span<const std::byte, kTrailerBytes> bytes,
                      const std::filesystem::path& file, std::uint64_t offset);

// The record header's 24 bytes with the checksum over them and the stored payload.
void encode_record_header(std::byte* out, std::uint64_t key, std::int32_t label,
                          std::uint32_t raw_bytes, std::span<const std::byte> stored);

// "FILE: at byte N: what" as a tb::FormatError.
[[noreturn]] void fail(const std::filesystem::path& file, std::uint64_t offset,
                       const std::string& what);
std::string hex32(std::uint32_t v);

}  // namespace tb::data::shard
