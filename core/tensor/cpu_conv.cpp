// CPU convolution (im2col + GEMM), max pooling and batch normalisation.
//
// Convolution works one sample at a time, samples spread over the OpenMP threads: each thread
// unfolds its sample into a private column buffer and multiplies it by the weights with Eigen on
// that thread alone. That keeps the column buffer in cache and needs no reduction in forward.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/tensor/cpu_backend.h"
#include "core/util/error.h"

namespace tb::tensor {
namespace {

using ConstMap = Eigen::Map<const RowMatrix>;
using Map = Eigen::Map<RowMatrix>;

// cols[(c*K + ki)*K + kj][oh*OW + ow] = x[c][oh*S - P + ki][ow*S - P + kj] (0 outside).
void im2col(const float* x, const Conv2dGeometry& g, float* cols) {
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    const float* plane = x + c * g.in_h * g.in_w;
    for (std::int64_t ki = 0; ki < g.kernel; ++ki) {
      for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
        float* row = cols + ((c * g.kernel + ki) * g.kernel + kj) * oh_n * ow_n;
        // Output columns whose input column lies inside the image: [ow_lo, ow_hi).
        const auto shift = kj - g.padding;
        const auto ow_lo = std::clamp<std::int64_t>((-shift + g.stride - 1) / g.stride, 0, ow_n);
        const auto ow_hi =
            std::clamp<std::int64_t>((g.in_w - shift + g.stride - 1) / g.stride, ow_lo, ow_n);
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const auto ih = oh * g.stride - g.padding + ki;
          float* out = row + oh * ow_n;
          if (ih < 0 || ih >= g.in_h) {
            std::fill_n(out, ow_n, 0.0f);
            continue;
          }
          const float* in = plane + ih * g.in_w;
          std::fill(out, out + ow_lo, 0.0f);
          if (g.stride == 1) {
            std::copy(in + ow_lo + shift, in + ow_hi + shift, out + ow_lo);
          } else {
            for (std::int64_t ow = ow_lo; ow < ow_hi; ++ow) out[ow] = in[ow * g.stride + shift];
          }
          std::fill(out + ow_hi, out + ow_n, 0.0f);
        }
      }
    }
  }
}

// The adjoint of im2col: accumulates columns back into the image dx (zeroed by the caller).
void col2im(const float* cols, const Conv2dGeometry& g, float* dx) {
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  for (std::int64_t c = 0; c < g.in_channels; ++c) {
    float* plane = dx + c * g.in_h * g.in_w;
    for (std::int64_t ki = 0; ki < g.kernel; ++ki) {
      for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
        const float* row = cols + ((c * g.kernel + ki) * g.kernel + kj) * oh_n * ow_n;
        for (std::int64_t oh = 0; oh < oh_n; ++oh) {
          const auto ih = oh * g.stride - g.padding + ki;
          if (ih < 0 || ih >= g.in_h) continue;
          float* out = plane + ih * g.in_w;
          const float* in = row + oh * ow_n;
          for (std::int64_t ow = 0; ow < ow_n; ++ow) {
            const auto iw = ow * g.stride - g.padding + kj;
            if (iw >= 0 && iw < g.in_w) out[iw] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                const Conv2dGeometry& g) {
  check_conv2d("conv2d_forward", x, w, g);
  const auto batch = x.shape()[0];
  const auto spatial = g.out_h() * g.out_w();
  const auto in_size = g.in_channels * g.in_h * g.in_w;
  if (y.shape() != Shape{batch, g.out_channels, g.out_h(), g.out_w()}) {
    throw Error("conv2d_forward: output " + y.shape().str() + " has the wrong shape");
  }
  ConstMap W(w.data(), g.out_channels, g.patch());
  Eigen::Map<const Eigen::VectorXf> bias(b.data(), g.out_channels);
  const float* in = x.data();
  float* out = y.data();
  const auto cols_size = static_cast<std::size_t>(g.patch() * spatial);
  scratch_.resize(static_cast<std::size_t>(threads_));
#pragma omp parallel num_threads(threads_)
  {
    auto& cols = scratch_[static_cast<std::size_t>(omp_get_thread_num())].cols;
    if (cols.size() < cols_size) cols.resize(cols_size);
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < batch; ++n) {
      im2col(in + n * in_size, g, cols.data());
      Map Y(out + n * g.out_channels * spatial, g.out_channels, spatial);
      Y.noalias() = W * ConstMap(cols.data(), g.patch(), spatial);
      Y.colwise() += bias;
    }
  }
}

void CpuBackend::conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx,
                                 Tensor& dw, Tensor& db, const Conv2dGeometry& g) {
  check_conv2d("conv2d_backward", x, w, g);
  const auto batch = x.shape()[0];
  const auto spatial = g.out_h() * g.out_w();
  const auto in_size = g.in_channels * g.in_h * g.in_w;
  ConstMap W(w.data(), g.out_channels, g.patch());
  const float* in = x.data();
  const float* grad_out = dy.data();
  float* grad_in = dx ? dx->data() : nullptr;
  const int workers =
      static_cast<int>(std::min<std::int64_t>(threads_, std::max<std::int64_t>(1, batch)));
  // Each thread sums its samples' weight and bias gradients privately; summed after.
  const auto cols_size = static_cast<std::size_t>(g.patch() * spatial);
  scratch_.resize(static_cast<std::size_t>(std::max(threads_, workers)));
#pragma omp parallel num_threads(workers)
  {
    const int t = omp_get_thread_num();
    auto& scratch = scratch_[static_cast<std::size_t>(t)];
    if (scratch.cols.size() < cols_size) scratch.cols.resize(cols_size);
    if (grad_in && scratch.dcols.size() < cols_size) scratch.dcols.resize(cols_size);
    scratch.dw.setZero(g.out_channels, g.patch());
    scratch.db.setZero(g.out_channels);
    auto& cols = scratch.cols;
    auto& dcols = scratch.dcols;
    auto& dw_part = scratch.dw;
    auto& db_part = scratch.db;
#pragma omp for schedule(static)
    for (std::int64_t n = 0; n < batch; ++n) {
      ConstMap dY(grad_out + n * g.out_channels * spatial, g.out_channels, spatial);
      im2col(in + n * in_size, g, cols.data());
      dw_part.noalias() += dY * ConstMap(cols.data(), g.patch(), spatial).transpose();
      db_part += dY.rowwise().sum();
      if (grad_in) {
        Map dC(dcols.data(), g.patch(), spatial);
        dC.noalias() = W.transpose() * dY;
        float* dx_n = grad_in + n * in_size;
        std::fill_n(dx_n, in_size, 0.0f);
        col2im(dcols.data(), g, dx_n);
      }
    }
  }
  Map dW(dw.data(), g.out_channels, g.patch());
  Eigen::Map<Eigen::VectorXf> dB(db.data(), g.out_channels);
  dW = scratch_[0].dw;
  dB = scratch_[0].db;
  for (int t = 1; t < workers; ++t) {
    dW += scratch_[static_cast<std::size_t>(t)].dw;
    dB += scratch_[static_cast<std::size_t>(t)].db;
  }
}

void CpuBackend::maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                                   const Pool2dGeometry& g) {
  const auto batch = x.shape()[0];
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  if (x.shape() != Shape{batch, g.channels, g.in_h, g.in_w} ||
      y.shape() != Shape{batch, g.channels, oh_n, ow_n} || argmax.shape() != y.shape()) {
    throw Error("maxpool2d_forward: shapes " + x.shape().str() + " -> " + y.shape().str() +
                " do not match the pooling geometry");
  }
  const float* in = x.data();
  float* out = y.data();
  std::int32_t* arg = argmax.data_i32();
  const auto planes = batch * g.channels;
#pragma omp parallel for num_threads(threads_) if (planes * oh_n * ow_n > 4096)
  for (std::int64_t p = 0; p < planes; ++p) {
    const float* plane = in + p * g.in_h * g.in_w;
    for (std::int64_t oh = 0; oh < oh_n; ++oh) {
      for (std::int64_t ow = 0; ow < ow_n; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        std::int64_t best_at = (oh * g.stride) * g.in_w + ow * g.stride;
        for (std::int64_t ki = 0; ki < g.kernel; ++ki) {
          for (std::int64_t kj = 0; kj < g.kernel; ++kj) {
            const auto at = (oh * g.stride + ki) * g.in_w + ow * g.stride + kj;
            if (plane[at] > best) {
              best = plane[at];
              best_at = at;
            }
          }
        }
        const auto o = (p * oh_n + oh) * ow_n + ow;
        out[o] = best;
        arg[o] = static_cast<std::int32_t>(best_at);
      }
    }
  }
}

void CpuBackend::maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                                    const Pool2dGeometry& g) {
  const auto batch = dx.shape()[0];
  const auto planes = batch * g.channels;
  const auto out_plane = g.out_h() * g.out_w();
  const auto in_plane = g.in_h * g.in_w;
  const float* grad_out = dy.data();
  const std::int32_t* arg = argmax.data_i32();
  float* grad_in = dx.data();
#pragma omp parallel for num_threads(threads_) if (planes * out_plane > 4096)
  for (std::int64_t p = 0; p < planes; ++p) {
    float* plane = grad_in + p * in_plane;
    std::fill_n(plane, in_plane, 0.0f);
    for (std::int64_t o = 0; o < out_plane; ++o)
      plane[arg[p * out_plane + o]] += grad_out[p * out_plane + o];
  }
}

void CpuBackend::batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                         Tensor& running_mean, Tensor& running_var, float momentum,
                                         float eps) {
  const auto L = batchnorm_layout(x, gamma);
  const auto count = L.batch * L.spatial;
  const float* in = x.data();
  float* out = y.data();
#pragma omp parallel for num_threads(threads_)
  for (std::int64_t c = 0; c < L.channels; ++c) {
    double sum = 0.0, sum_sq = 0.0;
    for (std::int64_t n = 0; n < L.batch; ++n) {
      const float* v = in + (n * L.channels + c) * L.spatial;
      for (std::int64_t i = 0; i < L.spatial; ++i) {
        sum += v[i];
        sum_sq += static_cast<double>(v[i]) * v[i];
      }
    }
    const double mean = sum / static_cast<double>(count);
    const double var = std::max(0.0, sum_sq / static_cast<double>(count) - mean * mean);
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    save_mean.data()[c] = static_cast<float>(mean);
    save_invstd.data()[c] = invstd;
    const double unbiased = count > 1 ? var * count / (count - 1) : var;
    running_mean.data()[c] =
        (1 - momentum) * running_mean.data()[c] + momentum * static_cast<float>(mean);
    running_var.data()[c] =
        (1 - momentum) * running_var.data()[c] + momentum * static_cast<float>(unbiased);
    const float scale = gamma.data()[c] * invstd;
    const float shift = beta.data()[c] - static_cast<float>(mean) * scale;
    for (std::int64_t n = 0; n < L.batch; ++n) {
      const auto off = (n * L.channels + c) * L.spatial;
      for (std::int64_t i = 0; i < L.spatial; ++i) out[off + i] = in[off + i] * scale + shift;
    }
  }
}

void CpuBackend::batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                        const Tensor& running_mean, const Tensor& running_var,
                                        float eps, Tensor& y) {
  const auto L = batchnorm_layout(x, gamma);
  const float* in = x.data();
  float* out = y.data();
#pragma omp parallel for num_threads(threads_)
  for (std::int64_t c = 0; c < L.channels; ++c) {
    const float scale = gamma.data()[c] / std::sqrt(running_var.data()[c] + eps);
    const float shift = beta.data()[c] - running_mean.data()[c] * scale;
    for (std::int64_t n = 0; n < L.batch; ++n) {
      const auto off = (n * L.channels + c) * L.spatial;
      for (std::int64_t i = 0; i < L.spatial; ++i) out[off + i] = in[off + i] * scale + shift;
    }
  }
}

void CpuBackend::batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                    const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                    Tensor& dgamma, Tensor& dbeta) {
  const auto L = batchnorm_layout(x, gamma);
  const auto count = static_cast<float>(L.batch * L.spatial);
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
#pragma omp parallel for num_threads(threads_)
  for (std::int64_t c = 0; c < L.channels; ++c) {
    const float mean = save_mean.data()[c];
    const float invstd = save_invstd.data()[c];
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for (std::int64_t n = 0; n < L.batch; ++n) {
      const auto off = (n * L.channels + c) * L.spatial;
      for (std::int64_t i = 0; i < L.spatial; ++i) {
        sum_dy += g[off + i];
        sum_dy_xhat += static_cast<double>(g[off + i]) * (in[off + i] - mean) * invstd;
      }
    }
    dbeta.data()[c] = static_cast<float>(sum_dy);
    dgamma.data()[c] = static_cast<float>(sum_dy_xhat);
    // dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat))
    const float k = gamma.data()[c] * invstd / count;
    const auto mean_dy = static_cast<float>(sum_dy);
    const auto mean_dy_xhat = static_cast<float>(sum_dy_xhat);
    for (std::int64_t n = 0; n < L.batch; ++n) {
      const auto off = (n * L.channels + c) * L.spatial;
      for (std::int64_t i = 0; i < L.spatial; ++i) {
        const float xhat = (in[off + i] - mean) * invstd;
        out[off + i] = k * (count * g[off + i] - mean_dy - xhat * mean_dy_xhat);
      }
    }
  }
}

}  // namespace tb::tensor
