#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <math_constants.h>

#include "gpu/kernels/conv.h"
#include "gpu/kernels/launch.h"

namespace tb::gpu::kernels {
namespace {

// Threads a block for the per-channel reductions (a multiple of the warp size).
constexpr int kReduceBlock = 256;

// Elementwise kernels over a whole tensor divide a flat index into coordinates; 32-bit division
// is several times cheaper than 64-bit on the GPU, so they index in unsigned 32 bits where the
// tensor allows it. Below 2^31 elements, not 2^32: a grid-stride step past the end must not wrap.
template <typename Launch>
void with_index(std::int64_t total, Launch launch) {
  if (total < (std::int64_t{1} << 31)) {
    launch(0u);
  } else {
    launch(std::int64_t{0});
  }
}

// Sums a and b over the block (blockDim.x a multiple of 32, at most 1024); the totals are valid
// in thread 0. Called once per kernel: the shared arrays are not reused.
__device__ void block_sum2(double& a, double& b) {
  __shared__ double part_a[32], part_b[32];
  for (int offset = 16; offset > 0; offset >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, offset);
    b += __shfl_down_sync(0xffffffffu, b, offset);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    part_a[warp] = a;
    part_b[warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x) >> 5;
    a = lane < warps ? part_a[lane] : 0.0;
    b = lane < warps ? part_b[lane] : 0.0;
    for (int offset = 16; offset > 0; offset >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, offset);
      b += __shfl_down_sync(0xffffffffu, b, offset);
    }
  }
}

// Walks the elements of channel `c` of a [batch, channels, spatial] tensor that this thread owns
// in a block-strided loop, calling visit(offset). The (n, i) position advances by a fixed step
// instead of being divided out of a flat index each time.
template <typename Visit>
__device__ void for_channel(std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                            std::int64_t c, Visit visit) {
  if (spatial <= 0) return;  // an empty channel: the sums stay 0, as on the CPU
  const std::int64_t step = blockDim.x;
  const std::int64_t step_n = step / spatial, step_i = step % spatial;
  std::int64_t n = threadIdx.x / spatial, i = threadIdx.x % spatial;
  while (n < batch) {
    visit((n * channels + c) * spatial + i);
    n += step_n;
    i += step_i;
    if (i >= spatial) {
      i -= spatial;
      ++n;
    }
  }
}

// x: [images, C, H, W]; cols: element (n, p, s) at n * image_stride + p * row_stride + s.
template <typename T>
__global__ void im2col_kernel(const T* x, ConvDims d, int images, T* cols,
                              std::int64_t image_stride, std::int64_t row_stride) {
  const int spatial = d.out_h * d.out_w;
  const int patch = d.channels * d.kernel * d.kernel;
  const std::int64_t total = static_cast<std::int64_t>(images) * patch * spatial;
  for (std::int64_t i = global_index(); i < total; i += grid_stride()) {
    const int flat = static_cast<int>(i);
    const int s = flat % spatial, p = (flat / spatial) % patch, n = flat / spatial / patch;
    const int ow = s % d.out_w, oh = s / d.out_w;
    const int kj = p % d.kernel, ki = (p / d.kernel) % d.kernel, c = p / d.kernel / d.kernel;
    const int ih = oh * d.stride - d.padding + ki, iw = ow * d.stride - d.padding + kj;
    T v = 0;
    if (ih >= 0 && ih < d.in_h && iw >= 0 && iw < d.in_w) {
      v = x[((static_cast<std::int64_t>(n) * d.channels + c) * d.in_h + ih) * d.in_w + iw];
    }
    cols[n * image_stride + p * row_stride + s] = v;
  }
}

// cols: element (n, p, s) at n * image_stride + p * row_stride + s; dx: [images, C, H, W].
__global__ void col2im_kernel(const float* cols, ConvDims d, int images, std::int64_t image_stride,
                              std::int64_t row_stride, float* dx) {
  const std::int64_t total = static_cast<std::int64_t>(images) * d.channels * d.in_h * d.in_w;
  for (std::int64_t i = global_index(); i < total; i += grid_stride()) {
    const int flat = static_cast<int>(i);
    const int iw = flat % d.in_w, ih = (flat / d.in_w) % d.in_h;
    const int c = (flat / d.in_w / d.in_h) % d.channels, n = flat / d.in_w / d.in_h / d.channels;
    const float* image = cols + n * image_stride;
    float sum = 0.0f;
    // ih = oh*S - P + ki: each kernel row reaches this pixel from at most one output row.
    for (int ki = 0; ki < d.kernel; ++ki) {
      const int th = ih + d.padding - ki;
      if (th < 0) break;  // only falls as ki grows
      if (th % d.stride != 0 || th / d.stride >= d.out_h) continue;
      const int oh = th / d.stride;
      for (int kj = 0; kj < d.kernel; ++kj) {
        const int tw = iw + d.padding - kj;
        if (tw < 0) break;
        if (tw % d.stride != 0 || tw / d.stride >= d.out_w) continue;
        const int p = (c * d.kernel + ki) * d.kernel + kj;
        sum += image[p * row_stride + oh * d.out_w + tw / d.stride];
      }
    }
    dx[i] = sum;
  }
}

// y: [images, channels, spatial], bias: [channels].
__global__ void add_channel_bias_kernel(float* y, const float* bias, int images, int channels,
                                        int spatial) {
  const std::int64_t total = static_cast<std::int64_t>(images) * channels * spatial;
  for (std::int64_t i = global_index(); i < total; i += grid_stride()) {
    y[i] += bias[(static_cast<int>(i) / spatial) % channels];
  }
}

// An f32 value as Out: itself, or rounded to nearest even to f16 or bf16.
template <typename Out>
__device__ Out narrow_to(float v);
template <>
__device__ float narrow_to<float>(float v) {
  return v;
}
template <>
__device__ __half narrow_to<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __nv_bfloat16 narrow_to<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// in: [images, channels, spatial], out: [channels, images * spatial].
template <typename Out>
__global__ void channels_first_kernel(const float* in, int images, int channels, int spatial,
                                      Out* out) {
  const std::int64_t total = static_cast<std::int64_t>(images) * channels * spatial;
  for (std::int64_t i = global_index(); i < total; i += grid_stride()) {
    const int flat = static_cast<int>(i);  // index into out
    const int s = flat % spatial, n = (flat / spatial) % images, c = flat / spatial / images;
    out[i] = narrow_to<Out>(in[(static_cast<std::int64_t>(n) * channels + c) * spatial + s]);
  }
}

// One block a channel. x: [batch, channels, spatial], sums: [channels].
__global__ void channel_sums_kernel(const float* x, std::int64_t batch, std::int64_t channels,
                                    std::int64_t spatial, float* sums) {
  const std::int64_t c = blockIdx.x;
  double sum = 0.0, unused = 0.0;
  for_channel(batch, channels, spatial, c, [&](std::int64_t at) { sum += x[at]; });
  block_sum2(sum, unused);
  if (threadIdx.x == 0) sums[c] = static_cast<float>(sum);
}

// planes of x: [in_h, in_w]; y, argmax: [planes, out_h, out_w].
template <typename Index>
__global__ void maxpool_forward_kernel(const float* x, Index total, int in_h, int in_w, int kernel,
                                       int stride, int out_h, int out_w, float* y,
                                       std::int32_t* argmax) {
  for (Index i = global_index(); i < total; i += grid_stride()) {
    const int ow = static_cast<int>(i % out_w), oh = static_cast<int>(i / out_w % out_h);
    const Index plane = i / out_w / out_h;
    const float* in = x + static_cast<std::int64_t>(plane) * in_h * in_w;
    // Strictly greater, in row-major window order: the first maximum wins, as on the CPU.
    float best = -CUDART_INF_F;
    int best_at = oh * stride * in_w + ow * stride;
    for (int ki = 0; ki < kernel; ++ki) {
      for (int kj = 0; kj < kernel; ++kj) {
        const int at = (oh * stride + ki) * in_w + ow * stride + kj;
        const float v = in[at];
        if (v > best) {
          best = v;
          best_at = at;
        }
      }
    }
    y[i] = best;
    argmax[i] = best_at;
  }
}

// dy, argmax: [planes, out_h, out_w]; dx: [planes, in_h, in_w].
template <typename Index>
__global__ void maxpool_backward_kernel(const float* dy, const std::int32_t* argmax, Index total,
                                        int in_h, int in_w, int kernel, int stride, int out_h,
                                        int out_w, float* dx) {
  for (Index i = global_index(); i < total; i += grid_stride()) {
    const int iw = static_cast<int>(i % in_w), ih = static_cast<int>(i / in_w % in_h);
    const std::int64_t plane_out = static_cast<std::int64_t>(i / in_w / in_h) * out_h * out_w;
    const int target = ih * in_w + iw;
    // Windows holding row ih: oh*S <= ih <= oh*S + K - 1 (likewise for columns).
    const int oh_lo = ih < kernel ? 0 : (ih - kernel + stride) / stride;
    const int oh_hi = min(ih / stride, out_h - 1);
    const int ow_lo = iw < kernel ? 0 : (iw - kernel + stride) / stride;
    const int ow_hi = min(iw / stride, out_w - 1);
    // The CPU adds each window's gradient in increasing output index: same order, same sum.
    float sum = 0.0f;
    for (int oh = oh_lo; oh <= oh_hi; ++oh) {
      for (int ow = ow_lo; ow <= ow_hi; ++ow) {
        const std::int64_t o = plane_out + oh * out_w + ow;
        if (argmax[o] == target) sum += dy[o];
      }
    }
    dx[i] = sum;
  }
}

// One block a channel. x: [batch, channels, spatial]; the other buffers: [channels].
__global__ void batchnorm_stats_kernel(const float* x, std::int64_t batch, std::int64_t channels,
                                       std::int64_t spatial, float momentum, float eps,
                                       float* save_mean, float* save_invstd, float* running_mean,
                                       float* running_var) {
  const std::int64_t c = blockIdx.x;
  // Sum and sum of squares in double, as the CPU computes them: E[x^2] - E[x]^2 in double has
  // no cancellation problem for float data of any realistic size.
  double sum = 0.0, sum_sq = 0.0;
  for_channel(batch, channels, spatial, c, [&](std::int64_t at) {
    const double v = x[at];
    sum += v;
    sum_sq += v * v;
  });
  block_sum2(sum, sum_sq);
  if (threadIdx.x != 0) return;
  const std::int64_t count = batch * spatial;
  const double mean = sum / static_cast<double>(count);
  const double var = fmax(0.0, sum_sq / static_cast<double>(count) - mean * mean);
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] = static_cast<float>(1.0 / sqrt(var + eps));
  const double unbiased = count > 1 ? var * count / (count - 1) : var;
  running_mean[c] = (1 - momentum) * running_mean[c] + momentum * static_cast<float>(mean);
  running_var[c] = (1 - momentum) * running_var[c] + momentum * static_cast<float>(unbiased);
}

// x, y: [batch, channels, spatial]; per-channel buffers: [channels] (var may be null).
template <typename Index>
__global__ void batchnorm_normalize_kernel(const float* x, Index total, Index channels,
                                           Index spatial, const float* gamma, const float* beta,
                                           const float* mean, const float* invstd, const float* var,
                                           float eps, float* y) {
  for (Index i = global_index(); i < total; i += grid_stride()) {
    const Index c = i / spatial % channels;
    const float scale = var ? gamma[c] / sqrtf(var[c] + eps) : gamma[c] * invstd[c];
    const float shift = beta[c] - mean[c] * scale;
    y[i] = x[i] * scale + shift;
  }
}

// One block a channel. x, dy: [batch, channels, spatial]; the other buffers: [channels].
__global__ void batchnorm_grad_sums_kernel(const float* x, const float* dy, std::int64_t batch,
                                           std::int64_t channels, std::int64_t spatial,
                                           const float* mean, const float* invstd, float* dgamma,
                                           float* dbeta) {
  const std::int64_t c = blockIdx.x;
  const float m = mean[c], inv = invstd[c];
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  for_channel(batch, channels, spatial, c, [&](std::int64_t at) {
    // x - mean in float, the product in double: the CPU's rounding.
    sum_dy += dy[at];
    sum_dy_xhat += static_cast<double>(dy[at]) * (x[at] - m) * inv;
  });
  block_sum2(sum_dy, sum_dy_xhat);
  if (threadIdx.x != 0) return;
  dbeta[c] = static_cast<float>(sum_dy);
  dgamma[c] = static_cast<float>(sum_dy_xhat);
}

// x, dy, dx: [batch, channels, spatial]; per-channel buffers: [channels].
template <typename Index>
__global__ void batchnorm_backward_kernel(const float* x, const float* dy, Index total,
                                          Index channels, Index spatial, float count,
                                          const float* gamma, const float* mean,
                                          const float* invstd, const float* dgamma,
                                          const float* dbeta, float* dx) {
  for (Index i = global_index(); i < total; i += grid_stride()) {
    const Index c = i / spatial % channels;
    const float inv = invstd[c];
    const float k = gamma[c] * inv / count;
    const float xhat = (x[i] - mean[c]) * inv;
    dx[i] = k * (count * dy[i] - dbeta[c] - xhat * dgamma[c]);
  }
}

}  // namespace

template <typename T>
void im2col(const T* x, const ConvDims& d, int images, T* cols, std::int64_t image_stride,
            std::int64_t row_stride, cudaStream_t stream) {
  const std::int64_t total =
      static_cast<std::int64_t>(images) * d.channels * d.kernel * d.kernel * d.out_h * d.out_w;
  if (total <= 0) return;
  im2col_kernel<T>
      <<<grid_for(total), kBlock, 0, stream>>>(x, d, images, cols, image_stride, row_stride);
  check_launch(__func__);
}
template void im2col<float>(const float*, const ConvDims&, int, float*, std::int64_t, std::int64_t,
                            cudaStream_t);
template void im2col<std::uint16_t>(const std::uint16_t*, const ConvDims&, int, std::uint16_t*,
                                    std::int64_t, std::int64_t, cudaStream_t);

void col2im(const float* cols, const ConvDims& d, int images, std::int64_t image_stride,
            std::int64_t row_stride, float* dx, cudaStream_t stream) {
  const std::int64_t total = static_cast<std::int64_t>(images) * d.channels * d.in_h * d.in_w;
  if (total <= 0) return;
  col2im_kernel<<<grid_for(total), kBlock, 0, stream>>>(cols, d, images, image_stride, row_stride,
                                                        dx);
  check_launch(__func__);
}

void add_channel_bias(float* y, const float* bias, int images, int channels, int spatial,
                      cudaStream_t stream) {
  const std::int64_t total = static_cast<std::int64_t>(images) * channels * spatial;
  if (total <= 0) return;
  add_channel_bias_kernel<<<grid_for(total), kBlock, 0, stream>>>(y, bias, images, channels,
                                                                  spatial);
  check_launch(__func__);
}

void channels_first(const float* in, int images, int channels, int spatial, float* out,
                    cudaStream_t stream) {
  const std::int64_t total = static_cast<std::int64_t>(images) * channels * spatial;
  if (total <= 0) return;
  channels_first_kernel<float>
      <<<grid_for(total), kBlock, 0, stream>>>(in, images, channels, spatial, out);
  check_launch(__func__);
}

void channels_first(const float* in, int images, int channels, int spatial, void* out, Element to,
                    cudaStream_t stream) {
  const std::int64_t total = static_cast<std::int64_t>(images) * channels * spatial;
  if (total <= 0) return;
  if (to == Element::f16) {
    channels_first_kernel<__half><<<grid_for(total), kBlock, 0, stream>>>(
        in, images, channels, spatial, static_cast<__half*>(out));
  } else if (to == Element::bf16) {
    channels_first_kernel<__nv_bfloat16><<<grid_for(total), kBlock, 0, stream>>>(
        in, images, channels, spatial, static_cast<__nv_bfloat16*>(out));
  } else {
    channels_first_kernel<float><<<grid_for(total), kBlock, 0, stream>>>(
        in, images, channels, spatial, static_cast<float*>(out));
  }
  check_launch(__func__);
}

void channel_sums(const float* x, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                  float* sums, cudaStream_t stream) {
  if (channels <= 0) return;
  channel_sums_kernel<<<static_cast<unsigned>(channels), kReduceBlock, 0, stream>>>(
      x, batch, channels, spatial, sums);
  check_launch(__func__);
}

void maxpool_forward(const float* x, std::int64_t planes, int in_h, int in_w, int kernel,
                     int stride, int out_h, int out_w, float* y, std::int32_t* argmax,
                     cudaStream_t stream) {
  const std::int64_t total = planes * out_h * out_w;
  if (total <= 0) return;
  with_index(total, [&](auto zero) {
    using Index = decltype(zero);
    maxpool_forward_kernel<Index><<<grid_for(total), kBlock, 0, stream>>>(
        x, static_cast<Index>(total), in_h, in_w, kernel, stride, out_h, out_w, y, argmax);
    check_launch(__func__);
  });
}

void maxpool_backward(const float* dy, const std::int32_t* argmax, std::int64_t planes, int in_h,
                      int in_w, int kernel, int stride, int out_h, int out_w, float* dx,
                      cudaStream_t stream) {
  const std::int64_t total = planes * in_h * in_w;
  if (total <= 0) return;
  with_index(total, [&](auto zero) {
    using Index = decltype(zero);
    maxpool_backward_kernel<Index><<<grid_for(total), kBlock, 0, stream>>>(
        dy, argmax, static_cast<Index>(total), in_h, in_w, kernel, stride, out_h, out_w, dx);
    check_launch(__func__);
  });
}

void batchnorm_stats(const float* x, std::int64_t batch, std::int64_t channels,
                     std::int64_t spatial, float momentum, float eps, float* save_mean,
                     float* save_invstd, float* running_mean, float* running_var,
                     cudaStream_t stream) {
  if (channels <= 0) return;
  batchnorm_stats_kernel<<<static_cast<unsigned>(channels), kReduceBlock, 0, stream>>>(
      x, batch, channels, spatial, momentum, eps, save_mean, save_invstd, running_mean,
      running_var);
  check_launch(__func__);
}

void batchnorm_normalize(const float* x, std::int64_t batch, std::int64_t channels,
                         std::int64_t spatial, const float* gamma, const float* beta,
                         const float* mean, const float* invstd, const float* var, float eps,
                         float* y, cudaStream_t stream) {
  const std::int64_t total = batch * channels * spatial;
  if (total <= 0) return;
  with_index(total, [&](auto zero) {
    using Index = decltype(zero);
    batchnorm_normalize_kernel<Index><<<grid_for(total), kBlock, 0, stream>>>(
        x, static_cast<Index>(total), static_cast<Index>(channels), static_cast<Index>(spatial),
        gamma, beta, mean, invstd, var, eps, y);
    check_launch(__func__);
  });
}

void batchnorm_backward(const float* x, const float* dy, std::int64_t batch, std::int64_t channels,
                        std::int64_t spatial, const float* gamma, const float* mean,
                        const float* invstd, float* dx, float* dgamma, float* dbeta,
                        cudaStream_t stream) {
  if (channels <= 0) return;
  batchnorm_grad_sums_kernel<<<static_cast<unsigned>(channels), kReduceBlock, 0, stream>>>(
      x, dy, batch, channels, spatial, mean, invstd, dgamma, dbeta);
  check_launch(__func__);
  const std::int64_t total = batch * channels * spatial;
  if (total <= 0) return;
  with_index(total, [&](auto zero) {
    using Index = decltype(zero);
    batchnorm_backward_kernel<Index><<<grid_for(total), kBlock, 0, stream>>>(
        x, dy, static_cast<Index>(total), static_cast<Index>(channels), static_cast<Index>(spatial),
        static_cast<float>(batch * spatial), gamma, mean, invstd, dgamma, dbeta, dx);
    check_launch(__func__);
  });
}

}  // namespace tb::gpu::kernels
