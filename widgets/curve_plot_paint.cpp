// CurvePlot's painting: the plot area (grid, then the laid-out polylines: raw faint, smoothed on
// top) rendered into strips of an image on several threads, the axes' ticks and titles, the
// legend, and the hover readout and rubber band. Nothing here looks at the points behind a curve
// except the hover readout's handful; see curve_plot.cpp for the caches.
#include "widgets/curve_plot.h"

#include <QPainter>

#include <algorithm>
#include <cmath>
#include <optional>
#include <thread>

#include "widgets/column_coverage.h"

namespace tb::widgets {
namespace {

const QColor kAxisColour(0x60, 0x60, 0x60);
const QColor kGridColour(0xe6, 0xe8, 0xeb);
const QColor kTextColour(0x30, 0x30, 0x30);
constexpr double kMinStripPx = 160.0;  // narrower strips cost more in threads than they save

// The part of a polyline (points ordered by x) that can touch [x0, x1]: the points inside plus
// one neighbour each side.
std::pair<qsizetype, qsizetype> spanOf(const QPolygonF& line, double x0, double x1) {
  const auto lo = std::lower_bound(line.begin(), line.end(), x0,
                                   [](const QPointF& p, double x) { return p.x() < x; });
  const auto hi = std::upper_bound(line.begin(), line.end(), x1,
                                   [](double x, const QPointF& p) { return x < p.x(); });
  const qsizetype first = std::max<qsizetype>(0, (lo - line.begin()) - 1);
  const qsizetype last = std::min<qsizetype>(line.size(), (hi - line.begin()) + 1);
  return {first, std::max(first, last)};
}

QString xTitle(CurveXAxis axis) {
  switch (axis) {
    case CurveXAxis::step:
      return QObject::tr("Step");
    case CurveXAxis::samples:
      return QObject::tr("Samples seen");
    case CurveXAxis::wall_time:
      return QObject::tr("Wall time (s)");
  }
  return {};
}

QString valueText(double v) {
  if (!std::isfinite(v)) return QStringLiteral("—");
  const double a = std::abs(v);
  if (a != 0.0 && (a < 1e-3 || a >= 1e6)) return QString::number(v, 'g', 4);
  return QString::number(v, 'g', a >= 1000 ? 7 : 4);
}

}  // namespace

void CurvePlot::paintEvent(QPaintEvent*) {
  ++paints_;
  QPainter painter(this);
  paintPlot(painter, true);
}

void CurvePlot::paintPlot(QPainter& painter, bool onScreen) {
  ensureLayout();
  const QRectF area = plotArea();
  painter.setFont(font());
  if (onScreen) {
    // White around the plot area only: the rendered strips cover the area itself.
    const QRectF all(0, 0, width(), height());
    painter.fillRect(QRectF(0, 0, all.width(), area.top()), Qt::white);
    painter.fillRect(QRectF(0, area.bottom(), all.width(), all.height() - area.bottom()),
                     Qt::white);
    painter.fillRect(QRectF(0, area.top(), area.left(), area.height()), Qt::white);
    painter.fillRect(QRectF(area.right(), area.top(), all.width() - area.right(), area.height()),
                     Qt::white);
    if (!layerValid_ || layer_.empty() ||
        layer_.front().image.devicePixelRatio() != devicePixelRatioF()) {
      renderLayer();
    }
    for (const Strip& strip : layer_)
      painter.drawImage(QPointF(strip.left, area.top()), strip.image);
  } else {
    // Exports draw the lines themselves: vectors in an SVG, sharp at any scale in a PNG.
    painter.fillRect(QRectF(0, 0, width(), height()), Qt::white);
    painter.save();
    painter.setClipRect(area);
    paintGrid(painter, area);
    paintCurves(painter, area.left(), area.right(), nullptr);
    painter.restore();
  }
  paintAxes(painter);
  paintLegend(painter);
  if (!onScreen) return;
  paintHover(painter);
  if (drag_ == Drag::zoom) {
    const QRectF box = QRectF(dragFrom_, dragTo_).normalized().intersected(area);
    painter.setPen(QPen(QColor(0x1f, 0x58, 0xc0), 1, Qt::DashLine));
    painter.setBrush(QColor(0x1f, 0x78, 0xff, 30));
    painter.drawRect(box);
    painter.setBrush(Qt::NoBrush);
  }
}

void CurvePlot::renderLayer() {
  ++renders_;
  layerValid_ = true;
  const QRectF area = plotArea();
  const double dpr = devicePixelRatioF();
  const int strips = std::clamp(static_cast<int>(area.width() / kMinStripPx), 1, renderThreads_);
  // Strip edges on whole device pixels, so the strips tile the area without seams.
  const int devLeft = static_cast<int>(std::floor(area.left() * dpr));
  const int devRight = static_cast<int>(std::ceil(area.right() * dpr));
  const int devHeight = std::max(1, static_cast<int>(std::ceil(area.height() * dpr)));
  // The images of the last render are reused when they fit: a new one of some megabytes a frame
  // costs its page faults every time.
  layer_.resize(static_cast<std::size_t>(strips));
  for (int i = 0; i < strips; ++i) {
    const int a = devLeft + (devRight - devLeft) * i / strips;
    const int b = devLeft + (devRight - devLeft) * (i + 1) / strips;
    Strip& strip = layer_[static_cast<std::size_t>(i)];
    strip.left = a / dpr;
    const QSize size(std::max(1, b - a), devHeight);
    if (strip.image.size() != size || strip.image.devicePixelRatio() != dpr) {
      strip.image = QImage(size, QImage::Format_ARGB32_Premultiplied);
      strip.image.setDevicePixelRatio(dpr);
    }
  }
  auto render = [this, area](Strip& strip) {
    strip.image.fill(Qt::white);
    // The pixels' address before the painter starts (bits() may not detach while it paints).
    const Canvas canvas{
        strip.image.bits(),   strip.image.bytesPerLine(),      strip.image.width(),
        strip.image.height(), QPointF(strip.left, area.top()), strip.image.devicePixelRatio()};
    QPainter painter(&strip.image);
    painter.translate(-strip.left, -area.top());
    const double right = strip.left + strip.image.width() / strip.image.devicePixelRatio();
    painter.setClipRect(QRectF(strip.left, area.top(), right - strip.left, area.height()));
    paintGrid(painter, area);
    paintCurves(painter, strip.left, right, &canvas);
  };
  // The first strip on this thread, the others beside it; each paints only its own image.
  std::vector<std::jthread> helpers;
  for (std::size_t i = 1; i < layer_.size(); ++i) helpers.emplace_back(render, std::ref(layer_[i]));
  render(layer_.front());
}

const QStaticText& CurvePlot::staticText(const QString& key, const QString& text) {
  if (textFont_ != font() || texts_.size() > 4000) {  // bounded however long the session
    texts_.clear();
    textFont_ = font();
  }
  auto it = texts_.find(key);
  if (it == texts_.end()) {
    QStaticText prepared(text);
    prepared.setTextFormat(Qt::PlainText);
    prepared.prepare(QTransform(), textFont_);
    it = texts_.insert(key, prepared);
  }
  return it.value();
}

void CurvePlot::paintGrid(QPainter& painter, const QRectF& area) const {
  const PlotMapping m{world_, {area.left(), area.top(), area.width(), area.height()}};
  painter.setRenderHint(QPainter::Antialiasing, false);
  painter.setPen(kGridColour);
  for (const double t : xTicks_) {
    const double x = std::round(m.toPixel(t, world_.ymin).x) + 0.5;
    painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()));
  }
  for (const double t : yTicks_) {
    const double y = std::round(m.toPixel(world_.xmin, t).y) + 0.5;
    painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y));
  }
}

void CurvePlot::paintAxes(QPainter& painter) {
  const QRectF area = plotArea();
  const PlotMapping m{world_, {area.left(), area.top(), area.width(), area.height()}};
  const QFontMetrics fm = painter.fontMetrics();
  painter.setRenderHint(QPainter::Antialiasing, false);

  // x: tick marks and labels under the axis.
  const double xstep = xTicks_.size() >= 2 ? xTicks_[1] - xTicks_[0] : world_.width();
  for (const double t : xTicks_) {
    const double x = std::round(m.toPixel(t, world_.ymin).x) + 0.5;
    painter.setPen(kAxisColour);
    painter.drawLine(QPointF(x, area.bottom()), QPointF(x, area.bottom() + 4));
    const QString label = QString::fromStdString(tickLabel(t, xstep));
    const QStaticText& text = staticText(label, label);
    painter.setPen(kTextColour);
    painter.drawStaticText(QPointF(x - text.size().width() / 2.0, area.bottom() + 6), text);
  }
  // y: labels left of the axis (decades on a log axis).
  const double ystep = yTicks_.size() >= 2 ? yTicks_[1] - yTicks_[0] : world_.height();
  for (const double t : yTicks_) {
    const double y = std::round(m.toPixel(world_.xmin, t).y) + 0.5;
    painter.setPen(kAxisColour);
    painter.drawLine(QPointF(area.left() - 4, y), QPointF(area.left(), y));
    const QString label = QString::fromStdString(logY_ ? logTickLabel(t) : tickLabel(t, ystep));
    const QStaticText& text = staticText(label, label);
    painter.setPen(kTextColour);
    painter.drawStaticText(
        QPointF(area.left() - 7 - text.size().width(), y - text.size().height() / 2.0), text);
  }
  painter.setPen(kAxisColour);
  painter.setBrush(Qt::NoBrush);
  painter.drawRect(area);

  // Titles: x under its labels, y turned along the axis.
  painter.setPen(kTextColour);
  const QStaticText& xtitle =
      staticText(QStringLiteral("\x1ftitle ") + xTitle(xAxis_), xTitle(xAxis_));
  painter.drawStaticText(
      QPointF(area.center().x() - xtitle.size().width() / 2, area.bottom() + 8 + fm.height()),
      xtitle);
  const QString ytitle = logY_ && !yLabel_.isEmpty() ? tr("%1 (log)").arg(yLabel_) : yLabel_;
  painter.save();
  painter.translate(fm.height() * 0.5 + 2, area.center().y());
  painter.rotate(-90);
  painter.drawText(QRectF(-area.height() / 2, -fm.height() / 2.0, area.height(), fm.height()),
                   Qt::AlignCenter,
                   fm.elidedText(ytitle, Qt::ElideRight, static_cast<int>(area.height())));
  painter.restore();

  bool any = false;
  for (const auto& d : drawn_) any = any || !d.smooth.empty();
  if (!any) {
    painter.setPen(QColor(0x70, 0x70, 0x70));
    QString text = message_;
    if (text.isEmpty()) text = curves_.empty() ? tr("No sessions") : tr("No data to plot");
    painter.drawText(area, Qt::AlignCenter | Qt::TextWordWrap, text);
  }
}

void CurvePlot::paintCurves(QPainter& painter, double x0, double x1, const Canvas* canvas) const {
  auto stroke = [&](const QPolygonF& line) {
    const auto [first, last] = spanOf(line, x0, x1);
    if (last - first == 1) {
      painter.drawPoint(line[first]);  // one evaluation: a dot, not nothing
    } else if (last - first > 1) {
      painter.drawPolyline(line.constData() + first, static_cast<int>(last - first));
    }
  };
  // Rectangles are in x order: only those over [x0, x1], clipped to the canvas. With a
  // coverage, only the pixels no earlier fill wrote (the curves are then filled front first).
  auto fill = [&](const QVector<QRect>& rects, const QColor& colour, ColumnCoverage* coverage) {
    const auto lo = std::lower_bound(rects.begin(), rects.end(), x0 - 1,
                                     [](const QRect& r, double x) { return r.left() < x; });
    const auto hi = std::upper_bound(lo, rects.end(), x1 + 1,
                                     [](double x, const QRect& r) { return x < r.left(); });
    const QRgb rgb = colour.rgb();  // opaque: the same premultiplied
    const double dpr = canvas->dpr;
    auto write = [&](int x, int top, int bottom) {
      for (int y = top; y < bottom; ++y)
        reinterpret_cast<QRgb*>(canvas->bits + y * canvas->stride)[x] = rgb;
    };
    for (auto r = lo; r < hi; ++r) {
      const auto dev = [&](double v, double origin, int limit) {
        return std::clamp(static_cast<int>(std::floor((v - origin) * dpr)), 0, limit);
      };
      const int left = dev(r->left(), canvas->origin.x(), canvas->width);
      const int right = dev(r->left() + 1.0, canvas->origin.x(), canvas->width);
      const int top = dev(r->top(), canvas->origin.y(), canvas->height);
      const int bottom = dev(r->top() + r->height(), canvas->origin.y(), canvas->height);
      for (int x = left; x < right; ++x) {
        if (coverage) {
          coverage->paint(x, top, bottom, [&](int a, int b) { write(x, a, b); });
        } else {
          write(x, top, bottom);
        }
      }
    }
  };
  // The raw curves are pale tints, opaque: most of their pixels are in tall columns of noise,
  // which blending would make dearer for no visible difference at that contrast.
  auto paleOf = [](const QColor& base) {
    return QColor::fromRgbF(base.redF() * 0.3f + 0.7f, base.greenF() * 0.3f + 0.7f,
                            base.blueF() * 0.3f + 0.7f);
  };
  // Back to front: the raw curves first, faint, under every smoothed one; then the smoothed
  // ones, the first session last so the baseline stays on top. On screen, a layer whose every
  // curve is filled as columns is filled front first through one coverage instead (the same
  // pixels, each written once); a layer with a stroked line keeps the painter's order.
  const auto filledLayer = [&](auto lines, auto columns) {
    return canvas && std::all_of(drawn_.begin(), drawn_.end(), [&](const Drawn& d) {
             return (d.*lines).empty() || !(d.*columns).isEmpty();
           });
  };
  const bool rawFilled = filledLayer(&Drawn::raw, &Drawn::rawColumns);
  const bool smoothFilled = rawFilled && filledLayer(&Drawn::smooth, &Drawn::smoothColumns);
  std::optional<ColumnCoverage> coverage;
  if (rawFilled) {
    coverage.emplace(canvas->width);
    if (smoothFilled) {
      for (std::size_t c = 0; c < drawn_.size(); ++c)
        fill(drawn_[c].smoothColumns, curves_[c].color, &*coverage);
    }
    for (std::size_t c = 0; c < drawn_.size(); ++c)
      fill(drawn_[c].rawColumns, paleOf(curves_[c].color), &*coverage);
  } else {
    for (std::size_t c = drawn_.size(); c-- > 0;) {
      const Drawn& d = drawn_[c];
      const QColor pale = paleOf(curves_[c].color);
      if (!d.rawColumns.isEmpty() && canvas) {
        fill(d.rawColumns, pale, nullptr);
      } else if (!d.raw.empty() || !d.rawColumns.isEmpty()) {
        painter.setRenderHint(QPainter::Antialiasing, false);
        if (d.raw.empty()) {  // an export of a dense raw curve: its column extents as lines
          painter.setPen(Qt::NoPen);
          painter.setBrush(pale);
          painter.drawRects(d.rawColumns);
          painter.setBrush(Qt::NoBrush);
          continue;
        }
        QPen pen(pale, 1.0);
        pen.setCosmetic(true);
        painter.setPen(pen);
        for (const QPolygonF& line : d.raw) stroke(line);
      }
    }
  }
  if (smoothFilled) return;
  painter.setRenderHint(QPainter::Antialiasing, true);
  for (std::size_t c = drawn_.size(); c-- > 0;) {
    const Drawn& d = drawn_[c];
    if (canvas && !d.smoothColumns.isEmpty()) {
      fill(d.smoothColumns, curves_[c].color, nullptr);
      continue;
    }
    QPen pen(curves_[c].color, 1.0);
    pen.setCosmetic(true);
    painter.setPen(pen);
    for (const QPolygonF& line : d.smooth) stroke(line);
  }
}

void CurvePlot::paintLegend(QPainter& painter) {
  if (curves_.empty()) return;
  const QFontMetrics fm = painter.fontMetrics();
  painter.setRenderHint(QPainter::Antialiasing, false);
  for (int c = 0; c < curveCount(); ++c) {
    const QRect r = legendEntry(c);
    if (r.bottom() > height()) break;
    const auto i = static_cast<std::size_t>(c);
    const bool shown = visible_[i];
    const bool empty = !curves_[i].series || curves_[i].series->empty() ||
                       (preparedValid_ && prepared_[i].smooth.empty());
    const QColor colour = shown ? curves_[i].color : QColor(0xc8, 0xc8, 0xc8);
    painter.fillRect(QRectF(r.left() + 2, r.center().y() - 1.5, 18, 3), colour);
    painter.setPen(shown && !empty ? kTextColour : QColor(0xa0, 0xa0, 0xa0));
    QString name = curves_[i].name;
    if (empty) name += tr(" (no data)");
    const int room = r.width() - 27;
    const QString key = QStringLiteral("\x1flegend %1 ").arg(room) + name;
    auto cached = texts_.constFind(key);
    const QStaticText& text = cached != texts_.constEnd() && textFont_ == font()
                                  ? cached.value()
                                  : staticText(key, fm.elidedText(name, Qt::ElideMiddle, room));
    painter.drawStaticText(QPointF(r.left() + 25, r.center().y() - text.size().height() / 2.0),
                           text);
  }
}

void CurvePlot::paintHover(QPainter& painter) {
  if (!hoverPx_ || drag_ != Drag::none) return;
  const auto points = pointsAt(*hoverPx_);
  if (points.empty()) return;
  const QRectF area = plotArea();
  const PlotMapping m{world_, {area.left(), area.top(), area.width(), area.height()}};
  painter.setRenderHint(QPainter::Antialiasing, true);
  painter.setPen(QPen(QColor(0x80, 0x80, 0x80), 1, Qt::DotLine));
  painter.drawLine(QPointF(*hoverPx_, area.top()), QPointF(*hoverPx_, area.bottom()));
  for (const auto& p : points) {
    const Point2 q = m.toPixel(p.x, toAxisY(p.smoothed, logY_));
    if (!std::isfinite(q.y) || q.y < area.top() || q.y > area.bottom()) continue;
    painter.setPen(QPen(Qt::white, 1.5));
    painter.setBrush(curves_[static_cast<std::size_t>(p.curve)].color);
    painter.drawEllipse(QPointF(q.x, q.y), 3.5, 3.5);
  }
  painter.setBrush(Qt::NoBrush);

  // The readout: one line a curve, in its colour, beside the cursor (left of it near the edge).
  const QFontMetrics fm = painter.fontMetrics();
  QStringList lines;
  for (const auto& p : points) {
    QString line = QStringLiteral("%1: %2").arg(curves_[static_cast<std::size_t>(p.curve)].name,
                                                valueText(p.smoothed));
    if (smoothing_ > 0.0) line += tr(" (raw %1)").arg(valueText(p.value));
    line += tr("  step %1").arg(p.step);
    lines << line;
  }
  int w = 0;
  for (const auto& line : lines) w = std::max(w, fm.horizontalAdvance(line));
  const double boxW = w + 26, boxH = fm.height() * lines.size() + 8;
  double left = *hoverPx_ + 12;
  if (left + boxW > area.right()) left = std::max(area.left(), *hoverPx_ - 12 - boxW);
  const QRectF box(left, area.top() + 6, boxW, std::min(boxH, area.height() - 12));
  painter.setRenderHint(QPainter::Antialiasing, false);
  painter.fillRect(box, QColor(255, 255, 255, 235));
  painter.setPen(QColor(0xb0, 0xb4, 0xba));
  painter.drawRect(box);
  painter.save();
  painter.setClipRect(box);
  for (int i = 0; i < lines.size(); ++i) {
    const double y = box.top() + 4 + i * fm.height();
    painter.fillRect(
        QRectF(box.left() + 6, y + fm.height() / 2.0 - 4, 8, 8),
        curves_[static_cast<std::size_t>(points[static_cast<std::size_t>(i)].curve)].color);
    painter.setPen(kTextColour);
    painter.drawText(QPointF(box.left() + 20, y + fm.ascent()), lines[i]);
  }
  painter.restore();
}

}  // namespace tb::widgets
