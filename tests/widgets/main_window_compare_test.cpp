// The Sessions and Compare tabs end to end: stored sessions appear in the browser, two picked
// there load into the compare view off the GUI thread (curves, summary, traces, a metric asked
// for later), and a delete becomes final when the window closes.
#include <QItemSelectionModel>
#include <QLabel>
#include <QPushButton>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

#include <cmath>

#include "app/gui/main_window.h"
#include "core/store/session_catalog.h"
#include "core/store/trace_store.h"
#include "tests/support/raw_sqlite.h"
#include "tests/support/test_data.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/compare_view.h"
#include "widgets/session_browser.h"
#include "widgets/session_browser_model.h"
#include "widgets/session_table_model.h"

using tb::app::MainWindow;
using tb::store::SessionId;

namespace {

// A finished run of `steps` steps whose loss falls at `rate`, with evaluations every 100 steps.
SessionId storeRun(tb::store::SessionStore& store, const std::string& name, double lr, double rate,
                   bool withTrace) {
  const std::string project =
      R"({"name":"fashion_mlp","data":{"dataset":"fashion-mnist","batch_size":128},)"
      R"("model":{"type":"mlp"},"optimizer":{"type":"sgd","lr":)" +
      std::to_string(lr) + "}}";
  const SessionId id = store.create_session({name, project, "rev", "host", 1});
  store.add_params(id, {{"optimizer.type", "sgd"},
                        {"optimizer.lr", std::to_string(lr)},
                        {"data.batch_size", "128"}});
  std::vector<tb::store::MetricPoint> points;
  for (int step = 1; step <= 1000; ++step) {
    const double wall = step * 0.01;
    points.push_back({"train_loss", step, wall, 2.3 * std::exp(-rate * step)});
    points.push_back({"samples_per_s", step, wall, 10000.0 * (1.0 + rate)});
    if (step % 100 == 0) {
      points.push_back({"test_accuracy", step, wall, 0.9 - 0.5 * std::exp(-rate * step)});
    }
  }
  store.add_metrics(id, points);
  if (withTrace) {
    tb::testing::TraceBuilder b;
    const auto engine = b.track("engine", tb::trace::TrackKind::cpu_thread, "trainbench");
    for (int step = 0; step < 5; ++step) {
      const std::int64_t t = step * 10 * tb::testing::kMs;
      b.span(engine, "step", tb::trace::Category::step, t, t + 10 * tb::testing::kMs, step);
      b.span(engine, "data", tb::trace::Category::data, t, t + 2 * tb::testing::kMs, step);
      b.span(engine, "forward", tb::trace::Category::forward, t + 2 * tb::testing::kMs,
             t + 6 * tb::testing::kMs, step);
    }
    tb::store::TraceWriter(store, id).append(b.trace);
  }
  store.finish_session(id, "completed",
                       R"({"samples_per_s":)" + std::to_string(10000.0 * (1.0 + rate)) +
                           R"(,"train_s":10,"data_wait_s":0.2,"wall_s":10.5,"steps":1000})");
  return id;
}

}  // namespace

class MainWindowCompareTest : public QObject {
  Q_OBJECT

 private slots:
  void sessionsPickedInTheBrowserAreCompared() {
    tb::testing::TempDir dir;
    const auto db = dir / "sessions.db";
    SessionId slow, fast, third;
    {
      tb::store::SessionStore store(db);
      slow = storeRun(store, "lr 0.01", 0.01, 0.002, true);
      fast = storeRun(store, "lr 0.1", 0.1, 0.01, true);
      third = storeRun(store, "lr 1.0", 1.0, 0.02, false);
    }
    auto window = std::make_unique<MainWindow>(db);
    window->show();
    QVERIFY(QTest::qWaitForWindowExposed(window.get()));
    window->showSessions();
    auto* browser = window->sessionBrowser();
    QCOMPARE(window->tabs()->currentWidget(), browser);
    QCOMPARE(browser->model()->rowCount(), 3);

    // Newest first: rows 1 and 2 are "lr 0.1" and "lr 0.01".
    auto* selection = browser->table()->selectionModel();
    for (int row : {1, 2}) {
      selection->select(browser->model()->index(row, 0),
                        QItemSelectionModel::Select | QItemSelectionModel::Rows);
    }
    QVERIFY(browser->compareButton()->isEnabled());
    browser->compareButton()->click();
    QCOMPARE(window->tabs()->currentWidget(), window->compareView()->parentWidget());
    auto* view = window->compareView();
    QTRY_COMPARE_WITH_TIMEOUT(view->sessions().size(), std::size_t{2}, 10000);
    QCOMPARE(view->sessions()[0].record.id, slow);  // in id order: the older is the baseline
    QCOMPARE(view->sessions()[1].record.id, fast);
    QVERIFY(view->isMetricLoaded("train_loss"));
    QCOMPARE(view->sessions()[0].metrics.at("train_loss").size(), std::size_t{1000});
    QVERIFY(window->compareTitle()->text().contains(QStringLiteral("Comparing 2 sessions")));

    // A metric not loaded with the sessions is read when picked.
    QVERIFY(!view->isMetricLoaded("samples_per_s"));
    view->setCurrentMetric(QStringLiteral("samples_per_s"));
    QTRY_VERIFY_WITH_TIMEOUT(view->isMetricLoaded("samples_per_s"), 10000);
    view->setCurrentTab(tb::widgets::CompareView::CurvesTab);
    tb::testing::saveScreenshot(*window, QStringLiteral("main_window_compare.png"));

    // A delete is undoable while the window is open, final once it closes.
    window->showSessions();
    selection->clearSelection();
    selection->select(browser->model()->index(0, 0),
                      QItemSelectionModel::Select | QItemSelectionModel::Rows);
    QCOMPARE(browser->selectedSessions(), std::vector<SessionId>{third});
    browser->deleteSelected();
    QCOMPARE(browser->model()->rowCount(), 2);
    QCOMPARE(window->sessionModel()->rowCount(), 2);  // the Train tab's list follows
    {
      tb::store::SessionStore reader(db, tb::store::SessionStore::Mode::read_only);
      QVERIFY(reader.session(third).has_value());
    }
    window->close();
    window.reset();
    tb::store::SessionStore reader(db, tb::store::SessionStore::Mode::read_only);
    QVERIFY(!reader.session(third).has_value());
    QVERIFY(reader.session(fast).has_value());
  }

  void trainTabListsTheNewestSessions() {
    // The Train tab's list is re-read at every run: it holds the newest sessions only and says
    // where the rest are; the Sessions tab has them all.
    tb::testing::TempDir dir;
    const auto db = dir / "sessions.db";
    const int total = static_cast<int>(MainWindow::kTrainTabSessions) + 50;
    { tb::store::SessionStore store(db); }
    tb::store::testing_raw::generate_sessions(db, total);
    MainWindow window(db);
    QCOMPARE(window.sessionModel()->rowCount(), static_cast<int>(MainWindow::kTrainTabSessions));
    QCOMPARE(window.sessionModel()->sessionAt(0)->id, SessionId(total));  // the newest
    QVERIFY2(window.sessionHint()->text().contains(
                 QStringLiteral("%1 of %2").arg(MainWindow::kTrainTabSessions).arg(total)),
             qPrintable(window.sessionHint()->text()));
    window.showSessions();
    QTRY_COMPARE_WITH_TIMEOUT(window.sessionBrowser()->model()->rowCount(), total, 10000);
  }
};

QTEST_MAIN(MainWindowCompareTest)
#include "main_window_compare_test.moc"
