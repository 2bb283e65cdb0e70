#include "app/gui/main_window.h"

#include <QAction>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QKeySequence>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <utility>

#include "widgets/dataset_inspector.h"
#include "widgets/metric_chart.h"
#include "widgets/optimizer_playground.h"
#include "widgets/profiler_view.h"
#include "widgets/project_editor.h"
#include "widgets/session_browser.h"
#include "widgets/session_table_model.h"

namespace tb::app {

namespace {

QList<QPointF> toPoints(const std::vector<store::MetricPoint>& metrics) {
  QList<QPointF> points;
  points.reserve(static_cast<qsizetype>(metrics.size()));
  for (const auto& m : metrics) points.append(QPointF(static_cast<double>(m.step), m.value));
  return points;
}

QString formatSeconds(double seconds) {
  if (seconds < 60.0) return QStringLiteral("%1 s").arg(seconds, 0, 'f', 1);
  const auto total = static_cast<qint64>(seconds + 0.5);
  return QStringLiteral("%1:%2 min").arg(total / 60).arg(total % 60, 2, 10, QLatin1Char('0'));
}

QString formatRate(double samplesPerSec) {
  return QObject::tr("%1 samples/s").arg(QLocale().toString(samplesPerSec, 'f', 0));
}

}  // namespace

MainWindow::MainWindow(std::filesystem::path dbPath, QWidget* parent)
    : QMainWindow(parent), dbPath_(std::move(dbPath)) {
  setWindowTitle(QStringLiteral("Trainbench"));
  controller_ = new RunController(this);
  // The controller's signals are emitted on this thread (it re-posts the engine's calls), so
  // these connections run the slots directly, in the order the engine reported.
  connect(controller_, &RunController::started, this, &MainWindow::onStarted);
  connect(controller_, &RunController::step, this, &MainWindow::onStep);
  connect(controller_, &RunController::epoch, this, &MainWindow::onEpoch);
  connect(controller_, &RunController::finished, this, &MainWindow::onFinished);
  dataCheck_ = new DataCheckController(this);

  buildUi();
  buildMenus();
  statusTimer_.setInterval(100);
  connect(&statusTimer_, &QTimer::timeout, this, [this] {
    if (statusDirty_) updateRunStatus();
  });
  connect(editor_, &widgets::ProjectEditor::validated, this, &MainWindow::updateActions);
  connect(editor_, &widgets::ProjectEditor::fileNameChanged, this, &MainWindow::updateTitle);
  updateActions();
  updateTitle();
  setRunMessage(tr("Ready. Edit the project, then press Run (F5)."));
  refreshSessions();
  resize(1360, 860);
}

MainWindow::~MainWindow() = default;

void MainWindow::buildUi() {
  runButton_ = new QPushButton(tr("▶  Run"));
  runButton_->setToolTip(tr("Train the project in the editor (F5)"));
  stopButton_ = new QPushButton(tr("■  Stop"));
  stopButton_->setToolTip(tr("Stop the run after its current step (Shift+F5)"));
  for (QPushButton* button : {runButton_, stopButton_}) button->setMinimumWidth(96);
  connect(runButton_, &QPushButton::clicked, this, &MainWindow::startRun);
  connect(stopButton_, &QPushButton::clicked, this, &MainWindow::stopRun);

  progress_ = new QProgressBar;
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setTextVisible(true);
  progress_->setFormat(QStringLiteral("%p %"));
  progress_->setFixedWidth(220);

  runStatus_ = new QLabel;
  runStatus_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  runInfo_ = new QLabel;
  runInfo_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  runInfo_->setStyleSheet(QStringLiteral("color: palette(mid);"));
  runInfo_->setWordWrap(true);

  auto* runBar = new QHBoxLayout;
  runBar->addWidget(runButton_);
  runBar->addWidget(stopButton_);
  runBar->addSpacing(8);
  runBar->addWidget(progress_);
  runBar->addSpacing(8);
  runBar->addWidget(runStatus_, 1);

  editor_ = new widgets::ProjectEditor;
  auto* projectBox = new QGroupBox(tr("Project"));
  auto* projectLayout = new QVBoxLayout(projectBox);
  projectLayout->addWidget(editor_);

  chart_ = new widgets::MetricChart;
  chart_->setTitle(tr("No run yet"));

  sessionModel_ = new widgets::SessionTableModel(this);
  sessionView_ = new QTableView;
  sessionView_->setModel(sessionModel_);
  sessionView_->setSelectionBehavior(QAbstractItemView::SelectRows);
  sessionView_->setSelectionMode(QAbstractItemView::SingleSelection);
  sessionView_->setAlternatingRowColors(true);
  sessionView_->setWordWrap(false);
  sessionView_->verticalHeader()->hide();
  sessionView_->verticalHeader()->setDefaultSectionSize(sessionView_->fontMetrics().height() + 8);
  sessionView_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  sessionView_->horizontalHeader()->setSectionResizeMode(widgets::SessionTableModel::NameColumn,
                                                         QHeaderView::Stretch);
  sessionView_->setContextMenuPolicy(Qt::ActionsContextMenu);
  auto* loadProject = new QAction(tr("Load this session's project into the editor"), sessionView_);
  connect(loadProject, &QAction::triggered, this, &MainWindow::loadSessionProject);
  sessionView_->addAction(loadProject);
  connect(sessionView_->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
    const QModelIndexList rows = sessionView_->selectionModel()->selectedRows();
    if (rows.size() == 1) {
      showSession(store::SessionId(
          rows.front().data(widgets::SessionTableModel::SessionIdRole).toLongLong()));
    }
  });
  // Double-click re-reads a session already selected (e.g. one that was still running).
  connect(sessionView_, &QTableView::doubleClicked, this, [this](const QModelIndex& index) {
    showSession(
        store::SessionId(index.data(widgets::SessionTableModel::SessionIdRole).toLongLong()));
  });

  auto* refreshButton = new QPushButton(tr("Refresh"));
  refreshButton->setToolTip(tr("Re-read the session list from the database (Ctrl+R)"));
  connect(refreshButton, &QPushButton::clicked, this, &MainWindow::refreshSessions);
  sessionHint_ = new QLabel(tr("Select a session to show its curves."));
  sessionHint_->setStyleSheet(QStringLiteral("color: palette(mid);"));
  auto* sessionsBox = new QGroupBox(tr("Sessions"));
  auto* sessionsLayout = new QVBoxLayout(sessionsBox);
  sessionsLayout->addWidget(sessionView_, 1);
  auto* sessionsBar = new QHBoxLayout;
  sessionsBar->addWidget(sessionHint_, 1);
  sessionsBar->addWidget(refreshButton);
  sessionsLayout->addLayout(sessionsBar);

  auto* right = new QSplitter(Qt::Vertical);
  right->addWidget(chart_);
  right->addWidget(sessionsBox);
  right->setStretchFactor(0, 3);
  right->setStretchFactor(1, 2);
  right->setSizes({500, 300});
  right->setChildrenCollapsible(false);

  auto* split = new QSplitter(Qt::Horizontal);
  split->addWidget(projectBox);
  split->addWidget(right);
  split->setStretchFactor(0, 1);
  split->setStretchFactor(1, 2);
  split->setSizes({430, 900});
  split->setChildrenCollapsible(false);

  auto* trainPage = new QWidget;
  auto* layout = new QVBoxLayout(trainPage);
  layout->setContentsMargins(8, 8, 8, 4);
  layout->addLayout(runBar);
  layout->addWidget(runInfo_);
  layout->addWidget(split, 1);

  // The playground gets a whole tab, not a corner of the training view: its side-by-side panels
  // need the width, and it is used before a run (choosing an optimizer), not during one.
  playground_ = new widgets::OptimizerPlayground;
  playground_->layout()->setContentsMargins(8, 8, 8, 4);
  tabs_ = new QTabWidget;
  tabs_->setDocumentMode(true);
  tabs_->addTab(trainPage, tr("Train"));
  tabs_->addTab(playground_, tr("Optimizer playground"));
  tabs_->setTabToolTip(0, tr("Edit, run and compare training sessions (Ctrl+1)"));
  tabs_->setTabToolTip(1, tr("Optimizers' paths on 2-D test functions, side by side (Ctrl+2)"));
  // The data check reads the project in the editor, like Run, but has a tab of its own: its
  // findings and example images need the room, and it is done before training, not during it.
  dataInspector_ = new widgets::DatasetInspector;
  dataInspector_->layout()->setContentsMargins(8, 8, 8, 4);
  tabs_->addTab(dataInspector_, tr("Data"));
  tabs_->setTabToolTip(2, tr("Check the project's data: balance, duplicates, leakage (Ctrl+3)"));
  connect(dataInspector_, &widgets::DatasetInspector::checkRequested, this, &MainWindow::checkData);
  // Emitted on this thread (the controller posts the worker's result here first).
  connect(dataCheck_, &DataCheckController::finished, this,
          [this](std::shared_ptr<const widgets::DatasetCheckResult> result) {
            dataInspector_->setBusy(false);
            dataInspector_->setResult(std::move(result));
          });
  connect(dataCheck_, &DataCheckController::failed, this, [this](const QString& message) {
    dataInspector_->setBusy(false);
    dataInspector_->setError(tr("Check failed: %1").arg(message));
  });
  // The profile of a session: picked in the Train tab's list, or the running one, refreshed live.
  auto* profilePage = new QWidget;
  auto* profileLayout = new QVBoxLayout(profilePage);
  profileLayout->setContentsMargins(8, 8, 8, 4);
  profileTitle_ = new QLabel(tr("Pick a session in the Train tab, or start a run, to profile it."));
  profiler_ = new widgets::ProfilerView;
  profileLayout->addWidget(profileTitle_);
  profileLayout->addWidget(profiler_, 1);
  tabs_->addTab(profilePage, tr("Profile"));
  tabs_->setTabToolTip(3, tr("Timeline, memory and step breakdown of a session, with a verdict "
                             "on what limits it (Ctrl+4)"));
  profileLoader_ = new ProfileController(dbPath_, this);
  connect(profileLoader_, &ProfileController::loaded, this, &MainWindow::onProfileLoaded);
  connect(profileLoader_, &ProfileController::failed, this,
          [this](qint64 id, const QString& message) {
            statusBar()->showMessage(tr("Session #%1's trace: %2").arg(id).arg(message), 10000);
          });
  connect(tabs_, &QTabWidget::currentChanged, this, [this] { loadProfileIfShown(); });
  liveProfileTimer_.setInterval(1000);
  connect(&liveProfileTimer_, &QTimer::timeout, this, [this] {
    if (live_ && profiledSession_ == live_->session) loadProfileIfShown();
  });
  buildSessionTabs();
  setCentralWidget(tabs_);

  auto* dbLabel = new QLabel(tr("Sessions: %1").arg(QString::fromStdString(dbPath_.string())));
  dbLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
  statusBar()->addPermanentWidget(dbLabel);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  QAction* open = file->addAction(tr("&Open project…"), this, &MainWindow::openProjectDialog);
  open->setShortcut(QKeySequence::Open);
  QAction* save = file->addAction(tr("&Save project…"), this, &MainWindow::saveProjectDialog);
  save->setShortcut(QKeySequence::Save);
  file->addSeparator();
  QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
  quit->setShortcut(QKeySequence::Quit);

  QMenu* project = menuBar()->addMenu(tr("&Project"));
  project->addAction(tr("Fill in &defaults"), editor_, &widgets::ProjectEditor::fillDefaults);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  QAction* training = view->addAction(tr("&Training"), this, &MainWindow::showTraining);
  training->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_1));
  QAction* playground =
      view->addAction(tr("Optimizer &playground"), this, &MainWindow::showPlayground);
  playground->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_2));
  playground->setStatusTip(tr("Compare optimizers' paths on 2-D test functions"));
  QAction* dataInspector =
      view->addAction(tr("&Data inspector"), this, &MainWindow::showDataInspector);
  dataInspector->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_3));
  dataInspector->setStatusTip(
      tr("Check the project's dataset: balance, duplicates, leakage, kNN baseline"));
  QAction* profile = view->addAction(tr("P&rofile"), this, &MainWindow::showProfile);
  profile->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_4));
  profile->setStatusTip(tr("Where the picked session's step time goes, and what limits it"));
  QAction* sessions = view->addAction(tr("&Sessions"), this, &MainWindow::showSessions);
  sessions->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_5));
  sessions->setStatusTip(
      tr("Browse, filter, tag and delete stored sessions; pick some to compare"));
  QAction* compare = view->addAction(tr("&Compare"), this, &MainWindow::showCompare);
  compare->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_6));
  compare->setStatusTip(tr("The sessions picked in the Sessions tab, side by side"));

  QMenu* runMenu = menuBar()->addMenu(tr("&Run"));
  runAction_ = runMenu->addAction(tr("&Run"), this, &MainWindow::startRun);
  runAction_->setShortcut(Qt::Key_F5);
  stopAction_ = runMenu->addAction(tr("&Stop"), this, &MainWindow::stopRun);
  stopAction_->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));
  runMenu->addSeparator();
  QAction* refresh =
      runMenu->addAction(tr("Re&fresh sessions"), this, &MainWindow::refreshSessions);
  refresh->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
}

void MainWindow::showTraining() {
  tabs_->setCurrentIndex(0);
}

void MainWindow::showPlayground() {
  tabs_->setCurrentWidget(playground_);
}

void MainWindow::showDataInspector() {
  tabs_->setCurrentWidget(dataInspector_);
}

void MainWindow::showProfile() {
  tabs_->setCurrentWidget(profiler_->parentWidget());
}

void MainWindow::loadProfileIfShown() {
  if (tabs_->currentWidget() != profiler_->parentWidget() || !profiledSession_.valid()) return;
  profileLoader_->load(profiledSession_);
}

void MainWindow::onProfileLoaded(qint64 sessionId, std::shared_ptr<const trace::Trace> trace,
                                 trace::SessionFacts facts) {
  if (sessionId != profiledSession_.value) return;  // the user has picked another meanwhile
  const bool live = live_ && controller_->isRunning() && live_->session.value == sessionId;
  profileTitle_->setText(tr("Session #%1%2  ·  %3 spans on %4 tracks")
                             .arg(sessionId)
                             .arg(live ? tr(" (recording)") : QString())
                             .arg(QLocale().toString(static_cast<qlonglong>(trace->spans().size())))
                             .arg(trace->tracks().size()));
  profileShown_ = store::SessionId(sessionId);
  profiler_->setTrace(std::move(trace), facts);
}

void MainWindow::checkData(const data::InspectOptions& options) {
  if (dataCheck_->isRunning()) return;  // the inspector's button is disabled meanwhile anyway
  const std::optional<run::Project> project = editor_->project();
  if (!project) {
    editor_->validateNow();
    dataInspector_->setError(tr("Cannot check: the project in the editor is not valid: %1")
                                 .arg(editor_->validationMessage()));
    return;
  }
  QString error;
  if (!dataCheck_->start(*project, options, &error)) {
    dataInspector_->setError(error);
    return;
  }
  dataInspector_->setBusy(true);
}

bool MainWindow::openProject(const QString& path) {
  QString error;
  if (!editor_->loadFile(path, &error)) {
    statusBar()->showMessage(error, 10000);
    return false;
  }
  statusBar()->showMessage(tr("Opened %1").arg(path), 5000);
  return true;
}

void MainWindow::openProjectDialog() {
  const QString path = QFileDialog::getOpenFileName(this, tr("Open project"),
                                                    QFileInfo(editor_->fileName()).absolutePath(),
                                                    tr("Project files (*.json);;All files (*)"));
  if (path.isEmpty()) return;
  QString error;
  if (!editor_->loadFile(path, &error)) QMessageBox::warning(this, tr("Open project"), error);
}

void MainWindow::saveProjectDialog() {
  const QString path = QFileDialog::getSaveFileName(
      this, tr("Save project"),
      editor_->fileName().isEmpty() ? QStringLiteral("project.json") : editor_->fileName(),
      tr("Project files (*.json);;All files (*)"));
  if (path.isEmpty()) return;
  QString error;
  if (!editor_->saveFile(path, &error)) {
    QMessageBox::warning(this, tr("Save project"), error);
  } else {
    statusBar()->showMessage(tr("Saved %1").arg(path), 5000);
  }
}

void MainWindow::loadSessionProject() {
  const QModelIndexList rows = sessionView_->selectionModel()->selectedRows();
  if (rows.size() != 1) return;
  if (const store::SessionRecord* record = sessionModel_->sessionAt(rows.front().row())) {
    // Pretty-printed so it reads like a project file; stored compact or not, it is the same JSON.
    const auto doc = nlohmann::json::parse(record->project_json, nullptr, false);
    editor_->setText(
        QString::fromStdString(doc.is_discarded() ? record->project_json : doc.dump(2)) +
        QLatin1Char('\n'));
    statusBar()->showMessage(tr("Loaded the project of session #%1").arg(record->id.value), 5000);
  }
}

void MainWindow::updateActions() {
  const bool running = controller_->isRunning();
  const bool canRun = !running && editor_->isValid();
  runButton_->setEnabled(canRun);
  runAction_->setEnabled(canRun);
  stopButton_->setEnabled(running && !controller_->stopRequested());
  stopAction_->setEnabled(stopButton_->isEnabled());
  runButton_->setToolTip(editor_->isValid() || running
                             ? tr("Train the project in the editor (F5)")
                             : tr("Fix the project first: %1").arg(editor_->validationMessage()));
}

void MainWindow::updateTitle() {
  auto* box = qobject_cast<QGroupBox*>(editor_->parentWidget());
  if (!box) return;
  const QString name = editor_->fileName();
  box->setTitle(name.isEmpty() ? tr("Project (unsaved)")
                               : tr("Project — %1").arg(QFileInfo(name).fileName()));
  box->setToolTip(name);
}

void MainWindow::setRunMessage(const QString& text, bool error) {
  runStatus_->setStyleSheet(error ? QStringLiteral("color: #c01c28;") : QString());
  runStatus_->setText(text);
}

void MainWindow::startRun() {
  if (controller_->isRunning()) return;
  const std::optional<run::Project> project = editor_->project();
  if (!project) {
    editor_->validateNow();
    setRunMessage(tr("Cannot run: %1").arg(editor_->validationMessage()), true);
    return;
  }
  live_.reset();
  lastStep_.reset();
  lastEpoch_.reset();
  liveLoss_.clear();
  liveAccuracy_.clear();
  liveTestLoss_.clear();
  chartShowsLive_ = true;
  shownSession_ = {};
  chart_->clear();
  chart_->setExpectedSteps(0);
  chart_->setTitle(tr("Live: %1 (starting)").arg(QString::fromStdString(project->name)));
  progress_->setRange(0, 0);  // busy until the run says how many steps it has

  const std::string source =
      editor_->fileName().isEmpty() ? std::string("editor") : editor_->fileName().toStdString();
  QString error;
  if (!controller_->start(*project, dbPath_, source, &error)) {
    progress_->setRange(0, 1);
    progress_->setValue(0);
    setRunMessage(tr("Cannot start the run: %1").arg(error), true);
    updateActions();
    return;
  }
  setRunMessage(tr("Starting %1 …").arg(QString::fromStdString(project->name)));
  showTraining();  // F5 from the playground: the run's progress is on the training tab
  runInfo_->clear();
  statusTimer_.start();
  updateActions();
}

void MainWindow::stopRun() {
  if (!controller_->isRunning()) return;
  controller_->stop();
  setRunMessage(tr("Stopping after the current step …"));
  updateActions();
}

void MainWindow::onStarted(const run::RunInfo& info) {
  live_ = info;
  if (info.session.valid()) {
    profiledSession_ = info.session;
    liveProfileTimer_.start();
  }
  sessionBrowser_->setLiveSession(info.session);
  sessionBrowser_->refresh();
  progress_->setRange(0, static_cast<int>(std::max<std::int64_t>(1, info.total_steps)));
  progress_->setValue(0);
  const QString name = QString::fromStdString(info.name);
  if (chartShowsLive_) {
    chart_->setExpectedSteps(info.total_steps);
    chart_->setTitle(info.session.valid()
                         ? tr("Live: %1 (session #%2)").arg(name).arg(info.session.value)
                         : tr("Live: %1 (not stored)").arg(name));
  }
  runInfo_->setText(tr("%1  ·  %2 parameters  ·  %3 train / %4 test samples  ·  %5 epochs × %6 "
                       "steps")
                        .arg(QString::fromStdString(info.model_summary),
                             QLocale().toString(static_cast<qlonglong>(info.parameters)),
                             QLocale().toString(static_cast<qlonglong>(info.train_samples)),
                             QLocale().toString(static_cast<qlonglong>(info.test_samples)))
                        .arg(info.epochs)
                        .arg(info.steps_per_epoch));
  statusDirty_ = true;
  refreshSessions();  // the new session appears as "running"
}

void MainWindow::onStep(const run::StepReport& report) {
  lastStep_ = report;
  const QPointF point(static_cast<double>(report.step), report.train_loss);
  liveLoss_.append(point);
  if (chartShowsLive_) chart_->appendLoss(point.x(), point.y());
  statusDirty_ = true;
}

void MainWindow::onEpoch(const run::EpochReport& report) {
  lastEpoch_ = report;
  const auto step = static_cast<double>(report.step);
  liveAccuracy_.append(QPointF(step, report.test_accuracy));
  liveTestLoss_.append(QPointF(step, report.test_loss));
  if (chartShowsLive_) {
    chart_->appendAccuracy(step, report.test_accuracy);
    chart_->appendTestLoss(step, report.test_loss);
  }
  statusDirty_ = true;
}

void MainWindow::updateRunStatus() {
  statusDirty_ = false;
  if (!lastStep_) return;
  const run::StepReport& s = *lastStep_;
  progress_->setValue(static_cast<int>(std::min<std::int64_t>(s.step, progress_->maximum())));
  QStringList parts;
  parts << (live_ ? tr("Epoch %1/%2").arg(s.epoch).arg(live_->epochs)
                  : tr("Epoch %1").arg(s.epoch));
  parts << (live_ ? tr("step %1/%2").arg(s.step).arg(live_->total_steps)
                  : tr("step %1").arg(s.step));
  parts << tr("loss %1").arg(s.train_loss, 0, 'f', 4);
  parts << formatRate(s.samples_per_s);
  if (lastEpoch_)
    parts << tr("test accuracy %1 %").arg(lastEpoch_->test_accuracy * 100.0, 0, 'f', 2);
  parts << formatSeconds(s.elapsed_s);
  if (controller_->stopRequested()) parts << tr("stopping …");
  setRunMessage(parts.join(QStringLiteral("  ·  ")));
}

void MainWindow::onFinished(const run::RunResult& result) {
  sessionBrowser_->setLiveSession({});
  sessionBrowser_->refresh();
  statusTimer_.stop();
  liveProfileTimer_.stop();
  loadProfileIfShown();  // the run's last spans
  if (statusDirty_) updateRunStatus();
  chart_->flush();
  if (chartShowsLive_ && live_) {
    chart_->setTitle(tr("%1 (session #%2, %3)")
                         .arg(QString::fromStdString(live_->name))
                         .arg(result.session.value)
                         .arg(QString::fromStdString(result.status)));
  }
  progress_->setRange(0, std::max(1, progress_->maximum()));
  if (result.status == "completed") progress_->setValue(progress_->maximum());

  const QString summary =
      tr("%1 epoch(s), %2 steps in %3  ·  test accuracy %4 %  ·  test loss %5  ·  %6")
          .arg(result.epochs)
          .arg(result.steps)
          .arg(formatSeconds(result.wall_s))
          .arg(result.test_accuracy * 100.0, 0, 'f', 2)
          .arg(result.test_loss, 0, 'f', 4)
          .arg(formatRate(result.samples_per_s));
  if (result.status == "completed") {
    setRunMessage(tr("Completed: %1").arg(summary));
  } else if (result.status == "stopped") {
    setRunMessage(tr("Stopped: %1").arg(summary));
  } else {
    setRunMessage(tr("Failed: %1").arg(QString::fromStdString(result.error)), true);
  }
  statusBar()->showMessage(tr("Run %1").arg(QString::fromStdString(result.status)), 5000);
  refreshSessions();
  updateActions();
}

store::SessionStore* MainWindow::reader() {
  if (reader_) return reader_.get();
  std::error_code ec;
  if (dbPath_.empty() || !std::filesystem::exists(dbPath_, ec)) return nullptr;  // no run yet
  try {
    reader_ = std::make_unique<store::SessionStore>(dbPath_, store::SessionStore::Mode::read_only);
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
  }
  return reader_.get();
}

void MainWindow::refreshSessions() {
  store::SessionStore* store = reader();
  if (!store) return;
  try {
    // The newest only: this list is re-read at every run's start and end, and reading 10,000
    // sessions takes a fifth of a second; the Sessions tab pages through all of them.
    sessionModel_->setSessions(store->list_sessions(kTrainTabSessions));
    const std::int64_t total = store->session_count();
    sessionHint_->setText(
        total > kTrainTabSessions
            ? tr("Select a session to show its curves. The newest %1 of %2: all of them in the "
                 "Sessions tab (Ctrl+5).")
                  .arg(kTrainTabSessions)
                  .arg(total)
            : tr("Select a session to show its curves."));
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
  }
}

void MainWindow::showLiveRun() {
  chartShowsLive_ = true;
  shownSession_ = {};
  chart_->setSeries(liveLoss_, liveAccuracy_, liveTestLoss_);
  if (live_) {
    chart_->setExpectedSteps(live_->total_steps);
    chart_->setTitle(tr("Live: %1 (session #%2)")
                         .arg(QString::fromStdString(live_->name))
                         .arg(live_->session.value));
  }
}

void MainWindow::showSession(store::SessionId id) {
  profiledSession_ = id;
  loadProfileIfShown();
  if (controller_->isRunning() && live_ && live_->session == id) {
    showLiveRun();
    return;
  }
  store::SessionStore* store = reader();
  if (!store) return;
  try {
    const std::optional<store::SessionRecord> record = store->session(id);
    if (!record) {
      statusBar()->showMessage(tr("Session #%1 is no longer in the database").arg(id.value), 5000);
      return;
    }
    const QList<QPointF> loss = toPoints(store->metrics(id, "train_loss"));
    const QList<QPointF> accuracy = toPoints(store->metrics(id, "test_accuracy"));
    const QList<QPointF> testLoss = toPoints(store->metrics(id, "test_loss"));
    chartShowsLive_ = false;
    shownSession_ = id;
    chart_->setExpectedSteps(0);
    chart_->setSeries(loss, accuracy, testLoss);
    chart_->setTitle(
        tr("Session #%1: %2 (%3)")
            .arg(id.value)
            .arg(QString::fromStdString(record->name), QString::fromStdString(record->status)));
  } catch (const std::exception& e) {
    statusBar()->showMessage(QString::fromStdString(e.what()), 10000);
  }
}

void MainWindow::closeEvent(QCloseEvent* event) {
  // The run stops after its current step; the controller's destructor joins it.
  if (controller_->isRunning()) controller_->stop();
  // Deletes are undoable until the window closes: now they are done for good.
  sessionBrowser_->purgeTrash();
  event->accept();
}

}  // namespace tb::app
