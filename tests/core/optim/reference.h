// The harness every optimizer is checked with: the engine's fp32 optimizer and a reference written
// from the published update rule in long double run side by side for 120 steps on random
// gradients, with parameter groups and a changing lr factor; then parameters and every state
// buffer are compared.
//
// Why the reference rounds to float after each step: the engine stores parameters and state in
// float32, so each step rounds them (half an ulp, 6e-8 relative). A reference that never rounds
// drifts away by the sum of those roundings (~1e-6 to 1e-5 over 120 steps with momentum carrying
// errors forward), which no fp32 implementation can beat. The reference therefore computes each
// step exactly in long double from the same stored float values, then rounds its stored values
// to float as the engine must. What remains is the engine's arithmetic error within one step
// (a few ulps of the *update*, far below an ulp of the parameter) plus the occasional one-ulp
// rounding flip, so a 1e-6 relative bound is both honest and tight: a wrong formula (eps inside
// the square root, decay after the step, a missing bias correction) is off by 1e-4 or more.
// Likewise the hyperparameters are the float32 values the engine's kernels receive.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/optim/optimizer.h"
#include "tests/core/optim/optim_test_util.h"
#include "tests/core/tensor/test_util.h"

namespace tb::optim::test {

// One element of one parameter in the reference: its value and up to three state values.
struct RefElement {
  long double p = 0.0L;
  std::array<long double, 3> s{};
};

// What a reference rule sees besides the element: this step's settings for its group.
struct RefStep {
  long double lr = 0.0L;  // base lr of the group times the lr factor, as the engine's float
  long double wd = 0.0L;  // the group's weight decay, as float
  std::int64_t t = 1;     // 1-based step
};

using RefRule = std::function<void(RefElement& e, long double grad, const RefStep& step)>;

// A state buffer the optimizer reports ("exp_avg") and which RefElement::s slot holds it.
struct RefBuffer {
  std::string name;
  int slot = 0;
};

inline long double as_float(double v) {
  return static_cast<long double>(static_cast<float>(v));
}
inline long double round_to_float(long double v) {
  return static_cast<long double>(static_cast<float>(v));
}

// The parameter groups every reference run uses: p1 at twice the lr, p2 with weight decay 0.2
// (its own), p0 on the optimizer's settings.
inline void add_test_groups(OptimizerSpec& spec) {
  spec.param_groups = {{.match = "p1", .lr = spec.lr * 2, .weight_decay = std::nullopt},
                       {.match = "p2", .lr = std::nullopt, .weight_decay = 0.2}};
}

// |got - want| / max|want| over one tensor: relative to the tensor's scale, so an element that
// happens to pass near zero does not turn a one-ulp difference into a huge relative error.
inline double scaled_error(const std::vector<float>& got, const std::vector<long double>& want) {
  long double diff = 0.0L, scale = 0.0L;
  for (std::size_t i = 0; i < got.size(); ++i) {
    diff = std::fmax(diff, std::fabs(static_cast<long double>(got[i]) - want[i]));
    scale = std::fmax(scale, std::fabs(want[i]));
  }
  return static_cast<double>(scale > 0.0L ? diff / scale : diff);
}

struct LookaheadRef {
  std::int64_t k = 0;
  long double alpha = 0.5L;
};

// Runs spec (groups added) and the reference `rule` for `steps` steps; lr factor 1 - step/240
// changes every step. Lookahead, if spec.lookahead.k > 0, is applied to the reference here.
// Returns the largest scaled error over parameters and buffers.
inline double run_against_reference(OptimizerSpec spec, const RefRule& rule,
                                    const std::vector<RefBuffer>& buffers, std::uint64_t seed,
                                    int steps = 120) {
  add_test_groups(spec);
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(seed);
  auto params = make_params(*backend, rng);
  auto optimizer = make_optimizer(*backend, pointers(params), spec);

  std::vector<std::vector<RefElement>> ref(params.size());
  std::vector<std::vector<long double>> slow(params.size());
  std::vector<double> base_lr(params.size(), spec.lr), wd(params.size(), spec.weight_decay);
  for (std::size_t k = 0; k < params.size(); ++k) {
    for (float v : test_util::to_vec(params[k].value)) {
      ref[k].push_back({.p = v, .s = {}});
      slow[k].push_back(v);
    }
    for (const auto& g : spec.param_groups) {
      if (params[k].name.find(g.match) == std::string::npos) continue;
      base_lr[k] = g.lr.value_or(spec.lr);
      wd[k] = g.weight_decay.value_or(spec.weight_decay);
      break;
    }
  }
  const auto initial = ref;
  const long double la_alpha = as_float(spec.lookahead.alpha);

  for (int step = 0; step < steps; ++step) {
    const double factor = 1.0 - step / 240.0;
    optimizer->set_lr_factor(factor);
    for (std::size_t k = 0; k < params.size(); ++k) {
      const auto g = test_util::random_floats(params[k].grad.numel(), rng);
      backend->upload(params[k].grad, g.data(), g.size() * sizeof(float));
      const RefStep rs{.lr = as_float(base_lr[k] * factor), .wd = as_float(wd[k]), .t = step + 1};
      for (std::size_t i = 0; i < g.size(); ++i) {
        auto& e = ref[k][i];
        rule(e, g[i], rs);
        e.p = round_to_float(e.p);
        for (auto& s : e.s) s = round_to_float(s);
      }
      if (spec.lookahead.k > 0 && (step + 1) % spec.lookahead.k == 0) {
        for (std::size_t i = 0; i < g.size(); ++i) {
          slow[k][i] = round_to_float(slow[k][i] + la_alpha * (ref[k][i].p - slow[k][i]));
          ref[k][i].p = slow[k][i];
        }
      }
    }
    optimizer->step();
  }

  double worst = 0.0, moved = 0.0;
  const auto state = optimizer->state();
  EXPECT_EQ(state.step, steps);
  std::size_t next = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    std::vector<long double> want;
    for (std::size_t i = 0; i < ref[k].size(); ++i) {
      want.push_back(ref[k][i].p);
      moved = std::max(moved, static_cast<double>(std::fabs(ref[k][i].p - initial[k][i].p)));
    }
    worst = std::max(worst, scaled_error(test_util::to_vec(params[k].value), want));
    for (const auto& b : buffers) {
      const std::string name = params[k].name + "." + b.name;
      if (next >= state.tensors.size() || state.tensors[next].first != name) {
        ADD_FAILURE() << "state buffer " << name << " missing or out of order";
        return 1.0;
      }
      std::vector<long double> want_state;
      long double largest = 0.0L;
      for (const auto& e : ref[k]) {
        want_state.push_back(e.s[static_cast<std::size_t>(b.slot)]);
        largest = std::fmax(largest, std::fabs(e.s[static_cast<std::size_t>(b.slot)]));
      }
      EXPECT_GT(largest, 0.0L) << name << " never moved: the comparison would prove nothing";
      worst = std::max(worst, scaled_error(state.tensors[next++].second, want_state));
    }
  }
  if (spec.lookahead.k > 0) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      const std::string name = params[k].name + ".lookahead_slow";
      if (next >= state.tensors.size() || state.tensors[next].first != name) {
        ADD_FAILURE() << "state buffer " << name << " missing or out of order";
        return 1.0;
      }
      worst = std::max(worst, scaled_error(state.tensors[next++].second, slow[k]));
    }
  }
  EXPECT_EQ(next, state.tensors.size()) << "the optimizer reports buffers the reference lacks";
  // The parameters must move far beyond the tolerance, or the comparison proves nothing.
  EXPECT_GT(moved, 0.05);
  return worst;
}

}  // namespace tb::optim::test
