// The backend's multi-tensor optimizer ops as every backend without kernels of its own gets them
// (the Backend defaults, which the CPU uses): over a list of tensors of odd sizes (1 element,
// under and over the CPU's 1024-element block, over the parallel grain on two threads), several
// steps of every option give the single ops' bits, tensor for tensor, buffer for buffer; the
// unscale over a list finds an inf or NaN anywhere and still unscales every tensor; and a list
// entry without a parameter, or with a buffer that does not fit, is refused with the single op's
// wording.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
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

const std::vector<std::int64_t> kSizes = {1, 3, 1000, 1025, 70'000};
constexpr int kSteps = 3;

// One copy of a list: parameters, gradients and `buffers` state buffers a tensor. Two copies
// made from one seed are equal.
struct List {
  std::vector<Tensor> param, grad;
  std::vector<std::vector<Tensor>> state;  // state[b][i]: buffer b of tensor i
};

List make_list(Backend& backend, int buffers, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  List list;
  list.state.resize(static_cast<std::size_t>(buffers));
  for (const std::int64_t n : kSizes) {
    const Shape s{n};
    const auto count = static_cast<std::size_t>(n);
    list.param.push_back(from_vec(backend, s, random_floats(count, rng)));
    list.grad.push_back(backend.zeros(s));
    for (auto& b : list.state) b.push_back(backend.zeros(s));
  }
  return list;
}

// New gradients for this step, the same in every copy given the same seed.
void new_grads(List& list, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (Tensor& g : list.grad) {
    const auto values = random_floats(static_cast<std::size_t>(g.numel()), rng);
    std::copy(values.begin(), values.end(), g.data());
  }
}

void expect_bitwise_equal(const List& multi, const List& single, const std::string& what) {
  for (std::size_t i = 0; i < multi.param.size(); ++i) {
    const std::string where = what + ", tensor " + std::to_string(i);
    EXPECT_TRUE(test_util::bitwise_equal(to_vec(multi.param[i]), to_vec(single.param[i])))
        << "param, " << where;
    for (std::size_t b = 0; b < multi.state.size(); ++b) {
      EXPECT_TRUE(test_util::bitwise_equal(to_vec(multi.state[b][i]), to_vec(single.state[b][i])))
          << "buffer " << b << ", " << where;
    }
  }
}

// Runs kSteps steps of `multi` on one copy and of `single` (tensor by tensor) on another, on a
// two-thread CPU backend, and compares every buffer after each step.
template <class Multi, class Single>
void expect_same_bits(int buffers, std::uint64_t seed, const std::string& what, const Multi& multi,
                      const Single& single) {
  auto backend = make_cpu_backend(2);
  List a = make_list(*backend, buffers, seed), b = make_list(*backend, buffers, seed);
  for (int step = 1; step <= kSteps; ++step) {
    new_grads(a, seed + static_cast<std::uint64_t>(step));
    new_grads(b, seed + static_cast<std::uint64_t>(step));
    multi(*backend, a, step);
    for (std::size_t i = 0; i < b.param.size(); ++i) single(*backend, b, i, step);
    expect_bitwise_equal(a, b, what + ", step " + std::to_string(step));
  }
}

// Tensor b of the list's state, or null when the option does not use it (the single op then gets
// an undefined tensor).
Tensor* buffer_or_null(List& list, bool used, std::size_t b, std::size_t i) {
  return used ? &list.state[b][i] : nullptr;
}

TEST(MultiTensor, SgdDefaultEqualsSingleOpsBitwise) {
  struct Options {
    float momentum, dampening, weight_decay;
    bool nesterov;
  };
  std::uint64_t seed = 10;
  for (const Options o : {Options{0.0f, 0.0f, 0.0f, false}, Options{0.0f, 0.0f, 0.01f, false},
                          Options{0.9f, 0.1f, 0.01f, false}, Options{0.9f, 0.0f, 0.01f, true}}) {
    const auto settings = [o](int step) {
      SgdStep s;
      s.lr = 0.05f;
      s.momentum = o.momentum;
      s.dampening = o.dampening;
      s.weight_decay = o.weight_decay;
      s.nesterov = o.nesterov;
      s.first_step = step == 1;
      return s;
    };
    const bool momentum = o.momentum != 0.0f;
    expect_same_bits(
        1, seed += 100,
        "sgd momentum " + std::to_string(o.momentum) + (o.nesterov ? " nesterov" : ""),
        [&](Backend& backend, List& l, int step) {
          std::vector<SgdTensors> tensors;
          for (std::size_t i = 0; i < l.param.size(); ++i) {
            tensors.push_back({&l.param[i], &l.grad[i], buffer_or_null(l, momentum, 0, i)});
          }
          backend.sgd_step_multi(tensors, settings(step));
        },
        [&](Backend& backend, List& l, std::size_t i, int step) {
          Tensor none;
          backend.sgd_step(l.param[i], l.grad[i], momentum ? l.state[0][i] : none, settings(step));
        });
  }
}

TEST(MultiTensor, AdamDefaultEqualsSingleOpsBitwise) {
  std::uint64_t seed = 1000;
  for (bool decoupled : {false, true}) {
    for (bool amsgrad : {false, true}) {
      const auto settings = [=](int step) {
        AdamStep s;
        s.lr = 0.01f;
        s.weight_decay = 0.05f;
        s.decoupled = decoupled;
        s.amsgrad = amsgrad;
        s.bias_correction1 = static_cast<float>(1.0 - std::pow(double{s.beta1}, step));
        s.bias_correction2 = static_cast<float>(1.0 - std::pow(double{s.beta2}, step));
        return s;
      };
      expect_same_bits(
          3, seed += 100, std::string(decoupled ? "adamw" : "adam") + (amsgrad ? " amsgrad" : ""),
          [&](Backend& backend, List& l, int step) {
            std::vector<AdamTensors> tensors;
            for (std::size_t i = 0; i < l.param.size(); ++i) {
              tensors.push_back({&l.param[i], &l.grad[i], &l.state[0][i], &l.state[1][i],
                                 buffer_or_null(l, amsgrad, 2, i)});
            }
            backend.adam_step_multi(tensors, settings(step));
          },
          [&](Backend& backend, List& l, std::size_t i, int step) {
            Tensor none;
            backend.adam_step(l.param[i], l.grad[i], l.state[0][i], l.state[1][i],
                              amsgrad ? l.state[2][i] : none, settings(step));
          });
    }
  }
}

TEST(MultiTensor, RmspropDefaultEqualsSingleOpsBitwise) {
  std::uint64_t seed = 2000;
  for (bool centered : {false, true}) {
    for (float momentum : {0.0f, 0.9f}) {
      RmspropStep s;
      s.lr = 1e-3f;
      s.weight_decay = 0.01f;
      s.centered = centered;
      s.momentum = momentum;
      const bool has_momentum = momentum > 0.0f;
      expect_same_bits(
          3, seed += 100,
          std::string("rmsprop") + (centered ? " centered" : "") + " momentum " +
              std::to_string(momentum),
          [&](Backend& backend, List& l, int) {
            std::vector<RmspropTensors> tensors;
            for (std::size_t i = 0; i < l.param.size(); ++i) {
              tensors.push_back({&l.param[i], &l.grad[i], &l.state[0][i],
                                 buffer_or_null(l, centered, 1, i),
                                 buffer_or_null(l, has_momentum, 2, i)});
            }
            backend.rmsprop_step_multi(tensors, s);
          },
          [&](Backend& backend, List& l, std::size_t i, int) {
            Tensor none;
            backend.rmsprop_step(l.param[i], l.grad[i], l.state[0][i],
                                 centered ? l.state[1][i] : none,
                                 has_momentum ? l.state[2][i] : none, s);
          });
    }
  }
}

TEST(MultiTensor, LionDefaultEqualsSingleOpsBitwise) {
  std::uint64_t seed = 3000;
  for (float weight_decay : {0.0f, 0.1f}) {
    LionStep s;
    s.lr = 1e-3f;
    s.weight_decay = weight_decay;
    expect_same_bits(
        1, seed += 100, "lion decay " + std::to_string(weight_decay),
        [&](Backend& backend, List& l, int) {
          std::vector<LionTensors> tensors;
          for (std::size_t i = 0; i < l.param.size(); ++i) {
            tensors.push_back({&l.param[i], &l.grad[i], &l.state[0][i]});
          }
          backend.lion_step_multi(tensors, s);
        },
        [&](Backend& backend, List& l, std::size_t i, int) {
          backend.lion_step(l.param[i], l.grad[i], l.state[0][i], s);
        });
  }
}

TEST(MultiTensor, EmptyListChangesNothing) {
  auto backend = make_cpu_backend(1);
  backend->sgd_step_multi({}, SgdStep{});
  backend->adam_step_multi({}, AdamStep{});
  backend->rmsprop_step_multi({}, RmspropStep{});
  backend->lion_step_multi({}, LionStep{});
  EXPECT_FALSE(backend->unscale_and_check_finite_multi({}, 0.5f));
}

// Gradients of kSizes with values in [-1000, 1000), `bad` written at element `at` of tensor
// `which` (none when which < 0).
std::vector<Tensor> grads_with(Backend& backend, int which, float bad, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Tensor> grads;
  for (const std::int64_t n : kSizes) {
    grads.push_back(from_vec(backend, Shape{n},
                             random_floats(static_cast<std::size_t>(n), rng, -1000.0f, 1000.0f)));
  }
  if (which >= 0) {
    Tensor& t = grads[static_cast<std::size_t>(which)];
    t.data()[t.numel() - 1] = bad;
  }
  return grads;
}

TEST(MultiTensor, UnscaleOverAListFindsAnyNonFiniteAndUnscalesEveryTensor) {
  auto backend = make_cpu_backend(2);
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const int last = static_cast<int>(kSizes.size()) - 1;
  struct Case {
    const char* what;
    int which;  // tensor holding `bad`, -1 for none
    float bad;
    float inv_scale;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"all finite", -1, 0.0f, 1.0f / 1024.0f, false},
      {"inf in the last tensor", last, inf, 1.0f / 1024.0f, true},
      {"NaN in the first tensor", 0, nan, 0.5f, true},
      {"-inf in a middle tensor", 2, -inf, 0.25f, true},
      {"finite, overflows when unscaled", last, 3e38f, 4.0f, true},
  };
  std::uint64_t seed = 4000;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<Tensor> multi = grads_with(*backend, c.which, c.bad, ++seed);
    std::vector<Tensor> single = grads_with(*backend, c.which, c.bad, seed);
    std::vector<Tensor*> pointers;
    for (Tensor& g : multi) pointers.push_back(&g);
    EXPECT_EQ(backend->unscale_and_check_finite_multi(pointers, c.inv_scale), c.expected);
    bool found = false;
    for (Tensor& g : single) found = backend->unscale_and_check_finite(g, c.inv_scale) || found;
    EXPECT_EQ(found, c.expected);
    // Every tensor was unscaled, those after the non-finite one too.
    for (std::size_t i = 0; i < multi.size(); ++i) {
      EXPECT_TRUE(test_util::bitwise_equal(to_vec(multi[i]), to_vec(single[i]))) << "tensor " << i;
    }
  }
}

TEST(MultiTensor, ARefusedEntryIsWordedAsTheSingleOpWordsIt) {
  auto backend = make_cpu_backend(1);
  const Shape s{4};
  Tensor p = backend->zeros(s), g = backend->zeros(s), m = backend->zeros(s), v = backend->zeros(s),
         wrong = backend->zeros(Shape{5});
  AdamStep adam;
  adam.bias_correction1 = adam.bias_correction2 = 0.5f;
  const std::vector<AdamTensors> no_param = {{&p, &g, &m, &v, nullptr},
                                             {nullptr, &g, &m, &v, nullptr}};
  try {
    backend->adam_step_multi(no_param, adam);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "adam_step: tensor 1 of the list has no parameter");
  }
  const std::vector<LionTensors> no_grad = {{&p, nullptr, &m}};
  try {
    backend->lion_step_multi(no_grad, LionStep{});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "lion_step: tensor 0 of the list has no gradient");
  }
  // A buffer that does not fit, or one the options need left out: the single op's message.
  const auto single_error = [&](auto&& call) {
    try {
      call();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  Tensor none;
  const std::vector<AdamTensors> wrong_size = {{&p, &g, &wrong, &v, nullptr}};
  EXPECT_EQ(single_error([&] { backend->adam_step_multi(wrong_size, adam); }),
            single_error([&] { backend->adam_step(p, g, wrong, v, none, adam); }));
  RmspropStep rms;
  rms.centered = true;
  const std::vector<RmspropTensors> no_grad_avg = {{&p, &g, &v, nullptr, nullptr}};
  const std::string expected =
      single_error([&] { backend->rmsprop_step(p, g, v, none, none, rms); });
  EXPECT_NE(expected, "(no error)");
  EXPECT_EQ(single_error([&] { backend->rmsprop_step_multi(no_grad_avg, rms); }), expected);
  std::vector<Tensor*> null_grad = {&g, nullptr};
  EXPECT_EQ(single_error([&] { backend->unscale_and_check_finite_multi(null_grad, 1.0f); }),
            "unscale_and_check_finite: tensor 1 of the list has no gradient");
}

}  // namespace
}  // namespace tb::tensor
