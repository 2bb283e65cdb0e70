// The debiased EMA of the compare view's curves.
#include "core/compare/smoothing.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace tb::compare {
namespace {

TEST(Smoothing, WeightZeroIsTheRawCurve) {
  const std::vector<double> y = {3.0, -1.0, 7.5, 2.25};
  EXPECT_EQ(smooth_ema(y, 0.0), y);
  EXPECT_EQ(smooth_ema(y, -0.5), y) << "weights below 0 clamp to 0";
  EXPECT_TRUE(smooth_ema({}, 0.9).empty());
}

TEST(Smoothing, DebiasingKeepsAConstantCurveConstant) {
  const std::vector<double> y(50, 0.75);
  for (const double weight : {0.3, 0.6, 0.99, 1.0}) {
    for (const double v : smooth_ema(y, weight)) EXPECT_DOUBLE_EQ(v, 0.75) << weight;
  }
  // Debiasing is what makes the first point the first value, not (1 - weight) of it.
  const auto rising = smooth_ema(std::vector<double>{4.0, 4.0, 10.0}, 0.9);
  EXPECT_DOUBLE_EQ(rising[0], 4.0);
  EXPECT_DOUBLE_EQ(rising[1], 4.0);
}

TEST(Smoothing, KnownThreePointValues) {
  // weight 0.5 over 1, 2, 4:
  //   k=1: average 0.5,   divided by 1 - 0.5   = 1
  //   k=2: average 1.25,  divided by 1 - 0.25  = 5/3
  //   k=3: average 2.625, divided by 1 - 0.125 = 3
  const auto s = smooth_ema(std::vector<double>{1.0, 2.0, 4.0}, 0.5);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_DOUBLE_EQ(s[0], 1.0);
  EXPECT_DOUBLE_EQ(s[1], 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(s[2], 3.0);
}

TEST(Smoothing, NanAndInfinityPassThroughAndStayOutOfTheAverage) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const auto s = smooth_ema(std::vector<double>{1.0, nan, 2.0, inf, 4.0}, 0.5);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_TRUE(std::isnan(s[1]));
  EXPECT_EQ(s[3], inf);
  // The finite points smooth as if the others were not there: 1, 5/3, 3.
  EXPECT_DOUBLE_EQ(s[0], 1.0);
  EXPECT_DOUBLE_EQ(s[2], 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(s[4], 3.0);
}

TEST(Smoothing, HeavierWeightIsSmoother) {
  std::vector<double> y;
  for (int i = 0; i < 200; ++i) y.push_back(i % 2 == 0 ? 1.0 : -1.0);
  const auto light = smooth_ema(y, 0.5);
  const auto heavy = smooth_ema(y, 0.95);
  EXPECT_LT(std::abs(heavy.back()), std::abs(light.back()));
}

}  // namespace
}  // namespace tb::compare
