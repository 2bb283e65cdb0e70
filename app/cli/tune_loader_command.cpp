// `trainbench tune-loader PROJECT`: what tf.data's autotune does, shown to the user. Trains the
// project for a few seconds with each worker count and prefetch depth, on the real pipeline and
// the real model, and reports each setting's throughput and data-wait share, fastest first.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/data/formats/splits.h"
#include "core/run/runner.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

struct Trial {
  std::int64_t workers = 0;
  std::int64_t prefetch = 0;
  double samples_per_s = 0.0;
  double data_wait_share = 0.0;
  std::int64_t steps = 0;
  std::string error;
};

// Trains `steps` steps with the given loader settings, nothing stored.
Trial run_trial(run::Project project, std::int64_t workers, std::int64_t prefetch,
                std::int64_t steps) {
  project.data.loader.workers = workers;
  project.data.loader.prefetch = prefetch;
  project.train.max_steps = steps;
  project.train.checkpoint = "none";
  const auto result = run::Runner(project, {}).run();
  Trial trial;
  trial.workers = workers;
  trial.prefetch = prefetch;
  if (result.status == "failed") {
    trial.error = result.error;
    return trial;
  }
  trial.steps = result.steps;
  trial.samples_per_s = result.samples_per_s;
  trial.data_wait_share = result.train_s > 0 ? result.data_wait_s / result.train_s : 0.0;
  return trial;
}

}  // namespace

int tune_loader(const TuneLoaderCommand& command) {
  const auto project = run::Project::load(command.project_file, command.overrides);
  if (!data::is_dataset_format(project.data.dataset)) {
    std::fprintf(stderr,
                 "error: %s: data.dataset \"%s\" is generated in memory; tune-loader tunes "
                 "the pipeline of file datasets\n",
                 command.project_file.c_str(), project.data.dataset.c_str());
    return kExitBadInput;
  }
  // Steps per trial from a short calibration run at the project's own settings.
  const Trial calibration =
      run_trial(project, project.data.loader.workers, project.data.loader.prefetch, 20);
  if (!calibration.error.empty()) throw Error(calibration.error);
  const double steps_per_s =
      calibration.samples_per_s / static_cast<double>(project.data.batch_size);
  const auto steps = std::max<std::int64_t>(
      20, static_cast<std::int64_t>(steps_per_s * command.seconds_per_trial));

  // Streaming decodes on worker threads only.
  std::vector<std::int64_t> worker_counts{1, 2};
  if (project.data.loader.mode != "stream") worker_counts.insert(worker_counts.begin(), 0);
  const auto cores = static_cast<std::int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  for (std::int64_t w = 4; w <= cores; w *= 2) worker_counts.push_back(w);
  std::vector<Trial> trials;
  for (const auto workers : worker_counts) {
    for (const std::int64_t prefetch : {2, 8}) {
      if (workers == 0 && prefetch != 2) continue;  // no queue without workers
      if (!command.json) {
        std::fprintf(stderr, "trying workers %lld, prefetch %lld (%lld steps)...\n",
                     static_cast<long long>(workers), static_cast<long long>(prefetch),
                     static_cast<long long>(steps));
      }
      trials.push_back(run_trial(project, workers, prefetch, steps));
    }
  }
  std::stable_sort(trials.begin(), trials.end(), [](const Trial& a, const Trial& b) {
    return a.samples_per_s > b.samples_per_s;
  });
  if (command.json) {
    nlohmann::json out = {{"project", command.project_file.string()}, {"steps_per_trial", steps}};
    out["trials"] = nlohmann::json::array();
    for (const auto& t : trials) {
      out["trials"].push_back({{"workers", t.workers},
                               {"prefetch", t.prefetch},
                               {"samples_per_s", t.samples_per_s},
                               {"data_wait_share", t.data_wait_share},
                               {"error", t.error}});
    }
    out["best"] = {{"workers", trials.front().workers}, {"prefetch", trials.front().prefetch}};
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::printf("%-8s %-9s %12s %10s\n", "workers", "prefetch", "samples/s", "data wait");
  for (const auto& t : trials) {
    if (!t.error.empty()) {
      std::printf("%-8lld %-9lld failed: %s\n", static_cast<long long>(t.workers),
                  static_cast<long long>(t.prefetch), t.error.c_str());
      continue;
    }
    std::printf("%-8lld %-9lld %12.0f %9.1f%%\n", static_cast<long long>(t.workers),
                static_cast<long long>(t.prefetch), t.samples_per_s, 100.0 * t.data_wait_share);
  }
  const auto& best = trials.front();
  std::printf(
      "fastest: data.loader.workers %lld, data.loader.prefetch %lld (%.0f samples/s, data "
      "wait %.1f%% of step time)\n",
      static_cast<long long>(best.workers), static_cast<long long>(best.prefetch),
      best.samples_per_s, 100.0 * best.data_wait_share);
  return kExitOk;
}

}  // namespace tb::app
