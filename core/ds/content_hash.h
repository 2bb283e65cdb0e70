// Stable 64-bit content hashes of samples, used to deduplicate them by content (the loader's
// streaming dedup feeds these into BlockedBloomFilter).
//
// The hash is XXH3-64 (xxHash 0.8): its output for a given byte sequence is fixed by the published
// algorithm, so it is the same on every run, build and (little-endian) machine, and can be stored
// with a session or compared across processes. It is not a cryptographic hash: do not use it where
// an adversary chooses the inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tb::ds {

// XXH3_64bits_withSeed(bytes, seed); seed 0 gives plain XXH3_64bits. O(bytes.size()), no
// allocation, thread-safe. An empty span is valid (hashes the empty input).
std::uint64_t content_hash(std::span<const std::byte> bytes, std::uint64_t seed = 0) noexcept;

// Hash of the floats' IEEE-754 bit patterns in little-endian byte order, i.e. of the bytes a
// little-endian machine stores: content_hash(std::as_bytes(values), seed). Bit patterns, not
// values: +0.0f and -0.0f hash differently, and each NaN payload hashes as itself.
std::uint64_t content_hash(std::span<const float> values, std::uint64_t seed = 0) noexcept;

}  // namespace tb::ds
