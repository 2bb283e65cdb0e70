// OptimizerPlayground and OptimizerPathView: the default rows each produce a path of steps + 1
// points (fewer when it diverged) drawn over a non-empty, cached contour image; changing the
// function recomputes; a row the engine rejects shows the engine's message instead of crashing;
// rows come and go; overlay shows every path on one plot. Saves screenshots of both views.
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTest>

#include "core/optim/playground.h"
#include "widgets/optimizer_path_view.h"
#include "widgets/optimizer_playground.h"

using tb::optim::TestFunction;
using tb::widgets::OptimizerPathView;
using tb::widgets::OptimizerPlayground;
using tb::widgets::OptimizerTable;

namespace {

void saveScreenshot(QWidget& widget, const QString& name) {
  QString dir = qEnvironmentVariable("TRAINBENCH_SCREENSHOTS");
  if (dir.isEmpty()) dir = QDir::current().filePath(QStringLiteral("screenshots"));
  QVERIFY(QDir().mkpath(dir));
  QTest::qWait(100);  // layouts settle before the grab
  const QString path = QDir(dir).filePath(name);
  QVERIFY2(widget.grab().save(path), qPrintable(path));
  qInfo("screenshot: %s", qPrintable(path));
}

// Every path starts at the start point and has steps + 1 points, or ends early when diverged.
void verifyPaths(const OptimizerPlayground& playground) {
  QCOMPARE(playground.series().size(), playground.rowCount());
  for (const auto& s : playground.series()) {
    if (!s.error.isEmpty()) continue;
    const auto& path = s.path;
    QVERIFY(!path.points.empty());
    QCOMPARE(path.points.front().x, static_cast<double>(static_cast<float>(playground.start()[0])));
    if (path.diverged_at == 0) {
      QCOMPARE(static_cast<int>(path.points.size()), playground.steps() + 1);
    } else {
      QCOMPARE(static_cast<std::int64_t>(path.points.size()), path.diverged_at);
    }
  }
}

// Recomputes (on the playground's worker) and waits until the paths match the controls.
void settle(OptimizerPlayground& playground) {
  playground.recompute();
  QTRY_VERIFY_WITH_TIMEOUT(!playground.isBusy(), 10000);
}

}  // namespace

class OptimizerPlaygroundTest : public QObject {
  Q_OBJECT

 private slots:
  void defaultRowsDrawOnePathEach() {
    OptimizerPlayground playground;
    playground.resize(1360, 820);
    QSignalSpy recomputed(&playground, &OptimizerPlayground::recomputed);
    playground.show();
    QVERIFY(QTest::qWaitForWindowExposed(&playground));
    QTRY_VERIFY(recomputed.count() >= 1);

    QCOMPARE(playground.rowCount(), 4);
    QCOMPARE(playground.rowSpec(0).type, std::string("sgd"));
    QCOMPARE(playground.rowSpec(0).momentum, 0.0);
    QCOMPARE(playground.rowSpec(1).type, std::string("sgd"));
    QVERIFY(playground.rowSpec(1).nesterov);
    QCOMPARE(playground.rowSpec(1).momentum, 0.9);
    QCOMPARE(playground.rowSpec(2).type, std::string("adam"));
    QCOMPARE(playground.rowSpec(3).type, std::string("lion"));
    QCOMPARE(playground.function(), TestFunction::rosenbrock);
    QCOMPARE(playground.start()[0], tb::optim::default_start(TestFunction::rosenbrock)[0]);
    verifyPaths(playground);
    // The defaults are meant to be instructive, so none of them blows up or is rejected.
    for (const auto& s : playground.series()) {
      QVERIFY2(s.error.isEmpty(), qPrintable(s.error));
      QCOMPARE(s.path.diverged_at, std::int64_t{0});
    }
    // Distinct colours, one per row.
    QVERIFY(playground.series()[0].color != playground.series()[1].color);
    QCOMPARE(playground.series()[1].name, QStringLiteral("SGD + Nesterov"));

    QCOMPARE(playground.panels().size(), 4);
    for (OptimizerPathView* view : playground.panels()) {
      QCOMPARE(view->paths().size(), 1);
      QVERIFY(view->isVisible());
      const QImage& image = view->contourImage();
      QVERIFY(!image.isNull());
      QVERIFY(image.width() > 100 && image.height() > 100);
      // Not one flat colour: the levels vary across the plot.
      const auto m = view->mapping();
      const auto at = m.toPixel(1.0, 1.0);  // the minimum, f = 0
      const QRgb low = image.pixel(static_cast<int>(at.x - m.pixels.left),
                                   static_cast<int>(at.y - m.pixels.top));
      QVERIFY(low != image.pixel(1, 1));               // the top-left corner, f = 109
      QVERIFY(qGray(low) > qGray(image.pixel(1, 1)));  // low f is light, high f dark
      QVERIFY(view->legendText(0).contains(QStringLiteral("after 500 steps")));
    }
    // Panels share one extent, so positions compare across them.
    QCOMPARE(playground.panels()[0]->extent(), playground.panels()[3]->extent());
    qInfo("default recompute: 4 rows x 500 steps in %.2f ms", playground.lastComputeMs());
    saveScreenshot(playground, QStringLiteral("optimizer_playground.png"));

    // The cached image is reused while nothing it depends on changes.
    OptimizerPathView* first = playground.panels().front();
    const int renders = first->contourRenders();
    first->repaint();
    first->contourImage();
    QCOMPARE(first->contourRenders(), renders);
    // Hovering the start point names the optimizer and the step.
    const auto& p0 = first->paths().front().path.points.front();
    const auto px = first->mapping().toPixel(p0.x, p0.y);
    const QString hover = first->hoverText(QPointF(px.x, px.y));
    QVERIFY2(hover.contains(QStringLiteral("f = ")) && hover.contains(QStringLiteral("step 0")),
             qPrintable(hover));
    QVERIFY(first->hoverText(QPointF(-5, -5)).isEmpty());

    // Overlay: all four paths on one plot.
    playground.setOverlay(true);
    QVERIFY(playground.overlayView()->isVisible());
    QCOMPARE(playground.overlayView()->paths().size(), 4);
    QVERIFY(!playground.overlayView()->contourImage().isNull());
    saveScreenshot(playground, QStringLiteral("optimizer_playground_overlay.png"));
  }

  void changingTheFunctionRecomputes() {
    OptimizerPlayground playground;
    playground.resize(1200, 800);
    playground.show();
    QSignalSpy recomputed(&playground, &OptimizerPlayground::recomputed);
    QTRY_VERIFY(recomputed.count() >= 1);
    OptimizerPathView* view = playground.panels().front();
    view->contourImage();
    const int renders = view->contourRenders();
    const double rosenbrockLr = playground.rowSpec(2).lr;

    recomputed.clear();
    playground.functionBox()->setCurrentIndex(
        playground.functionBox()->findText(QStringLiteral("beale")));
    QTRY_COMPARE(recomputed.count(), 1);  // one recompute for the function, start and lrs
    QCOMPARE(playground.function(), TestFunction::beale);
    const auto start = tb::optim::default_start(TestFunction::beale);
    QCOMPARE(playground.start()[0], start[0]);
    QCOMPARE(playground.start()[1], start[1]);
    QCOMPARE(view->function(), TestFunction::beale);
    QCOMPARE(playground.series().front().path.points.front().y, start[1]);
    verifyPaths(playground);
    view->contourImage();
    QCOMPARE(view->contourRenders(), renders + 1);  // a new function: a new map
    // Default lrs follow the function; SGD's plain lr goes from 1e-3 to 1e-2 on Beale.
    QCOMPARE(playground.rowSpec(0).lr, 1e-2);
    saveScreenshot(playground, QStringLiteral("optimizer_playground_beale.png"));
    Q_UNUSED(rosenbrockLr);

    // Fewer steps recompute too; the saddle draws on its diverging map.
    recomputed.clear();
    playground.setSteps(100);
    playground.setFunction(TestFunction::saddle);
    QTRY_COMPARE(recomputed.count(), 1);
    verifyPaths(playground);
    QCOMPARE(playground.series().front().path.points.size(), std::size_t{101});
    saveScreenshot(playground, QStringLiteral("optimizer_playground_saddle.png"));
  }

  void invalidRowShowsTheEnginesMessage() {
    OptimizerPlayground playground;
    playground.resize(1000, 700);
    playground.show();
    QSignalSpy recomputed(&playground, &OptimizerPlayground::recomputed);
    QTRY_VERIFY(recomputed.count() >= 1);

    // Row 1 is SGD + Nesterov: take its momentum to 0 in the table, as a user would.
    auto* momentum = qobject_cast<QDoubleSpinBox*>(
        playground.table()->cellWidget(1, OptimizerTable::MomentumColumn));
    QVERIFY(momentum);
    recomputed.clear();
    momentum->setValue(0.0);
    QTRY_COMPARE(recomputed.count(), 1);
    const auto& bad = playground.series()[1];
    QVERIFY(bad.path.points.empty());
    QVERIFY2(bad.error.contains(QStringLiteral("nesterov"), Qt::CaseInsensitive),
             qPrintable(bad.error));
    QVERIFY(playground.panels()[1]->legendText(0).contains(QStringLiteral("not run")));
    // The other rows are unaffected.
    QVERIFY(playground.series()[0].error.isEmpty());
    QVERIFY(!playground.series()[2].path.points.empty());
    saveScreenshot(playground, QStringLiteral("optimizer_playground_error.png"));

    // A negative lr set programmatically: rejected by the engine too, never a crash.
    auto spec = playground.rowSpec(2);
    spec.lr = -1.0;
    playground.setRowSpec(2, spec);
    settle(playground);
    QVERIFY(!playground.series()[2].error.isEmpty());

    // Too large an lr diverges: the path ends at the last finite point, the legend says where.
    auto wild = OptimizerTable::defaultSpec("sgd", TestFunction::rosenbrock);
    wild.lr = 0.05;
    playground.setRowSpec(3, wild);
    settle(playground);
    const auto& diverged = playground.series()[3];
    QVERIFY(diverged.error.isEmpty());
    QVERIFY(diverged.path.diverged_at > 0);
    QVERIFY(playground.panels()[3]->legendText(0).contains(QStringLiteral("diverged at step")));
    verifyPaths(playground);
  }

  void rowsComeAndGo() {
    OptimizerPlayground playground;
    playground.resize(1300, 800);
    playground.show();
    QSignalSpy recomputed(&playground, &OptimizerPlayground::recomputed);
    QTRY_VERIFY(recomputed.count() >= 1);

    recomputed.clear();
    const int added =
        playground.addRow(OptimizerTable::defaultSpec("rmsprop", TestFunction::rosenbrock));
    QCOMPARE(added, 4);
    QTRY_COMPARE(recomputed.count(), 1);
    QCOMPARE(playground.panels().size(), 5);
    QCOMPARE(playground.series()[4].name, QStringLiteral("RMSProp"));

    // Changing a row's type resets it to that type's defaults for the function.
    auto* type =
        qobject_cast<QComboBox*>(playground.table()->cellWidget(4, OptimizerTable::TypeColumn));
    QVERIFY(type);
    type->setCurrentIndex(type->findText(QStringLiteral("AdamW")));
    settle(playground);
    QCOMPARE(playground.rowSpec(4).type, std::string("adamw"));
    QCOMPARE(playground.rowSpec(4).lr, 0.05);

    // Lookahead from the table.
    auto lookahead = playground.rowSpec(2);
    lookahead.lookahead.k = 5;
    playground.setRowSpec(2, lookahead);
    settle(playground);
    QVERIFY(playground.series()[2].name.contains(QStringLiteral("Lookahead")));
    verifyPaths(playground);

    for (int i = playground.rowCount(); i < OptimizerTable::kMaxRows + 2; ++i) {
      playground.addRow(OptimizerTable::defaultSpec("adam", TestFunction::rosenbrock));
    }
    QCOMPARE(playground.rowCount(), OptimizerTable::kMaxRows);
    // The worst case the controls allow, timed (the comment in recompute() cites it).
    playground.setSteps(OptimizerPlayground::kMaxSteps);
    settle(playground);
    qInfo("worst case: %d rows x %d steps in %.2f ms", playground.rowCount(), playground.steps(),
          playground.lastComputeMs());
    verifyPaths(playground);

    playground.removeRow(0);
    playground.removeRow(0);
    settle(playground);
    QCOMPARE(playground.rowCount(), OptimizerTable::kMaxRows - 2);
    QCOMPARE(playground.panels().size(), OptimizerTable::kMaxRows - 2);
    QCOMPARE(playground.series().size(), OptimizerTable::kMaxRows - 2);
    while (playground.rowCount() > 0) playground.removeRow(playground.rowCount() - 1);
    settle(playground);
    QVERIFY(playground.series().isEmpty());
    QVERIFY(playground.panels().isEmpty());
  }
};

QTEST_MAIN(OptimizerPlaygroundTest)
#include "optimizer_playground_test.moc"
