#include <cstdint>

#include "gpu/kernels/launch.h"
#include "gpu/kernels/optim.h"
#include "gpu/kernels/optim_element.h"

namespace tb::gpu::kernels {
namespace {

using element::add;
using element::mul;
using element::sub;

// The updates themselves are optim_element.h's, shared with the multi-tensor kernels.
template <bool kMomentum>
__global__ void sgd_kernel(float* param /* [n] */, const float* grad /* [n] */,
                           float* velocity /* [n], unused without momentum */, std::int64_t n,
                           SgdScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    element::sgd<kMomentum>(param, grad, velocity, i, s);
  }
}

template <bool kAmsgrad>
__global__ void adam_kernel(float* param /* [n] */, const float* grad /* [n] */,
                            float* exp_avg /* [n] */, float* exp_avg_sq /* [n] */,
                            float* max_exp_avg_sq /* [n], amsgrad only */, std::int64_t n,
                            AdamScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    element::adam<kAmsgrad>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, i, s);
  }
}

template <bool kCentered, bool kMomentum>
__global__ void rmsprop_kernel(float* param /* [n] */, const float* grad /* [n] */,
                               float* square_avg /* [n] */,
                               float* grad_avg /* [n], centered only */,
                               float* momentum_buf /* [n], momentum only */, std::int64_t n,
                               RmspropScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    element::rmsprop<kCentered, kMomentum>(param, grad, square_avg, grad_avg, momentum_buf, i, s);
  }
}

__global__ void lion_kernel(float* param /* [n] */, const float* grad /* [n] */,
                            float* exp_avg /* [n] */, std::int64_t n, LionScalars s) {
  for (std::int64_t i = global_index(); i < n; i += grid_stride()) {
    element::lion(param, grad, exp_avg, i, s);
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
    bad |= element::unscale(grad, i, inv_scale);
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
