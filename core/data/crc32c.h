// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the shard format and of
// TFRecord framing. crc32c() takes the SSE4.2 instruction wherever the CPU has it, chosen at run
// time so portable builds use it too, and falls back to a slicing-by-8 table elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tb::data::shard {

// CRC32C of `bytes` continuing from `crc` (the value returned for the bytes before; 0 to start):
// crc32c(b, crc32c(a)) == crc32c(a then b).
std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;
// The same, always by the table (what crc32c() falls back to): for tests of the hardware path.
std::uint32_t crc32c_portable(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace tb::data::shard
