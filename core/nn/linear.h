// Linear: y = x W^T + b, as torch.nn.Linear.
#pragma once

#include <cstdint>
#include <random>

#include "core/nn/layer.h"

namespace tb::nn {

class Linear final : public Layer {
 public:
  // Weights and bias drawn from U(-1/sqrt(in), 1/sqrt(in)), PyTorch's default initialisation.
  Linear(Backend& backend, std::int64_t in_features, std::int64_t out_features,
         std::mt19937_64& rng);

  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }
  std::size_t held_bytes() const override { return y_.storage_bytes() + y16_.storage_bytes(); }
  std::int64_t in_features() const { return in_; }
  std::int64_t out_features() const { return out_; }

 private:
  std::int64_t in_, out_;
  Parameter weight_;  // [out, in]
  Parameter bias_;    // [out]
  Tensor x2d_;        // [N, in]: the input seen as a matrix (any dtype), kept for backward
  Shape input_shape_;
  Tensor y_;     // [N, out], fp32 only
  Tensor y16_;   // [N, out] in the storage dtype, 16-bit only
  Tensor dx2d_;  // [N, in]
  Tensor dx_;    // dx2d_ seen in the input's shape
};

}  // namespace tb::nn
