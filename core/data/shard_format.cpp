#include "core/data/shard_format.h"

#include <array>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#include "core/util/error.h"

namespace tb::data::shard {
namespace {

// Slicing-by-8 tables for the reflected Castagnoli polynomial 0x82F63B78: eight bytes per step
// where SSE4.2 is not available.
struct CrcTables {
  std::array<std::array<std::uint32_t, 256>, 8> t{};
  constexpr CrcTables() {
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ ((c & 1u) ? 0x82F63B78u : 0u);
      t[0][i] = c;
    }
    for (std::size_t s = 1; s < 8; ++s) {
      for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
    }
  }
};

[[maybe_unused]] std::uint32_t crc32c_table(const unsigned char* p, std::size_t n,
                                            std::uint32_t state) noexcept {
  static constexpr CrcTables kTables;
  const auto& t = kTables.t;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    word ^= state;  // little-endian: the low four bytes are the first four
    state = t[7][word & 0xFF] ^ t[6][(word >> 8) & 0xFF] ^ t[5][(word >> 16) & 0xFF] ^
            t[4][(word >> 24) & 0xFF] ^ t[3][(word >> 32) & 0xFF] ^ t[2][(word >> 40) & 0xFF] ^
            t[1][(word >> 48) & 0xFF] ^ t[0][word >> 56];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) state = (state >> 8) ^ t[0][(state ^ *p++) & 0xFF];
  return state;
}

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

namespace {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// The hardware CRC32C instruction (SSE4.2), compiled for it even in a portable build: crc32c()
// calls it when the CPU has it (every x86-64 CPU since 2008), which a portable build otherwise
// could not use, and the table loop is ~10x slower.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_hardware(const unsigned char* p,
                                                                std::size_t n,
                                                                std::uint32_t state) {
  std::uint64_t wide = state;
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    wide = _mm_crc32_u64(wide, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<std::uint32_t>(wide);
  while (n-- > 0) state = _mm_crc32_u8(state, *p++);
  return state;
}

bool cpu_has_sse42() {
  static const bool has = __builtin_cpu_supports("sse4.2");
  return has;
}
#endif

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  const std::uint32_t state = ~crc;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (cpu_has_sse42()) return ~crc32c_hardware(p, n, state);
#endif
  return ~crc32c_table(p, n, state);
}

std::uint32_t crc32c_portable(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
  return ~crc32c_table(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), ~crc);
}

void put_u32(std::byte* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put_u64(std::byte* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
std::uint32_t get_u32(const std::byte* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint32_t>(p[i]);
  return v;
}
std::uint64_t get_u64(const std::byte* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
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
