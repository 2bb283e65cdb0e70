// CurvePlot's data side: the two caches (axis-space curves, then the laid-out window), the
// window's zoom and pan, mouse input and export. Painting is in curve_plot_paint.cpp.
#include "widgets/curve_plot.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <thread>

#include "core/compare/smoothing.h"
#include "widgets/plot_export.h"

namespace tb::widgets {
namespace {

constexpr int kLeftPx = 68;    // y tick labels and the y axis title
constexpr int kBottomPx = 44;  // x tick labels and the x axis title
constexpr int kTopPx = 12;
constexpr int kLegendGapPx = 12;
constexpr double kWheelStep = 1.2;  // zoom factor of one wheel notch

// Pixel coordinates far outside the plot are pulled in: the raster engine copes badly with
// coordinates of 1e12, and a segment's visible part does not change noticeably.
constexpr double kPixelLimit = 1e5;

// A curve's downsampled points on screen, split into polylines at gaps (NaN y: a log of a
// non-positive value, a missing evaluation).
std::vector<QPolygonF> toPixels(const std::vector<compare::CurvePoint>& points,
                                const PlotMapping& mapping) {
  std::vector<QPolygonF> lines;
  QPolygonF line;
  line.reserve(static_cast<qsizetype>(points.size()));
  for (const auto& p : points) {
    if (!std::isfinite(p.y) || !std::isfinite(p.x)) {
      if (!line.isEmpty()) lines.push_back(std::move(line));
      line = QPolygonF();
      continue;
    }
    const Point2 q = mapping.toPixel(p.x, p.y);
    line.append(QPointF(std::clamp(q.x, -kPixelLimit, kPixelLimit),
                        std::clamp(q.y, -kPixelLimit, kPixelLimit)));
  }
  if (!line.isEmpty()) lines.push_back(std::move(line));
  return lines;
}

// Whether a polyline (pixels) is noise: a point every two pixel columns or more and, on average,
// more than two pixels of vertical travel a column, so its segments are short and steep. Such a
// line is drawn as column rectangles; a smoother or sparser one is stroked antialiased (its
// stair steps would show).
bool zigzag(const std::vector<QPolygonF>& lines) {
  double travel = 0.0, left = std::numeric_limits<double>::infinity(), right = -left;
  std::size_t points = 0;
  for (const QPolygonF& line : lines) {
    if (line.isEmpty()) continue;
    for (qsizetype i = 1; i < line.size(); ++i) travel += std::abs(line[i].y() - line[i - 1].y());
    points += static_cast<std::size_t>(line.size());
    left = std::min(left, line.front().x());
    right = std::max(right, line.back().x());
  }
  const double columns = right - left;
  return columns > 0.0 && 2.0 * static_cast<double>(points) >= columns && travel > 2.0 * columns;
}

// What a 1-px line without antialiasing fills along polylines (ordered by x): for every pixel
// column, a rectangle from the lowest to the highest y of the segments' parts in it.
QVector<QRect> columnRects(const std::vector<QPolygonF>& lines) {
  QVector<QRect> rects;
  if (!lines.empty() && !lines.front().isEmpty())
    rects.reserve(static_cast<qsizetype>(lines.back().back().x() - lines.front().front().x()) + 2);
  for (const QPolygonF& line : lines) {
    if (line.isEmpty()) continue;
    int column = static_cast<int>(std::floor(line.front().x()));
    double lo = line.front().y(), hi = lo;
    auto flush = [&] {
      const int top = static_cast<int>(std::floor(lo));
      rects.append(QRect(column, top, 1, static_cast<int>(std::floor(hi)) - top + 1));
    };
    for (qsizetype i = 1; i < line.size(); ++i) {
      const QPointF a = line[i - 1], b = line[i];
      const int last = static_cast<int>(std::floor(b.x()));
      // The segment's part in each column it crosses (the y where it meets the column edges).
      for (int edge = column + 1; edge <= last; ++edge) {
        const double t = b.x() > a.x() ? (edge - a.x()) / (b.x() - a.x()) : 1.0;
        const double y = a.y() + t * (b.y() - a.y());
        lo = std::min(lo, y);
        hi = std::max(hi, y);
        flush();
        column = edge;
        lo = hi = y;
      }
      lo = std::min(lo, b.y());
      hi = std::max(hi, b.y());
    }
    flush();
  }
  return rects;
}

// The points of `points` in the window, downsampled to `budget`.
std::vector<compare::CurvePoint> downsampled(const std::vector<compare::CurvePoint>& points,
                                             double x0, double x1, std::size_t budget) {
  const auto [first, last] = visibleSlice(points, x0, x1);
  return compare::lttb(std::span(points).subspan(first, last - first), budget);
}

// fn(0) .. fn(n - 1) on up to `threads` threads (this one among them), each index once.
template <typename Fn>
void forEach(int threads, std::size_t n, const Fn& fn) {
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) fn(i);
  };
  const std::size_t workers = std::min(n, static_cast<std::size_t>(std::max(1, threads)));
  std::vector<std::jthread> helpers;
  for (std::size_t t = 1; t < workers; ++t) helpers.emplace_back(work);
  work();
}

void growY(std::optional<std::pair<double, double>>& range,
           const std::vector<compare::CurvePoint>& points, double x0, double x1) {
  for (const auto& p : points) {
    if (p.x < x0 || p.x > x1 || !std::isfinite(p.y)) continue;
    if (!range) {
      range = {p.y, p.y};
    } else {
      range->first = std::min(range->first, p.y);
      range->second = std::max(range->second, p.y);
    }
  }
}

}  // namespace

CurvePlot::CurvePlot(QWidget* parent) : QWidget(parent) {
  renderThreads_ = static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setFocusPolicy(Qt::WheelFocus);
  setToolTip(
      tr("Wheel: zoom · drag: zoom to a box · right-drag: pan · double-click: whole curves "
         "· click a legend entry: show or hide its curve"));
}

CurvePlot::~CurvePlot() = default;

void CurvePlot::setRenderThreads(int threads) {
  renderThreads_ = std::clamp(threads, 1, 64);
  layerValid_ = false;
  update();
}

void CurvePlot::setCurves(std::vector<Curve> curves) {
  curves_ = std::move(curves);
  legendWidth_ = -1;
  visible_.assign(curves_.size(), true);
  xWindow_.reset();
  yWindow_.reset();
  hoverPx_.reset();
  invalidatePrepared();
}

void CurvePlot::setXAxis(CurveXAxis axis) {
  if (axis == xAxis_) return;
  xAxis_ = axis;
  xWindow_.reset();  // another unit: the old window means nothing
  invalidatePrepared();
}

void CurvePlot::setSmoothing(double weight) {
  weight = std::clamp(weight, 0.0, 0.999);
  if (weight == smoothing_) return;
  smoothing_ = weight;
  invalidatePrepared();
}

void CurvePlot::setLogY(bool on) {
  if (on == logY_) return;
  logY_ = on;
  yWindow_.reset();
  invalidatePrepared();
}

void CurvePlot::setYLabel(const QString& label) {
  yLabel_ = label;
  update();
}

void CurvePlot::setMessage(const QString& message) {
  message_ = message;
  update();
}

void CurvePlot::setCurveVisible(int curve, bool visible) {
  if (curve < 0 || curve >= curveCount() || visible_[static_cast<std::size_t>(curve)] == visible)
    return;
  visible_[static_cast<std::size_t>(curve)] = visible;
  if (preparedValid_) computeFull();
  invalidateLayout();
  emit curveVisibilityChanged(curve, visible);
}

bool CurvePlot::curveVisible(int curve) const {
  return curve >= 0 && curve < curveCount() && visible_[static_cast<std::size_t>(curve)];
}

// The extent of the visible curves, raw points included (they reach further than smoothed ones).
void CurvePlot::computeFull() {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  full_.reset();
  for (std::size_t i = 0; i < prepared_.size(); ++i) {
    const auto& p = prepared_[i];
    if (!visible_[i] || p.smooth.empty()) continue;
    std::optional<std::pair<double, double>> y;
    growY(y, p.smooth, -kInf, kInf);
    growY(y, p.raw, -kInf, kInf);
    if (!y) continue;
    const WorldRect r{p.smooth.front().x, p.smooth.back().x, y->first, y->second};
    full_ = full_ ? WorldRect{std::min(full_->xmin, r.xmin), std::max(full_->xmax, r.xmax),
                              std::min(full_->ymin, r.ymin), std::max(full_->ymax, r.ymax)}
                  : r;
  }
}

void CurvePlot::invalidatePrepared() {
  preparedValid_ = false;
  layoutValid_ = false;
  update();
}

void CurvePlot::invalidateLayout() {
  layoutValid_ = false;
  update();
}

void CurvePlot::prepare() {
  ++prepares_;
  prepared_.assign(curves_.size(), {});
  // Curves are independent: spread over the render threads.
  forEach(renderThreads_, curves_.size(), [this](std::size_t c) {
    const auto& series = curves_[c].series;
    if (!series || series->empty()) return;
    const std::size_t n = series->size();
    Prepared& p = prepared_[c];
    std::vector<double> x(n);
    for (std::size_t i = 0; i < n; ++i) {
      x[i] = curveX(xAxis_, series->step[i], series->wall_time[i], curves_[c].batchSize);
    }
    // Smoothing runs in step order on the values as stored (a log axis shows the smoothed
    // values' logs, as TensorBoard does).
    const std::vector<double> smoothed =
        smoothing_ > 0.0 ? compare::smooth_ema(series->value, smoothing_) : std::vector<double>();
    const std::vector<double>& y = smoothing_ > 0.0 ? smoothed : series->value;
    // LTTB and the binary searches need x ascending and finite. Steps are; wall times of a
    // resumed run may not be: then the points are reordered, remembering where each came from.
    bool ordered = true;
    std::size_t finite = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (std::isfinite(x[i])) ++finite;
      if (i > 0 && !(x[i] >= x[i - 1])) ordered = false;
    }
    if (finite == 0) return;
    if (!ordered || finite < n) {
      p.order.reserve(finite);
      for (std::size_t i = 0; i < n; ++i) {
        if (std::isfinite(x[i])) p.order.push_back(static_cast<std::uint32_t>(i));
      }
      std::stable_sort(p.order.begin(), p.order.end(),
                       [&](std::uint32_t a, std::uint32_t b) { return x[a] < x[b]; });
    }
    const std::size_t count = p.order.empty() ? n : p.order.size();
    p.smooth.resize(count);
    if (smoothing_ > 0.0) p.raw.resize(count);
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = p.order.empty() ? k : p.order[k];
      p.smooth[k] = {x[i], toAxisY(y[i], logY_)};
      if (smoothing_ > 0.0) p.raw[k] = {x[i], toAxisY(series->value[i], logY_)};
    }
    p.smoothLevels = lttbLevels(p.smooth);
    p.rawLevels = extremaLevels(p.raw);
  });
  preparedValid_ = true;
  computeFull();
}

void CurvePlot::layout() {
  if (!preparedValid_) prepare();
  ++layouts_;
  drawn_.assign(curves_.size(), {});
  layoutValid_ = true;
  layerValid_ = false;
  layoutSize_ = size();
  xTicks_.clear();
  yTicks_.clear();
  if (!full_) {
    world_ = {0.0, 1.0, 0.0, 1.0};
    return;
  }
  double x0 = full_->xmin, x1 = full_->xmax;
  if (xWindow_) std::tie(x0, x1) = *xWindow_;
  if (!(x1 > x0)) std::tie(x0, x1) = paddedRange(x0, x1, 0.0);
  const QRectF area = plotArea();
  const std::size_t budget = downsampleBudget(area.width());
  const int columns = std::max(1, static_cast<int>(std::ceil(area.width())));
  std::vector<std::vector<compare::CurvePoint>> smooth(curves_.size()), raw(curves_.size());
  std::vector<std::vector<ColumnRange>> rawColumns(curves_.size());
  std::vector<std::optional<std::pair<double, double>>> ys(curves_.size());
  forEach(renderThreads_, curves_.size(), [&](std::size_t c) {
    const Prepared& p = prepared_[c];
    if (!visible_[c] || p.smooth.empty()) return;
    // A window over most of a long curve is downsampled from a coarser copy of it, one that
    // still has 8 points for each one kept.
    smooth[c] = downsampled(levelFor(p.smooth, p.smoothLevels, x0, x1, 8 * budget), x0, x1, budget);
    growY(ys[c], smooth[c], x0, x1);
    if (p.raw.empty()) return;
    const auto [first, last] = visibleSlice(p.raw, x0, x1);
    if (last - first <= budget) {
      raw[c].assign(p.raw.begin() + static_cast<std::ptrdiff_t>(first),
                    p.raw.begin() + static_cast<std::ptrdiff_t>(last));
      growY(ys[c], raw[c], x0, x1);
      return;
    }
    const auto& level = levelFor(p.raw, p.rawLevels, x0, x1, 4 * static_cast<std::size_t>(columns));
    const auto [f, l] = visibleSlice(level, x0, x1);
    rawColumns[c] = columnEnvelope(std::span(level).subspan(f, l - f), x0, x1, columns);
    for (const ColumnRange& r : rawColumns[c]) {
      ys[c] = ys[c] ? std::pair{std::min(ys[c]->first, r.lo), std::max(ys[c]->second, r.hi)}
                    : std::pair{r.lo, r.hi};
    }
  });
  std::optional<std::pair<double, double>> y;
  for (const auto& r : ys) {
    if (!r) continue;
    y = y ? std::pair{std::min(y->first, r->first), std::max(y->second, r->second)} : *r;
  }
  std::pair<double, double> yr = y ? paddedRange(y->first, y->second) : std::pair{0.0, 1.0};
  if (yWindow_) yr = *yWindow_;
  world_ = {x0, x1, yr.first, yr.second};
  xTicks_ = niceTicks(x0, x1, std::max(2, static_cast<int>(area.width() / 90)));
  const int maxY = std::max(2, static_cast<int>(area.height() / 40));
  yTicks_ = logY_ ? logTicks(yr.first, yr.second, maxY) : niceTicks(yr.first, yr.second, maxY);
  const PlotMapping mapping{world_, {area.left(), area.top(), area.width(), area.height()}};
  const double columnWidth = area.width() / columns;
  forEach(renderThreads_, curves_.size(), [&](std::size_t c) {
    Drawn& d = drawn_[c];
    d.smooth = toPixels(smooth[c], mapping);
    d.raw = toPixels(raw[c], mapping);
    d.smoothPoints = smooth[c].size();
    d.rawPoints = raw[c].size() + 2 * rawColumns[c].size();
    if (zigzag(d.smooth)) d.smoothColumns = columnRects(d.smooth);
    if (zigzag(d.raw)) d.rawColumns = columnRects(d.raw);
    d.rawColumns.reserve(static_cast<qsizetype>(rawColumns[c].size()));
    for (const ColumnRange& r : rawColumns[c]) {
      const double top = std::clamp(mapping.toPixel(x0, r.hi).y, -kPixelLimit, kPixelLimit);
      const double bottom = std::clamp(mapping.toPixel(x0, r.lo).y, -kPixelLimit, kPixelLimit);
      d.rawColumns.append(
          QRect(static_cast<int>(std::floor(area.left() + r.column * columnWidth)),
                static_cast<int>(std::floor(top)), 1,
                std::max(1, static_cast<int>(std::floor(bottom) - std::floor(top)) + 1)));
    }
  });
}

void CurvePlot::ensureLayout() {
  // The size too: a hidden widget is resized without a resize event.
  if (!preparedValid_ || !layoutValid_ || layoutSize_ != size()) layout();
}

WorldRect CurvePlot::window() {
  ensureLayout();
  return world_;
}

WorldRect CurvePlot::fullRange() {
  if (!preparedValid_) prepare();
  return full_.value_or(WorldRect{0.0, 1.0, 0.0, 1.0});
}

void CurvePlot::setXWindow(double x0, double x1) {
  if (!(x1 > x0)) return;
  const WorldRect full = fullRange();
  x0 = std::max(x0, full.xmin);
  x1 = std::min(x1, full.xmax);
  if (!(x1 > x0)) return;
  xWindow_ = std::pair{x0, x1};
  invalidateLayout();
  emit windowChanged();
}

void CurvePlot::setWindow(const WorldRect& window) {
  if (!(window.height() > 0.0)) return;
  yWindow_ = std::pair{window.ymin, window.ymax};
  setXWindow(window.xmin, window.xmax);
}

void CurvePlot::zoomAbout(double px, double factor) {
  const WorldRect full = fullRange();
  const WorldRect now = window();
  const QRectF area = plotArea();
  const PlotMapping m{now, {area.left(), area.top(), area.width(), area.height()}};
  const double anchor = m.toWorld(px, area.top()).x;
  const double minWidth = std::max(full.width() * 1e-6, 1e-9);
  const auto [x0, x1] =
      zoomedWindow(now.xmin, now.xmax, anchor, factor, full.xmin, full.xmax, minWidth);
  if (x0 <= full.xmin && x1 >= full.xmax && !yWindow_) {
    resetZoom();  // all the way out: back to following the whole curves
    return;
  }
  xWindow_ = std::pair{x0, x1};
  invalidateLayout();
  emit windowChanged();
}

void CurvePlot::resetZoom() {
  xWindow_.reset();
  yWindow_.reset();
  invalidateLayout();
  emit windowChanged();
}

int CurvePlot::legendWidth() const {
  if (curves_.empty()) return 0;
  // Measured once for the curves and the font: the plot area and every legend entry ask for it,
  // many times a frame, and measuring 20 names is a millisecond of text shaping.
  if (legendWidth_ >= 0 && legendFont_ == font()) return legendWidth_;
  const QFontMetrics fm(font());
  int widest = 0;
  for (const auto& c : curves_) widest = std::max(widest, fm.horizontalAdvance(c.name));
  legendFont_ = font();
  legendWidth_ = std::clamp(widest + 30, 90, 220);
  return legendWidth_;
}

QRectF CurvePlot::plotArea() const {
  const double right = width() - kLegendGapPx - legendWidth();
  return QRectF(kLeftPx, kTopPx, std::max(10.0, right - kLeftPx),
                std::max(10.0, static_cast<double>(height() - kTopPx - kBottomPx)));
}

QRect CurvePlot::legendEntry(int curve) const {
  const int row = QFontMetrics(font()).height() + 4;
  const int legend = legendWidth();
  return QRect(width() - legend - 4, kTopPx + 4 + curve * row, legend, row);
}

std::optional<int> CurvePlot::legendAt(const QPoint& pos) const {
  for (int c = 0; c < curveCount(); ++c) {
    if (legendEntry(c).contains(pos)) return c;
  }
  return std::nullopt;
}

std::size_t CurvePlot::drawnPointCount(int curve) {
  ensureLayout();
  return curve >= 0 && curve < curveCount() ? drawn_[static_cast<std::size_t>(curve)].smoothPoints
                                            : 0;
}

std::size_t CurvePlot::drawnRawPointCount(int curve) {
  ensureLayout();
  return curve >= 0 && curve < curveCount() ? drawn_[static_cast<std::size_t>(curve)].rawPoints : 0;
}

const std::vector<QPolygonF>& CurvePlot::drawnPath(int curve) {
  static const std::vector<QPolygonF> none;
  ensureLayout();
  return curve >= 0 && curve < curveCount() ? drawn_[static_cast<std::size_t>(curve)].smooth : none;
}

std::size_t CurvePlot::seriesIndex(int curve, std::size_t point) const {
  const auto& order = prepared_[static_cast<std::size_t>(curve)].order;
  return order.empty() ? point : order[point];
}

std::vector<CurvePlot::HoverPoint> CurvePlot::pointsAt(double px) {
  std::vector<HoverPoint> out;
  ensureLayout();
  if (!full_) return out;
  const QRectF area = plotArea();
  const PlotMapping m{world_, {area.left(), area.top(), area.width(), area.height()}};
  const double x = m.toWorld(px, area.top()).x;
  // A curve answers only where it runs: one that ended (or starts) more than a few pixels away
  // from the cursor says nothing about this x.
  const double slack = 6.0 * world_.width() / std::max(1.0, area.width());
  for (int c = 0; c < curveCount(); ++c) {
    const auto& p = prepared_[static_cast<std::size_t>(c)];
    if (!visible_[static_cast<std::size_t>(c)] || p.smooth.empty()) continue;
    if (x < p.smooth.front().x - slack || x > p.smooth.back().x + slack) continue;
    const auto i = nearestByX(p.smooth, x);
    if (!i || p.smooth[*i].x < world_.xmin || p.smooth[*i].x > world_.xmax) continue;
    const std::size_t s = seriesIndex(c, *i);
    const auto& series = *curves_[static_cast<std::size_t>(c)].series;
    out.push_back(
        {c, series.step[s], p.smooth[*i].x, series.value[s], fromAxisY(p.smooth[*i].y, logY_)});
  }
  return out;
}

// --- input --------------------------------------------------------------------------------

void CurvePlot::resizeEvent(QResizeEvent* event) {
  QWidget::resizeEvent(event);
  invalidateLayout();
}

void CurvePlot::wheelEvent(QWheelEvent* event) {
  const QPointF pos = event->position();
  if (!plotArea().contains(pos) || event->angleDelta().y() == 0) return QWidget::wheelEvent(event);
  zoomAbout(pos.x(), std::pow(kWheelStep, event->angleDelta().y() / 120.0));
  event->accept();
}

void CurvePlot::mousePressEvent(QMouseEvent* event) {
  const QPoint pos = event->position().toPoint();
  if (event->button() == Qt::LeftButton) {
    if (const auto entry = legendAt(pos)) {
      setCurveVisible(*entry, !curveVisible(*entry));
      event->accept();
      return;
    }
  }
  if (!plotArea().contains(pos)) return QWidget::mousePressEvent(event);
  if (event->button() == Qt::LeftButton) {
    drag_ = Drag::zoom;
  } else if (event->button() == Qt::RightButton || event->button() == Qt::MiddleButton) {
    drag_ = Drag::pan;
    setCursor(Qt::ClosedHandCursor);
  } else {
    return QWidget::mousePressEvent(event);
  }
  dragFrom_ = dragTo_ = pos;
  event->accept();
}

void CurvePlot::mouseMoveEvent(QMouseEvent* event) {
  const QPoint pos = event->position().toPoint();
  const QRectF area = plotArea();
  if (drag_ == Drag::pan) {
    const WorldRect full = fullRange();
    const WorldRect now = window();
    const double dx = -(pos.x() - dragTo_.x()) * now.width() / area.width();
    const auto [x0, x1] = pannedWindow(now.xmin, now.xmax, dx, full.xmin, full.xmax);
    if (yWindow_) {
      const double dy = (pos.y() - dragTo_.y()) * now.height() / area.height();
      yWindow_ = std::pair{now.ymin + dy, now.ymax + dy};
    }
    dragTo_ = pos;
    if (x0 != now.xmin || yWindow_) {
      xWindow_ = std::pair{x0, x1};
      invalidateLayout();
      emit windowChanged();
    }
  } else if (drag_ == Drag::zoom) {
    dragTo_ = pos;
    update();
  }
  const std::optional<double> hover =
      area.contains(pos) && drag_ == Drag::none ? std::optional<double>(pos.x()) : std::nullopt;
  if (hover != hoverPx_) {
    hoverPx_ = hover;
    update();
  }
  QWidget::mouseMoveEvent(event);
}

void CurvePlot::mouseReleaseEvent(QMouseEvent* event) {
  if (drag_ == Drag::none) return QWidget::mouseReleaseEvent(event);
  const Drag drag = drag_;
  drag_ = Drag::none;
  unsetCursor();
  if (drag == Drag::zoom) {
    const QRectF area = plotArea();
    const QRectF box = QRectF(dragFrom_, event->position()).normalized().intersected(area);
    if (box.width() >= 4) {
      const WorldRect now = window();
      const PlotMapping m{now, {area.left(), area.top(), area.width(), area.height()}};
      const Point2 a = m.toWorld(box.left(), box.bottom());
      const Point2 b = m.toWorld(box.right(), box.top());
      // A flat drag zooms the steps only, the values still fitted to what is shown.
      if (box.height() >= 8) yWindow_ = std::pair{a.y, b.y};
      setXWindow(a.x, b.x);
    }
    update();
  }
  event->accept();
}

void CurvePlot::mouseDoubleClickEvent(QMouseEvent* event) {
  if (plotArea().contains(event->position())) {
    resetZoom();
    event->accept();
    return;
  }
  QWidget::mouseDoubleClickEvent(event);
}

void CurvePlot::leaveEvent(QEvent* event) {
  if (hoverPx_) {
    hoverPx_.reset();
    update();
  }
  QWidget::leaveEvent(event);
}

// --- export -------------------------------------------------------------------------------

QImage CurvePlot::toImage(double scale) {
  return renderPlot(size(), scale, [this](QPainter& painter) { paintPlot(painter, false); });
}

bool CurvePlot::exportPng(const QString& path, double scale) {
  return toImage(scale).save(path, "PNG");
}

bool CurvePlot::exportSvg(const QString& path) {
  return savePlotSvg(path, size(), yLabel_,
                     [this](QPainter& painter) { paintPlot(painter, false); });
}

}  // namespace tb::widgets
