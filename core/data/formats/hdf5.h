// HDF5 input format: a file holding a samples dataset (rank >= 2, the first dimension counts the
// samples; e.g. uint8 [N, 28, 28]) and a labels dataset (rank 1, any integer type, N entries),
// optionally a keys dataset (rank 1, non-negative integers, unique); without one a record's key
// is its position. This is the layout h5py users write by hand (`f["images"] = x`).
//
// Sample types: uint8 -> u8, int8 -> i8, int16/uint16/int32 -> i32 (widened losslessly),
// float32 -> f32, float64 -> f32 (narrowed: the engine trains in f32; HDF5 converts while
// reading), IEEE half (h5py's float16) -> f16, bfloat16 (sign 15, exponent 7..14) -> bf16. Other
// types (wider integers, strings, compounds) are rejected when the set opens.
//
// Metadata: the defaults of every array format ("name", "classes" = largest label + 1,
// "normalize" for integer samples, scale 255 for u8), then the JSON text of the samples
// dataset's string attribute "trainbench.metadata" when there is one (write_hdf5 stores the
// source's metadata there), then the caller's overrides.
//
// Threads: the serial HDF5 library is not thread-safe unless built with --enable-threadsafe, and
// even then its error-stack settings are per thread. Debian 12's libhdf5-103-1 (1.10.8) happens
// to be built thread-safe, but the code must not depend on how the library was built, so every
// HDF5 call in the process (these readers', write_hdf5's, a test's that builds a file by hand)
// holds hdf5_mutex(). Readers still open a file handle each and read one hyperslab per sample;
// decoding chunks (deflate) runs under the lock, so HDF5 reads do not scale with workers: pack
// to shards for fast training.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/record_set.h"

namespace tb::data {

// Dataset paths inside the file ("images", "/train/x").
struct Hdf5Names {
  std::string samples = "images";
  std::string labels = "labels";
  std::string keys;  // empty: no keys dataset, keys are positions
};

struct Hdf5Options {
  Hdf5Names names;
  nlohmann::json metadata = nlohmann::json::object();  // overrides, key by key
};

// The one lock around every HDF5 library call in the process (see above).
std::mutex& hdf5_mutex();

class Hdf5RecordSet final : public RecordSet {
 public:
  // Opens the file, checks the datasets' types and shapes and reads the labels (and keys).
  // Throws tb::FormatError naming the file, the dataset and what was expected.
  explicit Hdf5RecordSet(const std::filesystem::path& file, Hdf5Options options = {});
  ~Hdf5RecordSet() override;

  std::string name() const override;  // the file's name
  SampleSpec spec() const override;
  nlohmann::json metadata() const override;
  std::uint64_t size() const override;
  // Each reader opens the file again; it may outlive the set.
  std::unique_ptr<RecordReader> open_reader() const override;

  struct State;

 private:
  std::shared_ptr<const State> state_;
};

// Writes every record of `source` to a new HDF5 file at `path` (through "PATH.tmp", renamed when
// complete): the samples dataset [N, shape...] of the spec's dtype (little-endian), labels as
// int32, keys as uint64 when names.keys is set (else they are dropped: a reader's keys are then
// positions), and the source's metadata as the "trainbench.metadata" attribute. deflate_level
// 1..9 stores the samples chunked and deflate-compressed, 0 contiguous. Returns the record count.
// Throws tb::Error when the source's records do not match its spec or size().
std::uint64_t write_hdf5(const std::filesystem::path& path, shard::RecordSource& source,
                         const Hdf5Names& names = {}, int deflate_level = 0);

}  // namespace tb::data
