// Tensor: a shape over contiguous storage owned by a Backend.
//
// Tensors are row-major and contiguous; a reshape is a view sharing the storage. The storage lives
// wherever its backend put it (host memory for the CPU backend, device memory for CUDA), so only
// host tensors expose data() for direct access. Layers never touch data() themselves: they call
// Backend ops, which is what lets another backend plug in without changing nn/ or optim/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace tb::tensor {

// f16 (IEEE binary16) and bf16 (bfloat16) are 16-bit storage formats for mixed precision; their
// elements are raw bits (std::uint16_t), converted with the functions in core/tensor/half.h.
// New dtypes go at the end, so that existing ones keep their numbers.
enum class DType : std::uint8_t { f32, i32, f16, bf16 };
enum class Device : std::uint8_t { cpu, cuda };

std::size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

// Dimensions, outermost first (N, C, H, W for images; rows, cols for matrices).
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}

  std::size_t rank() const { return dims_.size(); }
  std::int64_t operator[](std::size_t i) const { return dims_[i]; }
  std::int64_t& operator[](std::size_t i) { return dims_[i]; }
  std::int64_t numel() const;
  // Product of all dimensions but the first: the row length when the tensor is seen as a matrix.
  std::int64_t inner() const;
  const std::vector<std::int64_t>& dims() const { return dims_; }
  std::string str() const;  // "[128, 784]"

  bool operator==(const Shape&) const = default;

 private:
  std::vector<std::int64_t> dims_;
};

// A block of memory from a backend; freed by the backend that made it.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual std::size_t bytes() const = 0;
  virtual Device device() const = 0;
};

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixMap = Eigen::Map<RowMatrix, Eigen::Aligned32>;
using ConstMatrixMap = Eigen::Map<const RowMatrix, Eigen::Aligned32>;

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Buffer> buffer, Shape shape, DType dtype);

  const Shape& shape() const { return shape_; }
  DType dtype() const { return dtype_; }
  Device device() const { return buffer_ ? buffer_->device() : Device::cpu; }
  std::int64_t numel() const { return shape_.numel(); }
  std::size_t bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool defined() const { return buffer_ != nullptr; }

  // A view with another shape of the same number of elements, sharing storage.
  Tensor reshape(Shape shape) const;
  // A view of the first shape.numel() elements of this tensor's storage, in another shape: how a
  // workspace sized for the largest layer serves smaller ones without reallocating.
  Tensor prefix_view(Shape shape) const;
  // Bytes of storage actually allocated (a view counts its whole buffer; 0 when undefined).
  std::size_t storage_bytes() const { return buffer_ ? buffer_->bytes() : 0; }
  // Whether two tensors share one storage (one is a view of the other).
  bool same_storage(const Tensor& other) const { return buffer_ && buffer_ == other.buffer_; }

  // Host access (CPU tensors only; throws tb::Error otherwise or on a dtype mismatch).
  float* data();
  const float* data() const;
  std::int32_t* data_i32();
  const std::int32_t* data_i32() const;
  // The raw bits of an f16 or bf16 tensor (either; the dtype says how to read them).
  std::uint16_t* data_u16();
  const std::uint16_t* data_u16() const;
  void* raw() { return buffer_ ? buffer_->data() : nullptr; }
  const void* raw() const { return buffer_ ? buffer_->data() : nullptr; }

  // The tensor as a rows x inner() row-major matrix (CPU f32 only).
  MatrixMap matrix();
  ConstMatrixMap matrix() const;

 private:
  void check_on_host() const;
  void check_host(DType expected) const;
  void check_host_u16() const;

  std::shared_ptr<Buffer> buffer_;
  Shape shape_;
  DType dtype_ = DType::f32;
};

}  // namespace tb::tensor
