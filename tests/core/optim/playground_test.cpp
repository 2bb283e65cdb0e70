// The optimizer playground: test functions, their gradients, and real optimizer paths on them.
#include <gtest/gtest.h>

#include <cmath>

#include "core/optim/playground.h"
#include "core/util/error.h"

namespace tb::optim {
namespace {

constexpr TestFunction kAll[] = {TestFunction::rosenbrock, TestFunction::beale,
                                 TestFunction::quadratic, TestFunction::saddle};

TEST(Playground, GradientsMatchFiniteDifferences) {
  for (auto fn : kAll) {
    for (auto [x, y] : {std::pair{0.3, -0.7}, {-1.2, 1.1}, {2.0, 0.4}}) {
      const auto g = gradient(fn, x, y);
      const double h = 1e-6;
      const double gx = (evaluate(fn, x + h, y) - evaluate(fn, x - h, y)) / (2 * h);
      const double gy = (evaluate(fn, x, y + h) - evaluate(fn, x, y - h)) / (2 * h);
      EXPECT_NEAR(g[0], gx, 1e-4 * std::max(1.0, std::abs(gx))) << test_function_name(fn);
      EXPECT_NEAR(g[1], gy, 1e-4 * std::max(1.0, std::abs(gy))) << test_function_name(fn);
    }
  }
}

TEST(Playground, MinimaAreWhereTheBooksSay) {
  EXPECT_EQ(evaluate(TestFunction::rosenbrock, 1, 1), 0.0);
  EXPECT_NEAR(evaluate(TestFunction::beale, 3, 0.5), 0.0, 1e-12);
  EXPECT_EQ(evaluate(TestFunction::quadratic, 0, 0), 0.0);
  for (auto fn : kAll) EXPECT_EQ(parse_test_function(test_function_name(fn)), fn);
  EXPECT_THROW(parse_test_function("himmelblau"), Error);
}

TEST(Playground, PlainSgdOnTheBowlIsGradientDescentExactly) {
  OptimizerSpec spec;
  spec.lr = 0.04;
  spec.momentum = 0.0;
  const auto path = optimizer_path(spec, TestFunction::quadratic, {-3.0, 2.0}, 50);
  ASSERT_EQ(path.points.size(), 51u);
  EXPECT_EQ(path.diverged_at, 0);
  EXPECT_FLOAT_EQ(path.points[0].x, -3.0f);
  // x_{t+1} = x_t (1 - 2 lr), y_{t+1} = y_t (1 - 20 lr): closed form after 50 steps.
  EXPECT_NEAR(path.points[50].x, -3.0 * std::pow(1 - 0.08, 50), 1e-5);
  EXPECT_NEAR(path.points[50].y, 2.0 * std::pow(1 - 0.8, 50), 1e-6);
  for (std::size_t i = 1; i < path.points.size(); ++i) {
    EXPECT_LT(path.points[i].f, path.points[i - 1].f) << i;
  }
}

TEST(Playground, DivergenceEndsThePathAtTheLastFinitePoint) {
  OptimizerSpec spec;
  spec.lr = 1.0;  // |1 - 20 lr| = 19 on y: grows 19-fold a step
  spec.momentum = 0.0;
  const auto path = optimizer_path(spec, TestFunction::quadratic, {1.0, 1.0}, 500);
  EXPECT_GT(path.diverged_at, 0);
  EXPECT_EQ(path.points.size(), static_cast<std::size_t>(path.diverged_at));
  for (const auto& p : path.points) EXPECT_TRUE(std::isfinite(p.f));
}

TEST(Playground, MomentumEscapesTheSaddleFasterThanPlainSgd) {
  OptimizerSpec plain;
  plain.lr = 0.01;
  plain.momentum = 0.0;
  OptimizerSpec heavy = plain;
  heavy.momentum = 0.9;
  const auto slow = optimizer_path(plain, TestFunction::saddle, {-1.5, 0.01}, 100);
  const auto fast = optimizer_path(heavy, TestFunction::saddle, {-1.5, 0.01}, 100);
  EXPECT_GT(std::abs(fast.points.back().y), 10 * std::abs(slow.points.back().y));
}

}  // namespace
}  // namespace tb::optim
