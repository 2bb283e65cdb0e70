#include "core/data/normalize.h"

namespace tb::data {
namespace {

__attribute__((target_clones("avx2", "default"))) void affine_u8(const std::uint8_t* in, float* out,
                                                                 std::size_t n, float gain,
                                                                 float offset) {
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<float>(in[i]) * gain + offset;
}

}  // namespace

Normalization::Normalization(float scale, float mean, float std)
    : gain_(static_cast<float>(1.0 / (static_cast<double>(scale) * static_cast<double>(std)))),
      offset_(static_cast<float>(-static_cast<double>(mean) / static_cast<double>(std))) {}

float Normalization::apply(float x) const {
  return x * gain_ + offset_;
}

void Normalization::apply(const std::uint8_t* in, float* out, std::size_t n) const {
  affine_u8(in, out, n, gain_, offset_);
}

}  // namespace tb::data
