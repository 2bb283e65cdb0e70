// ProfilerView: the profiling views of one trace together — the timeline on top, memory over time
// and, beside it in tabs, the step breakdown with its verdict and the kernel table — wired so
// that a click on the memory plot centres the timeline on that time, and a click on a step's bar
// or a double-click on a kernel zooms the timeline to that step or that kernel's longest launch.
//
// Feed it a recorded session, an imported PyTorch trace, or a live run's snapshots: setTrace()
// forwards the same immutable trace to every view.
#pragma once

#include <QWidget>

#include <memory>

#include "core/trace/model.h"
#include "core/trace/verdict.h"

class QSplitter;

namespace tb::widgets {

class MemoryPlot;
class StepBreakdownView;
class TimelineView;

class ProfilerView : public QWidget {
  Q_OBJECT

 public:
  explicit ProfilerView(QWidget* parent = nullptr);

  // `facts`: what the session's settings say besides the trace, for the verdict.
  void setTrace(std::shared_ptr<const trace::Trace> trace, trace::SessionFacts facts = {});

  TimelineView* timeline() const { return timeline_; }
  MemoryPlot* memoryPlot() const { return memory_; }
  StepBreakdownView* stepBreakdown() const { return steps_; }

 private:
  TimelineView* timeline_ = nullptr;
  MemoryPlot* memory_ = nullptr;
  StepBreakdownView* steps_ = nullptr;
};

}  // namespace tb::widgets
