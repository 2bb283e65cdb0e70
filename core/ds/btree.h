// B+tree ordered map: tb::ds::BPlusTreeMap<Key, Value, Compare>.
//
// All entries live in leaves (sorted keys and their values, in separate arrays), linked to their
// neighbours, so a range of consecutive keys is read leaf by leaf without going back up the tree.
// Internal nodes hold only separator keys and child pointers. Nodes are about 512 bytes; the
// number of slots follows from sizeof(Key) and sizeof(Value) and is fixed per instantiation
// (kLeafCapacity, kInternalCapacity; at least 3, at most 128). Used for sample-indexed and
// time-indexed lookups: "samples 10,000-20,000", "spans between t0 and t1".
//
// Requirements: Key copy constructible (separators are copies of keys); Key and Value nothrow
// move constructible, Key nothrow move assignable; Value may be move-only. Compare is a strict
// weak order on Key; keys are unique under it.
//
// Complexity (n entries): find / contains / lower_bound / upper_bound / insert / insert_or_assign /
// erase are O(log n); iterator ++ and -- are O(1); range(lo, hi) costs two descents and is then
// walked in O(1) per entry; bulk_load and copying are O(n); clear and destruction are O(n).
//
// Invalidation: any insert that adds an entry, and any erase, invalidates every iterator and
// reference into the map (entries move between nodes on splits, borrows and merges).
// insert_or_assign that assigns, failed inserts, lookups and value writes through iterators
// invalidate nothing. Moving or swapping maps keeps iterators valid (they follow the entries).
//
// Exceptions: insert, try_emplace, insert_or_assign, erase and bulk_load give the strong guarantee
// (an exception from an allocation or a Key/Value constructor leaves the map unchanged; only an
// exception from Value's own assignment in insert_or_assign leaves what that assignment left).
// bulk_load rejects input that is not strictly increasing with tb::Error naming the index of the
// first offending element. check_invariants() throws tb::Error describing the first violation.
//
// Iterators are bidirectional (std::bidirectional_iterator). Since keys and values are stored in
// separate arrays there is no pair object to refer to: dereferencing yields a BPlusTreeEntry
// proxy whose members `first` (const Key&) and `second` (Value&) refer into the leaf, so
// `it->second`, `(*it).first` and `for (auto [key, value] : map)` work as with std::map.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <new>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/util/error.h"

// ---- Internals: node layouts, node sizing, in-node search, element relocation ----------------

namespace tb::ds::btree_detail {

// About eight cache lines: large enough that a 1M-entry u64 map is five levels deep, small enough
// that shifting half a node on insert or erase stays cheap.
inline constexpr std::size_t kTargetNodeBytes = 512;
inline constexpr std::size_t kNodeAlignment = 64;
// Every non-root internal node has at least two children, so 64 levels cover any address space.
inline constexpr std::size_t kMaxHeight = 64;

inline constexpr std::size_t clamp_capacity(std::size_t slots) {
  return std::clamp<std::size_t>(slots, 3, 128);
}

// Shared first member of both node kinds; which kind a node is follows from its depth, so no tag.
struct NodeHeader {
  std::uint32_t count = 0;  // entries in a leaf, separator keys in an internal node
  std::uint32_t level = 0;  // 0 for leaves, 1 + the children's level for internal nodes
};

template <class Key, class Value, std::size_t kCapacity>
struct Leaf : NodeHeader {
  Leaf* prev = nullptr;
  Leaf* next = nullptr;
  // Keys and values in separate arrays: a search touches only key cache lines, a range scan
  // reads values contiguously.
  alignas(Key) unsigned char key_bytes[sizeof(Key) * kCapacity];
  alignas(Value) unsigned char value_bytes[sizeof(Value) * kCapacity];

  Key* keys() noexcept { return std::launder(reinterpret_cast<Key*>(key_bytes)); }
  const Key* keys() const noexcept { return std::launder(reinterpret_cast<const Key*>(key_bytes)); }
  Value* values() noexcept { return std::launder(reinterpret_cast<Value*>(value_bytes)); }
  const Value* values() const noexcept {
    return std::launder(reinterpret_cast<const Value*>(value_bytes));
  }
};

template <class Key, std::size_t kCapacity>
struct Internal : NodeHeader {
  // keys()[i] separates children()[i] (keys < separator) from children()[i + 1] (keys >=).
  alignas(Key) unsigned char key_bytes[sizeof(Key) * kCapacity];
  NodeHeader* child_ptrs[kCapacity + 1];

  Key* keys() noexcept { return std::launder(reinterpret_cast<Key*>(key_bytes)); }
  const Key* keys() const noexcept { return std::launder(reinterpret_cast<const Key*>(key_bytes)); }
  NodeHeader** children() noexcept { return child_ptrs; }
  NodeHeader* const* children() const noexcept { return child_ptrs; }
};

template <class Key, class Value>
inline constexpr std::size_t kLeafCapacity = clamp_capacity(
    (kTargetNodeBytes - sizeof(NodeHeader) - 2 * sizeof(void*)) / (sizeof(Key) + sizeof(Value)));

template <class Key>
inline constexpr std::size_t kInternalCapacity = clamp_capacity(
    (kTargetNodeBytes - sizeof(NodeHeader) - sizeof(void*)) / (sizeof(Key) + sizeof(void*)));

// Raw node memory on a cache-line boundary; the node object is created in it with placement new
// (default-initialised, so the slot arrays are not zeroed).
template <class T>
T* make_node(std::uint32_t level) {
  T* node = ::new (::operator new (sizeof(T), std::align_val_t{kNodeAlignment})) T;
  node->level = level;
  return node;
}

template <class T>
void free_node(T* node) noexcept {
  node->~T();
  ::operator delete (static_cast<void*>(node), sizeof(T), std::align_val_t{kNodeAlignment});
}

// Moves n constructed objects from src to the raw slots at dst, leaving src's slots raw. The
// ranges may overlap (shifts within a node); callers guarantee T's move constructor is noexcept.
template <class T>
void relocate(T* dst, T* src, std::size_t n) noexcept {
  if (n == 0 || dst == src) return;
  if constexpr (std::is_trivially_copyable_v<T>) {
    std::memmove(static_cast<void*>(dst), static_cast<const void*>(src), n * sizeof(T));
  } else if (dst < src) {
    for (std::size_t i = 0; i < n; ++i) {
      ::new (static_cast<void*>(dst + i)) T(std::move(src[i]));
      src[i].~T();
    }
  } else {
    for (std::size_t i = n; i-- > 0;) {
      ::new (static_cast<void*>(dst + i)) T(std::move(src[i]));
      src[i].~T();
    }
  }
}

template <class T>
void destroy_range(T* first, std::size_t n) noexcept {
  if constexpr (!std::is_trivially_destructible_v<T>) std::destroy_n(first, n);
}

// Arguments insert and insert_or_assign accept: whatever constructs (or assigns) a Key or Value.
template <class Arg, class T>
concept ConstructibleInto = std::constructible_from<T, Arg&&>;
template <class Arg, class T>
concept AssignableInto = std::assignable_from<T&, Arg&&>;

template <class C, class Key>
inline constexpr bool kIsPlainOrder =
    std::is_same_v<C, std::less<Key>> || std::is_same_v<C, std::less<>> ||
    std::is_same_v<C, std::greater<Key>> || std::is_same_v<C, std::greater<>>;

// Arithmetic keys under the built-in orders are counted with a branch-free linear pass, which the
// compiler vectorises and whose loads are independent, so a node's cache lines are fetched in
// parallel rather than one per binary-search probe. Everything else uses a branch-free binary
// search (one comparison per halving, no data-dependent branches for the predictor to miss).
template <class Key, class Compare>
inline constexpr bool kLinearSearch = std::is_arithmetic_v<Key>&& kIsPlainOrder<Compare, Key>;

// Index of the first of keys[0, n) not ordered before `key` (lower bound).
template <class Key, class Compare>
inline std::uint32_t lower_index(const Key* keys, std::uint32_t n, const Key& key,
                                 const Compare& comp) {
  if constexpr (kLinearSearch<Key, Compare>) {
    std::size_t before = 0;
    for (std::uint32_t i = 0; i < n; ++i) before += comp(keys[i], key) ? 1u : 0u;
    return static_cast<std::uint32_t>(before);
  } else {
    if (n == 0) return 0;
    const Key* base = keys;
    while (n > 1) {
      const std::uint32_t half = n / 2;
      base = comp(base[half], key) ? base + half : base;
      n -= half;
    }
    return static_cast<std::uint32_t>(base - keys) + (comp(*base, key) ? 1u : 0u);
  }
}

// Index of the first of keys[0, n) ordered after `key` (upper bound).
template <class Key, class Compare>
inline std::uint32_t upper_index(const Key* keys, std::uint32_t n, const Key& key,
                                 const Compare& comp) {
  if constexpr (kLinearSearch<Key, Compare>) {
    std::size_t not_after = 0;
    for (std::uint32_t i = 0; i < n; ++i) not_after += comp(key, keys[i]) ? 0u : 1u;
    return static_cast<std::uint32_t>(not_after);
  } else {
    if (n == 0) return 0;
    const Key* base = keys;
    while (n > 1) {
      const std::uint32_t half = n / 2;
      base = comp(key, base[half]) ? base : base + half;
      n -= half;
    }
    return static_cast<std::uint32_t>(base - keys) + (comp(key, *base) ? 0u : 1u);
  }
}

}  // namespace tb::ds::btree_detail

namespace tb::ds {

// What an iterator yields: references to one stored key and its value. `Value` is const-qualified
// for const iterators. Converts from std::pair<Key, Value>& so that the iterator concepts can
// relate it to value_type.
template <class Key, class Value>
struct BPlusTreeEntry {
 private:
  template <int>
  struct Unused {
    explicit Unused() = default;
  };
  using MutableValue = std::remove_const_t<Value>;
  static constexpr bool kConst = std::is_const_v<Value>;
  // Conversions that only a const entry has (a mutable one takes types nothing converts to):
  // from a mutable entry and from a const pair.
  using MutableEntry = std::conditional_t<kConst, BPlusTreeEntry<Key, MutableValue>, Unused<0>>;
  using ConstPair = std::conditional_t<kConst, std::pair<Key, MutableValue>, Unused<1>>;

 public:
  const Key& first;
  Value& second;

  BPlusTreeEntry(const Key& key, Value& value) noexcept : first(key), second(value) {}
  // Implicit on purpose: these are the conversions a common reference type needs.
  BPlusTreeEntry(const MutableEntry& entry) noexcept : first(entry.first), second(entry.second) {}
  BPlusTreeEntry(std::pair<Key, MutableValue>& pair) noexcept
      : first(pair.first), second(pair.second) {}
  BPlusTreeEntry(const ConstPair& pair) noexcept : first(pair.first), second(pair.second) {}
};

template <class Key, class Value, class Compare = std::less<Key>>
class BPlusTreeMap {
  using LeafNode = btree_detail::Leaf<Key, Value, btree_detail::kLeafCapacity<Key, Value>>;
  using InternalNode = btree_detail::Internal<Key, btree_detail::kInternalCapacity<Key>>;
  using Node = btree_detail::NodeHeader;

  static_assert(std::is_copy_constructible_v<Key>, "separator keys are copies of keys");
  static_assert(std::is_nothrow_move_constructible_v<Key> && std::is_nothrow_move_assignable_v<Key>,
                "entries are moved between nodes where failure cannot be undone");
  static_assert(std::is_nothrow_move_constructible_v<Value>,
                "entries are moved between nodes where failure cannot be undone");

 public:
  using key_type = Key;
  using mapped_type = Value;
  using key_compare = Compare;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using value_type = std::pair<Key, Value>;
  using reference = BPlusTreeEntry<Key, Value>;
  using const_reference = BPlusTreeEntry<Key, const Value>;

  // Slots per leaf and separator keys per internal node for this Key/Value; every non-root leaf
  // holds at least kLeafMinEntries and every non-root internal node has at least
  // kInternalMinChildren children (half of the capacity, rounded up).
  static constexpr std::size_t kLeafCapacity = btree_detail::kLeafCapacity<Key, Value>;
  static constexpr std::size_t kInternalCapacity = btree_detail::kInternalCapacity<Key>;
  static constexpr std::size_t kLeafMinEntries = (kLeafCapacity + 1) / 2;
  static constexpr std::size_t kInternalMinChildren = (kInternalCapacity + 2) / 2;

  template <bool kConst>
  class Iterator {
    struct Unused {
      explicit Unused() = default;
      LeafNode* leaf_ = nullptr;
      std::uint32_t index_ = 0;
    };
    using MutableIterator = std::conditional_t<kConst, Iterator<false>, Unused>;

   public:
    using iterator_concept = std::bidirectional_iterator_tag;
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = std::pair<Key, Value>;
    using difference_type = std::ptrdiff_t;
    using reference = BPlusTreeEntry<Key, std::conditional_t<kConst, const Value, Value>>;
    struct pointer {  // what operator-> returns: holds the proxy so `it->second` works
      reference entry;
      const reference* operator->() const noexcept { return &entry; }
    };

    Iterator() = default;
    // iterator -> const_iterator (for an iterator the parameter is a type nothing converts to).
    Iterator(const MutableIterator& other) noexcept : leaf_(other.leaf_), index_(other.index_) {}

    reference operator*() const noexcept {
      return reference(leaf_->keys()[index_], leaf_->values()[index_]);
    }
    pointer operator->() const noexcept { return pointer{**this}; }
    const Key& key() const noexcept { return leaf_->keys()[index_]; }
    auto& value() const noexcept { return (**this).second; }

    // Stepping past the last entry gives end(); stepping back from end() gives the last entry.
    Iterator& operator++() noexcept {
      if (++index_ == leaf_->count && leaf_->next != nullptr) {
        leaf_ = leaf_->next;
        index_ = 0;
      }
      return *this;
    }
    Iterator operator++(int) noexcept {
      Iterator copy = *this;
      ++*this;
      return copy;
    }
    Iterator& operator--() noexcept {
      if (index_ == 0) {
        leaf_ = leaf_->prev;
        index_ = leaf_->count;
      }
      --index_;
      return *this;
    }
    Iterator operator--(int) noexcept {
      Iterator copy = *this;
      --*this;
      return copy;
    }
    friend bool operator==(const Iterator& a, const Iterator& b) noexcept {
      return a.leaf_ == b.leaf_ && a.index_ == b.index_;
    }

   private:
    friend class BPlusTreeMap;
    template <bool>
    friend class Iterator;
    Iterator(LeafNode* leaf, std::uint32_t index) noexcept : leaf_(leaf), index_(index) {}

    // end() is (rightmost leaf, its count); (nullptr, 0) in an empty map.
    LeafNode* leaf_ = nullptr;
    std::uint32_t index_ = 0;
  };
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;
  using reverse_iterator = std::reverse_iterator<iterator>;
  using const_reverse_iterator = std::reverse_iterator<const_iterator>;

  // Half-open run of consecutive entries [first, last), as returned by range().
  template <class It>
  class Range {
   public:
    Range(It first, It last) : first_(first), last_(last) {}
    It begin() const noexcept { return first_; }
    It end() const noexcept { return last_; }
    bool empty() const noexcept { return first_ == last_; }

   private:
    It first_;
    It last_;
  };

  BPlusTreeMap() = default;
  explicit BPlusTreeMap(const Compare& comp) : comp_(comp) {}
  // O(n); rebuilds with full leaves rather than copying node by node.
  BPlusTreeMap(const BPlusTreeMap& other) requires std::is_copy_constructible_v<Value>
      : comp_(other.comp_) {
    adopt(build_sorted</*kMove=*/false, /*kCheckOrder=*/false>(other.begin(), other.end()));
  }
  BPlusTreeMap& operator=(const BPlusTreeMap& other) requires std::is_copy_constructible_v<Value> {
    if (this != &other) {
      BPlusTreeMap copy(other);
      swap(copy);
    }
    return *this;
  }
  // Leaves `other` empty.
  BPlusTreeMap(BPlusTreeMap&& other) noexcept : comp_(other.comp_) { steal(other); }
  BPlusTreeMap& operator=(BPlusTreeMap&& other) noexcept {
    if (this != &other) {
      clear();
      comp_ = other.comp_;
      steal(other);
    }
    return *this;
  }
  ~BPlusTreeMap() { clear(); }

  void swap(BPlusTreeMap& other) noexcept {
    using std::swap;
    swap(comp_, other.comp_);
    swap(root_, other.root_);
    swap(leftmost_, other.leftmost_);
    swap(rightmost_, other.rightmost_);
    swap(size_, other.size_);
    swap(node_count_, other.node_count_);
    swap(height_, other.height_);
  }
  friend void swap(BPlusTreeMap& a, BPlusTreeMap& b) noexcept { a.swap(b); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Levels of internal nodes above the leaves (0 for a single leaf or an empty map).
  std::size_t height() const noexcept { return height_; }
  // Allocated nodes; 0 exactly when nothing is allocated.
  std::size_t node_count() const noexcept { return node_count_; }
  const Compare& key_comp() const noexcept { return comp_; }

  // Destroys every entry and frees every node. O(n).
  void clear() noexcept {
    if (root_ != nullptr) destroy_subtree(root_, height_);
    root_ = nullptr;
    leftmost_ = rightmost_ = nullptr;
    size_ = 0;
    node_count_ = 0;
    height_ = 0;
  }

  iterator begin() noexcept { return iterator(leftmost_, 0); }
  const_iterator begin() const noexcept { return const_iterator(leftmost_, 0); }
  const_iterator cbegin() const noexcept { return begin(); }
  iterator end() noexcept { return iterator(rightmost_, end_index()); }
  const_iterator end() const noexcept { return const_iterator(rightmost_, end_index()); }
  const_iterator cend() const noexcept { return end(); }
  reverse_iterator rbegin() noexcept { return reverse_iterator(end()); }
  const_reverse_iterator rbegin() const noexcept { return const_reverse_iterator(end()); }
  reverse_iterator rend() noexcept { return reverse_iterator(begin()); }
  const_reverse_iterator rend() const noexcept { return const_reverse_iterator(begin()); }

  // Adds (key, value) if no entry has an equivalent key; otherwise leaves the map (and `value`)
  // untouched. Returns the entry with that key and whether it was inserted. O(log n).
  template <btree_detail::ConstructibleInto<Key> K = Key,
            btree_detail::ConstructibleInto<Value> V = Value>
  std::pair<iterator, bool> insert(K&& key, V&& value) {
    return emplace_impl</*kAssign=*/false>(as_key(std::forward<K>(key)), std::forward<V>(value));
  }
  // Like insert, but constructs the value from `args` only if the key is new.
  template <btree_detail::ConstructibleInto<Key> K = Key, class... Args>
  std::pair<iterator, bool> try_emplace(K&& key, Args&&... args) {
    return emplace_impl</*kAssign=*/false>(as_key(std::forward<K>(key)),
                                           std::forward<Args>(args)...);
  }
  // Inserts (key, value), or assigns `value` to the existing entry's value. Returns the entry and
  // whether it was inserted (false: assigned). O(log n).
  template <btree_detail::ConstructibleInto<Key> K = Key,
            btree_detail::AssignableInto<Value> V = Value>
  std::pair<iterator, bool> insert_or_assign(K&& key, V&& value) {
    return emplace_impl</*kAssign=*/true>(as_key(std::forward<K>(key)), std::forward<V>(value));
  }

  // Removes the entry with this key; returns how many were removed (0 or 1). Underfull nodes
  // borrow from a sibling or merge with it; a root left with one child is replaced by it.
  std::size_t erase(const Key& key) {
    Path path;
    LeafNode* leaf = descend(key, path);
    if (leaf == nullptr) return 0;
    const std::uint32_t index = btree_detail::lower_index(leaf->keys(), leaf->count, key, comp_);
    if (index == leaf->count || comp_(key, leaf->keys()[index])) return 0;
    erase_at(path, leaf, index);
    return 1;
  }
  // Removes the entry at `pos` (which must be dereferenceable); returns the entry after it.
  iterator erase(const_iterator pos) {
    Path path;
    LeafNode* leaf = descend(pos.key(), path);
    return erase_at(path, leaf, pos.index_);
  }

  iterator find(const Key& key) { return to_mutable(std::as_const(*this).find(key)); }
  const_iterator find(const Key& key) const {
    const LeafNode* leaf = descend(key, nullptr);
    if (leaf == nullptr) return end();
    const std::uint32_t index = btree_detail::lower_index(leaf->keys(), leaf->count, key, comp_);
    if (index == leaf->count || comp_(key, leaf->keys()[index])) return end();
    return const_iterator(const_cast<LeafNode*>(leaf), index);
  }
  bool contains(const Key& key) const { return find(key) != end(); }

  // First entry whose key is not ordered before `key` / is ordered after `key`; end() if none.
  iterator lower_bound(const Key& key) { return to_mutable(std::as_const(*this).lower_bound(key)); }
  const_iterator lower_bound(const Key& key) const { return bound<false>(key); }
  iterator upper_bound(const Key& key) { return to_mutable(std::as_const(*this).upper_bound(key)); }
  const_iterator upper_bound(const Key& key) const { return bound<true>(key); }

  // Entries with lo <= key < hi, in key order, walked through the leaf links. Empty when hi is
  // not after lo. The range is invalidated like iterators are.
  Range<iterator> range(const Key& lo, const Key& hi) {
    const auto r = std::as_const(*this).range(lo, hi);
    return Range<iterator>(to_mutable(r.begin()), to_mutable(r.end()));
  }
  Range<const_iterator> range(const Key& lo, const Key& hi) const {
    const const_iterator first = lower_bound(lo);
    if (!comp_(lo, hi)) return Range<const_iterator>(first, first);
    return Range<const_iterator>(first, lower_bound(hi));
  }

  // Replaces the contents with `sorted`, whose elements have `.first` (key) and `.second`
  // (value), e.g. std::pair<Key, Value>. Keys must be strictly increasing under Compare; the
  // first element that is not (a duplicate or out of order) makes it throw tb::Error naming that
  // element's index, and the map keeps its previous contents. Builds full leaves (the last two
  // leaves and each level's last two nodes are evened out to stay at least half full) and the
  // levels above them bottom-up: O(n), no comparisons beyond the order check. A range passed as
  // an rvalue container is moved from; lvalues and views are copied from.
  template <std::ranges::input_range R>
  void bulk_load(R&& sorted) {
    constexpr bool kMove =
        !std::is_lvalue_reference_v<R> && !std::ranges::view<std::remove_cvref_t<R>>;
    Built built = build_sorted<kMove, /*kCheckOrder=*/true>(std::ranges::begin(sorted),
                                                            std::ranges::end(sorted));
    clear();
    adopt(built);
  }

  // Verifies the structure; throws tb::Error naming the first violation found. O(n).
  void check_invariants() const;

 private:
  struct PathStep {
    InternalNode* node;
    std::uint32_t child;  // index of the child the descent took
  };
  using Path = PathStep[btree_detail::kMaxHeight];

  struct Built {
    Node* root = nullptr;
    LeafNode* leftmost = nullptr;
    LeafNode* rightmost = nullptr;
    std::size_t size = 0;
    std::size_t nodes = 0;
    std::size_t height = 0;
  };

  static LeafNode* as_leaf(Node* node) noexcept { return static_cast<LeafNode*>(node); }
  static const LeafNode* as_leaf(const Node* node) noexcept {
    return static_cast<const LeafNode*>(node);
  }
  static InternalNode* as_internal(Node* node) noexcept { return static_cast<InternalNode*>(node); }
  static const InternalNode* as_internal(const Node* node) noexcept {
    return static_cast<const InternalNode*>(node);
  }

  std::uint32_t end_index() const noexcept { return rightmost_ ? rightmost_->count : 0; }
  static iterator to_mutable(const_iterator it) noexcept { return iterator(it.leaf_, it.index_); }
  // An index one past a leaf's last entry means the next leaf's first entry (or end()).
  static iterator make_iterator(LeafNode* leaf, std::uint32_t index) noexcept {
    if (index == leaf->count && leaf->next != nullptr) return iterator(leaf->next, 0);
    return iterator(leaf, index);
  }

  template <class K>
  static decltype(auto) as_key(K&& key) {
    if constexpr (std::is_same_v<std::remove_cvref_t<K>, Key>) {
      return std::forward<K>(key);
    } else {
      return Key(std::forward<K>(key));
    }
  }

  // Entries (or separator keys) are destroyed along with the node; node_count_ is the caller's.
  static void release_leaf(LeafNode* leaf) noexcept {
    btree_detail::destroy_range(leaf->keys(), leaf->count);
    btree_detail::destroy_range(leaf->values(), leaf->count);
    btree_detail::free_node(leaf);
  }
  static void release_internal(InternalNode* node) noexcept {
    btree_detail::destroy_range(node->keys(), node->count);
    btree_detail::free_node(node);
  }
  LeafNode* new_leaf() {
    LeafNode* leaf = btree_detail::make_node<LeafNode>(0);
    ++node_count_;
    return leaf;
  }
  InternalNode* new_internal(std::uint32_t level) {
    InternalNode* node = btree_detail::make_node<InternalNode>(level);
    ++node_count_;
    return node;
  }
  void free_leaf(LeafNode* leaf) noexcept {
    release_leaf(leaf);
    --node_count_;
  }
  void free_internal(InternalNode* node) noexcept {
    release_internal(node);
    --node_count_;
  }
  void destroy_subtree(Node* node, std::size_t height) noexcept {
    if (height == 0) {
      free_leaf(as_leaf(node));
      return;
    }
    InternalNode* internal = as_internal(node);
    for (std::uint32_t i = 0; i <= internal->count; ++i) {
      destroy_subtree(internal->children()[i], height - 1);
    }
    free_internal(internal);
  }

  void steal(BPlusTreeMap& other) noexcept {
    root_ = std::exchange(other.root_, nullptr);
    leftmost_ = std::exchange(other.leftmost_, nullptr);
    rightmost_ = std::exchange(other.rightmost_, nullptr);
    size_ = std::exchange(other.size_, 0);
    node_count_ = std::exchange(other.node_count_, 0);
    height_ = std::exchange(other.height_, 0);
  }
  void adopt(const Built& built) noexcept {
    root_ = built.root;
    leftmost_ = built.leftmost;
    rightmost_ = built.rightmost;
    size_ = built.size;
    node_count_ = built.nodes;
    height_ = built.height;
  }

  // Walks from the root to the leaf whose key interval holds `key`, recording the internal nodes
  // and child indices in `path` when given. nullptr in an empty map.
  LeafNode* descend(const Key& key, PathStep* path) const {
    Node* node = root_;
    if (node == nullptr) return nullptr;
    for (std::size_t depth = 0; depth < height_; ++depth) {
      InternalNode* internal = as_internal(node);
      const std::uint32_t child =
          btree_detail::upper_index(internal->keys(), internal->count, key, comp_);
      if (path != nullptr) path[depth] = PathStep{internal, child};
      node = internal->children()[child];
    }
    return as_leaf(node);
  }

  template <bool kUpper>
  const_iterator bound(const Key& key) const {
    LeafNode* leaf = descend(key, nullptr);
    if (leaf == nullptr) return end();
    const std::uint32_t index =
        kUpper ? btree_detail::upper_index(leaf->keys(), leaf->count, key, comp_)
               : btree_detail::lower_index(leaf->keys(), leaf->count, key, comp_);
    return make_iterator(leaf, index);
  }

  template <bool kAssign, class K, class... Args>
  std::pair<iterator, bool> emplace_impl(K&& key, Args&&... args);
  template <class K, class... Args>
  std::pair<iterator, bool> insert_with_split(Path& path, LeafNode* leaf, std::uint32_t index,
                                              K&& key, Args&&... args);
  void insert_separator(Path& path, std::size_t depth, Key separator, Node* right,
                        Node** spare_nodes) noexcept;
  void open_leaf_gap(LeafNode* leaf, std::uint32_t index) noexcept;
  void remove_entry(LeafNode* leaf, std::uint32_t index) noexcept;
  void merge_leaves(LeafNode* left, LeafNode* right) noexcept;
  void merge_internal(InternalNode* left, InternalNode* right, InternalNode* parent,
                      std::uint32_t separator) noexcept;
  iterator erase_at(Path& path, LeafNode* leaf, std::uint32_t index);
  void fix_internal_underflow(Path& path, std::size_t depth) noexcept;
  void remove_separator(InternalNode* node, std::uint32_t key_index) noexcept;

  template <bool kMove, bool kCheckOrder, class It, class Sent>
  Built build_sorted(It first, Sent last) const;
  void check_subtree(const Node* node, std::size_t depth, const Key* lo, const Key* hi,
                     std::vector<const LeafNode*>& leaves, std::size_t& entries,
                     std::size_t& nodes) const;

  [[no_unique_address]] Compare comp_{};
  Node* root_ = nullptr;
  LeafNode* leftmost_ = nullptr;
  LeafNode* rightmost_ = nullptr;
  std::size_t size_ = 0;
  std::size_t node_count_ = 0;
  std::size_t height_ = 0;
};

}  // namespace tb::ds

// Lets BPlusTreeEntry and std::pair<Key, Value> share a common reference type, which
// std::indirectly_readable (and so std::bidirectional_iterator) requires of a proxy iterator: the
// entry type, with a const value if either side is const.
template <class Key, class Value, template <class> class EntryQual, template <class> class PairQual>
struct std::basic_common_reference<tb::ds::BPlusTreeEntry<Key, Value>,
                                   std::pair<Key, std::remove_const_t<Value>>, EntryQual,
                                   PairQual> {
  using type = tb::ds::BPlusTreeEntry<
      Key, std::conditional_t<std::is_const_v<std::remove_reference_t<PairQual<int>>>,
                              const std::remove_const_t<Value>, Value>>;
};
template <class Key, class Value, template <class> class PairQual, template <class> class EntryQual>
struct std::basic_common_reference<std::pair<Key, std::remove_const_t<Value>>,
                                   tb::ds::BPlusTreeEntry<Key, Value>, PairQual, EntryQual> {
  using type = tb::ds::BPlusTreeEntry<
      Key, std::conditional_t<std::is_const_v<std::remove_reference_t<PairQual<int>>>,
                              const std::remove_const_t<Value>, Value>>;
};

#include "core/ds/btree_detail.h"  // out-of-line member definitions
