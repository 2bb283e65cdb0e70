// The Profile tab end to end: a run's trace reaches the tab while and after it records (through
// the engine's recorder, the session database and the off-thread loader), and picking a stored
// session — here an imported PyTorch-style trace — shows its timeline, steps and verdict, with
// the warning when the session's params say CUPTI dropped records.
#include <QLabel>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

#include <nlohmann/json.hpp>

#include "app/gui/main_window.h"
#include "core/store/trace_store.h"
#include "tests/support/test_data.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/memory_plot.h"
#include "widgets/profiler_view.h"
#include "widgets/project_editor.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/timeline_view.h"

using tb::app::MainWindow;

namespace {

// Four 100 ms steps of which the first 40 ms wait for data: an input-bound trace, stored the
// way import-trace stores one.
tb::store::SessionId storeInputBoundTrace(const std::filesystem::path& db) {
  using namespace tb::trace;
  tb::store::SessionStore store(db);
  const auto id = store.create_session({"imported", "{}", "", "test", 0});
  Trace trace;
  const TrackId host = trace.track_named("thread 1", TrackKind::cpu_thread, "CPU");
  const TrackId stream = trace.track_named("stream 7", TrackKind::gpu_stream, "GPU 0");
  const std::int64_t ms = 1'000'000;
  for (std::int64_t step = 1; step <= 4; ++step) {
    const std::int64_t t = (step - 1) * 100 * ms;
    trace.add_span({t,
                    t + 100 * ms,
                    step,
                    host,
                    trace.intern("ProfilerStep#" + std::to_string(step)),
                    {},
                    Category::step});
    trace.add_span({t,
                    t + 40 * ms,
                    step,
                    host,
                    trace.intern("enumerate(DataLoader)#_SingleProcessDataLoaderIter.__next__"),
                    {},
                    Category::data});
    trace.add_span({t + 45 * ms,
                    t + 95 * ms,
                    step,
                    stream,
                    trace.intern("volta_sgemm_128x64_nn"),
                    {},
                    Category::kernel});
  }
  trace.finish();
  tb::store::TraceWriter(store, id).append(trace);
  store.finish_session(id, "completed", "{}");
  return id;
}

}  // namespace

class MainWindowProfileTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { tb::testing::write_synthetic_fashion_mnist(data_.path(), 512, 256); }

  void aRunsTraceReachesTheProfileTab() {
    tb::testing::TempDir home("trainbench-gui-profile");
    MainWindow window(home / "sessions.db");
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.showProfile();
    nlohmann::json project = {
        {"name", "profiled"},
        {"seed", 3},
        {"data", {{"path", data_.path().string()}, {"batch_size", 64}}},
        {"model", {{"type", "mlp"}, {"hidden", {32}}}},
        {"train", {{"epochs", 2}, {"threads", 1}}},
    };
    window.editor()->setText(QString::fromStdString(project.dump()));
    QSignalSpy finished(window.controller(), &tb::app::RunController::finished);
    QSignalSpy loadFailed(window.profileLoader(), &tb::app::ProfileController::failed);
    QSignalSpy loaded(window.profileLoader(), &tb::app::ProfileController::loaded);
    window.startRun();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    const auto result = finished.first().first().value<tb::run::RunResult>();
    QVERIFY2(result.status == "completed", result.error.c_str());
    QCOMPARE(window.profiledSession(), result.session);
    window.showProfile();  // Run brings the Train tab to the front

    // After the run, its whole trace: 16 steps (2 epochs of 512 / 64), each with its phases.
    auto* timeline = window.profiler()->timeline();
    const auto stepsShown = [&] {
      const auto trace = timeline->shownTrace();
      if (!trace) return 0;
      int steps = 0;
      for (const auto& span : trace->spans()) steps += span.category == tb::trace::Category::step;
      return steps;
    };
    QTRY_VERIFY_WITH_TIMEOUT(loaded.count() > 0 || loadFailed.count() > 0, 20000);
    QVERIFY2(loadFailed.isEmpty(),
             loadFailed.isEmpty() ? "" : qPrintable(loadFailed.first().at(1).toString()));
    QTRY_COMPARE_WITH_TIMEOUT(stepsShown(), 16, 20000);
    // The tensor memory counter came along.
    QVERIFY(timeline->shownTrace()->find_counter("memory allocated (cpu)").has_value());
    auto* steps = window.profiler()->stepBreakdown();
    QTRY_VERIFY_WITH_TIMEOUT(steps->isIdle() && steps->barCount() > 0, 20000);
    QVERIFY(!steps->verdictText().isEmpty());
    tb::testing::saveScreenshot(window, QStringLiteral("main_window_profile_run.png"));
  }

  void aRunningSessionsTraceArrivesWhileItRecords() {
    tb::testing::TempDir home("trainbench-gui-profile");
    MainWindow window(home / "sessions.db");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    nlohmann::json project = {
        {"name", "long"},
        {"seed", 3},
        {"data", {{"path", data_.path().string()}, {"batch_size", 64}}},
        {"model", {{"type", "mlp"}, {"hidden", {256, 256}}}},
        {"train", {{"epochs", 500}, {"threads", 1}}},
    };
    window.editor()->setText(QString::fromStdString(project.dump()));
    QSignalSpy finished(window.controller(), &tb::app::RunController::finished);
    window.startRun();
    window.showProfile();
    // The engine flushes its trace every second and the tab reloads it every second: a snapshot
    // with steps arrives while the run is still going, and a later one has more of them.
    auto* timeline = window.profiler()->timeline();
    const auto stepsShown = [&] {
      const auto trace = timeline->shownTrace();
      std::size_t steps = 0;
      if (trace) {
        for (const auto& span : trace->spans()) steps += span.category == tb::trace::Category::step;
      }
      return steps;
    };
    QTRY_VERIFY_WITH_TIMEOUT(stepsShown() > 0, 20000);
    QVERIFY(window.controller()->isRunning());
    const std::size_t first = stepsShown();
    QTRY_VERIFY_WITH_TIMEOUT(stepsShown() > first, 20000);
    QVERIFY(window.controller()->isRunning());
    window.stopRun();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
  }

  void pickingAStoredSessionShowsItsProfile() {
    tb::testing::TempDir home("trainbench-gui-profile");
    const auto id = storeInputBoundTrace(home / "sessions.db");
    MainWindow window(home / "sessions.db");
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    window.refreshSessions();
    window.sessionView()->selectRow(0);
    QCOMPARE(window.profiledSession(), id);
    // Nothing loads while the tab is hidden; showing it loads the picked session.
    QVERIFY(!window.profiler()->timeline()->shownTrace());
    window.showProfile();
    QTRY_VERIFY_WITH_TIMEOUT(window.profiler()->timeline()->shownTrace() != nullptr, 20000);
    QCOMPARE(window.profiler()->timeline()->shownTrace()->spans().size(), std::size_t{12});
    auto* steps = window.profiler()->stepBreakdown();
    QTRY_VERIFY_WITH_TIMEOUT(steps->isIdle() && steps->barCount() == 4, 20000);
    QCOMPARE(steps->verdict().bound, tb::trace::Bound::input);
    QVERIFY(steps->verdictText().contains(QStringLiteral("input-bound")));
    QVERIFY(!steps->verdictText().contains(QStringLiteral("CUPTI")));
    // The loader reads the session's params with its trace: dropped CUPTI records reach the
    // verdict as a warning.
    tb::store::SessionStore(home / "sessions.db")
        .add_params(id, {{"profile.cupti", "on"}, {"profile.cupti_dropped_records", "77"}});
    window.profileLoader()->load(id);
    QTRY_VERIFY_WITH_TIMEOUT(steps->isIdle() && steps->verdictText().contains(
                                                    QStringLiteral("CUPTI dropped 77 records")),
                             20000);

    // A session that is not there: the loader says so, and what is on screen stays.
    QSignalSpy failed(window.profileLoader(), &tb::app::ProfileController::failed);
    window.profileLoader()->load(tb::store::SessionId(id.value + 100));
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 20000);
    QCOMPARE(failed.first().at(0).toLongLong(), id.value + 100);
    QVERIFY(!failed.first().at(1).toString().isEmpty());
    QCOMPARE(window.profiler()->timeline()->shownTrace()->spans().size(), std::size_t{12});
    tb::testing::saveScreenshot(window, QStringLiteral("main_window_profile_imported.png"));
  }

 private:
  tb::testing::TempDir data_{"trainbench-gui-profile-data"};
};

QTEST_MAIN(MainWindowProfileTest)
#include "main_window_profile_test.moc"
