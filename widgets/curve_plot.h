// CurvePlot: N metric curves overlaid (one a compared session, in its colour) against step,
// samples seen or wall time, with TensorBoard-style smoothing (the raw curve faint behind), a
// legend that toggles curves, wheel and rubber-band zoom, right-drag pan, double-click to reset,
// a hover readout of each curve's nearest point, an optional log y axis, and PNG / SVG export.
//
// Painted with QPainter rather than QtCharts: 20 curves of 100,000 points have to redraw within a
// frame. The work is split by what invalidates it, and each part is cached:
//   1. per curve, the points in axis space (x of the axis mode, y smoothed, log10 on a log axis)
//      — redone when the data, the x axis, the smoothing or the log toggle change;
//   2. per curve, the visible slice downsampled with LTTB to two points a pixel column (from a
//      coarser copy of the curve when the window holds more than 8 points for each one kept:
//      curve_levels.h), the faint raw curve behind a smoothed one as each column's extent of
//      the raw points, the y range fitted to both, and the result mapped to pixels — redone when
//      the window or the size change (or after 1); curves are spread over threads;
//   3. the plot area (grid and lines) rendered into an image, in vertical strips on as many
//      threads as there are cores (each strip draws only what lies over it) — redone after 2; a
//      repaint with nothing changed, or with the hover readout moving, copies the image.
// Lines are 1-px cosmetic pens (the raster engine's fast path: some 30 times faster than a wider
// pen on 20 noisy curves), and a line dense and steep enough to be a band of noise is filled as
// one rectangle a pixel column, written straight into the image (Drawn, below); when all of a
// layer's curves are such bands they are filled front to back, each pixel once
// (column_coverage.h). Exports (PNG, SVG) stroke every line.
#pragma once

#include <QColor>
#include <QHash>
#include <QImage>
#include <QPolygonF>
#include <QRect>
#include <QRectF>
#include <QStaticText>
#include <QString>
#include <QVector>
#include <QWidget>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/compare/compare_data.h"
#include "core/compare/lttb.h"
#include "widgets/curve_geometry.h"
#include "widgets/curve_levels.h"

class QPainter;

namespace tb::widgets {

class CurvePlot : public QWidget {
  Q_OBJECT

 public:
  struct Curve {
    QString name;
    QColor color;
    // Null or empty: listed in the legend ("no data"), nothing drawn. Shared, not copied: the
    // compare view hands out pointers into the sessions it holds.
    std::shared_ptr<const compare::MetricSeries> series;
    std::int64_t batchSize = 0;  // samples seen = step x this; 0: no curve against samples
  };

  // The point of one curve nearest the hovered x.
  struct HoverPoint {
    int curve = 0;
    std::int64_t step = 0;
    double x = 0.0;         // in the x axis's unit
    double value = 0.0;     // as stored
    double smoothed = 0.0;  // as drawn (== value without smoothing)
  };

  explicit CurvePlot(QWidget* parent = nullptr);
  ~CurvePlot() override;

  // Replaces the curves and shows all of them, whole.
  void setCurves(std::vector<Curve> curves);
  const std::vector<Curve>& curves() const { return curves_; }
  int curveCount() const { return static_cast<int>(curves_.size()); }

  void setXAxis(CurveXAxis axis);  // the window goes back to the whole x range
  CurveXAxis xAxis() const { return xAxis_; }
  void setSmoothing(double weight);  // 0 .. 0.999, as compare::smooth_ema
  double smoothing() const { return smoothing_; }
  void setLogY(bool on);
  bool logY() const { return logY_; }
  void setYLabel(const QString& label);
  QString yLabel() const { return yLabel_; }
  // Text in the middle of an empty plot ("Loading test_loss…"); "" for the default.
  void setMessage(const QString& message);
  void setCurveVisible(int curve, bool visible);
  bool curveVisible(int curve) const;

  // The window, in axis space (x in the axis's unit; y log10 of values on a log axis).
  WorldRect window();
  WorldRect fullRange();  // every visible curve, whole
  bool isZoomed() const { return xWindow_.has_value() || yWindow_.has_value(); }
  void setXWindow(double x0, double x1);  // y fits the curves again (unless zoomed in y)
  void setWindow(const WorldRect& window);
  void zoomAbout(double px, double factor);  // x, about widget x `px`
  void resetZoom();
  QRectF plotArea() const;  // the pixels inside the axes

  // What the last layout drew, for tests and the benchmark.
  std::size_t drawnPointCount(int curve);  // the smoothed line's points, after LTTB
  std::size_t drawnRawPointCount(int curve);
  const std::vector<QPolygonF>& drawnPath(int curve);  // pixels; split at gaps
  int layoutCount() const { return layouts_; }         // times part 2 was redone
  int prepareCount() const { return prepares_; }       // times part 1 was redone
  int renderCount() const { return renders_; }         // times part 3 was redone
  int paintCount() const { return paints_; }
  // Threads that render the plot area's strips (default: the hardware's, at most 8).
  void setRenderThreads(int threads);
  int renderThreads() const { return renderThreads_; }

  // The nearest point of each visible curve to widget x `px`, in curve order.
  std::vector<HoverPoint> pointsAt(double px);
  std::optional<double> hoverX() const { return hoverPx_; }
  // The legend entry of a curve, in widget pixels (a click there toggles the curve).
  QRect legendEntry(int curve) const;

  // The plot as an image at `scale` x its widget size, hover marks left out.
  QImage toImage(double scale = 2.0);
  bool exportPng(const QString& path, double scale = 2.0);
  bool exportSvg(const QString& path);

  QSize sizeHint() const override { return {720, 420}; }
  QSize minimumSizeHint() const override { return {320, 200}; }

 signals:
  void windowChanged();
  void curveVisibilityChanged(int curve, bool visible);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void resizeEvent(QResizeEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  // Part 1: a curve in axis space, ordered by x.
  struct Prepared {
    std::vector<compare::CurvePoint> smooth;  // y smoothed (== raw without smoothing)
    std::vector<compare::CurvePoint> raw;     // empty without smoothing
    std::vector<std::uint32_t> order;         // series index of each point; empty: identity
    CurveLevels smoothLevels, rawLevels;      // coarser copies of long curves (curve_levels.h)
  };
  // Part 2: a curve on screen.
  struct Drawn {
    std::vector<QPolygonF> smooth, raw;  // raw: when the window holds few raw points
    // On screen, a line as dense as a pixel column's worth of zigzag is drawn as what a 1-px
    // line without antialiasing fills: one rectangle a column, from its lowest to its highest
    // point there, written straight into the pixels (a tenth of the cost of stroking it
    // antialiased, and no visible difference in a band of noise). Empty: the line is stroked.
    QVector<QRect> smoothColumns, rawColumns;
    std::size_t smoothPoints = 0, rawPoints = 0;
  };

  void invalidatePrepared();
  void invalidateLayout();
  void prepare();
  void computeFull();
  void layout();
  void ensureLayout();
  std::size_t seriesIndex(int curve, std::size_t point) const;
  int legendWidth() const;
  std::optional<int> legendAt(const QPoint& pos) const;

  // Painting (curve_plot_paint.cpp). paintGrid and paintCurves only read the layout (not even
  // the font: the area comes in), and run on several threads at once, each into its own strip.
  void paintPlot(QPainter& painter, bool onScreen);
  void renderLayer();
  void paintGrid(QPainter& painter, const QRectF& area) const;
  // Where column rectangles are written straight into a strip's pixels: a 1-px-wide rectangle
  // is a span per row to QPainter, and its per-span overhead would be most of the frame.
  struct Canvas {
    uchar* bits = nullptr;
    qsizetype stride = 0;
    int width = 0, height = 0;  // device pixels
    QPointF origin;             // the logical point at the image's top-left
    double dpr = 1.0;
  };
  // With a canvas (on screen) dense lines are filled as column rectangles (Drawn); without
  // (exports) every line is stroked.
  void paintCurves(QPainter& painter, double x0, double x1, const Canvas* canvas) const;
  void paintAxes(QPainter& painter);
  void paintLegend(QPainter& painter);
  void paintHover(QPainter& painter);
  // `text` laid out once and kept: a frame draws the same tick labels and legend names again,
  // and laying text out is a good part of a frame that only copies the plot area.
  const QStaticText& staticText(const QString& key, const QString& text);

  std::vector<Curve> curves_;
  std::vector<bool> visible_;
  CurveXAxis xAxis_ = CurveXAxis::step;
  double smoothing_ = 0.0;
  bool logY_ = false;
  QString yLabel_;
  QString message_;

  std::vector<Prepared> prepared_;
  bool preparedValid_ = false;
  std::optional<WorldRect> full_;  // of the prepared curves; nullopt when nothing to draw
  std::vector<Drawn> drawn_;
  bool layoutValid_ = false;
  QSize layoutSize_;                     // the widget's size when laid out
  WorldRect world_;                      // the window laid out
  std::vector<double> xTicks_, yTicks_;  // in axis space, for the window laid out
  struct Strip {
    double left = 0.0;  // logical pixels
    QImage image;
  };
  std::vector<Strip> layer_;  // part 3: the plot area, left to right
  bool layerValid_ = false;
  int renderThreads_ = 1;
  mutable int legendWidth_ = -1;  // -1: to be measured (legendWidth)
  mutable QFont legendFont_;      // the font it was measured in
  QHash<QString, QStaticText> texts_;
  QFont textFont_;
  std::optional<std::pair<double, double>> xWindow_, yWindow_;  // nullopt: whole / fitted

  std::optional<double> hoverPx_;
  enum class Drag { none, zoom, pan };
  Drag drag_ = Drag::none;
  QPoint dragFrom_, dragTo_;
  int layouts_ = 0, prepares_ = 0, renders_ = 0, paints_ = 0;
};

}  // namespace tb::widgets
