// make_optimizer("sgd"): option validation, and 120 steps against a long double reference that
// follows torch.optim.SGD line by line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/nn/layer.h"
#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/core/optim/optim_test_util.h"
#include "tests/core/tensor/test_util.h"

namespace tb::optim {
namespace {

using nn::Parameter;
using test::make_params;
using test::pointers;
using test::sgd_spec;
using test_util::from_vec;
using test_util::random_floats;
using test_util::to_vec;

TEST(Sgd, ValidatesOptions) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(1);
  auto params = make_params(*backend, rng);
  auto expect_error = [&](const OptimizerSpec& o, const std::string& names) {
    try {
      make_optimizer(*backend, pointers(params), o);
      ADD_FAILURE() << "accepted options that should name " << names;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
  };
  // The message starts with the field as the project file spells it.
  expect_error(sgd_spec(-0.1), "optimizer.lr must be >= 0 (got -0.1)");
  expect_error(sgd_spec(std::nan("")), "optimizer.lr");
  expect_error(sgd_spec(0.1, -0.5), "optimizer.momentum");
  expect_error(sgd_spec(0.1, 0.0, 0.0, -1e-4), "optimizer.weight_decay");
  expect_error(sgd_spec(0.1, 0.0, 0.0, 0.0, true), "optimizer.nesterov");
  expect_error(sgd_spec(0.1, 0.9, 0.1, 0.0, true), "optimizer.nesterov");
  expect_error(sgd_spec(0.1, 0.9, 1.5), "optimizer.dampening");

  // Valid corners: lr 0, torch's defaults (no momentum) and the project's (momentum 0.9).
  EXPECT_NO_THROW(make_optimizer(*backend, pointers(params), sgd_spec(0.0)));
  EXPECT_NO_THROW(make_optimizer(*backend, pointers(params), sgd_spec(0.1)));
  EXPECT_NO_THROW(make_optimizer(*backend, pointers(params), OptimizerSpec{}));
  EXPECT_NO_THROW(make_optimizer(*backend, pointers(params), sgd_spec(0.1, 0.9, 0.0, 0.0, true)));
  auto sgd = make_optimizer(*backend, pointers(params), sgd_spec(0.25));
  EXPECT_EQ(sgd->name(), "sgd");
  EXPECT_EQ(sgd->lr(), 0.25);
}

// torch.optim.SGD.step() for one parameter, in long double:
//   d_p = grad;  if wd: d_p = d_p + wd * p
//   if momentum: buf = d_p.clone() on the first step, else buf = momentum*buf + (1-dampening)*d_p
//                d_p = d_p + momentum*buf if nesterov else buf
//   p = p - lr * d_p
struct Reference {
  std::vector<long double> p, buf;
  bool has_buf = false;

  void step(const std::vector<float>& grad, const OptimizerSpec& o, long double lr) {
    if (!has_buf) buf.assign(p.size(), 0.0L);
    for (std::size_t i = 0; i < p.size(); ++i) {
      long double d = grad[i];
      if (o.weight_decay != 0.0) d += static_cast<long double>(o.weight_decay) * p[i];
      if (o.momentum != 0.0) {
        const long double m = o.momentum;
        buf[i] = has_buf ? m * buf[i] + (1.0L - static_cast<long double>(o.dampening)) * d : d;
        d = o.nesterov ? d + m * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
    has_buf = true;
  }
};

// 120 steps with fresh random gradients each step, the learning rate halved by set_lr_factor()
// at step 60. Tolerance: the engine works in float32 (parameters, velocity and the options all
// rounded to float), so every step rounds p by up to half an ulp (3e-8 relative at |p| ~ 1) and the
// velocity likewise, and momentum 0.9 carries each velocity error into ~10 later steps. Rounding
// mostly cancels (observed: 4e-7 to 1.2e-6 after 120 steps), but a bound must allow it to add up
// (120 steps x ~6e-8 = 7e-6), hence 1e-5 relative to max(1, |p|). Any formula mistake (dampening
// on the first step, the wrong Nesterov term, decay applied after momentum) is off by >= 1e-3.
void check_against_reference(const OptimizerSpec& options, std::uint64_t seed) {
  SCOPED_TRACE("momentum=" + std::to_string(options.momentum) +
               " dampening=" + std::to_string(options.dampening) +
               " weight_decay=" + std::to_string(options.weight_decay) +
               " nesterov=" + std::to_string(options.nesterov));
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(seed);
  auto params = make_params(*backend, rng);
  std::vector<Reference> ref(params.size());
  for (std::size_t k = 0; k < params.size(); ++k) {
    for (float v : to_vec(params[k].value)) ref[k].p.push_back(v);
  }
  std::vector<std::vector<float>> initial;
  for (auto& p : params) initial.push_back(to_vec(p.value));
  auto sgd = make_optimizer(*backend, pointers(params), options);
  long double lr = options.lr;
  for (int step = 0; step < 120; ++step) {
    if (step == 60) {
      sgd->set_lr_factor(0.5);
      EXPECT_EQ(sgd->lr(), options.lr / 2);
      lr = options.lr / 2;
    }
    for (std::size_t k = 0; k < params.size(); ++k) {
      const auto g = random_floats(params[k].grad.numel(), rng);
      backend->upload(params[k].grad, g.data(), g.size() * sizeof(float));
      ref[k].step(g, options, lr);
    }
    sgd->step();
  }
  double worst = 0.0, moved = 0.0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto got = to_vec(params[k].value);
    for (std::size_t i = 0; i < got.size(); ++i) {
      const long double want = ref[k].p[i];
      worst = std::max(
          worst, static_cast<double>(std::fabs(got[i] - want) / std::fmax(1.0L, std::fabs(want))));
      moved = std::max(moved, static_cast<double>(std::fabs(want - initial[k][i])));
    }
  }
  EXPECT_LT(worst, 1e-5);
  // The run must move the parameters far beyond the tolerance, or the comparison proves nothing.
  EXPECT_GT(moved, 0.1);
}

TEST(Sgd, MatchesTorchOver120Steps) {
  std::uint64_t seed = 100;
  for (double momentum : {0.0, 0.9}) {
    for (double dampening : {0.0, 0.5}) {
      for (double weight_decay : {0.0, 1e-2}) {
        for (bool nesterov : {false, true}) {
          // PyTorch refuses Nesterov without momentum or with dampening; so does make_optimizer.
          if (nesterov && (momentum == 0.0 || dampening != 0.0)) continue;
          check_against_reference(sgd_spec(0.05, momentum, dampening, weight_decay, nesterov),
                                  ++seed);
        }
      }
    }
  }
}

TEST(Sgd, FirstMomentumStepIsAPlainStep) {
  // torch: the buffer starts as the gradient itself, so step one equals plain SGD whatever the
  // momentum and dampening; from step two on they differ.
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(7);
  auto a = make_params(*backend, rng);
  std::mt19937_64 rng2(7);
  auto b = make_params(*backend, rng2);
  auto plain = make_optimizer(*backend, pointers(a), sgd_spec(0.1));
  auto heavy = make_optimizer(*backend, pointers(b), sgd_spec(0.1, 0.9, 0.5));
  for (std::size_t k = 0; k < a.size(); ++k) {
    const auto g = random_floats(a[k].grad.numel(), rng);
    backend->upload(a[k].grad, g.data(), g.size() * sizeof(float));
    backend->upload(b[k].grad, g.data(), g.size() * sizeof(float));
  }
  plain->step();
  heavy->step();
  for (std::size_t k = 0; k < a.size(); ++k) EXPECT_EQ(to_vec(a[k].value), to_vec(b[k].value));
  plain->step();
  heavy->step();
  EXPECT_NE(to_vec(a[0].value), to_vec(b[0].value));
}

TEST(Sgd, LrFactorTakesEffect) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(8);
  auto params = make_params(*backend, rng);
  auto sgd = make_optimizer(*backend, pointers(params), sgd_spec(0.1));
  for (auto& p : params) backend->fill(p.grad, 1.0f);
  const auto before = to_vec(params[1].value);

  sgd->set_lr_factor(0.0);
  EXPECT_EQ(sgd->lr(), 0.0);
  sgd->step();
  EXPECT_EQ(to_vec(params[1].value), before) << "lr 0 must leave the parameters alone";

  sgd->set_lr_factor(5.0);
  EXPECT_DOUBLE_EQ(sgd->lr(), 0.5);
  sgd->step();
  const auto after = to_vec(params[1].value);
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_FLOAT_EQ(after[i], before[i] - 0.5f) << i;
  }
}

}  // namespace
}  // namespace tb::optim
