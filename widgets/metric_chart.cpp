#include "widgets/metric_chart.h"

#include <QChart>
#include <QLegend>
#include <QLineSeries>
#include <QPainter>
#include <QPen>
#include <QValueAxis>

#include <algorithm>
#include <cmath>

namespace tb::widgets {

namespace {

// The smallest "round" number (1, 2, 2.5, 5 times a power of ten) at or above value, so the loss
// axis ends on a readable label and does not creep up with every new maximum.
double niceCeil(double value) {
  if (!(value > 0.0) || !std::isfinite(value)) return 1.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (factor * magnitude >= value * (1.0 - 1e-12)) return factor * magnitude;
  }
  return 10.0 * magnitude;
}

QPen seriesPen(const QColor& color, Qt::PenStyle style = Qt::SolidLine) {
  QPen pen(color);
  pen.setWidthF(1.6);
  pen.setStyle(style);
  return pen;
}

}  // namespace

MetricChart::MetricChart(QWidget* parent) : QChartView(parent) {
  auto* chart = new QChart;
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->legend()->setAlignment(Qt::AlignBottom);
  // Animations would replay on every batched replace(); the data is the point, not the motion.
  chart->setAnimationOptions(QChart::NoAnimation);

  loss_ = new QLineSeries(chart);
  loss_->setName(tr("Train loss"));
  loss_->setPen(seriesPen(QColor(0x1f, 0x77, 0xb4)));
  testLoss_ = new QLineSeries(chart);
  testLoss_->setName(tr("Test loss"));
  testLoss_->setPen(seriesPen(QColor(0x94, 0x67, 0xbd), Qt::DashLine));
  testLoss_->setPointsVisible(true);
  accuracy_ = new QLineSeries(chart);
  accuracy_->setName(tr("Test accuracy"));
  accuracy_->setPen(seriesPen(QColor(0xd6, 0x27, 0x28)));
  accuracy_->setPointsVisible(true);
  chart->addSeries(loss_);
  chart->addSeries(testLoss_);
  chart->addSeries(accuracy_);

  stepAxis_ = new QValueAxis(chart);
  stepAxis_->setTitleText(tr("Step"));
  stepAxis_->setLabelFormat("%d");
  stepAxis_->setTickInterval(1.0);
  stepAxis_->setTickType(QValueAxis::TicksDynamic);
  stepAxis_->setTickAnchor(0.0);
  lossAxis_ = new QValueAxis(chart);
  lossAxis_->setTitleText(tr("Loss"));
  lossAxis_->setLabelFormat("%.2f");
  accuracyAxis_ = new QValueAxis(chart);
  accuracyAxis_->setTitleText(tr("Test accuracy"));
  accuracyAxis_->setLabelFormat("%.1f");
  accuracyAxis_->setRange(0.0, 1.0);
  accuracyAxis_->setTickCount(6);
  chart->addAxis(stepAxis_, Qt::AlignBottom);
  chart->addAxis(lossAxis_, Qt::AlignLeft);
  chart->addAxis(accuracyAxis_, Qt::AlignRight);
  for (QLineSeries* series : {loss_, testLoss_}) {
    series->attachAxis(stepAxis_);
    series->attachAxis(lossAxis_);
  }
  accuracy_->attachAxis(stepAxis_);
  accuracy_->attachAxis(accuracyAxis_);

  lossCurve_.series = loss_;
  testLossCurve_.series = testLoss_;
  accuracyCurve_.series = accuracy_;

  setChart(chart);
  setRenderHint(QPainter::Antialiasing);
  setMinimumSize(320, 220);

  flushTimer_.setSingleShot(true);
  flushTimer_.setInterval(kFlushIntervalMs);
  connect(&flushTimer_, &QTimer::timeout, this, &MetricChart::flush);
  rescale();
}

void MetricChart::clear() {
  flushTimer_.stop();
  for (Curve* curve : {&lossCurve_, &testLossCurve_, &accuracyCurve_}) {
    curve->points.clear();
    curve->pending.clear();
    curve->series->clear();
  }
  rescale();
}

void MetricChart::setExpectedSteps(qint64 steps) {
  expectedSteps_ = std::max<qint64>(0, steps);
  rescale();
}

void MetricChart::setTitle(const QString& title) {
  chart()->setTitle(title);
}

void MetricChart::appendLoss(double step, double value) {
  lossCurve_.pending.append(QPointF(step, value));
  schedule();
}

void MetricChart::appendTestLoss(double step, double value) {
  testLossCurve_.pending.append(QPointF(step, value));
  schedule();
}

void MetricChart::appendAccuracy(double step, double value) {
  accuracyCurve_.pending.append(QPointF(step, value));
  schedule();
}

void MetricChart::setSeries(const QList<QPointF>& loss, const QList<QPointF>& accuracy,
                            const QList<QPointF>& testLoss) {
  flushTimer_.stop();
  const std::pair<Curve*, const QList<QPointF>*> assignments[] = {
      {&lossCurve_, &loss}, {&testLossCurve_, &testLoss}, {&accuracyCurve_, &accuracy}};
  for (auto [curve, points] : assignments) {
    curve->pending.clear();
    curve->points = *points;
    while (curve->points.size() > kMaxPoints) thin(curve->points);
    curve->series->replace(curve->points);
  }
  rescale();
}

void MetricChart::flush() {
  flushTimer_.stop();
  bool changed = false;
  for (Curve* curve : {&lossCurve_, &testLossCurve_, &accuracyCurve_}) {
    changed = flushCurve(*curve) || changed;
  }
  if (changed) rescale();
}

int MetricChart::lossPointCount() const {
  return static_cast<int>(loss_->count());
}
int MetricChart::testLossPointCount() const {
  return static_cast<int>(testLoss_->count());
}
int MetricChart::accuracyPointCount() const {
  return static_cast<int>(accuracy_->count());
}

int MetricChart::pendingPointCount() const {
  return static_cast<int>(lossCurve_.pending.size() + testLossCurve_.pending.size() +
                          accuracyCurve_.pending.size());
}

void MetricChart::schedule() {
  if (!flushTimer_.isActive()) flushTimer_.start();
}

bool MetricChart::flushCurve(Curve& curve) {
  if (curve.pending.isEmpty()) return false;
  curve.points.append(curve.pending);
  curve.pending.clear();
  while (curve.points.size() > kMaxPoints) thin(curve.points);
  // One replace() is one relayout of the series, however many points arrived.
  curve.series->replace(curve.points);
  return true;
}

// Halves the point count by averaging neighbours: the curve keeps its shape and trend, and the
// last point (the latest step) stays exact.
void MetricChart::thin(QList<QPointF>& points) {
  if (points.size() < 4) return;
  const QPointF last = points.back();
  QList<QPointF> thinned;
  thinned.reserve(points.size() / 2 + 1);
  for (qsizetype i = 0; i + 1 < points.size(); i += 2) {
    thinned.append((points[i] + points[i + 1]) / 2.0);
  }
  if (thinned.back() != last) thinned.append(last);
  points = std::move(thinned);
}

void MetricChart::rescale() {
  double maxStep = 0.0;
  double maxLoss = 0.0;
  for (const Curve* curve : {&lossCurve_, &testLossCurve_, &accuracyCurve_}) {
    for (const QPointF& p : curve->points) maxStep = std::max(maxStep, p.x());
  }
  for (const Curve* curve : {&lossCurve_, &testLossCurve_}) {
    for (const QPointF& p : curve->points) {
      if (std::isfinite(p.y())) maxLoss = std::max(maxLoss, p.y());
    }
  }
  // A live run's axis grows by round numbers up to the run's length: the early curve is wide
  // enough to read, and the axis changes only now and then, not at every tick.
  double stepEnd = std::max(maxStep, 1.0);
  if (expectedSteps_ > 0) {
    stepEnd = std::max(stepEnd, std::min(niceCeil(maxStep * 1.1), double(expectedSteps_)));
  }
  // Ticks at round step numbers (0, 200, 400, ...) whatever the run's length. The axis lays out
  // its ticks at each change, so the order matters: a wide range with the old small interval
  // would create one label per step, thousands of them, for an instant.
  const double interval = std::max(1.0, niceCeil(stepEnd / 6.0));
  if (interval > stepAxis_->tickInterval()) {
    stepAxis_->setTickInterval(interval);
    stepAxis_->setRange(0.0, stepEnd);
  } else {
    stepAxis_->setRange(0.0, stepEnd);
    stepAxis_->setTickInterval(interval);
  }
  lossAxis_->setRange(0.0, niceCeil(maxLoss > 0.0 ? maxLoss * 1.05 : 1.0));
  lossAxis_->setTickCount(6);
}

}  // namespace tb::widgets
