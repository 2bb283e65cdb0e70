#include "core/tensor/cpu_backend.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/tensor/half.h"
#include "core/tensor/memory_tracker.h"
#include "core/util/error.h"

namespace tb::tensor {
namespace {

class HostBuffer final : public Buffer {
 public:
  explicit HostBuffer(std::size_t bytes) : bytes_(bytes) {
    // 64-byte alignment: a cache line, and what Eigen's aligned maps and AVX-512 want.
    const std::size_t rounded = std::max<std::size_t>(64, (bytes + 63) / 64 * 64);
    data_ = std::aligned_alloc(64, rounded);
    if (!data_) throw Error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    note_allocated(Device::cpu, bytes_);
  }
  ~HostBuffer() override {
    note_freed(Device::cpu, bytes_);
    std::free(data_);
  }
  void* data() override { return data_; }
  std::size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::cpu; }

 private:
  void* data_ = nullptr;
  std::size_t bytes_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  return std::make_unique<CpuBackend>(threads);
}

CpuBackend::CpuBackend(int threads) {
  set_threads(threads);
}

void CpuBackend::set_threads(int threads) {
  threads_ = std::max(1, threads);
  // Eigen's GEMM parallelises with OpenMP over this many threads.
  Eigen::setNbThreads(threads_);
}

Tensor CpuBackend::empty(Shape shape, DType dtype) {
  for (auto d : shape.dims()) {
    if (d < 0) throw Error("negative dimension in shape " + shape.str());
  }
  const auto bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return Tensor(std::make_shared<HostBuffer>(bytes), std::move(shape), dtype);
}

void CpuBackend::upload(Tensor& dst, const void* host, std::size_t bytes) {
  require(bytes <= dst.bytes(), "upload", "more bytes than the tensor holds");
  std::memcpy(dst.raw(), host, bytes);
}

void CpuBackend::download(const Tensor& src, void* host, std::size_t bytes) {
  require(bytes <= src.bytes(), "download", "more bytes than the tensor holds");
  std::memcpy(host, src.raw(), bytes);
}

void CpuBackend::fill(Tensor& t, float value) {
  switch (t.dtype()) {
    case DType::i32:
      std::fill_n(t.data_i32(), t.numel(), static_cast<std::int32_t>(value));
      return;
    case DType::f16:
      std::fill_n(t.data_u16(), t.numel(), float_to_f16(value));
      return;
    case DType::bf16:
      std::fill_n(t.data_u16(), t.numel(), float_to_bf16(value));
      return;
    case DType::f32:
      std::fill_n(t.data(), t.numel(), value);
      return;
  }
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  require_same_numel("copy", src, dst);
  require(src.dtype() == dst.dtype(), "copy", "dtypes differ");
  std::memcpy(dst.raw(), src.raw(), src.bytes());
}

void CpuBackend::copy_range(const Tensor& src, std::int64_t src_offset, Tensor& dst,
                            std::int64_t dst_offset, std::int64_t count) {
  require_copy_range(src, src_offset, dst, dst_offset, count);
  if (count == 0) return;
  const std::size_t element = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw()) + static_cast<std::size_t>(dst_offset) * element,
              static_cast<const char*>(src.raw()) + static_cast<std::size_t>(src_offset) * element,
              static_cast<std::size_t>(count) * element);
}

void CpuBackend::convert(const Tensor& src, Tensor& dst) {
  require_same_numel("convert", src, dst);
  const auto n = static_cast<std::size_t>(src.numel());
  const DType from = src.dtype(), to = dst.dtype();
  if (from == to) {
    std::memcpy(dst.raw(), src.raw(), src.bytes());
  } else if (from == DType::f32 && to == DType::bf16) {
    float_to_bf16(src.data(), dst.data_u16(), n);
  } else if (from == DType::f32 && to == DType::f16) {
    float_to_f16(src.data(), dst.data_u16(), n);
  } else if (from == DType::bf16 && to == DType::f32) {
    bf16_to_float(src.data_u16(), dst.data(), n);
  } else if (from == DType::f16 && to == DType::f32) {
    f16_to_float(src.data_u16(), dst.data(), n);
  } else {
    require(false, "convert",
            std::string("no conversion from ") + dtype_name(from) + " to " + dtype_name(to));
  }
}

void CpuBackend::round_to(Tensor& t, DType storage) {
  const std::span<float> values(t.data(), static_cast<std::size_t>(t.numel()));
  if (storage == DType::bf16) {
    round_to_bf16(values);
  } else if (storage == DType::f16) {
    round_to_f16(values);
  } else {
    require(storage == DType::f32, "round_to", "storage must be f32, f16 or bf16");
  }
}

void CpuBackend::gemm(const Tensor& a, bool trans_a, const Tensor& b, bool trans_b, Tensor& c,
                      float alpha, float beta) {
  auto A = a.matrix();
  auto B = b.matrix();
  auto C = c.matrix();
  const auto m = trans_a ? A.cols() : A.rows();
  const auto k = trans_a ? A.rows() : A.cols();
  const auto kb = trans_b ? B.cols() : B.rows();
  const auto n = trans_b ? B.rows() : B.cols();
  require(k == kb && C.rows() == m && C.cols() == n, "gemm",
          "shapes do not multiply: " + a.shape().str() + (trans_a ? "^T" : "") + " x " +
              b.shape().str() + (trans_b ? "^T" : "") + " -> " + c.shape().str());
  // Eigen's thread count is one process-wide setting: claim it for this backend's product.
  Eigen::setNbThreads(threads_);
  auto run = [&](const auto& op_a, const auto& op_b) {
    if (beta == 0.0f) {
      C.noalias() = alpha * (op_a * op_b);
    } else {
      if (beta != 1.0f) C *= beta;
      C.noalias() += alpha * (op_a * op_b);
    }
  };
  if (!trans_a && !trans_b) run(A, B);
  if (!trans_a && trans_b) run(A, B.transpose());
  if (trans_a && !trans_b) run(A.transpose(), B);
  if (trans_a && trans_b) run(A.transpose(), B.transpose());
}

void CpuBackend::add_row_bias(Tensor& y, const Tensor& bias) {
  auto Y = y.matrix();
  require(Y.cols() == bias.numel(), "add_row_bias",
          "bias " + bias.shape().str() + " does not match rows of " + y.shape().str());
  Eigen::Map<const Eigen::RowVectorXf> b(bias.data(), bias.numel());
  Y.rowwise() += b;
}

void CpuBackend::sum_rows(const Tensor& dy, Tensor& db) {
  auto D = dy.matrix();
  require(D.cols() == db.numel(), "sum_rows", "shapes differ");
  Eigen::Map<Eigen::RowVectorXf> out(db.data(), db.numel());
  out = D.colwise().sum();
}

void CpuBackend::relu_forward(const Tensor& x, Tensor& y) {
  require_same_numel("relu_forward", x, y);
  const float* in = x.data();
  float* out = y.data();
  const auto n = x.numel();
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

void CpuBackend::relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx) {
  require_same_numel("relu_backward", y, dy);
  require_same_numel("relu_backward", y, dx);
  const float* out = y.data();
  const float* g = dy.data();
  float* d = dx.data();
  const auto n = y.numel();
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) d[i] = out[i] > 0.0f ? g[i] : 0.0f;
}

namespace {

// out[i] = in[i] * dropout's mask(i): forward (x -> y) and backward (dy -> dx) are the same map.
void apply_dropout_mask(const char* op, const Tensor& in_tensor, Tensor& out_tensor, float p,
                        std::uint64_t seed, int threads) {
  require_same_numel(op, in_tensor, out_tensor);
  require(p >= 0.0f && p < 1.0f, op, "p must be in [0, 1)");
  const float keep_scale = 1.0f / (1.0f - p);
  const float* in = in_tensor.data();
  float* out = out_tensor.data();
  const auto n = in_tensor.numel();
#pragma omp parallel for num_threads(threads) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const bool keep = uniform_from_counter(seed, static_cast<std::uint64_t>(i)) >= p;
    out[i] = in[i] * (keep ? keep_scale : 0.0f);  // NaN * 0 stays NaN, as in PyTorch
  }
}

}  // namespace

void CpuBackend::dropout_forward(const Tensor& x, Tensor& y, float p, std::uint64_t seed) {
  apply_dropout_mask("dropout_forward", x, y, p, seed, threads_);
}

void CpuBackend::dropout_backward(const Tensor& dy, Tensor& dx, float p, std::uint64_t seed) {
  apply_dropout_mask("dropout_backward", dy, dx, p, seed, threads_);
}

void CpuBackend::mul(const Tensor& a, const Tensor& b, Tensor& out) {
  require_same_numel("mul", a, b);
  require_same_numel("mul", a, out);
  const float* x = a.data();
  const float* y = b.data();
  float* z = out.data();
  const auto n = a.numel();
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) z[i] = x[i] * y[i];
}

float CpuBackend::softmax_cross_entropy_forward(const Tensor& logits, const Tensor& labels,
                                                Tensor& probs) {
  auto L = logits.matrix();
  auto P = probs.matrix();
  const auto rows = L.rows();
  const auto classes = L.cols();
  require(labels.numel() == rows, "softmax_cross_entropy",
          "labels " + labels.shape().str() + " do not match logits " + logits.shape().str());
  require(P.rows() == rows && P.cols() == classes, "softmax_cross_entropy", "probs shape");
  const std::int32_t* y = labels.data_i32();
  double loss = 0.0;
  std::int64_t bad_row = -1;
  for (std::int64_t r = 0; r < rows; ++r) {
    if (y[r] < 0 || y[r] >= classes) {
      bad_row = r;
      break;
    }
    const float max = L.row(r).maxCoeff();
    P.row(r) = (L.row(r).array() - max).exp();
    const float sum = P.row(r).sum();
    P.row(r) /= sum;
    // log p[y] = (l[y] - max) - log(sum): exact even where p[y] underflows.
    loss -= static_cast<double>(L(r, y[r]) - max) - std::log(static_cast<double>(sum));
  }
  if (bad_row >= 0) {
    throw Error("softmax_cross_entropy: label " + std::to_string(y[bad_row]) + " at row " +
                std::to_string(bad_row) + " is outside [0, " + std::to_string(classes) + ")");
  }
  return rows ? static_cast<float>(loss / static_cast<double>(rows)) : 0.0f;
}

void CpuBackend::softmax_cross_entropy_backward(const Tensor& probs, const Tensor& labels,
                                                Tensor& dlogits) {
  auto P = probs.matrix();
  auto D = dlogits.matrix();
  require(P.rows() == D.rows() && P.cols() == D.cols(), "softmax_cross_entropy_backward",
          "shapes differ");
  const std::int32_t* y = labels.data_i32();
  const auto rows = P.rows();
  const float inv = rows ? 1.0f / static_cast<float>(rows) : 0.0f;
  D = P * inv;
  for (std::int64_t r = 0; r < rows; ++r) D(r, y[r]) -= inv;
}

std::int64_t CpuBackend::count_correct(const Tensor& logits, const Tensor& labels) {
  auto L = logits.matrix();
  const std::int32_t* y = labels.data_i32();
  std::int64_t correct = 0;
  for (std::int64_t r = 0; r < L.rows(); ++r) {
    Eigen::Index best = 0;
    L.row(r).maxCoeff(&best);
    correct += (best == y[r]);
  }
  return correct;
}

void CpuBackend::sgd_step(Tensor& param, const Tensor& grad, Tensor& velocity,
                          const SgdStep& step) {
  require_same_numel("sgd_step", param, grad);
  float* p = param.data();
  const float* g = grad.data();
  const auto n = param.numel();
  const float lr = step.lr;
  const float wd = step.weight_decay;
  const float momentum = step.momentum;
  if (momentum == 0.0f) {
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) p[i] -= lr * (g[i] + wd * p[i]);
    return;
  }
  require_same_numel("sgd_step", param, velocity);
  float* v = velocity.data();
  const float keep = 1.0f - step.dampening;
  const bool first = step.first_step;
  const bool nesterov = step.nesterov;
#pragma omp parallel for simd num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const float d = g[i] + wd * p[i];
    const float buf = first ? d : momentum * v[i] + keep * d;
    v[i] = buf;
    p[i] -= lr * (nesterov ? d + momentum * buf : buf);
  }
}

double CpuBackend::sum_squares(const Tensor& t) {
  const float* x = t.data();
  const auto n = t.numel();
  // Double accumulation (gradient norms must not lose digits over millions of elements);
  // `omp simd` lets the compiler reorder the sum, which is what makes the loop vectorise.
  double sum = 0.0;
#pragma omp parallel for simd reduction(+ : sum) num_threads(threads_) if (n > kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  return sum;
}

}  // namespace tb::tensor
