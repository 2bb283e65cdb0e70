#include "core/ds/bloom_filter.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <string>

#include "core/ds/content_hash.h"
#include "core/util/error.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tb::ds {
namespace {

constexpr std::array<char, 8> kMagic = {'T', 'B', 'B', 'L', 'O', 'O', 'M', '\0'};
constexpr std::size_t kVersionOffset = 8;
constexpr std::size_t kProbesOffset = 12;
constexpr std::size_t kBlockCountOffset = 16;
constexpr std::size_t kInsertedOffset = 24;
constexpr std::size_t kChecksumOffset = 32;
constexpr std::size_t kWordsPerBlock = BlockedBloomFilter::kBlockBits / 64;

// Far enough ahead that a block arrives from memory before its query runs (about a DRAM latency
// of queries), near enough that the prefetched lines are still in L1.
constexpr std::size_t kPrefetchDistance = 16;

inline void prefetch_for_read(const void* address) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(address, 0, 3);
#else
  (void)address;
#endif
}

std::string hex(std::uint64_t value) {
  std::ostringstream out;
  out << "0x" << std::hex << value;
  return out.str();
}

void check_bits_per_key(double bits_per_key) {
  if (!std::isfinite(bits_per_key) || bits_per_key <= 0.0 ||
      bits_per_key > BlockedBloomFilter::kMaxBitsPerKey) {
    throw Error("BlockedBloomFilter: bits_per_key must be a finite number in (0, 512], got " +
                std::to_string(bits_per_key));
  }
}

void check_probes(int probes) {
  if (probes < 1 || probes > BlockedBloomFilter::kMaxProbes) {
    throw Error("BlockedBloomFilter: probes (k) must be in [1, " +
                std::to_string(BlockedBloomFilter::kMaxProbes) + "], got " +
                std::to_string(probes));
  }
}

void put_u32(std::byte* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}

void put_u64(std::byte* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}

std::uint32_t get_u32(const std::byte* in) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i)
    value |= std::uint32_t{std::to_integer<std::uint8_t>(in[i])} << (8 * i);
  return value;
}

std::uint64_t get_u64(const std::byte* in) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i)
    value |= std::uint64_t{std::to_integer<std::uint8_t>(in[i])} << (8 * i);
  return value;
}

[[noreturn]] void format_error(std::size_t offset, const std::string& what) {
  throw FormatError("bloom filter: byte offset " + std::to_string(offset) + ": " + what);
}

std::uint64_t checksum_of(std::span<const std::byte> header_fields,
                          std::span<const std::byte> payload) {
  return content_hash(payload, content_hash(header_fields));
}

}  // namespace

namespace bloom_detail {

void* allocate_blocks(std::size_t bytes) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const bool huge = bytes >= 2 * kHugePage;
  const std::size_t alignment = huge ? kHugePage : BlockedBloomFilter::kBlockBytes;
  // aligned_alloc wants a multiple of the alignment; rounding a huge array up to whole pages
  // also keeps its last page from being shared with (and split by) other allocations.
  const std::size_t rounded =
      (std::max<std::size_t>(bytes, 1) + alignment - 1) / alignment * alignment;
  void* memory = std::aligned_alloc(alignment, rounded);
  if (memory == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: where huge pages are off or unavailable the filter works the same, slower.
  if (huge) (void)madvise(memory, rounded, MADV_HUGEPAGE);
#endif
  return memory;
}

void free_blocks(void* memory) noexcept {
  std::free(memory);
}

}  // namespace bloom_detail

BlockedBloomFilter::BlockedBloomFilter(Unchecked, std::size_t block_count, int probes,
                                       std::uint64_t inserted)
    : blocks_(block_count, Block{}), probes_(probes), inserted_(inserted) {}

BlockedBloomFilter::BlockedBloomFilter(std::size_t expected_keys, double bits_per_key, int probes)
    : probes_(probes) {
  check_bits_per_key(bits_per_key);
  check_probes(probes);
  const long double wanted_blocks =
      std::ceil(static_cast<long double>(expected_keys) * bits_per_key / kBlockBits);
  if (wanted_blocks > static_cast<long double>(kMaxBlocks)) {
    throw Error("BlockedBloomFilter: expected_keys " + std::to_string(expected_keys) + " at " +
                std::to_string(bits_per_key) + " bits/key needs more than 2^32 blocks (256 GiB)");
  }
  blocks_.assign(std::max<std::size_t>(1, static_cast<std::size_t>(wanted_blocks)), Block{});
}

BlockedBloomFilter::BlockedBloomFilter(std::size_t expected_keys, double bits_per_key)
    : BlockedBloomFilter(expected_keys, bits_per_key, optimal_probes(bits_per_key)) {}

int BlockedBloomFilter::optimal_probes(double bits_per_key) {
  check_bits_per_key(bits_per_key);
  const double keys_per_block = kBlockBits / bits_per_key;
  int best = 1;
  double best_rate = blocked_fpr_formula(keys_per_block, 1, 1);
  for (int k = 2; k <= kMaxProbes; ++k) {
    const double rate = blocked_fpr_formula(keys_per_block, 1, k);
    if (rate < best_rate) {
      best = k;
      best_rate = rate;
    }
  }
  return best;
}

std::size_t BlockedBloomFilter::maybe_contains_batch(std::span<const std::uint64_t> hashes,
                                                     std::span<bool> results) const {
  if (hashes.size() != results.size()) {
    throw Error("BlockedBloomFilter::maybe_contains_batch: results has " +
                std::to_string(results.size()) + " elements, expected " +
                std::to_string(hashes.size()) + " (one per hash)");
  }
  const std::size_t n = hashes.size();
  const std::size_t head = std::min(n, kPrefetchDistance);
  for (std::size_t i = 0; i < head; ++i) prefetch_for_read(&blocks_[block_of(hashes[i])]);
  std::size_t positives = 0;
  std::size_t i = 0;
  for (; i + kPrefetchDistance < n; ++i) {
    prefetch_for_read(&blocks_[block_of(hashes[i + kPrefetchDistance])]);
    const bool hit = maybe_contains(hashes[i]);
    results[i] = hit;
    positives += hit ? 1 : 0;
  }
  for (; i < n; ++i) {
    const bool hit = maybe_contains(hashes[i]);
    results[i] = hit;
    positives += hit ? 1 : 0;
  }
  return positives;
}

std::size_t BlockedBloomFilter::popcount() const noexcept {
  std::size_t count = 0;
  for (const Block& block : blocks_) {
    for (std::uint64_t word : block.words) count += static_cast<std::size_t>(std::popcount(word));
  }
  return count;
}

double BlockedBloomFilter::expected_false_positive_rate() const {
  return blocked_fpr_formula(static_cast<double>(inserted_), blocks_.size(), probes_);
}

double BlockedBloomFilter::classic_false_positive_rate() const {
  return classic_fpr_formula(static_cast<double>(inserted_), static_cast<double>(bit_count()),
                             probes_);
}

double BlockedBloomFilter::blocked_fpr_formula(double keys, std::size_t blocks, int probes) {
  check_probes(probes);
  if (!(keys >= 0.0) || !std::isfinite(keys)) {
    throw Error("BlockedBloomFilter::blocked_fpr_formula: keys must be finite and >= 0, got " +
                std::to_string(keys));
  }
  if (blocks == 0) throw Error("BlockedBloomFilter::blocked_fpr_formula: blocks must be >= 1");
  if (keys == 0.0) return 0.0;
  const double lambda = keys / static_cast<double>(blocks);
  // Poisson mass beyond 12 standard deviations (plus a margin for small means) is below 1e-30.
  const double spread = 12.0 * std::sqrt(lambda) + 12.0;
  const double first = std::max(0.0, std::floor(lambda - spread));
  const double last = std::ceil(lambda + spread);
  const double log_lambda = std::log(lambda);
  const double log_bit_stays_clear = std::log1p(-1.0 / static_cast<double>(kBlockBits));
  double rate = 0.0;
  for (double i = first; i <= last; i += 1.0) {
    const double log_probability = i * log_lambda - lambda - std::lgamma(i + 1.0);
    const double bit_set = -std::expm1(probes * i * log_bit_stays_clear);
    rate += std::exp(log_probability) * std::pow(bit_set, probes);
  }
  return std::min(rate, 1.0);
}

double BlockedBloomFilter::classic_fpr_formula(double keys, double bits, int probes) {
  check_probes(probes);
  if (!(keys >= 0.0) || !std::isfinite(keys) || !(bits > 0.0) || !std::isfinite(bits)) {
    throw Error(
        "BlockedBloomFilter::classic_fpr_formula: keys must be >= 0 and bits > 0, got keys " +
        std::to_string(keys) + ", bits " + std::to_string(bits));
  }
  return std::pow(-std::expm1(-probes * keys / bits), probes);
}

void BlockedBloomFilter::merge(const BlockedBloomFilter& other) {
  if (other.blocks_.size() != blocks_.size() || other.probes_ != probes_) {
    throw Error("BlockedBloomFilter::merge: geometry mismatch: this filter has " +
                std::to_string(blocks_.size()) + " blocks and k = " + std::to_string(probes_) +
                ", the other " + std::to_string(other.blocks_.size()) +
                " blocks and k = " + std::to_string(other.probes_) + "; both must be equal");
  }
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    for (std::size_t w = 0; w < kWordsPerBlock; ++w)
      blocks_[b].words[w] |= other.blocks_[b].words[w];
  }
  inserted_ += other.inserted_;
}

void BlockedBloomFilter::clear() noexcept {
  std::fill(blocks_.begin(), blocks_.end(), Block{});
  inserted_ = 0;
}

std::vector<std::byte> BlockedBloomFilter::serialize() const {
  std::vector<std::byte> out(kHeaderBytes + bytes());
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  put_u32(out.data() + kVersionOffset, kFormatVersion);
  put_u32(out.data() + kProbesOffset, static_cast<std::uint32_t>(probes_));
  put_u64(out.data() + kBlockCountOffset, blocks_.size());
  put_u64(out.data() + kInsertedOffset, inserted_);
  std::byte* payload = out.data() + kHeaderBytes;
  for (const Block& block : blocks_) {
    for (std::uint64_t word : block.words) {
      put_u64(payload, word);
      payload += 8;
    }
  }
  const std::span<const std::byte> all(out);
  put_u64(out.data() + kChecksumOffset,
          checksum_of(all.first(kChecksumOffset), all.subspan(kHeaderBytes)));
  return out;
}

BlockedBloomFilter BlockedBloomFilter::deserialize(std::span<const std::byte> bytes) {
  if (bytes.size() < kHeaderBytes) {
    format_error(bytes.size(), "truncated header: input ends after " +
                                   std::to_string(bytes.size()) + " bytes, expected a " +
                                   std::to_string(kHeaderBytes) + "-byte header");
  }
  if (std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    format_error(0, "magic: expected \"TBBLOOM\\0\", this is not a serialized bloom filter");
  }
  const std::uint32_t version = get_u32(bytes.data() + kVersionOffset);
  if (version != kFormatVersion) {
    format_error(kVersionOffset, "version: expected " + std::to_string(kFormatVersion) +
                                     ", found " + std::to_string(version));
  }
  const std::uint32_t probes = get_u32(bytes.data() + kProbesOffset);
  if (probes < 1 || probes > static_cast<std::uint32_t>(kMaxProbes)) {
    format_error(kProbesOffset, "probes (k): expected 1.." + std::to_string(kMaxProbes) +
                                    ", found " + std::to_string(probes));
  }
  const std::uint64_t block_count = get_u64(bytes.data() + kBlockCountOffset);
  if (block_count < 1 || block_count > kMaxBlocks) {
    format_error(kBlockCountOffset,
                 "block count: expected 1..2^32, found " + std::to_string(block_count));
  }
  const std::size_t payload_bytes = bytes.size() - kHeaderBytes;
  if (payload_bytes % kBlockBytes != 0 || payload_bytes / kBlockBytes != block_count) {
    // Offset of the first byte that is missing or should not be there.
    const std::size_t expected_total =
        kHeaderBytes + static_cast<std::size_t>(block_count) * kBlockBytes;
    format_error(std::min(bytes.size(), expected_total),
                 "size: the header's " + std::to_string(block_count) + " blocks need " +
                     std::to_string(expected_total) + " bytes in all, input has " +
                     std::to_string(bytes.size()));
  }
  const std::uint64_t stored_checksum = get_u64(bytes.data() + kChecksumOffset);
  const std::uint64_t actual_checksum =
      checksum_of(bytes.first(kChecksumOffset), bytes.subspan(kHeaderBytes));
  if (stored_checksum != actual_checksum) {
    format_error(kChecksumOffset, "checksum: header says " + hex(stored_checksum) +
                                      ", header and payload hash to " + hex(actual_checksum) +
                                      " (corrupt data)");
  }
  BlockedBloomFilter filter(Unchecked{}, static_cast<std::size_t>(block_count),
                            static_cast<int>(probes), get_u64(bytes.data() + kInsertedOffset));
  const std::byte* payload = bytes.data() + kHeaderBytes;
  for (Block& block : filter.blocks_) {
    for (std::uint64_t& word : block.words) {
      word = get_u64(payload);
      payload += 8;
    }
  }
  return filter;
}

}  // namespace tb::ds
