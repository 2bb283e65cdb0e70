// Terminal progress for a run: a redrawn bar on a terminal, a line per epoch otherwise.
#pragma once

#include <chrono>
#include <cstdio>

#include "core/run/observer.h"

namespace tb::app {

class ProgressPrinter final : public run::RunObserver {
 public:
  // Writes to `out` (stderr); `quiet` prints nothing (--json where stderr is not a terminal).
  ProgressPrinter(std::FILE* out, bool quiet);

  void on_start(const run::RunInfo& info) override;
  void on_step(const run::StepReport& step) override;
  void on_epoch(const run::EpochReport& epoch) override;
  void on_finish(const run::RunResult& result) override;

 private:
  void draw(bool force);

  std::FILE* out_;
  bool quiet_;
  bool terminal_;
  run::RunInfo info_;
  run::StepReport last_step_;
  double last_accuracy_ = -1.0;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace tb::app
