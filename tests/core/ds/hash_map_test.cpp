// FlatHashMap against std::unordered_map over long random operation sequences (every result
// compared, full contents and reachability checked every few hundred steps), the control-byte
// group primitives against a scalar model, DefaultHash's spread on structured keys, and
// StringInterner against a reference map.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/ds/hash_map.h"
#include "core/ds/string_interner.h"
#include "core/util/error.h"

namespace {

using tb::ds::DefaultHash;
using tb::ds::FlatHashMap;
using tb::ds::NameId;
using tb::ds::StringInterner;
namespace hd = tb::ds::hash_detail;
using U64Map = FlatHashMap<std::uint64_t, std::uint64_t>;

// prefix + decimal n, built by appending (GCC 12 warns falsely on "literal" + std::to_string).
std::string labeled(std::string_view prefix, long long n) {
  std::string text(prefix);
  text += std::to_string(n);
  return text;
}

// --- Group primitives -------------------------------------------------------------------------

// Random control bytes with every kind represented, including full bytes equal to the probe.
std::vector<hd::ctrl_t> random_ctrl(std::mt19937_64& rng, std::size_t n) {
  std::vector<hd::ctrl_t> bytes(n);
  for (auto& b : bytes) {
    switch (rng() % 4) {
      case 0:
        b = hd::kEmpty;
        break;
      case 1:
        b = hd::kDeleted;
        break;
      case 2:
        b = static_cast<hd::ctrl_t>(rng() % 4);
        break;  // few values: frequent matches
      default:
        b = static_cast<hd::ctrl_t>(rng() % 128);
        break;
    }
  }
  return bytes;
}

template <typename Predicate>
std::uint32_t scalar_mask(const hd::ctrl_t* bytes, Predicate predicate) {
  std::uint32_t mask = 0;
  for (int i = 0; i < 16; ++i) {
    if (predicate(bytes[i])) mask |= 1u << i;
  }
  return mask;
}

template <typename GroupType>
void check_group_against_scalar(const char* name) {
  SCOPED_TRACE(name);
  std::mt19937_64 rng(7);
  for (int round = 0; round < 2000; ++round) {
    const auto bytes = random_ctrl(rng, 16);
    const GroupType group(bytes.data());
    ASSERT_EQ(group.match_empty(),
              scalar_mask(bytes.data(), [](hd::ctrl_t c) { return c == hd::kEmpty; }));
    ASSERT_EQ(group.match_empty_or_deleted(), scalar_mask(bytes.data(), [](hd::ctrl_t c) {
                return c == hd::kEmpty || c == hd::kDeleted;
              }));
    ASSERT_EQ(group.match_full(),
              scalar_mask(bytes.data(), [](hd::ctrl_t c) { return hd::is_full(c); }));
    for (int h2 = 0; h2 < 128; ++h2) {
      const auto probe = static_cast<hd::ctrl_t>(h2);
      ASSERT_EQ(group.match(probe),
                scalar_mask(bytes.data(), [probe](hd::ctrl_t c) { return c == probe; }))
          << "round " << round << " h2 " << h2;
    }
  }
}

TEST(HashMapGroup, PortableGroupMatchesScalarModel) {
  check_group_against_scalar<hd::PortableGroup>("portable");
}

TEST(HashMapGroup, SelectedGroupMatchesScalarModel) {
  check_group_against_scalar<hd::Group>("selected (SSE2 where available)");
}

// --- DefaultHash quality ----------------------------------------------------------------------

// Chi-square of `hashes` bucketed by `bits` bits starting at `shift`, against uniform.
double chi_square(const std::vector<std::uint64_t>& hashes, int shift, int bits) {
  std::vector<double> counts(std::size_t{1} << bits, 0.0);
  for (std::uint64_t h : hashes) counts[(h >> shift) & ((std::uint64_t{1} << bits) - 1)] += 1;
  const double expected = static_cast<double>(hashes.size()) / static_cast<double>(counts.size());
  double chi = 0;
  for (double c : counts) chi += (c - expected) * (c - expected) / expected;
  return chi;
}

struct KeyFamily {
  const char* name;
  std::uint64_t (*key)(std::uint64_t i);
};
const KeyFamily kStructuredFamilies[] = {
    {"sequential", [](std::uint64_t i) { return i; }},
    {"multiples of 2^7", [](std::uint64_t i) { return i << 7; }},
    {"multiples of 2^16", [](std::uint64_t i) { return i << 16; }},
    {"multiples of 2^32", [](std::uint64_t i) { return i << 32; }},
    {"multiples of 2^47", [](std::uint64_t i) { return i << 47; }},
    {"multiples of 1000", [](std::uint64_t i) { return i * 1000; }},
    {"same low 24 bits", [](std::uint64_t i) { return (i << 24) | 0xABCDEFu; }},
    {"i in both halves", [](std::uint64_t i) { return (i << 32) | i; }},
    {"high and low bytes", [](std::uint64_t i) { return (i << 40) | (i & 0xFF); }},
};

// The in-group fragment (low 7 bits) must not pile up on a few values for structured keys: the
// identity hash puts every multiple of 2^7 on fragment 0 (chi-square ~8 million here).
TEST(HashMapDefaultHash, StructuredKeysSpreadOverTheFragment) {
  const DefaultHash<std::uint64_t> hash;
  for (const KeyFamily& family : kStructuredFamilies) {
    SCOPED_TRACE(family.name);
    std::vector<std::uint64_t> hashes;
    for (std::uint64_t i = 0; i < (1u << 16); ++i) hashes.push_back(hash(family.key(i)));
    EXPECT_LT(chi_square(hashes, 0, 7), 230.0);  // 127 degrees of freedom: mean 127, sd 16
  }
}

// What the hash is for: at the maximum load (7/8), structured keys must probe about as little as
// random keys do (simulated: ~1.1 groups per hit, ~2.1 per miss). An identity hash puts 128
// sequential keys on one preferred slot and needs dozens of groups per lookup.
TEST(HashMapDefaultHash, StructuredKeysProbeLikeRandomKeysAtMaximumLoad) {
  constexpr std::size_t kKeys = 65536 - 65536 / 8;
  for (const KeyFamily& family : kStructuredFamilies) {
    SCOPED_TRACE(family.name);
    U64Map map;
    map.reserve(kKeys);
    ASSERT_EQ(map.capacity(), 65536u);
    for (std::uint64_t i = 0; i < kKeys; ++i) map.try_emplace(family.key(i), i);
    ASSERT_EQ(map.size(), kKeys);
    double hit_groups = 0, miss_groups = 0;
    std::size_t worst = 0;
    for (std::uint64_t i = 0; i < kKeys; ++i) {
      const std::size_t length = map.probe_length(family.key(i));
      hit_groups += static_cast<double>(length);
      worst = std::max(worst, length);
      miss_groups += static_cast<double>(map.probe_length(family.key(kKeys + i)));
    }
    EXPECT_LT(hit_groups / kKeys, 1.25) << "mean groups probed per hit";
    EXPECT_LT(miss_groups / kKeys, 2.8) << "mean groups probed per miss";
    EXPECT_LT(worst, 40u) << "longest probe of a stored key";
  }
}

TEST(HashMapDefaultHash, PortableWideMultiplyMatchesNative) {
  std::mt19937_64 rng(9);
  const std::uint64_t edge[] = {0, 1, 0xFFFFFFFFu, 0x100000000ull, ~std::uint64_t{0}};
  for (std::uint64_t a : edge) {
    for (std::uint64_t b : edge)
      ASSERT_EQ(hd::fold_multiply_portable(a, b), hd::fold_multiply(a, b));
  }
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t a = rng(), b = rng();
    ASSERT_EQ(hd::fold_multiply_portable(a, b), hd::fold_multiply(a, b)) << a << " * " << b;
  }
}

TEST(HashMapDefaultHash, StringHashIsTransparentAndConsistent) {
  const DefaultHash<std::string> hash;
  const std::string text = "forward/conv2d";
  EXPECT_EQ(hash(text), hash(std::string_view(text)));
  EXPECT_EQ(hash(text), hash(text.c_str()));
  EXPECT_NE(hash("forward"), hash("backward"));
  EXPECT_NE(hash(""), hash(std::string_view("\0", 1)));
}

// --- Property test against std::unordered_map (u64 keys) --------------------------------------

using RefMap = std::unordered_map<std::uint64_t, std::uint64_t>;

// Full comparison: sizes, every element reachable through find() at the iterated position, no
// duplicates in iteration, and the load bound.
void expect_same_contents(const U64Map& map, const RefMap& ref) {
  ASSERT_EQ(map.size(), ref.size());
  ASSERT_EQ(map.empty(), ref.empty());
  std::size_t visited = 0;
  for (auto it = map.begin(); it != map.end(); ++it) {
    ++visited;
    const auto expected = ref.find(it->first);
    ASSERT_NE(expected, ref.end()) << "iterated key " << it->first << " is not in the reference";
    ASSERT_EQ(it->second, expected->second) << "key " << it->first;
    ASSERT_EQ(map.find(it->first), it) << "key " << it->first << " not found where iterated";
  }
  ASSERT_EQ(visited, ref.size()) << "iteration visited a wrong number of elements";
  const std::size_t capacity = map.capacity();
  ASSERT_TRUE(capacity == 0 || (std::has_single_bit(capacity) && capacity >= 16)) << capacity;
  ASSERT_LE(map.size(), capacity - capacity / 8);
}

enum class KeyShape { kRandomPool, kSequential, kMultiplesOf2Pow32, kSameLowBits, kPow2Stride };

std::uint64_t shaped_key(KeyShape shape, std::uint64_t i) {
  switch (shape) {
    case KeyShape::kRandomPool:
      return i * 0xD6E8FEB86659FD93ull;
    case KeyShape::kSequential:
      return i;
    case KeyShape::kMultiplesOf2Pow32:
      return i << 32;
    case KeyShape::kSameLowBits:
      return (i << 16) | 0x7F7F;
    case KeyShape::kPow2Stride:
      return i << 7;  // the fragment's width
  }
  return i;
}

// Random operations over keys drawn from a pool of `pool` shaped keys (so about half the lookups
// hit), with erase weight `erase_weight` out of 16.
void run_random_operations(KeyShape shape, std::uint64_t pool, int operations, int erase_weight,
                           std::uint64_t seed) {
  SCOPED_TRACE(labeled("seed ", seed) + ", shape " + std::to_string(static_cast<int>(shape)));
  std::mt19937_64 rng(seed);
  U64Map map;
  RefMap ref;
  auto random_key = [&] { return shaped_key(shape, rng() % pool); };
  for (int step = 0; step < operations; ++step) {
    const std::uint64_t key = random_key();
    const std::uint64_t value = rng();
    const int op = static_cast<int>(rng() % 16);
    if (op < erase_weight) {
      if (rng() % 2 == 0) {
        ASSERT_EQ(map.erase(key), ref.erase(key)) << "erase " << key;
      } else {
        auto it = map.find(key);
        ASSERT_EQ(it != map.end(), ref.count(key) == 1) << "find before erase " << key;
        if (it != map.end()) {
          auto next = map.erase(it);
          ref.erase(key);
          if (next != map.end()) {
            ASSERT_EQ(ref.count(next->first), 1u);
          }
        }
      }
    } else {
      switch (op % 6) {
        case 0: {
          auto [it, inserted] = map.insert({key, value});
          auto [ref_it, ref_inserted] = ref.insert({key, value});
          ASSERT_EQ(inserted, ref_inserted) << "insert " << key;
          ASSERT_EQ(it->second, ref_it->second);
          break;
        }
        case 1: {
          auto [it, inserted] = map.emplace(key, value);
          auto [ref_it, ref_inserted] = ref.emplace(key, value);
          ASSERT_EQ(inserted, ref_inserted) << "emplace " << key;
          ASSERT_EQ(it->first, key);
          ASSERT_EQ(it->second, ref_it->second);
          break;
        }
        case 2: {
          auto [it, inserted] = map.try_emplace(key, value);
          auto [ref_it, ref_inserted] = ref.try_emplace(key, value);
          ASSERT_EQ(inserted, ref_inserted) << "try_emplace " << key;
          ASSERT_EQ(it->second, ref_it->second);
          break;
        }
        case 3:
          map[key] += value;
          ref[key] += value;
          ASSERT_EQ(map.at(key), ref.at(key));
          break;
        case 4: {
          const auto it = map.find(key);
          const auto ref_it = ref.find(key);
          ASSERT_EQ(it == map.end(), ref_it == ref.end()) << "find " << key;
          if (it != map.end()) {
            ASSERT_EQ(it->second, ref_it->second);
          }
          break;
        }
        default:
          ASSERT_EQ(map.contains(key), ref.count(key) == 1) << "contains " << key;
          ASSERT_EQ(map.count(key), ref.count(key));
          break;
      }
    }
    if (step % 10007 == 5000) {  // rare: exercise reserve and clear in the middle
      if (rng() % 3 == 0) {
        map.clear();
        ref.clear();
      } else {
        const std::size_t want = map.size() + rng() % 2000;
        map.reserve(want);
        ASSERT_GE(map.capacity() - map.capacity() / 8, want);
      }
    }
    if (step % 300 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_same_contents(map, ref)) << "after step " << step;
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_same_contents(map, ref));
}

TEST(HashMapProperty, RandomOperationsMatchUnorderedMap) {
  run_random_operations(KeyShape::kRandomPool, 4000, 60000, 5, 1);
}

TEST(HashMapProperty, EraseHeavySequencesLeaveCorrectTombstones) {
  run_random_operations(KeyShape::kRandomPool, 3000, 60000, 8, 2);
  run_random_operations(KeyShape::kRandomPool, 200, 30000, 9, 3);
}

TEST(HashMapProperty, AdversarialKeyShapes) {
  for (KeyShape shape : {KeyShape::kSequential, KeyShape::kMultiplesOf2Pow32,
                         KeyShape::kSameLowBits, KeyShape::kPow2Stride}) {
    run_random_operations(shape, 5000, 25000, 4, 10 + static_cast<std::uint64_t>(shape));
  }
}

// A stable live set under constant churn must be served by dropping tombstones in place, not by
// growing for ever.
TEST(HashMapProperty, ChurnAtSteadySizeDoesNotGrowTheTable) {
  U64Map map;
  std::vector<std::uint64_t> live;
  std::mt19937_64 rng(4);
  for (std::uint64_t i = 0; i < 1500; ++i) {
    live.push_back(rng());
    map[live.back()] = i;
  }
  const std::size_t capacity = map.capacity();
  ASSERT_EQ(capacity, 2048u);
  for (int round = 0; round < 100000; ++round) {
    const std::size_t victim = rng() % live.size();
    ASSERT_EQ(map.erase(live[victim]), 1u);
    live[victim] = rng();
    map[live[victim]] = static_cast<std::uint64_t>(round);
    ASSERT_EQ(map.size(), live.size());
  }
  EXPECT_EQ(map.capacity(), capacity);
  for (std::uint64_t key : live) ASSERT_TRUE(map.contains(key)) << key;
}

TEST(HashMapProperty, LargeSequentialInsertThenEraseHalf) {
  U64Map map;
  constexpr std::uint64_t kCount = 200000;
  for (std::uint64_t i = 0; i < kCount; ++i) ASSERT_TRUE(map.try_emplace(i, i * 3).second);
  ASSERT_EQ(map.size(), kCount);
  for (std::uint64_t i = 0; i < kCount; i += 2) ASSERT_EQ(map.erase(i), 1u);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    const auto it = map.find(i);
    if (i % 2 == 0) {
      ASSERT_EQ(it, map.end()) << i;
    } else {
      ASSERT_NE(it, map.end()) << i;
      ASSERT_EQ(it->second, i * 3);
    }
  }
  std::size_t visited = 0;
  for (const auto& [key, value] : map) {
    ASSERT_EQ(key % 2, 1u);
    ASSERT_EQ(value, key * 3);
    ++visited;
  }
  EXPECT_EQ(visited, kCount / 2);
}

// Tables of kHugeTableBytes and more come from the huge-page allocation path: growing into one,
// erasing, rehashing away from one and destroying it must all work (ASan checks the frees).
TEST(HashMapProperty, TablesOnTheHugePagePathBehave) {
  using Payload = std::array<std::uint64_t, 31>;  // 256-byte slots: 2^18 of them fill 64 MiB
  FlatHashMap<std::uint64_t, Payload> map;
  constexpr std::uint64_t kCount = 200000;
  for (std::uint64_t i = 0; i < kCount; ++i) map[i * 11][0] = i;
  ASSERT_GE(map.capacity() * (1 + sizeof(std::pair<const std::uint64_t, Payload>)),
            tb::ds::hash_detail::kHugeTableBytes);
  for (std::uint64_t i = 0; i < kCount; i += 3) ASSERT_EQ(map.erase(i * 11), 1u);
  for (std::uint64_t i = 0; i < kCount; ++i) {
    const auto it = map.find(i * 11);
    ASSERT_EQ(it != map.end(), i % 3 != 0) << i;
    if (it != map.end()) {
      ASSERT_EQ(it->second[0], i);
    }
  }
  FlatHashMap<std::uint64_t, Payload> moved = std::move(map);
  moved.clear();
  EXPECT_TRUE(moved.empty());
}

// --- Edge cases and API -----------------------------------------------------------------------

TEST(HashMapApi, EmptyMap) {
  U64Map map;
  const U64Map& cmap = map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), 0u);
  EXPECT_EQ(map.begin(), map.end());
  EXPECT_EQ(cmap.find(42), cmap.end());
  EXPECT_FALSE(map.contains(0));
  EXPECT_EQ(map.erase(42), 0u);
  map.clear();
  EXPECT_THROW(map.at(1), tb::Error);
  map.reserve(0);
  EXPECT_EQ(map.capacity(), 0u);
  map[7] = 8;
  EXPECT_EQ(map.capacity(), 16u);
  EXPECT_EQ(map.at(7), 8u);
}

TEST(HashMapApi, AtOnMissingKeyThrowsTbError) {
  U64Map map{{1, 10}, {2, 20}};
  EXPECT_EQ(map.at(2), 20u);
  try {
    (void)map.at(3);
    FAIL() << "at() on a missing key returned";
  } catch (const tb::Error& error) {
    EXPECT_NE(std::string(error.what()).find("key not found"), std::string::npos);
  }
}

TEST(HashMapApi, ReserveBeyondAddressableSizeThrowsTbError) {
  U64Map map;
  EXPECT_THROW(map.reserve(~std::size_t{0}), tb::Error);
  EXPECT_EQ(map.capacity(), 0u);
}

TEST(HashMapApi, ReserveKeepsReferencesValidForThatManyInserts) {
  U64Map map;
  map.reserve(1000);
  const std::size_t capacity = map.capacity();
  EXPECT_GE(capacity - capacity / 8, 1000u);
  map[0] = 123;
  const std::uint64_t* first = &map[0];
  for (std::uint64_t i = 1; i < 1000; ++i) map[i] = i;
  EXPECT_EQ(map.capacity(), capacity);
  EXPECT_EQ(first, &map.at(0));
  EXPECT_EQ(*first, 123u);
}

TEST(HashMapApi, ClearKeepsCapacityAndEmpties) {
  U64Map map;
  for (std::uint64_t i = 0; i < 500; ++i) map[i] = i;
  const std::size_t capacity = map.capacity();
  map.clear();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), capacity);
  EXPECT_EQ(map.begin(), map.end());
  for (std::uint64_t i = 0; i < 500; ++i) ASSERT_FALSE(map.contains(i));
  map[3] = 4;
  EXPECT_EQ(map.size(), 1u);
}

TEST(HashMapApi, EraseWhileIteratingWithReturnedIterator) {
  U64Map map;
  for (std::uint64_t i = 0; i < 3000; ++i) map[i * 977] = i;
  for (auto it = map.begin(); it != map.end();) {
    it = (it->second % 3 == 0) ? map.erase(it) : std::next(it);
  }
  EXPECT_EQ(map.size(), 2000u);
  for (std::uint64_t i = 0; i < 3000; ++i) ASSERT_EQ(map.contains(i * 977), i % 3 != 0) << i;
}

// An iterator from find() steps through the rest of the table like one from begin(): from each
// found key, the keys visited until end() are exactly the suffix of begin()'s order from there.
TEST(HashMapApi, IteratorsFromFindStepToTheSameEnd) {
  U64Map map;
  for (std::uint64_t i = 0; i < 1000; ++i) map[i * 31] = i;
  std::vector<std::uint64_t> order;
  for (const auto& [key, value] : map) order.push_back(key);
  ASSERT_EQ(order.size(), 1000u);
  for (std::size_t position = 0; position < order.size(); position += 97) {
    std::vector<std::uint64_t> rest;
    for (auto it = map.find(order[position]); it != map.end(); ++it) rest.push_back(it->first);
    ASSERT_EQ(rest, std::vector<std::uint64_t>(
                        order.begin() + static_cast<std::ptrdiff_t>(position), order.end()))
        << position;
  }
  const auto last = map.find(order.back());
  EXPECT_EQ(std::next(last), map.end());
  EXPECT_EQ(std::next(last), map.cend());
  EXPECT_NE(last, map.end());
}

TEST(HashMapApi, CopyAndMoveAreIndependent) {
  U64Map original;
  for (std::uint64_t i = 0; i < 700; ++i) original[i] = i + 1;
  U64Map copy = original;
  copy[5] = 99;
  copy.erase(6);
  EXPECT_EQ(original.at(5), 6u);
  EXPECT_TRUE(original.contains(6));
  EXPECT_EQ(copy.size(), 699u);

  U64Map moved = std::move(original);
  EXPECT_EQ(moved.size(), 700u);
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): documented moved-from state
  original[1] = 2;                // the moved-from map stays usable
  EXPECT_EQ(original.size(), 1u);

  copy = moved;
  EXPECT_EQ(copy.size(), 700u);
  EXPECT_EQ(copy.at(5), 6u);
  copy = std::move(moved);
  EXPECT_EQ(copy.size(), 700u);
  U64Map::const_iterator it = copy.find(5);  // iterator -> const_iterator conversion
  EXPECT_EQ(it->second, 6u);
}

// --- Value lifetimes, move-only values, exceptions --------------------------------------------

TEST(HashMapValues, MoveOnlyValuesSurviveGrowthAndTombstoneRehash) {
  FlatHashMap<std::uint64_t, std::unique_ptr<std::uint64_t>> map;
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  std::mt19937_64 rng(21);
  for (int step = 0; step < 40000; ++step) {
    const std::uint64_t key = rng() % 1500;
    if (rng() % 2 == 0) {
      const std::uint64_t value = rng();
      const bool existed = ref.count(key) == 1;
      auto [it, inserted] = map.try_emplace(key, std::make_unique<std::uint64_t>(value));
      ASSERT_EQ(inserted, !existed) << key;
      if (inserted) ref[key] = value;
      ASSERT_EQ(*it->second, ref.at(key)) << key;
    } else {
      ASSERT_EQ(map.erase(key), ref.erase(key));
    }
    if (step % 500 == 0) {
      ASSERT_EQ(map.size(), ref.size());
      for (const auto& [k, v] : map) ASSERT_EQ(*v, ref.at(k)) << k;
    }
  }
  auto value = std::make_unique<std::uint64_t>(5);
  map.emplace(std::uint64_t{1u << 20}, std::move(value));
  EXPECT_EQ(*map.at(1u << 20), 5u);
}

// Counts live instances, so leaks and double destruction show up as a count that is off.
struct Tracked {
  static inline long live = 0;
  std::uint64_t value = 0;
  Tracked() { ++live; }
  explicit Tracked(std::uint64_t v) : value(v) { ++live; }
  Tracked(const Tracked& other) : value(other.value) { ++live; }
  Tracked(Tracked&& other) noexcept : value(other.value) { ++live; }
  Tracked& operator=(const Tracked&) = default;
  ~Tracked() { --live; }
};

TEST(HashMapValues, EveryConstructedValueIsDestroyedOnce) {
  Tracked::live = 0;
  {
    FlatHashMap<std::string, Tracked> map;
    std::mt19937_64 rng(5);
    for (int step = 0; step < 30000; ++step) {
      const std::string key = labeled("k", rng() % 2000);
      if (rng() % 3 == 0) {
        map.erase(key);
      } else {
        map.try_emplace(key, rng());
      }
      if (step % 1000 == 0) {
        ASSERT_EQ(Tracked::live, static_cast<long>(map.size()));
      }
    }
    FlatHashMap<std::string, Tracked> copy = map;
    ASSERT_EQ(Tracked::live, static_cast<long>(2 * map.size()));
    copy.clear();
    ASSERT_EQ(Tracked::live, static_cast<long>(map.size()));
  }
  EXPECT_EQ(Tracked::live, 0);
}

// Copyable, with a move that may throw (so rehash copies) and a copy that throws on demand.
struct FragileValue {
  static inline int copies_until_throw = -1;  // negative: never throw
  std::uint64_t value = 0;
  explicit FragileValue(std::uint64_t v) : value(v) {}
  FragileValue(const FragileValue& other) : value(other.value) {
    if (copies_until_throw == 0) throw std::runtime_error("copy failed");
    if (copies_until_throw > 0) --copies_until_throw;
  }
  FragileValue(FragileValue&& other) noexcept(false) : FragileValue(std::as_const(other)) {}
  FragileValue& operator=(const FragileValue&) = default;
};

TEST(HashMapValues, ThrowingCopyDuringGrowthLeavesMapUnchanged) {
  FlatHashMap<std::uint64_t, FragileValue> map;
  FragileValue::copies_until_throw = -1;
  std::uint64_t key = 0;
  while (map.size() < map.capacity() - map.capacity() / 8 || map.empty()) {
    map.try_emplace(key, key * 7);
    ++key;
  }
  const std::size_t size = map.size();
  const std::size_t capacity = map.capacity();
  FragileValue::copies_until_throw = 10;  // fails in the middle of relocating to the new table
  EXPECT_THROW(map.try_emplace(key, 1), std::runtime_error);
  FragileValue::copies_until_throw = -1;
  EXPECT_EQ(map.size(), size);
  EXPECT_EQ(map.capacity(), capacity);
  EXPECT_FALSE(map.contains(key));
  for (std::uint64_t k = 0; k < key; ++k) ASSERT_EQ(map.at(k).value, k * 7) << k;
  map.try_emplace(key, 1);  // and it still grows once the copy works
  EXPECT_GT(map.capacity(), capacity);
  EXPECT_EQ(map.size(), size + 1);
}

// Values whose move may throw cannot be shuffled in place; dropping tombstones then rebuilds the
// table at the same capacity by copying. The churn must still not grow the table.
TEST(HashMapValues, ChurnWithPossiblyThrowingMovesKeepsCapacity) {
  FragileValue::copies_until_throw = -1;
  FlatHashMap<std::uint64_t, FragileValue> map;
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  std::mt19937_64 rng(6);
  while (ref.size() < 400) {
    const std::uint64_t key = rng();
    map.try_emplace(key, key + 1);
    ref.emplace(key, key + 1);
  }
  const std::size_t capacity = map.capacity();
  for (int round = 0; round < 20000; ++round) {
    auto victim = ref.begin();
    std::advance(victim, static_cast<long>(rng() % 8));
    ASSERT_EQ(map.erase(victim->first), 1u);
    ref.erase(victim);
    const std::uint64_t key = rng();
    map.try_emplace(key, key + 1);
    ref.emplace(key, key + 1);
  }
  EXPECT_EQ(map.capacity(), capacity);
  ASSERT_EQ(map.size(), ref.size());
  for (const auto& [key, value] : ref) ASSERT_EQ(map.at(key).value, value) << key;
}

struct ThrowingConstruction {
  explicit ThrowingConstruction(bool fail) {
    if (fail) throw std::runtime_error("constructor failed");
  }
};

TEST(HashMapValues, ThrowingValueConstructorInsertsNothing) {
  FlatHashMap<std::uint64_t, ThrowingConstruction> map;
  for (std::uint64_t i = 0; i < 14; ++i) map.try_emplace(i, false);
  EXPECT_THROW(map.try_emplace(99, true), std::runtime_error);
  EXPECT_EQ(map.size(), 14u);
  EXPECT_FALSE(map.contains(99));
  std::size_t visited = 0;
  for (const auto& entry : map) visited += entry.first < 14 ? 1 : 0;
  EXPECT_EQ(visited, 14u);
}

// --- String keys and heterogeneous lookup -----------------------------------------------------

TEST(HashMapStrings, RandomOperationsWithHeterogeneousLookup) {
  FlatHashMap<std::string, int> map;
  std::unordered_map<std::string, int> ref;
  std::mt19937_64 rng(31);
  std::vector<std::string> pool;
  for (int i = 0; i < 3000; ++i) {
    // Short (inline) and long (heap) strings, some sharing long prefixes.
    pool.push_back((i % 3 == 0 ? std::string(40, 'p') : std::string()) + "name/" +
                   std::to_string(rng() % 100000));
  }
  for (int step = 0; step < 40000; ++step) {
    const std::string& key = pool[rng() % pool.size()];
    const std::string_view view = key;
    const int value = static_cast<int>(rng() % 1000);
    switch (rng() % 6) {
      case 0:
        ASSERT_EQ(map.try_emplace(view, value).second, ref.try_emplace(key, value).second);
        break;
      case 1:
        map[view] += value;
        ref[key] += value;
        break;
      case 2:
        ASSERT_EQ(map.erase(view), ref.erase(key)) << key;
        break;
      case 3: {
        const auto it = map.find(key.c_str());
        const auto ref_it = ref.find(key);
        ASSERT_EQ(it == map.end(), ref_it == ref.end()) << key;
        if (it != map.end()) {
          ASSERT_EQ(it->second, ref_it->second);
        }
        break;
      }
      case 4:
        ASSERT_EQ(map.contains(view), ref.count(key) == 1);
        break;
      default:
        ASSERT_EQ(map.insert({key, value}).second, ref.insert({key, value}).second);
        break;
    }
    if (step % 400 == 0) {
      ASSERT_EQ(map.size(), ref.size());
      std::size_t visited = 0;
      for (const auto& [k, v] : map) {
        ASSERT_EQ(ref.at(k), v) << k;
        ++visited;
      }
      ASSERT_EQ(visited, ref.size());
    }
  }
}

// A key type that counts its constructions: a heterogeneous lookup must build none.
struct CountedKey {
  static inline int constructed = 0;
  std::string text;
  explicit CountedKey(std::string_view t) : text(t) { ++constructed; }
  CountedKey(const CountedKey& other) : text(other.text) { ++constructed; }
  CountedKey(CountedKey&& other) noexcept : text(std::move(other.text)) {}
};
struct CountedKeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view t) const { return tb::ds::StringHash{}(t); }
  std::size_t operator()(const CountedKey& k) const { return tb::ds::StringHash{}(k.text); }
};
struct CountedKeyEq {
  using is_transparent = void;
  bool operator()(const CountedKey& a, std::string_view b) const { return a.text == b; }
  bool operator()(const CountedKey& a, const CountedKey& b) const { return a.text == b.text; }
};

TEST(HashMapStrings, HeterogeneousLookupBuildsNoTemporaryKey) {
  FlatHashMap<CountedKey, int, CountedKeyHash, CountedKeyEq> map;
  for (int i = 0; i < 100; ++i) map.try_emplace(std::string_view(labeled("key", i)), i);
  CountedKey::constructed = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string text = labeled("key", i);
    EXPECT_EQ(map.contains(std::string_view(text)), i < 100);
    const auto it = map.find(std::string_view(text));
    if (i < 100) {
      EXPECT_EQ(it->second, i);
    }
  }
  EXPECT_EQ(map.try_emplace(std::string_view("key5"), 0).second, false);
  EXPECT_EQ(CountedKey::constructed, 0);
  EXPECT_EQ(map.erase(std::string_view("key7")), 1u);
  EXPECT_EQ(CountedKey::constructed, 0);
  EXPECT_TRUE(map.try_emplace(std::string_view("new"), 1).second);
  EXPECT_EQ(CountedKey::constructed, 1);  // exactly the stored key
}

// --- StringInterner -------------------------------------------------------------------------

TEST(StringInterner, RoundTripAgainstReferenceInFirstSeenOrder) {
  StringInterner interner;
  std::unordered_map<std::string, std::int64_t> ref;
  std::vector<std::string> by_id;
  std::mt19937_64 rng(41);
  for (int step = 0; step < 50000; ++step) {
    std::string text = labeled("event/", rng() % 8000);
    if (step % 997 == 0) text = std::string(5000 + rng() % 100, 'x');  // longer than a block
    if (step % 1999 == 0) text.clear();
    const auto known = ref.find(text);
    if (rng() % 4 == 0) {
      const auto found = interner.find(text);
      ASSERT_EQ(found.has_value(), known != ref.end()) << text;
      if (found) {
        ASSERT_EQ(found->value, known->second);
      }
      continue;
    }
    const NameId id = interner.intern(text);
    if (known == ref.end()) {
      by_id.push_back(text);
      ref.emplace(text, static_cast<std::int64_t>(by_id.size()));
      ASSERT_EQ(id.value, static_cast<std::int64_t>(by_id.size())) << "ids follow first-seen order";
    } else {
      ASSERT_EQ(id.value, known->second) << text;
    }
    ASSERT_EQ(interner.size(), by_id.size());
  }
  for (std::size_t i = 0; i < by_id.size(); ++i) {
    ASSERT_EQ(interner.name(NameId(static_cast<std::int64_t>(i + 1))), by_id[i]);
  }
}

TEST(StringInterner, ViewsStayValidAfterGrowthAndMove) {
  StringInterner interner;
  std::vector<std::string_view> early;
  for (int i = 0; i < 100; ++i) {
    early.push_back(interner.name(interner.intern(labeled("early/", i))));
  }
  for (int i = 0; i < 100000; ++i) interner.intern(labeled("late/", i));
  StringInterner moved = std::move(interner);
  for (int i = 0; i < 100; ++i) {
    const NameId id(i + 1);
    ASSERT_EQ(early[static_cast<std::size_t>(i)], labeled("early/", i));
    ASSERT_EQ(moved.name(id).data(), early[static_cast<std::size_t>(i)].data())
        << "the view handed out first must still point at the stored characters";
  }
  EXPECT_EQ(moved.size(), 100100u);
  EXPECT_EQ(interner.size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(interner.intern("again").value, 1);
}

TEST(StringInterner, UnknownIdThrowsNamingTheId) {
  StringInterner interner;
  EXPECT_THROW(interner.name(NameId(1)), tb::Error);
  interner.intern("forward");
  interner.intern("backward");
  EXPECT_EQ(interner.name(NameId(2)), "backward");
  for (std::int64_t bad : {std::int64_t{0}, std::int64_t{3}, std::int64_t{-4}}) {
    try {
      (void)interner.name(NameId(bad));
      FAIL() << "name(" << bad << ") returned";
    } catch (const tb::Error& error) {
      EXPECT_NE(std::string(error.what()).find(labeled("NameId ", bad)), std::string::npos)
          << error.what();
    }
  }
  EXPECT_FALSE(interner.find("optimizer").has_value());
  EXPECT_EQ(interner.size(), 2u);
}

}  // namespace
