#include "core/nn/elementwise.h"

#include <cstdio>

#include "core/util/error.h"

namespace tb::nn {

const Tensor& ReLU::forward(const Tensor& x, bool /*training*/) {
  const Tensor& x32 = widen(x, &Workspace::in);
  Tensor& y = f32_output(y_, x.shape());
  backend_.relu_forward(x32, y);
  return narrow(y, y16_);
}

const Tensor& ReLU::backward(const Tensor& dy) {
  if (!needs_input_grad_) return none_;
  backend_.ensure(dx_, dy.shape());
  backend_.relu_backward(widen(low_precision() ? y16_ : y_, &Workspace::in), dy, dx_);
  return dx_;
}

Dropout::Dropout(Backend& backend, float p, std::uint64_t seed)
    : Layer(backend), p_(p), seed_(seed) {
  if (!(p >= 0.0f && p < 1.0f)) throw Error("Dropout: p must be in [0, 1)");
}

std::string Dropout::describe() const {
  char text[32];
  std::snprintf(text, sizeof text, "Dropout(%.2g)", static_cast<double>(p_));
  return text;
}

const Tensor& Dropout::forward(const Tensor& x, bool training) {
  last_training_ = training && p_ > 0.0f;
  if (!last_training_) {
    passthrough_ = x;
    return passthrough_;
  }
  const Tensor& x32 = widen(x, &Workspace::in);
  Tensor& y = f32_output(y_, x.shape());
  mask_seed_ = seed_ + 0x9E3779B97F4A7C15ull * ++calls_;
  backend_.dropout_forward(x32, y, p_, mask_seed_);
  return narrow(y, y16_);
}

const Tensor& Dropout::backward(const Tensor& dy) {
  if (!needs_input_grad_) return none_;
  if (!last_training_) {
    passthrough_ = dy;
    return passthrough_;
  }
  backend_.ensure(dx_, dy.shape());
  backend_.dropout_backward(dy, dx_, p_, mask_seed_);
  return dx_;
}

const Tensor& Flatten::forward(const Tensor& x, bool /*training*/) {
  input_shape_ = x.shape();
  y_ = x.reshape(output_shape(x.shape()));
  return y_;
}

const Tensor& Flatten::backward(const Tensor& dy) {
  if (!needs_input_grad_) return none_;
  dx_ = dy.reshape(input_shape_);
  return dx_;
}

}  // namespace tb::nn
