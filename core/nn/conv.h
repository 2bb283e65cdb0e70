// Spatial layers over NCHW images: Conv2d, MaxPool2d, BatchNorm2d.
#pragma once

#include <cstdint>
#include <random>

#include "core/nn/layer.h"

namespace tb::nn {

// torch.nn.Conv2d with a square kernel; weights from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
class Conv2d final : public Layer {
 public:
  Conv2d(Backend& backend, std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel,
         std::int64_t stride, std::int64_t padding, std::mt19937_64& rng);

  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  std::size_t held_bytes() const override { return y_.storage_bytes() + y16_.storage_bytes(); }
  std::vector<Parameter*> parameters() override { return {&weight_, &bias_}; }

 private:
  tensor::Conv2dGeometry geometry_for(const Shape& input) const;

  tensor::Conv2dGeometry g_;
  Parameter weight_;  // [OC, C, K, K]
  Parameter bias_;    // [OC]
  Tensor x_;          // [N, C, H, W], kept for backward
  Tensor y_;          // [N, OC, OH, OW], fp32 only
  Tensor y16_;        // [N, OC, OH, OW] in the storage dtype, 16-bit only
  Tensor dx_;         // [N, C, H, W]
};

class MaxPool2d final : public Layer {
 public:
  MaxPool2d(Backend& backend, std::int64_t kernel, std::int64_t stride);

  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  std::size_t held_bytes() const override {
    return y_.storage_bytes() + y16_.storage_bytes() + argmax_.storage_bytes();
  }

 private:
  tensor::Pool2dGeometry g_;
  Shape input_shape_;
  Tensor y_;       // [N, C, OH, OW], fp32 only
  Tensor y16_;     // [N, C, OH, OW] in the storage dtype, 16-bit only
  Tensor argmax_;  // i32 [N, C, OH, OW]: where in its input plane each max came from
  Tensor dx_;      // [N, C, H, W]
};

// torch.nn.BatchNorm2d: per-channel batch statistics in training, running ones in evaluation.
class BatchNorm2d final : public Layer {
 public:
  BatchNorm2d(Backend& backend, std::int64_t channels, float momentum = 0.1f, float eps = 1e-5f);

  std::string describe() const override;
  Shape output_shape(const Shape& input) const override;
  const Tensor& forward(const Tensor& x, bool training) override;
  const Tensor& backward(const Tensor& dy) override;
  std::size_t held_bytes() const override { return y_.storage_bytes() + y16_.storage_bytes(); }
  std::vector<Parameter*> parameters() override { return {&gamma_, &beta_}; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }

 private:
  std::int64_t channels_;
  float momentum_, eps_;
  Parameter gamma_;                    // [C], starts at 1
  Parameter beta_;                     // [C], starts at 0
  Tensor running_mean_, running_var_;  // [C]
  Tensor save_mean_, save_invstd_;     // [C], from the last training forward
  Tensor x_, y_, dx_;                  // input's shape (x_ any dtype; y_ fp32 only)
  Tensor y16_;                         // input's shape in the storage dtype, 16-bit only
};

}  // namespace tb::nn
