// NPY / NPZ input format: NumPy arrays as np.save and np.savez write them.
//
// A set is a samples array (count, d1, ...) with 1 to 6 sample dimensions and a labels array
// (count,), either two .npy files or two members of one .npz (a zip of .npy members, "x.npy" and
// "y.npy" by default). Optionally a keys array (count,) of unique non-negative integers; without
// one a record's key is its position.
//
// .npy is magic "\x93NUMPY", version (1.0: u16 header length; 2.0/3.0: u32), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), } padded with
// spaces to a multiple of 64 bytes, then the data in C order.
//
// Sample descrs: '|u1' -> u8, '|i1' -> i8, '<i4' -> i32, '<f2' -> f16, '<f4' -> f32 as stored;
// '<f8' -> f32, narrowed while reading (the engine trains in f32; keeping f64 would only double
// the bytes). Label and key descrs: any little-endian integer of 1, 2, 4 or 8 bytes ('|u1',
// '<i4', '<i8', ...). Rejected with a tb::FormatError that names the file (and member), the byte
// offset and what was expected: fortran_order True (the bytes are not row-major), big-endian
// descrs ('>f4'), structured/object dtypes, other types, shapes that disagree, data shorter than
// the shape needs.
//
// Reading: a .npy samples file is read with pread at the sample's offset, each reader with its
// own descriptor (no mmap: a file truncated while it is read gives an error, not SIGBUS). An NPZ
// member stored uncompressed (np.savez) is read in place through libzip, each reader with its
// own archive handle; a deflated member (np.savez_compressed) cannot be read by position, so it
// is inflated into memory once when the set opens and shared by the readers. Member CRCs are
// checked for what is read whole (labels, keys, deflated samples); stored samples read by
// position are not (a CRC covers the whole member).
//
// Metadata: the defaults of every array format ("name", "classes" = largest label + 1,
// "normalize" for integer samples), then, in an .npz, the JSON of a "metadata.json" member when
// there is one (write_npz stores the source's metadata there), then the caller's overrides.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/record_set.h"

namespace tb::data {

// What an .npy header says.
struct NpyHeader {
  int major_version = 1;
  std::string descr;  // "<f4"
  bool fortran_order = false;
  std::vector<std::uint64_t> shape;
  std::uint64_t data_offset = 0;  // where the data starts: 10 or 12 bytes plus the dict
};

// Parses the header of an .npy whose first bytes are `head` (all of them up to the data, or the
// whole file when shorter) and whose total size is `total`. `origin` names it in errors
// ("a.npz: member 'x.npy'"). Checks magic, version, the dict's syntax and keys, and that `total`
// holds the data the shape needs for descrs of a known size. Throws tb::FormatError.
NpyHeader parse_npy_header(std::span<const std::byte> head, std::uint64_t total,
                           const std::string& origin);

// The header text of an .npy of `descr` and `shape` (version 1.0, or 2.0 when longer than 64 KiB),
// padded as NumPy pads it.
std::string npy_header(const std::string& descr, const std::vector<std::uint64_t>& shape);

// Member names inside an .npz, with or without ".npy" ("x" finds "x.npy").
struct NpzNames {
  std::string samples = "x";
  std::string labels = "y";
  std::string keys;  // empty: no keys member, keys are positions
};

class NpyRecordSet final : public RecordSet {
 public:
  // Two (or three, with keys) .npy files. `metadata` overrides the defaults key by key.
  static std::shared_ptr<NpyRecordSet> open_npy(
      const std::filesystem::path& samples, const std::filesystem::path& labels,
      const std::filesystem::path& keys = {},
      const nlohmann::json& metadata = nlohmann::json::object());
  // Members of one .npz.
  static std::shared_ptr<NpyRecordSet> open_npz(
      const std::filesystem::path& archive, const NpzNames& names = {},
      const nlohmann::json& metadata = nlohmann::json::object());
  ~NpyRecordSet() override;

  std::string name() const override;  // the samples file's or the archive's name
  SampleSpec spec() const override;
  nlohmann::json metadata() const override;
  std::uint64_t size() const override;
  // Readers hold what they read on their own; they may outlive the set.
  std::unique_ptr<RecordReader> open_reader() const override;

  struct State;
  // Use open_npy / open_npz; public only for std::make_shared.
  explicit NpyRecordSet(std::shared_ptr<const State> state);

 private:
  std::shared_ptr<const State> state_;
};

// Writes every record of `source` as NumPy arrays: samples (count, shape...) in the spec's dtype
// ('|u1', '|i1', '<i4', '<f2', '<f4'; bf16 has no NumPy dtype and is refused), labels (count,)
// '<i4', keys (count,) '<u8' when keys_path is given (else keys are dropped). Each file goes
// through "NAME.tmp", renamed when complete. Returns the record count. Throws tb::Error when the
// source's records do not match its spec or size(), or a file cannot be written.
std::uint64_t write_npy(const std::filesystem::path& samples_path,
                        const std::filesystem::path& labels_path, shard::RecordSource& source,
                        const std::filesystem::path& keys_path = {});

struct NpzWriteOptions {
  NpzNames names;         // members "<name>.npy"; keys written only when names.keys is set
  bool compress = false;  // deflate the members (np.savez_compressed), else store them (np.savez)
};

// The same arrays as members of one .npz, plus "metadata.json" (the source's metadata).
std::uint64_t write_npz(const std::filesystem::path& path, shard::RecordSource& source,
                        const NpzWriteOptions& options = {});

}  // namespace tb::data
