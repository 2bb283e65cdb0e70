// The normalization of integer samples: (x / scale - mean) / std, as datasets describe it, computed
// as x * gain + offset with gain = 1 / (scale * std) and offset = -mean / std (each rounded once
// to float, from double). A multiply and an add vectorize where two divisions per value would not
// (decoding u8 images runs at memory speed), and normalize.cpp is compiled without contraction into
// FMA, so every build and every loader (the IDX reader, the pipeline's decoder) gives the same
// floats for the same bytes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tb::data {

class Normalization {
 public:
  Normalization() = default;  // the identity
  Normalization(float scale, float mean, float std);

  float apply(float x) const;
  // out[i] = apply(in[i]) for n values: AVX2 where the CPU has it, portable builds included.
  void apply(const std::uint8_t* in, float* out, std::size_t n) const;

  float gain() const { return gain_; }
  float offset() const { return offset_; }

 private:
  float gain_ = 1.0f;
  float offset_ = 0.0f;
};

}  // namespace tb::data
