#include "widgets/curve_levels.h"

#include <algorithm>
#include <cmath>

#include "widgets/curve_geometry.h"

namespace tb::widgets {

namespace {
constexpr std::size_t kFactor = 4;  // each level a quarter of the one before
}  // namespace

CurveLevels lttbLevels(const std::vector<compare::CurvePoint>& points, std::size_t smallest) {
  CurveLevels levels;
  const std::vector<compare::CurvePoint>* finer = &points;
  while (finer->size() / kFactor > smallest) {
    levels.push_back(compare::lttb(*finer, finer->size() / kFactor));
    finer = &levels.back();
  }
  return levels;
}

CurveLevels extremaLevels(const std::vector<compare::CurvePoint>& points, std::size_t smallest) {
  CurveLevels levels;
  constexpr std::size_t kBucket = 2 * kFactor;  // 8 points in, 2 out
  const std::vector<compare::CurvePoint>* finer = &points;
  while (finer->size() / kFactor > smallest) {
    const auto& in = *finer;
    std::vector<compare::CurvePoint> out;
    out.reserve(in.size() / kFactor + 2);
    for (std::size_t start = 0; start < in.size(); start += kBucket) {
      const std::size_t end = std::min(in.size(), start + kBucket);
      std::size_t lo = end, hi = end, gap = end;
      for (std::size_t i = start; i < end; ++i) {
        if (!std::isfinite(in[i].y)) {
          if (gap == end) gap = i;
          continue;
        }
        if (lo == end || in[i].y < in[lo].y) lo = i;
        if (hi == end || in[i].y > in[hi].y) hi = i;
      }
      // The kept points in x order (their indices are).
      std::size_t keep[3] = {lo, hi, gap};
      std::sort(keep, keep + 3);
      for (std::size_t k = 0; k < 3; ++k) {
        if (keep[k] != end && (k == 0 || keep[k] != keep[k - 1])) out.push_back(in[keep[k]]);
      }
    }
    levels.push_back(std::move(out));
    finer = &levels.back();
  }
  return levels;
}

const std::vector<compare::CurvePoint>& levelFor(const std::vector<compare::CurvePoint>& points,
                                                 const CurveLevels& levels, double x0, double x1,
                                                 std::size_t need) {
  for (auto level = levels.rbegin(); level != levels.rend(); ++level) {
    const auto [first, last] = visibleSlice(*level, x0, x1);
    if (last - first >= need) return *level;
  }
  return points;
}

}  // namespace tb::widgets
