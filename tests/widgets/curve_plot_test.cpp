// CurvePlot offscreen: 100,000-point curves are drawn with at most two points a pixel column
// (LTTB), raw and smoothed; smoothing, the x axis and the log toggle change what is drawn, and a
// plain repaint redoes neither the curves nor their layout; the wheel, a rubber band, a pan and a
// double-click change the window; the hover readout finds each curve's nearest point (also when
// wall times come out of order); a legend click hides a curve; PNG and SVG exports are valid
// files. Saves a screenshot.
#include <QFile>
#include <QImage>
#include <QMouseEvent>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QWheelEvent>

#include <cmath>
#include <memory>
#include <random>

#include "tests/widgets/widget_test_support.h"
#include "widgets/curve_plot.h"
#include "widgets/session_colors.h"

using tb::compare::MetricSeries;
using tb::testing::saveScreenshot;
using tb::widgets::CurvePlot;
using tb::widgets::CurveXAxis;
using tb::widgets::WorldRect;

namespace {

// A loss curve: decaying with noise, `n` steps of `every`, `seconds` per step.
std::shared_ptr<const MetricSeries> lossCurve(std::size_t n, double rate, unsigned seed,
                                              std::int64_t every = 1, double seconds = 0.01) {
  auto s = std::make_shared<MetricSeries>();
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.08);
  for (std::size_t i = 0; i < n; ++i) {
    const auto step = static_cast<std::int64_t>(i + 1) * every;
    s->step.push_back(step);
    s->wall_time.push_back(static_cast<double>(step) * seconds);
    s->value.push_back(2.3 * std::exp(-rate * static_cast<double>(i) / static_cast<double>(n)) +
                       0.05 + std::abs(noise(rng)));
  }
  return s;
}

std::vector<CurvePlot::Curve> threeCurves(std::size_t n) {
  std::vector<CurvePlot::Curve> curves;
  for (int i = 0; i < 3; ++i) {
    curves.push_back({QStringLiteral("#%1 run-%1").arg(i + 1), tb::widgets::sessionColor(i),
                      lossCurve(n, 3.0 + i, 7u + static_cast<unsigned>(i)), 64 * (i + 1)});
  }
  return curves;
}

std::size_t polylinePoints(const std::vector<QPolygonF>& path) {
  std::size_t n = 0;
  for (const auto& p : path) n += static_cast<std::size_t>(p.size());
  return n;
}

void wheel(QWidget& w, QPointF pos, int delta) {
  QWheelEvent event(pos, w.mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt::NoButton,
                    Qt::NoModifier, Qt::NoScrollPhase, false);
  QApplication::sendEvent(&w, &event);
}

void mouse(QWidget& w, QEvent::Type type, QPointF pos, Qt::MouseButton button,
           Qt::MouseButtons buttons) {
  QMouseEvent event(type, pos, w.mapToGlobal(pos), button, buttons, Qt::NoModifier);
  QApplication::sendEvent(&w, &event);
}

}  // namespace

class CurvePlotTest : public QObject {
  Q_OBJECT

 private slots:
  void downsampledToTwoPointsAPixel() {
    CurvePlot plot;
    plot.resize(900, 420);
    plot.setCurves(threeCurves(100'000));
    plot.setSmoothing(0.6);
    const double columns = std::ceil(plot.plotArea().width());
    for (int c = 0; c < 3; ++c) {
      const std::size_t drawn = plot.drawnPointCount(c);
      QVERIFY2(drawn <= static_cast<std::size_t>(2 * columns), qPrintable(QString::number(drawn)));
      QVERIFY2(drawn >= static_cast<std::size_t>(columns), qPrintable(QString::number(drawn)));
      // The raw curve behind the smoothed one is thinned the same way.
      QVERIFY(plot.drawnRawPointCount(c) <= static_cast<std::size_t>(2 * columns));
      QVERIFY(plot.drawnRawPointCount(c) > 0);
      QCOMPARE(polylinePoints(plot.drawnPath(c)), drawn);
      // Every drawn point is inside the plot area (the window is the whole curve).
      const QRectF area = plot.plotArea().adjusted(-0.5, -0.5, 0.5, 0.5);
      for (const QPolygonF& line : plot.drawnPath(c)) {
        for (const QPointF& p : line) QVERIFY(area.contains(p));
      }
    }
    // Narrower: fewer points.
    plot.resize(500, 420);
    QVERIFY(plot.drawnPointCount(0) <=
            static_cast<std::size_t>(2 * std::ceil(plot.plotArea().width())));
    // Short curves are drawn whole.
    plot.setCurves({{"short", Qt::red, lossCurve(50, 2.0, 1), 32}});
    QCOMPARE(plot.drawnPointCount(0), std::size_t{50});
  }

  void smoothingChangesThePath() {
    CurvePlot plot;
    plot.resize(800, 400);
    plot.setCurves(threeCurves(20'000));
    plot.setSmoothing(0.0);
    const auto raw = plot.drawnPath(0);
    QCOMPARE(plot.drawnRawPointCount(0), std::size_t{0});  // no faint copy without smoothing
    plot.setSmoothing(0.95);
    const auto smooth = plot.drawnPath(0);
    QVERIFY(plot.drawnRawPointCount(0) > 0);
    QVERIFY(raw != smooth);
    // Smoothing takes the noise out: the smoothed line's total vertical travel is far shorter.
    auto travel = [](const std::vector<QPolygonF>& path) {
      double t = 0;
      for (const auto& line : path) {
        for (qsizetype i = 1; i < line.size(); ++i) t += std::abs(line[i].y() - line[i - 1].y());
      }
      return t;
    };
    QVERIFY2(travel(smooth) < travel(raw) / 3,
             qPrintable(QStringLiteral("%1 vs %2").arg(travel(smooth)).arg(travel(raw))));
    // The hover readout gives both the stored and the smoothed value.
    const auto points = plot.pointsAt(plot.plotArea().center().x());
    QCOMPARE(int(points.size()), 3);
    QVERIFY(points[0].value != points[0].smoothed);
  }

  void repaintsReuseTheCaches() {
    CurvePlot plot;
    plot.resize(800, 400);
    plot.show();
    plot.setCurves(threeCurves(50'000));
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    plot.repaint();
    const int prepares = plot.prepareCount(), layouts = plot.layoutCount();
    const int renders = plot.renderCount(), paints = plot.paintCount();
    for (int i = 0; i < 5; ++i) plot.repaint();
    // The hover readout moving: painted over the rendered plot area, nothing redone.
    for (int i = 0; i < 5; ++i) {
      mouse(plot, QEvent::MouseMove, plot.plotArea().center() + QPointF(i * 20, 0), Qt::NoButton,
            Qt::NoButton);
      plot.repaint();
    }
    QCOMPARE(plot.paintCount(), paints + 10);
    QCOMPARE(plot.prepareCount(), prepares);
    QCOMPARE(plot.layoutCount(), layouts);
    QCOMPARE(plot.renderCount(), renders);
    // A zoom redoes the layout and the rendering; smoothing redoes the curves too.
    plot.zoomAbout(plot.plotArea().center().x(), 2.0);
    plot.repaint();
    QCOMPARE(plot.prepareCount(), prepares);
    QCOMPARE(plot.layoutCount(), layouts + 1);
    QCOMPARE(plot.renderCount(), renders + 1);
    plot.setSmoothing(0.3);
    plot.repaint();
    QCOMPARE(plot.prepareCount(), prepares + 1);
  }

  void xAxisModes() {
    CurvePlot plot;
    plot.resize(800, 400);
    auto curves = threeCurves(1000);
    curves[2].batchSize = 0;  // unknown: no curve against samples
    plot.setCurves(curves);
    QCOMPARE(plot.fullRange().xmax, 1000.0);
    plot.setXAxis(CurveXAxis::samples);
    // Session 2 has batch 128: 1000 steps x 128.
    QCOMPARE(plot.fullRange().xmax, 1000.0 * 128);
    QCOMPARE(plot.fullRange().xmin, 64.0);  // session 1's first step x 64
    QVERIFY(plot.drawnPointCount(1) > 0);
    QCOMPARE(plot.drawnPointCount(2), std::size_t{0});
    // At the right end only session 2 (the larger batch) has seen that many samples.
    const auto at = plot.pointsAt(plot.plotArea().right() - 1);
    QCOMPARE(int(at.size()), 1);
    QCOMPARE(at[0].curve, 1);
    QCOMPARE(at[0].x, static_cast<double>(at[0].step) * 128);
    plot.setXAxis(CurveXAxis::wall_time);
    QCOMPARE(plot.fullRange().xmax, 1000 * 0.01);
    QCOMPARE(plot.drawnPointCount(2), std::size_t{1000});
  }

  void wheelZoomNarrowsAndDoubleClickResets() {
    CurvePlot plot;
    plot.resize(800, 400);
    plot.setCurves(threeCurves(100'000));
    QSignalSpy changed(&plot, &CurvePlot::windowChanged);
    const WorldRect whole = plot.window();
    const QPointF at(plot.plotArea().left() + plot.plotArea().width() * 0.25,
                     plot.plotArea().center().y());
    const double anchor = whole.xmin + whole.width() * 0.25;
    wheel(plot, at, 240);  // two notches in
    const WorldRect zoomed = plot.window();
    QVERIFY(plot.isZoomed());
    QVERIFY(changed.count() >= 1);
    QVERIFY2(zoomed.width() < whole.width() * 0.8, qPrintable(QString::number(zoomed.width())));
    QVERIFY(zoomed.xmin >= whole.xmin && zoomed.xmax <= whole.xmax);
    // The step under the cursor stays under it.
    QVERIFY(std::abs((zoomed.xmin + zoomed.width() * 0.25) - anchor) < whole.width() * 0.01);
    // Still about two points a pixel of the narrower window (the LTTB runs on what is visible).
    QVERIFY(plot.drawnPointCount(0) <=
            static_cast<std::size_t>(2 * std::ceil(plot.plotArea().width())));
    QVERIFY(plot.drawnPointCount(0) > 500);
    mouse(plot, QEvent::MouseButtonDblClick, plot.plotArea().center(), Qt::LeftButton,
          Qt::LeftButton);
    QVERIFY(!plot.isZoomed());
    QCOMPARE(plot.window().xmin, whole.xmin);
    QCOMPARE(plot.window().xmax, whole.xmax);
    // Zooming out from the whole stays at the whole.
    wheel(plot, at, -240);
    QVERIFY(!plot.isZoomed());
  }

  void rubberBandAndPan() {
    CurvePlot plot;
    plot.resize(800, 400);
    plot.setCurves(threeCurves(10'000));
    const WorldRect whole = plot.window();
    const QRectF area = plot.plotArea();
    const QPointF from(area.left() + area.width() * 0.2, area.top() + area.height() * 0.2);
    const QPointF to(area.left() + area.width() * 0.6, area.top() + area.height() * 0.7);
    mouse(plot, QEvent::MouseButtonPress, from, Qt::LeftButton, Qt::LeftButton);
    mouse(plot, QEvent::MouseMove, to, Qt::NoButton, Qt::LeftButton);
    mouse(plot, QEvent::MouseButtonRelease, to, Qt::LeftButton, Qt::NoButton);
    const WorldRect box = plot.window();
    QVERIFY(std::abs(box.xmin - (whole.xmin + whole.width() * 0.2)) < whole.width() * 1e-3);
    QVERIFY(std::abs(box.xmax - (whole.xmin + whole.width() * 0.6)) < whole.width() * 1e-3);
    QVERIFY(std::abs(box.ymax - (whole.ymax - whole.height() * 0.2)) < whole.height() * 1e-3);
    QVERIFY(std::abs(box.ymin - (whole.ymax - whole.height() * 0.7)) < whole.height() * 1e-3);
    // A right-drag to the left pans towards later steps, keeping the width.
    const QPointF c = area.center();
    mouse(plot, QEvent::MouseButtonPress, c, Qt::RightButton, Qt::RightButton);
    mouse(plot, QEvent::MouseMove, c - QPointF(100, 0), Qt::NoButton, Qt::RightButton);
    mouse(plot, QEvent::MouseButtonRelease, c - QPointF(100, 0), Qt::RightButton, Qt::NoButton);
    const WorldRect panned = plot.window();
    QVERIFY(panned.xmin > box.xmin);
    QVERIFY(std::abs(panned.width() - box.width()) < box.width() * 1e-9);
    // A flat drag zooms the steps only: the values are fitted again.
    plot.resetZoom();
    mouse(plot, QEvent::MouseButtonPress, QPointF(area.left() + 100, c.y()), Qt::LeftButton,
          Qt::LeftButton);
    mouse(plot, QEvent::MouseButtonRelease, QPointF(area.left() + 300, c.y() + 2), Qt::LeftButton,
          Qt::NoButton);
    QVERIFY(plot.window().width() < whole.width() * 0.5);
    QVERIFY(plot.window().ymax < whole.ymax);  // fitted to the later, lower part of the curves
  }

  void hoverFindsTheNearestPoint() {
    CurvePlot plot;
    plot.resize(800, 400);
    auto a = std::make_shared<MetricSeries>();
    auto b = std::make_shared<MetricSeries>();
    for (int i = 0; i <= 100; ++i) {
      a->step.push_back(i * 10);
      a->wall_time.push_back(i);
      a->value.push_back(i * 0.5);
      b->step.push_back(i * 20);  // a run twice as long
      b->wall_time.push_back(i);
      b->value.push_back(100 - i);
    }
    plot.setCurves({{"a", Qt::blue, a, 32}, {"b", Qt::red, b, 32}});
    const QRectF area = plot.plotArea();
    const WorldRect w = plot.window();
    const double px = area.left() + (500.0 - w.xmin) / w.width() * area.width();  // step 500
    const auto points = plot.pointsAt(px);
    QCOMPARE(int(points.size()), 2);
    QCOMPARE(points[0].curve, 0);
    QCOMPARE(points[0].step, std::int64_t{500});
    QCOMPARE(points[0].value, 25.0);
    QCOMPARE(points[1].step, std::int64_t{500});  // b's step 500 is its 25th point
    QCOMPARE(points[1].value, 75.0);
    // Past a's end only b answers.
    const double late = area.left() + (1800.0 - w.xmin) / w.width() * area.width();
    QCOMPARE(int(plot.pointsAt(late).size()), 1);
    // The mouse sets the hover position; leaving clears it.
    mouse(plot, QEvent::MouseMove, QPointF(px, area.center().y()), Qt::NoButton, Qt::NoButton);
    QVERIFY(plot.hoverX().has_value());
    QEvent leave(QEvent::Leave);
    QApplication::sendEvent(&plot, &leave);
    QVERIFY(!plot.hoverX().has_value());
  }

  void wallTimesOutOfOrder() {
    // A resumed run: its wall clock restarts. The points are drawn by wall time, and the
    // readout still names the step each came from.
    auto s = std::make_shared<MetricSeries>();
    const double walls[] = {0, 1, 2, 3, 0.5, 1.5, 2.5};
    for (int i = 0; i < 7; ++i) {
      s->step.push_back(i + 1);
      s->wall_time.push_back(walls[i]);
      s->value.push_back(i);
    }
    CurvePlot plot;
    plot.resize(600, 300);
    plot.setCurves({{"resumed", Qt::darkGreen, s, 0}});
    plot.setXAxis(CurveXAxis::wall_time);
    QCOMPARE(plot.fullRange().xmin, 0.0);
    QCOMPARE(plot.fullRange().xmax, 3.0);
    const QRectF area = plot.plotArea();
    const WorldRect w = plot.window();
    const auto points = plot.pointsAt(area.left() + (1.5 - w.xmin) / w.width() * area.width());
    QCOMPARE(int(points.size()), 1);
    QCOMPARE(points[0].step, std::int64_t{6});
    QCOMPARE(points[0].value, 5.0);
    // In pixel order left to right.
    const auto& path = plot.drawnPath(0);
    QCOMPARE(int(path.size()), 1);
    for (qsizetype i = 1; i < path[0].size(); ++i) QVERIFY(path[0][i].x() >= path[0][i - 1].x());
  }

  void logYLeavesGapsAtNonPositiveValues() {
    auto s = std::make_shared<MetricSeries>();
    for (int i = 0; i < 30; ++i) {
      s->step.push_back(i);
      s->wall_time.push_back(i);
      s->value.push_back(i == 15 ? 0.0 : std::pow(10.0, -i / 10.0));
    }
    CurvePlot plot;
    plot.resize(600, 300);
    plot.setCurves({{"loss", Qt::black, s, 0}});
    QCOMPARE(int(plot.drawnPath(0).size()), 1);
    plot.setLogY(true);
    QVERIFY(plot.logY());
    QCOMPARE(int(plot.drawnPath(0).size()), 2);  // split at the zero
    // The y window is in log10: from about -2.9 to 0.
    QVERIFY(plot.window().ymin < -2.8 && plot.window().ymin > -3.2);
    QVERIFY(plot.window().ymax > 0.0 && plot.window().ymax < 0.2);
  }

  void legendTogglesCurves() {
    CurvePlot plot;
    plot.resize(800, 400);
    auto curves = threeCurves(1000);
    curves.push_back({"#4 empty", tb::widgets::sessionColor(3), nullptr, 0});
    plot.setCurves(curves);
    QCOMPARE(plot.curveCount(), 4);
    // The legend's entries are in the curves' colours, in order, beside the plot.
    for (int c = 0; c < 4; ++c) {
      QCOMPARE(plot.curves()[static_cast<std::size_t>(c)].color, tb::widgets::sessionColor(c));
      QVERIFY(plot.legendEntry(c).left() > plot.plotArea().right());
    }
    QSignalSpy toggled(&plot, &CurvePlot::curveVisibilityChanged);
    mouse(plot, QEvent::MouseButtonPress, plot.legendEntry(1).center(), Qt::LeftButton,
          Qt::LeftButton);
    QCOMPARE(toggled.count(), 1);
    QVERIFY(!plot.curveVisible(1));
    QVERIFY(plot.drawnPath(1).empty());
    QCOMPARE(int(plot.pointsAt(plot.plotArea().center().x()).size()), 2);
    mouse(plot, QEvent::MouseButtonPress, plot.legendEntry(1).center(), Qt::LeftButton,
          Qt::LeftButton);
    QVERIFY(plot.curveVisible(1));
    QVERIFY(!plot.drawnPath(1).empty());
    // The legend is painted in the curve's colour: sample its swatch.
    const QImage image = plot.toImage(1.0);
    const QRect swatch = plot.legendEntry(0);
    QCOMPARE(image.pixelColor(swatch.left() + 10, swatch.center().y()),
             tb::widgets::sessionColor(0));
  }

  void legendMakesRoomForItsNames() {
    // The legend's width is measured once per set of curves and font: a longer name, or a
    // bigger font, must still narrow the plot area.
    CurvePlot plot;
    plot.resize(900, 400);
    plot.setCurves(threeCurves(100));
    const double shortNames = plot.plotArea().width();
    auto curves = threeCurves(100);
    curves[1].name = QStringLiteral("#2 a much longer session name, lr=3e-4 bs=256");
    plot.setCurves(curves);
    const double longName = plot.plotArea().width();
    QVERIFY2(longName < shortNames,
             qPrintable(QStringLiteral("%1 vs %2").arg(longName).arg(shortNames)));
    QVERIFY(plot.legendEntry(1).width() > 0);
    QCOMPARE(plot.legendEntry(0).width(), plot.legendEntry(1).width());
    plot.setCurves(threeCurves(100));
    QCOMPARE(plot.plotArea().width(), shortNames);
    QFont big = plot.font();
    big.setPointSizeF(big.pointSizeF() * 1.6);
    plot.setFont(big);
    QVERIFY(plot.plotArea().width() < shortNames);
  }

  void onScreenAndExportAgree() {
    // The screen's column rectangles and the export's stroked lines put the same colours in the
    // same places: compare which pixels each curve colours, column by column.
    CurvePlot plot;
    plot.resize(700, 380);
    plot.setRenderThreads(3);
    plot.setCurves(threeCurves(20'000));
    plot.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    const QImage screen = plot.grab().toImage();
    const QImage exported = plot.toImage(1.0);
    const QRect area = plot.plotArea().toRect().adjusted(2, 2, -2, -2);
    const QColor c0 = tb::widgets::sessionColor(0);
    int both = 0, onlyOne = 0;
    for (int x = area.left(); x < area.right(); x += 7) {
      for (int y = area.top(); y < area.bottom(); ++y) {
        const bool a = screen.pixelColor(x, y) == c0;
        const bool b = exported.pixelColor(x, y).red() < 120 &&
                       exported.pixelColor(x, y).blue() > 120;  // antialiased: near the colour
        both += a && b;
        onlyOne += a != b;
      }
    }
    QVERIFY2(both > 200, qPrintable(QString::number(both)));
    QVERIFY2(onlyOne < both, qPrintable(QStringLiteral("%1 vs %2").arg(onlyOne).arg(both)));
  }

  void exportsPngAndSvg() {
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    CurvePlot plot;
    plot.resize(700, 380);
    plot.setCurves(threeCurves(5000));
    plot.setYLabel("train loss");
    const QString png = dir.filePath("curves.png");
    const QString svg = dir.filePath("curves.svg");
    QVERIFY(plot.exportPng(png));
    QVERIFY(plot.exportSvg(svg));
    QImage image;
    QVERIFY(image.load(png));
    QCOMPARE(image.size(), QSize(1400, 760));  // 2x for sharpness
    QFile file(svg);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray text = file.readAll();
    QVERIFY(text.contains("<svg"));
    QVERIFY(text.contains("train loss"));
    QVERIFY(text.contains("polyline") || text.contains("<path"));
    // The curve's colour is in the SVG.
    QVERIFY(text.contains(tb::widgets::sessionColor(1).name().toLatin1()));
  }

  void emptyAndMessage() {
    CurvePlot plot;
    plot.resize(500, 300);
    QCOMPARE(plot.drawnPointCount(0), std::size_t{0});
    plot.setMessage("Loading test loss…");
    QVERIFY(!plot.toImage(1.0).isNull());
    plot.setCurves({{"none", Qt::red, nullptr, 0}});
    QVERIFY(plot.drawnPath(0).empty());
    QVERIFY(plot.pointsAt(100).empty());
  }

  void screenshot() {
    CurvePlot plot;
    plot.resize(900, 460);
    plot.show();
    plot.setCurves(threeCurves(100'000));
    plot.setSmoothing(0.9);
    plot.setYLabel("train loss");
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    mouse(plot, QEvent::MouseMove, plot.plotArea().center(), Qt::NoButton, Qt::NoButton);
    saveScreenshot(plot, "curve_plot.png");
  }
};

QTEST_MAIN(CurvePlotTest)
#include "curve_plot_test.moc"
