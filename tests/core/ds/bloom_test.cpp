// BlockedBloomFilter and content_hash: property tests against exact references (std sets of the
// inserted keys), published XXH3 test vectors, and every kind of corrupt serialized input.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ds/bloom_filter.h"
#include "core/ds/content_hash.h"
#include "core/util/error.h"

namespace tb::ds {
namespace {

using Bytes = std::vector<std::byte>;

std::uint64_t read_le64(const Bytes& bytes, std::size_t offset) {
  std::uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[offset + i])} << (8 * i);
  }
  return value;
}

std::uint32_t read_le32(const Bytes& bytes, std::size_t offset) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= std::uint32_t{std::to_integer<std::uint8_t>(bytes[offset + i])} << (8 * i);
  }
  return value;
}

void write_le32(Bytes& bytes, std::size_t offset, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[offset + i] = static_cast<std::byte>(value >> (8 * i));
}

void write_le64(Bytes& bytes, std::size_t offset, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[offset + i] = static_cast<std::byte>(value >> (8 * i));
}

// Expects deserialize() to throw FormatError whose message contains `needle`.
void expect_format_error(const Bytes& bytes, const std::string& needle) {
  try {
    (void)BlockedBloomFilter::deserialize(bytes);
    ADD_FAILURE() << "accepted corrupt input (expected an error mentioning '" << needle << "')";
  } catch (const FormatError& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos)
        << "message '" << error.what() << "' does not mention '" << needle << "'";
  }
}

// ---------------------------------------------------------------------------------------------
// content_hash

// xxHash's own sanity buffer (cli/xsum_sanity_check.c): byte i is the top byte of
// PRIME32 * PRIME64^i. The expected values are xxHash's published XXH3_64bits test vectors.
Bytes xxhash_sanity_buffer(std::size_t length) {
  constexpr std::uint64_t kPrime32 = 2654435761u;
  constexpr std::uint64_t kPrime64 = 11400714785074694797ull;
  Bytes buffer(length);
  std::uint64_t generator = kPrime32;
  for (auto& byte : buffer) {
    byte = static_cast<std::byte>(generator >> 56);
    generator *= kPrime64;
  }
  return buffer;
}

TEST(ContentHash, MatchesPublishedXxh3TestVectors) {
  constexpr std::uint64_t kPrime64 = 11400714785074694797ull;
  struct Vector {
    std::size_t length;
    std::uint64_t seed;
    std::uint64_t expected;
  };
  // One length per XXH3 code path: empty, 1-3, 4-8, 9-16, 17-128, 129-240, and the long loop
  // (one block, block boundary, overlapping last stripe).
  const Vector vectors[] = {
      {0, 0, 0x2D06800538D394C2ull},           {0, kPrime64, 0xA8A6B918B2F0364Aull},
      {1, 0, 0xC44BDFF4074EECDBull},           {1, kPrime64, 0x032BE332DD766EF8ull},
      {6, 0, 0x27B56A84CD2D7325ull},           {6, kPrime64, 0x84589C116AB59AB9ull},
      {12, 0, 0xA713DAF0DFBB77E7ull},          {12, kPrime64, 0xE7303E1B2336DE0Eull},
      {24, 0, 0xA3FE70BF9D3510EBull},          {24, kPrime64, 0x850E80FC35BDD690ull},
      {48, 0, 0x397DA259ECBA1F11ull},          {48, kPrime64, 0xADC2CBAA44ACC616ull},
      {80, 0, 0xBCDEFBBB2C47C90Aull},          {80, kPrime64, 0xC6DD0CB699532E73ull},
      {195, 0, 0xCD94217EE362EC3Aull},         {195, kPrime64, 0xBA68003D370CB3D9ull},
      {403, 0, 0xCDEB804D65C6DEA4ull},         {403, kPrime64, 0x6259F6ECFD6443FDull},
      {512, 0, 0x617E49599013CB6Bull},         {512, kPrime64, 0x3CE457DE14C27708ull},
      {2048, 0, 0xDD59E2C3A5F038E0ull},        {2048, kPrime64, 0x66F81670669ABABCull},
      {2240, 0, 0x6E73A90539CF2948ull},        {2367, 0, 0xCB37AEB9E5D361EDull},
      {2367, kPrime64, 0xD2DB3415B942B42Aull},
  };
  const Bytes buffer = xxhash_sanity_buffer(4096);
  for (const Vector& v : vectors) {
    EXPECT_EQ(content_hash(std::span(buffer).first(v.length), v.seed), v.expected)
        << "length " << v.length << ", seed " << v.seed;
  }
  EXPECT_EQ(content_hash(std::span<const std::byte>{}), 0x2D06800538D394C2ull);
  // Seed 0 is the default.
  EXPECT_EQ(content_hash(std::span(buffer).first(80)), 0xBCDEFBBB2C47C90Aull);
}

TEST(ContentHash, EqualContentEqualHashDifferentContentDifferentHash) {
  std::mt19937_64 rng(11);
  std::unordered_map<std::uint64_t, Bytes> seen;  // hash -> the content that produced it
  std::size_t distinct = 0;
  for (int sample = 0; sample < 20000; ++sample) {
    // Lengths across all XXH3 paths, short ones often so that equal contents recur.
    const std::size_t length = (sample % 4 == 0) ? rng() % 3 : rng() % 700;
    Bytes content(length);
    for (auto& byte : content) byte = static_cast<std::byte>(rng() % ((sample % 3 == 0) ? 2 : 256));
    // The same content at another address (and alignment) must hash the same.
    Bytes shifted(length + 1);
    std::copy(content.begin(), content.end(), shifted.begin() + 1);
    const std::uint64_t hash = content_hash(content);
    ASSERT_EQ(hash, content_hash(std::span(shifted).subspan(1)));

    const auto [it, added] = seen.emplace(hash, content);
    if (added) {
      ++distinct;
    } else {
      ASSERT_EQ(it->second, content) << "64-bit collision between different contents";
    }
    if (length > 0) {
      Bytes flipped = content;
      const std::size_t bit = rng() % (length * 8);
      flipped[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
      ASSERT_NE(content_hash(flipped), hash) << "one flipped bit did not change the hash";
    }
  }
  // The generator repeats short contents, so both branches above were exercised.
  EXPECT_LT(distinct, 20000u);
  EXPECT_GT(distinct, 10000u);
}

TEST(ContentHash, FloatOverloadHashesLittleEndianBitPatterns) {
  const std::vector<float> values = {0.0f, 1.0f, -2.5f, 3.14159f,
                                     std::numeric_limits<float>::infinity()};
  Bytes little_endian;
  for (float value : values) {
    const auto bits = std::bit_cast<std::uint32_t>(value);
    for (int i = 0; i < 4; ++i) little_endian.push_back(static_cast<std::byte>(bits >> (8 * i)));
  }
  EXPECT_EQ(content_hash(std::span<const float>(values)), content_hash(little_endian));
  EXPECT_EQ(content_hash(std::span<const float>(values), 99), content_hash(little_endian, 99));
  const float positive_zero = 0.0f;
  const float negative_zero = -0.0f;
  EXPECT_NE(content_hash(std::span(&positive_zero, 1)), content_hash(std::span(&negative_zero, 1)));
  EXPECT_EQ(content_hash(std::span<const float>{}), 0x2D06800538D394C2ull);
}

// ---------------------------------------------------------------------------------------------
// BlockedBloomFilter: membership

TEST(BloomFilter, NoFalseNegativesAgainstReferenceSet) {
  struct Setting {
    std::size_t expected_keys;
    double bits_per_key;
    int probes;  // 0: default
  };
  // Normal load, an overfull filter (10x the keys it was sized for), sparse, a single block, and
  // a 5 MB filter (large enough for the huge-page allocation path).
  const Setting settings[] = {{100000, 10.0, 0},  {10000, 10.0, 0}, {50000, 4.0, 1},
                              {100000, 20.0, 16}, {1, 1.0, 3},      {4000000, 10.0, 0}};
  std::mt19937_64 rng(1);
  for (const Setting& s : settings) {
    SCOPED_TRACE("keys " + std::to_string(s.expected_keys) + " bits/key " +
                 std::to_string(s.bits_per_key) + " k " + std::to_string(s.probes));
    BlockedBloomFilter filter = s.probes == 0
                                    ? BlockedBloomFilter(s.expected_keys, s.bits_per_key)
                                    : BlockedBloomFilter(s.expected_keys, s.bits_per_key, s.probes);
    std::vector<std::uint64_t> keys;
    std::uint64_t reported_new = 0;
    std::size_t previous_popcount = 0;
    for (std::size_t step = 0; step < 100000; ++step) {
      const std::uint64_t key = rng();
      keys.push_back(key);
      reported_new += filter.insert_if_absent(key) ? 1 : 0;
      ASSERT_TRUE(filter.maybe_contains(key));
      // Re-inserting a key that is in is never reported as new.
      ASSERT_FALSE(filter.insert_if_absent(keys[rng() % keys.size()]));
      if (step % 1000 == 999) {
        ASSERT_EQ(filter.inserted(), reported_new);
        const std::size_t popcount = filter.popcount();
        ASSERT_GE(popcount, previous_popcount);  // bits are only ever set
        ASSERT_LE(popcount, reported_new * static_cast<std::uint64_t>(filter.probes()));
        previous_popcount = popcount;
        for (int probe = 0; probe < 200; ++probe) {
          ASSERT_TRUE(filter.maybe_contains(keys[rng() % keys.size()]));
        }
      }
    }
    for (std::uint64_t key : keys) ASSERT_TRUE(filter.maybe_contains(key));

    const BlockedBloomFilter restored = BlockedBloomFilter::deserialize(filter.serialize());
    EXPECT_TRUE(restored == filter);
    EXPECT_EQ(restored.inserted(), filter.inserted());
    for (std::uint64_t key : keys) ASSERT_TRUE(restored.maybe_contains(key));
    for (int probe = 0; probe < 10000; ++probe) {
      const std::uint64_t fresh = rng();
      ASSERT_EQ(restored.maybe_contains(fresh), filter.maybe_contains(fresh));
    }
  }
}

TEST(BloomFilter, RandomOperationSequenceAgainstReference) {
  std::mt19937_64 rng(7);
  BlockedBloomFilter filter(20000, 8.0);
  std::unordered_set<std::uint64_t> reference;
  std::vector<std::uint64_t> inserted_keys;
  std::uint64_t new_reports = 0;
  std::uint64_t fresh_queries = 0;
  std::uint64_t false_positives = 0;
  for (int step = 0; step < 100000; ++step) {
    const int op = static_cast<int>(rng() % 4);
    if (op == 0 || inserted_keys.empty()) {
      const std::uint64_t key = rng();
      if (filter.insert_if_absent(key)) ++new_reports;
      if (reference.insert(key).second) inserted_keys.push_back(key);
    } else if (op == 1) {
      const std::uint64_t key = inserted_keys[rng() % inserted_keys.size()];
      ASSERT_FALSE(filter.insert_if_absent(key));
      filter.insert(key);
    } else if (op == 2) {
      ASSERT_TRUE(filter.maybe_contains(inserted_keys[rng() % inserted_keys.size()]));
    } else {
      const std::uint64_t key = rng();
      if (reference.count(key) == 0) {
        ++fresh_queries;
        false_positives += filter.maybe_contains(key) ? 1 : 0;
      }
    }
    if (step % 5000 == 0) {
      ASSERT_EQ(filter.inserted(), new_reports);
      ASSERT_LE(filter.inserted(), reference.size());
      for (std::uint64_t key : inserted_keys) ASSERT_TRUE(filter.maybe_contains(key));
    }
  }
  // A filter that answered true to everything would pass the checks above; this one must not.
  EXPECT_LT(static_cast<double>(false_positives), 0.1 * static_cast<double>(fresh_queries));
  filter.clear();
  EXPECT_EQ(filter.inserted(), 0u);
  EXPECT_EQ(filter.popcount(), 0u);
  EXPECT_FALSE(filter.maybe_contains(inserted_keys.front()));
}

TEST(BloomFilter, BatchQueryMatchesSingleQueries) {
  std::mt19937_64 rng(3);
  BlockedBloomFilter filter(5000, 6.0);
  std::vector<std::uint64_t> keys(5000);
  for (auto& key : keys) {
    key = rng();
    filter.insert(key);
  }
  for (std::size_t size : {0, 1, 15, 16, 17, 33, 4000}) {
    std::vector<std::uint64_t> queries(size);
    for (auto& q : queries) q = (rng() % 2 == 0) ? keys[rng() % keys.size()] : rng();
    std::unique_ptr<bool[]> results(new bool[size + 1]);
    const std::size_t positives =
        filter.maybe_contains_batch(queries, std::span<bool>(results.get(), size));
    std::size_t expected_positives = 0;
    for (std::size_t i = 0; i < size; ++i) {
      ASSERT_EQ(results[i], filter.maybe_contains(queries[i])) << "query " << i << " of " << size;
      expected_positives += results[i] ? 1 : 0;
    }
    EXPECT_EQ(positives, expected_positives);
  }
  std::vector<std::uint64_t> two(2);
  bool one[1];
  EXPECT_THROW(filter.maybe_contains_batch(two, std::span<bool>(one, 1)), Error);
}

// The documented bit rule, written out plainly: bit b of the block is bit b % 64 of word b / 64,
// and probe i of a key tests bit (low32 * salt_i) >> 23.
bool reference_block_has_all(const std::uint64_t* words, std::uint32_t low, int probes) {
  for (int i = 0; i < probes; ++i) {
    const std::uint32_t bit = (low * bloom_detail::kSalts[static_cast<std::size_t>(i)]) >> 23;
    if (((words[bit / 64] >> (bit % 64)) & 1) == 0) return false;
  }
  return true;
}

TEST(BloomFilter, QueryVariantsAgreeWithTheBitRule) {
  // Random blocks of every density, every k: the portable query and (where built) the AVX2 query
  // must answer exactly as the plain rule, which insert_if_absent follows.
  std::mt19937_64 rng(17);
  int true_answers = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    alignas(64) std::uint64_t words[8];
    const int density = trial % 5;  // AND of several random words: from full to sparse
    for (auto& word : words) {
      word = ~std::uint64_t{0};
      for (int d = 0; d < density; ++d) word &= rng();
    }
    const auto low = static_cast<std::uint32_t>(rng());
    for (int k = 1; k <= BlockedBloomFilter::kMaxProbes; ++k) {
      const bool expected = reference_block_has_all(words, low, k);
      true_answers += expected ? 1 : 0;
      ASSERT_EQ(bloom_detail::block_has_all_portable(words, low, k), expected)
          << "trial " << trial << " k " << k;
#if defined(__AVX2__)
      ASSERT_EQ(bloom_detail::block_has_all_avx2(words, low, k), expected)
          << "trial " << trial << " k " << k;
#endif
    }
    // A block holding exactly a key's bits answers true; without its last bit, false.
    alignas(64) std::uint64_t exact[8] = {};
    const int k = 1 + trial % BlockedBloomFilter::kMaxProbes;
    BlockedBloomFilter one_block(1, 1.0, k);
    const std::uint64_t key = std::uint64_t{rng() % 7} << 32 | low;  // any high bits: one block
    one_block.insert(key);
    for (int i = 0; i < k; ++i) {
      const std::uint32_t bit = (low * bloom_detail::kSalts[static_cast<std::size_t>(i)]) >> 23;
      exact[bit / 64] |= std::uint64_t{1} << (bit % 64);
    }
    ASSERT_EQ(one_block.popcount(),
              static_cast<std::size_t>(std::popcount(exact[0]) + std::popcount(exact[1]) +
                                       std::popcount(exact[2]) + std::popcount(exact[3]) +
                                       std::popcount(exact[4]) + std::popcount(exact[5]) +
                                       std::popcount(exact[6]) + std::popcount(exact[7])));
    ASSERT_TRUE(one_block.maybe_contains(key));
    ASSERT_TRUE(bloom_detail::block_has_all_portable(exact, low, k));
    const std::uint32_t last = (low * bloom_detail::kSalts[static_cast<std::size_t>(k - 1)]) >> 23;
    exact[last / 64] &= ~(std::uint64_t{1} << (last % 64));
    ASSERT_EQ(bloom_detail::block_has_all_portable(exact, low, k),
              reference_block_has_all(exact, low, k));
#if defined(__AVX2__)
    ASSERT_EQ(bloom_detail::block_has_all_avx2(exact, low, k),
              reference_block_has_all(exact, low, k));
#endif
  }
  // Both answers occurred often, so neither "always true" nor "always false" would pass.
  EXPECT_GT(true_answers, 20000);
  EXPECT_LT(true_answers, 20000 * 16 - 20000);
}

// ---------------------------------------------------------------------------------------------
// False-positive rate against the formulas

double measured_fpr(const BlockedBloomFilter& filter, std::mt19937_64& rng,
                    const std::unordered_set<std::uint64_t>& inserted, int queries) {
  int hits = 0;
  int asked = 0;
  while (asked < queries) {
    const std::uint64_t key = rng();
    if (inserted.count(key) != 0) continue;
    ++asked;
    hits += filter.maybe_contains(key) ? 1 : 0;
  }
  return static_cast<double>(hits) / queries;
}

TEST(BloomFilter, MeasuredFalsePositiveRateMatchesBlockedFormula) {
  struct Setting {
    double bits_per_key;
    int probes;  // 0: default
  };
  const Setting settings[] = {{10.0, 0}, {10.0, 3}, {6.0, 4}, {16.0, 11}, {12.5, 8}};
  std::mt19937_64 rng(5);
  constexpr std::size_t kKeys = 100000;
  constexpr int kQueries = 1000000;
  for (const Setting& s : settings) {
    BlockedBloomFilter filter = s.probes == 0 ? BlockedBloomFilter(kKeys, s.bits_per_key)
                                              : BlockedBloomFilter(kKeys, s.bits_per_key, s.probes);
    std::unordered_set<std::uint64_t> inserted;
    while (inserted.size() < kKeys) {
      const std::uint64_t key = rng();
      if (inserted.insert(key).second) filter.insert(key);
    }
    const double measured = measured_fpr(filter, rng, inserted, kQueries);
    const double blocked = BlockedBloomFilter::blocked_fpr_formula(
        static_cast<double>(kKeys), filter.block_count(), filter.probes());
    const double classic = BlockedBloomFilter::classic_fpr_formula(
        static_cast<double>(kKeys), static_cast<double>(filter.bit_count()), filter.probes());
    std::printf(
        "  bits/key %5.2f k %2d: measured FPR %.5f, blocked formula %.5f (ratio %.3f), "
        "classic formula %.5f\n",
        s.bits_per_key, filter.probes(), measured, blocked, measured / blocked, classic);
    EXPECT_GT(measured, blocked / 1.2) << "bits/key " << s.bits_per_key << " k " << filter.probes();
    EXPECT_LT(measured, blocked * 1.2) << "bits/key " << s.bits_per_key << " k " << filter.probes();
    // Uneven block loads cost accuracy: the blocked rate is above the classic one.
    EXPECT_GT(blocked, classic);
    // The member functions use inserted(), which is the key count less the few keys that were
    // false positives while filling.
    EXPECT_NEAR(filter.expected_false_positive_rate(), blocked, 0.05 * blocked);
    EXPECT_NEAR(filter.classic_false_positive_rate(), classic, 0.05 * classic);
  }
}

TEST(BloomFilter, FormulasAgreeWithClosedForms) {
  // Classic formula by hand: k = 7 at 10 bits/key.
  EXPECT_NEAR(BlockedBloomFilter::classic_fpr_formula(1000, 10000, 7),
              std::pow(1.0 - std::exp(-0.7), 7), 1e-15);
  // With k = 1 the Poisson sum has a closed form: E[1 - (1 - 1/512)^X] for X ~ Poisson(lambda)
  // is 1 - exp(-lambda / 512), which is also the classic rate.
  for (double lambda : {0.5, 10.0, 51.2, 300.0}) {
    const double blocked = BlockedBloomFilter::blocked_fpr_formula(lambda * 100, 100, 1);
    EXPECT_NEAR(blocked, -std::expm1(-lambda / 512.0), 1e-12) << "lambda " << lambda;
    EXPECT_NEAR(blocked, BlockedBloomFilter::classic_fpr_formula(lambda * 100, 51200, 1), 1e-12);
  }
  EXPECT_EQ(BlockedBloomFilter::blocked_fpr_formula(0, 10, 7), 0.0);
  EXPECT_THROW((void)BlockedBloomFilter::blocked_fpr_formula(10, 0, 7), Error);
  EXPECT_THROW((void)BlockedBloomFilter::blocked_fpr_formula(-1, 10, 7), Error);
  EXPECT_THROW((void)BlockedBloomFilter::classic_fpr_formula(10, 0, 7), Error);
}

// ---------------------------------------------------------------------------------------------
// Settings

TEST(BloomFilter, ProbeAndBitsPerKeySettingsAreRespected) {
  for (int k = 1; k <= BlockedBloomFilter::kMaxProbes; ++k) {
    BlockedBloomFilter filter(1000, 10.0, k);
    EXPECT_EQ(filter.probes(), k);
    // One key sets at most k bits, all in one block; averaged over many keys, almost exactly k.
    std::mt19937_64 rng(static_cast<std::uint64_t>(k));
    std::size_t total_bits = 0;
    constexpr int kTrials = 400;
    for (int trial = 0; trial < kTrials; ++trial) {
      BlockedBloomFilter single(1000, 10.0, k);
      single.insert(rng());
      const Bytes bytes = single.serialize();
      int blocks_touched = 0;
      for (std::size_t b = 0; b < single.block_count(); ++b) {
        bool touched = false;
        for (std::size_t i = 0; i < 64; ++i) {
          touched |= bytes[BlockedBloomFilter::kHeaderBytes + b * 64 + i] != std::byte{0};
        }
        blocks_touched += touched ? 1 : 0;
      }
      ASSERT_EQ(blocks_touched, 1);
      ASSERT_GE(single.popcount(), 1u);
      ASSERT_LE(single.popcount(), static_cast<std::size_t>(k));
      total_bits += single.popcount();
    }
    EXPECT_GT(static_cast<double>(total_bits) / kTrials, k - 0.1 * k) << "k " << k;
  }
  // Bits per key: whole blocks, rounded up.
  for (double bits_per_key : {1.0, 7.3, 10.0, 12.5, 64.0, 512.0}) {
    for (std::size_t keys : {1, 51, 1000, 123457}) {
      BlockedBloomFilter filter(keys, bits_per_key);
      const double wanted_bits = static_cast<double>(keys) * bits_per_key;
      EXPECT_EQ(filter.block_count(),
                std::max<std::size_t>(1, static_cast<std::size_t>(std::ceil(wanted_bits / 512))));
      EXPECT_EQ(filter.bit_count(), filter.block_count() * 512);
      EXPECT_EQ(filter.bytes(), filter.block_count() * 64);
      EXPECT_EQ(filter.probes(), BlockedBloomFilter::optimal_probes(bits_per_key));
    }
  }
  EXPECT_EQ(BlockedBloomFilter(0, 10.0).block_count(), 1u);
}

TEST(BloomFilter, DefaultProbesMinimiseTheBlockedFormula) {
  for (double bits_per_key : {2.0, 5.0, 8.0, 10.0, 16.0, 24.0}) {
    const int best = BlockedBloomFilter::optimal_probes(bits_per_key);
    const double keys_per_block = 512.0 / bits_per_key;
    const double at_best = BlockedBloomFilter::blocked_fpr_formula(keys_per_block, 1, best);
    for (int k = 1; k <= BlockedBloomFilter::kMaxProbes; ++k) {
      EXPECT_LE(at_best, BlockedBloomFilter::blocked_fpr_formula(keys_per_block, 1, k))
          << "bits/key " << bits_per_key << ": k " << k << " beats the default " << best;
    }
    // Near the classic optimum ln 2 * bits/key, at most somewhat below it
    EXPECT_LE(best, static_cast<int>(std::ceil(std::log(2.0) * bits_per_key)));
    // (uneven block loads favour fewer probes: 13 rather than 16 at 24 bits/key).
    EXPECT_GE(best, std::max(1, static_cast<int>(0.7 * std::log(2.0) * bits_per_key)));
  }
  const int at_ten = BlockedBloomFilter::optimal_probes(10.0);
  EXPECT_TRUE(at_ten == 6 || at_ten == 7) << at_ten;
}

TEST(BloomFilter, RejectsBadConstructionArguments) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  for (double bits : {0.0, -1.0, nan, inf, 512.5, 1e9}) {
    try {
      BlockedBloomFilter filter(1000, bits);
      ADD_FAILURE() << "accepted bits_per_key " << bits;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("bits_per_key"), std::string::npos) << error.what();
    }
    EXPECT_THROW(BlockedBloomFilter(1000, bits, 7), Error);
    EXPECT_THROW((void)BlockedBloomFilter::optimal_probes(bits), Error);
  }
  for (int k : {0, -1, 17, 1000, std::numeric_limits<int>::max()}) {
    try {
      BlockedBloomFilter filter(1000, 10.0, k);
      ADD_FAILURE() << "accepted k " << k;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find("probes"), std::string::npos) << error.what();
    }
  }
  // 2^32 blocks is the limit of the block index.
  EXPECT_THROW(BlockedBloomFilter(std::numeric_limits<std::size_t>::max(), 1.0), Error);
  EXPECT_THROW(BlockedBloomFilter((std::size_t{1} << 32) + 1, 512.0), Error);
}

// ---------------------------------------------------------------------------------------------
// Merge

TEST(BloomFilter, MergeIsTheUnionOfBothKeySets) {
  std::mt19937_64 rng(9);
  BlockedBloomFilter a(20000, 10.0);
  BlockedBloomFilter b(20000, 10.0);
  std::vector<std::uint64_t> keys_a(10000);
  std::vector<std::uint64_t> keys_b(10000);
  for (auto& key : keys_a) a.insert(key = rng());
  for (auto& key : keys_b) b.insert(key = rng());
  const std::size_t popcount_a = a.popcount();
  const std::uint64_t inserted_a = a.inserted();
  BlockedBloomFilter merged = a;
  merged.merge(b);
  for (std::uint64_t key : keys_a) ASSERT_TRUE(merged.maybe_contains(key));
  for (std::uint64_t key : keys_b) ASSERT_TRUE(merged.maybe_contains(key));
  EXPECT_EQ(merged.inserted(), inserted_a + b.inserted());
  EXPECT_GT(merged.popcount(), popcount_a);
  EXPECT_LE(merged.popcount(), popcount_a + b.popcount());
  // Inserting b's keys directly gives the same bits: merge is exactly bitwise OR.
  BlockedBloomFilter direct = a;
  for (std::uint64_t key : keys_b) direct.insert(key);
  EXPECT_EQ(direct.popcount(), merged.popcount());
  BlockedBloomFilter self = a;
  self.merge(a);
  EXPECT_EQ(self.popcount(), popcount_a);

  BlockedBloomFilter other_size(40000, 10.0);
  BlockedBloomFilter other_k(20000, 10.0, 3);
  EXPECT_THROW(merged.merge(other_size), Error);
  try {
    merged.merge(other_k);
    ADD_FAILURE() << "merged filters with different k";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("k = 3"), std::string::npos) << error.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Serialization

BlockedBloomFilter small_filter() {
  BlockedBloomFilter filter(100, 10.0, 5);  // 2 blocks
  std::mt19937_64 rng(13);
  for (int i = 0; i < 100; ++i) filter.insert(rng());
  return filter;
}

TEST(BloomFilter, SerializedLayoutIsAsDocumented) {
  const BlockedBloomFilter filter = small_filter();
  const Bytes bytes = filter.serialize();
  ASSERT_EQ(bytes.size(), BlockedBloomFilter::kHeaderBytes + filter.bytes());
  const char magic[8] = {'T', 'B', 'B', 'L', 'O', 'O', 'M', '\0'};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(bytes[i], static_cast<std::byte>(magic[i]));
  EXPECT_EQ(read_le32(bytes, 8), 1u);
  EXPECT_EQ(read_le32(bytes, 12), 5u);
  EXPECT_EQ(read_le64(bytes, 16), filter.block_count());
  EXPECT_EQ(read_le64(bytes, 24), filter.inserted());
  const std::span<const std::byte> all(bytes);
  EXPECT_EQ(read_le64(bytes, 32), content_hash(all.subspan(40), content_hash(all.first(32))));
  std::size_t payload_popcount = 0;
  for (std::size_t i = 40; i < bytes.size(); ++i) {
    payload_popcount +=
        static_cast<std::size_t>(std::popcount(std::to_integer<unsigned>(bytes[i])));
  }
  EXPECT_EQ(payload_popcount, filter.popcount());
}

TEST(BloomFilter, DeserializeRejectsEveryCorruption) {
  const BlockedBloomFilter filter = small_filter();
  const Bytes good = filter.serialize();
  ASSERT_TRUE(BlockedBloomFilter::deserialize(good) == filter);

  for (std::size_t length = 0; length < BlockedBloomFilter::kHeaderBytes; ++length) {
    expect_format_error(Bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(length)),
                        "truncated header");
  }
  Bytes bad = good;
  bad[3] = std::byte{'X'};
  expect_format_error(bad, "byte offset 0: magic");

  for (std::uint32_t version : {0u, 2u, 0xffffffffu}) {
    bad = good;
    write_le32(bad, 8, version);
    expect_format_error(bad,
                        "byte offset 8: version: expected 1, found " + std::to_string(version));
  }
  for (std::uint32_t k : {0u, 17u, 1000000u}) {
    bad = good;
    write_le32(bad, 12, k);
    expect_format_error(bad, "byte offset 12: probes");
  }
  for (std::uint64_t blocks : {std::uint64_t{0}, (std::uint64_t{1} << 32) + 1, ~std::uint64_t{0}}) {
    bad = good;
    write_le64(bad, 16, blocks);
    expect_format_error(bad, "byte offset 16: block count");
  }
  bad = good;
  write_le64(bad, 16, 3);  // plausible count, but the payload holds 2 blocks
  expect_format_error(bad, "size");
  bad = Bytes(good.begin(), good.end() - 1);  // truncated payload
  expect_format_error(bad, "byte offset " + std::to_string(good.size() - 1) + ": size");
  bad = good;
  bad.push_back(std::byte{0});  // trailing garbage
  expect_format_error(bad, "size");
  bad = Bytes(good.begin(), good.end() - 64);  // one whole block missing
  expect_format_error(bad, "size");

  // Every single-bit flip, header or payload, is rejected (most by the checksum).
  for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
    bad = good;
    bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    ASSERT_THROW((void)BlockedBloomFilter::deserialize(bad), FormatError) << "bit " << bit;
  }
  bad = good;
  bad[BlockedBloomFilter::kHeaderBytes + 17] ^= std::byte{0x10};
  expect_format_error(bad, "byte offset 32: checksum");
  bad = good;
  write_le64(bad, 24, filter.inserted() + 1);  // the inserted count is covered too
  expect_format_error(bad, "checksum");
}

}  // namespace
}  // namespace tb::ds
