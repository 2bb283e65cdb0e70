// TimelineView's painting: track bands and names, the span boxes of a draw list (one fill per
// colour, names from prepared static text), the flow arrows of the hovered span, the range
// selection with its totals, and the time ruler. Building draw lists and input are in
// timeline_view.cpp.
#include "widgets/timeline_view.h"

#include <QPainter>
#include <QPainterPath>
#include <QStringList>

#include <algorithm>
#include <array>
#include <cmath>

#include "widgets/plot_geometry.h"

namespace tb::widgets {
namespace {

constexpr double kLabelMinPx = 36.0;  // boxes narrower than this get no name

QColor mix(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(static_cast<float>(a.redF() * (1 - t) + b.redF() * t),
                          static_cast<float>(a.greenF() * (1 - t) + b.greenF() * t),
                          static_cast<float>(a.blueF() * (1 - t) + b.blueF() * t));
}

QString formatNs(double ns) {
  return QString::fromStdString(formatDuration(ns));
}

}  // namespace

// --- painting -------------------------------------------------------------------------------

const QString& TimelineView::label(trace::NameId name) const {
  auto it = labels_.find(name.value);
  if (it == labels_.end()) {
    const std::string_view text = shownTrace_->name(name);
    it = labels_.insert(name.value,
                        QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size())));
  }
  return it.value();
}

void TimelineView::paintEvent(QPaintEvent*) {
  QPainter painter(this);
  paintFrame(painter, draw_.get());
}

void TimelineView::paintFrame(QPainter& painter, const DrawList* draw) {
  // Each pixel is filled once as background: by its track's band, or white where no track is.
  if (!layout_) painter.fillRect(QRect(0, 0, width(), height()), Qt::white);
  QFont small = font();
  small.setPointSizeF(std::max(7.0, small.pointSizeF() - 1.0));
  painter.setFont(small);
  if (layout_) {
    paintTracks(painter);
    painter.save();
    painter.setClipRect(QRect(kGutterPx, kRulerPx, width() - kGutterPx, height() - kRulerPx));
    if (draw != nullptr) paintBoxes(painter, *draw);
    paintSelection(painter);
    paintFlows(painter);
    painter.restore();
  } else {
    painter.setPen(QColor(0x70, 0x70, 0x70));
    painter.drawText(rect(), Qt::AlignCenter,
                     trace_ ? tr("Laying out the trace…") : tr("No trace"));
  }
  paintRuler(painter);
}

void TimelineView::paintTracks(QPainter& painter) {
  const auto& tracks = layout_->tracks();
  const auto& traceTracks = shownTrace_->tracks();
  const QFontMetrics fm = painter.fontMetrics();
  int bottom = kRulerPx;
  for (std::size_t i = 0; i < tracks.size(); ++i) {
    const auto& entry = tracks[i];
    const int top = rowTop(entry.first_row);
    const int h = static_cast<int>(entry.row_count) * kRowPx;
    if (top + h + kTrackGapPx < kRulerPx) continue;
    if (top >= height()) break;
    // The band takes the gap below the track too, so bands tile the rows area without overdraw.
    const bool even = i % 2 == 0;
    painter.fillRect(QRect(kGutterPx, top, width() - kGutterPx, h + kTrackGapPx),
                     even ? QColor(0xff, 0xff, 0xff) : QColor(0xf5, 0xf6, 0xf8));
    painter.fillRect(QRect(0, top, kGutterPx, h + kTrackGapPx),
                     even ? QColor(0xec, 0xee, 0xf1) : QColor(0xe4, 0xe7, 0xeb));
    bottom = top + h + kTrackGapPx;
    const auto& track = traceTracks[entry.track];
    const QString name = QString::fromStdString(
        track.process.empty() ? track.name : track.process + " · " + track.name);
    painter.setPen(QColor(0x20, 0x20, 0x20));
    painter.drawText(QRect(6, top, kGutterPx - 10, kRowPx), Qt::AlignVCenter | Qt::AlignLeft,
                     fm.elidedText(name, Qt::ElideMiddle, kGutterPx - 10));
    painter.setPen(QColor(0xd0, 0xd4, 0xda));
    painter.drawLine(0, top + h + kTrackGapPx / 2, width(), top + h + kTrackGapPx / 2);
  }
  if (bottom < height()) painter.fillRect(QRect(0, bottom, width(), height() - bottom), Qt::white);
  painter.setPen(QColor(0xc0, 0xc4, 0xca));
  painter.drawLine(kGutterPx - 1, kRulerPx, kGutterPx - 1, height());
}

void TimelineView::paintBoxes(QPainter& painter, const DrawList& draw) {
  for (auto& bucket : buckets_) bucket.clear();
  outlines_.clear();
  matchOutlines_.clear();
  labelBoxes_.clear();
  const bool searching = !search_.isEmpty() && matches_ != nullptr;
  const double left = geom_.left_px, right = geom_.right_px();
  const auto& rows = layout_->rows();
  const auto& spans = shownTrace_->spans();
  for (const DrawBox& b : draw.boxes) {
    if (b.row >= rows.size()) continue;
    const int y = rowTop(b.row);
    if (y + kRowPx <= kRulerPx || y >= height()) continue;
    double x0 = geom_.toX(b.start_ns);
    double x1 = geom_.toX(b.end_ns);
    if (x1 < left - 1 || x0 > right + 1) continue;
    x0 = std::max(x0, left - 2);
    x1 = std::min(x1, right + 2);
    // Whole pixels (the raster engine's fastest fill path); zero-length and sub-pixel spans
    // still show, as 1-px ticks.
    const int xi = static_cast<int>(std::floor(x0));
    const QRect r(xi, y + 1, std::max(static_cast<int>(std::lround(x1 - xi)), 1), kRowPx - 2);
    const int style = searching && !b.match ? 2 : (b.folded() ? 1 : 0);
    buckets_[static_cast<std::size_t>(b.category) * kBoxStyles + static_cast<std::size_t>(style)]
        .push_back(r);
    if (!b.folded() && r.width() >= 4) outlines_.push_back(r);
    if (searching && b.match) matchOutlines_.push_back(r);
    if (!b.folded() && r.width() >= kLabelMinPx) {
      labelBoxes_.push_back({r, spans[rows[b.row].span[b.first]].name});
    }
  }
  // One brush change per colour, not per box: the raster engine fills runs of rects fast.
  painter.setPen(Qt::NoPen);
  for (int c = 0; c < trace::kCategoryCount; ++c) {
    const QColor base = categoryColor(static_cast<trace::Category>(c));
    const std::array<QColor, kBoxStyles> colours = {base, mix(base, QColor(0x60, 0x60, 0x60), 0.35),
                                                    mix(base, Qt::white, 0.7)};
    for (int s = 0; s < kBoxStyles; ++s) {
      const auto& bucket = buckets_[static_cast<std::size_t>(c * kBoxStyles + s)];
      if (bucket.isEmpty()) continue;
      painter.setBrush(colours[static_cast<std::size_t>(s)]);
      painter.drawRects(bucket);
    }
  }
  painter.setBrush(Qt::NoBrush);
  if (!outlines_.isEmpty()) {
    painter.setPen(QPen(QColor(0x8a, 0x8a, 0x8a), 0));  // opaque: no blending per pixel
    painter.drawRects(outlines_);
  }
  if (!matchOutlines_.isEmpty()) {
    painter.setPen(QPen(QColor(0xd9, 0x5f, 0x02), 2));
    painter.drawRects(matchOutlines_);
  }
  // Names: most fit whole and are drawn as they are; only the rest pay for eliding.
  const QFontMetrics fm = painter.fontMetrics();
  if (painter.font() != labelFont_) {
    labelFont_ = painter.font();
    staticLabels_.clear();
    labelWidths_.clear();
    elidedLabels_.clear();
  }
  if (elidedLabels_.size() > 20000) elidedLabels_.clear();  // bounded however long the session
  painter.setPen(QColor(0x10, 0x10, 0x10));
  const double textTop = (kRowPx - 2 - fm.height()) / 2.0;
  auto prepared = [&](const QString& text) {
    QStaticText st(text);
    st.setTextFormat(Qt::PlainText);
    st.prepare(QTransform(), labelFont_);
    return st;
  };
  for (const Label& l : labelBoxes_) {
    const double x = std::max<double>(l.rect.left(), left) + 3;
    const int room = static_cast<int>(std::min<double>(l.rect.right(), right) - x - 2);
    if (room < 8) continue;
    auto w = labelWidths_.find(l.name.value);
    if (w == labelWidths_.end())
      w = labelWidths_.insert(l.name.value, fm.horizontalAdvance(label(l.name)));
    const QPointF at(x, l.rect.top() + textTop);
    if (w.value() <= room) {
      auto st = staticLabels_.find(l.name.value);
      if (st == staticLabels_.end())
        st = staticLabels_.insert(l.name.value, prepared(label(l.name)));
      painter.drawStaticText(at, st.value());
    } else {
      const std::int64_t key = l.name.value * 8192 + std::min(room, 8191);
      auto st = elidedLabels_.find(key);
      if (st == elidedLabels_.end()) {
        st =
            elidedLabels_.insert(key, prepared(fm.elidedText(label(l.name), Qt::ElideRight, room)));
      }
      if (st->text().size() > 1) painter.drawStaticText(at, st.value());
    }
  }
  // The span under the mouse and the current search match stand out.
  for (const auto& mark :
       {std::pair{hoverSpan_, QColor(0x1f, 0x4e, 0x9c)}, std::pair{focusSpan_, QColor(0, 0, 0)}}) {
    if (!mark.first) continue;
    const auto [row, pos] = layout_->locate(*mark.first);
    if (row >= rows.size()) continue;
    const double x0 = std::max(geom_.toX(static_cast<double>(rows[row].start[pos])), left - 2);
    const double x1 = std::min(geom_.toX(static_cast<double>(rows[row].end[pos])), right + 2);
    if (x1 < left - 2 || x0 > right + 2) continue;
    painter.setPen(QPen(mark.second, 2));
    painter.drawRect(
        QRectF(std::floor(x0), rowTop(row) + 1, std::max(x1 - std::floor(x0), 1.0), kRowPx - 2));
  }
}

void TimelineView::paintFlows(QPainter& painter) {
  if (hoverFlows_.empty()) return;
  painter.setRenderHint(QPainter::Antialiasing, true);
  const QColor colour(0x1f, 0x4e, 0x9c);
  painter.setPen(QPen(colour, 1.4));
  const auto& flows = shownTrace_->flows();
  for (const std::size_t i : hoverFlows_) {
    const trace::Flow& f = flows[i];
    if (!f.from_track.valid() || !f.to_track.valid()) continue;
    const QPointF a =
        flowEnd(static_cast<std::size_t>(f.from_track.value - 1), static_cast<double>(f.from_ns));
    const QPointF b =
        flowEnd(static_cast<std::size_t>(f.to_track.value - 1), static_cast<double>(f.to_ns));
    QPainterPath path(a);
    const double bend = std::max(20.0, std::abs(b.x() - a.x()) / 3);
    path.cubicTo(a + QPointF(bend, 0), b - QPointF(bend, 0), b);
    painter.setBrush(Qt::NoBrush);
    painter.drawPath(path);
    // The arrowhead points along the curve's last tangent (horizontal, into the target).
    painter.setBrush(colour);
    painter.drawPolygon(QPolygonF({b, b + QPointF(-7, -3.5), b + QPointF(-7, 3.5)}));
  }
  painter.setRenderHint(QPainter::Antialiasing, false);
}

void TimelineView::paintSelection(QPainter& painter) {
  double t0 = 0, t1 = 0;
  if (drag_ == Drag::select) {
    t0 = std::min(selectFrom_, selectTo_);
    t1 = std::max(selectFrom_, selectTo_);
  } else if (selection_) {
    t0 = static_cast<double>(selection_->t0);
    t1 = static_cast<double>(selection_->t1);
  } else {
    return;
  }
  const double x0 = std::max(geom_.toX(t0), geom_.left_px - 1);
  const double x1 = std::min(geom_.toX(t1), geom_.right_px() + 1);
  if (x1 < geom_.left_px || x0 > geom_.right_px()) return;
  const QRectF area(x0, kRulerPx, std::max(x1 - x0, 1.0), height() - kRulerPx);
  painter.fillRect(area, QColor(0x1f, 0x78, 0xff, 36));
  painter.setPen(QColor(0x1f, 0x58, 0xc0));
  painter.drawLine(QPointF(x0, kRulerPx), QPointF(x0, height()));
  painter.drawLine(QPointF(x1, kRulerPx), QPointF(x1, height()));
  if (drag_ == Drag::select || !selection_) return;
  // The totals: the selected time, its spans, and the three categories with the most time.
  QStringList lines{tr("%1 selected · %2 spans").arg(formatNs(t1 - t0)).arg(selection_->spans)};
  for (const trace::Category c : topCategories(*selection_, 3)) {
    const auto i = static_cast<std::size_t>(c);
    lines << QStringLiteral("%1: %2 (%3)")
                 .arg(QString::fromUtf8(trace::category_name(c)),
                      formatNs(static_cast<double>(selection_->ns[i])))
                 .arg(selection_->count[i]);
  }
  const QFontMetrics fm = painter.fontMetrics();
  int w = 0;
  for (const auto& line : lines) w = std::max(w, fm.horizontalAdvance(line));
  const QRectF box(
      std::clamp(x0 + 4, geom_.left_px + 2, std::max(geom_.left_px + 2, geom_.right_px() - w - 14)),
      kRulerPx + 4, w + 10, fm.height() * lines.size() + 6);
  painter.fillRect(box, QColor(255, 255, 255, 230));
  painter.setPen(QColor(0x1f, 0x58, 0xc0));
  painter.drawRect(box);
  painter.setPen(Qt::black);
  for (int i = 0; i < lines.size(); ++i) {
    painter.drawText(QPointF(box.left() + 5, box.top() + 3 + fm.ascent() + i * fm.height()),
                     lines[i]);
  }
}

void TimelineView::paintRuler(QPainter& painter) {
  painter.fillRect(QRect(0, 0, width(), kRulerPx), QColor(0xf0, 0xf1, 0xf3));
  painter.setPen(QColor(0xb0, 0xb4, 0xba));
  painter.drawLine(0, kRulerPx - 1, width(), kRulerPx - 1);
  if (!layout_) return;
  const int maxTicks = std::max(2, static_cast<int>(geom_.width_px / 110));
  const auto ticks = niceTicks(geom_.start_ns, geom_.end_ns(), maxTicks);
  const double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : geom_.duration_ns();
  painter.setPen(QColor(0x30, 0x30, 0x30));
  for (const double t : ticks) {
    const double x = std::round(geom_.toX(t));
    if (x < geom_.left_px || x > geom_.right_px()) continue;
    painter.drawLine(QPointF(x, kRulerPx - 8), QPointF(x, kRulerPx - 1));
    painter.drawText(QPointF(x + 3, kRulerPx - 10), QString::fromStdString(rulerLabel(t, step)));
  }
  if (!search_.isEmpty()) {
    const QString text = matches_ ? tr("%1 matches").arg(matchCount()) : tr("searching…");
    // On its own patch of ruler, so a tick label under it does not show through.
    const int w = painter.fontMetrics().horizontalAdvance(text) + 12;
    const QRect box(width() - w, 0, w, kRulerPx - 1);
    painter.fillRect(box, QColor(0xf0, 0xf1, 0xf3));
    painter.setPen(QColor(0xd9, 0x5f, 0x02));
    painter.drawText(box.adjusted(0, 0, -6, 0), Qt::AlignRight | Qt::AlignVCenter, text);
  }
}

}  // namespace tb::widgets
