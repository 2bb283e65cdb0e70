// CompareProfilePanel: the "Profile" tab of the compare view. The step breakdown of every
// compared session that has a trace, side by side (each under its session's colour and name),
// and the trace diff of two of them: the ops and kernels that got faster or slower, or were added
// or removed, going from a baseline (the first session with a trace, unless changed) to another.
//
// The diff runs on a pool thread (traces can hold millions of spans) and comes back as a queued
// call, like the breakdowns' own analyses; a newer choice while one runs is done after it.
#pragma once

#include <QWidget>

#include <memory>
#include <utility>
#include <vector>

#include "core/trace/model.h"
#include "core/trace/verdict.h"
#include "widgets/session_colors.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QHBoxLayout;
class QTableView;
class QStackedWidget;

namespace tb::widgets {

class StepBreakdownView;
class TraceDiffModel;

class CompareProfilePanel : public QWidget {
  Q_OBJECT

 public:
  explicit CompareProfilePanel(QWidget* parent = nullptr);
  ~CompareProfilePanel() override;

  // Index-aligned: a trace (null where the session has none) and what each session's settings
  // say besides it (unknown where missing; the breakdown's verdict uses them).
  void setSessions(std::vector<SessionLabel> sessions,
                   std::vector<std::shared_ptr<const trace::Trace>> traces,
                   std::vector<trace::SessionFacts> facts = {});

  // The breakdowns shown, left to right, and the session each stands for.
  int breakdownCount() const { return static_cast<int>(views_.size()); }
  StepBreakdownView* breakdown(int i) const;
  int breakdownSession(int i) const;

  // The diff: before and after are session indices (both must have traces).
  void setDiffPair(int before, int after);
  std::pair<int, int> diffPair() const { return {before_, after_}; }
  TraceDiffModel* diffModel() const { return diffModel_; }
  // Shows diffModel() through a sorting proxy: a click on a header sorts by that column's raw
  // values (times as numbers, not as text); unsorted, the largest change comes first.
  QTableView* diffTable() const { return diffTable_; }
  // The breakdowns side by side, as shown, saved as an SVG (a path ending in .svg) or a PNG at
  // twice the size; false if there is nothing to save or the file could not be written.
  bool exportBreakdowns(const QString& path);
  // On (the default), every breakdown's time axis reaches the longest step of any of them, so
  // equal bars mean equal times; off, each is fitted to its own steps.
  void setSharedTimeScale(bool on);
  bool sharedTimeScale() const;
  bool isDiffIdle() const { return !busy_ && !pending_; }
  // Every breakdown has its analysis and the diff is done.
  bool isIdle() const;

 signals:
  void diffReady();

 private:
  struct Guard;
  void startDiff();
  void fillCombos();
  void saveBreakdowns(const QString& format);
  void alignTimeScales();

  std::vector<SessionLabel> sessions_;
  std::vector<std::shared_ptr<const trace::Trace>> traces_;
  std::vector<StepBreakdownView*> views_;
  std::vector<int> viewSession_;
  QStackedWidget* stack_ = nullptr;  // the panel, or a note that no session has a trace
  QWidget* row_ = nullptr;
  QHBoxLayout* rowLayout_ = nullptr;
  QCheckBox* sameScale_ = nullptr;
  QComboBox* beforeCombo_ = nullptr;
  QComboBox* afterCombo_ = nullptr;
  QLabel* diffStatus_ = nullptr;
  QTableView* diffTable_ = nullptr;
  TraceDiffModel* diffModel_ = nullptr;
  int before_ = -1, after_ = -1;
  int generation_ = 0;  // of the pair chosen; a diff of an older one is not shown
  bool busy_ = false, pending_ = false;
  std::shared_ptr<Guard> guard_;
};

}  // namespace tb::widgets
