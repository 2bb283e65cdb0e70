// StepBreakdownView: where each training step's time goes, as one stacked bar a step (data wait,
// forward, backward, optimizer, communication, copies, runtime, other, idle), beside the verdict:
// what limits the run, the numbers it stands on, and the setting most likely to help.
//
// The analysis (trace::step_breakdown, top_ops, judge) runs on a pool thread; the result comes
// back as a queued call, so a live run's snapshots never stall the GUI. Long runs show their
// latest kMaxBars steps (a bar chart of thousands of one-pixel bars says less, and redraws slowly).
#pragma once

#include <QColor>
#include <QString>
#include <QWidget>

#include <cstdint>
#include <memory>
#include <vector>

#include "core/trace/breakdown.h"
#include "core/trace/model.h"
#include "core/trace/verdict.h"

class QBarSet;
class QChartView;
class QStackedBarSeries;
class QBarCategoryAxis;
class QValueAxis;
class QTextBrowser;

namespace tb::widgets {

class StepBreakdownView : public QWidget {
  Q_OBJECT

 public:
  explicit StepBreakdownView(QWidget* parent = nullptr);
  ~StepBreakdownView() override;

  // Analyses `trace` off the GUI thread (again with each newer snapshot of a live run).
  // `facts`: what the session's settings say besides the trace (none for imported traces).
  void setTrace(std::shared_ptr<const trace::Trace> trace, trace::SessionFacts facts = {});
  // Shows an analysis made elsewhere.
  void setReport(const trace::BreakdownReport& report, const trace::Verdict& verdict);

  bool isIdle() const { return !busy_ && !pending_; }
  const trace::BreakdownReport& report() const { return report_; }
  const trace::Verdict& verdict() const { return verdict_; }
  // Steps drawn (the latest kMaxBars of report().steps), and the first of them.
  int barCount() const { return shownSteps_; }
  int firstShownStep() const { return firstShown_; }
  QStackedBarSeries* barSeries() const { return bars_; }
  QBarSet* partSet(trace::StepPart part) const;
  QChartView* chartView() const { return chartView_; }
  // The verdict panel's text, as shown.
  QString verdictText() const;

  // The time axis (ms): by default fitted to the longest step shown; side by side, several views
  // share one scale so that equal bars mean equal times (0: fitted again).
  void setTimeAxisMax(double ms);
  double timeAxisMax() const;
  double fittedTimeAxisMax() const { return fittedMs_; }  // what it would be fitted to

  static QColor partColor(trace::StepPart part);
  static constexpr int kMaxBars = 120;

 signals:
  // A bar was clicked: that step's time range, for the timeline to show.
  void stepClicked(qint64 start_ns, qint64 end_ns);
  // A new analysis is on screen.
  void reportReady();

 private:
  struct Guard;
  void start();
  void display(const trace::BreakdownReport& report, const trace::Verdict& verdict);

  QChartView* chartView_ = nullptr;
  QStackedBarSeries* bars_ = nullptr;
  QBarCategoryAxis* stepAxis_ = nullptr;
  QValueAxis* msAxis_ = nullptr;
  QTextBrowser* panel_ = nullptr;
  std::vector<QBarSet*> sets_;  // one per StepPart

  std::shared_ptr<const trace::Trace> trace_;
  trace::SessionFacts facts_;
  bool busy_ = false;
  bool pending_ = false;
  std::shared_ptr<Guard> guard_;
  trace::BreakdownReport report_;
  trace::Verdict verdict_;
  int shownSteps_ = 0;
  int firstShown_ = 0;
  double fittedMs_ = 0.0;  // the axis fitted to the steps shown
  double sharedMs_ = 0.0;  // set by setTimeAxisMax; 0: none
};

}  // namespace tb::widgets
