// Shards as the engine uses them: sources that pack into shards (`trainbench data pack`), what a
// shard set holds (`trainbench data inspect`), and the shard set's content fingerprint. Training
// reads a pack through its RecordSet (data/formats/shards.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/data/shard_reader.h"
#include "core/data/shard_writer.h"

namespace tb::data::shard {

struct SourceRecord {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::span<const std::byte> payload;  // valid until the source's next call
};

// Where packed records come from. Another input format plugs into `data pack` by implementing
// this: its samples' spec, what the shard headers should carry, and the records one by one.
class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual std::string name() const = 0;  // "fashion-mnist/train"
  virtual SampleSpec spec() const = 0;
  // JSON object stored in every shard header: "name", "classes", "class_names", and for integer
  // samples "normalize": {"scale", "mean", "std"} (a value becomes (x / scale - mean) / std).
  virtual nlohmann::json metadata() const = 0;
  virtual std::uint64_t size() const = 0;
  // The next record, false at the end.
  virtual bool next(SourceRecord& out) = 0;
};

// One split of a Fashion-MNIST folder: `prefix` "train" or "t10k"; keys are the sample indices.
// limit > 0 keeps the first `limit` samples. Throws tb::FormatError as load_fashion_mnist does.
std::unique_ptr<RecordSource> fashion_mnist_source(const std::filesystem::path& dir,
                                                   const std::string& prefix,
                                                   std::int64_t limit = 0);

// Appends every record of `source` to `writer`, keys shifted by key_offset; returns how many.
std::uint64_t pack(RecordSource& source, ShardWriter& writer, std::uint64_t key_offset = 0);

// "crc32:xxxxxxxx" of every payload in key order, then of the labels (one byte each when all are
// < 256, else four little-endian bytes): for a pack of a whole IDX split, the IDX files'
// fingerprint. Reads every record. finish_fingerprint() appends the labels to a payload CRC.
std::string fingerprint(ShardSet& set);
std::string finish_fingerprint(std::uint32_t payload_crc, std::span<const std::int32_t> labels);

// What `data inspect` shows of a shard set.
struct ShardSummary {
  std::filesystem::path path;
  SampleSpec spec;
  std::string metadata;
  std::uint64_t records = 0;
  std::uint64_t shards = 0;
  std::uint64_t zstd_shards = 0;
  std::uint64_t first_key = 0, last_key = 0;
  std::uint64_t file_bytes = 0;
  std::uint64_t raw_payload_bytes = 0;     // records x sample bytes
  std::uint64_t stored_payload_bytes = 0;  // filled by the verification pass
  struct Example {
    std::uint64_t key;
    std::int32_t label;
    std::uint32_t stored_bytes;
  };
  std::vector<Example> examples;  // the first few in key order
  bool verified = false;          // a verification pass ran
  std::string verify_error;       // empty when every record checked out
  double seconds = 0.0;
};
// Opens `path` (throws tb::FormatError when its headers or indices are bad), reads the first
// `examples` records and, with `verify`, runs ShardSet::verify(), keeping its error.
ShardSummary summarize(const std::filesystem::path& path, std::size_t examples, bool verify);
nlohmann::json to_json(const ShardSummary& summary);

}  // namespace tb::data::shard
