// CudaBackend's declaration, shared by the files that implement it (cuda_backend*.cpp). Internal
// to gpu/: everything else reaches it through make_cuda_backend() in cuda_backend.h.
//
// The .cpp files check shapes and dtypes (as the CPU backend does, with the op's name in the
// message) and call the kernel launchers of gpu/kernels/*.h, which take raw device pointers and
// sizes: the .cu files never see Tensor or Eigen. Everything runs on one stream, in order; an op
// that returns a value to the host (a loss, a count, a finite flag) reads it back through a
// small pinned buffer and waits for the stream.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/tensor/backend.h"
#include "gpu/caching_allocator.h"

namespace tb::gpu {

// Throw tb::Error "`what`: <CUDA's error name and text>" when status is not success.
void check_cuda(cudaError_t status, const char* what);
void check_cublas(cublasStatus_t status, const char* what);

// cudaMalloc / cudaFree on the current device.
class CudaDeviceMemory final : public RawDeviceMemory {
 public:
  void* allocate(std::size_t bytes) override;
  void free(void* block) override;
  std::pair<std::size_t, std::size_t> device_memory() const override;
};
CudaDeviceMemory& device_memory();  // the one every backend's allocator draws from

// The implementation CudaBackend's conv2d_forward / conv2d_backward take: cuDNN's convolution
// (cuda_backend_cudnn_conv.cpp) or im2col with cuBLAS products (cuda_backend_conv.cpp).
enum class ConvPath { cudnn, im2col };

// What the environment variable TRAINBENCH_CONV asks for: "auto" or unset (cuDNN where it can be
// had, else im2col), "cudnn" (cuDNN, or every convolution throws why not) or "im2col" (cuDNN is
// not even loaded). Null for any other value.
enum class ConvRequest { automatic, cudnn, im2col };
std::optional<ConvRequest> parse_conv_request(std::string_view value);

// cuDNN's handle with the descriptors and algorithms chosen per geometry
// (cuda_backend_cudnn_conv.cpp, where the deleter destroys them).
class CudnnConv;
struct CudnnConvDeleter {
  void operator()(CudnnConv* conv) const;
};

class CudaBackend final : public tensor::Backend {
 public:
  using Tensor = tensor::Tensor;
  using Shape = tensor::Shape;
  using DType = tensor::DType;

  explicit CudaBackend(int device);
  ~CudaBackend() override;

  std::string name() const override { return name_; }
  tensor::Device device() const override { return tensor::Device::cuda; }
  std::optional<tensor::DeviceProperties> device_properties() const override { return properties_; }
  void set_threads(int) override {}  // the GPU's parallelism is not set in threads
  int threads() const override { return 1; }
  void synchronize() override;
  std::int64_t reserved_bytes() const override { return allocator_->stats().reserved_bytes; }
  std::int64_t peak_reserved_bytes() const override {
    return allocator_->stats().peak_reserved_bytes;
  }
  void reset_peak_memory() override { allocator_->reset_peaks(); }
  // gemm and the convolution take f16/bf16 operands into Tensor Core products with fp32
  // accumulation (cuda_backend_gemm.cpp, cuda_backend_conv.cpp).
  bool takes_16bit_matmul_operands() const override { return true; }

  // ---- memory (cuda_backend.cpp) ----
  Tensor empty(Shape shape, DType dtype) override;
  void upload(Tensor& dst, const void* host, std::size_t bytes) override;
  std::shared_ptr<tensor::HostMemory> host_memory() override;
  void upload_async(Tensor& dst, const void* host, std::size_t bytes) override;
  void finish_uploads() override;
  void download(const Tensor& src, void* host, std::size_t bytes) override;
  void fill(Tensor& t, float value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst, std::int64_t dst_offset,
                  std::int64_t count) override;
  void convert(const Tensor& src, Tensor& dst) override;
  void round_to(Tensor& t, DType storage) override;

  // ---- matrix products (cuda_backend_gemm.cpp) ----
  void gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c, float alpha,
            float beta) override;

  // ---- elementwise, reductions, loss (cuda_backend_math.cpp) ----
  void add_row_bias(Tensor& y, const Tensor& bias) override;
  void sum_rows(const Tensor& dy, Tensor& db) override;
  void relu_forward(const Tensor& x, Tensor& y) override;
  void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) override;
  void dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) override;
  void dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) override;
  void mul(const Tensor& a, const Tensor& b, Tensor& out) override;
  float softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                      Tensor& probs) override;
  void softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                      Tensor& dlogits) override;
  std::int64_t count_correct(const Tensor& logits, const Tensor& labels) override;
  void scale(Tensor& t, float factor) override;
  double sum_squares(const Tensor& t) override;

  // ---- convolution, pooling, batch norm (cuda_backend_conv.cpp) ----
  void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y,
                      const tensor::Conv2dGeometry& g) override;
  void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx, Tensor& dw,
                       Tensor& db, const tensor::Conv2dGeometry& g) override;
  void maxpool2d_forward(const Tensor& x, Tensor& y, Tensor& argmax,
                         const tensor::Pool2dGeometry& g) override;
  void maxpool2d_backward(const Tensor& dy, const Tensor& argmax, Tensor& dx,
                          const tensor::Pool2dGeometry& g) override;
  void batchnorm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& y,
                               Tensor& save_mean, Tensor& save_invstd, Tensor& running_mean,
                               Tensor& running_var, float momentum, float eps) override;
  void batchnorm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                              const Tensor& running_mean, const Tensor& running_var, float eps,
                              Tensor& y) override;
  void batchnorm_backward(const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& save_mean, const Tensor& save_invstd, Tensor& dx,
                          Tensor& dgamma, Tensor& dbeta) override;

  // ---- optimizer updates, loss scaling (cuda_backend_optim.cpp) ----
  void sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                const tensor::SgdStep& step) override;
  void adam_step(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 Tensor& max_exp_avg_sq, const tensor::AdamStep& step) override;
  void rmsprop_step(Tensor& param, const Tensor& grad, Tensor& square_avg, Tensor& grad_avg,
                    Tensor& momentum_buf, const tensor::RmspropStep& step) override;
  void lion_step(Tensor& param, const Tensor& grad, Tensor& exp_avg,
                 const tensor::LionStep& step) override;
  void lerp_(Tensor& slow, Tensor& fast, const tensor::LerpStep& step) override;
  bool unscale_and_check_finite(Tensor& grad, float inv_scale) override;
  // Multi-tensor kernels (gpu/kernels/optim_multi.h): every tensor is checked, then the list
  // takes one launch (one more per table's worth of tensors).
  void sgd_step_multi(std::span<const tensor::SgdTensors> tensors,
                      const tensor::SgdStep& step) override;
  void adam_step_multi(std::span<const tensor::AdamTensors> tensors,
                       const tensor::AdamStep& step) override;
  void rmsprop_step_multi(std::span<const tensor::RmspropTensors> tensors,
                          const tensor::RmspropStep& step) override;
  void lion_step_multi(std::span<const tensor::LionTensors> tensors,
                       const tensor::LionStep& step) override;
  bool unscale_and_check_finite_multi(std::span<Tensor* const> grads, float inv_scale) override;

  // ---- the convolution's path (cuda_backend_cudnn_conv.cpp) ----
  // The path conv2d_forward / conv2d_backward take, settled at the first call of this or of a
  // convolution (so a model without one never loads cuDNN): TRAINBENCH_CONV, and whether cuDNN
  // loads and gives a handle.
  ConvPath conv_path();
  // "cudnn (cuDNN 9.19.0, libcudnn.so.9)" or "im2col (<why not cuDNN>)", for reports.
  std::string conv_path_description();
  // Switches the path (the tests run both on one backend); throws with the reason where cuDNN is
  // asked for and cannot be had.
  void set_conv_path(ConvPath path);
  // Convolution calls (forward and backward count one each) that each implementation computed.
  // On the cuDNN path a call cuDNN does not take (sizes past its 32-bit descriptors, no
  // algorithm it may use) runs on im2col and counts there, the reason in last_conv_fallback().
  struct ConvCounts {
    std::int64_t cudnn = 0, im2col = 0;
  };
  const ConvCounts& conv_counts() const { return conv_counts_; }
  const std::string& last_conv_fallback() const { return conv_fallback_; }

  // ---- for the implementation files ----
  cudaStream_t stream() const { return stream_; }
  int device_index() const { return device_; }
  cublasHandle_t cublas() const { return cublas_; }
  CachingAllocator& allocator() { return *allocator_; }
  const CachingAllocator& allocator() const { return *allocator_; }
  // A device workspace of at least `bytes`, kept and grown between calls (im2col columns,
  // reduction partials). Valid until the next call to scratch().
  void* scratch(std::size_t bytes);
  // A second one, for an op that needs two at once.
  void* scratch2(std::size_t bytes);
  // A pinned host buffer of at least `bytes` for reading results back; valid until the next call.
  void* host_scratch(std::size_t bytes);
  // Waits for the stream and throws with `op` in the message if a kernel failed.
  void sync(const char* op);

  // Device pointers of a tensor, checked: it must be a CUDA tensor of that dtype (the message
  // names `op` and what was found).
  static float* f32(Tensor& t, const char* op);
  static const float* f32(const Tensor& t, const char* op);
  static std::int32_t* i32(Tensor& t, const char* op);
  static const std::int32_t* i32(const Tensor& t, const char* op);
  static void* any(Tensor& t, const char* op);  // any dtype (16-bit tensors: raw bits)
  static const void* any(const Tensor& t, const char* op);

 private:
  struct Workspace {
    void* block = nullptr;
    std::size_t bytes = 0;
  };
  void* grow(Workspace& w, std::size_t bytes);

  // The convolution's path (cuda_backend_cudnn_conv.cpp). conv_on_cudnn settles it and says
  // whether it is cuDNN, throwing with `op` where TRAINBENCH_CONV cannot be honoured; the cudnn_
  // functions run one convolution after conv2d_forward / conv2d_backward checked it, or return
  // false, having written nothing that im2col does not overwrite, where cuDNN does not take it.
  bool conv_on_cudnn(const char* op);
  void settle_conv_path();
  bool open_cudnn(std::string& why);  // makes cudnn_ once; false with the reason where it cannot
  bool cudnn_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y,
                            const tensor::Conv2dGeometry& g);
  bool cudnn_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, Tensor* dx,
                             Tensor& dw, const tensor::Conv2dGeometry& g);

  int device_ = 0;
  std::string name_;
  tensor::DeviceProperties properties_;
  cudaStream_t stream_ = nullptr;       // every op, in order
  cudaStream_t copy_stream_ = nullptr;  // upload_async: batches copied beside the ops
  cudaEvent_t ops_issued_ = nullptr;    // marks stream_ where an upload must wait for its readers
  cublasHandle_t cublas_ = nullptr;
  std::shared_ptr<CachingAllocator> allocator_;  // shared with the buffers, which may outlive us
  Workspace scratch_, scratch2_;
  void* host_ = nullptr;  // pinned
  std::size_t host_bytes_ = 0;
  std::unique_ptr<CudnnConv, CudnnConvDeleter> cudnn_;  // null until cuDNN is first asked for
  std::string cudnn_failure_;  // why open_cudnn failed (it is not tried again)
  bool conv_path_settled_ = false;
  ConvPath conv_path_ = ConvPath::im2col;
  std::string conv_path_why_;  // why the path is im2col
  std::string conv_refusal_;   // TRAINBENCH_CONV cannot be honoured: convolutions throw this
  std::string conv_fallback_;  // last_conv_fallback()
  ConvCounts conv_counts_;
};

// The CPU backend's operand checks (core/tensor/backend.h), so both word their errors alike.
using tensor::matrix_dims;
using tensor::MatrixDims;
using tensor::require;
using tensor::require_like_param;
using tensor::require_same_numel;

}  // namespace tb::gpu
