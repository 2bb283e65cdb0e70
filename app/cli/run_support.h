// What `trainbench run` and `trainbench sweep` share when they train a project in the terminal.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

#include "core/run/runner.h"

namespace tb::app {

// The --set overrides of a run, with --max-steps (when > 0) as the last one, so it wins.
std::vector<std::string> run_overrides(std::vector<std::string> overrides, std::int64_t max_steps);

// While it lives, Ctrl-C stops the watched run after its current step (the session is kept,
// marked "stopped") instead of killing the process, and is remembered, so a caller running
// several projects in a row (a sweep) can stop after the current one. One at a time.
class InterruptStopsRun {
 public:
  InterruptStopsRun();
  ~InterruptStopsRun();
  InterruptStopsRun(const InterruptStopsRun&) = delete;
  InterruptStopsRun& operator=(const InterruptStopsRun&) = delete;

  // The run Ctrl-C stops from now on (null: none). A Ctrl-C that came before any run was
  // watched stops the next one as soon as it is watched.
  void watch(run::Runner* runner);
  bool interrupted() const;

 private:
  void (*previous_)(int) = SIG_DFL;
};

}  // namespace tb::app
