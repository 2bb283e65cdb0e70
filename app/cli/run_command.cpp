#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "app/cli/progress.h"
#include "core/run/runner.h"

namespace tb::app {
namespace {

// Ctrl-C stops the run after the current step; the session is kept, marked "stopped".
std::atomic<run::Runner*> interrupted_runner{nullptr};
extern "C" void on_interrupt(int) {
  if (auto* runner = interrupted_runner.load()) runner->request_stop();
}

}  // namespace

int run_project(const RunCommand& command) {
  std::vector<std::string> overrides = command.overrides;
  if (command.max_steps > 0)
    overrides.push_back("train.max_steps=" + std::to_string(command.max_steps));
  const auto project = run::Project::load(command.project_file, overrides);

  const bool quiet = command.json && !isatty(fileno(stderr));
  ProgressPrinter progress(stderr, quiet);
  run::Runner runner(project, {command.db_path, &progress, command.project_file.string()});
  interrupted_runner = &runner;
  auto previous = std::signal(SIGINT, on_interrupt);
  const run::RunResult result = runner.run();
  std::signal(SIGINT, previous);
  interrupted_runner = nullptr;

  if (command.json) {
    nlohmann::json out = run::to_json(result);
    out["db"] = command.db_path.string();
    std::cout << out.dump() << std::endl;
  } else {
    if (result.status == "failed") {
      std::fprintf(stderr, "error: %s\n", result.error.c_str());
    } else {
      std::printf(
          "%s after %lld steps (%lld epochs) in %.1f s: test accuracy %.4f, train loss "
          "%.4f, %.0f samples/s\n",
          result.status.c_str(), static_cast<long long>(result.steps),
          static_cast<long long>(result.epochs), result.wall_s, result.test_accuracy,
          result.train_loss, result.samples_per_s);
      std::printf("precision %s: activations held for backward %.1f KiB (workspace %.1f KiB)",
                  result.precision.c_str(), static_cast<double>(result.activation_bytes) / 1024.0,
                  static_cast<double>(result.activation_workspace_bytes) / 1024.0);
      if (result.precision == "fp16") {
        std::printf(", %lld steps skipped by loss scaling",
                    static_cast<long long>(result.skipped_steps));
      }
      std::printf("\n");
      if (result.session.valid()) {
        std::printf("session %lld stored in %s\n", static_cast<long long>(result.session.value),
                    command.db_path.c_str());
      }
    }
  }
  if (result.status == "failed" && command.json) {
    std::fprintf(stderr, "error: %s\n", result.error.c_str());
  }
  return result.status == "failed" ? kExitRunFailed : kExitOk;
}

}  // namespace tb::app
