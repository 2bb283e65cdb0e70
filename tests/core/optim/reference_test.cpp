// Every optimizer, with every combination of its options, against the long double reference of
// its published rule over 120 steps (see reference.h for the harness and why 1e-6 is the bound).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/core/optim/reference.h"
#include "tests/core/optim/rules.h"

namespace tb::optim::test {
namespace {

constexpr double kTolerance = 1e-6;

std::string describe(const OptimizerSpec& s) {
  return s.type + " lr=" + std::to_string(s.lr) + " wd=" + std::to_string(s.weight_decay) +
         " momentum=" + std::to_string(s.momentum) + " dampening=" + std::to_string(s.dampening) +
         " nesterov=" + std::to_string(s.nesterov) + " betas=(" + std::to_string(s.beta1) + ", " +
         std::to_string(s.beta2) + ") amsgrad=" + std::to_string(s.amsgrad) +
         " eps=" + std::to_string(s.eps) + " alpha=" + std::to_string(s.alpha) +
         " centered=" + std::to_string(s.centered) +
         " lookahead.k=" + std::to_string(s.lookahead.k);
}

void check(const OptimizerSpec& spec, std::uint64_t seed) {
  SCOPED_TRACE(describe(spec));
  const Rule r = rule_for(spec);
  const double worst = run_against_reference(spec, r.rule, r.buffers, seed);
  EXPECT_LT(worst, kTolerance);
  // TB_PRINT_WORST=1 prints every case's error, to see the margin below the bound.
  if (std::getenv("TB_PRINT_WORST")) std::printf("worst %.3g  %s\n", worst, describe(spec).c_str());
}

TEST(Reference, SgdEveryOption) {
  std::uint64_t seed = 1000;
  for (double momentum : {0.0, 0.9}) {
    for (double dampening : {0.0, 0.3}) {
      for (double wd : {0.0, 0.05}) {
        for (bool nesterov : {false, true}) {
          if (nesterov && (momentum == 0.0 || dampening != 0.0)) continue;  // rejected
          check(sgd_spec(0.05, momentum, dampening, wd, nesterov), ++seed);
        }
      }
    }
  }
}

TEST(Reference, AdamAndAdamWEveryOption) {
  std::uint64_t seed = 2000;
  for (const char* type : {"adam", "adamw"}) {
    for (bool amsgrad : {false, true}) {
      for (double wd : {0.0, 0.1}) {
        // eps 1e-2 is large enough that putting it inside the square root would show.
        for (double eps : {1e-8, 1e-2}) {
          for (auto [b1, b2] : {std::pair{0.9, 0.999}, std::pair{0.5, 0.9}}) {
            OptimizerSpec s;
            s.type = type;
            s.lr = 1e-2;
            s.weight_decay = wd;
            s.amsgrad = amsgrad;
            s.eps = eps;
            s.beta1 = b1;
            s.beta2 = b2;
            check(s, ++seed);
          }
        }
      }
    }
  }
}

// alpha stays >= 0.9 for centered RMSProp: with fewer effective samples (alpha 0.5) the variance
// v - ga^2 is a small difference of two stored floats, so a one-ulp difference in v (which fp32
// storage cannot avoid) becomes a 1e-4 relative change of the step for such elements: a property
// of the formula in float32, not of the implementation.
TEST(Reference, RmspropEveryOption) {
  std::uint64_t seed = 3000;
  for (bool centered : {false, true}) {
    for (double momentum : {0.0, 0.9}) {
      for (double wd : {0.0, 0.1}) {
        for (double eps : {1e-8, 1e-2}) {
          for (double alpha : {0.99, 0.9}) {
            OptimizerSpec s;
            s.type = "rmsprop";
            s.lr = 1e-2;
            s.momentum = momentum;
            s.weight_decay = wd;
            s.centered = centered;
            s.eps = eps;
            s.alpha = alpha;
            check(s, ++seed);
          }
        }
      }
    }
  }
}

TEST(Reference, LionEveryOption) {
  std::uint64_t seed = 4000;
  for (double wd : {0.0, 0.5}) {
    for (auto [b1, b2] : {std::pair{0.9, 0.99}, std::pair{0.95, 0.98}, std::pair{0.0, 0.5}}) {
      OptimizerSpec s;
      s.type = "lion";
      s.lr = 3e-3;
      s.weight_decay = wd;
      s.beta1 = b1;
      s.beta2 = b2;
      check(s, ++seed);
    }
  }
}

// Lookahead around each optimizer: k inner steps, then phi += alpha (theta - phi), theta = phi.
TEST(Reference, LookaheadAroundEachOptimizer) {
  std::uint64_t seed = 5000;
  for (const char* type : {"sgd", "adam", "adamw", "rmsprop", "lion"}) {
    for (auto [k, alpha] : {std::pair<std::int64_t, double>{5, 0.5}, {3, 0.8}, {1, 1.0}}) {
      OptimizerSpec s;
      s.type = type;
      s.lr = std::string(type) == "sgd" ? 0.05 : 1e-2;
      s.momentum = std::string(type) == "rmsprop" ? 0.5 : 0.9;
      s.weight_decay = 0.01;
      s.lookahead = {.k = k, .alpha = alpha};
      check(s, ++seed);
    }
  }
}

}  // namespace
}  // namespace tb::optim::test
