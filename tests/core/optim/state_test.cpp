// Optimizer state survives a checkpoint: a run resumed from state() continues bit for bit as the
// uninterrupted run; a state that does not fit is refused, naming the buffer, and changes
// nothing. Also: parameter groups (first match wins) and the lr the optimizer reports.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/optim/optimizer.h"
#include "core/util/error.h"
#include "tests/core/optim/optim_test_util.h"
#include "tests/core/tensor/test_util.h"

namespace tb::optim::test {
namespace {

using test_util::to_vec;

std::vector<OptimizerSpec> every_kind() {
  std::vector<OptimizerSpec> out;
  for (const char* type : {"sgd", "adam", "adamw", "rmsprop", "lion"}) {
    OptimizerSpec s;
    s.type = type;
    s.lr = 1e-2;
    s.weight_decay = 0.01;
    s.momentum = 0.9;  // sgd and rmsprop keep a momentum buffer
    s.amsgrad = true;
    s.centered = true;
    out.push_back(s);
    s.lookahead = {.k = 3, .alpha = 0.5};
    out.push_back(s);
  }
  return out;
}

// Fills every gradient with the next values of rng (the same sequence for both runs).
void random_grads(tensor::Backend& backend, std::vector<nn::Parameter>& params,
                  std::mt19937_64& rng) {
  for (auto& p : params) {
    const auto g = test_util::random_floats(p.grad.numel(), rng);
    backend.upload(p.grad, g.data(), g.size() * sizeof(float));
  }
}

std::vector<nn::Parameter> copy_params(tensor::Backend& backend,
                                       const std::vector<nn::Parameter>& from) {
  std::vector<nn::Parameter> out;
  for (const auto& p : from) {
    out.push_back({p.name, test_util::from_vec(backend, p.value.shape(), to_vec(p.value)),
                   backend.zeros(p.value.shape())});
  }
  return out;
}

TEST(OptimizerState, ResumedRunMatchesUninterruptedRunBitForBit) {
  for (const auto& spec : every_kind()) {
    SCOPED_TRACE(spec.type + (spec.lookahead.k ? "+lookahead" : ""));
    auto backend = tensor::make_cpu_backend(1);
    std::mt19937_64 init(21);
    auto a = make_params(*backend, init);
    auto opt_a = make_optimizer(*backend, pointers(a), spec);
    std::mt19937_64 grads(22);
    // 7 steps: not a multiple of Lookahead's k, so the resumed run must also resume its count.
    for (int i = 0; i < 7; ++i) {
      random_grads(*backend, a, grads);
      opt_a->step();
    }
    const OptimizerState saved = opt_a->state();
    EXPECT_EQ(saved.step, 7);

    // The "restarted process": parameters restored from the checkpoint, a fresh optimizer.
    auto b = copy_params(*backend, a);
    auto opt_b = make_optimizer(*backend, pointers(b), spec);
    opt_b->load_state(saved);
    // A third run without the state shows the state matters (else the test would prove nothing).
    auto c = copy_params(*backend, a);
    auto opt_c = make_optimizer(*backend, pointers(c), spec);

    for (int i = 0; i < 5; ++i) {
      std::mt19937_64 same_a(100 + i), same_b(100 + i), same_c(100 + i);
      random_grads(*backend, a, same_a);
      random_grads(*backend, b, same_b);
      random_grads(*backend, c, same_c);
      opt_a->step();
      opt_b->step();
      opt_c->step();
    }
    bool c_differs = false;
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_TRUE(test_util::bitwise_equal(to_vec(a[k].value), to_vec(b[k].value))) << a[k].name;
      c_differs = c_differs || to_vec(a[k].value) != to_vec(c[k].value);
    }
    EXPECT_TRUE(c_differs);
    const auto sa = opt_a->state(), sb = opt_b->state();
    EXPECT_EQ(sa.step, 12);
    EXPECT_EQ(sa.step, sb.step);
    EXPECT_EQ(sa.tensors, sb.tensors);
  }
}

TEST(OptimizerState, BufferNamesFollowTorch) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(3);
  auto params = make_params(*backend, rng);
  auto names = [&](const OptimizerSpec& spec) {
    std::vector<std::string> out;
    for (const auto& [name, values] :
         make_optimizer(*backend, pointers(params), spec)->state().tensors) {
      if (name.rfind("p1.", 0) == 0) out.push_back(name);
    }
    return out;
  };
  OptimizerSpec s;
  s.momentum = 0.0;
  EXPECT_EQ(names(s), std::vector<std::string>{}) << "plain SGD keeps no state";
  s.momentum = 0.9;
  EXPECT_EQ(names(s), std::vector<std::string>{"p1.momentum_buffer"});
  s.type = "adam";
  EXPECT_EQ(names(s), (std::vector<std::string>{"p1.exp_avg", "p1.exp_avg_sq"}));
  s.amsgrad = true;
  EXPECT_EQ(names(s),
            (std::vector<std::string>{"p1.exp_avg", "p1.exp_avg_sq", "p1.max_exp_avg_sq"}));
  s.type = "rmsprop";
  s.centered = true;
  EXPECT_EQ(names(s),
            (std::vector<std::string>{"p1.square_avg", "p1.grad_avg", "p1.momentum_buffer"}));
  s.type = "lion";
  s.lookahead.k = 2;
  EXPECT_EQ(names(s), (std::vector<std::string>{"p1.exp_avg", "p1.lookahead_slow"}));
}

// load_state refuses what does not fit, naming the buffer, and leaves the optimizer unchanged.
TEST(OptimizerState, MismatchedStateIsRefusedAndChangesNothing) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(5);
  auto params = make_params(*backend, rng);
  OptimizerSpec adam;
  adam.type = "adam";
  adam.lr = 1e-2;
  auto opt = make_optimizer(*backend, pointers(params), adam);
  random_grads(*backend, params, rng);
  opt->step();
  const OptimizerState good = opt->state();

  auto expect_refused = [&](const OptimizerState& bad, const std::string& needle) {
    try {
      opt->load_state(bad);
      ADD_FAILURE() << "accepted a state that should be refused for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    const auto now = opt->state();
    EXPECT_EQ(now.step, good.step);
    EXPECT_EQ(now.tensors, good.tensors) << "a refused state changed the optimizer";
  };

  OptimizerState bad = good;
  bad.tensors[1].second.pop_back();  // p0.exp_avg_sq one value short
  bad.tensors[0].second.assign(bad.tensors[0].second.size(), 42.0f);  // would be loaded first
  expect_refused(bad, "'p0.exp_avg_sq' has 34 values, the parameter has 35");

  bad = good;
  bad.tensors.pop_back();
  expect_refused(bad, "'p2.exp_avg_sq' is missing");

  bad = good;
  bad.tensors.push_back({"p2.max_exp_avg_sq", std::vector<float>(24)});
  expect_refused(bad, "'p2.max_exp_avg_sq' is not one of adam's");

  bad = good;
  bad.tensors[2].first = "p1.momentum_buffer";
  expect_refused(bad, "'p1.exp_avg' expected at position 2, found 'p1.momentum_buffer'");

  bad = good;
  bad.step = -1;
  expect_refused(bad, "step must be >= 0");

  // An SGD state into Adam, a state without Lookahead into Lookahead.
  OptimizerSpec sgd;
  auto sgd_state = make_optimizer(*backend, pointers(params), sgd)->state();
  expect_refused(sgd_state, "'p0.exp_avg' expected at position 0, found 'p0.momentum_buffer'");
  OptimizerSpec la = adam;
  la.lookahead = {.k = 2, .alpha = 0.5};
  auto with_lookahead = make_optimizer(*backend, pointers(params), la);
  EXPECT_THROW(with_lookahead->load_state(good), Error);
  try {
    with_lookahead->load_state(good);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lookahead_slow"), std::string::npos) << e.what();
  }
}

TEST(ParamGroups, FirstMatchWinsAndLrFactorScalesEveryGroup) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(9);
  auto params = make_params(*backend, rng);
  // Plain SGD: the step of each parameter reveals its group's lr (grad 1, no decay) or its decay.
  OptimizerSpec s = sgd_spec(0.1);
  s.param_groups = {{.match = "p1", .lr = 0.3, .weight_decay = std::nullopt},
                    {.match = "p", .lr = 0.2, .weight_decay = std::nullopt},
                    {.match = "p0", .lr = 0.7, .weight_decay = std::nullopt}};
  auto opt = make_optimizer(*backend, pointers(params), s);
  EXPECT_DOUBLE_EQ(opt->lr(), 0.2) << "lr() is the first parameter's (p0: group 'p' matches first)";
  opt->set_lr_factor(0.5);
  EXPECT_DOUBLE_EQ(opt->lr(), 0.1);
  for (auto& p : params) backend->fill(p.grad, 1.0f);
  std::vector<std::vector<float>> before;
  for (auto& p : params) before.push_back(to_vec(p.value));
  opt->step();
  const double want_lr[] = {0.1, 0.15, 0.1};  // p0, p1, p2 at factor 0.5
  for (std::size_t k = 0; k < params.size(); ++k) {
    const auto after = to_vec(params[k].value);
    for (std::size_t i = 0; i < after.size(); ++i) {
      EXPECT_NEAR(before[k][i] - after[i], want_lr[k], 1e-6) << params[k].name << "[" << i << "]";
    }
  }
}

TEST(ParamGroups, GroupWeightDecayOverridesTheOptimizers) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(10);
  auto params = make_params(*backend, rng);
  OptimizerSpec s = sgd_spec(0.5, 0.0, 0.0, 0.1);
  s.param_groups = {{.match = "p2", .lr = std::nullopt, .weight_decay = 0.0}};
  auto opt = make_optimizer(*backend, pointers(params), s);
  for (auto& p : params) backend->fill(p.grad, 0.0f);
  const auto p0 = to_vec(params[0].value), p2 = to_vec(params[2].value);
  opt->step();
  EXPECT_EQ(to_vec(params[2].value), p2) << "no decay and no gradient: p2 must not move";
  const auto p0_after = to_vec(params[0].value);
  for (std::size_t i = 0; i < p0.size(); ++i) EXPECT_FLOAT_EQ(p0_after[i], p0[i] * (1 - 0.05f));
}

TEST(Optimizer, NamesAndLrFactorChecks) {
  auto backend = tensor::make_cpu_backend(1);
  std::mt19937_64 rng(4);
  auto params = make_params(*backend, rng);
  for (const auto& spec : every_kind()) {
    auto opt = make_optimizer(*backend, pointers(params), spec);
    const std::string want = spec.lookahead.k ? "lookahead(" + spec.type + ")" : spec.type;
    EXPECT_EQ(opt->name(), want);
    EXPECT_DOUBLE_EQ(opt->lr(), spec.lr);
    EXPECT_THROW(opt->set_lr_factor(-1.0), Error);
  }
}

}  // namespace
}  // namespace tb::optim::test
