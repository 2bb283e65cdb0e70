// Shape-keeping layers: ReLU, Dropout, Flatten.
#pragma once

#include <cstdint>

#include "core/nn/layer.h"

namespace tb::nn {

class ReLU final : public Layer {
 public:
  using Layer::Layer;
  std::string describe() const override { return "ReLU"; }
  Shape output_shape(const Shape& input) const override { return input; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  std::size_t held_bytes() const override { return y_.storage_bytes() + y16_.storage_bytes(); }

 private:
  Tensor y_;    // input's shape, fp32 only; also what backward needs
  Tensor y16_;  // input's shape in the storage dtype, 16-bit only; also what backward needs
  Tensor dx_;   // input's shape
};

// Inverted dropout (scales kept activations by 1/(1-p) in training; identity in evaluation).
class Dropout final : public Layer {
 public:
  Dropout(Backend& backend, float p, std::uint64_t seed);
  std::string describe() const override;
  Shape output_shape(const Shape& input) const override { return input; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  void set_training_steps_done(std::uint64_t steps) override { calls_ = steps; }
  // The output only: the mask is drawn again in backward from its seed, never stored.
  std::size_t held_bytes() const override { return y_.storage_bytes() + y16_.storage_bytes(); }

 private:
  float p_;
  std::uint64_t seed_;
  std::uint64_t calls_ = 0;      // a new mask every training forward, reproducible from the seed
  std::uint64_t mask_seed_ = 0;  // the last training forward's mask, for backward
  bool last_training_ = false;
  Tensor y_, dx_;  // input's shape
  Tensor y16_;     // input's shape in the storage dtype, 16-bit only
  Tensor passthrough_;
};

// [N, C, H, W] -> [N, C*H*W]; a view, no copy.
class Flatten final : public Layer {
 public:
  using Layer::Layer;
  std::string describe() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override { return {input[0], input.inner()}; }
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;

 private:
  Shape input_shape_;
  Tensor y_, dx_;
};

}  // namespace tb::nn
