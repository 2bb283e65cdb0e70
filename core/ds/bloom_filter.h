// Blocked Bloom filter: approximate set membership of 64-bit hashes with one cache miss per query.
//
// Used by the data pipeline's streaming dedup: each sample's content_hash()
// (core/ds/content_hash.h) goes through insert_if_absent(), and samples it reports as already seen
// are skipped. A false positive drops a sample that was new (rate: expected_false_positive_rate());
// a false negative never happens, so a repeated sample is always caught.
//
// Layout (Putze, Sanders, Singler, "Cache-, Hash- and Space-Efficient Bloom Filters", 2007): the
// bit array is split into 512-bit blocks, one 64-byte cache line each, 64-byte aligned (large
// arrays on transparent huge pages where the OS offers them). A key sets and tests its k bits
// inside a single block, so a query touches one cache line instead of k. The
// price is a slightly higher false-positive rate than a classic filter with the same bits, because
// keys do not spread evenly over blocks; blocked_fpr_formula() gives that rate exactly (for
// independent uniform bit positions), classic_fpr_formula() the classic one for comparison.
//
// Hash contract: the filter does not hash again. The block comes from the high 32 bits of the key
// (multiply-shift onto the block count), the k bit positions from the low 32 bits (one
// multiply-shift per probe with a fixed odd salt each). Both halves must therefore be well mixed:
// pass content_hash() or another full-avalanche 64-bit hash, never raw ids or counters.
//
// Thread safety: const member functions may run concurrently; anything that modifies the filter
// needs exclusive access. Nothing here hands out pointers or iterators, so nothing is invalidated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace tb::ds {

namespace bloom_detail {
// Fixed probe multipliers drawn from splitmix64 with a fixed seed: odd, so each probe's
// multiply-shift is a bijection on the 32 low hash bits, and unrelated to one another, so the k
// positions of a key behave almost as independent (measured false-positive rates stay within a
// few percent of the formula for independent positions; 1-4% above it at k >= 8).
constexpr std::array<std::uint32_t, 16> make_salts() {
  std::array<std::uint32_t, 16> salts{};
  std::uint64_t state = 0x7462626c6f6f6d31;  // "tbbloom1"
  for (auto& salt : salts) {
    state += 0x9e3779b97f4a7c15;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    z ^= z >> 31;
    salt = static_cast<std::uint32_t>(z >> 32) | 1u;
  }
  return salts;
}

inline constexpr std::array<std::uint32_t, 16> kSalts = make_salts();

// Bit i of a key's block is (low32 * kSalts[i]) >> 23: the top 9 bits of a multiply-shift.
// Part of the serialized format: changing the salts or this rule requires a new format version.
inline std::uint32_t bit_of(std::uint32_t low, int probe) noexcept {
  return (low * kSalts[static_cast<std::size_t>(probe)]) >> (32 - 9);
}

// True if all kProbes bits of `low` are set in the 512-bit block at `words` (8 words, bit b is
// bit b % 64 of words[b / 64]). One AND per probe accumulated in bit 0 and no early exit: no
// data-dependent branch, so consecutive queries overlap their cache misses. A compile-time k lets
// the loop unroll with the salts as immediates: fewer instructions per query, more queries in
// flight.
template <int kProbes>
inline bool block_has_all_fixed(const std::uint64_t* words, std::uint32_t low) noexcept {
  std::uint64_t all = 1;
#pragma GCC unroll 16
  for (int i = 0; i < kProbes; ++i) {
    const std::uint32_t bit = bit_of(low, i);
    all &= words[bit >> 6] >> (bit & 63);
  }
  return (all & 1) != 0;
}

template <std::size_t... kIndex>
inline bool block_has_all_dispatch(const std::uint64_t* words, std::uint32_t low, int probes,
                                   std::index_sequence<kIndex...>) noexcept {
  bool result = false;
  (void)((probes == static_cast<int>(kIndex) + 1 &&
          (result = block_has_all_fixed<static_cast<int>(kIndex) + 1>(words, low), true)) ||
         ...);
  return result;
}

// Portable query for 1 <= probes <= 16 (see block_has_all_fixed).
inline bool block_has_all_portable(const std::uint64_t* words, std::uint32_t low,
                                   int probes) noexcept {
  return block_has_all_dispatch(words, low, probes, std::make_index_sequence<16>{});
}

#if defined(__AVX2__)
// Same answer as block_has_all_portable for a 64-byte aligned block, eight probes per vector:
// the block sits in two registers, each probe's 32-bit word is picked by a lane permute (no
// gather, no per-probe load), and a few vector instructions replace k scalar load-shift-AND
// sequences. Fewer instructions per query let the out-of-order window hold more queries' cache
// misses at once: measured about 2.5x the portable loop's single queries/s on a 12.5 MB filter
// (AMD Zen 3). Relies on little-endian order: bit b is bit b % 32 of the (b / 32)th 32-bit word.
inline bool block_has_all_avx2(const std::uint64_t* words, std::uint32_t low, int probes) noexcept {
  const __m256i low_lanes = _mm256_set1_epi32(static_cast<int>(low));
  const __m256i lower_half = _mm256_load_si256(reinterpret_cast<const __m256i*>(words));
  const __m256i upper_half = _mm256_load_si256(reinterpret_cast<const __m256i*>(words + 4));
  const __m256i probe_count = _mm256_set1_epi32(probes);
  auto missing_bits = [&](const std::uint32_t* salts, int first_probe) {
    const __m256i salt = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(salts));
    const __m256i bit = _mm256_srli_epi32(_mm256_mullo_epi32(low_lanes, salt), 23);
    const __m256i word_index = _mm256_srli_epi32(bit, 5);  // 0..15; permute uses its low 3 bits
    const __m256i from_lower = _mm256_permutevar8x32_epi32(lower_half, word_index);
    const __m256i from_upper = _mm256_permutevar8x32_epi32(upper_half, word_index);
    const __m256i in_upper = _mm256_slli_epi32(word_index, 28);  // index bit 3 -> sign bit
    const __m256i word = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(from_lower),
                                                              _mm256_castsi256_ps(from_upper),
                                                              _mm256_castsi256_ps(in_upper)));
    const __m256i mask =
        _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_and_si256(bit, _mm256_set1_epi32(31)));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i active =
        _mm256_cmpgt_epi32(probe_count, _mm256_add_epi32(lane, _mm256_set1_epi32(first_probe)));
    return _mm256_and_si256(_mm256_andnot_si256(word, mask), active);
  };
  __m256i missing = missing_bits(kSalts.data(), 0);
  if (probes > 8) missing = _mm256_or_si256(missing, missing_bits(kSalts.data() + 8, 8));
  return _mm256_testz_si256(missing, missing) != 0;
}
#endif

// Memory for the block array: 64-byte aligned; arrays of 4 MiB or more are 2 MiB aligned and
// rounded up to whole 2 MiB pages, and on Linux advised to use transparent huge pages, because
// random queries over a large filter otherwise miss the TLB on most queries as well as the cache
// (measured: about 1.3x more queries/s at 12.5 MB). Throws std::bad_alloc on failure.
void* allocate_blocks(std::size_t bytes);
void free_blocks(void* memory) noexcept;

template <typename T>
struct BlockAllocator {
  using value_type = T;
  BlockAllocator() = default;
  template <typename U>
  BlockAllocator(const BlockAllocator<U>&) noexcept {}  // NOLINT: rebinding must be implicit
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_blocks(n * sizeof(T))); }
  void deallocate(T* memory, std::size_t) noexcept { free_blocks(memory); }
  template <typename U>
  bool operator==(const BlockAllocator<U>&) const noexcept {
    return true;
  }
};

// The variant this build uses for queries.
inline bool block_has_all(const std::uint64_t* words, std::uint32_t low, int probes) noexcept {
#if defined(__AVX2__)
  return block_has_all_avx2(words, low, probes);
#else
  return block_has_all_portable(words, low, probes);
#endif
}
}  // namespace bloom_detail

class BlockedBloomFilter {
 public:
  static constexpr std::size_t kBlockBits = 512;
  static constexpr std::size_t kBlockBytes = kBlockBits / 8;
  // More probes than this buys nothing in a 512-bit block at any sensible bits/key (the optimum at
  // 24 bits/key is about 16), and a bound keeps a corrupt header from asking for millions.
  static constexpr int kMaxProbes = 16;
  // The block index is a multiply-shift of 32 hash bits, so at most 2^32 blocks (256 GiB).
  static constexpr std::uint64_t kMaxBlocks = std::uint64_t{1} << 32;
  static constexpr double kMaxBitsPerKey = 512.0;

  // A filter sized for `expected_keys` keys at `bits_per_key` bits each (rounded up to whole
  // blocks, at least one), empty, with `probes` bits set per key.
  // Throws tb::Error naming the argument if bits_per_key is not finite or not in (0, 512], if
  // probes is not in [1, kMaxProbes], or if the filter would need more than kMaxBlocks blocks.
  // O(size) to zero the memory.
  BlockedBloomFilter(std::size_t expected_keys, double bits_per_key, int probes);
  // As above with probes = optimal_probes(bits_per_key).
  BlockedBloomFilter(std::size_t expected_keys, double bits_per_key);

  // The k that minimises blocked_fpr_formula() for a filter loaded to exactly bits_per_key bits
  // per key (about ln 2 * bits_per_key, a little lower for a blocked filter), clamped to
  // [1, kMaxProbes]. Throws tb::Error like the constructor for a bad bits_per_key.
  static int optimal_probes(double bits_per_key);

  // Adds a key. O(k), one cache line touched.
  void insert(std::uint64_t hash) noexcept { (void)insert_if_absent(hash); }
  // Adds a key and returns true if it was (probably) new, i.e. maybe_contains(hash) was false
  // before the call; false means it was already present or is a false positive. O(k).
  [[nodiscard]] bool insert_if_absent(std::uint64_t hash) noexcept;
  // False: the key was certainly never inserted. True: it was, or it is a false positive. O(k),
  // branch-free over the k probes, one cache line touched.
  [[nodiscard]] bool maybe_contains(std::uint64_t hash) const noexcept;
  // maybe_contains() for every hash, results[i] for hashes[i]; returns how many were true. Faster
  // than a loop of single queries on a filter larger than the cache: it prefetches the blocks of
  // queries a few positions ahead so their cache misses overlap. Throws tb::Error if the spans'
  // sizes differ.
  std::size_t maybe_contains_batch(std::span<const std::uint64_t> hashes,
                                   std::span<bool> results) const;

  // Number of inserts that set at least one new bit, i.e. keys that were new to the filter (an
  // estimate of distinct keys: slightly low by the false positives met while filling). merge()
  // adds the other filter's count. O(1).
  std::uint64_t inserted() const noexcept { return inserted_; }
  int probes() const noexcept { return probes_; }
  std::size_t block_count() const noexcept { return blocks_.size(); }
  std::size_t bit_count() const noexcept { return blocks_.size() * kBlockBits; }
  // Size of the bit array: block_count() * 64. The allocation rounds arrays of 4 MiB or more up
  // to whole 2 MiB pages (at most 2 MiB more); the object itself adds a few dozen bytes. O(1).
  std::size_t bytes() const noexcept { return blocks_.size() * kBlockBytes; }
  // Number of set bits. O(size).
  std::size_t popcount() const noexcept;

  // blocked_fpr_formula(inserted(), block_count(), probes()).
  double expected_false_positive_rate() const;
  // classic_fpr_formula(inserted(), bit_count(), probes()): what an unblocked filter of the same
  // size would give.
  double classic_false_positive_rate() const;

  // Putze et al.'s rate for a blocked filter: the number of keys in a block is Poisson with mean
  // keys / blocks, and a block holding i keys answers a fresh query falsely with the classic
  // one-block probability (1 - (1 - 1/512)^(k i))^k. Sums that over i. O(sqrt(keys / blocks)).
  // Both formulas throw tb::Error for negative or non-finite keys, no blocks or bits, or probes
  // outside [1, kMaxProbes].
  static double blocked_fpr_formula(double keys, std::size_t blocks, int probes);
  // The classic unblocked rate (1 - e^(-k keys / bits))^k. O(1).
  static double classic_fpr_formula(double keys, double bits, int probes);

  // Bitwise OR of `other` into this filter: afterwards it answers true for every key inserted in
  // either. Throws tb::Error naming both values if the block counts or probe counts differ (the
  // filters hash keys to different places; merging them would create false negatives). O(size).
  void merge(const BlockedBloomFilter& other);
  // Empties the filter, keeping its geometry. O(size).
  void clear() noexcept;

  // Serialized form, all integers little-endian:
  //   offset  0  8 bytes  magic "TBBLOOM\0"
  //   offset  8  u32      format version (1)
  //   offset 12  u32      probes k
  //   offset 16  u64      block count
  //   offset 24  u64      inserted()
  //   offset 32  u64      checksum: content_hash(payload, seed = content_hash(bytes [0, 32)))
  //   offset 40           payload: block count * 8 u64 words
  // The checksum covers the header too, so a flipped bit anywhere is caught. O(size).
  static constexpr std::size_t kHeaderBytes = 40;
  static constexpr std::uint32_t kFormatVersion = 1;
  std::vector<std::byte> serialize() const;
  // Rebuilds a filter from serialize()'s output. Throws tb::FormatError naming the byte offset,
  // the field and what was expected there for truncated input, wrong magic, another version, a
  // probe or block count out of range, a size that does not match the block count, or a checksum
  // mismatch. O(size).
  static BlockedBloomFilter deserialize(std::span<const std::byte> bytes);

  // Same geometry, same bits and same inserted(). O(size).
  bool operator==(const BlockedBloomFilter&) const = default;

 private:
  struct alignas(kBlockBytes) Block {
    std::uint64_t words[kBlockBits / 64];
    bool operator==(const Block&) const = default;
  };
  static_assert(sizeof(Block) == kBlockBytes && alignof(Block) == kBlockBytes);
  static_assert(kMaxProbes == bloom_detail::kSalts.size());

  // Geometry taken as is (already validated); the tag keeps it out of the public overload set.
  struct Unchecked {};
  BlockedBloomFilter(Unchecked, std::size_t block_count, int probes, std::uint64_t inserted);

  std::size_t block_of(std::uint64_t hash) const noexcept {
    // Multiply-shift maps the high 32 bits onto [0, block_count) without a division.
    return static_cast<std::size_t>(((hash >> 32) * blocks_.size()) >> 32);
  }

  std::vector<Block, bloom_detail::BlockAllocator<Block>> blocks_;
  int probes_ = 0;
  std::uint64_t inserted_ = 0;
};

inline bool BlockedBloomFilter::maybe_contains(std::uint64_t hash) const noexcept {
  return bloom_detail::block_has_all(blocks_[block_of(hash)].words,
                                     static_cast<std::uint32_t>(hash), probes_);
}

inline bool BlockedBloomFilter::insert_if_absent(std::uint64_t hash) noexcept {
  Block& block = blocks_[block_of(hash)];
  const auto low = static_cast<std::uint32_t>(hash);
  std::uint64_t was_clear = 0;
  for (int i = 0; i < probes_; ++i) {
    const std::uint32_t bit = bloom_detail::bit_of(low, i);
    const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
    std::uint64_t& word = block.words[bit >> 6];
    was_clear |= ~word & mask;
    word |= mask;
  }
  const bool is_new = was_clear != 0;
  inserted_ += is_new ? 1 : 0;
  return is_new;
}

}  // namespace tb::ds
