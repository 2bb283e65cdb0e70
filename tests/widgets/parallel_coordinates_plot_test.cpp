// ParallelCoordinatesPlot: axes from setting values (numeric, log for a learning rate spanning
// decades, categorical evenly spaced, missing values below the axis) as data-driven tests; then
// the widget: one axis a differing setting plus the outcome, each session's line through its
// values in its colour, a text setting unique to every session dropped, the hovered line found,
// PNG and SVG exports. Saves a screenshot.
#include <QFile>
#include <QImage>
#include <QMouseEvent>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#include "tests/widgets/widget_test_support.h"
#include "widgets/parallel_coordinates_plot.h"
#include "widgets/session_colors.h"

using tb::compare::SettingsRow;
using tb::compare::SummaryRow;
using tb::widgets::ParallelAxis;
using tb::widgets::ParallelCoordinatesPlot;
using Values = std::vector<std::optional<std::string>>;

Q_DECLARE_METATYPE(Values)

namespace {

std::vector<tb::widgets::SessionLabel> labels(int n) {
  std::vector<tb::widgets::SessionLabel> out;
  for (int i = 0; i < n; ++i) {
    out.push_back({i + 1, QStringLiteral("#%1 run-%1").arg(i + 1),
                   QStringLiteral("run %1").arg(i + 1), tb::widgets::sessionColor(i)});
  }
  return out;
}

std::vector<SettingsRow> settings() {
  return {{"optimizer.lr", {"0.1", "0.01", "0.001", "0.0001"}, true},
          {"optimizer.type", {"sgd", "adam", "adam", "adamw"}, true},
          {"data.batch_size", {"32", "64", "128", "64"}, true},
          {"model.dropout", {"0.1", std::nullopt, "0.2", "0.1"}, true},
          {"name", {"a", "b", "c", "d"}, true}};  // unique text: no axis
}

SummaryRow accuracy() {
  SummaryRow row;
  row.key = "best_test_accuracy";
  row.label = "best test accuracy";
  row.better = tb::compare::Better::higher;
  row.values = {0.81, 0.88, 0.86, std::nullopt};
  row.best = 1;
  return row;
}

}  // namespace

class ParallelCoordinatesPlotTest : public QObject {
  Q_OBJECT

 private slots:
  void axisPositions_data() {
    QTest::addColumn<Values>("values");
    QTest::addColumn<bool>("numeric");
    QTest::addColumn<bool>("log");
    QTest::addColumn<QString>("probe");
    QTest::addColumn<double>("position");  // -1: none
    QTest::newRow("linear") << Values{"32", "64", "128"} << true << false << "64" << 32.0 / 96.0;
    QTest::newRow("linear top") << Values{"32", "64", "128"} << true << false << "128" << 1.0;
    QTest::newRow("log over decades")
        << Values{"0.1", "0.001", "0.0001"} << true << true << "0.001" << 1.0 / 3.0;
    QTest::newRow("scientific text")
        << Values{"1e-4", "1e-1"} << true << true << "0.01" << 2.0 / 3.0;
    QTest::newRow("flat number") << Values{"5", "5"} << true << false << "5" << 0.5;
    QTest::newRow("categorical, first seen order")
        << Values{"sgd", "adam", "adamw"} << false << false << "adam" << 0.5;
    QTest::newRow("categorical bottom")
        << Values{"sgd", "adam", "adamw"} << false << false << "sgd" << 0.0;
    QTest::newRow("a number among text is a category")
        << Values{"64", "auto"} << false << false << "auto" << 1.0;
    QTest::newRow("missing is no position")
        << Values{"1", std::nullopt, "3"} << true << false << "" << -1.0;
    QTest::newRow("unknown category") << Values{"a", "b"} << false << false << "z" << -1.0;
  }
  void axisPositions() {
    QFETCH(Values, values);
    QFETCH(bool, numeric);
    QFETCH(bool, log);
    QFETCH(QString, probe);
    QFETCH(double, position);
    const ParallelAxis axis = ParallelAxis::fromValues("k", values);
    QCOMPARE(axis.numeric, numeric);
    QCOMPARE(axis.log, log);
    const std::optional<std::string> value =
        probe.isEmpty() ? std::nullopt : std::optional<std::string>(probe.toStdString());
    const auto p = axis.position(value);
    if (position < 0) {
      QVERIFY(!p);
    } else {
      QVERIFY(p);
      QVERIFY2(std::abs(*p - position) < 1e-12, qPrintable(QString::number(*p)));
    }
  }

  void parseNumber() {
    QCOMPARE(*tb::widgets::parseNumber("0.001"), 0.001);
    QCOMPARE(*tb::widgets::parseNumber("-3"), -3.0);
    QVERIFY(!tb::widgets::parseNumber("true"));
    QVERIFY(!tb::widgets::parseNumber("[256,128]"));
    QVERIFY(!tb::widgets::parseNumber("12abc"));
    QVERIFY(!tb::widgets::parseNumber(""));
    QVERIFY(!tb::widgets::parseNumber("nan"));
  }

  void numericTicksAreOnTheAxis() {
    const auto axis = ParallelAxis::fromValues("lr", Values{"0.1", "0.0001"});
    const auto ticks = axis.numericTicks(6);
    QVERIFY(ticks.size() >= 3);
    for (const auto& [position, value] : ticks) {
      QVERIFY(position >= -1e-9 && position <= 1 + 1e-9);
      QVERIFY(std::abs(*axis.position(value) - position) < 1e-12);
    }
  }

  void linesThroughTheValues() {
    ParallelCoordinatesPlot plot;
    plot.resize(900, 420);
    plot.setData(labels(4), settings(), accuracy());
    // lr, optimizer, batch size, dropout, then the outcome; the unique "name" is left out.
    QCOMPARE(int(plot.axes().size()), 5);
    QVERIFY(plot.hasOutcomeAxis());
    QCOMPARE(QString::fromStdString(plot.axes().back().key), QString("best test accuracy"));
    QVERIFY(plot.axes()[0].log);
    QVERIFY(!plot.axes()[1].numeric);
    QVERIFY(plot.axes()[3].missing);
    for (int s = 0; s < 4; ++s) {
      const QPolygonF line = plot.sessionLine(s);
      QCOMPARE(int(line.size()), 5);
      for (int a = 0; a < 5; ++a) QCOMPARE(line[a].x(), plot.axisX(a));
      QCOMPARE(plot.sessionLineColor(s), tb::widgets::sessionColor(s));
    }
    auto yAt = [&](double position) {
      return plot.axisBottom() - position * (plot.axisBottom() - plot.axisTop());
    };
    // lr 0.1 at the top of its log axis, 1e-4 at the bottom.
    QCOMPARE(plot.sessionLine(0)[0].y(), yAt(1.0));
    QCOMPARE(plot.sessionLine(3)[0].y(), yAt(0.0));
    // The most accurate session tops the outcome axis; the one with no value sits below it.
    QCOMPARE(plot.sessionLine(1)[4].y(), yAt(1.0));
    QVERIFY(plot.sessionLine(3)[4].y() > plot.axisBottom());
    QVERIFY(plot.sessionLine(1)[3].y() > plot.axisBottom());  // dropout not set
    // The mouse on a line finds its session.
    const QPointF onLine = (plot.sessionLine(2)[1] + plot.sessionLine(2)[2]) / 2;
    QCOMPARE(plot.sessionAt(onLine), 2);
    QMouseEvent move(QEvent::MouseMove, onLine, plot.mapToGlobal(onLine), Qt::NoButton,
                     Qt::NoButton, Qt::NoModifier);
    QApplication::sendEvent(&plot, &move);
    QCOMPARE(plot.hoveredSession(), 2);
    QCOMPARE(plot.sessionAt(QPointF(2, 2)), -1);
  }

  void lineIsDrawnInItsColour() {
    ParallelCoordinatesPlot plot;
    plot.resize(700, 360);
    plot.setData(labels(4), {settings()[0]}, std::nullopt);
    QCOMPARE(int(plot.axes().size()), 1);
    const QImage image = plot.toImage(1.0);
    // A single axis: each session a dot on it, in its colour.
    const QPointF p = plot.sessionLine(0)[0];
    const QColor c = image.pixelColor(p.toPoint());
    const QColor want = tb::widgets::sessionColor(0);
    QVERIFY2(std::abs(c.red() - want.red()) < 40 && std::abs(c.blue() - want.blue()) < 40,
             qPrintable(c.name()));
  }

  void tooManyAxesAreCounted() {
    std::vector<SettingsRow> many;
    for (int i = 0; i < ParallelCoordinatesPlot::kMaxAxes + 3; ++i)
      many.push_back({std::string("k").append(std::to_string(i)), {"1", "2"}, true});
    ParallelCoordinatesPlot plot;
    plot.setData(labels(2), many, accuracy());
    QCOMPARE(plot.hiddenAxisCount(), 3);
    QCOMPARE(int(plot.axes().size()), ParallelCoordinatesPlot::kMaxAxes + 1);
  }

  void exportsAndScreenshot() {
    QTemporaryDir dir;
    ParallelCoordinatesPlot plot;
    plot.resize(900, 420);
    plot.show();
    plot.setData(labels(4), settings(), accuracy());
    QVERIFY(plot.exportPng(dir.filePath("pc.png")));
    QVERIFY(plot.exportSvg(dir.filePath("pc.svg")));
    QImage image;
    QVERIFY(image.load(dir.filePath("pc.png")));
    QCOMPARE(image.size(), QSize(1800, 840));
    QFile svg(dir.filePath("pc.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray text = svg.readAll();
    QVERIFY(text.contains("<svg"));
    QVERIFY(text.contains("optimizer.lr"));
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    tb::testing::saveScreenshot(plot, "parallel_coordinates_plot.png");
    // Nothing to show: a note, not a crash.
    plot.setData(labels(3), {}, std::nullopt);
    QVERIFY(!plot.toImage(1.0).isNull());
  }
};

QTEST_MAIN(ParallelCoordinatesPlotTest)
#include "parallel_coordinates_plot_test.moc"
