// The optimizer playground in the main window: a tab of its own, reachable from View, sized to
// show its four default panels, and the training tab still the first thing a user sees.
#include <QAction>
#include <QDir>
#include <QMenu>
#include <QMenuBar>
#include <QTabWidget>
#include <QTest>

#include "app/gui/main_window.h"
#include "tests/support/test_data.h"
#include "widgets/optimizer_playground.h"

using tb::app::MainWindow;

namespace {

QAction* findAction(QMenuBar* bar, const QString& menuText, const QString& actionText) {
  for (QAction* menuAction : bar->actions()) {
    if (menuAction->text().remove(QLatin1Char('&')) != menuText || !menuAction->menu()) continue;
    for (QAction* action : menuAction->menu()->actions()) {
      if (action->text().remove(QLatin1Char('&')) == actionText) return action;
    }
  }
  return nullptr;
}

}  // namespace

class MainWindowPlaygroundTest : public QObject {
  Q_OBJECT

 private slots:
  void playgroundIsATabReachableFromTheViewMenu() {
    tb::testing::TempDir home("trainbench-gui-playground");
    MainWindow window(home / "sessions.db");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QVERIFY(window.tabs());
    QCOMPARE(window.tabs()->count(), 6);
    QCOMPARE(window.tabs()->currentIndex(), 0);  // training first
    QCOMPARE(window.tabs()->indexOf(window.playground()), 1);

    QAction* show = findAction(window.menuBar(), QStringLiteral("View"),
                               QStringLiteral("Optimizer playground"));
    QVERIFY(show);
    QCOMPARE(show->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_2));
    show->trigger();
    QCOMPARE(window.tabs()->currentWidget(), window.playground());
    QVERIFY(window.playground()->isVisible());
    QTRY_COMPARE(window.playground()->panels().size(), 4);
    // Sensibly sized: each of the four panels gets a usable plot.
    for (auto* panel : window.playground()->panels()) {
      QVERIFY2(panel->width() >= 300 && panel->height() >= 250,
               qPrintable(QStringLiteral("%1 x %2").arg(panel->width()).arg(panel->height())));
    }
    QTest::qWait(100);
    const QString dir =
        qEnvironmentVariable("TRAINBENCH_SCREENSHOTS", QStringLiteral("screenshots"));
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(window.grab().save(QDir(dir).filePath(QStringLiteral("main_window_playground.png"))));

    QAction* training =
        findAction(window.menuBar(), QStringLiteral("View"), QStringLiteral("Training"));
    QVERIFY(training);
    training->trigger();
    QCOMPARE(window.tabs()->currentIndex(), 0);
  }
};

QTEST_MAIN(MainWindowPlaygroundTest)
#include "main_window_playground_test.moc"
