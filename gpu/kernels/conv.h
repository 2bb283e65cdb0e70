// Kernels of the convolution, max pooling and batch normalisation (the GPU side of cpu_conv.cpp):
// raw device pointers, sizes, one stream. The matrix products around im2col are cuBLAS calls made
// by cuda_backend_conv.cpp.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "gpu/kernels/convert.h"

namespace tb::gpu::kernels {

// A convolution's geometry as the kernels index it (tensor::Conv2dGeometry, with the output size
// resolved). `patch` = channels * kernel * kernel rows of the column matrix, `spatial` =
// out_h * out_w of its columns. The caller keeps every product of a chunk below 2^31, so the
// kernels index in 32 bits.
struct ConvDims {
  int channels, in_h, in_w;
  int kernel, stride, padding;
  int out_h, out_w;
};

// Unfolds `images` images into columns:
//   cols[n * image_stride + p * row_stride + s] = x[n][c][oh*S - P + ki][ow*S - P + kj] (0 outside)
// with p = (c*K + ki)*K + kj and s = oh*OW + ow. x: [images, C, H, W]. With image_stride =
// patch * spatial and row_stride = spatial each image gets its own [patch, spatial] matrix; with
// image_stride = spatial and row_stride = images * spatial the images sit side by side in one
// [patch, images * spatial] matrix.
// T is float, or std::uint16_t for f16 and bf16 alike: a copy, so the 16-bit values move bit for
// bit (the padding's 0 is +0 in both) and 16-bit columns feed a Tensor Core product directly.
template <typename T>
void im2col(const T* x, const ConvDims& d, int images, T* cols, std::int64_t image_stride,
            std::int64_t row_stride, cudaStream_t stream);

// The adjoint of im2col, as a gather: dx[n][c][ih][iw] = the sum of the column entries im2col
// would have copied from there, added in (ki, kj) order as cpu_conv.cpp's col2im adds them.
// Overwrites dx ([images, C, H, W]); cols laid out as in im2col. f32 only: the columns it folds
// are a product's fp32 result, also when that product took 16-bit operands.
void col2im(const float* cols, const ConvDims& d, int images, std::int64_t image_stride,
            std::int64_t row_stride, float* dx, cudaStream_t stream);

// y[n][oc][s] += bias[oc]. y: [images, channels, spatial], bias: [channels].
void add_channel_bias(float* y, const float* bias, int images, int channels, int spatial,
                      cudaStream_t stream);

// out[oc][n * spatial + s] = in[n][oc][s]: gathers one channel's rows of all images into one
// matrix row. in: [images, channels, spatial], out: [channels, images * spatial].
void channels_first(const float* in, int images, int channels, int spatial, float* out,
                    cudaStream_t stream);
// The same, each value rounded (to nearest even) to `to` (f16 or bf16) on the way, so the
// layout pass also narrows an f32 gradient for a 16-bit product. out holds `to`'s 16-bit values.
void channels_first(const float* in, int images, int channels, int spatial, void* out, Element to,
                    cudaStream_t stream);

// sums[c] = sum over n, s of x[n][c][s], accumulated in double. x: [batch, channels, spatial],
// sums: [channels].
void channel_sums(const float* x, std::int64_t batch, std::int64_t channels, std::int64_t spatial,
                  float* sums, cudaStream_t stream);

// Max pooling over planes of [in_h, in_w] (planes = N * C):
// y, argmax: [planes, out_h, out_w]; argmax = index in the plane of the window's first maximum
// in row-major window order (the top-left element when none is greater than -inf, e.g. NaN).
void maxpool_forward(const float* x, std::int64_t planes, int in_h, int in_w, int kernel,
                     int stride, int out_h, int out_w, float* y, std::int32_t* argmax,
                     cudaStream_t stream);
// dx[p][i] = sum of dy[p][o] over the windows o whose argmax is i, in increasing o (overwrites
// dx). dy, argmax: [planes, out_h, out_w], dx: [planes, in_h, in_w].
void maxpool_backward(const float* dy, const std::int32_t* argmax, std::int64_t planes, int in_h,
                      int in_w, int kernel, int stride, int out_h, int out_w, float* dx,
                      cudaStream_t stream);

// Batch norm over x: [batch, channels, spatial], per channel c; every per-channel buffer is
// [channels].
//
// Training statistics: mean and biased variance of channel c in double (one block a channel),
// save_mean = mean, save_invstd = 1/sqrt(var + eps), and the running statistics moved by
// `momentum` towards the mean and the unbiased variance.
void batchnorm_stats(const float* x, std::int64_t batch, std::int64_t channels,
                     std::int64_t spatial, float momentum, float eps, float* save_mean,
                     float* save_invstd, float* running_mean, float* running_var,
                     cudaStream_t stream);
// y = x * scale[c] + shift[c] with scale = gamma * invstd, shift = beta - mean * scale; invstd
// is read as given (training: save_invstd) or computed 1/sqrt(var + eps) from var (evaluation:
// running_var) when `var` is not null, in which case invstd is ignored.
void batchnorm_normalize(const float* x, std::int64_t batch, std::int64_t channels,
                         std::int64_t spatial, const float* gamma, const float* beta,
                         const float* mean, const float* invstd, const float* var, float eps,
                         float* y, cudaStream_t stream);
// dbeta = sum dy, dgamma = sum dy * xhat (double sums), then
// dx = gamma * invstd / m * (m * dy - dbeta - xhat * dgamma), xhat = (x - mean) * invstd and
// m = batch * spatial. x, dy, dx: [batch, channels, spatial].
void batchnorm_backward(const float* x, const float* dy, std::int64_t batch, std::int64_t channels,
                        std::int64_t spatial, const float* gamma, const float* mean,
                        const float* invstd, float* dx, float* dgamma, float* dbeta,
                        cudaStream_t stream);

}  // namespace tb::gpu::kernels
