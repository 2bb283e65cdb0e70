// RunController: one training run at a time on an engine thread, reported to the GUI thread.
//
// The engine calls its RunObserver on its own thread; the observer here only posts what it was
// told to this object's (GUI) thread, where the Qt signals below are emitted, so every slot
// connected to them runs on the GUI thread and may touch widgets. Step reports, which come
// hundreds a second, are collected and posted as one batch while the GUI is busy instead of one
// event each. Nothing here ever blocks the GUI on the engine: the BackgroundRun is joined only
// after it has reported its end, when its thread is already returning.
#pragma once

#include <QMetaType>
#include <QObject>
#include <QString>
#include <QTimer>

#include <filesystem>
#include <memory>
#include <string>

#include "core/run/observer.h"
#include "core/run/project.h"
#include "core/run/runner.h"

Q_DECLARE_METATYPE(tb::run::RunInfo)
Q_DECLARE_METATYPE(tb::run::StepReport)
Q_DECLARE_METATYPE(tb::run::EpochReport)
Q_DECLARE_METATYPE(tb::run::RunResult)

namespace tb::app {

class RunController : public QObject {
  Q_OBJECT

 public:
  explicit RunController(QObject* parent = nullptr);
  ~RunController() override;  // stops a run still going and waits for it

  // Registers the report types with Qt's meta-type system, so they can travel through queued
  // connections (any other object may connect to these signals across threads). Idempotent.
  static void registerMetaTypes();

  // Starts project on an engine thread, stored in dbPath (empty: not stored). False (and
  // finished() with status "failed" is NOT emitted) when a run is already going or the run
  // cannot be set up; *error says why.
  bool start(const run::Project& project, const std::filesystem::path& dbPath,
             const std::string& source = {}, QString* error = nullptr);
  // Asks the run to stop after its current step; finished() follows with status "stopped".
  void stop();

  bool isRunning() const { return static_cast<bool>(run_); }
  bool stopRequested() const { return stopRequested_; }

 signals:
  void started(const tb::run::RunInfo& info);
  void step(const tb::run::StepReport& report);
  void epoch(const tb::run::EpochReport& report);
  void finished(const tb::run::RunResult& result);

 private:
  class Observer;

  void deliverSteps();
  void complete(const run::RunResult& result);
  void checkFinished();

  // Declared before run_: the run holds a pointer to the observer, so it must go first.
  std::unique_ptr<Observer> observer_;
  std::unique_ptr<run::BackgroundRun> run_;
  bool stopRequested_ = false;
  // A run that dies without reporting its end (an exception before on_start) is still noticed.
  QTimer watchdog_;
};

}  // namespace tb::app
