// Coarser copies of a long curve, made once when the curve is prepared, so that a window over
// most of a 100,000-point curve is downsampled from some 25,000 points rather than all of them
// (the frame after a zoom has to fit in 16 ms for 20 such curves). A window that holds few points
// is downsampled from the points themselves.
//
// Two kinds: LTTB levels for the curve that is drawn as a line (LTTB of LTTB keeps the shape: each
// pass keeps a bucket's most prominent point), and extrema levels for the raw curve drawn as each
// pixel column's extent (keeping each bucket's lowest and highest point keeps every extent).
// Qt-free, tested with plain numbers.
#pragma once

#include <cstddef>
#include <vector>

#include "core/compare/lttb.h"

namespace tb::widgets {

using CurveLevels = std::vector<std::vector<compare::CurvePoint>>;

// Each level a quarter of the one before (the first a quarter of `points`), while it keeps more
// than `smallest` points. Points are ordered by x; so is every level.
CurveLevels lttbLevels(const std::vector<compare::CurvePoint>& points, std::size_t smallest = 8192);
// Each level keeps, of every 8 points of the one before, the lowest and the highest (in x order;
// a NaN y as well, so gaps stay gaps).
CurveLevels extremaLevels(const std::vector<compare::CurvePoint>& points,
                          std::size_t smallest = 8192);

// The coarsest of `levels` (or `points` itself) that still has at least `need` points in the
// window [x0, x1].
const std::vector<compare::CurvePoint>& levelFor(const std::vector<compare::CurvePoint>& points,
                                                 const CurveLevels& levels, double x0, double x1,
                                                 std::size_t need);

}  // namespace tb::widgets
