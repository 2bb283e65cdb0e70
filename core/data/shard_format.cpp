#include "core/data/shard_format.h"

#include <array>
#include <cstdio>
#include <cstring>

#include "core/util/error.h"

namespace tb::data::shard {
namespace {

std::string quote_magic(const std::byte* p) {
  std::string text;
  for (int i = 0; i < 8; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c >= 0x20 && c < 0x7F) {
      text += static_cast<char>(c);
    } else {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      text += esc;
    }
  }
  return "\"" + text + "\"";
}

}  // namespace

std::size_t dtype_size(SampleDType dtype) {
  switch (dtype) {
    case SampleDType::u8:
    case SampleDType::i8:
      return 1;
    case SampleDType::f16:
    case SampleDType::bf16:
      return 2;
    case SampleDType::i32:
    case SampleDType::f32:
      return 4;
  }
  return 0;
}

const char* dtype_name(SampleDType dtype) {
  switch (dtype) {
    case SampleDType::u8:
      return "u8";
    case SampleDType::i8:
      return "i8";
    case SampleDType::i32:
      return "i32";
    case SampleDType::f32:
      return "f32";
    case SampleDType::f16:
      return "f16";
    case SampleDType::bf16:
      return "bf16";
  }
  return "?";
}

bool valid_dtype_code(std::uint8_t code) {
  return code >= 1 && code <= 6;
}

std::uint64_t SampleSpec::numel() const {
  std::uint64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string SampleSpec::describe() const {
  std::string text = std::string(dtype_name(dtype)) + " [";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

void fail(const std::filesystem::path& file, std::uint64_t offset, const std::string& what) {
  throw FormatError(file.string() + ": at byte " + std::to_string(offset) + ": " + what);
}

std::string hex32(std::uint32_t v) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", v);
  return text;
}

std::vector<std::byte> encode_header(const ShardHeader& header) {
  std::vector<std::byte> out(kFixedHeaderBytes + header.metadata.size(), std::byte{0});
  std::memcpy(out.data(), kHeaderMagic, 8);
  put_u32(&out[8], header.version);
  put_u32(&out[12], header.flags);
  put_u64(&out[16], header.record_count);
  out[24] = static_cast<std::byte>(header.spec.dtype);
  out[25] = static_cast<std::byte>(header.spec.shape.size());
  for (std::size_t i = 0; i < header.spec.shape.size(); ++i) {
    put_u32(&out[28 + 4 * i], header.spec.shape[i]);
  }
  put_u32(&out[52], static_cast<std::uint32_t>(header.metadata.size()));
  std::memcpy(out.data() + kFixedHeaderBytes, header.metadata.data(), header.metadata.size());
  std::uint32_t crc = crc32c(std::span(out).first(56));
  crc = crc32c(std::span(out).subspan(kFixedHeaderBytes), crc);
  put_u32(&out[56], crc);
  return out;
}

std::uint32_t parse_fixed_header(std::span<const std::byte, kFixedHeaderBytes> b,
                                 const std::filesystem::path& file, ShardHeader& header) {
  if (std::memcmp(b.data(), kHeaderMagic, 8) != 0) {
    fail(file, 0,
         "magic " + quote_magic(b.data()) + " is not a shard's (expected \"TBSHARD\\x00\")");
  }
  header.version = get_u32(&b[8]);
  if (header.version != kVersion) {
    fail(file, 8,
         "version " + std::to_string(header.version) + " is not supported (expected " +
             std::to_string(kVersion) + ")");
  }
  header.flags = get_u32(&b[12]);
  if ((header.flags & ~kFlagZstd) != 0) {
    fail(file, 12, "flags " + hex32(header.flags) + " hold unknown bits (expected 0 or 1: zstd)");
  }
  header.record_count = get_u64(&b[16]);
  const auto code = std::to_integer<std::uint8_t>(b[24]);
  if (!valid_dtype_code(code)) {
    fail(file, 24,
         "sample dtype code " + std::to_string(code) +
             " is unknown (expected 1..6: u8, i8, "
             "i32, f32, f16, bf16)");
  }
  header.spec.dtype = static_cast<SampleDType>(code);
  const auto rank = std::to_integer<std::uint8_t>(b[25]);
  if (rank < 1 || rank > kMaxRank) {
    fail(file, 25,
         "rank " + std::to_string(rank) + " (expected 1.." + std::to_string(kMaxRank) + ")");
  }
  // Reserved bytes: 26..28 and 60..64 (the latter outside the header checksum) must be zero.
  for (std::size_t at : {26, 27, 60, 61, 62, 63}) {
    if (b[at] != std::byte{0}) {
      fail(file, at,
           "reserved byte is " + std::to_string(std::to_integer<int>(b[at])) + " (expected 0)");
    }
  }
  header.spec.shape.assign(rank, 0);
  for (std::size_t i = 0; i < kMaxRank; ++i) {
    const auto d = get_u32(&b[28 + 4 * i]);
    if (i < rank && d == 0) fail(file, 28 + 4 * i, "dimension " + std::to_string(i) + " is 0");
    if (i >= rank && d != 0) {
      fail(file, 28 + 4 * i,
           "dimension slot " + std::to_string(i) + " beyond rank " + std::to_string(rank) +
               " holds " + std::to_string(d) + " (expected 0)");
    }
    if (i < rank) header.spec.shape[i] = d;
  }
  if (header.spec.payload_bytes() > 0xFFFFFFFFull) {
    fail(file, 28,
         "a sample of " + header.spec.describe() +
             " exceeds 4 GiB (expected what a u32 "
             "length holds)");
  }
  const auto metadata_bytes = get_u32(&b[52]);
  if (metadata_bytes > kMaxMetadataBytes) {
    fail(file, 52,
         "metadata length " + std::to_string(metadata_bytes) + " (expected at most " +
             std::to_string(kMaxMetadataBytes) + ")");
  }
  return metadata_bytes;
}

void check_header_crc(std::span<const std::byte, kFixedHeaderBytes> fixed,
                      std::span<const std::byte> metadata, const std::filesystem::path& file,
                      ShardHeader& header) {
  const std::uint32_t stored = get_u32(&fixed[56]);
  const std::uint32_t actual = crc32c(metadata, crc32c(fixed.first(56)));
  if (stored != actual) {
    fail(file, 56,
         "header checksum " + hex32(stored) + " does not match the header's content (" +
             hex32(actual) + ", CRC32C of bytes 0..56 and the metadata)");
  }
  header.metadata.assign(reinterpret_cast<const char*>(metadata.data()), metadata.size());
}

std::vector<std::byte> encode_footer(const std::vector<IndexEntry>& sorted) {
  std::vector<std::byte> out(sorted.size() * kIndexEntryBytes + kTrailerBytes, std::byte{0});
  std::byte* p = out.data();
  for (const auto& e : sorted) {
    put_u64(p, e.key);
    put_u64(p + 8, e.offset);
    p += kIndexEntryBytes;
  }
  put_u64(p, sorted.size());
  put_u64(p + 8, out.size());
  put_u32(p + 16, crc32c(std::span(out).first(out.size() - kTrailerBytes + 16)));
  std::memcpy(p + 24, kTrailerMagic, 8);
  return out;
}

Trailer parse_trailer(std::span<const std::byte, kTrailerBytes> b,
                      const std::filesystem::path& file, std::uint64_t offset) {
  if (std::memcmp(&b[24], kTrailerMagic, 8) != 0) {
    fail(file, offset + 24,
         "footer magic " + quote_magic(&b[24]) +
             " is not a shard's (expected \"TBSINDX\\x00\" as the last 8 bytes: a truncated or "
             "unfinished shard?)");
  }
  if (get_u32(&b[20]) != 0) {
    fail(file, offset + 20,
         "reserved trailer bytes hold " + hex32(get_u32(&b[20])) + " (expected 0)");
  }
  Trailer t;
  t.entry_count = get_u64(&b[0]);
  t.footer_bytes = get_u64(&b[8]);
  t.crc = get_u32(&b[16]);
  // Compared as a division so a huge corrupt count cannot overflow the product.
  if (t.footer_bytes < kTrailerBytes || (t.footer_bytes - kTrailerBytes) % kIndexEntryBytes != 0 ||
      (t.footer_bytes - kTrailerBytes) / kIndexEntryBytes != t.entry_count) {
    fail(file, offset + 8,
         "footer length " + std::to_string(t.footer_bytes) + " does not fit " +
             std::to_string(t.entry_count) + " index entries (expected 16 x entries + 32)");
  }
  return t;
}

void encode_record_header(std::byte* out, std::uint64_t key, std::int32_t label,
                          std::uint32_t raw_bytes, std::span<const std::byte> stored) {
  put_u32(out + 4, static_cast<std::uint32_t>(stored.size()));
  put_u32(out + 8, raw_bytes);
  put_u32(out + 12, static_cast<std::uint32_t>(label));
  put_u64(out + 16, key);
  const std::uint32_t crc = crc32c(stored, crc32c(std::span(out + 4, 20)));
  put_u32(out, crc);
}

}  // namespace tb::data::shard
