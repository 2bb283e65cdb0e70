// CudaBackend's elementwise ops, row reductions, loss and metrics: the CPU backend's shape and
// dtype checks (same op names and wording), then the launchers of gpu/kernels/math.h. The ops
// that return a value read it back through the pinned host scratch, one small copy and one wait.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "core/util/error.h"
#include "gpu/cuda_backend_impl.h"
#include "gpu/kernels/math.h"

namespace tb::gpu {
namespace {

using tensor::Tensor;

// Copies a small device result to the pinned host scratch and waits for it.
template <class T>
T read_back(CudaBackend& backend, const T* device, const char* op) {
  auto* host = static_cast<T*>(backend.host_scratch(sizeof(T)));
  check_cuda(cudaMemcpyAsync(host, device, sizeof(T), cudaMemcpyDeviceToHost, backend.stream()),
             op);
  backend.sync(op);
  return *host;
}

// dropout_forward and dropout_backward are the same map (see apply_dropout_mask on the CPU).
void dropout(CudaBackend& backend, const char* op, const Tensor& in, Tensor& out, float p,
             std::uint64_t seed) {
  const float* x = CudaBackend::f32(in, op);
  float* y = CudaBackend::f32(out, op);
  require_same_numel(op, in, out);
  require(p >= 0.0f && p < 1.0f, op, "p must be in [0, 1)");
  // Computed here, as the CPU computes it, so both multiply by the same float.
  const float keep_scale = 1.0f / (1.0f - p);
  kernels::dropout(x, y, in.numel(), p, keep_scale, seed, backend.stream());
}

}  // namespace

void CudaBackend::add_row_bias(Tensor& y, const Tensor& bias) {
  constexpr const char* op = "add_row_bias";
  float* out = f32(y, op);
  const float* b = f32(bias, op);
  const MatrixDims dims = matrix_dims(y);
  require(dims.cols == bias.numel(), op,
          "bias " + bias.shape().str() + " does not match rows of " + y.shape().str());
  kernels::add_row_bias(out, b, dims.rows, dims.cols, stream_);
}

void CudaBackend::sum_rows(const Tensor& dy, Tensor& db) {
  constexpr const char* op = "sum_rows";
  const float* in = f32(dy, op);
  float* out = f32(db, op);
  const MatrixDims dims = matrix_dims(dy);
  require(dims.cols == db.numel(), op, "shapes differ");
  const std::int64_t workspace = kernels::sum_rows_workspace(dims.rows, dims.cols);
  auto* partial =
      workspace > 0
          ? static_cast<float*>(scratch(static_cast<std::size_t>(workspace) * sizeof(float)))
          : nullptr;
  kernels::sum_rows(in, out, dims.rows, dims.cols, partial, stream_);
}

void CudaBackend::relu_forward(const Tensor& x, Tensor& y) {
  constexpr const char* op = "relu_forward";
  const float* in = f32(x, op);
  float* out = f32(y, op);
  require_same_numel(op, x, y);
  kernels::relu_forward(in, out, x.numel(), stream_);
}

void CudaBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  constexpr const char* op = "relu_backward";
  const float* out = f32(y, op);
  const float* g = f32(dy, op);
  float* d = f32(dx, op);
  require_same_numel(op, y, dy);
  require_same_numel(op, y, dx);
  kernels::relu_backward(out, g, d, y.numel(), stream_);
}

void CudaBackend::dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) {
  dropout(*this, "dropout_forward", x, y, p, seed);
}

void CudaBackend::dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) {
  dropout(*this, "dropout_backward", dy, dx, p, seed);
}

void CudaBackend::mul(const Tensor& a, const Tensor& b, Tensor& out) {
  constexpr const char* op = "mul";
  const float* x = f32(a, op);
  const float* y = f32(b, op);
  float* z = f32(out, op);
  require_same_numel(op, a, b);
  require_same_numel(op, a, out);
  kernels::mul(x, y, z, a.numel(), stream_);
}

float CudaBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                                 Tensor& probs) {
  constexpr const char* op = "softmax_cross_entropy";
  const float* l = f32(logits, op);
  const std::int32_t* y = i32(labels, op);
  float* p = f32(probs, op);
  const MatrixDims dims = matrix_dims(logits);
  const MatrixDims probs_dims = matrix_dims(probs);
  require(labels.numel() == dims.rows, op,
          "labels " + labels.shape().str() + " do not match logits " + logits.shape().str());
  require(probs_dims.rows == dims.rows && probs_dims.cols == dims.cols, op, "probs shape");
  if (dims.rows == 0) return 0.0f;
  // One workspace: the result the host reads, then each row's loss (16-byte aligned after it).
  auto* result = static_cast<kernels::SoftmaxLossResult*>(scratch(
      sizeof(kernels::SoftmaxLossResult) + static_cast<std::size_t>(dims.rows) * sizeof(double)));
  auto* row_loss = reinterpret_cast<double*>(result + 1);
  kernels::softmax_cross_entropy_forward(l, y, p, dims.rows, dims.cols, row_loss, result, stream_);
  const kernels::SoftmaxLossResult host = read_back(*this, result, op);
  if (host.bad_label != kernels::kNoBadLabel) {
    const auto row = host.bad_label >> 32;
    const auto label = static_cast<std::int32_t>(static_cast<std::uint32_t>(host.bad_label));
    throw Error("softmax_cross_entropy: label " + std::to_string(label) + " at row " +
                std::to_string(row) + " is outside [0, " + std::to_string(dims.cols) + ")");
  }
  return static_cast<float>(host.loss_sum / static_cast<double>(dims.rows));
}

void CudaBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                                 Tensor& dlogits) {
  constexpr const char* op = "softmax_cross_entropy_backward";
  const float* p = f32(probs, op);
  const std::int32_t* y = i32(labels, op);
  float* d = f32(dlogits, op);
  const MatrixDims dims = matrix_dims(probs);
  const MatrixDims out = matrix_dims(dlogits);
  require(dims.rows == out.rows && dims.cols == out.cols, op, "shapes differ");
  // The CPU reads labels unchecked; a kernel reading past them would fault the whole context.
  require(labels.numel() == dims.rows, op,
          "labels " + labels.shape().str() + " do not match probs " + probs.shape().str());
  kernels::softmax_cross_entropy_backward(p, y, d, dims.rows, dims.cols, stream_);
}

std::int64_t CudaBackend::count_correct(const Tensor& logits, const Tensor& labels) {
  constexpr const char* op = "count_correct";
  const float* l = f32(logits, op);
  const std::int32_t* y = i32(labels, op);
  const MatrixDims dims = matrix_dims(logits);
  require(labels.numel() == dims.rows, op,
          "labels " + labels.shape().str() + " do not match logits " + logits.shape().str());
  if (dims.rows == 0) return 0;
  auto* correct = static_cast<unsigned long long*>(scratch(sizeof(unsigned long long)));
  kernels::count_correct(l, y, dims.rows, dims.cols, correct, stream_);
  return static_cast<std::int64_t>(read_back(*this, correct, op));
}

void CudaBackend::scale(Tensor& t, float factor) {
  kernels::scale(f32(t, "scale"), t.numel(), factor, stream_);
}

double CudaBackend::sum_squares(const Tensor& t) {
  constexpr const char* op = "sum_squares";
  const float* x = f32(t, op);
  const std::int64_t n = t.numel();
  if (n == 0) return 0.0;
  auto* workspace = static_cast<double*>(
      scratch(static_cast<std::size_t>(kernels::sum_squares_workspace(n)) * sizeof(double)));
  kernels::sum_squares(x, n, workspace, stream_);
  return read_back(*this, workspace, op);
}

}  // namespace tb::gpu
