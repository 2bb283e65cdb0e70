// The CUDA backend's fused optimizer updates and loss scaling against the CPU backend: several
// steps of every option combination from the same parameters and gradients, the parameter and
// every state buffer compared with the CPU's after each step; the finite check on inf, NaN and
// overflow; and the CPU's errors for missing or mismatched buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

constexpr double kTolerance = 1e-5;
constexpr int kSteps = 4;

// Around the kernels' block size and grid-stride loop, up to 2^20 + 3 elements.
const std::vector<Shape> kShapes = {{1}, {7, 13}, {257}, {771}, {(1 << 20) + 3}};

// A tensor on both backends, equal to start with.
struct Pair {
  Tensor cpu, gpu;
};

Pair random_pair(const Shape& shape, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  Tensor host = random_cpu(shape, seed, lo, hi);
  return {host, to_gpu(host)};
}

Pair zeros_pair(const Shape& shape) {
  Tensor host = cpu().zeros(shape);
  return {host, to_gpu(host)};
}

void expect_same(const Pair& p, const std::string& what) {
  EXPECT_LT(max_rel_error(to_cpu(p.gpu), p.cpu), kTolerance) << what;
}

std::string where(const Shape& shape, int step) {
  return "shape " + shape.str() + ", step " + std::to_string(step);
}

TEST(CudaOptim, SgdMatchesCpu) {
  TB_REQUIRE_GPU();
  struct Options {
    float momentum, dampening, weight_decay;
    bool nesterov;
  };
  const std::vector<Options> options = {{0.0f, 0.0f, 0.0f, false}, {0.0f, 0.0f, 0.01f, false},
                                        {0.9f, 0.0f, 0.0f, false}, {0.9f, 0.1f, 0.01f, false},
                                        {0.9f, 0.0f, 0.0f, true},  {0.9f, 0.0f, 0.01f, true}};
  std::uint32_t seed = 1;
  for (const Options& o : options) {
    for (const Shape& shape : kShapes) {
      Pair param = random_pair(shape, seed++);
      Pair velocity = o.momentum != 0.0f ? zeros_pair(shape) : Pair{};
      for (int step = 0; step < kSteps; ++step) {
        const Pair grad = random_pair(shape, seed++);
        tensor::SgdStep s;
        s.lr = 0.05f;
        s.momentum = o.momentum;
        s.dampening = o.dampening;
        s.weight_decay = o.weight_decay;
        s.nesterov = o.nesterov;
        s.first_step = step == 0;
        cpu().sgd_step(param.cpu, grad.cpu, velocity.cpu, s);
        cuda()->sgd_step(param.gpu, grad.gpu, velocity.gpu, s);
        const std::string what = where(shape, step) + ", momentum " + std::to_string(o.momentum) +
                                 ", dampening " + std::to_string(o.dampening) + ", decay " +
                                 std::to_string(o.weight_decay) + (o.nesterov ? ", nesterov" : "");
        expect_same(param, "param, " + what);
        if (o.momentum != 0.0f) expect_same(velocity, "velocity, " + what);
      }
    }
  }
}

TEST(CudaOptim, AdamAndAdamwMatchCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 100;
  for (bool decoupled : {false, true}) {
    for (bool amsgrad : {false, true}) {
      for (float weight_decay : {0.0f, 0.05f}) {
        for (const Shape& shape : kShapes) {
          Pair param = random_pair(shape, seed++);
          Pair m = zeros_pair(shape), v = zeros_pair(shape);
          Pair vmax = amsgrad ? zeros_pair(shape) : Pair{};
          for (int step = 1; step <= kSteps; ++step) {
            const Pair grad = random_pair(shape, seed++);
            tensor::AdamStep s;
            s.lr = 0.01f;
            s.weight_decay = weight_decay;
            s.decoupled = decoupled;
            s.amsgrad = amsgrad;
            s.bias_correction1 = static_cast<float>(1.0 - std::pow(double{s.beta1}, step));
            s.bias_correction2 = static_cast<float>(1.0 - std::pow(double{s.beta2}, step));
            cpu().adam_step(param.cpu, grad.cpu, m.cpu, v.cpu, vmax.cpu, s);
            cuda()->adam_step(param.gpu, grad.gpu, m.gpu, v.gpu, vmax.gpu, s);
            const std::string what = where(shape, step) + (decoupled ? ", adamw" : ", adam") +
                                     (amsgrad ? ", amsgrad" : "") + ", decay " +
                                     std::to_string(weight_decay);
            expect_same(param, "param, " + what);
            expect_same(m, "exp_avg, " + what);
            expect_same(v, "exp_avg_sq, " + what);
            if (amsgrad) expect_same(vmax, "max_exp_avg_sq, " + what);
          }
        }
      }
    }
  }
}

TEST(CudaOptim, RmspropMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 200;
  for (bool centered : {false, true}) {
    for (float momentum : {0.0f, 0.9f}) {
      for (float weight_decay : {0.0f, 0.01f}) {
        for (const Shape& shape : kShapes) {
          Pair param = random_pair(shape, seed++);
          Pair square_avg = zeros_pair(shape);
          Pair grad_avg = centered ? zeros_pair(shape) : Pair{};
          Pair buf = momentum > 0.0f ? zeros_pair(shape) : Pair{};
          for (int step = 0; step < kSteps; ++step) {
            const Pair grad = random_pair(shape, seed++);
            tensor::RmspropStep s;
            s.lr = 1e-3f;
            s.momentum = momentum;
            s.weight_decay = weight_decay;
            s.centered = centered;
            cpu().rmsprop_step(param.cpu, grad.cpu, square_avg.cpu, grad_avg.cpu, buf.cpu, s);
            cuda()->rmsprop_step(param.gpu, grad.gpu, square_avg.gpu, grad_avg.gpu, buf.gpu, s);
            const std::string what = where(shape, step) + (centered ? ", centered" : "") +
                                     ", momentum " + std::to_string(momentum) + ", decay " +
                                     std::to_string(weight_decay);
            expect_same(param, "param, " + what);
            expect_same(square_avg, "square_avg, " + what);
            if (centered) expect_same(grad_avg, "grad_avg, " + what);
            if (momentum > 0.0f) expect_same(buf, "momentum_buf, " + what);
          }
        }
      }
    }
  }
}

TEST(CudaOptim, LionMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 300;
  for (float weight_decay : {0.0f, 0.1f}) {
    for (const Shape& shape : kShapes) {
      Pair param = random_pair(shape, seed++);
      Pair m = zeros_pair(shape);
      for (int step = 0; step < kSteps; ++step) {
        const Pair grad = random_pair(shape, seed++);
        tensor::LionStep s;
        s.lr = 1e-3f;
        s.weight_decay = weight_decay;
        cpu().lion_step(param.cpu, grad.cpu, m.cpu, s);
        cuda()->lion_step(param.gpu, grad.gpu, m.gpu, s);
        const std::string what = where(shape, step) + ", decay " + std::to_string(weight_decay);
        expect_same(param, "param, " + what);
        expect_same(m, "exp_avg, " + what);
      }
    }
  }
}

TEST(CudaOptim, LionSignOfZeroIsZero) {
  TB_REQUIRE_GPU();
  // Zero momentum and gradient: c = 0, so only the decay moves p.
  Pair param = random_pair(Shape{300}, 310);
  Pair m = zeros_pair(Shape{300}), grad = zeros_pair(Shape{300});
  tensor::LionStep s;
  s.lr = 0.1f;
  s.weight_decay = 0.5f;
  cpu().lion_step(param.cpu, grad.cpu, m.cpu, s);
  cuda()->lion_step(param.gpu, grad.gpu, m.gpu, s);
  expect_same(param, "param");
}

TEST(CudaOptim, LerpMatchesCpu) {
  TB_REQUIRE_GPU();
  std::uint32_t seed = 400;
  for (float alpha : {0.5f, 0.8f}) {
    for (const Shape& shape : kShapes) {
      Pair slow = random_pair(shape, seed++), fast = random_pair(shape, seed++);
      cpu().lerp_(slow.cpu, fast.cpu, tensor::LerpStep{alpha});
      cuda()->lerp_(slow.gpu, fast.gpu, tensor::LerpStep{alpha});
      const std::string what = "shape " + shape.str() + ", alpha " + std::to_string(alpha);
      expect_same(slow, "slow, " + what);
      expect_same(fast, "fast, " + what);
    }
  }
}

TEST(CudaOptim, UnscaleAndCheckFiniteMatchesCpu) {
  TB_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    const char* what;
    float value;      // written at `at` (unless NaN-free finite case)
    float inv_scale;  // applied to everything
    bool poison;      // whether to write `value`
    bool expected;
  };
  const std::vector<Case> cases = {
      {"finite", 0.0f, 1.0f / 1024.0f, false, false},
      {"inf", inf, 1.0f / 1024.0f, true, true},
      {"-inf", -inf, 0.5f, true, true},
      {"NaN", nan, 1.0f / 65536.0f, true, true},
      {"finite but overflows when unscaled", 3e38f, 4.0f, true, true},
      {"finite, large", 3e38f, 0.5f, true, false},
  };
  std::uint32_t seed = 500;
  for (const Shape& shape : kShapes) {
    for (const Case& c : cases) {
      Pair grad = random_pair(shape, seed++, -1000.0f, 1000.0f);
      if (c.poison) {
        // At the last element: the end of the grid-stride loop's last pass.
        grad.cpu.data()[grad.cpu.numel() - 1] = c.value;
        grad.gpu = to_gpu(grad.cpu);
      }
      const bool cpu_found = cpu().unscale_and_check_finite(grad.cpu, c.inv_scale);
      const bool gpu_found = cuda()->unscale_and_check_finite(grad.gpu, c.inv_scale);
      const std::string what = std::string(c.what) + ", shape " + shape.str();
      EXPECT_EQ(cpu_found, c.expected) << what;
      EXPECT_EQ(gpu_found, cpu_found) << what;
      expect_same(grad, what);
    }
  }
  Tensor empty = cuda()->empty(Shape{0}, DType::f32);
  EXPECT_FALSE(cuda()->unscale_and_check_finite(empty, 2.0f));
}

// Runs call(backend, side) on each backend, `side` picking every Pair's tensor for it, and
// expects the GPU to throw the tb::Error the CPU throws, word for word.
template <class Call>
void expect_same_error(const Call& call) {
  const std::string expected = error_of([&] { call(cpu(), &Pair::cpu); });
  EXPECT_NE(expected, "(no tb::Error thrown)");
  EXPECT_EQ(error_of([&] { call(*cuda(), &Pair::gpu); }), expected);
}

using Side = Tensor Pair::*;

TEST(CudaOptim, MissingOrMismatchedBuffersThrowAsOnTheCpu) {
  TB_REQUIRE_GPU();
  const Shape shape{10};
  Pair param = random_pair(shape, 600), grad = random_pair(shape, 601);
  Pair wrong = random_pair(Shape{11}, 602), state = zeros_pair(shape), state2 = zeros_pair(shape);
  Pair none;

  tensor::SgdStep sgd;
  expect_same_error([&](Backend& b, Side on) {  // gradient of another size
    b.sgd_step(param.*on, wrong.*on, state.*on, sgd);
  });
  sgd.momentum = 0.9f;
  expect_same_error([&](Backend& b, Side on) {  // velocity of another size
    b.sgd_step(param.*on, grad.*on, wrong.*on, sgd);
  });
  EXPECT_THROW(cuda()->sgd_step(param.gpu, grad.gpu, none.gpu, sgd), Error);

  tensor::AdamStep adam;
  expect_same_error([&](Backend& b, Side on) {  // no exp_avg
    b.adam_step(param.*on, grad.*on, none.*on, state.*on, none.*on, adam);
  });
  expect_same_error([&](Backend& b, Side on) {
    b.adam_step(param.*on, wrong.*on, state.*on, state2.*on, none.*on, adam);
  });
  adam.amsgrad = true;
  expect_same_error([&](Backend& b, Side on) {  // amsgrad without max_exp_avg_sq
    b.adam_step(param.*on, grad.*on, state.*on, state2.*on, none.*on, adam);
  });
  adam.amsgrad = false;
  adam.bias_correction2 = 0.0f;  // a 0-based step count
  expect_same_error([&](Backend& b, Side on) {
    b.adam_step(param.*on, grad.*on, state.*on, state2.*on, none.*on, adam);
  });

  tensor::RmspropStep rms;
  rms.centered = true;
  expect_same_error([&](Backend& b, Side on) {  // centered without grad_avg
    b.rmsprop_step(param.*on, grad.*on, state.*on, none.*on, none.*on, rms);
  });
  rms.centered = false;
  rms.momentum = 0.9f;
  expect_same_error([&](Backend& b, Side on) {
    b.rmsprop_step(param.*on, grad.*on, state.*on, none.*on, wrong.*on, rms);
  });

  expect_same_error([&](Backend& b, Side on) {
    b.lion_step(param.*on, grad.*on, wrong.*on, tensor::LionStep{});
  });
  expect_same_error(
      [&](Backend& b, Side on) { b.lerp_(param.*on, wrong.*on, tensor::LerpStep{}); });

  // Tensors that are not on the GPU.
  EXPECT_THROW(cuda()->lion_step(param.cpu, grad.cpu, state.cpu, tensor::LionStep{}), Error);
  EXPECT_THROW(cuda()->unscale_and_check_finite(param.cpu, 1.0f), Error);
}

}  // namespace
}  // namespace tb::gpu::testing
