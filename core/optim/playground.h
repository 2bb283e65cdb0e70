// The optimizer playground: an optimizer's path over a 2-D test function, so a user sees why
// Lion or Nesterov behaves as it does before spending GPU hours. Runs the engine's real optimizer
// code (make_optimizer on a two-element parameter), not a re-implementation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/optim/optimizer.h"

namespace tb::optim {

enum class TestFunction { rosenbrock, beale, quadratic, saddle };

// "rosenbrock" | "beale" | "quadratic" | "saddle"; throws tb::Error listing them otherwise.
TestFunction parse_test_function(std::string_view name);
const char* test_function_name(TestFunction fn);

// rosenbrock (1-x)^2 + 100(y-x^2)^2, minimum (1, 1); beale, minimum (3, 0.5);
// quadratic x^2 + 10 y^2 (ill-conditioned bowl), minimum (0, 0); saddle x^2 - y^2 (no minimum:
// shows which optimizers escape along y).
double evaluate(TestFunction fn, double x, double y);
std::array<double, 2> gradient(TestFunction fn, double x, double y);
std::array<double, 2> default_start(TestFunction fn);

struct PathPoint {
  double x = 0.0, y = 0.0, f = 0.0;
};

struct OptimizerPath {
  std::vector<PathPoint> points;  // the start, then one point per step
  std::int64_t diverged_at = 0;   // the step whose point was not finite (0: never); the path ends
                                  // at the last finite point
};

OptimizerPath optimizer_path(const OptimizerSpec& spec, TestFunction fn,
                             std::array<double, 2> start, std::int64_t steps);

}  // namespace tb::optim
