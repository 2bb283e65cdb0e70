#include "core/nn/conv.h"

#include "core/nn/init.h"

#include <cmath>
#include <vector>

#include "core/util/error.h"

namespace tb::nn {

namespace {

void require_image(const std::string& layer, const Shape& input) {
  if (input.rank() != 4) throw Error(layer + " needs an NCHW input, got " + input.str());
}
}  // namespace

Conv2d::Conv2d(Backend& backend, std::int64_t in_channels, std::int64_t out_channels,
               std::int64_t kernel, std::int64_t stride, std::int64_t padding, std::mt19937_64& rng)
    : Layer(backend) {
  if (in_channels <= 0 || out_channels <= 0 || kernel <= 0 || stride <= 0 || padding < 0) {
    throw Error("Conv2d: channels, kernel and stride must be positive, padding non-negative");
  }
  g_.in_channels = in_channels;
  g_.out_channels = out_channels;
  g_.kernel = kernel;
  g_.stride = stride;
  g_.padding = padding;
  const Shape w_shape{out_channels, in_channels, kernel, kernel};
  weight_ = {"weight", backend.empty(w_shape), backend.zeros(w_shape)};
  bias_ = {"bias", backend.empty({out_channels}), backend.zeros({out_channels})};
  const float bound = 1.0f / std::sqrt(static_cast<float>(g_.patch()));
  init_uniform(backend, weight_.value, bound, rng);
  init_uniform(backend, bias_.value, bound, rng);
}

std::string Conv2d::describe() const {
  std::string text = "Conv2d(" + std::to_string(g_.in_channels) + "->" +
                     std::to_string(g_.out_channels) + ", k" + std::to_string(g_.kernel);
  if (g_.stride != 1) text += ", stride " + std::to_string(g_.stride);
  if (g_.padding) text += ", pad " + std::to_string(g_.padding);
  return text + ")";
}

tensor::Conv2dGeometry Conv2d::geometry_for(const Shape& input) const {
  require_image(describe(), input);
  auto g = g_;
  g.in_h = input[2];
  g.in_w = input[3];
  if (input[1] != g.in_channels || g.out_h() <= 0 || g.out_w() <= 0) {
    throw Error(describe() + " cannot take input " + input.str());
  }
  return g;
}

Shape Conv2d::output_shape(const Shape& input) const {
  const auto g = geometry_for(input);
  return {input[0], g.out_channels, g.out_h(), g.out_w()};
}

const Tensor& Conv2d::forward(const Tensor& x, bool /*training*/) {
  g_ = geometry_for(x.shape());
  x_ = x;  // in 16-bit, the previous layer's 16-bit output, shared
  Tensor& y = f32_output(y_, output_shape(x.shape()));
  if (products_in_16bit(x, weight_)) {
    // 16-bit x and W straight into the convolution's products (Tensor Cores), f32 y.
    backend_.conv2d_forward(x, weight_.working, param_f32(bias_, &Workspace::bias), y, g_);
  } else {
    const Tensor& x32 = widen(x, &Workspace::in);
    backend_.conv2d_forward(x32, param_f32(weight_, &Workspace::weight),
                            param_f32(bias_, &Workspace::bias), y, g_);
  }
  return narrow(y, y16_);
}

const Tensor& Conv2d::backward(const Tensor& dy) {
  Tensor* dx = nullptr;
  if (needs_input_grad_) {
    backend_.ensure(dx_, x_.shape());
    dx = &dx_;
  }
  if (products_in_16bit(x_, weight_)) {
    // 16-bit x and W as stored. dy stays f32 here: the backend rounds it to x's dtype for its
    // two products as it lays dy out for them (a pass it makes anyway), which is what narrowing
    // it first would give, without a separate pass; db sums the f32 dy.
    backend_.conv2d_backward(x_, weight_.working, dy, dx, weight_.grad, bias_.grad, g_);
  } else {
    backend_.conv2d_backward(widen(x_, &Workspace::in), param_f32(weight_, &Workspace::weight), dy,
                             dx, weight_.grad, bias_.grad, g_);
  }
  return needs_input_grad_ ? dx_ : none_;
}

MaxPool2d::MaxPool2d(Backend& backend, std::int64_t kernel, std::int64_t stride) : Layer(backend) {
  if (kernel <= 0 || stride <= 0) throw Error("MaxPool2d: kernel and stride must be positive");
  g_.kernel = kernel;
  g_.stride = stride;
}

std::string MaxPool2d::describe() const {
  return "MaxPool2d(" + std::to_string(g_.kernel) + ")";
}

Shape MaxPool2d::output_shape(const Shape& input) const {
  require_image(describe(), input);
  auto g = g_;
  g.in_h = input[2];
  g.in_w = input[3];
  if (g.out_h() <= 0 || g.out_w() <= 0)
    throw Error(describe() + " cannot take input " + input.str());
  return {input[0], input[1], g.out_h(), g.out_w()};
}

const Tensor& MaxPool2d::forward(const Tensor& x, bool /*training*/) {
  const Shape out = output_shape(x.shape());
  input_shape_ = x.shape();
  g_.channels = x.shape()[1];
  g_.in_h = x.shape()[2];
  g_.in_w = x.shape()[3];
  const Tensor& x32 = widen(x, &Workspace::in);
  Tensor& y = f32_output(y_, out);
  backend_.ensure(argmax_, out, tensor::DType::i32);
  backend_.maxpool2d_forward(x32, y, argmax_, g_);
  return narrow(y, y16_);
}

const Tensor& MaxPool2d::backward(const Tensor& dy) {
  if (!needs_input_grad_) return none_;
  backend_.ensure(dx_, input_shape_);
  backend_.maxpool2d_backward(dy, argmax_, dx_, g_);
  return dx_;
}

BatchNorm2d::BatchNorm2d(Backend& backend, std::int64_t channels, float momentum, float eps)
    : Layer(backend), channels_(channels), momentum_(momentum), eps_(eps) {
  if (channels <= 0) throw Error("BatchNorm2d: channels must be positive");
  gamma_ = {"weight", backend.empty({channels}), backend.zeros({channels})};
  beta_ = {"bias", backend.zeros({channels}), backend.zeros({channels})};
  backend.fill(gamma_.value, 1.0f);
  running_mean_ = backend.zeros({channels});
  running_var_ = backend.empty({channels});
  backend.fill(running_var_, 1.0f);
  save_mean_ = backend.zeros({channels});
  save_invstd_ = backend.zeros({channels});
}

std::string BatchNorm2d::describe() const {
  return "BatchNorm2d(" + std::to_string(channels_) + ")";
}

Shape BatchNorm2d::output_shape(const Shape& input) const {
  if (input.rank() < 2 || input[1] != channels_) {
    throw Error(describe() + " cannot take input " + input.str());
  }
  return input;
}

const Tensor& BatchNorm2d::forward(const Tensor& x, bool training) {
  output_shape(x.shape());
  x_ = x;  // in 16-bit, the previous layer's 16-bit output, shared
  const Tensor& x32 = widen(x, &Workspace::in);
  Tensor& y = f32_output(y_, x.shape());
  // Statistics and the normalisation run in fp32 (as under torch.autocast); only y is narrowed.
  if (training) {
    backend_.batchnorm_forward_train(x32, param_f32(gamma_, &Workspace::weight),
                                     param_f32(beta_, &Workspace::bias), y, save_mean_,
                                     save_invstd_, running_mean_, running_var_, momentum_, eps_);
  } else {
    backend_.batchnorm_forward_eval(x32, param_f32(gamma_, &Workspace::weight),
                                    param_f32(beta_, &Workspace::bias), running_mean_, running_var_,
                                    eps_, y);
  }
  return narrow(y, y16_);
}

const Tensor& BatchNorm2d::backward(const Tensor& dy) {
  backend_.ensure(dx_, x_.shape());
  backend_.batchnorm_backward(widen(x_, &Workspace::in), dy, param_f32(gamma_, &Workspace::weight),
                              save_mean_, save_invstd_, dx_, gamma_.grad, beta_.grad);
  return needs_input_grad_ ? dx_ : none_;
}

}  // namespace tb::nn
