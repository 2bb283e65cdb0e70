// StringInterner: gives each distinct string a small typed id (NameId 1, 2, 3, ... in first-seen
// order) and maps ids back to the string. Trace event names are interned with it, so events carry
// an 8-byte id instead of a string.
//
// The characters live in an append-only arena owned by the interner: every std::string_view it
// returns stays valid, and keeps pointing at the same characters, for the interner's lifetime —
// through later interning and through moving the interner. Not copyable (a copy's views would
// point into the original's arena).
//
// Complexity: intern / find expected O(length) (one XXH3 hash and one FlatHashMap probe);
// name(id) O(1). Memory: the characters once, plus ~40 bytes per name for the two indexes.
// Not thread-safe: callers that intern from several threads hold a lock.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/ds/hash_map.h"
#include "core/util/error.h"
#include "core/util/typed_id.h"

namespace tb::ds {

struct NameTag {};
using NameId = tb::TypedId<NameTag>;

class StringInterner {
 public:
  StringInterner() = default;
  StringInterner(const StringInterner&) = delete;
  StringInterner& operator=(const StringInterner&) = delete;
  StringInterner(StringInterner&& other) noexcept { take(other); }
  StringInterner& operator=(StringInterner&& other) noexcept {
    if (this != &other) take(other);
    return *this;
  }

  // The id of `text`, assigning the next one (size() + 1) when it was not seen before. The empty
  // string is a name like any other. Throws std::bad_alloc only; on failure nothing changes.
  NameId intern(std::string_view text) {
    if (const auto found = ids_.find(text); found != ids_.end()) return found->second;
    if (names_.size() == names_.capacity()) names_.reserve(names_.size() * 2 + 16);
    const std::string_view stored = store(text);
    const NameId id(static_cast<std::int64_t>(names_.size()) + 1);
    ids_.try_emplace(stored, id);
    names_.push_back(stored);  // cannot throw: capacity was reserved above
    return id;
  }

  // The id of `text` if it has been interned; never assigns one.
  std::optional<NameId> find(std::string_view text) const {
    if (const auto found = ids_.find(text); found != ids_.end()) return found->second;
    return std::nullopt;
  }

  // The string with id `id`. Throws tb::Error when `id` was not handed out by this interner.
  std::string_view name(NameId id) const {
    if (id.value < 1 || id.value > static_cast<std::int64_t>(names_.size())) {
      throw Error(hash_detail::concat("StringInterner::name: unknown NameId ",
                                      std::to_string(id.value), " (this interner holds ids 1..",
                                      std::to_string(names_.size()), ")"));
    }
    return names_[static_cast<std::size_t>(id.value - 1)];
  }

  // Number of distinct strings interned; also the largest id handed out.
  std::size_t size() const noexcept { return names_.size(); }

 private:
  // Short names share blocks of this size; a longer one gets a block of its own.
  static constexpr std::size_t kBlockBytes = 4096;

  // Copies `text` into the arena. Existing blocks never move or shrink, so views stay valid.
  std::string_view store(std::string_view text) {
    if (text.empty()) return {};
    if (text.size() >= kBlockBytes) {  // own block; the shared block keeps its free tail
      blocks_.push_back(std::make_unique<char[]>(text.size()));
      std::memcpy(blocks_.back().get(), text.data(), text.size());
      return {blocks_.back().get(), text.size()};
    }
    if (text.size() > block_left_) {
      blocks_.push_back(std::make_unique<char[]>(kBlockBytes));  // on throw nothing changed
      block_cursor_ = blocks_.back().get();
      block_left_ = kBlockBytes;
    }
    std::memcpy(block_cursor_, text.data(), text.size());
    const std::string_view stored(block_cursor_, text.size());
    block_cursor_ += text.size();
    block_left_ -= text.size();
    return stored;
  }

  void take(StringInterner& other) noexcept {
    blocks_ = std::move(other.blocks_);
    names_ = std::move(other.names_);
    ids_ = std::move(other.ids_);
    block_cursor_ = std::exchange(other.block_cursor_, nullptr);
    block_left_ = std::exchange(other.block_left_, 0);
    other.blocks_.clear();
    other.names_.clear();
    other.ids_.clear();
  }

  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<std::string_view> names_;  // names_[id - 1]
  FlatHashMap<std::string_view, NameId> ids_;
  char* block_cursor_ = nullptr;
  std::size_t block_left_ = 0;
};

}  // namespace tb::ds
