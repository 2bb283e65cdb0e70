#include "widgets/timeline_view.h"
#include "widgets/tool_tip.h"

#include <QApplication>
#include <QHelpEvent>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPainter>
#include <QThreadPool>
#include <QToolTip>
#include <QWheelEvent>

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

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

constexpr double kFoldPx = 3.0;  // narrower spans fold with their neighbours

int defaultThreads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
}

std::string lowerNeedle(const QString& text) {
  return text.toLower().toStdString();
}

TimeLimits limitsOf(const TimelineLayout& layout) {
  return {static_cast<double>(layout.beginNs()), static_cast<double>(layout.endNs()), 1e-3};
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
  buckets_.resize(static_cast<std::size_t>(trace::kCategoryCount * kBoxStyles));
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

// --- frames ---------------------------------------------------------------------------------

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
    auto* help = static_cast<QHelpEvent*>(event);
    return answerToolTip(help, tooltipAt(help->pos()), this);
  }
  return QWidget::event(event);
}

}  // namespace tb::widgets
