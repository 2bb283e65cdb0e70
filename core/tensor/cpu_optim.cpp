// The CPU backend's fused optimizer updates: each reads and writes parameter, gradient and state
// once per element in one OpenMP-parallel, vectorised pass, allocating nothing (Adam and RMSProp
// use a 4 KiB block on the stack for their square roots, see below). They are memory-bound (Adam
// moves 28 bytes per parameter for a few flops), so the loops stay simple enough for the
// compiler to vectorise, and options become loop-invariant scalars or template parameters rather
// than branches per element.
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/tensor/cpu_backend.h"
#include "core/util/error.h"

namespace tb::tensor {
namespace {

// Adam and RMSProp work in blocks of kBlock elements (see below); a thread's share is a whole
// number of blocks.
constexpr std::int64_t kBlock = 1024;

// Runs body(begin, end) over contiguous shares of [0, n), one per thread, or over all of it on
// this thread below the parallel grain. Shares start at multiples of kBlock, so every element
// lies at the same place within its block (vector body or scalar tail, which may round
// differently: FMA contraction) whatever the thread count, and results are bitwise identical
// on any number of threads.
template <class Body>
void for_shares(std::int64_t n, int threads, const Body& body) {
  if (n <= kParallelGrain || threads <= 1) {
    body(std::int64_t{0}, n);
    return;
  }
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
#pragma omp parallel num_threads(threads)
  {
    const std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    const std::int64_t begin = blocks * t / nt * kBlock;
    const std::int64_t end = std::min(n, blocks * (t + 1) / nt * kBlock);
    if (begin < end) body(begin, end);
  }
}

// Adam and RMSProp take square roots, and GCC will not vectorise std::sqrt in a loop: it must set
// errno on a negative argument, so every call gets a branch to the library (-fno-math-errno
// would lift that, but GCC ignores it as a function attribute). So these two updates go through
// blocks: a vectorised loop computes the new state and the value under the root into a scratch
// block on the stack, Eigen's vectorised sqrt takes the roots in place, and a second vectorised
// loop updates p. A block's slices of p, g and state (6 x 4 KiB) stay in L1 between the loops,
// so memory still sees one read and one write per array, as with a single loop.
void sqrt_in_place(float* x, std::int64_t n) {
  Eigen::Map<Eigen::ArrayXf> a(x, n);
  a = a.sqrt();
}

template <bool kAmsgrad>
void adam_loop(float* p, const float* g, float* m, float* v, float* vmax, std::int64_t n,
               const AdamStep& s, int threads) {
  const float b1 = s.beta1, b2 = s.beta2, one_b1 = 1.0f - s.beta1, one_b2 = 1.0f - s.beta2;
  // L2 decay enters the gradient (adam); decoupled decay shrinks p directly (adamw). One of the
  // two is zero, so both terms stay in the loop without a branch.
  const float l2 = s.decoupled ? 0.0f : s.weight_decay;
  const float lr_wd = s.decoupled ? s.lr * s.weight_decay : 0.0f;
  const float step_size = s.lr / s.bias_correction1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(s.bias_correction2);
  const float eps = s.eps;
  for_shares(n, threads, [=](std::int64_t begin, std::int64_t end) {
    alignas(64) float root[kBlock];
    for (std::int64_t b = begin; b < end; b += kBlock) {
      const std::int64_t len = std::min(kBlock, end - b);
      float *pb = p + b, *mb = m + b, *vb = v + b;
      const float* gb = g + b;
#pragma omp simd
      for (std::int64_t i = 0; i < len; ++i) {
        const float gi = gb[i] + l2 * pb[i];
        mb[i] = b1 * mb[i] + one_b1 * gi;
        const float vi = b2 * vb[i] + one_b2 * gi * gi;
        vb[i] = vi;
        if constexpr (kAmsgrad) {
          const float vm = vmax[b + i] > vi ? vmax[b + i] : vi;
          vmax[b + i] = vm;
          root[i] = vm;
        } else {
          root[i] = vi;
        }
      }
      sqrt_in_place(root, len);
#pragma omp simd
      for (std::int64_t i = 0; i < len; ++i) {
        // Decoupled decay and the step leave p in one subtraction: one rounding of p, not two.
        pb[i] -= lr_wd * pb[i] + step_size * mb[i] / (root[i] * inv_sqrt_bc2 + eps);
      }
    }
  });
}

template <bool kCentered, bool kMomentum>
void rmsprop_loop(float* p, const float* g, float* sq, float* ga, float* buf, std::int64_t n,
                  const RmspropStep& s, int threads) {
  const float alpha = s.alpha, one_alpha = 1.0f - s.alpha;
  const float wd = s.weight_decay, eps = s.eps, lr = s.lr, mu = s.momentum;
  for_shares(n, threads, [=](std::int64_t begin, std::int64_t end) {
    alignas(64) float root[kBlock];
    for (std::int64_t b = begin; b < end; b += kBlock) {
      const std::int64_t len = std::min(kBlock, end - b);
      float *pb = p + b, *sqb = sq + b;
      const float* gb = g + b;
#pragma omp simd
      for (std::int64_t i = 0; i < len; ++i) {
        const float gi = gb[i] + wd * pb[i];
        const float vi = alpha * sqb[i] + one_alpha * gi * gi;
        sqb[i] = vi;
        if constexpr (kCentered) {
          const float ai = alpha * ga[b + i] + one_alpha * gi;
          ga[b + i] = ai;
          // v - ga^2 cancels where the two are close, amplifying the rounding of ga^2: in double
          // the product of two floats is exact, so the difference is rounded once, whether or
          // not the build has FMA.
          const double var = static_cast<double>(vi) - static_cast<double>(ai) * ai;
          root[i] = var > 0.0 ? static_cast<float>(var) : 0.0f;
        } else {
          root[i] = vi;
        }
      }
      sqrt_in_place(root, len);
#pragma omp simd
      for (std::int64_t i = 0; i < len; ++i) {
        const float step = (gb[i] + wd * pb[i]) / (root[i] + eps);
        if constexpr (kMomentum) {
          const float bi = mu * buf[b + i] + step;
          buf[b + i] = bi;
          pb[i] -= lr * bi;
        } else {
          pb[i] -= lr * step;
        }
      }
    }
  });
}

}  // namespace

void CpuBackend::adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                           Tensor& max_exp_avg_sq, const AdamStep& step) {
  require_like_param("adam_step", "grad", param, grad);
  require_like_param("adam_step", "exp_avg", param, exp_avg);
  require_like_param("adam_step", "exp_avg_sq", param, exp_avg_sq);
  if (!(step.bias_correction1 > 0.0f && step.bias_correction2 > 0.0f)) {
    throw Error("adam_step: bias corrections must be > 0 (is the step count 1-based?)");
  }
  const auto n = param.numel();
  if (step.amsgrad) {
    require_like_param("adam_step", "max_exp_avg_sq", param, max_exp_avg_sq);
    adam_loop<true>(param.data(), grad.data(), exp_avg.data(), exp_avg_sq.data(),
                    max_exp_avg_sq.data(), n, step, threads_);
  } else {
    adam_loop<false>(param.data(), grad.data(), exp_avg.data(), exp_avg_sq.data(), nullptr, n, step,
                     threads_);
  }
}

void CpuBackend::rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg,
                              Tensor& grad_avg, Tensor& momentum_buf, const RmspropStep& step) {
  require_like_param("rmsprop_step", "grad", param, grad);
  require_like_param("rmsprop_step", "square_avg", param, square_avg);
  const bool momentum = step.momentum > 0.0f;
  if (step.centered) require_like_param("rmsprop_step", "grad_avg", param, grad_avg);
  if (momentum) require_like_param("rmsprop_step", "momentum_buf", param, momentum_buf);
  float* p = param.data();
  const float* g = grad.data();
  float* sq = square_avg.data();
  float* ga = step.centered ? grad_avg.data() : nullptr;
  float* buf = momentum ? momentum_buf.data() : nullptr;
  const auto n = param.numel();
  if (step.centered && momentum) {
    rmsprop_loop<true, true>(p, g, sq, ga, buf, n, step, threads_);
  } else if (step.centered) {
    rmsprop_loop<true, false>(p, g, sq, ga, buf, n, step, threads_);
  } else if (momentum) {
    rmsprop_loop<false, true>(p, g, sq, ga, buf, n, step, threads_);
  } else {
    rmsprop_loop<false, false>(p, g, sq, ga, buf, n, step, threads_);
  }
}

void CpuBackend::lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                           const LionStep& step) {
  require_like_param("lion_step", "grad", param, grad);
  require_like_param("lion_step", "exp_avg", param, exp_avg);
  float* p = param.data();
  const float* g = grad.data();
  float* m = exp_avg.data();
  const auto n = param.numel();
  const float b1 = step.beta1, one_b1 = 1.0f - step.beta1;
  const float b2 = step.beta2, one_b2 = 1.0f - step.beta2;
  const float lr = step.lr, wd = step.weight_decay;
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float c = b1 * m[i] + one_b1 * gi;
    // sign(c) with sign(0) = 0, as torch.sign; written as two comparisons so it vectorises.
    const float sign = static_cast<float>(c > 0.0f) - static_cast<float>(c < 0.0f);
    p[i] -= lr * (wd * p[i] + sign);
    m[i] = b2 * m[i] + one_b2 * gi;
  }
}

void CpuBackend::lerp_(Tensor& slow, Tensor& fast, const LerpStep& step) {
  require_like_param("lerp_", "fast", slow, fast);
  float* s = slow.data();
  float* f = fast.data();
  const auto n = slow.numel();
  const float alpha = step.alpha;
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = s[i] + alpha * (f[i] - s[i]);
    s[i] = v;
    f[i] = v;
  }
}

void CpuBackend::scale(Tensor& t, float factor) {
  float* x = t.data();
  const auto n = t.numel();
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) x[i] *= factor;
}

bool CpuBackend::unscale_and_check_finite(Tensor& grad, float inv_scale) {
  float* g = grad.data();
  const auto n = grad.numel();
  // Inf and NaN both have an all-ones exponent. Tested on the bits, so that it stays right (and
  // vectorises to an OR-reduction) whatever floating-point flags the build uses.
  std::uint32_t found = 0;
#pragma omp parallel for simd num_threads(threads_) reduction(| : found) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    g[i] *= inv_scale;
    found |= (std::bit_cast<std::uint32_t>(g[i]) & 0x7F800000u) == 0x7F800000u ? 1u : 0u;
  }
  return found != 0;
}

}  // namespace tb::tensor
