// CudaBackend's optimizer updates and loss scaling: the CPU backend's checks (same op names and
// wording), the step's scalars folded on the host exactly as cpu_optim.cpp folds them, then one
// fused kernel of gpu/kernels/optim.h per update.
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/kernels/optim.h"

namespace tb::gpu {
using tensor::Tensor;

void CudaBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                           const tensor::SgdStep& step) {
  constexpr const char* op = "sgd_step";
  float* p = f32(param, op);
  const float* g = f32(grad, op);
  require_same_numel(op, param, grad);
  float* v = nullptr;
  if (step.momentum != 0.0f) {
    v = f32(velocity, op);
    require_same_numel(op, param, velocity);
  }
  const kernels::SgdScalars s{step.lr,           step.momentum, 1.0f - step.dampening,
                              step.weight_decay, step.nesterov, step.first_step};
  kernels::sgd_step(p, g, v, param.numel(), s, stream_);
}

void CudaBackend::adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                            Tensor& max_exp_avg_sq, const tensor::AdamStep& step) {
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
    vmax = f32(max_exp_avg_sq, op);
  }
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
  kernels::adam_step(f32(param, op), f32(grad, op), f32(exp_avg, op), f32(exp_avg_sq, op), vmax,
                     param.numel(), s, stream_);
}

void CudaBackend::rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg,
                               Tensor& grad_avg, Tensor& momentum_buf,
                               const tensor::RmspropStep& step) {
  constexpr const char* op = "rmsprop_step";
  require_like_param(op, "grad", param, grad);
  require_like_param(op, "square_avg", param, square_avg);
  const bool momentum = step.momentum > 0.0f;
  if (step.centered) require_like_param(op, "grad_avg", param, grad_avg);
  if (momentum) require_like_param(op, "momentum_buf", param, momentum_buf);
  float* ga = step.centered ? f32(grad_avg, op) : nullptr;
  float* buf = momentum ? f32(momentum_buf, op) : nullptr;
  const kernels::RmspropScalars s{step.lr,  step.alpha,        1.0f - step.alpha,
                                  step.eps, step.weight_decay, step.momentum};
  kernels::rmsprop_step(f32(param, op), f32(grad, op), f32(square_avg, op), ga, buf, param.numel(),
                        s, stream_);
}

void CudaBackend::lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                            const tensor::LionStep& step) {
  constexpr const char* op = "lion_step";
  require_like_param(op, "grad", param, grad);
  require_like_param(op, "exp_avg", param, exp_avg);
  const kernels::LionScalars s{step.lr,    step.beta1,        1.0f - step.beta1,
                               step.beta2, 1.0f - step.beta2, step.weight_decay};
  kernels::lion_step(f32(param, op), f32(grad, op), f32(exp_avg, op), param.numel(), s, stream_);
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

}  // namespace tb::gpu
