#include "core/tensor/backend.h"

#include <string>

#include "core/util/error.h"

namespace tb::tensor {

void check_conv2d(const char* op, const Tensor& x, const Tensor& w, const Conv2dGeometry& g) {
  if (g.kernel <= 0 || g.stride <= 0 || g.padding < 0) {
    throw Error(std::string(op) + ": kernel and stride must be positive and padding not negative");
  }
  const Shape expect_w{g.out_channels, g.in_channels, g.kernel, g.kernel};
  if (x.shape().rank() != 4 || x.shape()[1] != g.in_channels || x.shape()[2] != g.in_h ||
      x.shape()[3] != g.in_w || w.shape() != expect_w) {
    throw Error(std::string(op) + ": input " + x.shape().str() + " or weight " + w.shape().str() +
                " does not match the layer (" + std::to_string(g.in_channels) + "x" +
                std::to_string(g.in_h) + "x" + std::to_string(g.in_w) + " -> " +
                std::to_string(g.out_channels) + " channels, kernel " + std::to_string(g.kernel) +
                ")");
  }
}

BatchNormLayout batchnorm_layout(const Tensor& x, const Tensor& gamma) {
  const auto& s = x.shape();
  if (s.rank() < 2 || s[1] != gamma.numel()) {
    throw Error("batchnorm: input " + s.str() + " does not have " + std::to_string(gamma.numel()) +
                " channels");
  }
  std::int64_t spatial = 1;
  for (std::size_t i = 2; i < s.rank(); ++i) spatial *= s[i];
  return {s[0], s[1], spatial};
}

Tensor Backend::zeros(Shape shape, DType dtype) {
  Tensor t = empty(std::move(shape), dtype);
  fill(t, 0.0f);
  return t;
}

void Backend::ensure(Tensor& t, const Shape& shape, DType dtype) {
  if (!t.defined() || t.shape() != shape || t.dtype() != dtype) t = empty(shape, dtype);
}

}  // namespace tb::tensor
