// CudaBackend's convolution, max pooling and batch normalisation, following cpu_conv.cpp.
//
// Convolution has two paths (conv_path(), TRAINBENCH_CONV): cuDNN's (cuda_backend_cudnn_conv.cpp,
// taken wherever cuDNN loads, for f32 and for 16-bit operands alike) and im2col here, taken
// where cuDNN cannot be loaded, with TRAINBENCH_CONV=im2col, and for a call cuDNN does not take
// (a tensor past 2^31 elements, no algorithm it may use). Both share the checks below, the bias
// (add_channel_bias) and db (channel_sums).
//
// im2col unfolds the input into the scratch workspace and multiplies on cuBLAS. The batch is
// processed in chunks of images whose workspaces stay under kChunkElements floats, so a large
// batch does not hold gigabytes of columns while one chunk still gives cuBLAS work enough to
// fill the device.
//
// Row-major products become column-major cuBLAS calls on the transposes (see
// cuda_backend_gemm.cpp): a row-major r x c matrix is the column-major c x r matrix with leading
// dimension c. Every call below says which row-major product it computes.
//
// x and w may also both be f16 or both bf16 (takes_16bit_matmul_operands): im2col then copies
// 16-bit columns, backward narrows dy to that dtype as it lays it out, and every product takes
// 16-bit operands into Tensor Cores with fp32 accumulation and an f32 result (y, dW, the columns
// of dx). The bias, dy, db and dx stay f32.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <string>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/kernels/conv.h"

namespace tb::gpu {
namespace {

using tensor::Conv2dGeometry;
using tensor::DType;
using tensor::Pool2dGeometry;
using tensor::Shape;
using tensor::Tensor;

// Floats a convolution workspace may hold for one chunk of images (64 MiB), unless a single image
// needs more.
constexpr std::int64_t kChunkElements = std::int64_t{16} << 20;

constexpr float kOne = 1.0f, kZero = 0.0f;

bool fits_int(std::int64_t v) {
  return v >= 0 && v <= INT_MAX;
}

// The sizes one convolution call works with; every per-image size fits the kernels' and cuBLAS's
// 32-bit indices (checked), and so does a chunk of `chunk` images.
struct ConvPlan {
  kernels::ConvDims dims;
  std::int64_t batch, patch, spatial, in_size, out_channels;
  int chunk;  // images per chunk
};

ConvPlan plan_conv(const char* op, const Tensor& x, const Conv2dGeometry& g) {
  ConvPlan p{};
  p.batch = x.shape()[0];
  p.patch = g.patch();
  p.spatial = g.out_h() * g.out_w();
  p.in_size = g.in_channels * g.in_h * g.in_w;
  p.out_channels = g.out_channels;
  const std::int64_t per_image =
      std::max({p.patch * p.spatial, p.out_channels * p.spatial, p.in_size, std::int64_t{1}});
  require(fits_int(per_image) && fits_int(g.in_channels) && fits_int(g.out_channels), op,
          "one image's columns exceed 2^31 elements");
  p.chunk = static_cast<int>(
      std::clamp<std::int64_t>(kChunkElements / per_image, 1, std::max<std::int64_t>(1, p.batch)));
  p.dims = {static_cast<int>(g.in_channels), static_cast<int>(g.in_h),
            static_cast<int>(g.in_w),        static_cast<int>(g.kernel),
            static_cast<int>(g.stride),      static_cast<int>(g.padding),
            static_cast<int>(g.out_h()),     static_cast<int>(g.out_w())};
  return p;
}

void zero(void* p, std::size_t bytes, cudaStream_t stream, const char* op) {
  if (bytes) check_cuda(cudaMemsetAsync(p, 0, bytes, stream), op);
}

std::size_t float_bytes(std::int64_t n) {
  return static_cast<std::size_t>(n) * sizeof(float);
}

// The element type of a convolution's products: x and w both f32, or both f16 or both bf16.
struct ConvOperands {
  bool half = false;                 // 16-bit x and w
  cudaDataType_t type = CUDA_R_32F;  // theirs, for cuBLAS
  kernels::Element element = kernels::Element::f32;
  std::size_t bytes = sizeof(float);  // of one element
};

ConvOperands conv_operands(const char* op, const Tensor& x, const Tensor& w) {
  const DType t = x.dtype();
  ConvOperands o;
  o.half = (t == DType::f16 || t == DType::bf16) && w.dtype() == t;
  require(o.half || (t == DType::f32 && w.dtype() == DType::f32), op,
          std::string("input and weight must both be f32, both f16 or both bf16, got ") +
              tensor::dtype_name(x.dtype()) + " and " + tensor::dtype_name(w.dtype()));
  if (o.half) {
    o.type = t == DType::f16 ? CUDA_R_16F : CUDA_R_16BF;
    o.element = t == DType::f16 ? kernels::Element::f16 : kernels::Element::bf16;
    o.bytes = sizeof(std::uint16_t);
  }
  return o;
}

// im2col of images [n0, n0 + images) of x (f32, or 16-bit bits) into columns of x's type.
void unfold(const ConvOperands& o, const void* x, const ConvPlan& p, std::int64_t n0, int images,
            void* cols, std::int64_t image_stride, std::int64_t row_stride, cudaStream_t stream) {
  if (o.half) {
    kernels::im2col(static_cast<const std::uint16_t*>(x) + n0 * p.in_size, p.dims, images,
                    static_cast<std::uint16_t*>(cols), image_stride, row_stride, stream);
  } else {
    kernels::im2col(static_cast<const float*>(x) + n0 * p.in_size, p.dims, images,
                    static_cast<float*>(cols), image_stride, row_stride, stream);
  }
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                                 const Conv2dGeometry& g) {
  constexpr const char* op = "conv2d_forward";
  tensor::check_conv2d(op, x, w, g);
  const ConvPlan p = plan_conv(op, x, g);
  require(y.shape() == Shape{p.batch, g.out_channels, g.out_h(), g.out_w()}, op,
          "output " + y.shape().str() + " has the wrong shape");
  require(
      b.numel() == g.out_channels, op,
      "bias " + b.shape().str() + " does not have " + std::to_string(g.out_channels) + " elements");
  const ConvOperands o = conv_operands(op, x, w);
  const void* in = o.half ? any(x, op) : f32(x, op);
  const void* weight = o.half ? any(w, op) : f32(w, op);
  const float* bias = f32(b, op);
  float* out = f32(y, op);
  const bool on_cudnn = conv_on_cudnn(op);
  if (y.numel() == 0) return;
  const int spatial = static_cast<int>(p.spatial), patch = static_cast<int>(p.patch);
  const int oc = static_cast<int>(p.out_channels);
  if (on_cudnn && cudnn_conv2d_forward(x, w, y, g)) {
    // cuDNN took the whole batch, so it fits in int (its descriptors' sizes).
    kernels::add_channel_bias(out, bias, static_cast<int>(p.batch), oc, spatial, stream());
    ++conv_counts_.cudnn;
    return;
  }
  ++conv_counts_.im2col;

  void* cols = scratch(o.bytes * static_cast<std::size_t>(p.chunk * p.patch * p.spatial));
  for (std::int64_t n0 = 0; n0 < p.batch; n0 += p.chunk) {
    const int images = static_cast<int>(std::min<std::int64_t>(p.chunk, p.batch - n0));
    float* y_n = out + n0 * p.out_channels * p.spatial;
    // Each image its own [patch, spatial] column matrix, so the product lands in NCHW directly.
    unfold(o, in, p, n0, images, cols, p.patch * p.spatial, p.spatial, stream());
    // Per image, row-major Y_n [oc, spatial] = W [oc, patch] x cols_n [patch, spatial], i.e.
    // column-major Y_n^T = cols_n^T W^T, the same W for every image (stride 0).
    check_cublas(cublasGemmStridedBatchedEx(cublas(), CUBLAS_OP_N, CUBLAS_OP_N, spatial, oc, patch,
                                            &kOne, cols, o.type, spatial, p.patch * p.spatial,
                                            weight, o.type, std::max(1, patch), 0, &kZero, y_n,
                                            CUDA_R_32F, spatial, p.out_channels * p.spatial, images,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 op);
    kernels::add_channel_bias(y_n, bias, images, oc, spatial, stream());
  }
}

void CudaBackend::conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx,
                                  Tensor& dw, Tensor& db, const Conv2dGeometry& g) {
  constexpr const char* op = "conv2d_backward";
  tensor::check_conv2d(op, x, w, g);
  const ConvPlan p = plan_conv(op, x, g);
  require(dy.shape() == Shape{p.batch, g.out_channels, g.out_h(), g.out_w()}, op,
          "output gradient " + dy.shape().str() + " has the wrong shape");
  require(dw.numel() == w.numel() && db.numel() == g.out_channels, op,
          "weight gradient " + dw.shape().str() + " or bias gradient " + db.shape().str() +
              " does not match the layer");
  require(!dx || dx->shape() == x.shape(), op,
          "input gradient " + (dx ? dx->shape().str() : std::string()) +
              " does not match the input " + x.shape().str());
  const ConvOperands o = conv_operands(op, x, w);
  const void* in = o.half ? any(x, op) : f32(x, op);
  const void* weight = o.half ? any(w, op) : f32(w, op);
  const float* grad_out = f32(dy, op);
  float* grad_w = f32(dw, op);
  float* grad_b = f32(db, op);
  float* grad_in = dx ? f32(*dx, op) : nullptr;
  const bool on_cudnn = conv_on_cudnn(op);

  // db[oc] = sum over images and positions of dy, in double, over the whole batch at once.
  kernels::channel_sums(grad_out, p.batch, p.out_channels, p.spatial, grad_b, stream());
  if (p.batch == 0 || p.spatial == 0 || p.patch == 0) {
    // Nothing to multiply: empty sums, and an input no output position sees.
    zero(grad_w, dw.bytes(), stream(), op);
    if (grad_in) zero(grad_in, dx->bytes(), stream(), op);
    return;
  }
  if (on_cudnn && cudnn_conv2d_backward(x, w, dy, dx, dw, g)) {
    ++conv_counts_.cudnn;
    return;
  }
  ++conv_counts_.im2col;

  // The chunk's images side by side: cols [patch, images * spatial] and dy as
  // [oc, images * spatial], so that summing dW over the images is the inner dimension of one
  // product instead of a product per image. Both in the operands' type (dy narrowed to 16 bits as
  // it is laid out, when x and w are 16-bit); the columns' workspace is sized for f32 all the
  // same, as it takes dx's f32 columns later.
  void* cols = scratch(float_bytes(p.chunk * p.patch * p.spatial));
  void* dy_t = scratch2(o.bytes * static_cast<std::size_t>(p.chunk * p.out_channels * p.spatial));
  const int spatial = static_cast<int>(p.spatial), patch = static_cast<int>(p.patch);
  const int oc = static_cast<int>(p.out_channels);
  for (std::int64_t n0 = 0; n0 < p.batch; n0 += p.chunk) {
    const int images = static_cast<int>(std::min<std::int64_t>(p.chunk, p.batch - n0));
    const int wide = images * spatial;  // columns of the side-by-side matrices
    unfold(o, in, p, n0, images, cols, p.spatial, wide, stream());
    const float* dy_n = grad_out + n0 * p.out_channels * p.spatial;
    if (o.half) {
      kernels::channels_first(dy_n, images, oc, spatial, dy_t, o.element, stream());
    } else {
      kernels::channels_first(dy_n, images, oc, spatial, static_cast<float*>(dy_t), stream());
    }
    // Row-major dW [oc, patch] (+)= dY [oc, wide] x cols^T [wide, patch]: column-major
    // dW^T = cols dY^T. The first chunk overwrites dW, later ones add to it.
    const float beta = n0 == 0 ? 0.0f : 1.0f;
    check_cublas(cublasGemmEx(cublas(), CUBLAS_OP_T, CUBLAS_OP_N, patch, oc, wide, &kOne, cols,
                              o.type, wide, dy_t, o.type, wide, &beta, grad_w, CUDA_R_32F, patch,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 op);
    if (!grad_in) continue;
    // Row-major dcols [patch, wide] = W^T [patch, oc] x dY [oc, wide]: column-major
    // dcols^T = dY^T W, in f32. It reuses the columns' workspace: the stream has finished
    // reading them.
    auto* dcols = static_cast<float*>(cols);
    check_cublas(cublasGemmEx(cublas(), CUBLAS_OP_N, CUBLAS_OP_T, wide, patch, oc, &kOne, dy_t,
                              o.type, wide, weight, o.type, patch, &kZero, dcols, CUDA_R_32F, wide,
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 op);
    kernels::col2im(dcols, p.dims, images, p.spatial, wide, grad_in + n0 * p.in_size, stream());
  }
}

void CudaBackend::maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                                    const Pool2dGeometry& g) {
  constexpr const char* op = "maxpool2d_forward";
  require(g.kernel > 0 && g.stride > 0, op, "kernel and stride must be positive");
  const auto batch = x.shape().rank() ? x.shape()[0] : 0;
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  require(x.shape() == Shape{batch, g.channels, g.in_h, g.in_w} &&
              y.shape() == Shape{batch, g.channels, oh_n, ow_n} && argmax.shape() == y.shape(),
          op,
          "shapes " + x.shape().str() + " -> " + y.shape().str() +
              " do not match the pooling geometry");
  // argmax is an i32 index into one input plane.
  require(fits_int(g.in_h * g.in_w), op, "an input plane exceeds 2^31 elements");
  kernels::maxpool_forward(f32(x, op), batch * g.channels, static_cast<int>(g.in_h),
                           static_cast<int>(g.in_w), static_cast<int>(g.kernel),
                           static_cast<int>(g.stride), static_cast<int>(oh_n),
                           static_cast<int>(ow_n), f32(y, op), i32(argmax, op), stream());
}

void CudaBackend::maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                                     const Pool2dGeometry& g) {
  constexpr const char* op = "maxpool2d_backward";
  require(g.kernel > 0 && g.stride > 0, op, "kernel and stride must be positive");
  const auto batch = dx.shape().rank() ? dx.shape()[0] : 0;
  const auto oh_n = g.out_h(), ow_n = g.out_w();
  require(dx.shape() == Shape{batch, g.channels, g.in_h, g.in_w} &&
              dy.shape() == Shape{batch, g.channels, oh_n, ow_n} && argmax.shape() == dy.shape(),
          op,
          "shapes " + dy.shape().str() + " -> " + dx.shape().str() +
              " do not match the pooling geometry");
  require(fits_int(g.in_h * g.in_w), op, "an input plane exceeds 2^31 elements");
  // A gather (each input element sums the windows that chose it), not a scatter with atomics:
  // deterministic, and in the CPU's order. It assumes each argmax lies in its own window, as
  // maxpool2d_forward writes it.
  kernels::maxpool_backward(f32(dy, op), i32(argmax, op), batch * g.channels,
                            static_cast<int>(g.in_h), static_cast<int>(g.in_w),
                            static_cast<int>(g.kernel), static_cast<int>(g.stride),
                            static_cast<int>(oh_n), static_cast<int>(ow_n), f32(dx, op), stream());
}

namespace {

void require_per_channel(const char* op, const tensor::BatchNormLayout& l,
                         std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors) {
    require(t->numel() == l.channels, op,
            "per-channel tensor " + t->shape().str() + " does not have " +
                std::to_string(l.channels) + " elements");
  }
}

}  // namespace

void CudaBackend::batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                          Tensor& y, Tensor& save_mean, Tensor& save_invstd,
                                          Tensor& running_mean, Tensor& running_var, float momentum,
                                          float eps) {
  constexpr const char* op = "batchnorm_forward_train";
  const auto l = tensor::batchnorm_layout(x, gamma);
  require_per_channel(op, l, {&beta, &save_mean, &save_invstd, &running_mean, &running_var});
  require(y.numel() == x.numel(), op,
          "output " + y.shape().str() + " does not match the input " + x.shape().str());
  float* mean = f32(save_mean, op);
  float* invstd = f32(save_invstd, op);
  kernels::batchnorm_stats(f32(x, op), l.batch, l.channels, l.spatial, momentum, eps, mean, invstd,
                           f32(running_mean, op), f32(running_var, op), stream());
  kernels::batchnorm_normalize(f32(x, op), l.batch, l.channels, l.spatial, f32(gamma, op),
                               f32(beta, op), mean, invstd, nullptr, eps, f32(y, op), stream());
}

void CudaBackend::batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         float eps, Tensor& y) {
  constexpr const char* op = "batchnorm_forward_eval";
  const auto l = tensor::batchnorm_layout(x, gamma);
  require_per_channel(op, l, {&beta, &running_mean, &running_var});
  require(y.numel() == x.numel(), op,
          "output " + y.shape().str() + " does not match the input " + x.shape().str());
  kernels::batchnorm_normalize(f32(x, op), l.batch, l.channels, l.spatial, f32(gamma, op),
                               f32(beta, op), f32(running_mean, op), nullptr, f32(running_var, op),
                               eps, f32(y, op), stream());
}

void CudaBackend::batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                     const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                                     Tensor& dgamma, Tensor& dbeta) {
  constexpr const char* op = "batchnorm_backward";
  const auto l = tensor::batchnorm_layout(x, gamma);
  require_per_channel(op, l, {&save_mean, &save_invstd, &dgamma, &dbeta});
  require(dy.numel() == x.numel() && dx.numel() == x.numel(), op,
          "gradients " + dy.shape().str() + " and " + dx.shape().str() +
              " do not match the input " + x.shape().str());
  kernels::batchnorm_backward(f32(x, op), f32(dy, op), l.batch, l.channels, l.spatial,
                              f32(gamma, op), f32(save_mean, op), f32(save_invstd, op), f32(dx, op),
                              f32(dgamma, op), f32(dbeta, op), stream());
}

}  // namespace tb::gpu
