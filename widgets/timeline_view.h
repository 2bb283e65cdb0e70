// TimelineView: a trace's tracks as rows of span boxes coloured by category, with a time ruler,
// wheel zoom about the cursor, drag to pan, tooltips with the span's args, search by name, flow
// arrows for the span under the mouse, and shift-drag range selection with totals per category.
//
// It stays smooth on million-span traces because nothing per frame is O(spans): the visible spans
// of each row are found by binary search and sub-pixel spans are folded (timeline_layout.h), and
// that draw list is built on a pool thread and handed back as immutable data through a queued
// call, so the GUI thread only paints. While a new list is being built the previous one keeps
// being painted — it holds times, not pixels, so it stays in place under a zoom or a pan.
//
// Live runs: setTrace() again with each newer snapshot. The window stays where the user left it,
// unless it showed the trace's end, in which case it follows the new end.
#pragma once

#include <QColor>
#include <QFont>
#include <QHash>
#include <QMetaType>
#include <QRect>
#include <QStaticText>
#include <QString>
#include <QVector>
#include <QWidget>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/trace/model.h"
#include "widgets/timeline_geometry.h"
#include "widgets/timeline_layout.h"

class QLineEdit;
class QPainter;

namespace tb::widgets {

class TimelineView : public QWidget {
  Q_OBJECT

 public:
  explicit TimelineView(QWidget* parent = nullptr);
  ~TimelineView() override;

  // A trace to show, or a newer snapshot of the one shown. The rows are laid out off the GUI
  // thread; until then the previous trace stays on screen.
  void setTrace(std::shared_ptr<const trace::Trace> trace);
  // The trace on screen (its layout is ready); may lag setTrace() briefly.
  std::shared_ptr<const trace::Trace> shownTrace() const { return shownTrace_; }
  std::shared_ptr<const TimelineLayout> layout() const { return layout_; }

  // The window: which times are on screen, and the pixel mapping.
  const TimelineGeometry& mapping() const { return geom_; }
  void setTimeWindow(double t0, double t1);
  void centerOn(double ns);
  void showAll();
  void zoomAbout(double x, double factor);
  void pan(double dx);

  // Highlights spans whose name contains `text` (case-insensitive); "" ends the search.
  void setSearch(const QString& text);
  QString search() const { return search_; }
  int matchCount() const;
  // Moves the window to the next / previous match (by time) and marks it.
  void nextMatch();
  void previousMatch();
  std::optional<std::uint32_t> focusedSpan() const { return focusSpan_; }

  // The range selection (shift-drag, or selectRange()), with its totals.
  void selectRange(std::int64_t t0, std::int64_t t1);
  void clearSelection();
  std::optional<RangeTotals> selection() const { return selection_; }

  // What the tooltip at `pos` (widget coordinates) says; empty where there is no span.
  QString tooltipAt(const QPoint& pos) const;
  // The span under `pos`, as a trace span index.
  std::optional<std::uint32_t> spanAt(const QPoint& pos) const;
  // The centre of span `span` on screen (for tests and for jumping); nullopt when off screen.
  std::optional<QPoint> spanCentre(std::uint32_t span) const;
  // The span the mouse rests on, and how many flow arrows are drawn for it.
  std::optional<std::uint32_t> hoveredSpan() const { return hoverSpan_; }
  int hoveredFlowCount() const;

  // No build in flight or waiting: what is painted matches the current window.
  bool isIdle() const { return !building_ && !dirty_; }
  // The boxes last delivered by the builder.
  std::shared_ptr<const DrawList> drawList() const { return draw_; }

  // One frame as bench/timeline_bench.cpp measures it: folds the current window into a draw
  // list on the calling thread (and helpers) and paints it into `image`, sized like the widget.
  void renderFrame(QImage& image);

  // Threads that fold rows into the draw list (default: the hardware's, at most 8).
  void setBuilderThreads(int threads) { builderThreads_ = std::max(1, threads); }
  int builderThreads() const { return builderThreads_; }

  static QColor categoryColor(trace::Category category);
  static constexpr int kGutterPx = 180;  // track names
  static constexpr int kRulerPx = 26;    // the time ruler (and the search box beside it)
  static constexpr int kRowPx = 18;
  static constexpr int kTrackGapPx = 6;

 signals:
  void rangeSelected(const tb::widgets::RangeTotals& totals);
  void timeWindowChanged(double t0, double t1);
  // A new draw list (or layout) arrived and was painted.
  void frameReady();

 protected:
  void paintEvent(QPaintEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  bool event(QEvent* event) override;

 private:
  enum class Follow { keep, fit, end };
  struct Frame;
  struct Guard;

  void setGeometryWindow(const TimelineGeometry& g);
  void requestBuild();
  void startBuild();
  void deliver(const std::shared_ptr<const Frame>& frame);
  void paintFrame(QPainter& painter, const DrawList* draw);
  void paintRuler(QPainter& painter);
  void paintTracks(QPainter& painter);
  void paintBoxes(QPainter& painter, const DrawList& draw);
  void paintFlows(QPainter& painter);
  void paintSelection(QPainter& painter);
  void layoutSearchBox();
  void jumpToMatch(int index);
  void updateHover(const QPoint& pos);
  std::optional<std::size_t> rowAtY(int y) const;
  int rowTop(std::size_t row) const;  // widget y of the row's top
  void setScrollY(int y);
  std::pair<std::size_t, std::size_t> rowsInView() const;
  QPointF flowEnd(std::size_t track, double t) const;
  const QString& label(trace::NameId name) const;

  std::shared_ptr<const trace::Trace> trace_;  // latest set
  std::uint64_t traceGen_ = 0;
  Follow pendingFollow_ = Follow::fit;
  std::shared_ptr<const trace::Trace> shownTrace_;  // the one layout_ was built from
  std::shared_ptr<const TimelineLayout> layout_;
  std::uint64_t layoutGen_ = 0;
  std::shared_ptr<const SearchMatches> matches_;
  std::shared_ptr<const DrawList> draw_;
  RowPlacement placement_;  // content y of each row (below the ruler)

  TimelineGeometry geom_;
  TimeLimits limits_;
  int scrollY_ = 0;
  bool building_ = false;
  bool dirty_ = false;
  std::shared_ptr<Guard> guard_;
  int builderThreads_ = 1;

  QString search_;
  QLineEdit* searchBox_ = nullptr;
  int currentMatch_ = -1;
  std::optional<std::uint32_t> focusSpan_;

  enum class Drag { none, pan, select };
  Drag drag_ = Drag::none;
  QPoint dragLast_;
  double selectFrom_ = 0.0, selectTo_ = 0.0;
  std::optional<RangeTotals> selection_;
  QPoint pressPos_;
  std::optional<std::uint32_t> hoverSpan_;
  std::vector<std::size_t> hoverFlows_;  // indices into the shown trace's flows()

  // Span names as laid-out text, per name id (and per width when elided): drawing a prepared
  // QStaticText skips the text layout drawText() would redo for every box of every frame.
  mutable QHash<std::int64_t, QString> labels_;
  QHash<std::int64_t, QStaticText> staticLabels_;
  QHash<std::int64_t, int> labelWidths_;
  QHash<std::int64_t, QStaticText> elidedLabels_;  // key: name id * 8192 + room in pixels
  QFont labelFont_;
  // Reused by every paint, so a frame allocates nothing once warm. A box is plain, folded, or
  // dimmed by a search: one bucket per category and style.
  static constexpr int kBoxStyles = 3;
  std::vector<QVector<QRect>> buckets_;
  QVector<QRect> outlines_, matchOutlines_;
  struct Label {
    QRect rect;
    trace::NameId name;
  };
  std::vector<Label> labelBoxes_;
};

}  // namespace tb::widgets

Q_DECLARE_METATYPE(tb::widgets::RangeTotals)
