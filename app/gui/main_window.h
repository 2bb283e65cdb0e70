// MainWindow: the workbench. Six tabs: "Train" (the project editor on the left; Run / Stop and
// the run's status across the top; the live chart and the stored sessions on the right),
// "Optimizer playground" (optimizers' paths on 2-D test functions, View > Optimizer playground),
// "Data" (the dataset inspector on the editor's project's data, View > Data inspector; checked off
// the GUI thread by a DataCheckController), "Profile" (a session's timeline, memory and step
// breakdown), "Sessions" (the session browser) and "Compare" (2 to 20 sessions side by side,
// loaded by a CompareController).
//
// The chart shows one thing at a time: the run going now (fed by RunController's signals on this
// thread) or a stored session picked in the list (read through this window's own read-only
// connection; the engine writes through its own). The live run's points are also kept here, so
// picking the running session again brings its whole curve back.
#pragma once

#include <QList>
#include <QMainWindow>
#include <QPointF>
#include <QString>
#include <QTimer>

#include <filesystem>
#include <memory>
#include <optional>

#include "app/gui/compare_controller.h"
#include "app/gui/data_check_controller.h"
#include "app/gui/profile_controller.h"
#include "app/gui/run_controller.h"
#include "core/store/session_store.h"

class QAction;
class QLabel;
class QProgressBar;
class QPushButton;
class QTabWidget;
class QTableView;

namespace tb::widgets {
class CompareView;
class DatasetInspector;
class SessionBrowser;
class MetricChart;
class OptimizerPlayground;
class ProfilerView;
class ProjectEditor;
class SessionTableModel;
}  // namespace tb::widgets

namespace tb::app {

class MainWindow : public QMainWindow {
  Q_OBJECT

 public:
  explicit MainWindow(std::filesystem::path dbPath, QWidget* parent = nullptr);
  ~MainWindow() override;

  // Opens a project file in the editor; false (and a message in the status bar) when unreadable.
  bool openProject(const QString& path);

  const std::filesystem::path& dbPath() const { return dbPath_; }
  widgets::ProjectEditor* editor() const { return editor_; }
  widgets::MetricChart* chart() const { return chart_; }
  // The Train tab's list: the newest kTrainTabSessions sessions (the Sessions tab has all).
  static constexpr std::int64_t kTrainTabSessions = 200;
  widgets::SessionTableModel* sessionModel() const { return sessionModel_; }
  QTableView* sessionView() const { return sessionView_; }
  QLabel* sessionHint() const { return sessionHint_; }
  QPushButton* runButton() const { return runButton_; }
  QPushButton* stopButton() const { return stopButton_; }
  QLabel* runStatus() const { return runStatus_; }
  QProgressBar* progress() const { return progress_; }
  RunController* controller() const { return controller_; }
  QTabWidget* tabs() const { return tabs_; }
  widgets::OptimizerPlayground* playground() const { return playground_; }
  widgets::DatasetInspector* dataInspector() const { return dataInspector_; }
  DataCheckController* dataCheck() const { return dataCheck_; }
  widgets::ProfilerView* profiler() const { return profiler_; }
  ProfileController* profileLoader() const { return profileLoader_; }
  // The session the Profile tab shows or is loading (invalid: none picked yet).
  store::SessionId profiledSession() const { return profiledSession_; }
  widgets::SessionBrowser* sessionBrowser() const { return sessionBrowser_; }
  widgets::CompareView* compareView() const { return compareView_; }
  CompareController* compareLoader() const { return compareLoader_; }
  QLabel* compareTitle() const { return compareTitle_; }
  // The session the chart shows (invalid: the live run, or nothing yet).
  store::SessionId shownSession() const { return shownSession_; }

 public slots:
  void startRun();
  void stopRun();
  // Re-reads the session list from the database.
  void refreshSessions();
  // Shows a stored session's curves in the chart (the live run's when it is the running one).
  void showSession(store::SessionId id);
  // Bring the training, optimizer playground or data tab to the front.
  void showTraining();
  void showPlayground();
  void showDataInspector();
  // The Profile tab: the timeline, memory and step breakdown of the picked (or running) session.
  void showProfile();
  // The Sessions tab (every stored session: filter, tag, annotate, delete, pick to compare) and
  // the Compare tab (2 to 20 sessions side by side).
  void showSessions();
  void showCompare();
  // Loads the sessions into the Compare tab (off the GUI thread) and brings it to the front.
  void compareSessions(const QList<qint64>& sessionIds);
  // Checks the data of the project in the editor (the inspector's "Check dataset").
  void checkData(const data::InspectOptions& options);

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void buildUi();
  void buildMenus();
  // The Sessions and Compare tabs and their wiring (main_window_sessions.cpp).
  void buildSessionTabs();
  void onCompareLoaded(quint64 generation, CompareSessions sessions, const QStringList& metrics);
  void updateActions();
  void updateTitle();
  void updateRunStatus();
  void onStarted(const run::RunInfo& info);
  void onStep(const run::StepReport& report);
  void onEpoch(const run::EpochReport& report);
  void onFinished(const run::RunResult& result);
  void openProjectDialog();
  void saveProjectDialog();
  void loadSessionProject();
  void showLiveRun();
  store::SessionStore* reader();
  void setRunMessage(const QString& text, bool error = false);
  // Loads the profiled session's trace when the Profile tab is in front (else on showing it).
  void loadProfileIfShown();
  void onProfileLoaded(qint64 sessionId, std::shared_ptr<const trace::Trace> trace,
                       trace::SessionFacts facts);

  std::filesystem::path dbPath_;
  std::unique_ptr<store::SessionStore> reader_;  // GUI-thread connection, opened on first need

  widgets::ProjectEditor* editor_ = nullptr;
  widgets::MetricChart* chart_ = nullptr;
  widgets::SessionTableModel* sessionModel_ = nullptr;
  QTableView* sessionView_ = nullptr;
  QPushButton* runButton_ = nullptr;
  QPushButton* stopButton_ = nullptr;
  QLabel* runStatus_ = nullptr;
  QLabel* sessionHint_ = nullptr;  // under the Train tab's session list
  QLabel* runInfo_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QAction* runAction_ = nullptr;
  QAction* stopAction_ = nullptr;
  RunController* controller_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  widgets::OptimizerPlayground* playground_ = nullptr;
  widgets::DatasetInspector* dataInspector_ = nullptr;
  DataCheckController* dataCheck_ = nullptr;
  widgets::ProfilerView* profiler_ = nullptr;
  QLabel* profileTitle_ = nullptr;
  ProfileController* profileLoader_ = nullptr;
  store::SessionId profiledSession_;
  store::SessionId profileShown_;  // the session whose trace is on screen
  widgets::SessionBrowser* sessionBrowser_ = nullptr;
  widgets::CompareView* compareView_ = nullptr;
  QLabel* compareTitle_ = nullptr;
  CompareController* compareLoader_ = nullptr;
  // While a run records, its trace is reloaded every second (when the Profile tab is in front).
  QTimer liveProfileTimer_;

  // The live run: what it announced, its latest reports, and every point it sent.
  std::optional<run::RunInfo> live_;
  std::optional<run::StepReport> lastStep_;
  std::optional<run::EpochReport> lastEpoch_;
  QList<QPointF> liveLoss_;
  QList<QPointF> liveAccuracy_;
  QList<QPointF> liveTestLoss_;
  bool chartShowsLive_ = false;
  store::SessionId shownSession_;
  // Labels are redrawn a few times a second, not once per step.
  QTimer statusTimer_;
  bool statusDirty_ = false;
};

}  // namespace tb::app
