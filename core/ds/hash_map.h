// FlatHashMap: an open-addressing hash map whose probes test 16 slots at once through one-byte
// control entries (the "Swiss table" layout), plus DefaultHash, the hash it uses unless told
// otherwise.
//
// Layout. `capacity()` is 0 or a power of two >= 16, split into aligned groups of 16 slots. Each
// slot has a control byte: kEmpty, kDeleted (a tombstone left by erase) or, for a full slot, the
// low 7 bits of the key's hash ("h2"). The next hash bits pick a preferred slot; its group is where
// probing starts. A probe loads the group's 16 control bytes (one aligned load, never split across
// cache lines), compares all of them with h2 at once (SSE2 when the compiler targets it, otherwise
// a portable 64-bit SWAR version) and only compares keys whose fragment matched; a group holding an
// empty byte ends the search. Further groups follow a triangular sequence, which visits every group
// of a power-of-two table exactly once. Inserts take the first free slot at or after the preferred
// slot (wrapping within the group), so a key usually sits in the cache line of its preferred slot,
// which lookups prefetch while the control bytes load. Control bytes and slots share one
// allocation; from 16 MiB on it is backed by transparent huge pages where Linux offers them.
//
// Load. At most 7/8 of the slots are full or tombstones. When an insert finds none left, the table
// either rehashes in place (most of the used slots were tombstones: they are dropped, capacity
// stays) or doubles.
//
// Complexity. find / contains / insert / erase: expected O(1) with a good hash; insert amortized
// O(1) (an insert that rehashes is O(capacity)). Iterating the whole map is O(capacity). clear() is
// O(capacity) and keeps the capacity.
//
// Invalidation. Any insertion that rehashes (growth, or dropping tombstones) invalidates every
// iterator, pointer and reference into the map. An insertion that does not rehash, erase and
// operator[] on an existing key invalidate nothing except iterators to erased elements. reserve(n)
// followed by at most n - size() insertions guarantees no rehash. Iteration order is unspecified
// and changes on rehash.
//
// Exceptions. Errors are tb::Error (at() on a missing key; reserve() beyond the addressable
// size). A key or value constructor that throws during an insertion leaves the contents unchanged
// (the capacity may have grown). Rehashing moves elements when that cannot throw, otherwise copies
// them and restores the old table if a copy throws. Hash and Eq must not throw.
//
// Heterogeneous lookup. When both Hash and Eq declare `is_transparent` (DefaultHash<std::string>
// and std::equal_to<> do), find / contains / count / erase / try_emplace / operator[] accept any
// key type that Hash and Eq accept, e.g. a std::string_view or a C string on a std::string-keyed
// map, without building a temporary std::string. Hash(k) must equal Hash(Key(k)).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#ifndef XXH_INLINE_ALL
#define XXH_INLINE_ALL
#endif
#include <xxhash.h>

#include "core/ds/hash_map_group.h"
#include "core/util/error.h"

namespace tb::ds {

namespace hash_detail {

// Portable 64x64 -> 128-bit product from 32-bit halves; compiled everywhere so tests can check it.
inline std::uint64_t fold_multiply_portable(std::uint64_t x, std::uint64_t multiplier) noexcept {
  const std::uint64_t x_lo = x & 0xFFFFFFFFu, x_hi = x >> 32;
  const std::uint64_t m_lo = multiplier & 0xFFFFFFFFu, m_hi = multiplier >> 32;
  const std::uint64_t lo_lo = x_lo * m_lo, hi_lo = x_hi * m_lo;
  const std::uint64_t lo_hi = x_lo * m_hi, hi_hi = x_hi * m_hi;
  const std::uint64_t cross = (lo_lo >> 32) + (hi_lo & 0xFFFFFFFFu) + lo_hi;  // cannot overflow
  const std::uint64_t high = hi_hi + (hi_lo >> 32) + (cross >> 32);
  const std::uint64_t low = (cross << 32) | (lo_lo & 0xFFFFFFFFu);
  return low ^ high;
}

// High half xor low half of the 128-bit product x * multiplier.
inline std::uint64_t fold_multiply(std::uint64_t x, std::uint64_t multiplier) noexcept {
#if defined(__SIZEOF_INT128__)
  __extension__ using Wide = unsigned __int128;
  const Wide product = static_cast<Wide>(x) * multiplier;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
#else
  return fold_multiply_portable(x, multiplier);
#endif
}

// The integer mixer: x ^ (x >> 32), then a folded multiply (the full 128-bit product with an odd
// constant, high half xor low half). Every input bit reaches both the low 7 bits (the in-group
// fragment) and the bits above them (the preferred slot); the xor-shift first lets high-only
// differences (multiples of 2^32 and the like) reach the low half of the product as well.
// Sequential, strided and same-low-bits keys then probe no longer than random keys (see the
// probe-length test). Cost matters: the hash sits on the critical path of every lookup, and a
// second multiply round measurably slowed misses on cache-resident control bytes.
inline std::uint64_t mix64(std::uint64_t x) noexcept {
  return fold_multiply(x ^ (x >> 32), 0x9E3779B97F4A7C15ull);  // 2^64 / golden ratio, odd
}

// Builds a message by appending (GCC 12 warns falsely on "literal" + std::string temporaries).
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::string text;
  ((text += parts), ...);
  return text;
}

// The control bytes of every map with no allocation: finds on it end at the first group without
// touching slots, so an empty map needs no special case on its lookup path.
alignas(kGroupWidth) inline constexpr ctrl_t kEmptyGroup[kGroupWidth] = {
    kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty,
    kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty, kEmpty};

// Memory for one table (control bytes and slots in one block), defined in hash_map.cpp: blocks of
// kHugeTableBytes or more are aligned to 2 MiB and, on Linux, marked for transparent huge pages.
// A 1M-entry u64 table (34 MiB) already misses the TLB on most random lookups: with huge pages its
// misses ran ~15% faster (bench_ds_hash_map). Much smaller tables keep their page-table entries
// cached and would only pay the huge pages' slower first-touch faults. free_table must get the
// same bytes and alignment.
inline constexpr std::size_t kHugeTableBytes = std::size_t{16} << 20;
void* allocate_table(std::size_t bytes, std::size_t alignment);
void free_table(void* block, std::size_t bytes, std::size_t alignment) noexcept;

template <typename Hash, typename Eq>
inline constexpr bool kTransparent = requires {
  typename Hash::is_transparent;
  typename Eq::is_transparent;
};

// K may be looked up as is (without building a Key) in a map with these Key, Hash and Eq.
template <typename K, typename Key, typename Hash, typename Eq>
concept HeterogeneousKey = kTransparent<Hash, Eq> && !std::is_same_v<std::remove_cvref_t<K>, Key>;

// ... and a Key can be built from it when an insertion needs one.
template <typename K, typename Key, typename Hash, typename Eq>
concept HeterogeneousInsertKey =
    HeterogeneousKey<K, Key, Hash, Eq> && std::is_constructible_v<Key, K&&>;

}  // namespace hash_detail

// The hash FlatHashMap uses by default. Integers, enums and pointers go through mix64
// (identity-like std::hash values would put sequential keys into one group); strings hash their
// bytes with XXH3 and accept std::string, std::string_view and C strings alike (transparent).
// Other types: std::hash<T>, mixed the same way as integers.
template <typename T>
struct DefaultHash {
  std::size_t operator()(const T& value) const
      noexcept(noexcept(std::hash<T>{}(std::declval<const T&>()))) {
    return static_cast<std::size_t>(hash_detail::mix64(std::hash<T>{}(value)));
  }
};

template <typename T>
requires std::is_integral_v<T> || std::is_enum_v<T>
struct DefaultHash<T> {
  std::size_t operator()(T value) const noexcept {
    if constexpr (std::is_enum_v<T>) {
      using Underlying = std::underlying_type_t<T>;
      return static_cast<std::size_t>(
          hash_detail::mix64(static_cast<std::uint64_t>(static_cast<Underlying>(value))));
    } else {
      return static_cast<std::size_t>(hash_detail::mix64(static_cast<std::uint64_t>(value)));
    }
  }
};

template <typename T>
struct DefaultHash<T*> {
  std::size_t operator()(const T* pointer) const noexcept {
    return static_cast<std::size_t>(
        hash_detail::mix64(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(pointer))));
  }
};

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return static_cast<std::size_t>(XXH3_64bits(text.data(), text.size()));
  }
};

template <>
struct DefaultHash<std::string> : StringHash {};
template <>
struct DefaultHash<std::string_view> : StringHash {};

template <typename Key, typename Value, typename Hash = DefaultHash<Key>,
          typename Eq = std::equal_to<>>
class FlatHashMap {
  using ctrl_t = hash_detail::ctrl_t;
  static constexpr std::size_t kGroupWidth = hash_detail::kGroupWidth;

 public:
  using key_type = Key;
  using mapped_type = Value;
  using value_type = std::pair<const Key, Value>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using hasher = Hash;
  using key_equal = Eq;
  using reference = value_type&;
  using const_reference = const value_type&;

  // Forward iterator over full slots in slot order. Invalidated by any rehash (see above).
  template <bool kConst>
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = FlatHashMap::value_type;
    using difference_type = std::ptrdiff_t;
    using reference = std::conditional_t<kConst, const value_type&, value_type&>;
    using pointer = std::conditional_t<kConst, const value_type*, value_type*>;

    Iterator() = default;
    // iterator -> const_iterator.
    template <bool kOtherConst, typename = std::enable_if_t<kConst && !kOtherConst>>
    Iterator(const Iterator<kOtherConst>& other)  // NOLINT(google-explicit-constructor)
        : ctrl_(other.ctrl_), slot_(other.slot_), end_(other.end_) {}

    reference operator*() const { return *slot_; }
    pointer operator->() const { return slot_; }
    Iterator& operator++() {
      ++ctrl_;
      ++slot_;
      skip_to_full();
      return *this;
    }
    Iterator operator++(int) {
      Iterator before = *this;
      ++*this;
      return before;
    }
    // By slot: end() has none (nullptr), so `find(k) != end()` is one test of the found slot.
    friend bool operator==(const Iterator& a, const Iterator& b) { return a.slot_ == b.slot_; }

   private:
    friend class FlatHashMap;
    template <bool>
    friend class Iterator;

    Iterator(const ctrl_t* ctrl, pointer slot, const ctrl_t* end)
        : ctrl_(ctrl), slot_(slot), end_(end) {}

    // Moves to the first full slot at or after the current one, a group at a time; to end() (slot
    // nullptr) if none.
    // Groups are 16-byte aligned in memory and the table is a whole number of groups, so the
    // group holding ctrl_ starts ctrl_'s address modulo 16 bytes earlier.
    void skip_to_full() {
      while (ctrl_ != end_) {
        const auto offset =
            static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(ctrl_) & (kGroupWidth - 1));
        const std::uint32_t full = hash_detail::Group(ctrl_ - offset).match_full() >> offset;
        if (full != 0) {
          const auto shift = static_cast<std::size_t>(std::countr_zero(full));
          ctrl_ += shift;
          slot_ += shift;
          return;
        }
        ctrl_ += kGroupWidth - offset;
        slot_ += kGroupWidth - offset;
      }
      slot_ = nullptr;
    }

    const ctrl_t* ctrl_ = nullptr;
    pointer slot_ = nullptr;
    const ctrl_t* end_ = nullptr;
  };
  using iterator = Iterator<false>;
  using const_iterator = Iterator<true>;

 public:
  FlatHashMap() = default;
  // Reserves room for `expected_size` elements (see reserve()).
  explicit FlatHashMap(size_type expected_size, const Hash& hash = Hash(), const Eq& eq = Eq())
      : hash_(hash), eq_(eq) {
    reserve(expected_size);
  }
  FlatHashMap(std::initializer_list<value_type> values) { insert(values.begin(), values.end()); }

  FlatHashMap(const FlatHashMap& other) : hash_(other.hash_), eq_(other.eq_) {
    reserve(other.size_);
    try {
      for (const value_type& value : other) {
        const std::size_t hash = hash_(value.first);
        const std::size_t index = find_first_non_full(hash);
        std::construct_at(slots_ + index, value);
        commit_insert(index, hash);
      }
    } catch (...) {
      destroy_and_free();
      throw;
    }
  }
  FlatHashMap(FlatHashMap&& other) noexcept
      : ctrl_(other.ctrl_),
        slots_(other.slots_),
        mask_(other.mask_),
        capacity_(other.capacity_),
        size_(other.size_),
        growth_left_(other.growth_left_),
        hash_(std::move(other.hash_)),
        eq_(std::move(other.eq_)) {
    other.reset_to_unallocated();
  }
  FlatHashMap& operator=(const FlatHashMap& other) {
    if (this != &other) {
      FlatHashMap copy(other);
      swap(copy);
    }
    return *this;
  }
  FlatHashMap& operator=(FlatHashMap&& other) noexcept {
    FlatHashMap taken(std::move(other));
    swap(taken);
    return *this;
  }
  ~FlatHashMap() { destroy_and_free(); }

  void swap(FlatHashMap& other) noexcept {
    using std::swap;
    swap(ctrl_, other.ctrl_);
    swap(slots_, other.slots_);
    swap(mask_, other.mask_);
    swap(capacity_, other.capacity_);
    swap(size_, other.size_);
    swap(growth_left_, other.growth_left_);
    swap(hash_, other.hash_);
    swap(eq_, other.eq_);
  }
  friend void swap(FlatHashMap& a, FlatHashMap& b) noexcept { a.swap(b); }

  // --- Iteration (O(capacity) for a full pass) ---
  iterator begin() { return make_begin<false>(); }
  const_iterator begin() const { return make_begin<true>(); }
  const_iterator cbegin() const { return begin(); }
  iterator end() { return iterator(ctrl_ + capacity_, nullptr, ctrl_ + capacity_); }
  const_iterator end() const {
    return const_iterator(ctrl_ + capacity_, nullptr, ctrl_ + capacity_);
  }
  const_iterator cend() const { return end(); }

  // --- Size ---
  size_type size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  // Number of slots (0 or a power of two >= 16); up to 7/8 of them may be used.
  size_type capacity() const noexcept { return capacity_; }
  hasher hash_function() const { return hash_; }
  key_equal key_eq() const { return eq_; }

  // Makes room for `count` elements in total, so the next count - size() insertions do not
  // rehash. Never shrinks. Throws tb::Error when count exceeds what can be addressed.
  void reserve(size_type count) {
    const std::size_t wanted = capacity_for(count);
    if (wanted > capacity_) resize(wanted);
  }

  // Destroys every element; keeps the capacity. Invalidates all iterators.
  void clear() noexcept {
    if (capacity_ == 0) return;
    destroy_elements();
    std::memset(ctrl_, static_cast<unsigned char>(hash_detail::kEmpty), capacity_);
    size_ = 0;
    growth_left_ = growth_limit(capacity_);
  }

  // --- Lookup ---
  iterator find(const Key& key) { return iterator_for(find_slot(key, hash_(key))); }
  const_iterator find(const Key& key) const {
    return const_iterator_for(find_slot(key, hash_(key)));
  }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  iterator find(const K& key) {
    return iterator_for(find_slot(key, hash_(key)));
  }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  const_iterator find(const K& key) const {
    return const_iterator_for(find_slot(key, hash_(key)));
  }

  bool contains(const Key& key) const { return find_slot(key, hash_(key)) != nullptr; }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  bool contains(const K& key) const {
    return find_slot(key, hash_(key)) != nullptr;
  }
  size_type count(const Key& key) const { return contains(key) ? 1 : 0; }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  size_type count(const K& key) const {
    return contains(key) ? 1 : 0;
  }

  // Diagnostic for hash quality: how many 16-slot groups a lookup of `key` examines (1 when it is
  // decided in its first group). With a well-spread hash the mean over stored keys stays near 1.1
  // and over absent keys near 2 even at the maximum load of 7/8. O(that many groups).
  size_type probe_length(const Key& key) const { return probe_length_of(key); }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  size_type probe_length(const K& key) const {
    return probe_length_of(key);
  }

  // The value for `key`; throws tb::Error when absent.
  Value& at(const Key& key) { return checked_slot(find_slot(key, hash_(key))).second; }
  const Value& at(const Key& key) const { return checked_slot(find_slot(key, hash_(key))).second; }

  // --- Insertion: each returns {iterator to the element with that key, whether it was added}.
  // An existing element is never overwritten. ---
  std::pair<iterator, bool> insert(const value_type& value) {
    return emplace_at(find_or_prepare_insert(value.first), value);
  }
  std::pair<iterator, bool> insert(value_type&& value) {
    return emplace_at(find_or_prepare_insert(value.first), std::move(value));
  }
  template <typename InputIt>
  void insert(InputIt first, InputIt last) {
    for (; first != last; ++first) emplace(*first);
  }
  void insert(std::initializer_list<value_type> values) { insert(values.begin(), values.end()); }

  // Inserts value_type(args...) unless its key is present. (key, value) arguments are looked up
  // before anything is constructed; other forms build the pair first.
  template <typename... Args>
  std::pair<iterator, bool> emplace(Args&&... args) {
    if constexpr (is_key_value_arguments<Args...>()) {
      return try_emplace(std::forward<Args>(args)...);
    } else {
      std::pair<Key, Value> built(std::forward<Args>(args)...);
      return emplace_at(find_or_prepare_insert(built.first), std::move(built.first),
                        std::move(built.second));
    }
  }

  // Inserts (key, Value(args...)) when `key` is absent; otherwise changes nothing (args are not
  // consumed). With transparent Hash/Eq, `key` may be any lookup type Key is constructible from.
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(const Key& key, Args&&... args) {
    return emplace_at(find_or_prepare_insert(key), std::piecewise_construct,
                      std::forward_as_tuple(key),
                      std::forward_as_tuple(std::forward<Args>(args)...));
  }
  template <typename... Args>
  std::pair<iterator, bool> try_emplace(Key&& key, Args&&... args) {
    return emplace_at(find_or_prepare_insert(key), std::piecewise_construct,
                      std::forward_as_tuple(std::move(key)),
                      std::forward_as_tuple(std::forward<Args>(args)...));
  }
  template <hash_detail::HeterogeneousInsertKey<Key, Hash, Eq> K, typename... Args>
  std::pair<iterator, bool> try_emplace(K&& key, Args&&... args) {
    return emplace_at(find_or_prepare_insert(key), std::piecewise_construct,
                      std::forward_as_tuple(std::forward<K>(key)),
                      std::forward_as_tuple(std::forward<Args>(args)...));
  }

  // The value for `key`, value-initialized and inserted first when absent.
  Value& operator[](const Key& key) { return try_emplace(key).first->second; }
  Value& operator[](Key&& key) { return try_emplace(std::move(key)).first->second; }
  template <hash_detail::HeterogeneousInsertKey<Key, Hash, Eq> K>
  Value& operator[](K&& key) {
    return try_emplace(std::forward<K>(key)).first->second;
  }

  // --- Erasure (never rehashes; leaves a tombstone unless no probe can have passed the slot) ---
  size_type erase(const Key& key) { return erase_found(find_slot(key, hash_(key))); }
  template <hash_detail::HeterogeneousKey<Key, Hash, Eq> K>
  size_type erase(const K& key) {
    return erase_found(find_slot(key, hash_(key)));
  }
  // Erases the element at `position` (which must be valid and dereferenceable) and returns the
  // iterator to the next one.
  iterator erase(const_iterator position) {
    const auto index = static_cast<std::size_t>(position.ctrl_ - ctrl_);
    erase_at(index);
    iterator next(ctrl_ + index, slots_ + index, ctrl_ + capacity_);
    next.skip_to_full();
    return next;
  }
  iterator erase(iterator position) { return erase(const_iterator(position)); }

 private:
  using Group = hash_detail::Group;
  static constexpr std::size_t kMaxCapacity =
      (std::size_t{1} << (std::numeric_limits<std::size_t>::digits - 2)) / sizeof(value_type);
  static constexpr bool kNothrowRelocate =
      std::is_nothrow_move_constructible_v<Key> && std::is_nothrow_move_constructible_v<Value>;

  // Where an insertion goes: `index` holds the key already (inserted == false) or is the free
  // slot to construct in; h2 is the control byte to write once the construction succeeded.
  struct InsertPosition {
    std::size_t index;
    bool inserted;
    ctrl_t h2;
  };

  static ctrl_t h2_of(std::size_t hash) noexcept { return static_cast<ctrl_t>(hash & 0x7F); }
  std::size_t preferred_slot(std::size_t hash) const noexcept { return (hash >> 7) & mask_; }
  static std::size_t growth_limit(std::size_t capacity) noexcept { return capacity - capacity / 8; }
  static std::size_t capacity_for(std::size_t count) {
    if (count == 0) return 0;
    std::size_t capacity = kGroupWidth;
    while (growth_limit(capacity) < count) {
      if (capacity >= kMaxCapacity) {
        throw Error(hash_detail::concat("FlatHashMap::reserve: ", std::to_string(count),
                                        " elements exceed the largest table (",
                                        std::to_string(growth_limit(kMaxCapacity)), ")"));
      }
      capacity *= 2;
    }
    return capacity;
  }

  // emplace(key, value) with a key usable for lookup as is: it can skip building a pair.
  template <typename... Args>
  static constexpr bool is_key_value_arguments() {
    if constexpr (sizeof...(Args) != 2) {
      return false;
    } else {
      using First = std::remove_cvref_t<std::tuple_element_t<0, std::tuple<Args...>>>;
      return std::is_same_v<First, Key> ||
             hash_detail::HeterogeneousInsertKey<std::tuple_element_t<0, std::tuple<Args...>>, Key,
                                                 Hash, Eq>;
    }
  }

  template <bool kConst>
  Iterator<kConst> make_begin() const {
    Iterator<kConst> it(ctrl_, slots_, ctrl_ + capacity_);
    it.skip_to_full();
    return it;
  }
  // The ctrl pointer is only computed when a caller steps the iterator; a lookup that just tests
  // and dereferences it never pays for it.
  iterator iterator_for(value_type* slot) {
    if (slot == nullptr) return end();
    return iterator(ctrl_ + (slot - slots_), slot, ctrl_ + capacity_);
  }
  const_iterator const_iterator_for(value_type* slot) const {
    if (slot == nullptr) return end();
    return const_iterator(ctrl_ + (slot - slots_), slot, ctrl_ + capacity_);
  }
  template <typename K>
  size_type probe_length_of(const K& key) const {
    std::size_t groups = 0;
    find_slot(key, hash_(key), &groups);
    return groups;
  }
  value_type& checked_slot(value_type* slot) const {
    if (slot == nullptr) throw Error("FlatHashMap::at: key not found");
    return *slot;
  }

  // The hot path: one group load and compare per probe step, keys compared only on a h2 match.
  // Returns the slot holding `key`, or nullptr. `groups_probed` (diagnostics only) receives the
  // number of groups examined.
  template <typename K>
  value_type* find_slot(const K& key, std::size_t hash,
                        std::size_t* groups_probed = nullptr) const {
    const ctrl_t h2 = h2_of(hash);
    const std::size_t preferred = preferred_slot(hash);
    // A hit usually sits in the cache line of its preferred slot. Fetching that line now overlaps
    // its miss with the control bytes' miss instead of paying them one after the other.
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(slots_ + preferred);
#endif
    std::size_t group = preferred & ~(kGroupWidth - 1);
    for (std::size_t step = kGroupWidth;; step += kGroupWidth) {
      if (groups_probed != nullptr) ++*groups_probed;
      const Group bytes(ctrl_ + group);
      for (std::uint32_t matches = bytes.match(h2); matches != 0; matches &= matches - 1) {
        const std::size_t index = group + static_cast<std::size_t>(std::countr_zero(matches));
        if (eq_(slots_[index].first, key)) [[likely]]
          return slots_ + index;
      }
      if (bytes.match_empty() != 0) [[likely]]
        return nullptr;
      group = (group + step) & mask_;
    }
  }

  // The free (empty or deleted) slot an insert of `hash` uses: in the first group on the probe
  // sequence that has one, the first free slot at or after the preferred offset, wrapping. The
  // table always has a free slot because at most 7/8 of its slots are used.
  std::size_t find_first_non_full(std::size_t hash) const noexcept {
    const std::size_t preferred = preferred_slot(hash);
    const std::size_t offset = preferred & (kGroupWidth - 1);
    std::size_t group = preferred & ~(kGroupWidth - 1);
    for (std::size_t step = kGroupWidth;; step += kGroupWidth) {
      const std::uint32_t free = Group(ctrl_ + group).match_empty_or_deleted();
      if (free != 0) {
        const std::uint32_t at_or_after = free & (0xFFFFu << offset);
        return group +
               static_cast<std::size_t>(std::countr_zero(at_or_after != 0 ? at_or_after : free));
      }
      group = (group + step) & mask_;
    }
  }

  template <typename K>
  InsertPosition find_or_prepare_insert(const K& key) {
    const std::size_t hash = hash_(key);
    if (const value_type* found = find_slot(key, hash); found != nullptr) {
      return {static_cast<std::size_t>(found - slots_), false, 0};
    }
    std::size_t index = find_first_non_full(hash);
    if (growth_left_ == 0 && ctrl_[index] != hash_detail::kDeleted) {
      rehash_for_insert();
      index = find_first_non_full(hash);
    }
    return {index, true, h2_of(hash)};
  }

  // Constructs the element in the prepared slot and only then marks it full, so a throwing
  // constructor leaves the map as it was.
  template <typename... Args>
  std::pair<iterator, bool> emplace_at(InsertPosition position, Args&&... args) {
    if (position.inserted) {
      std::construct_at(slots_ + position.index, std::forward<Args>(args)...);
      growth_left_ -= ctrl_[position.index] == hash_detail::kEmpty ? 1 : 0;
      ctrl_[position.index] = position.h2;
      ++size_;
    }
    return {iterator(ctrl_ + position.index, slots_ + position.index, ctrl_ + capacity_),
            position.inserted};
  }

  void commit_insert(std::size_t index, std::size_t hash) noexcept {
    growth_left_ -= ctrl_[index] == hash_detail::kEmpty ? 1 : 0;
    ctrl_[index] = h2_of(hash);
    ++size_;
  }

  size_type erase_found(const value_type* slot) {
    if (slot == nullptr) return 0;
    erase_at(static_cast<std::size_t>(slot - slots_));
    return 1;
  }

  void erase_at(std::size_t index) noexcept {
    std::destroy_at(slots_ + index);
    --size_;
    // A probe only moves past a group with no empty byte, and a group that had none keeps none
    // until the next rehash (erase leaves tombstones there). So if this group still has an empty
    // byte, no probe sequence ever continued past it and the slot can become empty again.
    if (Group(ctrl_ + (index & ~(kGroupWidth - 1))).match_empty() != 0) {
      ctrl_[index] = hash_detail::kEmpty;
      ++growth_left_;
    } else {
      ctrl_[index] = hash_detail::kDeleted;
    }
  }

  // No free slot is left: drop tombstones in place when they are a large share of the used slots
  // (so each in-place pass is paid for by at least capacity * 3/32 inserts), otherwise double.
  void rehash_for_insert() {
    if (capacity_ == 0) {
      resize(kGroupWidth);
    } else if (size_ * 32 <= capacity_ * 25) {
      if constexpr (kNothrowRelocate) {
        drop_tombstones_in_place();
      } else {
        resize(capacity_);
      }
    } else {
      resize(capacity_ * 2);  // cannot overflow: operator new refuses a table this large first
    }
  }

  // Moves an element between slots; the moved-from source is destroyed. The key is const to
  // users only: moving out of it is safe because the source object is destroyed right after.
  static void relocate(value_type* destination, value_type* source) noexcept(kNothrowRelocate) {
    std::construct_at(destination, std::piecewise_construct,
                      std::forward_as_tuple(std::move(const_cast<Key&>(source->first))),
                      std::forward_as_tuple(std::move(source->second)));
    std::destroy_at(source);
  }

  void allocate(std::size_t capacity) {
    void* block = hash_detail::allocate_table(block_bytes(capacity), kAlignment);
    ctrl_ = static_cast<ctrl_t*>(block);
    slots_ = reinterpret_cast<value_type*>(static_cast<unsigned char*>(block) +
                                           ctrl_storage_bytes(capacity));
    std::memset(ctrl_, static_cast<unsigned char>(hash_detail::kEmpty), capacity);
    capacity_ = capacity;
    mask_ = capacity - 1;
    growth_left_ = growth_limit(capacity) - size_;
  }
  // Cache-line alignment keeps every 16-byte group inside one line.
  static constexpr std::size_t kAlignment = std::max<std::size_t>(alignof(value_type), 64);
  static std::size_t ctrl_storage_bytes(std::size_t capacity) noexcept {
    return (capacity + kAlignment - 1) / kAlignment * kAlignment;
  }
  static std::size_t block_bytes(std::size_t capacity) noexcept {
    return ctrl_storage_bytes(capacity) + capacity * sizeof(value_type);
  }
  static void free_block(ctrl_t* ctrl, std::size_t capacity) noexcept {
    hash_detail::free_table(ctrl, block_bytes(capacity), kAlignment);
  }

  // Rebuilds the table with `new_capacity` slots (>= 16). Elements are moved when that cannot
  // throw; otherwise copied, and a failed copy restores the old table untouched.
  void resize(std::size_t new_capacity) {
    ctrl_t* const old_ctrl = ctrl_;
    value_type* const old_slots = slots_;
    const std::size_t old_capacity = capacity_;
    const std::size_t old_mask = mask_;
    const std::size_t old_growth_left = growth_left_;
    allocate(new_capacity);
    if constexpr (kNothrowRelocate) {
      for (std::size_t i = 0; i < old_capacity; ++i) {
        if (!hash_detail::is_full(old_ctrl[i])) continue;
        const std::size_t hash = hash_(old_slots[i].first);
        const std::size_t target = find_first_non_full(hash);
        relocate(slots_ + target, old_slots + i);
        ctrl_[target] = h2_of(hash);
      }
    } else {
      std::size_t copied = 0;
      try {
        for (std::size_t i = 0; i < old_capacity; ++i) {
          if (!hash_detail::is_full(old_ctrl[i])) continue;
          const std::size_t hash = hash_(old_slots[i].first);
          const std::size_t target = find_first_non_full(hash);
          std::construct_at(slots_ + target, std::as_const(old_slots[i]));
          ctrl_[target] = h2_of(hash);
          ++copied;
        }
      } catch (...) {
        const std::size_t size = size_;
        size_ = copied;
        destroy_and_free();
        ctrl_ = old_ctrl;
        slots_ = old_slots;
        capacity_ = old_capacity;
        mask_ = old_mask;
        size_ = size;
        growth_left_ = old_growth_left;
        throw;
      }
      for (std::size_t i = 0; i < old_capacity; ++i) {
        if (hash_detail::is_full(old_ctrl[i])) std::destroy_at(old_slots + i);
      }
    }
    if (old_capacity != 0) free_block(old_ctrl, old_capacity);
  }

  // Re-inserts every element into the same slots array, turning tombstones back into empty
  // bytes. Each element either stays (its slot is in the first group with room on its probe
  // sequence), moves to an empty slot, or swaps with a not-yet-placed element, which is then
  // placed in turn. Elements already placed are never moved again, so every group before an
  // element's final group stays full and finds stay correct.
  void drop_tombstones_in_place() noexcept {
    using hash_detail::kDeleted;
    using hash_detail::kEmpty;
    // Mark: full -> kDeleted ("to place"), tombstone -> kEmpty.
    for (std::size_t i = 0; i < capacity_; ++i) {
      ctrl_[i] = hash_detail::is_full(ctrl_[i]) ? kDeleted : kEmpty;
    }

    alignas(value_type) unsigned char spare_storage[sizeof(value_type)];
    auto* const spare = reinterpret_cast<value_type*>(spare_storage);
    for (std::size_t i = 0; i < capacity_;) {
      if (ctrl_[i] != kDeleted) {
        ++i;
        continue;
      }
      const std::size_t hash = hash_(slots_[i].first);
      const std::size_t target = find_first_non_full(hash);
      if (i / kGroupWidth == target / kGroupWidth) {
        ctrl_[i] = h2_of(hash);
        ++i;
      } else if (ctrl_[target] == kEmpty) {
        relocate(slots_ + target, slots_ + i);
        ctrl_[target] = h2_of(hash);
        ctrl_[i] = kEmpty;
        ++i;
      } else {
        ctrl_[target] = h2_of(hash);
        relocate(spare, slots_ + target);
        relocate(slots_ + target, slots_ + i);
        relocate(slots_ + i, spare);
        // slot i now holds the displaced, still unplaced element: look at it again.
      }
    }
    growth_left_ = growth_limit(capacity_) - size_;
  }

  void destroy_elements() noexcept {
    if constexpr (!std::is_trivially_destructible_v<value_type>) {
      for (std::size_t i = 0; i < capacity_; ++i) {
        if (hash_detail::is_full(ctrl_[i])) std::destroy_at(slots_ + i);
      }
    }
  }
  void destroy_and_free() noexcept {
    if (capacity_ == 0) return;
    destroy_elements();
    free_block(ctrl_, capacity_);
    reset_to_unallocated();
  }
  void reset_to_unallocated() noexcept {
    ctrl_ = const_cast<ctrl_t*>(hash_detail::kEmptyGroup);  // never written: capacity 0
    slots_ = nullptr;
    mask_ = 0;
    capacity_ = 0;
    size_ = 0;
    growth_left_ = 0;
  }

  // The lookup path reads ctrl_, slots_ and mask_ only; they share the first cache line.
  ctrl_t* ctrl_ = const_cast<ctrl_t*>(hash_detail::kEmptyGroup);
  value_type* slots_ = nullptr;
  std::size_t mask_ = 0;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
  std::size_t growth_left_ = 0;
  [[no_unique_address]] Hash hash_{};
  [[no_unique_address]] Eq eq_{};
};

}  // namespace tb::ds
