// Internal to the array formats (hdf5.cpp, npy.cpp, csv.cpp): what every one of them checks and
// builds the same way. Labels and keys are small (a few bytes per sample), so each format reads
// them whole when it opens and checks them here once; the readers then only fetch payloads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/shard_format.h"

namespace tb::data::detail {

// tb::FormatError "FILE: WHERE: WHAT", WHERE being e.g. "dataset 'labels', row 7" or "line 3".
[[noreturn]] void fail(const std::filesystem::path& file, const std::string& where,
                       const std::string& what);

// Labels as RecordRef carries them: each must be a class index in [0, 2^31). `where` names the
// array ("dataset 'labels'"); the message adds the row. Returns the largest label (-1 if none).
std::int32_t check_labels(std::span<const std::int64_t> values, std::vector<std::int32_t>& out,
                          const std::filesystem::path& file, const std::string& where);

// Keys must be unique within a set (the shard writer indexes by key). Names both rows of the
// first duplicate.
void check_unique_keys(std::span<const std::uint64_t> keys, const std::filesystem::path& file,
                       const std::string& where);

// The set's metadata: defaults ("name", "classes" = largest label + 1, and for integer samples
// "normalize" {scale 255 for u8, 128 for i8, 1 for i32; mean 0, std 1}), then `stored` (what the
// file itself carries), then `overrides` (the caller's), key by key. Checks that "classes", when
// given, covers every label and that "normalize" is an object of positive numbers.
nlohmann::json build_metadata(const std::string& name, shard::SampleDType dtype,
                              std::int32_t max_label, const nlohmann::json& stored,
                              const nlohmann::json& overrides, const std::filesystem::path& file);

// Writers: the payload of the source's record number `index` must have the spec's size.
void check_payload(std::span<const std::byte> payload, const shard::SampleSpec& spec,
                   const std::string& source, std::uint64_t index);

// A writer's output goes to "NAME.tmp" first and is renamed when complete, so a reader never sees
// half an export; the temporary is removed if the writer throws before commit().
class TempOutput {
 public:
  explicit TempOutput(std::filesystem::path target);
  ~TempOutput();
  TempOutput(const TempOutput&) = delete;
  TempOutput& operator=(const TempOutput&) = delete;
  const std::filesystem::path& temp() const { return temp_; }
  void commit();

 private:
  std::filesystem::path target_, temp_;
  bool done_ = false;
};

}  // namespace tb::data::detail
