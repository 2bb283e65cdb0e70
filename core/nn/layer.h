// Layer: a forward/backward pair over Backend ops, llm.c style.
//
// forward() keeps what backward() needs; backward() writes the gradients of the layer's
// parameters (overwriting, not accumulating) and returns the gradient of its input. Output and
// gradient tensors belong to the layer and are reused from step to step, so a steady-state step
// allocates nothing.
#pragma once

#include <string>
#include <vector>

#include "core/tensor/backend.h"

namespace tb::nn {

using tensor::Backend;
using tensor::Shape;
using tensor::Tensor;

struct Parameter {
  std::string name;  // "0.weight", as PyTorch's state_dict names them
  Tensor value;
  Tensor grad;  // same shape as value; written by backward()
};

class Layer {
 public:
  explicit Layer(Backend& backend) : backend_(backend) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  virtual std::string describe() const = 0;  // "Linear(784->256)"
  // Output shape for an input shape (batch first); throws tb::Error when the input cannot fit.
  virtual Shape output_shape(const Shape& input) const = 0;
  virtual const Tensor& forward(const Tensor& x, bool training) = 0;
  // dL/dy -> dL/dx; returns an undefined tensor when needs_input_grad() is false.
  virtual const Tensor& backward(const Tensor& dy) = 0;
  virtual std::vector<Parameter*> parameters() { return {}; }

  // Set by Model: a layer with nothing trainable before it skips its input gradient (for the
  // first Linear that saves its largest matrix product).
  void set_needs_input_grad(bool needed) { needs_input_grad_ = needed; }
  bool needs_input_grad() const { return needs_input_grad_; }

 protected:
  Backend& backend_;
  bool needs_input_grad_ = true;
  Tensor none_;  // returned by backward() when no input gradient is needed
};

}  // namespace tb::nn
