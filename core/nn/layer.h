// Layer: a forward/backward pair over Backend ops, llm.c style.
//
// forward() keeps what backward() needs; backward() writes the gradients of the layer's
// parameters (overwriting, not accumulating) and returns the gradient of its input. Output and
// gradient tensors belong to the layer and are reused from step to step, so a steady-state step
// allocates nothing.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor/backend.h"

namespace tb::nn {

using tensor::Backend;
using tensor::Shape;
using tensor::Tensor;

struct Parameter {
  Parameter() = default;
  Parameter(std::string name_, Tensor value_, Tensor grad_)
      : name(std::move(name_)), value(std::move(value_)), grad(std::move(grad_)) {}

  std::string name;  // "0.weight", as PyTorch's state_dict names them
  Tensor value;      // the fp32 master weights, which the optimizer updates
  Tensor grad;       // same shape as value; written by backward()
  // Mixed precision: the master rounded to the storage dtype and stored in it (f16 or bf16), which
  // forward and backward use; refreshed by Model before each forward. Undefined in fp32, where
  // layers use value.
  Tensor working;
};

// Mixed-precision scratch shared by every layer of one model: f32 buffers sized for the largest
// layer, into which a 16-bit activation or working weight is widened for an op (the CPU's
// arithmetic is fp32) and out of which an op's f32 result is narrowed again. Nothing in them
// outlives one layer call, so they are workspace (like a GEMM library's), not activation memory.
// On a backend that takes 16-bit matrix-product operands (Backend::takes_16bit_matmul_operands)
// Linear and Conv2d use neither `in` nor `weight`; Linear narrows its output gradient into grad16.
struct Workspace {
  Tensor in;      // f32, capacity for the largest input widened for an op
  Tensor out;     // f32, capacity for the largest output computed before narrowing
  Tensor weight;  // f32, capacity for the largest weight (or BatchNorm gamma) widened
  Tensor bias;    // f32, capacity for the largest bias (or BatchNorm beta) widened
  Tensor grad16;  // storage dtype, capacity for the largest output gradient narrowed for a product
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

  // Set by Model: the dtype activations are stored in (f32, f16 or bf16) and, for 16-bit, the
  // shared workspace. In 16-bit, forward() takes and returns `storage` tensors and keeps only
  // 16-bit tensors for backward; gradients stay f32 tensors (rounded to `storage` by Model).
  void set_storage(tensor::DType storage, Workspace* workspace) {
    storage_ = storage;
    workspace_ = workspace;
  }
  // See Model::set_training_steps_done.
  virtual void set_training_steps_done(std::uint64_t /*steps*/) {}
  // Bytes of the activation tensors this layer owns and keeps from forward until backward
  // (outputs and saved tensors; not views of other layers' tensors, not gradients).
  virtual std::size_t held_bytes() const { return 0; }

 protected:
  bool low_precision() const { return storage_ != tensor::DType::f32; }
  // Whether this call's matrix products take x and p's 16-bit working copy as they are, skipping
  // the widening into f32: 16-bit storage on a backend whose products take 16-bit operands
  // (Tensor Cores), with x in the storage dtype. Otherwise the layer widens (widen, param_f32).
  bool products_in_16bit(const Tensor& x, const Parameter& p) const {
    return low_precision() && backend_.takes_16bit_matmul_operands() && x.dtype() == storage_ &&
           p.working.defined() && p.working.dtype() == storage_;
  }
  // An f32 gradient narrowed to the storage dtype in the workspace's grad16 slot (valid until the
  // next call that uses the slot), for a product whose other operand is 16-bit: a Tensor Core
  // product needs both operands in one 16-bit dtype. As under PyTorch's autocast, the gradient
  // enters the product in 16 bits and the product accumulates in fp32; in a Model the gradient is
  // already rounded to the storage dtype, so the narrowing loses nothing.
  const Tensor& narrow_grad(const Tensor& dy) {
    if (dy.dtype() == storage_) return dy;
    narrowed_ = scratch(&Workspace::grad16, dy.shape(), storage_);
    backend_.convert(dy, narrowed_);
    return narrowed_;
  }
  // x as f32: x itself when it is f32, else widened into the workspace slot (valid until the next
  // call that uses the slot).
  const Tensor& widen(const Tensor& x, Tensor Workspace::*slot) {
    if (x.dtype() == tensor::DType::f32) return x;
    widened_ = scratch(slot, x.shape());
    backend_.convert(x, widened_);
    return widened_;
  }
  // A parameter as f32 for an op: its master in fp32; in 16-bit its working copy widened into the
  // workspace slot (valid until the next call that uses the slot).
  Tensor param_f32(const Parameter& p, Tensor Workspace::*slot) {
    if (!p.working.defined()) return p.value;
    Tensor wide = scratch(slot, p.working.shape());
    backend_.convert(p.working, wide);
    return wide;
  }
  // Where to compute an f32 output: the layer's own y in fp32, the workspace's out in 16-bit.
  Tensor& f32_output(Tensor& own, const Shape& shape) {
    if (!low_precision()) {
      backend_.ensure(own, shape);
      return own;
    }
    computed_ = scratch(&Workspace::out, shape);
    return computed_;
  }
  // Hands an f32 result on: itself in fp32; narrowed into y16 (storage dtype) in 16-bit.
  const Tensor& narrow(const Tensor& y32, Tensor& y16) {
    if (!low_precision()) return y32;
    backend_.ensure(y16, y32.shape(), storage_);
    backend_.convert(y32, y16);
    return y16;
  }
  // A view of a workspace slot in `shape` and `dtype`, growing the slot when it is too small.
  Tensor scratch(Tensor Workspace::*slot, const Shape& shape,
                 tensor::DType dtype = tensor::DType::f32) {
    Tensor& buffer = workspace_->*slot;
    if (!buffer.defined() || buffer.dtype() != dtype || buffer.numel() < shape.numel())
      buffer = backend_.empty({shape.numel()}, dtype);
    return buffer.prefix_view(shape);
  }

  Backend& backend_;
  bool needs_input_grad_ = true;
  tensor::DType storage_ = tensor::DType::f32;
  Workspace* workspace_ = nullptr;
  // Views into the workspace, for the current call only.
  Tensor widened_, computed_, narrowed_;
  Tensor none_;  // returned by backward() when no input gradient is needed
};

}  // namespace tb::nn
