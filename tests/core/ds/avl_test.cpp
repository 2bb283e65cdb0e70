// Property tests of tb::ds::AvlTree against std::map and of tb::ds::IntervalTree against a brute
// force scan, with the invariants checked along the way, plus the defined behaviour on bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "core/ds/avl_tree.h"
#include "core/ds/interval_tree.h"
#include "core/util/error.h"

namespace tb::ds::detail {

// Reaches into the trees to corrupt them, so the tests can show check_invariants() notices.
struct AvlTestPeer {
  template <typename Tree>
  static auto* root(Tree& tree) {
    return tree.root_;
  }
  template <typename Tree>
  static void set_root(Tree& tree, decltype(tree.root_) root) {
    tree.root_ = root;
  }
  template <typename Tree>
  static void set_size(Tree& tree, std::size_t size) {
    tree.size_ = size;
  }
};

}  // namespace tb::ds::detail

namespace {

using tb::ds::AvlTree;
using tb::ds::IntervalId;
using tb::ds::IntervalTree;
using tb::ds::detail::AvlTestPeer;

// Largest height an AVL tree of n nodes may have (the brief's bound; the exact one is
// 1.4405 log2(n + 2) - 0.3277).
double avl_height_bound(std::size_t n) {
  return 1.44 * std::log2(static_cast<double>(n) + 2.0);
}

// Runs `action`, expecting a tb::Error whose message contains every one of `fragments`.
template <typename Action>
void expect_error(Action&& action, const std::vector<std::string>& fragments) {
  try {
    action();
    ADD_FAILURE() << "expected tb::Error mentioning \"" << fragments.front() << "\"";
  } catch (const tb::Error& error) {
    const std::string message = error.what();
    for (const std::string& fragment : fragments) {
      EXPECT_NE(message.find(fragment), std::string::npos)
          << "message \"" << message << "\" lacks \"" << fragment << "\"";
    }
  }
}

template <typename Map, typename Reference>
void expect_same_contents(const Map& tree, const Reference& reference) {
  ASSERT_EQ(tree.size(), reference.size());
  ASSERT_EQ(tree.empty(), reference.empty());
  ASSERT_TRUE(std::equal(tree.begin(), tree.end(), reference.begin(), reference.end()));
  // Backwards from end(), to exercise operator-- including --end().
  ASSERT_TRUE(std::equal(std::make_reverse_iterator(tree.end()),
                         std::make_reverse_iterator(tree.begin()), reference.rbegin(),
                         reference.rend()));
}

// ---------------------------------------------------------------------------------------------
// AvlTree

TEST(AvlTree, EmptyTreeAnswersEveryQuery) {
  AvlTree<int, int> tree;
  EXPECT_TRUE(tree.empty());
  EXPECT_EQ(tree.size(), 0u);
  EXPECT_EQ(tree.height(), 0);
  EXPECT_EQ(tree.begin(), tree.end());
  EXPECT_EQ(tree.find(3), tree.end());
  EXPECT_FALSE(tree.contains(3));
  EXPECT_EQ(tree.lower_bound(3), tree.end());
  EXPECT_EQ(tree.upper_bound(3), tree.end());
  EXPECT_EQ(tree.erase(3), 0u);
  tree.clear();
  EXPECT_NO_THROW(tree.check_invariants());
}

TEST(AvlTree, InsertKeepsExistingValueAndInsertOrAssignReplacesIt) {
  AvlTree<int, std::string> tree;
  auto [first, inserted] = tree.insert(7, "seven");
  EXPECT_TRUE(inserted);
  EXPECT_EQ(first->second, "seven");
  auto [again, inserted_again] = tree.insert(7, "SEVEN");
  EXPECT_FALSE(inserted_again);
  EXPECT_EQ(again, first);
  EXPECT_EQ(tree.find(7)->second, "seven");
  EXPECT_EQ(tree.size(), 1u);

  auto [assigned, was_inserted] = tree.insert_or_assign(7, "VII");
  EXPECT_FALSE(was_inserted);
  EXPECT_EQ(assigned, first);
  EXPECT_EQ(tree.find(7)->second, "VII");
  EXPECT_TRUE(tree.insert_or_assign(8, "eight").second);
  EXPECT_EQ(tree.size(), 2u);
  tree.check_invariants();
}

TEST(AvlTree, RandomOperationsMatchStdMap) {
  std::mt19937_64 rng(20240611);
  AvlTree<std::int64_t, std::int64_t> tree;
  std::map<std::int64_t, std::int64_t> reference;

  // Phase 0 keeps the tree small (many hits, invariants after every step); phase 1 lets it grow
  // to thousands of keys (invariants every few hundred steps, as the check is O(n)).
  struct Phase {
    std::int64_t key_range;
    int steps;
    int check_every;
  };
  for (const Phase phase : {Phase{64, 30000, 1}, Phase{20000, 60000, 499}}) {
    std::uniform_int_distribution<std::int64_t> key_of(-phase.key_range / 2, phase.key_range / 2);
    std::uniform_int_distribution<int> op_of(0, 99);
    for (int step = 0; step < phase.steps; ++step) {
      const std::int64_t key = key_of(rng);
      const std::int64_t value = static_cast<std::int64_t>(rng() % 1000);
      const int op = op_of(rng);
      if (op < 30) {
        const auto [it, inserted] = tree.insert(key, value);
        const auto [ref_it, ref_inserted] = reference.insert({key, value});
        ASSERT_EQ(inserted, ref_inserted);
        ASSERT_EQ(it->first, key);
        ASSERT_EQ(it->second, ref_it->second);
      } else if (op < 45) {
        const auto [it, inserted] = tree.insert_or_assign(key, value);
        const auto [ref_it, ref_inserted] = reference.insert_or_assign(key, value);
        ASSERT_EQ(inserted, ref_inserted);
        ASSERT_EQ(it->second, value);
      } else if (op < 65) {
        ASSERT_EQ(tree.erase(key), reference.erase(key));
      } else if (op < 70) {
        // Erase through an iterator: the returned iterator must be the successor.
        auto it = tree.lower_bound(key);
        auto ref_it = reference.lower_bound(key);
        if (ref_it != reference.end()) {
          ASSERT_NE(it, tree.end());
          auto next = tree.erase(it);
          auto ref_next = reference.erase(ref_it);
          if (ref_next == reference.end()) {
            ASSERT_EQ(next, tree.end());
          } else {
            ASSERT_EQ(next->first, ref_next->first);
          }
        } else {
          ASSERT_EQ(it, tree.end());
        }
      } else if (op < 82) {
        const auto it = tree.find(key);
        const auto ref_it = reference.find(key);
        ASSERT_EQ(tree.contains(key), ref_it != reference.end());
        if (ref_it == reference.end()) {
          ASSERT_EQ(it, tree.end());
        } else {
          ASSERT_EQ(it->second, ref_it->second);
        }
      } else {
        const bool lower = op < 91;
        const auto it = lower ? tree.lower_bound(key) : tree.upper_bound(key);
        const auto ref_it = lower ? reference.lower_bound(key) : reference.upper_bound(key);
        if (ref_it == reference.end()) {
          ASSERT_EQ(it, tree.end());
        } else {
          ASSERT_NE(it, tree.end());
          ASSERT_EQ(it->first, ref_it->first);
          // Walking one step each way from the bound must agree too.
          if (ref_it != reference.begin()) {
            ASSERT_EQ(std::prev(it)->first, std::prev(ref_it)->first);
          }
        }
      }
      ASSERT_EQ(tree.size(), reference.size());
      if (step % phase.check_every == 0) {
        ASSERT_NO_THROW(tree.check_invariants()) << "after step " << step;
        ASSERT_LE(tree.height(), avl_height_bound(tree.size()));
      }
      if (step % (phase.check_every * 50) == 0) expect_same_contents(tree, reference);
    }
    tree.check_invariants();
    expect_same_contents(tree, reference);
  }
}

TEST(AvlTree, StringKeysWithCustomOrderMatchStdMap) {
  std::mt19937_64 rng(7);
  AvlTree<std::string, int, std::greater<>> tree;
  std::map<std::string, int, std::greater<>> reference;
  for (int step = 0; step < 20000; ++step) {
    // Appending (not "k" + ...) sidesteps a false -Wrestrict in GCC 12's std::string.
    std::string key = "k";
    key += std::to_string(rng() % 3000);
    if (rng() % 3 == 0) {
      ASSERT_EQ(tree.erase(key), reference.erase(key));
    } else {
      ASSERT_EQ(tree.insert(key, step).second, reference.insert({key, step}).second);
    }
    if (step % 1000 == 0) tree.check_invariants();
  }
  tree.check_invariants();
  expect_same_contents(tree, reference);
  EXPECT_GT(tree.begin()->first, std::prev(tree.end())->first);  // descending under greater<>
}

TEST(AvlTree, SortedAndZigzagInsertsKeepHeightLogarithmic) {
  constexpr int kCount = 1 << 16;
  // Ascending and descending input degenerate an unbalanced tree into a list; the zigzag order
  // (0, n-1, 1, n-2, ...) forces double rotations.
  std::vector<std::vector<int>> orders(3);
  for (int i = 0; i < kCount; ++i) {
    orders[0].push_back(i);
    orders[1].push_back(kCount - 1 - i);
    orders[2].push_back(i % 2 == 0 ? i / 2 : kCount - 1 - i / 2);
  }
  for (const auto& order : orders) {
    AvlTree<int, int> tree;
    for (int key : order) {
      tree.insert(key, -key);
      ASSERT_LE(tree.height(), avl_height_bound(tree.size())) << "after inserting " << key;
    }
    tree.check_invariants();
    // Erasing in sorted order drains one side first: the tree must rebalance on the way down.
    for (int key = 0; key < kCount; ++key) {
      ASSERT_EQ(tree.erase(key), 1u);
      ASSERT_LE(tree.height(), avl_height_bound(tree.size())) << "after erasing " << key;
      if (key % 4096 == 0) tree.check_invariants();
    }
    EXPECT_TRUE(tree.empty());
    EXPECT_EQ(tree.height(), 0);
  }
}

TEST(AvlTree, IteratorsWalkBothWaysAndConvertToConst) {
  AvlTree<int, int> tree;
  for (int key : {5, 1, 9, 3, 7}) tree.insert(key, key * 10);
  std::vector<int> forward;
  for (auto it = tree.begin(); it != tree.end(); ++it) forward.push_back(it->first);
  EXPECT_EQ(forward, (std::vector<int>{1, 3, 5, 7, 9}));
  std::vector<int> backward;
  for (auto it = tree.end(); it != tree.begin();) backward.push_back((--it)->first);
  EXPECT_EQ(backward, (std::vector<int>{9, 7, 5, 3, 1}));

  AvlTree<int, int>::const_iterator constant = tree.find(7);
  EXPECT_EQ(constant, tree.find(7));
  EXPECT_EQ(constant->second, 70);
  tree.find(7)->second = 71;  // a mutable iterator writes the value in place
  EXPECT_EQ(constant->second, 71);
  // Inserts elsewhere leave iterators valid.
  for (int key = 100; key < 200; ++key) tree.insert(key, key);
  EXPECT_EQ(constant->first, 7);
  EXPECT_EQ(std::next(constant)->first, 9);
  static_assert(std::bidirectional_iterator<AvlTree<int, int>::iterator>);
  static_assert(std::bidirectional_iterator<AvlTree<int, int>::const_iterator>);
}

TEST(AvlTree, CopyIsDeepAndMoveEmptiesTheSource) {
  AvlTree<int, std::string> original;
  for (int key = 0; key < 500; ++key) original.insert(key * 3 % 500, std::to_string(key));
  AvlTree<int, std::string> copy = original;
  copy.check_invariants();
  ASSERT_TRUE(std::equal(copy.begin(), copy.end(), original.begin(), original.end()));
  copy.erase(0);
  copy.insert_or_assign(1, "changed");
  EXPECT_TRUE(original.contains(0));
  EXPECT_NE(original.find(1)->second, "changed");

  AvlTree<int, std::string> moved = std::move(original);
  EXPECT_EQ(moved.size(), 500u);
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): moved-from state is defined
  moved.check_invariants();
  original = moved;
  EXPECT_EQ(original.size(), 500u);
  original.check_invariants();
}

TEST(AvlTree, HoldsMoveOnlyValues) {
  AvlTree<int, std::unique_ptr<int>> tree;
  for (int key = 0; key < 100; ++key) tree.insert(key, std::make_unique<int>(key * key));
  EXPECT_FALSE(tree.insert(5, std::make_unique<int>(0)).second);
  EXPECT_EQ(*tree.find(5)->second, 25);
  tree.insert_or_assign(5, std::make_unique<int>(-1));
  EXPECT_EQ(*tree.find(5)->second, -1);
  tree.check_invariants();
}

TEST(AvlTree, CheckInvariantsReportsEachKindOfCorruption) {
  auto make_tree = [] {
    AvlTree<int, int> tree;
    for (int key = 0; key < 31; ++key) tree.insert(key, key);
    tree.check_invariants();
    return tree;
  };
  {
    auto tree = make_tree();
    AvlTestPeer::root(tree)->height += 1;
    expect_error([&] { tree.check_invariants(); }, {"AvlTree", "stores height"});
  }
  {
    auto tree = make_tree();
    auto* root = AvlTestPeer::root(tree);
    std::swap(root->left, root->right);  // heights and parents stay right, order does not
    expect_error([&] { tree.check_invariants(); }, {"order"});
  }
  {
    auto tree = make_tree();
    auto* root = AvlTestPeer::root(tree);
    root->left->left->parent = root;
    expect_error([&] { tree.check_invariants(); }, {"parent link"});
  }
  {
    auto tree = make_tree();
    AvlTestPeer::set_size(tree, 30);
    expect_error([&] { tree.check_invariants(); }, {"more nodes than size() = 30"});
    AvlTestPeer::set_size(tree, 32);
    expect_error([&] { tree.check_invariants(); }, {"size() is 32", "holds 31"});
    AvlTestPeer::set_size(tree, 31);
  }
  {
    // A right-leaning chain 1 -> 2 -> 3 with correct order, heights and parents: only the
    // balance rule is broken.
    AvlTree<int, int> tree;
    for (int key : {1, 2, 3}) tree.insert(key, key);
    auto* two = AvlTestPeer::root(tree);
    auto* one = two->left;
    auto* three = two->right;
    AvlTestPeer::set_root(tree, one);
    one->parent = nullptr;
    one->right = two;
    one->height = 3;
    two->parent = one;
    two->left = nullptr;
    two->height = 2;
    expect_error([&] { tree.check_invariants(); }, {"differ by more than 1"});
    EXPECT_EQ(three->parent, two);
  }
}

// ---------------------------------------------------------------------------------------------
// IntervalTree

// The overlap rule of interval_tree.h written as point sets: an empty interval or window is the
// single point at its start.
template <typename T>
bool reference_overlaps(T start, T end, T t0, T t1) {
  const bool interval_is_point = start == end;
  const bool window_is_point = t0 == t1;
  if (interval_is_point && window_is_point) return start == t0;
  if (interval_is_point) return t0 <= start && start < t1;
  if (window_is_point) return start <= t0 && t0 < end;
  return start < t1 && t0 < end;
}

template <typename T>
struct ReferenceInterval {
  IntervalId id;
  T start;
  T end;
  int value;
};

template <typename T>
std::vector<std::int64_t> reference_query(const std::vector<ReferenceInterval<T>>& live, T t0,
                                          T t1) {
  std::vector<ReferenceInterval<T>> found;
  for (const auto& interval : live) {
    if (reference_overlaps(interval.start, interval.end, t0, t1)) found.push_back(interval);
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) {
    return std::tie(a.start, a.end, a.id) < std::tie(b.start, b.end, b.id);
  });
  std::vector<std::int64_t> ids;
  for (const auto& interval : found) ids.push_back(interval.id.value);
  return ids;
}

template <typename T>
std::vector<std::int64_t> ids_of(
    const std::vector<typename IntervalTree<T, int>::Interval>& found) {
  std::vector<std::int64_t> ids;
  for (const auto& interval : found) ids.push_back(interval.id.value);
  return ids;
}

// A random-operation run for coordinate type T. `coordinate` draws a coordinate, `length` a
// length (zero often), `window` a query window (empty, ordinary, huge or degenerate).
template <typename T, typename Coordinate, typename Length, typename Window>
void run_interval_property_test(std::uint64_t seed, int steps, std::size_t target_size,
                                Coordinate coordinate, Length length, Window window) {
  std::mt19937_64 rng(seed);
  IntervalTree<T, int> tree;
  std::vector<ReferenceInterval<T>> live;
  std::vector<IntervalId> erased;
  IntervalId last_id;
  std::uniform_int_distribution<int> op_of(0, 99);
  for (int step = 0; step < steps; ++step) {
    const int op = op_of(rng);
    // Bias inserts vs erases so the size hovers around target_size.
    const int insert_share = live.size() < target_size ? 55 : 35;
    if (op < insert_share) {
      const T start = coordinate(rng);
      const T end = start + length(rng);
      const int value = static_cast<int>(rng() % 100000);
      const IntervalId id = tree.insert(start, end, value);
      ASSERT_TRUE(id.valid());
      ASSERT_GT(id, last_id);  // fresh ids grow, so none is ever reused
      last_id = id;
      live.push_back({id, start, end, value});
      const auto* stored = tree.find(id);
      ASSERT_NE(stored, nullptr);
      ASSERT_EQ(stored->value, value);
    } else if (op < 70) {
      if (live.empty()) continue;
      const std::size_t index = rng() % live.size();
      ASSERT_TRUE(tree.erase(live[index].id));
      erased.push_back(live[index].id);
      live[index] = live.back();
      live.pop_back();
    } else if (op < 74) {
      // Unknown ids: erased ones, the null id, one far beyond anything issued.
      IntervalId bogus = erased.empty() ? IntervalId{} : erased[rng() % erased.size()];
      if (op == 72) bogus = IntervalId{};
      if (op == 73) bogus = IntervalId{std::numeric_limits<std::int64_t>::max()};
      ASSERT_FALSE(tree.erase(bogus));
      ASSERT_EQ(tree.find(bogus), nullptr);
    } else if (op < 90) {
      auto [t0, t1] = window(rng, live);
      ASSERT_EQ(ids_of<T>(tree.overlapping(t0, t1)), reference_query(live, t0, t1))
          << "window [" << t0 << ", " << t1 << ") at step " << step;
    } else {
      // Stab at a random point, or exactly at some interval's start or end.
      T t = coordinate(rng);
      if (!live.empty() && op >= 95) {
        const auto& pick = live[rng() % live.size()];
        t = op % 2 ? pick.start : pick.end;
      }
      ASSERT_EQ(ids_of<T>(tree.stabbing(t)), reference_query(live, t, t))
          << "stabbing " << t << " at step " << step;
    }
    ASSERT_EQ(tree.size(), live.size());
    if (live.size() <= 64 || step % 500 == 0) {
      ASSERT_NO_THROW(tree.check_invariants()) << "after step " << step;
      ASSERT_LE(tree.height(), avl_height_bound(tree.size()));
    }
  }
  tree.check_invariants();
}

TEST(IntervalTree, RandomIntegerOperationsMatchBruteForce) {
  using T = std::int64_t;
  constexpr T kLowest = std::numeric_limits<T>::min();
  constexpr T kHighest = std::numeric_limits<T>::max();
  // Small sizes over a short timeline (many ties, equal and zero-length intervals), then a
  // larger tree over a longer one.
  struct Phase {
    T timeline;
    int steps;
    std::size_t target_size;
  };
  for (const Phase phase : {Phase{40, 30000, 40}, Phase{100000, 25000, 2000}}) {
    auto coordinate = [&](std::mt19937_64& rng) {
      return static_cast<T>(rng() % static_cast<std::uint64_t>(phase.timeline));
    };
    auto length = [&](std::mt19937_64& rng) -> T {
      switch (rng() % 5) {
        case 0:
          return 0;
        case 1:
          return static_cast<T>(rng() % 3);
        case 4:
          return static_cast<T>(rng() % static_cast<std::uint64_t>(phase.timeline));
        default:
          return static_cast<T>(rng() % static_cast<std::uint64_t>(phase.timeline / 20 + 1));
      }
    };
    auto window = [&](std::mt19937_64& rng,
                      const std::vector<ReferenceInterval<T>>& live) -> std::pair<T, T> {
      const T t0 = coordinate(rng) - phase.timeline / 10;
      switch (rng() % 6) {
        case 0:
          return {t0, t0};  // empty window: a point
        case 1:
          return {kLowest, kHighest};  // everything
        case 2:
          return {kLowest, t0};
        case 3:
          if (!live.empty()) {  // degenerate: exactly an existing interval's bounds
            const auto& pick = live[rng() % live.size()];
            return {pick.start, pick.end};
          }
          return {t0, t0 + 1};
        default:
          return {t0, t0 + static_cast<T>(rng() % static_cast<std::uint64_t>(phase.timeline / 5))};
      }
    };
    run_interval_property_test<T>(phase.timeline, phase.steps, phase.target_size, coordinate,
                                  length, window);
  }
}

TEST(IntervalTree, RandomFloatingOperationsMatchBruteForce) {
  using T = double;
  constexpr T kInfinity = std::numeric_limits<T>::infinity();
  auto coordinate = [](std::mt19937_64& rng) {
    // Coarse grid half of the time, so that equal coordinates still happen.
    return rng() % 2 ? std::uniform_real_distribution<T>(0.0, 1.0)(rng)
                     : static_cast<T>(rng() % 50) / 50.0;
  };
  auto length = [](std::mt19937_64& rng) -> T {
    switch (rng() % 4) {
      case 0:
        return 0.0;
      case 1:
        return kInfinity;  // still running: [start, +inf)
      default:
        return std::exponential_distribution<T>(20.0)(rng);
    }
  };
  auto window = [&](std::mt19937_64& rng,
                    const std::vector<ReferenceInterval<T>>& live) -> std::pair<T, T> {
    const T t0 = coordinate(rng);
    switch (rng() % 5) {
      case 0:
        return {t0, t0};
      case 1:
        return {-kInfinity, kInfinity};
      case 2:
        if (!live.empty()) {
          const auto& pick = live[rng() % live.size()];
          return {pick.end, pick.end};
        }
        return {t0, t0};
      default:
        return {t0, t0 + std::exponential_distribution<T>(10.0)(rng)};
    }
  };
  run_interval_property_test<T>(99, 30000, 300, coordinate, length, window);
}

TEST(IntervalTree, ZeroLengthIntervalsActAsPoints) {
  IntervalTree<int, char> tree;
  const IntervalId a = tree.insert(10, 10, 'A');
  const IntervalId b = tree.insert(10, 20, 'B');
  const IntervalId c = tree.insert(20, 20, 'C');
  const IntervalId d = tree.insert(5, 10, 'D');
  auto values = [](const std::vector<IntervalTree<int, char>::Interval>& found) {
    std::string out;
    for (const auto& interval : found) out += interval.value;
    return out;
  };
  EXPECT_EQ(values(tree.overlapping(0, 10)), "D");    // A sits at 10, outside [0, 10)
  EXPECT_EQ(values(tree.overlapping(10, 11)), "AB");  // D ends at 10, exclusive
  EXPECT_EQ(values(tree.overlapping(10, 10)), "AB");  // a point window meets a point interval
  EXPECT_EQ(values(tree.overlapping(9, 10)), "D");
  EXPECT_EQ(values(tree.overlapping(15, 20)), "B");  // C at 20 is outside [15, 20)
  EXPECT_EQ(values(tree.overlapping(20, 30)), "C");
  EXPECT_EQ(values(tree.overlapping(0, 100)), "DABC");  // (start, end, id) order
  EXPECT_EQ(values(tree.stabbing(20)), "C");
  EXPECT_EQ(values(tree.stabbing(19)), "B");
  EXPECT_EQ(values(tree.stabbing(10)), "AB");
  EXPECT_EQ(values(tree.stabbing(4)), "");
  EXPECT_TRUE(tree.erase(a));
  EXPECT_EQ(values(tree.stabbing(10)), "B");
  EXPECT_TRUE(a.valid() && b.valid() && c.valid() && d.valid());
  tree.check_invariants();
}

TEST(IntervalTree, EqualIntervalsCoexistWithTheirOwnIds) {
  IntervalTree<std::int64_t, int> tree;
  const IntervalId first = tree.insert(1, 2, 100);
  const IntervalId second = tree.insert(1, 2, 200);
  const IntervalId third = tree.insert(1, 2, 300);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(ids_of<std::int64_t>(tree.stabbing(1)),
            (std::vector<std::int64_t>{first.value, second.value, third.value}));
  EXPECT_TRUE(tree.erase(second));
  EXPECT_FALSE(tree.erase(second));
  const auto rest = tree.stabbing(1);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].value, 100);
  EXPECT_EQ(rest[1].value, 300);
  tree.check_invariants();
}

TEST(IntervalTree, RejectsBadIntervalsAndWindowsNamingTheValues) {
  IntervalTree<double, int> tree;
  tree.insert(0.0, 1.0, 1);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  expect_error([&] { tree.insert(5.5, 3.25, 2); }, {"insert", "start 5.5", "end 3.25"});
  expect_error([&] { tree.insert(nan, 3.0, 2); }, {"start is NaN", "end 3"});
  expect_error([&] { tree.insert(1.0, nan, 2); }, {"end is NaN", "start 1"});
  expect_error([&] { tree.overlapping(4.0, 2.0); }, {"overlapping", "t0 4", "t1 2"});
  expect_error([&] { tree.overlapping(nan, 2.0); }, {"NaN"});
  expect_error([&] { tree.overlapping(0.0, nan, [](const auto&) {}); }, {"NaN"});
  expect_error([&] { tree.stabbing(nan); }, {"stabbing", "NaN"});
  EXPECT_EQ(tree.size(), 1u);  // failed inserts change nothing
  tree.check_invariants();

  IntervalTree<int, int> integers;
  expect_error([&] { integers.insert(7, -7, 0); }, {"start 7", "end -7"});
  expect_error(
      [&] {
        integers.stabbing(0);
        integers.overlapping(3, 2);
      },
      {"t0 3", "t1 2"});
  EXPECT_TRUE(integers.empty());

  // Infinite bounds are numbers, not errors.
  const double infinity = std::numeric_limits<double>::infinity();
  const IntervalId forever = tree.insert(-infinity, infinity, 9);
  EXPECT_EQ(tree.stabbing(1e300).size(), 1u);
  EXPECT_EQ(tree.stabbing(-1e300).front().id, forever);
  tree.check_invariants();
}

TEST(IntervalTree, UnknownIdsAreNotErasedAndIdsAreNeverReused) {
  IntervalTree<int, int> tree;
  EXPECT_FALSE(tree.erase(IntervalId{}));
  EXPECT_FALSE(tree.erase(IntervalId{1}));
  const IntervalId old_id = tree.insert(0, 5, 1);
  EXPECT_FALSE(tree.erase(IntervalId{old_id.value + 1}));
  EXPECT_TRUE(tree.contains(old_id));
  tree.clear();
  EXPECT_FALSE(tree.contains(old_id));
  const IntervalId new_id = tree.insert(0, 5, 2);
  EXPECT_GT(new_id, old_id);
  EXPECT_FALSE(tree.erase(old_id));  // a stale id must not hit the newer interval
  EXPECT_EQ(tree.size(), 1u);
  tree.check_invariants();
}

TEST(IntervalTree, CallbackReturningFalseStopsTheQuery) {
  IntervalTree<int, int> tree;
  for (int i = 0; i < 100; ++i) tree.insert(i, i + 10, i);
  std::vector<int> seen;
  tree.overlapping(20, 60, [&](const auto& interval) {
    seen.push_back(interval.value);
    return seen.size() < 3;
  });
  EXPECT_EQ(seen, (std::vector<int>{11, 12, 13}));  // [11, 21) is the first to reach 20
  int calls = 0;
  tree.stabbing(50, [&](const auto&) { ++calls; });  // a void callback sees every match
  EXPECT_EQ(calls, 10);
  std::vector<int> all;
  tree.for_each([&](const auto& interval) { all.push_back(interval.value); });
  EXPECT_EQ(all.size(), 100u);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
}

TEST(IntervalTree, SortedInsertsKeepHeightLogarithmic) {
  IntervalTree<std::int64_t, int> tree;
  std::vector<IntervalId> ids;
  constexpr int kCount = 1 << 15;
  for (int i = 0; i < kCount; ++i) {
    // Spans that arrive in time order, like a trace, all ending late: max_end matters at every
    // node.
    ids.push_back(tree.insert(i, 2 * kCount - i, i));
    ASSERT_LE(tree.height(), avl_height_bound(tree.size()));
  }
  tree.check_invariants();
  EXPECT_EQ(tree.stabbing(kCount).size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; i += 2) ASSERT_TRUE(tree.erase(ids[i]));
  tree.check_invariants();
  EXPECT_LE(tree.height(), avl_height_bound(tree.size()));
  EXPECT_EQ(tree.overlapping(0, 10).size(), 5u);  // starts 1, 3, 5, 7, 9
}

TEST(IntervalTree, CopyKeepsIdsAndIsIndependent) {
  IntervalTree<int, int> original;
  std::vector<IntervalId> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(original.insert(i % 17, i % 17 + i % 5, i));
  IntervalTree<int, int> copy = original;
  copy.check_invariants();
  EXPECT_TRUE(copy.erase(ids[10]));
  EXPECT_TRUE(original.contains(ids[10]));
  EXPECT_EQ(copy.size() + 1, original.size());
  const IntervalId next_in_copy = copy.insert(3, 4, -1);
  EXPECT_FALSE(original.contains(next_in_copy));

  IntervalTree<int, int> moved = std::move(original);
  EXPECT_TRUE(original.empty());  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_TRUE(moved.contains(ids[10]));
  moved.check_invariants();
}

TEST(IntervalTree, CheckInvariantsReportsWrongMaxEndAndIndex) {
  IntervalTree<int, int> tree;
  for (int i = 0; i < 31; ++i) tree.insert(i, i + 1, i);
  tree.check_invariants();
  auto* root = AvlTestPeer::root(tree);
  root->left->max_end -= 1;
  expect_error([&] { tree.check_invariants(); }, {"IntervalTree", "max_end"});
  root->left->max_end += 1;
  tree.check_invariants();
  // A node whose end grows without its ancestors learning of it.
  auto* leaf = AvlTestPeer::root(tree);
  while (leaf->left) leaf = leaf->left;
  leaf->interval.end = 1000;
  expect_error([&] { tree.check_invariants(); }, {"max_end", "1000"});
  leaf->interval.end = leaf->interval.start + 1;
  leaf->interval.id = IntervalId{999};
  expect_error([&] { tree.check_invariants(); }, {"id 999"});
}

}  // namespace
