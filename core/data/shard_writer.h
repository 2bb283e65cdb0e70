// ShardWriter: appends records to a folder of `.tbs` shards (layout: core/data/shard_format.h).
//
// Any source plugs in by calling append(key, label, payload) for each of its samples, the
// payload being the sample's bytes in the writer's SampleSpec (dtype and shape).
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "core/data/shard_format.h"
#include "core/ds/hash_map.h"

namespace tb::data::shard {

struct ShardWriterOptions {
  // A shard is closed and the next begun before a record would take the file past this many
  // bytes (header, records and index); a shard holds at least one record whatever its size.
  std::uint64_t shard_size = 64ull << 20;
  // 0: payloads stored as they are; 1..ZSTD_maxCLevel() (22): each payload one zstd frame at
  // that level. Per record rather than per shard, so any record is read without its neighbours.
  int zstd_level = 0;
  std::string metadata = "{}";   // JSON text stored in every shard's header
  std::string prefix = "shard";  // files are PREFIX-00000.tbs, PREFIX-00001.tbs, ...
};

struct ShardWriterStats {
  std::uint64_t records = 0;
  std::uint64_t shards = 0;
  std::uint64_t raw_payload_bytes = 0;     // payloads as given
  std::uint64_t stored_payload_bytes = 0;  // payloads on disk (compressed where zstd is on)
  std::uint64_t file_bytes = 0;            // every finished shard file, all of it
};

class ShardWriter {
 public:
  // Creates `dir` if needed. Throws tb::Error when it already holds `.tbs` files (two packs in
  // one folder would mix their keys), the spec has no dims or more than kMaxRank, or the zstd
  // level is out of range.
  ShardWriter(std::filesystem::path dir, SampleSpec spec, ShardWriterOptions options = {});
  // Without close(): the shard being written is removed (its temporary name never becomes a
  // `.tbs`), the shards already finished stay.
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  // Throws tb::Error when the payload's size is not the spec's, the key was appended before, or a
  // write fails (naming the file).
  void append(std::uint64_t key, std::int32_t label, std::span<const std::byte> payload);
  // Finishes the current shard (index, trailer, header count, rename). Idempotent. A writer that
  // got no record writes no file.
  void close();

  const ShardWriterStats& stats() const { return stats_; }
  const std::vector<std::filesystem::path>& files() const { return files_; }
  const SampleSpec& spec() const { return spec_; }

 private:
  void open_shard();
  void finish_shard();
  void write(const void* data, std::size_t bytes);

  std::filesystem::path dir_;
  SampleSpec spec_;
  ShardWriterOptions options_;
  ShardHeader header_;
  ShardWriterStats stats_;
  std::vector<std::filesystem::path> files_;
  ds::FlatHashMap<std::uint64_t, std::uint32_t> seen_;  // key -> shard number, for duplicates

  std::FILE* out_ = nullptr;
  std::filesystem::path temp_path_, final_path_;
  std::uint64_t offset_ = 0;  // bytes written to the current shard
  std::vector<IndexEntry> index_;
  std::vector<std::byte> compressed_;
  std::vector<char> file_buffer_;
  bool closed_ = false;
};

}  // namespace tb::data::shard
