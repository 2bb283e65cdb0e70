#include "core/data/crc32c.h"

#include <array>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define TB_CRC32C_X86 1
#endif

namespace tb::data::shard {
namespace {

// The functions below work on the raw CRC register: crc32c() inverts it on the way in and out.

// Slicing-by-8 tables: eight bytes per step where SSE4.2 is not available.
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

std::uint32_t crc32c_table(const unsigned char* p, std::size_t n, std::uint32_t state) noexcept {
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

#ifdef TB_CRC32C_X86
// The register after `length` zero bytes, as a function of the register before: linear over
// GF(2), so four table lookups (one per byte of the register) apply it. It is what lets three
// independent CRCs over consecutive blocks be joined into the CRC of all three: for blocks A, B
// of length L, crc(s, A B) = shift_L(crc(s, A)) ^ crc(0, B).
class ZeroShift {
 public:
  explicit ZeroShift(std::size_t length) {
    const std::vector<unsigned char> zeros(length, 0);
    std::array<std::uint32_t, 32> bit{};  // image of each register bit
    for (int i = 0; i < 32; ++i) bit[i] = crc32c_table(zeros.data(), length, 1u << i);
    for (int k = 0; k < 4; ++k) {
      for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t image = 0;
        for (int j = 0; j < 8; ++j) {
          if ((b >> j) & 1u) image ^= bit[8 * k + j];
        }
        t_[k][b] = image;
      }
    }
  }
  std::uint32_t operator()(std::uint32_t s) const noexcept {
    return t_[0][s & 0xFF] ^ t_[1][(s >> 8) & 0xFF] ^ t_[2][(s >> 16) & 0xFF] ^ t_[3][s >> 24];
  }

 private:
  std::array<std::array<std::uint32_t, 256>, 4> t_{};
};

// The CRC32 instruction has a latency of three cycles and a throughput of one per cycle, so one
// chain of it runs at a third of what the core can do. Three chains over three consecutive
// blocks, joined by ZeroShift, run at the full rate: ~3x on a shard record (784 bytes) and on
// long buffers alike. Long blocks for long buffers (fewer joins), short ones for records.
constexpr std::size_t kLongBlock = 8192;
constexpr std::size_t kShortBlock = 256;

__attribute__((target("sse4.2"))) std::uint64_t crc32c_three_way(const unsigned char*& p,
                                                                 std::size_t& n,
                                                                 std::uint64_t state,
                                                                 std::size_t block,
                                                                 const ZeroShift& shift) {
  while (n >= 3 * block) {
    std::uint64_t a = state, b = 0, c = 0;
    for (std::size_t i = 0; i < block; i += 8) {
      std::uint64_t wa, wb, wc;
      std::memcpy(&wa, p + i, 8);
      std::memcpy(&wb, p + block + i, 8);
      std::memcpy(&wc, p + 2 * block + i, 8);
      a = _mm_crc32_u64(a, wa);
      b = _mm_crc32_u64(b, wb);
      c = _mm_crc32_u64(c, wc);
    }
    const auto joined = shift(shift(static_cast<std::uint32_t>(a)) ^ static_cast<std::uint32_t>(b));
    state = joined ^ static_cast<std::uint32_t>(c);
    p += 3 * block;
    n -= 3 * block;
  }
  return state;
}

__attribute__((target("sse4.2"))) std::uint32_t crc32c_hardware(const unsigned char* p,
                                                                std::size_t n,
                                                                std::uint32_t state) {
  static const ZeroShift long_shift(kLongBlock);
  static const ZeroShift short_shift(kShortBlock);
  std::uint64_t wide = state;
  wide = crc32c_three_way(p, n, wide, kLongBlock, long_shift);
  wide = crc32c_three_way(p, n, wide, kShortBlock, short_shift);
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
#ifdef TB_CRC32C_X86
  if (cpu_has_sse42()) return ~crc32c_hardware(p, n, state);
#endif
  return ~crc32c_table(p, n, state);
}

std::uint32_t crc32c_portable(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
  return ~crc32c_table(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), ~crc);
}

}  // namespace tb::data::shard
