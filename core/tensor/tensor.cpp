#include "core/tensor/tensor.h"

#include <sstream>

#include "core/util/error.h"

namespace tb::tensor {

std::size_t dtype_size(DType dtype) {
  switch (dtype) {
    case DType::f32:
    case DType::i32:
      return 4;
    case DType::f16:
    case DType::bf16:
      return 2;
  }
  return 0;
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::f32:
      return "f32";
    case DType::i32:
      return "i32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
  }
  return "?";
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (auto d : dims_) n *= d;
  return n;
}

std::int64_t Shape::inner() const {
  std::int64_t n = 1;
  for (std::size_t i = 1; i < dims_.size(); ++i) n *= dims_[i];
  return n;
}

std::string Shape::str() const {
  std::ostringstream out;
  out << '[';
  for (std::size_t i = 0; i < dims_.size(); ++i) out << (i ? ", " : "") << dims_[i];
  out << ']';
  return out.str();
}

Tensor::Tensor(std::shared_ptr<Buffer> buffer, Shape shape, DType dtype)
    : buffer_(std::move(buffer)), shape_(std::move(shape)), dtype_(dtype) {
  if (buffer_ && buffer_->bytes() < bytes()) {
    throw Error("tensor of shape " + shape_.str() + " does not fit its buffer of " +
                std::to_string(buffer_->bytes()) + " bytes");
  }
}

Tensor Tensor::reshape(Shape shape) const {
  if (shape.numel() != numel()) {
    throw Error("cannot reshape " + shape_.str() + " to " + shape.str());
  }
  return Tensor(buffer_, std::move(shape), dtype_);
}

Tensor Tensor::prefix_view(Shape shape) const {
  return Tensor(buffer_, std::move(shape), dtype_);  // the constructor checks that it fits
}

void Tensor::check_on_host() const {
  if (!buffer_) throw Error("access to an undefined tensor");
  if (buffer_->device() != Device::cpu)
    throw Error("host access to a device tensor " + shape_.str());
}

void Tensor::check_host(DType expected) const {
  check_on_host();
  if (dtype_ != expected) {
    throw Error(std::string("tensor is ") + dtype_name(dtype_) + ", accessed as " +
                dtype_name(expected));
  }
}

void Tensor::check_host_u16() const {
  check_on_host();
  if (dtype_ != DType::f16 && dtype_ != DType::bf16) {
    throw Error(std::string("tensor is ") + dtype_name(dtype_) +
                ", accessed as 16-bit floats (f16 or bf16)");
  }
}

float* Tensor::data() {
  check_host(DType::f32);
  return static_cast<float*>(buffer_->data());
}
const float* Tensor::data() const {
  check_host(DType::f32);
  return static_cast<const float*>(buffer_->data());
}
std::int32_t* Tensor::data_i32() {
  check_host(DType::i32);
  return static_cast<std::int32_t*>(buffer_->data());
}
const std::int32_t* Tensor::data_i32() const {
  check_host(DType::i32);
  return static_cast<const std::int32_t*>(buffer_->data());
}

std::uint16_t* Tensor::data_u16() {
  check_host_u16();
  return static_cast<std::uint16_t*>(buffer_->data());
}
const std::uint16_t* Tensor::data_u16() const {
  check_host_u16();
  return static_cast<const std::uint16_t*>(buffer_->data());
}

MatrixMap Tensor::matrix() {
  const auto rows = shape_.rank() ? shape_[0] : 1;
  return MatrixMap(data(), rows, rows ? numel() / rows : 0);
}
ConstMatrixMap Tensor::matrix() const {
  const auto rows = shape_.rank() ? shape_[0] : 1;
  return ConstMatrixMap(data(), rows, rows ? numel() / rows : 0);
}

}  // namespace tb::tensor
