// RunObserver: what a run reports while it trains. The CLI draws a progress bar from it; the GUI
// forwards each call to its thread through queued signals. Calls come on the engine's thread and
// must return quickly.
#pragma once

#include <cstdint>
#include <string>

#include "core/store/session_store.h"

namespace tb::run {

struct RunInfo {
  store::SessionId session;  // invalid when the run is not stored
  std::string name;
  std::string model_summary;  // "Linear(784->256) ReLU Linear(256->128) ..."
  std::int64_t parameters = 0;
  std::int64_t train_samples = 0;
  std::int64_t test_samples = 0;
  std::int64_t epochs = 0;
  std::int64_t steps_per_epoch = 0;
  std::int64_t total_steps = 0;  // epochs * steps_per_epoch, or max_steps when smaller
};

struct StepReport {
  std::int64_t step = 0;   // 1-based, counted over the whole run
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0.0;
  double samples_per_s = 0.0;  // over the recent steps
  double elapsed_s = 0.0;
};

struct EpochReport {
  std::int64_t epoch = 0;
  std::int64_t step = 0;
  double train_loss = 0.0;  // mean over the epoch's steps
  double test_loss = 0.0;
  double test_accuracy = 0.0;
  double samples_per_s = 0.0;  // training samples over training time of the epoch
  double elapsed_s = 0.0;
};

struct RunResult {
  store::SessionId session;
  std::string status;  // "completed", "stopped", "failed"
  std::string error;   // why it failed
  double test_accuracy = 0.0;
  double test_loss = 0.0;
  double train_loss = 0.0;     // mean over the last epoch's steps
  double samples_per_s = 0.0;  // over all training steps (evaluation excluded)
  double train_s = 0.0;        // time inside training steps
  double data_wait_s = 0.0;    // of which the loop waited for its batches
  std::int64_t epochs = 0;     // epochs completed (a stopped run's partial epoch not counted)
  std::int64_t steps = 0;
  double wall_s = 0.0;
  std::int64_t parameters = 0;
  std::string precision = "fp32";
  // Bytes the model held from a training forward until its backward (first step's batch), and the
  // shared 16-bit workspace besides (0 in fp32); see nn::Model::activation_bytes().
  std::int64_t activation_bytes = 0;
  std::int64_t activation_workspace_bytes = 0;
  // Bytes of the weights: fp32 masters, plus the 16-bit working copies in fp16/bf16.
  std::int64_t weight_bytes = 0;
  // The most tensor memory live at once during the run (the backend's buffers, all kinds).
  std::int64_t peak_memory_bytes = 0;
  // Device memory the backend's caching allocator held at most (cached blocks included); 0 on
  // the CPU, which caches nothing.
  std::int64_t peak_reserved_bytes = 0;
  std::int64_t skipped_steps = 0;  // optimizer steps skipped by loss scaling (fp16)
  // Models with Embedding tables (row-sparse gradients), else 0: the largest row-sparse gradient
  // of a step (ids and values of the touched rows, all tables) and the bytes the same gradients
  // would take dense (rows x dim floats of every table).
  std::int64_t sparse_grad_bytes = 0;
  std::int64_t dense_grad_bytes = 0;
  // The data pipeline's counts ("loader.mode", "loader.samples", "loader.skipped_records",
  // streaming's "loader.read" and "loader.duplicates_skipped", ...), as stored with the session.
  store::Params loader;
  // Parallel runs: this process's rank of how many, and over every step the seconds the gradient
  // all-reduces ran and the part of that hidden under backward (the overlap share is
  // communication_hidden_s / communication_s); 0 in a world of one.
  int rank = 0;
  std::int64_t ranks = 1;
  double communication_s = 0.0;
  double communication_hidden_s = 0.0;
};

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void on_start(const RunInfo&) {}
  virtual void on_step(const StepReport&) {}
  virtual void on_epoch(const EpochReport&) {}
  virtual void on_finish(const RunResult&) {}
};

}  // namespace tb::run
