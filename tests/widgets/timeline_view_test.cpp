// TimelineView offscreen on a hand-built trace (two steps on the engine track, a loader worker, a
// GPU stream, a launch -> kernel flow, a zero-length mark): the layout arrives off the GUI thread
// and fits the trace; tooltips name the span with its args; the wheel zooms about the cursor; a
// drag pans; shift-drag selects a range with totals per category; search highlights and jumps;
// hovering a launch draws its flow; live snapshots follow the end only when the user is there.
// Saves screenshots of the small trace and of a 100k-span one.
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTest>
#include <QWheelEvent>

#include <memory>
#include <random>

#include "core/trace/model.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/timeline_view.h"

using tb::testing::kMs;
using tb::testing::ms;
using tb::testing::saveScreenshot;
using tb::testing::TraceBuilder;
using tb::trace::Category;
using tb::trace::Span;
using tb::trace::Trace;
using tb::trace::TrackKind;
using tb::widgets::RangeTotals;
using tb::widgets::TimelineView;

namespace {

// `steps` training steps of 10 ms each, as the engine and a PyTorch import would both record.
std::shared_ptr<const Trace> makeTrace(int steps) {
  TraceBuilder b;
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto loader = b.track("loader worker 1", TrackKind::loader_worker, "trainbench");
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  for (int i = 0; i < steps; ++i) {
    const double o = 10.0 * i;
    const std::int64_t step = i + 1;
    b.span(engine, "ProfilerStep#" + std::to_string(step), Category::step, ms(o), ms(o + 10), step);
    b.span(engine, "forward", Category::forward, ms(o + 0.5), ms(o + 4), step,
           R"({"batch": 64, "shape": [64, 784]})");
    b.span(engine, "backward", Category::backward, ms(o + 4), ms(o + 8.5), step);
    b.span(engine, "Adam.step", Category::optimizer, ms(o + 8.5), ms(o + 9.5), step);
    // The next step's batch loads across the boundary (the last one ends with the trace).
    b.span(loader, "DataLoader batch", Category::data, ms(o + 9.6),
           ms(i + 1 < steps ? o + 10.4 : o + 10), step);
    b.span(stream, "volta_sgemm_128x64_nn", Category::kernel, ms(o + 1), ms(o + 2), step,
           R"({"grid": [128, 4, 1]})");
    b.span(stream, "ncclAllReduce", Category::communication, ms(o + 8.6), ms(o + 9.4), step);
  }
  b.span(engine, "cudaLaunchKernel", Category::runtime, ms(0.6), ms(0.7), 1);
  b.span(engine, "mark", Category::annotation, ms(12), ms(12), 2);  // zero length
  b.flow(engine, ms(0.65), stream, ms(1.5));
  return b.build_shared();
}

std::uint32_t spanNamed(const Trace& t, std::string_view name, std::int64_t step = 1) {
  for (std::uint32_t i = 0; i < t.spans().size(); ++i) {
    if (t.name(t.spans()[i].name) == name && t.spans()[i].step == step) return i;
  }
  return UINT32_MAX;
}

void settle(TimelineView& view) {
  QTRY_VERIFY_WITH_TIMEOUT(view.isIdle() && view.layout() != nullptr, 10000);
}

void mouse(QWidget& w, QEvent::Type type, QPoint pos, Qt::MouseButton button,
           Qt::MouseButtons buttons, Qt::KeyboardModifiers modifiers = Qt::NoModifier) {
  QMouseEvent event(type, QPointF(pos), QPointF(w.mapToGlobal(pos)), button, buttons, modifiers);
  QApplication::sendEvent(&w, &event);
}

int xOf(const TimelineView& view, double ns) {
  return static_cast<int>(std::lround(view.mapping().toX(ns)));
}

}  // namespace

class TimelineViewTest : public QObject {
  Q_OBJECT

 private slots:
  void layoutArrivesAndFitsTheTrace() {
    TimelineView view;
    view.resize(1200, 420);
    QSignalSpy frames(&view, &TimelineView::frameReady);
    view.setTrace(makeTrace(2));
    settle(view);
    QVERIFY(frames.count() >= 1);
    QCOMPARE(view.mapping().start_ns, 0.0);
    QCOMPARE(view.mapping().end_ns(), 20.0 * kMs);
    // Three tracks: engine (step, phase, launch/mark rows), loader, stream.
    QCOMPARE(view.layout()->tracks().size(), std::size_t{3});
    QCOMPARE(view.layout()->tracks()[0].row_count, std::size_t{3});
    QVERIFY(view.drawList() != nullptr);
    QCOMPARE(view.drawList()->visible_spans, view.shownTrace()->spans().size());
    // The zero-length mark is in the draw list (painted as a 1-px tick).
    const auto mark = view.layout()->locate(spanNamed(*view.shownTrace(), "mark", 2));
    bool found = false;
    for (const auto& box : view.drawList()->boxes) {
      found = found || (box.row == mark.first && box.first <= mark.second &&
                        mark.second < box.first + box.count);
    }
    QVERIFY(found);
  }

  void tooltipNamesTheSpanWithItsArgs() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    const auto& t = *view.shownTrace();
    const auto at = view.spanCentre(spanNamed(t, "forward"));
    QVERIFY(at.has_value());
    QCOMPARE(view.spanAt(*at).value(), spanNamed(t, "forward"));
    const QString tip = view.tooltipAt(*at);
    QVERIFY2(tip.contains("<b>forward</b>"), qPrintable(tip));
    QVERIFY2(tip.contains("forward · engine"), qPrintable(tip));
    QVERIFY2(tip.contains("duration 3.500 ms"), qPrintable(tip));
    QVERIFY2(tip.contains("step 1"), qPrintable(tip));
    QVERIFY2(tip.contains("batch: 64"), qPrintable(tip));
    QVERIFY2(tip.contains("shape: [64,784]"), qPrintable(tip));
    // The kernel on the GPU stream, and nothing over the gutter or the gap between tracks.
    const QString kernel = view.tooltipAt(*view.spanCentre(spanNamed(t, "volta_sgemm_128x64_nn")));
    QVERIFY2(kernel.contains("kernel · stream 7") && kernel.contains("grid: [128,4,1]"),
             qPrintable(kernel));
    QVERIFY(view.tooltipAt(QPoint(20, at->y())).isEmpty());
    QVERIFY(view.tooltipAt(QPoint(at->x(), TimelineView::kRulerPx + 3 * TimelineView::kRowPx + 2))
                .isEmpty());
  }

  void wheelZoomsAboutTheCursorAndDragPans() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    const double before = view.mapping().ns_per_px;
    const QPointF cursor(700, 100);
    const double under = view.mapping().toTime(cursor.x());
    QWheelEvent wheel(cursor, view.mapToGlobal(cursor), QPoint(), QPoint(0, 240), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(&view, &wheel);
    QVERIFY(view.mapping().ns_per_px < before / 1.3);  // two notches: about 1.4x
    QVERIFY(std::abs(view.mapping().toTime(cursor.x()) - under) < view.mapping().ns_per_px);
    // Zooming out past the whole trace stops at the whole trace.
    QWheelEvent out(cursor, view.mapToGlobal(cursor), QPoint(), QPoint(0, -2400), Qt::NoButton,
                    Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(&view, &out);
    QCOMPARE(view.mapping().start_ns, 0.0);
    QCOMPARE(view.mapping().end_ns(), 20.0 * kMs);

    view.setTimeWindow(5.0 * kMs, 10.0 * kMs);
    const double start = view.mapping().start_ns;
    const double nspp = view.mapping().ns_per_px;
    mouse(view, QEvent::MouseButtonPress, QPoint(600, 100), Qt::LeftButton, Qt::LeftButton);
    mouse(view, QEvent::MouseMove, QPoint(650, 100), Qt::NoButton, Qt::LeftButton);
    mouse(view, QEvent::MouseMove, QPoint(700, 100), Qt::NoButton, Qt::LeftButton);
    mouse(view, QEvent::MouseButtonRelease, QPoint(700, 100), Qt::LeftButton, Qt::NoButton);
    QCOMPARE(view.mapping().start_ns, start - 100 * nspp);  // dragged right: earlier times
    QCOMPARE(view.mapping().ns_per_px, nspp);
    settle(view);
    QCOMPARE(view.drawList()->geometry, view.mapping());  // rebuilt for the new window
  }

  void rangeSelectionTotalsPerCategory() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    QSignalSpy selected(&view, &TimelineView::rangeSelected);
    view.selectRange(10 * kMs, 20 * kMs);
    QCOMPARE(selected.count(), 1);
    const RangeTotals totals = selected.takeFirst().at(0).value<RangeTotals>();
    auto ns = [&](Category c) { return totals.ns[static_cast<std::size_t>(c)]; };
    auto count = [&](Category c) { return totals.count[static_cast<std::size_t>(c)]; };
    // Step 1 ends where the range starts: it counts, with no time inside.
    QCOMPARE(count(Category::step), std::int64_t{2});
    QCOMPARE(ns(Category::step), 10 * kMs);
    QCOMPARE(ns(Category::forward), 3'500'000);
    QCOMPARE(ns(Category::backward), 4'500'000);
    QCOMPARE(ns(Category::optimizer), 1 * kMs);
    // The batch loaded across the boundary clipped to its 0.4 ms inside, and the last one.
    QCOMPARE(ns(Category::data), 800'000);
    QCOMPARE(count(Category::data), std::int64_t{2});
    QCOMPARE(ns(Category::kernel), 1 * kMs);
    QCOMPARE(count(Category::annotation), std::int64_t{1});
    QCOMPARE(ns(Category::communication), 800'000);
    QCOMPARE(totals.spans, std::int64_t{10});

    // The same by shift-drag with the mouse, between the pixels of 10 ms and 20 ms.
    mouse(view, QEvent::MouseButtonPress, QPoint(xOf(view, 10.0 * kMs), 60), Qt::LeftButton,
          Qt::LeftButton, Qt::ShiftModifier);
    mouse(view, QEvent::MouseMove, QPoint(xOf(view, 15.0 * kMs), 60), Qt::NoButton, Qt::LeftButton,
          Qt::ShiftModifier);
    mouse(view, QEvent::MouseButtonRelease, QPoint(xOf(view, 19.9 * kMs), 60), Qt::LeftButton,
          Qt::NoButton, Qt::ShiftModifier);
    QCOMPARE(selected.count(), 1);
    const RangeTotals dragged = selected.takeFirst().at(0).value<RangeTotals>();
    QVERIFY(std::abs(dragged.t0 - 10 * kMs) <= view.mapping().ns_per_px);
    QVERIFY(std::abs(dragged.t1 - static_cast<std::int64_t>(19.9 * kMs)) <=
            view.mapping().ns_per_px);
    QCOMPARE(view.selection()->t0, dragged.t0);
    QCOMPARE(dragged.count[static_cast<std::size_t>(Category::optimizer)], std::int64_t{1});
    // A plain click clears it.
    mouse(view, QEvent::MouseButtonPress, QPoint(500, 60), Qt::LeftButton, Qt::LeftButton);
    mouse(view, QEvent::MouseButtonRelease, QPoint(500, 60), Qt::LeftButton, Qt::NoButton);
    QVERIFY(!view.selection().has_value());
  }

  void searchHighlightsAndJumps() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    view.setSearch("SGEMM");
    settle(view);
    QCOMPARE(view.matchCount(), 2);
    std::size_t matched = 0;
    for (const auto& box : view.drawList()->boxes) matched += box.match ? 1 : 0;
    QCOMPARE(matched, std::size_t{2});
    view.setTimeWindow(0, 1 * kMs);
    view.nextMatch();
    const auto& t = *view.shownTrace();
    QCOMPARE(view.focusedSpan().value(), spanNamed(t, "volta_sgemm_128x64_nn", 1));
    view.nextMatch();
    QCOMPARE(view.focusedSpan().value(), spanNamed(t, "volta_sgemm_128x64_nn", 2));
    // The match is on screen, the zoom kept (a 1 ms window holds the 1 ms kernel with room).
    QVERIFY(view.mapping().start_ns <= 11.0 * kMs && view.mapping().end_ns() >= 12.0 * kMs);
    view.nextMatch();  // wraps around
    QCOMPARE(view.focusedSpan().value(), spanNamed(t, "volta_sgemm_128x64_nn", 1));
    view.previousMatch();
    QCOMPARE(view.focusedSpan().value(), spanNamed(t, "volta_sgemm_128x64_nn", 2));
    view.setSearch("");
    settle(view);
    QCOMPARE(view.matchCount(), 0);
    QVERIFY(!view.focusedSpan().has_value());
  }

  void hoverDrawsTheLaunchFlow() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    view.setTimeWindow(0, 3 * kMs);
    settle(view);
    const auto& t = *view.shownTrace();
    const auto launch = view.spanCentre(spanNamed(t, "cudaLaunchKernel"));
    QVERIFY(launch.has_value());
    mouse(view, QEvent::MouseMove, *launch, Qt::NoButton, Qt::NoButton);
    QCOMPARE(view.hoveredSpan().value(), spanNamed(t, "cudaLaunchKernel"));
    QCOMPARE(view.hoveredFlowCount(), 1);
    // The kernel end of the same flow.
    mouse(view, QEvent::MouseMove, *view.spanCentre(spanNamed(t, "volta_sgemm_128x64_nn")),
          Qt::NoButton, Qt::NoButton);
    QCOMPARE(view.hoveredFlowCount(), 1);
    mouse(view, QEvent::MouseMove, QPoint(20, launch->y()), Qt::NoButton,
          Qt::NoButton);  // the gutter
    QVERIFY(!view.hoveredSpan().has_value());
    QCOMPARE(view.hoveredFlowCount(), 0);
  }

  void liveSnapshotsFollowTheEndOnlyThere() {
    TimelineView view;
    view.resize(1200, 420);
    view.setTrace(makeTrace(2));
    settle(view);
    QCOMPARE(view.mapping().end_ns(), 20.0 * kMs);
    // At the live edge: the window follows the new end, at the same zoom.
    view.setTrace(makeTrace(3));
    settle(view);
    QCOMPARE(view.mapping().end_ns(), 30.0 * kMs);
    QCOMPARE(view.mapping().duration_ns(), 20.0 * kMs);
    QCOMPARE(view.shownTrace()->spans().size(), makeTrace(3)->spans().size());
    // Scrolled back: the window stays put.
    view.setTimeWindow(2 * kMs, 5 * kMs);
    view.setTrace(makeTrace(4));
    settle(view);
    QCOMPARE(view.mapping().start_ns, 2.0 * kMs);
    QCOMPARE(view.mapping().end_ns(), 5.0 * kMs);
    QCOMPARE(view.layout()->endNs(), 40 * kMs);
    // A selection's totals are recomputed on the new snapshot.
    view.selectRange(30 * kMs, 40 * kMs);
    const auto before = view.selection()->spans;
    view.setTrace(makeTrace(5));
    settle(view);
    QCOMPARE(view.selection()->spans, before + 1);  // step 5 starts at 40 ms: it touches
  }

  void destroyedWhileBuilding() {
    // The pool thread must not post into a dead widget.
    auto t = makeTrace(400);
    for (int i = 0; i < 5; ++i) {
      auto view = std::make_unique<TimelineView>();
      view->setTrace(t);
    }
    QTest::qWait(200);
  }

  void screenshots() {
    TimelineView view;
    view.resize(1200, 300);
    view.show();
    view.setTrace(makeTrace(2));
    settle(view);
    view.selectRange(10 * kMs, 20 * kMs);
    mouse(view, QEvent::MouseMove,
          *view.spanCentre(spanNamed(*view.shownTrace(), "cudaLaunchKernel")), Qt::NoButton,
          Qt::NoButton);
    saveScreenshot(view, "timeline_view.png");

    // A larger trace: 16 tracks, nested spans, a 5% window with the search on.
    auto big = std::make_shared<Trace>();
    std::mt19937_64 rng(1);
    const char* names[] = {"aten::conv2d", "aten::mm", "volta_sgemm_128x64_nn", "DataLoader batch",
                           "Memcpy HtoD"};
    for (int k = 0; k < 16; ++k) {
      const bool gpu = k >= 4 && k < 12;
      const auto track = big->add_track({(gpu ? "stream " : "thread ") + std::to_string(k),
                                         gpu ? TrackKind::gpu_stream : TrackKind::cpu_thread,
                                         gpu ? "GPU 0" : "host", 0});
      std::int64_t at = 0;
      for (int top = 0; top < 2000; ++top) {
        const std::int64_t d = 20'000 + static_cast<std::int64_t>(rng() % 2'000'000);
        Span s;
        s.track = track;
        s.start_ns = at;
        s.end_ns = at + d;
        s.name = big->intern(names[rng() % 5]);
        s.category = gpu ? Category::kernel : Category::step;
        big->add_span(s);
        std::int64_t c = at;
        for (int child = 0; child < 3; ++child) {
          const std::int64_t len =
              static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(d / 3));
          Span cs = s;
          cs.start_ns = c;
          cs.end_ns = c + len;
          cs.category = static_cast<Category>(1 + (child + k) % 14);
          cs.name = big->intern(names[(child + k) % 5]);
          big->add_span(cs);
          c += d / 3;
        }
        at += d + static_cast<std::int64_t>(rng() % 200'000);
      }
    }
    big->finish();
    view.clearSelection();
    view.resize(1400, 700);
    view.setTrace(big);
    settle(view);
    view.showAll();
    settle(view);
    QVERIFY(view.layout()->spanCount() == big->spans().size());
    saveScreenshot(view, "timeline_view_many_tracks.png");
    view.setTimeWindow(0.40 * view.layout()->endNs(), 0.42 * view.layout()->endNs());
    view.setSearch("sgemm");
    settle(view);
    QVERIFY(view.matchCount() > 0);
    saveScreenshot(view, "timeline_view_search.png");
  }
};

QTEST_MAIN(TimelineViewTest)
#include "timeline_view_test.moc"
