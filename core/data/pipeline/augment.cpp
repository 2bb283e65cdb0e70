#include "core/data/pipeline/augment.h"

#include <algorithm>
#include <cstddef>

namespace tb::data {
namespace {

// splitmix64: a counter-based stream, so the draws need no generator state shared across samples.
std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

void augment_sample(const AugmentSpec& spec, std::span<const std::uint32_t> shape, float pad_value,
                    std::uint64_t seed, std::int64_t epoch, std::uint64_t key,
                    std::span<float> sample, std::vector<float>& scratch) {
  if (!spec.enabled()) return;
  const std::size_t channels = shape[0], height = shape[1], width = shape[2];
  std::uint64_t state = seed ^ splitmix64(seed);
  state ^= static_cast<std::uint64_t>(epoch) * 0xD1B54A32D192ED03ull;
  state ^= splitmix64(key);
  const auto padding = static_cast<std::size_t>(spec.crop_padding);
  // Offsets in [0, 2 * padding] into the padded image; padding, padding is the original.
  const std::size_t dy = padding > 0 ? splitmix64(state) % (2 * padding + 1) : 0;
  const std::size_t dx = padding > 0 ? splitmix64(state) % (2 * padding + 1) : 0;
  const bool flip = spec.flip && (splitmix64(state) >> 63) != 0;
  scratch.assign(sample.begin(), sample.end());
  for (std::size_t c = 0; c < channels; ++c) {
    const float* in = scratch.data() + c * height * width;
    float* out = sample.data() + c * height * width;
    for (std::size_t y = 0; y < height; ++y) {
      // Row y of the crop is row y + dy - padding of the original (outside: padding).
      const std::ptrdiff_t source_y =
          static_cast<std::ptrdiff_t>(y + dy) - static_cast<std::ptrdiff_t>(padding);
      for (std::size_t x = 0; x < width; ++x) {
        const std::size_t out_x = flip ? width - 1 - x : x;
        const std::ptrdiff_t source_x =
            static_cast<std::ptrdiff_t>(x + dx) - static_cast<std::ptrdiff_t>(padding);
        const bool inside = source_y >= 0 && source_y < static_cast<std::ptrdiff_t>(height) &&
                            source_x >= 0 && source_x < static_cast<std::ptrdiff_t>(width);
        out[y * width + out_x] = inside ? in[static_cast<std::size_t>(source_y) * width +
                                             static_cast<std::size_t>(source_x)]
                                        : pad_value;
      }
    }
  }
}

}  // namespace tb::data
