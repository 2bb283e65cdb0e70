// MetricChart: points arrive in batches (not one repaint per point), the axes follow the data,
// stored sessions replace everything, and long runs are thinned to a bounded point count.
#include <QLineSeries>
#include <QSignalSpy>
#include <QTest>
#include <QValueAxis>

#include "widgets/metric_chart.h"

using tb::widgets::MetricChart;

class MetricChartTest : public QObject {
  Q_OBJECT

 private slots:
  void appendedPointsArriveInOneBatch() {
    MetricChart chart;
    QSignalSpy replaced(chart.lossSeries(), &QXYSeries::pointsReplaced);
    QSignalSpy added(chart.lossSeries(), &QXYSeries::pointAdded);
    for (int step = 1; step <= 200; ++step) chart.appendLoss(step, 2.0 / step);
    chart.appendAccuracy(100, 0.61);
    chart.appendAccuracy(200, 0.83);
    // Buffered until the timer fires: nothing drawn per point.
    QCOMPARE(chart.lossPointCount(), 0);
    QCOMPARE(chart.pendingPointCount(), 202);
    QTRY_COMPARE(chart.lossPointCount(), 200);
    QCOMPARE(chart.accuracyPointCount(), 2);
    QCOMPARE(chart.pendingPointCount(), 0);
    QCOMPARE(replaced.count(), 1);
    QCOMPARE(added.count(), 0);
  }

  void axesFollowTheData() {
    MetricChart chart;
    for (int step = 1; step <= 50; ++step) chart.appendLoss(step, 2.3 - step * 0.02);
    chart.appendAccuracy(50, 0.9);
    chart.appendTestLoss(50, 0.8);
    chart.flush();
    QCOMPARE(chart.stepAxis()->min(), 0.0);
    QCOMPARE(chart.stepAxis()->max(), 50.0);
    QCOMPARE(chart.lossAxis()->min(), 0.0);
    // Above the largest loss, on a round number.
    QVERIFY(chart.lossAxis()->max() >= 2.28);
    QCOMPARE(chart.lossAxis()->max(), 2.5);
    QCOMPARE(chart.accuracyAxis()->min(), 0.0);
    QCOMPARE(chart.accuracyAxis()->max(), 1.0);
    QCOMPARE(chart.testLossPointCount(), 1);

    // More points further out: the step axis grows, the loss axis grows for a bigger loss.
    chart.appendLoss(120, 7.0);
    chart.flush();
    QCOMPARE(chart.stepAxis()->max(), 120.0);
    QCOMPARE(chart.lossAxis()->max(), 10.0);
  }

  void expectedStepsGrowTheAxisInRoundSteps() {
    MetricChart chart;
    chart.setExpectedSteps(1000);
    chart.appendLoss(1, 2.0);
    chart.appendLoss(90, 1.0);
    chart.flush();
    QCOMPARE(chart.stepAxis()->max(), 100.0);  // room ahead, on a round number
    chart.appendLoss(95, 1.0);
    chart.flush();
    QCOMPARE(chart.stepAxis()->max(), 200.0);
    chart.appendLoss(990, 1.0);
    chart.flush();
    QCOMPARE(chart.stepAxis()->max(), 1000.0);  // never past the run's end
    chart.setExpectedSteps(0);
    QCOMPARE(chart.stepAxis()->max(), 990.0);  // fits the data
  }

  void setSeriesReplacesAndClearEmpties() {
    MetricChart chart;
    chart.appendLoss(1, 9.0);  // pending live point, dropped by setSeries
    chart.setSeries({{10, 1.0}, {20, 0.5}, {30, 0.4}}, {{15, 0.7}, {30, 0.8}}, {{30, 0.45}});
    QCOMPARE(chart.lossPointCount(), 3);
    QCOMPARE(chart.accuracyPointCount(), 2);
    QCOMPARE(chart.testLossPointCount(), 1);
    QCOMPARE(chart.pendingPointCount(), 0);
    QCOMPARE(chart.stepAxis()->max(), 30.0);
    QCOMPARE(chart.lossAxis()->max(), 2.0);
    QTest::qWait(250);  // the dropped live point does not come back on a timer
    QCOMPARE(chart.lossPointCount(), 3);
    QCOMPARE(chart.lossSeries()->at(2), QPointF(30, 0.4));

    chart.clear();
    QCOMPARE(chart.lossPointCount(), 0);
    QCOMPARE(chart.accuracyPointCount(), 0);
    QCOMPARE(chart.stepAxis()->max(), 1.0);
    QCOMPARE(chart.lossAxis()->max(), 1.0);
  }

  void longRunsAreThinned() {
    MetricChart chart;
    const int steps = MetricChart::maxPoints() * 3;
    for (int step = 1; step <= steps; ++step) chart.appendLoss(step, 1.0);
    chart.flush();
    QVERIFY(chart.lossPointCount() <= MetricChart::maxPoints());
    QVERIFY(chart.lossPointCount() > MetricChart::maxPoints() / 4);
    // The latest step is kept exactly, so the curve ends where the run is.
    QCOMPARE(chart.lossSeries()->at(chart.lossPointCount() - 1), QPointF(steps, 1.0));
    QCOMPARE(chart.stepAxis()->max(), double(steps));
  }
};

QTEST_MAIN(MetricChartTest)
#include "metric_chart_test.moc"
