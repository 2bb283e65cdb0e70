// Runner: the training loop. One Runner trains one project once.
//
// run() blocks on the calling thread (the CLI's, or an engine thread the GUI starts through
// BackgroundRun); request_stop() may be called from any thread and takes effect after the current
// step. With a database path set, the run is stored as a session: settings, metrics each step
// (train_loss, samples_per_s) and each epoch (test_accuracy, test_loss, epoch_train_loss), the
// activation memory once (activation_bytes), fp16 loss scaling's loss_scale at each change and
// skipped_steps at each skipped step, the step-phase spans, and the final status and summary.
#pragma once

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>

#include "core/dist/communicator.h"
#include "core/run/observer.h"
#include "core/run/project.h"
#include "core/store/session_catalog.h"

namespace tb::run {

struct RunOptions {
  std::filesystem::path db_path;  // empty: not stored
  RunObserver* observer = nullptr;
  // Where the project came from (a file name), stored with the session; informative only.
  std::string source;
  // Continue from the latest checkpoint of this session (in the same database): the model's
  // parameters, the optimizer's state and the position in the data are restored, and training
  // goes on, as a new session, to the project's epochs. Bit-for-bit the run that was not
  // interrupted, except for dropout masks, which are drawn anew.
  store::SessionId resume_from;
  // The session's name (empty: the project's name), and the sweep it belongs to (invalid: none);
  // both set when the session is created, so a run that fails early is still named and in it.
  std::string session_name;
  store::SweepId sweep;
  // The processes training together (project.parallel): null takes the world mpirun started, or
  // a world of one outside mpirun. Rank 0 alone stores the session; a failed parallel run ends
  // the whole job (mpirun ends every rank) once its session says why.
  dist::Communicator* communicator = nullptr;
};

class Runner {
 public:
  Runner(Project project, RunOptions options);
  // Trains; never throws for a training failure: the result says "failed" and why. Throws only
  // when the session cannot even be created (StoreError).
  RunResult run();
  void request_stop() { stop_.store(true, std::memory_order_relaxed); }

 private:
  Project project_;
  RunOptions options_;
  std::atomic<bool> stop_{false};
};

// A Runner on its own thread.
class BackgroundRun {
 public:
  BackgroundRun(Project project, RunOptions options);
  ~BackgroundRun();  // requests a stop and joins
  void request_stop() { runner_.request_stop(); }
  bool finished() const { return finished_.load(); }
  RunResult wait();  // joins; the result

 private:
  RunObserver* options_observer_;
  Runner runner_;
  RunResult result_;
  std::atomic<bool> finished_{false};
  std::thread thread_;
};

// The result as one JSON object: the session summary, and what `trainbench run --json` prints.
nlohmann::json to_json(const RunResult& result);

// The revision of the Trainbench build ("unknown" outside a git checkout) and the host name.
std::string build_revision();
std::string host_name();

}  // namespace tb::run
