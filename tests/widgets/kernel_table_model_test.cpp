// KernelTableModel: the model contract (QAbstractItemModelTester) empty, filled and reset; cells
// with their units, a dash (greyed, no raw value) for what the trace does not carry, italics for a
// launch configuration that varies; and sorting through a QSortFilterProxyModel on RawValueRole,
// by value where sorting the text would be wrong.
#include <QAbstractItemModelTester>
#include <QBrush>
#include <QFont>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTest>

#include <vector>

#include "core/trace/kernel_table.h"
#include "widgets/kernel_table_model.h"

using tb::trace::Category;
using tb::trace::KernelRow;
using tb::widgets::KernelTableModel;

namespace {

// A gemm measured everywhere, an elementwise kernel with a varying launch and no occupancy
// estimate, and a memcpy with nothing known about its launch.
std::vector<KernelRow> rows() {
  KernelRow gemm;
  gemm.name = "sm80_xmma_gemm_f32f32";
  gemm.count = 9;
  gemm.total_ns = 2'700'000;
  gemm.mean_ns = 300'000.0;
  gemm.min_ns = 250'000;
  gemm.max_ns = 400'000;
  gemm.share = 0.75;
  gemm.grid = {16, 7, 32};
  gemm.block = {128, 1, 1};
  gemm.distinct_configs = 1;
  gemm.registers_per_thread = 88;
  gemm.shared_memory_bytes = 3328;
  gemm.occupancy_pct = 37.5;
  gemm.occupancy_samples = 9;
  gemm.steps = 3;
  gemm.longest_span = 41;

  KernelRow add;
  add.name = "at::native::vectorized_elementwise_kernel";
  add.count = 1200;
  add.total_ns = 600'000;
  add.mean_ns = 500.0;
  add.min_ns = 400;
  add.max_ns = 900;
  add.share = 600.0 / 3600.0;
  add.grid = {1024, 1, 1};
  add.block = {64, 1, 1};
  add.distinct_configs = 4;
  add.config_varies = true;
  add.registers_per_thread = 16;
  add.shared_memory_bytes = 0;
  add.steps = 3;
  add.longest_span = 7;
  add.names = 5;

  KernelRow copy;
  copy.name = "Memcpy HtoD";
  copy.category = Category::memcpy;
  copy.count = 10;
  copy.total_ns = 300'000;
  copy.mean_ns = 30'000.0;
  copy.min_ns = 10'000;
  copy.max_ns = 90'000;
  copy.share = 300.0 / 3600.0;
  copy.longest_span = 3;
  return {gemm, add, copy};
}

QString cell(const QAbstractItemModel& m, int row, int column, int role = Qt::DisplayRole) {
  return m.data(m.index(row, column), role).toString();
}

QVariant raw(const QAbstractItemModel& m, int row, int column) {
  return m.data(m.index(row, column), KernelTableModel::RawValueRole);
}

}  // namespace

class KernelTableModelTest : public QObject {
  Q_OBJECT

 private slots:
  void contractEmptyFilledAndReset() {
    KernelTableModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), int{KernelTableModel::ColumnCount});
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    model.setRows(rows());
    QCOMPARE(resets.count(), 1);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.rowCount(model.index(0, 0)), 0);  // a table: no children
    QVERIFY(model.rowAt(2) != nullptr);
    QCOMPARE(model.rowAt(3), nullptr);
    QCOMPARE(model.rowAt(-1), nullptr);
    model.setRows(rows());
    model.clear();
    QCOMPARE(resets.count(), 3);
    QCOMPARE(model.rowCount(), 0);
  }

  void cellsShowUnitsAndDashesForWhatIsNotKnown() {
    KernelTableModel model;
    model.setRows(rows());
    using M = KernelTableModel;
    QCOMPARE(cell(model, 0, M::NameColumn), QStringLiteral("sm80_xmma_gemm_f32f32"));
    QCOMPARE(cell(model, 0, M::CategoryColumn), QStringLiteral("kernel"));
    QCOMPARE(cell(model, 0, M::CountColumn), QStringLiteral("9"));
    QCOMPARE(cell(model, 0, M::TotalColumn), QStringLiteral("2.700 ms"));
    QCOMPARE(cell(model, 0, M::ShareColumn), QStringLiteral("75.0 %"));
    QCOMPARE(cell(model, 0, M::MeanColumn), QStringLiteral("300.000 µs"));
    QCOMPARE(cell(model, 0, M::MinColumn), QStringLiteral("250.000 µs"));
    QCOMPARE(cell(model, 0, M::MaxColumn), QStringLiteral("400.000 µs"));
    QCOMPARE(cell(model, 0, M::GridColumn), QStringLiteral("16×7×32"));
    QCOMPARE(cell(model, 0, M::BlockColumn), QStringLiteral("128×1×1"));
    QCOMPARE(cell(model, 0, M::ConfigsColumn), QStringLiteral("1"));
    QCOMPARE(cell(model, 0, M::RegistersColumn), QStringLiteral("88"));
    QCOMPARE(cell(model, 0, M::SharedMemoryColumn), QStringLiteral("3.3 KiB"));
    QCOMPARE(cell(model, 0, M::OccupancyColumn), QStringLiteral("37.5 %"));
    QCOMPARE(cell(model, 0, M::StepsColumn), QStringLiteral("3"));
    QCOMPARE(model.data(model.index(0, 0), M::LongestSpanRole).toULongLong(), 41ull);

    // No occupancy estimate: a grey dash and no raw value, so it never sorts as 0 %.
    QCOMPARE(cell(model, 1, M::OccupancyColumn), QStringLiteral("—"));
    QVERIFY(!raw(model, 1, M::OccupancyColumn).isValid());
    QVERIFY(model.data(model.index(1, M::OccupancyColumn), Qt::ForegroundRole).isValid());
    QCOMPARE(cell(model, 1, M::SharedMemoryColumn), QStringLiteral("0 B"));
    QCOMPARE(cell(model, 1, M::CountColumn), QLocale().toString(1200));
    QCOMPARE(cell(model, 1, M::MeanColumn), QStringLiteral("500 ns"));
    // A launch that varies: the most frequent configuration, in italics, and how many there are.
    QCOMPARE(cell(model, 1, M::ConfigsColumn), QStringLiteral("4"));
    for (const int column : {int{M::GridColumn}, int{M::BlockColumn}}) {
      QVERIFY(model.data(model.index(1, column), Qt::FontRole).value<QFont>().italic());
      QVERIFY(!model.data(model.index(0, column), Qt::FontRole).isValid());
    }
    const QString tip = cell(model, 1, M::NameColumn, Qt::ToolTipRole);
    QVERIFY2(tip.contains(QStringLiteral("5 template instances")), qPrintable(tip));
    QVERIFY2(tip.contains(QStringLiteral("most frequent of 4")), qPrintable(tip));
    QVERIFY2(tip.contains(QStringLiteral("no occupancy estimate")), qPrintable(tip));

    // A copy: no launch parameters at all, no steps.
    QCOMPARE(cell(model, 2, M::CategoryColumn), QStringLiteral("memcpy"));
    for (const int column :
         {int{M::GridColumn}, int{M::BlockColumn}, int{M::ConfigsColumn}, int{M::RegistersColumn},
          int{M::SharedMemoryColumn}, int{M::OccupancyColumn}, int{M::StepsColumn}}) {
      QCOMPARE(cell(model, 2, column), QStringLiteral("—"));
      QVERIFY(!raw(model, 2, column).isValid());
    }

    QCOMPARE(model.data(model.index(0, M::TotalColumn), Qt::TextAlignmentRole).toInt(),
             int(Qt::AlignRight | Qt::AlignVCenter));
    QVERIFY(!model.data(model.index(0, M::NameColumn), Qt::TextAlignmentRole).isValid());
    QCOMPARE(model.headerData(M::OccupancyColumn, Qt::Horizontal).toString(),
             QStringLiteral("Occupancy"));
    QVERIFY(model.headerData(M::OccupancyColumn, Qt::Horizontal, Qt::ToolTipRole)
                .toString()
                .contains(QStringLiteral("achieved")));
  }

  void rawValuesAreNumbers() {
    KernelTableModel model;
    model.setRows(rows());
    using M = KernelTableModel;
    QCOMPARE(raw(model, 0, M::TotalColumn).toDouble(), 2'700'000.0);
    QCOMPARE(raw(model, 0, M::ShareColumn).toDouble(), 75.0);
    QCOMPARE(raw(model, 0, M::GridColumn).toDouble(), 16.0 * 7 * 32);  // blocks
    QCOMPARE(raw(model, 0, M::BlockColumn).toDouble(), 128.0);         // threads a block
    QCOMPARE(raw(model, 0, M::OccupancyColumn).toDouble(), 37.5);
    QCOMPARE(raw(model, 1, M::CountColumn).toDouble(), 1200.0);
    QCOMPARE(raw(model, 1, M::NameColumn).toString(),
             QStringLiteral("at::native::vectorized_elementwise_kernel"));
  }

  void sortsByRawValueNotByText() {
    KernelTableModel model;
    model.setRows(rows());
    QSortFilterProxyModel proxy;
    proxy.setSourceModel(&model);
    proxy.setSortRole(KernelTableModel::RawValueRole);
    QAbstractItemModelTester tester(&proxy, QAbstractItemModelTester::FailureReportingMode::QtTest);
    using M = KernelTableModel;
    const auto names = [&] {
      QStringList out;
      for (int r = 0; r < proxy.rowCount(); ++r) out << cell(proxy, r, M::NameColumn);
      return out;
    };
    // Counts 9, 1200, 10: as text "9" would sort last.
    proxy.sort(M::CountColumn, Qt::AscendingOrder);
    QCOMPARE(names(), (QStringList{"sm80_xmma_gemm_f32f32", "Memcpy HtoD",
                                   "at::native::vectorized_elementwise_kernel"}));
    // Means 300 µs, 500 ns, 30 µs: as text "500 ns" would sort above "30.000 µs".
    proxy.sort(M::MeanColumn, Qt::DescendingOrder);
    QCOMPARE(names(), (QStringList{"sm80_xmma_gemm_f32f32", "Memcpy HtoD",
                                   "at::native::vectorized_elementwise_kernel"}));
    proxy.sort(M::TotalColumn, Qt::AscendingOrder);
    QCOMPARE(names(), (QStringList{"Memcpy HtoD", "at::native::vectorized_elementwise_kernel",
                                   "sm80_xmma_gemm_f32f32"}));
    // Blocks by threads: 128×1×1 is more than 64×1×1, though "64" sorts after "128" as text.
    proxy.sort(M::BlockColumn, Qt::AscendingOrder);
    QCOMPARE(names(), (QStringList{"at::native::vectorized_elementwise_kernel",
                                   "sm80_xmma_gemm_f32f32", "Memcpy HtoD"}));
    // Not known (no raw value) sorts after every known value ascending, as Qt orders invalid
    // variants: the copy without a launch configuration came last above.
    proxy.sort(M::OccupancyColumn, Qt::AscendingOrder);
    QCOMPARE(cell(proxy, 0, M::NameColumn), QStringLiteral("sm80_xmma_gemm_f32f32"));
    // Sorting survives a reset with new rows.
    model.setRows(rows());
    proxy.sort(M::CountColumn, Qt::DescendingOrder);
    QCOMPARE(cell(proxy, 0, M::CountColumn), QLocale().toString(1200));
  }
};

QTEST_MAIN(KernelTableModelTest)
#include "kernel_table_model_test.moc"
