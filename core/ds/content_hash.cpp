#include "core/ds/content_hash.h"

#include <bit>

// Header-only xxHash, confined to this file so no other translation unit sees its macros and the
// binaries need no libxxhash at run time.
#define XXH_INLINE_ALL
#include <xxhash.h>

namespace tb::ds {

// The float overload hashes the in-memory bytes; only on a little-endian machine are those the
// documented little-endian bytes. Every platform Trainbench builds for is little-endian.
static_assert(std::endian::native == std::endian::little,
              "content_hash(span<const float>) assumes little-endian float storage");

std::uint64_t content_hash(std::span<const std::byte> bytes, std::uint64_t seed) noexcept {
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

std::uint64_t content_hash(std::span<const float> values, std::uint64_t seed) noexcept {
  return content_hash(std::as_bytes(values), seed);
}

}  // namespace tb::ds
