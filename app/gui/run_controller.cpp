#include "app/gui/run_controller.h"

#include <QMetaObject>

#include <mutex>
#include <utility>
#include <vector>

namespace tb::app {

// Lives on the engine thread's side: every callback returns at once after posting to the
// controller's thread. A posted call to a destroyed controller is dropped by Qt (its pending
// events go with it), and the controller outlives the run anyway: its destructor joins the run.
class RunController::Observer : public run::RunObserver {
 public:
  explicit Observer(RunController* controller) : controller_(controller) {}

  void on_start(const run::RunInfo& info) override {
    QMetaObject::invokeMethod(
        controller_, [c = controller_, info] { emit c->started(info); }, Qt::QueuedConnection);
  }

  void on_step(const run::StepReport& report) override {
    bool post = false;
    {
      std::lock_guard lock(mutex_);
      pending_.push_back(report);
      // One delivery event in flight at a time: it takes every step queued before it runs.
      post = !deliveryPosted_;
      deliveryPosted_ = true;
    }
    if (post) {
      QMetaObject::invokeMethod(
          controller_, [c = controller_] { c->deliverSteps(); }, Qt::QueuedConnection);
    }
  }

  // Epochs and the end are posted after any step delivery already posted, so the GUI sees the
  // reports in the order the engine made them: a step queued before this epoch is either in the
  // pending batch (whose delivery event was posted earlier) or already delivered.
  void on_epoch(const run::EpochReport& report) override {
    QMetaObject::invokeMethod(
        controller_, [c = controller_, report] { emit c->epoch(report); }, Qt::QueuedConnection);
  }

  void on_finish(const run::RunResult& result) override {
    QMetaObject::invokeMethod(
        controller_, [c = controller_, result] { c->complete(result); }, Qt::QueuedConnection);
  }

  std::vector<run::StepReport> take() {
    std::lock_guard lock(mutex_);
    deliveryPosted_ = false;
    return std::exchange(pending_, {});
  }

 private:
  RunController* controller_;
  std::mutex mutex_;
  std::vector<run::StepReport> pending_;
  bool deliveryPosted_ = false;
};

void RunController::registerMetaTypes() {
  qRegisterMetaType<run::RunInfo>("tb::run::RunInfo");
  qRegisterMetaType<run::StepReport>("tb::run::StepReport");
  qRegisterMetaType<run::EpochReport>("tb::run::EpochReport");
  qRegisterMetaType<run::RunResult>("tb::run::RunResult");
}

RunController::RunController(QObject* parent)
    : QObject(parent), observer_(std::make_unique<Observer>(this)) {
  registerMetaTypes();
  watchdog_.setInterval(250);
  connect(&watchdog_, &QTimer::timeout, this, &RunController::checkFinished);
}

RunController::~RunController() {
  if (run_) {
    run_->request_stop();
    // Joins; what the observer posts meanwhile is discarded with this object.
    run_.reset();
  }
}

bool RunController::start(const run::Project& project, const std::filesystem::path& dbPath,
                          const std::string& source, QString* error) {
  if (run_) {
    if (error) *error = tr("A run is already going.");
    return false;
  }
  observer_->take();  // nothing can be left, but a fresh run starts from a clean slate anyway
  run::RunOptions options;
  options.db_path = dbPath;
  options.observer = observer_.get();
  options.source = source;
  try {
    run_ = std::make_unique<run::BackgroundRun>(project, std::move(options));
  } catch (const std::exception& e) {
    if (error) *error = QString::fromStdString(e.what());
    return false;
  }
  stopRequested_ = false;
  watchdog_.start();
  return true;
}

void RunController::stop() {
  if (!run_) return;
  stopRequested_ = true;
  run_->request_stop();
}

void RunController::deliverSteps() {
  for (const run::StepReport& report : observer_->take()) emit step(report);
}

void RunController::complete(const run::RunResult& result) {
  // Already completed (the watchdog got there first, through a later-posted call), or a stale
  // report: nothing to do.
  if (!run_) return;
  watchdog_.stop();
  // on_finish is the run's last call, so this join only waits for its thread to return.
  run::RunResult final = result;
  try {
    final = run_->wait();
  } catch (const std::exception& e) {
    final.status = "failed";
    final.error = e.what();
  }
  if (final.status.empty()) final = result;
  run_.reset();
  deliverSteps();  // steps of the run that no delivery event has taken yet (none, normally)
  emit finished(final);
}

void RunController::checkFinished() {
  if (!run_ || !run_->finished()) return;
  // The run's thread is done. Complete through a posted call rather than now: events the engine
  // posted before it finished (its last steps, its epoch, its own on_finish) are queued ahead of
  // it, so they arrive first and in order; when on_finish did come, this finds nothing to do.
  QMetaObject::invokeMethod(
      this,
      [this] {
        if (!run_ || !run_->finished()) return;
        run::RunResult result;
        result.status = "failed";
        result.error = "the run ended without reporting a result";
        complete(result);
      },
      Qt::QueuedConnection);
}

}  // namespace tb::app
