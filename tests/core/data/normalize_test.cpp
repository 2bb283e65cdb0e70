#include "core/data/normalize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace tb::data {
namespace {

// gain and offset are rounded once each, then the product and the sum: every byte value lands
// within a few float ulps of (x / scale - mean) / std computed in double.
TEST(Normalization, EveryByteValueMatchesTheDatasetFormula) {
  const float scale = 255.0f, mean = 0.2860f, stddev = 0.3530f;
  const Normalization n(scale, mean, stddev);
  for (int v = 0; v < 256; ++v) {
    const double exact = (v / static_cast<double>(scale) - mean) / stddev;
    const float magnitude = std::fabs(static_cast<float>(exact));
    const double ulp = std::nextafter(magnitude, 1e9f) - magnitude;
    EXPECT_NEAR(n.apply(static_cast<float>(v)), exact, 4 * ulp + 1e-7) << "value " << v;
  }
  EXPECT_EQ(Normalization().apply(3.5f), 3.5f);
}

// The vectorized byte path gives the scalar path's floats bit for bit, at every length around
// the vector width (the tail loop) and every alignment.
TEST(Normalization, TheByteArrayPathEqualsTheScalarPathBitForBit) {
  const Normalization n(255.0f, 0.5f, 0.25f);
  std::vector<std::uint8_t> bytes(300);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + 11);
  for (std::size_t offset = 0; offset < 4; ++offset) {
    for (std::size_t length = 0; length <= 70; ++length) {
      std::vector<float> out(length + 1, -99.0f);
      n.apply(bytes.data() + offset, out.data(), length);
      for (std::size_t i = 0; i < length; ++i) {
        ASSERT_EQ(out[i], n.apply(static_cast<float>(bytes[offset + i])))
            << "offset " << offset << ", length " << length << ", index " << i;
      }
      EXPECT_EQ(out[length], -99.0f) << "wrote past the end";
    }
  }
}

}  // namespace
}  // namespace tb::data
