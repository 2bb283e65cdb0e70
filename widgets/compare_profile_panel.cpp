#include "widgets/compare_profile_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMessageBox>
#include <QPainter>
#include <QPixmap>
#include <QPushButton>
#include <QScrollArea>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStackedWidget>
#include <QTableView>
#include <QThreadPool>
#include <QVBoxLayout>

#include <algorithm>
#include <exception>
#include <mutex>

#include "core/trace/top_ops.h"
#include "widgets/plot_export.h"
#include "widgets/step_breakdown_view.h"
#include "widgets/trace_diff_model.h"

namespace tb::widgets {

// The pool thread posts its result only while the panel is alive (see TimelineView::Guard).
struct CompareProfilePanel::Guard {
  std::mutex mutex;
  CompareProfilePanel* panel = nullptr;
};

namespace {

struct DiffResult {
  std::vector<trace::OpDiff> diff;
  std::int64_t stepsBefore = 0, stepsAfter = 0;
  std::string error;
};

// Step spans, counted as diff_ops counts them for its per-step figures.
std::int64_t stepCount(const trace::Trace& t) {
  return std::count_if(t.spans().begin(), t.spans().end(),
                       [](const trace::Span& s) { return s.category == trace::Category::step; });
}

QLabel* caption(const SessionLabel& label, QWidget* parent) {
  auto* text = new QLabel(parent);
  text->setText(QStringLiteral("<span style='color:%1'>■</span> <b>%2</b>")
                    .arg(label.color.name(), label.name.toHtmlEscaped()));
  text->setToolTip(label.tooltip);
  return text;
}

}  // namespace

CompareProfilePanel::CompareProfilePanel(QWidget* parent)
    : QWidget(parent), guard_(std::make_shared<Guard>()) {
  guard_->panel = this;
  stack_ = new QStackedWidget(this);
  auto* none = new QLabel(tr("None of the compared sessions has a trace. Sessions record one when "
                             "run with tracing on, or when imported from a PyTorch profiler "
                             "trace."),
                          stack_);
  none->setAlignment(Qt::AlignCenter);
  none->setWordWrap(true);
  stack_->addWidget(none);

  auto* splitter = new QSplitter(Qt::Vertical, stack_);
  auto* breakdownBox = new QWidget(splitter);
  auto* breakdownLayout = new QVBoxLayout(breakdownBox);
  breakdownLayout->setContentsMargins(0, 0, 0, 0);
  auto* saveRow = new QHBoxLayout;
  saveRow->setContentsMargins(4, 4, 4, 0);
  saveRow->addWidget(new QLabel(tr("<b>Step breakdowns</b>"), breakdownBox), 1);
  sameScale_ = new QCheckBox(tr("Same time scale"), breakdownBox);
  sameScale_->setChecked(true);
  sameScale_->setToolTip(tr("Every breakdown's axis reaches the longest step of any of them"));
  saveRow->addWidget(sameScale_);
  auto* png = new QPushButton(tr("Save PNG…"), breakdownBox);
  auto* svg = new QPushButton(tr("Save SVG…"), breakdownBox);
  saveRow->addWidget(png);
  saveRow->addWidget(svg);
  breakdownLayout->addLayout(saveRow);
  auto* scroll = new QScrollArea(breakdownBox);
  scroll->setWidgetResizable(true);
  row_ = new QWidget(scroll);
  rowLayout_ = new QHBoxLayout(row_);
  rowLayout_->setContentsMargins(4, 4, 4, 4);
  scroll->setWidget(row_);
  breakdownLayout->addWidget(scroll, 1);
  splitter->addWidget(breakdownBox);
  connect(sameScale_, &QCheckBox::toggled, this, &CompareProfilePanel::alignTimeScales);
  connect(png, &QPushButton::clicked, this, [this] { saveBreakdowns(QStringLiteral("png")); });
  connect(svg, &QPushButton::clicked, this, [this] { saveBreakdowns(QStringLiteral("svg")); });

  auto* diffBox = new QWidget(splitter);
  auto* diffLayout = new QVBoxLayout(diffBox);
  diffLayout->setContentsMargins(4, 4, 4, 4);
  auto* choose = new QHBoxLayout;
  choose->addWidget(new QLabel(tr("<b>Trace diff</b> from"), diffBox));
  beforeCombo_ = new QComboBox(diffBox);
  afterCombo_ = new QComboBox(diffBox);
  choose->addWidget(beforeCombo_);
  choose->addWidget(new QLabel(tr("to"), diffBox));
  choose->addWidget(afterCombo_);
  diffStatus_ = new QLabel(diffBox);
  choose->addWidget(diffStatus_, 1);
  diffLayout->addLayout(choose);
  diffModel_ = new TraceDiffModel(this);
  auto* sorted = new QSortFilterProxyModel(this);
  sorted->setSourceModel(diffModel_);
  sorted->setSortRole(TraceDiffModel::RawValueRole);
  diffTable_ = new QTableView(diffBox);
  diffTable_->setModel(sorted);
  // No column sorted at first: the model's own order, the largest change first.
  diffTable_->horizontalHeader()->setSortIndicator(-1, Qt::DescendingOrder);
  diffTable_->setSortingEnabled(true);
  diffTable_->setSelectionBehavior(QAbstractItemView::SelectRows);
  diffTable_->verticalHeader()->setVisible(false);
  diffTable_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  diffTable_->horizontalHeader()->setSectionResizeMode(TraceDiffModel::NameColumn,
                                                       QHeaderView::Stretch);
  diffLayout->addWidget(diffTable_);
  splitter->addWidget(diffBox);
  // The breakdowns get most of the height; the diff table scrolls.
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 2);
  splitter->setSizes({3000, 2000});
  stack_->addWidget(splitter);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(stack_);

  auto chosen = [this] {
    setDiffPair(beforeCombo_->currentData().toInt(), afterCombo_->currentData().toInt());
  };
  connect(beforeCombo_, &QComboBox::activated, this, chosen);
  connect(afterCombo_, &QComboBox::activated, this, chosen);
}

CompareProfilePanel::~CompareProfilePanel() {
  std::lock_guard lock(guard_->mutex);
  guard_->panel = nullptr;
}

StepBreakdownView* CompareProfilePanel::breakdown(int i) const {
  return i >= 0 && i < breakdownCount() ? views_[static_cast<std::size_t>(i)] : nullptr;
}

int CompareProfilePanel::breakdownSession(int i) const {
  return i >= 0 && i < breakdownCount() ? viewSession_[static_cast<std::size_t>(i)] : -1;
}

bool CompareProfilePanel::isIdle() const {
  return isDiffIdle() && std::all_of(views_.begin(), views_.end(),
                                     [](const StepBreakdownView* v) { return v->isIdle(); });
}

void CompareProfilePanel::setSessions(std::vector<SessionLabel> sessions,
                                      std::vector<std::shared_ptr<const trace::Trace>> traces,
                                      std::vector<trace::SessionFacts> facts) {
  sessions_ = std::move(sessions);
  traces_ = std::move(traces);
  traces_.resize(sessions_.size());
  facts.resize(sessions_.size());
  // New boxes every time: a breakdown view keeps analysing its old trace otherwise.
  while (QLayoutItem* item = rowLayout_->takeAt(0)) {
    delete item->widget();
    delete item;
  }
  views_.clear();
  viewSession_.clear();
  for (std::size_t s = 0; s < sessions_.size(); ++s) {
    if (!traces_[s]) continue;
    auto* box = new QWidget(row_);
    auto* boxLayout = new QVBoxLayout(box);
    boxLayout->setContentsMargins(0, 0, 0, 0);
    boxLayout->addWidget(caption(sessions_[s], box));
    auto* view = new StepBreakdownView(box);
    view->setMinimumSize(380, 360);
    boxLayout->addWidget(view, 1);
    rowLayout_->addWidget(box);
    connect(view, &StepBreakdownView::reportReady, this, &CompareProfilePanel::alignTimeScales);
    view->setTrace(traces_[s], facts[s]);
    views_.push_back(view);
    viewSession_.push_back(static_cast<int>(s));
  }
  stack_->setCurrentIndex(views_.empty() ? 0 : 1);
  fillCombos();
  const int first = viewSession_.empty() ? -1 : viewSession_.front();
  const int second = viewSession_.size() >= 2 ? viewSession_[1] : -1;
  setDiffPair(first, second);
}

void CompareProfilePanel::setSharedTimeScale(bool on) {
  sameScale_->setChecked(on);
}

bool CompareProfilePanel::sharedTimeScale() const {
  return sameScale_->isChecked();
}

void CompareProfilePanel::alignTimeScales() {
  double longest = 0.0;
  if (sameScale_->isChecked()) {
    for (const StepBreakdownView* view : views_)
      longest = std::max(longest, view->fittedTimeAxisMax());
  }
  for (StepBreakdownView* view : views_) view->setTimeAxisMax(longest);
}

bool CompareProfilePanel::exportBreakdowns(const QString& path) {
  if (views_.empty()) return false;
  const QSize size = row_->size();
  const auto paint = [this](QPainter& painter) {
    row_->render(&painter, QPoint(), QRegion(), QWidget::DrawChildren);
  };
  if (path.endsWith(QStringLiteral(".svg"), Qt::CaseInsensitive))
    return savePlotSvg(path, size, tr("Step breakdowns"), paint);
  return savePlotPng(path, size, 2.0, paint);
}

void CompareProfilePanel::saveBreakdowns(const QString& format) {
  if (views_.empty()) {
    QMessageBox::information(this, tr("Save the breakdowns"),
                             tr("None of the compared sessions has a trace."));
    return;
  }
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Save the breakdowns"), QStringLiteral("compare_breakdowns.") + format,
      format == "svg" ? tr("SVG images (*.svg)") : tr("PNG images (*.png)"));
  if (!path.isEmpty() && !exportBreakdowns(path))
    QMessageBox::warning(this, tr("Save the breakdowns"), tr("Could not write %1").arg(path));
}

void CompareProfilePanel::fillCombos() {
  for (QComboBox* combo : {beforeCombo_, afterCombo_}) {
    combo->clear();
    for (const int s : viewSession_) {
      const SessionLabel& label = sessions_[static_cast<std::size_t>(s)];
      QPixmap chip(12, 12);
      chip.fill(label.color);
      combo->addItem(QIcon(chip), label.name, s);
    }
    combo->setEnabled(viewSession_.size() >= 2);
  }
}

void CompareProfilePanel::setDiffPair(int before, int after) {
  auto valid = [this](int s) {
    return s >= 0 && s < static_cast<int>(traces_.size()) && traces_[static_cast<std::size_t>(s)];
  };
  ++generation_;
  before_ = valid(before) ? before : -1;
  after_ = valid(after) ? after : -1;
  if (const int i = beforeCombo_->findData(before_); i >= 0) beforeCombo_->setCurrentIndex(i);
  if (const int i = afterCombo_->findData(after_); i >= 0) afterCombo_->setCurrentIndex(i);
  startDiff();
}

void CompareProfilePanel::startDiff() {
  if (busy_) {
    pending_ = true;  // the latest pair runs when the current diff returns
    return;
  }
  pending_ = false;
  if (before_ < 0 || after_ < 0) {
    diffModel_->clear();
    diffStatus_->setText(viewSession_.size() < 2 ? tr("needs two sessions with traces")
                                                 : tr("choose two sessions"));
    emit diffReady();
    return;
  }
  busy_ = true;
  diffStatus_->setText(tr("comparing…"));
  QThreadPool::globalInstance()->start(
      [guard = guard_, a = traces_[static_cast<std::size_t>(before_)],
       b = traces_[static_cast<std::size_t>(after_)], generation = generation_] {
        auto result = std::make_shared<DiffResult>();
        try {
          result->diff = trace::diff_ops(*a, *b);
          result->stepsBefore = stepCount(*a);
          result->stepsAfter = stepCount(*b);
        } catch (const std::exception& e) {
          result->diff.clear();
          result->error = e.what();
        }
        std::lock_guard lock(guard->mutex);
        if (guard->panel == nullptr) return;
        QMetaObject::invokeMethod(
            guard->panel,
            [panel = guard->panel, result, generation] {
              panel->busy_ = false;
              if (generation == panel->generation_) {  // not overtaken by a newer choice
                panel->diffModel_->setDiff(result->diff, result->stepsBefore, result->stepsAfter);
                panel->diffStatus_->setText(
                    !result->error.empty()
                        ? tr("the diff failed: %1").arg(QString::fromStdString(result->error))
                        : tr("%n op(s) changed", "", panel->diffModel_->rowCount()));
              }
              if (panel->pending_) {
                panel->startDiff();
              } else {
                emit panel->diffReady();
              }
            },
            Qt::QueuedConnection);
      });
}

}  // namespace tb::widgets
