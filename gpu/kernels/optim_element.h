// The optimizer updates and the loss-scaling unscale for one element i, as __device__ functions:
// the single-tensor kernels (optim.cu) and the multi-tensor kernels (optim_multi.cu) both call
// these, so the two cannot diverge by a bit. Included by .cu files only.
#pragma once

#include <cstdint>

#include "gpu/kernels/optim.h"

namespace tb::gpu::kernels::element {

#ifdef __CUDACC__

// The CPU reference rounds each product and sum as its source writes them, while nvcc would fuse
// a * b + c into one FMA (one rounding instead of two). The updates spell their roundings out with
// the _rn intrinsics, which are never fused, so that SGD, Lion and lerp agree with a CPU build
// that does not contract either bit for bit, rather than drifting apart step by step. (Adam and
// RMSProp still differ in the last bits: Eigen's vectorised sqrt on the CPU is an approximation
// under its default EIGEN_FAST_MATH, where __fsqrt_rn here is exact.)
__device__ __forceinline__ float mul(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ __forceinline__ float add(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ __forceinline__ float sub(float a, float b) {
  return __fsub_rn(a, b);
}
__device__ __forceinline__ float div(float a, float b) {
  return __fdiv_rn(a, b);
}

// velocity: unused without momentum.
template <bool kMomentum>
__device__ __forceinline__ void sgd(float* param, const float* grad, float* velocity,
                                    std::int64_t i, const SgdScalars& s) {
  const float p = param[i];
  const float d = add(grad[i], mul(s.weight_decay, p));
  if constexpr (kMomentum) {
    const float buf = s.first_step ? d : add(mul(s.momentum, velocity[i]), mul(s.keep, d));
    velocity[i] = buf;
    param[i] = sub(p, mul(s.lr, s.nesterov ? add(d, mul(s.momentum, buf)) : buf));
  } else {
    param[i] = sub(p, mul(s.lr, d));
  }
}

// max_exp_avg_sq: amsgrad only.
template <bool kAmsgrad>
__device__ __forceinline__ void adam(float* param, const float* grad, float* exp_avg,
                                     float* exp_avg_sq, float* max_exp_avg_sq, std::int64_t i,
                                     const AdamScalars& s) {
  const float p = param[i];
  const float g = add(grad[i], mul(s.l2, p));
  const float m = add(mul(s.beta1, exp_avg[i]), mul(s.one_minus_beta1, g));
  exp_avg[i] = m;
  const float v = add(mul(s.beta2, exp_avg_sq[i]), mul(mul(s.one_minus_beta2, g), g));
  exp_avg_sq[i] = v;
  float v_hat = v;
  if constexpr (kAmsgrad) {
    const float vmax = max_exp_avg_sq[i];
    v_hat = vmax > v ? vmax : v;
    max_exp_avg_sq[i] = v_hat;
  }
  const float denom = add(mul(__fsqrt_rn(v_hat), s.inv_sqrt_bc2), s.eps);
  // Decoupled decay and the step leave p in one subtraction: one rounding of p, as on the CPU.
  param[i] = sub(p, add(mul(s.lr_wd, p), div(mul(s.step_size, m), denom)));
}

// grad_avg: centered only; momentum_buf: momentum only.
template <bool kCentered, bool kMomentum>
__device__ __forceinline__ void rmsprop(float* param, const float* grad, float* square_avg,
                                        float* grad_avg, float* momentum_buf, std::int64_t i,
                                        const RmspropScalars& s) {
  const float p = param[i];
  const float g = add(grad[i], mul(s.weight_decay, p));
  const float v = add(mul(s.alpha, square_avg[i]), mul(mul(s.one_minus_alpha, g), g));
  square_avg[i] = v;
  float root;
  if constexpr (kCentered) {
    const float a = add(mul(s.alpha, grad_avg[i]), mul(s.one_minus_alpha, g));
    grad_avg[i] = a;
    // v - a^2 in double, as the CPU takes it: the product of two floats is exact there, so
    // the difference is rounded once, fused or not.
    const double var = static_cast<double>(v) - static_cast<double>(a) * a;
    root = __fsqrt_rn(var > 0.0 ? static_cast<float>(var) : 0.0f);
  } else {
    root = __fsqrt_rn(v);
  }
  const float step = div(g, add(root, s.eps));
  if constexpr (kMomentum) {
    const float buf = add(mul(s.momentum, momentum_buf[i]), step);
    momentum_buf[i] = buf;
    param[i] = sub(p, mul(s.lr, buf));
  } else {
    param[i] = sub(p, mul(s.lr, step));
  }
}

__device__ __forceinline__ void lion(float* param, const float* grad, float* exp_avg,
                                     std::int64_t i, const LionScalars& s) {
  const float p = param[i], g = grad[i], m = exp_avg[i];
  const float c = add(mul(s.beta1, m), mul(s.one_minus_beta1, g));
  const float sign = static_cast<float>(c > 0.0f) - static_cast<float>(c < 0.0f);  // sign(0) = 0
  param[i] = sub(p, mul(s.lr, add(mul(s.weight_decay, p), sign)));
  exp_avg[i] = add(mul(s.beta2, m), mul(s.one_minus_beta2, g));
}

// grad[i] *= inv_scale; returns whether the result is inf or NaN (an all-ones exponent, tested
// on the bits as the CPU tests them).
__device__ __forceinline__ bool unscale(float* grad, std::int64_t i, float inv_scale) {
  const float g = grad[i] * inv_scale;
  grad[i] = g;
  return (__float_as_uint(g) & 0x7F800000u) == 0x7F800000u;
}

#endif  // __CUDACC__

}  // namespace tb::gpu::kernels::element
