// Multi-tensor optimizer updates and unscale: the kernels of optim.h over a list of tensors with
// the same scalars, in one launch where the single-tensor launchers take one a tensor (a model's
// hundreds of small parameters cost a launch each otherwise).
//
// As PyTorch's multi_tensor_apply does it: the launcher packs up to a fixed number of tensors'
// pointers and sizes into a table passed by value as a kernel argument (a few KB at most, so no
// copy to the device first); each tensor is cut into fixed-size chunks and every block of the
// grid updates one (tensor, chunk). A list longer than one table takes one launch per table.
// The per-element arithmetic is optim_element.h's, the single-tensor kernels' own.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "gpu/kernels/optim.h"

namespace tb::gpu::kernels {

// One tensor of a multi-tensor update: its [n] buffers, with the single-tensor launcher's rules
// for the optional ones (null where an option does not use them).
struct SgdOperands {
  float* param;
  const float* grad;
  float* velocity;  // momentum only
  std::int64_t n;
};
struct AdamOperands {
  float* param;
  const float* grad;
  float* exp_avg;
  float* exp_avg_sq;
  float* max_exp_avg_sq;  // amsgrad only
  std::int64_t n;
};
struct RmspropOperands {
  float* param;
  const float* grad;
  float* square_avg;
  float* grad_avg;      // centered only
  float* momentum_buf;  // momentum only
  std::int64_t n;
};
struct LionOperands {
  float* param;
  const float* grad;
  float* exp_avg;
  std::int64_t n;
};
struct UnscaleOperands {
  float* grad;
  std::int64_t n;
};

// The options hold for the whole list, and every tensor must have the buffers they use (the
// caller checks): momentum when s.momentum != 0 (SGD) or > 0 (RMSProp), amsgrad and centered as
// passed. Tensors with n == 0 are skipped.
void sgd_step_multi(const SgdOperands* tensors, std::size_t count, const SgdScalars& s,
                    cudaStream_t stream);
void adam_step_multi(const AdamOperands* tensors, std::size_t count, const AdamScalars& s,
                     bool amsgrad, cudaStream_t stream);
void rmsprop_step_multi(const RmspropOperands* tensors, std::size_t count, const RmspropScalars& s,
                        bool centered, cudaStream_t stream);
void lion_step_multi(const LionOperands* tensors, std::size_t count, const LionScalars& s,
                     cudaStream_t stream);

// grad *= inv_scale for every tensor; *found = 1 if any result is inf or NaN, else 0 (*found is
// one unsigned of device memory, cleared here first, written by every launch of the list).
void unscale_and_check_multi(const UnscaleOperands* tensors, std::size_t count, float inv_scale,
                             unsigned* found, cudaStream_t stream);

}  // namespace tb::gpu::kernels
