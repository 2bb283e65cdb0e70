// StepBreakdownView offscreen: the analysis runs off the GUI thread and comes back as one stacked
// bar per step whose parts sum to the step, with the verdict's headline, evidence and suggestion
// in the panel, and a warning there when the session's CUPTI tracing dropped records; long runs
// show their latest steps; a bar click gives the step's time range. Then ProfilerView: the three
// views on one trace, a memory click centring the timeline and a step click zooming it to the
// step. Saves screenshots of both.
#include <QBarSet>
#include <QSignalSpy>
#include <QStackedBarSeries>
#include <QTest>

#include <memory>

#include "core/trace/model.h"
#include "core/trace/verdict.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/memory_plot.h"
#include "widgets/profiler_view.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/timeline_view.h"

using tb::testing::kMs;
using tb::testing::ms;
using tb::testing::saveScreenshot;
using tb::testing::TraceBuilder;
using tb::trace::Category;
using tb::trace::StepPart;
using tb::trace::Trace;
using tb::trace::TrackKind;
using tb::widgets::ProfilerView;
using tb::widgets::StepBreakdownView;

namespace {

// An engine run that waits for data 40% of each 10 ms step: input-bound. With `memory`, memory
// counters too, and a loader worker decoding the batches.
std::shared_ptr<const Trace> inputBoundTrace(int steps, bool memory = false) {
  TraceBuilder b;
  b.trace.metadata["source"] = "trainbench";
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto worker = b.track("loader worker 1", TrackKind::loader_worker, "trainbench");
  const auto allocated = b.counter("memory allocated (cpu)", "bytes");
  for (int i = 0; i < steps; ++i) {
    const double o = 10.0 * i;
    const std::int64_t step = i + 1;
    b.span(engine, "step " + std::to_string(step), Category::step, ms(o), ms(o + 10), step);
    b.span(engine, "data wait", Category::data, ms(o), ms(o + 4), step);
    b.span(engine, "forward", Category::forward, ms(o + 4), ms(o + 6), step);
    b.span(engine, "backward", Category::backward, ms(o + 6), ms(o + 9), step);
    b.span(engine, "optimizer", Category::optimizer, ms(o + 9), ms(o + 10), step);
    if (memory) {
      b.span(worker, "decode batch", Category::data, ms(o + 0.5), ms(o + 3.5), step);
      b.point(allocated, ms(o), 64e6);
      b.point(allocated, ms(o + 6), (i == 4 ? 260e6 : 180e6));
      b.point(allocated, ms(o + 9.5), 70e6);
    }
  }
  return b.build_shared();
}

void settle(StepBreakdownView& view) {
  QTRY_VERIFY_WITH_TIMEOUT(view.isIdle(), 10000);
}

}  // namespace

class StepBreakdownViewTest : public QObject {
  Q_OBJECT

 private slots:
  void barsPerStepAndTheVerdict() {
    StepBreakdownView view;
    view.resize(800, 600);
    QSignalSpy ready(&view, &StepBreakdownView::reportReady);
    view.setTrace(inputBoundTrace(5), {.loader_workers = 0});
    settle(view);
    QVERIFY(ready.count() >= 1);
    QCOMPARE(view.report().steps.size(), std::size_t{5});
    QCOMPARE(view.barCount(), 5);
    QCOMPARE(view.barSeries()->count(), tb::trace::kStepPartCount);  // one set a part
    // Every bar's parts add up to its step's 10 ms.
    for (int i = 0; i < 5; ++i) {
      double sum = 0;
      for (int p = 0; p < tb::trace::kStepPartCount; ++p)
        sum += view.partSet(static_cast<StepPart>(p))->at(i);
      QVERIFY2(std::abs(sum - 10.0) < 1e-9, qPrintable(QString::number(sum)));
    }
    QCOMPARE(view.partSet(StepPart::data)->at(2), 4.0);
    QCOMPARE(view.partSet(StepPart::backward)->at(2), 3.0);
    QCOMPARE(view.partSet(StepPart::data)->label(), QString("data"));
    QCOMPARE(view.verdict().bound, tb::trace::Bound::input);
    const QString text = view.verdictText();
    QVERIFY2(text.contains("input-bound"), qPrintable(text));
    QVERIFY2(text.contains("Evidence") && text.contains("mean step"), qPrintable(text));
    QVERIFY2(text.contains("Suggestion") &&
                 text.contains(QString::fromStdString(view.verdict().suggestion)),
             qPrintable(text));
  }

  void droppedCuptiRecordsWarnInTheVerdict() {
    // The facts as the profile controller reads them from a CUDA run's stored params.
    StepBreakdownView dropped;
    dropped.setTrace(inputBoundTrace(5), tb::trace::session_facts({
                                             {"data.loader.workers", "0"},
                                             {"profile.cupti", "on"},
                                             {"profile.cupti_dropped_records", "1234"},
                                         }));
    StepBreakdownView complete;
    complete.setTrace(inputBoundTrace(5), tb::trace::session_facts({
                                              {"data.loader.workers", "0"},
                                              {"profile.cupti", "on"},
                                              {"profile.cupti_dropped_records", "0"},
                                          }));
    settle(dropped);
    settle(complete);
    const QString warned = dropped.verdictText();
    QVERIFY2(warned.contains("CUPTI dropped 1234 records: the kernel timeline is incomplete"),
             qPrintable(warned));
    QVERIFY2(warned.contains("input-bound"), qPrintable(warned));  // the verdict itself stands
    const QString clean = complete.verdictText();
    QVERIFY2(clean.contains("input-bound") && !clean.contains("CUPTI"), qPrintable(clean));
  }

  void aBarClickGivesTheStepsRange() {
    StepBreakdownView view;
    view.setTrace(inputBoundTrace(5), {.loader_workers = 0});
    settle(view);
    QSignalSpy clicked(&view, &StepBreakdownView::stepClicked);
    emit view.barSeries()->clicked(2, view.partSet(StepPart::forward));
    QCOMPARE(clicked.count(), 1);
    QCOMPARE(clicked.at(0).at(0).toLongLong(), 20 * kMs);
    QCOMPARE(clicked.at(0).at(1).toLongLong(), 30 * kMs);
  }

  void longRunsShowTheLatestSteps() {
    StepBreakdownView view;
    view.setTrace(inputBoundTrace(300), {.loader_workers = 0});
    settle(view);
    QCOMPARE(view.barCount(), StepBreakdownView::kMaxBars);
    QCOMPARE(view.firstShownStep(), 300 - StepBreakdownView::kMaxBars);
    QCOMPARE(view.partSet(StepPart::data)->count(), StepBreakdownView::kMaxBars);
    // A click on the first bar shown is step 181, not step 1.
    QSignalSpy clicked(&view, &StepBreakdownView::stepClicked);
    emit view.barSeries()->clicked(0, view.partSet(StepPart::data));
    QCOMPARE(clicked.at(0).at(0).toLongLong(), 1800 * kMs);
  }

  void liveSnapshotsAndNoSteps() {
    StepBreakdownView view;
    view.setTrace(inputBoundTrace(3), {.loader_workers = 0});
    view.setTrace(inputBoundTrace(6), {.loader_workers = 0});  // while the first is being analysed
    settle(view);
    QCOMPARE(view.barCount(), 6);
    auto empty = std::make_shared<Trace>();
    empty->finish();
    view.setTrace(empty);
    settle(view);
    QCOMPARE(view.barCount(), 0);
    QVERIFY2(view.verdictText().contains("no training steps"), qPrintable(view.verdictText()));
    // An analysis made elsewhere replaces it directly.
    tb::trace::BreakdownReport report;
    report.steps.resize(2);
    report.steps[1].step = 7;
    tb::trace::Verdict verdict;
    verdict.headline = "balanced: no single part dominates the step";
    verdict.evidence = {"one", "two"};
    view.setReport(report, verdict);
    QCOMPARE(view.barCount(), 2);
    QVERIFY(view.verdictText().contains("balanced"));
    QVERIFY(view.verdictText().contains("two"));
  }

  void screenshot() {
    StepBreakdownView view;
    view.resize(800, 600);
    view.show();
    view.setTrace(inputBoundTrace(12), {.loader_workers = 0});
    settle(view);
    saveScreenshot(view, "step_breakdown_view.png");
  }

  void profilerViewWiresTheThree() {
    ProfilerView profiler;
    profiler.resize(1400, 900);
    profiler.show();
    profiler.setTrace(inputBoundTrace(8, true), {.loader_workers = 0, .cupti_dropped_records = 9});
    auto* timeline = profiler.timeline();
    QTRY_VERIFY_WITH_TIMEOUT(timeline->isIdle() && timeline->layout() != nullptr, 10000);
    settle(*profiler.stepBreakdown());
    QCOMPARE(profiler.memoryPlot()->seriesCount(), 1);
    QCOMPARE(*profiler.memoryPlot()->peakBytes(), 260e6);
    QCOMPARE(profiler.stepBreakdown()->barCount(), 8);
    QVERIFY(profiler.stepBreakdown()->verdictText().contains("CUPTI dropped 9 records"));
    // A step's bar: the timeline shows that step, with 5% either side.
    emit profiler.stepBreakdown()->barSeries()->clicked(
        3, profiler.stepBreakdown()->partSet(StepPart::data));
    QCOMPARE(timeline->mapping().start_ns, 29.5 * kMs);
    QCOMPARE(timeline->mapping().end_ns(), 40.5 * kMs);
    // The memory plot's peak: the timeline centres on it, keeping the zoom.
    emit profiler.memoryPlot()->timeRequested(profiler.memoryPlot()->peakTimeNs());
    QCOMPARE(timeline->mapping().start_ns + timeline->mapping().duration_ns() / 2, 46.0 * kMs);
    QCOMPARE(timeline->mapping().duration_ns(), 11.0 * kMs);
    QTRY_VERIFY_WITH_TIMEOUT(timeline->isIdle(), 10000);
    saveScreenshot(profiler, "profiler_view.png");
  }
};

QTEST_MAIN(StepBreakdownViewTest)
#include "step_breakdown_view_test.moc"
