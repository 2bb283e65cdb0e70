// curve_geometry.h: the x of each axis mode (samples seen = step x batch size), the visible slice
// with its neighbours, the downsampling budget, nearest points, padded and zoomed and panned
// windows, log ticks and tick labels, pixel-column extents of a dense curve; curve_levels.h: the
// coarser copies of long curves and which one a window uses. Data-driven Qt tests.
#include <QTest>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "widgets/curve_geometry.h"
#include "widgets/curve_levels.h"

using tb::compare::CurvePoint;
using tb::widgets::ColumnRange;
using tb::widgets::CurveXAxis;

Q_DECLARE_METATYPE(CurveXAxis)
Q_DECLARE_METATYPE(std::vector<double>)
Q_DECLARE_METATYPE(std::vector<ColumnRange>)

namespace {

std::vector<CurvePoint> line(std::vector<double> xs) {
  std::vector<CurvePoint> points;
  for (const double x : xs) points.push_back({x, x * 2});
  return points;
}

}  // namespace

class CurveGeometryTest : public QObject {
  Q_OBJECT

 private slots:
  void curveX_data() {
    QTest::addColumn<CurveXAxis>("axis");
    QTest::addColumn<qint64>("step");
    QTest::addColumn<double>("wall");
    QTest::addColumn<qint64>("batch");
    QTest::addColumn<double>("expected");  // NaN: no x
    QTest::newRow("step") << CurveXAxis::step << qint64(1200) << 3.5 << qint64(64) << 1200.0;
    QTest::newRow("samples = step x batch")
        << CurveXAxis::samples << qint64(1200) << 3.5 << qint64(64) << 76800.0;
    QTest::newRow("samples, batch unknown")
        << CurveXAxis::samples << qint64(1200) << 3.5 << qint64(0)
        << std::numeric_limits<double>::quiet_NaN();
    QTest::newRow("wall time") << CurveXAxis::wall_time << qint64(1200) << 3.5 << qint64(64) << 3.5;
  }
  void curveX() {
    QFETCH(CurveXAxis, axis);
    QFETCH(qint64, step);
    QFETCH(double, wall);
    QFETCH(qint64, batch);
    QFETCH(double, expected);
    const double x = tb::widgets::curveX(axis, step, wall, batch);
    if (std::isnan(expected)) {
      QVERIFY(std::isnan(x));
    } else {
      QCOMPARE(x, expected);
    }
  }

  void logAxisValues() {
    QCOMPARE(tb::widgets::toAxisY(100.0, true), 2.0);
    QCOMPARE(tb::widgets::toAxisY(-3.0, false), -3.0);
    QVERIFY(std::isnan(tb::widgets::toAxisY(0.0, true)));  // a gap, not -inf
    QVERIFY(std::isnan(tb::widgets::toAxisY(-1.0, true)));
    QCOMPARE(tb::widgets::fromAxisY(-2.0, true), 0.01);
  }

  void visibleSlice_data() {
    QTest::addColumn<std::vector<double>>("xs");
    QTest::addColumn<double>("x0");
    QTest::addColumn<double>("x1");
    QTest::addColumn<int>("first");
    QTest::addColumn<int>("last");
    const std::vector<double> xs = {0, 10, 20, 30, 40, 50};
    QTest::newRow("all") << xs << -5.0 << 55.0 << 0 << 6;
    QTest::newRow("inside plus a neighbour each side") << xs << 15.0 << 35.0 << 1 << 5;
    QTest::newRow("on points") << xs << 20.0 << 30.0 << 1 << 5;
    QTest::newRow("between two points") << xs << 21.0 << 29.0 << 2 << 4;
    QTest::newRow("left of all") << xs << -20.0 << -10.0 << 0 << 1;
    QTest::newRow("right of all") << xs << 60.0 << 70.0 << 5 << 6;
    QTest::newRow("empty") << std::vector<double>{} << 0.0 << 1.0 << 0 << 0;
  }
  void visibleSlice() {
    QFETCH(std::vector<double>, xs);
    QFETCH(double, x0);
    QFETCH(double, x1);
    QFETCH(int, first);
    QFETCH(int, last);
    const auto points = line(xs);
    const auto [f, l] = tb::widgets::visibleSlice(points, x0, x1);
    QCOMPARE(int(f), first);
    QCOMPARE(int(l), last);
  }

  void downsampleBudget() {
    QCOMPARE(tb::widgets::downsampleBudget(800.0), std::size_t{1600});
    QCOMPARE(tb::widgets::downsampleBudget(799.2), std::size_t{1600});
    QCOMPARE(tb::widgets::downsampleBudget(0.0), std::size_t{3});
    QCOMPARE(tb::widgets::downsampleBudget(std::numeric_limits<double>::quiet_NaN()),
             std::size_t{3});
  }

  void nearestByX_data() {
    QTest::addColumn<double>("x");
    QTest::addColumn<int>("index");
    QTest::newRow("left of all") << -100.0 << 0;
    QTest::newRow("exact") << 20.0 << 2;
    QTest::newRow("nearer the left") << 24.0 << 2;
    QTest::newRow("nearer the right") << 26.0 << 3;
    QTest::newRow("tie: the earlier") << 25.0 << 2;
    QTest::newRow("right of all") << 1e9 << 5;
  }
  void nearestByX() {
    QFETCH(double, x);
    QFETCH(int, index);
    const auto points = line({0, 10, 20, 30, 40, 50});
    QCOMPARE(int(*tb::widgets::nearestByX(points, x)), index);
  }
  void nearestOfNothing() {
    QVERIFY(!tb::widgets::nearestByX({}, 1.0));
    const auto points = line({1, 2});
    QVERIFY(!tb::widgets::nearestByX(points, std::numeric_limits<double>::quiet_NaN()));
  }

  void ranges() {
    const std::vector<double> values = {3, std::numeric_limits<double>::quiet_NaN(), -1, 7,
                                        std::numeric_limits<double>::infinity()};
    const auto r = tb::widgets::finiteRange(values);
    QVERIFY(r);
    QCOMPARE(r->first, -1.0);
    QCOMPARE(r->second, 7.0);
    QVERIFY(!tb::widgets::finiteRange(std::vector<double>{}));
    // Padded by 4% of the size; a flat range opened around its value.
    auto [lo, hi] = tb::widgets::paddedRange(0.0, 100.0);
    QCOMPARE(lo, -4.0);
    QCOMPARE(hi, 104.0);
    std::tie(lo, hi) = tb::widgets::paddedRange(2.0, 2.0);
    QCOMPARE(lo, 1.9);
    QCOMPARE(hi, 2.1);
    std::tie(lo, hi) = tb::widgets::paddedRange(0.0, 0.0);
    QCOMPARE(lo, -1.0);
    QCOMPARE(hi, 1.0);
  }

  void zoomedWindow_data() {
    QTest::addColumn<double>("x0");
    QTest::addColumn<double>("x1");
    QTest::addColumn<double>("anchor");
    QTest::addColumn<double>("factor");
    QTest::addColumn<double>("new0");
    QTest::addColumn<double>("new1");
    // Limits [0, 1000], narrowest 10.
    QTest::newRow("in about the centre") << 0.0 << 1000.0 << 500.0 << 2.0 << 250.0 << 750.0;
    QTest::newRow("in about the left edge") << 0.0 << 1000.0 << 0.0 << 4.0 << 0.0 << 250.0;
    QTest::newRow("anchor keeps its place") << 100.0 << 300.0 << 150.0 << 2.0 << 125.0 << 225.0;
    QTest::newRow("out past the limits: clamped")
        << 800.0 << 1000.0 << 900.0 << 0.1 << 0.0 << 1000.0;
    QTest::newRow("out near an edge: shifted inside")
        << 900.0 << 1000.0 << 950.0 << 0.5 << 800.0 << 1000.0;
    QTest::newRow("no narrower than the minimum") << 0.0 << 20.0 << 10.0 << 100.0 << 5.0 << 15.0;
  }
  void zoomedWindow() {
    QFETCH(double, x0);
    QFETCH(double, x1);
    QFETCH(double, anchor);
    QFETCH(double, factor);
    QFETCH(double, new0);
    QFETCH(double, new1);
    const auto [a, b] = tb::widgets::zoomedWindow(x0, x1, anchor, factor, 0.0, 1000.0, 10.0);
    QCOMPARE(a, new0);
    QCOMPARE(b, new1);
  }

  void pannedWindow() {
    auto [a, b] = tb::widgets::pannedWindow(100, 200, 50, 0, 1000);
    QCOMPARE(a, 150.0);
    QCOMPARE(b, 250.0);
    std::tie(a, b) = tb::widgets::pannedWindow(100, 200, -500, 0, 1000);
    QCOMPARE(a, 0.0);
    QCOMPARE(b, 100.0);
    std::tie(a, b) = tb::widgets::pannedWindow(850, 950, 500, 0, 1000);
    QCOMPARE(a, 900.0);
    QCOMPARE(b, 1000.0);
  }

  void logTicks_data() {
    QTest::addColumn<double>("lo");
    QTest::addColumn<double>("hi");
    QTest::addColumn<int>("maxTicks");
    QTest::addColumn<std::vector<double>>("ticks");
    QTest::newRow("decades") << -3.2 << 0.5 << 8 << std::vector<double>{-3, -2, -1, 0};
    QTest::newRow("thinned") << -6.0 << 2.0 << 4 << std::vector<double>{-6, -3, 0};
    QTest::newRow("empty range") << 1.0 << 1.0 << 5 << std::vector<double>{};
  }
  void logTicks() {
    QFETCH(double, lo);
    QFETCH(double, hi);
    QFETCH(int, maxTicks);
    QFETCH(std::vector<double>, ticks);
    QCOMPARE(tb::widgets::logTicks(lo, hi, maxTicks), ticks);
  }
  void narrowLogAxisStillHasTicks() {
    // 0.2 .. 0.5: no power of ten inside; linear ticks of the values, as log10.
    const auto ticks = tb::widgets::logTicks(std::log10(0.2), std::log10(0.5), 5);
    QVERIFY(ticks.size() >= 2);
    for (const double t : ticks) {
      QVERIFY(t >= std::log10(0.2) - 1e-12 && t <= std::log10(0.5) + 1e-12);
    }
  }

  void tickLabel_data() {
    QTest::addColumn<double>("value");
    QTest::addColumn<double>("step");
    QTest::addColumn<QString>("label");
    QTest::newRow("zero") << 0.0 << 5000.0 << "0";
    QTest::newRow("thousands") << 25000.0 << 5000.0 << "25k";
    QTest::newRow("small thousands keep the suffix") << 5000.0 << 5000.0 << "5k";
    QTest::newRow("millions") << 1.5e6 << 5e5 << "1.5M";
    QTest::newRow("plain integers") << 400.0 << 100.0 << "400";
    QTest::newRow("decimals from the step") << 0.25 << 0.05 << "0.25";
    QTest::newRow("one decimal") << 1.5 << 0.5 << "1.5";
    QTest::newRow("tiny steps") << 2e-5 << 1e-5 << "2e-05";
    QTest::newRow("negative") << -0.2 << 0.1 << "-0.2";
  }
  void tickLabel() {
    QFETCH(double, value);
    QFETCH(double, step);
    QFETCH(QString, label);
    QCOMPARE(QString::fromStdString(tb::widgets::tickLabel(value, step)), label);
  }

  void logTickLabel() {
    QCOMPARE(QString::fromStdString(tb::widgets::logTickLabel(-3)), QString("1e-3"));
    QCOMPARE(QString::fromStdString(tb::widgets::logTickLabel(-2)), QString("0.01"));
    QCOMPARE(QString::fromStdString(tb::widgets::logTickLabel(0)), QString("1"));
    QCOMPARE(QString::fromStdString(tb::widgets::logTickLabel(2)), QString("100"));
    QCOMPARE(QString::fromStdString(tb::widgets::logTickLabel(5)), QString("1e5"));
  }

  void columnEnvelope_data() {
    QTest::addColumn<std::vector<double>>("xs");
    QTest::addColumn<std::vector<double>>("ys");
    QTest::addColumn<std::vector<ColumnRange>>("expected");
    const double nan = std::numeric_limits<double>::quiet_NaN();
    // Window [0, 10) over 5 columns of width 2.
    QTest::newRow("two points a column, joined to the previous")
        << std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
        << std::vector<double>{0, 1, 5, 3, 2, 2, 9, 8, 7, 7}
        << std::vector<ColumnRange>{{0, 0, 1}, {1, 1, 5}, {2, 2, 3}, {3, 2, 9}, {4, 7, 8}};
    QTest::newRow("an outlier is kept")
        << std::vector<double>{0, 0.5, 1, 1.5} << std::vector<double>{1, 100, 1, 1}
        << std::vector<ColumnRange>{{0, 1, 100}};
    QTest::newRow("a gap breaks the join")
        << std::vector<double>{0, 2, 4, 6} << std::vector<double>{1, 9, nan, 3}
        << std::vector<ColumnRange>{{0, 1, 1}, {1, 1, 9}, {3, 3, 3}};
    QTest::newRow("neighbours outside only join")
        << std::vector<double>{-3, 1, 11} << std::vector<double>{50, 2, -50}
        << std::vector<ColumnRange>{{0, 2, 50}};
    QTest::newRow("the right edge is the last column")
        << std::vector<double>{10} << std::vector<double>{4} << std::vector<ColumnRange>{{4, 4, 4}};
  }
  void columnEnvelope() {
    QFETCH(std::vector<double>, xs);
    QFETCH(std::vector<double>, ys);
    QFETCH(std::vector<ColumnRange>, expected);
    std::vector<CurvePoint> points;
    for (std::size_t i = 0; i < xs.size(); ++i) points.push_back({xs[i], ys[i]});
    const auto got = tb::widgets::columnEnvelope(points, 0.0, 10.0, 5);
    QCOMPARE(int(got.size()), int(expected.size()));
    for (std::size_t i = 0; i < got.size(); ++i) {
      QCOMPARE(got[i].column, expected[i].column);
      QCOMPARE(got[i].lo, expected[i].lo);
      QCOMPARE(got[i].hi, expected[i].hi);
    }
    QVERIFY(tb::widgets::columnEnvelope(points, 0.0, 10.0, 0).empty());
  }

  void levelsOfALongCurve() {
    std::vector<CurvePoint> points;
    for (int i = 0; i < 100'000; ++i)
      points.push_back({double(i), std::sin(i * 0.001) + (i % 7 == 0 ? 0.5 : 0.0)});
    points[54321].y = 9.0;  // a spike
    points[777].y = -9.0;   // a dip
    const auto lttb = tb::widgets::lttbLevels(points, 1000);
    QCOMPARE(int(lttb.size()), 3);
    QCOMPARE(lttb[0].size(), std::size_t{25'000});
    QCOMPARE(lttb[1].size(), std::size_t{6'250});
    QCOMPARE(lttb[2].size(), std::size_t{1'562});
    for (const auto& level : lttb) {
      QCOMPARE(level.front().x, 0.0);  // first and last kept
      QCOMPARE(level.back().x, 99'999.0);
      for (std::size_t i = 1; i < level.size(); ++i) QVERIFY(level[i].x > level[i - 1].x);
    }
    // Extrema levels keep every extreme, so a window's extent is the same at every level.
    const auto extrema = tb::widgets::extremaLevels(points, 1000);
    QCOMPARE(int(extrema.size()), 3);
    for (const auto& level : extrema) {
      double lo = 0, hi = 0;
      for (const auto& p : level) {
        lo = std::min(lo, p.y);
        hi = std::max(hi, p.y);
      }
      QCOMPARE(lo, -9.0);
      QCOMPARE(hi, 9.0);
      QVERIFY(level.size() <= points.size() / 3);
    }
    // Whole: the coarsest copy that still has 2000 points in the window; a narrow window: the
    // points themselves.
    QCOMPARE(&tb::widgets::levelFor(points, lttb, 0, 99'999, 2000), &lttb[1]);
    QCOMPARE(&tb::widgets::levelFor(points, lttb, 0, 99'999, 100), &lttb[2]);
    QCOMPARE(&tb::widgets::levelFor(points, lttb, 500, 1500, 2000), &points);
    // Short curves have no levels.
    QVERIFY(tb::widgets::lttbLevels(std::vector<CurvePoint>(5000)).empty());
  }

  void extremaKeepGaps() {
    std::vector<CurvePoint> points;
    for (int i = 0; i < 4000; ++i) points.push_back({double(i), i == 2001 ? NAN : 1.0});
    const auto levels = tb::widgets::extremaLevels(points, 100);
    QVERIFY(!levels.empty());
    for (const auto& level : levels) {
      QVERIFY(std::any_of(level.begin(), level.end(),
                          [](const CurvePoint& p) { return std::isnan(p.y); }));
    }
  }
};

QTEST_MAIN(CurveGeometryTest)
#include "curve_geometry_test.moc"
