#include "core/optim/playground.h"

#include <cmath>

#include "core/util/error.h"

namespace tb::optim {

TestFunction parse_test_function(std::string_view name) {
  if (name == "rosenbrock") return TestFunction::rosenbrock;
  if (name == "beale") return TestFunction::beale;
  if (name == "quadratic") return TestFunction::quadratic;
  if (name == "saddle") return TestFunction::saddle;
  throw Error("--fn must be one of rosenbrock, beale, quadratic, saddle (got '" +
              std::string(name) + "')");
}

const char* test_function_name(TestFunction fn) {
  switch (fn) {
    case TestFunction::rosenbrock:
      return "rosenbrock";
    case TestFunction::beale:
      return "beale";
    case TestFunction::quadratic:
      return "quadratic";
    case TestFunction::saddle:
      return "saddle";
  }
  return "?";
}

double evaluate(TestFunction fn, double x, double y) {
  switch (fn) {
    case TestFunction::rosenbrock:
      return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x);
    case TestFunction::beale: {
      const double a = 1.5 - x + x * y, b = 2.25 - x + x * y * y, c = 2.625 - x + x * y * y * y;
      return a * a + b * b + c * c;
    }
    case TestFunction::quadratic:
      return x * x + 10 * y * y;
    case TestFunction::saddle:
      return x * x - y * y;
  }
  return 0.0;
}

std::array<double, 2> gradient(TestFunction fn, double x, double y) {
  switch (fn) {
    case TestFunction::rosenbrock:
      return {-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)};
    case TestFunction::beale: {
      const double a = 1.5 - x + x * y, b = 2.25 - x + x * y * y, c = 2.625 - x + x * y * y * y;
      return {2 * a * (y - 1) + 2 * b * (y * y - 1) + 2 * c * (y * y * y - 1),
              2 * a * x + 2 * b * 2 * x * y + 2 * c * 3 * x * y * y};
    }
    case TestFunction::quadratic:
      return {2 * x, 20 * y};
    case TestFunction::saddle:
      return {2 * x, -2 * y};
  }
  return {0.0, 0.0};
}

std::array<double, 2> default_start(TestFunction fn) {
  switch (fn) {
    case TestFunction::rosenbrock:
      return {-1.5, 2.0};
    case TestFunction::beale:
      return {1.0, 1.5};
    case TestFunction::quadratic:
      return {-3.0, 2.0};
    case TestFunction::saddle:
      return {-1.5, 0.01};
  }
  return {0.0, 0.0};
}

OptimizerPath optimizer_path(const OptimizerSpec& spec, TestFunction fn,
                             std::array<double, 2> start, std::int64_t steps) {
  if (steps < 0) throw Error("--steps must be >= 0");
  auto backend = tensor::make_cpu_backend(1);
  nn::Parameter xy{"xy", backend->empty({2}), backend->zeros({2})};
  float host[2] = {static_cast<float>(start[0]), static_cast<float>(start[1])};
  backend->upload(xy.value, host, sizeof host);
  auto optimizer = make_optimizer(*backend, {&xy}, spec);

  OptimizerPath path;
  path.points.push_back({host[0], host[1], evaluate(fn, host[0], host[1])});
  for (std::int64_t step = 1; step <= steps; ++step) {
    const auto g = gradient(fn, host[0], host[1]);
    const float grad[2] = {static_cast<float>(g[0]), static_cast<float>(g[1])};
    backend->upload(xy.grad, grad, sizeof grad);
    optimizer->step();
    backend->download(xy.value, host, sizeof host);
    const double f = evaluate(fn, host[0], host[1]);
    if (!std::isfinite(host[0]) || !std::isfinite(host[1]) || !std::isfinite(f)) {
      path.diverged_at = step;
      break;
    }
    path.points.push_back({host[0], host[1], f});
  }
  return path;
}

}  // namespace tb::optim
