// MetricChart: train loss (left axis) and test accuracy (right axis, 0..1) against the global
// step, for a live run or a stored session.
//
// A run reports hundreds of steps a second, and every change to a QXYSeries re-lays-out its chart
// item, so appended points wait in a buffer and reach the series in one replace() per timer tick
// (about 10 Hz). Long runs are thinned (neighbouring loss points averaged) so a series never holds
// more than maxPoints() points, which keeps each repaint cheap however long the run.
#pragma once

#include <QChartView>
#include <QList>
#include <QPointF>
#include <QString>
#include <QTimer>

class QLineSeries;
class QValueAxis;

namespace tb::widgets {

class MetricChart : public QChartView {
  Q_OBJECT

 public:
  explicit MetricChart(QWidget* parent = nullptr);

  // Removes every point and pending point; the axes go back to their empty ranges.
  void clear();
  // The run's length: the x axis then grows by round numbers (100, 200, 250, 500, ...) up to it
  // rather than rescaling with every new step. 0: the axis fits the data exactly.
  void setExpectedSteps(qint64 steps);
  void setTitle(const QString& title);

  // Live points: buffered, shown at the next tick (or flush()).
  void appendLoss(double step, double value);
  void appendTestLoss(double step, double value);
  void appendAccuracy(double step, double value);

  // A stored session's curves, shown at once (replacing everything).
  void setSeries(const QList<QPointF>& loss, const QList<QPointF>& accuracy,
                 const QList<QPointF>& testLoss = {});

  // Moves buffered points into the series and rescales the axes now.
  void flush();

  // What the series hold (after thinning; pending points not included).
  int lossPointCount() const;
  int testLossPointCount() const;
  int accuracyPointCount() const;
  int pendingPointCount() const;
  static int maxPoints() { return kMaxPoints; }

  QLineSeries* lossSeries() const { return loss_; }
  QLineSeries* testLossSeries() const { return testLoss_; }
  QLineSeries* accuracySeries() const { return accuracy_; }
  QValueAxis* stepAxis() const { return stepAxis_; }
  QValueAxis* lossAxis() const { return lossAxis_; }
  QValueAxis* accuracyAxis() const { return accuracyAxis_; }

 private:
  static constexpr int kMaxPoints = 4000;
  static constexpr int kFlushIntervalMs = 100;

  struct Curve {
    QLineSeries* series = nullptr;
    QList<QPointF> points;   // what the series shows
    QList<QPointF> pending;  // appended since the last flush
  };

  void schedule();
  void rescale();
  static void thin(QList<QPointF>& points);
  static bool flushCurve(Curve& curve);

  QLineSeries* loss_ = nullptr;
  QLineSeries* testLoss_ = nullptr;
  QLineSeries* accuracy_ = nullptr;
  QValueAxis* stepAxis_ = nullptr;
  QValueAxis* lossAxis_ = nullptr;
  QValueAxis* accuracyAxis_ = nullptr;
  Curve lossCurve_;
  Curve testLossCurve_;
  Curve accuracyCurve_;
  qint64 expectedSteps_ = 0;
  QTimer flushTimer_;
};

}  // namespace tb::widgets
