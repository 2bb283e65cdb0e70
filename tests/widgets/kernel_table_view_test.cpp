// KernelTableView offscreen: the table of a GPU trace made off the GUI thread, sorted by value
// from the header, filtered by name, regrouped by template when the checkbox is ticked, with
// copies when asked; a double-click gives the row's longest launch — also after sorting. Then
// ProfilerView: steps and kernels as tabs beside the memory plot, a kernel's double-click zooming
// the timeline to its longest launch as a step's click does. Saves screenshots of both.
#include <QCheckBox>
#include <QHeaderView>
#include <QLineEdit>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QTabWidget>
#include <QTableView>
#include <QTest>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/trace/model.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/kernel_table_model.h"
#include "widgets/kernel_table_view.h"
#include "widgets/profiler_view.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/timeline_view.h"

using tb::testing::kMs;
using tb::testing::saveScreenshot;
using tb::testing::TraceBuilder;
using tb::trace::Category;
using tb::trace::Trace;
using tb::trace::TrackKind;
using tb::widgets::KernelTableModel;
using tb::widgets::KernelTableView;
using tb::widgets::ProfilerView;

namespace {

const std::string kAdd =
    "void at::native::vectorized_elementwise_kernel<4, at::native::AddFunctor<float>, "
    "at::detail::Array<char*, 3> >(int, at::native::AddFunctor<float>, at::detail::Array<char*, "
    "3>)";
const std::string kMul =
    "void at::native::vectorized_elementwise_kernel<4, at::native::MulFunctor<float>, "
    "at::detail::Array<char*, 3> >(int, at::native::MulFunctor<float>, at::detail::Array<char*, "
    "3>)";
const std::string kGemm = "sm80_xmma_gemm_f32f32_f32f32_f32_nn_n_tilesize128x128x8_stage3";
const std::string kNccl = "ncclDevKernel_AllReduce_Sum_f32_RING_LL(ncclDevComm*, unsigned long)";

std::string launch(int grid, int block, int registers, double occupancy = -1.0) {
  nlohmann::json args = {{"grid", {grid, 1, 1}},
                         {"block", {block, 1, 1}},
                         {"registers per thread", registers},
                         {"shared memory", 1024},
                         {"stream", 7}};
  if (occupancy >= 0.0) args["est. occupancy %"] = occupancy;
  return args.dump();
}

// Four 10 ms steps of a GPU run. Each step: a copy in, a gemm (3 ms; 4 ms in the third step, at
// 21..25 ms), two Add kernels of 0.6 ms, one Mul of 0.25 ms, an all-reduce of 1 ms. Totals: gemm
// 13 ms (4 launches), Add 4.8 ms (8), all-reduce 4 ms (4), Mul 1 ms (4), copies 2 ms (4).
std::shared_ptr<const Trace> gpuTrace() {
  // Whole microseconds, so that the sums are exact.
  const auto us = [](std::int64_t value) { return value * 1000; };
  TraceBuilder b;
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  for (int i = 0; i < 4; ++i) {
    const std::int64_t o = 10'000 * i;
    const std::int64_t step = i + 1;
    b.span(engine, "step " + std::to_string(step), Category::step, us(o), us(o + 10'000), step);
    b.span(engine, "forward", Category::forward, us(o), us(o + 5000), step);
    b.span(engine, "backward", Category::backward, us(o + 5000), us(o + 10'000), step);
    b.span(stream, "Memcpy HtoD", Category::memcpy, us(o), us(o + 500), step,
           R"({"bytes": 1048576})");
    b.span(stream, kGemm, Category::kernel, us(o + 1000), us(o + (i == 2 ? 5000 : 4000)), step,
           launch(108, 256, 128, 25.0));
    b.span(stream, kAdd, Category::kernel, us(o + 5000), us(o + 5600), step, launch(1024, 128, 16));
    b.span(stream, kAdd, Category::kernel, us(o + 5700), us(o + 6300), step,
           launch(i == 0 ? 512 : 1024, 128, 16));
    b.span(stream, kMul, Category::kernel, us(o + 6400), us(o + 6650), step, launch(256, 128, 18));
    b.span(stream, kNccl, Category::communication, us(o + 7000), us(o + 8000), step,
           launch(2, 512, 96));
  }
  return b.build_shared();
}

void settle(KernelTableView& view) {
  QTRY_VERIFY_WITH_TIMEOUT(view.isIdle(), 10000);
}

QStringList names(const KernelTableView& view) {
  QStringList out;
  const auto* proxy = view.proxy();
  for (int r = 0; r < proxy->rowCount(); ++r) {
    out << proxy->index(r, KernelTableModel::NameColumn).data().toString();
  }
  return out;
}

int rowNamed(const KernelTableView& view, const std::string& name) {
  return static_cast<int>(names(view).indexOf(QString::fromStdString(name)));
}

void doubleClickRow(KernelTableView& view, int row) {
  QTableView* table = view.table();
  const QRect rect = table->visualRect(view.proxy()->index(row, KernelTableModel::CountColumn));
  QVERIFY(rect.isValid());
  // A click first, as a user's double-click starts with one: the view activates only the row
  // its press landed on.
  QTest::mouseClick(table->viewport(), Qt::LeftButton, {}, rect.center());
  QTest::mouseDClick(table->viewport(), Qt::LeftButton, {}, rect.center());
}

}  // namespace

class KernelTableViewTest : public QObject {
  Q_OBJECT

 private slots:
  void tableOfTheTrace() {
    KernelTableView view;
    view.resize(1100, 320);
    view.show();
    QSignalSpy ready(&view, &KernelTableView::tableReady);
    view.setTrace(gpuTrace());
    settle(view);
    QVERIFY(ready.count() >= 1);
    // Longest total first; copies left out.
    QCOMPARE(names(view),
             (QStringList{QString::fromStdString(kGemm), QString::fromStdString(kAdd),
                          QString::fromStdString(kNccl), QString::fromStdString(kMul)}));
    const auto* gemm = view.model()->rowAt(0);
    QVERIFY(gemm != nullptr);
    QCOMPARE(gemm->count, 4);
    QCOMPARE(gemm->total_ns, 13 * kMs);
    QCOMPARE(gemm->steps, 4);
    const auto* add = view.model()->rowAt(1);
    QCOMPARE(add->count, 8);
    QVERIFY(add->config_varies);
    QCOMPARE(view.proxy()->index(1, KernelTableModel::GridColumn).data().toString(),
             QStringLiteral("1024×1×1"));
    QCOMPARE(view.proxy()->index(0, KernelTableModel::OccupancyColumn).data().toString(),
             QStringLiteral("25.0 %"));
    QVERIFY2(view.statusText().startsWith(QStringLiteral("4 kernels, 22.800 ms")),
             qPrintable(view.statusText()));
  }

  void sortsFromTheHeaderByValue() {
    KernelTableView view;
    view.resize(1100, 320);
    view.show();
    view.setTrace(gpuTrace());
    settle(view);
    // Counts 4, 8, 4, 4: Add first by count; ties keep their order (the model's: by total).
    view.table()->sortByColumn(KernelTableModel::CountColumn, Qt::DescendingOrder);
    QCOMPARE(names(view).first(), QString::fromStdString(kAdd));
    // Mean: gemm 3.25 ms, all-reduce 1 ms, Add 0.6 ms, Mul 0.25 ms ("250.000 µs" > "3.250 ms"
    // as text).
    view.table()->sortByColumn(KernelTableModel::MeanColumn, Qt::AscendingOrder);
    QCOMPARE(names(view),
             (QStringList{QString::fromStdString(kMul), QString::fromStdString(kAdd),
                          QString::fromStdString(kNccl), QString::fromStdString(kGemm)}));
    // Registers 18 vs 128: by number.
    view.table()->sortByColumn(KernelTableModel::RegistersColumn, Qt::DescendingOrder);
    QCOMPARE(names(view).first(), QString::fromStdString(kGemm));
  }

  void filtersByName() {
    KernelTableView view;
    view.resize(1100, 320);
    view.show();
    view.setTrace(gpuTrace());
    settle(view);
    QTest::keyClicks(view.filterEdit(), QStringLiteral("ELEMENTWISE"));  // any case
    QCOMPARE(view.proxy()->rowCount(), 2);
    QVERIFY2(view.statusText().endsWith(QStringLiteral("(2 shown)")),
             qPrintable(view.statusText()));
    view.filterEdit()->setText(QStringLiteral("nccl"));
    QCOMPARE(names(view), (QStringList{QString::fromStdString(kNccl)}));
    view.filterEdit()->setText(QStringLiteral("no such kernel"));
    QCOMPARE(view.proxy()->rowCount(), 0);
    view.filterEdit()->clear();
    QCOMPARE(view.proxy()->rowCount(), 4);
    QVERIFY(!view.statusText().contains(QStringLiteral("shown")));
  }

  void groupsTemplateInstancesAndShowsCopies() {
    KernelTableView view;
    view.resize(1100, 320);
    view.show();
    view.setTrace(gpuTrace());
    settle(view);
    view.filterEdit()->setText(QStringLiteral("elementwise"));
    QCOMPARE(view.proxy()->rowCount(), 2);
    QVERIFY(!view.groupTemplates());
    view.groupCheckBox()->click();
    QVERIFY(view.groupTemplates());
    settle(view);
    // Add and Mul as one row; the filter still applies.
    QCOMPARE(names(view),
             (QStringList{QStringLiteral("at::native::vectorized_elementwise_kernel")}));
    const auto* grouped = view.model()->rowAt(1);
    QCOMPARE(grouped->names, 2);
    QCOMPARE(grouped->count, 12);
    QCOMPARE(grouped->total_ns, 5800 * 1000);
    QCOMPARE(view.model()->rowCount(), 3);
    view.filterEdit()->clear();

    view.setIncludeCopies(true);
    settle(view);
    QCOMPARE(view.model()->rowCount(), 4);
    QVERIFY(rowNamed(view, "Memcpy HtoD") >= 0);

    view.setGroupTemplates(false);
    view.setIncludeCopies(false);  // two changes while one table is made: the newest wins
    settle(view);
    QCOMPARE(view.model()->rowCount(), 4);
    QCOMPARE(rowNamed(view, "Memcpy HtoD"), -1);
    QVERIFY(rowNamed(view, kMul) >= 0);

    view.setTrace(nullptr);
    settle(view);
    QCOMPARE(view.model()->rowCount(), 0);
  }

  void doubleClickGivesTheLongestLaunch() {
    KernelTableView view;
    view.resize(1100, 320);
    view.show();
    view.setTrace(gpuTrace());
    settle(view);
    QSignalSpy activated(&view, &KernelTableView::kernelActivated);
    doubleClickRow(view, rowNamed(view, kGemm));
    QCOMPARE(activated.count(), 1);
    QCOMPARE(activated.at(0).at(0).toLongLong(), 21 * kMs);  // the third step's 4 ms gemm
    QCOMPARE(activated.at(0).at(1).toLongLong(), 25 * kMs);
    // Sorted otherwise, the row clicked is still the kernel shown: the proxy maps it.
    view.table()->sortByColumn(KernelTableModel::MeanColumn, Qt::AscendingOrder);
    doubleClickRow(view, rowNamed(view, kNccl));
    QCOMPARE(activated.count(), 2);
    QCOMPARE(activated.at(1).at(0).toLongLong(), 7 * kMs);  // equal launches: the first
    QCOMPARE(activated.at(1).at(1).toLongLong(), 8 * kMs);
    saveScreenshot(view, "kernel_table_view.png");
  }

  void profilerViewHasStepsAndKernelsTabs() {
    ProfilerView profiler;
    profiler.resize(1400, 900);
    profiler.show();
    profiler.setTrace(gpuTrace(), tb::trace::SessionFacts{0, 0});
    auto* timeline = profiler.timeline();
    QTRY_VERIFY_WITH_TIMEOUT(timeline->isIdle() && timeline->layout() != nullptr, 10000);
    auto* kernels = profiler.findChild<KernelTableView*>();
    QVERIFY(kernels != nullptr);
    settle(*kernels);
    QTRY_VERIFY_WITH_TIMEOUT(profiler.stepBreakdown()->isIdle(), 10000);
    auto* tabs = profiler.findChild<QTabWidget*>(QStringLiteral("analysisTabs"));
    QVERIFY(tabs != nullptr);
    QCOMPARE(tabs->count(), 2);
    QCOMPARE(tabs->tabText(0), QStringLiteral("Steps"));
    QCOMPARE(tabs->tabText(1), QStringLiteral("Kernels"));
    QCOMPARE(tabs->currentWidget(), profiler.stepBreakdown());
    tabs->setCurrentWidget(kernels);
    QCOMPARE(kernels->model()->rowCount(), 4);

    // The gemm's longest launch, 21..25 ms, with 5% either side, as a step's click shows a step.
    doubleClickRow(*kernels, rowNamed(*kernels, kGemm));
    QCOMPARE(timeline->mapping().start_ns, 20.8 * kMs);
    QCOMPARE(timeline->mapping().end_ns(), 25.2 * kMs);
    QTRY_VERIFY_WITH_TIMEOUT(timeline->isIdle(), 10000);
    saveScreenshot(profiler, "profiler_view_kernels.png");
  }
};

QTEST_MAIN(KernelTableViewTest)
#include "kernel_table_view_test.moc"
