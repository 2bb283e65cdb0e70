#include "widgets/optimizer_playground.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFormLayout>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMetaObject>
#include <QPushButton>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QStackedWidget>
#include <QTimer>
#include <QVBoxLayout>

#include <algorithm>
#include <exception>

namespace tb::widgets {

namespace {

using optim::TestFunction;

const std::array<TestFunction, 4> kFunctions = {TestFunction::rosenbrock, TestFunction::beale,
                                                TestFunction::quadratic, TestFunction::saddle};

// What the function is and where its minimum lies: the panels' shared caption.
QString caption(TestFunction fn) {
  switch (fn) {
    case TestFunction::rosenbrock:
      return QObject::tr(
          "<b>Rosenbrock</b>&nbsp; f = (1 − x)² + 100 (y − x²)² &nbsp;·&nbsp; ★ "
          "minimum f = 0 at (1, 1), at the end of a long, curved, flat-bottomed "
          "valley");
    case TestFunction::beale:
      return QObject::tr(
          "<b>Beale</b>&nbsp; f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x "
          "+ xy³)² &nbsp;·&nbsp; ★ minimum f = 0 at (3, 0.5), behind sharp ridges");
    case TestFunction::quadratic:
      return QObject::tr(
          "<b>Quadratic</b>&nbsp; f = x² + 10 y² &nbsp;·&nbsp; ★ minimum f = 0 at "
          "(0, 0); ill-conditioned: 10× steeper in y than in x");
    case TestFunction::saddle:
      return QObject::tr(
          "<b>Saddle</b>&nbsp; f = x² − y² &nbsp;·&nbsp; ◆ saddle point at (0, 0), "
          "no minimum: a good optimizer escapes along ±y");
  }
  return {};
}

}  // namespace

OptimizerPlayground::OptimizerPlayground(QWidget* parent) : QWidget(parent) {
  functionBox_ = new QComboBox;
  for (const TestFunction fn : kFunctions) {
    functionBox_->addItem(QString::fromLatin1(optim::test_function_name(fn)), static_cast<int>(fn));
  }
  stepsBox_ = new QSpinBox;
  stepsBox_->setRange(1, kMaxSteps);
  stepsBox_->setValue(500);
  stepsBox_->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
  startX_ = new QDoubleSpinBox;
  startY_ = new QDoubleSpinBox;
  for (QDoubleSpinBox* box : {startX_, startY_}) {
    box->setRange(-10.0, 10.0);
    box->setDecimals(3);
    box->setSingleStep(0.1);
  }
  auto* resetStart = new QPushButton(tr("Default"));
  resetStart->setToolTip(tr("The function's usual start point"));
  auto* startRow = new QHBoxLayout;
  startRow->addWidget(startX_, 1);
  startRow->addWidget(startY_, 1);
  startRow->addWidget(resetStart);

  auto* problemBox = new QGroupBox(tr("Problem"));
  auto* form = new QFormLayout(problemBox);
  form->addRow(tr("Function"), functionBox_);
  form->addRow(tr("Steps"), stepsBox_);
  form->addRow(tr("Start (x, y)"), startRow);

  table_ = new OptimizerTable;
  addButton_ = new QPushButton(tr("Add optimizer"));
  removeButton_ = new QPushButton(tr("Remove"));
  removeButton_->setToolTip(tr("Remove the selected optimizer (the last one if none is selected)"));
  auto* rowButtons = new QHBoxLayout;
  rowButtons->addWidget(addButton_);
  rowButtons->addWidget(removeButton_);
  rowButtons->addStretch(1);
  auto* optimizersBox = new QGroupBox(tr("Optimizers"));
  auto* optimizersLayout = new QVBoxLayout(optimizersBox);
  optimizersLayout->addWidget(table_, 1);
  optimizersLayout->addLayout(rowButtons);

  overlayBox_ = new QCheckBox(tr("Overlay all paths on one plot"));
  isoLinesBox_ = new QCheckBox(tr("Iso-lines"));
  isoLinesBox_->setChecked(true);
  auto* viewBox = new QGroupBox(tr("View"));
  auto* viewLayout = new QVBoxLayout(viewBox);
  viewLayout->addWidget(overlayBox_);
  viewLayout->addWidget(isoLinesBox_);
  auto* hint =
      new QLabel(tr("Each path runs the engine's own optimizer on (x, y). ○ start, ● end, "
                    "✕ diverged; dots mark equal step intervals. Hover a plot for f and "
                    "the step."));
  hint->setWordWrap(true);
  hint->setStyleSheet(QStringLiteral("color: palette(mid);"));
  viewLayout->addWidget(hint);

  auto* controls = new QWidget;
  auto* controlsLayout = new QVBoxLayout(controls);
  controlsLayout->setContentsMargins(0, 0, 0, 0);
  controlsLayout->addWidget(problemBox);
  controlsLayout->addWidget(optimizersBox);
  controlsLayout->addWidget(viewBox);
  controlsLayout->addStretch(1);
  controls->setMinimumWidth(470);
  controls->setMaximumWidth(520);

  caption_ = new QLabel;
  caption_->setWordWrap(true);
  timing_ = new QLabel;
  timing_->setStyleSheet(QStringLiteral("color: palette(mid);"));
  grid_ = new QWidget;
  gridLayout_ = new QGridLayout(grid_);
  gridLayout_->setContentsMargins(0, 0, 0, 0);
  gridLayout_->setSpacing(6);
  overlayView_ = new OptimizerPathView;
  stack_ = new QStackedWidget;
  stack_->addWidget(grid_);
  stack_->addWidget(overlayView_);
  auto* plots = new QVBoxLayout;
  plots->addWidget(caption_);
  plots->addWidget(stack_, 1);
  plots->addWidget(timing_);

  auto* layout = new QHBoxLayout(this);
  layout->addWidget(controls);
  layout->addLayout(plots, 1);

  connect(functionBox_, &QComboBox::currentIndexChanged, this,
          &OptimizerPlayground::onFunctionChanged);
  connect(stepsBox_, &QSpinBox::valueChanged, this, &OptimizerPlayground::scheduleRecompute);
  connect(startX_, &QDoubleSpinBox::valueChanged, this, &OptimizerPlayground::scheduleRecompute);
  connect(startY_, &QDoubleSpinBox::valueChanged, this, &OptimizerPlayground::scheduleRecompute);
  connect(resetStart, &QPushButton::clicked, this,
          [this] { setStart(optim::default_start(function())); });
  connect(overlayBox_, &QCheckBox::toggled, this, [this](bool on) {
    stack_->setCurrentWidget(on ? static_cast<QWidget*>(overlayView_) : grid_);
  });
  connect(isoLinesBox_, &QCheckBox::toggled, this, &OptimizerPlayground::scheduleRecompute);
  connect(table_, &OptimizerTable::specsChanged, this, [this] {
    addButton_->setEnabled(rowCount() < OptimizerTable::kMaxRows);
    removeButton_->setEnabled(rowCount() > 0);
    scheduleRecompute();
  });
  connect(addButton_, &QPushButton::clicked, this, [this] {
    // The first type not shown yet, so "Add" adds something to compare.
    std::string type = "adam";
    const auto specs = table_->specs();
    for (const char* t : {"rmsprop", "adamw", "adam", "lion", "sgd"}) {
      if (std::none_of(specs.begin(), specs.end(), [t](const auto& s) { return s.type == t; })) {
        type = t;
        break;
      }
    }
    addRow(OptimizerTable::defaultSpec(type, function(), type == "sgd" ? 0.9 : 0.0));
  });
  connect(removeButton_, &QPushButton::clicked, this, [this] {
    const auto selected = table_->selectionModel()->selectedRows();
    removeRow(selected.isEmpty() ? rowCount() - 1 : selected.front().row());
  });

  setStart(optim::default_start(function()));
  updateCaption();
  // The four: plain SGD crawls along the valley, Nesterov momentum runs down it, Adam's
  // per-coordinate scaling takes the walls in stride, Lion's sign steps zig-zag at a fixed length.
  const TestFunction fn = function();
  for (const auto& spec :
       {OptimizerTable::defaultSpec("sgd", fn), OptimizerTable::defaultSpec("sgd", fn, 0.9, true),
        OptimizerTable::defaultSpec("adam", fn), OptimizerTable::defaultSpec("lion", fn)}) {
    addRow(spec);
  }
}

TestFunction OptimizerPlayground::function() const {
  return static_cast<TestFunction>(functionBox_->currentData().toInt());
}

void OptimizerPlayground::setFunction(TestFunction fn) {
  functionBox_->setCurrentIndex(functionBox_->findData(static_cast<int>(fn)));
}

int OptimizerPlayground::steps() const {
  return stepsBox_->value();
}
void OptimizerPlayground::setSteps(int steps) {
  stepsBox_->setValue(steps);
}

std::array<double, 2> OptimizerPlayground::start() const {
  return {startX_->value(), startY_->value()};
}

void OptimizerPlayground::setStart(std::array<double, 2> start) {
  const QSignalBlocker bx(startX_), by(startY_);
  startX_->setValue(start[0]);
  startY_->setValue(start[1]);
  scheduleRecompute();
}

bool OptimizerPlayground::overlay() const {
  return overlayBox_->isChecked();
}
void OptimizerPlayground::setOverlay(bool overlay) {
  overlayBox_->setChecked(overlay);
}

void OptimizerPlayground::onFunctionChanged() {
  const TestFunction fn = function();
  table_->setFunction(fn);  // default lrs follow the function
  setStart(optim::default_start(fn));
  updateCaption();
  scheduleRecompute();
}

int OptimizerPlayground::rowCount() const {
  return table_->optimizerCount();
}
int OptimizerPlayground::addRow(const optim::OptimizerSpec& spec) {
  return table_->addOptimizer(spec);
}
void OptimizerPlayground::removeRow(int row) {
  table_->removeOptimizer(row);
}
optim::OptimizerSpec OptimizerPlayground::rowSpec(int row) const {
  return table_->spec(row);
}
void OptimizerPlayground::setRowSpec(int row, const optim::OptimizerSpec& spec) {
  table_->setSpec(row, spec);
}

void OptimizerPlayground::updateCaption() {
  caption_->setText(caption(function()));
}

void OptimizerPlayground::scheduleRecompute() {
  if (recomputePending_) return;
  recomputePending_ = true;
  QTimer::singleShot(0, this, &OptimizerPlayground::recompute);
}

void OptimizerPlayground::rebuildPanels() {
  if (panels_.size() == series_.size()) return;
  for (OptimizerPathView* view : panels_) delete view;
  panels_.clear();
  // Two columns up to four panels, then three: each panel stays roughly square in a wide area.
  const auto count = static_cast<int>(series_.size());
  const int columns = count <= 4 ? 2 : 3;
  for (int i = 0; i < count; ++i) {
    auto* view = new OptimizerPathView;
    gridLayout_->addWidget(view, i / columns, i % columns);
    view->setVisible(true);  // the grid may already be visible: a new child is not, by itself
    panels_.append(view);
  }
}

// Off the GUI thread, by measurement: the default four rows x 500 steps take ~1-2 ms, but the
// controls allow 8 rows x 10000 steps, ~45 ms (the test prints both), which would stutter a spin
// box being scrolled. One std::thread at a time (no Qt Concurrent dependency): settings that
// change while it runs mark its result stale, and when it reports, a new run starts from the
// settings as they are then, so the last change always wins and no two workers race.
void OptimizerPlayground::recompute() {
  recomputePending_ = false;
  if (worker_.joinable()) {
    stale_ = true;
    return;
  }
  stale_ = false;
  struct Job {
    TestFunction fn;
    std::array<double, 2> start;
    int steps;
    QList<PathSeries> series;  // name, details, colour filled in; paths to compute
    std::vector<optim::OptimizerSpec> specs;
  };
  Job job{function(), start(), steps(), {}, {}};
  job.specs = table_->specs();
  for (std::size_t i = 0; i < job.specs.size(); ++i) {
    const optim::OptimizerSpec& spec = job.specs[i];
    job.series.append({OptimizerTable::displayName(spec),
                       OptimizerTable::displayDetails(spec),
                       OptimizerTable::rowColor(static_cast<int>(i)),
                       {},
                       {}});
  }
  worker_ = std::thread([this, job = std::move(job)]() mutable {
    QElapsedTimer timer;
    timer.start();
    for (qsizetype i = 0; i < job.series.size(); ++i) {
      try {
        job.series[i].path = optim::optimizer_path(job.specs[static_cast<std::size_t>(i)], job.fn,
                                                   job.start, job.steps);
      } catch (const std::exception& e) {
        // tb::Error from make_optimizer names the setting ("optimizer.nesterov: ...").
        job.series[i].error = QString::fromStdString(e.what());
      }
    }
    const double ms = static_cast<double>(timer.nsecsElapsed()) / 1e6;
    // Queued to the GUI thread; dropped by Qt if this widget is gone (its destructor joins first).
    QMetaObject::invokeMethod(
        this, [this, series = std::move(job.series), ms] { apply(series, ms); },
        Qt::QueuedConnection);
  });
}

OptimizerPlayground::~OptimizerPlayground() {
  if (worker_.joinable()) worker_.join();
}

void OptimizerPlayground::apply(const QList<PathSeries>& series, double ms) {
  worker_.join();  // it has posted its result: finished or about to be
  // The settings moved on while it ran: this result is for settings no longer shown. A pending
  // recompute starts the next run itself; otherwise start it here.
  if (recomputePending_) return;
  if (stale_) {
    recompute();
    return;
  }
  series_ = series;
  lastComputeMs_ = ms;
  std::vector<Point2> all;
  for (const auto& s : series_) {
    for (const auto& p : s.path.points) all.push_back({p.x, p.y});
  }
  // One extent for every panel, so the panels compare position for position.
  const TestFunction fn = function();
  const WorldRect extent = fitExtent(OptimizerPathView::defaultExtent(fn), all);
  rebuildPanels();
  const bool iso = isoLinesBox_->isChecked();
  for (int i = 0; i < panels_.size(); ++i) {
    panels_[i]->setFunction(fn);
    panels_[i]->setExtent(extent);
    panels_[i]->setIsoLines(iso);
    panels_[i]->setPaths({series_[i]});
  }
  overlayView_->setFunction(fn);
  overlayView_->setExtent(extent);
  overlayView_->setIsoLines(iso);
  overlayView_->setPaths(series_);
  timing_->setText(tr("%1 optimizer(s) × %2 steps in %3 ms")
                       .arg(series_.size())
                       .arg(steps())
                       .arg(lastComputeMs_, 0, 'f', 1));
  emit recomputed();
}

}  // namespace tb::widgets
