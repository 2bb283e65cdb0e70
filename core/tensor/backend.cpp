#include "core/tensor/backend.h"

namespace tb::tensor {

Tensor Backend::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  fill(t, 0.0f);
  return t;
}

void Backend::ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.shape() != shape || t.dtype() != dtype) t = empty(shape, dtype);
}

}  // namespace tb::tensor
