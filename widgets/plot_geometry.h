// Plain geometry for 2-D plots: the world <-> pixel mapping, "nice" axis ticks, and fitting the
// shown extent around a function's interesting region and the paths drawn on it.
//
// Kept free of Qt and of painting so it can be unit-tested with plain numbers (and reused by any
// plot widget); the widgets convert to QPointF/QRectF at the edge.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace tb::widgets {

// A rectangle in world (function) coordinates; y grows upwards.
struct WorldRect {
  double xmin = 0.0, xmax = 1.0, ymin = 0.0, ymax = 1.0;

  double width() const { return xmax - xmin; }
  double height() const { return ymax - ymin; }
  bool contains(double x, double y) const {
    return x >= xmin && x <= xmax && y >= ymin && y <= ymax;
  }
  bool operator==(const WorldRect&) const = default;
};

// A rectangle in pixels; y grows downwards (Qt's convention).
struct PixelRect {
  double left = 0.0, top = 0.0, width = 1.0, height = 1.0;

  double right() const { return left + width; }
  double bottom() const { return top + height; }
  bool operator==(const PixelRect&) const = default;
};

struct Point2 {
  double x = 0.0, y = 0.0;
};

// Maps a world rectangle onto a pixel rectangle: world xmin -> pixel left, world ymax -> pixel
// top (so "up" on screen is +y, as on paper). Degenerate rectangles (zero width or height) map
// everything to the pixel rectangle's start rather than dividing by zero.
struct PlotMapping {
  WorldRect world;
  PixelRect pixels;

  Point2 toPixel(double x, double y) const {
    const double sx = world.width() != 0.0 ? pixels.width / world.width() : 0.0;
    const double sy = world.height() != 0.0 ? pixels.height / world.height() : 0.0;
    return {pixels.left + (x - world.xmin) * sx, pixels.top + (world.ymax - y) * sy};
  }
  Point2 toWorld(double px, double py) const {
    const double sx = pixels.width != 0.0 ? world.width() / pixels.width : 0.0;
    const double sy = pixels.height != 0.0 ? world.height() / pixels.height : 0.0;
    return {world.xmin + (px - pixels.left) * sx, world.ymax - (py - pixels.top) * sy};
  }
  // The world point at the centre of image pixel (col, row) when the plot area is rendered into
  // an image of pixels.width x pixels.height (sampling pixel centres avoids a half-pixel shift).
  Point2 imageSample(int col, int row) const {
    return toWorld(pixels.left + col + 0.5, pixels.top + row + 0.5);
  }
};

// Tick positions on [lo, hi] at a step of 1, 2 or 5 times a power of ten, giving at most
// maxTicks ticks (and at least two whenever the range is non-empty). Ticks lie inside [lo, hi];
// values within a rounding error of zero are exactly 0 (so the label reads "0", not "-1e-17").
inline std::vector<double> niceTicks(double lo, double hi, int maxTicks) {
  std::vector<double> ticks;
  if (!(hi > lo) || maxTicks < 2 || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
  const double raw = (hi - lo) / (maxTicks - 1);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude * 10.0;
  for (const double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * magnitude >= raw * (1.0 - 1e-9)) {
      step = m * magnitude;
      break;
    }
  }
  const double first = std::ceil(lo / step - 1e-9) * step;
  // first + i * step, not repeated additions: no drift over the axis.
  for (int i = 0; i <= maxTicks; ++i) {
    const double t = first + i * step;
    if (t > hi + step * 1e-9) break;
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

// The smallest round number at or above value (1 for no positive finite value), in fine steps
// (1.2, 1.5, ... times a power of ten), so an axis's head room over its peak stays a sliver
// rather than doubling the axis.
inline double niceCeil(double value) {
  if (!(value > 0.0) || !std::isfinite(value)) return 1.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  for (const double factor : {1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0}) {
    if (factor * magnitude >= value * (1.0 - 1e-12)) return factor * magnitude;
  }
  return 10.0 * magnitude;
}

// The extent to show: `base` grown just enough to include every point (plus a margin of
// `margin` times the grown size), but never more than `maxGrow` times base's width (height) on
// each side, so one path that shoots off towards infinity does not shrink the interesting region
// to a dot. Non-finite points are ignored.
inline WorldRect fitExtent(const WorldRect& base, const std::vector<Point2>& points,
                           double maxGrow = 1.0, double margin = 0.04) {
  WorldRect r = base;
  bool grown = false;
  for (const Point2& p : points) {
    if (!std::isfinite(p.x) || !std::isfinite(p.y) || base.contains(p.x, p.y)) continue;
    r.xmin = std::min(r.xmin, p.x);
    r.xmax = std::max(r.xmax, p.x);
    r.ymin = std::min(r.ymin, p.y);
    r.ymax = std::max(r.ymax, p.y);
    grown = true;
  }
  if (!grown) return base;
  const double mx = margin * r.width(), my = margin * r.height();
  if (r.xmin < base.xmin) r.xmin -= mx;
  if (r.xmax > base.xmax) r.xmax += mx;
  if (r.ymin < base.ymin) r.ymin -= my;
  if (r.ymax > base.ymax) r.ymax += my;
  const double gx = maxGrow * base.width(), gy = maxGrow * base.height();
  r.xmin = std::max(r.xmin, base.xmin - gx);
  r.xmax = std::min(r.xmax, base.xmax + gx);
  r.ymin = std::max(r.ymin, base.ymin - gy);
  r.ymax = std::min(r.ymax, base.ymax + gy);
  return r;
}

// Where a function value falls on the colour scale, in [0, 1]: log(1 + f - fmin) relative to
// log(1 + fmax - fmin). The log keeps a valley visible next to walls thousands of times higher
// (Rosenbrock's are ~1e3 where the valley floor is ~1e-2).
inline double logLevel(double f, double fmin, double fmax) {
  if (!(fmax > fmin) || !std::isfinite(f)) return std::isfinite(f) && f > fmin ? 1.0 : 0.0;
  const double t = std::log1p(std::max(0.0, f - fmin)) / std::log1p(fmax - fmin);
  return std::clamp(t, 0.0, 1.0);
}

// A signed level in [-1, 1] for functions with no minimum (a saddle): sign(f) log(1 + |f|) over
// log(1 + maxAbs), so 0 stays the middle of a diverging colour map.
inline double signedLogLevel(double f, double maxAbs) {
  if (!(maxAbs > 0.0) || !std::isfinite(f)) return 0.0;
  const double t = std::log1p(std::abs(f)) / std::log1p(maxAbs);
  return std::clamp(f < 0 ? -t : t, -1.0, 1.0);
}

}  // namespace tb::widgets
