// TFRecord: TensorFlow's record files, read and written without TensorFlow.
//
// A TFRecord file is records back to back, nothing before or after; every integer little-endian:
//
//   0   8  length: data bytes
//   8   4  masked CRC32C of the 8 length bytes
//  12   n  data
//  12+n 4  masked CRC32C of the data
//
// mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8: TensorFlow stores checksums masked so that
// a CRC computed over bytes that themselves hold CRCs stays a good checksum.
//
// A sample is one record whose data is a serialized tf.train.Example (core/data/formats/
// example.proto) with three features, their names set by TfRecordSchema:
//   "image"  bytes_list of one value, the payload exactly as the SampleSpec lays it out, or (f32
//            samples only) float_list of numel() values
//   "label"  int64_list of one value
//   "key"    int64_list of one value; optional: without it, a sample's key is its position in the
//            set (for one file, its position in the file)
// The file holds no spec or metadata, so the reader is told them (TfRecordSchema).
//
// Gzip- or zlib-compressed TFRecord files are not read: decompress them first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/record_set.h"
#include "core/data/shard_dataset.h"

namespace tb::data {

inline constexpr std::size_t kTfRecordHeaderBytes = 12;  // length and its CRC
inline constexpr std::size_t kTfRecordFooterBytes = 4;   // data CRC
inline constexpr std::uint32_t kTfRecordMaskDelta = 0xa282ead8u;

std::uint32_t tfrecord_mask(std::uint32_t crc) noexcept;
std::uint32_t tfrecord_unmask(std::uint32_t masked) noexcept;

// `data` framed as one record: header, data, footer.
std::vector<std::byte> tfrecord_frame(std::span<const std::byte> data);

// Writes one TFRecord file, record by record. Errors throw tb::Error naming the file.
class TfRecordWriter {
 public:
  // Creates (or truncates) `path`.
  explicit TfRecordWriter(std::filesystem::path path);
  // Closes without reporting errors: call close() to see them.
  ~TfRecordWriter();
  TfRecordWriter(const TfRecordWriter&) = delete;
  TfRecordWriter& operator=(const TfRecordWriter&) = delete;

  // Appends one record; returns its byte offset in the file.
  std::uint64_t write(std::span<const std::byte> data);
  void flush();
  // Flushes and closes; no write after it.
  void close();

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t records() const { return records_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  void put(const void* data, std::size_t size);

  std::filesystem::path path_;
  std::FILE* out_ = nullptr;
  std::uint64_t records_ = 0;
  std::uint64_t bytes_ = 0;
};

// One TFRecord file opened for reading, walked by scan() and read record by record, each read
// checked (both CRCs). Errors throw tb::FormatError "FILE: at byte N: what", N the offset of the
// record involved. Not thread-safe: reads share one buffer.
class TfRecordFile {
 public:
  explicit TfRecordFile(std::filesystem::path path);
  ~TfRecordFile();
  TfRecordFile(TfRecordFile&& other) noexcept;
  TfRecordFile& operator=(TfRecordFile&& other) noexcept;
  TfRecordFile(const TfRecordFile&) = delete;
  TfRecordFile& operator=(const TfRecordFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::uint64_t size_bytes() const { return size_; }  // when opened

  // Where the records lie: record i spans bytes [offsets[i], offsets[i + 1]) of the file; the
  // vector holds one entry more than there are records, the last the file's size. Every length
  // CRC is checked and every record must end within the file (a cut one names what is missing);
  // the data is not read.
  std::vector<std::uint64_t> scan() const;

  // The data of the record at `offset`, `length` data bytes (as scan() found them), both CRCs and
  // the length checked. Valid until the next read.
  std::span<const std::byte> read(std::uint64_t offset, std::uint64_t length);

 private:
  void read_exact(std::uint64_t offset, std::size_t size, std::byte* out) const;

  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::vector<std::byte> buffer_;
};

// How samples are stored in the Examples, and what the reader cannot learn from the files.
struct TfRecordSchema {
  std::string features = "image";  // the sample's feature
  std::string label = "label";
  std::string key = "key";  // empty: keys are positions, none read or written
  SampleSpec spec;          // every sample's dtype and shape
  nlohmann::json metadata;  // the set's metadata (record_set.h); "classes" bounds the labels
};

// A sample as a serialized tf.train.Example: payload (spec.payload_bytes() bytes) as one
// bytes_list value, label and key as int64_list. Map entries in name order, so equal samples give
// equal bytes.
std::vector<std::byte> encode_tfrecord_example(const TfRecordSchema& schema, std::uint64_t key,
                                               std::int32_t label,
                                               std::span<const std::byte> payload);

// One .tfrecord file, or a folder of them (every file whose name holds ".tfrecord", in name
// order), as one RecordSet. Opening scans the framing of every file (length CRCs); data CRCs are
// checked and Examples parsed when a reader reads them. A record that is no Example of the
// schema (missing feature, wrong type or size, label outside 0..classes-1 or int32) throws
// tb::FormatError naming the file, the record's offset and the feature. Keys read from the
// Examples are taken as they are: their uniqueness is the writer's promise, checked by nothing.
class TfRecordSet final : public RecordSet {
 public:
  static std::shared_ptr<TfRecordSet> open(const std::filesystem::path& path,
                                           TfRecordSchema schema);

  std::string name() const override;
  SampleSpec spec() const override;
  nlohmann::json metadata() const override;
  std::uint64_t size() const override;
  std::unique_ptr<RecordReader> open_reader() const override;

  std::vector<std::filesystem::path> files() const;

  struct Index;  // shared with the readers, which may outlive the set

 private:
  explicit TfRecordSet(std::shared_ptr<const Index> index) : index_(std::move(index)) {}
  std::shared_ptr<const Index> index_;
};

// Writes every record of `source` to the TFRecord file `path` as Examples named by `schema` (its
// spec, when set, must be the source's; its metadata is not stored: TFRecord has no place for
// it). Written under `path`.tmp, renamed when complete. Returns the number of records.
std::uint64_t write_tfrecord(const std::filesystem::path& path, shard::RecordSource& source,
                             const TfRecordSchema& schema = {});

}  // namespace tb::data
