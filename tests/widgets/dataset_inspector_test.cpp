// The dataset inspector panel: ClassBalanceModel under QAbstractItemModelTester; the widget on a
// report data::inspect made of a small in-memory dataset with planted duplicates, leakage and label
// conflicts (what it says, how many pairs it draws); and the "Data" tab of the main window end to
// end: a project on a synthetic Fashion-MNIST, "Check dataset" clicked, the check run off the GUI
// thread by the real DataCheckController, its result shown. Saves screenshots of both.
#include <QAbstractItemModelTester>
#include <QAction>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFrame>
#include <QGroupBox>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTabWidget>
#include <QTableView>
#include <QTest>
#include <QTextDocumentFragment>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <memory>
#include <random>

#include "app/gui/main_window.h"
#include "core/data/inspect.h"
#include "tests/support/test_data.h"
#include "widgets/class_balance_model.h"
#include "widgets/dataset_inspector.h"
#include "widgets/project_editor.h"

using tb::widgets::ClassBalanceModel;
using tb::widgets::DatasetCheckResult;
using tb::widgets::DatasetInspector;
using Finding = tb::widgets::DatasetInspector::Finding;
using Severity = tb::widgets::DatasetInspector::Severity;

namespace {

constexpr int kSide = 28;
constexpr int kPixels = kSide * kSide;
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;

// A raw image in 0..1: a dim noisy background and a bright class-specific shape (a horizontal
// bar, a vertical bar, a square), so the examples look like something and kNN has signal.
std::vector<float> rawImage(int label, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> background(0.0f, 0.3f);
  std::vector<float> raw(kPixels);
  for (float& v : raw) v = background(rng);
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) {
      const bool on = label == 0   ? (y >= 11 && y < 17 && x >= 3 && x < 25)
                      : label == 1 ? (x >= 11 && x < 17 && y >= 3 && y < 25)
                                   : (x >= 7 && x < 21 && y >= 7 && y < 21);
      if (on) raw[static_cast<std::size_t>(y * kSide + x)] = 0.9f;
    }
  }
  return raw;
}

tb::data::InMemoryDataset makeSet(const std::string& name, int count, std::mt19937_64& rng) {
  tb::data::InMemoryDataset set;
  set.name = name;
  set.sample_shape = tb::tensor::Shape{1, kSide, kSide};
  set.classes = 3;
  set.class_names = {"Bar", "Pillar", "Square"};
  set.raw_mean = kMean;
  set.raw_std = kStd;
  for (int i = 0; i < count; ++i) {
    const int label = i % 3;
    for (float raw : rawImage(label, rng)) set.features.push_back((raw - kMean) / kStd);
    set.labels.push_back(label);
  }
  return set;
}

// Sample `to` of `target` becomes sample `from` of `source`, plus `noise` (raw units, uniform in
// +-noise) when > 0, with `label`.
void plant(const tb::data::InMemoryDataset& source, int from, tb::data::InMemoryDataset& target,
           int to, int label, float noise, std::mt19937_64& rng) {
  std::uniform_real_distribution<float> jitter(-noise, noise);
  for (int p = 0; p < kPixels; ++p) {
    float v = source.features[static_cast<std::size_t>(from * kPixels + p)];
    if (noise > 0) v += jitter(rng) / kStd;
    target.features[static_cast<std::size_t>(to * kPixels + p)] = v;
  }
  target.labels[static_cast<std::size_t>(to)] = label;
}

// 120 training and 40 test samples of three classes, with planted findings:
// - train 100 = train 0 (same label), train 101 = train 1 relabelled: 2 exact duplicates in
//   train, 1 with disagreeing labels;
// - test 0 = train 2, test 1 = train 3 relabelled: 2 test samples in train, one label conflict;
// - test 2 = train 4 + noise 0.01, train 102 = train 5 + noise 0.01: one near-duplicate each.
std::shared_ptr<const DatasetCheckResult> plantedResult() {
  std::mt19937_64 rng(42);
  auto split = std::make_shared<tb::data::TrainTestSplit>();
  split->train = makeSet("planted/train", 120, rng);
  split->test = makeSet("planted/test", 40, rng);
  auto& train = split->train;
  auto& test = split->test;
  plant(train, 0, train, 100, train.labels[0], 0.0f, rng);
  plant(train, 1, train, 101, (train.labels[1] + 1) % 3, 0.0f, rng);
  plant(train, 2, test, 0, train.labels[2], 0.0f, rng);
  plant(train, 3, test, 1, (train.labels[3] + 1) % 3, 0.0f, rng);
  plant(train, 4, test, 2, train.labels[4], 0.01f, rng);
  plant(train, 5, train, 102, train.labels[5], 0.01f, rng);
  auto result = std::make_shared<DatasetCheckResult>();
  tb::data::InspectOptions options;
  options.threads = 2;
  result->report = tb::data::inspect(train, test, options);
  result->split = std::move(split);
  result->source = "planted in memory";
  return result;
}

QString plain(const QLabel* label) {
  return QTextDocumentFragment::fromHtml(label->text()).toPlainText();
}

// Screenshots go where ctest says (TRAINBENCH_SCREENSHOTS), else under the working folder.
void saveScreenshot(QWidget& widget, const QString& name) {
  QString dir = qEnvironmentVariable("TRAINBENCH_SCREENSHOTS");
  if (dir.isEmpty()) dir = QDir::current().filePath(QStringLiteral("screenshots"));
  QVERIFY(QDir().mkpath(dir));
  QTest::qWait(200);  // let the layouts catch up before the grab
  const QString path = QDir(dir).filePath(name);
  QVERIFY2(widget.grab().save(path), qPrintable(path));
  qInfo("screenshot: %s", qPrintable(path));
}

QAction* findAction(QMenuBar* bar, const QString& menuText, const QString& actionText) {
  for (QAction* menuAction : bar->actions()) {
    if (menuAction->text().remove(QLatin1Char('&')) != menuText || !menuAction->menu()) continue;
    for (QAction* action : menuAction->menu()->actions()) {
      if (action->text().remove(QLatin1Char('&')) == actionText) return action;
    }
  }
  return nullptr;
}

QString projectJson(const std::filesystem::path& data) {
  nlohmann::json doc = {
      {"name", "gui-data-check"},
      {"seed", 7},
      {"data", {{"path", data.string()}, {"batch_size", 64}}},
      {"model", {{"type", "mlp"}, {"hidden", {32}}}},
      {"train", {{"epochs", 1}, {"threads", 1}}},
  };
  return QString::fromStdString(doc.dump(2));
}

}  // namespace

class DatasetInspectorTest : public QObject {
  Q_OBJECT

 private slots:
  void classBalanceModelPassesTheTester() {
    ClassBalanceModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(model.columnCount(), int(ClassBalanceModel::ColumnCount));

    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    model.setCounts({"cat", "dog", "eel"}, {50, 30, 0}, {10, 10, 5});
    QCOMPARE(resets.count(), 1);
    QCOMPARE(model.rowCount(), 3);
    QCOMPARE(model.trainTotal(), std::int64_t{80});
    QCOMPARE(model.testTotal(), std::int64_t{25});
    auto cell = [&](int row, int column, int role = Qt::DisplayRole) {
      return model.data(model.index(row, column), role);
    };
    QCOMPARE(cell(0, ClassBalanceModel::ClassColumn).toString(), QStringLiteral("cat"));
    QCOMPARE(cell(0, ClassBalanceModel::TrainColumn).toString(), QStringLiteral("50"));
    QCOMPARE(cell(0, ClassBalanceModel::TestColumn).toString(), QStringLiteral("10"));
    QCOMPARE(cell(0, ClassBalanceModel::TrainShareColumn).toString(), QStringLiteral("62.5 %"));
    QCOMPARE(cell(2, ClassBalanceModel::TestShareColumn).toString(), QStringLiteral("20.0 %"));
    QCOMPARE(cell(1, ClassBalanceModel::TrainColumn, ClassBalanceModel::RawValueRole).toLongLong(),
             qlonglong{30});
    QCOMPARE(
        cell(1, ClassBalanceModel::TrainShareColumn, ClassBalanceModel::RawValueRole).toDouble(),
        0.375);
    // Bars are relative to the largest share anywhere (cat's 62.5 % of train).
    QCOMPARE(
        cell(0, ClassBalanceModel::TrainShareColumn, ClassBalanceModel::BarFractionRole).toDouble(),
        1.0);
    QCOMPARE(
        cell(0, ClassBalanceModel::TestShareColumn, ClassBalanceModel::BarFractionRole).toDouble(),
        0.4 / 0.625);
    QVERIFY(!cell(0, ClassBalanceModel::TrainColumn, ClassBalanceModel::BarFractionRole).isValid());
    // A class missing from the training set is flagged; present ones are not.
    QVERIFY(cell(2, ClassBalanceModel::TrainColumn, Qt::ForegroundRole).isValid());
    QVERIFY(cell(2, ClassBalanceModel::ClassColumn, Qt::ForegroundRole).isValid());
    QVERIFY(!cell(2, ClassBalanceModel::TestColumn, Qt::ForegroundRole).isValid());
    QVERIFY(!cell(0, ClassBalanceModel::TrainColumn, Qt::ForegroundRole).isValid());
    QCOMPARE(model.headerData(ClassBalanceModel::TestShareColumn, Qt::Horizontal).toString(),
             QStringLiteral("Test %"));

    // Names and counts of different lengths: the longest wins, the gaps are filled.
    model.setCounts({"a"}, {1, 2}, {});
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(cell(1, ClassBalanceModel::ClassColumn).toString(), QStringLiteral("class 1"));
    QCOMPARE(cell(1, ClassBalanceModel::TestShareColumn).toString(), QStringLiteral("–"));

    tb::data::InspectReport report;
    report.class_names = {"x", "y"};
    report.train_class_counts = {3, 1};
    report.test_class_counts = {1, 1};
    model.setReport(report);
    QCOMPARE(model.rowCount(), 2);
    QCOMPARE(cell(1, ClassBalanceModel::TrainShareColumn).toString(), QStringLiteral("25.0 %"));

    model.clear();
    QCOMPARE(model.rowCount(), 0);
    QCOMPARE(resets.count(), 4);
  }

  void emptyStateAndControls() {
    DatasetInspector inspector;
    inspector.resize(900, 500);
    inspector.show();
    QVERIFY(QTest::qWaitForWindowExposed(&inspector));
    QVERIFY(inspector.showsEmptyState());
    QVERIFY(!inspector.result());
    auto* empty = inspector.findChild<QLabel*>(QStringLiteral("emptyState"));
    QVERIFY(empty && empty->isVisible());
    QVERIFY(plain(empty).contains(QStringLiteral("No check yet")));

    const tb::data::InspectOptions defaults;
    QCOMPARE(inspector.thresholdBox()->value(), defaults.near_rms);
    QCOMPARE(inspector.knnBox()->value(), int(defaults.knn_k));

    QSignalSpy requested(&inspector, &DatasetInspector::checkRequested);
    inspector.thresholdBox()->setValue(0.05);
    inspector.knnBox()->setValue(3);
    QTest::mouseClick(inspector.checkButton(), Qt::LeftButton);
    QCOMPARE(requested.count(), 1);
    const auto options = requested.first().first().value<tb::data::InspectOptions>();
    QCOMPARE(options.near_rms, 0.05);
    QCOMPARE(options.knn_k, std::int64_t{3});
    QCOMPARE(options.projection_dims, defaults.projection_dims);

    inspector.setBusy(true);
    QVERIFY(inspector.isBusy());
    QVERIFY(!inspector.checkButton()->isEnabled());
    QVERIFY(inspector.statusLabel()->text().startsWith(QStringLiteral("Checking")));
    inspector.setBusy(false);
    inspector.setError(QStringLiteral("no such folder: /nowhere"));
    QVERIFY(inspector.checkButton()->isEnabled());
    QCOMPARE(inspector.statusLabel()->text(), QStringLiteral("no such folder: /nowhere"));
    QVERIFY(inspector.showsEmptyState());  // an error does not pretend to be a result
    inspector.setBusy(true);               // a new check clears the old error
    QVERIFY(inspector.errorText().isEmpty());
    inspector.setBusy(false);
    inspector.setResult(nullptr);
    QVERIFY(inspector.showsEmptyState());
  }

  void sampleImageShowsRawPixels() {
    tb::data::InMemoryDataset set;
    set.sample_shape = tb::tensor::Shape{1, kSide, kSide};
    set.raw_mean = kMean;
    set.raw_std = kStd;
    set.labels = {0};
    set.features.assign(kPixels, (0.5f - kMean) / kStd);  // raw 0.5: mid grey
    set.features[1] = (1.7f - kMean) / kStd;              // above 1: clamped to white
    set.features[2] = (-0.3f - kMean) / kStd;             // below 0: clamped to black
    const QImage image = DatasetInspector::sampleImage(set, 0);
    QCOMPARE(image.size(), QSize(DatasetInspector::kImageSide, DatasetInspector::kImageSide));
    QCOMPARE(qGray(image.pixel(0, 0)), 128);
    QCOMPARE(qGray(image.pixel(3, 0)), 255);                  // pixel 1, scaled 3x
    QCOMPARE(qGray(image.pixel(8, 2)), 0);                    // pixel 2
    QVERIFY(DatasetInspector::sampleImage(set, 1).isNull());  // out of range
    set.sample_shape = tb::tensor::Shape{3, 4, 4};            // not one channel
    QVERIFY(DatasetInspector::sampleImage(set, 0).isNull());
  }

  void showsPlantedFindings() {
    const auto result = plantedResult();
    const tb::data::InspectReport& r = result->report;
    // The planted data is what the comments say (so the checks below test the widget, not luck).
    QCOMPARE(r.train_exact_redundant, std::int64_t{2});
    QCOMPARE(r.train_exact_label_conflicts, std::int64_t{1});
    QCOMPARE(r.test_exact_in_train, std::int64_t{2});
    QCOMPARE(r.test_near_in_train, std::int64_t{1});
    QCOMPARE(r.train_near_pairs, std::int64_t{1});

    DatasetInspector inspector;
    inspector.resize(1340, 820);
    inspector.show();
    QVERIFY(QTest::qWaitForWindowExposed(&inspector));
    inspector.setResult(result);
    QVERIFY(!inspector.showsEmptyState());
    QCOMPARE(inspector.result(), result);

    const QString summary = plain(inspector.summaryLabel());
    QVERIFY2(summary.contains(QStringLiteral("planted/train: 120 samples")), qPrintable(summary));
    QVERIFY2(summary.contains(QStringLiteral("planted/test: 40 samples")), qPrintable(summary));
    QVERIFY(summary.contains(QStringLiteral("[1, 28, 28]")));
    QVERIFY(summary.contains(QStringLiteral("checked in")));

    auto finding = [&](Finding f) { return plain(inspector.findingLabel(f)); };
    QVERIFY2(finding(Finding::TestExact).startsWith(QStringLiteral("2 of 40 test samples (5.0 %)")),
             qPrintable(finding(Finding::TestExact)));
    QCOMPARE(inspector.findingSeverity(Finding::TestExact), Severity::Problem);
    QVERIFY2(finding(Finding::TestNear).startsWith(QStringLiteral("1 of 40 test samples (2.5 %)")),
             qPrintable(finding(Finding::TestNear)));
    QCOMPARE(inspector.findingSeverity(Finding::TestNear), Severity::Warning);
    const QString trainExact = finding(Finding::TrainExact);
    QVERIFY2(trainExact.contains(QStringLiteral("2 contents occur more than once: 2 redundant "
                                                "copies")) &&
                 trainExact.contains(QStringLiteral("1 content with disagreeing labels")),
             qPrintable(trainExact));
    QCOMPARE(inspector.findingSeverity(Finding::TrainExact), Severity::Problem);
    QVERIFY2(finding(Finding::TrainNear).startsWith(QStringLiteral("1 pair within rms 0.04")),
             qPrintable(finding(Finding::TrainNear)));
    QVERIFY2(finding(Finding::Baseline)
                 .startsWith(QStringLiteral("%1 %").arg(100.0 * r.knn_accuracy, 0, 'f', 2)),
             qPrintable(finding(Finding::Baseline)));
    QVERIFY(finding(Finding::Balance).contains(QStringLiteral("Largest / smallest class")));
    QVERIFY(plain(inspector.searchLabel()).contains(QStringLiteral("24 principal components")));
    QCOMPARE(inspector.findingsBox()->title(), QStringLiteral("Findings: 2 problems, 2 warnings"));

    // The class table: a row a class, counts summing to the set sizes.
    QCOMPARE(inspector.balanceView()->model(), inspector.balanceModel());
    QCOMPARE(inspector.balanceModel()->rowCount(), 3);
    QCOMPARE(inspector.balanceModel()->trainTotal(), std::int64_t{120});
    QCOMPARE(inspector.balanceModel()->testTotal(), std::int64_t{40});
    QCOMPARE(inspector.balanceModel()
                 ->data(inspector.balanceModel()->index(2, ClassBalanceModel::ClassColumn))
                 .toString(),
             QStringLiteral("Square"));

    // Every example pair the report lists is drawn, the two relabelled copies marked.
    const auto examples = r.train_exact_examples.size() + r.train_near_examples.size() +
                          r.test_exact_examples.size() + r.test_near_examples.size();
    QCOMPARE(examples, std::size_t{6});
    QCOMPARE(inspector.examplePairCount(), 6);
    QCOMPARE(inspector.conflictPairCount(), 2);
    const auto cards = inspector.findChildren<QFrame*>(QStringLiteral("pairCard"));
    QCOMPARE(cards.size(), 6);
    const auto differ = std::count_if(cards.begin(), cards.end(), [](QFrame* card) {
      return card->property("labelsDiffer").toBool();
    });
    QCOMPARE(differ, qsizetype{2});
    int withLabelsDiffer = 0;
    for (QLabel* verdict : inspector.findChildren<QLabel*>(QStringLiteral("pairVerdict"))) {
      if (plain(verdict).contains(QStringLiteral("labels differ"))) ++withLabelsDiffer;
    }
    QCOMPARE(withLabelsDiffer, 2);
    // Each card holds its two images.
    for (QFrame* card : cards) {
      int images = 0;
      for (QLabel* label : card->findChildren<QLabel*>()) {
        if (!label->pixmap().isNull()) ++images;
      }
      QCOMPARE(images, 2);
    }
    QVERIFY(!inspector.findChild<QLabel*>(QStringLiteral("noExamples")));
    saveScreenshot(inspector, QStringLiteral("dataset_inspector.png"));

    // A clean result replaces everything: no pairs, every leakage finding ok.
    auto clean = std::make_shared<DatasetCheckResult>(*result);
    clean->report.test_exact_in_train = clean->report.test_near_in_train = 0;
    clean->report.train_exact_groups = clean->report.train_exact_redundant = 0;
    clean->report.train_exact_label_conflicts = clean->report.train_near_pairs = 0;
    clean->report.test_exact_examples.clear();
    clean->report.test_near_examples.clear();
    clean->report.train_exact_examples.clear();
    clean->report.train_near_examples.clear();
    inspector.setResult(clean);
    QCOMPARE(inspector.examplePairCount(), 0);
    QVERIFY(inspector.findChildren<QFrame*>(QStringLiteral("pairCard")).isEmpty());
    QVERIFY(inspector.findChild<QLabel*>(QStringLiteral("noExamples")));
    for (Finding f :
         {Finding::TestExact, Finding::TestNear, Finding::TrainExact, Finding::TrainNear}) {
      QCOMPARE(inspector.findingSeverity(f), Severity::Ok);
    }
    QCOMPARE(inspector.findingsBox()->title(), QStringLiteral("Findings: all clear"));
  }

  void mainWindowChecksTheProjectsData() {
    tb::testing::TempDir data("trainbench-gui-data-check");
    tb::testing::write_synthetic_fashion_mnist(data.path(), 600, 200);
    tb::testing::TempDir home("trainbench-gui-data");
    tb::app::MainWindow window(home / "sessions.db");
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));

    // The third tab, reachable from View; the training tab still comes first.
    QCOMPARE(window.tabs()->count(), 6);
    QCOMPARE(window.tabs()->currentIndex(), 0);
    QCOMPARE(window.tabs()->tabText(2), QStringLiteral("Data"));
    QCOMPARE(window.tabs()->widget(2), window.dataInspector());
    QAction* show =
        findAction(window.menuBar(), QStringLiteral("View"), QStringLiteral("Data inspector"));
    QVERIFY(show);
    QCOMPARE(show->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_3));
    show->trigger();
    QCOMPARE(window.tabs()->currentWidget(), window.dataInspector());
    DatasetInspector* inspector = window.dataInspector();
    QVERIFY(inspector->isVisible());
    QVERIFY(inspector->showsEmptyState());

    // An invalid project is answered in the panel, without a check.
    window.editor()->setText(QStringLiteral(R"({"optimizer": {"lr": "x"}})"));
    QTest::mouseClick(inspector->checkButton(), Qt::LeftButton);
    QVERIFY(!window.dataCheck()->isRunning());
    QVERIFY2(inspector->errorText().contains(QStringLiteral("not valid")),
             qPrintable(inspector->errorText()));

    window.editor()->setText(projectJson(data.path()));
    QVERIFY2(window.editor()->isValid(), qPrintable(window.editor()->validationMessage()));
    QSignalSpy finished(window.dataCheck(), &tb::app::DataCheckController::finished);
    QSignalSpy failed(window.dataCheck(), &tb::app::DataCheckController::failed);
    QTest::mouseClick(inspector->checkButton(), Qt::LeftButton);
    // The result comes back through the event loop, so the check is still "running" here: a
    // second request is refused and the button is off.
    QVERIFY(window.dataCheck()->isRunning());
    QVERIFY(inspector->isBusy());
    QVERIFY(!inspector->checkButton()->isEnabled());
    QString refusal;
    QVERIFY(!window.dataCheck()->start(*window.editor()->project(), {}, &refusal));
    QVERIFY(refusal.contains(QStringLiteral("already running")));

    QTRY_COMPARE_WITH_TIMEOUT(finished.count() + failed.count(), 1, 45000);
    QVERIFY2(failed.isEmpty(),
             failed.isEmpty() ? "" : qPrintable(failed.first().first().toString()));
    QVERIFY(!window.dataCheck()->isRunning());
    QVERIFY(!inspector->isBusy());
    QVERIFY(inspector->checkButton()->isEnabled());
    QVERIFY(inspector->errorText().isEmpty());
    QVERIFY(!inspector->showsEmptyState());
    const auto result = finished.first().first().value<std::shared_ptr<const DatasetCheckResult>>();
    QVERIFY(result);
    QCOMPARE(inspector->result(), result);
    QCOMPARE(result->report.train_samples, std::int64_t{600});
    QCOMPARE(result->report.test_samples, std::int64_t{200});
    QCOMPARE(result->split->train.size(), std::int64_t{600});
    QCOMPARE(result->report.near_rms, tb::data::InspectOptions{}.near_rms);
    QCOMPARE(inspector->balanceModel()->rowCount(), 10);
    QCOMPARE(inspector->balanceModel()->trainTotal(), std::int64_t{600});
    const QString summary = plain(inspector->summaryLabel());
    QVERIFY2(summary.contains(QStringLiteral("600 samples")) &&
                 summary.contains(QStringLiteral("200 samples")),
             qPrintable(summary));
    QVERIFY(plain(inspector->findingLabel(Finding::Baseline)).contains(QStringLiteral("%")));
    saveScreenshot(window, QStringLiteral("main_window_data.png"));

    // A dataset that is not there: the engine's message, naming the folder, in the panel.
    window.editor()->setText(projectJson(home / "no-such-data"));
    QTest::mouseClick(inspector->checkButton(), Qt::LeftButton);
    QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 1, 30000);
    QCOMPARE(finished.count(), 1);
    QVERIFY2(inspector->errorText().contains(QStringLiteral("no-such-data")),
             qPrintable(inspector->errorText()));
    QVERIFY(inspector->checkButton()->isEnabled());
    QCOMPARE(inspector->result(), result);  // the last good result stays on screen
  }

  void controllerDestroyedMidCheckJoinsQuietly() {
    tb::testing::TempDir data("trainbench-gui-data-check");
    tb::testing::write_synthetic_fashion_mnist(data.path(), 600, 200);
    tb::run::Project project;
    project.data.path = data.path().string();
    int delivered = 0;
    {
      tb::app::DataCheckController controller;
      QObject::connect(&controller, &tb::app::DataCheckController::finished,
                       [&delivered] { ++delivered; });
      QVERIFY(controller.start(project, {}));
      QVERIFY(controller.isRunning());
    }  // joins the worker; what it posted goes with the controller
    QCoreApplication::processEvents();
    QCOMPARE(delivered, 0);

    // The window closed during a check: the same join, through the window's destructor.
    auto window = std::make_unique<tb::app::MainWindow>(data / "sessions.db");
    window->editor()->setText(projectJson(data.path()));
    window->dataInspector()->requestCheck();
    QVERIFY(window->dataCheck()->isRunning());
    window.reset();
    QCoreApplication::processEvents();
  }
};

QTEST_MAIN(DatasetInspectorTest)
#include "dataset_inspector_test.moc"
