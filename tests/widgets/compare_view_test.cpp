// CompareView offscreen on four realistic sessions (an SGD and two Adam MLPs, a CNN; thousands of
// loss points, per-epoch evaluations, summaries, project settings; traces for three): each
// session has one colour in the header strip, the curve legend, both tables' headers and the
// parallel-coordinates lines; the metric menu asks the app for a metric it has not loaded and
// plots it when delivered; the x-axis, smoothing and log controls drive the plot; the target
// accuracy changes the summary; "differences only" trims the settings table and the CSV; the
// profile tab shows a breakdown per traced session (its verdict warning of CUPTI records the
// session dropped) and a trace diff. The session palette is checked here too. Saves a screenshot
// of each tab.
#include <QAbstractItemModelTester>
#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QLabel>
#include <QSignalSpy>
#include <QSlider>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "core/compare/settings_diff.h"
#include "core/trace/top_ops.h"
#include "tests/support/trace_builder.h"
#include "tests/widgets/widget_test_support.h"
#include "widgets/compare_profile_panel.h"
#include "widgets/compare_summary_model.h"
#include "widgets/compare_view.h"
#include "widgets/curve_plot.h"
#include "widgets/parallel_coordinates_plot.h"
#include "widgets/session_colors.h"
#include "widgets/settings_diff_model.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/trace_diff_model.h"

using tb::compare::MetricSeries;
using tb::compare::SessionData;
using tb::testing::ms;
using tb::testing::saveScreenshot;
using tb::testing::TraceBuilder;
using tb::trace::Category;
using tb::trace::TrackKind;
using tb::widgets::CompareView;
using tb::widgets::sessionColor;

namespace {

struct Recipe {
  const char* name;
  const char* model;
  const char* optimizer;
  double lr;
  int batch;
  double speed;      // samples/s
  double finalAcc;   // where test accuracy ends
  double lossFloor;  // where the loss curve flattens
};

constexpr Recipe kRecipes[] = {
    {"mlp-sgd", "mlp", "sgd", 0.1, 64, 52000, 0.862, 0.32},
    {"mlp-adam", "mlp", "adam", 0.001, 64, 48000, 0.884, 0.26},
    {"mlp-adam-bs256", "mlp", "adam", 0.001, 256, 91000, 0.871, 0.30},
    {"cnn-adamw", "cnn", "adamw", 0.0005, 128, 12500, 0.912, 0.19},
};

SessionData session(int index, int epochs = 5) {
  const Recipe& r = kRecipes[index];
  SessionData s;
  s.record.id = tb::store::SessionId(100 + index);
  s.record.name = r.name;
  s.record.status = "completed";
  s.record.created = "2024-06-0" + std::to_string(index + 1) + "T09:00:00Z";
  s.record.host = "workstation";
  s.record.git_revision = "4f2a9c1";
  const nlohmann::json project = {
      {"epochs", epochs},
      {"seed", 42},
      {"data",
       {{"dataset", "fashion-mnist"}, {"batch_size", r.batch}, {"loader", {{"workers", 2}}}}},
      {"model",
       {{"type", r.model}, {"hidden", std::string(r.model) == "mlp" ? "[256,128]" : "[]"}}},
      {"optimizer", {{"type", r.optimizer}, {"lr", r.lr}}},
  };
  s.settings = tb::compare::flatten_settings(project);
  s.batch_size = r.batch;
  const int stepsPerEpoch = 60000 / r.batch;
  const int steps = stepsPerEpoch * epochs;
  const double secondsPerStep = r.batch / r.speed;
  std::mt19937 rng(static_cast<unsigned>(index) + 1);
  std::normal_distribution<double> noise(0.0, 0.06);
  auto& loss = s.metrics["train_loss"];
  auto& throughput = s.metrics["samples_per_s"];
  for (int step = 1; step <= steps; ++step) {
    const double t = step * secondsPerStep;
    loss.step.push_back(step);
    loss.wall_time.push_back(t);
    loss.value.push_back(r.lossFloor + 2.0 * std::exp(-6.0 * step / steps) +
                         std::abs(noise(rng)) * (1.0 + 2.0 * std::exp(-4.0 * step / steps)));
    if (step % 10 == 0) {
      throughput.step.push_back(step);
      throughput.wall_time.push_back(t);
      throughput.value.push_back(r.speed * (0.95 + 0.1 * std::abs(noise(rng))));
    }
  }
  auto& accuracy = s.metrics["test_accuracy"];
  for (int e = 1; e <= epochs; ++e) {
    accuracy.step.push_back(e * stepsPerEpoch);
    accuracy.wall_time.push_back(e * stepsPerEpoch * secondsPerStep + 1.5);
    accuracy.value.push_back(r.finalAcc - 0.09 * std::exp(-1.2 * (e - 1)));
  }
  const double train = steps * secondsPerStep;
  s.summary = {{"samples_per_s", r.speed},
               {"test_accuracy", accuracy.value.back()},
               {"test_loss", r.lossFloor + 0.05},
               {"train_loss", r.lossFloor + 0.02},
               {"train_s", train},
               {"wall_s", train + epochs * 1.5},
               {"data_wait_s", train * (index == 3 ? 0.02 : 0.18)},
               {"steps", steps},
               {"peak_memory_bytes", (index == 3 ? 900.0 : 210.0 + index) * 1024 * 1024}};
  return s;
}

std::vector<SessionData> fourSessions() {
  std::vector<SessionData> out;
  for (int i = 0; i < 4; ++i) out.push_back(session(i));
  return out;
}

// Steps of an engine run with a GPU stream: `gemmMs` of sgemm a step, the optimizer's update
// kernel named after it; every time x `slower` (2: steps of 24 ms instead of 12).
std::shared_ptr<const tb::trace::Trace> trace(double gemmMs, const char* update, int steps = 6,
                                              double slower = 1.0) {
  TraceBuilder b;
  b.trace.metadata["source"] = "trainbench";
  const auto engine = b.track("engine", TrackKind::cpu_thread, "trainbench");
  const auto stream = b.track("stream 7", TrackKind::gpu_stream, "GPU 0");
  const auto at = [slower](double t) { return ms(t * slower); };
  for (int i = 0; i < steps; ++i) {
    const double o = 12.0 * i;
    const std::int64_t step = i + 1;
    b.span(engine, "step " + std::to_string(step), Category::step, at(o), at(o + 12), step);
    b.span(engine, "data wait", Category::data, at(o), at(o + 2), step);
    b.span(engine, "forward", Category::forward, at(o + 2), at(o + 6), step);
    b.span(engine, "backward", Category::backward, at(o + 6), at(o + 10), step);
    b.span(engine, "optimizer", Category::optimizer, at(o + 10), at(o + 12), step);
    b.span(stream, "sgemm_128x64", Category::kernel, at(o + 2.5), at(o + 2.5 + gemmMs), step);
    b.span(stream, update, Category::kernel, at(o + 10.2), at(o + 11), step);
  }
  return b.build_shared();
}

// The CIE76 colour difference (Euclidean in CIELAB, D65): about 2.3 is just noticeable, over 25
// two colours are not mistaken for each other side by side.
double deltaE(const QColor& a, const QColor& b) {
  auto lab = [](const QColor& c) {
    auto linear = [](double v) {
      return v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
    };
    const double r = linear(c.redF()), g = linear(c.greenF()), bl = linear(c.blueF());
    const double x = (0.4124 * r + 0.3576 * g + 0.1805 * bl) / 0.95047;
    const double y = 0.2126 * r + 0.7152 * g + 0.0722 * bl;
    const double z = (0.0193 * r + 0.1192 * g + 0.9505 * bl) / 1.08883;
    auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; };
    return std::array<double, 3>{116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))};
  };
  const auto p = lab(a), q = lab(b);
  return std::hypot(p[0] - q[0], p[1] - q[1], p[2] - q[2]);
}

QColor chipColour(const QLabel* chip) {
  return chip->pixmap().toImage().pixelColor(5, 5);
}

void choose(QComboBox* combo, const QString& data) {
  const int i = combo->findData(data);
  QVERIFY2(i >= 0, qPrintable(data));
  combo->setCurrentIndex(i);
  emit combo->activated(i);
}

}  // namespace

class CompareViewTest : public QObject {
  Q_OBJECT

 private slots:
  void sessionPalette() {
    // 20 colours, pairwise apart (CIELAB), dark enough on white; past 20 they wrap.
    for (int i = 0; i < tb::widgets::kSessionColorCount; ++i) {
      const QColor a = sessionColor(i);
      auto linear = [](double c) {
        return c <= 0.03928 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
      };
      const double luminance =
          0.2126 * linear(a.redF()) + 0.7152 * linear(a.greenF()) + 0.0722 * linear(a.blueF());
      QVERIFY2(1.05 / (luminance + 0.05) >= 2.2, qPrintable(a.name()));
      for (int j = 0; j < i; ++j) {
        const QColor b = sessionColor(j);
        QVERIFY2(deltaE(a, b) > 25.0, qPrintable(a.name() + " " + b.name()));
      }
    }
    QCOMPARE(sessionColor(20), sessionColor(0));
    QCOMPARE(sessionColor(-1), sessionColor(19));
    QVERIFY(!tb::widgets::sessionChip(3).isNull());
  }

  void oneColourPerSessionEverywhere() {
    CompareView view;
    view.resize(1300, 800);
    view.setSessions(fourSessions());
    QCOMPARE(int(view.sessions().size()), 4);
    const auto chips = view.headerStrip()->findChildren<QLabel*>("sessionChip");
    QCOMPARE(int(chips.size()), 4);
    const auto* plot = view.curvePlot();
    QCOMPARE(plot->curveCount(), 4);
    for (int i = 0; i < 4; ++i) {
      const QColor c = sessionColor(i);
      QCOMPARE(chipColour(chips[i]), c);
      QCOMPARE(plot->curves()[static_cast<std::size_t>(i)].color, c);
      QCOMPARE(view.summaryModel()
                   ->headerData(i + 1, Qt::Horizontal, tb::widgets::kSessionColorRole)
                   .value<QColor>(),
               c);
      QCOMPARE(view.settingsModel()
                   ->headerData(i + 1, Qt::Horizontal, tb::widgets::kSessionColorRole)
                   .value<QColor>(),
               c);
      QCOMPARE(view.parallelPlot()->sessionLineColor(i), c);
      QCOMPARE(view.labels()[static_cast<std::size_t>(i)].name,
               QStringLiteral("#%1 %2").arg(100 + i).arg(kRecipes[i].name));
    }
    // The first session's curve is drawn in its colour.
    QVERIFY(plot->curves()[0].series && plot->curves()[0].series->size() == 4685);
  }

  void tablesAndDiff() {
    CompareView view;
    view.setSessions(fourSessions());
    QAbstractItemModelTester summaryTester(view.summaryModel(),
                                           QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester settingsTester(view.settingsModel(),
                                            QAbstractItemModelTester::FailureReportingMode::QtTest);
    auto* summary = view.summaryModel();
    QCOMPARE(summary->columnCount(), 5);
    // The CNN is the most accurate and lightest on data wait; the big-batch MLP the fastest.
    auto bestOf = [&](const char* key) {
      const int row = summary->rowOf(key);
      for (int c = 1; c <= 4; ++c) {
        if (summary->data(summary->index(row, c), tb::widgets::CompareSummaryModel::BestRole)
                .toBool())
          return c - 1;
      }
      return -1;
    };
    QCOMPARE(bestOf("samples_per_s"), 2);
    QCOMPARE(bestOf("final_test_accuracy"), 3);
    QCOMPARE(bestOf("data_wait_share"), 3);
    QCOMPARE(bestOf("peak_memory_bytes"), 0);
    // Settings: lr, optimizer, model, batch size (and the hidden layers) differ.
    auto* settings = view.settingsModel();
    QCOMPARE(settings->columnCount(), 5);
    const int differing = settings->differingCount();
    QCOMPARE(differing, 5);
    QVERIFY(settings->rowCount() > differing);
    view.differencesOnlyBox()->setChecked(true);
    QCOMPARE(settings->rowCount(), differing);
    for (int r = 0; r < settings->rowCount(); ++r) QVERIFY(settings->rowAt(r)->differs);
    view.differencesOnlyBox()->setChecked(false);
    QVERIFY(settings->rowCount() > differing);
  }

  void targetAccuracyMovesTheSummary() {
    CompareView view;
    view.setSessions(fourSessions());
    auto* summary = view.summaryModel();
    const int row = summary->rowOf("time_to_target_s");
    view.setTargetAccuracy(0.87);
    QCOMPARE(view.targetSpin()->value(), 87.0);
    QVERIFY(summary->data(summary->index(row, 0)).toString().contains("87.0%"));
    // The SGD run never reaches 87%: no value.
    QVERIFY(!summary->data(summary->index(row, 1), tb::widgets::CompareSummaryModel::RawValueRole)
                 .isValid());
    view.targetSpin()->setValue(80.0);
    QVERIFY(summary->data(summary->index(row, 0)).toString().contains("80.0%"));
    QVERIFY(summary->data(summary->index(row, 1), tb::widgets::CompareSummaryModel::RawValueRole)
                .isValid());
  }

  void metricMenuAsksForWhatIsNotLoaded() {
    CompareView view;
    view.resize(1200, 700);
    view.setSessions(fourSessions());
    QCOMPARE(view.currentMetric(), QString("train_loss"));
    QSignalSpy requested(&view, &CompareView::metricRequested);
    view.setAvailableMetrics({"train_loss", "test_accuracy", "samples_per_s", "loss_scale"});
    QVERIFY(view.metricCombo()->findData("loss_scale") >= 0);
    // A loaded one: plotted at once, nothing asked.
    choose(view.metricCombo(), "test_accuracy");
    QCOMPARE(view.currentMetric(), QString("test_accuracy"));
    QCOMPARE(view.curvePlot()->drawnPointCount(0), std::size_t{5});
    QCOMPARE(view.curvePlot()->yLabel(), QString("test accuracy"));
    QCOMPARE(requested.count(), 0);
    // One not loaded: asked for once, the plot waits.
    choose(view.metricCombo(), "loss_scale");
    QCOMPARE(requested.count(), 1);
    QCOMPARE(requested.at(0).at(0).toString(), QString("loss_scale"));
    QCOMPARE(view.curvePlot()->drawnPointCount(0), std::size_t{0});
    QVERIFY(!view.isMetricLoaded("loss_scale"));
    choose(view.metricCombo(), "train_loss");
    choose(view.metricCombo(), "loss_scale");
    QCOMPARE(requested.count(), 1);  // already on its way
    // Delivered: only the sessions that have it get a curve.
    std::vector<MetricSeries> scale(4);
    for (int i : {1, 3}) {
      for (int k = 0; k < 8; ++k) {
        scale[static_cast<std::size_t>(i)].step.push_back(k * 500);
        scale[static_cast<std::size_t>(i)].wall_time.push_back(k * 5.0);
        scale[static_cast<std::size_t>(i)].value.push_back(65536.0 / (1 << (k % 3)));
      }
    }
    view.addMetric("loss_scale", scale);
    QVERIFY(view.isMetricLoaded("loss_scale"));
    QCOMPARE(view.curvePlot()->drawnPointCount(0), std::size_t{0});
    QCOMPARE(view.curvePlot()->drawnPointCount(1), std::size_t{8});
    QCOMPARE(view.curvePlot()->drawnPointCount(3), std::size_t{8});
    QCOMPARE(view.metricCombo()->currentData().toString(), QString("loss_scale"));
    // A metric set directly that no session has (after loading): no request loop.
    view.setCurrentMetric("loss_scale");
    QCOMPARE(requested.count(), 1);
  }

  void controlsDriveThePlot() {
    CompareView view;
    view.resize(1200, 700);
    view.setSessions(fourSessions());
    auto* plot = view.curvePlot();
    QCOMPARE(plot->smoothing(), 0.6);
    view.xAxisCombo()->setCurrentIndex(
        view.xAxisCombo()->findData(static_cast<int>(tb::widgets::CurveXAxis::samples)));
    QCOMPARE(plot->xAxis(), tb::widgets::CurveXAxis::samples);
    // Every run sees 5 epochs x 60,000 samples (less the last partial batch).
    QVERIFY(std::abs(plot->fullRange().xmax - 300000) < 300);
    view.smoothingSlider()->setValue(0);
    QCOMPARE(plot->smoothing(), 0.0);
    QCOMPARE(plot->drawnRawPointCount(0), std::size_t{0});
    view.logYBox()->setChecked(true);
    QVERIFY(plot->logY());
    view.xAxisCombo()->setCurrentIndex(
        view.xAxisCombo()->findData(static_cast<int>(tb::widgets::CurveXAxis::wall_time)));
    QCOMPARE(plot->xAxis(), tb::widgets::CurveXAxis::wall_time);
    // The slowest run (the CNN) sets the time axis.
    const double cnn = view.sessions()[3].metrics.at("train_loss").wall_time.back();
    QCOMPARE(plot->fullRange().xmax, cnn);
  }

  void csvExport() {
    QTemporaryDir dir;
    CompareView view;
    view.setSessions(fourSessions());
    const QString path = dir.filePath("compare.csv");
    QVERIFY(view.exportCsv(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QStringList lines = QString::fromUtf8(file.readAll()).split("\r\n", Qt::SkipEmptyParts);
    QVERIFY(lines[0].startsWith("section,key,label,100 mlp-sgd,101 mlp-adam"));
    const auto count = [&](const QString& prefix) {
      return static_cast<int>(std::count_if(
          lines.begin(), lines.end(), [&](const QString& l) { return l.startsWith(prefix); }));
    };
    QCOMPARE(count("setting,"), view.settingsModel()->rowCount());
    QCOMPARE(count("summary,"), view.summaryModel()->rowCount());
    QVERIFY(lines.contains("setting,optimizer.type,optimizer.type,sgd,adam,adam,adamw"));
    // Differences only: the same in the CSV.
    view.differencesOnlyBox()->setChecked(true);
    QVERIFY(view.exportCsv(path));
    QVERIFY(file.seek(0));
    const QStringList fewer = QString::fromUtf8(file.readAll()).split("\r\n", Qt::SkipEmptyParts);
    QCOMPARE(int(std::count_if(fewer.begin(), fewer.end(),
                               [](const QString& l) { return l.startsWith("setting,"); })),
             view.settingsModel()->differingCount());
    // A folder that does not exist: false, and why.
    QString error;
    QVERIFY(!view.exportCsv(dir.filePath("missing/compare.csv"), &error));
    QVERIFY(error.contains("missing/compare.csv"));
  }

  void profileTab() {
    CompareView view;
    view.resize(1400, 900);
    view.setSessions(fourSessions());
    auto* profile = view.profilePanel();
    QCOMPARE(profile->breakdownCount(), 0);
    {
      QTemporaryDir empty;
      QVERIFY(!profile->exportBreakdowns(empty.filePath("none.png")));  // no breakdown to save
      QVERIFY(!QFile::exists(empty.filePath("none.png")));
    }
    // Session 3 has no trace; session 2's update kernel is Adam's, its sgemm slower.
    view.setTraces(
        {trace(2.0, "sgd_update"), trace(3.0, "adam_update"), nullptr, trace(2.0, "adamw_update")});
    QCOMPARE(profile->breakdownCount(), 3);
    QCOMPARE(profile->breakdownSession(2), 3);
    QTRY_VERIFY_WITH_TIMEOUT(profile->isIdle(), 10000);
    QCOMPARE(profile->breakdown(0)->barCount(), 6);
    QCOMPARE(profile->diffPair(), std::make_pair(0, 1));
    auto* diff = profile->diffModel();
    QAbstractItemModelTester tester(diff, QAbstractItemModelTester::FailureReportingMode::QtTest);
    std::map<std::string, tb::trace::DiffKind> kinds;
    for (int r = 0; r < diff->rowCount(); ++r) kinds[diff->diffAt(r)->name] = diff->diffAt(r)->kind;
    QCOMPARE(kinds["sgemm_128x64"], tb::trace::DiffKind::slower);
    QCOMPARE(kinds["adam_update"], tb::trace::DiffKind::added);
    QCOMPARE(kinds["sgd_update"], tb::trace::DiffKind::removed);
    QVERIFY(diff->perStep());
    const int sgemm = [&] {
      for (int r = 0; r < diff->rowCount(); ++r)
        if (diff->diffAt(r)->name == "sgemm_128x64") return r;
      return -1;
    }();
    const auto raw = [&](int column) {
      return diff->data(diff->index(sgemm, column), tb::widgets::TraceDiffModel::RawValueRole)
          .toDouble();
    };
    QCOMPARE(raw(tb::widgets::TraceDiffModel::BeforeColumn), 2e6);  // 2 ms a step
    QCOMPARE(raw(tb::widgets::TraceDiffModel::AfterColumn), 3e6);
    QCOMPARE(raw(tb::widgets::TraceDiffModel::DeltaColumn), 1e6);
    // Unsorted, the table shows the model's order; a header click sorts by the column's numbers
    // (by delta ascending, the removed sgd_update, the only negative change, comes first).
    QTableView* table = profile->diffTable();
    QAbstractItemModel* shown = table->model();
    QCOMPARE(shown->rowCount(), diff->rowCount());
    for (int r = 0; r < diff->rowCount(); ++r)
      QCOMPARE(shown->index(r, 0).data().toString(), diff->index(r, 0).data().toString());
    table->sortByColumn(tb::widgets::TraceDiffModel::DeltaColumn, Qt::AscendingOrder);
    std::vector<double> deltas;
    for (int r = 0; r < shown->rowCount(); ++r) {
      deltas.push_back(shown->index(r, tb::widgets::TraceDiffModel::DeltaColumn)
                           .data(tb::widgets::TraceDiffModel::RawValueRole)
                           .toDouble());
    }
    QVERIFY(std::is_sorted(deltas.begin(), deltas.end()));
    QVERIFY(deltas.front() < 0 && deltas.back() > 0);
    QCOMPARE(shown->index(0, 0).data().toString(), QStringLiteral("sgd_update"));
    table->sortByColumn(tb::widgets::TraceDiffModel::NameColumn, Qt::AscendingOrder);
    QStringList names;
    for (int r = 0; r < shown->rowCount(); ++r) names << shown->index(r, 0).data().toString();
    QStringList byName = names;
    byName.sort();
    QCOMPARE(names, byName);
    // The breakdowns side by side save as pictures.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    view.show();
    view.setCurrentTab(CompareView::ProfileTab);
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    // Nowhere to write: refused, nothing claimed.
    QVERIFY(!profile->exportBreakdowns(dir.filePath("missing/folder/breakdowns.png")));
    QVERIFY(!profile->exportBreakdowns(dir.filePath("missing/folder/breakdowns.svg")));
    QVERIFY(profile->exportBreakdowns(dir.filePath("breakdowns.png")));
    QImage picture;
    QVERIFY(picture.load(dir.filePath("breakdowns.png")));
    QVERIFY(picture.width() >= 2 * 3 * 380);  // three breakdowns of at least 380 px, at 2x
    // Each session's caption chip is in the picture, in its colour.
    const auto hasColour = [&](const QColor& colour) {
      for (int y = 0; y < picture.height(); y += 2)
        for (int x = 0; x < picture.width(); x += 2)
          if (picture.pixelColor(x, y) == colour) return true;
      return false;
    };
    QVERIFY(hasColour(tb::widgets::sessionColor(0)));
    QVERIFY(hasColour(tb::widgets::sessionColor(3)));
    QVERIFY(profile->exportBreakdowns(dir.filePath("breakdowns.svg")));
    QFile svg(dir.filePath("breakdowns.svg"));
    QVERIFY(svg.open(QIODevice::ReadOnly));
    const QByteArray text = svg.readAll();
    QVERIFY(text.contains("<svg"));
    QVERIFY(text.contains("Step breakdowns"));
    // Another pair: the CNN against the baseline; its sgemm is the same.
    QSignalSpy ready(profile, &tb::widgets::CompareProfilePanel::diffReady);
    profile->setDiffPair(0, 3);
    QTRY_VERIFY_WITH_TIMEOUT(profile->isDiffIdle() && ready.count() >= 1, 10000);
    kinds.clear();
    for (int r = 0; r < diff->rowCount(); ++r) kinds[diff->diffAt(r)->name] = diff->diffAt(r)->kind;
    QVERIFY(!kinds.count("sgemm_128x64"));  // unchanged ops are left out
    QCOMPARE(kinds["adamw_update"], tb::trace::DiffKind::added);
    // New sessions drop the traces (they belonged to the old ones).
    view.setSessions(fourSessions());
    QCOMPARE(profile->breakdownCount(), 0);
  }

  void profileBreakdownsShareATimeScale() {
    CompareView view;
    view.resize(1400, 900);
    view.setSessions(fourSessions());
    auto* profile = view.profilePanel();
    // Steps of 12 ms and of 36 ms: side by side, equal bars must mean equal times.
    view.setTraces({trace(2.0, "sgd_update"), trace(2.0, "adam_update", 6, 3.0), nullptr, nullptr});
    QTRY_VERIFY_WITH_TIMEOUT(profile->isIdle(), 10000);
    QCOMPARE(profile->breakdownCount(), 2);
    auto* fast = profile->breakdown(0);
    auto* slow = profile->breakdown(1);
    QVERIFY(profile->sharedTimeScale());
    QVERIFY2(fast->fittedTimeAxisMax() < slow->fittedTimeAxisMax(),
             qPrintable(QStringLiteral("%1 vs %2")
                            .arg(fast->fittedTimeAxisMax())
                            .arg(slow->fittedTimeAxisMax())));
    QVERIFY(slow->fittedTimeAxisMax() >= 36.0);
    QCOMPARE(fast->timeAxisMax(), slow->fittedTimeAxisMax());
    QCOMPARE(slow->timeAxisMax(), slow->fittedTimeAxisMax());
    // Off: each fitted to its own steps.
    profile->setSharedTimeScale(false);
    QCOMPARE(fast->timeAxisMax(), fast->fittedTimeAxisMax());
    QVERIFY(fast->timeAxisMax() >= 12.0 && fast->timeAxisMax() < 36.0);
    QCOMPARE(slow->timeAxisMax(), slow->fittedTimeAxisMax());
    profile->setSharedTimeScale(true);
    QCOMPARE(fast->timeAxisMax(), slow->timeAxisMax());
  }

  void atMostTwentySessions() {
    std::vector<SessionData> many;
    for (int i = 0; i < 25; ++i) {
      SessionData s = session(i % 4, 1);
      s.record.id = tb::store::SessionId(i + 1);
      many.push_back(std::move(s));
    }
    CompareView view;
    view.setSessions(std::move(many));
    QCOMPARE(int(view.sessions().size()), CompareView::kMaxSessions);
    QCOMPARE(view.curvePlot()->curveCount(), 20);
    QCOMPARE(view.summaryModel()->columnCount(), 21);
    QCOMPARE(view.labels().back().color, sessionColor(19));
    view.setSessions({});
    QCOMPARE(view.curvePlot()->curveCount(), 0);
    QCOMPARE(view.summaryModel()->columnCount(), 1);
  }

  void profileVerdictsWarnOfDroppedCuptiRecords() {
    // Session 1 ran on CUDA and CUPTI dropped records; session 0's settings have no count.
    auto sessions = fourSessions();
    sessions[1].settings.emplace_back("profile.cupti", "on");
    sessions[1].settings.emplace_back("profile.cupti_dropped_records", "57");
    CompareView view;
    view.setSessions(std::move(sessions));
    view.setTraces({trace(2.0, "sgd_update"), trace(3.0, "adam_update"), nullptr, nullptr});
    auto* profile = view.profilePanel();
    QTRY_VERIFY_WITH_TIMEOUT(profile->isIdle(), 10000);
    QCOMPARE(profile->breakdownCount(), 2);
    const QString clean = profile->breakdown(0)->verdictText();
    const QString warned = profile->breakdown(1)->verdictText();
    QVERIFY2(clean.contains("mean step") && !clean.contains("CUPTI"), qPrintable(clean));
    QVERIFY2(warned.contains("CUPTI dropped 57 records"), qPrintable(warned));
  }

  void screenshots() {
    CompareView view;
    view.resize(1400, 860);
    view.show();
    view.setSessions(fourSessions());
    view.setAvailableMetrics({"train_loss", "test_accuracy", "test_loss", "samples_per_s"});
    view.setTraces(
        {trace(2.0, "sgd_update"), trace(3.0, "adam_update"), nullptr, trace(2.0, "adamw_update")});
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    QTRY_VERIFY_WITH_TIMEOUT(view.profilePanel()->isIdle(), 10000);
    view.setCurrentTab(CompareView::SummaryTab);
    saveScreenshot(view, "compare_view_summary.png");
    view.setCurrentTab(CompareView::CurvesTab);
    saveScreenshot(view, "compare_view_curves.png");
    choose(view.metricCombo(), "test_accuracy");
    view.xAxisCombo()->setCurrentIndex(2);
    saveScreenshot(view, "compare_view_curves_accuracy_wall_time.png");
    view.setCurrentTab(CompareView::ProfileTab);
    saveScreenshot(view, "compare_view_profile.png");
    view.setCurrentTab(CompareView::ParallelTab);
    saveScreenshot(view, "compare_view_parallel.png");
  }
};

QTEST_MAIN(CompareViewTest)
#include "compare_view_test.moc"
