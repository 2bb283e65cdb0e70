#include "widgets/dataset_inspector.h"

#include <QDoubleSpinBox>
#include <QFontMetrics>
#include <QFrame>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPainter>
#include <QPixmap>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollArea>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <utility>

#include "widgets/class_balance_model.h"

namespace tb::widgets {

namespace {

const QColor kRed(0xc0, 0x1c, 0x28);
const QColor kOrange(0xc6, 0x46, 0x00);
const QColor kGreen(0x26, 0xa2, 0x69);
const QColor kBlue(0x1a, 0x5f, 0xb4);
const QColor kGrey(0x5e, 0x5c, 0x64);  // secondary text, still readable on the window colour

// A largest / smallest class ratio from which training on the raw distribution visibly favours the
// large classes (plain accuracy starts to hide the small ones).
constexpr double kImbalanceRatio = 3.0;

QString number(std::int64_t n) {
  return QLocale().toString(static_cast<qlonglong>(n));
}

QString counted(std::int64_t n, const QString& one, const QString& many) {
  return QStringLiteral("%1 %2").arg(number(n), n == 1 ? one : many);
}

QString percentOf(std::int64_t part, std::int64_t whole) {
  if (whole <= 0) return QStringLiteral("–");
  return QStringLiteral("%1 %").arg(100.0 * static_cast<double>(part) / static_cast<double>(whole),
                                    0, 'f', 1);
}

QString rmsText(double rms) {
  return QString::number(rms, 'g', 3);
}

QString seconds(double s) {
  return QStringLiteral("%1 s").arg(s, 0, 'f', s < 10.0 ? 2 : 1);
}

QString className(const data::InspectReport& report, std::int32_t label) {
  if (label >= 0 && static_cast<std::size_t>(label) < report.class_names.size())
    return QString::fromStdString(report.class_names[static_cast<std::size_t>(label)]);
  return QObject::tr("class %1").arg(label);
}

QString colored(const QString& text, const QColor& color) {
  return QStringLiteral("<span style=\"color:%1\">%2</span>").arg(color.name(), text);
}

// Paints the share columns' values over a bar of the share relative to the largest share of any
// class in either set: an under-represented class, or one whose test share drifts from its
// training share, shows as a short bar among long ones without reading a single number.
class ShareBarDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;

  void paint(QPainter* painter, const QStyleOptionViewItem& option,
             const QModelIndex& index) const override {
    const QVariant fraction = index.data(ClassBalanceModel::BarFractionRole);
    if (fraction.isValid()) {
      const bool train = index.column() == ClassBalanceModel::TrainShareColumn;
      QColor color = train ? kBlue : kOrange;
      color.setAlpha(55);
      const QRect area = option.rect.adjusted(3, 3, -3, -3);
      const int width =
          static_cast<int>(std::lround(std::clamp(fraction.toDouble(), 0.0, 1.0) * area.width()));
      painter->fillRect(QRect(area.left(), area.top(), width, area.height()), color);
    }
    QStyledItemDelegate::paint(painter, option, index);
  }
};

QLabel* greyLabel(const QString& text = {}) {
  auto* label = new QLabel(text);
  label->setWordWrap(true);
  label->setStyleSheet(QStringLiteral("color: %1;").arg(kGrey.name()));
  return label;
}

}  // namespace

DatasetInspector::DatasetInspector(QWidget* parent) : QWidget(parent) {
  qRegisterMetaType<data::InspectOptions>("tb::data::InspectOptions");
  qRegisterMetaType<std::shared_ptr<const DatasetCheckResult>>(
      "std::shared_ptr<const tb::widgets::DatasetCheckResult>");
  severities_.fill(Severity::Info);
  buildUi();
  setOptions(data::InspectOptions{});
  updateStatus();
}

void DatasetInspector::buildUi() {
  checkButton_ = new QPushButton(tr("Check dataset"));
  checkButton_->setToolTip(
      tr("Inspect the training and test sets of the project in the editor: class balance, "
         "duplicates, train/test leakage and a kNN baseline"));
  checkButton_->setMinimumWidth(120);
  connect(checkButton_, &QPushButton::clicked, this, &DatasetInspector::requestCheck);

  thresholdBox_ = new QDoubleSpinBox;
  thresholdBox_->setRange(0.0, 1.0);
  thresholdBox_->setDecimals(3);
  thresholdBox_->setSingleStep(0.005);
  thresholdBox_->setToolTip(
      tr("Two samples that are not identical are near-duplicates when their root-mean-square "
         "difference, in raw units (a pixel's 0..1), is at most this. 0: exact duplicates only."));
  knnBox_ = new QSpinBox;
  knnBox_->setRange(0, 99);
  knnBox_->setSpecialValueText(tr("off"));
  knnBox_->setToolTip(
      tr("Neighbours the kNN baseline votes with (on the principal components); off skips it"));

  busyBar_ = new QProgressBar;
  busyBar_->setRange(0, 0);  // no progress to report: inspect() runs as one call
  busyBar_->setTextVisible(false);
  busyBar_->setFixedWidth(140);
  busyBar_->hide();
  status_ = new QLabel;
  status_->setWordWrap(true);
  status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* controls = new QHBoxLayout;
  controls->addWidget(checkButton_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("Near-duplicate rms ≤")));
  controls->addWidget(thresholdBox_);
  controls->addSpacing(12);
  controls->addWidget(new QLabel(tr("kNN baseline k")));
  controls->addWidget(knnBox_);
  controls->addSpacing(12);
  controls->addWidget(busyBar_);
  controls->addWidget(status_, 1);

  auto* empty = new QLabel(
      tr("<p><b>No check yet.</b></p><p>Press <b>Check dataset</b> to inspect the training and "
         "test sets of the project in the editor:</p><ul><li>train/test leakage: test samples "
         "that are identical or nearly identical to training samples;</li><li>duplicates and "
         "near-duplicates within the training set, and copies whose labels disagree;</li>"
         "<li>the class balance of both sets;</li><li>the test accuracy of a k-nearest-neighbour "
         "baseline: the number a trained model has to beat.</li></ul>"));
  empty->setWordWrap(true);
  empty->setObjectName(QStringLiteral("emptyState"));
  // A fixed width between stretches, not an alignment flag: an aligned label loses the
  // height-for-width a wrapped text needs, and its last lines are cut off.
  empty->setFixedWidth(560);
  auto* emptyRow = new QHBoxLayout;
  emptyRow->addStretch(1);
  emptyRow->addWidget(empty);
  emptyRow->addStretch(1);
  auto* emptyPage = new QWidget;
  auto* emptyLayout = new QVBoxLayout(emptyPage);
  emptyLayout->addStretch(1);
  emptyLayout->addLayout(emptyRow);
  emptyLayout->addStretch(2);

  summary_ = new QLabel;
  summary_->setWordWrap(true);
  summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

  auto* top = new QWidget;
  auto* topLayout = new QHBoxLayout(top);
  topLayout->setContentsMargins(0, 0, 0, 0);
  topLayout->addWidget(buildFindings(), 3);
  topLayout->addWidget(buildBalance(), 2);

  auto* resultPage = new QWidget;
  auto* resultLayout = new QVBoxLayout(resultPage);
  resultLayout->setContentsMargins(0, 0, 0, 0);
  resultLayout->addWidget(summary_);
  // A box layout, not a splitter: the findings wrap, and only layouts give word-wrapped labels
  // the height their width needs; the examples scroll in whatever is left.
  resultLayout->addWidget(top);
  resultLayout->addWidget(buildExamples(), 1);

  pages_ = new QStackedWidget;
  pages_->addWidget(emptyPage);
  pages_->addWidget(resultPage);

  auto* layout = new QVBoxLayout(this);
  layout->addLayout(controls);
  layout->addWidget(pages_, 1);
}

QWidget* DatasetInspector::buildFindings() {
  static const char* const kTitles[] = {
      QT_TR_NOOP("Test in train, exact"), QT_TR_NOOP("Test in train, near"),
      QT_TR_NOOP("Duplicates in train"),  QT_TR_NOOP("Near-duplicates in train"),
      QT_TR_NOOP("Class balance"),        QT_TR_NOOP("kNN baseline"),
  };
  static_assert(std::size(kTitles) == static_cast<std::size_t>(Finding::Count));
  auto* box = findingsBox_ = new QGroupBox(tr("Findings"));
  auto* grid = new QGridLayout(box);
  grid->setHorizontalSpacing(10);
  grid->setVerticalSpacing(6);
  for (std::size_t i = 0; i < findingTexts_.size(); ++i) {
    auto* mark = new QLabel;
    mark->setFixedWidth(QFontMetrics(mark->font()).horizontalAdvance(QStringLiteral("MM")));
    mark->setAlignment(Qt::AlignHCenter | Qt::AlignTop);
    auto* title = new QLabel(QStringLiteral("<b>%1</b>").arg(tr(kTitles[i])));
    title->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    auto* text = new QLabel;
    text->setWordWrap(true);
    text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    text->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    const int row = static_cast<int>(i);
    grid->addWidget(mark, row, 0);
    grid->addWidget(title, row, 1);
    grid->addWidget(text, row, 2);
    findingMarks_[i] = mark;
    findingTexts_[i] = text;
  }
  search_ = greyLabel();
  grid->addWidget(search_, static_cast<int>(findingTexts_.size()), 0, 1, 3);
  grid->setColumnStretch(2, 1);
  grid->setRowStretch(static_cast<int>(findingTexts_.size()) + 1, 1);
  return box;
}

QWidget* DatasetInspector::buildBalance() {
  balanceModel_ = new ClassBalanceModel(this);
  balanceView_ = new QTableView;
  balanceView_->setModel(balanceModel_);
  balanceView_->setItemDelegate(new ShareBarDelegate(balanceView_));
  balanceView_->setSelectionMode(QAbstractItemView::NoSelection);
  balanceView_->setFocusPolicy(Qt::NoFocus);
  balanceView_->setAlternatingRowColors(true);
  balanceView_->setWordWrap(false);
  balanceView_->verticalHeader()->hide();
  balanceView_->verticalHeader()->setDefaultSectionSize(balanceView_->fontMetrics().height() + 6);
  QHeaderView* header = balanceView_->horizontalHeader();
  header->setSectionResizeMode(QHeaderView::ResizeToContents);
  header->setSectionResizeMode(ClassBalanceModel::TrainShareColumn, QHeaderView::Stretch);
  header->setSectionResizeMode(ClassBalanceModel::TestShareColumn, QHeaderView::Stretch);
  balanceNote_ = greyLabel();
  auto* box = new QGroupBox(tr("Class balance"));
  auto* layout = new QVBoxLayout(box);
  layout->addWidget(balanceView_);
  layout->addWidget(balanceNote_);
  layout->addStretch(1);
  return box;
}

void DatasetInspector::fitBalanceView() {
  // Every class in view without scrolling, up to a dozen (more scroll): the table is the answer to
  // "how balanced", so it should not hide rows behind a scroll bar while leaving space empty.
  constexpr int kMaxVisibleRows = 12;
  const int rows = std::clamp(balanceModel_->rowCount(), 1, kMaxVisibleRows);
  const int height = balanceView_->horizontalHeader()->sizeHint().height() +
                     rows * balanceView_->verticalHeader()->defaultSectionSize() +
                     2 * balanceView_->frameWidth() + 2;
  balanceView_->setFixedHeight(height);
}

QWidget* DatasetInspector::buildExamples() {
  examplesScroll_ = new QScrollArea;
  examplesScroll_->setWidgetResizable(true);
  examplesScroll_->setFrameShape(QFrame::NoFrame);
  // At least one row of pairs, however tall the findings above grow.
  examplesScroll_->setMinimumHeight(kImageSide + 90);
  auto* box = new QGroupBox(tr("Example pairs"));
  auto* layout = new QVBoxLayout(box);
  layout->addWidget(examplesScroll_, 1);
  return box;
}

data::InspectOptions DatasetInspector::options() const {
  data::InspectOptions options;
  options.near_rms = thresholdBox_->value();
  options.knn_k = knnBox_->value();
  return options;
}

void DatasetInspector::setOptions(const data::InspectOptions& options) {
  thresholdBox_->setValue(options.near_rms);
  knnBox_->setValue(static_cast<int>(std::clamp<std::int64_t>(options.knn_k, 0, 99)));
}

bool DatasetInspector::showsEmptyState() const {
  return pages_->currentIndex() == 0;
}

QLabel* DatasetInspector::findingLabel(Finding finding) const {
  return findingTexts_.at(static_cast<std::size_t>(finding));
}

DatasetInspector::Severity DatasetInspector::findingSeverity(Finding finding) const {
  return severities_.at(static_cast<std::size_t>(finding));
}

void DatasetInspector::requestCheck() {
  emit checkRequested(options());
}

void DatasetInspector::setBusy(bool busy) {
  busy_ = busy;
  if (busy) error_.clear();  // a new check answers the old error one way or the other
  // Disabling the focused button would hand focus to the threshold box, selecting its text as if
  // it were being edited; park focus on the panel and give it back after.
  if (busy && checkButton_->hasFocus()) setFocus(Qt::OtherFocusReason);
  checkButton_->setEnabled(!busy);
  if (!busy && hasFocus()) checkButton_->setFocus(Qt::OtherFocusReason);
  busyBar_->setVisible(busy);
  updateStatus();
}

void DatasetInspector::setError(const QString& message) {
  error_ = message;
  updateStatus();
}

void DatasetInspector::updateStatus() {
  if (busy_) {
    status_->setStyleSheet(QStringLiteral("color: %1;").arg(kGrey.name()));
    status_->setText(result_ ? tr("Checking … (the previous result stays until this one is done)")
                             : tr("Checking …"));
  } else if (!error_.isEmpty()) {
    status_->setStyleSheet(QStringLiteral("color: %1;").arg(kRed.name()));
    status_->setText(error_);
  } else {
    status_->setStyleSheet(QString());
    status_->clear();
  }
}

void DatasetInspector::setResult(std::shared_ptr<const DatasetCheckResult> result) {
  result_ = std::move(result);
  error_.clear();
  if (!result_) {
    balanceModel_->clear();
    examplesScroll_->setWidget(new QWidget);
    examplePairs_ = conflictPairs_ = 0;
    pages_->setCurrentIndex(0);
  } else {
    showReport(*result_);
    pages_->setCurrentIndex(1);
  }
  updateStatus();
}

void DatasetInspector::setFinding(Finding finding, Severity severity, const QString& text) {
  const auto i = static_cast<std::size_t>(finding);
  severities_[i] = severity;
  static const char* const kMarks[] = {"✓", "•", "⚠", "✗"};
  const QColor colors[] = {kGreen, kBlue, kOrange, kRed};
  const auto s = static_cast<std::size_t>(severity);
  findingMarks_[i]->setText(
      QStringLiteral("<b>%1</b>").arg(colored(QString::fromUtf8(kMarks[s]), colors[s])));
  findingTexts_[i]->setText(text);
}

void DatasetInspector::showReport(const DatasetCheckResult& result) {
  const data::InspectReport& r = result.report;
  const QString rms = rmsText(r.near_rms);

  QString shape = tr("%1 values").arg(number(r.sample_size));
  if (result.split) shape = QString::fromStdString(result.split->train.sample_shape.str());
  QStringList parts;
  parts << tr("<b>%1</b>: %2")
               .arg(QString::fromStdString(r.train_name).toHtmlEscaped(),
                    counted(r.train_samples, tr("sample"), tr("samples")));
  parts << tr("<b>%1</b>: %2")
               .arg(QString::fromStdString(r.test_name).toHtmlEscaped(),
                    counted(r.test_samples, tr("sample"), tr("samples")));
  parts << tr("%1 each").arg(shape);
  parts << tr("read in %1, checked in %2").arg(seconds(result.load_seconds), seconds(r.seconds));
  if (!result.source.empty())
    parts << tr("from %1").arg(QString::fromStdString(result.source).toHtmlEscaped());
  summary_->setText(parts.join(QStringLiteral("  ·  ")));

  // Leakage: a test sample the model has trained on is scored on memory, not generalisation.
  if (r.test_exact_in_train > 0) {
    setFinding(Finding::TestExact, Severity::Problem,
               tr("<b>%1</b> of %2 test samples (%3) are identical to a training sample: the test "
                  "score overstates generalisation")
                   .arg(number(r.test_exact_in_train), number(r.test_samples),
                        percentOf(r.test_exact_in_train, r.test_samples)));
  } else {
    setFinding(Finding::TestExact, Severity::Ok,
               tr("No test sample is identical to a training sample"));
  }
  if (r.test_near_in_train > 0) {
    setFinding(Finding::TestNear, Severity::Warning,
               tr("<b>%1</b> of %2 test samples (%3) have a training sample within rms %4")
                   .arg(number(r.test_near_in_train), number(r.test_samples),
                        percentOf(r.test_near_in_train, r.test_samples), rms));
  } else {
    setFinding(Finding::TestNear, Severity::Ok,
               tr("No test sample has a training sample within rms %1").arg(rms));
  }

  if (r.train_exact_groups > 0) {
    QString text =
        tr("%1 occur more than once: <b>%2</b> (%3 of train)")
            .arg(counted(r.train_exact_groups, tr("content"), tr("contents")),
                 counted(r.train_exact_redundant, tr("redundant copy"), tr("redundant copies")),
                 percentOf(r.train_exact_redundant, r.train_samples));
    if (r.train_exact_label_conflicts > 0) {
      text += tr("; %1").arg(
          colored(tr("<b>%1</b> with disagreeing labels")
                      .arg(counted(r.train_exact_label_conflicts, tr("content"), tr("contents"))),
                  kRed));
    }
    setFinding(Finding::TrainExact,
               r.train_exact_label_conflicts > 0 ? Severity::Problem : Severity::Warning, text);
  } else {
    setFinding(Finding::TrainExact, Severity::Ok, tr("No two training samples are identical"));
  }
  if (r.train_near_pairs > 0) {
    setFinding(Finding::TrainNear, Severity::Warning,
               tr("<b>%1</b> within rms %2, involving %3 (%4 of train)")
                   .arg(counted(r.train_near_pairs, tr("pair"), tr("pairs")), rms,
                        counted(r.train_near_samples, tr("sample"), tr("samples")),
                        percentOf(r.train_near_samples, r.train_samples)));
  } else {
    setFinding(Finding::TrainNear, Severity::Ok,
               tr("No two training samples within rms %1").arg(rms));
  }

  balanceModel_->setReport(r);
  fitBalanceView();
  balanceNote_->setText(
      tr("%1; %2 training and %3 test samples. Bars share one scale.")
          .arg(counted(static_cast<std::int64_t>(r.class_names.size()), tr("class"), tr("classes")),
               number(r.train_samples))
          .arg(number(r.test_samples)));
  {
    struct Spread {
      std::int64_t smallest = -1, largest = 0;
      QStringList missing;
    };
    auto spread = [&](const std::vector<std::int64_t>& counts) {
      Spread s;
      for (std::size_t c = 0; c < counts.size(); ++c) {
        if (counts[c] == 0) s.missing << className(r, static_cast<std::int32_t>(c)).toHtmlEscaped();
        s.smallest = s.smallest < 0 ? counts[c] : std::min(s.smallest, counts[c]);
        s.largest = std::max(s.largest, counts[c]);
      }
      return s;
    };
    auto ratio = [](const Spread& s) {
      return s.smallest > 0
                 ? tr("%1×").arg(static_cast<double>(s.largest) / static_cast<double>(s.smallest),
                                 0, 'f', 2)
                 : QString::fromUtf8(s.smallest == 0 ? "∞" : "–");  // a class missing; no classes
    };
    const Spread train = spread(r.train_class_counts);
    const Spread test = spread(r.test_class_counts);
    double gap = 0.0;  // percentage points
    const std::size_t classes = std::min(r.train_class_counts.size(), r.test_class_counts.size());
    for (std::size_t c = 0; c < classes && r.train_samples > 0 && r.test_samples > 0; ++c) {
      const double a = static_cast<double>(r.train_class_counts[c]) / r.train_samples;
      const double b = static_cast<double>(r.test_class_counts[c]) / r.test_samples;
      gap = std::max(gap, 100.0 * std::abs(a - b));
    }
    QString text = tr("Largest / smallest class: %1 in train, %2 in test; train and test shares "
                      "differ by at most %3 points")
                       .arg(ratio(train), ratio(test))
                       .arg(gap, 0, 'f', 1);
    Severity severity = Severity::Info;
    if (train.smallest > 0 &&
        static_cast<double>(train.largest) >= kImbalanceRatio * static_cast<double>(train.smallest))
      severity = Severity::Warning;
    if (r.test_samples > 0 && !test.missing.isEmpty()) {
      severity = Severity::Warning;
      text += tr("; %1").arg(
          colored(tr("no test samples of %1").arg(test.missing.join(QStringLiteral(", "))), kRed));
    }
    if (!train.missing.isEmpty()) {
      severity = Severity::Problem;
      text += tr("; %1").arg(colored(
          tr("no training samples of %1").arg(train.missing.join(QStringLiteral(", "))), kRed));
    }
    setFinding(Finding::Balance, severity, text);
  }

  if (r.knn_k > 0) {
    // The majority class's test share is what always answering it would score: the kNN baseline
    // far above it says the features separate the classes before any training.
    std::size_t majority = 0;
    for (std::size_t c = 1; c < r.train_class_counts.size(); ++c)
      if (r.train_class_counts[c] > r.train_class_counts[majority]) majority = c;
    const std::int64_t majorityTest =
        majority < r.test_class_counts.size() ? r.test_class_counts[majority] : 0;
    setFinding(Finding::Baseline, Severity::Info,
               tr("<b>%1 %</b> test accuracy from a %2-nearest-neighbour vote: the floor a "
                  "trained model must beat (always answering the largest class: %3)")
                   .arg(100.0 * r.knn_accuracy, 0, 'f', 2)
                   .arg(r.knn_k)
                   .arg(percentOf(majorityTest, r.test_samples)));
  } else {
    setFinding(Finding::Baseline, Severity::Info, tr("Not run (k is off)"));
  }

  // The tally in the box's title: the one-glance answer to "can I train on this as it is".
  int problems = 0, warnings = 0;
  for (Severity severity : severities_) {
    if (severity == Severity::Problem) ++problems;
    if (severity == Severity::Warning) ++warnings;
  }
  QStringList tally;
  if (problems > 0) tally << counted(problems, tr("problem"), tr("problems"));
  if (warnings > 0) tally << counted(warnings, tr("warning"), tr("warnings"));
  findingsBox_->setTitle(tally.isEmpty()
                             ? tr("Findings: all clear")
                             : tr("Findings: %1").arg(tally.join(QStringLiteral(", "))));

  search_->setText(
      tr("Near-duplicates: rms difference ≤ %1 in raw units (a pixel's 0..1), not identical. "
         "Searched on %2 principal components keeping %3 % of the variance; %4 candidate pairs, "
         "each verified exactly on the full samples. kNN votes on the same components.")
          .arg(rms)
          .arg(r.projection_dims)
          .arg(100.0 * r.projection_variance, 0, 'f', 1)
          .arg(number(r.candidate_pairs)));

  showExamples(result);
}

void DatasetInspector::showExamples(const DatasetCheckResult& result) {
  const data::InspectReport& r = result.report;
  examplePairs_ = conflictPairs_ = 0;
  // A fresh content widget (the scroll area deletes the old one): simpler and cheaper than
  // diffing a few dozen small widgets.
  auto* content = new QWidget;
  examplesLayout_ = new QVBoxLayout(content);
  examplesLayout_->setSpacing(4);
  addExampleSection(result, tr("Test samples identical to a training sample"),
                    r.test_exact_examples, true);
  addExampleSection(result, tr("Test samples near a training sample"), r.test_near_examples, true);
  addExampleSection(result, tr("Identical training samples"), r.train_exact_examples, false);
  addExampleSection(result, tr("Near-duplicate training samples"), r.train_near_examples, false);
  if (examplePairs_ == 0) {
    auto* none = greyLabel(
        tr("No duplicate or near-duplicate pairs to show: nothing was found within rms %1.")
            .arg(rmsText(r.near_rms)));
    none->setObjectName(QStringLiteral("noExamples"));
    examplesLayout_->addWidget(none);
  }
  examplesLayout_->addStretch(1);
  examplesScroll_->setWidget(content);
}

void DatasetInspector::addExampleSection(const DatasetCheckResult& result, const QString& title,
                                         const std::vector<data::SamplePair>& pairs,
                                         bool secondIsTest) {
  if (pairs.empty()) return;
  const data::InspectReport& r = result.report;
  const int conflicts = static_cast<int>(std::count_if(
      pairs.begin(), pairs.end(), [](const auto& p) { return p.label_a != p.label_b; }));
  QString heading = tr("<b>%1</b>  ·  %2 shown").arg(title).arg(pairs.size());
  if (conflicts > 0) heading += tr(", label disagreements first");
  examplesLayout_->addWidget(new QLabel(heading));

  auto* row = new QWidget;
  auto* rowLayout = new QHBoxLayout(row);
  rowLayout->setContentsMargins(0, 0, 0, 8);
  rowLayout->setSpacing(8);
  const data::InMemoryDataset* train = result.split ? &result.split->train : nullptr;
  const data::InMemoryDataset* second =
      result.split ? (secondIsTest ? &result.split->test : &result.split->train) : nullptr;
  const QString secondSet = secondIsTest ? tr("test") : tr("train");

  for (const data::SamplePair& pair : pairs) {
    const bool differ = pair.label_a != pair.label_b;
    auto* card = new QFrame;
    card->setObjectName(QStringLiteral("pairCard"));
    card->setProperty("labelsDiffer", differ);
    card->setStyleSheet(
        differ ? QStringLiteral("QFrame#pairCard { border: 2px solid %1; border-radius: 4px; "
                                "background: #fbeaea; }")
                     .arg(kRed.name())
               : QStringLiteral("QFrame#pairCard { border: 1px solid palette(mid); "
                                "border-radius: 4px; }"));
    auto* grid = new QGridLayout(card);
    grid->setContentsMargins(6, 6, 6, 6);
    grid->setHorizontalSpacing(4);
    grid->setVerticalSpacing(1);

    auto side = [&](int column, const data::InMemoryDataset* set, const QString& setName,
                    std::int64_t index, std::int32_t label, bool highlight) {
      auto* image = new QLabel;
      image->setFixedSize(kImageSide, kImageSide);
      image->setAlignment(Qt::AlignCenter);
      const QImage pixels = set ? sampleImage(*set, index) : QImage();
      if (!pixels.isNull()) {
        image->setPixmap(QPixmap::fromImage(pixels));
      } else {
        image->setText(tr("no image"));
      }
      auto* where = new QLabel(QStringLiteral("%1 #%2").arg(setName).arg(index));
      const QString name = className(r, label);
      auto* cls = new QLabel(
          QFontMetrics(where->font()).elidedText(name, Qt::ElideRight, kImageSide).toHtmlEscaped());
      cls->setToolTip(name);
      if (highlight) cls->setText(QStringLiteral("<b>%1</b>").arg(colored(cls->text(), kRed)));
      grid->addWidget(image, 0, column);
      grid->addWidget(where, 1, column);
      grid->addWidget(cls, 2, column);
    };
    side(0, train, tr("train"), pair.a, pair.label_a, false);
    side(1, second, secondSet, pair.b, pair.label_b, differ);

    QString verdict = pair.rms > 0.0 ? tr("rms %1").arg(pair.rms, 0, 'f', 4) : tr("identical");
    if (differ) verdict += QStringLiteral(" · ") + colored(tr("<b>labels differ</b>"), kRed);
    auto* verdictLabel = new QLabel(verdict);
    verdictLabel->setObjectName(QStringLiteral("pairVerdict"));
    grid->addWidget(verdictLabel, 3, 0, 1, 2);
    card->setToolTip(tr("train #%1 (%2) and %3 #%4 (%5): rms difference %6 in raw units")
                         .arg(pair.a)
                         .arg(className(r, pair.label_a), secondSet)
                         .arg(pair.b)
                         .arg(className(r, pair.label_b))
                         .arg(pair.rms, 0, 'f', 4));
    rowLayout->addWidget(card);
    ++examplePairs_;
    if (differ) ++conflictPairs_;
  }
  rowLayout->addStretch(1);
  examplesLayout_->addWidget(row);
}

QImage DatasetInspector::sampleImage(const data::InMemoryDataset& set, std::int64_t index) {
  const std::vector<std::int64_t>& dims = set.sample_shape.dims();
  std::int64_t h = 0, w = 0;
  if (dims.size() == 3 && dims[0] == 1) {
    h = dims[1];
    w = dims[2];
  } else if (dims.size() == 2) {
    h = dims[0];
    w = dims[1];
  }
  if (h <= 0 || w <= 0 || h * w != set.sample_numel() || index < 0 || index >= set.size() ||
      set.features.size() < static_cast<std::size_t>((index + 1) * h * w))
    return {};
  QImage image(static_cast<int>(w), static_cast<int>(h), QImage::Format_Grayscale8);
  const float* values = set.features.data() + static_cast<std::size_t>(index * h * w);
  for (std::int64_t y = 0; y < h; ++y) {
    uchar* line = image.scanLine(static_cast<int>(y));
    for (std::int64_t x = 0; x < w; ++x) {
      const float raw = values[y * w + x] * set.raw_std + set.raw_mean;
      line[x] = static_cast<uchar>(std::lround(std::clamp(raw, 0.0f, 1.0f) * 255.0f));
    }
  }
  const int scale = std::max(1, kImageSide / static_cast<int>(std::max(h, w)));
  return image.scaled(image.width() * scale, image.height() * scale, Qt::IgnoreAspectRatio,
                      Qt::FastTransformation);
}

}  // namespace tb::widgets
