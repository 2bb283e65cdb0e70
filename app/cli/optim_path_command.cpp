#include <cstdio>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "app/cli/cli.h"
#include "app/cli/commands.h"
#include "core/optim/playground.h"
#include "core/run/project.h"
#include "core/util/error.h"

namespace tb::app {
namespace {

// "A,B" -> two numbers; `what` names the option in the error.
std::array<double, 2> parse_pair(const std::string& text, const char* what) {
  std::stringstream in(text);
  std::array<double, 2> pair{};
  char comma = 0;
  if (!(in >> pair[0] >> comma >> pair[1]) || comma != ',' || !in.eof()) {
    throw Error(std::string(what) + " expects two numbers as A,B (got '" + text + "')");
  }
  return pair;
}

}  // namespace

int optimizer_path(const OptimPathCommand& command) {
  // The settings go through the project file's own validation, so the playground accepts exactly
  // what a project does, with the same defaults per optimizer and the same error messages.
  nlohmann::json section = command.settings;
  section["type"] = command.optimizer;
  if (!command.betas.empty()) {
    const auto betas = parse_pair(command.betas, "--betas");
    section["betas"] = {betas[0], betas[1]};
  }
  const auto project = run::Project::from_json({{"optimizer", section}}, "optim-path");
  const auto fn = optim::parse_test_function(command.function);
  const auto start =
      command.start.empty() ? optim::default_start(fn) : parse_pair(command.start, "--start");
  const auto path = optim::optimizer_path(project.optimizer, fn, start, command.steps);

  if (command.json) {
    nlohmann::json points = nlohmann::json::array();
    for (const auto& p : path.points) points.push_back({p.x, p.y, p.f});
    nlohmann::json out = {{"optimizer", project.to_json()["optimizer"]},
                          {"fn", optim::test_function_name(fn)},
                          {"path", points}};
    if (path.diverged_at) out["diverged_at_step"] = path.diverged_at;
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::printf("%8s  %14s  %14s  %14s\n", "step", "x", "y", "f(x, y)");
  for (std::size_t i = 0; i < path.points.size(); ++i) {
    const auto& p = path.points[i];
    std::printf("%8zu  %14.6g  %14.6g  %14.6g\n", i, p.x, p.y, p.f);
  }
  if (path.diverged_at) {
    std::printf("diverged at step %lld (not finite): try a lower --lr\n",
                static_cast<long long>(path.diverged_at));
  }
  return kExitOk;
}

}  // namespace tb::app
