// CompareView: 2 to 20 stored sessions side by side. A header strip names each session beside
// its colour (the same colour in every tab), then four tabs:
//   Summary               the outcomes (throughput, time to a target accuracy the user sets, peak
//                         memory, data-wait share, final metrics; the best of each row marked)
//                         and the settings diff (differing rows first; "Differences only"),
//                         exported together as CSV;
//   Curves                any metric overlaid against step, samples seen or wall time, smoothed,
//                         exported as PNG or SVG;
//   Profile               the step breakdowns of the sessions that have traces, and a trace diff;
//   Parallel coordinates  differing settings -> a chosen outcome, one line a session.
//
// The view does no store I/O. The app loads the sessions with compare::load_sessions on a worker
// thread and hands them over; a metric that was not loaded is asked for:
//
//   view->setSessions(compare::load_sessions(db, ids, {"train_loss", "test_accuracy"}));
//   view->setAvailableMetrics(compare::metric_keys_of(db, ids));   // optional: the metric menu
//   view->setTraces(traces);                                       // optional, after setSessions
//   connect(view, &CompareView::metricRequested, [&](const QString& key) {
//     ... load_sessions(db, ids, {key}) off the GUI thread, then on it:
//     view->addMetric(key.toStdString(), seriesPerSession);
//   });
#pragma once

#include <QString>
#include <QWidget>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/compare/compare_data.h"
#include "core/compare/compare_summary.h"
#include "core/trace/model.h"
#include "widgets/session_colors.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QHBoxLayout;
class QLabel;
class QSlider;
class QTabWidget;
class QTableView;

namespace tb::widgets {

class CompareProfilePanel;
class CompareSummaryModel;
class CurvePlot;
class ParallelCoordinatesPlot;
class SettingsDiffModel;

class CompareView : public QWidget {
  Q_OBJECT

 public:
  enum Tab { SummaryTab, CurvesTab, ProfileTab, ParallelTab };
  static constexpr int kMaxSessions = 20;

  explicit CompareView(QWidget* parent = nullptr);
  ~CompareView() override;

  // The sessions, in the order picked (the first is the baseline of the trace diff); at most
  // kMaxSessions are shown. Replaces everything, traces included (call setTraces after); the
  // metric, x axis, smoothing and target stay as the user set them.
  void setSessions(std::vector<compare::SessionData> sessions);
  const std::vector<compare::SessionData>& sessions() const { return *data_; }
  const std::vector<SessionLabel>& labels() const { return labels_; }

  // Traces, index-aligned with the sessions (null where a session has none).
  void setTraces(std::vector<std::shared_ptr<const trace::Trace>> traces);
  // Every metric the sessions have in the store (compare::metric_keys_of), listed in the metric
  // menu; without it the menu lists the metrics loaded.
  void setAvailableMetrics(const std::vector<std::string>& keys);
  // A metric asked for by metricRequested: one series a session, index-aligned (empty where a
  // session does not have it). Replaces a metric of the same key.
  void addMetric(const std::string& key, std::vector<compare::MetricSeries> series);

  // The metric plotted; setting one that is not loaded emits metricRequested.
  QString currentMetric() const;
  void setCurrentMetric(const QString& key);
  bool isMetricLoaded(const std::string& key) const { return loaded_.count(key) > 0; }
  double targetAccuracy() const;  // a fraction, 0..1
  void setTargetAccuracy(double fraction);
  void setCurrentTab(Tab tab);

  // The compare table (settings shown, then the summary) as CSV; false with `error` set when the
  // file cannot be written.
  bool exportCsv(const QString& path, QString* error = nullptr) const;
  std::string csv() const;

  // Parts, for tests and for the app's menus.
  QTabWidget* tabs() const { return tabs_; }
  QWidget* headerStrip() const { return header_; }
  CurvePlot* curvePlot() const { return curvePlot_; }
  CompareSummaryModel* summaryModel() const { return summaryModel_; }
  SettingsDiffModel* settingsModel() const { return settingsModel_; }
  ParallelCoordinatesPlot* parallelPlot() const { return parallel_; }
  CompareProfilePanel* profilePanel() const { return profile_; }
  QTableView* summaryTable() const { return summaryTable_; }
  QTableView* settingsTable() const { return settingsTable_; }
  QComboBox* metricCombo() const { return metricCombo_; }
  QComboBox* xAxisCombo() const { return xAxisCombo_; }
  QSlider* smoothingSlider() const { return smoothing_; }
  QCheckBox* logYBox() const { return logY_; }
  QCheckBox* differencesOnlyBox() const { return differencesOnly_; }
  QDoubleSpinBox* targetSpin() const { return target_; }
  QComboBox* outcomeCombo() const { return outcomeCombo_; }

  // "train loss" for "train_loss": what the menus and axes call a metric.
  static QString metricLabel(const std::string& key);

 signals:
  // The user picked a metric that is not loaded: load it and call addMetric.
  void metricRequested(const QString& key);

 private:
  QWidget* buildSummaryTab();
  QWidget* buildCurvesTab();
  QWidget* buildParallelTab();
  void rebuildHeader();
  void refreshMetricCombo();
  void refreshCurves();
  void refreshSummary();
  void refreshParallel();
  void metricChosen();
  void saveChart(QWidget* plot, const QString& format);

  std::shared_ptr<std::vector<compare::SessionData>> data_;
  std::vector<SessionLabel> labels_;
  std::vector<compare::SummaryRow> summary_;
  std::vector<std::string> available_;
  std::set<std::string> loaded_;     // keys some session has, or addMetric delivered
  std::set<std::string> requested_;  // asked for, not delivered yet
  std::string metric_ = "train_loss";

  QTabWidget* tabs_ = nullptr;
  QWidget* header_ = nullptr;
  QHBoxLayout* headerLayout_ = nullptr;
  CurvePlot* curvePlot_ = nullptr;
  CompareSummaryModel* summaryModel_ = nullptr;
  SettingsDiffModel* settingsModel_ = nullptr;
  ParallelCoordinatesPlot* parallel_ = nullptr;
  CompareProfilePanel* profile_ = nullptr;
  QTableView* summaryTable_ = nullptr;
  QTableView* settingsTable_ = nullptr;
  QComboBox* metricCombo_ = nullptr;
  QComboBox* xAxisCombo_ = nullptr;
  QSlider* smoothing_ = nullptr;
  QLabel* smoothingValue_ = nullptr;
  QCheckBox* logY_ = nullptr;
  QCheckBox* differencesOnly_ = nullptr;
  QDoubleSpinBox* target_ = nullptr;
  QComboBox* outcomeCombo_ = nullptr;
};

}  // namespace tb::widgets
