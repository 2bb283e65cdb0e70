// AVL tree: an ordered map on a height-balanced binary search tree.
//
// tb::ds::AvlTree<Key, Value, Compare> behaves like a subset of std::map: unique keys kept in
// Compare order, bidirectional in-order iterators, lower/upper bound. Every node stores the height
// of its subtree and the tree keeps |height(left) - height(right)| <= 1 at every node through
// single and double rotations, so the height stays below 1.44 log2(n + 2) even for sorted input.
// That bound is tighter than a red-black tree's 2 log2(n + 1), which keeps lookups short.
//
// The rebalancing code lives in tb::ds::detail and works on any node type that derives from
// detail::AvlLinks and supplies a "refresh" policy; core/ds/interval_tree.h reuses it with nodes
// augmented by their subtree's largest interval end.
//
// Complexity (n = size()):
//   insert, insert_or_assign, find, contains, erase, lower_bound, upper_bound: O(log n)
//   ++/-- on an iterator: O(log n) worst case, O(1) amortised over a full traversal
//   clear, copy, check_invariants: O(n)
//
// Iterator invalidation: nodes never move in memory. insert and insert_or_assign invalidate
// nothing; erase invalidates only iterators to the erased element; clear invalidates all.
// An iterator remembers its tree (so that --end() works); moving or swapping a tree therefore
// invalidates its end() iterators, while iterators to elements follow the elements.
//
// Errors: lookups and erase of absent keys are not errors (end() / 0). check_invariants() throws
// tb::Error naming the in-order index of the first node that breaks an invariant.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <string>
#include <type_traits>
#include <utility>

#include "core/util/error.h"

namespace tb::ds {

namespace detail {

// The links every AVL node carries; node types derive from AvlLinks<Self> so that the code below
// serves the plain map node and the augmented interval node alike.
template <typename Node>
struct AvlLinks {
  Node* left = nullptr;
  Node* right = nullptr;
  Node* parent = nullptr;
  int height = 1;  // of the subtree rooted here: a leaf is 1, an empty subtree 0
};

template <typename Node>
int subtree_height(const Node* node) {
  return node ? node->height : 0;
}

template <typename Node>
Node* leftmost(Node* node) {
  while (node->left) node = node->left;
  return node;
}

template <typename Node>
Node* rightmost(Node* node) {
  while (node->right) node = node->right;
  return node;
}

// In-order successor, or nullptr after the last node.
template <typename Node>
Node* next_in_order(Node* node) {
  if (node->right) return leftmost(node->right);
  Node* parent = node->parent;
  while (parent && node == parent->right) {
    node = parent;
    parent = parent->parent;
  }
  return parent;
}

// In-order predecessor, or nullptr before the first node.
template <typename Node>
Node* previous_in_order(Node* node) {
  if (node->left) return rightmost(node->left);
  Node* parent = node->parent;
  while (parent && node == parent->left) {
    node = parent;
    parent = parent->parent;
  }
  return parent;
}

// Refresh policy of a node that carries nothing but its height.
struct RefreshHeight {
  template <typename Node>
  static bool refresh(Node* node) {
    const int height = 1 + std::max(subtree_height(node->left), subtree_height(node->right));
    const bool changed = height != node->height;
    node->height = height;
    return changed;
  }
};

// Rebalancing on nodes of type Node. Policy::refresh(node) recomputes the node's height and any
// augmented summary from its children (which must already be correct) and returns whether either
// changed; it lets the upward walk after an insert stop early.
template <typename Node, typename Policy>
struct AvlOps {
  static void replace_child(Node* parent, Node* old_child, Node* new_child, Node*& root) {
    if (!parent) {
      root = new_child;
    } else if (parent->left == old_child) {
      parent->left = new_child;
    } else {
      parent->right = new_child;
    }
  }

  // x with right child y becomes y's left child; y's old left subtree moves under x.
  static Node* rotate_left(Node* x, Node*& root) {
    Node* y = x->right;
    x->right = y->left;
    if (y->left) y->left->parent = x;
    y->parent = x->parent;
    replace_child(x->parent, x, y, root);
    y->left = x;
    x->parent = y;
    Policy::refresh(x);
    Policy::refresh(y);
    return y;
  }

  static Node* rotate_right(Node* x, Node*& root) {
    Node* y = x->left;
    x->left = y->right;
    if (y->right) y->right->parent = x;
    y->parent = x->parent;
    replace_child(x->parent, x, y, root);
    y->right = x;
    x->parent = y;
    Policy::refresh(x);
    Policy::refresh(y);
    return y;
  }

  // Restores balance at `node`, whose children differ in height by exactly 2, with a single or
  // double rotation. Returns the node now at the top of that subtree.
  static Node* rotate_to_balance(Node* node, Node*& root) {
    if (subtree_height(node->left) > subtree_height(node->right)) {
      Node* child = node->left;
      if (subtree_height(child->left) < subtree_height(child->right)) rotate_left(child, root);
      return rotate_right(node, root);
    }
    Node* child = node->right;
    if (subtree_height(child->right) < subtree_height(child->left)) rotate_right(child, root);
    return rotate_left(node, root);
  }

  // Walks from `node` to the root, refreshing and rebalancing each node. After an insert a node
  // whose height and summary did not change cannot unbalance or change its ancestors, so the walk
  // may stop there; after an erase a node can become unbalanced with an unchanged height, so the
  // walk must go all the way up.
  static void retrace(Node* node, Node*& root, bool stop_when_unchanged) {
    while (node) {
      const int balance = subtree_height(node->left) - subtree_height(node->right);
      if (balance > 1 || balance < -1) {
        node = rotate_to_balance(node, root);
      } else if (!Policy::refresh(node) && stop_when_unchanged) {
        return;
      }
      node = node->parent;
    }
  }

  // Hangs the fresh leaf under `parent` (nullptr: the tree was empty) and rebalances.
  static void attach_leaf(Node* leaf, Node* parent, bool as_left_child, Node*& root) {
    leaf->parent = parent;
    if (!parent) {
      root = leaf;
      return;
    }
    (as_left_child ? parent->left : parent->right) = leaf;
    retrace(parent, root, /*stop_when_unchanged=*/true);
  }

  // Unlinks `node` from the tree and rebalances; the caller frees it. A node with two children is
  // replaced by its in-order successor by relinking (not by copying the successor's payload), so
  // that every other node, and every iterator or id pointing at one, stays valid.
  static void detach(Node* node, Node*& root) {
    Node* retrace_from = nullptr;
    if (!node->left || !node->right) {
      Node* child = node->left ? node->left : node->right;
      retrace_from = node->parent;
      replace_child(node->parent, node, child, root);
      if (child) child->parent = node->parent;
    } else {
      Node* successor = leftmost(node->right);
      if (successor->parent == node) {
        retrace_from = successor;  // keeps its right subtree, takes over node's left
      } else {
        retrace_from = successor->parent;
        successor->parent->left = successor->right;
        if (successor->right) successor->right->parent = successor->parent;
        successor->right = node->right;
        node->right->parent = successor;
      }
      successor->left = node->left;
      node->left->parent = successor;
      successor->parent = node->parent;  // its height is refreshed by the retrace below
      replace_child(node->parent, node, successor, root);
    }
    node->left = node->right = node->parent = nullptr;
    retrace(retrace_from, root, /*stop_when_unchanged=*/false);
  }

  template <typename Free>
  static void destroy(Node* node, Free&& free_node) {
    while (node) {  // loop on the right spine, recurse on the left: depth stays O(log n)
      destroy(node->left, free_node);
      Node* right = node->right;
      free_node(node);
      node = right;
    }
  }

  // Deep copy of a subtree; `clone_node` copies one node's payload (links are set here).
  template <typename Clone>
  static Node* copy(const Node* source, Node* parent, Clone&& clone_node) {
    if (!source) return nullptr;
    Node* node = clone_node(*source);
    node->parent = parent;
    node->height = source->height;
    try {
      node->left = copy(source->left, node, clone_node);
      node->right = copy(source->right, node, clone_node);
    } catch (...) {
      destroy(node, [](Node* n) { delete n; });
      throw;
    }
    return node;
  }
};

// Full structural check shared by AvlTree and IntervalTree: parent links, stored heights, balance,
// strict in-order ordering (`ordered(a, b)` must hold for each adjacent pair) and the node count.
// `check_node(node)` adds the checks of an augmented node once its children are checked: it returns
// what is wrong with the node, or an empty string.
template <typename Node, typename Ordered, typename CheckNode>
class AvlInvariantChecker {
 public:
  AvlInvariantChecker(const char* structure, std::size_t expected_size, Ordered ordered,
                      CheckNode check_node)
      : structure_(structure),
        expected_size_(expected_size),
        ordered_(std::move(ordered)),
        check_node_(std::move(check_node)) {}

  void run(const Node* root) {
    if (root && root->parent) fail("the root has a parent link");
    check(root, nullptr, 1);
    if (visited_ != expected_size_) {
      fail("size() is " + std::to_string(expected_size_) + " but the tree holds " +
           std::to_string(visited_) + " nodes");
    }
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(std::string(structure_) + "::check_invariants: " + what);
  }

  [[noreturn]] void fail_at(std::size_t index, const std::string& what) const {
    fail("node at in-order index " + std::to_string(index) + ": " + what);
  }

 private:
  // An AVL tree of 2^64 nodes is shorter than this; deeper means a cycle or a corrupt link.
  static constexpr int kMaxDepth = 100;

  int check(const Node* node, const Node* parent, int depth) {
    if (!node) return 0;
    if (depth > kMaxDepth) {
      fail("deeper than " + std::to_string(kMaxDepth) + " levels (a cycle in the links?)");
    }
    const int left_height = check(node->left, node, depth + 1);
    const std::size_t index = visited_++;
    if (visited_ > expected_size_) {
      fail("more nodes than size() = " + std::to_string(expected_size_));
    }
    if (node->parent != parent) fail_at(index, "parent link does not point at its parent");
    if (previous_ && !ordered_(*previous_, *node)) {
      fail_at(index, "key is not after the previous node's key (search-tree order broken)");
    }
    previous_ = node;
    const int right_height = check(node->right, node, depth + 1);
    const int height = 1 + std::max(left_height, right_height);
    if (node->height != height) {
      fail_at(index, "stores height " + std::to_string(node->height) + " but its subtree is " +
                         std::to_string(height) + " high");
    }
    if (std::abs(left_height - right_height) > 1) {
      fail_at(index, "subtree heights " + std::to_string(left_height) + " (left) and " +
                         std::to_string(right_height) + " (right) differ by more than 1");
    }
    if (std::string problem = check_node_(*node); !problem.empty()) fail_at(index, problem);
    return height;
  }

  const char* structure_;
  std::size_t expected_size_;
  Ordered ordered_;
  CheckNode check_node_;
  std::size_t visited_ = 0;
  const Node* previous_ = nullptr;
};

// Befriended by the trees so that tests can corrupt them and prove check_invariants() notices.
// Defined only in the tests.
struct AvlTestPeer;

}  // namespace detail

template <typename Key, typename Value, typename Compare = std::less<Key>>
class AvlTree {
 public:
  using key_type = Key;
  using mapped_type = Value;
  using value_type = std::pair<const Key, Value>;
  using size_type = std::size_t;
  using key_compare = Compare;

 private:
  struct Node : detail::AvlLinks<Node> {
    template <typename K, typename V>
    Node(K&& key, V&& value) : entry(std::forward<K>(key), std::forward<V>(value)) {}
    value_type entry;
  };
  using Ops = detail::AvlOps<Node, detail::RefreshHeight>;

  template <bool IsConst>
  class Iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = AvlTree::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = std::conditional_t<IsConst, const value_type*, value_type*>;
    using reference = std::conditional_t<IsConst, const value_type&, value_type&>;

    Iterator() = default;
    // iterator -> const_iterator
    template <bool OtherConst>
    requires(IsConst && !OtherConst) Iterator(const Iterator<OtherConst>& other)
        : node_(other.node_), tree_(other.tree_) {}

    reference operator*() const { return node_->entry; }
    pointer operator->() const { return &node_->entry; }

    Iterator& operator++() {
      node_ = detail::next_in_order(node_);
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    // --end() is the last element; --begin() is undefined, as for std::map.
    Iterator& operator--() {
      node_ = node_ ? detail::previous_in_order(node_) : detail::rightmost(tree_->root_);
      return *this;
    }
    Iterator operator--(int) {
      Iterator before = *this;
      --*this;
      return before;
    }

    friend bool operator==(const Iterator& a, const Iterator& b) { return a.node_ == b.node_; }

   private:
    friend class AvlTree;
    template <bool>
    friend class Iterator;

    Iterator(Node* node, const AvlTree* tree) : node_(node), tree_(tree) {}

    Node* node_ = nullptr;
    const AvlTree* tree_ = nullptr;
  };

 public:
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

  AvlTree() = default;
  explicit AvlTree(const Compare& compare) : compare_(compare) {}
  AvlTree(const AvlTree& other) : compare_(other.compare_) {
    root_ = Ops::copy(other.root_, nullptr, [](const Node& source) {
      return new Node(source.entry.first, source.entry.second);
    });
    size_ = other.size_;
  }
  AvlTree(AvlTree&& other) noexcept : compare_(other.compare_) { swap(other); }
  AvlTree& operator=(AvlTree other) noexcept {
    swap(other);
    return *this;
  }
  ~AvlTree() { clear(); }

  void swap(AvlTree& other) noexcept {
    std::swap(root_, other.root_);
    std::swap(size_, other.size_);
    std::swap(compare_, other.compare_);
  }

  // Inserts (key, value) unless the key is present; an existing value is left untouched.
  // Returns the element with that key and whether it was inserted. O(log n).
  std::pair<iterator, bool> insert(Key key, Value value) {
    const Slot slot = find_slot(key);
    if (slot.found) return {make_iterator(slot.found), false};
    Node* node = new Node(std::move(key), std::move(value));
    Ops::attach_leaf(node, slot.parent, slot.as_left_child, root_);
    ++size_;
    return {make_iterator(node), true};
  }

  // Inserts (key, value), or assigns value to the existing element with that key.
  // Returns the element and whether it was inserted (false: assigned). O(log n).
  std::pair<iterator, bool> insert_or_assign(Key key, Value value) {
    const Slot slot = find_slot(key);
    if (slot.found) {
      slot.found->entry.second = std::move(value);
      return {make_iterator(slot.found), false};
    }
    Node* node = new Node(std::move(key), std::move(value));
    Ops::attach_leaf(node, slot.parent, slot.as_left_child, root_);
    ++size_;
    return {make_iterator(node), true};
  }

  // The element with this key, or end(). O(log n).
  iterator find(const Key& key) { return make_iterator(find_node(key)); }
  const_iterator find(const Key& key) const { return make_iterator(find_node(key)); }
  bool contains(const Key& key) const { return find_node(key) != nullptr; }

  // Removes the element with this key; returns how many were removed (0 or 1). O(log n).
  size_type erase(const Key& key) {
    Node* node = find_node(key);
    if (!node) return 0;
    remove(node);
    return 1;
  }

  // Removes the element at `position` (must be dereferenceable) and returns the one after it.
  iterator erase(const_iterator position) {
    Node* node = position.node_;
    Node* next = detail::next_in_order(node);
    remove(node);
    return make_iterator(next);
  }

  // First element whose key is not before `key` / is after `key`, or end(). O(log n).
  iterator lower_bound(const Key& key) { return make_iterator(lower_bound_node(key)); }
  const_iterator lower_bound(const Key& key) const { return make_iterator(lower_bound_node(key)); }
  iterator upper_bound(const Key& key) { return make_iterator(upper_bound_node(key)); }
  const_iterator upper_bound(const Key& key) const { return make_iterator(upper_bound_node(key)); }

  iterator begin() { return make_iterator(root_ ? detail::leftmost(root_) : nullptr); }
  const_iterator begin() const { return make_iterator(root_ ? detail::leftmost(root_) : nullptr); }
  const_iterator cbegin() const { return begin(); }
  iterator end() { return make_iterator(nullptr); }
  const_iterator end() const { return make_iterator(nullptr); }
  const_iterator cend() const { return end(); }

  size_type size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Levels in the tree: 0 when empty, 1 for a single element; always < 1.44 log2(size() + 2).
  int height() const { return detail::subtree_height(root_); }
  const Compare& key_comp() const { return compare_; }

  // Removes every element. O(n).
  void clear() {
    Ops::destroy(root_, [](Node* node) { delete node; });
    root_ = nullptr;
    size_ = 0;
  }

  // Verifies search-tree order under Compare, every stored height, |balance| <= 1 at every node,
  // parent links and size(). Throws tb::Error naming the first broken invariant. O(n).
  void check_invariants() const {
    auto ordered = [this](const Node& a, const Node& b) {
      return compare_(a.entry.first, b.entry.first);
    };
    auto no_extra_check = [](const Node&) { return std::string(); };
    detail::AvlInvariantChecker<Node, decltype(ordered), decltype(no_extra_check)> checker(
        "AvlTree", size_, ordered, no_extra_check);
    checker.run(root_);
  }

 private:
  friend struct detail::AvlTestPeer;

  struct Slot {
    Node* found = nullptr;   // the node holding the key, if any
    Node* parent = nullptr;  // otherwise: where a new leaf would hang
    bool as_left_child = false;
  };

  Slot find_slot(const Key& key) const {
    Slot slot;
    Node* node = root_;
    while (node) {
      if (compare_(key, node->entry.first)) {
        slot.parent = node;
        slot.as_left_child = true;
        node = node->left;
      } else if (compare_(node->entry.first, key)) {
        slot.parent = node;
        slot.as_left_child = false;
        node = node->right;
      } else {
        slot.found = node;
        return slot;
      }
    }
    return slot;
  }

  Node* find_node(const Key& key) const {
    Node* node = root_;
    while (node) {
      if (compare_(key, node->entry.first)) {
        node = node->left;
      } else if (compare_(node->entry.first, key)) {
        node = node->right;
      } else {
        return node;
      }
    }
    return nullptr;
  }

  Node* lower_bound_node(const Key& key) const {
    Node* best = nullptr;
    for (Node* node = root_; node;) {
      if (compare_(node->entry.first, key)) {
        node = node->right;
      } else {
        best = node;
        node = node->left;
      }
    }
    return best;
  }

  Node* upper_bound_node(const Key& key) const {
    Node* best = nullptr;
    for (Node* node = root_; node;) {
      if (compare_(key, node->entry.first)) {
        best = node;
        node = node->left;
      } else {
        node = node->right;
      }
    }
    return best;
  }

  void remove(Node* node) {
    Ops::detach(node, root_);
    delete node;
    --size_;
  }

  iterator make_iterator(Node* node) { return iterator(node, this); }
  const_iterator make_iterator(Node* node) const { return const_iterator(node, this); }

  Node* root_ = nullptr;
  size_type size_ = 0;
  [[no_unique_address]] Compare compare_{};
};

}  // namespace tb::ds
