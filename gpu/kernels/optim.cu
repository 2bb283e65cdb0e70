#include <cstdint>

#include "gpu/kernels/launch.h"
#include "gpu/kernels/optim.h"

namespace tb::gpu::kernels {
namespace {

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

template <bool kMomentum>
__global__ void sgd_kernel(float* param /* [n] */, const float* grad /* [n] */,
                           float* velocity /* [n], unused without momentum */, std::int64_t n,
                           SgdScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
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
}

template <bool kAmsgrad>
__global__ void adam_kernel(float* param /* [n] */, const float* grad /* [n] */,
                            float* exp_avg /* [n] */, float* exp_avg_sq /* [n] */,
                            float* max_exp_avg_sq /* [n], amsgrad only */, std::int64_t n,
                            AdamScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
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
}

template <bool kCentered, bool kMomentum>
__global__ void rmsprop_kernel(float* param /* [n] */, const float* grad /* [n] */,
                               float* square_avg /* [n] */,
                               float* grad_avg /* [n], centered only */,
                               float* momentum_buf /* [n], momentum only */, std::int64_t n,
                               RmspropScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
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
}

__global__ void lion_kernel(float* param /* [n] */, const float* grad /* [n] */,
                            float* exp_avg /* [n] */, std::int64_t n, LionScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const float p = param[i], g = grad[i], m = exp_avg[i];
    const float c = add(mul(s.beta1, m), mul(s.one_minus_beta1, g));
    const float sign = static_cast<float>(c > 0.0f) - static_cast<float>(c < 0.0f);  // sign(0) = 0
    param[i] = sub(p, mul(s.lr, add(mul(s.weight_decay, p), sign)));
    exp_avg[i] = add(mul(s.beta2, m), mul(s.one_minus_beta2, g));
  }
}

__global__ void lerp_kernel(float* slow /* [n] */, float* fast /* [n] */, std::int64_t n,
                            float alpha) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const float s = slow[i];
    const float v = add(s, mul(alpha, sub(fast[i], s)));
    slow[i] = v;
    fast[i] = v;
  }
}

__global__ void unscale_kernel(float* grad /* [n] */, std::int64_t n, float inv_scale,
                               unsigned* found /* [1] */) {
  bool bad = false;
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    const float g = grad[i] * inv_scale;
    grad[i] = g;
    // Inf and NaN have an all-ones exponent; tested on the bits as the CPU tests them.
    bad |= (__float_as_uint(g) & 0x7F800000u) == 0x7F800000u;
  }
  // Every lane has left the loop: one store a warp at most, and none on the usual finite step.
  if (__any_sync(0xffffffffu, bad) && threadIdx.x % 32 == 0) *found = 1u;
}

}  // namespace

void sgd_step(float* param, const float* grad, float* velocity, std::int64_t n, const SgdScalars& s,
              cudaStream_t stream) {
  if (n <= 0) return;
  if (s.momentum == 0.0f) {
    sgd_kernel<false><<<grid_for(n), kBlock, 0, stream>>>(param, grad, velocity, n, s);
    check_launch(__func__);
  } else {
    sgd_kernel<true><<<grid_for(n), kBlock, 0, stream>>>(param, grad, velocity, n, s);
    check_launch(__func__);
  }
}

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq,
               float* max_exp_avg_sq, std::int64_t n, const AdamScalars& s, cudaStream_t stream) {
  if (n <= 0) return;
  if (max_exp_avg_sq) {
    adam_kernel<true><<<grid_for(n), kBlock, 0, stream>>>(param, grad, exp_avg, exp_avg_sq,
                                                          max_exp_avg_sq, n, s);
    check_launch(__func__);
  } else {
    adam_kernel<false>
        <<<grid_for(n), kBlock, 0, stream>>>(param, grad, exp_avg, exp_avg_sq, nullptr, n, s);
    check_launch(__func__);
  }
}

void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg,
                  float* momentum_buf, std::int64_t n, const RmspropScalars& s,
                  cudaStream_t stream) {
  if (n <= 0) return;
  const unsigned grid = grid_for(n);
  if (grad_avg && momentum_buf) {
    rmsprop_kernel<true, true>
        <<<grid, kBlock, 0, stream>>>(param, grad, square_avg, grad_avg, momentum_buf, n, s);
    check_launch(__func__);
  } else if (grad_avg) {
    rmsprop_kernel<true, false>
        <<<grid, kBlock, 0, stream>>>(param, grad, square_avg, grad_avg, momentum_buf, n, s);
    check_launch(__func__);
  } else if (momentum_buf) {
    rmsprop_kernel<false, true>
        <<<grid, kBlock, 0, stream>>>(param, grad, square_avg, grad_avg, momentum_buf, n, s);
    check_launch(__func__);
  } else {
    rmsprop_kernel<false, false>
        <<<grid, kBlock, 0, stream>>>(param, grad, square_avg, grad_avg, momentum_buf, n, s);
    check_launch(__func__);
  }
}

void lion_step(float* param, const float* grad, float* exp_avg, std::int64_t n,
               const LionScalars& s, cudaStream_t stream) {
  if (n <= 0) return;
  lion_kernel<<<grid_for(n), kBlock, 0, stream>>>(param, grad, exp_avg, n, s);
  check_launch(__func__);
}

void lerp(float* slow, float* fast, std::int64_t n, float alpha, cudaStream_t stream) {
  if (n <= 0) return;
  lerp_kernel<<<grid_for(n), kBlock, 0, stream>>>(slow, fast, n, alpha);
  check_launch(__func__);
}

void unscale_and_check(float* grad, std::int64_t n, float inv_scale, unsigned* found,
                       cudaStream_t stream) {
  cudaMemsetAsync(found, 0, sizeof(*found), stream);
  check_launch(__func__);
  if (n <= 0) return;
  unscale_kernel<<<grid_for(n), kBlock, 0, stream>>>(grad, n, inv_scale, found);
  check_launch(__func__);
}

}  // namespace tb::gpu::kernels
