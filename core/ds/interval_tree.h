// Interval tree: closed-open intervals [start, end) with a value each, answering "which intervals
// overlap this window" and "which contain this point" without scanning them all.
//
// tb::ds::IntervalTree<T, Value> is an AVL tree (core/ds/avl_tree.h) ordered by
// (start, end, insertion id) and augmented with the largest end in each subtree. A query walks the
// tree in start order, skipping subtrees whose largest end is before the window and stopping at
// the first start past it. The profiler timeline asks it which spans overlap the visible window;
// the memory plot asks which allocations [allocated at, freed at) are live at a time.
//
// Coordinates: T is an arithmetic type (integer timestamps or floating seconds). An interval needs
// start <= end; equal intervals may coexist, each with its own IntervalId.
//
// Overlap rule. A non-empty interval [s, e) covers the points s <= x < e. A zero-length interval
// [t, t) is treated as the single point t, so a zero-duration span still shows on a timeline. A
// query window [t0, t1) follows the same rule (an empty window [t, t) is the point t). An
// interval overlaps a window when the two share a point:
//   non-empty interval, non-empty window:  s < t1 && t0 < e
//   point t,            non-empty window:  t0 <= t < t1
//   non-empty interval, point t:           s <= t < e
//   point s,            point t:           s == t
// stabbing(t) is overlapping(t, t): intervals with s <= t < e, plus zero-length ones at t.
//
// Complexity (n = size(), k = intervals reported):
//   insert, erase: O(log n) (erase finds the node through a hash map from id, expected O(1))
//   overlapping, stabbing: O(log n + k) on typical data, O((k + 1) log n) worst case
//   find: expected O(1); clear, copy, for_each, check_invariants: O(n)
// Results come in (start, end, id) order. Callbacks must not modify the tree.
//
// Errors: insert with start > end or a NaN coordinate, and queries with t0 > t1 or NaN, throw
// tb::Error naming the values; the tree is unchanged. erase of an unknown or already erased id
// returns false. Ids are never reused, not even after clear(), so a stale id cannot erase a newer
// interval.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ds/avl_tree.h"
#include "core/util/error.h"
#include "core/util/typed_id.h"

namespace tb::ds {

struct IntervalTag {};
// Names one interval of one IntervalTree; valid ids start at 1.
using IntervalId = TypedId<IntervalTag>;

template <typename T, typename Value>
class IntervalTree {
  static_assert(std::is_arithmetic_v<T>, "IntervalTree coordinates must be arithmetic");

 public:
  struct Interval {
    IntervalId id;
    T start;
    T end;
    Value value;
  };

 private:
  struct Node : detail::AvlLinks<Node> {
    explicit Node(Interval in) : interval(std::move(in)), max_end(interval.end) {}
    Interval interval;
    T max_end;  // largest interval.end in this subtree
  };

  struct RefreshHeightAndMaxEnd {
    static bool refresh(Node* node) {
      const bool height_changed = detail::RefreshHeight::refresh(node);
      T max_end = node->interval.end;
      if (node->left && max_end < node->left->max_end) max_end = node->left->max_end;
      if (node->right && max_end < node->right->max_end) max_end = node->right->max_end;
      const bool max_end_changed = max_end != node->max_end;
      node->max_end = max_end;
      return height_changed || max_end_changed;
    }
  };
  using Ops = detail::AvlOps<Node, RefreshHeightAndMaxEnd>;

 public:
  IntervalTree() = default;
  IntervalTree(const IntervalTree& other) : next_id_(other.next_id_) {
    root_ = Ops::copy(other.root_, nullptr, [](const Node& source) {
      Node* node = new Node(source.interval);
      node->max_end = source.max_end;
      return node;
    });
    size_ = other.size_;
    try {
      index_subtree(root_);
    } catch (...) {
      clear();
      throw;
    }
  }
  IntervalTree(IntervalTree&& other) noexcept { swap(other); }
  IntervalTree& operator=(IntervalTree other) noexcept {
    swap(other);
    return *this;
  }
  ~IntervalTree() { clear(); }

  void swap(IntervalTree& other) noexcept {
    std::swap(root_, other.root_);
    std::swap(size_, other.size_);
    std::swap(next_id_, other.next_id_);
    by_id_.swap(other.by_id_);
  }

  // Adds [start, end) with its value and returns its new id. O(log n).
  // Throws tb::Error if start > end or either is NaN.
  IntervalId insert(T start, T end, Value value) {
    check_coordinate("insert", "start", start, "end", end);
    check_coordinate("insert", "end", end, "start", start);
    if (end < start) {
      throw Error("IntervalTree::insert: start " + format(start) + " is after end " + format(end) +
                  "; an interval [start, end) needs start <= end");
    }
    const IntervalId id(next_id_);
    // The new id is larger than every stored one, so ties on (start, end) go right.
    Node* parent = nullptr;
    bool as_left_child = false;
    for (Node* node = root_; node;) {
      parent = node;
      const Interval& other = node->interval;
      as_left_child = start < other.start || (start == other.start && end < other.end);
      node = as_left_child ? node->left : node->right;
    }
    Node* node = new Node(Interval{id, start, end, std::move(value)});
    try {
      by_id_.emplace(id, node);
    } catch (...) {
      delete node;
      throw;
    }
    Ops::attach_leaf(node, parent, as_left_child, root_);
    ++next_id_;
    ++size_;
    return id;
  }

  // Removes the interval with this id. Returns false (and changes nothing) for an id this tree
  // does not hold: never issued or already erased. Ids are plain numbers, so an id from another
  // tree names whatever interval carries that number here. O(log n).
  bool erase(IntervalId id) {
    const auto found = by_id_.find(id);
    if (found == by_id_.end()) return false;
    Node* node = found->second;
    by_id_.erase(found);
    Ops::detach(node, root_);
    delete node;
    --size_;
    return true;
  }

  // The interval with this id, or nullptr. The pointer stays valid until that interval is erased.
  const Interval* find(IntervalId id) const {
    const auto found = by_id_.find(id);
    return found == by_id_.end() ? nullptr : &found->second->interval;
  }
  bool contains(IntervalId id) const { return by_id_.count(id) != 0; }

  // Calls on_interval(const Interval&) for each interval overlapping the window [t0, t1) (see the
  // overlap rule above) in (start, end, id) order. If on_interval returns bool, false stops the
  // query. Throws tb::Error if t0 > t1 or either is NaN.
  template <typename OnInterval>
  void overlapping(T t0, T t1, OnInterval&& on_interval) const {
    check_window("overlapping", t0, t1);
    Window window{t0, t1, t0 == t1};
    visit(root_, window, on_interval);
  }

  // The intervals overlapping [t0, t1), copied, in (start, end, id) order.
  std::vector<Interval> overlapping(T t0, T t1) const {
    std::vector<Interval> found;
    overlapping(t0, t1, [&found](const Interval& interval) { found.push_back(interval); });
    return found;
  }

  // Calls on_interval for each interval containing the point t: start <= t < end, or a
  // zero-length interval at t. Same order, early stop and errors as overlapping().
  template <typename OnInterval>
  void stabbing(T t, OnInterval&& on_interval) const {
    check_coordinate("stabbing", "t", t, nullptr, t);
    Window window{t, t, true};
    visit(root_, window, on_interval);
  }

  std::vector<Interval> stabbing(T t) const {
    std::vector<Interval> found;
    stabbing(t, [&found](const Interval& interval) { found.push_back(interval); });
    return found;
  }

  // Calls on_interval for every interval in (start, end, id) order. O(n).
  template <typename OnInterval>
  void for_each(OnInterval&& on_interval) const {
    for (Node* node = root_ ? detail::leftmost(root_) : nullptr; node;
         node = detail::next_in_order(node)) {
      if (!report(on_interval, node->interval)) return;
    }
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int height() const { return detail::subtree_height(root_); }

  // Removes every interval. Ids issued so far stay retired. O(n).
  void clear() {
    Ops::destroy(root_, [](Node* node) { delete node; });
    root_ = nullptr;
    size_ = 0;
    by_id_.clear();
  }

  // Verifies the AVL invariants (order by (start, end, id), heights, balance, parent links, size),
  // that every node's max_end is the largest end in its subtree, that start <= end, and that the
  // id index maps each id to its node. Throws tb::Error naming the first broken one. O(n).
  void check_invariants() const {
    auto ordered = [](const Node& a, const Node& b) {
      const Interval& x = a.interval;
      const Interval& y = b.interval;
      if (x.start != y.start) return x.start < y.start;
      if (x.end != y.end) return x.end < y.end;
      return x.id < y.id;
    };
    auto check_node = [this](const Node& node) -> std::string {
      const Interval& interval = node.interval;
      if (!(interval.start <= interval.end)) {
        return "start " + format(interval.start) + " is not <= end " + format(interval.end);
      }
      T max_end = interval.end;
      if (node.left && max_end < node.left->max_end) max_end = node.left->max_end;
      if (node.right && max_end < node.right->max_end) max_end = node.right->max_end;
      if (node.max_end != max_end) {
        return "stores max_end " + format(node.max_end) +
               " but the largest end in its subtree is " + format(max_end);
      }
      if (interval.id.value <= 0 || interval.id.value >= next_id_) {
        return "id " + std::to_string(interval.id.value) + " was never issued by this tree";
      }
      const auto found = by_id_.find(interval.id);
      if (found == by_id_.end() || found->second != &node) {
        return "id " + std::to_string(interval.id.value) + " is not indexed to this node";
      }
      return {};
    };
    detail::AvlInvariantChecker<Node, decltype(ordered), decltype(check_node)> checker(
        "IntervalTree", size_, ordered, check_node);
    checker.run(root_);
    if (by_id_.size() != size_) {
      checker.fail("the id index holds " + std::to_string(by_id_.size()) + " ids for " +
                   std::to_string(size_) + " intervals");
    }
  }

 private:
  friend struct detail::AvlTestPeer;

  struct Window {
    T t0;
    T t1;
    bool is_point;  // t0 == t1: the window is the single point t0
  };

  template <typename OnInterval>
  static bool report(OnInterval& on_interval, const Interval& interval) {
    if constexpr (std::is_convertible_v<std::invoke_result_t<OnInterval&, const Interval&>, bool>) {
      return static_cast<bool>(on_interval(interval));
    } else {
      on_interval(interval);
      return true;
    }
  }

  // In-order walk of the overlapping part of a subtree; returns false once the callback asked to
  // stop. Recurses left and loops right, so the stack stays O(log n).
  template <typename OnInterval>
  static bool visit(const Node* node, const Window& window, OnInterval& on_interval) {
    while (node) {
      // Every interval below ends before the window: none can reach it. (An end equal to t0
      // still matters: a zero-length interval at t0 overlaps.)
      if (node->max_end < window.t0) return true;
#if defined(__GNUC__)
      // The right child is needed after the whole left subtree; fetch it while that runs.
      if (node->right) __builtin_prefetch(node->right);
#endif
      if (!visit(node->left, window, on_interval)) return false;
      const Interval& interval = node->interval;
      const T start = interval.start;
      // Starts only grow to the right: once one is past the window, nothing further overlaps.
      if (!(start < window.t1 || (window.is_point && start == window.t1))) return true;
      const T end = interval.end;
      if (window.t0 < end || (start == end && window.t0 == end)) {
        if (!report(on_interval, interval)) return false;
      }
      node = node->right;
    }
    return true;
  }

  void index_subtree(Node* node) {
    for (; node; node = node->right) {
      index_subtree(node->left);
      by_id_.emplace(node->interval.id, node);
    }
  }

  static std::string format(T value) {
    std::ostringstream out;
    if constexpr (std::is_floating_point_v<T>) {
      out.precision(std::numeric_limits<T>::max_digits10);
    }
    out << +value;
    return out.str();
  }

  // Throws if `value` is NaN, naming it and, when given, the other coordinate of the call.
  static void check_coordinate(const char* operation, const char* name, T value,
                               const char* other_name, T other) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(value)) {
        std::string message = std::string("IntervalTree::") + operation + ": " + name + " is NaN";
        if (other_name) message += " (" + std::string(other_name) + " " + format(other) + ")";
        throw Error(message + "; coordinates must be numbers");
      }
    } else {
      (void)operation, (void)name, (void)value, (void)other_name, (void)other;
    }
  }

  static void check_window(const char* operation, T t0, T t1) {
    check_coordinate(operation, "window start t0", t0, "t1", t1);
    check_coordinate(operation, "window end t1", t1, "t0", t0);
    if (t1 < t0) {
      throw Error(std::string("IntervalTree::") + operation + ": window start t0 " + format(t0) +
                  " is after window end t1 " + format(t1) + "; a window [t0, t1) needs t0 <= t1");
    }
  }

  Node* root_ = nullptr;
  std::size_t size_ = 0;
  std::int64_t next_id_ = 1;
  std::unordered_map<IntervalId, Node*> by_id_;
};

}  // namespace tb::ds
