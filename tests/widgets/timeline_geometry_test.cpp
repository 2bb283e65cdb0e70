// timeline_geometry.h: time <-> x (edges, round trips), zoom about a point keeps the time under
// it, pan, centring, resizing, and clamping to the trace, as data-driven Qt tests.
#include <QTest>

#include <cmath>

#include "widgets/timeline_geometry.h"

using tb::widgets::formatDuration;
using tb::widgets::rulerLabel;
using tb::widgets::TimeLimits;
using tb::widgets::TimelineGeometry;

Q_DECLARE_METATYPE(TimelineGeometry)
Q_DECLARE_METATYPE(TimeLimits)
Q_DECLARE_METATYPE(std::string)

namespace {
// 1 ms over 1000 px starting at pixel 180: 1000 ns a pixel.
TimelineGeometry millisecond() {
  return TimelineGeometry::fit(0.0, 1e6, 180.0, 1000.0);
}
}  // namespace

class TimelineGeometryTest : public QObject {
  Q_OBJECT

 private slots:
  void toX_data() {
    QTest::addColumn<TimelineGeometry>("g");
    QTest::addColumn<double>("t");
    QTest::addColumn<double>("x");
    QTest::newRow("start is the left edge") << millisecond() << 0.0 << 180.0;
    QTest::newRow("end is the right edge") << millisecond() << 1e6 << 1180.0;
    QTest::newRow("middle") << millisecond() << 5e5 << 680.0;
    QTest::newRow("before the window: left of the area") << millisecond() << -2e5 << -20.0;
    QTest::newRow("after the window") << millisecond() << 1.5e6 << 1680.0;
    QTest::newRow("offset start") << TimelineGeometry{1e9, 10.0, 0.0, 1920.0} << 1e9 + 19200.0
                                  << 1920.0;
    QTest::newRow("sub-nanosecond pixels")
        << TimelineGeometry{100.0, 0.01, 50.0, 800.0} << 101.0 << 150.0;
    QTest::newRow("late in a long trace: still exact")
        << TimelineGeometry{3.6e12, 1.0, 0.0, 1000.0} << 3.6e12 + 999.0 << 999.0;
  }
  void toX() {
    QFETCH(TimelineGeometry, g);
    QFETCH(double, t);
    QFETCH(double, x);
    QCOMPARE(g.toX(t), x);
    QCOMPARE(g.toTime(x), t);
  }

  void roundTrip_data() {
    QTest::addColumn<TimelineGeometry>("g");
    QTest::newRow("1 ms") << millisecond();
    QTest::newRow("a day, odd width") << TimelineGeometry::fit(0.0, 8.64e13, 33.0, 1237.0);
    QTest::newRow("1 ns over the screen") << TimelineGeometry::fit(5e8, 5e8 + 1, 180.0, 1740.0);
  }
  void roundTrip() {
    QFETCH(TimelineGeometry, g);
    // Within a thousandth of a pixel: at 1 ns over the screen half a second in, a double's
    // spacing (6e-8 ns) is already a ten-thousandth of a pixel.
    for (int i = 0; i <= 20; ++i) {
      const double x = g.left_px + g.width_px * i / 20.0;
      QVERIFY(std::abs(g.toX(g.toTime(x)) - x) < 1e-3);
    }
  }

  void fit_data() {
    QTest::addColumn<double>("t0");
    QTest::addColumn<double>("t1");
    QTest::addColumn<double>("width");
    QTest::addColumn<double>("nsPerPx");
    QTest::newRow("1 ms on 1000 px") << 0.0 << 1e6 << 1000.0 << 1000.0;
    QTest::newRow("empty window shows 1 ns") << 7.0 << 7.0 << 100.0 << 0.01;
    QTest::newRow("inverted window shows 1 ns") << 9.0 << 3.0 << 100.0 << 0.01;
    QTest::newRow("zero width is one pixel") << 0.0 << 50.0 << 0.0 << 50.0;
  }
  void fit() {
    QFETCH(double, t0);
    QFETCH(double, t1);
    QFETCH(double, width);
    QFETCH(double, nsPerPx);
    const TimelineGeometry g = TimelineGeometry::fit(t0, t1, 10.0, width);
    QCOMPARE(g.start_ns, t0);
    QCOMPARE(g.ns_per_px, nsPerPx);
  }

  void zoomAbout_data() {
    QTest::addColumn<double>("x");
    QTest::addColumn<double>("factor");
    QTest::addColumn<double>("start");
    QTest::addColumn<double>("nsPerPx");
    QTest::newRow("in 2x at the left edge") << 180.0 << 2.0 << 0.0 << 500.0;
    QTest::newRow("in 2x at the middle") << 680.0 << 2.0 << 2.5e5 << 500.0;
    QTest::newRow("in 4x at the right edge") << 1180.0 << 4.0 << 7.5e5 << 250.0;
    QTest::newRow("out 2x at the middle") << 680.0 << 0.5 << -5e5 << 2000.0;
    QTest::newRow("factor 1: nothing moves") << 333.0 << 1.0 << 0.0 << 1000.0;
    QTest::newRow("factor 0 is ignored") << 333.0 << 0.0 << 0.0 << 1000.0;
    QTest::newRow("NaN factor is ignored") << 333.0 << std::nan("") << 0.0 << 1000.0;
  }
  void zoomAbout() {
    QFETCH(double, x);
    QFETCH(double, factor);
    QFETCH(double, start);
    QFETCH(double, nsPerPx);
    const TimelineGeometry before = millisecond();
    const TimelineGeometry after = before.zoomedAbout(x, factor);
    QCOMPARE(after.start_ns, start);
    QCOMPARE(after.ns_per_px, nsPerPx);
    // The time under the cursor stays under the cursor.
    QCOMPARE(after.toTime(x), before.toTime(x));
  }

  void panAndCentre() {
    const TimelineGeometry g = millisecond();
    // Dragging right by 100 px shows 100 px worth of earlier time.
    QCOMPARE(g.panned(100.0).start_ns, -1e5);
    QCOMPARE(g.panned(-250.0).start_ns, 2.5e5);
    QCOMPARE(g.panned(0.0), g);
    const TimelineGeometry c = g.centredOn(4e6);
    QCOMPARE(c.ns_per_px, g.ns_per_px);
    QCOMPARE(c.toTime(c.left_px + c.width_px / 2), 4e6);
  }

  void resizedKeepsStartAndScale() {
    const TimelineGeometry g = millisecond().resized(200.0, 500.0);
    QCOMPARE(g.start_ns, 0.0);
    QCOMPARE(g.ns_per_px, 1000.0);
    QCOMPARE(g.left_px, 200.0);
    QCOMPARE(g.end_ns(), 5e5);
    QCOMPARE(millisecond().resized(0.0, -5.0).width_px, 1.0);
  }

  void clamped_data() {
    QTest::addColumn<TimelineGeometry>("g");
    QTest::addColumn<TimeLimits>("limits");
    QTest::addColumn<double>("start");
    QTest::addColumn<double>("nsPerPx");
    const TimeLimits trace{0.0, 1e6, 1e-3};
    QTest::newRow("inside: unchanged")
        << TimelineGeometry{1e5, 100.0, 0.0, 1000.0} << trace << 1e5 << 100.0;
    QTest::newRow("before the start")
        << TimelineGeometry{-5e4, 100.0, 0.0, 1000.0} << trace << 0.0 << 100.0;
    QTest::newRow("past the end") << TimelineGeometry{9.5e5, 100.0, 0.0, 1000.0} << trace << 9e5
                                  << 100.0;
    QTest::newRow("wider than the trace: the whole trace")
        << TimelineGeometry{-1e6, 5000.0, 0.0, 1000.0} << trace << 0.0 << 1000.0;
    QTest::newRow("deeper than the limit")
        << TimelineGeometry{500.0, 1e-6, 0.0, 1000.0} << trace << 500.0 << 1e-3;
    QTest::newRow("empty trace: the deepest zoom at its instant")
        << TimelineGeometry{3.0, 10.0, 0.0, 1000.0} << TimeLimits{42.0, 42.0, 1e-3} << 42.0 << 1e-3;
    QTest::newRow("NaN start goes to the beginning")
        << TimelineGeometry{std::nan(""), 100.0, 0.0, 1000.0} << trace << 0.0 << 100.0;
  }
  void clamped() {
    QFETCH(TimelineGeometry, g);
    QFETCH(TimeLimits, limits);
    QFETCH(double, start);
    QFETCH(double, nsPerPx);
    const TimelineGeometry c = g.clamped(limits);
    QCOMPARE(c.start_ns, start);
    QCOMPARE(c.ns_per_px, nsPerPx);
    QCOMPARE(c.clamped(limits), c);  // idempotent
  }

  void atEnd_data() {
    QTest::addColumn<double>("start");
    QTest::addColumn<bool>("atEnd");
    QTest::newRow("showing the end") << 9e5 << true;
    QTest::newRow("within 2 px of it") << 9e5 - 150.0 << true;
    QTest::newRow("scrolled back") << 5e5 << false;
  }
  void atEnd() {
    QFETCH(double, start);
    QFETCH(bool, atEnd);
    const TimelineGeometry g{start, 100.0, 0.0, 1000.0};
    QCOMPARE(g.atEnd(TimeLimits{0.0, 1e6, 1e-3}), atEnd);
  }

  void formatDuration_data() {
    QTest::addColumn<double>("ns");
    QTest::addColumn<std::string>("text");
    QTest::newRow("whole ns") << 750.0 << std::string("750 ns");
    QTest::newRow("fractional ns") << 2.5 << std::string("2.50 ns");
    QTest::newRow("zero") << 0.0 << std::string("0 ns");
    QTest::newRow("µs") << 1500.0 << std::string("1.500 µs");
    QTest::newRow("ms") << 3.5e6 << std::string("3.500 ms");
    QTest::newRow("s") << 61.25e9 << std::string("61.250 s");
    QTest::newRow("negative") << -2e6 << std::string("-2.000 ms");
  }
  void formatDuration() {
    QFETCH(double, ns);
    QFETCH(std::string, text);
    QCOMPARE(tb::widgets::formatDuration(ns), text);
  }

  void rulerLabel_data() {
    QTest::addColumn<double>("t");
    QTest::addColumn<double>("step");
    QTest::addColumn<std::string>("text");
    QTest::newRow("ms ticks") << 40e6 << 5e6 << std::string("40 ms");
    QTest::newRow("quarter ms ticks") << 1.25e6 << 0.25e6 << std::string("1250 µs");
    QTest::newRow("0.2 ms ticks") << 1.4e6 << 2e5 << std::string("1400 µs");
    QTest::newRow("2 ms ticks: whole ms") << 12e6 << 2e6 << std::string("12 ms");
    QTest::newRow("seconds") << 3e9 << 1e9 << std::string("3 s");
    QTest::newRow("0.5 ns ticks") << 100.5 << 0.5 << std::string("100.5 ns");
    QTest::newRow("a late tick keeps its digits")
        << 3600.000002e9 << 2e3 << std::string("3600000002 µs");
    QTest::newRow("minus zero is zero") << -1e-9 << 1e6 << std::string("0 ms");
  }
  void rulerLabel() {
    QFETCH(double, t);
    QFETCH(double, step);
    QFETCH(std::string, text);
    QCOMPARE(tb::widgets::rulerLabel(t, step), text);
  }
};

QTEST_APPLESS_MAIN(TimelineGeometryTest)
#include "timeline_geometry_test.moc"
