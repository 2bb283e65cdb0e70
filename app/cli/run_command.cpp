#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "app/cli/cupti_summary.h"
#include "app/cli/progress.h"
#include "app/cli/run_support.h"
#include "core/dist/communicator.h"
#include "core/run/runner.h"
#include "core/store/session_store.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

run::Project resumed_project(const std::filesystem::path& db_path, store::SessionId id,
                             const std::vector<std::string>& overrides) {
  const std::string name = "session " + std::to_string(id.value);
  if (!std::filesystem::exists(db_path))
    throw Error("--resume: no session database at " + db_path.string());
  store::SessionStore store(db_path, store::SessionStore::Mode::read_only);
  const auto session = store.session(id);
  if (!session) throw Error("--resume: no " + name + " in " + db_path.string());
  auto doc = nlohmann::json::parse(session->project_json, nullptr, false);
  if (doc.is_discarded())
    throw Error("--resume: the project stored with " + name + " is not valid JSON");
  // The stored limit is what interrupted the first run: resuming goes on to the project's epochs
  // unless --max-steps or --set says otherwise.
  run::apply_override(doc, "train.max_steps=0");
  for (const auto& assignment : overrides) run::apply_override(doc, assignment);
  return run::Project::from_json(doc, name);
}

std::string loader_count(const store::Params& params, const std::string& key) {
  for (const auto& [k, v] : params) {
    if (k == key) return v;
  }
  return "0";
}

// What the pipeline left out, when it left anything out: nothing is dropped without a word.
void print_loader_counts(const store::Params& loader) {
  const std::string unreadable = loader_count(loader, "loader.skipped_records");
  if (loader_count(loader, "loader.mode") == "stream") {
    std::printf(
        "stream: %s records read, %s repeats left out (Bloom filter, expected false-positive rate "
        "%s), %s unreadable records skipped\n",
        loader_count(loader, "loader.read").c_str(),
        loader_count(loader, "loader.duplicates_skipped").c_str(),
        loader_count(loader, "loader.dedup_false_positive_rate").c_str(), unreadable.c_str());
  } else if (unreadable != "0") {
    std::printf("loader: %s unreadable records skipped (data.loader.on_error \"skip\")\n",
                unreadable.c_str());
  }
}

}  // namespace

int run_project(const RunCommand& command) {
  const std::vector<std::string> overrides = run_overrides(command.overrides, command.max_steps);
  run::RunOptions options{command.db_path, nullptr, command.project_file.string(), {}, {}, {}};
  run::Project project;
  if (command.resume > 0) {
    // The project is the one the session ran, with any --set applied on top (say, more epochs).
    options.resume_from = store::SessionId{command.resume};
    options.source = "session " + std::to_string(command.resume);
    project = resumed_project(command.db_path, options.resume_from, overrides);
  } else {
    project = run::Project::load(command.project_file, overrides);
  }

  // Under mpirun only rank 0 shows progress (the others' lines would interleave with it).
  const bool quiet = (command.json && !isatty(fileno(stderr))) || dist::launched_rank() != 0;
  ProgressPrinter progress(stderr, quiet);
  options.observer = &progress;
  run::Runner runner(project, options);
  run::RunResult result;
  {
    // Ctrl-C stops the run after the current step; the session is kept, marked "stopped".
    InterruptStopsRun interrupt;
    interrupt.watch(&runner);
    result = runner.run();
    interrupt.watch(nullptr);
  }

  // Rank 0 stores the session; what CUPTI dropped is in its settings, not in the result.
  const auto cupti = result.rank == 0 && result.status != "failed"
                         ? stored_cupti_tracing(command.db_path, result.session)
                         : std::nullopt;
  if (command.json) {
    nlohmann::json out = run::to_json(result);
    out["db"] = command.db_path.string();
    if (cupti) out["cupti"] = cupti_json(*cupti);
    std::cout << out.dump() << std::endl;
  } else {
    if (result.status == "failed") {
      std::fprintf(stderr, "error: %s\n", result.error.c_str());
    } else if (result.rank != 0) {
      // Rank 0 reports the job (its session, its evaluation); the others say nothing more.
    } else {
      std::printf(
          "%s after %lld steps (%lld epochs) in %.1f s: test accuracy %.4f, train loss "
          "%.4f, %.0f samples/s\n",
          result.status.c_str(), static_cast<long long>(result.steps),
          static_cast<long long>(result.epochs), result.wall_s, result.test_accuracy,
          result.train_loss, result.samples_per_s);
      std::printf(
          "precision %s: activations held for backward %.1f KiB (workspace %.1f KiB), weights "
          "%.1f KiB",
          result.precision.c_str(), static_cast<double>(result.activation_bytes) / 1024.0,
          static_cast<double>(result.activation_workspace_bytes) / 1024.0,
          static_cast<double>(result.weight_bytes) / 1024.0);
      if (result.precision == "fp16") {
        std::printf(", %lld steps skipped by loss scaling",
                    static_cast<long long>(result.skipped_steps));
      }
      std::printf("\n");
      if (result.train_s > 0) {
        std::printf("data wait: %.1f%% of step time (%.2f s of %.2f s)\n",
                    100.0 * result.data_wait_s / result.train_s, result.data_wait_s,
                    result.train_s);
      }
      print_loader_counts(result.loader);
      if (cupti) std::printf("%s\n", cupti_line(*cupti).c_str());
      if (result.ranks > 1) {
        std::printf("%lld ranks: gradient all-reduces %.2f s, %.0f%% of it hidden under backward\n",
                    static_cast<long long>(result.ranks), result.communication_s,
                    result.communication_s > 0
                        ? 100.0 * result.communication_hidden_s / result.communication_s
                        : 0.0);
      }
      if (result.dense_grad_bytes > 0) {
        std::printf(
            "embedding gradients: row-sparse %.1f KiB (largest step) vs dense %.1f KiB (%.1fx "
            "smaller)\n",
            static_cast<double>(result.sparse_grad_bytes) / 1024.0,
            static_cast<double>(result.dense_grad_bytes) / 1024.0,
            static_cast<double>(result.dense_grad_bytes) /
                static_cast<double>(std::max<std::int64_t>(1, result.sparse_grad_bytes)));
      }
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
