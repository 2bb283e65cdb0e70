// Out-of-line members of tb::ds::BPlusTreeMap (core/ds/btree.h): insertion with splits, erasure
// with borrowing and merging, bulk construction and the invariant checker. Not public API:
// include core/ds/btree.h, which includes this file at its end.
#pragma once

#include "core/ds/btree.h"

namespace tb::ds {

#define TB_BTREE_TEMPLATE template <class Key, class Value, class Compare>
#define TB_BTREE BPlusTreeMap<Key, Value, Compare>

TB_BTREE_TEMPLATE
void TB_BTREE::open_leaf_gap(LeafNode* leaf, std::uint32_t index) noexcept {
  const std::uint32_t tail = leaf->count - index;
  btree_detail::relocate(leaf->keys() + index + 1, leaf->keys() + index, tail);
  btree_detail::relocate(leaf->values() + index + 1, leaf->values() + index, tail);
}

TB_BTREE_TEMPLATE
void TB_BTREE::remove_entry(LeafNode* leaf, std::uint32_t index) noexcept {
  leaf->keys()[index].~Key();
  leaf->values()[index].~Value();
  const std::uint32_t tail = leaf->count - index - 1;
  btree_detail::relocate(leaf->keys() + index, leaf->keys() + index + 1, tail);
  btree_detail::relocate(leaf->values() + index, leaf->values() + index + 1, tail);
  --leaf->count;
}

TB_BTREE_TEMPLATE
template <bool kAssign, class K, class... Args>
auto TB_BTREE::emplace_impl(K&& key, Args&&... args) -> std::pair<iterator, bool> {
  if (root_ == nullptr) {
    LeafNode* leaf = new_leaf();
    try {
      ::new (static_cast<void*>(leaf->keys())) Key(std::forward<K>(key));
      try {
        ::new (static_cast<void*>(leaf->values())) Value(std::forward<Args>(args)...);
      } catch (...) {
        leaf->keys()->~Key();
        throw;
      }
    } catch (...) {
      free_leaf(leaf);
      throw;
    }
    leaf->count = 1;
    root_ = leftmost_ = rightmost_ = leaf;
    size_ = 1;
    return {iterator(leaf, 0), true};
  }

  Path path;
  LeafNode* leaf = descend(key, path);
  const std::uint32_t index = btree_detail::lower_index(leaf->keys(), leaf->count, key, comp_);
  if (index < leaf->count && !comp_(key, leaf->keys()[index])) {
    if constexpr (kAssign) ((leaf->values()[index] = std::forward<Args>(args)), ...);
    return {iterator(leaf, index), false};
  }
  if (leaf->count == kLeafCapacity) {
    return insert_with_split(path, leaf, index, std::forward<K>(key), std::forward<Args>(args)...);
  }
  open_leaf_gap(leaf, index);
  try {
    ::new (static_cast<void*>(leaf->keys() + index)) Key(std::forward<K>(key));
    try {
      ::new (static_cast<void*>(leaf->values() + index)) Value(std::forward<Args>(args)...);
    } catch (...) {
      leaf->keys()[index].~Key();
      throw;
    }
  } catch (...) {
    const std::uint32_t tail = leaf->count - index;
    btree_detail::relocate(leaf->keys() + index, leaf->keys() + index + 1, tail);
    btree_detail::relocate(leaf->values() + index, leaf->values() + index + 1, tail);
    throw;
  }
  ++leaf->count;
  ++size_;
  return {iterator(leaf, index), true};
}

// Everything that can fail (node allocation, constructing the new key and value, copying the new
// separator) happens before the tree is touched; the split itself only relocates.
TB_BTREE_TEMPLATE
template <class K, class... Args>
auto TB_BTREE::insert_with_split(Path& path, LeafNode* leaf, std::uint32_t index, K&& key,
                                 Args&&... args) -> std::pair<iterator, bool> {
  std::size_t needed = 1;  // the new leaf, one sibling per full ancestor, maybe a new root
  std::size_t depth = height_;
  while (depth > 0 && path[depth - 1].node->count == kInternalCapacity) {
    ++needed;
    --depth;
  }
  if (depth == 0) {
    if (height_ + 1 >= btree_detail::kMaxHeight) throw Error("BPlusTreeMap: tree height limit");
    ++needed;
  }
  Node* spare[btree_detail::kMaxHeight + 1];
  std::size_t made = 0;
  try {
    spare[made++] = new_leaf();
    for (std::size_t level = 1; made < needed; ++level) {
      spare[made++] = new_internal(static_cast<std::uint32_t>(level));
    }
    Key new_key(std::forward<K>(key));
    Value new_value(std::forward<Args>(args)...);
    constexpr std::uint32_t kLeftSize = (kLeafCapacity + 2) / 2;  // of kLeafCapacity + 1 entries
    Key separator(index == kLeftSize  ? new_key
                  : index < kLeftSize ? leaf->keys()[kLeftSize - 1]
                                      : leaf->keys()[kLeftSize]);

    LeafNode* right = as_leaf(spare[0]);
    const std::uint32_t moved_from = index < kLeftSize ? kLeftSize - 1 : kLeftSize;
    const std::uint32_t moved = kLeafCapacity - moved_from;
    btree_detail::relocate(right->keys(), leaf->keys() + moved_from, moved);
    btree_detail::relocate(right->values(), leaf->values() + moved_from, moved);
    right->count = moved;
    leaf->count = moved_from;
    LeafNode* target = index < kLeftSize ? leaf : right;
    const std::uint32_t slot = index < kLeftSize ? index : index - kLeftSize;
    open_leaf_gap(target, slot);
    ::new (static_cast<void*>(target->keys() + slot)) Key(std::move(new_key));
    ::new (static_cast<void*>(target->values() + slot)) Value(std::move(new_value));
    ++target->count;

    right->prev = leaf;
    right->next = leaf->next;
    if (leaf->next != nullptr) {
      leaf->next->prev = right;
    } else {
      rightmost_ = right;
    }
    leaf->next = right;
    ++size_;
    insert_separator(path, height_, std::move(separator), right, spare + 1);
    return {iterator(target, slot), true};
  } catch (...) {
    free_leaf(as_leaf(spare[0]));
    for (std::size_t i = 1; i < made; ++i) free_internal(as_internal(spare[i]));
    throw;
  }
}

// Adds `separator` with `right` as the child after path[depth - 1]'s descent child, splitting full
// nodes on the way up (taking siblings from spare_nodes) and growing a new root if needed.
TB_BTREE_TEMPLATE
void TB_BTREE::insert_separator(Path& path, std::size_t depth, Key separator, Node* right,
                                Node** spare_nodes) noexcept {
  constexpr std::uint32_t kCap = kInternalCapacity;
  constexpr std::uint32_t kLeftKeys = (kCap + 2) / 2 - 1;  // of kCap + 1 keys, after the split
  for (;; --depth) {
    if (depth == 0) {
      InternalNode* root = as_internal(*spare_nodes);
      ::new (static_cast<void*>(root->keys())) Key(std::move(separator));
      root->children()[0] = root_;
      root->children()[1] = right;
      root->count = 1;
      root->level = static_cast<std::uint32_t>(height_ + 1);
      root_ = root;
      ++height_;
      return;
    }
    InternalNode* node = path[depth - 1].node;
    const std::uint32_t pos = path[depth - 1].child;  // separator goes to keys[pos]
    Key* keys = node->keys();
    Node** children = node->children();
    if (node->count < kCap) {
      btree_detail::relocate(keys + pos + 1, keys + pos, node->count - pos);
      btree_detail::relocate(children + pos + 2, children + pos + 1, node->count - pos);
      ::new (static_cast<void*>(keys + pos)) Key(std::move(separator));
      children[pos + 1] = right;
      ++node->count;
      return;
    }
    InternalNode* sibling = as_internal(*spare_nodes++);
    sibling->level = node->level;
    Key* sibling_keys = sibling->keys();
    Node** sibling_children = sibling->children();
    if (pos < kLeftKeys) {
      Key up(std::move(keys[kLeftKeys - 1]));
      keys[kLeftKeys - 1].~Key();
      btree_detail::relocate(sibling_keys, keys + kLeftKeys, kCap - kLeftKeys);
      btree_detail::relocate(sibling_children, children + kLeftKeys, kCap + 1 - kLeftKeys);
      sibling->count = kCap - kLeftKeys;
      btree_detail::relocate(keys + pos + 1, keys + pos, kLeftKeys - 1 - pos);
      btree_detail::relocate(children + pos + 2, children + pos + 1, kLeftKeys - 1 - pos);
      ::new (static_cast<void*>(keys + pos)) Key(std::move(separator));
      children[pos + 1] = right;
      node->count = kLeftKeys;
      separator = std::move(up);
    } else if (pos == kLeftKeys) {
      btree_detail::relocate(sibling_keys, keys + kLeftKeys, kCap - kLeftKeys);
      sibling_children[0] = right;
      btree_detail::relocate(sibling_children + 1, children + kLeftKeys + 1, kCap - kLeftKeys);
      sibling->count = kCap - kLeftKeys;
      node->count = kLeftKeys;
    } else {
      Key up(std::move(keys[kLeftKeys]));
      keys[kLeftKeys].~Key();
      const std::uint32_t moved = kCap - kLeftKeys - 1;
      btree_detail::relocate(sibling_keys, keys + kLeftKeys + 1, moved);
      btree_detail::relocate(sibling_children, children + kLeftKeys + 1, moved + 1);
      node->count = kLeftKeys;
      const std::uint32_t at = pos - kLeftKeys - 1;
      btree_detail::relocate(sibling_keys + at + 1, sibling_keys + at, moved - at);
      btree_detail::relocate(sibling_children + at + 2, sibling_children + at + 1, moved - at);
      ::new (static_cast<void*>(sibling_keys + at)) Key(std::move(separator));
      sibling_children[at + 1] = right;
      sibling->count = moved + 1;
      separator = std::move(up);
    }
    right = sibling;
  }
}

TB_BTREE_TEMPLATE
void TB_BTREE::merge_leaves(LeafNode* left, LeafNode* right) noexcept {
  btree_detail::relocate(left->keys() + left->count, right->keys(), right->count);
  btree_detail::relocate(left->values() + left->count, right->values(), right->count);
  left->count += right->count;
  right->count = 0;
  left->next = right->next;
  if (right->next != nullptr) {
    right->next->prev = left;
  } else {
    rightmost_ = left;
  }
  free_leaf(right);
}

// Drops keys[key_index] and the child after it.
TB_BTREE_TEMPLATE
void TB_BTREE::remove_separator(InternalNode* node, std::uint32_t key_index) noexcept {
  Key* keys = node->keys();
  Node** children = node->children();
  keys[key_index].~Key();
  const std::uint32_t tail = node->count - key_index - 1;
  btree_detail::relocate(keys + key_index, keys + key_index + 1, tail);
  btree_detail::relocate(children + key_index + 1, children + key_index + 2, tail);
  --node->count;
}

// Pulls the parent's separator down between the two nodes' keys and frees `right`.
TB_BTREE_TEMPLATE
void TB_BTREE::merge_internal(InternalNode* left, InternalNode* right, InternalNode* parent,
                              std::uint32_t separator) noexcept {
  const std::uint32_t n = left->count;
  ::new (static_cast<void*>(left->keys() + n)) Key(std::move(parent->keys()[separator]));
  btree_detail::relocate(left->keys() + n + 1, right->keys(), right->count);
  btree_detail::relocate(left->children() + n + 1, right->children(), right->count + 1);
  left->count = n + 1 + right->count;
  right->count = 0;
  free_internal(right);
  remove_separator(parent, separator);
}

// path[depth].node has just lost a separator: restore its minimum fill by borrowing from or
// merging with a sibling, up the path as merges propagate; collapse a root with one child.
TB_BTREE_TEMPLATE
void TB_BTREE::fix_internal_underflow(Path& path, std::size_t depth) noexcept {
  for (;; --depth) {
    InternalNode* node = path[depth].node;
    if (depth == 0) {
      if (node->count == 0) {
        root_ = node->children()[0];
        free_internal(node);
        --height_;
      }
      return;
    }
    if (node->count + 1 >= kInternalMinChildren) return;
    InternalNode* parent = path[depth - 1].node;
    const std::uint32_t at = path[depth - 1].child;
    InternalNode* left = at > 0 ? as_internal(parent->children()[at - 1]) : nullptr;
    InternalNode* right = at < parent->count ? as_internal(parent->children()[at + 1]) : nullptr;
    const std::uint32_t n = node->count;
    if (left != nullptr && left->count + 1 > kInternalMinChildren) {
      // Rotate the left sibling's last k children through the parent separator.
      const std::uint32_t ln = left->count;
      const std::uint32_t k = (ln - n) / 2;
      btree_detail::relocate(node->keys() + k, node->keys(), n);
      btree_detail::relocate(node->children() + k, node->children(), n + 1);
      ::new (static_cast<void*>(node->keys() + k - 1)) Key(std::move(parent->keys()[at - 1]));
      btree_detail::relocate(node->keys(), left->keys() + ln - k + 1, k - 1);
      btree_detail::relocate(node->children(), left->children() + ln + 1 - k, k);
      parent->keys()[at - 1] = std::move(left->keys()[ln - k]);
      left->keys()[ln - k].~Key();
      left->count = ln - k;
      node->count = n + k;
      return;
    }
    if (right != nullptr && right->count + 1 > kInternalMinChildren) {
      const std::uint32_t rn = right->count;
      const std::uint32_t k = (rn - n) / 2;
      ::new (static_cast<void*>(node->keys() + n)) Key(std::move(parent->keys()[at]));
      btree_detail::relocate(node->keys() + n + 1, right->keys(), k - 1);
      btree_detail::relocate(node->children() + n + 1, right->children(), k);
      parent->keys()[at] = std::move(right->keys()[k - 1]);
      right->keys()[k - 1].~Key();
      btree_detail::relocate(right->keys(), right->keys() + k, rn - k);
      btree_detail::relocate(right->children(), right->children() + k, rn + 1 - k);
      right->count = rn - k;
      node->count = n + k;
      return;
    }
    if (left != nullptr) {
      merge_internal(left, node, parent, at - 1);
    } else {
      merge_internal(node, right, parent, at);
    }
  }
}

// The only step that can fail, copying the separator a borrow needs, is done before the entry is
// removed; everything after it only relocates.
TB_BTREE_TEMPLATE
auto TB_BTREE::erase_at(Path& path, LeafNode* leaf, std::uint32_t index) -> iterator {
  LeafNode* pos_leaf = leaf;
  std::uint32_t pos_index = index;
  if (height_ == 0 || leaf->count > kLeafMinEntries) {
    remove_entry(leaf, index);
    --size_;
    if (leaf->count == 0) {  // only the root leaf can empty
      free_leaf(leaf);
      root_ = leftmost_ = rightmost_ = nullptr;
      return end();
    }
    return make_iterator(pos_leaf, pos_index);
  }
  InternalNode* parent = path[height_ - 1].node;
  const std::uint32_t at = path[height_ - 1].child;
  LeafNode* left = at > 0 ? as_leaf(parent->children()[at - 1]) : nullptr;
  LeafNode* right = at < parent->count ? as_leaf(parent->children()[at + 1]) : nullptr;
  const std::uint32_t remaining = leaf->count - 1;
  if (left != nullptr && left->count > kLeafMinEntries) {
    const std::uint32_t ln = left->count;
    const std::uint32_t k = (ln - remaining) / 2;
    Key separator(left->keys()[ln - k]);
    remove_entry(leaf, index);
    btree_detail::relocate(leaf->keys() + k, leaf->keys(), remaining);
    btree_detail::relocate(leaf->values() + k, leaf->values(), remaining);
    btree_detail::relocate(leaf->keys(), left->keys() + ln - k, k);
    btree_detail::relocate(leaf->values(), left->values() + ln - k, k);
    left->count = ln - k;
    leaf->count = remaining + k;
    parent->keys()[at - 1] = std::move(separator);
    pos_index += k;
  } else if (right != nullptr && right->count > kLeafMinEntries) {
    const std::uint32_t rn = right->count;
    const std::uint32_t k = (rn - remaining) / 2;
    Key separator(right->keys()[k]);
    remove_entry(leaf, index);
    btree_detail::relocate(leaf->keys() + remaining, right->keys(), k);
    btree_detail::relocate(leaf->values() + remaining, right->values(), k);
    btree_detail::relocate(right->keys(), right->keys() + k, rn - k);
    btree_detail::relocate(right->values(), right->values() + k, rn - k);
    right->count = rn - k;
    leaf->count = remaining + k;
    parent->keys()[at] = std::move(separator);
  } else {
    remove_entry(leaf, index);
    if (left != nullptr) {
      pos_leaf = left;
      pos_index += left->count;
      merge_leaves(left, leaf);
      remove_separator(parent, at - 1);
    } else {
      merge_leaves(leaf, right);
      remove_separator(parent, at);
    }
    fix_internal_underflow(path, height_ - 1);
  }
  --size_;
  return make_iterator(pos_leaf, pos_index);
}

TB_BTREE_TEMPLATE
template <bool kMove, bool kCheckOrder, class It, class Sent>
auto TB_BTREE::build_sorted(It first, Sent last) const -> Built {
  Built built;
  std::vector<InternalNode*> internals;  // every internal node made so far, for cleanup
  try {
    LeafNode* leaf = nullptr;
    for (std::size_t index = 0; first != last; ++first, ++index) {
      auto&& element = *first;
      if (leaf == nullptr || leaf->count == kLeafCapacity) {
        LeafNode* fresh = btree_detail::make_node<LeafNode>(0);
        ++built.nodes;
        fresh->prev = leaf;
        if (leaf != nullptr) {
          leaf->next = fresh;
        } else {
          built.leftmost = fresh;
        }
        built.rightmost = leaf = fresh;
      }
      Key* slot = leaf->keys() + leaf->count;
      if constexpr (kMove) {
        ::new (static_cast<void*>(slot)) Key(std::move(element.first));
      } else {
        ::new (static_cast<void*>(slot)) Key(element.first);
      }
      if constexpr (kCheckOrder) {
        const Key* previous = leaf->count > 0         ? slot - 1
                              : leaf->prev != nullptr ? leaf->prev->keys() + leaf->prev->count - 1
                                                      : nullptr;
        if (previous != nullptr && !comp_(*previous, *slot)) {
          const bool duplicate = !comp_(*slot, *previous);
          slot->~Key();
          throw Error("BPlusTreeMap::bulk_load: element " + std::to_string(index) +
                      (duplicate ? " has the same key as element "
                                 : " has a key ordered before that of element ") +
                      std::to_string(index - 1) +
                      "; keys must be strictly increasing (sorted, no duplicates)");
        }
      }
      try {
        if constexpr (kMove) {
          ::new (static_cast<void*>(leaf->values() + leaf->count)) Value(std::move(element.second));
        } else {
          ::new (static_cast<void*>(leaf->values() + leaf->count)) Value(element.second);
        }
      } catch (...) {
        slot->~Key();
        throw;
      }
      ++leaf->count;
      ++built.size;
    }
    if (leaf == nullptr) return built;

    // A short last leaf takes entries from its (full) predecessor so both are at least half full.
    if (leaf->prev != nullptr && leaf->count < kLeafMinEntries) {
      LeafNode* prev = leaf->prev;
      const std::uint32_t k = (prev->count + leaf->count) / 2 - leaf->count;
      btree_detail::relocate(leaf->keys() + k, leaf->keys(), leaf->count);
      btree_detail::relocate(leaf->values() + k, leaf->values(), leaf->count);
      btree_detail::relocate(leaf->keys(), prev->keys() + prev->count - k, k);
      btree_detail::relocate(leaf->values(), prev->values() + prev->count - k, k);
      prev->count -= k;
      leaf->count += k;
    }

    // Each level groups the one below into full nodes; separators are copies of the smallest key
    // of each child's subtree.
    std::vector<Node*> level;
    std::vector<const Key*> smallest;
    level.reserve(built.nodes);
    smallest.reserve(built.nodes);
    for (LeafNode* l = built.leftmost; l != nullptr; l = l->next) {
      level.push_back(l);
      smallest.push_back(l->keys());
    }
    constexpr std::size_t kFanout = kInternalCapacity + 1;
    while (level.size() > 1) {
      const std::size_t m = level.size();
      const std::size_t groups = (m + kFanout - 1) / kFanout;
      std::vector<Node*> upper;
      std::vector<const Key*> upper_smallest;
      upper.reserve(groups);
      upper_smallest.reserve(groups);
      for (std::size_t g = 0, at = 0; g < groups; ++g) {
        std::size_t take = std::min(kFanout, m - at);
        if (g + 2 == groups && m - at - kFanout < kInternalMinChildren) {
          take = (m - at) - (m - at) / 2;  // even out the last two nodes
        }
        internals.push_back(nullptr);
        InternalNode* node =
            btree_detail::make_node<InternalNode>(static_cast<std::uint32_t>(built.height + 1));
        internals.back() = node;
        ++built.nodes;
        node->children()[0] = level[at];
        for (std::size_t j = 1; j < take; ++j) {
          ::new (static_cast<void*>(node->keys() + j - 1)) Key(*smallest[at + j]);
          node->count = static_cast<std::uint32_t>(j);
          node->children()[j] = level[at + j];
        }
        upper.push_back(node);
        upper_smallest.push_back(smallest[at]);
        at += take;
      }
      level.swap(upper);
      smallest.swap(upper_smallest);
      ++built.height;
    }
    built.root = level.front();
    return built;
  } catch (...) {
    for (InternalNode* node : internals) {
      if (node != nullptr) release_internal(node);
    }
    for (LeafNode* l = built.leftmost; l != nullptr;) {
      LeafNode* next = l->next;
      release_leaf(l);
      l = next;
    }
    throw;
  }
}

TB_BTREE_TEMPLATE
void TB_BTREE::check_invariants() const {
  const auto fail = [](const std::string& what) {
    throw Error("BPlusTreeMap invariant violated: " + what);
  };
  if (root_ == nullptr) {
    if (size_ != 0 || height_ != 0 || node_count_ != 0 || leftmost_ || rightmost_) {
      fail("no root, but size " + std::to_string(size_) + ", height " + std::to_string(height_) +
           ", " + std::to_string(node_count_) + " nodes, or leaf links are set");
    }
    return;
  }
  std::vector<const LeafNode*> leaves;
  std::size_t entries = 0;
  std::size_t nodes = 0;
  check_subtree(root_, 0, nullptr, nullptr, leaves, entries, nodes);
  if (entries != size_) {
    fail("size() is " + std::to_string(size_) + " but the leaves hold " + std::to_string(entries) +
         " entries");
  }
  if (nodes != node_count_) {
    fail(std::to_string(nodes) + " nodes are reachable from the root but " +
         std::to_string(node_count_) + " are allocated");
  }
  if (leftmost_ != leaves.front() || rightmost_ != leaves.back()) {
    fail("the first/last leaf pointers are not the leftmost/rightmost leaves");
  }
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    const LeafNode* expected_prev = i > 0 ? leaves[i - 1] : nullptr;
    const LeafNode* expected_next = i + 1 < leaves.size() ? leaves[i + 1] : nullptr;
    if (leaves[i]->prev != expected_prev || leaves[i]->next != expected_next) {
      fail("leaf " + std::to_string(i) + " (in key order) has prev/next links that skip or " +
           "reorder its neighbours in the leaf chain");
    }
  }
}

// lo (inclusive) and hi (exclusive) are the separators bounding this subtree; nullptr if none.
TB_BTREE_TEMPLATE
void TB_BTREE::check_subtree(const Node* node, std::size_t depth, const Key* lo, const Key* hi,
                             std::vector<const LeafNode*>& leaves, std::size_t& entries,
                             std::size_t& nodes) const {
  const auto fail = [](const std::string& what) {
    throw Error("BPlusTreeMap invariant violated: " + what);
  };
  ++nodes;
  const bool is_root = node == root_;
  // Names are built only on failure: this runs for every node on every check.
  const auto where = [depth] { return "at depth " + std::to_string(depth); };
  if (node->level == 0) {
    const auto name = [&] {
      return "leaf " + std::to_string(leaves.size()) + " (" + where() + ")";
    };
    if (depth != height_) {
      fail(name() + " is not at the leaf depth " + std::to_string(height_));
    }
    const LeafNode* leaf = as_leaf(node);
    const std::uint32_t n = leaf->count;
    if (n == 0 || n > kLeafCapacity || (!is_root && n < kLeafMinEntries)) {
      fail(name() + " holds " + std::to_string(n) + " entries; a " + (is_root ? "root " : "") +
           "leaf needs " + std::to_string(is_root ? 1 : kLeafMinEntries) + " to " +
           std::to_string(kLeafCapacity));
    }
    const Key* keys = leaf->keys();
    for (std::uint32_t i = 1; i < n; ++i) {
      if (!comp_(keys[i - 1], keys[i])) {
        fail(name() + ": the key in slot " + std::to_string(i) + " is not after the key in slot " +
             std::to_string(i - 1));
      }
    }
    if (lo != nullptr && comp_(keys[0], *lo)) {
      fail(name() + ": its first key is ordered before the separator on its left");
    }
    if (hi != nullptr && !comp_(keys[n - 1], *hi)) {
      fail(name() + ": its last key is not ordered before the separator on its right");
    }
    leaves.push_back(leaf);
    entries += n;
    return;
  }
  const InternalNode* internal = as_internal(node);
  const auto name = [&] { return "internal node " + where(); };
  if (node->level != height_ - depth) {
    fail(name() + " has level " + std::to_string(node->level) + " but " +
         std::to_string(height_ - depth) + " levels lie below it");
  }
  const std::uint32_t n = internal->count;
  if (n == 0 || n > kInternalCapacity || (!is_root && n + 1 < kInternalMinChildren)) {
    fail(name() + " has " + std::to_string(n + 1) + " children; a " + (is_root ? "root " : "") +
         "internal node needs " + std::to_string(is_root ? 2 : kInternalMinChildren) + " to " +
         std::to_string(kInternalCapacity + 1));
  }
  const Key* keys = internal->keys();
  for (std::uint32_t i = 1; i < n; ++i) {
    if (!comp_(keys[i - 1], keys[i])) {
      fail(name() + ": separator " + std::to_string(i) + " is not after separator " +
           std::to_string(i - 1));
    }
  }
  if ((lo != nullptr && comp_(keys[0], *lo)) || (hi != nullptr && !comp_(keys[n - 1], *hi))) {
    fail(name() + ": its separators fall outside the bounds set by its parent");
  }
  for (std::uint32_t i = 0; i <= n; ++i) {
    if (internal->children()[i] == nullptr) fail(name() + ": child " + std::to_string(i) + " null");
    check_subtree(internal->children()[i], depth + 1, i == 0 ? lo : keys + i - 1,
                  i == n ? hi : keys + i, leaves, entries, nodes);
  }
}

#undef TB_BTREE
#undef TB_BTREE_TEMPLATE

}  // namespace tb::ds
