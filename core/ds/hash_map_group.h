// The control bytes of FlatHashMap (hash_map.h) and the 16-byte groups its probes test at once:
// SSE2 where the compiler targets it, a portable SWAR version otherwise (always compiled, so the
// tests can check one against the other).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace tb::ds::hash_detail {

// One control byte per slot. Full slots hold 0..127 (sign bit clear), so "empty or deleted" is
// exactly "sign bit set" and can be read with one movemask.
using ctrl_t = std::int8_t;
inline constexpr ctrl_t kEmpty = -128;  // 0b1000'0000
inline constexpr ctrl_t kDeleted = -2;  // 0b1111'1110
inline constexpr std::size_t kGroupWidth = 16;

constexpr bool is_full(ctrl_t c) noexcept {
  return c >= 0;
}

// Bit masks below have bit i set when the group's byte i satisfies the predicate (16 bits).

// Portable group: two little-endian 64-bit words, byte tests done with carry-free SWAR arithmetic.
// Always compiled so the tests can check it against the SSE2 version.
class PortableGroup {
 public:
  explicit PortableGroup(const ctrl_t* bytes) noexcept
      : low_(load_le64(bytes)), high_(load_le64(bytes + 8)) {}

  std::uint32_t match(ctrl_t h2) const noexcept {
    const std::uint64_t pattern = kLsbs * static_cast<std::uint8_t>(h2);
    return to_mask(zero_bytes(low_ ^ pattern)) | (to_mask(zero_bytes(high_ ^ pattern)) << 8);
  }
  std::uint32_t match_empty() const noexcept {
    // kEmpty is the only control value with bit 7 set and bit 1 clear.
    return to_mask(low_ & ~(low_ << 6) & kMsbs) | (to_mask(high_ & ~(high_ << 6) & kMsbs) << 8);
  }
  std::uint32_t match_empty_or_deleted() const noexcept {
    return to_mask(low_ & kMsbs) | (to_mask(high_ & kMsbs) << 8);
  }
  std::uint32_t match_full() const noexcept { return ~match_empty_or_deleted() & 0xFFFFu; }

 private:
  static constexpr std::uint64_t kLsbs = 0x0101010101010101ull;
  static constexpr std::uint64_t kMsbs = 0x8080808080808080ull;
  static constexpr std::uint64_t kLow7 = 0x7F7F7F7F7F7F7F7Full;

  static std::uint64_t load_le64(const ctrl_t* bytes) noexcept {
    std::uint64_t word = 0;  // compilers turn this loop into one load on little-endian targets
    for (int i = 0; i < 8; ++i) {
      word |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(bytes[i])) << (8 * i);
    }
    return word;
  }
  // Sets bit 7 of each zero byte. Exact (unlike the classic (x - lsbs) & ~x trick, no borrow runs
  // into the next byte), so match() never reports a byte that differs.
  static std::uint64_t zero_bytes(std::uint64_t x) noexcept {
    return ~(((x & kLow7) + kLow7) | x) & kMsbs;
  }
  // Gathers bit 7 of each byte into bits 0..7: the multiplier routes byte i's bit to bit 56 + i
  // and every other partial product lands on a distinct bit below 56 or beyond 63, so no carries.
  static std::uint32_t to_mask(std::uint64_t msbs) noexcept {
    return static_cast<std::uint32_t>((((msbs >> 7) & kLsbs) * 0x0102040810204080ull) >> 56);
  }

  std::uint64_t low_;
  std::uint64_t high_;
};

#if defined(__SSE2__)
class Sse2Group {
 public:
  explicit Sse2Group(const ctrl_t* bytes) noexcept
      : bytes_(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes))) {}

  std::uint32_t match(ctrl_t h2) const noexcept {
    return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_set1_epi8(h2), bytes_)));
  }
  std::uint32_t match_empty() const noexcept {
    return static_cast<std::uint32_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(_mm_set1_epi8(kEmpty), bytes_)));
  }
  std::uint32_t match_empty_or_deleted() const noexcept {
    return static_cast<std::uint32_t>(_mm_movemask_epi8(bytes_));
  }
  std::uint32_t match_full() const noexcept { return ~match_empty_or_deleted() & 0xFFFFu; }

 private:
  __m128i bytes_;
};
using Group = Sse2Group;
#else
using Group = PortableGroup;
#endif

}  // namespace tb::ds::hash_detail
