#include "widgets/profiler_view.h"

#include <QSplitter>
#include <QTabWidget>
#include <QVBoxLayout>

#include "widgets/kernel_table_view.h"
#include "widgets/memory_plot.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/timeline_view.h"

namespace tb::widgets {

ProfilerView::ProfilerView(QWidget* parent) : QWidget(parent) {
  timeline_ = new TimelineView;
  memory_ = new MemoryPlot;
  steps_ = new StepBreakdownView;
  auto* kernels = new KernelTableView;
  kernels->setObjectName(QStringLiteral("kernelTable"));
  auto* analyses = new QTabWidget;
  analyses->setObjectName(QStringLiteral("analysisTabs"));
  analyses->addTab(steps_, tr("Steps"));
  analyses->addTab(kernels, tr("Kernels"));

  auto* bottom = new QSplitter(Qt::Horizontal);
  bottom->addWidget(memory_);
  bottom->addWidget(analyses);
  bottom->setStretchFactor(0, 1);
  bottom->setStretchFactor(1, 1);
  auto* split = new QSplitter(Qt::Vertical);
  split->addWidget(timeline_);
  split->addWidget(bottom);
  // The timeline needs the height: many tracks, each several rows deep.
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  connect(memory_, &MemoryPlot::timeRequested, timeline_,
          [this](qint64 ns) { timeline_->centerOn(static_cast<double>(ns)); });
  const auto zoomTo = [this](qint64 start, qint64 end) {
    // A little room either side, so the step's edges and its neighbours show.
    const double margin = static_cast<double>(end - start) * 0.05;
    timeline_->setTimeWindow(static_cast<double>(start) - margin,
                             static_cast<double>(end) + margin);
  };
  connect(steps_, &StepBreakdownView::stepClicked, timeline_, zoomTo);
  // A kernel's longest launch, shown like a step.
  connect(kernels, &KernelTableView::kernelActivated, timeline_, zoomTo);
}

void ProfilerView::setTrace(std::shared_ptr<const trace::Trace> trace, trace::SessionFacts facts) {
  timeline_->setTrace(trace);
  memory_->setTrace(trace);
  findChild<KernelTableView*>(QStringLiteral("kernelTable"))->setTrace(trace);
  steps_->setTrace(std::move(trace), facts);
}

}  // namespace tb::widgets
