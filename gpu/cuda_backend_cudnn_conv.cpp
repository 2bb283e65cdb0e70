// CudaBackend's convolution on cuDNN (the legacy convolution API of cuDNN 9, loaded at run time by
// cudnn_library.cpp), and the choice between it and im2col (cuda_backend_conv.cpp).
//
// The path: TRAINBENCH_CONV=im2col keeps cuDNN unloaded; otherwise the first convolution loads
// cuDNN and makes the backend's handle (one per backend, on its stream, destroyed with it), and
// where that fails the convolutions run on im2col, conv_path_description() saying why.
//
// The semantics are the im2col path's (core/tensor/backend.h): NCHW, weight [out, in, k, k],
// cross-correlation (no kernel flip), y, dW and dx overwritten (beta 0), the bias added and db
// summed by the im2col path's own kernels. cuDNN computes in fp32 with two guarantees, so that its
// results differ from the CPU's only in the order of summation, as im2col's do:
//   - only algorithms that sum the products directly (implicit/explicit GEMM, direct; backward
//     ALGO_1), never FFT or Winograd, whose transforms round differently, and only deterministic
//     ones (backward ALGO_0 and ALGO_3 add with atomics): a run repeats bit for bit, as on im2col;
//   - f32 operands under CUDNN_FMA_MATH, never TF32 (the backend keeps f32 products true fp32;
//     see cublasSetMathMode in cuda_backend.cpp).
//
// 16-bit operands (x and w both f16 or both bf16, takes_16bit_matmul_operands): cuDNN's legacy
// API has no configuration with 16-bit x and w and an f32 result (PSEUDO_HALF_CONFIG and
// PSEUDO_BFLOAT16_CONFIG want y, dx and dW in x's type too), and rounding results to 16 bits would
// break the contract. So they are widened into f32 copies (exact), dy is rounded to x's dtype
// as the contract says, and the f32 convolution runs under CUDNN_TENSOR_OP_MATH: the Tensor Cores
// take the operands as TF32, which holds every f16 and bf16 value exactly (10 mantissa bits, the
// f32 exponent range; bf16 subnormals aside, should the Tensor Cores flush them), so the products
// are exact and accumulate in fp32, as with im2col's 16-bit cuBLAS products. TF32 runs at half
// the Tensor Cores' 16-bit rate and the copies cost a pass over x: whether this beats im2col on
// 16-bit layers is for a GPU to measure (TRAINBENCH_CONV=im2col).
//
// A call falls back to im2col (counted in conv_counts, the reason in last_conv_fallback) where a
// tensor has more than 2^31 elements (cuDNN's descriptors take int sizes; im2col works in
// chunks), where cuDNN refuses the geometry's descriptors or offers no algorithm above within
// kMaxWorkspaceBytes, or where running it answers CUDNN_STATUS_NOT_SUPPORTED. Any other cuDNN
// error throws, naming the op, the call and cuDNN's status.
//
// Descriptors and algorithm choices are cached per geometry (batch, sizes, 16-bit or not), made
// at the first call that meets it: cudnnGetConvolution*Algorithm_v7 (cuDNN's heuristics, no
// benchmarking) is asked once per geometry and direction. The workspace is the backend's scratch.
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <algorithm>
#include <compare>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/cudnn_library.h"

namespace tb::gpu {

// The handle and, per geometry, the descriptors and the algorithm of each direction.
class CudnnConv {
 public:
  // One direction's algorithm for one geometry: chosen at its first call; algo -1 when none may
  // be used, with the reason.
  struct Choice {
    bool made = false;
    int algo = -1;
    std::size_t workspace = 0;  // bytes
    std::string why;
  };

  struct Key {
    bool tensor_ops;  // 16-bit operands (widened): CUDNN_TENSOR_OP_MATH, else CUDNN_FMA_MATH
    std::int64_t batch, in_channels, out_channels, in_h, in_w, kernel, stride, padding;
    auto operator<=>(const Key&) const = default;
  };

  struct Plan {
    explicit Plan(const CudnnLibrary& library) : lib(library) {}
    Plan(const Plan&) = delete;
    Plan& operator=(const Plan&) = delete;
    ~Plan() {
      if (conv) lib.destroy_convolution_descriptor(conv);
      if (w) lib.destroy_filter_descriptor(w);
      if (y) lib.destroy_tensor_descriptor(y);
      if (x) lib.destroy_tensor_descriptor(x);
    }

    const CudnnLibrary& lib;
    std::string broken;  // why the descriptors could not be made (the call goes to im2col)
    cudnnTensorDescriptor_t x = nullptr;  // f32 [batch, in_channels, in_h, in_w], NCHW packed
    cudnnTensorDescriptor_t y = nullptr;  // f32 [batch, out_channels, out_h, out_w], NCHW packed
    cudnnFilterDescriptor_t w = nullptr;  // f32 [out_channels, in_channels, kernel, kernel]
    cudnnConvolutionDescriptor_t conv = nullptr;  // padding, stride, cross-correlation, fp32
    Choice forward, backward_data, backward_filter;
  };

  CudnnConv(const CudnnLibrary& library, cudnnHandle_t h) : lib(library), handle(h) {}
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
  ~CudnnConv() {
    plans.clear();  // descriptors before the handle
    lib.destroy(handle);
  }

  // The geometry's plan, made at its first call; a descriptor cuDNN refuses leaves it `broken`.
  Plan& plan(const char* op, const Key& key);

  const CudnnLibrary& lib;
  cudnnHandle_t handle;
  std::map<Key, std::unique_ptr<Plan>> plans;
};

void CudnnConvDeleter::operator()(CudnnConv* conv) const {
  delete conv;
}

namespace {

using tensor::Conv2dGeometry;
using tensor::DType;
using tensor::Tensor;

// The most cuDNN workspace (the backend's scratch, kept between calls) one algorithm may ask for:
// the implicit-GEMM algorithms need little or none; the explicit GEMM's columns of a large layer
// can need gigabytes, and then the next candidate is taken.
constexpr std::size_t kMaxWorkspaceBytes = std::size_t{256} << 20;

constexpr float kOne = 1.0f, kZero = 0.0f;

// The algorithms that sum the convolution's products directly (see the top of the file).
bool sums_directly(cudnnConvolutionFwdAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
         algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || algo == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

bool sums_directly(cudnnConvolutionBwdDataAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;  // ALGO_0 adds with atomics
}

bool sums_directly(cudnnConvolutionBwdFilterAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;  // ALGO_0 and ALGO_3 add with atomics
}

// Whether cuDNN refused what it was asked to run (any CUDNN_STATUS_NOT_SUPPORTED_*): the call goes
// to im2col.
bool not_supported(cudnnStatus_t status) {
  return CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED;
}

// Takes the first of cuDNN's heuristic candidates (best first) that sums directly and
// deterministically, in the math the plan allows, with a workspace of at most kMaxWorkspaceBytes.
// heuristic(count, &returned, perf) and workspace_size(algo, &bytes) are the direction's calls
// on the plan's descriptors. Nothing has run yet, so a heuristic that fails leaves the geometry
// to im2col rather than failing the step.
template <int kCount, class Perf, class Heuristic, class WorkspaceSize>
void choose(CudnnConv::Choice& choice, const CudnnLibrary& lib, const char* op,
            const char* heuristic_name, bool tensor_ops, Heuristic heuristic,
            WorkspaceSize workspace_size) {
  Perf perf[kCount] = {};
  int returned = 0;
  choice.made = true;
  if (const cudnnStatus_t status = heuristic(kCount, &returned, perf);
      status != CUDNN_STATUS_SUCCESS) {
    choice.why = std::string(op) + ": " + heuristic_name + ": " + lib.describe(status);
    return;
  }
  for (int i = 0; i < std::min(returned, kCount); ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || !sums_directly(p.algo) ||
        p.determinism != CUDNN_DETERMINISTIC) {
      continue;
    }
    // Never f32 data converted to f16 (it would round the operands), and TF32 only where the
    // operands are widened 16-bit values, which it holds exactly.
    if (p.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION ||
        (!tensor_ops && p.mathType == CUDNN_TENSOR_OP_MATH)) {
      continue;
    }
    std::size_t bytes = 0;
    if (workspace_size(p.algo, &bytes) != CUDNN_STATUS_SUCCESS || bytes > kMaxWorkspaceBytes) {
      continue;
    }
    choice.algo = static_cast<int>(p.algo);
    choice.workspace = bytes;
    return;
  }
  choice.why = std::string(op) + ": none of the " + std::to_string(returned) + " candidates of " +
               heuristic_name + " sums directly and deterministically within " +
               std::to_string(kMaxWorkspaceBytes >> 20) + " MiB of workspace";
}

// Whether cuDNN's int-sized descriptors hold the call: x [batch, C, H, W] and y [batch, OC, OH, OW]
// of at most 2^31 - 1 elements, and so every dimension; the kernel, stride and padding too.
bool fits_descriptors(std::int64_t batch, const Conv2dGeometry& g) {
  const auto fits_int = [](std::int64_t v) { return v >= 0 && std::in_range<int>(v); };
  return fits_int(batch * g.in_channels * g.in_h * g.in_w) &&
         fits_int(batch * g.out_channels * g.out_h() * g.out_w()) &&
         fits_int(g.out_channels * g.patch()) && fits_int(g.kernel) && fits_int(g.stride) &&
         fits_int(g.padding);
}

int narrow(std::int64_t v) {
  return static_cast<int>(v);  // checked by fits_descriptors
}

}  // namespace

CudnnConv::Plan& CudnnConv::plan(const char* op, const Key& k) {
  if (auto found = plans.find(k); found != plans.end()) return *found->second;
  auto p = std::make_unique<Plan>(lib);
  // Each step runs while the ones before succeeded; the first failure is the plan's reason.
  const auto step = [&](cudnnStatus_t status, const char* call) {
    if (status != CUDNN_STATUS_SUCCESS) {
      p->broken = std::string(op) + ": " + call + ": " + lib.describe(status);
    }
    return status == CUDNN_STATUS_SUCCESS;
  };
  const auto out = [&](std::int64_t in) { return (in + 2 * k.padding - k.kernel) / k.stride + 1; };
  const int batch = narrow(k.batch), in_c = narrow(k.in_channels), out_c = narrow(k.out_channels);
  const int kernel = narrow(k.kernel), stride = narrow(k.stride), pad = narrow(k.padding);
  step(lib.create_tensor_descriptor(&p->x), "cudnnCreateTensorDescriptor") &&
      step(lib.set_tensor_4d_descriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, batch, in_c,
                                        narrow(k.in_h), narrow(k.in_w)),
           "cudnnSetTensor4dDescriptor (input)") &&
      step(lib.create_tensor_descriptor(&p->y), "cudnnCreateTensorDescriptor") &&
      step(lib.set_tensor_4d_descriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, batch, out_c,
                                        narrow(out(k.in_h)), narrow(out(k.in_w))),
           "cudnnSetTensor4dDescriptor (output)") &&
      step(lib.create_filter_descriptor(&p->w), "cudnnCreateFilterDescriptor") &&
      step(lib.set_filter_4d_descriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, out_c, in_c,
                                        kernel, kernel),
           "cudnnSetFilter4dDescriptor") &&
      step(lib.create_convolution_descriptor(&p->conv), "cudnnCreateConvolutionDescriptor") &&
      step(lib.set_convolution_2d_descriptor(p->conv, pad, pad, stride, stride, 1, 1,
                                             CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
           "cudnnSetConvolution2dDescriptor") &&
      step(lib.set_convolution_math_type(p->conv,
                                         k.tensor_ops ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
           "cudnnSetConvolutionMathType");
  return *plans.emplace(k, std::move(p)).first->second;
}

namespace {

// The plan of a call with input x (f32, or 16-bit to be widened); null, with the reason in
// `fallback`, where cuDNN cannot take the call.
CudnnConv::Plan* plan_for(CudnnConv& c, const char* op, const Tensor& x, const Conv2dGeometry& g,
                          std::string& fallback) {
  const std::int64_t batch = x.shape()[0];
  if (!fits_descriptors(batch, g)) {
    fallback = std::string(op) + ": a tensor exceeds cuDNN's 2^31 elements";
    return nullptr;
  }
  const bool half = x.dtype() == DType::f16 || x.dtype() == DType::bf16;
  CudnnConv::Plan& p = c.plan(op, {half, batch, g.in_channels, g.out_channels, g.in_h, g.in_w,
                                   g.kernel, g.stride, g.padding});
  if (!p.broken.empty()) {
    fallback = p.broken;
    return nullptr;
  }
  return &p;
}

}  // namespace

std::optional<ConvRequest> parse_conv_request(std::string_view value) {
  if (value.empty() || value == "auto") return ConvRequest::automatic;
  if (value == "cudnn") return ConvRequest::cudnn;
  if (value == "im2col") return ConvRequest::im2col;
  return std::nullopt;
}

bool CudaBackend::open_cudnn(std::string& why) {
  if (cudnn_) return true;
  if (!cudnn_failure_.empty()) {
    why = cudnn_failure_;
    return false;
  }
  const CudnnLibrary* lib = cudnn_library(why);
  if (lib != nullptr) {
    // The handle binds to the current device: make it this backend's for the call, in case the
    // calling thread last used another.
    int previous = device_;
    if (cudaGetDevice(&previous) != cudaSuccess) {
      cudaGetLastError();  // not the next op's error
      previous = device_;
    }
    if (previous != device_) check_cuda(cudaSetDevice(device_), "selecting the CUDA device");
    cudnnHandle_t handle = nullptr;
    cudnnStatus_t status = lib->create(&handle);
    if (status != CUDNN_STATUS_SUCCESS) {
      why = "cudnnCreate: " + lib->describe(status);
    } else if (status = lib->set_stream(handle, stream_); status != CUDNN_STATUS_SUCCESS) {
      why = "cudnnSetStream: " + lib->describe(status);
      lib->destroy(handle);
    } else {
      cudnn_.reset(new CudnnConv(*lib, handle));
    }
    if (previous != device_) check_cuda(cudaSetDevice(previous), "restoring the CUDA device");
  }
  if (!cudnn_) cudnn_failure_ = why;
  return cudnn_ != nullptr;
}

void CudaBackend::settle_conv_path() {
  if (conv_path_settled_) return;
  conv_path_settled_ = true;
  const char* env = std::getenv("TRAINBENCH_CONV");
  const std::string value = env ? env : "";
  const auto request = parse_conv_request(value);
  if (!request) {
    conv_refusal_ = "TRAINBENCH_CONV is \"" + value + "\"; it takes auto, cudnn or im2col";
    conv_path_why_ = conv_refusal_;
    return;
  }
  if (*request == ConvRequest::im2col) {
    conv_path_why_ = "TRAINBENCH_CONV=im2col";
    return;
  }
  std::string why;
  if (open_cudnn(why)) {
    conv_path_ = ConvPath::cudnn;
    return;
  }
  conv_path_why_ = why;
  if (*request == ConvRequest::cudnn) {
    conv_refusal_ = "TRAINBENCH_CONV=cudnn, but cuDNN cannot be used: " + why;
  }
}

bool CudaBackend::conv_on_cudnn(const char* op) {
  settle_conv_path();
  if (!conv_refusal_.empty()) throw Error(std::string(op) + ": " + conv_refusal_);
  return conv_path_ == ConvPath::cudnn;
}

ConvPath CudaBackend::conv_path() {
  settle_conv_path();
  return conv_path_;
}

std::string CudaBackend::conv_path_description() {
  settle_conv_path();
  if (conv_path_ == ConvPath::cudnn) {
    return "cudnn (cuDNN " + cudnn_->lib.version_string() + ", " + cudnn_->lib.file + ")";
  }
  return "im2col (" + conv_path_why_ + ")";
}

void CudaBackend::set_conv_path(ConvPath path) {
  std::string why;
  if (path == ConvPath::cudnn && !open_cudnn(why)) {
    throw Error("set_conv_path: cuDNN cannot be used: " + why);
  }
  conv_path_settled_ = true;
  conv_path_ = path;
  conv_path_why_ = path == ConvPath::im2col ? "chosen by set_conv_path" : "";
  conv_refusal_.clear();
}

bool CudaBackend::cudnn_conv2d_forward(const Tensor& x, const Tensor& w, Tensor& y,
                                       const Conv2dGeometry& g) {
  constexpr const char* op = "conv2d_forward";
  CudnnConv& c = *cudnn_;
  CudnnConv::Plan* plan = plan_for(c, op, x, g, conv_fallback_);
  if (plan == nullptr) return false;
  CudnnConv::Plan& p = *plan;
  const bool half = x.dtype() != DType::f32;
  if (!p.forward.made) {
    choose<CUDNN_CONVOLUTION_FWD_ALGO_COUNT, cudnnConvolutionFwdAlgoPerf_t>(
        p.forward, c.lib, op, "cudnnGetConvolutionForwardAlgorithm_v7", half,
        [&](int count, int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
          return c.lib.get_forward_algorithm(c.handle, p.x, p.w, p.conv, p.y, count, returned,
                                             perf);
        },
        [&](cudnnConvolutionFwdAlgo_t algo, std::size_t* bytes) {
          return c.lib.get_forward_workspace_size(c.handle, p.x, p.w, p.conv, p.y, algo, bytes);
        });
  }
  if (p.forward.algo < 0) {
    conv_fallback_ = p.forward.why;
    return false;
  }
  // 16-bit x [batch, C, H, W] and w [OC, C, K, K] widened into f32 copies of the same shapes.
  Tensor x32, w32;
  const void* in = any(x, op);
  const void* weight = any(w, op);
  if (half) {
    x32 = empty(x.shape(), DType::f32);
    w32 = empty(w.shape(), DType::f32);
    convert(x, x32);
    convert(w, w32);
    in = x32.raw();
    weight = w32.raw();
  }
  void* workspace = scratch(p.forward.workspace);
  const auto algo = static_cast<cudnnConvolutionFwdAlgo_t>(p.forward.algo);
  const cudnnStatus_t status =
      c.lib.convolution_forward(c.handle, &kOne, p.x, in, p.w, weight, p.conv, algo, workspace,
                                p.forward.workspace, &kZero, p.y, f32(y, op));
  if (not_supported(status)) {
    p.forward.algo = -1;
    p.forward.why = std::string(op) + ": cudnnConvolutionForward: " + c.lib.describe(status);
    conv_fallback_ = p.forward.why;
    return false;
  }
  c.lib.check(status, op, "cudnnConvolutionForward");
  return true;
}

bool CudaBackend::cudnn_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy,
                                        Tensor* dx, Tensor& dw, const Conv2dGeometry& g) {
  constexpr const char* op = "conv2d_backward";
  CudnnConv& c = *cudnn_;
  CudnnConv::Plan* plan = plan_for(c, op, x, g, conv_fallback_);
  if (plan == nullptr) return false;
  CudnnConv::Plan& p = *plan;
  const bool half = x.dtype() != DType::f32;
  if (!p.backward_filter.made) {
    choose<CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, cudnnConvolutionBwdFilterAlgoPerf_t>(
        p.backward_filter, c.lib, op, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", half,
        [&](int count, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
          return c.lib.get_backward_filter_algorithm(c.handle, p.x, p.y, p.conv, p.w, count,
                                                     returned, perf);
        },
        [&](cudnnConvolutionBwdFilterAlgo_t algo, std::size_t* bytes) {
          return c.lib.get_backward_filter_workspace_size(c.handle, p.x, p.y, p.conv, p.w, algo,
                                                          bytes);
        });
  }
  if (dx && !p.backward_data.made) {
    choose<CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, cudnnConvolutionBwdDataAlgoPerf_t>(
        p.backward_data, c.lib, op, "cudnnGetConvolutionBackwardDataAlgorithm_v7", half,
        [&](int count, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
          return c.lib.get_backward_data_algorithm(c.handle, p.w, p.y, p.conv, p.x, count, returned,
                                                   perf);
        },
        [&](cudnnConvolutionBwdDataAlgo_t algo, std::size_t* bytes) {
          return c.lib.get_backward_data_workspace_size(c.handle, p.w, p.y, p.conv, p.x, algo,
                                                        bytes);
        });
  }
  for (const CudnnConv::Choice* choice : {&p.backward_filter, dx ? &p.backward_data : nullptr}) {
    if (choice && choice->algo < 0) {
      conv_fallback_ = choice->why;
      return false;
    }
  }
  // 16-bit operands: x [batch, C, H, W] and w [OC, C, K, K] widened into f32 copies, and dy
  // [batch, OC, OH, OW] copied and rounded to x's dtype (held in f32) for the two products, as
  // the contract and the im2col path round it.
  Tensor x32, w32, dy_rounded;
  const void* in = any(x, op);
  const void* weight = any(w, op);
  const void* grad_out = f32(dy, op);
  if (half) {
    x32 = empty(x.shape(), DType::f32);
    convert(x, x32);
    in = x32.raw();
    if (dx) {
      w32 = empty(w.shape(), DType::f32);
      convert(w, w32);
      weight = w32.raw();
    }
    dy_rounded = empty(dy.shape(), DType::f32);
    copy(dy, dy_rounded);
    round_to(dy_rounded, x.dtype());
    grad_out = dy_rounded.raw();
  }
  const std::size_t workspace_bytes =
      std::max(p.backward_filter.workspace, dx ? p.backward_data.workspace : 0);
  void* workspace = scratch(workspace_bytes);
  const auto filter_algo = static_cast<cudnnConvolutionBwdFilterAlgo_t>(p.backward_filter.algo);
  cudnnStatus_t status = c.lib.convolution_backward_filter(
      c.handle, &kOne, p.x, in, p.y, grad_out, p.conv, filter_algo, workspace,
      p.backward_filter.workspace, &kZero, p.w, f32(dw, op));
  CudnnConv::Choice* failed = &p.backward_filter;
  const char* call = "cudnnConvolutionBackwardFilter";
  if (status == CUDNN_STATUS_SUCCESS && dx) {
    const auto data_algo = static_cast<cudnnConvolutionBwdDataAlgo_t>(p.backward_data.algo);
    status = c.lib.convolution_backward_data(c.handle, &kOne, p.w, weight, p.y, grad_out, p.conv,
                                             data_algo, workspace, p.backward_data.workspace,
                                             &kZero, p.x, f32(*dx, op));
    failed = &p.backward_data;
    call = "cudnnConvolutionBackwardData";
  }
  if (not_supported(status)) {
    // im2col overwrites dW (and dx) in full.
    failed->algo = -1;
    failed->why = std::string(op) + ": " + call + ": " + c.lib.describe(status);
    conv_fallback_ = failed->why;
    return false;
  }
  c.lib.check(status, op, call);
  return true;
}

}  // namespace tb::gpu
