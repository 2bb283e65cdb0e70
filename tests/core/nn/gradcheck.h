// Finite-difference gradient checks for layers, in the style of llm.c / ggml's test-grad0.
//
// The scalar objective is L = sum(forward(x) * R) for a fixed random R, so dL/dy = R and the
// analytic gradients are what backward(R) returns. Central differences of L are taken in double
// around float perturbations of one coordinate at a time; the step divides by the perturbation
// actually stored in float, not by the nominal 2 * eps.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "core/nn/layer.h"
#include "tests/core/tensor/test_util.h"

namespace tb::test_util {

// sum(y * r) in double.
inline double weighted_sum(const Tensor& y, const std::vector<float>& r) {
  const float* p = y.data();
  double s = 0.0;
  for (std::size_t i = 0; i < r.size(); ++i) s += static_cast<double>(p[i]) * r[i];
  return s;
}

// Every coordinate when there are at most `limit`, else `limit` distinct random ones.
inline std::vector<std::int64_t> pick_coords(std::int64_t n, std::size_t limit,
                                             std::mt19937_64& rng) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  if (all.size() <= limit) return all;
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(limit);
  std::sort(all.begin(), all.end());
  return all;
}

// Central differences of `objective` with respect to v[i] for each i in coords; v is restored.
inline std::vector<double> numeric_grad(float* v, const std::vector<std::int64_t>& coords,
                                        float eps, const std::function<double()>& objective) {
  std::vector<double> g;
  g.reserve(coords.size());
  for (auto i : coords) {
    const float saved = v[i];
    const float up = saved + eps, down = saved - eps;
    v[i] = up;
    const double l_up = objective();
    v[i] = down;
    const double l_down = objective();
    v[i] = saved;
    g.push_back((l_up - l_down) / (static_cast<double>(up) - static_cast<double>(down)));
  }
  return g;
}

inline std::vector<float> gather(const std::vector<float>& v,
                                 const std::vector<std::int64_t>& coords) {
  std::vector<float> out;
  out.reserve(coords.size());
  for (auto i : coords) out.push_back(v[static_cast<std::size_t>(i)]);
  return out;
}

struct GradCheckOptions {
  float eps = 1e-2f;
  // Observed errors are ~1e-5 (float rounding in the objective divided by the step); 2e-3 leaves
  // margin for that noise while still catching a gradient a few percent off.
  double tol = 2e-3;
  std::size_t max_coords = 96;  // per tensor
  bool training = true;
  bool check_input = true;
};

// Checks backward() of `layer` at input x against central differences, for the input and every
// parameter. Also checks that backward() overwrites parameter gradients (a second call with the
// same dy gives the same gradients, not twice them).
inline void check_layer_gradients(Backend& backend, nn::Layer& layer, Tensor& x,
                                  std::mt19937_64& rng, const GradCheckOptions& opt = {}) {
  const Tensor& y0 = layer.forward(x, opt.training);
  ASSERT_EQ(y0.shape(), layer.output_shape(x.shape())) << layer.describe();
  const auto r = random_floats(static_cast<std::size_t>(y0.numel()), rng);
  Tensor dy = from_vec(backend, y0.shape(), r);

  const Tensor& dx = layer.backward(dy);
  std::vector<float> analytic_dx;
  if (opt.check_input) {
    ASSERT_TRUE(dx.defined()) << layer.describe() << ": no input gradient";
    ASSERT_EQ(dx.shape(), x.shape()) << layer.describe() << ": input gradient has the wrong shape";
    analytic_dx = to_vec(dx);
  }
  std::vector<std::vector<float>> analytic_params;
  for (nn::Parameter* p : layer.parameters()) {
    ASSERT_EQ(p->grad.shape(), p->value.shape()) << p->name;
    analytic_params.push_back(to_vec(p->grad));
  }
  layer.backward(dy);
  for (std::size_t k = 0; k < analytic_params.size(); ++k) {
    EXPECT_EQ(to_vec(layer.parameters()[k]->grad), analytic_params[k])
        << layer.describe() << " " << layer.parameters()[k]->name
        << ": a second backward changed the gradient (accumulating instead of overwriting?)";
  }

  const auto objective = [&] { return weighted_sum(layer.forward(x, opt.training), r); };
  if (opt.check_input) {
    const auto coords = pick_coords(x.numel(), opt.max_coords, rng);
    const auto numeric = numeric_grad(x.data(), coords, opt.eps, objective);
    const auto analytic = gather(analytic_dx, coords);
    const double err = max_rel_error(analytic, numeric);
    EXPECT_LT(err, opt.tol) << layer.describe() << ": input gradient off by " << err;
  }
  for (std::size_t k = 0; k < analytic_params.size(); ++k) {
    nn::Parameter* p = layer.parameters()[k];
    const auto coords = pick_coords(p->value.numel(), opt.max_coords, rng);
    const auto numeric = numeric_grad(p->value.data(), coords, opt.eps, objective);
    const auto analytic = gather(analytic_params[k], coords);
    const double err = max_rel_error(analytic, numeric);
    EXPECT_LT(err, opt.tol) << layer.describe() << " " << p->name << ": gradient off by " << err;
  }
}

}  // namespace tb::test_util
