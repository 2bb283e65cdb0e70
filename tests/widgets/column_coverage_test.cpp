// column_coverage.h: filling runs of pixel rows front to back through a ColumnCoverage writes
// the same image as filling them back to front, each pixel once; touching and nested runs
// merge; columns and ranges outside the coverage are ignored. Data-driven Qt tests.
#include <QTest>

#include <random>
#include <tuple>
#include <vector>

#include "widgets/column_coverage.h"

using tb::widgets::ColumnCoverage;

namespace {

struct Fill {
  int column = 0, top = 0, bottom = 0, colour = 0;
};
using Writes = std::vector<std::pair<int, int>>;  // the (top, bottom) of each write, in order

}  // namespace

Q_DECLARE_METATYPE(std::vector<Fill>)
Q_DECLARE_METATYPE(Writes)

class ColumnCoverageTest : public QObject {
  Q_OBJECT

 private slots:
  void writesOnlyBareRows_data() {
    QTest::addColumn<Writes>("before");  // rows painted first (in front)
    QTest::addColumn<int>("top");
    QTest::addColumn<int>("bottom");
    QTest::addColumn<Writes>("expected");
    using Runs = Writes;
    QTest::newRow("bare column") << Runs{} << 10 << 20 << Writes{{10, 20}};
    QTest::newRow("all covered") << Runs{{5, 25}} << 10 << 20 << Writes{};
    QTest::newRow("exactly covered") << Runs{{10, 20}} << 10 << 20 << Writes{};
    QTest::newRow("hole in the middle") << Runs{{10, 13}, {17, 20}} << 10 << 20 << Writes{{13, 17}};
    QTest::newRow("over both ends") << Runs{{12, 15}} << 10 << 20 << Writes{{10, 12}, {15, 20}};
    QTest::newRow("touching above") << Runs{{0, 10}} << 10 << 20 << Writes{{10, 20}};
    QTest::newRow("touching below") << Runs{{20, 30}} << 10 << 20 << Writes{{10, 20}};
    QTest::newRow("apart") << Runs{{0, 3}, {40, 50}} << 10 << 20 << Writes{{10, 20}};
    QTest::newRow("three holes") << Runs{{11, 12}, {14, 15}, {17, 18}} << 10 << 20
                                 << Writes{{10, 11}, {12, 14}, {15, 17}, {18, 20}};
    QTest::newRow("empty range") << Runs{} << 10 << 10 << Writes{};
    QTest::newRow("upside down") << Runs{} << 20 << 10 << Writes{};
  }

  void writesOnlyBareRows() {
    QFETCH(Writes, before);
    QFETCH(int, top);
    QFETCH(int, bottom);
    QFETCH(Writes, expected);
    ColumnCoverage coverage(4);
    for (const auto& [a, b] : before) coverage.paint(2, a, b, [](int, int) {});
    Writes writes;
    coverage.paint(2, top, bottom, [&](int a, int b) { writes.emplace_back(a, b); });
    QCOMPARE(writes, expected);
    // Now covered whatever it was: painting it again writes nothing, and neither do the rows
    // painted before.
    Writes again;
    coverage.paint(2, top, bottom, [&](int a, int b) { again.emplace_back(a, b); });
    for (const auto& [a, b] : before)
      coverage.paint(2, a, b, [&](int x, int y) { again.emplace_back(x, y); });
    QCOMPARE(again, Writes{});
    // Another column is untouched.
    Writes other;
    coverage.paint(1, top, bottom, [&](int a, int b) { other.emplace_back(a, b); });
    const Writes bare = top < bottom ? Writes{{top, bottom}} : Writes{};
    QCOMPARE(other, bare);
  }

  void ignoresColumnsOutside_data() {
    QTest::addColumn<int>("column");
    QTest::newRow("left of the first") << -1;
    QTest::newRow("right of the last") << 3;
    QTest::newRow("far right") << 1000;
  }

  void ignoresColumnsOutside() {
    QFETCH(int, column);
    ColumnCoverage coverage(3);
    QCOMPARE(coverage.columns(), 3);
    int writes = 0;
    coverage.paint(column, 0, 10, [&](int, int) { ++writes; });
    QCOMPARE(writes, 0);
    coverage.paint(2, 0, 10, [&](int, int) { ++writes; });
    QCOMPARE(writes, 1);
    QCOMPARE(ColumnCoverage(-5).columns(), 0);
  }

  // Many overlapping bands, as the compare view draws them: the image filled front to back
  // through the coverage equals the one filled back to front, and each pixel is written once.
  void frontToBackEqualsBackToFront_data() {
    QTest::addColumn<std::vector<Fill>>("fills");  // in painting order, back to front
    QTest::addColumn<int>("columns");
    QTest::addColumn<int>("rows");
    for (const auto& [seed, curves, columns, rows] :
         {std::tuple{1u, 20, 64, 200}, std::tuple{2u, 3, 16, 40}, std::tuple{3u, 50, 8, 1000},
          std::tuple{4u, 1, 32, 32}}) {
      std::mt19937 random(seed);
      std::vector<Fill> fills;
      for (int curve = 0; curve < curves; ++curve) {
        // A band wandering down the image, with some columns of the curve missing.
        int centre = std::uniform_int_distribution<int>(0, rows - 1)(random);
        for (int x = 0; x < columns; ++x) {
          centre =
              std::clamp(centre + std::uniform_int_distribution<int>(-5, 5)(random), 0, rows - 1);
          if (std::uniform_int_distribution<int>(0, 9)(random) == 0) continue;
          const int half = std::uniform_int_distribution<int>(0, rows / 4)(random);
          fills.push_back(
              {x, std::max(0, centre - half), std::min(rows, centre + half + 1), curve + 1});
        }
      }
      QTest::addRow("seed %u, %d curves, %dx%d", seed, curves, columns, rows)
          << fills << columns << rows;
    }
  }

  void frontToBackEqualsBackToFront() {
    QFETCH(std::vector<Fill>, fills);
    QFETCH(int, columns);
    QFETCH(int, rows);
    std::vector<int> backToFront(static_cast<std::size_t>(columns * rows), 0);
    for (const Fill& f : fills) {
      for (int y = f.top; y < f.bottom; ++y)
        backToFront[static_cast<std::size_t>(y * columns + f.column)] = f.colour;
    }
    std::vector<int> frontToBack(backToFront.size(), 0);
    std::vector<int> writesPerPixel(backToFront.size(), 0);
    ColumnCoverage coverage(columns);
    for (auto f = fills.rbegin(); f != fills.rend(); ++f) {
      coverage.paint(f->column, f->top, f->bottom, [&](int top, int bottom) {
        QVERIFY(top >= f->top && bottom <= f->bottom && top < bottom);
        for (int y = top; y < bottom; ++y) {
          const auto i = static_cast<std::size_t>(y * columns + f->column);
          frontToBack[i] = f->colour;
          ++writesPerPixel[i];
        }
      });
    }
    QCOMPARE(frontToBack, backToFront);
    int painted = 0;
    for (std::size_t i = 0; i < writesPerPixel.size(); ++i) {
      QVERIFY(writesPerPixel[i] <= 1);
      painted += writesPerPixel[i];
      QCOMPARE(writesPerPixel[i] == 1, backToFront[i] != 0);
    }
    QVERIFY(painted > 0);
  }
};

QTEST_MAIN(ColumnCoverageTest)
#include "column_coverage_test.moc"
