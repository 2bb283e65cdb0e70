// Augmentation: the flip mirrors rows, the crop shifts the image within its zero padding, and the
// draws depend on (seed, epoch, key) only.
#include "core/data/pipeline/augment.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace tb::data {
namespace {

const std::vector<std::uint32_t> kShape{2, 3, 4};  // [C, H, W]

std::vector<float> ramp() {
  std::vector<float> v(24);
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

TEST(Augment, FlipMirrorsEveryRowOfEveryChannelOrLeavesTheImage) {
  std::vector<float> scratch;
  int flipped = 0;
  for (std::uint64_t key = 0; key < 64; ++key) {
    auto image = ramp();
    augment_sample({0, true}, kShape, -1.0f, 7, 0, key, image, scratch);
    const auto original = ramp();
    if (image == original) continue;
    ++flipped;
    for (std::size_t c = 0; c < 2; ++c) {
      for (std::size_t y = 0; y < 3; ++y) {
        for (std::size_t x = 0; x < 4; ++x) {
          EXPECT_EQ(image[c * 12 + y * 4 + x], original[c * 12 + y * 4 + (3 - x)]);
        }
      }
    }
  }
  EXPECT_GT(flipped, 16);  // about half of 64
  EXPECT_LT(flipped, 48);
}

TEST(Augment, CropShiftsWithinThePaddingAndPadsWithTheGivenValue) {
  std::vector<float> scratch;
  bool saw_shift = false;
  for (std::uint64_t key = 0; key < 32; ++key) {
    auto image = ramp();
    augment_sample({1, false}, kShape, -9.0f, 3, 1, key, image, scratch);
    const auto original = ramp();
    // Find the shift (dy, dx) in [-1, 1]^2 that explains every pixel.
    int matches = 0;
    for (int dy = -1; dy <= 1; ++dy) {
      for (int dx = -1; dx <= 1; ++dx) {
        bool all = true;
        for (int c = 0; c < 2 && all; ++c) {
          for (int y = 0; y < 3 && all; ++y) {
            for (int x = 0; x < 4 && all; ++x) {
              const int sy = y + dy, sx = x + dx;
              const float want = (sy < 0 || sy >= 3 || sx < 0 || sx >= 4)
                                     ? -9.0f
                                     : original[static_cast<std::size_t>(c * 12 + sy * 4 + sx)];
              all = image[static_cast<std::size_t>(c * 12 + y * 4 + x)] == want;
            }
          }
        }
        if (all) {
          ++matches;
          saw_shift |= dy != 0 || dx != 0;
        }
      }
    }
    EXPECT_EQ(matches, 1) << key;
  }
  EXPECT_TRUE(saw_shift);
}

TEST(Augment, DrawsDependOnSeedEpochAndKeyOnly) {
  std::vector<float> scratch;
  auto draw = [&](std::uint64_t seed, std::int64_t epoch, std::uint64_t key) {
    auto image = ramp();
    augment_sample({1, true}, kShape, 0.0f, seed, epoch, key, image, scratch);
    return image;
  };
  EXPECT_EQ(draw(1, 2, 3), draw(1, 2, 3));
  int differ_key = 0, differ_epoch = 0;
  for (std::uint64_t key = 0; key < 20; ++key) {
    differ_key += draw(1, 2, key) != draw(1, 2, key + 100) ? 1 : 0;
    differ_epoch += draw(1, 2, key) != draw(1, 3, key) ? 1 : 0;
  }
  EXPECT_GT(differ_key, 10);
  EXPECT_GT(differ_epoch, 10);
  auto image = ramp();
  augment_sample({}, kShape, 0.0f, 1, 1, 1, image, scratch);  // nothing enabled
  EXPECT_EQ(image, ramp());
}

}  // namespace
}  // namespace tb::data
