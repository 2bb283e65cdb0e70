// The GUI end to end: a MainWindow trains a tiny project on a synthetic dataset through the real
// engine (on its thread), the chart fills live, the session lands in the list, and selecting it
// shows its stored curves; Stop ends a longer run as "stopped". Saves a screenshot of the window.
#include <QAbstractItemModelTester>
#include <QDir>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineSeries>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTableView>
#include <QTest>
#include <QValueAxis>

#include <nlohmann/json.hpp>

#include "app/gui/main_window.h"
#include "tests/support/test_data.h"
#include "widgets/metric_chart.h"
#include "widgets/project_editor.h"
#include "widgets/session_table_model.h"

using tb::app::MainWindow;
using tb::widgets::SessionTableModel;

namespace {

QString projectJson(const std::filesystem::path& data, const std::string& name, int epochs,
                    std::vector<int> hidden = {32}) {
  nlohmann::json doc = {
      {"name", name},
      {"seed", 7},
      {"data", {{"path", data.string()}, {"batch_size", 64}}},
      {"model", {{"type", "mlp"}, {"hidden", hidden}}},
      {"optimizer", {{"lr", 0.05}}},
      {"train", {{"epochs", epochs}, {"threads", 1}}},
  };
  return QString::fromStdString(doc.dump(2));
}

QString cell(const MainWindow& window, int row, int column) {
  const auto* model = window.sessionModel();
  return model->data(model->index(row, column)).toString();
}

// Screenshots go where ctest says (TRAINBENCH_SCREENSHOTS), else under the working folder.
void saveScreenshot(QWidget& widget, const QString& name) {
  QString dir = qEnvironmentVariable("TRAINBENCH_SCREENSHOTS");
  if (dir.isEmpty()) dir = QDir::current().filePath(QStringLiteral("screenshots"));
  QVERIFY(QDir().mkpath(dir));
  QTest::qWait(200);  // let the chart's scene and the layouts catch up before the grab
  const QString path = QDir(dir).filePath(name);
  QVERIFY2(widget.grab().save(path), qPrintable(path));
  qInfo("screenshot: %s", qPrintable(path));
}

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { tb::testing::write_synthetic_fashion_mnist(data_.path(), 512, 256); }

  void runShowsLiveCurvesAndStoresSession() {
    tb::testing::TempDir home("trainbench-gui");
    MainWindow window(home / "sessions.db");
    QAbstractItemModelTester tester(window.sessionModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QCOMPARE(window.windowTitle(), QStringLiteral("Trainbench"));
    QCOMPARE(window.sessionModel()->rowCount(), 0);  // no database yet

    // An invalid project cannot be run.
    window.editor()->setText(QStringLiteral(R"({"optimizer": {"lr": "x"}})"));
    QVERIFY(!window.runButton()->isEnabled());

    window.editor()->setText(projectJson(data_.path(), "gui-tiny", 2));
    QVERIFY2(window.editor()->isValid(), qPrintable(window.editor()->validationMessage()));
    QVERIFY(window.runButton()->isEnabled());
    QVERIFY(!window.stopButton()->isEnabled());

    QSignalSpy started(window.controller(), &tb::app::RunController::started);
    QSignalSpy finished(window.controller(), &tb::app::RunController::finished);
    QTest::mouseClick(window.runButton(), Qt::LeftButton);
    QVERIFY(window.controller()->isRunning() || finished.count() == 1);
    QVERIFY(!window.runButton()->isEnabled() || finished.count() == 1);

    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 60000);
    QCOMPARE(started.count(), 1);
    const auto result = finished.first().first().value<tb::run::RunResult>();
    QVERIFY2(result.status == "completed", result.error.c_str());
    QCOMPARE(result.epochs, std::int64_t{2});
    QVERIFY(!window.controller()->isRunning());
    QVERIFY(window.runButton()->isEnabled());
    QVERIFY(!window.stopButton()->isEnabled());

    // The live chart: every step's loss (512 / 64 = 8 steps an epoch), one accuracy an epoch.
    auto* chart = window.chart();
    QCOMPARE(chart->pendingPointCount(), 0);  // flushed when the run ended
    QCOMPARE(chart->lossPointCount(), 16);
    QCOMPARE(chart->accuracyPointCount(), 2);
    QCOMPARE(chart->stepAxis()->max(), 16.0);
    QVERIFY(window.runStatus()->text().startsWith(QStringLiteral("Completed")));
    QCOMPARE(window.progress()->value(), window.progress()->maximum());

    // The session list, refreshed at the end.
    QCOMPARE(window.sessionModel()->rowCount(), 1);
    QCOMPARE(cell(window, 0, SessionTableModel::NameColumn), QStringLiteral("gui-tiny"));
    QCOMPARE(cell(window, 0, SessionTableModel::StatusColumn), QStringLiteral("completed"));
    QVERIFY(!cell(window, 0, SessionTableModel::AccuracyColumn).isEmpty());
    QCOMPARE(cell(window, 0, SessionTableModel::SeedColumn), QStringLiteral("7"));

    saveScreenshot(window, QStringLiteral("main_window.png"));

    // Selecting the session shows its stored curves (read back from the database).
    chart->clear();
    QCOMPARE(chart->lossPointCount(), 0);
    window.sessionView()->selectRow(0);
    QCOMPARE(window.shownSession(), result.session);
    QCOMPARE(chart->lossPointCount(), 16);
    QCOMPARE(chart->accuracyPointCount(), 2);
    QCOMPARE(chart->accuracySeries()->at(1).x(), 16.0);
    QCOMPARE(chart->accuracySeries()->at(1).y(), result.test_accuracy);
    QVERIFY(chart->chart()->title().contains(QStringLiteral("gui-tiny")));
    saveScreenshot(window, QStringLiteral("main_window_session.png"));

    // A second run adds a row, newest first.
    QTest::mouseClick(window.runButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 60000);
    QCOMPARE(window.sessionModel()->rowCount(), 2);
    QCOMPARE(window.sessionModel()
                 ->data(window.sessionModel()->index(0, 0), SessionTableModel::SessionIdRole)
                 .toLongLong(),
             finished.last().first().value<tb::run::RunResult>().session.value);
  }

  void stopEndsRunAsStopped() {
    tb::testing::TempDir home("trainbench-gui");
    MainWindow window(home / "sessions.db");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    // Long enough that it is still going when Stop is clicked: 200 epochs of 8 steps of a wider
    // model (minutes, were it not stopped).
    window.editor()->setText(projectJson(data_.path(), "gui-long", 200, {1024, 1024}));
    QVERIFY(window.runButton()->isEnabled());
    QSignalSpy finished(window.controller(), &tb::app::RunController::finished);
    QSignalSpy steps(window.controller(), &tb::app::RunController::step);
    QTest::mouseClick(window.runButton(), Qt::LeftButton);
    QTRY_VERIFY_WITH_TIMEOUT(steps.count() >= 3, 30000);
    QVERIFY(window.stopButton()->isEnabled());
    QTest::mouseClick(window.stopButton(), Qt::LeftButton);
    QVERIFY(!window.stopButton()->isEnabled());  // one stop request is enough
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);

    const auto result = finished.first().first().value<tb::run::RunResult>();
    QCOMPARE(result.status, std::string("stopped"));
    QVERIFY(result.steps < 200 * 8);
    QVERIFY(window.runStatus()->text().startsWith(QStringLiteral("Stopped")));
    QCOMPARE(window.sessionModel()->rowCount(), 1);
    QCOMPARE(cell(window, 0, SessionTableModel::StatusColumn), QStringLiteral("stopped"));
    QVERIFY(window.runButton()->isEnabled());
    QVERIFY(window.chart()->lossPointCount() > 0);
  }

  void badDataPathFailsWithMessage() {
    tb::testing::TempDir home("trainbench-gui");
    MainWindow window(home / "sessions.db");
    window.editor()->setText(projectJson(home / "no-such-data", "gui-missing", 1));
    QSignalSpy finished(window.controller(), &tb::app::RunController::finished);
    QTest::mouseClick(window.runButton(), Qt::LeftButton);
    // Either the run fails (reported) or it cannot even start (said in the status line); never a
    // hang or a crash.
    QTRY_VERIFY_WITH_TIMEOUT(finished.count() == 1 || !window.controller()->isRunning(), 30000);
    QTRY_VERIFY_WITH_TIMEOUT(!window.controller()->isRunning(), 30000);
    QVERIFY2(window.runStatus()->text().contains(QStringLiteral("no-such-data")) ||
                 window.runStatus()->text().startsWith(QStringLiteral("Failed")),
             qPrintable(window.runStatus()->text()));
    QVERIFY(window.runButton()->isEnabled());
  }

 private:
  tb::testing::TempDir data_{"trainbench-gui-data"};
};

QTEST_MAIN(MainWindowTest)
#include "main_window_test.moc"
