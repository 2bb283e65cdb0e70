// Bad optimizer settings are refused with an error that starts with the setting's name as the
// project file spells it, and says what was expected and what it got.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>

#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/core/optim/optim_test_util.h"

namespace tb::optim::test {
namespace {

ParamGroupSpec group(std::string match, std::optional<double> lr = std::nullopt,
                     std::optional<double> weight_decay = std::nullopt) {
  return {.match = std::move(match), .lr = lr, .weight_decay = weight_decay};
}

OptimizerSpec spec_of(const std::string& type, const std::function<void(OptimizerSpec&)>& edit) {
  OptimizerSpec s;
  s.type = type;
  s.lr = 1e-3;
  s.momentum = type == "sgd" ? 0.9 : 0.0;
  edit(s);
  return s;
}

class Validation : public ::testing::Test {
 protected:
  void SetUp() override { params_ = make_params(*backend_, rng_); }

  // The message must start with `prefix` (the field), so the user sees it first.
  void expect_rejected(const OptimizerSpec& spec, const std::string& prefix) {
    try {
      make_optimizer(*backend_, pointers(params_), spec);
      ADD_FAILURE() << "accepted settings that should be refused at " << prefix;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind(prefix, 0), 0u) << e.what();
    }
  }

  std::unique_ptr<tensor::Backend> backend_ = tensor::make_cpu_backend(1);
  std::mt19937_64 rng_{11};
  std::vector<nn::Parameter> params_;
};

TEST_F(Validation, CommonSettings) {
  const double nan = std::nan("");
  const double inf = std::numeric_limits<double>::infinity();
  for (const char* type : {"sgd", "adam", "adamw", "rmsprop", "lion"}) {
    SCOPED_TRACE(type);
    expect_rejected(spec_of(type, [](auto& s) { s.lr = -1; }),
                    "optimizer.lr must be >= 0 (got -1)");
    expect_rejected(spec_of(type, [&](auto& s) { s.lr = nan; }), "optimizer.lr must be >= 0");
    expect_rejected(spec_of(type, [&](auto& s) { s.lr = inf; }), "optimizer.lr");
    expect_rejected(spec_of(type, [](auto& s) { s.weight_decay = -0.1; }),
                    "optimizer.weight_decay must be >= 0 (got -0.1)");
    expect_rejected(spec_of(type, [](auto& s) { s.lookahead = {.k = -1, .alpha = 0.5}; }),
                    "optimizer.lookahead.k must be >= 0");
    expect_rejected(spec_of(type, [](auto& s) { s.lookahead = {.k = 5, .alpha = 0.0}; }),
                    "optimizer.lookahead.alpha must be in (0, 1]");
    expect_rejected(spec_of(type, [](auto& s) { s.lookahead = {.k = 5, .alpha = 1.5}; }),
                    "optimizer.lookahead.alpha");
    expect_rejected(spec_of(type, [](auto& s) { s.param_groups = {group("p1", -2.0)}; }),
                    "optimizer.param_groups[0].lr must be >= 0 (got -2)");
    expect_rejected(spec_of(type,
                            [](auto& s) {
                              s.param_groups = {group("p1"), group("p2", std::nullopt, -1.0)};
                            }),
                    "optimizer.param_groups[1].weight_decay");
    expect_rejected(spec_of(type, [](auto& s) { s.param_groups = {group("")}; }),
                    "optimizer.param_groups[0].match must not be empty");
    // lr 0 and lookahead alpha 1 are valid corners.
    EXPECT_NO_THROW(make_optimizer(*backend_, pointers(params_), spec_of(type, [](auto& s) {
      s.lr = 0.0;
      s.lookahead = {.k = 1, .alpha = 1.0};
    })));
  }
  expect_rejected(spec_of("adagrad", [](auto&) {}), "optimizer.type must be one of");
}

TEST_F(Validation, SgdSettings) {
  expect_rejected(spec_of("sgd", [](auto& s) { s.momentum = -0.1; }), "optimizer.momentum");
  expect_rejected(spec_of("sgd", [](auto& s) { s.dampening = 1.5; }),
                  "optimizer.dampening must be in [0, 1] (got 1.5)");
  expect_rejected(spec_of("sgd",
                          [](auto& s) {
                            s.momentum = 0.0;
                            s.nesterov = true;
                          }),
                  "optimizer.nesterov needs momentum > 0 and dampening 0");
  expect_rejected(spec_of("sgd",
                          [](auto& s) {
                            s.dampening = 0.1;
                            s.nesterov = true;
                          }),
                  "optimizer.nesterov");
  EXPECT_NO_THROW(make_optimizer(*backend_, pointers(params_),
                                 spec_of("sgd", [](auto& s) { s.nesterov = true; })));
}

TEST_F(Validation, BetasMustBeInZeroOne) {
  for (const char* type : {"adam", "adamw", "lion"}) {
    SCOPED_TRACE(type);
    for (double bad : {-0.1, 1.0, 1.5, std::nan("")}) {
      expect_rejected(spec_of(type, [&](auto& s) { s.beta1 = bad; }),
                      "optimizer.betas[0] (beta1) must be in [0, 1)");
      expect_rejected(spec_of(type, [&](auto& s) { s.beta2 = bad; }),
                      "optimizer.betas[1] (beta2) must be in [0, 1)");
    }
    EXPECT_NO_THROW(make_optimizer(*backend_, pointers(params_), spec_of(type, [](auto& s) {
      s.beta1 = 0.0;
      s.beta2 = 0.0;
    })));
  }
  // SGD and RMSProp ignore betas, as they ignore every setting of other optimizers.
  EXPECT_NO_THROW(
      make_optimizer(*backend_, pointers(params_), spec_of("sgd", [](auto& s) { s.beta1 = 7.0; })));
}

TEST_F(Validation, EpsAlphaAndRmspropMomentum) {
  for (const char* type : {"adam", "adamw", "rmsprop"}) {
    expect_rejected(spec_of(type, [](auto& s) { s.eps = -1e-8; }),
                    "optimizer.eps must be >= 0 (got -1e-08)");
  }
  expect_rejected(spec_of("rmsprop", [](auto& s) { s.alpha = -0.5; }),
                  "optimizer.alpha must be in [0, 1] (got -0.5)");
  expect_rejected(spec_of("rmsprop", [](auto& s) { s.alpha = 1.01; }), "optimizer.alpha");
  expect_rejected(spec_of("rmsprop", [](auto& s) { s.momentum = -0.9; }), "optimizer.momentum");
}

TEST_F(Validation, DuplicateParameterNamesAreRefused) {
  params_[1].name = params_[0].name;
  try {
    make_optimizer(*backend_, pointers(params_), spec_of("adam", [](auto&) {}));
    ADD_FAILURE() << "two parameters of one name would share a checkpoint entry";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'p0'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tb::optim::test
