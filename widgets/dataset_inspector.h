// DatasetInspector: what the dataset inspector (data::inspect) found, laid out to answer at a
// glance the questions to settle before training: is the data clean, does the test set leak into
// the training set, how balanced are the classes, and what accuracy must a model beat.
//
// Top: "Check dataset", the near-duplicate threshold and the kNN baseline's k. Then a summary line
// (set sizes, times, source); the findings, each marked ok / warning / problem; the class-balance
// table (ClassBalanceModel, with bars so an uneven class stands out); and, for each finding, its
// example pairs drawn as the two images side by side, "labels differ" in red where a duplicate
// carries two labels (a labelling error, the most actionable kind).
//
// The widget only displays: it emits checkRequested() and whoever runs the check (off the GUI
// thread: inspecting 60 000 images takes seconds) answers with setBusy() / setResult() /
// setError(). A result is immutable and shared, so it can be shown while a newer one is computed.
#pragma once

#include <QImage>
#include <QMetaType>
#include <QString>
#include <QWidget>

#include <array>
#include <memory>

#include "core/data/inspect.h"
#include "widgets/dataset_check_result.h"

class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QScrollArea;
class QSpinBox;
class QStackedWidget;
class QTableView;
class QVBoxLayout;

Q_DECLARE_METATYPE(tb::data::InspectOptions)

namespace tb::widgets {

class ClassBalanceModel;

class DatasetInspector : public QWidget {
  Q_OBJECT

 public:
  // The findings listed, in the order shown: leakage first, since it invalidates the test score.
  enum class Finding {
    TestExact,   // test samples identical to a training sample
    TestNear,    // test samples with a near-duplicate in train
    TrainExact,  // exact duplicates within train, and those with disagreeing labels
    TrainNear,   // near-duplicate pairs within train
    Balance,     // largest / smallest class, train vs test shares
    Baseline,    // kNN test accuracy
    Count
  };
  enum class Severity { Ok, Info, Warning, Problem };

  // Where the image of a sample is scaled to (per side, in pixels): 28x28 becomes 84x84.
  static constexpr int kImageSide = 84;

  explicit DatasetInspector(QWidget* parent = nullptr);

  // The options the controls describe (the rest of InspectOptions at its defaults).
  data::InspectOptions options() const;
  void setOptions(const data::InspectOptions& options);

  const std::shared_ptr<const DatasetCheckResult>& result() const { return result_; }
  bool isBusy() const { return busy_; }
  QString errorText() const { return error_; }
  // True until the first result arrives.
  bool showsEmptyState() const;

  QPushButton* checkButton() const { return checkButton_; }
  QDoubleSpinBox* thresholdBox() const { return thresholdBox_; }
  QSpinBox* knnBox() const { return knnBox_; }
  QLabel* statusLabel() const { return status_; }
  QLabel* summaryLabel() const { return summary_; }
  QLabel* searchLabel() const { return search_; }
  // "Findings: 2 problems, 1 warning" / "Findings: all clear".
  QGroupBox* findingsBox() const { return findingsBox_; }
  QLabel* findingLabel(Finding finding) const;
  Severity findingSeverity(Finding finding) const;
  ClassBalanceModel* balanceModel() const { return balanceModel_; }
  QTableView* balanceView() const { return balanceView_; }
  // Example pairs drawn, and how many of them are marked "labels differ".
  int examplePairCount() const { return examplePairs_; }
  int conflictPairCount() const { return conflictPairs_; }

  // The raw image of sample `index` of `set` (raw = feature * raw_std + raw_mean, clamped to
  // 0..1), scaled up by a whole factor (nearest neighbour, so pixels stay pixels) to about
  // kImageSide on its longer side; null when the sample is not a single-channel image ([1, H, W]
  // or [H, W]) or the index is out of range.
  static QImage sampleImage(const data::InMemoryDataset& set, std::int64_t index);

 public slots:
  void setBusy(bool busy);
  // Shown in red beside the controls until the next result or check; empty clears it.
  void setError(const QString& message);
  void setResult(std::shared_ptr<const DatasetCheckResult> result);
  // Emits checkRequested() with the controls' options (the "Check dataset" button calls this).
  void requestCheck();

 signals:
  void checkRequested(const tb::data::InspectOptions& options);

 private:
  void buildUi();
  QWidget* buildFindings();
  QWidget* buildBalance();
  QWidget* buildExamples();
  void fitBalanceView();
  void showReport(const DatasetCheckResult& result);
  void setFinding(Finding finding, Severity severity, const QString& text);
  void showExamples(const DatasetCheckResult& result);
  void addExampleSection(const DatasetCheckResult& result, const QString& title,
                         const std::vector<data::SamplePair>& pairs, bool secondIsTest);
  void updateStatus();

  QPushButton* checkButton_ = nullptr;
  QDoubleSpinBox* thresholdBox_ = nullptr;
  QSpinBox* knnBox_ = nullptr;
  QProgressBar* busyBar_ = nullptr;
  QLabel* status_ = nullptr;
  QStackedWidget* pages_ = nullptr;
  QLabel* summary_ = nullptr;
  QLabel* search_ = nullptr;
  QGroupBox* findingsBox_ = nullptr;
  std::array<QLabel*, static_cast<std::size_t>(Finding::Count)> findingMarks_{};
  std::array<QLabel*, static_cast<std::size_t>(Finding::Count)> findingTexts_{};
  std::array<Severity, static_cast<std::size_t>(Finding::Count)> severities_{};
  ClassBalanceModel* balanceModel_ = nullptr;
  QTableView* balanceView_ = nullptr;
  QLabel* balanceNote_ = nullptr;
  QScrollArea* examplesScroll_ = nullptr;
  QVBoxLayout* examplesLayout_ = nullptr;  // of the scroll area's content, rebuilt per result

  std::shared_ptr<const DatasetCheckResult> result_;
  bool busy_ = false;
  QString error_;
  int examplePairs_ = 0;
  int conflictPairs_ = 0;
};

}  // namespace tb::widgets
