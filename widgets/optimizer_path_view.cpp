#include "widgets/optimizer_path_view.h"

#include <QFontMetrics>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QPolygonF>
#include <QToolTip>

#include <array>
#include <cmath>
#include <limits>

namespace tb::widgets {

namespace {

constexpr int kIsoBands = 14;
constexpr double kHoverRadiusPx = 8.0;

struct Stop {
  double t;
  QColor color;
};

QColor ramp(const std::vector<Stop>& stops, double t) {
  if (t <= stops.front().t) return stops.front().color;
  for (std::size_t i = 1; i < stops.size(); ++i) {
    if (t <= stops[i].t) {
      const double u = (t - stops[i - 1].t) / (stops[i].t - stops[i - 1].t);
      const QColor& a = stops[i - 1].color;
      const QColor& b = stops[i].color;
      return QColor::fromRgbF(static_cast<float>(a.redF() + u * (b.redF() - a.redF())),
                              static_cast<float>(a.greenF() + u * (b.greenF() - a.greenF())),
                              static_cast<float>(a.blueF() + u * (b.blueF() - a.blueF())));
    }
  }
  return stops.back().color;
}

// Muted maps, light where the function is low: the saturated path colours (matplotlib's tab10)
// must stay the loudest thing in the picture.
const std::vector<Stop>& sequentialStops() {
  static const std::vector<Stop> stops = {{0.0, QColor(0xfb, 0xf8, 0xe8)},
                                          {0.35, QColor(0xd4, 0xdc, 0xe0)},
                                          {0.7, QColor(0x92, 0xa5, 0xbb)},
                                          {1.0, QColor(0x4a, 0x5a, 0x73)}};
  return stops;
}
const std::vector<Stop>& divergingStops() {
  static const std::vector<Stop> stops = {{-1.0, QColor(0x5f, 0x86, 0xbd)},
                                          {0.0, QColor(0xf7, 0xf7, 0xf4)},
                                          {1.0, QColor(0xc9, 0x7b, 0x62)}};
  return stops;
}

QString number(double v) {
  return QString::number(v, 'g', 3);
}

// Pixel coordinates far outside the widget are clamped: QPainter's fixed-point rasteriser
// misdraws lines to points ~1e9 pixels away (a path just before it diverged).
QPointF toPoint(const Point2& p) {
  constexpr double kFar = 1e5;
  return {std::clamp(p.x, -kFar, kFar), std::clamp(p.y, -kFar, kFar)};
}

// Steps between the dots on a path: a round number giving at most ~25 dots, so the dots show
// how far each optimizer gets per step without turning the line into a bead chain.
int dotStride(qsizetype points) {
  for (const int s : {1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000}) {
    if (points / s <= 25) return s;
  }
  return 10000;
}

QPolygonF star(QPointF c, double r) {
  QPolygonF poly;
  for (int i = 0; i < 10; ++i) {
    const double a = -M_PI / 2 + i * M_PI / 5;
    const double rr = i % 2 == 0 ? r : r * 0.45;
    poly << QPointF(c.x() + rr * std::cos(a), c.y() + rr * std::sin(a));
  }
  return poly;
}

}  // namespace

OptimizerPathView::OptimizerPathView(QWidget* parent)
    : QWidget(parent), extent_(defaultExtent(fn_)) {
  setMouseTracking(true);
  setAttribute(Qt::WA_OpaquePaintEvent);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

WorldRect OptimizerPathView::defaultExtent(optim::TestFunction fn) {
  switch (fn) {
    case optim::TestFunction::rosenbrock:
      return {-2.0, 2.0, -1.0, 3.0};
    case optim::TestFunction::beale:
      return {-1.0, 4.5, -1.5, 2.5};
    case optim::TestFunction::quadratic:
      return {-4.0, 4.0, -3.0, 3.0};
    case optim::TestFunction::saddle:
      return {-2.0, 2.0, -2.0, 2.0};
  }
  return {};
}

Point2 OptimizerPathView::minimumOf(optim::TestFunction fn) {
  switch (fn) {
    case optim::TestFunction::rosenbrock:
      return {1.0, 1.0};
    case optim::TestFunction::beale:
      return {3.0, 0.5};
    case optim::TestFunction::quadratic:
    case optim::TestFunction::saddle:
      return {0.0, 0.0};
  }
  return {};
}

void OptimizerPathView::setFunction(optim::TestFunction fn) {
  if (fn == fn_) return;
  fn_ = fn;
  extent_ = defaultExtent(fn);
  update();
}

void OptimizerPathView::setExtent(const WorldRect& extent) {
  if (extent == extent_) return;
  extent_ = extent;
  update();
}

void OptimizerPathView::setPaths(const QList<PathSeries>& paths) {
  paths_ = paths;
  update();
}

void OptimizerPathView::setTitle(const QString& title) {
  title_ = title;
  update();
}

void OptimizerPathView::setIsoLines(bool on) {
  isoLines_ = on;
  update();
}

int OptimizerPathView::legendHeight() const {
  const int line = fontMetrics().height() + 2;
  // One path: name on one line, outcome on the next (a side-by-side panel is narrow). Several:
  // one line each, so an overlay of eight still leaves room for the plot.
  const int lines =
      (title_.isEmpty() ? 0 : 1) + (paths_.size() == 1 ? 2 : static_cast<int>(paths_.size()));
  return 6 + lines * line;
}

PlotMapping OptimizerPathView::mapping() const {
  const QFontMetrics fm(font());
  const double left = fm.horizontalAdvance(QStringLiteral("-0.00")) + fm.height() + 10;
  const double top = legendHeight() + 4;
  const double bottom = 2.0 * fm.height() + 10;
  const double right = 12;
  return {
      extent_,
      {left, top, std::max(1.0, width() - left - right), std::max(1.0, height() - top - bottom)}};
}

const QImage& OptimizerPathView::contourImage() {
  const PlotMapping m = mapping();
  const QSize size(static_cast<int>(m.pixels.width), static_cast<int>(m.pixels.height));
  if (contour_.size() != size || contourFn_ != fn_ || contourExtent_ != extent_ ||
      contourIsoLines_ != isoLines_) {
    renderContour(m);
  }
  return contour_;
}

void OptimizerPathView::renderContour(const PlotMapping& m) {
  const int w = static_cast<int>(m.pixels.width), h = static_cast<int>(m.pixels.height);
  contourFn_ = fn_;
  contourExtent_ = extent_;
  contourIsoLines_ = isoLines_;
  ++contourRenders_;
  contour_ = QImage(w, h, QImage::Format_RGB32);

  // The image's own pixel grid: sample at each pixel centre.
  PlotMapping local = m;
  local.pixels.left = 0;
  local.pixels.top = 0;
  std::vector<double> f(static_cast<std::size_t>(w) * static_cast<std::size_t>(h));
  double fmin = std::numeric_limits<double>::infinity(), fmax = -fmin, maxAbs = 0.0;
  for (int r = 0; r < h; ++r) {
    for (int c = 0; c < w; ++c) {
      const Point2 p = local.imageSample(c, r);
      const double v = optim::evaluate(fn_, p.x, p.y);
      f[static_cast<std::size_t>(r) * w + c] = v;
      if (!std::isfinite(v)) continue;
      fmin = std::min(fmin, v);
      fmax = std::max(fmax, v);
      maxAbs = std::max(maxAbs, std::abs(v));
    }
  }
  const bool diverging = fn_ == optim::TestFunction::saddle;
  // Levels in [0, 1] (sequential) or [-1, 1] (diverging), then the band each falls in; a pixel
  // whose band differs from its right or lower neighbour's lies on an iso-line.
  std::vector<double> level(f.size());
  std::vector<int> band(f.size());
  for (std::size_t i = 0; i < f.size(); ++i) {
    level[i] = diverging ? signedLogLevel(f[i], maxAbs) : logLevel(f[i], fmin, fmax);
    band[i] = static_cast<int>(std::floor(level[i] * (diverging ? kIsoBands / 2 : kIsoBands)));
  }
  const auto& stops = diverging ? divergingStops() : sequentialStops();
  for (int r = 0; r < h; ++r) {
    auto* line = reinterpret_cast<QRgb*>(contour_.scanLine(r));
    for (int c = 0; c < w; ++c) {
      const std::size_t i = static_cast<std::size_t>(r) * w + c;
      QColor color = ramp(stops, level[i]);
      if (isoLines_) {
        const bool edge = (c + 1 < w && band[i + 1] != band[i]) ||
                          (r + 1 < h && band[i + static_cast<std::size_t>(w)] != band[i]);
        if (edge) color = color.darker(diverging && band[i] == 0 ? 160 : 118);
      }
      line[c] = color.rgb();
    }
  }
}

void OptimizerPathView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().window());
  const PlotMapping m = mapping();
  const QRectF plot(m.pixels.left, m.pixels.top, m.pixels.width, m.pixels.height);
  p.drawImage(plot.topLeft(), contourImage());

  p.save();
  p.setClipRect(plot);
  p.setRenderHint(QPainter::Antialiasing);
  // The minimum (a star), or the saddle point (a diamond): where a good optimizer should end.
  const Point2 mn = minimumOf(fn_);
  const QPointF c = toPoint(m.toPixel(mn.x, mn.y));
  p.setPen(QPen(QColor(0x20, 0x20, 0x20), 1.2));
  p.setBrush(Qt::white);
  if (fn_ == optim::TestFunction::saddle) {
    p.drawPolygon(
        QPolygonF({c + QPointF(0, -6), c + QPointF(6, 0), c + QPointF(0, 6), c + QPointF(-6, 0)}));
  } else {
    p.drawPolygon(star(c, 8.0));
  }
  drawPaths(p, m);
  p.restore();

  p.setPen(palette().color(QPalette::Mid));
  p.setBrush(Qt::NoBrush);
  p.drawRect(plot.adjusted(-0.5, -0.5, 0.5, 0.5));
  drawAxes(p, m);
  drawLegend(p, m);

  // A rejected setting: the panel has no path, so its message goes where the path would be.
  if (paths_.size() == 1 && !paths_.front().error.isEmpty()) {
    const QString text = tr("Not run: %1").arg(paths_.front().error);
    const int flags = Qt::AlignCenter | Qt::TextWordWrap;
    const QRectF area = plot.adjusted(20, 0, -20, 0);
    const QRectF needed = p.fontMetrics().boundingRect(area.toRect(), flags, text);
    const QRectF box = needed.adjusted(-10, -8, 10, 8);
    p.setPen(QColor(0xc0, 0x1c, 0x28));
    p.setBrush(QColor(255, 255, 255, 235));
    p.drawRoundedRect(box, 6, 6);
    p.drawText(needed, flags, text);
  }
}

void OptimizerPathView::drawPaths(QPainter& p, const PlotMapping& m) const {
  QList<QPolygonF> lines;
  for (const PathSeries& s : paths_) {
    QPolygonF line;
    line.reserve(static_cast<qsizetype>(s.path.points.size()));
    for (const auto& pt : s.path.points) line << toPoint(m.toPixel(pt.x, pt.y));
    lines.append(line);
  }
  // Three passes: every halo, then every line, then every marker. A white halo under each line
  // keeps it readable over dark and light levels alike; drawn first, one path's halo never
  // erases another path where they overlap (an overlay of paths sharing a valley).
  p.setBrush(Qt::NoBrush);
  p.setPen(QPen(QColor(255, 255, 255, 170), 4.5, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
  for (const QPolygonF& line : lines) p.drawPolyline(line);
  for (qsizetype k = 0; k < lines.size(); ++k) {
    p.setPen(QPen(paths_[k].color, 2.0, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
    p.drawPolyline(lines[k]);
  }
  for (qsizetype k = 0; k < lines.size(); ++k) {
    const QPolygonF& line = lines[k];
    const PathSeries& s = paths_[k];
    if (line.isEmpty()) continue;
    p.setBrush(s.color);
    p.setPen(Qt::NoPen);
    const int stride = dotStride(line.size());
    for (qsizetype i = stride; i + 1 < line.size(); i += stride) p.drawEllipse(line[i], 2.2, 2.2);
    // Start: hollow circle. End: filled circle, or a cross where it blew up.
    p.setPen(QPen(s.color, 2.0));
    p.setBrush(Qt::white);
    p.drawEllipse(line.front(), 5.0, 5.0);
    const QPointF end = line.back();
    if (s.path.diverged_at > 0) {
      p.setPen(QPen(s.color, 3.0, Qt::SolidLine, Qt::RoundCap));
      p.drawLine(end + QPointF(-6, -6), end + QPointF(6, 6));
      p.drawLine(end + QPointF(-6, 6), end + QPointF(6, -6));
    } else if (line.size() > 1) {
      p.setPen(QPen(Qt::white, 1.5));
      p.setBrush(s.color);
      p.drawEllipse(end, 5.5, 5.5);
    }
  }
}

void OptimizerPathView::drawAxes(QPainter& p, const PlotMapping& m) const {
  const QFontMetrics fm(font());
  const QColor text = palette().color(QPalette::WindowText);
  const double bottom = m.pixels.bottom(), left = m.pixels.left;
  const int maxX = std::max(2, static_cast<int>(m.pixels.width / 60));
  const int maxY = std::max(2, static_cast<int>(m.pixels.height / 40));
  p.setPen(text);
  for (const double t : niceTicks(m.world.xmin, m.world.xmax, maxX)) {
    const double x = m.toPixel(t, 0).x;
    p.drawLine(QPointF(x, bottom), QPointF(x, bottom + 4));
    const QString label = number(t);
    p.drawText(QPointF(x - fm.horizontalAdvance(label) / 2.0, bottom + 4 + fm.ascent()), label);
  }
  for (const double t : niceTicks(m.world.ymin, m.world.ymax, maxY)) {
    const double y = m.toPixel(0, t).y;
    p.drawLine(QPointF(left - 4, y), QPointF(left, y));
    const QString label = number(t);
    p.drawText(QPointF(left - 6 - fm.horizontalAdvance(label), y + fm.ascent() / 2.0 - 1), label);
  }
  QFont italic = font();
  italic.setItalic(true);
  p.setFont(italic);
  p.drawText(QPointF(m.pixels.left + m.pixels.width / 2, bottom + 6 + fm.height() + fm.ascent()),
             QStringLiteral("x"));
  p.drawText(QPointF(4, m.pixels.top + m.pixels.height / 2), QStringLiteral("y"));
  p.setFont(font());
}

QString OptimizerPathView::legendText(int i) const {
  if (i < 0 || i >= paths_.size()) return {};
  const PathSeries& s = paths_[i];
  QString outcome;
  if (!s.error.isEmpty()) {
    outcome = tr("not run: %1").arg(s.error);
  } else if (s.path.diverged_at > 0) {
    outcome = tr("diverged at step %1").arg(s.path.diverged_at);
  } else if (!s.path.points.empty()) {
    outcome = tr("f = %1 after %2 steps")
                  .arg(number(s.path.points.back().f))
                  .arg(s.path.points.size() - 1);
  }
  return QStringLiteral("%1  %2  →  %3").arg(s.name, s.details, outcome);
}

void OptimizerPathView::drawLegend(QPainter& p, const PlotMapping& m) const {
  const QFontMetrics fm(font());
  const int line = fm.height() + 2;
  const double x0 = m.pixels.left;
  const int width = static_cast<int>(m.pixels.width);
  double y = 3;
  QFont bold = font();
  bold.setBold(true);
  const QColor text = palette().color(QPalette::WindowText);
  const QColor bad(0xc0, 0x1c, 0x28);
  if (!title_.isEmpty()) {
    p.setFont(bold);
    p.setPen(text);
    p.drawText(QPointF(x0, y + fm.ascent()), fm.elidedText(title_, Qt::ElideRight, width));
    y += line;
  }
  for (int i = 0; i < paths_.size(); ++i) {
    const PathSeries& s = paths_[i];
    p.setPen(QPen(s.color, 3.0));
    p.drawLine(QPointF(x0, y + line / 2.0), QPointF(x0 + 18, y + line / 2.0));
    const double tx = x0 + 24;
    const int avail = width - 24;
    if (paths_.size() == 1) {
      p.setFont(bold);
      p.setPen(text);
      const QString name = fm.elidedText(s.name, Qt::ElideRight, avail);
      p.drawText(QPointF(tx, y + fm.ascent()), name);
      p.setFont(font());
      const double dx = QFontMetrics(bold).horizontalAdvance(name) + 8;
      p.drawText(QPointF(tx + dx, y + fm.ascent()),
                 fm.elidedText(s.details, Qt::ElideRight, static_cast<int>(avail - dx)));
      y += line;
      const QString outcome = legendText(i).section(QStringLiteral("  →  "), 1);
      p.setPen(s.error.isEmpty() && s.path.diverged_at == 0 ? text : bad);
      p.drawText(QPointF(tx, y + fm.ascent()), fm.elidedText(outcome, Qt::ElideRight, avail));
    } else {
      p.setPen(s.error.isEmpty() && s.path.diverged_at == 0 ? text : bad);
      p.drawText(QPointF(tx, y + fm.ascent()), fm.elidedText(legendText(i), Qt::ElideRight, avail));
    }
    y += line;
  }
  p.setFont(font());
}

QString OptimizerPathView::hoverText(QPointF pos) const {
  const PlotMapping m = mapping();
  if (pos.x() < m.pixels.left || pos.x() > m.pixels.right() || pos.y() < m.pixels.top ||
      pos.y() > m.pixels.bottom()) {
    return {};
  }
  const Point2 w = m.toWorld(pos.x(), pos.y());
  QString text = QStringLiteral("x = %1, y = %2\nf = %3")
                     .arg(number(w.x), number(w.y), number(optim::evaluate(fn_, w.x, w.y)));
  // The path point nearest the cursor, if one is close: which optimizer was here, and when.
  double best = kHoverRadiusPx * kHoverRadiusPx;
  int bestPath = -1;
  std::size_t bestStep = 0;
  for (int i = 0; i < paths_.size(); ++i) {
    const auto& pts = paths_[i].path.points;
    for (std::size_t k = 0; k < pts.size(); ++k) {
      const Point2 q = m.toPixel(pts[k].x, pts[k].y);
      const double d = (q.x - pos.x()) * (q.x - pos.x()) + (q.y - pos.y()) * (q.y - pos.y());
      if (d < best) {
        best = d;
        bestPath = i;
        bestStep = k;
      }
    }
  }
  if (bestPath >= 0) {
    const auto& pt = paths_[bestPath].path.points[bestStep];
    text += tr("\n%1 at step %2: (%3, %4), f = %5")
                .arg(paths_[bestPath].name)
                .arg(bestStep)
                .arg(number(pt.x), number(pt.y), number(pt.f));
  }
  return text;
}

void OptimizerPathView::mouseMoveEvent(QMouseEvent* event) {
  const QString text = hoverText(event->position());
  if (text.isEmpty()) {
    QToolTip::hideText();
  } else {
    QToolTip::showText(event->globalPosition().toPoint(), text, this);
  }
  QWidget::mouseMoveEvent(event);
}

}  // namespace tb::widgets
