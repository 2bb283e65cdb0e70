// Property tests of tb::ds::BPlusTreeMap against std::map over long seeded random operation
// sequences, with the tree's invariants checked as it changes; plus bulk loading, bad input,
// move-only values, leak accounting and exception safety.
#include "core/ds/btree.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <ranges>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tb::ds {
namespace {

using U64Map = BPlusTreeMap<std::uint64_t, std::uint64_t>;

// Keys this wide leave room for only 3 or 4 slots per node, so small maps are many levels deep
// and every split, borrow, merge and root collapse happens often.
template <std::size_t kPad>
struct PaddedKey {
  std::uint64_t v = 0;
  std::array<char, kPad> pad{};
  PaddedKey() = default;
  explicit PaddedKey(std::uint64_t value) : v(value) {}
  friend bool operator<(const PaddedKey& a, const PaddedKey& b) { return a.v < b.v; }
  friend bool operator==(const PaddedKey& a, const PaddedKey& b) { return a.v == b.v; }
};

// Each kind of map under test: how to make keys and values from random numbers, and how to read a
// value back as a number.
template <class K, class V, class C = std::less<K>>
struct Spec {
  using Key = K;
  using Value = V;
  using Compare = C;
  using Map = BPlusTreeMap<K, V, C>;
  using Ref = std::map<K, V, C>;
  static K key(std::uint64_t x) {
    if constexpr (std::is_same_v<K, std::string>) {
      return "key-" + std::to_string(x);
    } else {
      return K(x);
    }
  }
  static V value(std::uint64_t x) {
    if constexpr (std::is_same_v<V, std::unique_ptr<std::uint64_t>>) {
      return std::make_unique<std::uint64_t>(x);
    } else {
      return V(x);
    }
  }
  static std::uint64_t plain(const V& v) {
    if constexpr (std::is_same_v<V, std::unique_ptr<std::uint64_t>>) {
      return *v;
    } else {
      return static_cast<std::uint64_t>(v);
    }
  }
};

template <class S>
void expect_same_contents(const typename S::Map& map, const typename S::Ref& ref) {
  ASSERT_EQ(map.size(), ref.size());
  ASSERT_EQ(map.empty(), ref.empty());
  auto it = map.begin();
  for (const auto& [key, value] : ref) {
    ASSERT_TRUE(it != map.end());
    ASSERT_TRUE(it->first == key);
    ASSERT_EQ(S::plain(it->second), S::plain(value));
    ++it;
  }
  ASSERT_TRUE(it == map.end());
  // Backwards through the prev links.
  auto back = map.end();
  for (auto r = ref.rbegin(); r != ref.rend(); ++r) {
    --back;
    ASSERT_TRUE(back.key() == r->first);
  }
  ASSERT_TRUE(back == map.begin());
}

struct OpMix {
  std::uint64_t key_space;
  int insert_weight;  // out of 100 for insert + insert_or_assign; erases take what inserts leave
};

// Runs `ops` random operations on both maps. Insert-heavy and erase-heavy phases alternate so the
// tree repeatedly grows deep and shrinks back (down to empty in the erase-heavy phases of small
// key spaces).
template <class S>
void run_random_ops(typename S::Map& map, typename S::Ref& ref, std::mt19937_64& rng, int ops,
                    std::uint64_t key_space, int check_every, int phase_length = 3000) {
  for (int op = 0; op < ops; ++op) {
    const bool growing = (op / phase_length) % 2 == 0;
    const std::uint64_t x = rng() % key_space;
    const std::uint64_t v = rng();
    const typename S::Key key = S::key(x);
    const int roll = static_cast<int>(rng() % 100);
    const int mutate = growing ? 70 : 30;  // share of inserts among mutations
    if (roll < 60) {
      if (static_cast<int>(rng() % 100) < mutate) {
        if (roll < 40) {
          const auto [it, inserted] = map.insert(key, S::value(v));
          const bool ref_inserted = ref.try_emplace(key, S::value(v)).second;
          ASSERT_EQ(inserted, ref_inserted);
          ASSERT_TRUE(it->first == key);
          ASSERT_EQ(S::plain(it->second), S::plain(ref.at(key)));
        } else {
          const auto [it, inserted] = map.insert_or_assign(key, S::value(v));
          const bool ref_inserted = ref.insert_or_assign(key, S::value(v)).second;
          ASSERT_EQ(inserted, ref_inserted);
          ASSERT_EQ(S::plain(it->second), v);
        }
      } else if (roll < 50) {
        ASSERT_EQ(map.erase(key), ref.erase(key));
      } else {
        // Erase through an iterator: the returned iterator must be the next entry.
        auto found = map.find(key);
        auto ref_found = ref.find(key);
        ASSERT_EQ(found == map.end(), ref_found == ref.end());
        if (ref_found != ref.end()) {
          auto next = map.erase(found);
          auto ref_next = ref.erase(ref_found);
          ASSERT_EQ(next == map.end(), ref_next == ref.end());
          if (ref_next != ref.end()) {
            ASSERT_TRUE(next->first == ref_next->first);
          }
        }
      }
    } else if (roll < 75) {
      const auto found = map.find(key);
      const auto ref_found = ref.find(key);
      ASSERT_EQ(found == map.end(), ref_found == ref.end());
      ASSERT_EQ(map.contains(key), ref_found != ref.end());
      if (ref_found != ref.end()) {
        ASSERT_EQ(S::plain(found->second), S::plain(ref_found->second));
      }
    } else if (roll < 90) {
      const auto lower = map.lower_bound(key);
      const auto ref_lower = ref.lower_bound(key);
      ASSERT_EQ(lower == map.end(), ref_lower == ref.end());
      if (ref_lower != ref.end()) {
        ASSERT_TRUE(lower->first == ref_lower->first);
      }
      if (ref_lower != ref.begin()) {  // step back across a leaf boundary if there is one
        auto before = lower;
        --before;
        ASSERT_TRUE(before->first == std::prev(ref_lower)->first);
      }
      const auto upper = map.upper_bound(key);
      const auto ref_upper = ref.upper_bound(key);
      ASSERT_EQ(upper == map.end(), ref_upper == ref.end());
      if (ref_upper != ref.end()) {
        ASSERT_TRUE(upper->first == ref_upper->first);
      }
    } else {
      const typename S::Key hi = S::key(rng() % key_space);
      std::size_t count = 0;
      auto ref_it = ref.lower_bound(key);
      const auto ref_end = map.key_comp()(key, hi) ? ref.lower_bound(hi) : ref_it;
      for (const auto& [k, value] : map.range(key, hi)) {
        ASSERT_TRUE(ref_it != ref_end);
        ASSERT_TRUE(k == ref_it->first);
        ASSERT_EQ(S::plain(value), S::plain(ref_it->second));
        ++ref_it;
        ++count;
      }
      ASSERT_TRUE(ref_it == ref_end);
      ASSERT_EQ(count, static_cast<std::size_t>(std::distance(ref.lower_bound(key), ref_end)));
    }
    if (check_every > 0 && op % check_every == 0) {
      ASSERT_NO_THROW(map.check_invariants()) << "after operation " << op;
      ASSERT_EQ(map.size(), ref.size()) << "after operation " << op;
    }
    if (op % 5000 == 0) {
      ASSERT_NO_FATAL_FAILURE(expect_same_contents<S>(map, ref));
    }
  }
  ASSERT_NO_THROW(map.check_invariants());
  ASSERT_NO_FATAL_FAILURE(expect_same_contents<S>(map, ref));
}

template <class S>
void random_ops_test(std::uint64_t seed, int ops, std::uint64_t key_space, int check_every,
                     int phase_length = 3000) {
  typename S::Map map;
  typename S::Ref ref;
  std::mt19937_64 rng(seed);
  run_random_ops<S>(map, ref, rng, ops, key_space, check_every, phase_length);
}

TEST(BPlusTreeMap, CapacitiesFollowEntrySize) {
  static_assert(U64Map::kLeafCapacity == 30 && U64Map::kInternalCapacity == 31);
  static_assert(U64Map::kLeafMinEntries == 15 && U64Map::kInternalMinChildren == 16);
  using Fat = BPlusTreeMap<PaddedKey<120>, int>;
  static_assert(Fat::kLeafCapacity == 3 && Fat::kInternalCapacity == 3);
  static_assert(Fat::kLeafMinEntries == 2 && Fat::kInternalMinChildren == 2);
  using Even = BPlusTreeMap<PaddedKey<104>, int>;
  static_assert(Even::kLeafCapacity == 4 && Even::kInternalCapacity == 4);
  using BigValue = BPlusTreeMap<std::uint64_t, std::array<char, 100>>;
  static_assert(BigValue::kLeafCapacity == 4 && BigValue::kInternalCapacity == 31);
  using Tiny = BPlusTreeMap<std::uint8_t, std::uint8_t>;
  static_assert(Tiny::kLeafCapacity == 128);
  // A bulk-loaded 1M-entry u64 map: 33,334 full leaves under 4 levels (32^3 * 30 < 1M).
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  for (std::uint64_t i = 0; i < 1'000'000; ++i) entries.emplace_back(i, i);
  U64Map map;
  map.bulk_load(entries);
  EXPECT_EQ(map.height(), 4u);
  EXPECT_EQ(map.size(), 1'000'000u);
  EXPECT_NO_THROW(map.check_invariants());
}

TEST(BPlusTreeMap, IteratorsModelTheStandardConcepts) {
  static_assert(std::bidirectional_iterator<U64Map::iterator>);
  static_assert(std::bidirectional_iterator<U64Map::const_iterator>);
  using MoveOnly = BPlusTreeMap<std::string, std::unique_ptr<int>>;
  static_assert(std::bidirectional_iterator<MoveOnly::iterator>);
  static_assert(std::bidirectional_iterator<MoveOnly::const_iterator>);
  static_assert(std::ranges::bidirectional_range<U64Map>);
  static_assert(std::ranges::bidirectional_range<U64Map::Range<U64Map::iterator>>);
  static_assert(std::is_convertible_v<U64Map::iterator, U64Map::const_iterator>);
  static_assert(!std::is_convertible_v<U64Map::const_iterator, U64Map::iterator>);

  U64Map map;
  for (std::uint64_t i = 0; i < 100; ++i) map.insert(i * 3, i);
  EXPECT_EQ(std::ranges::distance(map), 100);
  EXPECT_EQ(std::prev(map.end())->first, 99u * 3);
  EXPECT_EQ(map.rbegin()->first, 99u * 3);
  EXPECT_EQ(std::ranges::next(map.begin(), 40)->second, 40u);
  const auto found = std::ranges::find_if(map, [](const auto& e) { return e.second == 77; });
  EXPECT_EQ(found->first, 77u * 3);
  // Writes through an iterator reach the stored value.
  map.find(30)->second = 1234;
  EXPECT_EQ(map.find(30).value(), 1234u);
}

TEST(BPlusTreeMap, EmptyMapQueries) {
  U64Map map;
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.node_count(), 0u);
  EXPECT_TRUE(map.begin() == map.end());
  EXPECT_TRUE(map.find(7) == map.end());
  EXPECT_FALSE(map.contains(7));
  EXPECT_TRUE(map.lower_bound(7) == map.end());
  EXPECT_TRUE(map.upper_bound(7) == map.end());
  EXPECT_TRUE(map.range(0, 100).empty());
  EXPECT_EQ(map.erase(7), 0u);
  EXPECT_NO_THROW(map.check_invariants());
  map.clear();
  EXPECT_TRUE(map.empty());
  // One entry in, one out: back to no nodes at all.
  map.insert(5, 50);
  EXPECT_EQ(map.node_count(), 1u);
  EXPECT_EQ(map.erase(5), 1u);
  EXPECT_EQ(map.node_count(), 0u);
  EXPECT_TRUE(map.begin() == map.end());
  EXPECT_NO_THROW(map.check_invariants());
}

TEST(BPlusTreeMap, InsertDoesNotOverwriteAndInsertOrAssignDoes) {
  U64Map map;
  EXPECT_TRUE(map.insert(1, 10).second);
  const auto [it, inserted] = map.insert(1, 20);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(it->second, 10u);
  const auto [it2, inserted2] = map.insert_or_assign(1, 30);
  EXPECT_FALSE(inserted2);
  EXPECT_EQ(it2->second, 30u);
  EXPECT_TRUE(map.insert_or_assign(2, 40).second);
  EXPECT_EQ(map.size(), 2u);
}

TEST(BPlusTreeMap, EraseThroughIteratorsWalksOn) {
  U64Map map;
  for (std::uint64_t i = 0; i < 3000; ++i) map.insert(i, i);
  // Erase every even key while walking: each erase returns the entry after the erased one.
  for (auto it = map.begin(); it != map.end();) {
    it = it->first % 2 == 0 ? map.erase(it) : std::next(it);
  }
  ASSERT_NO_THROW(map.check_invariants());
  EXPECT_EQ(map.size(), 1500u);
  std::uint64_t expected = 1;
  for (const auto& [key, value] : map) {
    ASSERT_EQ(key, expected);
    expected += 2;
  }
  for (auto it = map.begin(); it != map.end();) it = map.erase(it);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.node_count(), 0u);
}

TEST(BPlusTreeMap, RangeIsHalfOpenAndWalksLeaves) {
  U64Map map;
  for (std::uint64_t i = 0; i < 30'000; ++i) map.insert(i, i * 2);
  std::uint64_t sum = 0;
  std::uint64_t count = 0;
  for (const auto& [key, value] : map.range(10'000, 20'000)) {
    EXPECT_EQ(key, 10'000 + count);
    sum += value;
    ++count;
  }
  EXPECT_EQ(count, 10'000u);
  EXPECT_EQ(sum, 2 * (10'000u * 9'999u / 2 + 10'000u * 10'000u));
  EXPECT_TRUE(map.range(500, 500).empty());
  EXPECT_TRUE(map.range(600, 500).empty());
  EXPECT_EQ(std::ranges::distance(map.range(29'990, 1'000'000)), 10);
  const U64Map& view = map;
  EXPECT_EQ(std::ranges::distance(view.range(0, 1)), 1);
}

TEST(BPlusTreeMap, RandomOpsSmallKeySpaceCheckedEveryOp) {
  random_ops_test<Spec<std::uint64_t, std::uint64_t>>(1, 40'000, 600, 1);
}

TEST(BPlusTreeMap, RandomOpsLargeTreeCheckedEvery100Ops) {
  random_ops_test<Spec<std::uint64_t, std::uint64_t>>(2, 100'000, 50'000, 100, 25'000);
}

TEST(BPlusTreeMap, RandomOpsNodesOfThreeSlots) {
  random_ops_test<Spec<PaddedKey<120>, std::uint64_t>>(3, 40'000, 400, 1);
}

TEST(BPlusTreeMap, RandomOpsNodesOfFourSlots) {
  random_ops_test<Spec<PaddedKey<104>, std::uint64_t>>(4, 40'000, 400, 1);
}

TEST(BPlusTreeMap, RandomOpsStringKeys) {
  random_ops_test<Spec<std::string, std::uint64_t>>(5, 60'000, 3'000, 10);
}

TEST(BPlusTreeMap, RandomOpsMoveOnlyValues) {
  random_ops_test<Spec<std::uint64_t, std::unique_ptr<std::uint64_t>>>(6, 40'000, 2'000, 10);
}

TEST(BPlusTreeMap, RandomOpsDescendingComparator) {
  using S = Spec<std::uint64_t, std::uint64_t, std::greater<std::uint64_t>>;
  random_ops_test<S>(7, 40'000, 2'000, 10);
  S::Map map;
  for (std::uint64_t i = 0; i < 100; ++i) map.insert(i, i);
  EXPECT_EQ(map.begin()->first, 99u);
  EXPECT_EQ(map.lower_bound(50)->first, 50u);
  EXPECT_EQ(map.upper_bound(50)->first, 49u);
  EXPECT_EQ(std::ranges::distance(map.range(60, 40)), 20);
}

// A comparator with state: orders numbers by their value modulo a base set at construction.
struct ModuloOrder {
  std::uint64_t base = 1;
  bool operator()(std::uint64_t a, std::uint64_t b) const { return a % base < b % base; }
};

TEST(BPlusTreeMap, StatefulComparatorIsUsedAndCopied) {
  BPlusTreeMap<std::uint64_t, int, ModuloOrder> map(ModuloOrder{1000});
  for (std::uint64_t i = 0; i < 5000; ++i) map.insert(i, static_cast<int>(i));
  EXPECT_EQ(map.size(), 1000u);  // keys equal modulo 1000 are equivalent
  EXPECT_EQ(map.find(1234)->first, 234u);
  auto copy = map;
  EXPECT_EQ(copy.key_comp().base, 1000u);
  EXPECT_NO_THROW(copy.check_invariants());
  EXPECT_EQ(copy.size(), 1000u);
}

TEST(BPlusTreeMap, EraseEverythingInRandomOrder) {
  for (const std::uint64_t n : {1u, 2u, 31u, 100u, 3'000u}) {
    BPlusTreeMap<PaddedKey<120>, std::uint64_t> fat;
    U64Map map;
    std::vector<std::uint64_t> keys(n);
    for (std::uint64_t i = 0; i < n; ++i) keys[i] = i * 7;
    std::mt19937_64 rng(n);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (const std::uint64_t k : keys) {
      fat.insert(PaddedKey<120>(k), k);
      map.insert(k, k);
    }
    ASSERT_NO_THROW(fat.check_invariants());
    std::shuffle(keys.begin(), keys.end(), rng);
    std::size_t left = n;
    for (const std::uint64_t k : keys) {
      ASSERT_EQ(fat.erase(PaddedKey<120>(k)), 1u);
      ASSERT_EQ(map.erase(k), 1u);
      --left;
      ASSERT_NO_THROW(fat.check_invariants()) << "n=" << n << " left=" << left;
      ASSERT_NO_THROW(map.check_invariants()) << "n=" << n << " left=" << left;
      ASSERT_EQ(fat.size(), left);
    }
    EXPECT_TRUE(fat.empty());
    EXPECT_EQ(fat.node_count(), 0u);
    EXPECT_EQ(fat.height(), 0u);
    EXPECT_EQ(map.node_count(), 0u);
    EXPECT_TRUE(map.begin() == map.end());
  }
}

TEST(BPlusTreeMap, EraseEverythingLargeTree) {
  const std::uint64_t n = 60'000;
  std::vector<std::uint64_t> keys(n);
  std::mt19937_64 rng(99);
  for (auto& k : keys) k = rng();
  U64Map map;
  for (const std::uint64_t k : keys) map.insert(k, k ^ 1);
  ASSERT_EQ(map.size(), n);  // 64-bit random keys: collisions would be astonishing
  ASSERT_NO_THROW(map.check_invariants());
  std::shuffle(keys.begin(), keys.end(), rng);
  for (std::uint64_t i = 0; i < n; ++i) {
    ASSERT_EQ(map.erase(keys[i]), 1u);
    if (i % 100 == 0) {
      ASSERT_NO_THROW(map.check_invariants()) << "after " << i << " erases";
    }
  }
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.node_count(), 0u);
}

TEST(BPlusTreeMap, BulkLoadBuildsFullLeavesForEverySize) {
  // Sizes around leaf and level boundaries of the 3-slot and 30-slot layouts.
  for (std::size_t n = 0; n < 400; ++n) {
    std::vector<std::pair<PaddedKey<120>, std::uint64_t>> fat_entries;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
    for (std::size_t i = 0; i < n; ++i) {
      fat_entries.emplace_back(PaddedKey<120>(i * 2), i);
      entries.emplace_back(i * 2, i);
    }
    BPlusTreeMap<PaddedKey<120>, std::uint64_t> fat;
    fat.bulk_load(fat_entries);
    ASSERT_NO_THROW(fat.check_invariants()) << "n=" << n;
    ASSERT_EQ(fat.size(), n);
    U64Map map;
    map.bulk_load(entries);
    ASSERT_NO_THROW(map.check_invariants()) << "n=" << n;
    ASSERT_EQ(map.size(), n);
    std::uint64_t expected = 0;
    for (const auto& [key, value] : map) {
      ASSERT_EQ(key, expected * 2);
      ASSERT_EQ(value, expected);
      ++expected;
    }
  }
  // Full leaves: one more entry than a multiple of the capacity makes only one extra leaf, and
  // n = 30k fills exactly k leaves.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  for (std::uint64_t i = 0; i < 30 * 31; ++i) entries.emplace_back(i, i);
  U64Map map;
  map.bulk_load(entries);
  EXPECT_EQ(map.node_count(), 31u + 1u);  // 31 full leaves under one root
  EXPECT_EQ(map.height(), 1u);
}

TEST(BPlusTreeMap, BulkLoadThenMutations) {
  using S = Spec<std::uint64_t, std::uint64_t>;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  S::Ref ref;
  for (std::uint64_t i = 0; i < 20'000; ++i) {
    entries.emplace_back(i * 5, i);
    ref.emplace(i * 5, i);
  }
  S::Map map;
  map.bulk_load(entries);
  ASSERT_NO_THROW(map.check_invariants());
  std::mt19937_64 rng(11);
  run_random_ops<S>(map, ref, rng, 40'000, 100'000, 100);
}

TEST(BPlusTreeMap, BulkLoadRejectsDuplicatesNamingTheIndex) {
  U64Map map;
  map.insert(1, 1);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries;
  for (std::uint64_t i = 0; i < 100; ++i) entries.emplace_back(i, i);
  entries[57].first = 56;
  try {
    map.bulk_load(entries);
    FAIL() << "duplicate accepted";
  } catch (const tb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("element 57 has the same key as element 56"),
              std::string::npos)
        << e.what();
  }
  // Rejected input leaves the previous contents in place.
  EXPECT_EQ(map.size(), 1u);
  EXPECT_TRUE(map.contains(1));
  EXPECT_NO_THROW(map.check_invariants());
}

TEST(BPlusTreeMap, BulkLoadRejectsDisorderNamingTheIndex) {
  BPlusTreeMap<std::string, int> map;
  std::vector<std::pair<std::string, int>> entries = {{"a", 1}, {"b", 2}, {"d", 3}, {"c", 4}};
  try {
    map.bulk_load(entries);
    FAIL() << "unsorted input accepted";
  } catch (const tb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("element 3 has a key ordered before that of element 2"),
              std::string::npos)
        << e.what();
  }
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.node_count(), 0u);
  // Disorder far into the input, past many full leaves, is found and everything built is freed.
  std::vector<std::pair<std::string, int>> many;
  for (int i = 0; i < 5000; ++i) many.emplace_back("k" + std::to_string(100000 + i), i);
  std::swap(many[4321], many[4322]);
  EXPECT_THROW(map.bulk_load(many), tb::Error);
  EXPECT_EQ(map.node_count(), 0u);
}

TEST(BPlusTreeMap, BulkLoadReplacesContents) {
  U64Map map;
  for (std::uint64_t i = 0; i < 1000; ++i) map.insert(i, i);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> entries = {{5000, 1}, {6000, 2}};
  map.bulk_load(entries);
  EXPECT_EQ(map.size(), 2u);
  EXPECT_FALSE(map.contains(10));
  EXPECT_EQ(map.node_count(), 1u);
  map.bulk_load(std::vector<std::pair<std::uint64_t, std::uint64_t>>{});
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.node_count(), 0u);
}

TEST(BPlusTreeMap, BulkLoadMovesFromRvaluesAndCopiesFromLvalues) {
  std::vector<std::pair<std::string, std::string>> entries;
  for (int i = 0; i < 100; ++i) {
    entries.emplace_back("key" + std::to_string(1000 + i), std::string(40, 'a' + i % 26));
  }
  BPlusTreeMap<std::string, std::string> map;
  map.bulk_load(entries);
  EXPECT_EQ(entries[5].second.size(), 40u);  // copied, source intact
  map.bulk_load(std::views::all(entries));   // a view: copied too
  EXPECT_EQ(entries[5].second.size(), 40u);
  map.bulk_load(std::move(entries));
  EXPECT_EQ(map.find("key1005")->second, std::string(40, 'f'));
  std::vector<std::pair<int, std::unique_ptr<int>>> owned;
  for (int i = 0; i < 50; ++i) owned.emplace_back(i, std::make_unique<int>(i * i));
  BPlusTreeMap<int, std::unique_ptr<int>> pointers;
  pointers.bulk_load(std::move(owned));
  EXPECT_EQ(*pointers.find(7)->second, 49);
  EXPECT_NO_THROW(pointers.check_invariants());
}

// Counts live instances, to show every value constructed is destroyed exactly once.
struct Tracked {
  static inline int live = 0;
  int v;
  explicit Tracked(int x) : v(x) { ++live; }
  Tracked(const Tracked& o) : v(o.v) { ++live; }
  Tracked(Tracked&& o) noexcept : v(o.v) { ++live; }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() { --live; }
};

TEST(BPlusTreeMap, ValuesAreDestroyedOnEraseClearAndDestruction) {
  Tracked::live = 0;
  {
    BPlusTreeMap<std::uint64_t, Tracked> map;
    std::mt19937_64 rng(12);
    for (int i = 0; i < 20'000; ++i) map.insert(rng() % 5000, Tracked(i));
    EXPECT_EQ(Tracked::live, static_cast<int>(map.size()));
    for (int i = 0; i < 20'000; ++i) map.erase(rng() % 5000);
    EXPECT_EQ(Tracked::live, static_cast<int>(map.size()));
    BPlusTreeMap<std::uint64_t, Tracked> copy = map;
    EXPECT_EQ(Tracked::live, 2 * static_cast<int>(map.size()));
    copy.clear();
    EXPECT_EQ(copy.node_count(), 0u);
    EXPECT_EQ(Tracked::live, static_cast<int>(map.size()));
    BPlusTreeMap<std::uint64_t, Tracked> moved = std::move(map);
    EXPECT_TRUE(map.empty());  // NOLINT(bugprone-use-after-move): moved-from is defined empty
    EXPECT_EQ(map.node_count(), 0u);
    EXPECT_EQ(Tracked::live, static_cast<int>(moved.size()));
  }
  EXPECT_EQ(Tracked::live, 0);
}

TEST(BPlusTreeMap, FailedInsertLeavesArgumentsUntouched) {
  BPlusTreeMap<int, std::unique_ptr<int>> map;
  map.insert(1, std::make_unique<int>(1));
  auto keep = std::make_unique<int>(2);
  EXPECT_FALSE(map.insert(1, std::move(keep)).second);
  ASSERT_NE(keep, nullptr);  // NOLINT(bugprone-use-after-move): not moved from when not inserted
  EXPECT_EQ(*keep, 2);
  EXPECT_EQ(*map.find(1)->second, 1);
  // try_emplace constructs the value only for a new key.
  Tracked::live = 0;
  BPlusTreeMap<int, Tracked> tracked;
  EXPECT_TRUE(tracked.try_emplace(1, 10).second);
  EXPECT_EQ(Tracked::live, 1);
  EXPECT_FALSE(tracked.try_emplace(1, 20).second);
  EXPECT_EQ(Tracked::live, 1);
  EXPECT_EQ(tracked.find(1)->second.v, 10);
}

TEST(BPlusTreeMap, CopyIsDeepAndMoveKeepsIterators) {
  U64Map map;
  for (std::uint64_t i = 0; i < 5000; ++i) map.insert(i * 3, i);
  U64Map copy(map);
  ASSERT_NO_THROW(copy.check_invariants());
  copy.find(30)->second = 999;
  EXPECT_EQ(map.find(30)->second, 10u);
  copy.erase(33);
  EXPECT_TRUE(map.contains(33));
  const auto it = map.find(300);
  U64Map moved(std::move(map));
  EXPECT_EQ(it->second, 100u);
  EXPECT_TRUE(std::next(it) == moved.find(303));
  U64Map assigned;
  assigned = copy;
  EXPECT_EQ(assigned.size(), copy.size());
  assigned = std::move(moved);
  EXPECT_EQ(assigned.size(), 5000u);
  ASSERT_NO_THROW(assigned.check_invariants());
}

// Breaks the map's order after the fact (the comparator flips), so the checker must report
// unsorted keys: shows check_invariants() can fail.
struct FlippableOrder {
  const bool* flipped;
  bool operator()(int a, int b) const { return *flipped ? b < a : a < b; }
};

TEST(BPlusTreeMap, CheckInvariantsReportsDisorder) {
  bool flipped = false;
  BPlusTreeMap<int, int, FlippableOrder> map(FlippableOrder{&flipped});
  for (int i = 0; i < 10; ++i) map.insert(i, i);
  EXPECT_NO_THROW(map.check_invariants());
  flipped = true;
  try {
    map.check_invariants();
    FAIL() << "disorder not detected";
  } catch (const tb::Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not after the key in slot"), std::string::npos)
        << e.what();
  }
  flipped = false;
  for (int i = 10; i < 1000; ++i) map.insert(i, i);
  flipped = true;
  EXPECT_THROW(map.check_invariants(), tb::Error);
}

// A key whose copies fail on demand: separators are copies, so this reaches the copy a borrowing
// erase makes and the copies a split makes.
struct FragileKey {
  static inline int copies_until_failure = -1;  // < 0: never fail
  int v = 0;
  explicit FragileKey(int x) : v(x) {}
  FragileKey(const FragileKey& o) : v(o.v) {
    if (copies_until_failure == 0) throw std::runtime_error("copy failed");
    if (copies_until_failure > 0) --copies_until_failure;
  }
  FragileKey(FragileKey&&) noexcept = default;
  FragileKey& operator=(const FragileKey&) = default;
  FragileKey& operator=(FragileKey&&) noexcept = default;
  friend bool operator<(const FragileKey& a, const FragileKey& b) { return a.v < b.v; }
};

TEST(BPlusTreeMap, FailuresLeaveTheMapUnchanged) {
  BPlusTreeMap<FragileKey, int> map;
  std::map<int, int> ref;
  std::mt19937_64 rng(13);
  int failures = 0;
  for (int op = 0; op < 20'000; ++op) {
    const int k = static_cast<int>(rng() % 3000);
    FragileKey::copies_until_failure = static_cast<int>(rng() % 3);
    const bool insert = (op / 4000) % 2 == 0 ? rng() % 3 != 0 : rng() % 3 == 0;
    try {
      if (insert) {
        const FragileKey key(k);
        if (map.insert(key, k).second) ref.emplace(k, k);
      } else if (map.erase(FragileKey(k)) == 1) {
        ref.erase(k);
      }
    } catch (const std::runtime_error&) {
      ++failures;
    }
    FragileKey::copies_until_failure = -1;
    if (op % 10 == 0) {
      ASSERT_NO_THROW(map.check_invariants()) << "after operation " << op;
    }
    ASSERT_EQ(map.size(), ref.size()) << "after operation " << op;
  }
  EXPECT_GT(failures, 100);
  auto it = map.begin();
  for (const auto& [k, v] : ref) {
    ASSERT_EQ(it->first.v, k);
    ++it;
  }
  // A bulk load that fails part way (a key copy, past several full leaves) keeps the old contents
  // and frees what it built.
  std::vector<std::pair<FragileKey, int>> entries;
  for (int i = 0; i < 1000; ++i) entries.emplace_back(FragileKey(i), i);
  const std::size_t nodes_before = map.node_count();
  FragileKey::copies_until_failure = 500;
  EXPECT_THROW(map.bulk_load(entries), std::runtime_error);
  FragileKey::copies_until_failure = -1;
  EXPECT_EQ(map.size(), ref.size());
  EXPECT_EQ(map.node_count(), nodes_before);
  EXPECT_NO_THROW(map.check_invariants());
}

}  // namespace
}  // namespace tb::ds
