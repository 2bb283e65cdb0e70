// ShardSet: a folder of `.tbs` shards (layout: core/data/shard_format.h) opened as one keyed
// collection of records.
//
// Opening reads every shard's header and footer index only (no record): the indices are checked
// (sorted, offsets inside the records, checksums) and merged into one B+tree, key -> (shard,
// offset), for reads in key order and key ranges ("samples 10,000-20,000"), and one flat hash map
// for point lookups. Every record read is checked: its checksum, its key against the index, its
// lengths against the header, its zstd frame. Whatever is wrong throws tb::FormatError naming the
// file, the byte offset and what was expected; nothing is trusted before it is checked.
//
// The shards are memory-mapped (core/util/mapped_file.h): a record is checked and handed out in
// place, with no copy out of the page cache; a shard truncated while open reads as zeros, fails
// its checksum and is reported as truncated, never a crash.
//
// A ShardSet is movable, not copyable, and not thread-safe: zstd records decompress into one
// buffer of the set's. share() gives another thread a set of its own over the same open files and
// indices.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/data/shard_format.h"
#include "core/ds/btree.h"
#include "core/ds/hash_map.h"

namespace tb::data::shard {

// Where a record lives: which shard of the set, and its byte offset there.
struct Location {
  std::uint32_t shard = 0;
  std::uint64_t offset = 0;
  bool operator==(const Location&) const = default;
};

// One record as read: the payload is decompressed and verified. The view's payload lives as long
// as the set for an uncompressed shard (it is the mapped file), in the set's buffer until its next
// read for a zstd one.
struct RecordView {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::span<const std::byte> payload;
  std::uint32_t stored_bytes = 0;  // payload bytes on disk
};

struct Record {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::vector<std::byte> payload;
};

struct ShardInfo {
  std::filesystem::path file;
  ShardHeader header;
  std::uint64_t file_bytes = 0;
  std::uint64_t index_offset = 0;             // where the records end and the index begins
  std::uint64_t first_key = 0, last_key = 0;  // when it holds records
  std::uint64_t payload_bytes = 0;            // header.spec.payload_bytes(), asked per record
};

class ShardSet {
 public:
  // `path` is one `.tbs` file or a folder whose `.tbs` files (in name order) form the set. Every
  // shard must share the first one's sample spec and metadata; a key in two shards is an error.
  static ShardSet open(const std::filesystem::path& path);
  // Another set over the same open shards and indices, with a decompression buffer of its own:
  // for another reading thread, without opening and indexing the files again.
  ShardSet share() const;

  ShardSet(ShardSet&&) noexcept;
  ShardSet& operator=(ShardSet&&) noexcept;
  ~ShardSet();

  std::uint64_t size() const;
  const std::filesystem::path& path() const;
  const SampleSpec& spec() const;
  const std::string& metadata() const;
  const std::vector<ShardInfo>& shards() const;
  // key -> Location in key order.
  const ds::BPlusTreeMap<std::uint64_t, Location>& index() const;

  // The record's location (hash map lookup), or nullptr when no record has this key.
  const Location* find(std::uint64_t key) const;
  bool contains(std::uint64_t key) const { return find(key) != nullptr; }
  // The record with this key: false when there is none.
  bool read(std::uint64_t key, Record& out);
  // Throws tb::Error when no record has this key.
  Record read(std::uint64_t key);
  // The record at a location taken from index(), checked to hold `key`: no lookup, no copy.
  RecordView read_at(const Location& where, std::uint64_t key);
  // Starts loading the record at `where` into the cache (its header and, uncompressed, its
  // payload), for a read_at() soon after. Checks nothing.
  void prefetch(const Location& where) const;
  // Every record with lo <= key < hi, in key order.
  void range(std::uint64_t lo, std::uint64_t hi,
             const std::function<void(const RecordView&)>& visit);
  // Every record, in key order.
  void for_each(const std::function<void(const RecordView&)>& visit);

  // Reads each shard's records front to back: every checksum, every zstd frame, and that the
  // records found are exactly those its index lists, each at its offset. Returns the number of
  // records checked; throws tb::FormatError at the first problem.
  std::uint64_t verify();

 private:
  ShardSet() = default;
  struct Files;    // what open() built: mapped shards, their infos, both indices; immutable
  struct Decoder;  // the zstd context and buffer of this set
  template <class It>
  void visit(It first, It last, const std::function<void(const RecordView&)>& visit);

  std::shared_ptr<const Files> files_;
  std::unique_ptr<Decoder> decoder_;
};

}  // namespace tb::data::shard
