// Fused optimizer updates and loss-scaling kernels: each update reads and writes parameter,
// gradient and state once per element in one kernel. The scalars come precomputed by the host
// (as the CPU backend computes them, in float), so both backends start from the same values.
// Every buffer is [n] floats; a state pointer an option does not use may be null.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tb::gpu::kernels {

// tensor::SgdStep with keep = 1 - dampening.
struct SgdScalars {
  float lr, momentum, keep, weight_decay;
  bool nesterov, first_step;
};
// velocity may be null when momentum == 0 (the update keeps no state then).
void sgd_step(float* param, const float* grad, float* velocity, std::int64_t n, const SgdScalars& s,
              cudaStream_t stream);

// tensor::AdamStep folded as the CPU folds it: l2 = weight_decay for adam (0 for adamw), lr_wd =
// lr * weight_decay for adamw (0 for adam), step_size = lr / bias_correction1, inv_sqrt_bc2 =
// 1 / sqrt(bias_correction2).
struct AdamScalars {
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float l2, lr_wd, step_size, inv_sqrt_bc2, eps;
};
// max_exp_avg_sq null: no amsgrad.
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, std::int64_t n, const AdamScalars& s, cudaStream_t stream);

// tensor::RmspropStep with one_minus_alpha = 1 - alpha.
struct RmspropScalars {
  float lr, alpha, one_minus_alpha, eps, weight_decay, momentum;
};
// grad_avg null: not centered; momentum_buf null: no momentum.
void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg,
                  float* momentum_buf, std::int64_t n, const RmspropScalars& s,
                  cudaStream_t stream);

// tensor::LionStep with the 1 - beta terms.
struct LionScalars {
  float lr, beta1, one_minus_beta1, beta2, one_minus_beta2, weight_decay;
};
void lion_step(float* param, const float* grad, float* exp_avg, std::int64_t n,
               const LionScalars& s, cudaStream_t stream);

// slow[i] = fast[i] = slow[i] + alpha * (fast[i] - slow[i]).
void lerp(float* slow, float* fast, std::int64_t n, float alpha, cudaStream_t stream);

// grad[i] *= inv_scale; *found = 1 if any result is inf or NaN, else 0 (*found is one unsigned
// of device memory, cleared here first).
void unscale_and_check(float* grad, std::int64_t n, float inv_scale, unsigned* found,
                       cudaStream_t stream);

}  // namespace tb::gpu::kernels
