#include "widgets/step_breakdown_view.h"

#include <QBarCategoryAxis>
#include <QBarLegendMarker>
#include <QBarSet>
#include <QChart>
#include <QChartView>
#include <QLegend>
#include <QStackedBarSeries>
#include <QTextBrowser>
#include <QThreadPool>
#include <QVBoxLayout>
#include <QValueAxis>

#include <algorithm>
#include <cmath>
#include <exception>
#include <mutex>

#include "core/trace/top_ops.h"
#include "widgets/plot_geometry.h"
#include "widgets/timeline_view.h"

namespace tb::widgets {

// The pool thread posts its result only while the view is alive (see TimelineView::Guard).
struct StepBreakdownView::Guard {
  std::mutex mutex;
  StepBreakdownView* view = nullptr;
};

namespace {

struct Analysis {
  trace::BreakdownReport report;
  trace::Verdict verdict;
};

QString esc(const std::string& text) {
  return QString::fromStdString(text).toHtmlEscaped();
}

}  // namespace

QColor StepBreakdownView::partColor(trace::StepPart part) {
  // The timeline's colours for the same activity, so a bar reads like the spans it sums.
  using trace::Category;
  using trace::StepPart;
  switch (part) {
    case StepPart::data:
      return TimelineView::categoryColor(Category::data);
    case StepPart::forward:
      return TimelineView::categoryColor(Category::forward);
    case StepPart::backward:
      return TimelineView::categoryColor(Category::backward);
    case StepPart::optimizer:
      return TimelineView::categoryColor(Category::optimizer);
    case StepPart::communication:
      return TimelineView::categoryColor(Category::communication);
    case StepPart::memcpy:
      return TimelineView::categoryColor(Category::memcpy);
    case StepPart::runtime:
      return TimelineView::categoryColor(Category::runtime);
    case StepPart::other:
      return TimelineView::categoryColor(Category::other);
    case StepPart::idle:
      break;
  }
  return QColor(0xf2, 0xf2, 0xf2);
}

StepBreakdownView::StepBreakdownView(QWidget* parent)
    : QWidget(parent), guard_(std::make_shared<Guard>()) {
  guard_->view = this;
  auto* chart = new QChart;
  chart->setMargins(QMargins(4, 4, 4, 4));
  chart->setAnimationOptions(QChart::NoAnimation);
  chart->legend()->setAlignment(Qt::AlignBottom);
  bars_ = new QStackedBarSeries(chart);
  bars_->setBarWidth(0.85);
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    const auto part = static_cast<trace::StepPart>(p);
    auto* set = new QBarSet(QString::fromUtf8(trace::step_part_name(part)));
    set->setColor(partColor(part));
    set->setBorderColor(partColor(part).darker(125));
    bars_->append(set);
    sets_.push_back(set);
  }
  chart->addSeries(bars_);
  stepAxis_ = new QBarCategoryAxis(chart);
  stepAxis_->setTitleText(tr("Step"));
  msAxis_ = new QValueAxis(chart);
  msAxis_->setTitleText(tr("Time (ms)"));
  msAxis_->setLabelFormat("%.1f");
  chart->addAxis(stepAxis_, Qt::AlignBottom);
  chart->addAxis(msAxis_, Qt::AlignLeft);
  bars_->attachAxis(stepAxis_);
  bars_->attachAxis(msAxis_);
  connect(bars_, &QStackedBarSeries::clicked, this, [this](int index, QBarSet*) {
    const auto i = static_cast<std::size_t>(firstShown_ + index);
    if (index < 0 || i >= report_.steps.size()) return;
    emit stepClicked(report_.steps[i].start_ns, report_.steps[i].end_ns);
  });

  chartView_ = new QChartView(chart, this);
  chartView_->setRenderHint(QPainter::Antialiasing);
  chartView_->setMinimumSize(300, 180);
  panel_ = new QTextBrowser(this);
  panel_->setOpenLinks(false);
  panel_->setMinimumHeight(90);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(chartView_, 3);
  layout->addWidget(panel_, 2);
  display({}, {});
}

StepBreakdownView::~StepBreakdownView() {
  std::lock_guard lock(guard_->mutex);
  guard_->view = nullptr;
}

QBarSet* StepBreakdownView::partSet(trace::StepPart part) const {
  const auto i = static_cast<std::size_t>(part);
  return i < sets_.size() ? sets_[i] : nullptr;
}

QString StepBreakdownView::verdictText() const {
  return panel_->toPlainText();
}

void StepBreakdownView::setTrace(std::shared_ptr<const trace::Trace> trace,
                                 trace::SessionFacts facts) {
  trace_ = std::move(trace);
  facts_ = facts;
  start();
}

void StepBreakdownView::setReport(const trace::BreakdownReport& report,
                                  const trace::Verdict& verdict) {
  trace_.reset();
  pending_ = false;  // a running analysis still returns, but is not shown over this one
  display(report, verdict);
}

void StepBreakdownView::start() {
  if (busy_) {
    pending_ = true;  // the newest snapshot runs when the current analysis returns
    return;
  }
  pending_ = false;
  if (!trace_) return;
  busy_ = true;
  QThreadPool::globalInstance()->start([guard = guard_, trace = trace_, facts = facts_] {
    auto analysis = std::make_shared<Analysis>();
    try {
      analysis->report = trace::step_breakdown(*trace);
      analysis->verdict = trace::judge(*trace, analysis->report, trace::top_ops(*trace), facts);
    } catch (const std::exception& e) {
      analysis->report = {};
      analysis->verdict = {};
      analysis->verdict.headline = std::string("The analysis failed: ") + e.what();
    }
    std::lock_guard lock(guard->mutex);
    if (guard->view == nullptr) return;
    QMetaObject::invokeMethod(
        guard->view,
        [view = guard->view, trace, analysis] {
          view->busy_ = false;
          if (trace == view->trace_ || view->pending_)
            view->display(analysis->report, analysis->verdict);
          if (view->pending_) view->start();
        },
        Qt::QueuedConnection);
  });
}

void StepBreakdownView::display(const trace::BreakdownReport& report,
                                const trace::Verdict& verdict) {
  report_ = report;
  verdict_ = verdict;
  const int total = static_cast<int>(report_.steps.size());
  firstShown_ = std::max(0, total - kMaxBars);
  shownSteps_ = total - firstShown_;

  QStringList categories;
  double longest = 0.0;
  for (int i = firstShown_; i < total; ++i) {
    const auto& step = report_.steps[static_cast<std::size_t>(i)];
    categories << QString::number(step.step);
    longest = std::max(longest, static_cast<double>(step.end_ns - step.start_ns));
  }
  for (int p = 0; p < trace::kStepPartCount; ++p) {
    QList<qreal> values;
    values.reserve(shownSteps_);
    for (int i = firstShown_; i < total; ++i) {
      values.append(
          static_cast<double>(
              report_.steps[static_cast<std::size_t>(i)].part_ns[static_cast<std::size_t>(p)]) /
          1e6);
    }
    QBarSet* set = sets_[static_cast<std::size_t>(p)];
    set->remove(0, set->count());
    set->append(values);
  }
  // The legend lists only the parts that occur in the steps shown.
  for (QLegendMarker* marker : chartView_->chart()->legend()->markers(bars_)) {
    auto* set = qobject_cast<QBarLegendMarker*>(marker)
                    ? static_cast<QBarLegendMarker*>(marker)->barset()
                    : nullptr;
    bool any = false;
    for (int i = 0; set != nullptr && i < set->count() && !any; ++i) any = set->at(i) > 0.0;
    marker->setVisible(any || shownSteps_ == 0);
  }
  stepAxis_->clear();
  stepAxis_->append(categories);
  // A label a bar stops being readable past a few dozen bars; the title still gives the range.
  stepAxis_->setLabelsVisible(shownSteps_ <= 40);
  stepAxis_->setTitleText(shownSteps_ == 0 ? tr("Step")
                          : total > shownSteps_
                              ? tr("Step (latest %1 of %2)").arg(shownSteps_).arg(total)
                              : tr("Step"));
  fittedMs_ = niceCeil(longest * 1.05 / 1e6);
  msAxis_->setRange(0.0, sharedMs_ > 0.0 ? sharedMs_ : fittedMs_);
  chartView_->chart()->setTitle(total == 0 ? tr("No steps in this trace") : tr("Time per step"));

  QString html;
  if (verdict_.headline.empty()) {
    html = tr("<p>No verdict: the trace has no training steps yet.</p>");
  } else {
    // The verdict's own evidence already gives the mean step, the parts and the GPU idle share.
    html += QStringLiteral("<h3 style='margin:2px 0'>%1</h3>").arg(esc(verdict_.headline));
    if (!verdict_.evidence.empty()) {
      html += tr("<b>Evidence</b><ul style='margin-top:2px'>");
      for (const auto& e : verdict_.evidence) html += QStringLiteral("<li>%1</li>").arg(esc(e));
      html += QStringLiteral("</ul>");
    }
    if (!verdict_.suggestion.empty()) {
      // The suggestion states its expected speed-up itself.
      html += tr("<b>Suggestion</b><p style='margin-top:2px'>%1</p>").arg(esc(verdict_.suggestion));
    }
  }
  panel_->setHtml(html);
  emit reportReady();
}

void StepBreakdownView::setTimeAxisMax(double ms) {
  sharedMs_ = ms > 0.0 ? ms : 0.0;
  msAxis_->setRange(0.0, sharedMs_ > 0.0 ? sharedMs_ : fittedMs_);
}

double StepBreakdownView::timeAxisMax() const {
  return msAxis_->max();
}

}  // namespace tb::widgets
