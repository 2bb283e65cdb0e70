#include "app/cli/run_support.h"

namespace tb::app {
namespace {

// A signal handler can reach only globals; lock-free atomics are safe to touch from one.
std::atomic<run::Runner*> watched_runner{nullptr};
std::atomic<bool> interrupt_seen{false};

extern "C" void on_interrupt(int) {
  interrupt_seen.store(true);
  if (auto* runner = watched_runner.load()) runner->request_stop();
}

}  // namespace

std::vector<std::string> run_overrides(std::vector<std::string> overrides, std::int64_t max_steps) {
  if (max_steps > 0) overrides.push_back("train.max_steps=" + std::to_string(max_steps));
  return overrides;
}

InterruptStopsRun::InterruptStopsRun() {
  interrupt_seen = false;
  watched_runner = nullptr;
  previous_ = std::signal(SIGINT, on_interrupt);
}

InterruptStopsRun::~InterruptStopsRun() {
  std::signal(SIGINT, previous_ == SIG_ERR ? SIG_DFL : previous_);
  watched_runner = nullptr;
}

void InterruptStopsRun::watch(run::Runner* runner) {
  watched_runner = runner;
  if (runner && interrupt_seen) runner->request_stop();
}

bool InterruptStopsRun::interrupted() const {
  return interrupt_seen.load();
}

}  // namespace tb::app
