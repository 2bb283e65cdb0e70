// The arithmetic of CurvePlot, free of Qt and of painting so it is tested with plain numbers: the
// x of a point in each axis mode, the slice of a curve a window shows, the downsampling budget,
// zooming, fitting the y range, log-axis ticks and tick labels.
//
// Curves live in "axis space": x in the chosen axis's unit, y the value or, on a log axis, its
// log10 (so a log axis is an ordinary linear mapping of log10 values, and LTTB keeps the shape the
// user sees).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/compare/lttb.h"
#include "widgets/plot_geometry.h"

namespace tb::widgets {

enum class CurveXAxis { step, samples, wall_time };

// The x of a metric point: its step, the samples seen by then (step x batch size), or its wall
// time in seconds. NaN for samples when the batch size is unknown (0): such a curve has no x.
inline double curveX(CurveXAxis axis, std::int64_t step, double wall_time,
                     std::int64_t batch_size) {
  switch (axis) {
    case CurveXAxis::step:
      return static_cast<double>(step);
    case CurveXAxis::samples:
      return batch_size > 0 ? static_cast<double>(step) * static_cast<double>(batch_size)
                            : std::numeric_limits<double>::quiet_NaN();
    case CurveXAxis::wall_time:
      return wall_time;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// A value in axis space: itself, or log10 of it on a log axis (NaN where the log is undefined,
// which draws as a gap).
inline double toAxisY(double value, bool logY) {
  if (!logY) return value;
  return value > 0.0 ? std::log10(value) : std::numeric_limits<double>::quiet_NaN();
}
inline double fromAxisY(double y, bool logY) {
  return logY ? std::pow(10.0, y) : y;
}

// The indices [first, last) of the points to downsample for the window [x0, x1]: every point
// inside it plus one neighbour on each side, so lines run on to the plot's edges rather than
// stopping at the last point inside. Points are ordered by x.
inline std::pair<std::size_t, std::size_t> visibleSlice(std::span<const compare::CurvePoint> points,
                                                        double x0, double x1) {
  const auto lo = std::lower_bound(points.begin(), points.end(), x0,
                                   [](const compare::CurvePoint& p, double x) { return p.x < x; });
  const auto hi = std::upper_bound(points.begin(), points.end(), x1,
                                   [](double x, const compare::CurvePoint& p) { return x < p.x; });
  std::size_t first = static_cast<std::size_t>(lo - points.begin());
  std::size_t last = static_cast<std::size_t>(hi - points.begin());
  if (first > 0) --first;
  if (last < points.size()) ++last;
  return {first, std::max(first, last)};
}

// How many points a curve keeps across `widthPx` pixels: two a pixel column (LTTB keeps a
// column's rise and fall), at least 3 (first, last and one bucket).
inline std::size_t downsampleBudget(double widthPx) {
  const double columns = std::isfinite(widthPx) ? std::max(0.0, std::ceil(widthPx)) : 0.0;
  return std::max<std::size_t>(3, static_cast<std::size_t>(2.0 * columns));
}

// One pixel column of a dense curve: the lowest and highest y (axis space) it covers.
struct ColumnRange {
  int column = 0;
  double lo = 0.0, hi = 0.0;
  bool operator==(const ColumnRange&) const = default;
};

// A dense curve over the window [x0, x1] as the y extent of each of `columns` pixel columns,
// widened to the previous point when it lies in an earlier column, so that the line joining two
// columns is covered and neighbouring columns connect. Every point in the window is covered,
// outliers included, at one range a column however many points fall in it (the raw curve behind
// a smoothed one is drawn so). Points outside the window only join; a NaN y breaks the join.
// Points are ordered by x.
inline std::vector<ColumnRange> columnEnvelope(std::span<const compare::CurvePoint> points,
                                               double x0, double x1, int columns) {
  std::vector<ColumnRange> out;
  if (columns <= 0 || !(x1 > x0)) return out;
  const double scale = columns / (x1 - x0);
  double previous = 0.0;  // the last finite y,
  bool joined = false;    // while the curve is unbroken
  int current = std::numeric_limits<int>::min();
  ColumnRange range;
  auto flush = [&] {
    if (current >= 0 && current < columns) out.push_back(range);
  };
  for (const compare::CurvePoint& p : points) {
    if (!std::isfinite(p.y) || !std::isfinite(p.x)) {
      flush();
      current = std::numeric_limits<int>::min();
      joined = false;
      continue;
    }
    const double at = std::floor((p.x - x0) * scale);
    // The right edge belongs to the last column.
    const int column =
        p.x == x1 ? columns - 1 : static_cast<int>(std::clamp(at, -1.0, double(columns)));
    if (column != current) {
      flush();
      current = column;
      range = {column, p.y, p.y};
      if (joined) {
        range.lo = std::min(range.lo, previous);
        range.hi = std::max(range.hi, previous);
      }
    } else {
      range.lo = std::min(range.lo, p.y);
      range.hi = std::max(range.hi, p.y);
    }
    previous = p.y;
    joined = true;
  }
  flush();
  return out;
}

// The index of the point whose x is nearest to `x` (the earlier one on a tie); nullopt for no
// points. Points are ordered by x.
inline std::optional<std::size_t> nearestByX(std::span<const compare::CurvePoint> points,
                                             double x) {
  if (points.empty() || !std::isfinite(x)) return std::nullopt;
  const auto it = std::lower_bound(points.begin(), points.end(), x,
                                   [](const compare::CurvePoint& p, double v) { return p.x < v; });
  std::size_t i = static_cast<std::size_t>(it - points.begin());
  if (i == points.size()) return i - 1;
  if (i > 0 && x - points[i - 1].x <= points[i].x - x) --i;
  return i;
}

// [lo, hi] of the finite values, nullopt when there are none.
inline std::optional<std::pair<double, double>> finiteRange(std::span<const double> values) {
  std::optional<std::pair<double, double>> r;
  for (const double v : values) {
    if (!std::isfinite(v)) continue;
    if (!r) {
      r = {v, v};
    } else {
      r->first = std::min(r->first, v);
      r->second = std::max(r->second, v);
    }
  }
  return r;
}

// [lo, hi] grown by `margin` of its size on each side; a flat range (one value) is opened to +-5%
// of the value (+-1 around zero) so a constant curve sits in the middle rather than on an edge.
inline std::pair<double, double> paddedRange(double lo, double hi, double margin = 0.04) {
  if (!(hi > lo)) {
    const double half = lo != 0.0 ? std::abs(lo) * 0.05 : 1.0;
    return {lo - half, lo + half};
  }
  const double m = (hi - lo) * margin;
  return {lo - m, hi + m};
}

// The x window after zooming by `factor` (> 1 in, < 1 out) about world x `anchor`, which stays
// where it is on screen. The window never leaves [limit0, limit1] nor grows past it, and never
// narrows below `minWidth`.
inline std::pair<double, double> zoomedWindow(double x0, double x1, double anchor, double factor,
                                              double limit0, double limit1, double minWidth) {
  if (!(factor > 0.0) || !(x1 > x0)) return {x0, x1};
  const double full = limit1 - limit0;
  double width = std::clamp((x1 - x0) / factor, std::min(minWidth, full), full);
  const double t = std::clamp((anchor - x0) / (x1 - x0), 0.0, 1.0);
  double start = anchor - t * width;
  start = std::clamp(start, limit0, limit1 - width);
  return {start, start + width};
}

// The window moved by `dx` world units, kept inside [limit0, limit1].
inline std::pair<double, double> pannedWindow(double x0, double x1, double dx, double limit0,
                                              double limit1) {
  const double width = x1 - x0;
  const double start = std::clamp(x0 + dx, limit0, std::max(limit0, limit1 - width));
  return {start, start + width};
}

// Ticks of a log axis, in axis space (log10): every power of ten in [lo, hi], thinned to at most
// maxTicks; when the range spans less than two decades, the linear ticks of the values instead
// (converted to log10) so a narrow log axis still has labels.
inline std::vector<double> logTicks(double lo, double hi, int maxTicks) {
  std::vector<double> ticks;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi) || maxTicks < 2) return ticks;
  const double first = std::ceil(lo - 1e-9), last = std::floor(hi + 1e-9);
  if (last - first >= 1.0) {
    const int decades = static_cast<int>(last - first) + 1;
    const int every = (decades + maxTicks - 1) / maxTicks;
    for (double e = first; e <= last + 1e-9; e += every) ticks.push_back(e);
    return ticks;
  }
  for (const double v : niceTicks(std::pow(10.0, lo), std::pow(10.0, hi), maxTicks)) {
    if (v > 0.0) ticks.push_back(std::log10(v));
  }
  return ticks;
}

// A tick's label: as many decimals as the tick step needs; on axes stepping by a thousand or more,
// shortened with k / M / G chosen by the step, so every label of an axis has the same suffix
// ("5k", "10k", "15k"; "0.5M", "1.5M").
inline std::string tickLabel(double value, double step) {
  if (!std::isfinite(value)) return {};
  const double s = std::isfinite(step) ? std::abs(step) : 0.0;
  if (std::abs(value) < s * 1e-9 || value == 0.0) return "0";
  char text[48];
  if (s >= 1e3) {
    static constexpr std::pair<double, const char*> kSuffixes[] = {
        {1e9, "G"}, {1e6, "M"}, {1e3, "k"}};
    for (const auto& [scale, suffix] : kSuffixes) {
      if (s * 10.0 < scale) continue;
      const int decimals = std::clamp(static_cast<int>(-std::floor(std::log10(s / scale))), 0, 3);
      std::snprintf(text, sizeof text, "%.*f%s", decimals, value / scale, suffix);
      return text;
    }
  }
  if (s > 0.0 && s < 1e-4) {
    std::snprintf(text, sizeof text, "%.3g", value);
    return text;
  }
  const int decimals = s > 0.0 ? std::clamp(static_cast<int>(-std::floor(std::log10(s))), 0, 6) : 3;
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// The label of a log axis's tick at log10 value `e`: "1e-3", "0.01", "1", "10", "1e4".
inline std::string logTickLabel(double e) {
  char text[32];
  const double v = std::pow(10.0, e);
  if (std::abs(e - std::round(e)) < 1e-9 && (e < -2.5 || e > 3.5)) {
    std::snprintf(text, sizeof text, "1e%d", static_cast<int>(std::lround(e)));
  } else {
    std::snprintf(text, sizeof text, "%.3g", v);
  }
  return text;
}

}  // namespace tb::widgets
