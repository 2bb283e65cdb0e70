#include "widgets/compare_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPixmap>
#include <QPushButton>
#include <QScrollArea>
#include <QSlider>
#include <QSplitter>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <array>

#include "core/compare/settings_diff.h"
#include "core/trace/verdict.h"
#include "widgets/compare_profile_panel.h"
#include "widgets/compare_summary_model.h"
#include "widgets/curve_plot.h"
#include "widgets/parallel_coordinates_plot.h"
#include "widgets/settings_diff_model.h"

namespace tb::widgets {
namespace {

// The training curves people look at first, in this order, ahead of the rest (alphabetical).
constexpr std::array<const char*, 6> kCommonMetrics = {
    "train_loss", "test_accuracy", "test_loss", "samples_per_s", "loss_scale", "memory_bytes"};

// The outcome the parallel-coordinates plot shows unless the user picks another.
constexpr const char* kDefaultOutcome = "best_test_accuracy";

std::vector<std::string> menuOrder(std::set<std::string> keys) {
  std::vector<std::string> out;
  for (const char* key : kCommonMetrics) {
    if (keys.erase(key) > 0) out.emplace_back(key);
  }
  out.insert(out.end(), keys.begin(), keys.end());
  return out;
}

// Columns as wide as their text, within bounds: a long JSON value or session name is elided
// rather than pushing the other sessions out of view.
void fitColumns(QTableView* table) {
  table->resizeColumnsToContents();
  for (int c = 0; c < table->model()->columnCount(); ++c) {
    table->setColumnWidth(c, std::clamp(table->columnWidth(c) + 8, 90, c == 0 ? 300 : 220));
  }
}

QTableView* compareTable(QAbstractItemModel* model, QWidget* parent) {
  auto* table = new QTableView(parent);
  table->setModel(model);
  table->setWordWrap(false);
  table->setTextElideMode(Qt::ElideMiddle);
  table->verticalHeader()->setVisible(false);
  table->verticalHeader()->setDefaultSectionSize(table->fontMetrics().height() + 8);
  table->horizontalHeader()->setDefaultSectionSize(140);
  table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
  table->horizontalHeader()->setStretchLastSection(false);
  table->setSelectionBehavior(QAbstractItemView::SelectItems);
  return table;
}

}  // namespace

CompareView::CompareView(QWidget* parent)
    : QWidget(parent), data_(std::make_shared<std::vector<compare::SessionData>>()) {
  summaryModel_ = new CompareSummaryModel(this);
  settingsModel_ = new SettingsDiffModel(this);

  auto* headerScroll = new QScrollArea(this);
  headerScroll->setWidgetResizable(true);
  headerScroll->setFrameShape(QFrame::NoFrame);
  headerScroll->setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  header_ = new QWidget(headerScroll);
  headerLayout_ = new QHBoxLayout(header_);
  headerLayout_->setContentsMargins(6, 2, 6, 2);
  headerLayout_->setSpacing(14);
  headerScroll->setWidget(header_);
  headerScroll->setFixedHeight(header_->sizeHint().height() + 24);

  tabs_ = new QTabWidget(this);
  tabs_->addTab(buildSummaryTab(), tr("Summary"));
  tabs_->addTab(buildCurvesTab(), tr("Curves"));
  profile_ = new CompareProfilePanel(tabs_);
  tabs_->addTab(profile_, tr("Profile"));
  tabs_->addTab(buildParallelTab(), tr("Parallel coordinates"));

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->setSpacing(2);
  layout->addWidget(headerScroll);
  layout->addWidget(tabs_, 1);
  setSessions({});
}

CompareView::~CompareView() = default;

QWidget* CompareView::buildSummaryTab() {
  auto* page = new QWidget(this);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Target test accuracy:"), page));
  target_ = new QDoubleSpinBox(page);
  target_->setRange(0.0, 100.0);
  target_->setDecimals(1);
  target_->setSingleStep(0.5);
  target_->setSuffix(tr(" %"));
  target_->setValue(85.0);
  target_->setKeyboardTracking(false);  // one recompute per value, not per digit typed
  target_->setToolTip(tr("The accuracy the \"time to target\" rows measure to"));
  controls->addWidget(target_);
  controls->addStretch(1);
  auto* csv = new QPushButton(tr("Export CSV…"), page);
  csv->setToolTip(tr("The summary and the settings shown, as CSV"));
  controls->addWidget(csv);

  summaryTable_ = compareTable(summaryModel_, page);
  auto* settingsBox = new QWidget(page);
  auto* settingsLayout = new QVBoxLayout(settingsBox);
  settingsLayout->setContentsMargins(0, 4, 0, 0);
  auto* settingsControls = new QHBoxLayout;
  settingsControls->addWidget(new QLabel(tr("<b>Settings</b>"), settingsBox));
  differencesOnly_ = new QCheckBox(tr("Differences only"), settingsBox);
  settingsControls->addWidget(differencesOnly_);
  settingsControls->addStretch(1);
  settingsLayout->addLayout(settingsControls);
  settingsTable_ = compareTable(settingsModel_, settingsBox);
  settingsLayout->addWidget(settingsTable_);

  auto* splitter = new QSplitter(Qt::Vertical, page);
  splitter->addWidget(summaryTable_);
  splitter->addWidget(settingsBox);
  splitter->setStretchFactor(0, 2);
  splitter->setStretchFactor(1, 3);
  auto* layout = new QVBoxLayout(page);
  layout->addLayout(controls);
  layout->addWidget(splitter, 1);

  connect(target_, &QDoubleSpinBox::valueChanged, this, [this] { refreshSummary(); });
  connect(differencesOnly_, &QCheckBox::toggled, settingsModel_,
          &SettingsDiffModel::setDifferencesOnly);
  connect(csv, &QPushButton::clicked, this, [this] {
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Export the compare table"),
                                     QStringLiteral("compare.csv"), tr("CSV files (*.csv)"));
    QString error;
    if (!path.isEmpty() && !exportCsv(path, &error))
      QMessageBox::warning(this, tr("Export CSV"), error);
  });
  return page;
}

QWidget* CompareView::buildCurvesTab() {
  auto* page = new QWidget(this);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Metric:"), page));
  metricCombo_ = new QComboBox(page);
  metricCombo_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  controls->addWidget(metricCombo_);
  controls->addSpacing(8);
  controls->addWidget(new QLabel(tr("Against:"), page));
  xAxisCombo_ = new QComboBox(page);
  xAxisCombo_->addItem(tr("Step"), static_cast<int>(CurveXAxis::step));
  xAxisCombo_->addItem(tr("Samples seen"), static_cast<int>(CurveXAxis::samples));
  xAxisCombo_->addItem(tr("Wall time"), static_cast<int>(CurveXAxis::wall_time));
  controls->addWidget(xAxisCombo_);
  controls->addSpacing(8);
  controls->addWidget(new QLabel(tr("Smoothing:"), page));
  smoothing_ = new QSlider(Qt::Horizontal, page);
  smoothing_->setRange(0, 99);
  smoothing_->setValue(60);
  smoothing_->setFixedWidth(140);
  smoothing_->setToolTip(tr("Exponential moving average weight, as in TensorBoard"));
  controls->addWidget(smoothing_);
  smoothingValue_ = new QLabel(page);
  smoothingValue_->setMinimumWidth(smoothingValue_->fontMetrics().horizontalAdvance("0.00") + 4);
  controls->addWidget(smoothingValue_);
  logY_ = new QCheckBox(tr("Log y"), page);
  controls->addWidget(logY_);
  controls->addStretch(1);
  auto* reset = new QPushButton(tr("Whole curves"), page);
  auto* png = new QPushButton(tr("Save PNG…"), page);
  auto* svg = new QPushButton(tr("Save SVG…"), page);
  controls->addWidget(reset);
  controls->addWidget(png);
  controls->addWidget(svg);

  curvePlot_ = new CurvePlot(page);
  auto* layout = new QVBoxLayout(page);
  layout->addLayout(controls);
  layout->addWidget(curvePlot_, 1);

  auto smoothingChanged = [this](int value) {
    curvePlot_->setSmoothing(value / 100.0);
    smoothingValue_->setText(QString::number(value / 100.0, 'f', 2));
  };
  smoothingChanged(smoothing_->value());
  connect(smoothing_, &QSlider::valueChanged, this, smoothingChanged);
  connect(metricCombo_, &QComboBox::activated, this, [this] { metricChosen(); });
  connect(xAxisCombo_, &QComboBox::currentIndexChanged, this, [this] {
    curvePlot_->setXAxis(static_cast<CurveXAxis>(xAxisCombo_->currentData().toInt()));
  });
  connect(logY_, &QCheckBox::toggled, curvePlot_, &CurvePlot::setLogY);
  connect(reset, &QPushButton::clicked, curvePlot_, &CurvePlot::resetZoom);
  connect(png, &QPushButton::clicked, this,
          [this] { saveChart(curvePlot_, QStringLiteral("png")); });
  connect(svg, &QPushButton::clicked, this,
          [this] { saveChart(curvePlot_, QStringLiteral("svg")); });
  return page;
}

QWidget* CompareView::buildParallelTab() {
  auto* page = new QWidget(this);
  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("Outcome:"), page));
  outcomeCombo_ = new QComboBox(page);
  outcomeCombo_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  controls->addWidget(outcomeCombo_);
  controls->addStretch(1);
  auto* png = new QPushButton(tr("Save PNG…"), page);
  auto* svg = new QPushButton(tr("Save SVG…"), page);
  controls->addWidget(png);
  controls->addWidget(svg);
  parallel_ = new ParallelCoordinatesPlot(page);
  auto* layout = new QVBoxLayout(page);
  layout->addLayout(controls);
  layout->addWidget(parallel_, 1);
  connect(outcomeCombo_, &QComboBox::activated, this, [this] { refreshParallel(); });
  connect(png, &QPushButton::clicked, this,
          [this] { saveChart(parallel_, QStringLiteral("png")); });
  connect(svg, &QPushButton::clicked, this,
          [this] { saveChart(parallel_, QStringLiteral("svg")); });
  return page;
}

QString CompareView::metricLabel(const std::string& key) {
  static const std::map<std::string, const char*> labels = {
      {"train_loss", "train loss"},
      {"test_accuracy", "test accuracy"},
      {"test_loss", "test loss"},
      {"samples_per_s", "samples/s"},
      {"loss_scale", "loss scale"},
      {"memory_bytes", "memory (bytes)"},
      {"epoch_train_loss", "epoch train loss"}};
  if (const auto it = labels.find(key); it != labels.end()) return tr(it->second);
  return QString::fromStdString(key).replace(QLatin1Char('_'), QLatin1Char(' '));
}

void CompareView::setSessions(std::vector<compare::SessionData> sessions) {
  if (sessions.size() > static_cast<std::size_t>(kMaxSessions)) sessions.resize(kMaxSessions);
  // A new vector, not the old one refilled: the curve plot still points into the old one until
  // refreshCurves() below hands it the new curves.
  data_ = std::make_shared<std::vector<compare::SessionData>>(std::move(sessions));
  labels_ = sessionLabels(*data_);
  loaded_.clear();
  requested_.clear();
  for (const auto& s : *data_) {
    for (const auto& entry : s.metrics) loaded_.insert(entry.first);
  }
  rebuildHeader();
  std::vector<compare::FlatSettings> settings;
  settings.reserve(data_->size());
  for (const auto& s : *data_) settings.push_back(s.settings);
  settingsModel_->setSessions(labels_, compare::diff_settings(settings));
  profile_->setSessions(labels_, {});
  refreshMetricCombo();
  refreshCurves();
  refreshSummary();  // and the parallel coordinates, which show one of its rows
  fitColumns(summaryTable_);
  fitColumns(settingsTable_);
}

void CompareView::setTraces(std::vector<std::shared_ptr<const trace::Trace>> traces) {
  traces.resize(data_->size());
  std::vector<trace::SessionFacts> facts;
  for (const auto& s : *data_) facts.push_back(trace::session_facts(s.settings));
  profile_->setSessions(labels_, std::move(traces), std::move(facts));
}

void CompareView::setAvailableMetrics(const std::vector<std::string>& keys) {
  available_ = keys;
  refreshMetricCombo();
}

void CompareView::addMetric(const std::string& key, std::vector<compare::MetricSeries> series) {
  for (std::size_t i = 0; i < data_->size(); ++i) {
    auto& metrics = (*data_)[i].metrics;
    if (i < series.size() && !series[i].empty()) {
      metrics[key] = std::move(series[i]);
    } else {
      metrics.erase(key);
    }
  }
  loaded_.insert(key);
  requested_.erase(key);
  refreshMetricCombo();
  if (key == metric_) refreshCurves();
  refreshSummary();  // the summary reads some curves (test accuracy, memory)
}

QString CompareView::currentMetric() const {
  return QString::fromStdString(metric_);
}

void CompareView::setCurrentMetric(const QString& key) {
  metric_ = key.toStdString();
  // Marked as asked for first: the menu keeps a metric it does not list yet only then.
  const bool ask = !isMetricLoaded(metric_) && requested_.insert(metric_).second;
  refreshMetricCombo();
  refreshCurves();
  if (ask) emit metricRequested(key);
}

void CompareView::metricChosen() {
  const QString key = metricCombo_->currentData().toString();
  if (!key.isEmpty() && key.toStdString() != metric_) setCurrentMetric(key);
}

double CompareView::targetAccuracy() const {
  return target_->value() / 100.0;
}

void CompareView::setTargetAccuracy(double fraction) {
  target_->setValue(std::clamp(fraction, 0.0, 1.0) * 100.0);
}

void CompareView::setCurrentTab(Tab tab) {
  tabs_->setCurrentIndex(static_cast<int>(tab));
}

void CompareView::rebuildHeader() {
  while (QLayoutItem* item = headerLayout_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  if (labels_.empty()) {
    headerLayout_->addWidget(new QLabel(tr("No sessions to compare"), header_));
  }
  for (const SessionLabel& label : labels_) {
    auto* entry = new QWidget(header_);
    auto* entryLayout = new QHBoxLayout(entry);
    entryLayout->setContentsMargins(0, 0, 0, 0);
    entryLayout->setSpacing(5);
    auto* chip = new QLabel(entry);
    chip->setObjectName(QStringLiteral("sessionChip"));
    QPixmap pixmap(14, 14);
    pixmap.fill(label.color);
    chip->setPixmap(pixmap);
    entryLayout->addWidget(chip);
    entryLayout->addWidget(new QLabel(label.name, entry));
    entry->setToolTip(label.tooltip);
    headerLayout_->addWidget(entry);
  }
  headerLayout_->addStretch(1);
}

void CompareView::refreshMetricCombo() {
  std::set<std::string> keys(loaded_.begin(), loaded_.end());
  keys.insert(available_.begin(), available_.end());
  if (!keys.empty() && !keys.count(metric_) && !requested_.count(metric_)) {
    // The metric shown is not among these sessions': the first of theirs instead.
    metric_ = menuOrder(keys).front();
  }
  keys.insert(metric_);
  const QSignalBlocker blocker(metricCombo_);
  metricCombo_->clear();
  for (const std::string& key : menuOrder(keys)) {
    const bool loaded = isMetricLoaded(key);
    metricCombo_->addItem(metricLabel(key), QString::fromStdString(key));
    if (!loaded) {
      metricCombo_->setItemData(metricCombo_->count() - 1,
                                tr("Not loaded yet: loaded from the store when chosen"),
                                Qt::ToolTipRole);
    }
  }
  metricCombo_->setCurrentIndex(metricCombo_->findData(QString::fromStdString(metric_)));
}

void CompareView::refreshCurves() {
  std::vector<CurvePlot::Curve> curves;
  bool any = false;
  for (std::size_t i = 0; i < data_->size(); ++i) {
    const auto& s = (*data_)[i];
    CurvePlot::Curve curve;
    curve.name = labels_[i].name;
    curve.color = labels_[i].color;
    curve.batchSize = s.batch_size;
    if (const auto it = s.metrics.find(metric_); it != s.metrics.end()) {
      // Aliasing: the series stays owned by the sessions, which the pointer keeps alive.
      curve.series = std::shared_ptr<const compare::MetricSeries>(data_, &it->second);
      any = any || !it->second.empty();
    }
    curves.push_back(std::move(curve));
  }
  curvePlot_->setCurves(std::move(curves));
  curvePlot_->setYLabel(metricLabel(metric_));
  if (any || data_->empty()) {
    curvePlot_->setMessage(QString());
  } else if (!isMetricLoaded(metric_)) {
    curvePlot_->setMessage(tr("Loading %1…").arg(metricLabel(metric_)));
  } else {
    curvePlot_->setMessage(tr("None of these sessions recorded %1").arg(metricLabel(metric_)));
  }
}

void CompareView::refreshSummary() {
  summary_ = compare::summarize(*data_, targetAccuracy());
  summaryModel_->setSummary(labels_, summary_);
  // The outcomes worth plotting: the rows some session has a value in.
  const QString current = outcomeCombo_->currentData().toString();
  const QSignalBlocker blocker(outcomeCombo_);
  outcomeCombo_->clear();
  for (const auto& row : summary_) {
    if (std::none_of(row.values.begin(), row.values.end(), [](const auto& v) { return v; }))
      continue;
    outcomeCombo_->addItem(QString::fromStdString(row.label), QString::fromStdString(row.key));
  }
  int index = outcomeCombo_->findData(current.isEmpty() ? QString(kDefaultOutcome) : current);
  if (index < 0) index = outcomeCombo_->findData(QString(kDefaultOutcome));
  outcomeCombo_->setCurrentIndex(index >= 0 ? index : 0);
  refreshParallel();
}

void CompareView::refreshParallel() {
  const std::string key = outcomeCombo_->currentData().toString().toStdString();
  std::optional<compare::SummaryRow> outcome;
  for (const auto& row : summary_) {
    if (row.key == key) outcome = row;
  }
  parallel_->setData(labels_, compare::differing_rows(settingsModel_->allRows()),
                     std::move(outcome));
}

std::string CompareView::csv() const {
  return compare::compare_csv(*data_, settingsModel_->shownRows(), summary_);
}

bool CompareView::exportCsv(const QString& path, QString* error) const {
  QFile file(path);
  const std::string text = csv();
  if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate) ||
      file.write(text.data(), static_cast<qint64>(text.size())) !=
          static_cast<qint64>(text.size())) {
    if (error) *error = tr("Could not write %1: %2").arg(path, file.errorString());
    return false;
  }
  return true;
}

void CompareView::saveChart(QWidget* plot, const QString& format) {
  const QString stem = plot == curvePlot_ ? QStringLiteral("compare_%1").arg(currentMetric())
                                          : QStringLiteral("compare_parallel");
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Save the chart"), stem + "." + format,
      format == "svg" ? tr("SVG images (*.svg)") : tr("PNG images (*.png)"));
  if (path.isEmpty()) return;
  bool ok = false;
  if (plot == curvePlot_) {
    ok = format == "svg" ? curvePlot_->exportSvg(path) : curvePlot_->exportPng(path);
  } else {
    ok = format == "svg" ? parallel_->exportSvg(path) : parallel_->exportPng(path);
  }
  if (!ok) QMessageBox::warning(this, tr("Save the chart"), tr("Could not write %1").arg(path));
}

}  // namespace tb::widgets
