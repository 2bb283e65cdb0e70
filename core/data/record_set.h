// RecordSet: a dataset split in some file format, read by position. Every input format of the
// data pipeline (shards, TFRecord, HDF5, LMDB, NPY/NPZ, CSV) implements it; the pipeline's workers
// each open their own RecordReader and read the positions of their batches, so the format's
// parsing (a tf.train.Example, an HDF5 hyperslab, a CSV line) runs in the workers, in parallel.
//
// A record is what the shard format stores: a 64-bit sample key (unique within the set), a label
// and the sample's payload bytes laid out as the set's SampleSpec says (dtype, shape; row-major,
// little-endian). The set's metadata carries what turns payloads into model inputs: "classes",
// "class_names" and, for integer samples, "normalize": {"scale", "mean", "std"} (x becomes
// (x / scale - mean) / std).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/shard_dataset.h"
#include "core/data/shard_format.h"

namespace tb::data {

using shard::SampleSpec;

struct RecordRef {
  std::uint64_t key = 0;
  std::int32_t label = 0;
  std::span<const std::byte> payload;  // spec().payload_bytes() bytes, valid until the next read
};

// Reads records of one RecordSet. Used by one thread at a time.
class RecordReader {
 public:
  virtual ~RecordReader() = default;
  // The record at `position` (0 <= position < the set's size()). Throws tb::FormatError naming
  // the file and the byte offset (or row, or key) of a record that cannot be read or decoded.
  virtual RecordRef read(std::uint64_t position) = 0;
  // A hint that `position` is read soon: a format that reads memory in place starts loading it,
  // so a shuffled order waits on memory once per batch rather than once per record. Never throws;
  // a position out of range is ignored.
  virtual void prefetch(std::uint64_t /*position*/) {}
};

class RecordSet {
 public:
  virtual ~RecordSet() = default;
  virtual std::string name() const = 0;  // "train.tfrecord", shown to the user
  virtual SampleSpec spec() const = 0;
  virtual nlohmann::json metadata() const = 0;  // see above; {} when the format has none
  virtual std::uint64_t size() const = 0;
  // "crc32:xxxxxxxx" of the set's content where the format can tell it cheaply (stored with each
  // session, so two runs can be checked to have seen the same data); empty when it cannot.
  virtual std::string fingerprint() const { return ""; }
  // A reader of its own for the calling thread. Safe to call from several threads at once.
  virtual std::unique_ptr<RecordReader> open_reader() const = 0;
};

// The metadata's "classes" (an integer), or 0 when it names none.
std::int64_t metadata_classes(const nlohmann::json& metadata);

// What every reader of records checks before decoding one: `payload_bytes` bytes of payload and a
// label in 0..classes-1 (0..int32 max when classes is 0).
inline bool record_fits(const RecordRef& record, std::size_t payload_bytes,
                        std::int64_t classes) noexcept {
  return record.payload.size() == payload_bytes && record.label >= 0 &&
         (classes <= 0 || record.label < classes);
}
// Throws the tb::FormatError for a record that does not fit: the message starts with `where`
// ("train.h5: record 12 (key 40)") and says what was found and expected.
[[noreturn]] void throw_record_misfit(const std::string& where, const RecordRef& record,
                                      std::size_t payload_bytes, std::int64_t classes);
// record_fits(), or the error; `where()` builds the message's start only when it is needed (a
// loader checks millions of records a second).
template <class Where>
void check_record(const RecordRef& record, std::size_t payload_bytes, std::int64_t classes,
                  Where&& where) {
  if (!record_fits(record, payload_bytes, classes)) {
    throw_record_misfit(where(), record, payload_bytes, classes);
  }
}

// The first `count` records of `set` (all of them when count is 0 or beyond its size).
std::shared_ptr<const RecordSet> first_records(std::shared_ptr<const RecordSet> set,
                                               std::uint64_t count);

// The set read front to back, as `trainbench data pack` consumes any input.
std::unique_ptr<shard::RecordSource> as_record_source(std::shared_ptr<const RecordSet> set);

}  // namespace tb::data
