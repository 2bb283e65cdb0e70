// Internal to core/store: the newest items of a track (or of a counter, or the flows) while they
// are fewer than a chunk holds, and how an append adds to them.
//
// The engine appends every ~100 ms a few hundred spans. Writing each batch as its own chunk would
// leave thousands of tiny chunks; rewriting one open chunk with every batch merged in re-encodes
// ~8000 spans per track per append (measured: ~13 ms an append of 8 tracks). So the open items are
// kept as a few chunks whose sizes halve from the oldest to the newest, like a binary counter:
// a batch becomes a new chunk, and while the chunk before it is at most twice its size the two
// are merged into one. A span is thus re-encoded about log2(chunk size / batch size) times, an
// append touches few spans on average, and a track has at most ~log2(kSpansPerChunk) + 1 open
// chunks. A chunk that reaches the limit is cut into full chunks, which are never rewritten.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <span>
#include <utility>
#include <vector>

namespace tb::store::detail {

template <typename Item>
struct OpenChunk {
  std::int64_t seq = 0;     // its row; 0: not stored yet
  std::vector<Item> items;  // sorted
  bool dirty = false;       // changed since stored
};

template <typename Item>
struct ChunkTail {
  std::int64_t next_seq = 1;          // for the next new chunk row
  std::vector<OpenChunk<Item>> open;  // chunks under the limit, oldest (largest) first
};

// Adds `fresh` (any order) to the tail. `table.put(seq, items)` stores a chunk, replacing a row
// of the same seq; `table.erase(seq)` removes a row. `less` is the items' order; among equal
// items the earlier appended come first.
template <typename Item, typename Less, typename Table>
void extend(ChunkTail<Item>& tail, std::vector<Item> fresh, std::size_t limit, Less less,
            Table& table) {
  std::stable_sort(fresh.begin(), fresh.end(), less);
  auto& open = tail.open;
  open.push_back({0, std::move(fresh), true});
  for (;;) {
    auto& last = open.back();
    if (last.items.size() >= limit) {
      // Full chunks off the front (the earliest items); the first takes over the run's row.
      std::size_t begin = 0;
      for (; last.items.size() - begin >= limit; begin += limit) {
        const std::int64_t seq = last.seq != 0 ? std::exchange(last.seq, 0) : tail.next_seq++;
        table.put(seq, std::span<const Item>(last.items).subspan(begin, limit));
      }
      last.items.erase(last.items.begin(), last.items.begin() + static_cast<std::ptrdiff_t>(begin));
      last.dirty = true;
      if (last.items.empty()) {
        open.pop_back();
        if (open.empty()) break;
      }
      continue;
    }
    if (open.size() >= 2 && open[open.size() - 2].items.size() <= 2 * last.items.size()) {
      auto& previous = open[open.size() - 2];
      std::vector<Item> merged;
      merged.reserve(previous.items.size() + last.items.size());
      // std::merge takes from the first range on ties: older items stay first.
      std::merge(previous.items.begin(), previous.items.end(), last.items.begin(), last.items.end(),
                 std::back_inserter(merged), less);
      if (last.seq != 0) table.erase(last.seq);
      previous.items = std::move(merged);
      previous.dirty = true;
      open.pop_back();
      continue;
    }
    break;
  }
  for (auto& chunk : open) {
    if (!chunk.dirty) continue;
    if (chunk.seq == 0) chunk.seq = tail.next_seq++;
    table.put(chunk.seq, std::span<const Item>(chunk.items));
    chunk.dirty = false;
  }
}

}  // namespace tb::store::detail
