// CudaBackend's optimizer updates and loss scaling: the CPU backend's checks (same op names and
// wording), the step's scalars folded on the host exactly as cpu_optim.cpp folds them, then one
// fused kernel of gpu/kernels/optim.h per update, or for the multi-tensor ops one launch of
// gpu/kernels/optim_multi.h over the whole list. The single and multi ops share the checks and
// the folding below, so a tensor is refused, and updated, alike by both.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/kernels/optim.h"
#include "gpu/kernels/optim_multi.h"

namespace tb::gpu {
using tensor::Tensor;

namespace {

// One tensor's operands, checked as the CPU checks them (messages name the single op).
kernels::SgdOperands sgd_operands(Tensor& param, const Tensor& grad, Tensor& velocity,
                                  const tensor::SgdStep& step) {
  constexpr const char* op = "sgd_step";
  float* p = CudaBackend::f32(param, op);
  const float* g = CudaBackend::f32(grad, op);
  require_same_numel(op, param, grad);
  float* v = nullptr;
  if (step.momentum != 0.0f) {
    v = CudaBackend::f32(velocity, op);
    require_same_numel(op, param, velocity);
  }
  return {p, g, v, param.numel()};
}

kernels::SgdScalars sgd_scalars(const tensor::SgdStep& step) {
  return {step.lr,           step.momentum, 1.0f - step.dampening,
          step.weight_decay, step.nesterov, step.first_step};
}

kernels::AdamOperands adam_operands(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                                    Tensor& exp_avg_sq, Tensor& max_exp_avg_sq,
                                    const tensor::AdamStep& step) {
  constexpr const char* op = "adam_step";
  require_like_param(op, "grad", param, grad);
  require_like_param(op, "exp_avg", param, exp_avg);
  require_like_param(op, "exp_avg_sq", param, exp_avg_sq);
  if (!(step.bias_correction1 > 0.0f && step.bias_correction2 > 0.0f)) {
    throw Error("adam_step: bias corrections must be > 0 (is the step count 1-based?)");
  }
  float* vmax = nullptr;
  if (step.amsgrad) {
    require_like_param(op, "max_exp_avg_sq", param, max_exp_avg_sq);
    vmax = CudaBackend::f32(max_exp_avg_sq, op);
  }
  return {CudaBackend::f32(param, op),
          CudaBackend::f32(grad, op),
          CudaBackend::f32(exp_avg, op),
          CudaBackend::f32(exp_avg_sq, op),
          vmax,
          param.numel()};
}

kernels::AdamScalars adam_scalars(const tensor::AdamStep& step) {
  kernels::AdamScalars s{};
  s.beta1 = step.beta1;
  s.one_minus_beta1 = 1.0f - step.beta1;
  s.beta2 = step.beta2;
  s.one_minus_beta2 = 1.0f - step.beta2;
  // L2 decay enters the gradient (adam), decoupled decay shrinks p directly (adamw); the other
  // term is zero.
  s.l2 = step.decoupled ? 0.0f : step.weight_decay;
  s.lr_wd = step.decoupled ? step.lr * step.weight_decay : 0.0f;
  s.step_size = step.lr / step.bias_correction1;
  s.inv_sqrt_bc2 = 1.0f / std::sqrt(step.bias_correction2);
  s.eps = step.eps;
  return s;
}

kernels::RmspropOperands rmsprop_operands(Tensor& param, const Tensor& grad, Tensor& square_avg,
                                          Tensor& grad_avg, Tensor& momentum_buf,
                                          const tensor::RmspropStep& step) {
  constexpr const char* op = "rmsprop_step";
  require_like_param(op, "grad", param, grad);
  require_like_param(op, "square_avg", param, square_avg);
  const bool momentum = step.momentum > 0.0f;
  if (step.centered) require_like_param(op, "grad_avg", param, grad_avg);
  if (momentum) require_like_param(op, "momentum_buf", param, momentum_buf);
  float* ga = step.centered ? CudaBackend::f32(grad_avg, op) : nullptr;
  float* buf = momentum ? CudaBackend::f32(momentum_buf, op) : nullptr;
  return {CudaBackend::f32(param, op),
          CudaBackend::f32(grad, op),
          CudaBackend::f32(square_avg, op),
          ga,
          buf,
          param.numel()};
}

kernels::RmspropScalars rmsprop_scalars(const tensor::RmspropStep& step) {
  return {step.lr, step.alpha, 1.0f - step.alpha, step.eps, step.weight_decay, step.momentum};
}

kernels::LionOperands lion_operands(Tensor& param, const Tensor& grad, Tensor& exp_avg) {
  constexpr const char* op = "lion_step";
  require_like_param(op, "grad", param, grad);
  require_like_param(op, "exp_avg", param, exp_avg);
  return {CudaBackend::f32(param, op), CudaBackend::f32(grad, op), CudaBackend::f32(exp_avg, op),
          param.numel()};
}

kernels::LionScalars lion_scalars(const tensor::LionStep& step) {
  return {step.lr, step.beta1, 1.0f - step.beta1, step.beta2, 1.0f - step.beta2, step.weight_decay};
}

// A multi-tensor op's optional buffer: the tensor, or `none` (undefined) where it is null.
Tensor& or_none(Tensor* t, Tensor& none) {
  return t != nullptr ? *t : none;
}

}  // namespace

void CudaBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                           const tensor::SgdStep& step) {
  const auto o = sgd_operands(param, grad, velocity, step);
  kernels::sgd_step(o.param, o.grad, o.velocity, o.n, sgd_scalars(step), stream_);
}

void CudaBackend::adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                            Tensor& max_exp_avg_sq, const tensor::AdamStep& step) {
  const auto o = adam_operands(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step);
  kernels::adam_step(o.param, o.grad, o.exp_avg, o.exp_avg_sq, o.max_exp_avg_sq, o.n,
                     adam_scalars(step), stream_);
}

void CudaBackend::rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg,
                               Tensor& grad_avg, Tensor& momentum_buf,
                               const tensor::RmspropStep& step) {
  const auto o = rmsprop_operands(param, grad, square_avg, grad_avg, momentum_buf, step);
  kernels::rmsprop_step(o.param, o.grad, o.square_avg, o.grad_avg, o.momentum_buf, o.n,
                        rmsprop_scalars(step), stream_);
}

void CudaBackend::lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                            const tensor::LionStep& step) {
  const auto o = lion_operands(param, grad, exp_avg);
  kernels::lion_step(o.param, o.grad, o.exp_avg, o.n, lion_scalars(step), stream_);
}

void CudaBackend::lerp_(Tensor& slow, Tensor& fast, const tensor::LerpStep& step) {
  constexpr const char* op = "lerp_";
  require_like_param(op, "fast", slow, fast);
  kernels::lerp(f32(slow, op), f32(fast, op), slow.numel(), step.alpha, stream_);
}

bool CudaBackend::unscale_and_check_finite(Tensor& grad, float inv_scale) {
  constexpr const char* op = "unscale_and_check_finite";
  float* g = f32(grad, op);
  auto* found = static_cast<unsigned*>(scratch(sizeof(unsigned)));
  kernels::unscale_and_check(g, grad.numel(), inv_scale, found, stream_);
  auto* host = static_cast<unsigned*>(host_scratch(sizeof(unsigned)));
  check_cuda(cudaMemcpyAsync(host, found, sizeof(unsigned), cudaMemcpyDeviceToHost, stream_), op);
  sync(op);
  return *host != 0;
}

// The multi-tensor ops: every tensor checked (and refused) as the single op checks it, before
// anything is launched, then one launch over the list.
void CudaBackend::sgd_step_multi(std::span<const tensor::SgdTensors> tensors,
                                 const tensor::SgdStep& step) {
  Tensor none;
  std::vector<kernels::SgdOperands> operands;
  operands.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor::SgdTensors& t = tensors[i];
    require_param_and_grad("sgd_step", i, t.param, t.grad);
    operands.push_back(sgd_operands(*t.param, *t.grad, or_none(t.velocity, none), step));
  }
  kernels::sgd_step_multi(operands.data(), operands.size(), sgd_scalars(step), stream_);
}

void CudaBackend::adam_step_multi(std::span<const tensor::AdamTensors> tensors,
                                  const tensor::AdamStep& step) {
  Tensor none;
  std::vector<kernels::AdamOperands> operands;
  operands.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor::AdamTensors& t = tensors[i];
    require_param_and_grad("adam_step", i, t.param, t.grad);
    operands.push_back(adam_operands(*t.param, *t.grad, or_none(t.exp_avg, none),
                                     or_none(t.exp_avg_sq, none), or_none(t.max_exp_avg_sq, none),
                                     step));
  }
  kernels::adam_step_multi(operands.data(), operands.size(), adam_scalars(step), step.amsgrad,
                           stream_);
}

void CudaBackend::rmsprop_step_multi(std::span<const tensor::RmspropTensors> tensors,
                                     const tensor::RmspropStep& step) {
  Tensor none;
  std::vector<kernels::RmspropOperands> operands;
  operands.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor::RmspropTensors& t = tensors[i];
    require_param_and_grad("rmsprop_step", i, t.param, t.grad);
    operands.push_back(rmsprop_operands(*t.param, *t.grad, or_none(t.square_avg, none),
                                        or_none(t.grad_avg, none), or_none(t.momentum_buf, none),
                                        step));
  }
  kernels::rmsprop_step_multi(operands.data(), operands.size(), rmsprop_scalars(step),
                              step.centered, stream_);
}

void CudaBackend::lion_step_multi(std::span<const tensor::LionTensors> tensors,
                                  const tensor::LionStep& step) {
  Tensor none;
  std::vector<kernels::LionOperands> operands;
  operands.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const tensor::LionTensors& t = tensors[i];
    require_param_and_grad("lion_step", i, t.param, t.grad);
    operands.push_back(lion_operands(*t.param, *t.grad, or_none(t.exp_avg, none)));
  }
  kernels::lion_step_multi(operands.data(), operands.size(), lion_scalars(step), stream_);
}

bool CudaBackend::unscale_and_check_finite_multi(std::span<Tensor* const> grads, float inv_scale) {
  constexpr const char* op = "unscale_and_check_finite";
  std::vector<kernels::UnscaleOperands> operands;
  operands.reserve(grads.size());
  for (std::size_t i = 0; i < grads.size(); ++i) {
    require(grads[i] != nullptr, op,
            "tensor " + std::to_string(i) + " of the list has no gradient");
    operands.push_back({f32(*grads[i], op), grads[i]->numel()});
  }
  if (operands.empty()) return false;
  // One flag for the whole list, one read back: one wait for the stream a step.
  auto* found = static_cast<unsigned*>(scratch(sizeof(unsigned)));
  kernels::unscale_and_check_multi(operands.data(), operands.size(), inv_scale, found, stream_);
  auto* host = static_cast<unsigned*>(host_scratch(sizeof(unsigned)));
  check_cuda(cudaMemcpyAsync(host, found, sizeof(unsigned), cudaMemcpyDeviceToHost, stream_), op);
  sync(op);
  return *host != 0;
}

}  // namespace tb::gpu
