// MemoryPlot offscreen: one line per "memory allocated/reserved" counter (other counters left
// out), drawn as steps; the peak found over every sample and marked with its value; an engine
// session traced with CUPTI plots CUPTI's device memory counter beside the engine's; counters
// with a million samples thinned to a bounded series that keeps the peak; a click in the plot
// asks for that time; live snapshots replace the data. Saves a screenshot.
#include <QLineSeries>
#include <QMouseEvent>
#include <QPen>
#include <QScatterSeries>
#include <QSignalSpy>
#include <QTest>
#include <QValueAxis>

#include <cmath>
#include <memory>

#include "core/trace/gpu_activity.h"
#include "core/trace/model.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/memory_plot.h"

using tb::testing::kMs;
using tb::testing::saveScreenshot;
using tb::testing::TraceBuilder;
using tb::trace::Trace;
using tb::widgets::MemoryPlot;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// Allocated memory saws up and down each 10 ms step (activations freed after backward), peaking
// at 900 MiB at 34 ms; the caching allocator's reserved memory only grows. Plus a counter that is
// not memory. `steps` steps; the trace ends with the last step span.
std::shared_ptr<const Trace> makeTrace(int steps) {
  TraceBuilder b;
  const auto engine = b.track("engine", tb::trace::TrackKind::cpu_thread, "trainbench");
  b.span(engine, "step", tb::trace::Category::step, 0, steps * 10 * kMs);
  const auto allocated = b.counter("memory allocated (cuda:0)", "bytes");
  const auto reserved = b.counter("memory reserved (cuda:0)", "bytes");
  const auto queue = b.counter("loader queue depth", "batches");
  for (int i = 0; i < steps; ++i) {
    const std::int64_t o = i * 10 * kMs;
    b.point(allocated, o, 200 * kMiB);
    b.point(allocated, o + 4 * kMs, (i == 3 ? 900 : 600) * kMiB);
    b.point(allocated, o + 8 * kMs, 250 * kMiB);
    b.point(reserved, o, (400 + 100 * std::min(i, 5)) * kMiB);
    b.point(queue, o, 2.0);
  }
  return b.build_shared();
}

}  // namespace

class MemoryPlotTest : public QObject {
  Q_OBJECT

 private slots:
  void plotsMemoryCountersAndMarksThePeak() {
    MemoryPlot plot;
    plot.resize(800, 400);
    plot.setTrace(makeTrace(6));
    QCOMPARE(plot.seriesCount(), 2);  // the queue depth is not memory
    QCOMPARE(plot.series(0)->name(), QString("memory allocated (cuda:0)"));
    QCOMPARE(plot.series(1)->name(), QString("memory reserved (cuda:0)"));
    QVERIFY(plot.peakBytes().has_value());
    QCOMPARE(*plot.peakBytes(), 900 * kMiB);
    QCOMPARE(plot.peakTimeNs(), 34 * kMs);
    QCOMPARE(plot.peakCounter(), QString("memory allocated (cuda:0)"));
    QCOMPARE(plot.peakSeries()->count(), 1);
    QCOMPARE(plot.peakSeries()->at(0), QPointF(34.0, 900.0));  // ms, MiB
    QVERIFY(plot.peakSeries()->pointLabelsFormat().contains("900.0 MiB"));
    // Steps: 18 samples become 18 + 17 corners, plus the hold to the trace's end (60 ms).
    QCOMPARE(plot.series(0)->count(), 18 + 17 + 1);
    QCOMPARE(plot.series(0)->at(1), QPointF(4.0, 200.0));  // still 200 until the sample at 4 ms
    QCOMPARE(plot.series(0)->at(2), QPointF(4.0, 600.0));
    QCOMPARE(plot.series(0)->points().back(), QPointF(60.0, 250.0));
    QCOMPARE(plot.timeAxis()->max(), 60.0);
    QVERIFY(plot.bytesAxis()->max() >= 900.0);
    QVERIFY(plot.bytesAxis()->titleText().contains("MiB"));
  }

  // An engine session on a GPU traced with CUPTI: the host's tensor memory, the engine's CUDA
  // allocated and reserved memory, and the counter the CUPTI converter makes of the device's
  // allocations (named by the converter itself here, so a renamed counter fails this test). All
  // four are lines; CUPTI's is drawn as reserved memory (dashed), its running total as steps.
  void plotsTheCuptiCounterBesideTheEngines() {
    TraceBuilder b;
    const auto engine = b.track("engine", tb::trace::TrackKind::cpu_thread, "trainbench");
    b.span(engine, "step", tb::trace::Category::step, 0, 40 * kMs);
    const auto host = b.counter("memory allocated (cpu)", "bytes");
    const auto allocated = b.counter("memory allocated (cuda)", "bytes");
    const auto reserved = b.counter("memory reserved (cuda)", "bytes");
    b.point(host, 0, 50 * kMiB);
    b.point(host, 20 * kMs, 60 * kMiB);
    b.point(allocated, 1 * kMs, 300 * kMiB);
    b.point(allocated, 10 * kMs, 700 * kMiB);
    b.point(allocated, 30 * kMs, 300 * kMiB);
    b.point(reserved, 12 * kMs, 800 * kMiB);
    constexpr auto kMiBBytes = std::int64_t{1} << 20;
    tb::trace::GpuActivity activity;
    activity.memory = {
        {.allocation = true, .bytes = 512 * kMiBBytes, .time_ns = 2 * kMs, .address = 0x1000},
        {.allocation = true, .bytes = 256 * kMiBBytes, .time_ns = 9 * kMs, .address = 0x2000},
        {.allocation = false, .bytes = 256 * kMiBBytes, .time_ns = 31 * kMs, .address = 0x2000}};
    tb::trace::GpuActivityConverter().append(activity, b.trace);

    MemoryPlot plot;
    plot.resize(800, 400);
    plot.setTrace(b.build_shared());
    QCOMPARE(plot.seriesCount(), 4);
    QStringList names;
    for (int i = 0; i < plot.seriesCount(); ++i) names.append(plot.series(i)->name());
    const QString cupti("memory reserved (GPU 0, CUPTI)");
    for (const QString& name :
         {QString("memory allocated (cpu)"), QString("memory allocated (cuda)"),
          QString("memory reserved (cuda)"), cupti}) {
      QVERIFY2(names.contains(name), qPrintable(names.join(", ")));
    }
    const QLineSeries* line = plot.series(static_cast<int>(names.indexOf(cupti)));
    // 512, 768, 512 MiB at 2, 9, 31 ms: 3 samples, 2 corners, held to the trace's end (40 ms).
    const QList<QPointF> expected = {{2.0, 512.0},  {9.0, 512.0},  {9.0, 768.0},
                                     {31.0, 768.0}, {31.0, 512.0}, {40.0, 512.0}};
    QCOMPARE(line->points(), expected);
    QCOMPARE(line->pen().style(), Qt::DashLine);
    const QLineSeries* cuda =
        plot.series(static_cast<int>(names.indexOf("memory allocated (cuda)")));
    QCOMPARE(cuda->pen().style(), Qt::SolidLine);
    // The peak is of allocated memory, the engine's CUDA tensors at 10 ms.
    QCOMPARE(*plot.peakBytes(), 700 * kMiB);
    QCOMPARE(plot.peakCounter(), QString("memory allocated (cuda)"));
    QVERIFY(plot.bytesAxis()->max() >= 800.0);
  }

  void noMemoryCounters() {
    MemoryPlot plot;
    auto t = std::make_shared<Trace>();
    t->add_counter("loss_scale", "");
    t->finish();
    plot.setTrace(t);
    QCOMPARE(plot.seriesCount(), 0);
    QVERIFY(!plot.peakBytes().has_value());
    QVERIFY(plot.chart()->title().contains("No memory"));
    QVERIFY(!plot.timeAt(QPoint(100, 100)).has_value());
  }

  void millionSamplesAreThinnedKeepingThePeak() {
    auto t = std::make_shared<Trace>();
    const auto c = t->add_counter("memory allocated (cpu)", "bytes");
    for (std::int64_t i = 0; i < 1'000'000; ++i) {
      const double wave = 1e9 + 2e8 * std::sin(static_cast<double>(i) * 1e-3);
      t->add_counter_point(c, i * 1000, i == 777'777 ? 5e9 : wave);  // one spike, one sample wide
    }
    t->finish();
    MemoryPlot plot;
    plot.setTrace(t);
    QVERIFY(plot.series(0)->count() <= MemoryPlot::kMaxPointsPerSeries + 1);
    QCOMPARE(*plot.peakBytes(), 5e9);
    QCOMPARE(plot.peakTimeNs(), std::int64_t{777'777'000});
    double drawnMax = 0;
    for (const QPointF& p : plot.series(0)->points()) drawnMax = std::max(drawnMax, p.y());
    QCOMPARE(drawnMax, 5e9 / (1024.0 * 1024 * 1024));  // the spike survived, in GiB
    QVERIFY(plot.bytesAxis()->titleText().contains("GiB"));
  }

  void clickRequestsThatTime() {
    MemoryPlot plot;
    plot.resize(800, 400);
    plot.show();
    plot.setTrace(makeTrace(6));
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    QSignalSpy requested(&plot, &MemoryPlot::timeRequested);
    // The widget point of 25 ms, half way up.
    const QRectF area = plot.chart()->plotArea();
    const QPointF inChart = plot.chart()->mapToPosition(QPointF(25.0, 100.0), plot.series(0));
    const QPoint pos = plot.mapFromScene(plot.chart()->mapToScene(inChart));
    QVERIFY(area.contains(inChart));
    QTest::mouseClick(plot.viewport(), Qt::LeftButton, Qt::NoModifier, pos);
    QCOMPARE(requested.count(), 1);
    const qint64 ns = requested.takeFirst().at(0).toLongLong();
    // Within a pixel of 25 ms (60 ms over the plot's width).
    QVERIFY2(std::abs(ns - 25 * kMs) <= static_cast<qint64>(60 * kMs / area.width()) + 1,
             qPrintable(QString::number(ns)));
    // Outside the plot area (the legend below it): nothing.
    QTest::mouseClick(plot.viewport(), Qt::LeftButton, Qt::NoModifier,
                      QPoint(5, plot.height() - 5));
    QCOMPARE(requested.count(), 0);
  }

  void liveSnapshotsReplaceTheData() {
    MemoryPlot plot;
    plot.setTrace(makeTrace(2));
    QCOMPARE(plot.seriesCount(), 2);
    QCOMPARE(*plot.peakBytes(), 600 * kMiB);
    plot.setTrace(makeTrace(6));
    QCOMPARE(plot.seriesCount(), 2);
    QCOMPARE(*plot.peakBytes(), 900 * kMiB);
    QCOMPARE(plot.timeAxis()->max(), 60.0);
  }

  void screenshot() {
    MemoryPlot plot;
    plot.resize(800, 400);
    plot.show();
    plot.setTrace(makeTrace(6));
    saveScreenshot(plot, "memory_plot.png");
  }
};

QTEST_MAIN(MemoryPlotTest)
#include "memory_plot_test.moc"
