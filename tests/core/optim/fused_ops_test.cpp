// The backend's fused optimizer ops on their own: large tensors (above the parallel grain) give
// the same bits on 1 and 2 threads and agree with the formula of their struct's comment for one
// step; buffers that do not fit are refused, naming the buffer.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/tensor/backend.h"
#include "core/util/error.h"
#include "tests/core/tensor/test_util.h"

namespace tb::tensor {
namespace {

using test_util::from_vec;
using test_util::random_floats;
using test_util::to_vec;

constexpr std::int64_t kN = 100'003;  // above the parallel grain, and not a multiple of a vector

struct Buffers {
  Tensor p, g, a, b, c;
};

Buffers make_buffers(Backend& backend, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const Shape s{kN};
  // State buffers start from plausible values (b, c non-negative: they are squares).
  return {from_vec(backend, s, random_floats(kN, rng)),
          from_vec(backend, s, random_floats(kN, rng)),
          from_vec(backend, s, random_floats(kN, rng, -0.1f, 0.1f)),
          from_vec(backend, s, random_floats(kN, rng, 0.0f, 0.2f)),
          from_vec(backend, s, random_floats(kN, rng, 0.0f, 0.2f))};
}

// Runs op on fresh buffers with 1 and with 2 threads; returns the 1-thread result after checking
// that every output agrees bit for bit.
template <class Op>
Buffers same_on_one_and_two_threads(const Op& op, std::uint64_t seed) {
  auto one = make_cpu_backend(1), two = make_cpu_backend(2);
  Buffers x = make_buffers(*one, seed), y = make_buffers(*two, seed);
  op(*one, x);
  op(*two, y);
  EXPECT_TRUE(test_util::bitwise_equal(to_vec(x.p), to_vec(y.p)));
  EXPECT_TRUE(test_util::bitwise_equal(to_vec(x.a), to_vec(y.a)));
  EXPECT_TRUE(test_util::bitwise_equal(to_vec(x.b), to_vec(y.b)));
  EXPECT_TRUE(test_util::bitwise_equal(to_vec(x.c), to_vec(y.c)));
  return x;
}

TEST(FusedOps, AdamStepFollowsItsFormulaOnAnyThreadCount) {
  for (bool decoupled : {false, true}) {
    for (bool amsgrad : {false, true}) {
      SCOPED_TRACE(std::string(decoupled ? "adamw" : "adam") + (amsgrad ? " amsgrad" : ""));
      const AdamStep s{.lr = 0.01f,
                       .beta1 = 0.9f,
                       .beta2 = 0.999f,
                       .eps = 1e-3f,
                       .weight_decay = 0.1f,
                       .decoupled = decoupled,
                       .amsgrad = amsgrad,
                       .bias_correction1 = 0.271f,
                       .bias_correction2 = 0.00299f};
      auto before = make_buffers(*make_cpu_backend(1), 7);
      const auto p0 = to_vec(before.p), g = to_vec(before.g), m0 = to_vec(before.a),
                 v0 = to_vec(before.b), vmax0 = to_vec(before.c);
      auto got = same_on_one_and_two_threads(
          [&](Backend& b, Buffers& x) { b.adam_step(x.p, x.g, x.a, x.b, x.c, s); }, 7);
      std::vector<double> p(kN), m(kN), v(kN), vmax(kN);
      for (std::int64_t i = 0; i < kN; ++i) {
        double gi = g[i], pi = p0[i];
        if (!decoupled) gi += s.weight_decay * pi;
        if (decoupled) pi -= double(s.lr) * s.weight_decay * pi;
        m[i] = s.beta1 * double(m0[i]) + (1.0 - s.beta1) * gi;
        v[i] = s.beta2 * double(v0[i]) + (1.0 - s.beta2) * gi * gi;
        vmax[i] = amsgrad ? std::max(double(vmax0[i]), v[i]) : vmax0[i];
        const double vhat = amsgrad ? vmax[i] : v[i];
        p[i] = pi -
               s.lr * (m[i] / s.bias_correction1) / (std::sqrt(vhat / s.bias_correction2) + s.eps);
      }
      EXPECT_TRUE(test_util::all_close(to_vec(got.p), p, 1e-6, 1e-7));
      // The moments' absolute tolerance is float rounding of their inputs (|m|, |g| < 1): where
      // beta1 m and (1 - beta1) g cancel, the error relative to the result is larger.
      EXPECT_TRUE(test_util::all_close(to_vec(got.a), m, 1e-6, 1e-7));
      EXPECT_TRUE(test_util::all_close(to_vec(got.b), v, 1e-6, 1e-9));
      if (amsgrad) {
        // vmax is exactly the larger of the old vmax and the new (stored) v.
        const auto v_new = to_vec(got.b), vmax_new = to_vec(got.c);
        for (std::int64_t i = 0; i < kN; ++i)
          ASSERT_EQ(vmax_new[i], std::max(vmax0[i], v_new[i])) << i;
      } else {
        EXPECT_EQ(to_vec(got.c), vmax0) << "without amsgrad the max buffer is not touched";
      }
    }
  }
}

TEST(FusedOps, RmspropStepFollowsItsFormulaOnAnyThreadCount) {
  for (bool centered : {false, true}) {
    for (float momentum : {0.0f, 0.9f}) {
      SCOPED_TRACE("centered=" + std::to_string(centered) +
                   " momentum=" + std::to_string(momentum));
      const RmspropStep s{.lr = 0.01f,
                          .alpha = 0.9f,
                          .eps = 1e-2f,
                          .weight_decay = 0.05f,
                          .momentum = momentum,
                          .centered = centered};
      auto before = make_buffers(*make_cpu_backend(1), 8);
      const auto p0 = to_vec(before.p), g = to_vec(before.g), sq0 = to_vec(before.b),
                 ga0 = to_vec(before.a), buf0 = to_vec(before.c);
      auto got = same_on_one_and_two_threads(
          [&](Backend& b, Buffers& x) { b.rmsprop_step(x.p, x.g, x.b, x.a, x.c, s); }, 8);
      std::vector<double> p(kN), sq(kN), ga(kN), buf(kN);
      const auto got_sq = to_vec(got.b), got_ga = to_vec(got.a);
      for (std::int64_t i = 0; i < kN; ++i) {
        const double gi = g[i] + double(s.weight_decay) * p0[i];
        sq[i] = s.alpha * double(sq0[i]) + (1.0 - s.alpha) * gi * gi;
        ga[i] = centered ? s.alpha * double(ga0[i]) + (1.0 - s.alpha) * gi : ga0[i];
        // The state is checked against sq and ga below. The step is computed from the state the
        // optimizer stored (float): centered RMSProp's v - ga^2 cancels where the two are close,
        // and a last-bit difference in the state would swamp the step's own error there.
        const double v = got_sq[i], a = got_ga[i];
        const double avg = std::sqrt(std::max(v - (centered ? a * a : 0.0), 0.0)) + s.eps;
        buf[i] = momentum > 0 ? momentum * double(buf0[i]) + gi / avg : buf0[i];
        p[i] = p0[i] - s.lr * (momentum > 0 ? buf[i] : gi / avg);
      }
      EXPECT_TRUE(test_util::all_close(to_vec(got.p), p, 1e-6, 1e-6));
      EXPECT_TRUE(test_util::all_close(to_vec(got.b), sq, 1e-6, 1e-9));
      EXPECT_TRUE(test_util::all_close(to_vec(got.a), ga, 1e-6, 1e-7));
      EXPECT_TRUE(test_util::all_close(to_vec(got.c), buf, 1e-5, 1e-5));
    }
  }
}

TEST(FusedOps, LionStepFollowsItsFormulaOnAnyThreadCount) {
  const LionStep s{.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.99f, .weight_decay = 0.5f};
  auto before = make_buffers(*make_cpu_backend(1), 9);
  const auto p0 = to_vec(before.p), g = to_vec(before.g), m0 = to_vec(before.a);
  auto got = same_on_one_and_two_threads(
      [&](Backend& b, Buffers& x) { b.lion_step(x.p, x.g, x.a, s); }, 9);
  std::vector<double> p(kN), m(kN);
  for (std::int64_t i = 0; i < kN; ++i) {
    const double c = s.beta1 * double(m0[i]) + (1.0 - s.beta1) * g[i];
    p[i] = p0[i] * (1.0 - double(s.lr) * s.weight_decay) - s.lr * ((c > 0) - (c < 0));
    m[i] = s.beta2 * double(m0[i]) + (1.0 - s.beta2) * g[i];
  }
  EXPECT_TRUE(test_util::all_close(to_vec(got.p), p, 1e-6, 1e-7));
  EXPECT_TRUE(test_util::all_close(to_vec(got.a), m, 1e-6, 1e-9));
}

TEST(FusedOps, LerpAndScale) {
  auto got = same_on_one_and_two_threads(
      [](Backend& b, Buffers& x) {
        b.lerp_(x.a, x.p, {.alpha = 0.25f});
        b.scale(x.b, -3.0f);
      },
      10);
  auto before = make_buffers(*make_cpu_backend(1), 10);
  const auto slow = to_vec(before.a), fast = to_vec(before.p), sc = to_vec(before.b);
  const auto a = to_vec(got.a), p = to_vec(got.p), b = to_vec(got.b);
  for (std::int64_t i = 0; i < kN; ++i) {
    ASSERT_FLOAT_EQ(a[i], slow[i] + 0.25f * (fast[i] - slow[i])) << i;
    ASSERT_EQ(p[i], a[i]) << "fast weights restart from the slow ones";
    ASSERT_EQ(b[i], sc[i] * -3.0f) << i;
  }
}

TEST(FusedOps, BuffersThatDoNotFitAreRefusedByName) {
  auto backend = make_cpu_backend(1);
  Tensor p = backend->zeros({4}), g = backend->zeros({4}), ok = backend->zeros({4});
  Tensor small = backend->zeros({3}), none;
  auto expect_error = [](const auto& call, const std::string& needle) {
    try {
      call();
      ADD_FAILURE() << "accepted a buffer that does not fit: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const AdamStep adam{.bias_correction1 = 0.1f, .bias_correction2 = 0.001f};
  expect_error([&] { backend->adam_step(p, small, ok, ok, none, adam); }, "adam_step: grad");
  expect_error([&] { backend->adam_step(p, g, ok, small, none, adam); }, "exp_avg_sq");
  AdamStep ams = adam;
  ams.amsgrad = true;
  expect_error([&] { backend->adam_step(p, g, ok, ok, none, ams); }, "max_exp_avg_sq");
  expect_error([&] { backend->adam_step(p, g, ok, ok, none, {.bias_correction1 = 0.0f}); },
               "bias corrections");
  expect_error([&] { backend->rmsprop_step(p, g, ok, none, none, {.centered = true}); },
               "rmsprop_step: grad_avg");
  expect_error([&] { backend->rmsprop_step(p, g, ok, none, small, {.momentum = 0.9f}); },
               "momentum_buf");
  expect_error([&] { backend->lion_step(p, g, small, {}); }, "lion_step: exp_avg");
  expect_error([&] { backend->lerp_(p, small, {}); }, "lerp_: fast");
  // Unused buffers may be undefined.
  EXPECT_NO_THROW(backend->adam_step(p, g, ok, ok, none, adam));
  EXPECT_NO_THROW(backend->rmsprop_step(p, g, ok, none, none, {}));
}

}  // namespace
}  // namespace tb::tensor
