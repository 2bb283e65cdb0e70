#include "core/dist/tensor_span.h"

#include <string>

#include "core/util/error.h"

namespace tb::dist {

std::span<float> tensor_span(tensor::Tensor& t) {
  if (!t.defined() || t.dtype() != tensor::DType::f32) {
    throw Error("communication: a tensor " + t.shape().str() + " of " +
                (t.defined() ? tensor::dtype_name(t.dtype()) : "no storage") +
                " cannot be sent; f32 only");
  }
  return {static_cast<float*>(t.raw()), static_cast<std::size_t>(t.numel())};
}

}  // namespace tb::dist
