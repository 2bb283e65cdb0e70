// LTTB downsampling: shape kept (first, last, spikes, troughs), sizes, and the same indices as a
// plain transcription of the published algorithm.
#include "core/compare/lttb.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace tb::compare {
namespace {

std::vector<CurvePoint> curve(const std::vector<double>& y) {
  std::vector<CurvePoint> points;
  for (std::size_t i = 0; i < y.size(); ++i) points.push_back({static_cast<double>(i), y[i]});
  return points;
}

// Steinarsson's algorithm as published, without the NaN handling: the reference the
// implementation must agree with on ordinary data.
std::vector<std::size_t> reference_lttb(const std::vector<CurvePoint>& data,
                                        std::size_t threshold) {
  const std::size_t n = data.size();
  std::vector<std::size_t> sampled = {0};
  const std::size_t buckets = threshold - 2;
  auto start_of = [&](std::size_t b) { return 1 + b * (n - 2) / buckets; };
  std::size_t a = 0;
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t avg_start = start_of(b + 1);
    const std::size_t avg_end = b + 1 < buckets ? start_of(b + 2) : n;
    double avg_x = 0, avg_y = 0;
    for (std::size_t i = avg_start; i < avg_end; ++i) {
      avg_x += data[i].x;
      avg_y += data[i].y;
    }
    avg_x /= static_cast<double>(avg_end - avg_start);
    avg_y /= static_cast<double>(avg_end - avg_start);
    double max_area = -1;
    std::size_t next_a = 0;
    for (std::size_t i = start_of(b); i < start_of(b + 1); ++i) {
      const double area = std::abs((data[a].x - avg_x) * (data[i].y - data[a].y) -
                                   (data[a].x - data[i].x) * (avg_y - data[a].y)) *
                          0.5;
      if (area > max_area) {
        max_area = area;
        next_a = i;
      }
    }
    sampled.push_back(next_a);
    a = next_a;
  }
  sampled.push_back(n - 1);
  return sampled;
}

TEST(Lttb, KeepsFirstAndLastAndHasThresholdPointsInOrder) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> y(1000);
  for (auto& v : y) v = noise(rng);
  const auto points = curve(y);
  for (const std::size_t threshold : {3u, 10u, 100u, 999u}) {
    const auto kept = lttb_indices(points, threshold);
    ASSERT_EQ(kept.size(), threshold);
    EXPECT_EQ(kept.front(), 0u);
    EXPECT_EQ(kept.back(), 999u);
    EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
    EXPECT_EQ(std::adjacent_find(kept.begin(), kept.end()), kept.end()) << "repeated index";
    const auto down = lttb(points, threshold);
    ASSERT_EQ(down.size(), threshold);
    for (std::size_t i = 1; i < down.size(); ++i) EXPECT_LT(down[i - 1].x, down[i].x);
  }
}

TEST(Lttb, KeepsASingleSpikeAndASingleTroughInAFlatNoisySeries) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> noise(-0.01, 0.01);
  std::vector<double> y(10000);
  for (auto& v : y) v = 1.0 + noise(rng);
  y[3217] = 50.0;
  y[7771] = -40.0;
  const auto kept = lttb_indices(curve(y), 200);
  EXPECT_NE(std::find(kept.begin(), kept.end(), 3217u), kept.end());
  EXPECT_NE(std::find(kept.begin(), kept.end(), 7771u), kept.end());
}

TEST(Lttb, SmallThresholdsAndShortSeriesKeepEverything) {
  const auto points = curve({1, 5, 2, 8, 3});
  const std::vector<std::size_t> all = {0, 1, 2, 3, 4};
  EXPECT_EQ(lttb_indices(points, 5), all);
  EXPECT_EQ(lttb_indices(points, 50), all);
  EXPECT_EQ(lttb_indices(points, 2), all);
  EXPECT_EQ(lttb_indices(points, 0), all);
  EXPECT_TRUE(lttb_indices({}, 10).empty());
  EXPECT_EQ(lttb(points, 4).size(), 4u);
}

TEST(Lttb, MatchesTheReferenceImplementationOnARandomWalk) {
  std::mt19937 rng(11);
  std::normal_distribution<double> step(0.0, 1.0);
  std::uniform_real_distribution<double> gap(0.1, 2.0);
  std::vector<CurvePoint> points;
  double x = 0, y = 0;
  for (int i = 0; i < 5003; ++i) {
    points.push_back({x, y});
    x += gap(rng);  // uneven spacing, as wall-time axes have
    y += step(rng);
  }
  for (const std::size_t threshold : {3u, 7u, 128u, 1000u, 5002u}) {
    EXPECT_EQ(lttb_indices(points, threshold), reference_lttb(points, threshold)) << threshold;
  }
}

TEST(Lttb, NanIsNeverChosenUnlessItsWholeBucketIsNan) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // 2 + 4 buckets of 2 points with threshold 6: bucket 1 (indices 3, 4) is all NaN; in bucket 0
  // (1, 2) the NaN one must lose to its neighbour.
  std::vector<double> y = {0, nan, 1, nan, nan, 2, 3, 4, 5, 6};
  const auto points = curve(y);
  const auto kept = lttb_indices(points, 6);
  ASSERT_EQ(kept.size(), 6u);
  EXPECT_EQ(kept[1], 2u);
  EXPECT_EQ(kept[2], 3u) << "a bucket of NaN keeps its first point";
  for (std::size_t k = 3; k + 1 < kept.size(); ++k) EXPECT_FALSE(std::isnan(y[kept[k]])) << k;

  // Scattered NaN in a long series: never picked, and the result still has threshold points.
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 1.0);
  std::vector<double> noisy(2000);
  for (std::size_t i = 0; i < noisy.size(); ++i) noisy[i] = i % 7 == 3 ? nan : noise(rng);
  const auto picked = lttb_indices(curve(noisy), 100);
  ASSERT_EQ(picked.size(), 100u);
  for (std::size_t k = 1; k + 1 < picked.size(); ++k) EXPECT_FALSE(std::isnan(noisy[picked[k]]));

  // A NaN first point does not poison the areas of the buckets after it.
  std::vector<double> spike(500, 0.0);
  spike[0] = nan;
  spike[250] = 9.0;
  const auto with_spike = lttb_indices(curve(spike), 20);
  EXPECT_NE(std::find(with_spike.begin(), with_spike.end(), 250u), with_spike.end());
}

}  // namespace
}  // namespace tb::compare
