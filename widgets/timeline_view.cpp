#include "widgets/timeline_view.h"

#include <QApplication>
#include <QHelpEvent>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QStringList>
#include <QThreadPool>
#include <QToolTip>
#include <QWheelEvent>

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "widgets/plot_geometry.h"

namespace tb::widgets {

// Where the builder hands its result back. The destructor clears `view` under the lock, so a
// pool thread never posts to a destroyed widget (a posted call dies with its receiver).
struct TimelineView::Guard {
  std::mutex mutex;
  TimelineView* view = nullptr;
};

// What one build produced, immutable once made.
struct TimelineView::Frame {
  std::uint64_t gen = 0;
  Follow follow = Follow::keep;
  bool newLayout = false;
  std::shared_ptr<const trace::Trace> trace;
  std::shared_ptr<const TimelineLayout> layout;
  std::shared_ptr<const SearchMatches> matches;
  std::shared_ptr<const DrawList> draw;
};

namespace {

constexpr double kFoldPx = 3.0;       // narrower spans fold with their neighbours
constexpr double kLabelMinPx = 36.0;  // boxes narrower than this get no name
constexpr int kStyles = 3;            // a box is plain, folded, or dimmed by a search

int defaultThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}

std::string lowerNeedle(const QString& text) {
  return text.toLower().toStdString();
}

TimeLimits limitsOf(const TimelineLayout& layout) {
  return {static_cast<double>(layout.beginNs()), static_cast<double>(layout.endNs()), 1e-3};
}

QColor mix(const QColor& a, const QColor& b, double t) {
  return QColor::fromRgbF(static_cast<float>(a.redF() * (1 - t) + b.redF() * t),
                          static_cast<float>(a.greenF() * (1 - t) + b.greenF() * t),
                          static_cast<float>(a.blueF() * (1 - t) + b.blueF() * t));
}

QString formatNs(double ns) {
  return QString::fromStdString(formatDuration(ns));
}

TimelineGeometry applyFollow(int follow, TimelineGeometry g, const TimeLimits& limits) {
  if (follow == 1)
    return TimelineGeometry::fit(limits.begin_ns, limits.end_ns, g.left_px, g.width_px);
  if (follow == 2) g.start_ns = limits.end_ns - g.duration_ns();
  return g.clamped(limits);
}

}  // namespace

QColor TimelineView::categoryColor(trace::Category category) {
  // Light enough for black names on top, distinct enough side by side (ColorBrewer Set3 and
  // Pastel hues), and fixed, so a kernel is the same colour in every view and session.
  static const std::array<QColor, trace::kCategoryCount> palette = {
      QColor(0x8d, 0xa0, 0xcb),  // step
      QColor(0xfd, 0xb4, 0x62),  // data
      QColor(0x80, 0xb1, 0xd3),  // forward
      QColor(0xb3, 0xde, 0x69),  // backward
      QColor(0xbc, 0x80, 0xbd),  // optimizer
      QColor(0xcc, 0xeb, 0xc5),  // eval
      QColor(0xd0, 0xd0, 0xd0),  // other
      QColor(0x8d, 0xd3, 0xc7),  // cpu_op
      QColor(0xf2, 0xe8, 0x8c),  // runtime
      QColor(0xfb, 0x80, 0x72),  // kernel
      QColor(0xe5, 0xc4, 0x94),  // memcpy
      QColor(0xc9, 0xa8, 0x7c),  // memset
      QColor(0xf4, 0xa6, 0xd0),  // communication
      QColor(0xbe, 0xba, 0xda),  // sync
      QColor(0xa6, 0xce, 0xe3),  // annotation
  };
  const auto i = static_cast<std::size_t>(category);
  return i < palette.size() ? palette[i]
                            : palette[static_cast<std::size_t>(trace::Category::other)];
}

TimelineView::TimelineView(QWidget* parent) : QWidget(parent), guard_(std::make_shared<Guard>()) {
  guard_->view = this;
  builderThreads_ = defaultThreads();
  qRegisterMetaType<tb::widgets::RangeTotals>();
  setMouseTracking(true);
  setFocusPolicy(Qt::StrongFocus);
  setMinimumSize(400, 160);
  setAttribute(Qt::WA_OpaquePaintEvent);
  searchBox_ = new QLineEdit(this);
  searchBox_->setPlaceholderText(tr("Search spans"));
  searchBox_->setClearButtonEnabled(true);
  connect(searchBox_, &QLineEdit::textChanged, this, &TimelineView::setSearch);
  connect(searchBox_, &QLineEdit::returnPressed, this, &TimelineView::nextMatch);
  buckets_.resize(static_cast<std::size_t>(trace::kCategoryCount * kStyles));
  geom_ = geom_.resized(kGutterPx, std::max(1, width() - kGutterPx));
  layoutSearchBox();
}

TimelineView::~TimelineView() {
  std::lock_guard lock(guard_->mutex);
  guard_->view = nullptr;
}

void TimelineView::setTrace(std::shared_ptr<const trace::Trace> trace) {
  if (!trace || trace == trace_) return;
  // Decided now, against the window the user sees: at the end of a live trace, follow it.
  if (!layout_) {
    pendingFollow_ = Follow::fit;
  } else if (pendingFollow_ != Follow::fit) {
    pendingFollow_ = geom_.atEnd(limits_) ? Follow::end : Follow::keep;
  }
  trace_ = std::move(trace);
  ++traceGen_;
  requestBuild();
}

void TimelineView::setGeometryWindow(const TimelineGeometry& g) {
  const TimelineGeometry next =
      g.resized(kGutterPx, std::max(1, width() - kGutterPx)).clamped(limits_);
  if (next == geom_) return;
  geom_ = next;
  requestBuild();
  update();
  emit timeWindowChanged(geom_.start_ns, geom_.end_ns());
}

void TimelineView::setTimeWindow(double t0, double t1) {
  setGeometryWindow(TimelineGeometry::fit(t0, t1, kGutterPx, std::max(1, width() - kGutterPx)));
}
void TimelineView::centerOn(double ns) {
  setGeometryWindow(geom_.centredOn(ns));
}
void TimelineView::showAll() {
  setTimeWindow(limits_.begin_ns, limits_.end_ns);
}
void TimelineView::zoomAbout(double x, double factor) {
  setGeometryWindow(geom_.zoomedAbout(x, factor));
}
void TimelineView::pan(double dx) {
  setGeometryWindow(geom_.panned(dx));
}

void TimelineView::requestBuild() {
  if (building_) {
    dirty_ = true;  // one build at a time; the latest request runs when it returns
    return;
  }
  startBuild();
}

void TimelineView::startBuild() {
  if (building_) {  // called from inside deliver()'s signals: the running build comes first
    dirty_ = true;
    return;
  }
  dirty_ = false;
  if (!trace_) return;
  building_ = true;
  const bool haveLayout = layout_ && layoutGen_ == traceGen_;
  const std::string needle = lowerNeedle(search_);
  auto layout = haveLayout ? layout_ : nullptr;
  auto matches = haveLayout && matches_ && matches_->needle == needle ? matches_ : nullptr;
  auto task = [guard = guard_, trace = trace_, gen = traceGen_, follow = pendingFollow_, layout,
               matches, needle, geom = geom_, scrollY = scrollY_,
               viewH = std::max(0, height() - kRulerPx), threads = builderThreads_]() mutable {
    auto frame = std::make_shared<Frame>();
    frame->gen = gen;
    frame->follow = follow;
    frame->trace = trace;
    if (!layout) {
      layout = std::make_shared<const TimelineLayout>(*trace);
      frame->newLayout = true;
      geom = applyFollow(static_cast<int>(follow), geom, limitsOf(*layout));
    }
    if (!matches && !needle.empty()) {
      matches = std::make_shared<const SearchMatches>(findMatches(*layout, *trace, needle));
    }
    const RowPlacement placement = placeRows(*layout, kRowPx, kTrackGapPx);
    const auto [r0, r1] = placement.rowsBetween(scrollY - viewH / 2, scrollY + viewH + viewH / 2);
    FoldOptions options;
    options.min_px = kFoldPx;
    options.threads = threads;
    frame->draw = std::make_shared<const DrawList>(
        buildDrawList(*layout, geom, r0, r1, matches.get(), options));
    frame->layout = std::move(layout);
    frame->matches = std::move(matches);
    std::shared_ptr<const Frame> done = std::move(frame);
    std::lock_guard lock(guard->mutex);
    if (guard->view != nullptr) {
      QMetaObject::invokeMethod(
          guard->view, [view = guard->view, done] { view->deliver(done); }, Qt::QueuedConnection);
    }
  };
  QThreadPool::globalInstance()->start(std::move(task));
}

void TimelineView::deliver(const std::shared_ptr<const Frame>& frame) {
  building_ = false;
  if (frame->newLayout && frame->gen > layoutGen_) {
    shownTrace_ = frame->trace;
    layout_ = frame->layout;
    layoutGen_ = frame->gen;
    limits_ = limitsOf(*layout_);
    placement_ = placeRows(*layout_, kRowPx, kTrackGapPx);
    labels_.clear();
    staticLabels_.clear();
    labelWidths_.clear();
    elidedLabels_.clear();
    matches_.reset();
    draw_.reset();
    currentMatch_ = -1;
    focusSpan_.reset();
    hoverSpan_.reset();
    hoverFlows_.clear();
    if (frame->gen == traceGen_) pendingFollow_ = Follow::keep;
    geom_ = applyFollow(static_cast<int>(frame->follow),
                        geom_.resized(kGutterPx, std::max(1, width() - kGutterPx)), limits_);
    scrollY_ = std::clamp(scrollY_, 0, std::max(0, placement_.height - (height() - kRulerPx)));
    if (selection_) selection_ = rangeTotals(*layout_, selection_->t0, selection_->t1);
    emit timeWindowChanged(geom_.start_ns, geom_.end_ns());
  }
  if (frame->layout == layout_) {
    if (frame->matches && frame->matches->needle == lowerNeedle(search_)) matches_ = frame->matches;
    draw_ = frame->draw;
  }
  // Anything that changed while it was being built asks for one more build.
  const auto rows = rowsInView();
  const bool stale = !draw_ || !(draw_->geometry == geom_) || rows.first < draw_->row_begin ||
                     rows.second > draw_->row_end || trace_ != shownTrace_ ||
                     (!search_.isEmpty() && !matches_);
  if (stale || dirty_) startBuild();
  update();
  emit frameReady();
}

std::pair<std::size_t, std::size_t> TimelineView::rowsInView() const {
  return placement_.rowsBetween(scrollY_, scrollY_ + std::max(0, height() - kRulerPx));
}

int TimelineView::rowTop(std::size_t row) const {
  return kRulerPx + placement_.tops[row] - scrollY_;
}

void TimelineView::setScrollY(int y) {
  const int maxScroll = std::max(0, placement_.height - (height() - kRulerPx));
  y = std::clamp(y, 0, maxScroll);
  if (y == scrollY_) return;
  scrollY_ = y;
  const auto rows = rowsInView();
  if (!draw_ || rows.first < draw_->row_begin || rows.second > draw_->row_end) requestBuild();
  update();
}

std::optional<std::size_t> TimelineView::rowAtY(int y) const {
  if (!layout_ || y < kRulerPx) return std::nullopt;
  return placement_.rowAt(y - kRulerPx + scrollY_);
}

// --- search ---------------------------------------------------------------------------------

void TimelineView::setSearch(const QString& text) {
  if (text == search_) return;
  search_ = text;
  if (searchBox_->text() != text) {
    const QSignalBlocker block(searchBox_);
    searchBox_->setText(text);
  }
  matches_.reset();
  currentMatch_ = -1;
  focusSpan_.reset();
  requestBuild();
  update();
}

int TimelineView::matchCount() const {
  return matches_ ? static_cast<int>(matches_->count()) : 0;
}

void TimelineView::nextMatch() {
  if (matchCount() == 0) return;
  jumpToMatch(currentMatch_ < 0 ? 0 : (currentMatch_ + 1) % matchCount());
}

void TimelineView::previousMatch() {
  if (matchCount() == 0) return;
  jumpToMatch(currentMatch_ <= 0 ? matchCount() - 1 : currentMatch_ - 1);
}

void TimelineView::jumpToMatch(int index) {
  currentMatch_ = index;
  const std::uint32_t span = matches_->spans[static_cast<std::size_t>(index)];
  focusSpan_ = span;
  const trace::Span& s = shownTrace_->spans()[span];
  const double duration = static_cast<double>(s.end_ns - s.start_ns);
  const double mid = static_cast<double>(s.start_ns) + duration / 2.0;
  // Zoom out just enough to show all of it; keep the zoom when it already fits.
  if (duration > geom_.duration_ns() * 0.8) {
    setTimeWindow(mid - duration * 0.625, mid + duration * 0.625);
  } else {
    centerOn(mid);
  }
  const auto [row, pos] = layout_->locate(span);
  if (row < placement_.tops.size()) setScrollY(placement_.tops[row] - (height() - kRulerPx) / 2);
  update();
}

// --- selection ------------------------------------------------------------------------------

void TimelineView::selectRange(std::int64_t t0, std::int64_t t1) {
  if (!layout_) return;
  selection_ = rangeTotals(*layout_, t0, t1);
  update();
  emit rangeSelected(*selection_);
}

void TimelineView::clearSelection() {
  selection_.reset();
  update();
}

// --- hit testing ----------------------------------------------------------------------------

std::optional<std::uint32_t> TimelineView::spanAt(const QPoint& pos) const {
  if (!layout_ || pos.x() < kGutterPx) return std::nullopt;
  const auto row = rowAtY(pos.y());
  if (!row) return std::nullopt;
  const auto at = layout_->spanAt(*row, geom_.toTime(pos.x() + 0.5), geom_.pxToNs(2.0));
  if (!at) return std::nullopt;
  return layout_->rows()[*row].span[*at];
}

std::optional<QPoint> TimelineView::spanCentre(std::uint32_t span) const {
  if (!layout_) return std::nullopt;
  const auto [row, pos] = layout_->locate(span);
  if (row >= placement_.tops.size()) return std::nullopt;
  const TimelineRow& r = layout_->rows()[row];
  const double t0 = std::max<double>(static_cast<double>(r.start[pos]), geom_.start_ns);
  const double t1 = std::min<double>(static_cast<double>(r.end[pos]), geom_.end_ns());
  const int y = rowTop(row) + kRowPx / 2;
  if (t0 > t1 || y < kRulerPx || y >= height()) return std::nullopt;
  return QPoint(static_cast<int>(std::floor(geom_.toX((t0 + t1) / 2.0))), y);
}

QString TimelineView::tooltipAt(const QPoint& pos) const {
  const auto index = spanAt(pos);
  if (!index) return {};
  const trace::Span& s = shownTrace_->spans()[*index];
  const auto esc = [](std::string_view text) {
    return QString::fromUtf8(text.data(), static_cast<qsizetype>(text.size())).toHtmlEscaped();
  };
  QString tip =
      QStringLiteral("<b>%1</b><br>%2 · %3<br>start %4 · duration %5")
          .arg(esc(shownTrace_->name(s.name)), QString::fromUtf8(trace::category_name(s.category)),
               esc(shownTrace_->track(s.track).name), formatNs(static_cast<double>(s.start_ns)),
               formatNs(static_cast<double>(s.end_ns - s.start_ns)));
  if (s.step != 0) tip += QStringLiteral("<br>step %1").arg(s.step);
  const std::string_view args = shownTrace_->args(s.args);
  if (!args.empty()) {
    const auto json = nlohmann::json::parse(args.begin(), args.end(), nullptr, false);
    if (json.is_object()) {
      int shown = 0;
      for (const auto& [key, value] : json.items()) {
        if (++shown > 24) {
          tip += QStringLiteral("<br>…");
          break;
        }
        std::string text = value.is_string() ? value.get<std::string>() : value.dump();
        if (text.size() > 120) text = text.substr(0, 117) + "...";
        tip += QStringLiteral("<br>%1: %2").arg(esc(key), esc(text));
      }
    } else {
      tip += QStringLiteral("<br>") + esc(args.substr(0, 400));
    }
  }
  return tip;
}

int TimelineView::hoveredFlowCount() const {
  return static_cast<int>(hoverFlows_.size());
}

void TimelineView::updateHover(const QPoint& pos) {
  const auto span = spanAt(pos);
  if (span == hoverSpan_) return;
  hoverSpan_ = span;
  hoverFlows_.clear();
  if (span) {
    // Flows with an end inside the hovered span, on its track. Linear in the flows, once per
    // hover change — not per frame.
    const trace::Span& s = shownTrace_->spans()[*span];
    const auto& flows = shownTrace_->flows();
    for (std::size_t i = 0; i < flows.size() && hoverFlows_.size() < 500; ++i) {
      const trace::Flow& f = flows[i];
      const bool from = f.from_track == s.track && f.from_ns >= s.start_ns && f.from_ns <= s.end_ns;
      const bool to = f.to_track == s.track && f.to_ns >= s.start_ns && f.to_ns <= s.end_ns;
      if (from || to) hoverFlows_.push_back(i);
    }
  }
  update();
}

QPointF TimelineView::flowEnd(std::size_t track, double t) const {
  double y = kRulerPx;
  if (const auto at = layout_->deepestAt(track, t)) {
    y = rowTop(at->first) + kRowPx / 2.0;
  } else if (track < shownTrace_->tracks().size()) {
    y = rowTop(layout_->tracks()[layout_->trackPosition(track)].first_row) + kRowPx / 2.0;
  }
  return {geom_.toX(t), y};
}

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

void TimelineView::renderFrame(QImage& image) {
  if (!layout_) return;
  const auto [r0, r1] = rowsInView();
  FoldOptions options;
  options.min_px = kFoldPx;
  options.threads = builderThreads_;
  const DrawList list = buildDrawList(*layout_, geom_, r0, r1, matches_.get(), options);
  QPainter painter(&image);
  paintFrame(painter, &list);
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
    buckets_[static_cast<std::size_t>(b.category) * kStyles + static_cast<std::size_t>(style)]
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
    const std::array<QColor, kStyles> colours = {base, mix(base, QColor(0x60, 0x60, 0x60), 0.35),
                                                 mix(base, Qt::white, 0.7)};
    for (int s = 0; s < kStyles; ++s) {
      const auto& bucket = buckets_[static_cast<std::size_t>(c * kStyles + s)];
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

// --- input ----------------------------------------------------------------------------------

void TimelineView::layoutSearchBox() {
  searchBox_->setGeometry(3, 2, kGutterPx - 8, kRulerPx - 4);
}

void TimelineView::resizeEvent(QResizeEvent*) {
  layoutSearchBox();
  geom_ = geom_.resized(kGutterPx, std::max(1, width() - kGutterPx));
  if (layout_) geom_ = geom_.clamped(limits_);
  setScrollY(scrollY_);
  requestBuild();
}

void TimelineView::wheelEvent(QWheelEvent* event) {
  const QPoint delta = event->angleDelta();
  if (event->modifiers() & Qt::ShiftModifier) {
    setScrollY(scrollY_ - (delta.y() != 0 ? delta.y() : delta.x()) / 2);
  } else if (std::abs(delta.x()) > std::abs(delta.y())) {
    pan(delta.x() / 2.0);
  } else if (delta.y() != 0) {
    // 120 units (one notch) zoom by about 1.2x, about the time under the cursor.
    zoomAbout(std::max<double>(event->position().x(), kGutterPx), std::pow(1.0015, delta.y()));
  }
  event->accept();
}

void TimelineView::mousePressEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return QWidget::mousePressEvent(event);
  pressPos_ = dragLast_ = event->position().toPoint();
  if (event->modifiers() & Qt::ShiftModifier) {
    drag_ = Drag::select;
    selectFrom_ = selectTo_ = geom_.toTime(std::max<double>(pressPos_.x(), kGutterPx));
  } else {
    drag_ = Drag::pan;
  }
  event->accept();
}

void TimelineView::mouseMoveEvent(QMouseEvent* event) {
  const QPoint pos = event->position().toPoint();
  if (drag_ == Drag::pan) {
    const QPoint d = pos - dragLast_;
    dragLast_ = pos;
    if (d.x() != 0) pan(d.x());
    if (d.y() != 0) setScrollY(scrollY_ - d.y());
  } else if (drag_ == Drag::select) {
    selectTo_ = geom_.toTime(std::max<double>(pos.x(), kGutterPx));
    update();
  } else {
    updateHover(pos);
  }
}

void TimelineView::mouseReleaseEvent(QMouseEvent* event) {
  if (event->button() != Qt::LeftButton) return QWidget::mouseReleaseEvent(event);
  const QPoint pos = event->position().toPoint();
  const Drag drag = drag_;
  drag_ = Drag::none;
  if (drag == Drag::select) {
    selectTo_ = geom_.toTime(std::max<double>(pos.x(), kGutterPx));
    if (std::abs(pos.x() - pressPos_.x()) >= 2) {
      selectRange(static_cast<std::int64_t>(std::llround(std::min(selectFrom_, selectTo_))),
                  static_cast<std::int64_t>(std::llround(std::max(selectFrom_, selectTo_))));
    } else {
      clearSelection();
    }
  } else if (drag == Drag::pan && (pos - pressPos_).manhattanLength() < 3) {
    clearSelection();  // a plain click
  }
  event->accept();
}

void TimelineView::leaveEvent(QEvent*) {
  if (hoverSpan_) {
    hoverSpan_.reset();
    hoverFlows_.clear();
    update();
  }
}

void TimelineView::keyPressEvent(QKeyEvent* event) {
  const double centre = geom_.left_px + geom_.width_px / 2;
  const int key = event->key();
  if (key == Qt::Key_W || key == Qt::Key_S) {  // the keys of Chrome's and Perfetto's viewers
    zoomAbout(centre, key == Qt::Key_W ? 1.25 : 0.8);
  } else if (key == Qt::Key_A || key == Qt::Key_D) {
    pan((key == Qt::Key_A ? 1 : -1) * geom_.width_px / 10);
  } else if (key == Qt::Key_Home) {
    showAll();
  } else if (key == Qt::Key_F3) {
    (event->modifiers() & Qt::ShiftModifier) ? previousMatch() : nextMatch();
  } else if (event->matches(QKeySequence::Find)) {
    searchBox_->setFocus();
    searchBox_->selectAll();
  } else {
    return QWidget::keyPressEvent(event);
  }
  event->accept();
}

bool TimelineView::event(QEvent* event) {
  if (event->type() == QEvent::ToolTip) {
    const auto* help = static_cast<QHelpEvent*>(event);
    const QString tip = tooltipAt(help->pos());
    if (tip.isEmpty()) {
      QToolTip::hideText();
      event->ignore();
    } else {
      QToolTip::showText(help->globalPos(), tip, this);
    }
    return true;
  }
  return QWidget::event(event);
}

}  // namespace tb::widgets
