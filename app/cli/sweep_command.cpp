// trainbench sweep PROJECT --set key=v1,v2,v3 [--set ...] [--name N] [--max-steps N] [--json]:
// trains the project once per point of the grid, each run a session named after its point, all of
// them one sweep in the store, then prints their summary side by side. A failing point is
// reported and the sweep goes on; Ctrl-C stops the current run and the sweep.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "app/cli/compare_report.h"
#include "app/cli/progress.h"
#include "app/cli/run_support.h"
#include "core/compare/compare_data.h"
#include "core/compare/compare_summary.h"
#include "core/compare/sweep_grid.h"
#include "core/run/runner.h"
#include "core/store/session_catalog.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

using nlohmann::json;

// The summary rows need a target; a sweep has no --target, so it uses compare's default.
constexpr double kTargetAccuracy = CompareCommand::kDefaultTarget;
// `trainbench compare` takes at most this many sessions.
constexpr std::size_t kCompareLimit = 20;

struct PointOutcome {
  std::string label;
  compare::SweepPoint point;
  bool ran = false;
  run::RunResult result;
};

// The part of a point that tells it from the others: a --set with one value is the same for
// every point (a plain override), so labels and session names show only the keys that vary,
// unless none does.
compare::SweepPoint labelled(const compare::SweepPoint& point,
                             const std::vector<compare::SweepAxis>& axes) {
  compare::SweepPoint varying;
  for (std::size_t a = 0; a < axes.size() && a < point.size(); ++a) {
    if (axes[a].values.size() > 1) varying.push_back(point[a]);
  }
  return varying.empty() ? point : varying;
}

std::string default_name(const std::string& project, const std::vector<compare::SweepAxis>& axes) {
  std::string varying, all;
  for (const auto& axis : axes) {
    if (axis.values.size() > 1) varying += (varying.empty() ? "" : ", ") + axis.key;
    all += (all.empty() ? "" : ", ") + axis.key;
  }
  return project + " sweep over " + (varying.empty() ? all : varying);
}

// {"optimizer.lr": ["0.1", "0.01"], ...} in axis order.
std::string grid_json(const std::vector<compare::SweepAxis>& axes) {
  nlohmann::ordered_json grid = nlohmann::ordered_json::object();
  for (const auto& axis : axes) grid[axis.key] = axis.values;
  return grid.dump();
}

void print_point(std::size_t index, std::size_t count, const PointOutcome& p) {
  std::printf("[%zu/%zu] %s: ", index + 1, count, p.label.c_str());
  const auto& r = p.result;
  if (!p.ran) {
    std::printf("not run (interrupted)\n");
    return;
  }
  if (r.status == "failed") {
    std::printf("failed: %s", r.error.c_str());
  } else {
    std::printf("%s, test accuracy %.4f, %.0f samples/s, %.1f s", r.status.c_str(), r.test_accuracy,
                r.samples_per_s, r.wall_s);
  }
  if (r.session.valid()) std::printf(" (session %lld)", static_cast<long long>(r.session.value));
  std::printf("\n");
  std::fflush(stdout);
}

json point_json(const PointOutcome& p) {
  json overrides = json::object();
  for (const auto& [key, value] : p.point) overrides[key] = value;
  const auto& r = p.result;
  json out = {{"label", p.label},
              {"overrides", overrides},
              {"session_id", r.session.valid() ? json(r.session.value) : json(nullptr)},
              {"status", p.ran ? r.status : "not run"}};
  if (p.ran && r.status != "failed") {
    out["test_accuracy"] = r.test_accuracy;
    out["samples_per_s"] = r.samples_per_s;
    out["wall_s"] = r.wall_s;
  }
  if (!r.error.empty()) out["error"] = r.error;
  return out;
}

}  // namespace

int run_sweep(const SweepCommand& command) {
  const auto axes = compare::parse_sweep_axes(command.axes);
  if (axes.empty()) {
    std::fprintf(stderr, "error: sweep needs at least one --set key=v1,v2,...\n");
    return kExitBadInput;
  }
  const auto points = compare::sweep_points(axes);

  // Every point's project is read and checked before anything runs: a mistyped value is bad
  // input, answered at once, not a failure found an hour into the sweep.
  std::vector<PointOutcome> outcomes;
  std::vector<run::Project> projects;
  for (const auto& point : points) {
    std::vector<std::string> overrides;
    for (const auto& [key, value] : point) overrides.push_back(key + "=" + value);
    PointOutcome outcome{compare::point_label(labelled(point, axes)), point, false, {}};
    try {
      projects.push_back(
          run::Project::load(command.project_file, run_overrides(overrides, command.max_steps)));
    } catch (const Error& e) {
      throw Error("point " + outcome.label + ": " + e.what());
    }
    outcomes.push_back(std::move(outcome));
  }
  const std::string project_name = projects.front().name;
  const std::string sweep_name =
      command.name.empty() ? default_name(project_name, axes) : command.name;

  store::SessionStore store(command.db_path);
  const store::SweepId sweep =
      store::create_sweep(store, sweep_name, project_name, grid_json(axes));
  if (!command.json) {
    std::printf("sweep %lld \"%s\": %zu points of %s\n", static_cast<long long>(sweep.value),
                sweep_name.c_str(), points.size(), command.project_file.c_str());
    std::fflush(stdout);
  }

  const bool quiet = command.json && !isatty(fileno(stderr));
  ProgressPrinter progress(stderr, quiet);
  bool any_failed = false;
  bool interrupted = false;
  {
    InterruptStopsRun interrupt;
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      auto& outcome = outcomes[i];
      if (interrupt.interrupted()) {
        interrupted = true;
        break;
      }
      if (!quiet) {
        std::fprintf(stderr, "[%zu/%zu] %s\n", i + 1, outcomes.size(), outcome.label.c_str());
      }
      // The runner names the session after its point and puts it in the sweep as it creates it,
      // so a sweep stopped half-way (or a point that fails early) still holds every session.
      run::Runner runner(projects[i], {command.db_path,
                                       &progress,
                                       command.project_file.string(),
                                       {},
                                       projects[i].name + " [" + outcome.label + "]",
                                       sweep});
      interrupt.watch(&runner);
      try {
        outcome.result = runner.run();
      } catch (const Error& e) {  // the session could not even be created
        outcome.result.status = "failed";
        outcome.result.error = e.what();
      }
      interrupt.watch(nullptr);
      outcome.ran = true;
      if (outcome.result.status == "failed" || !outcome.result.error.empty()) any_failed = true;
      if (!command.json) print_point(i, outcomes.size(), outcome);
    }
    interrupted = interrupted || interrupt.interrupted();
  }
  if (interrupted && !command.json) {
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
      if (!outcomes[i].ran) print_point(i, outcomes.size(), outcomes[i]);
    }
  }

  const auto ids = store::sweep_sessions(store, sweep);
  std::vector<compare::SessionData> sessions;
  if (!ids.empty()) {
    sessions = compare::load_sessions(command.db_path, ids, compare::summary_metric_keys());
  }
  const auto summary = compare::summarize(sessions, kTargetAccuracy);
  const std::vector<store::SessionId> compared(
      ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), kCompareLimit)));
  const std::string compare_line =
      compared.size() >= 2 ? compare_command_line(compared, command.db_path) : "";

  if (command.json) {
    json point_list = json::array();
    for (const auto& outcome : outcomes) point_list.push_back(point_json(outcome));
    json session_ids = json::array();
    for (const auto id : ids) session_ids.push_back(id.value);
    std::cout << json{{"sweep_id", sweep.value},
                      {"name", sweep_name},
                      {"project", project_name},
                      {"grid", json::parse(grid_json(axes))},
                      {"db", command.db_path.string()},
                      {"interrupted", interrupted},
                      {"points", point_list},
                      {"sessions", session_ids},
                      {"summary", summary_json(summary)},
                      {"compare", compare_line.empty() ? json(nullptr) : json(compare_line)}}
                     .dump()
              << std::endl;
  } else {
    if (!sessions.empty()) {
      std::printf("\nsweep %lld, %zu session%s:\n", static_cast<long long>(sweep.value),
                  sessions.size(), sessions.size() == 1 ? "" : "s");
      print_sessions(sessions);
      print_summary_table(sessions, summary);
    }
    if (!compare_line.empty()) {
      std::printf("compare them: %s%s\n", compare_line.c_str(),
                  ids.size() > kCompareLimit ? " (the first 20; compare takes at most 20)" : "");
    }
    if (interrupted) std::printf("sweep interrupted\n");
  }
  return any_failed || interrupted ? kExitRunFailed : kExitOk;
}

}  // namespace tb::app
