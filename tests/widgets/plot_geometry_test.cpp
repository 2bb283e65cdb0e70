// plot_geometry.h: the world <-> pixel mapping (corners, y flip, round trips, degenerate
// rectangles), nice ticks, the fitted extent and the colour levels, as data-driven Qt tests.
#include <QTest>

#include <cmath>
#include <vector>

#include "widgets/plot_geometry.h"

using tb::widgets::fitExtent;
using tb::widgets::logLevel;
using tb::widgets::niceTicks;
using tb::widgets::PixelRect;
using tb::widgets::PlotMapping;
using tb::widgets::Point2;
using tb::widgets::signedLogLevel;
using tb::widgets::WorldRect;

Q_DECLARE_METATYPE(WorldRect)
Q_DECLARE_METATYPE(PixelRect)
Q_DECLARE_METATYPE(std::vector<double>)
Q_DECLARE_METATYPE(std::vector<Point2>)

class PlotGeometryTest : public QObject {
  Q_OBJECT

 private slots:
  void toPixel_data() {
    QTest::addColumn<WorldRect>("world");
    QTest::addColumn<PixelRect>("pixels");
    QTest::addColumn<double>("x");
    QTest::addColumn<double>("y");
    QTest::addColumn<double>("px");
    QTest::addColumn<double>("py");
    const WorldRect rosen{-2, 2, -1, 3};
    const PixelRect plot{50, 30, 400, 200};
    // World's top-left is pixel top-left: +y is up on screen.
    QTest::newRow("top-left") << rosen << plot << -2.0 << 3.0 << 50.0 << 30.0;
    QTest::newRow("bottom-right") << rosen << plot << 2.0 << -1.0 << 450.0 << 230.0;
    QTest::newRow("bottom-left") << rosen << plot << -2.0 << -1.0 << 50.0 << 230.0;
    QTest::newRow("centre") << rosen << plot << 0.0 << 1.0 << 250.0 << 130.0;
    QTest::newRow("minimum (1, 1)") << rosen << plot << 1.0 << 1.0 << 350.0 << 130.0;
    QTest::newRow("outside left/above") << rosen << plot << -4.0 << 5.0 << -150.0 << -70.0;
    QTest::newRow("unit square, no offset")
        << WorldRect{0, 1, 0, 1} << PixelRect{0, 0, 100, 100} << 0.25 << 0.75 << 25.0 << 25.0;
    QTest::newRow("degenerate world: no division by zero")
        << WorldRect{1, 1, 2, 2} << plot << 5.0 << 7.0 << 50.0 << 30.0;
  }
  void toPixel() {
    QFETCH(WorldRect, world);
    QFETCH(PixelRect, pixels);
    QFETCH(double, x);
    QFETCH(double, y);
    QFETCH(double, px);
    QFETCH(double, py);
    const PlotMapping m{world, pixels};
    const Point2 p = m.toPixel(x, y);
    QCOMPARE(p.x, px);
    QCOMPARE(p.y, py);
  }

  void roundTrip_data() {
    QTest::addColumn<WorldRect>("world");
    QTest::addColumn<PixelRect>("pixels");
    QTest::newRow("rosenbrock in a panel")
        << WorldRect{-2, 2, -1, 3} << PixelRect{52, 47, 381, 327};
    QTest::newRow("beale, odd size") << WorldRect{-1, 4.5, -1.5, 2.5} << PixelRect{0, 0, 97, 33};
    QTest::newRow("tiny world") << WorldRect{1e-6, 2e-6, -3e-6, -1e-6}
                                << PixelRect{10, 10, 640, 480};
    QTest::newRow("huge world") << WorldRect{-1e8, 1e8, -5e7, 5e7} << PixelRect{10, 10, 300, 300};
    QTest::newRow("one pixel") << WorldRect{-1, 1, -1, 1} << PixelRect{3, 4, 1, 1};
  }
  void roundTrip() {
    QFETCH(WorldRect, world);
    QFETCH(PixelRect, pixels);
    const PlotMapping m{world, pixels};
    const double tolerance = 1e-9 * std::max(world.width(), world.height());
    for (int i = 0; i <= 10; ++i) {
      for (int j = 0; j <= 10; ++j) {
        const double x = world.xmin + world.width() * i / 10.0;
        const double y = world.ymin + world.height() * j / 10.0;
        const Point2 px = m.toPixel(x, y);
        const Point2 back = m.toWorld(px.x, px.y);
        QVERIFY2(std::abs(back.x - x) <= tolerance && std::abs(back.y - y) <= tolerance,
                 qPrintable(QStringLiteral("(%1, %2) came back as (%3, %4)")
                                .arg(x)
                                .arg(y)
                                .arg(back.x)
                                .arg(back.y)));
        // And pixel -> world -> pixel.
        const Point2 w = m.toWorld(px.x, px.y);
        const Point2 again = m.toPixel(w.x, w.y);
        QVERIFY(std::abs(again.x - px.x) < 1e-6 && std::abs(again.y - px.y) < 1e-6);
      }
    }
  }

  void imageSampleIsAtPixelCentres() {
    const PlotMapping m{{0, 10, 0, 10}, {0, 0, 10, 10}};
    const Point2 first = m.imageSample(0, 0);
    QCOMPARE(first.x, 0.5);
    QCOMPARE(first.y, 9.5);  // row 0 is the top: the largest y
    const Point2 last = m.imageSample(9, 9);
    QCOMPARE(last.x, 9.5);
    QCOMPARE(last.y, 0.5);
  }

  void niceTicks_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<int>("maxTicks");
    QTest::addColumn<std::vector<double>>("expected");
    QTest::newRow("-2..2, 5") << -2.0 << 2.0 << 5 << std::vector<double>{-2, -1, 0, 1, 2};
    QTest::newRow("-2..2, 9") << -2.0 << 2.0 << 9
                              << std::vector<double>{-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2};
    QTest::newRow("-1..3, 6") << -1.0 << 3.0 << 6 << std::vector<double>{-1, 0, 1, 2, 3};
    QTest::newRow("0..100, 3") << 0.0 << 100.0 << 3 << std::vector<double>{0, 50, 100};
    QTest::newRow("-1..4.5, 7 (step 1, no 4.5)")
        << -1.0 << 4.5 << 7 << std::vector<double>{-1, 0, 1, 2, 3, 4};
    QTest::newRow("0.13..0.91, 5 (step 0.2)")
        << 0.13 << 0.91 << 5 << std::vector<double>{0.2, 0.4, 0.6, 0.8};
    QTest::newRow("zero is exact")
        << -0.3 << 0.3 << 7 << std::vector<double>{-0.3, -0.2, -0.1, 0, 0.1, 0.2, 0.3};
    QTest::newRow("empty range") << 1.0 << 1.0 << 5 << std::vector<double>{};
    QTest::newRow("reversed range") << 2.0 << 1.0 << 5 << std::vector<double>{};
    QTest::newRow("too few ticks asked") << 0.0 << 1.0 << 1 << std::vector<double>{};
  }
  void niceTicks() {
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(int, maxTicks);
    QFETCH(std::vector<double>, expected);
    const std::vector<double> ticks = tb::widgets::niceTicks(lo, hi, maxTicks);
    QCOMPARE(ticks.size(), expected.size());
    for (std::size_t i = 0; i < ticks.size(); ++i) {
      QVERIFY2(
          std::abs(ticks[i] - expected[i]) < 1e-12,
          qPrintable(
              QStringLiteral("tick %1: %2, expected %3").arg(i).arg(ticks[i]).arg(expected[i])));
      if (expected[i] == 0.0) QCOMPARE(ticks[i], 0.0);
    }
    QVERIFY(static_cast<int>(ticks.size()) <= std::max(maxTicks, 0));
  }

  void fitExtent_data() {
    QTest::addColumn<std::vector<Point2>>("points");
    QTest::addColumn<WorldRect>("expected");
    const double inf = std::numeric_limits<double>::infinity();
    QTest::newRow("inside: unchanged")
        << std::vector<Point2>{{0, 0}, {1.9, 2.9}} << WorldRect{-2, 2, -1, 3};
    QTest::newRow("no points") << std::vector<Point2>{} << WorldRect{-2, 2, -1, 3};
    // Grown to x = 3, then a 4% margin of the grown width (5): 3.2.
    QTest::newRow("a bit right") << std::vector<Point2>{{3, 1}} << WorldRect{-2, 3.2, -1, 3};
    QTest::newRow("far below: capped at one base height")
        << std::vector<Point2>{{0, -1e9}} << WorldRect{-2, 2, -5, 3};
    QTest::newRow("non-finite ignored")
        << std::vector<Point2>{{inf, 0}, {0, std::nan("")}} << WorldRect{-2, 2, -1, 3};
  }
  void fitExtent() {
    QFETCH(std::vector<Point2>, points);
    QFETCH(WorldRect, expected);
    const WorldRect r = tb::widgets::fitExtent({-2, 2, -1, 3}, points);
    QVERIFY2(
        std::abs(r.xmin - expected.xmin) < 1e-12 && std::abs(r.xmax - expected.xmax) < 1e-12 &&
            std::abs(r.ymin - expected.ymin) < 1e-12 && std::abs(r.ymax - expected.ymax) < 1e-12,
        qPrintable(
            QStringLiteral("[%1, %2] x [%3, %4]").arg(r.xmin).arg(r.xmax).arg(r.ymin).arg(r.ymax)));
  }

  void levels() {
    // log(1 + f - fmin) / log(1 + fmax - fmin): 0 at the minimum, 1 at the top, clamped.
    QCOMPARE(logLevel(0.0, 0.0, 100.0), 0.0);
    QCOMPARE(logLevel(100.0, 0.0, 100.0), 1.0);
    QVERIFY(std::abs(logLevel(std::sqrt(101.0) - 1.0, 0.0, 100.0) - 0.5) < 1e-12);
    QCOMPARE(logLevel(1e6, 0.0, 100.0), 1.0);
    QCOMPARE(logLevel(-5.0, 0.0, 100.0), 0.0);
    QCOMPARE(logLevel(3.0, 3.0, 3.0), 0.0);  // flat grid: no division by zero
    // Signed: symmetric around 0 for the saddle's diverging map.
    QCOMPARE(signedLogLevel(0.0, 4.0), 0.0);
    QCOMPARE(signedLogLevel(4.0, 4.0), 1.0);
    QCOMPARE(signedLogLevel(-4.0, 4.0), -1.0);
    QCOMPARE(signedLogLevel(-1.0, 4.0), -signedLogLevel(1.0, 4.0));
    QCOMPARE(signedLogLevel(1.0, 0.0), 0.0);
  }
};

QTEST_APPLESS_MAIN(PlotGeometryTest)
#include "plot_geometry_test.moc"
