// The timeline's time <-> pixel mapping: which nanosecond sits at which x, zooming about the
// cursor, panning by a drag, and keeping the window inside the trace.
//
// A plain value type with no Qt, so the arithmetic that every paint, hit test and drag relies on
// is unit-tested with plain numbers (tests/widgets/timeline_geometry_test.cpp). Times are doubles
// of nanoseconds since the trace's origin: exact to the nanosecond for traces up to ~100 days, and
// zooming below one nanosecond per pixel needs fractions anyway.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

namespace tb::widgets {

// What the window may show: the trace's extent and the deepest zoom.
struct TimeLimits {
  double begin_ns = 0.0;
  double end_ns = 0.0;
  double min_ns_per_px = 1e-3;  // a nanosecond spreads over at most 1000 px

  double extent() const { return end_ns - begin_ns; }
};

struct TimelineGeometry {
  double start_ns = 0.0;   // the time at x == left_px
  double ns_per_px = 1.0;  // > 0
  double left_px = 0.0;    // where the time area begins (widget coordinates)
  double width_px = 1.0;   // the time area's width

  double end_ns() const { return start_ns + ns_per_px * width_px; }
  double duration_ns() const { return ns_per_px * width_px; }
  double right_px() const { return left_px + width_px; }
  double toX(double t) const { return left_px + (t - start_ns) / ns_per_px; }
  double toTime(double x) const { return start_ns + (x - left_px) * ns_per_px; }
  double pxToNs(double px) const { return px * ns_per_px; }

  // [t0, t1] spread over the time area; an empty or inverted window shows 1 ns.
  static TimelineGeometry fit(double t0, double t1, double left, double width) {
    TimelineGeometry g;
    g.left_px = left;
    g.width_px = std::max(width, 1.0);
    g.start_ns = t0;
    g.ns_per_px = std::max(t1 - t0, 1.0) / g.width_px;
    return g;
  }

  // Scales by `factor` (> 1 zooms in) keeping the time under pixel x where it is, as a wheel
  // zoom under the cursor should.
  TimelineGeometry zoomedAbout(double x, double factor) const {
    if (!(factor > 0.0) || !std::isfinite(factor)) return *this;
    TimelineGeometry g = *this;
    const double anchor = toTime(x);
    g.ns_per_px = ns_per_px / factor;
    g.start_ns = anchor - (x - left_px) * g.ns_per_px;
    return g;
  }

  // The content follows a drag of dx pixels: dragging right (dx > 0) shows earlier times.
  TimelineGeometry panned(double dx) const {
    TimelineGeometry g = *this;
    g.start_ns -= dx * ns_per_px;
    return g;
  }

  // The same scale with time t in the middle of the area.
  TimelineGeometry centredOn(double t) const {
    TimelineGeometry g = *this;
    g.start_ns = t - duration_ns() / 2.0;
    return g;
  }

  // A new area size (the widget was resized): the start and the scale stay, so the content does
  // not jump; the window grows or shrinks at its right end.
  TimelineGeometry resized(double left, double width) const {
    TimelineGeometry g = *this;
    g.left_px = left;
    g.width_px = std::max(width, 1.0);
    return g;
  }

  // The nearest window inside the limits: no deeper than min_ns_per_px, no wider than the whole
  // trace, and not past either end (a window wider than the trace starts at its beginning).
  TimelineGeometry clamped(const TimeLimits& limits) const {
    TimelineGeometry g = *this;
    const double extent = std::max(limits.extent(), g.width_px * limits.min_ns_per_px);
    const double max_ns_per_px = extent / g.width_px;
    if (!(g.ns_per_px > 0.0) || !std::isfinite(g.ns_per_px)) g.ns_per_px = max_ns_per_px;
    g.ns_per_px = std::clamp(g.ns_per_px, limits.min_ns_per_px, max_ns_per_px);
    if (!std::isfinite(g.start_ns)) g.start_ns = limits.begin_ns;
    const double last_start = std::max(limits.begin_ns, limits.end_ns - g.duration_ns());
    g.start_ns = std::clamp(g.start_ns, limits.begin_ns, last_start);
    return g;
  }

  // Whether the window shows the trace's end (within tolerance_px): a live view that is there
  // follows new data; one scrolled back stays where the user put it.
  bool atEnd(const TimeLimits& limits, double tolerance_px = 2.0) const {
    return end_ns() >= limits.end_ns - tolerance_px * ns_per_px;
  }

  bool operator==(const TimelineGeometry&) const = default;
};

// "3.500 ms": a duration (or a time since the origin) in the unit that keeps it in [1, 1000).
inline std::string formatDuration(double ns) {
  const double a = std::abs(ns);
  char text[64];
  if (a >= 1e9) {
    std::snprintf(text, sizeof text, "%.3f s", ns / 1e9);
  } else if (a >= 1e6) {
    std::snprintf(text, sizeof text, "%.3f ms", ns / 1e6);
  } else if (a >= 1e3) {
    std::snprintf(text, sizeof text, "%.3f µs", ns / 1e3);
  } else {
    std::snprintf(text, sizeof text, a < 10 && a != std::floor(a) ? "%.2f ns" : "%.0f ns", ns);
  }
  return text;
}

// A ruler tick's label: the unit and the decimals follow the step between ticks, so neighbouring
// labels always differ and carry no needless digits ("1.25 ms" beside "1.50 ms").
inline std::string rulerLabel(double t, double step) {
  double unit = 1.0;
  const char* name = "ns";
  if (step >= 1e9) {
    unit = 1e9;
    name = "s";
  } else if (step >= 1e6) {
    unit = 1e6;
    name = "ms";
  } else if (step >= 1e3) {
    unit = 1e3;
    name = "µs";
  }
  const double digits = step > 0.0 ? std::ceil(-std::log10(step / unit) - 1e-9) : 0.0;
  const int decimals = static_cast<int>(std::clamp(digits, 0.0, 6.0));
  char text[64];
  const double value = std::abs(t / unit) < 0.5 * std::pow(10.0, -decimals) ? 0.0 : t / unit;
  std::snprintf(text, sizeof text, "%.*f %s", decimals, value, name);
  return text;
}

}  // namespace tb::widgets
