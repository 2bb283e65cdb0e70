// OptimizerPathView: optimizers' paths drawn over a 2-D test function's contour plot.
//
// The function is shown as a heat map on log-scaled levels (log(1 + f - fmin): a valley stays
// visible beside walls a thousand times higher), or on a diverging blue-white-red map for the
// saddle, which has no minimum. The map is rendered pixel by pixel into a QImage that is cached
// until the function, the extent or the plot's size changes, so hovering and re-drawing paths cost
// nothing. Each path is a coloured polyline (with a white halo so it reads on any background),
// a hollow circle at its start and a filled one (or a cross, when it diverged) at its end. The
// legend sits in a band above the plot, never over the paths. Hovering shows (x, y, f) and, near a
// path, the optimizer and step.
#pragma once

#include <QColor>
#include <QImage>
#include <QList>
#include <QString>
#include <QWidget>

#include "core/optim/playground.h"
#include "widgets/plot_geometry.h"

namespace tb::widgets {

// One optimizer's path as the view draws it.
struct PathSeries {
  QString name;     // "Adam"
  QString details;  // "lr 0.05, β (0.9, 0.999)"
  QColor color;
  optim::OptimizerPath path;
  QString error;  // non-empty: the settings were rejected (nothing to draw, the text is shown)
};

class OptimizerPathView : public QWidget {
  Q_OBJECT

 public:
  explicit OptimizerPathView(QWidget* parent = nullptr);

  void setFunction(optim::TestFunction fn);
  optim::TestFunction function() const { return fn_; }
  // The world rectangle shown; defaults to defaultExtent(function).
  void setExtent(const WorldRect& extent);
  const WorldRect& extent() const { return extent_; }
  void setPaths(const QList<PathSeries>& paths);
  const QList<PathSeries>& paths() const { return paths_; }
  void setTitle(const QString& title);
  QString title() const { return title_; }
  void setIsoLines(bool on);
  bool isoLines() const { return isoLines_; }

  // The region where each function's behaviour shows (start, valley and minimum inside).
  static WorldRect defaultExtent(optim::TestFunction fn);
  // The known minimum, or for the saddle its saddle point (0, 0).
  static Point2 minimumOf(optim::TestFunction fn);

  // The pixel <-> world mapping of the plot area at the current size.
  PlotMapping mapping() const;
  // The heat map at the current size (rendered now if the cache is stale).
  const QImage& contourImage();
  // How many times the heat map was rendered (the cache's hit rate, for tests).
  int contourRenders() const { return contourRenders_; }
  // The legend's line for path i: "Adam  lr 0.05, β (0.9, 0.999)  →  f = 1.2e-05 after 300 steps".
  QString legendText(int i) const;
  // The tooltip text for a pixel position ("" outside the plot).
  QString hoverText(QPointF pos) const;

  QSize sizeHint() const override { return {420, 420}; }
  QSize minimumSizeHint() const override { return {220, 220}; }

 protected:
  void paintEvent(QPaintEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;

 private:
  int legendHeight() const;
  void renderContour(const PlotMapping& m);
  void drawAxes(QPainter& p, const PlotMapping& m) const;
  void drawPaths(QPainter& p, const PlotMapping& m) const;
  void drawLegend(QPainter& p, const PlotMapping& m) const;

  optim::TestFunction fn_ = optim::TestFunction::rosenbrock;
  WorldRect extent_;
  QList<PathSeries> paths_;
  QString title_;
  bool isoLines_ = true;

  // The cached heat map and what it was rendered for.
  QImage contour_;
  optim::TestFunction contourFn_ = optim::TestFunction::rosenbrock;
  WorldRect contourExtent_;
  bool contourIsoLines_ = true;
  int contourRenders_ = 0;
};

}  // namespace tb::widgets
