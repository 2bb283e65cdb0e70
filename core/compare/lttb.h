// Largest-triangle-three-buckets (Steinarsson, 2013): downsamples a curve for display to a given
// number of points while keeping its shape, peaks and troughs included; the first and last points
// are always kept. 20 sessions x 100,000 points become a few thousand points to draw.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

namespace tb::compare {

struct CurvePoint {
  double x = 0.0;
  double y = 0.0;
};

// The indices of the points kept, ascending. Points must be ordered by x. With threshold >=
// points.size() or threshold < 3 every index is kept (fewer than 3 cannot hold first, last and a
// bucket). Points whose y is NaN are never chosen inside a bucket unless the whole bucket is NaN.
std::vector<std::size_t> lttb_indices(std::span<const CurvePoint> points, std::size_t threshold);

// The kept points themselves.
std::vector<CurvePoint> lttb(std::span<const CurvePoint> points, std::size_t threshold);

}  // namespace tb::compare
