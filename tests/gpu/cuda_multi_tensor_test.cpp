// The CUDA backend's multi-tensor optimizer updates and unscale (gpu/kernels/optim_multi.cu):
// over lists of odd sizes (1, 3, 1000 and 70000 elements, across chunks of a block) and longer
// than one launch's table, several steps of every option combination against the CPU's single
// ops within cuda_optim_test.cpp's fp32 tolerance, and bit for bit against the CUDA single ops
// (the kernels share their per-element update); the unscale finds an inf or NaN in the last
// tensor of the last launch and unscales every tensor; an entry is refused as on the CPU, and on
// the GPU before any tensor of the list is updated.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "tests/gpu/gpu_test_support.h"

namespace tb::gpu::testing {
namespace {

constexpr double kTolerance = 1e-5;  // as cuda_optim_test.cpp
constexpr int kSteps = 3;

// The odd sizes, then more tensors than any launch's table holds (at most 128 tensors, fewer for
// the updates with more buffers), then a large one again: it lands in a later launch.
std::vector<std::int64_t> list_sizes() {
  std::vector<std::int64_t> sizes = {1, 3, 1000, 70'000};
  for (int i = 0; i < 150; ++i) sizes.push_back(1 + (i * 37) % 300);
  sizes.push_back(70'001);
  return sizes;
}

// One list of tensors three times: on the CPU (the single ops' reference), on the GPU for the
// CUDA single ops, and on the GPU for the multi op. All three start equal.
struct Copies {
  std::vector<Tensor> cpu, gpu_single, gpu_multi;
};

Copies random_copies(const std::vector<std::int64_t>& sizes, std::uint32_t seed, float lo = -1.0f,
                     float hi = 1.0f) {
  Copies c;
  for (const std::int64_t n : sizes) {
    Tensor host = random_cpu(Shape{n}, seed++, lo, hi);
    c.gpu_single.push_back(to_gpu(host));
    c.gpu_multi.push_back(to_gpu(host));
    c.cpu.push_back(host);
  }
  return c;
}

Copies zero_copies(const std::vector<std::int64_t>& sizes) {
  Copies c;
  for (const std::int64_t n : sizes) {
    c.cpu.push_back(cpu().zeros(Shape{n}));
    c.gpu_single.push_back(cuda()->zeros(Shape{n}));
    c.gpu_multi.push_back(cuda()->zeros(Shape{n}));
  }
  return c;
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.numel() != b.numel()) return false;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    if (std::bit_cast<std::uint32_t>(a.data()[i]) != std::bit_cast<std::uint32_t>(b.data()[i])) {
      return false;
    }
  }
  return true;
}

// Every tensor of the multi copy: within kTolerance of the CPU, and the CUDA single op's bits.
void expect_same(const Copies& c, const std::string& what) {
  int bad = 0;
  for (std::size_t i = 0; i < c.cpu.size() && bad < 5; ++i) {
    const Tensor multi = to_cpu(c.gpu_multi[i]);
    const double error = max_rel_error(multi, c.cpu[i]);
    const bool same_bits = bitwise_equal(multi, to_cpu(c.gpu_single[i]));
    EXPECT_LT(error, kTolerance) << what << ", tensor " << i << " of " << c.cpu[i].numel();
    EXPECT_TRUE(same_bits) << what << ", tensor " << i << ": multi and single kernels differ";
    bad += (error >= kTolerance || !same_bits) ? 1 : 0;
  }
}

// The list's optional buffer, or nulls where the option does not use it.
Tensor* at_or_null(std::vector<Tensor>& buffers, std::size_t i) {
  return buffers.empty() ? nullptr : &buffers[i];
}
Tensor& at_or_none(std::vector<Tensor>& buffers, std::size_t i, Tensor& none) {
  return buffers.empty() ? none : buffers[i];
}

TEST(CudaMultiTensor, SgdMatchesCpu) {
  TB_REQUIRE_GPU();
  struct Options {
    float momentum, dampening, weight_decay;
    bool nesterov;
  };
  const auto sizes = list_sizes();
  std::uint32_t seed = 1;
  for (const Options o : {Options{0.0f, 0.0f, 0.0f, false}, Options{0.0f, 0.0f, 0.01f, false},
                          Options{0.9f, 0.1f, 0.01f, false}, Options{0.9f, 0.0f, 0.01f, true}}) {
    const bool momentum = o.momentum != 0.0f;
    Copies param = random_copies(sizes, seed += 1000);
    Copies velocity = momentum ? zero_copies(sizes) : Copies{};
    for (int step = 1; step <= kSteps; ++step) {
      Copies grad = random_copies(sizes, seed += 1000);
      tensor::SgdStep s;
      s.lr = 0.05f;
      s.momentum = o.momentum;
      s.dampening = o.dampening;
      s.weight_decay = o.weight_decay;
      s.nesterov = o.nesterov;
      s.first_step = step == 1;
      std::vector<tensor::SgdTensors> list;
      Tensor none;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        cpu().sgd_step(param.cpu[i], grad.cpu[i], at_or_none(velocity.cpu, i, none), s);
        cuda()->sgd_step(param.gpu_single[i], grad.gpu_single[i],
                         at_or_none(velocity.gpu_single, i, none), s);
        list.push_back(
            {&param.gpu_multi[i], &grad.gpu_multi[i], at_or_null(velocity.gpu_multi, i)});
      }
      cuda()->sgd_step_multi(list, s);
      const std::string what = "step " + std::to_string(step) + ", momentum " +
                               std::to_string(o.momentum) + (o.nesterov ? ", nesterov" : "");
      expect_same(param, "param, " + what);
      if (momentum) expect_same(velocity, "velocity, " + what);
    }
  }
}

TEST(CudaMultiTensor, AdamAndAdamwMatchCpu) {
  TB_REQUIRE_GPU();
  const auto sizes = list_sizes();
  std::uint32_t seed = 100'000;
  for (bool decoupled : {false, true}) {
    for (bool amsgrad : {false, true}) {
      for (float weight_decay : {0.0f, 0.05f}) {
        Copies param = random_copies(sizes, seed += 1000);
        Copies m = zero_copies(sizes), v = zero_copies(sizes);
        Copies vmax = amsgrad ? zero_copies(sizes) : Copies{};
        for (int step = 1; step <= kSteps; ++step) {
          Copies grad = random_copies(sizes, seed += 1000);
          tensor::AdamStep s;
          s.lr = 0.01f;
          s.weight_decay = weight_decay;
          s.decoupled = decoupled;
          s.amsgrad = amsgrad;
          s.bias_correction1 = static_cast<float>(1.0 - std::pow(double{s.beta1}, step));
          s.bias_correction2 = static_cast<float>(1.0 - std::pow(double{s.beta2}, step));
          std::vector<tensor::AdamTensors> list;
          Tensor none;
          for (std::size_t i = 0; i < sizes.size(); ++i) {
            cpu().adam_step(param.cpu[i], grad.cpu[i], m.cpu[i], v.cpu[i],
                            at_or_none(vmax.cpu, i, none), s);
            cuda()->adam_step(param.gpu_single[i], grad.gpu_single[i], m.gpu_single[i],
                              v.gpu_single[i], at_or_none(vmax.gpu_single, i, none), s);
            list.push_back({&param.gpu_multi[i], &grad.gpu_multi[i], &m.gpu_multi[i],
                            &v.gpu_multi[i], at_or_null(vmax.gpu_multi, i)});
          }
          cuda()->adam_step_multi(list, s);
          const std::string what =
              "step " + std::to_string(step) + (decoupled ? ", adamw" : ", adam") +
              (amsgrad ? ", amsgrad" : "") + ", decay " + std::to_string(weight_decay);
          expect_same(param, "param, " + what);
          expect_same(m, "exp_avg, " + what);
          expect_same(v, "exp_avg_sq, " + what);
          if (amsgrad) expect_same(vmax, "max_exp_avg_sq, " + what);
        }
      }
    }
  }
}

TEST(CudaMultiTensor, RmspropMatchesCpu) {
  TB_REQUIRE_GPU();
  const auto sizes = list_sizes();
  std::uint32_t seed = 200'000;
  for (bool centered : {false, true}) {
    for (float momentum : {0.0f, 0.9f}) {
      for (float weight_decay : {0.0f, 0.01f}) {
        Copies param = random_copies(sizes, seed += 1000);
        Copies square_avg = zero_copies(sizes);
        Copies grad_avg = centered ? zero_copies(sizes) : Copies{};
        Copies buf = momentum > 0.0f ? zero_copies(sizes) : Copies{};
        for (int step = 1; step <= kSteps; ++step) {
          Copies grad = random_copies(sizes, seed += 1000);
          tensor::RmspropStep s;
          s.lr = 1e-3f;
          s.momentum = momentum;
          s.weight_decay = weight_decay;
          s.centered = centered;
          std::vector<tensor::RmspropTensors> list;
          Tensor none;
          for (std::size_t i = 0; i < sizes.size(); ++i) {
            cpu().rmsprop_step(param.cpu[i], grad.cpu[i], square_avg.cpu[i],
                               at_or_none(grad_avg.cpu, i, none), at_or_none(buf.cpu, i, none), s);
            cuda()->rmsprop_step(param.gpu_single[i], grad.gpu_single[i], square_avg.gpu_single[i],
                                 at_or_none(grad_avg.gpu_single, i, none),
                                 at_or_none(buf.gpu_single, i, none), s);
            list.push_back({&param.gpu_multi[i], &grad.gpu_multi[i], &square_avg.gpu_multi[i],
                            at_or_null(grad_avg.gpu_multi, i), at_or_null(buf.gpu_multi, i)});
          }
          cuda()->rmsprop_step_multi(list, s);
          const std::string what = "step " + std::to_string(step) + (centered ? ", centered" : "") +
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

TEST(CudaMultiTensor, LionMatchesCpu) {
  TB_REQUIRE_GPU();
  const auto sizes = list_sizes();
  std::uint32_t seed = 300'000;
  for (float weight_decay : {0.0f, 0.1f}) {
    Copies param = random_copies(sizes, seed += 1000);
    Copies m = zero_copies(sizes);
    for (int step = 1; step <= kSteps; ++step) {
      Copies grad = random_copies(sizes, seed += 1000);
      tensor::LionStep s;
      s.lr = 1e-3f;
      s.weight_decay = weight_decay;
      std::vector<tensor::LionTensors> list;
      for (std::size_t i = 0; i < sizes.size(); ++i) {
        cpu().lion_step(param.cpu[i], grad.cpu[i], m.cpu[i], s);
        cuda()->lion_step(param.gpu_single[i], grad.gpu_single[i], m.gpu_single[i], s);
        list.push_back({&param.gpu_multi[i], &grad.gpu_multi[i], &m.gpu_multi[i]});
      }
      cuda()->lion_step_multi(list, s);
      const std::string what =
          "step " + std::to_string(step) + ", decay " + std::to_string(weight_decay);
      expect_same(param, "param, " + what);
      expect_same(m, "exp_avg, " + what);
    }
  }
}

TEST(CudaMultiTensor, UnscaleFindsTheLastTensorsInfAndUnscalesEveryTensor) {
  TB_REQUIRE_GPU();
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto sizes = list_sizes();
  struct Case {
    const char* what;
    bool poison;  // write `value` at the last element of the last tensor
    float value, inv_scale;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"all finite", false, 0.0f, 1.0f / 1024.0f, false},
      {"inf in the last tensor", true, inf, 1.0f / 1024.0f, true},
      {"NaN in the last tensor", true, nan, 1.0f / 65536.0f, true},
      {"finite, overflows when unscaled", true, 3e38f, 4.0f, true},
  };
  std::uint32_t seed = 400'000;
  for (const Case& c : cases) {
    Copies grads = random_copies(sizes, seed += 1000, -1000.0f, 1000.0f);
    if (c.poison) {
      Tensor& last = grads.cpu.back();
      last.data()[last.numel() - 1] = c.value;
      grads.gpu_multi.back() = to_gpu(last);
    }
    bool cpu_found = false;
    std::vector<Tensor*> list;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      cpu_found = cpu().unscale_and_check_finite(grads.cpu[i], c.inv_scale) || cpu_found;
      list.push_back(&grads.gpu_multi[i]);
    }
    EXPECT_EQ(cpu_found, c.expected) << c.what;
    EXPECT_EQ(cuda()->unscale_and_check_finite_multi(list, c.inv_scale), c.expected) << c.what;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      EXPECT_LT(max_rel_error(to_cpu(grads.gpu_multi[i]), grads.cpu[i]), kTolerance)
          << c.what << ", tensor " << i;
    }
  }
  // A flag left set by one call does not leak into the next; an empty list finds nothing.
  Copies finite = random_copies({5, 7}, 1);
  std::vector<Tensor*> list = {&finite.gpu_multi[0], &finite.gpu_multi[1]};
  EXPECT_FALSE(cuda()->unscale_and_check_finite_multi(list, 0.5f));
  EXPECT_FALSE(cuda()->unscale_and_check_finite_multi({}, 0.5f));
}

TEST(CudaMultiTensor, ARefusedEntryThrowsAsOnTheCpuBeforeAnyUpdate) {
  TB_REQUIRE_GPU();
  Copies param = random_copies({10, 10}, 600), grad = random_copies({10, 10}, 610);
  Copies state = zero_copies({10, 10}), state2 = zero_copies({10, 10});
  Copies wrong = zero_copies({11});
  tensor::AdamStep adam;
  adam.bias_correction1 = adam.bias_correction2 = 0.5f;
  // Tensor 1's exp_avg does not fit: the CPU's message, and tensor 0 is not updated on the GPU.
  const auto list_on = [&](std::vector<Tensor>& p, std::vector<Tensor>& g, std::vector<Tensor>& m,
                           std::vector<Tensor>& v, Tensor& bad) {
    return std::vector<tensor::AdamTensors>{{&p[0], &g[0], &m[0], &v[0], nullptr},
                                            {&p[1], &g[1], &bad, &v[1], nullptr}};
  };
  const auto cpu_list = list_on(param.cpu, grad.cpu, state.cpu, state2.cpu, wrong.cpu[0]);
  const auto gpu_list = list_on(param.gpu_multi, grad.gpu_multi, state.gpu_multi, state2.gpu_multi,
                                wrong.gpu_multi[0]);
  const std::string expected = error_of([&] { cpu().adam_step_multi(cpu_list, adam); });
  EXPECT_NE(expected, "(no tb::Error thrown)");
  EXPECT_EQ(error_of([&] { cuda()->adam_step_multi(gpu_list, adam); }), expected);
  EXPECT_TRUE(bitwise_equal(to_cpu(param.gpu_multi[0]), to_cpu(param.gpu_single[0])))
      << "tensor 0 was updated before tensor 1 was refused";

  // Options that need a buffer the entry lacks.
  tensor::RmspropStep rms;
  rms.centered = true;
  const std::vector<tensor::RmspropTensors> no_grad_avg = {
      {&param.gpu_multi[0], &grad.gpu_multi[0], &state.gpu_multi[0], nullptr, nullptr}};
  const std::vector<tensor::RmspropTensors> no_grad_avg_cpu = {
      {&param.cpu[0], &grad.cpu[0], &state.cpu[0], nullptr, nullptr}};
  EXPECT_EQ(error_of([&] { cuda()->rmsprop_step_multi(no_grad_avg, rms); }),
            error_of([&] { cpu().rmsprop_step_multi(no_grad_avg_cpu, rms); }));
  tensor::SgdStep sgd;
  sgd.momentum = 0.9f;
  const std::vector<tensor::SgdTensors> no_velocity = {
      {&param.gpu_multi[0], &grad.gpu_multi[0], nullptr}};
  EXPECT_THROW(cuda()->sgd_step_multi(no_velocity, sgd), Error);

  // Tensors that are not on the GPU.
  const std::vector<tensor::LionTensors> on_cpu = {{&param.cpu[0], &grad.cpu[0], &state.cpu[0]}};
  EXPECT_THROW(cuda()->lion_step_multi(on_cpu, tensor::LionStep{}), Error);
  std::vector<Tensor*> cpu_grads = {&grad.cpu[0]};
  EXPECT_THROW(cuda()->unscale_and_check_finite_multi(cpu_grads, 1.0f), Error);
}

}  // namespace
}  // namespace tb::gpu::testing
