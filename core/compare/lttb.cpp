#include "core/compare/lttb.h"

#include <cmath>
#include <optional>

namespace tb::compare {
namespace {

// Non-finite values cannot be drawn, and one would turn every triangle area of its bucket into
// NaN or infinity; infinite y is treated like NaN for that reason.
bool drawable(const CurvePoint& p) {
  return std::isfinite(p.y);
}

// Twice the area of the triangle a, p, c (the factor does not change which point is largest).
double doubled_area(const CurvePoint& a, const CurvePoint& p, const CurvePoint& c) {
  return std::abs((a.x - c.x) * (p.y - a.y) - (a.x - p.x) * (c.y - a.y));
}

}  // namespace

std::vector<std::size_t> lttb_indices(std::span<const CurvePoint> points, std::size_t threshold) {
  const std::size_t n = points.size();
  std::vector<std::size_t> kept;
  if (threshold >= n || threshold < 3) {
    kept.resize(n);
    for (std::size_t i = 0; i < n; ++i) kept[i] = i;
    return kept;
  }
  kept.reserve(threshold);
  kept.push_back(0);

  // The points between the first and the last are split into threshold - 2 buckets; integer
  // bounds make every bucket non-empty (threshold < n) and the last one end just before n - 1.
  const std::size_t inner = n - 2;
  const std::size_t buckets = threshold - 2;
  const auto bucket_start = [&](std::size_t b) { return 1 + b * inner / buckets; };

  // The anchor is the last kept point whose y can be drawn: a NaN anchor would make every area
  // of the next bucket NaN.
  std::optional<CurvePoint> anchor;
  if (drawable(points[0])) anchor = points[0];

  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t start = bucket_start(b);
    const std::size_t end = bucket_start(b + 1);
    // The third corner: the mean of the next bucket (the last point after the last bucket),
    // over its drawable points.
    const std::size_t next_start = end;
    const std::size_t next_end = b + 1 < buckets ? bucket_start(b + 2) : n;
    CurvePoint mean;
    std::size_t counted = 0;
    for (std::size_t i = next_start; i < next_end; ++i) {
      if (!drawable(points[i])) continue;
      mean.x += points[i].x;
      mean.y += points[i].y;
      ++counted;
    }
    const bool have_mean = counted > 0;
    if (have_mean) {
      mean.x /= static_cast<double>(counted);
      mean.y /= static_cast<double>(counted);
    }

    std::size_t chosen = start;  // a bucket of NaN only keeps its first point
    double largest = -1.0;
    for (std::size_t i = start; i < end; ++i) {
      const CurvePoint& p = points[i];
      if (!drawable(p)) continue;
      // Without an anchor or without a mean there is no triangle: the distance in y from the
      // corner that is known stands in (with neither, the first drawable point is kept).
      double area = 0.0;
      if (anchor && have_mean) {
        area = doubled_area(*anchor, p, mean);
      } else if (anchor) {
        area = std::abs(p.y - anchor->y);
      } else if (have_mean) {
        area = std::abs(p.y - mean.y);
      }
      if (area > largest) {
        largest = area;
        chosen = i;
      }
    }
    kept.push_back(chosen);
    if (drawable(points[chosen])) anchor = points[chosen];
  }
  kept.push_back(n - 1);
  return kept;
}

std::vector<CurvePoint> lttb(std::span<const CurvePoint> points, std::size_t threshold) {
  std::vector<CurvePoint> out;
  const auto indices = lttb_indices(points, threshold);
  out.reserve(indices.size());
  for (const std::size_t i : indices) out.push_back(points[i]);
  return out;
}

}  // namespace tb::compare
