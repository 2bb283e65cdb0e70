// SampleDecoder: a record's payload bytes (SampleSpec layout) to the model's float features.
// Integer samples become (x / scale - mean) / std with the set's metadata "normalize" (1, 0, 1
// without it), through Normalization (core/data/normalize.h); f32 samples are taken as they are.
// Shared by every reader of records (the in-memory shard loader and the pipeline's workers), so a
// sample decodes to the same floats whichever path reads it.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "core/data/normalize.h"
#include "core/data/shard_format.h"

namespace tb::data {

class SampleDecoder {
 public:
  // `where` names the metadata's origin in errors ("shards/train-00000.tbs: at byte 64").
  // Throws tb::FormatError when normalize's numbers are not numbers or scale/std are not > 0.
  SampleDecoder(const shard::SampleSpec& spec, const nlohmann::json& metadata,
                const std::string& where);

  // out.size() must be spec.numel() and payload.size() spec.payload_bytes().
  void decode(std::span<const std::byte> payload, std::span<float> out) const;
  // The feature a raw value of 0 becomes (what padding adds around an image).
  float zero_feature() const { return normalization_.apply(0.0f); }

  const shard::SampleSpec& spec() const { return spec_; }
  float scale() const { return scale_; }
  float mean() const { return mean_; }
  float stddev() const { return std_; }

 private:
  shard::SampleSpec spec_;
  float scale_ = 1.0f;
  float mean_ = 0.0f;
  float std_ = 1.0f;
  Normalization normalization_;
};

// One little-endian value of `dtype` at p, as float.
float sample_value_to_float(const std::byte* p, shard::SampleDType dtype);

}  // namespace tb::data
